"""Dynamic time warping (DTW) inside a Sakoe–Chiba band, compiled with Numba, and 1-NN search.

For series a ``[n, C]`` and b ``[m, C]`` the local cost is the squared Euclidean distance of
two steps over all channels (the "dependent" multivariate DTW_D of the UCR archive and of
Shokoohi-Yekta et al. 2017)::

    cost(i, j) = Σ_c (a[i, c] − b[j, c])²

and the distance is the cheapest monotone, continuous path from (0, 0) to (n−1, m−1)::

    D(i, j) = cost(i, j) + min(D(i−1, j−1), D(i−1, j), D(i, j−1)),  D(−1, −1) = 0
    dtw(a, b) = D(n−1, m−1)          (a sum of squares: no square root is taken)

with D = ∞ outside the band.  The band of r steps (Sakoe & Chiba 1978) allows

    −r − max(0, n − m) ≤ j − i ≤ r + max(0, m − n)

so for equal lengths it is |i − j| ≤ r (r = 0: the squared Euclidean distance, summed in time
order), and for unequal lengths it is widened by the difference so that a path always exists
(as tslearn's ``sakoe_chiba_mask``); the band is symmetric, dtw(a, b) = dtw(b, a).  A window
given as a fraction w of the length is r = ⌊w·T⌋ steps, T the longest series of the set —
as the UCR Suite's ``r = floor(R·m)`` and sktime's ``window``.

Early abandoning: every path crosses every row, and costs are ≥ 0, so once the smallest D of
a row exceeds the best distance found so far the pair cannot win and ``inf`` is returned
(a tie is computed to the end: ties go to the smaller training index).

The kernels take float64 C-ordered arrays; lengths are the valid steps of each (padded) row.
They are compiled for explicit signatures when this module is imported, without fast math
(the sums keep their order, so the test's plain-Python DTW matches exactly), and cached on
disk.  The searches run their queries in parallel (``prange``; ``NUMBA_NUM_THREADS`` sets how
many threads).  Under ``NUMBA_DISABLE_JIT=1`` they run as plain Python.

Why our own: DTW is 30 lines; tslearn would be a new dependency and sktime (only an optional
extra here, and heavy to import) computes a full bounding matrix and cost matrix per pair,
with no early abandoning.  sktime's ``dtw_distance`` serves the tests as an independent check.
"""

import math

import numba
import numpy as np
from numba import prange

OPTIONS = {"cache": True, "nogil": True, "error_model": "numpy"}  # no fast math
SERIES = "float64[:, ::1]"  # one series [T, C]
SET = "float64[:, :, ::1]"  # padded series [N, T, C]
LENGTHS = "int64[::1]"


@numba.njit(**OPTIONS)
def _dtw(a, n, b, m, r, best, prev, curr):
    """dtw(a[:n], b[:m]) in a band of r steps, or inf once it must exceed ``best``.

    ``prev`` and ``curr`` are work rows of at least m + 1 entries (column 0 is the boundary
    D(i, −1)); their contents on entry do not matter.
    """
    C = a.shape[1]
    inf = np.inf
    below = r + max(0, n - m)  # how far j may fall behind i
    above = r + max(0, m - n)  # how far j may run ahead of i
    for j in range(m + 1):
        prev[j] = inf
        curr[j] = inf
    prev[0] = 0.0  # D(−1, −1)
    for i in range(n):
        lo = max(0, i - below)
        hi = min(m - 1, i + above)
        curr[lo] = inf  # D(i, lo − 1): left of the band
        left, diag = inf, prev[lo]  # D(i, j−1) and D(i−1, j−1), carried along the row
        row_min = inf
        for j in range(lo, hi + 1):
            up = prev[j + 1]  # D(i−1, j)
            cost = 0.0
            for c in range(C):
                d = a[i, c] - b[j, c]
                cost += d * d
            step = diag
            if up < step:
                step = up
            if left < step:
                step = left
            left = cost + step
            curr[j + 1] = left
            diag = up
            if left < row_min:
                row_min = left
        if row_min > best:
            return inf
        # A band's edges move right by at most one step per row and never left, so the next
        # row reads only this row's band, its left boundary, and entries past hi + 1 that
        # no row has written yet (still inf).
        prev, curr = curr, prev
    return prev[m]


@numba.njit(f"float64({SERIES}, {SERIES}, int64, float64)", **OPTIONS)
def dtw_distance(a, b, r, best):
    """dtw(a, b) for a ``[n, C]``, b ``[m, C]`` in a band of r steps (inf if it exceeds best)."""
    m = b.shape[0]
    return _dtw(a, a.shape[0], b, m, r, best, np.empty(m + 1), np.empty(m + 1))


@numba.njit(f"void({SET}, {LENGTHS}, {SET}, {LENGTHS}, int64, float64[:, ::1])",
            parallel=True, **OPTIONS)
def pairwise(train, train_len, query, query_len, r, out):
    """out[q, j] = dtw(query[q], train[j]) for every pair, no abandoning: ``[M, N]``."""
    M, N = query.shape[0], train.shape[0]
    T = train.shape[1]
    for q in prange(M):
        prev, curr = np.empty(T + 1), np.empty(T + 1)
        for j in range(N):
            out[q, j] = _dtw(query[q], query_len[q], train[j], train_len[j], r, np.inf,
                             prev, curr)


@numba.njit(f"void({SET}, {LENGTHS}, {SET}, {LENGTHS}, int64, {LENGTHS}, boolean, "
            f"{LENGTHS}, float64[::1])", parallel=True, **OPTIONS)
def nearest(train, train_len, query, query_len, r, first, leave_one_out, index, distance):
    """index[q], distance[q]: the training series nearest to query q, by dtw in a band of r.

    ``first[q]`` (or −1) is tried first, to start with a tight bound (the neighbour found with
    a narrower band, say); the result does not depend on it.  With ``leave_one_out`` the
    query set is the training set and q is never its own neighbour.  Ties go to the smaller
    training index.
    """
    M, N = query.shape[0], train.shape[0]
    T = train.shape[1]
    for q in prange(M):
        prev, curr = np.empty(T + 1), np.empty(T + 1)
        best, best_j = np.inf, -1
        f = first[q]
        if f >= 0 and not (leave_one_out and f == q):
            best = _dtw(query[q], query_len[q], train[f], train_len[f], r, np.inf, prev, curr)
            best_j = f
        for j in range(N):
            if j == f or (leave_one_out and j == q):
                continue
            d = _dtw(query[q], query_len[q], train[j], train_len[j], r, best, prev, curr)
            if d < best or (d == best and j < best_j):
                best, best_j = d, j
        index[q] = best_j
        distance[q] = best


def window_steps(fraction: float, length: int) -> int:
    """r = ⌊fraction · length⌋ steps (a hair of slack so 0.07 · 100 is 7, not 6)."""
    return int(math.floor(fraction * length + 1e-9))
