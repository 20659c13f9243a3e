"""What the kernels share around their time loops: masks, the input side, the weight gradients.

The kernels keep the reference's semantics (``rnnkit.cells.unroll``) for masks::

    forward:   s_t = m_t ? s_t : s_{t−1}        out_t = m_t ? out_t : 0
    backward:  cellᵀ runs on (m_t · dout_t, m_t · ds_t);   ds_{t−1} += (1 − m_t) · ds_t

and do the input side of every step in one matrix product each, before and after the loop,
as they do the recurrent weight's gradient (h_rec = h_{t−1} ⊙ drop)::

    ax = xs W_ihᵀ + b                  dW_ih = daᵀ xs       dxs = da W_ih       db = Σ da
                                       dW_hh = daᵀ h_rec

The input gradient dxs is skipped when the caller has no use for it (``need_dx=False``: a
one-hot first layer).  A kernel that takes token ids (``xs: [T, B]`` integers standing for
one-hot rows, see ``rnnkit.kernels``) has no input product at all: step t adds the row
``P[id]`` of the table P = W_ihᵀ + b, and its backward adds da_t into row id of dW_ihᵀ.
Shapes: ``xs: [T, B, I]``, ``mask: [T, B]``, ``da: [T, B, G]``.
"""

from typing import NamedTuple

import numpy as np

from ._workspace import POOL

NARROW = 4
"""The widest float32 input projected by a compiled loop rather than BLAS
(``_jit.project_narrow``): at 3 200 rows, 1 → 64 takes 26 µs against NumPy's
154, 2 → 192 98 against 266, 4 → 256 320 against 365; from 8 inputs BLAS is faster."""


ONE_THREAD_MACS = 262_144
"""The largest product OpenBLAS runs on one thread (M·N·K multiply-adds, its GEMM threshold
2¹⁸).  A kernel whose time loop is one compiled call (``_jit.BLAS``) splits each recurrent
product into row blocks this small: Numba's BLAS is SciPy's, a second OpenBLAS with a thread
pool of its own, whose workers spin after a threaded call and, on two cores, starve the
threaded products NumPy's OpenBLAS does next; and a threaded product of a few microseconds
waits for its second thread whenever another process holds the other core."""
MIN_ROWS = 4
"""Fewer rows per recurrent product than this (G·H > 2¹⁶, e.g. an Elman H > 256) leave the
time loop to Python and NumPy's (threaded) product."""


def loop_rows(B: int, K: int, N: int) -> int:
    """Rows per recurrent product ``[rows, K] × [K, N]`` of a compiled time loop over a batch
    of ``B``, or 0 where the loop stays in Python (products too large for row blocks)."""
    rows = min(B, ONE_THREAD_MACS // (K * N))
    return rows if rows >= MIN_ROWS or rows == B else 0


class Mask(NamedTuple):
    """A [T, B] 0/1 mask in the forms the loops use."""

    m: np.ndarray  # [T, B, 1] 0/1 in the compute dtype (the reference's cache.mask)
    off: np.ndarray  # [T, B, 1] bool: True where the step is padding


def prepare_mask(mask: np.ndarray | None, T: int, B: int, dtype) -> Mask | None:
    """The mask as multiplier and as padding flags, or None when there is no mask."""
    if mask is None:
        return None
    m = np.asarray(mask).astype(dtype).reshape(T, B, 1)
    return Mask(m, m == 0)


def mask_rows(mk: Mask | None, T: int, B: int) -> np.ndarray:
    """The mask as a C-contiguous float32 [T, B] for a compiled loop; [0, 0] without one."""
    if mk is None:
        return np.empty((0, 0), np.float32)
    return np.ascontiguousarray(mk.m.reshape(T, B), dtype=np.float32)


def input_projection(xs: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ax = xs Wᵀ + b for all steps in one matrix product: [T, B, G] (a pool buffer)."""
    T, B, I = xs.shape
    ax = POOL.take((T, B, W.shape[0]), xs.dtype)
    ax2, xs2 = ax.reshape(T * B, -1), xs.reshape(T * B, I)
    if I <= NARROW and xs.dtype == np.float32:
        from ._jit import project_narrow  # float32 only: float64 never loads Numba

        project_narrow(
            np.ascontiguousarray(xs2),
            np.ascontiguousarray(W.T),
            np.ascontiguousarray(b, np.float32),
            ax2,
        )
        return ax
    if I == 1:  # an outer product: NumPy's matmul takes a slow path for K = 1
        np.multiply(xs2, W.T, out=ax2)
    else:
        np.matmul(xs2, W.T, out=ax2)
    ax2 += b
    return ax


def input_side(xs: np.ndarray, W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ax [T, B, G], P) before a time loop.  Vectors ``xs: [T, B, I]``: ax = xs Wᵀ + b for all
    steps and P empty ``[0, 0]``.  Token ids ``xs: [T, B]``: ax uninitialised (a pool buffer
    the steps fill) and P = Wᵀ + b ``[V, G]``, whose row v is x Wᵀ + b for the one-hot x of
    token v."""
    if xs.ndim == 3:
        return input_projection(xs, W, b), np.empty((0, 0), W.dtype)
    T, B = xs.shape
    return POOL.take((T, B, W.shape[0]), W.dtype), np.ascontiguousarray(W.T + b)


def token_ids(xs: np.ndarray) -> np.ndarray:
    """A compiled loop's ids: token ids ``xs: [T, B]`` as C-contiguous int64, or an empty
    ``[0, 0]`` for vectors ``xs: [T, B, I]``."""
    if xs.ndim == 3:
        return np.empty((0, 0), np.int64)
    return np.ascontiguousarray(xs, dtype=np.int64)


def scaled_transpose(W: np.ndarray, scale: np.ndarray, rows: int = 64) -> np.ndarray:
    """(W ⊙ scale[:, None])ᵀ C-contiguous ``[K, G]`` for ``W: [G, K]``, ``rows`` rows at a time
    (one transposing copy of the whole matrix is 3× slower at G = 4096, K = 1024)."""
    G = W.shape[0]
    out = np.empty(W.shape[::-1], W.dtype)
    for g in range(0, G, rows):
        np.multiply(W[g : g + rows].T, scale[g : g + rows], out=out[:, g : g + rows])
    return out


def input_grads(
    da: np.ndarray, xs: np.ndarray, W: np.ndarray, need_dx: bool = True
) -> tuple[np.ndarray, np.ndarray | None]:
    """(dW_ih = Σ_t da_tᵀ x_t  [G, I],  dxs = da W_ih  [T, B, I] or None) in one product each."""
    T, B, G = da.shape
    dW = da.reshape(T * B, G).T @ xs.reshape(T * B, -1)
    return dW, input_delta(da, W) if need_dx else None


def input_delta(da: np.ndarray, W: np.ndarray) -> np.ndarray:
    """dxs = da W_ih: ``[T, B, I]`` (for token ids, ∂L/∂ of their one-hot rows)."""
    T, B, G = da.shape
    return (da.reshape(T * B, G) @ W).reshape(T, B, -1)


def recurrent_inputs(hs: np.ndarray, drop: np.ndarray | None, T: int) -> np.ndarray:
    """h_rec = h_{t−1} ⊙ drop for t = 1 … T: ``[T, B, H]`` from the saved states
    ``hs: [T + 1, B, H]`` and the recurrent dropout mask ``drop: [B, H]`` (or None)."""
    return hs[:T] if drop is None else hs[:T] * drop


def gate_grads(
    p: dict,
    xs: np.ndarray,
    hs: np.ndarray,
    drop: np.ndarray | None,
    da: np.ndarray,
    need_dx: bool,
    db: np.ndarray | None = None,
    dW_ih: np.ndarray | None = None,
):
    """(dxs or None, grads) of a cell whose every pre-activation a = x W_ihᵀ + b_ih + h_rec
    W_hhᵀ + b_hh (Elman, LSTM): dW_ih = Σ daᵀ x, dW_hh = Σ daᵀ h_rec, db_ih = db_hh = Σ da,
    dxs = da W_ih.  ``db`` and ``dW_ih`` are given when the time loop summed them already
    (dW_ih for token ids ``xs: [T, B]``); ``hs`` and ``drop`` as ``recurrent_inputs``."""
    T, B, G = da.shape
    if dW_ih is None:
        dW_ih, dxs = input_grads(da, xs, p["weight_ih"], need_dx)
    else:
        dxs = input_delta(da, p["weight_ih"]) if need_dx else None
    db = bias_grad(da) if db is None else db
    h_rec = recurrent_inputs(hs, drop, T)
    grads = {
        "weight_ih": dW_ih,
        "weight_hh": da.reshape(T * B, G).T @ h_rec.reshape(T * B, -1),
        "bias_ih": db,
        "bias_hh": db.copy(),
    }
    return dxs, grads


def split_gate_grads(
    p: dict,
    xs: np.ndarray,
    hs: np.ndarray,
    drop: np.ndarray | None,
    d_ih: np.ndarray,
    d_hh: np.ndarray,
    need_dx: bool,
    db_ih: np.ndarray,
    db_hh: np.ndarray,
    dW_ih: np.ndarray | None = None,
):
    """(dxs or None, grads) of a cell whose input side and recurrent side differ in some
    gradient (the GRU: da_n enters x W_inᵀ, da_hn = r ⊙ da_n enters h W_hnᵀ), from
    ``d_ih = ∂L/∂(x W_ihᵀ + b_ih)`` and ``d_hh = ∂L/∂(h_rec W_hhᵀ + b_hh)`` ``[T, B, G]``:
    dW_ih = Σ d_ihᵀ x, dW_hh = Σ d_hhᵀ h_rec, dxs = d_ih W_ih, and the bias gradients the
    caller summed.  ``dW_ih`` is given when the time loop summed it (token ids)."""
    T, B, G = d_hh.shape
    if dW_ih is None:
        dW_ih, dxs = input_grads(d_ih, xs, p["weight_ih"], need_dx)
    else:
        dxs = input_delta(d_ih, p["weight_ih"]) if need_dx else None
    h_rec = recurrent_inputs(hs, drop, T)
    grads = {
        "weight_ih": dW_ih,  # Σ_t da_ihᵀ x_t
        "weight_hh": d_hh.reshape(T * B, G).T @ h_rec.reshape(T * B, -1),  # Σ_t da_hhᵀ h_rec
        "bias_ih": db_ih,
        "bias_hh": db_hh,
    }
    return dxs, grads


def bias_grad(da: np.ndarray) -> np.ndarray:
    """db = Σ_t Σ_B da: [G]."""
    return da.reshape(-1, da.shape[-1]).sum(axis=0)


def gate_order(blocks: tuple[int, ...], H: int) -> np.ndarray:
    """Row indices that reorder gate blocks of H rows: ``blocks`` lists old block numbers."""
    return np.concatenate([np.arange(k * H, (k + 1) * H) for k in blocks])
