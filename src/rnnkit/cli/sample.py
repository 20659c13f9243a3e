"""``rnnkit sample DIR``: generate text from a trained character model.

DIR is a run directory (its ``best/`` model is used, else ``last/``) or a model directory.
The text goes to stdout.
"""

import argparse

SUMMARY = "generate text from a trained character model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="run directory (uses best/, else last/) or model directory")
    p.add_argument("--prime", default="\n", help="text to start from (default: a newline)")
    p.add_argument("--length", type=int, default=500, help="characters to generate (default 500)")
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

    import numpy as np

    from ..data.text import CharVocab
    from ..errors import CheckpointError, ConfigError
    from ..io.model_files import load
    from ..models.ffnn import FFNN
    from ..models.model import Model
    from ..models.sampling import generate
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
    if "vocab" not in model.meta:
        raise CheckpointError(f"{path} is not a character model (it has no vocabulary)")
    vocab = CharVocab.from_dict(model.meta["vocab"])
    if args.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {args.seed}")
    if not args.prime:
        raise ConfigError("--prime must hold at least one character")
    prime = vocab.encode(args.prime)
    ids = generate(
        model,
        prime,
        args.length,
        temperature=args.temperature,
        rng=np.random.default_rng(args.seed),
    )
    sys.stdout.write(args.prime + vocab.decode(ids) + "\n")
    return 0
