"""ETS and SARIMA chosen by AICc on the training part; rolling forecasts from its parameters."""

import numpy as np
import pytest

from rnnkit.baselines import statistical as st
from rnnkit.data import timeseries as ts
from rnnkit.errors import ConfigError, DataError, RnnkitError, ShapeError

N, N_TRAIN, H, M = 144, 120, 12, 12


def multiplicative_seasonal(seed: int = 0) -> np.ndarray:
    """144 months: a rising level times (1 + 0.3 sin), with multiplicative noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(N)
    return (100 + t) * (1 + 0.3 * np.sin(2 * np.pi * t / M)) * np.exp(0.03 * rng.normal(size=N))


@pytest.fixture(scope="module")
def series():
    return multiplicative_seasonal()


@pytest.fixture(scope="module")
def origins():
    return ts.rolling_origins(N_TRAIN, N, H, stride=4)


@pytest.fixture(scope="module")
def ets(series, origins):
    return st.rolling_forecasts(series, N_TRAIN, origins, H, method="ets", season=M)


@pytest.fixture(scope="module")
def sarima(series, origins):
    return st.rolling_forecasts(series, N_TRAIN, origins, H, method="sarima", season=M)


def mase(series, origins, forecasts):
    _, truth = ts.origin_windows(series[:, None], origins, M, H)
    return ts.errors(forecasts, truth, ts.naive_scale(series[:N_TRAIN, None], M))["mase"]


def test_ets_finds_the_multiplicative_season_and_beats_seasonal_naive(series, origins, ets):
    model = ets.models[0]
    assert model.options["seasonal"] == "mul" and model.options["seasonal_periods"] == M
    assert ets.name == model.name and ets.name.endswith(",M) m=12")
    assert len(model.candidates) == 15 and model.failed == 0
    assert model.aicc == min(c.aicc for c in model.candidates)
    naive = st.rolling_forecasts(series, N_TRAIN, origins, H, method="seasonal_naive", season=M)
    assert naive.name == "seasonal naive m=12"
    assert mase(series, origins, ets.forecasts) < 0.8 * mase(series, origins, naive.forecasts)


def test_sarima_is_seasonal_and_beats_seasonal_naive(series, origins, sarima):
    model = sarima.models[0]
    assert model.options["seasonal_order"][3] == M and model.name.startswith("SARIMA(")
    assert model.options["seasonal_order"][1] == 1  # strong seasonality: D = 1
    assert model.aicc == min(c.aicc for c in model.candidates if not c.error)
    naive = st.seasonal_naive_forecasts(series[:, None], origins, H, M)
    assert mase(series, origins, sarima.forecasts) < 0.9 * mase(series, origins, naive)


def test_a_random_walk_gets_no_season():
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(size=150))
    model = st.select_ets(walk, season=12)
    assert model.options["seasonal"] is None and model.name.startswith("ETS(A,")
    assert len(model.candidates) == 6  # not positive: additive error and season only
    assert st.differences(walk, 12)[1] == 0  # and SARIMA takes no seasonal difference


@pytest.mark.parametrize("method", ["ets", "sarima"])
def test_forecasts_use_the_training_part_only(method):
    rng = np.random.default_rng(4)
    t = np.arange(64)  # quarterly, to keep the fits quick
    series = (20 + 0.2 * t) * (1 + 0.2 * np.sin(np.pi * t / 2)) + 0.3 * rng.normal(size=64)
    origins = np.arange(48, 61)
    before = st.rolling_forecasts(series, 48, origins, 4, method=method, season=4)
    changed = series.copy()
    changed[53] *= 1.5  # a held-out value
    after = st.rolling_forecasts(changed, 48, origins, 4, method=method, season=4)
    np.testing.assert_array_equal(after.models[0].params, before.models[0].params)
    assert after.name == before.name
    early = origins <= 53  # origins that have not seen the changed value
    np.testing.assert_array_equal(after.forecasts[early], before.forecasts[early])
    assert not np.allclose(after.forecasts[~early], before.forecasts[~early])


@pytest.mark.parametrize("method", ["ets", "sarima"])
def test_a_rolling_forecast_is_the_model_run_on_the_history_before_its_origin(
    method, series, request
):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    model, o = request.getfixturevalue(method).models[0], N_TRAIN + 7
    rolled = model.forecasts(series, np.array([o]), H)[0]
    if method == "ets":
        fresh = ETSModel(series[:o], **model.options).smooth(model.params).forecast(H)
    else:  # the full state space (no simple differencing): forecasts in the series' units
        options = dict(model.options, simple_differencing=False)
        fresh = SARIMAX(series[:o], **options).filter(model.params).forecast(H)
    np.testing.assert_allclose(rolled, fresh, rtol=1e-9)
    assert np.max(np.abs(rolled / series[o : o + H] - 1)) < 0.2  # in units, not differences


def test_ets_forms_are_the_admissible_set():
    assert len(st.ets_forms(12, 120, positive=True)) == 15  # 6 with error A, 9 with error M
    assert len(st.ets_forms(12, 120, positive=False)) == 6
    assert len(st.ets_forms(12, 23, positive=True)) == 6  # under two seasons: no season
    assert len(st.ets_forms(1, 120, positive=True)) == 6
    assert all(
        not (f["error"] == "add" and f["seasonal"] == "mul")
        for f in st.ets_forms(12, 120, positive=True)
    )


@pytest.mark.parametrize(
    ("options", "name"),
    [
        (
            {
                "error": "mul",
                "trend": "add",
                "damped_trend": True,
                "seasonal": "mul",
                "seasonal_periods": 12,
            },
            "ETS(M,Ad,M) m=12",
        ),
        (
            {
                "error": "add",
                "trend": None,
                "damped_trend": False,
                "seasonal": None,
                "seasonal_periods": None,
            },
            "ETS(A,N,N)",
        ),
    ],
)
def test_ets_names(options, name):
    assert st.ets_name(options) == name


def test_sarima_names():
    assert st.sarima_name((1, 1, 1), (0, 1, 1, 12)) == "SARIMA(1,1,1)(0,1,1)12"
    assert st.sarima_name((2, 1, 0), (0, 0, 0, 0)) == "ARIMA(2,1,0)"


def test_stepwise_search_fits_fewer_models_than_the_grid(sarima):
    stepwise = sarima.models[0]
    assert 4 <= len(stepwise.candidates) < 36
    assert len({c.name for c in stepwise.candidates}) == len(stepwise.candidates)
    assert all(np.isfinite(c.aicc) or c.error for c in stepwise.candidates)


def test_failed_candidates_are_counted_and_all_failing_is_one_clear_error(monkeypatch):
    from statsmodels.tsa.exponential_smoothing import ets

    original = ets.ETSModel.fit

    def fail_damped(self, *args, **kwargs):
        if self.damped_trend:
            raise np.linalg.LinAlgError("singular matrix")
        return original(self, *args, **kwargs)

    walk = 50 + np.cumsum(np.random.default_rng(2).normal(size=60))
    monkeypatch.setattr(ets.ETSModel, "fit", fail_damped)
    model = st.select_ets(walk)
    assert model.failed == 2 and "Ad" not in model.name
    assert [c.error for c in model.candidates if c.error] == ["LinAlgError: singular matrix"] * 2

    def always(self, *args, **kwargs):
        raise ValueError("no\nconvergence")

    monkeypatch.setattr(ets.ETSModel, "fit", always)
    with pytest.raises(st.ModelFitError) as caught:
        st.select_ets(walk)
    assert isinstance(caught.value, RnnkitError) and "\n" not in str(caught.value)
    assert "none of the 6 candidate models" in str(caught.value)

    def bug(self, *args, **kwargs):
        raise TypeError("a bug, not a failed fit")

    monkeypatch.setattr(ets.ETSModel, "fit", bug)
    with pytest.raises(TypeError):  # not swallowed
        st.select_ets(walk)


def test_bad_input_is_refused_with_one_line(series, origins):
    cases = [
        (lambda: st.select_ets(np.zeros((50, 2))), ShapeError, r"\(50, 2\)"),
        (lambda: st.select_sarima(np.r_[series, np.nan], 12), DataError, "NaN"),
        (lambda: st.select_ets(series[:3]), DataError, "at least 4"),
        (lambda: st.select_sarima(series, 12, search="random"), ConfigError, "search"),
        (
            lambda: st.rolling_forecasts(series, N_TRAIN, origins, H, method="theta"),
            ConfigError,
            "method",
        ),
        (
            lambda: st.rolling_forecasts(series, N_TRAIN, np.array([N - 5]), H, method="ets"),
            DataError,
            "origins must lie",
        ),
        (
            lambda: st.rolling_forecasts(series, N_TRAIN, origins.astype(float), H, method="ets"),
            ShapeError,
            "whole numbers",
        ),
        (
            lambda: st.rolling_forecasts(series[:, None, None], N_TRAIN, origins, H, method="ets"),
            ShapeError,
            r"\(144, 1, 1\)",
        ),
    ]
    for call, error, words in cases:
        with pytest.raises(error, match=words) as caught:
            call()
        assert "\n" not in str(caught.value)


def test_every_channel_gets_its_own_model():
    rng = np.random.default_rng(3)
    two = np.column_stack([np.cumsum(0.5 + rng.normal(size=60)), rng.normal(size=60)])
    origins = ts.rolling_origins(50, 60, 4)
    result = st.rolling_forecasts(two, 50, origins, 4, method="sarima")
    assert result.forecasts.shape == (len(origins), 4, 2) and len(result.models) == 2
    assert [m.options["order"][1] for m in result.models] == [1, 0]  # KPSS: a drifting walk, noise
    assert result.name == "; ".join(dict.fromkeys(m.name for m in result.models))
