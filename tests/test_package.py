"""The top-level package: every advertised name resolves, lazily, from the module it names."""

import subprocess
import sys

import pytest

import rnnkit


@pytest.mark.parametrize("name", sorted(rnnkit._LAZY))
def test_every_advertised_name_resolves_to_its_module(name):
    obj = getattr(rnnkit, name)
    assert obj.__module__ == rnnkit._LAZY[name]
    assert name in rnnkit.__all__


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Modle'"):
        rnnkit.Modle  # noqa: B018


def test_importing_the_package_loads_no_heavy_module():
    code = (
        "import sys, rnnkit; "
        "print(sorted(m for m in ('numpy', 'torch', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_shipped_license_is_the_one_the_package_metadata_names():
    from importlib.metadata import metadata
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    meta = metadata("rnnkit")
    assert meta["License-Expression"] == "MIT"
    assert (root / "LICENSE").read_text().startswith("MIT License")


def test_the_package_declares_its_type_hints():
    from pathlib import Path

    assert (Path(rnnkit.__file__).parent / "py.typed").is_file()
