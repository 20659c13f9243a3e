"""Softmax cross-entropy of float32 logits in one compiled pass over each row.

``losses.softmax_cross_entropy`` hands its float32 rows here (float64 stays with NumPy and
never loads Numba).  Row n of ``z: [N, V]``, with class id y_n, weight w_n ∈ {0, 1} and
normaliser N_w::

    m_n = max_v z_{n,v}         e_n = exp(z_n − m_n)   (``_jit.exp32``)      S_n = Σ_v e_{n,v}
    ℓ_n = log S_n − (z_{n,y_n} − m_n)                  L = Σ_n w_n ℓ_n / N_w  (float64 sum)
    dz_n = (w_n / N_w) (e_n / S_n − onehot(y_n))

The row is read and its gradient written while it is in cache; NumPy's ten calls (the row
max over the short rows of a char model, V = 96, the slowest) took 2–3× as long.
"""

import math

import numba
import numpy as np

from ._jit import ARRAY1, ARRAY2, FLAGS, compiled, exp32


@numba.njit(inline="always", fastmath=FLAGS, error_model="numpy")
def _row_max(zr):
    """max of a row, in eight running maxima (one running maximum does not vectorise)."""
    V = zr.shape[0]
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = zr[0]
    V8 = V - V % 8
    for v in range(0, V8, 8):
        m0 = zr[v] if zr[v] > m0 else m0
        m1 = zr[v + 1] if zr[v + 1] > m1 else m1
        m2 = zr[v + 2] if zr[v + 2] > m2 else m2
        m3 = zr[v + 3] if zr[v + 3] > m3 else m3
        m4 = zr[v + 4] if zr[v + 4] > m4 else m4
        m5 = zr[v + 5] if zr[v + 5] > m5 else m5
        m6 = zr[v + 6] if zr[v + 6] > m6 else m6
        m7 = zr[v + 7] if zr[v + 7] > m7 else m7
    for v in range(V8, V):
        m0 = zr[v] if zr[v] > m0 else m0
    return max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))


@compiled(f"float64({ARRAY2}, int64[::1], {ARRAY1}, float32, {ARRAY2})")
def _rows(z, y, w, inv_n, dz):
    """dz as above; returns Σ_n w_n ℓ_n.  Short loops, each of which vectorises."""
    N, V = z.shape
    loss = 0.0
    for n in range(N):
        zr, d = z[n], dz[n]
        m = _row_max(zr)
        for v in range(V):
            d[v] = exp32(zr[v] - m)  # e = exp(z − m)
        total = np.float32(0)
        for v in range(V):
            total += d[v]  # S = Σ e
        wn = w[n] * inv_n
        scale = wn / total
        for v in range(V):
            d[v] *= scale  # p w / N_w
        d[y[n]] -= wn  # (p − onehot(y)) w / N_w
        if w[n] != 0:
            loss += math.log(total) - (zr[y[n]] - m)  # ℓ_n = log S − (z_y − m)
    return loss


def softmax_cross_entropy_rows(
    z: np.ndarray, y: np.ndarray, w: np.ndarray, n: int
) -> tuple[float, np.ndarray]:
    """(L, dz) for float32 logits ``z: [N, V]``, class ids ``y: [N]`` (any valid id where
    w = 0), weights ``w: [N]`` of 0/1 and the normaliser ``n`` > 0."""
    z = np.ascontiguousarray(z, np.float32)
    dz = np.empty_like(z)
    loss = _rows(
        z,
        np.ascontiguousarray(y, np.int64),
        np.ascontiguousarray(w, np.float32),
        np.float32(1.0 / n),
        dz,
    )
    return loss / n, dz
