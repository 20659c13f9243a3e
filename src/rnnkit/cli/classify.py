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

SUMMARY = "classify sequences (accuracy, confusion matrix) beside a feed-forward baseline"

OUTPUT = ("json", "plot", "quiet", "out", "resume", "overwrite")
"""Flags that say where and how to report, not what to train (a resumed run may give them)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--dataset", help="GunPoint | ItalyPowerDemand | JapaneseVowels | BasicMotions")
    d.add_argument("--train", metavar="FILE", help="training sequences (.npz or .csv)")
    d.add_argument("--test", metavar="FILE", help="test sequences (default: hold out a part)")
    d.add_argument("--test-fraction", type=float,
                   help="without --test: stratified share of --train held out (default 0.3)")
    m = p.add_argument_group("network (defaults: the dataset's preset, else gru H=32)")
    m.add_argument("--cell", help="elman | jordan | fully_recurrent | lstm | gru | ffnn")
    m.add_argument("--hidden-size", type=int, help="units per layer")
    m.add_argument("--num-layers", type=int, help="stacked layers")
    m.add_argument("--nonlinearity", help="elman/jordan/frnn (and ffnn): tanh | relu")
    m.add_argument("--jordan-feedback",
                   help="jordan: feed back the output logits (output, default) or softmax")
    m.add_argument("--window", type=int,
                   help="ffnn: last steps it reads (default: the longest training sequence)")
    m.add_argument("--frame", type=int,
                   help="read this many consecutive steps as one input (default 1; GunPoint 3)")
    m.add_argument("--baseline", action=argparse.BooleanOptionalAction,
                   help="also train the feed-forward baseline (default on)")
    m.add_argument("--ffnn-hidden", type=int, help="baseline's hidden units (default 64)")
    t = p.add_argument_group("training (defaults: the dataset's preset, else 100 epochs)")
    t.add_argument("--epochs", type=int, help="epochs")
    t.add_argument("--batch-size", type=int, help="sequences per update")
    t.add_argument("--optimizer", help="sgd | rmsprop | adagrad | adam | adamw (default adam)")
    t.add_argument("--lr", type=float, help="learning rate")
    t.add_argument("--clip", type=float, help="global gradient-norm clip (0: off)")
    t.add_argument("--schedule", choices=("constant", "cosine"),
                   help="learning-rate schedule (default cosine)")
    t.add_argument("--val-fraction", type=float,
                   help="hold out this share of the training split to pick the best epoch "
                        "(default 0: train all epochs on all of it)")
    t.add_argument("--patience", type=int,
                   help="with --val-fraction: stop after this many epochs without improvement")
    t.add_argument("--on-nonfinite", choices=("skip", "reduce-lr", "stop"),
                   help="a NaN/Inf loss or gradient: skip the update (default), skip it and "
                        "halve the learning rate, or stop")
    t.add_argument("--seed", type=int, help="seed of the run (default 0)")
    r = p.add_argument_group("run directory")
    r.add_argument("--out", metavar="DIR",
                   help="run directory (default: a new runs/classify-<date>-<time>)")
    r.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out DIR with its own options")
    r.add_argument("--overwrite", action="store_true",
                   help="start a new run in --out even though it holds one (which is lost)")
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print the results as JSON")
    o.add_argument("--plot", metavar="FILE",
                   help="save the recurrent net's confusion matrix as a PNG")
    o.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    from ..distributed import connect
    from ..jobs import on_every_rank

    comm = connect()  # imports mpi4py only when started by mpiexec with K > 1
    return on_every_rank(lambda: _run(args, comm), comm)


def _run(args: argparse.Namespace, comm) -> int:
    import json
    import sys

    from ..jobs import run_directory, stderr_log
    from ..jobs.classify import JOB, run_job

    if args.plot:
        from ..plots import check_available

        check_available()  # before training, not after, when matplotlib is missing
    from ..training import TrainingDiverged

    out = run_directory(JOB, args.out, args.resume, args.overwrite, comm)
    given = {k: v for k, v in vars(args).items() if k not in OUTPUT and v is not None}
    log = None if args.quiet or comm.rank != 0 else stderr_log(sys.stderr, JOB)
    try:
        report = run_job(given, out, resume=args.resume, overwrite=args.overwrite, comm=comm,
                         log=log)
    except TrainingDiverged as e:
        raise TrainingDiverged(f"{e}; to continue from the last checkpoint: rnnkit {JOB} "
                               f"--resume --out {out}") from None
    if comm.rank != 0:
        return _status(report)
    if "stopped_by" in report:
        return _stopped(report["stopped_by"], out)
    print(json.dumps(report, indent=2) if args.json else format_report(report), flush=True)
    if args.plot:  # the results are out first: a plot that cannot be saved only warns
        from ..plots import confusion_png
        from . import write_or_warn

        first = report["results"][0]
        title = f"{report['dataset']}: {first['description']}, accuracy {first['accuracy']:.3f}"
        saved = write_or_warn(
            lambda: confusion_png(args.plot, first["confusion"], report["classes"], title=title),
            f"the plot {args.plot}")
        if saved and not args.json:
            print(f"plot saved to {args.plot}")
    return 0


def _status(report: dict) -> int:
    import signal

    return 128 + int(signal.Signals[report["stopped_by"]]) if "stopped_by" in report else 0


def _stopped(name: str, out) -> int:
    """Say where a signal stopped the job and how to continue it; 128 + the signal's number."""
    import sys

    print(f"rnnkit: {name} received: saved each network's last checkpoint in {out}; "
          f"continue with: rnnkit classify --resume --out {out}", file=sys.stderr)
    return _status({"stopped_by": name})


def format_report(report: dict) -> str:
    """Accuracy per model and each confusion matrix, as plain text."""
    lo, hi = report["lengths"]
    lines = [f"dataset {report['dataset']}: {report['train_sequences']} train / "
             f"{report['test_sequences']} test sequences, {len(report['classes'])} classes, "
             f"{report['channels']} channels, lengths {lo}–{hi}"
             + (f", read in frames of {report['frame']}" if report["frame"] > 1 else ""),
             f"{'model':<48} {'accuracy':>8} {'epochs':>6} {'seconds':>8}"]
    for r in report["results"]:
        lines.append(f"{r['description']:<48} {r['accuracy']:>8.4f} {r['epochs']:>6} "
                     f"{r['seconds']:>8}")
    counts = max((n for r in report["results"] for row in r["confusion"] for n in row), default=0)
    width = max(max(len(c) for c in report["classes"]), len(str(counts))) + 1
    for r in report["results"]:
        lines.append(f"confusion matrix of {r['model']} (rows: true, columns: predicted)")
        lines.append(" " * width + "".join(f"{c:>{width}}" for c in report["classes"]))
        for c, row in zip(report["classes"], r["confusion"]):
            lines.append(f"{c:>{width}}" + "".join(f"{n:>{width}}" for n in row))
    return "\n".join(lines)
