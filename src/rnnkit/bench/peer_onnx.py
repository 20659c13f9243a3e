"""onnxruntime peer for streaming: one step of an ONNX ``LSTM`` / ``GRU`` / ``RNN`` node
(sequence length 1, carried state in and out) followed by the readout ``MatMul`` + ``Add``,
built with ``onnx.helper`` and run once per step.
"""

from typing import Any

import numpy as np

from .configs import GATES

OPS = {"lstm": "LSTM", "gru": "GRU", "elman": "RNN"}


def load():
    """onnxruntime (ImportError when onnx or onnxruntime is not installed)."""
    import onnx  # noqa: F401
    import onnxruntime

    return onnxruntime


def _graph(cell: str, H: int, O: int, rng: np.random.Generator):
    from onnx import TensorProto, helper, numpy_helper

    G, k = GATES[cell] * H, 1 / np.sqrt(H)

    def u(name, *shape):
        return numpy_helper.from_array(rng.uniform(-k, k, shape).astype(np.float32), name)

    inits = [u("W", 1, G, O), u("R", 1, G, H), u("B", 1, 2 * G), u("W_out", H, O), u("b_out", O)]
    state_in, state_out = ["h"], ["h_out"]
    if cell == "lstm":
        state_in, state_out = ["h", "c"], ["h_out", "c_out"]
    attrs: dict[str, Any] = {"hidden_size": H}  # ONNX node attributes
    if cell == "gru":
        attrs["linear_before_reset"] = 1  # PyTorch's GRU
    if cell == "elman":
        attrs["activations"] = ["Tanh"]
    node = helper.make_node(
        OPS[cell], ["x", "W", "R", "B", "", *state_in], ["", *state_out], **attrs
    )
    readout = [
        helper.make_node("MatMul", ["h_out", "W_out"], ["y0"]),
        helper.make_node("Add", ["y0", "b_out"], ["y"]),
    ]
    f = TensorProto.FLOAT
    inputs = [helper.make_tensor_value_info("x", f, [1, 1, O])]
    inputs += [helper.make_tensor_value_info(s, f, [1, 1, H]) for s in state_in]
    outputs = [helper.make_tensor_value_info("y", f, [1, 1, O])]
    outputs += [helper.make_tensor_value_info(s, f, [1, 1, H]) for s in state_out]
    graph = helper.make_graph([node, *readout], f"{cell}_step", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # onnxruntime reads IR versions up to its own release
    return model


def streaming(cell: str, H: int, O: int, steps: int, rng: np.random.Generator):
    """``steps`` one-token session runs (B = 1) with the state carried between them."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    model = _graph(cell, H, O, rng)
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    eye = np.eye(O, dtype=np.float32).reshape(O, 1, 1, O)
    ids = rng.integers(0, O, size=steps)
    n_state = 2 if cell == "lstm" else 1
    names = ["h", "c"][:n_state]

    def run() -> None:
        state = [np.zeros((1, 1, H), np.float32) for _ in range(n_state)]
        for i in ids:
            y, *state = session.run(None, {"x": eye[i], **dict(zip(names, state))})

    return run
