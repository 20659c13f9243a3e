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
import sys
from typing import Any

SUMMARY = "show how the gradient flows back through time, per cell and during training"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cells", default="elman,lstm,gru",
                   help="comma-separated cells to compare (default elman,lstm,gru)")
    p.add_argument("--T", type=int, default=100, help="sequence length (default 100)")
    p.add_argument("--steps", type=int, default=300,
                   help="training updates per cell (default 300)")
    p.add_argument("--every", type=int, default=0,
                   help="measure every N updates (default: --steps / 20)")
    p.add_argument("--hidden-size", type=int, default=32, help="units per cell (default 32)")
    p.add_argument("--forget-bias", type=float, default=1.0,
                   help="lstm: initial forget-gate bias (default 1, Gers et al. 2000)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per update (default 32)")
    p.add_argument("--probe-size", type=int, default=64,
                   help="sequences in the fixed batch the gradients are measured on (default 64)")
    p.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate (default 1e-2)")
    p.add_argument("--clip", type=float, default=1.0, help="global-norm clipping (0: off)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    p.add_argument("--png", help="write the heat map to this PNG file (needs matplotlib)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--exploding", action="store_true",
                   help="run the exploding-gradient set-up with and without clipping instead")


def run(args: argparse.Namespace) -> int:
    if args.exploding:
        return _run_exploding(args)
    from ..cells import canonical_name
    from ..errors import ConfigError

    cells = [canonical_name(c.strip()) for c in args.cells.split(",") if c.strip()]
    if not cells:
        raise ConfigError("--cells must name at least one cell, e.g. --cells elman,lstm")
    if args.steps < 0 or args.T < 22:
        raise ConfigError(f"need --steps >= 0 and --T >= 22, got {args.steps}, {args.T}")
    if args.png:
        pyplot()  # fail before training, not after, when matplotlib is missing
    results = {cell: _track_cell(cell, args) for cell in cells}
    if args.png:
        write_heatmap(results, args.png, args.T)
    if args.json:
        import json

        print(json.dumps({"T": args.T, "steps": args.steps, "cells": {
            cell: {"parameters": n, "checkpoints": [
                {"step": p.step, "loss": p.loss, "rate": _json_float(p.rate),
                 "norms": [_json_float(v) for v in p.norms]} for p in profiles]}
            for cell, (n, profiles) in results.items()}}, indent=2))
    else:
        print(summary_table(results, args.T))
        if args.png:
            print(f"heat map written to {args.png}")
    return 0


def _track_cell(cell: str, args: argparse.Namespace) -> tuple[int, list]:
    """(parameter count, profiles) of one cell trained on the adding problem."""
    import numpy as np

    from ..config import ModelConfig
    from ..data.synthetic import adding_problem
    from ..diagnostics.gradflow import TrainOptions, track
    from ..layers.recurrent import RecurrentConfig
    from ..model import Model

    rnn = RecurrentConfig(cell=cell, input_size=2, hidden_size=args.hidden_size,
                          forget_bias=args.forget_bias if cell == "lstm" else 0.0)
    config = ModelConfig(rnn=rnn, output_size=1, readout="last_step", loss="mse")
    model = Model(config, rng=np.random.default_rng([args.seed, 0]))
    data_rng = np.random.default_rng([args.seed, 1])
    probe = adding_problem(np.random.default_rng([args.seed, 2]), args.probe_size, args.T,
                           vary_length=False)

    def batches():
        while True:
            b = adding_problem(data_rng, args.batch_size, args.T, vary_length=False)
            yield b.x, b.y

    def report(p) -> None:
        print(f"{config.rnn.cell}: step {p.step}: loss {p.loss:.4f}, decay rate "
              f"{p.rate:+.4f} per step", file=sys.stderr, flush=True)

    every = args.every or max(1, args.steps // 20)
    options = TrainOptions(steps=args.steps, every=every, lr=args.lr, clip=args.clip)
    return model.num_parameters(), track(model, batches(), (probe.x, probe.y), options, report)


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

    setup = ExplodingSetup(seq_len=args.T, seed=args.seed)
    runs = compare(setup)
    if args.json:
        import json

        print(json.dumps({"setup": asdict(setup),
                          "runs": [{"clip": r.clip, "outcome": r.outcome,
                                    "first_loss": r.losses[0], "max_loss": _json_float(r.max_loss),
                                    "nonfinite_steps": r.nonfinite_steps,
                                    "losses": [_json_float(v) for v in r.losses],
                                    "grad_norms": [_json_float(v) for v in r.grad_norms]}
                                   for r in runs]}, indent=2))
    else:
        print(table(runs, setup))
    return 0
