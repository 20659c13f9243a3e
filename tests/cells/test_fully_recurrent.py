"""The fully recurrent cell: gradients, the connection mask, Elman as a special case, init."""

import numpy as np
import pytest

from rnnkit.cells import CellOptions, elman, fully_recurrent, unroll
from rnnkit.errors import ShapeError
from tests.cells._sequences import (
    B,
    I,
    T,
    assert_matches_torch_autograd,
    finite_difference_errors,
    problem,
    smallest_pre_activation,
)
from tests.conftest import FD_RTOL, torch_or_skip

H, O = 3, 2
N = H + O
SEQUENCES = dict(hidden=H, lengths=(4, 2, 3), keep=0.5)  # the mask's real steps; keep half


def random_connection_mask(seed: int = 5) -> np.ndarray:
    """About half the N×N connections removed, every unit keeping at least one input."""
    M = (np.random.default_rng(seed).random((N, N)) < 0.5).astype(np.float64)
    M[np.arange(N), (np.arange(N) + 1) % N] = 1
    return M


@pytest.mark.parametrize("connected", [False, True], ids=["all-connections", "connection-mask"])
@pytest.mark.parametrize("dropped", [False, True], ids=["no-drop", "drop"])
@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_fully_recurrent_backward_matches_finite_differences(
    nonlinearity, masked, dropped, connected
):
    opts = CellOptions(nonlinearity=nonlinearity, output_size=O)
    options = dict(SEQUENCES, connection_mask=random_connection_mask() if connected else None)
    if nonlinearity == "relu":  # finite differences never straddle 0
        assert smallest_pre_activation(fully_recurrent, opts, masked, dropped, **options) > 1e-4
    errors = finite_difference_errors(
        fully_recurrent, opts, masked, dropped, fixed=("connection_mask",), **options
    )
    assert max(errors.values()) < FD_RTOL, errors


@pytest.mark.torch
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_fully_recurrent_matches_torch_autograd_of_its_equations(nonlinearity):
    torch = torch_or_skip()
    opts = CellOptions(nonlinearity=nonlinearity, output_size=O)
    act = torch.tanh if nonlinearity == "tanh" else torch.relu

    def step(w, x, state, drop):  # u = act(W_ih x + b_ih + (M ⊙ W_hh)(drop ⊙ u) + b_hh)
        u_rec = state[0] * drop
        W_hh = w["connection_mask"] * w["weight_hh"]
        u = act(x @ w["weight_ih"].T + w["bias_ih"] + u_rec @ W_hh.T + w["bias_hh"])
        return u[:, H:], (u,)  # y = u[H:]

    sequences = problem(
        fully_recurrent, opts, False, True, connection_mask=random_connection_mask(), **SEQUENCES
    )
    assert_matches_torch_autograd(
        torch, fully_recurrent, opts, sequences, step, fixed=("connection_mask",)
    )


@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_linear_output_units_backward_matches_finite_differences(nonlinearity, masked):
    opts = CellOptions(nonlinearity=nonlinearity, output_size=O, linear_outputs=True)
    options = dict(SEQUENCES, connection_mask=random_connection_mask())
    if nonlinearity == "relu":
        assert smallest_pre_activation(fully_recurrent, opts, masked, True, **options) > 1e-4
    errors = finite_difference_errors(
        fully_recurrent, opts, masked, True, fixed=("connection_mask",), **options
    )
    assert max(errors.values()) < FD_RTOL, errors


@pytest.mark.torch
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_linear_output_units_match_torch_autograd_of_their_equations(nonlinearity):
    torch = torch_or_skip()
    opts = CellOptions(nonlinearity=nonlinearity, output_size=O, linear_outputs=True)
    act = torch.tanh if nonlinearity == "tanh" else torch.relu

    def step(w, x, state, drop):  # u = [act(a[:H]) | a[H:]]
        W_hh = w["connection_mask"] * w["weight_hh"]
        a = x @ w["weight_ih"].T + w["bias_ih"] + (state[0] * drop) @ W_hh.T + w["bias_hh"]
        u = torch.cat([act(a[:, :H]), a[:, H:]], dim=1)
        return u[:, H:], (u,)

    sequences = problem(
        fully_recurrent, opts, False, True, connection_mask=random_connection_mask(), **SEQUENCES
    )
    assert_matches_torch_autograd(
        torch, fully_recurrent, opts, sequences, step, fixed=("connection_mask",)
    )


def test_linear_output_units_are_the_pre_activation_and_hidden_units_stay_nonlinear():
    opts = CellOptions(output_size=O, linear_outputs=True)
    p = fully_recurrent.init_params(I, H, opts, np.random.default_rng(0), np.float64)
    ax = 3.0 * np.random.default_rng(1).standard_normal((B, N))
    u_prev = np.random.default_rng(2).standard_normal((B, N))
    y, (u,), _ = fully_recurrent.step_forward(p, ax, (u_prev,), opts)
    a = ax + p["bias_ih"] + u_prev @ p["weight_hh"].T + p["bias_hh"]
    np.testing.assert_allclose(u[:, :H], np.tanh(a[:, :H]), rtol=1e-15)
    np.testing.assert_allclose(y, a[:, H:], rtol=1e-15)
    assert np.abs(y).max() > 1  # beyond tanh's range


def test_removed_connections_get_zero_gradient_and_stay_zero():
    opts = CellOptions(output_size=O)
    M = random_connection_mask()
    p0, xs, state0, mask, _, R, S = problem(
        fully_recurrent, opts, True, False, connection_mask=M, **SEQUENCES
    )
    removed = M == 0
    np.testing.assert_array_equal(p0["weight_hh"][removed], 0)
    p = p0
    for _ in range(5):  # plain SGD on every parameter, the mask included
        _, _, cache = unroll.forward(fully_recurrent, p, xs, state0, opts, mask)
        grads = unroll.backward(fully_recurrent, p, cache, R, S, opts)[2]
        np.testing.assert_array_equal(grads["weight_hh"][removed], 0)
        p = {name: w - 0.5 * grads[name] for name, w in p.items()}
    np.testing.assert_array_equal(p["weight_hh"][removed], 0)
    np.testing.assert_array_equal(p["connection_mask"], M)
    assert np.abs(p["weight_hh"] - p0["weight_hh"])[~removed].min() > 0  # the rest learn


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_frnn_without_output_feedback_has_an_elman_hidden_part(nonlinearity):
    """With the output units' outgoing connections removed (M = [[1, 0], [1, 0]]), the hidden
    units are an Elman RNN on the top-left blocks, and y_t reads h_{t−1}."""
    opts = CellOptions(nonlinearity=nonlinearity, output_size=O)
    M = np.zeros((N, N))
    M[:, :H] = 1
    p, xs, (u0,), _, _, _, (S,) = problem(
        fully_recurrent, opts, False, False, seed=2, connection_mask=M, **SEQUENCES
    )
    pe = {
        "weight_ih": p["weight_ih"][:H],
        "weight_hh": p["weight_hh"][:H, :H],
        "bias_ih": p["bias_ih"][:H],
        "bias_hh": p["bias_hh"][:H],
    }
    e_opts = CellOptions(nonlinearity=nonlinearity)
    ys, (uT,), cache = unroll.forward(fully_recurrent, p, xs, (u0,), opts)
    hs, (hT,), e_cache = unroll.forward(elman, pe, xs, (u0[:, :H],), e_opts)

    def same(a, b):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)

    same(uT[:, :H], hT)
    act = np.tanh if nonlinearity == "tanh" else (lambda a: np.maximum(a, 0))
    h_prev = np.concatenate([u0[None, :, :H], hs[:-1]])  # h_{t−1}
    a_y = xs @ p["weight_ih"][H:].T + p["bias_ih"][H:] + h_prev @ p["weight_hh"][H:, :H].T
    same(ys, act(a_y + p["bias_hh"][H:]))  # y_t = act(W_ih[H:] x_t + W_hh[H:, :H] h_{t−1} + b)

    S = S[:, :H]  # L = <S, h_T>: gradients flow only through the hidden units
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
