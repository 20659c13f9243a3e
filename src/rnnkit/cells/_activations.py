"""Activations and their derivatives, written from the saved *outputs* (σ(1−σ), 1−y²)."""

import numpy as np


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


ACTIVATIONS = {"tanh": (np.tanh, dtanh), "relu": (relu, drelu)}
"""Nonlinearity name → (function of the pre-activation, derivative from the output)."""
