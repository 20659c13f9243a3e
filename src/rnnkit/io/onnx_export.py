"""Export a trained ``Model`` to ONNX, on ONNX's own ``RNN`` / ``LSTM`` / ``GRU`` operators.

The graph is batch-first at its edges, like ``Model``, and time-major inside (the only layout
onnxruntime runs these operators in); its batch and time axes are dynamic (``B``, ``T``)::

    inputs   x        [B, T] int64 token ids (token models) or [B, T, I] float32 vectors
             lengths  [B] int32, each sequence's number of real steps (``lengths=True``)
             h0 (c0)  [L·D, B, S] initial state (``state=True``; otherwise zeros)
    outputs  y        [B, T, O] (readout every step) or [B, O] (readout at the last step)
             h_n (c_n) [L·D, B, S] final state (``state=True``)

Inside: ids → ``Gather`` of the embedding or ``OneHot`` → one recurrent node per layer
(``Y [T, D, B, H]`` → ``Transpose`` + ``Reshape`` → ``[T, B, D·H]``, the next layer's
input) → ``MatMul`` + ``Add`` of the readout (none for Jordan: the top layer's y_t, which
it feeds back, is the output).  With ``lengths``, each node gets
``sequence_lens``: a finished sequence's outputs are 0 and its final state is the one at its
last real step, and the reverse direction starts at that step — rnnkit's semantics for
``lengths``.  (``Model`` also takes arbitrary masks; only prefix masks, i.e. lengths,
export.)  The last-step readout reads the last layer's ``Y_h``: the forward half at each
sequence's last real step, the reverse half after step 0, as ``Model`` does.

Gate order is converted here and nowhere else (rnnkit keeps PyTorch's)::

    LSTM   rnnkit i, f, g, o  → ONNX i, o, f, c    peepholes rows i, f, o → P = [i, o, f]
    GRU    rnnkit r, z, n     → ONNX z, r, h       reset_after=True ↔ linear_before_reset=1
    ONNX   W [D, G, I] = weight_ih,  R [D, G, H] = weight_hh,  B [D, 2G] = [b_ih | b_hh]

Jordan and fully recurrent cells have no ONNX operator; they export as a ``Scan`` of
elementary operators (``MatMul``, ``Add``, ``Tanh``/``Relu``, ``Softmax`` for Jordan's softmax
feedback, ``Where``), per direction, with the same mask semantics.  Layer-normalised LSTM/GRU
are refused (``ConfigError``): ONNX's operators cannot normalise inside the recurrence; export
those to PyTorch instead.
Dropout and recurrent dropout are training-only and vanish.  Weights are float32 (the only
type onnxruntime runs these operators in); a float64 model is exported in float32.

Example
-------
>>> import numpy as np, rnnkit
>>> from rnnkit.io.onnx_export import to_onnx
>>> model = rnnkit.Model(rnnkit.ModelConfig.for_tokens(5, cell="gru", hidden_size=8),
...                      rng=np.random.default_rng(0))
>>> proto = to_onnx(model)                                  # an onnx.ModelProto
>>> [i.name for i in proto.graph.input], [o.name for o in proto.graph.output]
(['x', 'lengths'], ['y'])
"""

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..models.model import Model

DEFAULT_OPSET = 21
"""Opset of the exported graph (onnxruntime 1.31 runs opsets up to 26, IR versions up to 13)."""

LSTM_GATES = (0, 3, 1, 2)
"""ONNX LSTM gate blocks i, o, f, c, as indices into rnnkit's (PyTorch's) i, f, g, o."""

LSTM_PEEPHOLES = (0, 2, 1)
"""ONNX peephole rows P = [i, o, f], as indices into rnnkit's ``weight_peep`` rows i, f, o."""

GRU_GATES = (1, 0, 2)
"""ONNX GRU gate blocks z, r, h, as indices into rnnkit's (PyTorch's) r, z, n."""

_OPERATORS = {"elman": "RNN", "lstm": "LSTM", "gru": "GRU"}
_SCANNED = ("jordan", "fully_recurrent")
_ACTIVATION = {"tanh": "Tanh", "relu": "Relu"}


def _onnx():
    try:
        import onnx
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigError("ONNX export needs onnx: pip install 'rnnkit[onnx]'") from e
    return onnx


# ----------------------------------------------------------------------------- gate order


def reorder_blocks(w: np.ndarray, order: tuple[int, ...]) -> np.ndarray:
    """``w: [K·H, ...]`` with its K gate blocks of H rows put in ``order``."""
    blocks = np.split(w, len(order), axis=0)
    return np.concatenate([blocks[k] for k in order], axis=0)


def onnx_weights(
    cell: str, p: dict[str, np.ndarray], reset_after: bool = True
) -> dict[str, np.ndarray]:
    """One direction's ``W [G, I]``, ``R [G, H]``, ``B [2G]`` (and ``P [3H]``) in ONNX order.

    ``p`` holds the direction's parameters under rnnkit's base names (``weight_ih`` …).
    """
    order = {"lstm": LSTM_GATES, "gru": GRU_GATES}.get(cell, (0,))
    W, R = reorder_blocks(p["weight_ih"], order), reorder_blocks(p["weight_hh"], order)
    B = np.concatenate([reorder_blocks(p["bias_ih"], order), reorder_blocks(p["bias_hh"], order)])
    out = {"W": W, "R": R, "B": B}
    if "weight_peep" in p:
        out["P"] = p["weight_peep"][list(LSTM_PEEPHOLES)].reshape(-1)
    return out


# ----------------------------------------------------------------------------- graph building


class _Graph:
    """Nodes and float32 initializers of a graph under construction, with fresh names.

    A loop body shares its parent's ``numbers``, so names stay unique across scopes.
    """

    def __init__(self, numbers: Iterator[int] | None = None) -> None:
        self.nodes: list = []
        self.inits: list = []
        self.numbers = itertools.count(1) if numbers is None else numbers

    def fresh(self, stem: str) -> str:
        return f"{stem}_{next(self.numbers)}"

    def const(self, stem: str, value: Any, dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, **attrs: Any) -> Any:
        """Add a node; returns its output name (or the list of names if ``outputs`` > 1)."""
        from onnx import helper

        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attrs))
        return names[0] if outputs == 1 else names


def to_onnx(
    model: Model, *, lengths: bool = True, state: bool = False, opset: int = DEFAULT_OPSET
) -> Any:
    """The ``onnx.ModelProto`` computing ``model.predict`` (see the module docstring).

    ``lengths``: the graph takes ``lengths [B]`` (int32) for variable-length batches.
    ``state``: the graph takes the initial state and returns the final state.
    """
    onnx = _onnx()
    from onnx import TensorProto, helper

    _check_exportable(model, opset)
    c = model.config
    rnn = c.rnn
    g = _Graph()
    L, D = rnn.num_layers, model.rnn.num_directions
    inputs = [_input_info(c)]
    x = _time_major_input(g, model)
    seq_lens = ""
    if lengths:
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT32, ["B"]))
        seq_lens = "lengths"
    n_states = len(model.rnn.state_sizes)
    state_names = ["h0", "c0"][:n_states]
    if state:
        for name, S in zip(state_names, model.rnn.state_sizes):
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [L * D, "B", S]))
    finals: list[list[str]] = [[] for _ in range(n_states)]
    last = ""
    for layer in range(L):
        init = [_layer_slice(g, name, layer, D) for name in state_names] if state else []
        layer_fn = _operator_layer if rnn.cell in _OPERATORS else _scan_layer
        x, layer_finals, last = layer_fn(g, model, layer, x, seq_lens, init)
        for j, f in enumerate(layer_finals):
            finals[j].append(f)
    results: list[tuple[str, str, list[str | int]]] = [
        (
            "y",
            _readout(g, model, x, last),
            ["B", "T", c.output_size] if c.readout == "every_step" else ["B", c.output_size],
        )
    ]
    if state:
        for j, name in enumerate(["h_n", "c_n"][:n_states]):
            joined = finals[j][0] if L == 1 else g.op("Concat", finals[j], axis=0)
            results.append((name, joined, [L * D, "B", model.rnn.state_sizes[j]]))
    outputs = []
    for name, value, shape in results:
        g.nodes.append(helper.make_node("Identity", [value], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    graph = helper.make_graph(g.nodes, f"rnnkit_{rnn.cell}", inputs, outputs, g.inits)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="rnnkit")
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model: Model, path: str | Path, **options: Any) -> Path:
    """Write ``to_onnx(model, **options)`` to ``path`` (atomically); returns the path."""
    from .atomic import write_atomic

    path = Path(path)
    write_atomic(path, to_onnx(model, **options).SerializeToString())
    return path


def _check_exportable(model: Model, opset: int) -> None:
    if not isinstance(model, Model):
        raise ConfigError(
            f"ONNX export takes a recurrent rnnkit Model, got {type(model).__name__}"
        )
    rnn = model.config.rnn
    if rnn.layer_norm:
        raise ConfigError(
            f"ONNX has no layer-normalised {rnn.cell.upper()} operator and rnnkit does not "
            "export layer_norm=True models to ONNX; export it to PyTorch instead "
            "(rnnkit export torch)"
        )
    if not 14 <= opset <= 26:
        raise ConfigError(
            f"opset must be in [14, 26] (onnxruntime 1.31 runs up to 26), got {opset}"
        )


def _readout(g: _Graph, model: Model, seq: str, last: str) -> str:
    """y = h Wᵀ + b: ``[B, T, O]`` from the outputs ``seq [T, B, F]``, or ``[B, O]`` from
    the last-step outputs ``last [B, F]``; for Jordan, y is the layer's output itself."""
    if not model.has_head:
        if model.config.readout == "last_step":
            return last
        return g.op("Transpose", [seq], perm=[1, 0, 2])
    W, b = model.params["head.weight"], model.params["head.bias"]
    Wt, bias = g.const("head_weight_t", W.T), g.const("head_bias", b)
    if model.config.readout == "last_step":
        return g.op("Add", [g.op("MatMul", [last, Wt]), bias])
    y = g.op("Add", [g.op("MatMul", [seq, Wt]), bias])  # [T, B, O]
    return g.op("Transpose", [y], perm=[1, 0, 2])


def _input_info(c) -> Any:
    from onnx import TensorProto, helper

    if c.vocab_size:
        return helper.make_tensor_value_info("x", TensorProto.INT64, ["B", "T"])
    return helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "T", c.rnn.input_size])


def _time_major_input(g: _Graph, model: Model) -> str:
    """[T, B, I] float32 from the batch-first graph input: embedded, one-hot or transposed."""
    c = model.config
    if not c.vocab_size:
        return g.op("Transpose", ["x"], perm=[1, 0, 2])
    ids = g.op("Transpose", ["x"], perm=[1, 0])  # [T, B]
    if c.embedding_dim:  # x_t = E[id_t]
        return g.op("Gather", [g.const("embedding", model.params["embedding.weight"]), ids])
    depth = g.const("vocab_size", [c.vocab_size], np.int64)
    values = g.const("off_on", [0.0, 1.0])
    return g.op("OneHot", [ids, depth, values], axis=-1)  # x_t = e_{id_t}


def _layer_slice(g: _Graph, name: str, layer: int, D: int) -> str:
    """Rows layer·D … layer·D + D − 1 of the [L·D, B, S] state input ``name``."""
    starts = g.const("starts", [layer * D], np.int64)
    ends = g.const("ends", [(layer + 1) * D], np.int64)
    return g.op("Slice", [name, starts, ends, g.const("axis", [0], np.int64)])


def _direction_params(model: Model, layer: int, d: int) -> dict[str, np.ndarray]:
    suffix = f"_l{layer}" + ("_reverse" if d else "")
    names = model.rnn.param_shapes()
    return {n[: -len(suffix)]: model.rnn.params[n] for n in names if n.endswith(suffix)}


# ----------------------------------------------------------------------------- RNN / LSTM / GRU


def _operator_layer(
    g: _Graph, model: Model, layer: int, x: str, seq_lens: str, init: list[str]
) -> tuple[str, list[str], str]:
    """One stacked layer as an ONNX RNN/LSTM/GRU node.

    Returns (outputs [T, B, D·H], final states [D, B, H] each, last-step outputs [B, D·H]).
    """
    rnn = model.config.rnn
    D = model.rnn.num_directions
    per_dir = [
        onnx_weights(rnn.cell, _direction_params(model, layer, d), rnn.reset_after)
        for d in range(D)
    ]
    weights = {k: g.const(f"{k}_l{layer}", np.stack([w[k] for w in per_dir])) for k in per_dir[0]}
    direction = "bidirectional" if D == 2 else "forward"
    attrs: dict[str, Any] = {"hidden_size": rnn.hidden_size, "direction": direction}
    if rnn.cell == "elman":
        attrs["activations"] = [_ACTIVATION[rnn.nonlinearity]] * D
    if rnn.cell == "gru":
        attrs["linear_before_reset"] = int(rnn.reset_after)
    h0 = init[0] if init else ""
    ins = [x, weights["W"], weights["R"], weights["B"], seq_lens, h0]
    if rnn.cell == "lstm":
        ins += [init[1] if init else "", weights.get("P", "")]
    while ins[-1] == "":
        ins.pop()
    n_out = 3 if rnn.cell == "lstm" else 2
    Y, *finals = g.op(_OPERATORS[rnn.cell], ins, outputs=n_out, **attrs)
    shape = g.const("shape", [0, 0, -1], np.int64)
    seq = g.op("Reshape", [g.op("Transpose", [Y], perm=[0, 2, 1, 3]), shape])  # [T, B, D·H]
    batch_major = g.op("Transpose", [finals[0]], perm=[1, 0, 2])  # [B, D, H]
    last = g.op("Reshape", [batch_major, g.const("shape", [0, -1], np.int64)])  # [B, D·H]
    return seq, finals, last


# ----------------------------------------------------------------------------- Jordan / FRNN


def _scan_layer(
    g: _Graph, model: Model, layer: int, x: str, seq_lens: str, init: list[str]
) -> tuple[str, list[str], str]:
    """One stacked Jordan or fully recurrent layer: a ``Scan`` per direction.

    Returns (outputs [T, B, D·O], final states [D, B, S], last-step outputs [B, D·O]).
    """
    D = model.rnn.num_directions
    mask = _step_mask(g, x, seq_lens) if seq_lens else None
    seqs, finals, lasts = [], [], []
    for d in range(D):
        p = _direction_params(model, layer, d)
        s0 = _initial_state(g, model, x, init[0] if init else None, d)
        seq, final, last = _scan_direction(g, model, p, x, mask, s0, reverse=bool(d))
        seqs.append(seq)
        finals.append(g.op("Unsqueeze", [final, g.const("axis", [0], np.int64)]))
        lasts.append(last)
    if D == 1:
        return seqs[0], finals, lasts[0]
    return (
        g.op("Concat", seqs, axis=2),
        [g.op("Concat", finals, axis=0)],
        g.op("Concat", lasts, axis=1),
    )


def _step_mask(g: _Graph, x: str, seq_lens: str) -> str:
    """[T, B, 1] bool: step t of sequence b is real (t < lengths[b])."""
    T = g.op("Gather", [g.op("Shape", [x]), g.const("zero", 0, np.int64)])
    steps = g.op("Range", [g.const("zero", 0, np.int64), T, g.const("one", 1, np.int64)])
    t = g.op("Unsqueeze", [steps, g.const("axes", [1], np.int64)])  # [T, 1]
    lens = g.op("Cast", [seq_lens], to=7)  # int64
    m = g.op("Less", [t, g.op("Unsqueeze", [lens, g.const("axes", [0], np.int64)])])  # [T, B]
    return g.op("Unsqueeze", [m, g.const("axes", [2], np.int64)])


def _initial_state(g: _Graph, model: Model, x: str, init: str | None, d: int) -> str:
    """[B, S]: row d of the layer's initial state, or zeros shaped after ``x``."""
    if init is not None:
        row = g.op("Gather", [init, g.const("direction", d, np.int64)])
        return row
    S = model.rnn.state_sizes[0]
    B = g.op(
        "Slice", [g.op("Shape", [x]), g.const("one", [1], np.int64), g.const("two", [2], np.int64)]
    )
    shape = g.op("Concat", [B, g.const("S", [S], np.int64)], axis=0)
    return g.op("ConstantOfShape", [shape], value=_zero_tensor())


def _zero_tensor() -> Any:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.zeros(1, np.float32))


def _scan_direction(
    g: _Graph,
    model: Model,
    p: dict[str, np.ndarray],
    x: str,
    mask: str | None,
    s0: str,
    reverse: bool,
) -> tuple[str, str, str]:
    """(outputs [T, B, O], final state [B, S], last-step output [B, O]) of one direction.

    Before the loop, for all steps at once:  ax = x W_ihᵀ + b_ih + b_hh        [T, B, G]
    The Scan body, per step (reversed for the backward direction):
        jordan:           r = y_{t−1} | Softmax(y_{t−1});  a = ax_t + r W_hhᵀ;  h = act(a);
                          y_t = h W_hyᵀ + b_hy;  state y_t, output y_t
        fully_recurrent:  a = ax_t + u_{t−1} (M ⊙ W_hh)ᵀ;  u_t = act(a) (linear outputs:
                          [act(a[:, :H]) | a[:, H:]]);  state u_t, output u_t[:, H:]
        masked step:      state_t = m_t ? state_t : state_{t−1};   out_t = m_t ? out_t : 0
    """
    from onnx import TensorProto, helper

    rnn = model.config.rnn
    bias = p["bias_ih"] + p["bias_hh"]
    ax = g.op(
        "Add", [g.op("MatMul", [x, g.const("W_ih_t", p["weight_ih"].T)]), g.const("bias", bias)]
    )
    body = _Graph(g.numbers)
    act = _ACTIVATION[rnn.nonlinearity]
    S = model.rnn.state_sizes[0]
    if rnn.cell == "jordan":
        fed = (
            body.op("Softmax", ["s_prev"], axis=1)
            if rnn.jordan_feedback == "softmax"
            else "s_prev"
        )
        a = body.op("Add", ["ax_t", body.op("MatMul", [fed, g.const("W_hh_t", p["weight_hh"].T)])])
        h = body.op(act, [a])
        new = body.op(
            "Add",
            [
                body.op("MatMul", [h, g.const("W_hy_t", p["weight_hy"].T)]),
                g.const("b_hy", p["bias_hy"]),
            ],
        )
        out = new
    else:
        W = p["connection_mask"] * p["weight_hh"]  # M ⊙ W_hh
        a = body.op("Add", ["ax_t", body.op("MatMul", ["s_prev", g.const("W_hh_t", W.T)])])
        new = body.op(act, [a])
        H = rnn.hidden_size
        if rnn.linear_outputs:  # u = [act(a[:, :H]) | a[:, H:]]
            split = [g.const("axis", [1], np.int64)]
            hidden = body.op(
                "Slice",
                [new, g.const("start", [0], np.int64), g.const("end", [H], np.int64)] + split,
            )
            outputs = body.op(
                "Slice",
                [a, g.const("start", [H], np.int64), g.const("end", [S], np.int64)] + split,
            )
            new = body.op("Concat", [hidden, outputs], axis=1)
        out = body.op(
            "Slice",
            [
                new,
                g.const("start", [H], np.int64),
                g.const("end", [S], np.int64),
                g.const("axis", [1], np.int64),
            ],
        )
    O = model.rnn.cell.output_size(rnn.hidden_size, model.rnn.opts)
    f = TensorProto.FLOAT
    body_inputs = [
        helper.make_tensor_value_info("s_prev", f, ["B", S]),
        helper.make_tensor_value_info("ax_t", f, ["B", None]),
    ]
    if mask is not None:
        body_inputs.append(helper.make_tensor_value_info("m_t", TensorProto.BOOL, ["B", 1]))
        new = body.op("Where", ["m_t", new, "s_prev"])
        out = body.op("Where", ["m_t", out, g.const("zero", 0.0)])
    body.nodes.append(helper.make_node("Identity", [new], ["s_next"]))
    body.nodes.append(helper.make_node("Identity", [out], ["out_t"]))
    body_outputs = [
        helper.make_tensor_value_info("s_next", f, ["B", S]),
        helper.make_tensor_value_info("out_t", f, ["B", O]),
    ]
    graph = helper.make_graph(body.nodes, g.fresh("scan_body"), body_inputs, body_outputs)
    scan_in = [s0, ax] + ([mask] if mask is not None else [])
    n_scan = len(scan_in) - 1
    final, seq = g.op(
        "Scan",
        scan_in,
        outputs=2,
        body=graph,
        num_scan_inputs=n_scan,
        scan_input_directions=[int(reverse)] * n_scan,
        scan_output_directions=[int(reverse)],
    )
    # the last real step's output is part of the kept final state (y_t, or u_t[:, H:])
    last = (
        final
        if rnn.cell == "jordan"
        else g.op(
            "Slice",
            [
                final,
                g.const("start", [rnn.hidden_size], np.int64),
                g.const("end", [S], np.int64),
                g.const("axis", [1], np.int64),
            ],
        )
    )
    return seq, final, last


# ----------------------------------------------------------------------------- checking


def max_difference(
    model: Model, path: str | Path, *, batch: int = 4, steps: int = 7, seed: int = 0
) -> float:
    """Largest |onnxruntime − rnnkit| over every output of the file at ``path``.

    Random inputs (ids or N(0, 1) vectors), lengths from 1 to ``steps`` when the graph takes
    them, random initial states when it takes them.  Needs onnxruntime.
    """
    try:
        import onnxruntime as ort
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigError("--verify needs onnxruntime: pip install 'rnnkit[onnx]'") from e
    rng = np.random.default_rng(seed)
    c = model.config
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    shape = (batch, steps) if c.vocab_size else (batch, steps, c.rnn.input_size)
    x = (
        rng.integers(0, c.vocab_size, shape)
        if c.vocab_size
        else rng.standard_normal(shape).astype(np.float32)
    )
    feeds: dict[str, np.ndarray] = {"x": x}
    lengths = None
    if "lengths" in names:
        lengths = rng.integers(1, steps + 1, batch).astype(np.int32)
        lengths[0] = steps
        feeds["lengths"] = lengths
    state: np.ndarray | tuple[np.ndarray, ...] | None = None
    if "h0" in names:
        LD = c.rnn.num_layers * model.rnn.num_directions
        states = tuple(
            rng.standard_normal((LD, batch, s)).astype(np.float32) for s in model.rnn.state_sizes
        )
        feeds.update(zip(("h0", "c0"), states))
        state = states if len(states) > 1 else states[0]
    y, final, _ = model.forward(x, state, lengths=lengths)
    expected = [y] + (list(final) if isinstance(final, tuple) else [final])
    got = session.run(None, feeds)
    return float(max(np.abs(np.asarray(e, np.float64) - g).max() for e, g in zip(expected, got)))
