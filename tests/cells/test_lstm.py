"""The LSTM cell: gradients against finite differences and PyTorch, options, dtypes, purity."""

import itertools

import numpy as np
import pytest

from rnnkit.cells import CellOptions, lstm, unroll
from rnnkit.diagnostics.gradcheck import relative_error
from tests.cells._sequences import H, I, finite_difference_errors, problem


def _case_id(opts: CellOptions, masked: bool, dropped: bool) -> str:
    parts = [opts.init]
    parts += ["peep"] if opts.peepholes else []
    parts += ["ln"] if opts.layer_norm else []
    parts += [f"fb{opts.forget_bias:g}"] if opts.forget_bias else []
    parts += ["drop"] if dropped else []
    parts += ["mask"] if masked else []
    return "-".join(parts)


CASES = [
    (CellOptions(peepholes=peep, layer_norm=norm), masked, dropped)
    for peep, norm, masked, dropped in itertools.product([False, True], repeat=4)
] + [
    (CellOptions(forget_bias=1.0), False, False),
    (CellOptions(init="orthogonal", peepholes=True, forget_bias=1.0), True, False),
    (CellOptions(init="identity", layer_norm=True), False, True),
]


def _problem(opts: CellOptions, masked: bool, dropped: bool, dtype=np.float64, seed: int = 0):
    return problem(lstm, opts, masked, dropped, dtype, seed)


@pytest.mark.parametrize("opts, masked, dropped", CASES, ids=[_case_id(*c) for c in CASES])
def test_lstm_backward_matches_finite_differences(opts, masked, dropped):
    errors = finite_difference_errors(lstm, opts, masked, dropped)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.torch
@pytest.mark.parametrize(
    "T_, B_, I_, H_",
    [(1, 1, 1, 1), (3, 2, 3, 4), (6, 3, 5, 7)],
    ids=["T1B1I1H1", "T3B2I3H4", "T6B3I5H7"],
)
def test_lstm_matches_torch_lstm_outputs_state_and_gradients(T_, B_, I_, H_):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    opts = CellOptions()
    p = lstm.init_params(I_, H_, opts, rng, np.float64)
    xs = rng.standard_normal((T_, B_, I_))
    state0 = (rng.standard_normal((B_, H_)), rng.standard_normal((B_, H_)))
    R, S_h, S_c = (rng.standard_normal(s) for s in [(T_, B_, H_), (B_, H_), (B_, H_)])

    outs, (h_T, c_T), cache = unroll.forward(lstm, p, xs, state0, opts)
    dxs, (dh0, dc0), grads = unroll.backward(lstm, p, cache, R, (S_h, S_c), opts)

    net = torch.nn.LSTM(I_, H_).double()
    with torch.no_grad():
        for name in p:
            getattr(net, f"{name}_l0").copy_(torch.from_numpy(p[name]))
    x_t = torch.tensor(xs, requires_grad=True)
    h0_t = torch.tensor(state0[0][None], requires_grad=True)
    c0_t = torch.tensor(state0[1][None], requires_grad=True)
    out_t, (hT_t, cT_t) = net(x_t, (h0_t, c0_t))
    loss = (out_t * torch.from_numpy(R)).sum()
    loss = loss + (hT_t[0] * torch.from_numpy(S_h)).sum() + (cT_t[0] * torch.from_numpy(S_c)).sum()
    loss.backward()

    pairs = {
        "outs": (outs, out_t),
        "h_T": (h_T, hT_t[0]),
        "c_T": (c_T, cT_t[0]),
        "dxs": (dxs, x_t.grad),
        "dh0": (dh0, h0_t.grad[0]),
        "dc0": (dc0, c0_t.grad[0]),
    }
    pairs |= {f"d{k}": (g, getattr(net, f"{k}_l0").grad) for k, g in grads.items()}
    diffs = {k: np.abs(a - b.detach().numpy()).max() for k, (a, b) in pairs.items()}
    assert max(diffs.values()) < 1e-10, diffs


def _torch_reference(torch, p, xs, state0, opts, drop):
    """The module docstring's equations in PyTorch ops, for autograd to differentiate."""
    F = torch.nn.functional
    Hn = state0[0].shape[1]

    def norm(v, gain, shift, blocks):  # each block of Hn units normalised on its own
        y = F.layer_norm(v.reshape(v.shape[0], blocks, Hn), (Hn,), eps=1e-5)
        return y.reshape(v.shape[0], -1) * gain + shift

    h, c = state0
    outs = []
    for x in xs:
        ax, q = x @ p["weight_ih"].T, (h if drop is None else h * drop) @ p["weight_hh"].T
        if opts.layer_norm:
            ax = norm(ax, p["ln_ih_weight"], p["ln_ih_bias"], 4)
            q = norm(q, p["ln_hh_weight"], p["ln_hh_bias"], 4)
        a_i, a_f, a_g, a_o = (ax + p["bias_ih"] + q + p["bias_hh"]).split(Hn, dim=1)
        if opts.peepholes:
            a_i, a_f = a_i + p["weight_peep"][0] * c, a_f + p["weight_peep"][1] * c
        c = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
        if opts.peepholes:
            a_o = a_o + p["weight_peep"][2] * c
        c_out = norm(c, p["ln_c_weight"], p["ln_c_bias"], 1) if opts.layer_norm else c
        h = torch.sigmoid(a_o) * torch.tanh(c_out)
        outs.append(h)
    return torch.stack(outs), (h, c)


@pytest.mark.torch
@pytest.mark.parametrize("dropped", [False, True], ids=["nodrop", "drop"])
@pytest.mark.parametrize(
    "opts",
    [
        CellOptions(peepholes=True),
        CellOptions(layer_norm=True),
        CellOptions(peepholes=True, layer_norm=True),
    ],
    ids=["peep", "ln", "peep-ln"],
)
def test_lstm_options_match_their_equations_under_torch_autograd(opts, dropped):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    p, xs, state0, _, drop, R, S = _problem(opts, False, dropped, seed=2)
    outs, state, cache = unroll.forward(lstm, p, xs, state0, opts, None, drop)
    dxs, dstate0, grads = unroll.backward(lstm, p, cache, R, S, opts)

    p_t = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    xs_t = torch.tensor(xs, requires_grad=True)
    s0_t = tuple(torch.tensor(s, requires_grad=True) for s in state0)
    drop_t = None if drop is None else torch.from_numpy(drop)
    outs_t, state_t = _torch_reference(torch, p_t, xs_t, s0_t, opts, drop_t)
    loss = (outs_t * torch.from_numpy(R)).sum()
    loss = loss + sum((s * torch.from_numpy(d)).sum() for s, d in zip(state_t, S))
    loss.backward()

    pairs = {"outs": (outs, outs_t), "dxs": (dxs, xs_t.grad)}
    pairs |= {f"state{k}": (state[k], state_t[k]) for k in range(2)}
    pairs |= {f"dstate{k}": (dstate0[k], s0_t[k].grad) for k in range(2)}
    pairs |= {f"d{k}": (g, p_t[k].grad) for k, g in grads.items()}
    diffs = {k: np.abs(a - b.detach().numpy()).max() for k, (a, b) in pairs.items()}
    assert max(diffs.values()) < 1e-10, diffs


PURITY_CASES = CASES[-4:]


@pytest.mark.parametrize(
    "opts, masked, dropped", PURITY_CASES, ids=[_case_id(*c) for c in PURITY_CASES]
)
def test_lstm_forward_and_backward_leave_inputs_and_params_unchanged(opts, masked, dropped):
    problem = _problem(opts, masked, dropped)
    p, xs, state0, mask, drop, R, S = problem
    before = [
        {k: v.copy() for k, v in p.items()},
        xs.copy(),
        [s.copy() for s in state0],
        None if mask is None else mask.copy(),
        None if drop is None else drop.copy(),
        R.copy(),
        [s.copy() for s in S],
    ]
    _, _, cache = unroll.forward(lstm, p, xs, state0, opts, mask, drop)
    unroll.backward(lstm, p, cache, R, S, opts)
    assert all(np.array_equal(p[k], before[0][k]) for k in p)
    assert np.array_equal(xs, before[1]) and np.array_equal(R, before[5])
    assert all(np.array_equal(a, b) for a, b in zip(state0 + S, before[2] + before[6]))
    assert mask is None or np.array_equal(mask, before[3])
    assert drop is None or np.array_equal(drop, before[4])


@pytest.mark.parametrize("forget_bias", [1.0, -2.5], ids=["fb1", "fb-2.5"])
def test_lstm_forget_bias_is_added_to_the_forget_slice_of_bias_ih_only(forget_bias):
    p0 = lstm.init_params(I, H, CellOptions(), np.random.default_rng(3), np.float64)
    p1 = lstm.init_params(
        I, H, CellOptions(forget_bias=forget_bias), np.random.default_rng(3), np.float64
    )
    expected = p0["bias_ih"].copy()
    expected[H : 2 * H] += forget_bias
    assert np.array_equal(p1["bias_ih"], expected)
    assert all(np.array_equal(p0[k], p1[k]) for k in p0 if k != "bias_ih")


@pytest.mark.parametrize("init", ["orthogonal", "identity"])
def test_lstm_recurrent_init_applies_to_each_hidden_block_of_weight_hh(init):
    p = lstm.init_params(I, H, CellOptions(init=init), np.random.default_rng(4), np.float64)
    for k in range(4):
        block = p["weight_hh"][k * H : (k + 1) * H]
        got = block.T @ block if init == "orthogonal" else block
        np.testing.assert_allclose(got, np.eye(H), atol=1e-12)


@pytest.mark.parametrize(
    "opts", [CellOptions(), CellOptions(peepholes=True, layer_norm=True)], ids=["plain", "peep-ln"]
)
def test_lstm_init_params_match_param_shapes_and_layer_norm_starts_as_identity(opts):
    p = lstm.init_params(I, H, opts, np.random.default_rng(5), np.float32)
    assert {k: v.shape for k, v in p.items()} == lstm.param_shapes(I, H, opts)
    for name in p:
        if name.startswith("ln_"):
            assert np.all(p[name] == (1 if name.endswith("_weight") else 0)), name


@pytest.mark.parametrize(
    "opts", [CellOptions(), CellOptions(peepholes=True, layer_norm=True)], ids=["plain", "peep-ln"]
)
def test_lstm_runs_in_float32_and_returns_float32(opts):
    p, xs, state0, mask, drop, R, S = _problem(opts, True, True, dtype=np.float32)
    outs, state, cache = unroll.forward(lstm, p, xs, state0, opts, mask, drop)
    dxs, dstate0, grads = unroll.backward(lstm, p, cache, R, S, opts)
    arrays = [outs, *state, dxs, *dstate0, *grads.values()]
    assert all(a.dtype == np.float32 for a in arrays)
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    s64 = tuple(s.astype(np.float64) for s in state0)
    outs64, _, _ = unroll.forward(lstm, p64, xs.astype(np.float64), s64, opts, mask, drop)
    assert relative_error(outs, outs64) < 1e-5
