"""The confusion matrix: everything drawn lies on the canvas that is saved."""

import pytest

pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from rnnkit.plots.confusion import confusion_png  # noqa: E402


@pytest.fixture
def saved_figures(monkeypatch):
    """Every figure saved, as it was when saved (the file is written as usual)."""
    figures = []
    save = Figure.savefig

    def record(self, *args, **kwargs):
        figures.append(self)
        return save(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return figures


def _texts_outside_the_canvas(fig) -> list[str]:
    renderer = FigureCanvasAgg(fig).get_renderer()  # the figure is closed once saved
    canvas = fig.bbox  # pixels
    outside = []
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text():
            continue
        box = text.get_window_extent(renderer)
        if (
            box.x0 < canvas.x0 - 0.5
            or box.x1 > canvas.x1 + 0.5
            or box.y0 < canvas.y0 - 0.5
            or box.y1 > canvas.y1 + 0.5
        ):
            outside.append(text.get_text())
    return outside


@pytest.mark.parametrize(
    "classes",
    [["0", "1"], ["up", "down", "a-rather-long-label"], [f"class {k}" for k in range(8)]],
)
def test_the_confusion_matrix_title_and_labels_lie_on_the_canvas(tmp_path, saved_figures, classes):
    K = len(classes)
    matrix = [[(i * 7 + j * 3) % 11 for j in range(K)] for i in range(K)]
    title = "train.npz: gru H=32 (3,618 parameters), accuracy 0.967"
    path = confusion_png(tmp_path / "c.png", matrix, classes, title=title)
    assert path.read_bytes()[:4] == b"\x89PNG"
    (fig,) = saved_figures
    titles = [t for t in fig.findobj(Text) if t.get_text() == title]
    assert titles, "the title is drawn"
    assert _texts_outside_the_canvas(fig) == []
