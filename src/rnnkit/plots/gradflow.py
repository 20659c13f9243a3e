"""The gradient's flow back through time, made visible (``rnnkit gradflow --png``)."""

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import pyplot

if TYPE_CHECKING:
    from ..diagnostics.exploding import ExplodingSetup, RunSummary
    from ..diagnostics.gradflow import Profile


def heatmap_png(path: str | Path, results: "dict[str, tuple[int, list[Profile]]]", T: int) -> None:
    """Heat map of log10 ‖∂L/∂h_t‖: time × training step, one panel per cell.

    ``results[cell] = (parameters, profiles)``, one profile per checkpoint, each holding the
    T norms measured on the probe batch.
    """
    plt = pyplot()
    cells = list(results)
    logs = {
        c: np.log10(np.maximum(np.stack([p.norms for p in results[c][1]]), 1e-300)) for c in cells
    }
    vmax = max(float(v.max()) for v in logs.values())
    vmin = max(min(float(v.min()) for v in logs.values()), vmax - 30)
    fig, axes = plt.subplots(
        len(cells), 1, figsize=(8, 1.0 + 2.0 * len(cells)), squeeze=False, sharex=True
    )
    for ax, cell in zip(axes[:, 0], cells):
        steps = [p.step for p in results[cell][1]]
        image = ax.imshow(
            logs[cell],
            aspect="auto",
            origin="lower",
            cmap="viridis",
            vmin=vmin,
            vmax=vmax,
            interpolation="nearest",
            extent=(-0.5, T - 0.5, -0.5, len(steps) - 0.5),
        )
        ticks = np.linspace(0, len(steps) - 1, min(len(steps), 5)).round().astype(int)
        ax.set_yticks(ticks, [str(steps[k]) for k in ticks])
        ax.set_ylabel("training step")
        rate = results[cell][1][-1].rate
        ax.set_title(f"{cell}: final decay rate {rate:+.3f} per step", fontsize=10)
    axes[-1, 0].set_xlabel("time step t (loss at the last step)")
    fig.colorbar(image, ax=axes[:, 0].tolist(), label="log10 |dL/dh_t|")
    fig.savefig(path, dpi=100)
    plt.close(fig)


def exploding_png(path: str | Path, runs: "list[RunSummary]", setup: "ExplodingSetup") -> None:
    """Loss and gradient norm (before clipping) per update of each run, on log scales."""
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
    axes[0].set_title(
        f"tanh Elman, H={setup.hidden_size}, T={setup.seq_len}, spectral radius "
        f"{setup.radius:g}, lr {setup.lr:g} (gaps: not finite)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
