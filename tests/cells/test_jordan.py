"""The Jordan cell: finite differences through the driver, autograd, initialisations, shapes."""

import numpy as np
import pytest

from rnnkit.cells import CellOptions, jordan, unroll
from rnnkit.diagnostics.gradcheck import check_gradients
from rnnkit.errors import ConfigError
from tests.conftest import FD_RTOL, TORCH_ATOL, torch_or_skip

T, B, I, H = 4, 3, 3, 4
LENGTHS = np.array([4, 2, 3])  # the mask's real steps per sequence


def make_problem(opts: CellOptions, *, masked: bool, dropped: bool, seed: int = 0) -> dict:
    """Random float64 parameters, inputs, state, mask, dropout and loss projections R, S."""
    rng = np.random.default_rng(seed)
    O = jordan.output_size(H, opts)
    return {
        "p": jordan.init_params(I, H, opts, rng, np.float64),
        "xs": rng.standard_normal((T, B, I)),
        "state0": (rng.standard_normal((B, O)),),
        "mask": (np.arange(T)[:, None] < LENGTHS) if masked else None,
        "drop": (rng.random((B, O)) >= 0.5) / 0.5 if dropped else None,  # on y_{t−1}: [B, O]
        "R": rng.standard_normal((T, B, O)),  # L = Σ_t <R_t, y_t> + <S, y_T>
        "S": (rng.standard_normal((B, O)),),
    }


def run(pr: dict, opts: CellOptions):
    return unroll.forward(jordan, pr["p"], pr["xs"], pr["state0"], opts, pr["mask"], pr["drop"])


def loss(pr: dict, opts: CellOptions) -> float:
    outs, final, _ = run(pr, opts)
    return float(np.sum(pr["R"] * outs) + sum(np.sum(s * f) for s, f in zip(pr["S"], final)))


def analytic_gradients(pr: dict, opts: CellOptions) -> dict:
    _, _, cache = run(pr, opts)
    dxs, dstate0, grads = unroll.backward(jordan, pr["p"], cache, pr["R"], pr["S"], opts)
    return {**grads, "xs": dxs, "y0": dstate0[0]}


def smallest_pre_activation(pr: dict, opts: CellOptions) -> float:
    """min |a_t| over every step and unit: how close relu comes to its kink."""
    p = pr["p"]
    _, _, cache = run(pr, opts)
    y_rec = np.stack([c.y_rec for c in cache.caches])
    a = pr["xs"] @ p["weight_ih"].T + p["bias_ih"] + y_rec @ p["weight_hh"].T + p["bias_hh"]
    return float(np.abs(a).min())


@pytest.mark.parametrize("output_size", [0, 2], ids=["O=H", "O=2"])
@pytest.mark.parametrize("dropped", [False, True], ids=["no-drop", "drop"])
@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_jordan_backward_matches_finite_differences(nonlinearity, masked, dropped, output_size):
    opts = CellOptions(nonlinearity=nonlinearity, output_size=output_size)
    pr = make_problem(opts, masked=masked, dropped=dropped)
    if nonlinearity == "relu":
        assert smallest_pre_activation(pr, opts) > 1e-4  # finite differences never straddle 0
    arrays = {**pr["p"], "xs": pr["xs"], "y0": pr["state0"][0]}
    errors = check_gradients(lambda: loss(pr, opts), arrays, analytic_gradients(pr, opts))
    assert errors.keys() == {*jordan.param_shapes(I, H, opts), "xs", "y0"}
    assert max(errors.values()) < FD_RTOL, errors


@pytest.mark.torch
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_jordan_matches_torch_autograd_of_its_equations(nonlinearity):
    torch = torch_or_skip()
    opts = CellOptions(nonlinearity=nonlinearity, output_size=2)
    pr = make_problem(opts, masked=False, dropped=True, seed=3)
    outs, (yT,), cache = run(pr, opts)
    dxs, (dy0,), grads = unroll.backward(jordan, pr["p"], cache, pr["R"], pr["S"], opts)

    w = {name: torch.tensor(v, requires_grad=True) for name, v in pr["p"].items()}
    t_xs = torch.tensor(pr["xs"], requires_grad=True)
    t_y0 = torch.tensor(pr["state0"][0], requires_grad=True)
    act = torch.tanh if nonlinearity == "tanh" else torch.relu
    y, t_outs = t_y0, []
    for x in t_xs:  # h = act(W_ih x + b_ih + W_hh (drop ⊙ y) + b_hh);  y = W_hy h + b_hy
        y_rec = y * torch.from_numpy(pr["drop"])
        h = act(x @ w["weight_ih"].T + w["bias_ih"] + y_rec @ w["weight_hh"].T + w["bias_hh"])
        y = h @ w["weight_hy"].T + w["bias_hy"]
        t_outs.append(y)
    t_outs = torch.stack(t_outs)
    R, S = torch.from_numpy(pr["R"]), torch.from_numpy(pr["S"][0])
    ((R * t_outs).sum() + (S * y).sum()).backward()

    def same(ours, theirs):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=0, atol=TORCH_ATOL)

    same(outs, t_outs)
    same(yT, y)
    same(dxs, t_xs.grad)
    same(dy0, t_y0.grad)
    for name in pr["p"]:
        same(grads[name], w[name].grad)


@pytest.mark.parametrize("output_size", [0, 2], ids=["O=H", "O=2"])
def test_jordan_shapes_follow_output_size(output_size):
    opts = CellOptions(output_size=output_size)
    O = output_size or H
    assert jordan.param_shapes(I, H, opts) == {
        "weight_ih": (H, I),
        "weight_hh": (H, O),
        "bias_ih": (H,),
        "bias_hh": (H,),
        "weight_hy": (O, H),
        "bias_hy": (O,),
    }
    assert jordan.state_sizes(H, opts) == (O,)
    assert jordan.output_size(H, opts) == O
    p = jordan.init_params(I, H, opts, np.random.default_rng(0), np.float32)
    outs, (yT,), _ = unroll.forward(
        jordan, p, np.ones((T, B, I), np.float32), (np.zeros((B, O), np.float32),), opts
    )
    assert outs.shape == (T, B, O) and outs.dtype == np.float32
    assert yT.shape == (B, O) and yT.dtype == np.float32


def test_jordan_orthogonal_init_gives_orthogonal_recurrent_weight():
    opts = CellOptions(init="orthogonal")
    W = jordan.init_params(I, H, opts, np.random.default_rng(0), np.float64)["weight_hh"]
    np.testing.assert_allclose(W @ W.T, np.eye(H), rtol=0, atol=1e-12)


def test_jordan_identity_init_gives_identity_recurrent_weight_and_zero_biases():
    opts = CellOptions(init="identity", nonlinearity="relu")
    p = jordan.init_params(I, H, opts, np.random.default_rng(0), np.float64)
    np.testing.assert_array_equal(p["weight_hh"], np.eye(H))
    for name in ("bias_ih", "bias_hh", "bias_hy"):
        np.testing.assert_array_equal(p[name], 0)


@pytest.mark.parametrize("init", ["orthogonal", "identity"])
def test_jordan_square_init_of_a_rectangular_weight_is_refused(init):
    opts = CellOptions(init=init, output_size=2)
    with pytest.raises(ConfigError, match=r"weight_hh \[H, O\], got \[4, 2\]"):
        jordan.init_params(I, H, opts, np.random.default_rng(0), np.float64)


@pytest.mark.parametrize("init", ["uniform", "orthogonal", "identity"])
def test_jordan_same_seed_gives_identical_params(init):
    opts = CellOptions(init=init)
    first = jordan.init_params(I, H, opts, np.random.default_rng(7), np.float32)
    second = jordan.init_params(I, H, opts, np.random.default_rng(7), np.float32)
    other = jordan.init_params(I, H, opts, np.random.default_rng(8), np.float32)
    for name, w in first.items():
        np.testing.assert_array_equal(w, second[name])
    assert any(not np.array_equal(w, other[name]) for name, w in first.items())
