"""The recurrent layer against PyTorch autograd, and its own invariants."""

import numpy as np
import pytest

from rnnkit.errors import ConfigError, ShapeError
from rnnkit.io.torch_exchange import from_torch, to_torch
from rnnkit.layers.recurrent import Recurrent, RecurrentConfig
from tests.conftest import TORCH_ATOL, torch_or_skip

TORCH_CASES = [
    # cell, nonlinearity, num_layers, bidirectional, batch_first, lengths
    ("elman", "tanh", 1, False, False, None),
    ("elman", "relu", 2, True, True, [5, 2, 4]),
    ("lstm", "tanh", 1, False, True, None),
    ("lstm", "tanh", 2, True, False, [5, 3, 1]),
    ("lstm", "tanh", 3, False, True, [4, 5, 2]),
    ("gru", "tanh", 1, True, False, None),
    ("gru", "tanh", 2, True, True, [2, 5, 5]),
]


def _torch_module(torch, cell, nonlinearity, L, bidir, batch_first, seed):
    torch.manual_seed(seed)
    kw = dict(
        input_size=3, hidden_size=4, num_layers=L, bidirectional=bidir, batch_first=batch_first
    )
    if cell == "elman":
        return torch.nn.RNN(nonlinearity=nonlinearity, **kw).double()
    return (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(**kw).double()


def _torch_run(torch, module, x, state, lengths, R, S):
    """Outputs, final state and every gradient of L = <R, out> + <S, state_T> in torch."""
    xt = torch.from_numpy(x).requires_grad_()
    st = tuple(torch.from_numpy(s).requires_grad_() for s in state)
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.tensor(lengths), batch_first=module.batch_first, enforce_sorted=False
        )
    out, final = module(inp, st if len(st) == 2 else st[0])
    if lengths is not None:
        T = x.shape[1] if module.batch_first else x.shape[0]
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(
            out, batch_first=module.batch_first, total_length=T
        )
    final = final if isinstance(final, tuple) else (final,)
    loss = (out * torch.from_numpy(R)).sum() + sum(
        (f * torch.from_numpy(s)).sum() for f, s in zip(final, S)
    )
    loss.backward()
    grads = {n: w.grad.numpy() for n, w in module.named_parameters()}
    return (
        out.detach().numpy(),
        tuple(f.detach().numpy() for f in final),
        xt.grad.numpy(),
        tuple(s.grad.numpy() for s in st),
        grads,
    )


@pytest.mark.torch
@pytest.mark.parametrize(
    "cell,nonlin,L,bidir,batch_first,lengths",
    TORCH_CASES,
    ids=[
        f"{c[0]}-{c[1]}-L{c[2]}-{'bi' if c[3] else 'uni'}-"
        f"{'bf' if c[4] else 'tm'}-{'masked' if c[5] else 'full'}"
        for c in TORCH_CASES
    ],
)
def test_layer_matches_torch_autograd(cell, nonlin, L, bidir, batch_first, lengths):
    torch = torch_or_skip()
    module = _torch_module(torch, cell, nonlin, L, bidir, batch_first, seed=len(TORCH_CASES))
    layer = from_torch(module)
    rng = np.random.default_rng(7)
    T, B, D = 5, 3, 2 if bidir else 1
    x = rng.standard_normal((B, T, 3) if batch_first else (T, B, 3))
    n_states = 2 if cell == "lstm" else 1
    state = tuple(rng.standard_normal((L * D, B, 4)) for _ in range(n_states))
    out, final, cache = layer.forward(x, state if n_states == 2 else state[0], lengths=lengths)
    R = rng.standard_normal(out.shape)
    S = tuple(rng.standard_normal((L * D, B, 4)) for _ in range(n_states))
    dx, dstate0, grads = layer.backward(cache, R, S if n_states == 2 else S[0])
    t_out, t_final, t_dx, t_dstate0, t_grads = _torch_run(torch, module, x, state, lengths, R, S)
    final = final if n_states == 2 else (final,)
    dstate0 = dstate0 if n_states == 2 else (dstate0,)
    np.testing.assert_allclose(out, t_out, rtol=0, atol=TORCH_ATOL)
    for ours, theirs in zip(final + dstate0, t_final + t_dstate0):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=TORCH_ATOL)
    np.testing.assert_allclose(dx, t_dx, rtol=0, atol=TORCH_ATOL)
    assert list(grads) == list(t_grads)
    for name in grads:
        np.testing.assert_allclose(
            grads[name], t_grads[name], rtol=0, atol=TORCH_ATOL, err_msg=name
        )


@pytest.mark.torch
@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_torch_round_trip_keeps_every_weight(cell):
    torch = torch_or_skip()
    module = _torch_module(torch, cell, "tanh", 2, True, True, seed=3)
    back = to_torch(from_torch(module))
    assert type(back) is type(module) and back.batch_first and back.bidirectional
    for (n1, w1), (n2, w2) in zip(module.state_dict().items(), back.state_dict().items()):
        assert n1 == n2 and torch.equal(w1, w2)


def test_to_torch_refuses_cells_pytorch_lacks():
    layer = Recurrent(
        RecurrentConfig(cell="lstm", input_size=2, hidden_size=3, peepholes=True),
        rng=np.random.default_rng(0),
    )
    with pytest.raises(ConfigError, match="peepholes"):
        to_torch(layer)


@pytest.mark.parametrize("cell", ["elman", "jordan", "fully_recurrent", "lstm", "gru"])
def test_forward_and_backward_leave_inputs_untouched(cell, rng):
    layer = Recurrent(
        RecurrentConfig(cell=cell, input_size=3, hidden_size=4, num_layers=2, bidirectional=True),
        rng=rng,
        dtype=np.float64,
    )
    params = layer.state_dict()
    x = rng.standard_normal((5, 2, 3))
    x_copy = x.copy()
    out, final, cache = layer.forward(x, lengths=np.array([5, 3]))
    d_out = rng.standard_normal(out.shape)
    d_copy = d_out.copy()
    layer.backward(cache, d_out)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(d_out, d_copy)
    for name, w in layer.params.items():
        np.testing.assert_array_equal(w, params[name])


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_float32_layer_computes_in_float32(cell, rng):
    layer = Recurrent(RecurrentConfig(cell=cell, input_size=3, hidden_size=4), rng=rng)
    out, final, cache = layer.forward(rng.standard_normal((4, 2, 3)))
    dx, _, grads = layer.backward(cache, np.ones_like(out))
    assert out.dtype == dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads.values())


def test_dropout_between_layers_follows_the_seed_and_is_off_in_evaluation(rng):
    config = RecurrentConfig(
        cell="gru", input_size=3, hidden_size=4, num_layers=2, dropout=0.5, recurrent_dropout=0.3
    )
    layer = Recurrent(config, rng=rng, dtype=np.float64)
    x = rng.standard_normal((4, 2, 3))
    a = layer.forward(x, train=True, rng=np.random.default_rng(5))[0]
    b = layer.forward(x, train=True, rng=np.random.default_rng(5))[0]
    c = layer.forward(x, train=True, rng=np.random.default_rng(6))[0]
    plain = layer.forward(x)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, plain)
    with pytest.raises(ConfigError, match="rng"):
        layer.forward(x, train=True)


def test_bad_shapes_get_clear_errors(rng):
    layer = Recurrent(RecurrentConfig(cell="lstm", input_size=3, hidden_size=4), rng=rng)
    with pytest.raises(ShapeError, match=r"I = 3"):
        layer.forward(np.zeros((5, 2, 4)))
    with pytest.raises(ShapeError, match="mask"):
        layer.forward(np.zeros((5, 2, 3)), mask=np.ones((2, 5)))
    with pytest.raises(ShapeError, match="state"):
        layer.forward(np.zeros((5, 2, 3)), np.zeros((1, 2, 4)))
    with pytest.raises(ShapeError, match="lengths"):
        layer.forward(np.zeros((5, 2, 3)), lengths=np.array([6, 1]))
    with pytest.raises(ShapeError, match=r"token id 3 is outside the vocabulary \[0, 3\)"):
        layer.forward(np.array([[0, 1], [3, 2]]))
    with pytest.raises(ShapeError, match=r"I = 3 \(or \[T, B\] token ids\)"):
        layer.forward(np.zeros((5, 2)))  # floats [T, B] are not ids
    with pytest.raises(ConfigError, match="hidden_size"):
        RecurrentConfig(cell="lstm", input_size=3, hidden_size=0)
    with pytest.raises(ConfigError, match="unknown cell"):
        RecurrentConfig(cell="lstmm", input_size=3, hidden_size=2)


TOKEN_CASES = [  # cell, dtype, backend: fused kernels (ids), NumPy kernels and the reference
    ("lstm", np.float32, "fast"),
    ("gru", np.float32, "fast"),
    ("elman", np.float32, "fast"),
    ("lstm", np.float64, "fast"),
    ("elman", np.float64, "fast"),
    ("gru", np.float64, "reference"),
]


@pytest.mark.parametrize(
    "cell,dtype,backend", TOKEN_CASES, ids=[f"{c}-{d.__name__}-{b}" for c, d, b in TOKEN_CASES]
)
def test_token_ids_are_their_one_hot_rows(cell, dtype, backend):
    """A stacked bidirectional batch-first layer: ids [B, T] give the outputs, final state,
    ∂L/∂(one-hot rows) and gradients of the one-hot input [B, T, V]."""
    V = 6
    config = RecurrentConfig(
        cell=cell, input_size=V, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True
    )
    layer = Recurrent(config, rng=np.random.default_rng(0), dtype=dtype, backend=backend)
    ids = np.random.default_rng(1).integers(0, V, size=(3, 5)).astype(np.int32)
    lengths = np.array([5, 2, 4])
    results = []
    for x in (ids, np.eye(V)[ids]):
        out, final, cache = layer.forward(x, lengths=lengths)
        d_out = np.random.default_rng(2).standard_normal(out.shape)
        results.append((out, final, *layer.backward(cache, d_out)))
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}
    (out, final, dx, ds0, grads), (out_1, final_1, dx_1, ds0_1, grads_1) = results
    assert dx.shape == (3, 5, V)
    for a, b in ((out, out_1), (final, final_1), (dx, dx_1), (ds0, ds0_1)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **tol)
    for key, g in grads_1.items():
        np.testing.assert_allclose(grads[key], g, **tol, err_msg=key)


LAYER_FD_CASES = [
    # cell, num_layers, bidirectional, dropout, recurrent_dropout, extra options
    ("elman", 2, True, 0.3, 0.2, {"nonlinearity": "tanh"}),
    ("jordan", 2, False, 0.3, 0.0, {"output_size": 3}),
    ("fully_recurrent", 1, True, 0.0, 0.2, {"output_size": 2}),
    ("lstm", 2, True, 0.3, 0.2, {"peepholes": True, "layer_norm": True}),
    ("gru", 2, True, 0.3, 0.2, {"reset_after": False, "layer_norm": True}),
]


@pytest.mark.parametrize("case", LAYER_FD_CASES, ids=[c[0] for c in LAYER_FD_CASES])
def test_stacked_bidirectional_layer_with_dropout_matches_finite_differences(case, rng):
    from rnnkit.diagnostics.gradcheck import check_gradients
    from tests.conftest import FD_RTOL

    cell, L, bidir, dropout, rec_dropout, extra = case
    config = RecurrentConfig(
        cell=cell,
        input_size=3,
        hidden_size=4,
        num_layers=L,
        bidirectional=bidir,
        dropout=dropout,
        recurrent_dropout=rec_dropout,
        **extra,
    )
    layer = Recurrent(config, rng=rng, dtype=np.float64)
    x = rng.standard_normal((4, 3, 3))
    lengths = np.array([4, 2, 3])

    def run():  # the same seed gives the same dropout masks on every call
        return layer.forward(x, lengths=lengths, train=True, rng=np.random.default_rng(11))

    out, final, cache = run()
    finals = final if isinstance(final, tuple) else (final,)
    R = rng.standard_normal(out.shape)
    S = tuple(rng.standard_normal(f.shape) for f in finals)

    def loss():
        o, f, _ = run()
        f = f if isinstance(f, tuple) else (f,)
        return float((o * R).sum() + sum((a * s).sum() for a, s in zip(f, S)))

    dx, _, grads = layer.backward(cache, R, S if len(S) == 2 else S[0])
    # the fully recurrent net's connection mask is fixed structure, not a trained weight
    arrays = {n: w for n, w in layer.params.items() if not n.startswith("connection_mask")}
    arrays["x"] = x
    errors = check_gradients(loss, arrays, dict(grads, x=dx))
    assert max(errors.values()) < FD_RTOL, errors
