"""The fully recurrent cell: gradients, the connection mask, Elman as a special case, init."""

import numpy as np
import pytest

from rnnkit.cells import CellOptions, elman, fully_recurrent, unroll
from rnnkit.diagnostics.gradcheck import check_gradients
from rnnkit.errors import ShapeError
from tests.conftest import FD_RTOL, TORCH_ATOL, torch_or_skip

T, B, I, H, O = 4, 3, 3, 3, 2
N = H + O
LENGTHS = np.array([4, 2, 3])  # the mask's real steps per sequence


def random_connection_mask(seed: int = 5) -> np.ndarray:
    """About half the N×N connections removed, every unit keeping at least one input."""
    M = (np.random.default_rng(seed).random((N, N)) < 0.5).astype(np.float64)
    M[np.arange(N), (np.arange(N) + 1) % N] = 1
    return M


def make_problem(
    opts: CellOptions, *, masked: bool, dropped: bool, connections: np.ndarray | None, seed=0
) -> dict:
    """Random float64 parameters, inputs, state, mask, dropout and loss projections R, S."""
    rng = np.random.default_rng(seed)
    return {
        "p": fully_recurrent.init_params(I, H, opts, rng, np.float64, connections),
        "xs": rng.standard_normal((T, B, I)),
        "state0": (rng.standard_normal((B, N)),),
        "mask": (np.arange(T)[:, None] < LENGTHS) if masked else None,
        "drop": (rng.random((B, N)) >= 0.5) / 0.5 if dropped else None,  # on u_{t−1}: [B, N]
        "R": rng.standard_normal((T, B, O)),  # L = Σ_t <R_t, y_t> + <S, u_T>
        "S": (rng.standard_normal((B, N)),),
    }


def run(pr: dict, opts: CellOptions):
    return unroll.forward(
        fully_recurrent, pr["p"], pr["xs"], pr["state0"], opts, pr["mask"], pr["drop"]
    )


def loss(pr: dict, opts: CellOptions) -> float:
    outs, final, _ = run(pr, opts)
    return float(np.sum(pr["R"] * outs) + sum(np.sum(s * f) for s, f in zip(pr["S"], final)))


def analytic_gradients(pr: dict, opts: CellOptions) -> dict:
    _, _, cache = run(pr, opts)
    dxs, dstate0, grads = unroll.backward(fully_recurrent, pr["p"], cache, pr["R"], pr["S"], opts)
    return {**grads, "xs": dxs, "u0": dstate0[0]}


def smallest_pre_activation(pr: dict, opts: CellOptions) -> float:
    """min |a_t| over every step and unit: how close relu comes to its kink."""
    p = pr["p"]
    _, _, cache = run(pr, opts)
    u_rec = np.stack([c.u_rec for c in cache.caches])
    W_hh = p["connection_mask"] * p["weight_hh"]
    a = pr["xs"] @ p["weight_ih"].T + p["bias_ih"] + u_rec @ W_hh.T + p["bias_hh"]
    return float(np.abs(a).min())


@pytest.mark.parametrize("connected", [False, True], ids=["all-connections", "connection-mask"])
@pytest.mark.parametrize("dropped", [False, True], ids=["no-drop", "drop"])
@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_fully_recurrent_backward_matches_finite_differences(
    nonlinearity, masked, dropped, connected
):
    opts = CellOptions(nonlinearity=nonlinearity, output_size=O)
    connections = random_connection_mask() if connected else None
    pr = make_problem(opts, masked=masked, dropped=dropped, connections=connections)
    if nonlinearity == "relu":
        assert smallest_pre_activation(pr, opts) > 1e-4  # finite differences never straddle 0
    grads = analytic_gradients(pr, opts)
    np.testing.assert_array_equal(grads.pop("connection_mask"), 0)  # fixed, never trained
    trained = {k: v for k, v in pr["p"].items() if k != "connection_mask"}
    arrays = {**trained, "xs": pr["xs"], "u0": pr["state0"][0]}
    errors = check_gradients(lambda: loss(pr, opts), arrays, grads)
    assert max(errors.values()) < FD_RTOL, errors


@pytest.mark.torch
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_fully_recurrent_matches_torch_autograd_of_its_equations(nonlinearity):
    torch = torch_or_skip()
    opts = CellOptions(nonlinearity=nonlinearity, output_size=O)
    pr = make_problem(opts, masked=False, dropped=True, connections=random_connection_mask())
    outs, (uT,), cache = run(pr, opts)
    dxs, (du0,), grads = unroll.backward(fully_recurrent, pr["p"], cache, pr["R"], pr["S"], opts)

    w = {name: torch.tensor(v, requires_grad=True) for name, v in pr["p"].items()}
    t_xs = torch.tensor(pr["xs"], requires_grad=True)
    t_u0 = torch.tensor(pr["state0"][0], requires_grad=True)
    act = torch.tanh if nonlinearity == "tanh" else torch.relu
    W_hh = w["connection_mask"].detach() * w["weight_hh"]
    u, t_outs = t_u0, []
    for x in t_xs:  # u = act(W_ih x + b_ih + (M ⊙ W_hh)(drop ⊙ u) + b_hh);  y = u[H:]
        u_rec = u * torch.from_numpy(pr["drop"])
        u = act(x @ w["weight_ih"].T + w["bias_ih"] + u_rec @ W_hh.T + w["bias_hh"])
        t_outs.append(u[:, H:])
    t_outs = torch.stack(t_outs)
    R, S = torch.from_numpy(pr["R"]), torch.from_numpy(pr["S"][0])
    ((R * t_outs).sum() + (S * u).sum()).backward()

    def same(ours, theirs):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=0, atol=TORCH_ATOL)

    same(outs, t_outs)
    same(uT, u)
    same(dxs, t_xs.grad)
    same(du0, t_u0.grad)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        same(grads[name], w[name].grad)


def test_removed_connections_get_zero_gradient_and_stay_zero():
    opts = CellOptions(output_size=O)
    M = random_connection_mask()
    pr = make_problem(opts, masked=True, dropped=False, connections=M)
    p0 = pr["p"]
    removed = M == 0
    np.testing.assert_array_equal(p0["weight_hh"][removed], 0)
    for _ in range(5):  # plain SGD on every parameter, the mask included
        grads = analytic_gradients(pr, opts)
        np.testing.assert_array_equal(grads["weight_hh"][removed], 0)
        pr["p"] = {name: w - 0.5 * grads[name] for name, w in pr["p"].items()}
    np.testing.assert_array_equal(pr["p"]["weight_hh"][removed], 0)
    np.testing.assert_array_equal(pr["p"]["connection_mask"], M)
    assert np.abs(pr["p"]["weight_hh"] - p0["weight_hh"])[~removed].min() > 0  # the rest learn


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_frnn_without_output_feedback_has_an_elman_hidden_part(nonlinearity):
    """With the output units' outgoing connections removed (M = [[1, 0], [1, 0]]), the hidden
    units are an Elman RNN on the top-left blocks, and y_t reads h_{t−1}."""
    opts = CellOptions(nonlinearity=nonlinearity, output_size=O)
    M = np.zeros((N, N))
    M[:, :H] = 1
    pr = make_problem(opts, masked=False, dropped=False, connections=M, seed=2)
    p, xs, (u0,) = pr["p"], pr["xs"], pr["state0"]
    pe = {
        "weight_ih": p["weight_ih"][:H],
        "weight_hh": p["weight_hh"][:H, :H],
        "bias_ih": p["bias_ih"][:H],
        "bias_hh": p["bias_hh"][:H],
    }
    e_opts = CellOptions(nonlinearity=nonlinearity)
    ys, (uT,), cache = run(pr, opts)
    hs, (hT,), e_cache = unroll.forward(elman, pe, xs, (u0[:, :H],), e_opts)

    def same(a, b):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)

    same(uT[:, :H], hT)
    act = np.tanh if nonlinearity == "tanh" else (lambda a: np.maximum(a, 0))
    h_prev = np.concatenate([u0[None, :, :H], hs[:-1]])  # h_{t−1}
    a_y = xs @ p["weight_ih"][H:].T + p["bias_ih"][H:] + h_prev @ p["weight_hh"][H:, :H].T
    same(ys, act(a_y + p["bias_hh"][H:]))  # y_t = act(W_ih[H:] x_t + W_hh[H:, :H] h_{t−1} + b)

    S = pr["S"][0][:, :H]  # L = <S, h_T>: gradients flow only through the hidden units
    dxs, (du0,), grads = unroll.backward(
        fully_recurrent, p, cache, np.zeros_like(ys), (np.pad(S, ((0, 0), (0, O))),), opts
    )
    e_dxs, (dh0,), e_grads = unroll.backward(elman, pe, e_cache, np.zeros_like(hs), (S,), e_opts)
    same(dxs, e_dxs)
    same(du0, np.pad(dh0, ((0, 0), (0, O))))
    for name in ("weight_ih", "bias_ih", "bias_hh"):
        same(grads[name], np.pad(e_grads[name], [(0, O)] + [(0, 0)] * (e_grads[name].ndim - 1)))
    same(grads["weight_hh"], np.pad(e_grads["weight_hh"], ((0, O), (0, O))))


def test_with_connection_mask_zeroes_removed_weights_and_leaves_its_input_alone():
    opts = CellOptions(output_size=O)
    p = fully_recurrent.init_params(I, H, opts, np.random.default_rng(0), np.float32)
    before = {name: w.copy() for name, w in p.items()}
    M = random_connection_mask()
    q = fully_recurrent.with_connection_mask(p, M.astype(bool))
    for name, w in p.items():
        np.testing.assert_array_equal(w, before[name])
    np.testing.assert_array_equal(q["weight_hh"], np.where(M > 0, p["weight_hh"], 0))
    np.testing.assert_array_equal(q["connection_mask"], M)
    assert q["connection_mask"].dtype == np.float32
    given = fully_recurrent.init_params(I, H, opts, np.random.default_rng(0), np.float32, M)
    for name, w in q.items():
        np.testing.assert_array_equal(w, given[name])


@pytest.mark.parametrize(
    "mask, message",
    [(np.ones((N, N - 1)), r"shape \(5, 5\)"), (np.full((N, N), 0.5), "only 0 .* and 1")],
    ids=["wrong-shape", "not-0-1"],
)
def test_with_connection_mask_refuses_a_bad_mask(mask, message):
    opts = CellOptions(output_size=O)
    p = fully_recurrent.init_params(I, H, opts, np.random.default_rng(0), np.float64)
    with pytest.raises(ShapeError, match=message):
        fully_recurrent.with_connection_mask(p, mask)


@pytest.mark.parametrize("output_size", [0, 2], ids=["O=H", "O=2"])
def test_fully_recurrent_shapes_follow_output_size(output_size):
    opts = CellOptions(output_size=output_size)
    n = H + (output_size or H)
    assert fully_recurrent.param_shapes(I, H, opts) == {
        "weight_ih": (n, I),
        "weight_hh": (n, n),
        "bias_ih": (n,),
        "bias_hh": (n,),
        "connection_mask": (n, n),
    }
    assert fully_recurrent.state_sizes(H, opts) == (n,)
    assert fully_recurrent.output_size(H, opts) == (output_size or H)
    p = fully_recurrent.init_params(I, H, opts, np.random.default_rng(0), np.float32)
    np.testing.assert_array_equal(p["connection_mask"], 1)
    outs, (uT,), _ = unroll.forward(
        fully_recurrent, p, np.ones((T, B, I), np.float32), (np.zeros((B, n), np.float32),), opts
    )
    assert outs.shape == (T, B, output_size or H) and outs.dtype == np.float32
    np.testing.assert_array_equal(outs[-1], uT[:, H:])


def test_fully_recurrent_orthogonal_init_gives_orthogonal_recurrent_weight():
    opts = CellOptions(init="orthogonal", output_size=O)
    W = fully_recurrent.init_params(I, H, opts, np.random.default_rng(0), np.float64)["weight_hh"]
    np.testing.assert_allclose(W @ W.T, np.eye(N), rtol=0, atol=1e-12)


def test_fully_recurrent_identity_init_gives_identity_recurrent_weight_and_zero_biases():
    opts = CellOptions(init="identity", output_size=O)
    p = fully_recurrent.init_params(I, H, opts, np.random.default_rng(0), np.float64)
    np.testing.assert_array_equal(p["weight_hh"], np.eye(N))
    np.testing.assert_array_equal(p["bias_ih"], 0)
    np.testing.assert_array_equal(p["bias_hh"], 0)


@pytest.mark.parametrize("init", ["uniform", "orthogonal", "identity"])
def test_fully_recurrent_same_seed_gives_identical_params(init):
    opts = CellOptions(init=init, output_size=O)
    first = fully_recurrent.init_params(I, H, opts, np.random.default_rng(7), np.float32)
    second = fully_recurrent.init_params(I, H, opts, np.random.default_rng(7), np.float32)
    other = fully_recurrent.init_params(I, H, opts, np.random.default_rng(8), np.float32)
    for name, w in first.items():
        np.testing.assert_array_equal(w, second[name])
    assert any(not np.array_equal(w, other[name]) for name, w in first.items())
