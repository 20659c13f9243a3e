"""ONNX export: the file passes onnx.checker and onnxruntime reproduces rnnkit within 1e-5."""

import numpy as np
import pytest

from rnnkit.config import ModelConfig
from rnnkit.errors import ConfigError
from rnnkit.io.onnx_export import (
    GRU_GATES,
    LSTM_GATES,
    export_onnx,
    max_difference,
    onnx_weights,
    to_onnx,
)
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.model import Model

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

TOL = 1e-5  # float32 on both sides; only the order of summation differs
B, T = 3, 6
LENGTHS = np.array([6, 2, 4], dtype=np.int32)  # a full, a short and a middle sequence

CELLS = {
    "elman-tanh": dict(cell="elman"),
    "elman-relu": dict(cell="elman", nonlinearity="relu"),
    "lstm": dict(cell="lstm"),
    "lstm-peepholes": dict(cell="lstm", peepholes=True),
    "gru-reset-after": dict(cell="gru", reset_after=True),
    "gru-reset-before": dict(cell="gru", reset_after=False),
    "jordan": dict(cell="jordan"),
    "jordan-softmax": dict(cell="jordan", jordan_feedback="softmax"),
    "fully-recurrent": dict(cell="fully_recurrent", output_size=3),
    "fully-recurrent-linear": dict(cell="fully_recurrent", output_size=3, linear_outputs=True),
}
SHAPES = {
    "one-layer": dict(num_layers=1, bidirectional=False),
    "stacked-bidirectional": dict(num_layers=2, bidirectional=True),
}


def make_model(
    rnn: dict,
    *,
    inputs: str = "vectors",
    readout: str = "every_step",
    dtype: str = "float32",
    seed: int = 0,
) -> Model:
    """A random model; inputs 'vectors' (I = 3), 'one-hot' (V = 7), 'embedding' (V = 7, E = 4).

    A Jordan model reads one direction (its output is what it feeds back)."""
    if rnn.get("cell") == "jordan":
        rnn = {**rnn, "bidirectional": False}
    vocab = 0 if inputs == "vectors" else 7
    emb = 4 if inputs == "embedding" else 0
    I = emb or vocab or 3
    config = ModelConfig(
        rnn=RecurrentConfig(input_size=I, hidden_size=5, **rnn),
        output_size=4,
        vocab_size=vocab,
        embedding_dim=emb,
        readout=readout,
        dtype=dtype,
    )
    return Model(config, rng=np.random.default_rng(seed))


def random_input(model: Model, rng: np.random.Generator, b: int = B, t: int = T) -> np.ndarray:
    c = model.config
    if c.vocab_size:
        return rng.integers(0, c.vocab_size, (b, t))
    return rng.standard_normal((b, t, c.rnn.input_size)).astype(np.float32)


def session(proto):
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("lengths", [True, False], ids=["lengths", "full"])
def test_onnxruntime_reproduces_every_cell_within_1e5(cell, shape, lengths, rng):
    """Every output, padded steps included (rnnkit and ONNX both zero them before the readout)."""
    model = make_model({**CELLS[cell], **SHAPES[shape]})
    x = random_input(model, rng)
    feeds = {"x": x, **({"lengths": LENGTHS} if lengths else {})}
    got = session(to_onnx(model, lengths=lengths)).run(None, feeds)[0]
    expected = model.predict(x, lengths=LENGTHS if lengths else None)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() < TOL


@pytest.mark.parametrize("readout", ["every_step", "last_step"])
@pytest.mark.parametrize("inputs", ["vectors", "one-hot", "embedding"])
@pytest.mark.parametrize("cell", ["lstm", "jordan", "jordan-softmax", "fully-recurrent"])
def test_inputs_and_readouts_export(cell, inputs, readout, rng):
    model = make_model(
        {**CELLS[cell], **SHAPES["stacked-bidirectional"]}, inputs=inputs, readout=readout
    )
    x = random_input(model, rng)
    got = session(to_onnx(model)).run(None, {"x": x, "lengths": LENGTHS})[0]
    expected = model.predict(x, lengths=LENGTHS)
    assert got.shape == expected.shape == ((B, T, 4) if readout == "every_step" else (B, 4))
    assert np.abs(got - expected).max() < TOL


@pytest.mark.parametrize("cell", CELLS)
def test_initial_and_final_states_match(cell, rng):
    model = make_model({**CELLS[cell], **SHAPES["stacked-bidirectional"]})
    x = random_input(model, rng)
    LD = model.config.rnn.num_layers * model.rnn.num_directions
    state = tuple(
        rng.standard_normal((LD, B, s)).astype(np.float32) for s in model.rnn.state_sizes
    )
    y, final, _ = model.forward(x, state if len(state) > 1 else state[0], lengths=LENGTHS)
    final = final if isinstance(final, tuple) else (final,)
    feeds = {"x": x, "lengths": LENGTHS, **dict(zip(("h0", "c0"), state))}
    got = session(to_onnx(model, state=True)).run(None, feeds)
    assert len(got) == 1 + len(final)
    for expected, value in zip((y, *final), got):
        assert np.abs(value - expected).max() < TOL


@pytest.mark.parametrize("cell", ["lstm", "jordan"])
def test_the_written_file_passes_the_checker_and_has_dynamic_batch_and_time(cell, tmp_path, rng):
    model = make_model(CELLS[cell])
    path = export_onnx(model, tmp_path / "m.onnx")
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.ir_version <= 13 and proto.opset_import[0].version <= 26
    dims = [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims[:2] == ["B", "T"]
    run = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for b, t in [(1, 1), (5, 9)]:
        x = random_input(model, rng, b, t)
        lengths = np.full(b, t, dtype=np.int32)
        got = run.run(None, {"x": x, "lengths": lengths})[0]
        assert np.abs(got - model.predict(x)).max() < TOL


def test_max_difference_checks_a_written_file(tmp_path):
    model = make_model({**CELLS["lstm-peepholes"], **SHAPES["stacked-bidirectional"]})
    path = export_onnx(model, tmp_path / "m.onnx", state=True)
    assert max_difference(model, path) < TOL


def test_a_float64_model_exports_in_float32(rng):
    model = make_model(CELLS["gru-reset-after"], dtype="float64")
    x = random_input(model, rng)
    proto = to_onnx(model)
    assert all(
        t.data_type == onnx.TensorProto.FLOAT
        for t in proto.graph.initializer
        if t.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE)
    )
    got = session(proto).run(None, {"x": x, "lengths": LENGTHS})[0]
    assert np.abs(got - model.predict(x, lengths=LENGTHS)).max() < TOL


def test_dropout_and_recurrent_dropout_vanish_at_inference(rng):
    model = make_model(
        {**CELLS["lstm"], "num_layers": 2, "dropout": 0.5, "recurrent_dropout": 0.5}
    )
    x = random_input(model, rng)
    got = session(to_onnx(model)).run(None, {"x": x, "lengths": LENGTHS})[0]
    assert np.abs(got - model.predict(x, lengths=LENGTHS)).max() < TOL


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_layer_normalised_cells_are_refused_by_name(cell):
    model = make_model({"cell": cell, "layer_norm": True})
    with pytest.raises(ConfigError, match=f"layer-normalised {cell.upper()}.*export torch"):
        to_onnx(model)


@pytest.mark.parametrize("opset", [13, 27])
def test_opsets_onnxruntime_cannot_run_are_refused(opset):
    with pytest.raises(ConfigError, match="opset"):
        to_onnx(make_model(CELLS["gru-reset-after"]), opset=opset)


def blocks(k: int, H: int = 2) -> np.ndarray:
    """[k·H, 1]: block j filled with the value j."""
    return np.repeat(np.arange(k, dtype=float), H)[:, None]


@pytest.mark.parametrize(
    "cell, order, expected",
    [
        ("lstm", LSTM_GATES, [0, 3, 1, 2]),  # i f g o → i o f c
        ("gru", GRU_GATES, [1, 0, 2]),  # r z n → z r h
    ],
)
def test_gate_blocks_move_to_onnx_order(cell, order, expected):
    k = len(expected)
    p = {
        "weight_ih": blocks(k),
        "weight_hh": blocks(k),
        "bias_ih": blocks(k)[:, 0],
        "bias_hh": blocks(k)[:, 0] + 10,
    }
    w = onnx_weights(cell, p)
    assert tuple(order) == tuple(expected)
    np.testing.assert_array_equal(w["W"][::2, 0], expected)
    np.testing.assert_array_equal(w["R"][::2, 0], expected)
    np.testing.assert_array_equal(w["B"][::2], expected + [e + 10 for e in expected])


def test_peephole_rows_move_to_onnx_order():
    p = {
        "weight_ih": blocks(4),
        "weight_hh": blocks(4),
        "bias_ih": blocks(4)[:, 0],
        "bias_hh": blocks(4)[:, 0],
        "weight_peep": np.array([[0.0, 0.0], [1, 1], [2, 2]]),
    }
    np.testing.assert_array_equal(onnx_weights("lstm", p)["P"], [0, 0, 2, 2, 1, 1])  # i, o, f


def test_anything_but_a_recurrent_model_is_refused():
    with pytest.raises(ConfigError, match="recurrent rnnkit Model, got dict"):
        to_onnx({"head.weight": np.zeros((2, 2))})
