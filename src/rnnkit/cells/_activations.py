"""Activations and their derivatives, written from the saved *outputs* (σ(1−σ), 1−y²)."""

from collections.abc import Callable

import numpy as np

Activation = Callable[[np.ndarray], np.ndarray]


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic σ(a) = 1/(1+e^−a), computed without overflow for large |a|."""
    # e^−|a| never overflows; pick the algebraically equal form per sign.
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(a.dtype, copy=False)


def dsigmoid(s: np.ndarray) -> np.ndarray:
    """dσ/da from s = σ(a)."""
    return s * (1.0 - s)


def dtanh(y: np.ndarray) -> np.ndarray:
    """dtanh/da from y = tanh(a)."""
    return 1.0 - y * y


def relu(a: np.ndarray) -> np.ndarray:
    """max(a, 0)."""
    return np.maximum(a, 0)


def drelu(y: np.ndarray) -> np.ndarray:
    """drelu/da from y = relu(a): 1 where the unit is on, else 0."""
    return (y > 0).astype(y.dtype)


def softmax(z: np.ndarray) -> np.ndarray:
    """softmax along the last axis, computed stably (the row's maximum subtracted first)."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(ds: np.ndarray, s: np.ndarray) -> np.ndarray:
    """∂L/∂z from ∂L/∂s and s = softmax(z): s ⊙ (ds − Σ_k ds_k s_k), row by row."""
    return s * (ds - (ds * s).sum(axis=-1, keepdims=True))


ACTIVATIONS: dict[str, tuple[Activation, Activation]] = {
    "tanh": (np.tanh, dtanh),
    "relu": (relu, drelu),
}
"""Nonlinearity name → (function of the pre-activation, derivative from the output)."""
