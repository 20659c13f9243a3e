"""PNG pictures of the jobs' results, drawn with matplotlib's Agg backend (no display needed).

matplotlib is an optional dependency (the ``jobs`` extra) and is imported only when a picture
is drawn, so ``import rnnkit`` never pays for it.
"""

from pathlib import Path

import numpy as np

from ..errors import ConfigError


def check_available() -> None:
    """ConfigError now, before any training, if the pictures cannot be drawn later."""
    _pyplot()


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("plots need matplotlib: pip install 'rnnkit[jobs]'") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def forecast_png(path: str | Path, series: np.ndarray, n_train: int, origins: np.ndarray,
                 forecasts: dict[str, np.ndarray], *, context: int = 0, title: str = "",
                 channel: int = 0) -> Path:
    """History, held-out truth and each model's forecasts, saved as a PNG at ``path``.

    ``series: [N, C]``; ``forecasts[name]: [O, h, C]`` made at ``origins``.  To keep the
    picture readable, only the forecasts from every h-th origin are drawn (paths that tile
    the tail).  ``context`` training steps before the tail are shown (0: all of them).
    """
    plt = _pyplot()
    path = Path(path)
    N = len(series)
    start = max(0, n_train - context) if context else 0
    fig, ax = plt.subplots(figsize=(11, 4.5), dpi=110)
    ax.plot(np.arange(start, n_train), series[start:n_train, channel], color="0.35", lw=1.2,
            label="history (training part)")
    ax.plot(np.arange(n_train, N), series[n_train:, channel], color="black", lw=1.6,
            label="truth (held out)")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, forecast) in enumerate(forecasts.items()):
        h = forecast.shape[1]
        for j, o in enumerate(origins[::h]):
            ax.plot(np.arange(o, o + h), forecast[j * h, :, channel], color=colours[k % 10],
                    lw=1.1, alpha=0.9, label=name if j == 0 else None)
    ax.axvline(n_train, color="0.6", ls="--", lw=0.8)
    ax.set_xlabel("step")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def confusion_png(path: str | Path, matrix: np.ndarray, classes: list[str], *,
                  title: str = "") -> Path:
    """A confusion matrix (rows: true class, columns: predicted) as a PNG heat map."""
    plt = _pyplot()
    path = Path(path)
    fig = confusion_figure(matrix, classes, title=title)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def confusion_figure(matrix: np.ndarray, classes: list[str], *, title: str = ""):
    """The confusion matrix's figure, sized so that its title and labels fit on the canvas.

    The cells take 0.5 inch each; the figure then grows until everything drawn — the title
    (often wider than a 2×2 matrix), rotated class names, axis labels — lies inside it.
    """
    plt = _pyplot()
    matrix = np.asarray(matrix)
    K = len(classes)
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * K, 1.0 + 0.5 * K), dpi=110)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(j, i, str(n), ha="center", va="center", fontsize=8,
                color="white" if n > matrix.max() / 2 else "black")
    ax.set_xticks(range(K), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(K), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.suptitle(title, fontsize=9)  # centred on the figure, so a wide figure holds it
    _grow_to_fit(fig)
    return fig


def _grow_to_fit(fig, margin: float = 0.1, rounds: int = 4) -> None:
    """Enlarge ``fig`` (inches) until the bounding box of everything drawn fits inside."""
    for _ in range(rounds):
        fig.tight_layout()
        box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches
        width, height = fig.get_size_inches()
        need_w = max(width, box.width + 2 * margin)
        need_h = max(height, box.height + 2 * margin)
        inside = box.x0 >= 0 and box.y0 >= 0 and box.x1 <= width and box.y1 <= height
        if inside and (need_w, need_h) == (width, height):
            return
        fig.set_size_inches(need_w, need_h)
    fig.tight_layout()
