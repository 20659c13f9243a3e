"""Forecasts against the held-out truth (``rnnkit forecast --plot``)."""

from pathlib import Path

import numpy as np

from . import pyplot


def forecast_png(
    path: str | Path,
    series: np.ndarray,
    n_train: int,
    origins: np.ndarray,
    forecasts: dict[str, np.ndarray],
    *,
    context: int = 0,
    title: str = "",
    channel: int = 0,
) -> Path:
    """History, held-out truth and each model's forecasts, saved as a PNG at ``path``.

    ``series: [N, C]``; ``forecasts[name]: [O, h, C]`` made at ``origins``.  To keep the
    picture readable, only the forecasts from every h-th origin are drawn (paths that tile
    the tail).  ``context`` training steps before the tail are shown (0: all of them).
    """
    plt = pyplot()
    path = Path(path)
    N = len(series)
    start = max(0, n_train - context) if context else 0
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=110)
    ax.plot(
        np.arange(start, n_train),
        series[start:n_train, channel],
        color="0.35",
        lw=1.2,
        label="history (training part)",
    )
    ax.plot(
        np.arange(n_train, N),
        series[n_train:, channel],
        color="black",
        lw=1.6,
        label="truth (held out)",
    )
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, forecast) in enumerate(forecasts.items()):
        h = forecast.shape[1]
        for j, o in enumerate(origins[::h]):
            ax.plot(
                np.arange(o, o + h),
                forecast[j * h, :, channel],
                color=colours[k % 10],
                lw=1.1,
                alpha=0.9,
                label=name if j == 0 else None,
            )
    ax.axvline(n_train, color="0.6", ls="--", lw=0.8)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
