"""The report's learning curves as one PNG (``rnnkit report --png``), drawn with matplotlib
through ``plots.pyplot`` (the plots extra): one panel per quantity, one line per network,
the panels sharing the step axis."""

from pathlib import Path

from ..plots import pyplot
from .html import quantities
from .runs import Network
from .svg import points, thin


def curves_png(path: str | Path, networks: list[Network]) -> Path:
    """The curves of ``networks`` (the quantities of ``html.quantities``) saved at ``path``."""
    plt = pyplot()
    path = Path(path)
    found = quantities(networks)
    rows = max(len(found), 1)
    fig, axes = plt.subplots(rows, 1, figsize=(10, 2.6 * rows), dpi=100, sharex=True)
    axes = list(axes) if rows > 1 else [axes]
    for ax, (_, key, title) in zip(axes, found):
        values = []
        for n in networks:
            pts = thin(
                points(
                    [r.get("step") for r in n.records if key in r],
                    [r.get(key) for r in n.records if key in r],
                )
            )
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1.2, label=n.label)
                values += [p[1] for p in pts]
        if values and min(values) > 0 and max(values) / min(values) >= 100:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("step")
    if not found:
        axes[0].text(0.5, 0.5, "no metrics logged", ha="center", transform=axes[0].transAxes)
    fig.tight_layout()
    try:
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
