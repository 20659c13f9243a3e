"""``rnnkit report`` in a real browser: headless Chromium renders the page of two trained runs.

Excluded from ``make test``; ``make test-browser`` installs Chromium (Debian's package) and
runs these.  Without Chromium they are skipped, unless ``RNNKIT_REQUIRE_BROWSER`` is set
(as ``make test-browser`` does), when they fail.
"""

import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

from rnnkit.cli import main
from tests.reports.dom import parse

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1200, 2000
COLOURS = {"first run": (0x1F, 0x77, 0xB4), "second run": (0xD6, 0x27, 0x28)}
"""The colours of the first two networks' lines (``reports.svg.COLOURS``)."""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "no chromium on PATH (make test-browser installs it)"
        if os.environ.get("RNNKIT_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def browse(tmp_path, *args: str) -> subprocess.CompletedProcess:
    """Chromium, headless, with a profile of its own in ``tmp_path``."""
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    env = {**os.environ, "HOME": str(tmp_path)}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The page of two small character-model runs (hidden sizes 8 and 24)."""
    tmp = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    words = ["def", "return", "self", "import", "class", "(x)", ":", "\n", "    "]
    corpus = tmp / "corpus.txt"
    corpus.write_text(" ".join(rng.choice(words, 3000)), encoding="utf-8")
    runs = []
    for name, size in (("gru-8", "8"), ("gru-24", "24")):
        out = tmp / name
        argv = ["train", str(corpus), "--cell", "gru", "--hidden-size", size, "--steps", "40"]
        small = ["--seq-len", "16", "--batch-size", "4", "--eval-every", "5"]
        assert main([*argv, *small, "--sample-every", "0", "--quiet", "--out", str(out)]) == 0
        runs.append(out)
    html = tmp / "report.html"
    assert main(["report", *map(str, runs), "--html", str(html)]) == 0
    return html


def test_the_dom_holds_a_curve_per_quantity_with_a_line_per_run(report, tmp_path):
    done = browse(tmp_path, "--dump-dom", report.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = parse(done.stdout)
    curves = {c.attrs["id"]: c for c in dom.find_all("svg", class_="curve")}
    assert {"curve-train_loss", "curve-val_loss", "curve-lr", "curve-grad_norm"} <= set(curves)
    for curve in curves.values():
        lines = curve.find_all("polyline", class_="run")
        assert [p.attrs["data-run"] for p in lines] == ["gru-8", "gru-24"]
    loss = curves["curve-train_loss"].find_all("polyline")
    assert [len(p.attrs["points"].split()) for p in loss] == [40, 40]
    options = [r.attrs["data-option"] for r in dom.find_all("tr") if "data-option" in r.attrs]
    assert options == ["model.rnn.hidden_size"]
    final = [r.attrs["data-run"] for r in dom.find_all("tr") if "data-run" in r.attrs]
    assert final.count("gru-8") >= 2 and final.count("gru-24") >= 2  # runs and final tables


def test_the_screenshot_shows_the_curves(report, tmp_path):
    shot = tmp_path / "report.png"
    done = browse(
        tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", report.as_uri()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (WIDTH, HEIGHT)
    image = pytest.importorskip("matplotlib.image").imread(shot)
    rgb = np.round(image[..., :3] * 255).astype(int)  # [HEIGHT, WIDTH, 3]
    inked = np.any(rgb < 235, axis=-1).mean()
    assert 0.02 < inked < 0.6, f"{inked:.1%} of the page is not white"
    coarse = rgb // 16  # 16 levels a channel
    assert len(np.unique(coarse[..., 0] * 256 + coarse[..., 1] * 16 + coarse[..., 2])) >= 8
    for what, colour in COLOURS.items():
        near = np.all(np.abs(rgb - colour) <= 40, axis=-1).sum()
        assert near > 500, f"the {what}'s lines are not on the page ({near} pixels)"
