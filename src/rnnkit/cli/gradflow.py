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
from typing import Any

SUMMARY = "show how the gradient flows back through time, per cell and during training"


EXPLODING_ONLY_DEFAULTS = {"steps": 60, "lr": 0.05}
"""Where ``--exploding`` has its own defaults (``diagnostics.exploding.ExplodingSetup``)."""

NOT_EXPLODING = ("cells", "every", "forget_bias", "probe_size", "on_nonfinite")
"""Options of the per-cell comparison that the exploding set-up (a tanh Elman net) has no
use for; given with ``--exploding`` they are an error."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    # defaults are None where a flag given must be told from one not given (--exploding)
    p.add_argument("--cells",
                   help="comma-separated cells to compare (default elman,lstm,gru)")
    p.add_argument("--T", type=int, default=100, help="sequence length (default 100)")
    p.add_argument("--steps", type=int,
                   help="training updates per cell (default 300; --exploding: per run, 60)")
    p.add_argument("--every", type=int,
                   help="measure every N updates (default: --steps / 20)")
    p.add_argument("--hidden-size", type=int, default=32, help="units per cell (default 32)")
    p.add_argument("--forget-bias", type=float,
                   help="lstm: initial forget-gate bias (default 1, Gers et al. 2000)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per update (default 32)")
    p.add_argument("--probe-size", type=int,
                   help="sequences in the fixed batch the gradients are measured on (default 64)")
    p.add_argument("--lr", type=float,
                   help="learning rate (default: Adam 1e-2; --exploding: SGD 0.05)")
    p.add_argument("--clip", type=float, default=1.0,
                   help="global-norm clipping (0: off; --exploding: the clipped run's norm, > 0)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    p.add_argument("--png", help="write the heat map (--exploding: loss and gradient norm per "
                                 "update) to this PNG file (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--exploding", action="store_true",
                   help="run the exploding-gradient set-up with and without clipping instead "
                        "(a tanh Elman net: --cells, --every, --forget-bias and --probe-size "
                        "do not apply)")
    p.add_argument("--on-nonfinite", choices=("skip", "reduce-lr", "stop"),
                   help="a NaN/Inf loss or gradient: skip the update (default), skip it and "
                        "lower the rate, or stop with an error (not with --exploding, which "
                        "shows the NaN/Inf updates and always skips them)")


def run(args: argparse.Namespace) -> int:
    if args.exploding:
        return _run_exploding(args)
    from ..cells import canonical_name
    from ..jobs.gradflow import GradflowSetup, report_to_stderr, track_cells

    given = {name: getattr(args, name) for name in (
        "steps", "every", "forget_bias", "probe_size", "lr", "on_nonfinite")
        if getattr(args, name) is not None}
    if args.cells is not None:
        given["cells"] = tuple(canonical_name(c.strip()) for c in args.cells.split(",")
                               if c.strip())
    setup = GradflowSetup(T=args.T, hidden_size=args.hidden_size, batch_size=args.batch_size,
                          clip=args.clip, seed=args.seed, **given)
    if args.png:
        pyplot()  # fail before training, not after, when matplotlib is missing
    results = track_cells(setup, report_to_stderr)
    if args.json:
        import json

        print(json.dumps({"T": setup.T, "steps": setup.steps, "cells": {
            cell: {"parameters": n, "checkpoints": [
                {"step": p.step, "loss": p.loss, "rate": _json_float(p.rate),
                 "norms": [_json_float(v) for v in p.norms]} for p in profiles]}
            for cell, (n, profiles) in results.items()}}, indent=2), flush=True)
    else:
        print(summary_table(results, setup.T), flush=True)
    if args.png:  # the results are out first: a picture that cannot be saved only warns
        from . import write_or_warn

        saved = write_or_warn(lambda: write_heatmap(results, args.png, setup.T),
                              f"the heat map {args.png}")
        if saved and not args.json:
            print(f"heat map written to {args.png}")
    return 0


def summary_table(results: dict, T: int) -> str:
    """One row per cell: decay rate per step before and after training, and the verdict."""
    from ..diagnostics.gradflow import VERDICT_FACTOR, verdict

    rows = [("cell", "params", "step", "loss", "rate/step", "factor/step",
             f"|dL/dh_0| / |dL/dh_{T - 1}|", "verdict")]
    for cell, (n, profiles) in results.items():
        for p in (profiles[0], profiles[-1]):
            ratio = p.norms[0] / p.norms[-1] if p.norms[-1] > 0 else math.nan
            rows.append((cell, f"{n:,}", str(p.step), f"{p.loss:.4f}", f"{p.rate:+.4f}",
                         f"{math.exp(p.rate):.4f}" if math.isfinite(p.rate) else "nan",
                         f"{ratio:.2e}", verdict(p.rate, T - 1)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    note = ("rate: fitted slope of ln|dL/dh_t| per step back from the loss at the last step "
            "(< 0 vanishing, > 0 exploding)\nverdict: does the fitted change across the "
            f"sequence exceed a factor {VERDICT_FACTOR:g} either way?")
    return "\n".join(lines) + "\n" + note


def write_heatmap(results: dict, path: str, T: int) -> None:
    """Heat map of log10 ‖∂L/∂h_t‖: time × training step, one panel per cell."""
    import numpy as np

    plt = pyplot()
    cells = list(results)
    logs = {c: np.log10(np.maximum(np.stack([p.norms for p in results[c][1]]), 1e-300))
            for c in cells}
    vmax = max(float(v.max()) for v in logs.values())
    vmin = max(min(float(v.min()) for v in logs.values()), vmax - 30)
    fig, axes = plt.subplots(len(cells), 1, figsize=(8, 1.0 + 2.0 * len(cells)), squeeze=False,
                             sharex=True)
    for ax, cell in zip(axes[:, 0], cells):
        steps = [p.step for p in results[cell][1]]
        image = ax.imshow(logs[cell], aspect="auto", origin="lower", cmap="viridis",
                          vmin=vmin, vmax=vmax, interpolation="nearest",
                          extent=(-0.5, T - 0.5, -0.5, len(steps) - 0.5))
        ticks = np.linspace(0, len(steps) - 1, min(len(steps), 5)).round().astype(int)
        ax.set_yticks(ticks, [str(steps[k]) for k in ticks])
        ax.set_ylabel("training step")
        rate = results[cell][1][-1].rate
        ax.set_title(f"{cell}: final decay rate {rate:+.3f} per step", fontsize=10)
    axes[-1, 0].set_xlabel("time step t (loss at the last step)")
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="log10 |dL/dh_t|")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed), or a clear error."""
    from ..errors import ConfigError

    try:
        import matplotlib
    except ImportError:
        raise ConfigError("PNG output needs matplotlib: pip install 'rnnkit[plots]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _json_float(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _run_exploding(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ..diagnostics.exploding import ExplodingSetup, compare, table
    from ..errors import ConfigError

    given = [name for name in NOT_EXPLODING if getattr(args, name) is not None]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise ConfigError(f"{flags}: not used by --exploding (it trains one tanh Elman net, "
                          "measured on its own batches); leave them out")
    chosen = {name: default if getattr(args, name) is None else getattr(args, name)
              for name, default in EXPLODING_ONLY_DEFAULTS.items()}
    setup = ExplodingSetup(seq_len=args.T, hidden_size=args.hidden_size,
                           batch_size=args.batch_size, clip=args.clip, seed=args.seed, **chosen)
    if args.png:
        pyplot()  # fail before training, not after, when matplotlib is missing
    runs = compare(setup)
    if args.json:
        import json

        print(json.dumps({"setup": asdict(setup),
                          "runs": [{"clip": r.clip, "outcome": r.outcome,
                                    "first_loss": r.losses[0], "max_loss": _json_float(r.max_loss),
                                    "nonfinite_steps": r.nonfinite_steps,
                                    "losses": [_json_float(v) for v in r.losses],
                                    "grad_norms": [_json_float(v) for v in r.grad_norms]}
                                   for r in runs]}, indent=2), flush=True)
    else:
        print(table(runs, setup), flush=True)
    if args.png:  # the results are out first: a picture that cannot be saved only warns
        from . import write_or_warn

        saved = write_or_warn(lambda: write_exploding(runs, setup, args.png),
                              f"the picture {args.png}")
        if saved and not args.json:
            print(f"loss and gradient norm per update written to {args.png}")
    return 0


def write_exploding(runs: list, setup, path: str) -> None:
    """Loss and gradient norm (before clipping) per update of each run, on log scales."""
    import numpy as np

    plt = pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    steps = np.arange(1, setup.steps + 1)
    for r in runs:
        label = f"clipped to norm {r.clip:g}" if r.clip else "not clipped"
        for ax, values in zip(axes, (r.losses, r.grad_norms)):
            finite = np.where(np.isfinite(values) & (values > 0), values, np.nan)
            ax.plot(steps, finite, lw=1.2, label=label)
    axes[0].set_ylabel("loss")
    axes[1].set_ylabel("|g| before clipping")
    for ax in axes:
        ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("SGD update")
    axes[0].set_title(f"tanh Elman, H={setup.hidden_size}, T={setup.seq_len}, spectral radius "
                      f"{setup.radius:g}, lr {setup.lr:g} (gaps: not finite)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
