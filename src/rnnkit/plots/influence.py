"""How strongly each earlier input drives one prediction (``rnnkit influence --png/--html``).

The text pictures colour each character by its influence relative to the largest (red:
strongest), after Madsen's "Visualizing memorization in RNNs" (Distill 2019).
"""

import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..io.atomic import write_atomic
from . import pyplot


def visible(c: str) -> str:
    """One printable cell for a character (newline ↵, tab →, other controls ·)."""
    return {"\n": "↵", "\t": "→"}.get(c, c if c.isprintable() else "·")


def relative(values: np.ndarray) -> np.ndarray:
    """Each influence as a fraction of the largest (0 … 1)."""
    return np.asarray(values) / max(float(np.max(values)), 1e-300)


def text_png(
    path: str | Path, text: str, values: np.ndarray, target: str, width: int = 64
) -> None:
    """The text in rows of ``width`` characters, each on a square as red as its influence."""
    plt = pyplot()
    rel = relative(values)
    rows = max(1, -(-len(text) // width))
    cols = min(len(text), width)
    fig, ax = plt.subplots(figsize=(0.16 * cols + 1.0, 0.32 * rows + 0.9))
    cmap = plt.get_cmap("Reds")
    for k, (c, r) in enumerate(zip(text, rel)):
        y, x = divmod(k, width)
        ax.add_patch(plt.Rectangle((x, -y - 1), 1, 1, color=cmap(float(r))))
        ax.text(
            x + 0.5, -y - 0.5, visible(c), ha="center", va="center", family="monospace", fontsize=9
        )
    ax.set_xlim(0, cols)
    ax.set_ylim(-rows, 0)
    ax.set_axis_off()
    ax.set_title(f"influence on the prediction of {target!r}", fontsize=10)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def text_html(path: str | Path, text: str, values: np.ndarray, target: str) -> None:
    """The text as an HTML page, each character's background as red as its influence."""
    spans = []
    for c, r, v in zip(text, relative(values), values):
        shown = "↵<br>" if c == "\n" else html.escape(c)
        spans.append(
            f'<span style="background: rgba(220, 40, 30, {r:.3f})" title="{v:.4g}">{shown}</span>'
        )
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>rnnkit influence</title>'
        "</head>\n<body><p>Influence of each character on the prediction of "
        f"<b>{html.escape(repr(target))}</b> (red: strongest)</p>\n"
        f'<pre style="font-size: 15px; line-height: 1.6">{"".join(spans)}'
        '<span style="outline: 2px solid black">&nbsp;</span></pre></body></html>\n'
    )
    write_atomic(path, page.encode("utf-8"))


def adding_png(path: str | Path, values: np.ndarray, marks: np.ndarray | Sequence[int]) -> None:
    """Influence of each input on the adding-problem prediction, the marked steps in red."""
    plt = pyplot()
    T = len(values)
    fig, ax = plt.subplots(figsize=(8, 3))
    marked = {int(m) for m in marks}
    colors = ["tab:red" if t in marked else "tab:gray" for t in range(T)]
    ax.bar(np.arange(T), values, color=colors)
    ax.set_xlabel("input step s (red: marked)")
    ax.set_ylabel("|d prediction / d x_s|")
    ax.set_title("influence of each input on the adding-problem prediction", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
