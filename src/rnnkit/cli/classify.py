"""``rnnkit classify``: many-to-one classification of labelled, variable-length sequences.

Data: ``--dataset`` for sktime's bundled GunPoint, ItalyPowerDemand, JapaneseVowels or
BasicMotions (published train/test splits), or ``--train FILE [--test FILE]``: ``.npz`` with
``x [N, T, C]`` (or ``[N, T]``), optional ``lengths [N]`` and labels ``y [N]``; or a long-form
``.csv`` with a header, a ``sequence`` column, a ``label`` column and one column per channel,
one row per step.  The settings not given (frame, hidden size, direction, learning rate,
epochs) are chosen by a search on stratified folds of the training split (``--budget``
trainings or minutes; ``--no-search`` for fixed defaults); ``--minutes`` bounds the whole
command.  Reports the search's table, then the test accuracy of the recurrent net, the
feed-forward baseline, 1-NN Euclidean and 1-NN DTW (unless ``--no-baseline``), ranked with
the best marked ``*``, a line when the net has not learned, and each confusion matrix;
``--json`` for machine-readable output.  Progress goes to stderr.

The run lives in ``--out DIR`` (default: a new ``runs/classify-<date>-<time>``): per network
``DIR/<cell>/`` with ``last`` (holding the options) and ``metrics.jsonl``, the search in
``DIR/search.json`` and ``DIR/run.json`` naming the network that predicts
(``rnnkit.jobs.predicting.load(DIR).predict_file(FILE)``: the same file formats, labels
optional).  SIGINT/SIGTERM save ``last`` and exit 128+signum; ``--resume --out DIR``
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
    d.add_argument("--id-column", help="CSV: the column naming each sequence (default sequence)")
    d.add_argument("--label-column", help="CSV: the column of the labels (default label)")
    m = p.add_argument_group(
        "network (gru; given settings are fixed, the search chooses the others)"
    )
    t = p.add_argument_group("training (given settings are fixed, the search chooses the others)")
    o = add_networks_and_training(
        p,
        m,
        t,
        "classify",
        network=["nonlinearity", "jordan_feedback", "bidirectional"],
        training=["schedule"],
    )
    m.add_argument(
        "--frame",
        type=int,
        help="read this many consecutive steps as one input (default: chosen; series of at "
        "most 64 steps are read step by step)",
    )
    s = p.add_argument_group("search (on stratified folds of the training split only)")
    s.add_argument(
        "--search",
        action=argparse.BooleanOptionalAction,
        help="choose frame, hidden size, direction, learning rate and epochs by validation "
        "(default on; --no-search: gru H=32, 100 epochs, cosine from 3e-3)",
    )
    s.add_argument(
        "--budget",
        help="the search's budget: trainings (e.g. 12) or minutes (e.g. 1.5m) "
        "(default: the full halving schedule, at most 2 minutes)",
    )
    s.add_argument("--folds", type=int, help="stratified folds the search scores on (default 3)")
    s.add_argument(
        "--minutes",
        type=float,
        help="bound the whole command: split across the search and the models (default: none)",
    )
    t.add_argument(
        "--val-fraction",
        type=float,
        help="hold out this share of the training split from the final training to pick its "
        "best epoch (default 0: train all epochs on all of it; the search uses its folds)",
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
        help="also train the feed-forward baseline"
        + (" and score 1-NN Euclidean and DTW" if job == "classify" else "")
        + " (default on)",
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
    if report.get("in_search"):  # no network has a checkpoint yet: nothing to resume
        import signal

        if comm.rank == 0:
            print(
                f"rnnkit: {report['stopped_by']} received during the search, before any "
                f"network was trained; nothing was saved to resume: start again",
                file=sys.stderr,
            )
        return 128 + int(signal.Signals[report["stopped_by"]])
    if "stopped_by" in report:
        return stopped(report["stopped_by"], JOB, out, comm)
    if comm.rank != 0:
        return 0
    print(json.dumps(report, indent=2) if args.json else format_report(report), flush=True)
    if report.get("not_learned") and args.json:
        print(f"rnnkit: {not_learned_line(report)}", file=sys.stderr)
    if (report.get("behind") or {}).get("flag") and args.json:
        print(f"rnnkit: note: {report['behind']['message']}", file=sys.stderr)
    if args.plot:  # the results are out first: a plot that cannot be saved only warns
        from ..plots.confusion import confusion_png
        from . import write_or_warn

        first = next(r for r in report["results"] if r["model"] == report["predicts"])
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


def not_learned_line(report: dict) -> str:
    """One line: the recurrent network has not learned, why, and what to try."""
    return (
        f"warning: the recurrent network has not learned: {report['not_learned_reason']}; "
        f"{report['advice']}"
    )


def format_search(search: dict) -> list[str]:
    """The search's table, ranked, the chosen candidate marked ``*``, and why it was chosen."""
    lines = [
        f"search: {search['trainings']} trainings in {search['seconds']}s (budget "
        f"{search['budget']}, ended by {search['stopped_by']}), validation on stratified folds "
        "of the training split",
        f"  {'rank':>4} {'frame':>5} {'H':>4} {'bidir':>5} {'lr':>7} {'folds':>5} "
        f"{'val acc':>7} {'val loss':>9} {'epochs':>6} {'params':>7}",
    ]
    for r in search["table"]:
        if not r["folds"]:
            continue
        lines.append(
            f"{'*' if r['best'] else ' '} {r['rank']:>4} {r['frame']:>5} {r['hidden_size']:>4} "
            f"{'yes' if r['bidirectional'] else 'no':>5} {r['lr']:>7.4g} {r['folds']:>5} "
            f"{r['accuracy']:>7.3f} {r['loss']:>9.4g} {r['epochs']:>6} {r['params']:>7}"
        )
    unscored = sum(1 for r in search["table"] if not r["folds"])
    if unscored:
        lines.append(f"  ({unscored} candidates not scored within the budget)")
    lines.append(f"chosen: {search['why']}")
    return lines


def format_report(report: dict) -> str:
    """The search, the test accuracy of every model ranked (best marked ``*``) and each
    confusion matrix, as plain text."""
    lo, hi = report["lengths"]
    lines = [
        f"dataset {report['dataset']}: {report['train_sequences']} train / "
        f"{report['test_sequences']} test sequences, {len(report['classes'])} classes, "
        f"{report['channels']} channel{'s' if report['channels'] != 1 else ''}, "
        f"lengths {lo}–{hi}"
        + (f", read in frames of {report['frame']}" if report["frame"] > 1 else "")
        + (f"; time bound {report['minutes']:g} min" if report.get("minutes") else ""),
    ]
    if report.get("time_split"):
        lines.append(report["time_split"])
    if report.get("search"):
        lines += format_search(report["search"])
    lines.append(f"  {'rank':>4} {'model':<52} {'accuracy':>8} {'epochs':>6} {'seconds':>8}")
    for r in report["results"]:
        accuracy = "n/a" if r["accuracy"] is None else f"{r['accuracy']:.4f}"
        epochs = "-" if r.get("epochs") is None else r["epochs"]
        rank = "-" if r.get("rank") is None else r["rank"]
        lines.append(
            f"{'*' if r.get('best') else ' '} {rank:>4} {r['description']:<52} {accuracy:>8} "
            f"{epochs:>6} {r.get('seconds', '-'):>8}"
        )
    if report.get("predicts"):
        lines.append(f"the run predicts with {report['predicts']} (rnnkit predict RUN FILE)")
    if report.get("not_learned"):
        lines.append(not_learned_line(report))
    if (report.get("behind") or {}).get("flag"):
        lines.append(f"note: {report['behind']['message']}")
    scored = [r for r in report["results"] if r.get("confusion") is not None]
    counts = max((n for r in scored for row in r["confusion"] for n in row), default=0)
    width = max(max(len(c) for c in report["classes"]), len(str(counts))) + 1
    for r in scored:
        lines.append(f"confusion matrix of {r['model']} (rows: true, columns: predicted)")
        lines.append(" " * width + "".join(f"{c:>{width}}" for c in report["classes"]))
        for c, row in zip(report["classes"], r["confusion"]):
            lines.append(f"{c:>{width}}" + "".join(f"{n:>{width}}" for n in row))
    return "\n".join(lines)
