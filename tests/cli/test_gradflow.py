"""``rnnkit gradflow``: the table, the heat map PNG, JSON, and the exploding comparison."""

import argparse
import json
import sys

import pytest

from rnnkit.cli import gradflow
from rnnkit.errors import ConfigError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = [
    "--T",
    "22",
    "--steps",
    "4",
    "--every",
    "2",
    "--hidden-size",
    "4",
    "--batch-size",
    "4",
    "--probe-size",
    "4",
]


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
    rows = [
        line.split() for line in out.out.splitlines() if line.split()[:1] in (["elman"], ["lstm"])
    ]
    assert [(r[0], r[2]) for r in rows] == [
        ("elman", "0"),
        ("elman", "4"),
        ("lstm", "0"),
        ("lstm", "4"),
    ]
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


def test_exploding_honours_steps_hidden_size_lr_clip_and_batch_size(capsys):
    argv = [
        "--exploding",
        "--T",
        "22",
        "--steps",
        "3",
        "--hidden-size",
        "5",
        "--lr",
        "0.07",
        "--clip",
        "2.5",
        "--batch-size",
        "6",
        "--json",
    ]
    assert _run(argv) == 0
    result = json.loads(capsys.readouterr().out)
    setup = result["setup"]
    assert (
        setup["steps"],
        setup["hidden_size"],
        setup["lr"],
        setup["clip"],
        setup["batch_size"],
    ) == (3, 5, 0.07, 2.5, 6)
    assert [r["clip"] for r in result["runs"]] == [0.0, 2.5]
    assert all(len(r["losses"]) == 3 for r in result["runs"])


def test_exploding_draws_loss_and_gradient_norm_per_update(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "exploding.png"
    assert _run(["--exploding", "--T", "22", "--steps", "3", "--png", str(png)]) == 0
    assert f"written to {png}" in capsys.readouterr().out
    width, height = _png_size(png)
    assert width > 100 and height > 100


@pytest.mark.parametrize(
    "argv, named",
    [
        (["--cells", "gru"], "--cells"),
        (["--every", "2", "--probe-size", "8"], "--every, --probe-size"),
        (["--forget-bias", "2"], "--forget-bias"),
        (["--on-nonfinite", "stop"], "--on-nonfinite"),
    ],
)
def test_exploding_refuses_the_options_it_has_no_use_for(argv, named):
    with pytest.raises(ConfigError, match=f"^{named}: not used by --exploding"):
        _run(["--exploding", "--T", "22", *argv])


def test_exploding_refuses_a_clipped_run_without_clipping():
    with pytest.raises(ConfigError, match="clip > 0"):
        _run(["--exploding", "--T", "22", "--clip", "0"])


@pytest.mark.parametrize(
    "mode", [[*TINY, "--cells", "elman"], ["--exploding", "--T", "22", "--steps", "2"]]
)
def test_a_png_that_cannot_be_written_warns_after_the_results(tmp_path, capsys, mode):
    pytest.importorskip("matplotlib")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    png = blocker / "flow.png"  # inside a regular file: no user, root included, can write it
    assert _run([*mode, "--png", str(png)]) == 0
    out, err = capsys.readouterr()
    assert "clipping" in out or "verdict" in out  # the results were printed
    assert "written to" not in out
    warnings = [line for line in err.splitlines() if line.startswith("rnnkit: warning:")]
    assert len(warnings) == 1 and str(png) in warnings[0] and "not saved" in warnings[0]


def test_png_without_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    with pytest.raises(ConfigError, match=r"rnnkit\[plots\]"):
        _run([*TINY, "--cells", "elman", "--png", str(tmp_path / "x.png")])
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--cells", ","], "at least one cell"),
        (["--cells", "tree"], "unknown cell"),
        (["--T", "5"], "--T >= 22"),
    ],
)
def test_bad_options_raise_a_named_error(argv, message):
    with pytest.raises(ConfigError, match=message):
        _run([*TINY, *argv])
