"""``rnnkit forecast``: train a recurrent forecaster and score it beside the classic baselines.

A series comes from a CSV file (``--csv FILE --column NAME``, repeat ``--column`` for several
channels) or from statsmodels' bundled data (``--dataset sunspots|co2``; each has documented
defaults, see ``rnnkit.jobs.forecast.PRESETS``).  Missing values are filled by linear
interpolation and reported.  The held-out tail is forecast ``--horizon`` steps ahead from
every ``--stride``-th origin, recursively and directly, by the recurrent net and (unless
``--no-baseline``) the feed-forward baseline, and compared with seasonal naive and ARIMA/ETS
fitted on the same training part.  Results go to stdout (a table, or ``--json``), progress to
stderr; ``--plot FILE`` saves a PNG of history, truth and forecasts.
"""

import argparse

SUMMARY = "forecast a time series; compare with seasonal naive and ARIMA/ETS"


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--dataset", choices=("sunspots", "co2"), help="a statsmodels bundled series")
    d.add_argument("--csv", metavar="FILE", help="a CSV file with a header")
    d.add_argument("--column", action="append", metavar="NAME",
                   help="CSV column to forecast (repeat for several channels; default: all)")
    s = p.add_argument_group("forecast (defaults: the dataset's preset, else shown)")
    s.add_argument("--lookback", type=int, help="past steps the network reads (default 24)")
    s.add_argument("--horizon", type=int, help="steps forecast from each origin (default 12)")
    s.add_argument("--test-size", type=int, help="held-out tail (default: a fifth, >= horizon)")
    s.add_argument("--stride", type=int, help="steps between forecast origins (default 1)")
    s.add_argument("--season", type=int, help="seasonal period m (naive forecast, MASE; default 1)")
    s.add_argument("--relative", action=argparse.BooleanOptionalAction, default=None,
                   help="measure windows from their last value (for trending series)")
    s.add_argument("--strategy", choices=("both", "recursive", "direct"), default="both",
                   help="multi-step strategy (default both)")
    s.add_argument("--stat", choices=("arima", "ets", "none"),
                   help="statistical baseline (default arima; co2: ets)")
    s.add_argument("--arima-order", metavar="P,D,Q",
                   help="ARIMA order (default 2,1,1; sunspots 9,0,0)")
    m = p.add_argument_group("network")
    m.add_argument("--cell", default="gru",
                   help="elman | jordan | fully_recurrent | lstm | gru | ffnn (default gru)")
    m.add_argument("--hidden-size", type=int, default=32, help="units (default 32)")
    m.add_argument("--num-layers", type=int, default=1, help="stacked layers (default 1)")
    m.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="also train the feed-forward baseline (default on)")
    m.add_argument("--ffnn-hidden", type=int, default=64,
                   help="baseline's hidden units (default 64)")
    m.add_argument("--window", type=int, default=0, help="baseline's window (default: --lookback)")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=200, help="most epochs (default 200)")
    t.add_argument("--patience", type=int, default=25,
                   help="stop after this many epochs without validation gain (default 25)")
    t.add_argument("--val-fraction", type=float, default=0.2,
                   help="last share of training windows used for validation (default 0.2)")
    t.add_argument("--batch-size", type=int, default=32, help="windows per update (default 32)")
    t.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (default 3e-3)")
    t.add_argument("--clip", type=float, default=1.0, help="global gradient-norm clip (default 1)")
    t.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print the results as JSON")
    o.add_argument("--plot", metavar="FILE", help="save a PNG of history, truth and forecasts")
    o.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from ..jobs import Fit, Net, stderr_log
    from ..jobs.forecast import load_series, run_forecast, setup_for

    series = load_series(args.dataset, args.csv, args.column)
    strategies = ("recursive", "direct") if args.strategy == "both" else (args.strategy,)
    setup = setup_for(args.dataset, lookback=args.lookback, horizon=args.horizon,
                      test_size=args.test_size, stride=args.stride, season=args.season,
                      relative=args.relative, stat=args.stat, val_fraction=args.val_fraction,
                      arima_order=_order(args.arima_order), strategies=strategies)
    nets = [Net(cell=args.cell, hidden_size=args.hidden_size, num_layers=args.num_layers,
                window=args.window or setup.lookback)]
    if args.baseline and args.cell != "ffnn":
        nets.append(Net(cell="ffnn", hidden_size=args.ffnn_hidden,
                        window=args.window or setup.lookback))
    fit = Fit(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, clip=args.clip,
              patience=args.patience)
    if args.plot:
        from ..plots import check_available

        check_available()  # before training, not after, when matplotlib is missing
    log = None if args.quiet else stderr_log(sys.stderr, "forecast")
    if log and series.missing:
        log(f"{sum(series.missing.values())} missing values ({series.missing}): interpolated "
            "in the training part, not scored in the held-out tail")
    report = run_forecast(series, setup, nets, fit, seed=args.seed, log=log)
    arrays = report.pop("_arrays")
    print(json.dumps(report, indent=2) if args.json else format_report(report), flush=True)
    if args.plot:  # the results are out first: a plot that cannot be saved only warns
        from ..plots import forecast_png
        from . import write_or_warn

        names = [r["model"] for r in report["results"]]
        title = f"{series.name}: {setup.horizon}-step forecasts of the held-out tail"
        saved = write_or_warn(
            lambda: forecast_png(args.plot, series.values, report["train_steps"],
                                 arrays["origins"], {n: arrays[n] for n in names},
                                 context=4 * report["test_steps"], title=title),
            f"the plot {args.plot}")
        if saved and not args.json:
            print(f"plot saved to {args.plot}")
    return 0


def format_report(report: dict) -> str:
    """The results as a plain-text table."""
    lines = [f"series {report['series']}: {report['steps']} steps, train {report['train_steps']}, "
             f"held-out tail {report['test_steps']} ({report['origins']} origins, horizon "
             f"{report['horizon']}, lookback {report['lookback']}, season {report['season']})"]
    if report["missing_filled"]:
        lines.append(f"missing values filled by interpolation: {report['missing_filled']}")
    if report.get("test_missing_skipped"):
        lines.append(f"test: {report['test_steps']} steps, {report['test_missing_skipped']} "
                     "missing skipped (not scored; inputs carry the last value forward)")
    lines.append(f"{'model':<24} {'MAE':>10} {'RMSE':>10} {'MASE':>7} {'params':>8} "
                 f"{'seconds':>8}")
    for r in report["results"]:
        lines.append(f"{r['model']:<24} {r['mae']:>10.4g} {r['rmse']:>10.4g} {r['mase']:>7.3f} "
                     f"{r.get('params', ''):>8} {r.get('seconds', ''):>8}")
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
