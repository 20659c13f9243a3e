"""Time-series preparation: missing values, split, scaling, windows, naive forecasts, errors."""

import numpy as np
import pytest

from rnnkit.data import timeseries as ts
from rnnkit.errors import DataError


def test_inner_gaps_are_interpolated_and_edge_gaps_take_the_nearest_value():
    values = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, 3.0], [4.0, np.nan], [np.nan, 5.0]])
    filled, counts = ts.fill_missing(values)
    np.testing.assert_array_equal(filled[:, 0], [2, 2, 3, 4, 4])
    np.testing.assert_array_equal(filled[:, 1], [1, 2, 3, 4, 5])
    assert counts.tolist() == [3, 2]


def test_a_channel_with_no_values_is_an_error():
    with pytest.raises(DataError, match="channel 1 has no values"):
        ts.fill_missing(np.array([[1.0, np.nan], [2.0, np.nan]]))


def test_a_series_without_gaps_is_unchanged():
    values = np.arange(6.0).reshape(3, 2)
    filled, counts = ts.fill_missing(values)
    np.testing.assert_array_equal(filled, values)
    assert counts.tolist() == [0, 0]


@pytest.mark.parametrize(
    "n, test_size, lookback, horizon, message",
    [
        (100, 5, 10, 6, "must cover the horizon"),
        (20, 10, 8, 3, "series too short"),
    ],
)
def test_a_split_without_room_for_windows_is_refused(n, test_size, lookback, horizon, message):
    with pytest.raises(DataError, match=message):
        ts.split_point(n, test_size, lookback, horizon)


def test_the_scaler_is_fitted_on_what_it_is_given_and_inverts_exactly(rng):
    train = rng.normal(5.0, 2.0, (200, 2))
    scaler = ts.Scaler.fit(train)
    z = scaler.transform(train)
    np.testing.assert_allclose(z.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1, atol=1e-12)
    other = rng.normal(size=(7, 2))
    np.testing.assert_allclose(scaler.inverse(scaler.transform(other)), other, rtol=1e-12)


def test_a_constant_series_scales_to_zeros_not_nan():
    scaler = ts.Scaler.fit(np.full((10, 1), 3.0))
    z = scaler.transform(np.full((4, 1), 3.0))
    assert np.isfinite(z).all() and (z == 0).all()


def test_windows_pair_each_lookback_with_the_following_horizon():
    series = np.arange(10.0)
    x, y = ts.make_windows(series, lookback=3, horizon=2)
    assert x.shape == (6, 3, 1) and y.shape == (6, 2, 1)
    np.testing.assert_array_equal(x[0, :, 0], [0, 1, 2])
    np.testing.assert_array_equal(y[0, :, 0], [3, 4])
    np.testing.assert_array_equal(y[-1, :, 0], [8, 9])


def test_relative_windows_are_measured_from_their_last_value():
    x, y = ts.make_windows(np.arange(10.0) * 2 + 100, lookback=3, horizon=2, relative=True)
    np.testing.assert_array_equal(x[4, :, 0], [-4, -2, 0])
    np.testing.assert_array_equal(y[4, :, 0], [2, 4])


def test_a_series_shorter_than_one_window_is_refused():
    with pytest.raises(DataError, match="too short"):
        ts.make_windows(np.arange(4.0), lookback=3, horizon=2)


def test_origins_see_only_the_history_before_them():
    series = np.arange(20.0)
    origins = ts.rolling_origins(n_train=15, n=20, horizon=3, stride=1)
    assert origins.tolist() == [15, 16, 17]
    x, y = ts.origin_windows(series, origins, lookback=4, horizon=3)
    np.testing.assert_array_equal(x[0, :, 0], [11, 12, 13, 14])
    np.testing.assert_array_equal(y[2, :, 0], [17, 18, 19])


@pytest.mark.parametrize("season, expected", [(1, [9, 9, 9, 9, 9]), (3, [7, 8, 9, 7, 8])])
def test_seasonal_naive_repeats_the_last_observed_cycle(season, expected):
    history = np.arange(10.0)[None, :, None]
    forecast = ts.seasonal_naive(history, horizon=5, season=season)
    np.testing.assert_array_equal(forecast[0, :, 0], expected)


def test_mase_is_one_for_the_in_sample_naive_forecast_error():
    train = np.array([0.0, 2, 1, 3, 2])[:, None]  # mean |Δ| = 1.5
    scale = ts.naive_scale(train, season=1)
    truth = np.array([[[4.0], [5.0]]])
    result = ts.errors(truth + np.array([[[1.5], [-1.5]]]), truth, scale)
    assert result == pytest.approx({"mae": 1.5, "rmse": 1.5, "mase": 1.0})


def test_a_constant_training_part_gives_no_mase_rather_than_infinity():
    scale = ts.naive_scale(np.full((8, 1), 2.0), season=1)
    result = ts.errors(np.ones((1, 2, 1)), np.zeros((1, 2, 1)), scale)
    assert np.isnan(result["mase"]) and result["mae"] == 1.0


# ----------------------------------------------------------------------------- gaps and the split


def test_the_training_part_is_filled_from_its_own_values_and_the_tail_carries_forward():
    values = np.array([1.0, np.nan, 3.0, np.nan, 9.0, np.nan, np.nan, 6.0, np.nan])
    filled = ts.fill_causally(values, n_train=4)  # the training part ends in a gap
    np.testing.assert_array_equal(filled[:, 0], [1, 2, 3, 3, 9, 9, 9, 6, 6])


def test_a_gap_straddling_the_split_is_filled_without_any_held_out_value(rng):
    values = rng.standard_normal((30, 2))
    values[17:24, 0] = np.nan  # steps 17…23: the split is at 20
    values[19:21, 1] = np.nan
    changed = values.copy()
    changed[20:] = rng.standard_normal((10, 2))  # every held-out value differs
    changed[17:24, 0] = changed[19:21, 1] = np.nan
    a, b = ts.fill_causally(values, 20), ts.fill_causally(changed, 20)
    np.testing.assert_array_equal(a[:20], b[:20])
    np.testing.assert_array_equal(a[17:20, 0], [values[16, 0]] * 3)  # the last training value
    np.testing.assert_array_equal(a[20:24, 0], [values[16, 0]] * 4)  # carried on, not looked up


def test_a_channel_with_no_training_value_is_an_error():
    values = np.array([[1.0, np.nan], [2.0, np.nan], [3.0, 4.0]])
    with pytest.raises(DataError, match=r"training part \(2 steps\): channel 1 has no values"):
        ts.fill_causally(values, n_train=2)


def test_mase_scale_uses_only_pairs_of_observed_training_values():
    train = np.array([0.0, 2, np.nan, 3, 2])[:, None]  # observed pairs: |2 − 0|, |2 − 3|
    np.testing.assert_array_equal(ts.naive_scale(train, season=1), [1.5])


def test_errors_skip_points_whose_truth_is_missing():
    truth = np.array([[[1.0], [np.nan], [3.0]], [[np.nan], [5.0], [6.0]]])
    forecast = np.where(np.isnan(truth), 1e6, truth + np.array([1.0, -1.0, 1.0])[:, None])
    result = ts.errors(forecast, truth, np.array([2.0]))
    assert result == pytest.approx({"mae": 1.0, "rmse": 1.0, "mase": 0.5})


def test_errors_with_no_observed_truth_are_a_data_error():
    with pytest.raises(DataError, match="no observed value"):
        ts.errors(np.zeros((1, 2, 1)), np.full((1, 2, 1), np.nan), np.array([1.0]))


@pytest.mark.parametrize("scaling", ts.SCALINGS)
def test_every_scaling_mode_returns_the_targets_it_was_given(scaling):
    rng = np.random.default_rng(0)
    window, future = 1 + rng.random((3, 5, 2)), 1 + rng.random((3, 4, 2))
    targets = ts.window_targets(window, future, scaling)
    np.testing.assert_allclose(ts.from_targets(window, targets, scaling), future, rtol=1e-12)
    assert ts.window_features(window, scaling).shape == window.shape


def test_log_scaling_refuses_a_series_that_is_not_positive():
    with pytest.raises(DataError, match="strictly positive"):
        ts.window_features(np.array([[[1.0], [0.0]]]), "log")


@pytest.mark.parametrize(
    "dates, frequency, after",
    [
        (
            ["2020-01", "2020-02", "2020-03"],
            {"unit": "monthly", "within": 0},
            ["2020-04", "2020-05"],
        ),
        (
            ["2020-01-31", "2020-02-29"],
            {"unit": "monthly", "within": "end"},
            ["2020-03-31", "2020-04-30"],
        ),
        (
            ["2019-11-15", "2020-02-15"],
            {"unit": "quarterly", "within": 14 * 86400},
            ["2020-05-15", "2020-08-15"],
        ),
        (
            ["1958-03-29", "1958-04-05"],
            {"unit": "fixed", "seconds": 7 * 86400},
            ["1958-04-12", "1958-04-19"],
        ),
        (
            ["2020-12-30", "2020-12-31"],
            {"unit": "fixed", "seconds": 86400},
            ["2021-01-01", "2021-01-02"],
        ),
    ],
)
def test_the_frequency_of_dates_and_the_dates_after_them(dates, frequency, after):
    d = ts.parse_dates(dates, "date")
    assert ts.infer_frequency(d) == frequency
    assert ts.format_dates(ts.next_dates(d[-1], frequency, 2), d) == after


def test_years_are_dates_only_in_a_column_named_for_them():
    years = ts.parse_dates(["1700", "1701"], "YEAR")
    assert ts.infer_frequency(years) == {"unit": "yearly", "within": 0}
    assert ts.format_dates(ts.next_dates(years[-1], ts.infer_frequency(years), 1), years) == [
        "1702"
    ]
    assert ts.parse_dates(["1700", "1701"], "count") is None
    assert ts.parse_dates(["2020-01-01", ""], "date") is None


def test_irregular_dates_are_a_data_error():
    with pytest.raises(DataError, match="irregularly"):
        ts.infer_frequency(ts.parse_dates(["2020-01-01", "2020-03-05", "2020-03-09"], "date"))
