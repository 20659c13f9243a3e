"""The GRU cell: gradients against finite differences and PyTorch, options, dtypes, purity."""

import itertools

import numpy as np
import pytest

from rnnkit.cells import CellOptions, gru, unroll
from rnnkit.diagnostics.gradcheck import relative_error
from tests.cells._sequences import H, I, finite_difference_errors, problem


def _case_id(opts: CellOptions, masked: bool, dropped: bool) -> str:
    parts = [opts.init, "after" if opts.reset_after else "before"]
    parts += ["ln"] if opts.layer_norm else []
    parts += ["drop"] if dropped else []
    parts += ["mask"] if masked else []
    return "-".join(parts)


CASES = [
    (CellOptions(reset_after=after, layer_norm=norm), masked, dropped)
    for after, norm, masked, dropped in itertools.product([True, False], repeat=4)
] + [
    (CellOptions(init="orthogonal", reset_after=False), True, False),
    (CellOptions(init="identity", layer_norm=True), False, True),
]


def _problem(opts: CellOptions, masked: bool, dropped: bool, dtype=np.float64, seed: int = 0):
    return problem(gru, opts, masked, dropped, dtype, seed)


@pytest.mark.parametrize("opts, masked, dropped", CASES, ids=[_case_id(*c) for c in CASES])
def test_gru_backward_matches_finite_differences(opts, masked, dropped):
    errors = finite_difference_errors(gru, opts, masked, dropped)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.torch
@pytest.mark.parametrize(
    "T_, B_, I_, H_",
    [(1, 1, 1, 1), (3, 2, 3, 4), (6, 3, 5, 7)],
    ids=["T1B1I1H1", "T3B2I3H4", "T6B3I5H7"],
)
def test_gru_reset_after_matches_torch_gru_outputs_state_and_gradients(T_, B_, I_, H_):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    opts = CellOptions(reset_after=True)
    p = gru.init_params(I_, H_, opts, rng, np.float64)
    xs = rng.standard_normal((T_, B_, I_))
    state0 = (rng.standard_normal((B_, H_)),)
    R, S_h = rng.standard_normal((T_, B_, H_)), rng.standard_normal((B_, H_))

    outs, (h_T,), cache = unroll.forward(gru, p, xs, state0, opts)
    dxs, (dh0,), grads = unroll.backward(gru, p, cache, R, (S_h,), opts)

    net = torch.nn.GRU(I_, H_).double()
    with torch.no_grad():
        for name in p:
            getattr(net, f"{name}_l0").copy_(torch.from_numpy(p[name]))
    x_t = torch.tensor(xs, requires_grad=True)
    h0_t = torch.tensor(state0[0][None], requires_grad=True)
    out_t, hT_t = net(x_t, h0_t)
    loss = (out_t * torch.from_numpy(R)).sum() + (hT_t[0] * torch.from_numpy(S_h)).sum()
    loss.backward()

    pairs = {
        "outs": (outs, out_t),
        "h_T": (h_T, hT_t[0]),
        "dxs": (dxs, x_t.grad),
        "dh0": (dh0, h0_t.grad[0]),
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

    def recurrent(v, rows, blocks):  # LN_hh(v W_hh[rows]ᵀ) + b_hh[rows], or without LN
        q = v @ p["weight_hh"][rows].T
        if opts.layer_norm:
            q = norm(q, p["ln_hh_weight"][rows], p["ln_hh_bias"][rows], blocks)
        return q + p["bias_hh"][rows]

    (h,) = state0
    outs = []
    for x in xs:
        ax = x @ p["weight_ih"].T
        if opts.layer_norm:
            ax = norm(ax, p["ln_ih_weight"], p["ln_ih_bias"], 3)
        a_r, a_z, a_n = (ax + p["bias_ih"]).split(Hn, dim=1)
        h_rec = h if drop is None else h * drop
        h_r, h_z = recurrent(h_rec, slice(0, 2 * Hn), 2).split(Hn, dim=1)
        r, z = torch.sigmoid(a_r + h_r), torch.sigmoid(a_z + h_z)
        if opts.reset_after:
            n = torch.tanh(a_n + r * recurrent(h_rec, slice(2 * Hn, 3 * Hn), 1))
        else:
            n = torch.tanh(a_n + recurrent(r * h_rec, slice(2 * Hn, 3 * Hn), 1))
        h = (1 - z) * n + z * h
        outs.append(h)
    return torch.stack(outs), (h,)


@pytest.mark.torch
@pytest.mark.parametrize("dropped", [False, True], ids=["nodrop", "drop"])
@pytest.mark.parametrize(
    "opts",
    [
        CellOptions(reset_after=False),
        CellOptions(reset_after=True, layer_norm=True),
        CellOptions(reset_after=False, layer_norm=True),
    ],
    ids=["before", "after-ln", "before-ln"],
)
def test_gru_options_match_their_equations_under_torch_autograd(opts, dropped):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    p, xs, state0, _, drop, R, S = _problem(opts, False, dropped, seed=2)
    outs, state, cache = unroll.forward(gru, p, xs, state0, opts, None, drop)
    dxs, dstate0, grads = unroll.backward(gru, p, cache, R, S, opts)

    p_t = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    xs_t = torch.tensor(xs, requires_grad=True)
    s0_t = tuple(torch.tensor(s, requires_grad=True) for s in state0)
    drop_t = None if drop is None else torch.from_numpy(drop)
    outs_t, state_t = _torch_reference(torch, p_t, xs_t, s0_t, opts, drop_t)
    loss = (outs_t * torch.from_numpy(R)).sum()
    loss = loss + sum((s * torch.from_numpy(d)).sum() for s, d in zip(state_t, S))
    loss.backward()

    pairs = {"outs": (outs, outs_t), "h_T": (state[0], state_t[0])}
    pairs |= {"dxs": (dxs, xs_t.grad), "dh0": (dstate0[0], s0_t[0].grad)}
    pairs |= {f"d{k}": (g, p_t[k].grad) for k, g in grads.items()}
    diffs = {k: np.abs(a - b.detach().numpy()).max() for k, (a, b) in pairs.items()}
    assert max(diffs.values()) < 1e-10, diffs


def test_gru_reset_before_and_after_differ_on_the_same_weights():
    p, xs, state0, _, _, _, _ = _problem(CellOptions(), False, False)
    outs_after, _, _ = unroll.forward(gru, p, xs, state0, CellOptions(reset_after=True))
    outs_before, _, _ = unroll.forward(gru, p, xs, state0, CellOptions(reset_after=False))
    assert np.abs(outs_after - outs_before).max() > 1e-3


PURITY_CASES = CASES[-4:]


@pytest.mark.parametrize(
    "opts, masked, dropped", PURITY_CASES, ids=[_case_id(*c) for c in PURITY_CASES]
)
def test_gru_forward_and_backward_leave_inputs_and_params_unchanged(opts, masked, dropped):
    p, xs, state0, mask, drop, R, S = _problem(opts, masked, dropped)
    before = [
        {k: v.copy() for k, v in p.items()},
        xs.copy(),
        [s.copy() for s in state0],
        None if mask is None else mask.copy(),
        None if drop is None else drop.copy(),
        R.copy(),
        [s.copy() for s in S],
    ]
    _, _, cache = unroll.forward(gru, p, xs, state0, opts, mask, drop)
    unroll.backward(gru, p, cache, R, S, opts)
    assert all(np.array_equal(p[k], before[0][k]) for k in p)
    assert np.array_equal(xs, before[1]) and np.array_equal(R, before[5])
    assert all(np.array_equal(a, b) for a, b in zip(state0 + S, before[2] + before[6]))
    assert mask is None or np.array_equal(mask, before[3])
    assert drop is None or np.array_equal(drop, before[4])


@pytest.mark.parametrize("init", ["orthogonal", "identity"])
def test_gru_recurrent_init_applies_to_each_hidden_block_of_weight_hh(init):
    p = gru.init_params(I, H, CellOptions(init=init), np.random.default_rng(4), np.float64)
    for k in range(3):
        block = p["weight_hh"][k * H : (k + 1) * H]
        got = block.T @ block if init == "orthogonal" else block
        np.testing.assert_allclose(got, np.eye(H), atol=1e-12)


@pytest.mark.parametrize(
    "opts", [CellOptions(), CellOptions(layer_norm=True)], ids=["plain", "ln"]
)
def test_gru_init_params_match_param_shapes_and_layer_norm_starts_as_identity(opts):
    p = gru.init_params(I, H, opts, np.random.default_rng(5), np.float32)
    assert {k: v.shape for k, v in p.items()} == gru.param_shapes(I, H, opts)
    for name in p:
        if name.startswith("ln_"):
            assert np.all(p[name] == (1 if name.endswith("_weight") else 0)), name


@pytest.mark.parametrize(
    "opts",
    [CellOptions(), CellOptions(reset_after=False, layer_norm=True)],
    ids=["after", "before-ln"],
)
def test_gru_runs_in_float32_and_returns_float32(opts):
    p, xs, state0, mask, drop, R, S = _problem(opts, True, True, dtype=np.float32)
    outs, state, cache = unroll.forward(gru, p, xs, state0, opts, mask, drop)
    dxs, dstate0, grads = unroll.backward(gru, p, cache, R, S, opts)
    arrays = [outs, *state, dxs, *dstate0, *grads.values()]
    assert all(a.dtype == np.float32 for a in arrays)
    p64 = {k: v.astype(np.float64) for k, v in p.items()}
    s64 = tuple(s.astype(np.float64) for s in state0)
    outs64, _, _ = unroll.forward(gru, p64, xs.astype(np.float64), s64, opts, mask, drop)
    assert relative_error(outs, outs64) < 1e-5
