"""The compiled DTW against a plain-Python one, against sktime, and its 1-NN searches."""

import itertools

import numpy as np
import pytest

from rnnkit.baselines import dtw


def reference_dtw(a: np.ndarray, b: np.ndarray, r: int) -> float:
    """The DTW recurrence over the whole matrix, written out: the specification."""
    n, m = len(a), len(b)
    D = np.full((n + 1, m + 1), np.inf)
    D[0, 0] = 0.0
    for i in range(n):
        for j in range(m):
            if not -r - max(0, n - m) <= j - i <= r + max(0, m - n):
                continue
            cost = 0.0
            for c in range(a.shape[1]):
                cost += (a[i, c] - b[j, c]) * (a[i, c] - b[j, c])
            D[i + 1, j + 1] = cost + min(D[i, j], D[i, j + 1], D[i + 1, j])
    return float(D[n, m])


def random_pairs(count: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n, m, C = rng.integers(1, 13), rng.integers(1, 13), rng.integers(1, 4)
        yield rng.standard_normal((n, C)), rng.standard_normal((m, C)), int(rng.integers(0, 6))


@pytest.mark.parametrize("seed", range(4))
def test_compiled_dtw_equals_the_reference_exactly(seed):
    # Same sums in the same order and no fast math: float64 results are bit-identical.
    for a, b, r in random_pairs(50, seed):
        assert dtw.dtw_distance(a, b, r, np.inf) == reference_dtw(a, b, r), (a.shape, b.shape, r)


def test_band_of_zero_steps_is_the_squared_euclidean_distance(rng):
    a, b = rng.standard_normal((30, 2)), rng.standard_normal((30, 2))
    expected = np.sum((a - b) ** 2)
    assert dtw.dtw_distance(a, b, 0, np.inf) == pytest.approx(expected, rel=1e-14)


def test_dtw_is_symmetric_and_shrinks_as_the_band_widens(rng):
    a, b = rng.standard_normal((25, 1)), rng.standard_normal((19, 1))
    d = [dtw.dtw_distance(a, b, r, np.inf) for r in range(8)]
    assert d == [dtw.dtw_distance(b, a, r, np.inf) for r in range(8)]
    assert all(wider <= narrower for narrower, wider in itertools.pairwise(d))
    assert d[-1] < d[0]


def test_dtw_aligns_a_shifted_shape_the_euclidean_distance_cannot():
    t = np.arange(60)

    def bump(centre):
        return np.exp(-0.5 * ((t - centre) / 3.0) ** 2)[:, None]

    a, b = bump(25), bump(30)
    assert dtw.dtw_distance(a, b, 0, np.inf) > 1.0
    assert dtw.dtw_distance(a, b, 6, np.inf) < 0.05


def test_early_abandoning_gives_the_distance_or_inf_and_inf_only_above_the_bound():
    abandoned = 0
    for a, b, r in random_pairs(200, 7):
        full = reference_dtw(a, b, r)
        for best in (0.5 * full, full, 2.0 * full + 1e-9):
            d = dtw.dtw_distance(a, b, r, best)
            assert d == full or (d == np.inf and full > best), (full, best, d)
            abandoned += d == np.inf
    assert abandoned > 50  # it does abandon


def test_dtw_agrees_with_sktime():
    distances = pytest.importorskip("sktime.dists_kernels._numba_distances")
    rng = np.random.default_rng(3)
    for T, C, r in [(20, 1, 0), (20, 1, 3), (33, 2, 5), (40, 3, 40)]:
        a, b = rng.standard_normal((T, C)), rng.standard_normal((T, C))
        # sktime's radius is window·T, floored at the band's edges: half a step of margin.
        theirs = distances.dtw_distance(a.T.copy(), b.T.copy(), window=min((r + 0.5) / T, 1.0))
        ours = dtw.dtw_distance(a, b, r, np.inf)
        assert ours == pytest.approx(theirs, rel=1e-12), (T, C, r)


def padded_set(rng, N: int, T: int, C: int):
    lengths = rng.integers(T // 2, T + 1, size=N).astype(np.int64)
    x = rng.standard_normal((N, T, C))
    x[np.arange(T)[None, :] >= lengths[:, None]] = 1e6  # padding must never be read
    return x, lengths


def test_pairwise_and_nearest_read_each_series_to_its_length_only(rng):
    train, train_len = padded_set(rng, 9, 14, 2)
    query, query_len = padded_set(rng, 6, 11, 2)
    out = np.empty((6, 9))
    dtw.pairwise(train, train_len, query, query_len, 2, out)
    expected = [
        [reference_dtw(query[q, : query_len[q]], train[j, : train_len[j]], 2) for j in range(9)]
        for q in range(6)
    ]
    np.testing.assert_array_equal(out, expected)
    first = rng.integers(-1, 9, size=6).astype(np.int64)  # hints change nothing
    index, distance = dtw.nearest_neighbours(train, train_len, query, query_len, 2, first)
    np.testing.assert_array_equal(index, np.argmin(out, axis=1))
    np.testing.assert_array_equal(distance, np.min(out, axis=1))


def test_leave_one_out_search_never_picks_the_query_itself(rng):
    x, lengths = padded_set(rng, 10, 12, 1)
    out = np.empty((10, 10))
    dtw.pairwise(x, lengths, x, lengths, 3, out)
    np.fill_diagonal(out, np.inf)
    first = np.arange(10, dtype=np.int64)  # a hint pointing at the query itself is skipped
    index, _ = dtw.nearest_neighbours(x, lengths, x, lengths, 3, first, leave_one_out=True)
    np.testing.assert_array_equal(index, np.argmin(out, axis=1))


def test_ties_go_to_the_smaller_training_index():
    x = np.zeros((4, 5, 1))
    x[1] = x[3] = 1.0  # series 1 and 3 are equally near the query
    lengths = np.full(4, 5, dtype=np.int64)
    query = np.full((1, 5, 1), 0.9)
    index, _ = dtw.nearest_neighbours(x, lengths, query, np.array([5]), 1, np.array([3]))
    assert index[0] == 1


def test_lb_keogh_is_a_lower_bound_and_the_envelopes_are_band_extremes(rng):
    x, lengths = padded_set(rng, 6, 20, 2)
    upper, lower = np.empty_like(x), np.empty_like(x)
    for r in (0, 1, 4):
        dtw.envelopes(x, lengths, r, upper, lower)
        for k in range(6):
            m = lengths[k]
            for i in range(m):
                window = x[k, max(0, i - r) : min(m, i + r + 1)]
                np.testing.assert_array_equal(upper[k, i], window.max(axis=0))
                np.testing.assert_array_equal(lower[k, i], window.min(axis=0))
        for k in range(6):
            a = rng.standard_normal((lengths[k], 2))
            bound = dtw._lb_keogh(a, lengths[k], upper[k], lower[k], np.inf)
            assert 0.0 <= bound <= reference_dtw(a, x[k, : lengths[k]], r) * (1 + 1e-12)


def test_nearest_on_equal_lengths_prunes_by_lb_keogh_without_changing_the_answer(rng):
    train = np.ascontiguousarray(np.cumsum(rng.standard_normal((40, 30, 1)), axis=1))
    query = np.ascontiguousarray(train[:15] + 0.3 * rng.standard_normal((15, 30, 1)))
    lengths = np.full(40, 30, dtype=np.int64)
    out = np.empty((15, 40))
    dtw.pairwise(train, lengths, query, lengths[:15], 3, out)
    index, distance = dtw.nearest_neighbours(train, lengths, query, lengths[:15], 3)
    np.testing.assert_array_equal(index, np.argmin(out, axis=1))
    np.testing.assert_array_equal(distance, np.min(out, axis=1))


@pytest.mark.parametrize(
    ("fraction", "length", "steps"),
    [(0.0, 300, 0), (0.07, 100, 7), (0.1, 150, 15), (0.29, 100, 29), (0.05, 30, 1), (1.0, 17, 17)],
)
def test_window_fraction_becomes_floored_steps(fraction, length, steps):
    assert dtw.window_steps(fraction, length) == steps
