"""Season detection from the autocorrelation: found where there is one, rarely where there is
none."""

import doctest

import numpy as np
import pytest

from rnnkit.baselines import seasonality
from rnnkit.baselines.seasonality import autocorrelation, detect_season
from rnnkit.errors import ConfigError, DataError, ShapeError


def sine_with_trend(rng, N=144, period=12, noise=0.3):
    t = np.arange(N)
    return 10.0 + 0.05 * t + np.sin(2 * np.pi * t / period) + noise * rng.standard_normal(N)


def test_a_sine_of_period_twelve_with_trend_and_noise_gives_twelve():
    rng = np.random.default_rng(0)
    found = [detect_season(sine_with_trend(rng)) for _ in range(40)]
    assert sum(f.season == 12 for f in found) >= 38
    assert all(f.acf > f.bound for f in found if f.season == 12)
    assert found[0].describe() == f"season 12 detected (ACF {found[0].acf:.2f})"


def test_a_ten_step_cycle_gives_ten_not_a_multiple():
    rng = np.random.default_rng(1)
    t = np.arange(400)
    square = np.where(t % 10 < 5, 1.0, -1.0)  # also peaks at 20, 30, …
    found = [detect_season(square + 0.5 * rng.standard_normal(400)).season for _ in range(20)]
    assert found.count(10) == 20


@pytest.mark.parametrize("kind", ["white noise", "random walk", "AR(1) 0.7"])
def test_series_without_a_season_rarely_get_one(kind):
    rng = np.random.default_rng(2)
    e = rng.standard_normal((100, 200))
    if kind == "random walk":
        e = np.cumsum(e, axis=1)
    elif kind == "AR(1) 0.7":
        for t in range(1, 200):
            e[:, t] += 0.7 * e[:, t - 1]
    found = [detect_season(s) for s in e]
    assert sum(f.season > 1 for f in found) <= 10  # α = 5 %: about 1–3 in 100 measured
    assert found[0].describe() == "no season detected" or found[0].season > 1


def test_the_per_lag_bound_alone_would_see_seasons_in_white_noise():
    # What the Bonferroni bound is for: at ±1.96/√n per lag, noise shows peaks most times.
    rng = np.random.default_rng(3)
    spurious = 0
    for _ in range(50):
        d = rng.standard_normal(300)
        r = autocorrelation(d, 101)
        k = np.arange(2, 101)
        spurious += np.any((r[k] > r[k - 1]) & (r[k] >= r[k + 1]) & (r[k] > 1.96 / np.sqrt(300)))
    assert spurious > 25
    assert sum(detect_season(rng.standard_normal(300)).season > 1 for _ in range(50)) <= 5


def test_the_random_walk_is_differenced_and_a_stationary_cycle_is_not():
    rng = np.random.default_rng(4)
    assert detect_season(np.cumsum(rng.standard_normal(300))).detrend == "difference"
    assert detect_season(sine_with_trend(rng)).detrend == "linear"
    assert detect_season(sine_with_trend(rng), detrend="difference").detrend == "difference"


def test_autocorrelation_matches_the_definition(rng):
    d = rng.standard_normal(37)
    c = d - d.mean()
    expected = [np.sum(c[: 37 - k] * c[k:]) / np.sum(c * c) for k in range(12)]
    np.testing.assert_allclose(autocorrelation(d, 11), expected, rtol=1e-12, atol=1e-14)
    assert autocorrelation(np.full(10, 3.0), 3) is None


def test_short_or_constant_series_have_no_season():
    assert detect_season(np.arange(5.0)).season == 1
    assert detect_season(np.full(50, 2.0)).season == 1
    assert detect_season(np.arange(50.0)).season == 1  # a line, differenced: constant


def test_only_the_given_part_is_read():
    rng = np.random.default_rng(5)
    s = sine_with_trend(rng, N=200)
    changed = s.copy()
    changed[150:] = rng.standard_normal(50)
    assert detect_season(s[:150]) == detect_season(changed[:150])


def test_one_column_is_accepted_and_bad_input_refused(rng):
    s = sine_with_trend(rng)
    assert detect_season(s[:, None]) == detect_season(s)
    for call, error, words in [
        (lambda: detect_season(np.zeros((10, 2))), ShapeError, r"\(10, 2\)"),
        (lambda: detect_season(np.r_[s, np.nan]), DataError, "NaN"),
        (lambda: detect_season(s, detrend="loess"), ConfigError, "detrend"),
        (lambda: detect_season(s, alpha=0.0), ConfigError, "alpha"),
    ]:
        with pytest.raises(error, match=words):
            call()


def test_docstring_example_runs():
    assert doctest.testmod(seasonality).failed == 0
