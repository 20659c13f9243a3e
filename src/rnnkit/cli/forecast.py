"""``rnnkit forecast``: train a recurrent forecaster and score it beside the classic baselines.

A series comes from a CSV file (``--csv FILE --column NAME``, repeat ``--column`` for several
channels) or from statsmodels' bundled data (``--dataset sunspots|co2``; each has documented
defaults, see ``rnnkit.jobs.forecast.PRESETS``).  Missing values are filled by linear
interpolation and reported.  The held-out tail is forecast ``--horizon`` steps ahead from
every ``--stride``-th origin, recursively and directly, by the recurrent net and (unless
``--no-baseline``) the feed-forward baseline, and compared with seasonal naive and ARIMA/ETS
fitted on the same training part.  Results go to stdout (a table, or ``--json``), progress to
stderr; ``--plot FILE`` saves a PNG of history, truth and forecasts.

The run lives in ``--out DIR`` (default: a new ``runs/forecast-<date>-<time>``): the options
(``job.json``) and, per network and strategy, ``DIR/<cell>-<strategy>/`` with ``last``/``best``
checkpoints and ``metrics.jsonl``.  SIGINT/SIGTERM save ``last`` and exit 128+signum;
``--resume --out DIR`` continues exactly.  ``mpiexec -n K rnnkit forecast …`` splits each
batch's rows over K processes (the pipeline is ``rnnkit.jobs.forecast``).
"""

import argparse

from .classify import add_networks_and_training

SUMMARY = "forecast a time series; compare with seasonal naive and ARIMA/ETS"


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--dataset", choices=("sunspots", "co2"), help="a statsmodels bundled series")
    d.add_argument("--csv", metavar="FILE", help="a CSV file with a header")
    d.add_argument(
        "--column",
        action="append",
        metavar="NAME",
        help="CSV column to forecast (repeat for several channels; default: all)",
    )
    s = p.add_argument_group("forecast (defaults: the dataset's preset, else shown)")
    s.add_argument("--lookback", type=int, help="past steps the network reads (default 24)")
    s.add_argument("--horizon", type=int, help="steps forecast from each origin (default 12)")
    s.add_argument("--test-size", type=int, help="held-out tail (default: a fifth, >= horizon)")
    s.add_argument("--stride", type=int, help="steps between forecast origins (default 1)")
    s.add_argument(
        "--season", type=int, help="seasonal period m (naive forecast, MASE; default 1)"
    )
    s.add_argument(
        "--relative",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="measure windows from their last value (for trending series)",
    )
    s.add_argument(
        "--strategy",
        choices=("both", "recursive", "direct"),
        help="multi-step strategy (default both)",
    )
    s.add_argument(
        "--stat",
        choices=("arima", "ets", "none"),
        help="statistical baseline (default arima; co2: ets)",
    )
    s.add_argument(
        "--arima-order", metavar="P,D,Q", help="ARIMA order (default 2,1,1; sunspots 9,0,0)"
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
    return given


def format_report(report: dict) -> str:
    """The results as a plain-text table."""
    lines = [
        f"series {report['series']}: {report['steps']} steps, train {report['train_steps']}, "
        f"held-out tail {report['test_steps']} ({report['origins']} origins, horizon "
        f"{report['horizon']}, lookback {report['lookback']}, season {report['season']})"
    ]
    if report["missing_filled"]:
        lines.append(f"missing values filled by interpolation: {report['missing_filled']}")
    if report.get("test_missing_skipped"):
        lines.append(
            f"test: {report['test_steps']} steps, {report['test_missing_skipped']} "
            "missing skipped (not scored; inputs carry the last value forward)"
        )
    lines.append(
        f"{'model':<24} {'MAE':>10} {'RMSE':>10} {'MASE':>7} {'params':>8} {'seconds':>8}"
    )
    for r in report["results"]:
        lines.append(
            f"{r['model']:<24} {r['mae']:>10.4g} {r['rmse']:>10.4g} {r['mase']:>7.3f} "
            f"{r.get('params', ''):>8} {r.get('seconds', ''):>8}"
        )
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
