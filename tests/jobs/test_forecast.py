"""The forecasting job: forecasts from the right history, no leakage from the tail, the report."""

import json

import numpy as np
import pytest

from rnnkit.data.timeseries import Scaler
from rnnkit.errors import ConfigError, DataError
from rnnkit.jobs import Fit, Net
from rnnkit.jobs.forecast import (
    Series,
    Setup,
    forecast_with,
    load_series,
    run_forecast,
)

TINY_FIT = Fit(epochs=3, batch_size=16, lr=1e-2, patience=2)
TINY_NETS = [Net(cell="gru", hidden_size=4), Net(cell="ffnn", hidden_size=4)]


class _Echo:
    """A stand-in model whose one-step forecast is its newest (scaled) input."""

    def predict(self, x):
        return x[:, -1, :]


class _Flat:
    """A stand-in direct model that predicts 0 for every step (the window's level if relative)."""

    def __init__(self, outputs):
        self.outputs = outputs

    def predict(self, x):
        return np.zeros((len(x), self.outputs))


def _seasonal_series(n=120, season=8, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return np.sin(2 * np.pi * t / season)[:, None] + noise * rng.standard_normal((n, 1))


def test_a_recursive_forecast_feeds_each_step_back_as_input():
    history = np.array([[[1.0], [2.0], [5.0]]])
    scaler = Scaler(np.array([1.0]), np.array([2.0]))
    forecast = forecast_with(_Echo(), scaler, history, horizon=4, direct=False, relative=False)
    np.testing.assert_allclose(forecast[0, :, 0], [5, 5, 5, 5])  # the echo repeats the last value


@pytest.mark.parametrize("relative, expected", [(True, [7, 7, 7]), (False, [3, 3, 3])])
def test_relative_forecasts_are_offsets_from_the_last_observed_value(relative, expected):
    history = np.array([[[6.0], [7.0]]])
    scaler = Scaler(np.array([0.0 if relative else 3.0]), np.array([2.0]))
    forecast = forecast_with(_Flat(3), scaler, history, horizon=3, direct=True, relative=relative)
    np.testing.assert_allclose(forecast[0, :, 0], expected)


def test_the_report_scores_every_model_and_both_baselines():
    series = Series("sine", ["v"], _seasonal_series())
    setup = Setup(
        lookback=8, horizon=4, season=8, test_size=20, stat="arima", arima_order=(1, 0, 0)
    )
    report = run_forecast(series, setup, TINY_NETS, TINY_FIT, seed=1)
    names = [r["model"] for r in report["results"]]
    assert names == [
        "gru (recursive)",
        "gru (direct)",
        "ffnn (recursive)",
        "ffnn (direct)",
        "seasonal naive m=8",
        "ARIMA(1,0,0)",
    ]
    assert report["train_steps"] == 100 and report["origins"] == 17
    for row in report["results"]:
        assert np.isfinite([row["mae"], row["rmse"], row["mase"]]).all()
        assert row["rmse"] >= row["mae"]
    assert report["_arrays"]["gru (direct)"].shape == (17, 4, 1)


def test_seasonal_naive_is_exact_on_a_perfectly_periodic_series():
    series = Series("sine", ["v"], _seasonal_series(noise=0.0))
    setup = Setup(
        lookback=8, horizon=4, season=8, test_size=16, stat="none", strategies=("direct",)
    )
    report = run_forecast(series, setup, [Net(cell="ffnn", hidden_size=2)], Fit(epochs=1))
    naive = next(r for r in report["results"] if r["model"].startswith("seasonal naive"))
    assert naive["mae"] == pytest.approx(0.0, abs=1e-12)


def test_nothing_in_the_held_out_tail_reaches_training():
    values = _seasonal_series(n=80)
    changed = values.copy()
    changed[60:] += 100.0  # only the tail differs
    setup = Setup(
        lookback=6, horizon=3, season=8, test_size=20, stat="arima", arima_order=(1, 0, 0)
    )
    reports = [
        run_forecast(Series("s", ["v"], v), setup, TINY_NETS, TINY_FIT, seed=3)
        for v in (values, changed)
    ]
    for name in ("gru (recursive)", "ffnn (direct)", "ARIMA(1,0,0)"):
        first_origin = [r["_arrays"][name][0] for r in reports]  # sees only steps before 60
        np.testing.assert_allclose(first_origin[0], first_origin[1], rtol=1e-10, err_msg=name)


def test_the_same_seed_gives_the_same_report():
    series = Series("sine", ["v"], _seasonal_series(n=60))
    setup = Setup(lookback=6, horizon=2, season=8, test_size=10, stat="none")
    a, b = (run_forecast(series, setup, TINY_NETS[:1], TINY_FIT, seed=5) for _ in range(2))
    assert [r["mae"] for r in a["results"]] == [r["mae"] for r in b["results"]]


def test_a_multichannel_series_is_forecast_in_every_channel(tmp_path):
    path = tmp_path / "two.csv"
    values = np.hstack([_seasonal_series(n=60), 2 * _seasonal_series(n=60, seed=1)])
    path.write_text("a,b\n" + "\n".join(f"{u},{v}" for u, v in values), encoding="utf-8")
    series = load_series(csv=str(path))
    setup = Setup(lookback=6, horizon=2, season=8, test_size=10, stat="none")
    report = run_forecast(series, setup, TINY_NETS[:1], TINY_FIT)
    assert report["columns"] == ["a", "b"]
    assert report["_arrays"]["gru (recursive)"].shape == (9, 2, 2)


def test_missing_csv_values_are_kept_for_filling_after_the_split(tmp_path):
    path = tmp_path / "gaps.csv"
    path.write_text("when,v\n1,1.0\n2,\n3,3.0\n4,NA\n5,5\n", encoding="utf-8")
    series = load_series(csv=str(path), columns=["v"])
    assert series.missing == {"v": 2}
    np.testing.assert_array_equal(series.values[:, 0], [1, np.nan, 3, np.nan, 5])


def test_a_csv_column_with_no_value_is_a_data_error(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("a,b\n1,\n2,\n3,\n", encoding="utf-8")
    with pytest.raises(DataError, match="column b has no values at all"):
        load_series(csv=str(path))


def _csv(path, values):
    """A one-column CSV of ``values`` ([N]), a NaN written as NA."""
    rows = ["NA" if np.isnan(v) else repr(float(v)) for v in values]
    path.write_text("v\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_missing_held_out_values_are_skipped_in_every_score_and_counted(tmp_path):
    complete = _seasonal_series(n=60)[:, 0]
    gaps = [52, 53, 57]  # in the held-out tail: steps 50…59
    values = complete.copy()
    values[gaps] = np.nan
    series = load_series(csv=_csv(tmp_path / "gaps.csv", values))
    setup = Setup(
        lookback=6, horizon=3, season=8, test_size=10, stat="arima", arima_order=(1, 0, 0)
    )
    report = run_forecast(series, setup, TINY_NETS, TINY_FIT, seed=2)
    origins = report["_arrays"]["origins"]
    steps = origins[:, None] + np.arange(3)  # [O, h]: the step each forecast point is of
    scored = ~np.isin(steps, gaps)
    np.testing.assert_array_equal(np.isnan(report["_arrays"]["truth"][..., 0]), ~scored)
    scale = np.mean(np.abs(complete[8:50] - complete[:42]))  # training part, season 8
    for row in report["results"]:
        e = report["_arrays"][row["model"]][..., 0] - complete[steps]
        assert row["mae"] == pytest.approx(np.abs(e[scored]).mean(), rel=1e-12), row["model"]
        assert row["rmse"] == pytest.approx(np.sqrt(np.mean(e[scored] ** 2)), rel=1e-12)
        assert row["mase"] == pytest.approx(np.abs(e[scored]).mean() / scale, rel=1e-12)
    assert report["test_missing_skipped"] == 3 and report["missing_filled"] == {}


def test_a_gap_straddling_the_split_is_filled_without_held_out_values(tmp_path):
    values = _seasonal_series(n=80)[:, 0]
    values[56:64] = np.nan  # the split is at 60
    changed = values.copy()
    changed[64:] += 100.0  # every observed held-out value differs
    setup = Setup(
        lookback=6, horizon=3, season=8, test_size=20, stat="arima", arima_order=(1, 0, 0)
    )
    reports = [
        run_forecast(
            load_series(csv=_csv(tmp_path / f"{k}.csv", v)), setup, TINY_NETS, TINY_FIT, seed=3
        )
        for k, v in enumerate((values, changed))
    ]
    for name in ("gru (recursive)", "ffnn (direct)", "seasonal naive m=8"):
        first = [r["_arrays"][name][:5] for r in reports]  # origins 60…64: inputs before 64
        np.testing.assert_array_equal(first[0], first[1], err_msg=name)
    first = [r["_arrays"]["ARIMA(1,0,0)"][:5] for r in reports]
    np.testing.assert_allclose(first[0], first[1], rtol=1e-10, err_msg="ARIMA")
    assert [r["missing_filled"] for r in reports] == [{"v": 4}] * 2
    assert [r["test_missing_skipped"] for r in reports] == [4] * 2


def test_a_held_out_tail_with_nothing_observed_is_a_data_error(tmp_path):
    values = _seasonal_series(n=40)[:, 0]
    values[30:] = np.nan
    series = load_series(csv=_csv(tmp_path / "late.csv", values))
    with pytest.raises(DataError, match="no observed value to score"):
        run_forecast(
            series,
            Setup(lookback=6, horizon=3, test_size=10, stat="none"),
            TINY_NETS[:1],
            TINY_FIT,
        )


@pytest.mark.parametrize(
    "options",
    [
        dict(stat="prophet"),
        dict(strategies=("sideways",)),
        dict(horizon=0),
        dict(val_fraction=0.7),
    ],
)
def test_bad_setups_are_refused(options):
    with pytest.raises(ConfigError):
        Setup(**options)


def test_a_series_too_short_for_its_windows_is_a_data_error():
    series = Series("short", ["v"], np.arange(12.0)[:, None])
    with pytest.raises(DataError, match="too short"):
        run_forecast(series, Setup(lookback=8, horizon=2, test_size=4), TINY_NETS[:1], TINY_FIT)


@pytest.mark.parametrize("action", ["skip", "stop"])
def test_a_nan_update_is_skipped_and_counted_or_stops_the_job(monkeypatch, action):
    from rnnkit.training import TrainingDiverged, gradients

    real, calls = gradients.full_bptt, iter(range(1, 10**9))

    def poisoned(*args, **kwargs):  # the second update of the first network is NaN
        step = real(*args, **kwargs)
        return step._replace(loss=float("nan")) if next(calls) == 2 else step

    monkeypatch.setattr(gradients, "full_bptt", poisoned)
    series = Series("sine", ["v"], _seasonal_series(n=60))
    setup = Setup(lookback=6, horizon=2, season=8, test_size=10, stat="none")
    fit = Fit(epochs=2, batch_size=8, on_nonfinite=action)
    if action == "stop":
        with pytest.raises(TrainingDiverged, match="loss is nan at step 1"):
            run_forecast(series, setup, TINY_NETS[:1], fit)
        return
    rows = run_forecast(series, setup, TINY_NETS[:1], fit)["results"]
    assert [r["skipped"] for r in rows if "skipped" in r] == [1, 0]  # recursive, direct
    assert all(np.isfinite(r["mase"]) for r in rows)


# -- forecasting past the end from a saved run ------------------------------------------------


def _monthly_csv(path, n=60, start="2015-01", seed=0, header="month,sales"):
    from rnnkit.data.timeseries import trend_seasonal

    values = trend_seasonal(n, seed=seed)
    months = np.arange(np.datetime64(start), np.datetime64(start) + n)
    rows = [f"{m},{float(v)!r}" for m, v in zip(months, values)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path, values


def _tiny_run(tmp_path, csv, strategy="recursive", **more):
    from rnnkit.jobs.forecast import run_job

    given = dict(
        csv=str(csv),
        lookback=6,
        horizon=4,
        season=12,
        test_size=8,
        epochs=3,
        hidden_size=4,
        baseline=False,
        search=False,
        strategies=(strategy,),
        stat="none",
        **more,
    )
    out = tmp_path / "run"
    return out, run_job(given, out, handle_signals=False)


@pytest.mark.parametrize("strategy", ["recursive", "direct"])
def test_a_run_forecasts_past_the_end_of_a_monthly_csv_as_in_the_job(tmp_path, strategy):
    from rnnkit.jobs import predicting

    csv, values = _monthly_csv(tmp_path / "sales.csv")
    out, (series, _, report) = _tiny_run(tmp_path, csv, strategy)
    assert series.date_column == "month" and series.header == ["sales"]  # found by itself
    assert report["frequency"] == {"unit": "monthly", "within": 0}
    assert (out / "run.json").is_file() and report["predicts"] == f"gru-{strategy}"
    forecaster = predicting.load(out)
    table = forecaster.predict_file(csv)
    assert table.columns == ["date", "forecast", "lower", "upper"]
    assert [r[0] for r in table.rows] == ["2020-01", "2020-02", "2020-03", "2020-04"]
    for _, point, lower, upper in table.rows:
        assert lower <= point <= upper and lower < upper
    assert any("80 % interval from validation residuals" in n for n in table.notes)
    (future,) = json.loads((out / "result.json").read_text())["forecast"]  # rnnkit report's
    assert future["dates"][-4:] == [r[0] for r in table.rows]
    assert future["forecast"] == [r[1] for r in table.rows] and future["level"] == 0.8
    # the saved network forecasts as the job did in process, from the last test origin
    arrays = report["_arrays"]
    last = int(arrays["origins"][-1])
    again = forecaster.forecast(values[:last]).values
    np.testing.assert_allclose(again, arrays[f"gru ({strategy})"][-1], rtol=1e-6)
    np.testing.assert_allclose(
        [r[1] for r in table.rows], forecaster.forecast(values).values[:, 0]
    )


def test_a_csv_shorter_than_the_lookback_is_refused_in_one_line(tmp_path):
    from rnnkit.jobs import predicting

    csv, _ = _monthly_csv(tmp_path / "sales.csv")
    out, _ = _tiny_run(tmp_path, csv)
    short, _ = _monthly_csv(tmp_path / "short.csv", n=5)
    with pytest.raises(DataError, match=r"short.csv: 5 rows; .* give at least 6$"):
        predicting.load(out).predict_file(short)


def test_without_dates_the_forecast_rows_are_numbered_and_other_column_names_work(tmp_path):
    from rnnkit.jobs import predicting

    csv, values = _monthly_csv(tmp_path / "sales.csv")
    out, _ = _tiny_run(tmp_path, csv)
    plain = tmp_path / "plain.csv"
    plain.write_text("units\n" + "\n".join(repr(float(v)) for v in values[-10:]) + "\n")
    table = predicting.load(out).predict_file(plain)
    assert [r[0] for r in table.rows] == [1, 2, 3, 4] and table.columns[0] == "step"


def test_the_search_chooses_on_validation_and_reports_its_table(tmp_path):
    from rnnkit.jobs.forecast import Search

    csv, _ = _monthly_csv(tmp_path / "sales.csv", n=72)
    series = load_series(csv=str(csv))
    setup = Setup(lookback=6, horizon=4, season=12, test_size=12, stat="none")
    budget = Search(trials=3, minutes=0, pinned=("lookback",))
    report = run_forecast(series, setup, TINY_NETS[:1], TINY_FIT, search=budget, seed=4)
    trials = [r for r in report["validation"] if not r["model"].startswith("seasonal")]
    assert len(trials) == 3 and report["search"]["trials"] == 3
    assert {r["model"].split("-")[2] for r in trials} == {"relative", "level", "differenced"}
    assert all("-L6-" in r["model"] for r in trials)  # the given lookback is kept
    chosen = min(trials, key=lambda r: r["val_mase"])
    assert chosen["chosen"] and report["search"]["chose"] == chosen["model"]
    assert sorted(r["rank"] for r in report["validation"]) == [1, 2, 3, 4]
    again = run_forecast(series, setup, TINY_NETS[:1], TINY_FIT, search=budget, seed=4)
    assert [r["val_mase"] for r in again["validation"]] == [
        r["val_mase"] for r in report["validation"]
    ]


def test_a_network_behind_seasonal_naive_is_flagged():
    series = Series("sine", ["v"], _seasonal_series(noise=0.0))  # seasonal naive is exact
    setup = Setup(lookback=8, horizon=4, season=8, test_size=16, stat="none")
    report = run_forecast(series, setup, TINY_NETS[:1], Fit(epochs=1))
    assert report["not_learned"]["flag"] and "has not learned" in report["not_learned"]["message"]
    assert report["behind"]["flag"]
    best = [r for r in report["results"] if r["best"]]
    assert [r["model"] for r in best] == ["seasonal naive m=8"]


def test_the_statistical_baselines_get_the_season_detected_in_the_training_part(monkeypatch):
    from rnnkit.baselines import statistical as st
    from rnnkit.data.timeseries import trend_seasonal

    calls = []

    def fake(values, n_train, origins, horizon, *, method, season):
        calls.append((method, season, n_train))
        forecasts = np.zeros((len(origins), horizon, values.shape[1]))
        return st.Baseline(f"{method} m={season}", forecasts, [], 0.0)

    monkeypatch.setattr(st, "rolling_forecasts", fake)
    series = Series("airline-like", ["v"], trend_seasonal(96)[:, None])
    setup = Setup(lookback=12, horizon=6, test_size=12, stat="auto")  # no season given
    report = run_forecast(series, setup, [Net(cell="ffnn", hidden_size=2)], Fit(epochs=1))
    assert report["season"] == 12 and report["season_found"].startswith("season 12 detected")
    assert calls == [("ets", 12, 84), ("sarima", 12, 84)]
    assert [r["model"] for r in report["results"]][-2:] == ["ets m=12", "sarima m=12"]


@pytest.mark.slow
def test_the_statistical_baselines_are_seasonal_when_a_season_is_given():
    from rnnkit.data.timeseries import trend_seasonal

    series = Series("airline-like", ["v"], trend_seasonal(60)[:, None])
    setup = Setup(lookback=12, horizon=6, season=12, test_size=12, stat="auto")
    report = run_forecast(series, setup, [Net(cell="ffnn", hidden_size=2)], Fit(epochs=1))
    names = [r["model"] for r in report["results"]]
    assert any(n.startswith("ETS(") and n.endswith("m=12") for n in names), names
    assert any(n.startswith("SARIMA(") and n.endswith(")12") for n in names), names


def test_a_spent_minute_budget_skips_the_statistical_baselines_and_says_so():
    series = Series("sine", ["v"], _seasonal_series(n=60))
    setup = Setup(lookback=6, horizon=2, season=8, test_size=10, stat="ets")
    report = run_forecast(series, setup, TINY_NETS[:1], TINY_FIT, minutes=1e-6)
    assert report["budget"].startswith("budget 1e-06 min: the networks at most")
    assert any(
        n.startswith("ETS skipped: the 1e-06-minute budget was spent") for n in report["notes"]
    )
    assert not any(r["model"].startswith("ETS") for r in report["results"])


def test_on_a_short_series_the_search_keeps_to_lookbacks_and_strategies_that_fit():
    from rnnkit.data.timeseries import trend_seasonal
    from rnnkit.jobs.forecast import Search

    series = Series("short", ["v"], trend_seasonal(40, seed=3)[:, None])
    setup = Setup(horizon=12, season=1, stat="none")  # 28 training steps, 12 of validation
    report = run_forecast(series, setup, TINY_NETS[:1], TINY_FIT, search=Search(trials=2))
    trials = [r["model"] for r in report["validation"] if r["model"] != "naive"]
    assert trials == ["gru-recursive-relative-L8-H32", "gru-recursive-level-L8-H32"]


def test_a_multichannel_run_forecasts_every_channel_in_long_rows(tmp_path):
    from rnnkit.jobs import predicting

    path = tmp_path / "two.csv"
    values = np.hstack([_seasonal_series(n=60), 2 + _seasonal_series(n=60, seed=1)])
    days = np.arange(np.datetime64("2021-03-01"), np.datetime64("2021-03-01") + 60)
    rows = [f"{d},{u},{v}" for d, (u, v) in zip(days, values)]
    path.write_text("date,a,b\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out, (series, _, _) = _tiny_run(tmp_path, path, "direct")
    assert series.header == ["a", "b"] and series.date_column == "date"
    table = predicting.load(out).predict_file(path)
    assert table.columns == ["date", "column", "forecast", "lower", "upper"]
    assert [r[:2] for r in table.rows[:3]] == [
        ["2021-04-30", "a"],
        ["2021-04-30", "b"],
        ["2021-05-01", "a"],
    ]
    assert len(table.rows) == 8


def test_intervals_are_quantiles_of_many_origins_and_normal_for_a_few():
    """From ``QUANTILE_ORIGINS`` validation origins on, the per-step quantiles of the
    residuals; below, ± z · their per-step root mean square (4 draws' quantiles could not
    hold 80 % of new values)."""
    from rnnkit.jobs.forecast import QUANTILE_ORIGINS, interval_offsets

    rng = np.random.default_rng(0)
    many = rng.standard_normal((QUANTILE_ORIGINS, 3, 1)) * np.array([1.0, 2.0, 3.0])[:, None]
    out = interval_offsets(many)
    assert out["method"] == "quantiles" and out["origins"] == QUANTILE_ORIGINS
    np.testing.assert_allclose(out["80"]["upper"], np.quantile(many, 0.9, axis=0))
    few = many[:4]
    out = interval_offsets(few)
    assert out["method"] == "normal"
    rms = np.sqrt((few**2).mean(axis=0))
    np.testing.assert_allclose(out["80"]["upper"], 1.2815515655446004 * rms)
    np.testing.assert_allclose(out["95"]["lower"], -1.959963984540054 * rms)
    assert (np.array(out["95"]["upper"]) > few.max(axis=0)).all()  # wider than the draws
