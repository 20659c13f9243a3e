"""``rnnkit gradflow``: the vanishing and exploding gradient made visible.

Each cell is trained on the adding problem (Hochreiter & Schmidhuber 1997; loss at the last
step only) for ``--steps`` updates.  Before the first update and at checkpoints, ‖∂L/∂h_t‖ is
measured for every step t of a fixed probe batch.  Printed: the decay rate per step of each
cell (the slope of ln‖∂L/∂h_t‖ going back in time) with a verdict; ``--png`` draws a heat map
(time × training step, log scale, one panel per cell).  ``--exploding`` instead trains a
tanh RNN with recurrent spectral radius > 1 with and without gradient clipping and prints
the comparison.  Results go to stdout, progress to stderr.
"""

import argparse
import math
from typing import TypedDict

SUMMARY = "show how the gradient flows back through time, per cell and during training"


class ExplodingOnly(TypedDict):
    """The options ``--exploding`` defaults differently from the per-cell comparison."""

    steps: int
    lr: float


EXPLODING_ONLY_DEFAULTS: ExplodingOnly = {"steps": 60, "lr": 0.05}
"""Where ``--exploding`` has its own defaults (``diagnostics.exploding.ExplodingSetup``)."""

NOT_EXPLODING = ("cells", "every", "forget_bias", "probe_size", "on_nonfinite")
"""Options of the per-cell comparison that the exploding set-up (a tanh Elman net) has no
use for; given with ``--exploding`` they are an error."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    # defaults are None where a flag given must be told from one not given (--exploding)
    p.add_argument("--cells", help="comma-separated cells to compare (default elman,lstm,gru)")
    p.add_argument("--T", type=int, default=100, help="sequence length (default 100)")
    p.add_argument(
        "--steps",
        type=int,
        help="training updates per cell (default 300; --exploding: per run, 60)",
    )
    p.add_argument("--every", type=int, help="measure every N updates (default: --steps / 20)")
    p.add_argument("--hidden-size", type=int, default=32, help="units per cell (default 32)")
    p.add_argument(
        "--forget-bias",
        type=float,
        help="lstm: initial forget-gate bias (default 1, Gers et al. 2000)",
    )
    p.add_argument("--batch-size", type=int, default=32, help="sequences per update (default 32)")
    p.add_argument(
        "--probe-size",
        type=int,
        help="sequences in the fixed batch the gradients are measured on (default 64)",
    )
    p.add_argument(
        "--lr", type=float, help="learning rate (default: Adam 1e-2; --exploding: SGD 0.05)"
    )
    p.add_argument(
        "--clip",
        type=float,
        default=1.0,
        help="global-norm clipping (0: off; --exploding: the clipped run's norm, > 0)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    p.add_argument(
        "--png",
        help="write the heat map (--exploding: loss and gradient norm per "
        "update) to this PNG file (needs matplotlib)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument(
        "--exploding",
        action="store_true",
        help="run the exploding-gradient set-up with and without clipping instead "
        "(a tanh Elman net: --cells, --every, --forget-bias and --probe-size "
        "do not apply)",
    )
    p.add_argument(
        "--on-nonfinite",
        choices=("skip", "reduce-lr", "stop"),
        help="a NaN/Inf loss or gradient: skip the update (default), skip it and "
        "lower the rate, or stop with an error (not with --exploding, which "
        "shows the NaN/Inf updates and always skips them)",
    )


def run(args: argparse.Namespace) -> int:
    if args.exploding:
        return _run_exploding(args)
    from ..cells import canonical_name
    from ..jobs.gradflow import GradflowSetup, report_to_stderr, track_cells

    given = {
        name: getattr(args, name)
        for name in ("steps", "every", "forget_bias", "probe_size", "lr", "on_nonfinite")
        if getattr(args, name) is not None
    }
    if args.cells is not None:
        given["cells"] = tuple(
            canonical_name(c.strip()) for c in args.cells.split(",") if c.strip()
        )
    setup = GradflowSetup(
        T=args.T,
        hidden_size=args.hidden_size,
        batch_size=args.batch_size,
        clip=args.clip,
        seed=args.seed,
        **given,
    )
    if args.png:
        from ..plots import check_available

        check_available()  # before training, not after, when matplotlib is missing
    results = track_cells(setup, report_to_stderr)
    if args.json:
        import json

        print(
            json.dumps(
                {
                    "T": setup.T,
                    "steps": setup.steps,
                    "cells": {
                        cell: {
                            "parameters": n,
                            "checkpoints": [
                                {
                                    "step": p.step,
                                    "loss": p.loss,
                                    "rate": _json_float(p.rate),
                                    "norms": [_json_float(v) for v in p.norms],
                                }
                                for p in profiles
                            ],
                        }
                        for cell, (n, profiles) in results.items()
                    },
                },
                indent=2,
            ),
            flush=True,
        )
    else:
        print(summary_table(results, setup.T), flush=True)
    if args.png:  # the results are out first: a picture that cannot be saved only warns
        from ..plots.gradflow import heatmap_png
        from . import write_or_warn

        saved = write_or_warn(
            lambda: heatmap_png(args.png, results, setup.T), f"the heat map {args.png}"
        )
        if saved and not args.json:
            print(f"heat map written to {args.png}")
    return 0


def summary_table(results: dict, T: int) -> str:
    """One row per cell: decay rate per step before and after training, and the verdict."""
    from ..diagnostics.gradflow import VERDICT_FACTOR, verdict

    rows = [
        (
            "cell",
            "params",
            "step",
            "loss",
            "rate/step",
            "factor/step",
            f"|dL/dh_0| / |dL/dh_{T - 1}|",
            "verdict",
        )
    ]
    for cell, (n, profiles) in results.items():
        for p in (profiles[0], profiles[-1]):
            ratio = p.norms[0] / p.norms[-1] if p.norms[-1] > 0 else math.nan
            rows.append(
                (
                    cell,
                    f"{n:,}",
                    str(p.step),
                    f"{p.loss:.4f}",
                    f"{p.rate:+.4f}",
                    f"{math.exp(p.rate):.4f}" if math.isfinite(p.rate) else "nan",
                    f"{ratio:.2e}",
                    verdict(p.rate, T - 1),
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    note = (
        "rate: fitted slope of ln|dL/dh_t| per step back from the loss at the last step "
        "(< 0 vanishing, > 0 exploding)\nverdict: does the fitted change across the "
        f"sequence exceed a factor {VERDICT_FACTOR:g} either way?"
    )
    return "\n".join(lines) + "\n" + note


def _json_float(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _run_exploding(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ..diagnostics.exploding import ExplodingSetup, compare, table
    from ..errors import ConfigError

    given = [name for name in NOT_EXPLODING if getattr(args, name) is not None]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ConfigError(
            f"{flags}: not used by --exploding (it trains one tanh Elman net, "
            "measured on its own batches); leave them out"
        )
    defaults = EXPLODING_ONLY_DEFAULTS
    setup = ExplodingSetup(
        seq_len=args.T,
        hidden_size=args.hidden_size,
        batch_size=args.batch_size,
        clip=args.clip,
        seed=args.seed,
        steps=defaults["steps"] if args.steps is None else args.steps,
        lr=defaults["lr"] if args.lr is None else args.lr,
    )
    if args.png:
        from ..plots import check_available

        check_available()  # before training, not after, when matplotlib is missing
    runs = compare(setup)
    if args.json:
        import json

        print(
            json.dumps(
                {
                    "setup": asdict(setup),
                    "runs": [
                        {
                            "clip": r.clip,
                            "outcome": r.outcome,
                            "first_loss": r.losses[0],
                            "max_loss": _json_float(r.max_loss),
                            "nonfinite_steps": r.nonfinite_steps,
                            "losses": [_json_float(v) for v in r.losses],
                            "grad_norms": [_json_float(v) for v in r.grad_norms],
                        }
                        for r in runs
                    ],
                },
                indent=2,
            ),
            flush=True,
        )
    else:
        print(table(runs, setup), flush=True)
    if args.png:  # the results are out first: a picture that cannot be saved only warns
        from ..plots.gradflow import exploding_png
        from . import write_or_warn

        saved = write_or_warn(
            lambda: exploding_png(args.png, runs, setup), f"the picture {args.png}"
        )
        if saved and not args.json:
            print(f"loss and gradient norm per update written to {args.png}")
    return 0
