"""The Jordan cell: finite differences through the driver, autograd, initialisations, shapes."""

import numpy as np
import pytest

from rnnkit.cells import CellOptions, jordan, unroll
from rnnkit.errors import ConfigError
from tests.cells._sequences import (
    B,
    H,
    I,
    T,
    assert_matches_torch_autograd,
    finite_difference_errors,
    problem,
    smallest_pre_activation,
)
from tests.conftest import FD_RTOL, torch_or_skip

SEQUENCES = dict(lengths=(4, 2, 3), keep=0.5)  # the mask's real steps; dropout keeps half


@pytest.mark.parametrize("feedback", ["output", "softmax"])
@pytest.mark.parametrize("output_size", [0, 2], ids=["O=H", "O=2"])
@pytest.mark.parametrize("dropped", [False, True], ids=["no-drop", "drop"])
@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_jordan_backward_matches_finite_differences(
    nonlinearity, masked, dropped, output_size, feedback
):
    opts = CellOptions(
        nonlinearity=nonlinearity, output_size=output_size, jordan_feedback=feedback
    )
    if nonlinearity == "relu":  # finite differences never straddle 0
        assert smallest_pre_activation(jordan, opts, masked, dropped, **SEQUENCES) > 1e-4
    errors = finite_difference_errors(jordan, opts, masked, dropped, **SEQUENCES)
    assert errors.keys() == {*jordan.param_shapes(I, H, opts), "xs", "state0[0]"}
    assert max(errors.values()) < FD_RTOL, errors


@pytest.mark.torch
@pytest.mark.parametrize("feedback", ["output", "softmax"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_jordan_matches_torch_autograd_of_its_equations(nonlinearity, feedback):
    torch = torch_or_skip()
    opts = CellOptions(nonlinearity=nonlinearity, output_size=2, jordan_feedback=feedback)
    act = torch.tanh if nonlinearity == "tanh" else torch.relu

    def step(w, x, state, drop):  # h = act(W_ih x + b_ih + W_hh (drop ⊙ f(y)) + b_hh)
        r = torch.softmax(state[0], dim=1) if feedback == "softmax" else state[0]
        r_rec = r * drop
        h = act(x @ w["weight_ih"].T + w["bias_ih"] + r_rec @ w["weight_hh"].T + w["bias_hh"])
        y = h @ w["weight_hy"].T + w["bias_hy"]  # y = W_hy h + b_hy
        return y, (y,)

    sequences = problem(jordan, opts, False, True, seed=3, **SEQUENCES)
    assert_matches_torch_autograd(torch, jordan, opts, sequences, step)


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


def test_softmax_feedback_feeds_back_the_distribution_of_the_previous_output():
    opts = CellOptions(output_size=3, jordan_feedback="softmax")
    p = jordan.init_params(I, H, opts, np.random.default_rng(0), np.float64)
    y_prev = np.array([[0.0, 1.0, 2.0], [5.0, 5.0, 5.0], [-1.0, 0.0, 1000.0]])
    _, _, cache = jordan.step_forward(p, np.zeros((B, H)), (y_prev,), opts)
    e = np.exp(y_prev[0] - 2.0)
    np.testing.assert_allclose(cache.r_rec[0], e / e.sum(), rtol=1e-15)
    np.testing.assert_allclose(cache.r_rec[1], 1 / 3, rtol=1e-15)
    np.testing.assert_array_equal(cache.r_rec[2], [0.0, 0.0, 1.0])  # no overflow


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
