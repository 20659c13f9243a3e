"""``rnnkit forecast``: choose and train a recurrent forecaster, score it beside baselines.

A series comes from a CSV file (``--csv FILE``; a date column is found by itself, and with one
other numeric column no ``--column`` is needed; repeat ``--column`` for several channels) or
from statsmodels' bundled data (``--dataset sunspots|co2``).  Missing values are filled and
reported.  The season is ``--season`` or detected from the training part (and said).

By default a small search (``--budget`` trials or minutes, e.g. ``8`` or ``3m``) chooses the
scaling mode, lookback, hidden size and strategy on the validation part carved from the
training part; options given on the command line (``--scaling``, ``--lookback``,
``--hidden-size``, ``--strategy``) stay as given; ``--no-search`` trains every net with both
strategies as given.  The held-out tail is then forecast ``--horizon`` steps ahead from every
``--stride``-th origin by the chosen net (and, unless ``--no-baseline``, the feed-forward
baseline) and compared with seasonal naive, ETS and SARIMA chosen by AICc.  Tables rank the
models and mark the best; a network that has not learned is said in one line.  ``--minutes M``
bounds the whole command.  Results go to stdout (a table, or ``--json``), progress to stderr;
``--plot FILE`` saves a PNG.

The run lives in ``--out DIR`` (default: a new ``runs/forecast-<date>-<time>``): the options,
per network ``DIR/<name>/`` with ``last``/``best``, ``metrics.jsonl`` and ``intervals.json``,
and ``DIR/run.json`` naming the network that predicts: ``rnnkit predict DIR SERIES.csv``
forecasts past the end of any series.  SIGINT/SIGTERM save ``last`` and exit 128+signum;
``--resume --out DIR`` continues.  The pipeline is ``rnnkit.jobs.forecast``.
"""

import argparse

from .classify import add_networks_and_training

SUMMARY = "forecast a time series; compare with seasonal naive, ETS and SARIMA"


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument(
        "--dataset",
        choices=("sunspots", "co2", "trend-seasonal"),
        help="a statsmodels bundled series, or a generated one (monthly, trend × season)",
    )
    d.add_argument("--csv", metavar="FILE", help="a CSV file with a header")
    d.add_argument(
        "--column",
        action="append",
        metavar="NAME",
        help="CSV column to forecast (repeat for several channels; default: every numeric one "
        "but the date column)",
    )
    s = p.add_argument_group("forecast")
    s.add_argument("--lookback", type=int, help="past steps the network reads (default 24)")
    s.add_argument("--horizon", type=int, help="steps forecast from each origin (default 12)")
    s.add_argument("--test-size", type=int, help="held-out tail (default: a fifth, >= horizon)")
    s.add_argument("--stride", type=int, help="steps between forecast origins (default 1)")
    s.add_argument(
        "--season",
        type=int,
        help="seasonal period m (default: detected from the training part; 1: none)",
    )
    s.add_argument(
        "--scaling",
        choices=("level", "relative", "differenced", "log"),
        help="how windows are measured (default: chosen by the search, else level)",
    )
    s.add_argument(
        "--relative",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the same as --scaling relative",
    )
    s.add_argument(
        "--strategy",
        choices=("both", "recursive", "direct"),
        help="multi-step strategy (default both)",
    )
    s.add_argument(
        "--stat",
        choices=("auto", "ets", "sarima", "arima", "none"),
        help="statistical baseline (default auto: ETS and SARIMA chosen by AICc; arima: fixed)",
    )
    s.add_argument("--arima-order", metavar="P,D,Q", help="--stat arima's order (default 2,1,1)")
    c = p.add_argument_group("choice and budget")
    c.add_argument(
        "--search",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="choose scaling, lookback, hidden size and strategy on validation (default on)",
    )
    c.add_argument(
        "--budget",
        metavar="N|Mm",
        help="the search's budget: N trials or M minutes (e.g. 8, 3m; default 8 trials, 3m)",
    )
    c.add_argument(
        "--refit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train the chosen settings again on the whole training part (default on)",
    )
    c.add_argument(
        "--minutes", type=float, help="bound on the whole command, split across the models"
    )
    m = p.add_argument_group("network (default gru H=32)")
    t = p.add_argument_group("training (default: at most 200 epochs, patience 25)")
    o = add_networks_and_training(p, m, t, "forecast", network=[], training=[])
    t.add_argument(
        "--val-fraction",
        type=float,
        help="last share of training windows used for validation (default 0.2)",
    )
    o.add_argument("--plot", metavar="FILE", help="save a PNG of history, truth and forecasts")


def run(args: argparse.Namespace) -> int:
    from ..jobs.runs import launch

    return launch(lambda comm: _run(args, comm))


def _run(args: argparse.Namespace, comm) -> int:
    import json

    from ..jobs.forecast import JOB, run_job
    from .classify import run_epoch_job, stopped

    out, (series, setup, report) = run_epoch_job(args, comm, JOB, run_job, _given(args))
    if "stopped_by" in report:
        return stopped(report["stopped_by"], JOB, out, comm)
    if comm.rank != 0:
        return 0
    arrays = report.pop("_arrays")
    print(json.dumps(report, indent=2) if args.json else format_report(report), flush=True)
    if args.plot:  # the results are out first: a plot that cannot be saved only warns
        from ..plots.forecast import forecast_png
        from . import write_or_warn

        names = [r["model"] for r in report["results"]]
        title = f"{series.name}: {setup.horizon}-step forecasts of the held-out tail"
        saved = write_or_warn(
            lambda: forecast_png(
                args.plot,
                series.values,
                report["train_steps"],
                arrays["origins"],
                {n: arrays[n] for n in names},
                context=4 * report["test_steps"],
                title=title,
            ),
            f"the plot {args.plot}",
        )
        if saved and not args.json:
            print(f"plot saved to {args.plot}")
    return 0


def _given(args: argparse.Namespace) -> dict:
    """The job's options the command line gives (by the job's field names)."""
    from .options import given_options

    given = given_options(args, leave_out=("json", "plot"))
    if "column" in given:
        given["columns"] = given.pop("column")
    strategy = given.pop("strategy", None)
    if strategy is not None:
        given["strategies"] = ("recursive", "direct") if strategy == "both" else (strategy,)
    if "arima_order" in given:
        given["arima_order"] = _order(given["arima_order"])
    if "budget" in given:
        given.update(_budget(given.pop("budget")))
    return given


def _budget(text: str) -> dict:
    """``8`` → 8 trials, ``3m`` / ``3min`` → 3 minutes (and as many trials as fit)."""
    from ..errors import ConfigError

    t = text.strip().lower()
    try:
        if t.endswith("min") or t.endswith("m"):
            minutes = float(t.rstrip("min"))
            if minutes > 0:
                return {"search_minutes": minutes, "trials": 100}
        elif int(t) >= 1:
            return {"trials": int(t), "search_minutes": 0.0}
    except ValueError:
        pass
    raise ConfigError(f"--budget must be a number of trials (8) or minutes (3m), got {text!r}")


def format_report(report: dict) -> str:
    """The results as plain-text tables: the validation table of the choice, then the
    held-out tail's, each ranked by MASE with the best marked ``*``."""
    lines = [
        f"series {report['series']}: {report['steps']} steps, train {report['train_steps']} "
        f"(validation {report['validation_steps']}), held-out tail {report['test_steps']} "
        f"({report['origins']} origins, horizon {report['horizon']}); {report['season_found']}"
    ]
    if report.get("budget"):
        lines.append(report["budget"])
    if report["missing_filled"]:
        lines.append(f"missing values filled by interpolation: {report['missing_filled']}")
    if report.get("test_missing_skipped"):
        lines.append(
            f"test: {report['test_steps']} steps, {report['test_missing_skipped']} "
            "missing skipped (not scored; inputs carry the last value forward)"
        )
    search = report.get("search")
    if search:
        lines.append(
            f"search: {search['trials']} trials in {search['seconds']:g} s (budget "
            f"{search['budget']['trials']} trials, {search['budget']['minutes']:g} min"
            + (f"; kept as given: {', '.join(search['pinned'])}" if search["pinned"] else "")
            + f"); chose {search['chose']}: {search['why']}"
        )
    lines.append(f"validation   {'model':<34} {'MASE':>7} {'epochs':>7} {'seconds':>8}")
    for r in sorted(report["validation"], key=lambda r: r["rank"]):
        mark = "*" if r["rank"] == 1 else " "
        chosen = "  <- chosen" if r.get("chosen") else ""
        lines.append(
            f"{r['rank']:>4}{mark}       {r['model']:<34} {r['val_mase']:>7.3f} "
            f"{r.get('epochs', ''):>7} {r.get('seconds', ''):>8}{chosen}"
        )
    lines.append(
        f"test tail    {'model':<34} {'MAE':>10} {'RMSE':>10} {'MASE':>7} {'params':>8} "
        f"{'seconds':>8}"
    )
    for r in sorted(report["results"], key=lambda r: r["rank"]):
        mark = "*" if r["best"] else " "
        lines.append(
            f"{r['rank']:>4}{mark}       {r['model']:<34} {r['mae']:>10.4g} {r['rmse']:>10.4g} "
            f"{r['mase']:>7.3f} {r.get('params', ''):>8} {r.get('seconds', ''):>8}"
        )
    for r in report["results"]:
        if r.get("predicts") and r.get("coverage"):
            held = ", ".join(f"{k} % interval held {v:.0%}" for k, v in r["coverage"].items())
            lines.append(f"{r['model']} on the held-out tail: {held} of the values")
    for key in ("not_learned", "behind"):
        if report[key]["flag"]:
            lines.append(report[key]["message"])
    lines.extend(report.get("notes", []))
    if report.get("predicts"):
        lines.append(f"predicts: {report['predicts']} (rnnkit predict RUN SERIES.csv)")
    return "\n".join(lines)


def _order(text: str | None) -> tuple[int, int, int] | None:
    from ..errors import ConfigError

    if text is None:
        return None
    try:
        p, d, q = (int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--arima-order must be three integers P,D,Q, got {text!r}") from None
    if min(p, d, q) < 0:
        raise ConfigError(f"--arima-order values must be >= 0, got {text!r}")
    return p, d, q
