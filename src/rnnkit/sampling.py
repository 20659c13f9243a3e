"""Sampling from a next-token model: prime the state, then draw one token at a time.

    p(v | history) = softmax(logits / temperature)

Temperature < 1 sharpens the distribution (safer text), > 1 flattens it (more surprising).
"""

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
    """``length`` token ids drawn after the ``prime: [P]`` ids (P ≥ 1), as an int array."""
    if temperature <= 0:
        raise ConfigError(f"temperature must be > 0, got {temperature}")
    if length < 0:
        raise ConfigError(f"length must be >= 0, got {length}")
    prime = np.asarray(prime, dtype=np.int64)
    if prime.ndim != 1 or prime.size == 0:
        raise ConfigError("generation needs at least one priming token")
    logits, state, _ = model.forward(prime[None, :])
    out = np.empty(length, dtype=np.int64)
    last = logits[0, -1]
    for k in range(length):
        p = softmax(last.astype(np.float64) / temperature)
        # inverse-CDF draw: one uniform number per token, reproducible from the seed
        out[k] = min(int(np.searchsorted(np.cumsum(p), rng.random() * p.sum())), p.size - 1)
        logits, state, _ = model.forward(out[None, k : k + 1], state)
        last = logits[0, -1]
    return out
