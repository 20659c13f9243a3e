"""Gradient flow through time: ‖∂L/∂h_t‖ at every step t, its decay rate, its course in training.

With a loss L at the last step T−1 only, backpropagation through time carries the gradient
back one Jacobian at a time::

    ∂L/∂h_{t−1} = ∂L/∂h_t · ∂h_t/∂h_{t−1}        so   ∂L/∂h_{T−1−k} = ∂L/∂h_{T−1} · Π_k J

and ln‖∂L/∂h_{T−1−k}‖ is close to a line in the lag k.  Its fitted slope r is the *decay
rate per step*: r < 0 the gradient vanishes going back in time, r > 0 it explodes; e^r is
the factor per step.  For a tanh Elman RNN, J = diag(1 − h_t²) W_hh, so
‖J‖₂ ≤ ‖W_hh‖₂ and r ≤ ln ‖W_hh‖₂ (Bengio et al. 1994; Pascanu et al. 2013).

How the per-step gradients are obtained: from the model's own hand-written backward, run
one step at a time.  The sequence goes forward in T one-step pieces, the state carried from
each to the next; then backward through the pieces in reverse, each receiving ∂L/∂(its
final state) from the piece after it and returning ∂L/∂(its initial state) — the
composition truncated BPTT uses for its windows, so the gradients are exactly those of
full BPTT.  The state gradients between the pieces are the ∂L/∂h_t.

``h_t`` is the first state array (h; y for Jordan; u = [h; y] for the fully recurrent cell)
of the top layer; at t = T−1 its gradient is the one entering from the readout (the output
of a step is the last O units of that array).  For Jordan that array is the network's output
y_t itself — the loss reads it and the next step reads it back (as y, or as softmax(y)) —
so ∂L/∂y_{T−1} is the loss's own gradient, and J = ∂y_t/∂y_{t−1} = W_hy diag(act′) W_hh
(times the softmax Jacobian with softmax feedback).  Norms are
Frobenius norms over the batch and the units, with L the batch-mean loss.
"""

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, ShapeError
from ..models.model import Model
from ..training import Batch, Budget, Engine, FullBPTT, Generated, Optimization, Validation, fit
from ..training.bptt import objective

VERDICT_FACTOR = 1e3
"""A gradient that changes by more than this factor across the sequence vanishes/explodes."""


def state_gradients(model: Model, x: np.ndarray, targets: np.ndarray) -> tuple[float, np.ndarray]:
    """(loss, ∂L/∂h_t for every t: ``[T, B, S]``) of a loss at the last step only.

    ``x: [B, T]`` ids or ``[B, T, I]``; ``targets`` the targets of the last step's output
    (``[B]`` class ids or ``[B, O]`` values).  The model must be unidirectional.
    """
    if model.rnn.num_directions != 1:
        raise ConfigError(
            "gradient flow needs a unidirectional model (h_t depends on the future "
            "in a bidirectional one)"
        )
    x = np.asarray(x)
    T = x.shape[1]
    caches, state, y = [], None, None
    for t in range(T):  # forward in one-step pieces, the state carried between them
        y, state, cache = model.forward(x[:, t : t + 1], state)
        caches.append(cache)
    assert y is not None  # T ≥ 1 steps ran
    y_last = y if y.ndim == 2 else y[:, 0]  # [B, O]: the output of step T−1
    loss, dy_last = objective(model, y_last, targets)
    top = model.config.rnn.num_layers - 1
    dh = np.zeros((T,) + dy_last.shape[:1] + (model.rnn.state_sizes[0],), dtype=model.dtype)
    # y = out Wᵀ + b  ⇒  dout = dy W (Jordan: dout = dy); the output is the state's last O units
    dout = model.readout_backward(dy_last)
    dh[T - 1, :, dh.shape[2] - dout.shape[1] :] = dout
    dstate = None
    for t in reversed(range(T)):  # backward through the pieces: ∂L/∂s_t → ∂L/∂s_{t−1}
        dy = dy_last if t == T - 1 else np.zeros_like(dy_last)
        _, dstate = model.backward(caches[t], dy.reshape(y.shape), dstate)
        if t > 0:
            dh[t - 1] = _first(dstate)[top]
    return loss, dh


def gradient_norms(dh: np.ndarray) -> np.ndarray:
    """‖∂L/∂h_t‖ for every t: ``[T]`` from ``dh: [T, B, S]`` (float64)."""
    dh = np.asarray(dh, dtype=np.float64)
    if dh.ndim != 3:
        raise ShapeError(f"dh must be [T, B, S], got shape {dh.shape}")
    return np.sqrt(np.einsum("tbs,tbs->t", dh, dh))


def decay_rate(norms: np.ndarray) -> float:
    """Least-squares slope r of ln‖∂L/∂h_{T−1−k}‖ against the lag k (per step back in time).

    r < 0: the gradient vanishes going back; r > 0: it explodes.  Steps whose norm is 0 or
    not finite (underflow, overflow) are left out; with fewer than two left, NaN.
    """
    norms = np.asarray(norms, dtype=np.float64)
    lag = np.arange(len(norms))[::-1].astype(np.float64)  # k = T − 1 − t
    keep = np.isfinite(norms) & (norms > 0)
    if keep.sum() < 2:
        return math.nan
    k, log_n = lag[keep], np.log(norms[keep])
    k_c = k - k.mean()
    return float(np.dot(k_c, log_n - log_n.mean()) / np.dot(k_c, k_c))  # r = cov(k, ln n) / var(k)


def verdict(rate: float, span: int, factor: float = VERDICT_FACTOR) -> str:
    """ "vanishing", "exploding" or "stable": does e^{r·span} leave [1/factor, factor]?"""
    if not math.isfinite(rate):
        return "undefined"
    change = rate * span  # ln of the fitted change across the sequence
    if change < -math.log(factor):
        return "vanishing"
    if change > math.log(factor):
        return "exploding"
    return "stable"


class Profile(NamedTuple):
    """The gradient flow at one training step."""

    step: int  # updates made before this profile
    loss: float  # loss on the probe batch
    norms: np.ndarray  # [T] ‖∂L/∂h_t‖ on the probe batch
    rate: float  # decay_rate(norms)


def profile(model: Model, x: np.ndarray, targets: np.ndarray, step: int = 0) -> Profile:
    """The gradient flow of ``model`` on a probe batch, computed in float64.

    Float64 keeps a gradient that vanishes over hundreds of steps from underflowing.
    """
    model64 = as_float64(model)
    loss, dh = state_gradients(model64, x, targets)
    norms = gradient_norms(dh)
    return Profile(step, loss, norms, decay_rate(norms))


def as_float64(model: Model) -> Model:
    """A float64 copy of ``model`` (the same parameters, cast)."""
    if model.dtype == np.float64:
        return model
    return Model(model.config.replace(dtype="float64"), params=model.params, meta=model.meta)


class TrainOptions(NamedTuple):
    steps: int = 300  # updates
    every: int = 15  # record a profile every this many updates (and before the first)
    optimizer: str = "adam"
    lr: float = 1e-2
    clip: float = 1.0  # global-norm clipping (0: off)
    on_nonfinite: str | None = None  # skip | reduce-lr | stop (None: the engine's default)


_DEFAULT_OPTIONS = TrainOptions()  # immutable, so one shared default is safe


def track(
    model: Model,
    sample: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    probe: tuple[np.ndarray, np.ndarray],
    options: TrainOptions = _DEFAULT_OPTIONS,
    on_profile: Callable[[Profile], None] | None = None,
) -> list[Profile]:
    """Train ``model`` with full BPTT through the engine and record its gradient flow on ``probe``.

    ``sample(rng) -> (x, targets)`` draws one training batch for the model's readout and loss
    (a fresh one every update, from the engine's generator ``rng``); ``probe = (x, targets)``
    is a fixed batch, so profiles differ only because the weights do.  Profiles are recorded
    before the first update, every ``options.every`` updates and at the end (the engine's
    validation).
    """
    if options.steps < 0 or options.every < 1:
        raise ConfigError(f"need steps >= 0 and every >= 1, got {options.steps}, {options.every}")
    optimization = Optimization.of(
        options, on_nonfinite=options.on_nonfinite or Optimization.on_nonfinite
    )
    engine = Engine(model, FullBPTT(), optimization, rng)
    profiles: list[Profile] = []

    def record(model: Model) -> dict[str, float]:
        profiles.append(profile(model, *probe, step=engine.step))
        if on_profile is not None:
            on_profile(profiles[-1])
        return {"probe_loss": profiles[-1].loss}

    record(model)
    if options.steps:
        source = Generated(lambda rng: Batch(*sample(rng)))
        fit(
            engine,
            source,
            Budget(steps=options.steps, eval_every=options.every, restore_best=False),
            validation=Validation(record, "probe_loss"),
        )
    return profiles


def _first(state) -> np.ndarray:
    """The first state array ([L·D, B, S]) of a state that is one array or a tuple."""
    return state[0] if isinstance(state, tuple) else state
