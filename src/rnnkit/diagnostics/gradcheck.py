"""Central finite-difference checks of hand-written gradients (use float64).

    ∂L/∂θ_k ≈ (L(θ + ε e_k) − L(θ − ε e_k)) / 2ε        error O(ε²)

``relative_error(a, b) = max |a − b| / max(max |a|, max |b|, tiny)`` is reported per array; a
correct float64 backward gives ~1e-9 or less with ε = 1e-6, a wrong one ~1e-1.
"""

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """∂f/∂x by central differences, perturbing ``x`` in place and restoring it exactly."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):
        raise ValueError("numerical_gradient needs a contiguous array it can perturb in place")
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        f_plus = f()
        flat[k] = old - eps
        f_minus = f()
        flat[k] = old
        gflat[k] = (f_plus - f_minus) / (2 * eps)
    return grad


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − b| scaled by the larger of the two arrays' max magnitudes."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0), 1e-12)
    return float(np.abs(a - b).max(initial=0.0) / scale)


def check_gradients(
    f: Callable[[], float],
    arrays: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    eps: float = 1e-6,
) -> dict[str, float]:
    """Relative error of ``grads[name]`` against finite differences of ``f`` for every array."""
    return {
        name: relative_error(grads[name], numerical_gradient(f, x, eps))
        for name, x in arrays.items()
    }
