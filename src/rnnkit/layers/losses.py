"""Losses on the model's outputs: each returns ``(loss, dy)``, the mean loss and ∂loss/∂outputs.

Softmax cross-entropy over ``V`` classes (logits ``z: [..., V]``, e.g. ``[N, V]``, ``[T, B, V]``
or ``[B, T, V]``; targets ``y`` and mask ``w ∈ {0, 1}`` of the leading shape ``[...]``)::

    log p_n  = z_n − m_n − log Σ_v exp(z_{n,v} − m_n)       m_n = max_v z_{n,v}   (stable)
    ℓ_n      = −log p_{n, y_n}
    L        = Σ_n w_n ℓ_n / N_w                              N_w = Σ_n w_n

    dz_n     = w_n (p_n − onehot(y_n)) / N_w                  (p_n = exp(log p_n), saved)

Mean squared error (``ŷ, y: [..., O]``; mask of shape ``[...]`` or ``[..., O]``)::

    L        = Σ w ⊙ (ŷ − y)² / N_w                           N_w = elements counted
    dŷ       = 2 w ⊙ (ŷ − y) / N_w

Masked positions (padding) add no loss and receive zero gradient; their targets are not
read, so any value (e.g. −1) may pad them.  If nothing is counted (N_w = 0) the loss is 0
and the gradient zero.  Losses are in nats; ``counted`` gives N_w so that means of several
batches can be combined, and ``bits_per_char`` turns them into bits per character.

``normalizer=`` puts a given count in place of N_w: the part of a larger batch's mean that
these positions carry, e.g. one segment of a sequence whose loss is averaged over all of its
steps.  The parts then add up to the whole batch's loss, and each gradient is the whole
loss's gradient at those positions.
"""

import math

import numpy as np

from ..errors import ShapeError
from ..kernels import resolve_op


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax along the last axis, computed stably (the row max is subtracted first)."""
    z = np.asarray(z)
    shifted = z - z.max(axis=-1, keepdims=True)  # z − m
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # − log Σ exp(z − m)


def softmax(z: np.ndarray) -> np.ndarray:
    """softmax along the last axis, computed stably; rows sum to 1."""
    z = np.asarray(z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def counted(targets: np.ndarray, mask: np.ndarray | None = None) -> int:
    """N_w: how many positions of ``targets`` a loss averages over (all, or the mask's ones)."""
    if mask is None:
        return int(np.asarray(targets).size)
    return int(np.count_nonzero(mask))


def bits_per_char(losses: list[float], counts: list[int]) -> float:
    """Mean cross-entropy in bits of several batches: Σ L_k N_k / (N ln 2), N = Σ N_k."""
    total = sum(counts)
    if total <= 0:
        raise ShapeError("bits_per_char needs at least one counted position")
    return sum(loss * n for loss, n in zip(losses, counts, strict=True)) / (total * math.log(2))


def softmax_cross_entropy(
    logits: np.ndarray,
    targets: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    normalizer: int | None = None,
) -> tuple[float, np.ndarray]:
    """(mean cross-entropy in nats, ∂L/∂logits) of ``logits: [..., V]`` and class ids ``[...]``.

    ``mask: [...]`` of 0/1 (or bool) excludes padding.  The gradient has the logits' dtype.
    ``normalizer`` divides in place of N_w (see the module docstring).  Float32 logits go
    through ``kernels.cross_entropy`` (one compiled pass per row, chosen by
    ``kernels.resolve_op``); float64, and ``RNNKIT_BACKEND=reference``, stay with NumPy.

    >>> loss, dz = softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    >>> round(loss, 6), dz.shape          # log 4
    (1.386294, (2, 4))
    """
    z = _float_array("logits", logits)
    if z.ndim < 1 or z.shape[-1] == 0:
        raise ShapeError(f"logits must be [..., V] with V >= 1 classes, got shape {z.shape}")
    V = z.shape[-1]
    y = _class_ids(targets, z.shape[:-1])
    keep = _mask(mask, y.shape, "targets")
    _check_range(y, keep, V)
    order = _memory_order(z)  # rows taken in memory order: a transposed view needs no copy
    z, y, keep = z.transpose(order + (z.ndim - 1,)), y.transpose(order), keep.transpose(order)
    loss, dz = _cross_entropy_rows(z.reshape(-1, V), y.reshape(-1), keep.reshape(-1), normalizer)
    return loss, dz.reshape(z.shape).transpose(tuple(np.argsort(order)) + (z.ndim - 1,))


def _cross_entropy_rows(
    z2: np.ndarray, y: np.ndarray, keep: np.ndarray, normalizer: int | None
) -> tuple[float, np.ndarray]:
    """(L, dz) of logits ``z2: [N, V]``, class ids ``y: [N]`` and the counted rows ``keep``."""
    y_flat = np.where(keep, y, 0)  # padded targets are never read
    w = keep.astype(z2.dtype)
    n = _normalizer(normalizer, w)
    if n == 0:
        return 0.0, np.zeros_like(z2)
    fast = resolve_op("cross_entropy", z2.dtype)  # float32: loads Numba on first use
    if fast is not None:
        return fast.softmax_cross_entropy_rows(z2, y_flat, w, n)
    rows = np.arange(z2.shape[0])
    dz = np.subtract(z2, z2.max(axis=1, keepdims=True))  # z − m
    shifted_y = dz[rows, y_flat]
    np.exp(dz, out=dz)  # exp(z − m)
    total = dz @ np.ones(z2.shape[1], dz.dtype)  # Σ_v exp(z_v − m)  (a BLAS product: 5× a row sum)
    logp_y = shifted_y - np.log(total)  # log p_{n, y_n}
    loss = -float(np.sum(logp_y * w, dtype=np.float64)) / n  # L = Σ w ℓ / N_w
    w_n = w / z2.dtype.type(n)
    dz *= (w_n / total)[:, None]  # p · w / N_w
    dz[rows, y_flat] -= w_n  # (p − onehot(y)) · w / N_w
    return loss, dz


def _memory_order(z: np.ndarray) -> tuple[int, ...]:
    """The leading axes of ``z: [..., V]`` from the largest stride to the smallest (stable)."""
    lead = z.strides[:-1]
    return tuple(sorted(range(len(lead)), key=lambda k: -lead[k]))


def mse(
    pred: np.ndarray,
    target: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    normalizer: int | None = None,
) -> tuple[float, np.ndarray]:
    """(mean squared error over the counted elements, ∂L/∂pred) for ``pred, target: [..., O]``.

    ``mask`` is 0/1 of shape ``[...]`` (whole positions) or ``[..., O]`` (single elements).
    ``normalizer`` divides in place of N_w, the counted elements (see the module docstring).
    """
    yhat = _float_array("pred", pred)
    y = np.asarray(target)
    if y.shape != yhat.shape:
        raise ShapeError(f"target must have the shape of pred {yhat.shape}, got {y.shape}")
    diff = np.subtract(yhat, y, dtype=yhat.dtype)  # ŷ − y
    if mask is None:
        n = yhat.size if normalizer is None else _normalizer(normalizer, diff)
    else:
        if yhat.ndim >= 1 and np.shape(mask) == yhat.shape[:-1]:
            keep = _mask(mask, yhat.shape[:-1], "pred's leading axes")[..., None]
        else:
            keep = _mask(mask, yhat.shape, "pred")
        w = np.broadcast_to(keep, yhat.shape)
        n = _normalizer(normalizer, w)
        diff *= w  # w ⊙ (ŷ − y)
    if n == 0:
        return 0.0, np.zeros_like(yhat)
    loss = float(np.sum(np.square(diff), dtype=np.float64)) / n  # L = Σ w (ŷ − y)² / N_w
    diff *= yhat.dtype.type(2.0 / n)  # dŷ = 2 w (ŷ − y) / N_w
    return loss, diff


def _normalizer(normalizer: int | None, w: np.ndarray) -> int:
    """N_w = Σ w (the counted entries of the weights ``w``), or the caller's ``normalizer``."""
    if normalizer is None:
        return int(np.count_nonzero(w))
    if normalizer < 0:
        raise ShapeError(f"normalizer must be a count >= 0, got {normalizer}")
    return int(normalizer)


def _float_array(what: str, a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if not np.issubdtype(a.dtype, np.floating):
        raise ShapeError(f"{what} must be a float32 or float64 array, got dtype {a.dtype}")
    return a


def _class_ids(targets: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    y = np.asarray(targets)
    if not np.issubdtype(y.dtype, np.integer):
        raise ShapeError(f"targets must be integer class ids, got dtype {y.dtype}")
    if y.shape != shape:
        raise ShapeError(f"targets must have the logits' leading shape {shape}, got {y.shape}")
    return y


def _mask(mask: np.ndarray | None, shape: tuple[int, ...], of: str) -> np.ndarray:
    """The mask as a bool array of ``shape`` (all True when ``mask`` is None)."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = np.asarray(mask)
    if m.shape != shape:
        raise ShapeError(f"mask must have the shape of {of} {shape}, got {m.shape}")
    if not np.isin(m, (0, 1)).all():
        raise ShapeError("mask must hold only 0 (padding) and 1 (counted)")
    return m.astype(bool)


def _check_range(y: np.ndarray, keep: np.ndarray, V: int) -> None:
    bad = np.argwhere(keep & ((y < 0) | (y >= V)))
    if bad.size:
        pos = tuple(int(k) for k in bad[0])
        where = ", ".join(map(str, pos))
        raise ShapeError(
            f"targets[{where}] = {int(y[pos])} is not a class id in [0, {V}) "
            f"({len(bad)} out of range in all); mask padding or enlarge the vocabulary"
        )
