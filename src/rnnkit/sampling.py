"""Sampling from a next-token model: prime the state, then draw one token at a time.

    p(v | history) = softmax(logits / temperature)

Temperature < 1 sharpens the distribution (safer text), > 1 flattens it (more surprising).
"""

import math

import numpy as np

from .errors import ConfigError
from .losses import softmax
from .model import Model


def generate(
    model: Model,
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
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number)) \
            or not (math.isfinite(temperature) and temperature > 0):
        raise ConfigError(f"temperature must be a finite number > 0, got {temperature!r}")
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
        raise ConfigError(f"length must be a whole number >= 0, got {length!r}")
    prime = np.asarray(prime, dtype=np.int64)
    if prime.ndim != 1 or prime.size == 0:
        raise ConfigError("generation needs at least one priming token")
    logits, state, _ = model.forward(prime[None, :])
    out = np.empty(length, dtype=np.int64)
    last = logits[0, -1]
    for k in range(length):
        last = last.astype(np.float64)
        # shifted before dividing, so a tiny temperature gives 0/−inf, never inf − inf = NaN
        p = softmax((last - last.max()) / temperature)
        # inverse-CDF draw: one uniform number per token, reproducible from the seed
        out[k] = min(int(np.searchsorted(np.cumsum(p), rng.random() * p.sum())), p.size - 1)
        logits, state, _ = model.forward(out[None, k : k + 1], state)
        last = logits[0, -1]
    return out
