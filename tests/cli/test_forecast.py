"""``rnnkit forecast`` end to end: results on stdout, progress on stderr, JSON, a PNG, errors."""

import argparse
import json

import numpy as np
import pytest

from rnnkit.cli import _run
from rnnkit.cli import forecast as command

FAST = [
    "--lookback",
    "6",
    "--horizon",
    "3",
    "--season",
    "8",
    "--test-size",
    "12",
    "--hidden-size",
    "4",
    "--ffnn-hidden",
    "4",
    "--epochs",
    "2",
    "--stat",
    "none",
    "--no-search",
]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rnnkit forecast")
    command.add_arguments(parser)
    return parser.parse_args(argv)


@pytest.fixture(autouse=True)
def in_a_fresh_directory(tmp_path, monkeypatch):
    """Runs without --out go to runs/ under the current directory: a temporary one."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def series_csv(tmp_path):
    t = np.arange(70)
    values = np.sin(2 * np.pi * t / 8) + 0.01 * t
    path = tmp_path / "series.csv"
    lines = ["day,level"] + [f"{k},{'' if k == 5 else v}" for k, v in zip(t, values)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_csv_column_is_forecast_and_reported_beside_the_baselines(series_csv, capsys):
    assert command.run(_parse(["--csv", str(series_csv), "--column", "level", *FAST])) == 0
    out, err = capsys.readouterr()
    for name in ("gru (recursive)", "gru (direct)", "ffnn (recursive)", "seasonal naive m=8"):
        assert name in out
    assert "MASE" in out and "missing values filled by interpolation: {'level': 1}" in out
    assert "forecast: gru recursive: epoch 1" in err  # progress goes to stderr


def test_missing_held_out_values_are_counted_in_the_table_and_the_json(tmp_path, capsys):
    t = np.arange(70)
    path = tmp_path / "tail_gaps.csv"
    rows = [f"{k},{'' if k in (60, 61, 66) else np.sin(k)}" for k in t]  # tail: steps 58…69
    path.write_text("day,level\n" + "\n".join(rows) + "\n", encoding="utf-8")
    argv = [
        "--csv",
        str(path),
        "--column",
        "level",
        *FAST,
        "--quiet",
        "--no-baseline",
        "--strategy",
        "direct",
    ]
    assert command.run(_parse(argv)) == 0
    assert "test: 12 steps, 3 missing skipped" in capsys.readouterr().out
    assert command.run(_parse([*argv, "--json"])) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["test_missing_skipped"] == 3 and report["missing_filled"] == {}


def test_json_output_parses_and_holds_every_model(series_csv, capsys):
    argv = [
        "--csv",
        str(series_csv),
        "--column",
        "level",
        *FAST,
        "--json",
        "--quiet",
        "--strategy",
        "direct",
        "--no-baseline",
    ]
    assert command.run(_parse(argv)) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert [r["model"] for r in report["results"]] == ["gru (direct)", "seasonal naive m=8"]
    assert report["missing_filled"] == {"level": 1} and err == ""
    assert isinstance(report["not_learned"]["flag"], bool)  # 2 epochs: said either way
    assert report["not_learned"]["flag"] == ("has not learned" in report["not_learned"]["message"])
    assert sorted(r["rank"] for r in report["results"]) == [1, 2]


def test_plot_writes_a_png(series_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "out" / "forecast.png"
    argv = [
        "--csv",
        str(series_csv),
        "--column",
        "level",
        *FAST,
        "--quiet",
        "--plot",
        str(png),
        "--strategy",
        "recursive",
        "--no-baseline",
    ]
    assert command.run(_parse(argv)) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot saved to {png}" in capsys.readouterr().out


@pytest.mark.parametrize("json_output", [False, True])
def test_a_plot_that_cannot_be_saved_warns_after_the_results_are_printed(
    series_csv, tmp_path, capsys, json_output
):
    pytest.importorskip("matplotlib")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    png = blocker / "forecast.png"  # inside a regular file: no user, root included, can write it
    argv = [
        "--csv",
        str(series_csv),
        "--column",
        "level",
        *FAST,
        "--quiet",
        "--plot",
        str(png),
        "--strategy",
        "recursive",
        "--no-baseline",
    ] + (["--json"] if json_output else [])
    assert _run(command, _parse(argv), debug=False) == 0
    out, err = capsys.readouterr()
    if json_output:
        assert json.loads(out)["results"] and "plot" not in json.loads(out)
    else:
        assert "seasonal naive" in out and "plot saved" not in out
    assert err.count("\n") == 1 and err.startswith("rnnkit: warning: the plot ")
    assert str(png) in err and "not saved" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give either --dataset or --csv"),
        (["--csv", "nowhere.csv"], "no such file"),
        (["--csv", "{csv}", "--column", "price"], "'price' is not in the header"),
        (["--csv", "{csv}", "--arima-order", "1,2"], "three integers"),
    ],
)
def test_known_errors_print_one_line_and_exit_2(series_csv, capsys, argv, message):
    argv = [a.replace("{csv}", str(series_csv)) for a in argv]
    assert _run(command, _parse(argv), debug=False) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnkit: error:") and message in err[0]


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["sunspots", "co2", "trend-seasonal"])
def test_the_bundled_series_run_with_the_default_search(dataset, capsys):
    argv = ["--dataset", dataset, "--epochs", "2", "--budget", "2", "--quiet", "--json"]
    assert command.run(_parse(argv)) == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["results"]) == 5  # gru, ffnn, seasonal naive, ETS, SARIMA
    assert (report["missing_filled"] == {"co2": 59}) == (dataset == "co2")


def test_a_dated_csv_is_searched_on_a_budget_and_its_run_predicts(tmp_path, capsys):
    from rnnkit.data.timeseries import trend_seasonal
    from rnnkit.jobs import predicting

    values = trend_seasonal(60)
    months = np.arange(np.datetime64("2015-01"), np.datetime64("2020-01"))
    path = tmp_path / "sales.csv"
    rows = [f"{m},{float(v)!r}" for m, v in zip(months, values)]
    path.write_text("month,sales\n" + "\n".join(rows) + "\n", encoding="utf-8")
    argv = ["--csv", str(path), "--horizon", "3", "--test-size", "6", "--epochs", "2"]
    argv += ["--budget", "2", "--stat", "none", "--no-baseline", "--out", str(tmp_path / "r")]
    assert command.run(_parse([*argv, "--hidden-size", "4", "--quiet"])) == 0
    out = capsys.readouterr().out
    assert "season 12 detected" in out and "search: 2 trials" in out
    assert "<- chosen" in out and "   1*" in out  # ranked, the best marked
    table = predicting.load(tmp_path / "r").predict_file(path)
    assert [r[0] for r in table.rows] == ["2020-01", "2020-02", "2020-03"]


@pytest.mark.parametrize("budget", ["0", "3x", "0m"])
def test_a_bad_budget_is_one_line(series_csv, capsys, budget):
    argv = ["--csv", str(series_csv), "--column", "level", "--budget", budget]
    assert _run(command, _parse(argv), debug=False) == 2
    assert "--budget must be" in capsys.readouterr().err


def test_the_rnnkit_command_runs_it_once_registered(series_csv, monkeypatch, capsys):
    from rnnkit import cli

    monkeypatch.setitem(cli.COMMANDS, "forecast", ("rnnkit.cli.forecast", command.SUMMARY))
    argv = [
        "forecast",
        "--csv",
        str(series_csv),
        "--column",
        "level",
        *FAST,
        "--quiet",
        "--strategy",
        "recursive",
        "--no-baseline",
    ]
    assert cli.main(argv) == 0
    assert "gru (recursive)" in capsys.readouterr().out


def test_rnnkit_predict_prints_the_dated_forecast_of_a_run(tmp_path, capsys):
    from rnnkit import cli
    from rnnkit.data.timeseries import trend_seasonal

    values = trend_seasonal(48)
    months = np.arange(np.datetime64("2016-01"), np.datetime64("2020-01"))
    path = tmp_path / "sales.csv"
    rows = [f"{m},{float(v)!r}" for m, v in zip(months, values)]
    path.write_text("month,sales\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    argv = ["forecast", "--csv", str(path), "--horizon", "2", "--test-size", "6", "--stat"]
    argv += ["none", "--no-search", "--hidden-size", "4", "--epochs", "2", "--lookback", "6"]
    assert cli.main([*argv, "--quiet", "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli.main(["predict", str(out), str(path)]) == 0
    printed, notes = capsys.readouterr()
    lines = printed.strip().splitlines()
    assert lines[0] == "date,forecast,lower,upper" and len(lines) == 3
    assert [line.split(",")[0] for line in lines[1:]] == ["2020-01", "2020-02"]
    assert "80 % interval from validation residuals" in notes
