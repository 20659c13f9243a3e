"""A classifier's confusion matrix as a heat map (``rnnkit classify --plot``)."""

from pathlib import Path
from typing import Any

import numpy as np

from . import pyplot


def confusion_png(
    path: str | Path, matrix: np.ndarray, classes: list[str], *, title: str = ""
) -> Path:
    """A confusion matrix (rows: true class, columns: predicted) as a PNG heat map."""
    plt = pyplot()
    path = Path(path)
    fig = confusion_figure(matrix, classes, title=title)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def confusion_figure(matrix: np.ndarray, classes: list[str], *, title: str = "") -> Any:
    """The confusion matrix's figure, sized so that its title and labels fit on the canvas.

    The cells take 0.5 inch each; the figure then grows until everything drawn — the title
    (often wider than a 2×2 matrix), rotated class names, axis labels — lies inside it.
    """
    plt = pyplot()
    matrix = np.asarray(matrix)
    K = len(classes)
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * K, 1.0 + 0.5 * K), dpi=110)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(n),
            ha="center",
            va="center",
            fontsize=8,
            color="white" if n > matrix.max() / 2 else "black",
        )
    ax.set_xticks(range(K), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(K), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    fig.suptitle(title, fontsize=9)  # centred on the figure, so a wide figure holds it
    _grow_to_fit(fig)
    return fig


def _grow_to_fit(fig: Any, margin: float = 0.1, rounds: int = 4) -> None:
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
