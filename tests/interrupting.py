"""Start an ``rnnkit`` command in a child process and stop it once it has saved new progress:
what the kill-and-resume tests of every job share."""

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def start(argv: list[str]) -> subprocess.Popen:
    """``python -m rnnkit argv…`` in a child process, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "rnnkit", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def saved_steps(out: Path) -> int:
    """The updates of every ``last`` checkpoint in ``out`` and the networks below it, summed."""
    links = [out / "last", *out.glob("*/last")] if out.exists() else []
    return sum(
        int(Path(os.readlink(link)).name.split("-")[1]) for link in links if link.is_symlink()
    )


def after_progress(proc: subprocess.Popen, out: Path, rng: np.random.Generator) -> None:
    """Wait until the process has saved a new ``last``, then a random moment more."""
    before, deadline = saved_steps(out), time.monotonic() + 120
    while saved_steps(out) <= before and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(rng.uniform(0.0, 0.02))
    assert proc.poll() is None, "the run finished before it could be stopped"
