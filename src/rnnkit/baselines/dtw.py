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
(a tie is computed to the end: ties go to the smaller training index).  Before that, the 1-NN
search skips a training series of the query's length whose LB_Keogh lower bound (Keogh 2002;
the query's squared excess over the series' band envelope) already exceeds the best, as the
UCR Suite (Rakthanmanon et al. 2012) does.

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

from ..kernels._jit import JitOptions

OPTIONS: JitOptions = {"cache": True, "nogil": True, "error_model": "numpy"}  # no fast math
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
            left = cost + min(diag, up, left)  # the new D(i, j) is the next cell's left
            curr[j + 1] = left
            diag = up
            row_min = min(row_min, left)
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


@numba.njit(
    f"void({SET}, {LENGTHS}, {SET}, {LENGTHS}, int64, float64[:, ::1])", parallel=True, **OPTIONS
)
def pairwise(train, train_len, query, query_len, r, out):
    """out[q, j] = dtw(query[q], train[j]) for every pair, no abandoning: ``[M, N]``."""
    M, N = query.shape[0], train.shape[0]
    T = train.shape[1]
    for q in prange(M):
        prev, curr = np.empty(T + 1), np.empty(T + 1)
        for j in range(N):
            out[q, j] = _dtw(query[q], query_len[q], train[j], train_len[j], r, np.inf, prev, curr)


@numba.njit(f"void({SET}, {LENGTHS}, int64, {SET}, {SET})", parallel=True, **OPTIONS)
def envelopes(x, lengths, r, upper, lower):
    """upper/lower[n, i] = max/min of x[n, i−r … i+r] within the series' length (LB_Keogh)."""
    N, _, C = x.shape
    for k in prange(N):
        m = lengths[k]
        for i in range(m):
            for c in range(C):
                hi, lo = -np.inf, np.inf
                for j in range(max(0, i - r), min(m, i + r + 1)):
                    v = x[k, j, c]
                    hi = max(hi, v)
                    lo = min(lo, v)
                upper[k, i, c], lower[k, i, c] = hi, lo


@numba.njit(**OPTIONS)
def _lb_keogh(a, n, upper, lower, best):
    """Σ_i Σ_c (how far a[i, c] lies outside [lower, upper])², stopping once above ``best``.

    For series of one length every band cell (i, j) has |i − j| ≤ r, so its cost is at least
    a[i]'s excess over b's envelope at i: the sum bounds dtw(a, b) from below (Keogh 2002).
    """
    total = 0.0
    for i in range(n):
        for c in range(a.shape[1]):
            v = a[i, c]
            if v > upper[i, c]:
                d = v - upper[i, c]
                total += d * d
            elif v < lower[i, c]:
                d = lower[i, c] - v
                total += d * d
        if total > best:
            return total
    return total


@numba.njit(
    f"void({SET}, {LENGTHS}, {SET}, {LENGTHS}, int64, {LENGTHS}, boolean, "
    f"{SET}, {SET}, {LENGTHS}, float64[::1])",
    parallel=True,
    **OPTIONS,
)
def nearest(
    train, train_len, query, query_len, r, first, leave_one_out, upper, lower, index, distance
):
    """index[q], distance[q]: the training series nearest to query q, by dtw in a band of r.

    ``first[q]`` (or −1) is tried first, to start with a tight bound (the neighbour found with
    a narrower band, say); the result does not depend on it.  With ``leave_one_out`` the
    query set is the training set and q is never its own neighbour.  ``upper``/``lower`` are
    the training series' ``envelopes`` for r: a candidate of the query's length whose
    LB_Keogh exceeds the best distance so far is skipped.  Ties go to the smaller training
    index.
    """
    M, N = query.shape[0], train.shape[0]
    T = train.shape[1]
    for q in prange(M):
        prev, curr = np.empty(T + 1), np.empty(T + 1)
        n = query_len[q]
        best, best_j = np.inf, -1
        f = first[q]
        if f >= 0 and not (leave_one_out and f == q):
            best = _dtw(query[q], n, train[f], train_len[f], r, np.inf, prev, curr)
            best_j = f
        for j in range(N):
            if j == f or (leave_one_out and j == q):
                continue
            if train_len[j] == n and _lb_keogh(query[q], n, upper[j], lower[j], best) > best:
                continue
            d = _dtw(query[q], n, train[j], train_len[j], r, best, prev, curr)
            if d < best or (d == best and j < best_j):
                best, best_j = d, j
        index[q] = best_j
        distance[q] = best


def nearest_neighbours(
    train: np.ndarray,
    train_len: np.ndarray,
    query: np.ndarray,
    query_len: np.ndarray,
    r: int,
    first: np.ndarray | None = None,
    leave_one_out: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """(index ``[M]``, distance ``[M]``) of ``nearest``, with the envelopes it needs.

    Arrays as the kernels take them: float64 C-ordered ``[N, T, C]`` / ``[M, T', C]`` and
    int64 lengths (``rnnkit.baselines.nearest`` checks and converts a caller's input).
    """
    upper, lower = np.empty_like(train), np.empty_like(train)
    envelopes(train, train_len, r, upper, lower)
    if first is None:
        first = np.full(len(query), -1, dtype=np.int64)
    index, distance = np.empty(len(query), dtype=np.int64), np.empty(len(query))
    nearest(
        train, train_len, query, query_len, r, first, leave_one_out, upper, lower, index, distance
    )
    return index, distance


def window_steps(fraction: float, length: int) -> int:
    """r = ⌊fraction · length⌋ steps (a hair of slack so 0.07 · 100 is 7, not 6)."""
    return math.floor(fraction * length + 1e-9)
