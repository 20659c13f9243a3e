"""``rnnkit gradflow``: the table, the heat map PNG, JSON, and the exploding comparison."""

import argparse
import json
import sys

import pytest

from rnnkit.cli import gradflow
from rnnkit.errors import ConfigError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = ["--T", "22", "--steps", "4", "--every", "2", "--hidden-size", "4", "--batch-size", "4",
        "--probe-size", "4"]


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    gradflow.add_arguments(parser)
    return gradflow.run(parser.parse_args(argv))


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 100
    assert data[12:16] == b"IHDR"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_prints_a_decay_rate_per_cell_and_writes_a_heat_map(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "flow.png"
    assert _run([*TINY, "--cells", "elman,lstm", "--png", str(png)]) == 0
    out = capsys.readouterr()
    rows = [line.split() for line in out.out.splitlines() if line.split()[:1] in (["elman"],
                                                                                    ["lstm"])]
    assert [(r[0], r[2]) for r in rows] == [("elman", "0"), ("elman", "4"), ("lstm", "0"),
                                             ("lstm", "4")]
    for r in rows:  # the verdict follows the sign of the fitted rate
        assert r[-1] in ("vanishing", "stable", "exploding")
        assert r[-1] == "stable" or (float(r[4]) < 0) == (r[-1] == "vanishing")
    assert "step 2" in out.err  # progress on stderr
    width, height = _png_size(png)
    assert width > 100 and height > 100


def test_json_holds_every_checkpoint_with_one_norm_per_step(capsys):
    assert _run([*TINY, "--cells", "gru", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    checkpoints = result["cells"]["gru"]["checkpoints"]
    assert [c["step"] for c in checkpoints] == [0, 2, 4]
    assert all(len(c["norms"]) == 22 for c in checkpoints)


def test_exploding_prints_the_comparison_with_and_without_clipping(capsys):
    assert _run(["--exploding", "--T", "22"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].split()[0] == "none" and lines[-1].split()[:2] == ["norm", "1"]
    assert lines[-1].split()[-1] == "stable"


def test_png_without_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    with pytest.raises(ConfigError, match=r"rnnkit\[plots\]"):
        _run([*TINY, "--cells", "elman", "--png", str(tmp_path / "x.png")])
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("argv, message", [
    (["--cells", ","], "at least one cell"),
    (["--cells", "tree"], "unknown cell"),
    (["--T", "5"], "--T >= 22"),
])
def test_bad_options_raise_a_named_error(argv, message):
    with pytest.raises(ConfigError, match=message):
        _run([*TINY, *argv])
