"""``rnnkit classify``: many-to-one classification of labelled, variable-length sequences.

Data: ``--dataset`` for sktime's bundled GunPoint, ItalyPowerDemand, JapaneseVowels or
BasicMotions (published train/test splits), or ``--train FILE [--test FILE]`` (``.npz`` with
``x``, ``lengths``, ``y``; or long-form ``.csv`` with ``sequence`` and ``label`` columns).
Each bundled set has documented defaults (``rnnkit.jobs.classify.PRESETS``); options given
on the command line replace them.  Reports test accuracy and the confusion matrix of the
recurrent net and (unless ``--no-baseline``) the feed-forward baseline; ``--json`` for
machine-readable output.  Progress goes to stderr.

The run lives in ``--out DIR`` (default: a new ``runs/classify-<date>-<time>``): the options
(``job.json``) and, per network, ``DIR/<cell>/`` with ``last``/``best`` checkpoints and
``metrics.jsonl``.  SIGINT/SIGTERM save ``last`` and exit 128+signum; ``--resume --out DIR``
continues exactly.  ``mpiexec -n K rnnkit classify …`` splits each batch's rows over K
processes (the pipeline is ``rnnkit.jobs.classify``).
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SUMMARY = "classify sequences (accuracy, confusion matrix) beside a feed-forward baseline"


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--dataset", help="GunPoint | ItalyPowerDemand | JapaneseVowels | BasicMotions")
    d.add_argument("--train", metavar="FILE", help="training sequences (.npz or .csv)")
    d.add_argument("--test", metavar="FILE", help="test sequences (default: hold out a part)")
    d.add_argument(
        "--test-fraction",
        type=float,
        help="without --test: stratified share of --train held out (default 0.3)",
    )
    m = p.add_argument_group("network (defaults: the dataset's preset, else gru H=32)")
    t = p.add_argument_group("training (defaults: the dataset's preset, else 100 epochs)")
    o = add_networks_and_training(
        p, m, t, "classify", network=["nonlinearity", "jordan_feedback"], training=["schedule"]
    )
    m.add_argument(
        "--frame",
        type=int,
        help="read this many consecutive steps as one input (default 1; GunPoint 3)",
    )
    t.add_argument(
        "--val-fraction",
        type=float,
        help="hold out this share of the training split to pick the best epoch "
        "(default 0: train all epochs on all of it)",
    )
    o.add_argument(
        "--plot", metavar="FILE", help="save the recurrent net's confusion matrix as a PNG"
    )


def add_networks_and_training(
    p: argparse.ArgumentParser,
    m: Any,
    t: Any,
    job: str,
    *,
    network: list[str],
    training: list[str],
) -> Any:
    """The flags the epoch jobs (classify, forecast) share: the network and its baseline
    (``jobs.Net``), its training (``jobs.Fit``), the run and ``--json``; the output group."""
    from ..jobs import Fit, Net
    from .options import add_options, add_run_options

    add_options(
        m, Net, ["cell", "hidden_size", "num_layers", *network, "window"], show_defaults=False
    )
    m.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        help="also train the feed-forward baseline (default on)",
    )
    m.add_argument("--ffnn-hidden", type=int, help="baseline's hidden units (default 64)")
    add_options(
        t,
        Fit,
        ["epochs", "patience", "batch_size", "optimizer", "lr", "clip", *training],
        show_defaults=False,
    )
    t.add_argument("--seed", type=int, help="seed of the run (default 0)")
    add_run_options(
        p.add_argument_group("run directory"), job, resume_may_change="with its own options"
    )
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print the results as JSON")
    return o


def run(args: argparse.Namespace) -> int:
    from ..jobs.runs import launch

    return launch(lambda comm: _run(args, comm))


def _run(args: argparse.Namespace, comm) -> int:
    import json

    from ..jobs.classify import JOB, run_job
    from .options import given_options

    out, report = run_epoch_job(
        args, comm, JOB, run_job, given_options(args, leave_out=("json", "plot"))
    )
    if "stopped_by" in report:
        return stopped(report["stopped_by"], JOB, out, comm)
    if comm.rank != 0:
        return 0
    print(json.dumps(report, indent=2) if args.json else format_report(report), flush=True)
    if args.plot:  # the results are out first: a plot that cannot be saved only warns
        from ..plots.confusion import confusion_png
        from . import write_or_warn

        first = report["results"][0]
        title = f"{report['dataset']}: {first['description']}, accuracy {first['accuracy']:.3f}"
        saved = write_or_warn(
            lambda: confusion_png(args.plot, first["confusion"], report["classes"], title=title),
            f"the plot {args.plot}",
        )
        if saved and not args.json:
            print(f"plot saved to {args.plot}")
    return 0


def run_epoch_job(
    args: argparse.Namespace, comm, job: str, run_job: Callable[..., Any], given: dict[str, Any]
) -> tuple[Path, Any]:
    """(run directory, what ``run_job`` returns) of the epoch job ``job`` (classify, forecast)
    started from the ``given`` options or resumed; progress on stderr unless --quiet."""
    from ..jobs import runs, stderr_log
    from ..training import TrainingDiverged

    if args.plot:
        from ..plots import check_available

        check_available()  # before training, not after, when matplotlib is missing
    out = runs.run_directory(
        job, args.out, resume=args.resume, overwrite=args.overwrite, comm=comm
    )
    log = None if args.quiet or comm.rank != 0 else stderr_log(sys.stderr, job)
    try:
        return out, run_job(
            given, out, resume=args.resume, overwrite=args.overwrite, comm=comm, log=log
        )
    except TrainingDiverged as e:
        raise runs.diverged(e, job, out) from None


def stopped(name: str, job: str, out: Path, comm) -> int:
    """Say where a signal stopped the job and how to continue it; 128 + the signal's number."""
    from ..jobs import runs

    return runs.stopped(name, job, out, f"saved each network's last checkpoint in {out}", comm)


def format_report(report: dict) -> str:
    """Accuracy per model and each confusion matrix, as plain text."""
    lo, hi = report["lengths"]
    lines = [
        f"dataset {report['dataset']}: {report['train_sequences']} train / "
        f"{report['test_sequences']} test sequences, {len(report['classes'])} classes, "
        f"{report['channels']} channels, lengths {lo}–{hi}"
        + (f", read in frames of {report['frame']}" if report["frame"] > 1 else ""),
        f"{'model':<48} {'accuracy':>8} {'epochs':>6} {'seconds':>8}",
    ]
    for r in report["results"]:
        lines.append(
            f"{r['description']:<48} {r['accuracy']:>8.4f} {r['epochs']:>6} {r['seconds']:>8}"
        )
    counts = max((n for r in report["results"] for row in r["confusion"] for n in row), default=0)
    width = max(max(len(c) for c in report["classes"]), len(str(counts))) + 1
    for r in report["results"]:
        lines.append(f"confusion matrix of {r['model']} (rows: true, columns: predicted)")
        lines.append(" " * width + "".join(f"{c:>{width}}" for c in report["classes"]))
        for c, row in zip(report["classes"], r["confusion"]):
            lines.append(f"{c:>{width}}" + "".join(f"{n:>{width}}" for n in row))
    return "\n".join(lines)
