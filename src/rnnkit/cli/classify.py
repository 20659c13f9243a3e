"""``rnnkit classify``: many-to-one classification of labelled, variable-length sequences.

Data: ``--dataset`` for sktime's bundled GunPoint, ItalyPowerDemand, JapaneseVowels or
BasicMotions (published train/test splits), or ``--train FILE [--test FILE]`` (``.npz`` with
``x``, ``lengths``, ``y``; or long-form ``.csv`` with ``sequence`` and ``label`` columns).
Each bundled set has documented defaults (``rnnkit.jobs.classify.PRESETS``); options given
on the command line replace them.  Reports test accuracy and the confusion matrix of the
recurrent net and (unless ``--no-baseline``) the feed-forward baseline; ``--json`` for
machine-readable output.  Progress goes to stderr.
"""

import argparse

SUMMARY = "classify sequences (accuracy, confusion matrix) beside a feed-forward baseline"


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = p.add_argument_group("data")
    d.add_argument("--dataset", help="GunPoint | ItalyPowerDemand | JapaneseVowels | BasicMotions")
    d.add_argument("--train", metavar="FILE", help="training sequences (.npz or .csv)")
    d.add_argument("--test", metavar="FILE", help="test sequences (default: hold out a part)")
    d.add_argument("--test-fraction", type=float, default=0.3,
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
    m.add_argument("--schedule", choices=("constant", "cosine"),
                   help="learning-rate schedule (default cosine)")
    m.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True,
                   help="also train the feed-forward baseline (default on)")
    m.add_argument("--ffnn-hidden", type=int, default=64,
                   help="baseline's hidden units (default 64)")
    t = p.add_argument_group("training (defaults: the dataset's preset, else 100 epochs)")
    t.add_argument("--epochs", type=int, help="epochs")
    t.add_argument("--batch-size", type=int, help="sequences per update")
    t.add_argument("--lr", type=float, help="Adam learning rate")
    t.add_argument("--clip", type=float, help="global gradient-norm clip (0: off)")
    t.add_argument("--val-fraction", type=float, default=0.0,
                   help="hold out this share of the training split to pick the best epoch "
                        "(default 0: train all epochs on all of it)")
    t.add_argument("--patience", type=int,
                   help="with --val-fraction: stop after this many epochs without improvement")
    t.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")
    o = p.add_argument_group("output")
    o.add_argument("--json", action="store_true", help="print the results as JSON")
    o.add_argument("--plot", metavar="FILE",
                   help="save the recurrent net's confusion matrix as a PNG")
    o.add_argument("--quiet", action="store_true", help="no progress on stderr")


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from dataclasses import replace

    from ..jobs import stderr_log
    from ..jobs.classify import defaults_for, load, run_classification, with_overrides

    name, train_set, test_set = load(args.dataset, args.train, args.test,
                                     test_fraction=args.test_fraction, seed=args.seed)
    preset = defaults_for(args.dataset)
    net, fit = with_overrides(
        preset.net, preset.fit, schedule=args.schedule, cell=args.cell,
        hidden_size=args.hidden_size, num_layers=args.num_layers,
        nonlinearity=args.nonlinearity, jordan_feedback=args.jordan_feedback,
        window=args.window, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, clip=args.clip,
        patience=args.patience)
    nets = [net]
    if args.baseline and net.cell != "ffnn":
        nets.append(replace(net, cell="ffnn", hidden_size=args.ffnn_hidden, num_layers=1))
    if args.plot:
        from ..plots import check_available

        check_available()  # before training, not after, when matplotlib is missing
    log = None if args.quiet else stderr_log(sys.stderr, "classify")
    if log:
        log(f"{name}: {len(train_set.y)} training and {len(test_set.y)} test sequences, "
            f"{train_set.num_classes} classes, {train_set.channels} channels")
    report = run_classification(train_set, test_set, nets, fit, seed=args.seed,
                                val_fraction=args.val_fraction, frame=args.frame or preset.frame,
                                log=log)
    report = {"dataset": name, **report}
    print(json.dumps(report, indent=2) if args.json else format_report(report), flush=True)
    if args.plot:  # the results are out first: a plot that cannot be saved only warns
        from ..plots import confusion_png
        from . import write_or_warn

        first = report["results"][0]
        title = f"{name}: {first['description']}, accuracy {first['accuracy']:.3f}"
        saved = write_or_warn(
            lambda: confusion_png(args.plot, first["confusion"], report["classes"], title=title),
            f"the plot {args.plot}")
        if saved and not args.json:
            print(f"plot saved to {args.plot}")
    return 0


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
