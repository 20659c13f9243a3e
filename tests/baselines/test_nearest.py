"""1-NN classification: the learned DTW window, unequal lengths, and refusals of bad input."""

import time

import numpy as np
import pytest

from rnnkit.baselines import dtw
from rnnkit.baselines.nearest import WINDOW_GRID, NearestNeighbour
from rnnkit.errors import ConfigError, DataError, RnnkitError, ShapeError


def shifted_bumps(rng, n: int, T: int = 100, shift: int = 30):
    """Class 0: a peak, then a trough 8 steps later; class 1: the trough first; both shifted
    by up to ±shift steps — the same energy, told apart only by order."""
    t = np.arange(T)
    y = rng.integers(0, 2, size=n)
    x = np.empty((n, T, 1))

    def bump(centre):
        return np.exp(-0.5 * ((t - centre) / 2.5) ** 2)

    for k in range(n):
        c = T / 2 + rng.integers(-shift, shift + 1)
        s = (bump(c - 4) - bump(c + 4)) * (1 if y[k] == 0 else -1)
        x[k, :, 0] = s + 0.05 * rng.standard_normal(T)
    return x, y


def test_learned_dtw_beats_euclidean_on_shifted_shapes():
    rng = np.random.default_rng(0)
    x, y = shifted_bumps(rng, 30)  # too few to hold every shift: Euclidean 1-NN errs
    xt, yt = shifted_bumps(rng, 100)
    euclid = NearestNeighbour("euclidean").fit(x, y).score(xt, yt)
    model = NearestNeighbour("dtw").fit(x, y)
    learned = model.score(xt, yt)
    assert model.window_steps_ > 0
    assert learned >= 0.95 and learned > euclid + 0.1, (learned, euclid)  # 1.0 and 0.76


def test_window_search_reports_the_leave_one_out_accuracy_of_each_window():
    rng = np.random.default_rng(1)
    x, y = shifted_bumps(rng, 30, T=40, shift=10)
    lengths = np.full(30, 40, dtype=np.int64)
    model = NearestNeighbour("dtw").fit(x, y)
    steps = sorted({dtw.window_steps(w, 40) for w in WINDOW_GRID})
    assert [s.steps for s in model.window_search_] == steps
    accuracy = {}
    for r in steps:  # brute force: every distance, diagonal excluded
        out = np.empty((30, 30))
        dtw.pairwise(x, lengths, x, lengths, r, out)
        np.fill_diagonal(out, np.inf)
        accuracy[r] = float(np.mean(y[np.argmin(out, axis=1)] == y))
    assert [s.accuracy for s in model.window_search_] == [accuracy[r] for r in steps]
    best = max(accuracy.values())
    assert model.window_steps_ == min(r for r in steps if accuracy[r] == best)
    assert model.window_ == model.window_steps_ / 40
    assert model.describe().startswith("1-NN DTW (window ") and "learned" in model.describe()


def test_a_tie_in_the_window_search_goes_to_the_narrowest_window():
    rng = np.random.default_rng(2)
    y = np.repeat([0, 1], 10)
    x = (5.0 * y)[:, None, None] + 0.1 * rng.standard_normal((20, 50, 1))  # separable at r=0
    model = NearestNeighbour("dtw").fit(x, y)
    assert all(s.accuracy == 1.0 for s in model.window_search_)
    assert model.window_steps_ == 0


def test_dtw_classifies_series_of_unequal_lengths_and_keeps_label_values(rng):
    lengths = rng.integers(30, 51, size=12).astype(np.int64)
    labels = np.array(["rise", "fall"] * 6)
    x = np.zeros((12, 50, 1))
    for k, (n, label) in enumerate(zip(lengths, labels)):
        u = np.linspace(0, 1, n)
        x[k, :n, 0] = (u if label == "rise" else 1 - u) + 0.02 * rng.standard_normal(n)
    model = NearestNeighbour("dtw", window=0.1).fit(x[:8], labels[:8], lengths[:8])
    assert model.window_steps_ == int(0.1 * lengths[:8].max())
    np.testing.assert_array_equal(model.predict(x[8:], lengths[8:]), labels[8:])
    with pytest.raises(ShapeError, match="one length"):
        NearestNeighbour("euclidean").fit(x[:8], labels[:8], lengths[:8])
    equal = NearestNeighbour("euclidean").fit(x[:8, :30], labels[:8])
    with pytest.raises(ShapeError, match="one length"):
        equal.predict(x[8:], lengths[8:])
    assert 0.0 <= NearestNeighbour("euclidean").fit(x[:, :30], labels).score(x[:, :30], labels)


def test_euclidean_neighbour_is_the_nearest_by_the_sum_of_squares(rng):
    x, xt = rng.standard_normal((15, 20, 2)), rng.standard_normal((7, 20, 2))
    index, distance = NearestNeighbour("euclidean").fit(x, np.arange(15)).neighbours(xt)
    squares = ((xt[:, None] - x[None]) ** 2).sum(axis=(2, 3))  # [M, N]
    np.testing.assert_array_equal(index, np.argmin(squares, axis=1))
    np.testing.assert_allclose(distance, np.min(squares, axis=1), rtol=1e-13)


def test_two_dimensional_input_is_one_channel(rng):
    x = rng.standard_normal((6, 25))
    a = NearestNeighbour("dtw", window_steps=2).fit(x, np.arange(6)).predict(x + 0.01)
    b = (
        NearestNeighbour("dtw", window_steps=2)
        .fit(x[..., None], np.arange(6))
        .predict(x[..., None] + 0.01)
    )
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, np.arange(6))


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: NearestNeighbour("cosine"), ConfigError, "metric"),
        (lambda: NearestNeighbour("dtw", window=0.1, window_steps=3), ConfigError, "not both"),
        (lambda: NearestNeighbour("dtw", window=1.5), ConfigError, r"\[0, 1\]"),
        (lambda: NearestNeighbour("dtw", window_steps=-1), ConfigError, ">= 0"),
        (lambda: NearestNeighbour("euclidean", window=0.1), ConfigError, "no window"),
    ],
)
def test_bad_options_are_config_errors(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_bad_input_is_refused_with_one_line_naming_the_shape(rng):
    x, y = rng.standard_normal((5, 10, 2)), np.arange(5)
    cases = [
        (lambda: NearestNeighbour().fit(x[None], y), ShapeError, r"\(1, 5, 10, 2\)"),
        (lambda: NearestNeighbour().fit(x, y[:4]), ShapeError, r"\(4,\)"),
        (lambda: NearestNeighbour().fit(x, y, np.full(5, 11)), ShapeError, "T = 10"),
        (lambda: NearestNeighbour().fit(x, y, np.full(5, 2.5)), ShapeError, "whole numbers"),
        (
            lambda: NearestNeighbour(window_steps=1).fit(x, y).predict(x[..., :1]),
            ShapeError,
            "1 channels",
        ),
        (lambda: NearestNeighbour().fit(np.where(x > 2, np.nan, x), y), DataError, "NaN"),
        (lambda: NearestNeighbour().fit(x[:1], y[:1]), DataError, "two training series"),
        (lambda: NearestNeighbour().predict(x), ConfigError, "fit"),
    ]
    for call, error, words in cases:
        with pytest.raises(error, match=words) as caught:
            call()
        assert isinstance(caught.value, RnnkitError) and "\n" not in str(caught.value)


def test_nan_in_the_padding_is_ignored(rng):
    x = rng.standard_normal((4, 10, 1))
    x[:, 8:] = np.nan
    model = NearestNeighbour(window_steps=1).fit(x, np.arange(4), np.full(4, 8))
    np.testing.assert_array_equal(model.predict(x, np.full(4, 8)), np.arange(4))


@pytest.mark.slow
def test_five_hundred_by_five_hundred_series_of_three_hundred_steps_take_under_a_minute():
    rng = np.random.default_rng(0)
    x, y = shifted_bumps(rng, 500, T=300, shift=30)
    xt, _ = shifted_bumps(rng, 500, T=300, shift=30)
    model = NearestNeighbour("dtw", window=0.1).fit(x, y)
    start = time.perf_counter()
    model.predict(xt)
    assert time.perf_counter() - start < 60.0


def test_docstring_example_runs():
    import doctest

    from rnnkit.baselines import nearest

    assert doctest.testmod(nearest).failed == 0
