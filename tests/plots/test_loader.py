"""The one matplotlib loader: the only place in rnnkit that imports matplotlib."""

import re
import sys
from pathlib import Path

import pytest

import rnnkit
from rnnkit.errors import ConfigError
from rnnkit.plots import check_available, pyplot

SOURCE = Path(rnnkit.__file__).parent
IMPORTS_MATPLOTLIB = re.compile(r"^\s*(import|from)\s+matplotlib\b", re.MULTILINE)


def test_matplotlib_is_imported_only_by_the_plots_loader():
    importers = sorted(
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if IMPORTS_MATPLOTLIB.search(path.read_text(encoding="utf-8"))
    )
    assert importers == ["plots/__init__.py"]


def test_without_matplotlib_the_error_names_the_plots_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    with pytest.raises(
        ConfigError, match=r"^plots need matplotlib: pip install 'rnnkit\[plots\]'$"
    ):
        check_available()


def test_the_plots_extra_named_in_the_error_installs_matplotlib():
    tomllib = pytest.importorskip("tomllib")
    pyproject = SOURCE.parents[1] / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("installed without its source tree")
    extras = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    assert [r for r in extras["plots"] if r.startswith("matplotlib")]


def test_pictures_are_drawn_on_the_agg_backend():
    matplotlib = pytest.importorskip("matplotlib")
    pyplot()
    assert matplotlib.get_backend().lower() == "agg"
