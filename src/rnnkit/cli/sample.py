"""``rnnkit sample DIR``: generate text from a trained character or word model.

DIR is a run directory (its ``best/`` model is used, else ``last/``) or a model directory.
The prompt (``--prime``, or ``--prompt``) is printed, then ``--length`` characters (words and
punctuation marks, for a word model) drawn after it.  The prompt is read as the start of a
line (after a newline, unless it begins with one: ``jobs.charmodel.TextPredictor``).  A word
model reads a word of the prompt outside its vocabulary as ``<unk>``.  The text goes to stdout.
"""

import argparse

SUMMARY = "generate text from a trained character or word model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="run directory (uses best/, else last/) or model directory")
    p.add_argument(
        "--prime",
        "--prompt",
        dest="prime",
        default="\n",
        help="text to start from (default: a newline)",
    )
    p.add_argument(
        "--length",
        type=int,
        default=500,
        help="characters (a word model: words) to generate (default 500)",
    )
    p.add_argument(
        "--temperature",
        type=float,
        default=0.8,
        help="< 1: safer, > 1: more surprising (default 0.8)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling generator")


def run(args: argparse.Namespace) -> int:
    # out-of-memory and system errors become one line in rnnkit.cli.main
    import math
    import sys

    from ..errors import ConfigError
    from ..io.model_files import load
    from ..jobs.charmodel import TextPredictor, vocabulary
    from ..models.ffnn import FFNN
    from ..models.model import Model
    from .info import model_dir

    if not (math.isfinite(args.temperature) and args.temperature > 0):
        raise ConfigError(f"--temperature must be a finite number > 0, got {args.temperature}")
    if args.length < 0:
        raise ConfigError(f"--length must be >= 0, got {args.length}")
    path = model_dir(args.dir)
    model = load(path)
    if not isinstance(model, (Model, FFNN)):
        raise ConfigError(
            f"{path}: sample takes a recurrent character Model or an FFNN character baseline, "
            f"got {type(model).__name__}"
        )
    predictor = TextPredictor(model, path, vocabulary(model.meta, path))
    if args.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {args.seed}")
    if not args.prime:
        raise ConfigError("--prime must hold at least one character")
    text = predictor.sample(args.prime, args.length, args.temperature, args.seed)
    sys.stdout.write(args.prime + text + "\n")
    return 0
