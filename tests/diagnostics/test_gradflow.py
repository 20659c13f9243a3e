"""‖∂L/∂h_t‖ per step: finite differences, PyTorch, decay rates, tracking in training."""

import math

import numpy as np
import pytest

from rnnkit.cells import CELL_NAMES
from rnnkit.config import ModelConfig
from rnnkit.diagnostics.gradflow import (
    TrainOptions,
    decay_rate,
    gradient_norms,
    profile,
    state_gradients,
    track,
    verdict,
)
from rnnkit.errors import ConfigError
from rnnkit.layers.dense import dense_forward
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.model import Model
from rnnkit.training.bptt import objective
from tests.conftest import FD_RTOL, TORCH_ATOL, torch_or_skip

B, T, I, H, O = 2, 4, 3, 3, 2


def _model(cell: str, layers: int = 1, *, seed: int = 0, dtype="float64", **rnn) -> Model:
    extra = {"output_size": 2} if cell == "fully_recurrent" else {}
    config = ModelConfig(
        rnn=RecurrentConfig(
            cell=cell, input_size=I, hidden_size=H, num_layers=layers, **extra, **rnn
        ),
        output_size=O,
        readout="last_step",
        loss="mse",
        dtype=dtype,
    )
    return Model(config, rng=np.random.default_rng(seed))


def _data(seed: int = 1, steps: int = T):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, steps, I)), rng.standard_normal((B, O))


def _loss_with_state_nudged(model: Model, x, y, t: int, b: int, j: int, eps: float) -> float:
    """The loss when unit j of sequence b's top-layer state after step t is moved by eps."""
    top = model.config.rnn.num_layers - 1
    if t == x.shape[1] - 1:  # the last state is read by the readout: nudge what it reads
        _, _, cache = model.forward(x)
        h = cache.hs[-1].copy()
        h[b, j - (model.rnn.state_sizes[0] - h.shape[1])] += eps
        if not model.has_head:  # Jordan: the state y_t is the output itself
            return objective(model, h, y)[0]
        return objective(
            model, dense_forward(model.params["head.weight"], model.params["head.bias"], h), y
        )[0]
    _, state, _ = model.forward(x[:, : t + 1])
    parts = [s.copy() for s in (state if isinstance(state, tuple) else (state,))]
    parts[0][top, b, j] += eps
    resumed = tuple(parts) if isinstance(state, tuple) else parts[0]
    out, _, _ = model.forward(x[:, t + 1 :], resumed)
    return objective(model, out, y)[0]


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", CELL_NAMES)
def test_state_gradients_match_finite_differences(cell, layers):
    _assert_state_gradients_match_finite_differences(_model(cell, layers))


@pytest.mark.parametrize("layers", [1, 2])
def test_jordan_softmax_feedback_state_gradients_match_finite_differences(layers):
    _assert_state_gradients_match_finite_differences(
        _model("jordan", layers, jordan_feedback="softmax")
    )


def _assert_state_gradients_match_finite_differences(model: Model) -> None:
    x, y = _data()
    _, dh = state_gradients(model, x, y)
    S = model.rnn.state_sizes[0]
    O_cell = model.rnn.output_size
    eps = 1e-6
    numeric = np.zeros_like(dh)
    for t in range(T):
        for b in range(B):
            for j in range(S):
                if t == T - 1 and j < S - O_cell:
                    continue  # units outside the output do not reach the last readout: 0
                plus = _loss_with_state_nudged(model, x, y, t, b, j, eps)
                minus = _loss_with_state_nudged(model, x, y, t, b, j, -eps)
                numeric[t, b, j] = (plus - minus) / (2 * eps)
    assert np.abs(numeric).max() > 1e-3  # the check is not vacuous
    np.testing.assert_allclose(dh, numeric, rtol=0, atol=FD_RTOL * np.abs(numeric).max())


@pytest.mark.torch
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
def test_state_gradients_match_torch_autograd(cell, layers):
    torch = torch_or_skip()
    from rnnkit.io.torch_exchange import to_torch

    model = _model(cell, layers)
    x, y = _data()
    _, dh = state_gradients(model, x, y)
    module = to_torch(model.rnn)
    xs = torch.tensor(x.swapaxes(0, 1))
    state, states = None, []
    for t in range(T):  # one step at a time so every intermediate state is a tensor
        _, state = module(xs[t : t + 1], state)
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()
        states.append(h)
    W, b = (torch.tensor(model.params[n]) for n in ("head.weight", "head.bias"))
    loss = ((states[-1][-1] @ W.T + b - torch.tensor(y)) ** 2).mean()
    loss.backward()
    expected = np.stack([h.grad[-1].numpy() for h in states])
    np.testing.assert_allclose(dh, expected, rtol=0, atol=TORCH_ATOL)


def _linear_regime_model(scale: float, steps: int) -> tuple[Model, np.ndarray, np.ndarray]:
    """A tanh Elman RNN with W_hh = scale · Q (Q orthogonal), zero biases, reading zeros.

    The state stays at the fixed point h = 0, where the Jacobian ∂h_t/∂h_{t−1} is W_hh itself,
    and ‖v W_hh‖ = scale ‖v‖ for every v: each step back multiplies ‖∂L/∂h‖ by exactly scale.
    """
    model = _model("elman", seed=3)
    q, _ = np.linalg.qr(np.random.default_rng(4).standard_normal((H, H)))
    model.params["rnn.weight_hh_l0"][...] = scale * q
    for name in ("rnn.bias_ih_l0", "rnn.bias_hh_l0"):
        model.params[name][...] = 0
    x = np.zeros((B, steps, I))
    return model, x, np.random.default_rng(5).standard_normal((B, O))


@pytest.mark.parametrize("scale", [0.5, 0.9, 1.1, 2.0])
def test_at_the_fixed_point_the_decay_rate_is_the_log_of_the_recurrent_gain(scale):
    model, x, y = _linear_regime_model(scale, steps=30)
    rate = profile(model, x, y).rate
    assert rate == pytest.approx(math.log(scale), rel=1e-9)
    assert (rate < 0) == (scale < 1)  # small weights: vanishing; spectral radius > 1: exploding


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_small_recurrent_weights_bound_the_decay_rate_by_log_of_their_norm(seed):
    # ∂h_t/∂h_{t−1} = diag(1 − h_t²) W_hh has norm ≤ ‖W_hh‖₂ < 1, so each step back shrinks
    # the gradient at least by ‖W_hh‖₂, and the fitted slope (a positive average of the
    # steps' log ratios) is ≤ ln ‖W_hh‖₂ < 0, whatever the inputs.
    model = _model("elman", seed=seed)
    W = model.params["rnn.weight_hh_l0"]
    W *= 0.6 / np.linalg.norm(W, 2)
    x, y = _data(seed, steps=40)
    norms = profile(model, 3 * x, y).norms
    bound = math.log(0.6)
    assert np.all(np.log(norms[:-1]) - np.log(norms[1:]) <= bound + 1e-12)
    assert decay_rate(norms) <= bound < 0


@pytest.mark.parametrize("rate", [-0.7, -0.01, 0.0, 0.3])
def test_decay_rate_recovers_the_exponent_of_an_exponential_profile(rate):
    lag = np.arange(50)[::-1]
    assert decay_rate(2.5 * np.exp(rate * lag)) == pytest.approx(rate, abs=1e-12)


def test_decay_rate_ignores_underflowed_steps_and_needs_two():
    norms = np.exp(-0.5 * np.arange(10)[::-1])
    norms[:3] = 0.0
    assert decay_rate(norms) == pytest.approx(-0.5, abs=1e-12)
    assert math.isnan(decay_rate(np.array([0.0, 0.0, 1.0])))


@pytest.mark.parametrize(
    "rate, span, expected",
    [
        (-0.5, 99, "vanishing"),
        (0.2, 99, "exploding"),
        (-0.01, 99, "stable"),
        (-0.5, 10, "stable"),
        (math.nan, 99, "undefined"),
    ],
)
def test_verdict_compares_the_fitted_change_across_the_sequence_with_a_thousandfold(
    rate, span, expected
):
    assert verdict(rate, span) == expected


def test_gradient_norms_are_frobenius_norms_over_batch_and_units():
    dh = np.arange(24, dtype=np.float64).reshape(2, 3, 4)
    np.testing.assert_allclose(gradient_norms(dh), [np.linalg.norm(dh[0]), np.linalg.norm(dh[1])])


def test_profiles_of_a_float32_model_are_computed_in_float64():
    model = _model("lstm", dtype="float32")
    x, y = _data(steps=6)
    got = profile(model, x, y).norms
    exact = gradient_norms(state_gradients(_model("lstm"), x, y)[1])  # same seed, float64
    np.testing.assert_allclose(got, exact, rtol=1e-6)


def test_track_records_profiles_before_training_at_checkpoints_and_at_the_end():
    model = _model("gru", dtype="float32")
    probe = _data(9, steps=5)
    before = profile(model, *probe)

    def sample(rng):
        return rng.standard_normal((B, 5, I)), rng.standard_normal((B, O))

    seen = []
    profiles = track(
        model,
        sample,
        np.random.default_rng(2),
        probe,
        TrainOptions(steps=5, every=2, lr=0.05),
        on_profile=seen.append,
    )
    assert [p.step for p in profiles] == [0, 2, 4, 5]
    assert seen == profiles
    np.testing.assert_array_equal(profiles[0].norms, before.norms)
    assert not np.allclose(profiles[-1].norms, before.norms)  # the weights did change


def test_a_bidirectional_model_is_refused():
    model = _model("lstm", bidirectional=True)
    with pytest.raises(ConfigError, match="unidirectional"):
        state_gradients(model, *_data())
