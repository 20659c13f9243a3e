"""Sampling from a next-token model: prime the state, then draw one token at a time.

    p(v | history) = softmax(logits / temperature)

Temperature < 1 sharpens the distribution (safer text), > 1 flattens it (more surprising).
The logits come from the streaming stepper (``rnnkit.models.streaming``, the one ``rnnkit bench``
times) where it runs the model, else from the model's forward, one token per call.
"""

import math
from typing import Any, Protocol

import numpy as np

from ..errors import ConfigError
from ..layers.losses import softmax
from .model import Model
from .streaming import Stepper, unsupported


class TokenModel(Protocol):
    """A model that maps token ids ``[B, T]`` and a carried state to (logits, state, cache)."""

    def forward(self, x: np.ndarray, state: Any = None) -> tuple[np.ndarray, Any, Any]: ...


def generate(
    model: TokenModel,
    prime: np.ndarray,
    length: int,
    *,
    temperature: float = 1.0,
    rng: np.random.Generator,
) -> np.ndarray:
    """``length`` token ids drawn after the ``prime: [P]`` ids (P ≥ 1), as an int array.

    ``temperature`` must be a finite number > 0 (a NaN would make every probability NaN and
    every draw the last token); ``length`` a whole number ≥ 0.
    """
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, (int, float, np.number))
        or not (math.isfinite(temperature) and temperature > 0)
    ):
        raise ConfigError(f"temperature must be a finite number > 0, got {temperature!r}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ConfigError(f"length must be a whole number >= 0, got {length!r}")
    prime = np.asarray(prime, dtype=np.int64)
    if prime.ndim != 1 or prime.size == 0:
        raise ConfigError("generation needs at least one priming token")
    last, step = _steps(model, prime)
    out = np.empty(length, dtype=np.int64)
    for k in range(length):
        last = last.astype(np.float64)
        # shifted before dividing, so a tiny temperature gives 0/−inf, never inf − inf = NaN
        with np.errstate(over="ignore"):
            p = softmax((last - last.max()) / temperature)
        # inverse-CDF draw: one uniform number per token, reproducible from the seed
        out[k] = min(int(np.searchsorted(np.cumsum(p), rng.random() * p.sum())), p.size - 1)
        last = step(out[k])
    return out


def _steps(model: TokenModel, prime: np.ndarray):
    """(logits after the ``prime`` ids [V], step: id → the logits after it, the state carried):
    the streaming stepper where it runs the model, else the model's forward (the prime in one
    call, then one token per call).  A step's logits are valid until the next step."""
    if isinstance(model, Model) and unsupported(model) is None:
        stepper = Stepper(model)
        for i in prime:
            last = stepper.step(int(i))
        return last, stepper.step
    logits, state, _ = model.forward(prime[None, :])

    def step(i: np.int64) -> np.ndarray:
        nonlocal state
        logits, state, _ = model.forward(np.array([[i]]), state)
        return logits[0, -1]

    return logits[0, -1], step
