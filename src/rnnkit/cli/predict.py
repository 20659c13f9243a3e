"""``rnnkit predict RUN INPUT``: what a trained run says about new data, for every job.

RUN is a run directory (its ``best`` checkpoint, ``--last`` for its ``last``; in a run of
several networks the one its ``run.json`` names) or a checkpoint directory.  INPUT is read
by the run's job (``jobs.predicting``):

    classify     new sequences (NPZ or CSV, as ``classify --train`` reads them; labels may be
                 absent): a label and one probability per class for each sequence
    forecast     a series (CSV): ``horizon`` values past its last observation, dated at the
                 series' frequency, with prediction intervals
    train        prompts, one per line: the ``--top`` most likely next characters or words
    seq2seq      inputs, one per line: the decoded output of each
    one-to-many  conditions, one per line: the sequence generated from each

The rows go to stdout as CSV (``--json``: JSON), or to ``-o FILE``; notes on how they were
made (where the intervals come from, unknown words) go to stderr.
"""

import argparse
import inspect
import io
import sys

SUMMARY = "predict with a trained run on new data (labels, forecasts past the end, next words)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", help="run directory (uses best, else last) or checkpoint directory")
    p.add_argument("input", help="the new data: a sequences, series or text file (see above)")
    p.add_argument("-o", "--output", help="write the rows to this file (default: stdout)")
    p.add_argument("--json", action="store_true", help="JSON instead of CSV")
    p.add_argument("--last", action="store_true", help="predict with last instead of best")
    p.add_argument("--top", type=int, help="text models: how many next tokens (default 5)")


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..io.atomic import write_atomic
    from ..jobs import predicting

    predictor = predicting.predictor_of(args.run, "last" if args.last else "best")
    options = {} if args.top is None else {"k": args.top}
    accepted = inspect.signature(predictor.predict_file).parameters
    if options and "k" not in accepted:
        raise ConfigError(f"--top is for text models; {args.run} is a {predictor.job} run")
    if args.top is not None and args.top < 1:
        raise ConfigError(f"--top must be >= 1, got {args.top}")
    table = predictor.predict_file(args.input, **options)
    if args.output is None:
        predicting.print_table(table, as_json=args.json)
        return 0
    text = io.StringIO()
    predicting.print_table(table, as_json=args.json, out=text)
    write_atomic(args.output, text.getvalue().encode("utf-8"))
    print(f"{len(table.rows)} rows written to {args.output}", file=sys.stderr)
    return 0
