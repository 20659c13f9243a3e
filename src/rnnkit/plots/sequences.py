"""Generated sequences beside the truth (``rnnkit one-to-many sine --plot``)."""

from pathlib import Path

import numpy as np

from . import pyplot


def waves_png(
    path: str | Path,
    truth: np.ndarray,
    generated: np.ndarray,
    periods: np.ndarray,
    *,
    title: str = "",
) -> None:
    """One panel per wave: the truth and the generated wave, ``[K, T, 1]`` each.

    Each panel is labelled with its period ``periods[k]``.
    """
    plt = pyplot()
    K = len(periods)
    fig, axes = plt.subplots(K, 1, figsize=(9, 1.6 * K), dpi=110, sharex=True, squeeze=False)
    for k, ax in enumerate(axes[:, 0]):
        ax.plot(truth[k, :, 0], color="black", lw=1.4, label="truth")
        ax.plot(generated[k, :, 0], color="tab:red", lw=1.1, ls="--", label="generated")
        ax.set_ylabel(f"P = {periods[k]:.1f}", fontsize=8)
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[0, 0].set_title(title)
    axes[-1, 0].set_xlabel("step")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
