"""Kill ``rnnkit train`` with SIGKILL at random moments, resume, and end where an uninterrupted
run ends — bit for bit — while no checkpoint on disk is ever loadable-but-wrong.

A checkpoint after every update makes a good share of the kills land inside a write.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.errors import CheckpointError
from rnnkit.io.model_files import CHECKPOINTS, load_with_state

RUN = [
    "--cell",
    "gru",
    "--hidden-size",
    "8",
    "--seq-len",
    "8",
    "--bptt-steps",
    "12",
    "--batch-size",
    "2",
    "--recurrent-dropout",
    "0.1",
    "--eval-every",
    "4",
    "--eval-chars",
    "200",
    "--sample-every",
    "0",
    "--checkpoint-every",
    "1",
]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    words = ["def", "return", "self", "import", "class", "(x)", ":", "\n", "    "]
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(rng.choice(words, 3000)), encoding="utf-8")
    return path


def _train_command(corpus: Path, out: Path, resume: bool, steps: int) -> list[str]:
    args = ["--resume"] if resume else [str(corpus), *RUN, "--overwrite"]
    return [
        sys.executable,
        "-m",
        "rnnkit",
        "train",
        *args,
        "--steps",
        str(steps),
        "--out",
        str(out),
    ]


def _check_every_checkpoint(out: Path) -> tuple[bool, bool]:
    """Assert ``last``/``best`` are absent or load, and no directory loads holding NaN.

    Returns whether ``last`` is there to resume from, and whether a write was interrupted
    (a checkpoint directory no link points at).
    """
    for name in ("last", "best"):
        link = out / name
        if link.is_symlink() or link.exists():
            model, state = load_with_state(link)  # raises if the link's checkpoint is broken
            assert all(np.isfinite(w).all() for w in model.params.values())
            assert name == "best" or state["step"] >= 1
    linked = {(out / name).resolve() for name in ("last", "best")}
    unlinked = [f for f in (out / CHECKPOINTS).glob("*") if f.resolve() not in linked]
    for folder in unlinked:  # unpublished, perhaps half-written
        try:
            model, _ = load_with_state(folder)
        except CheckpointError:
            continue  # an interrupted write: refuses to load, as it must
        assert all(np.isfinite(w).all() for w in model.params.values())
    return (out / "last").exists(), bool(unlinked)


def _saved_step(out: Path) -> int:
    """The step of the checkpoint ``out/last`` points at (0 if none), read from the link."""
    link = out / "last"
    if not link.is_symlink():
        return 0
    return int(Path(os.readlink(link)).name.split("-")[1])


def _kill_and_resume(
    corpus: Path, out: Path, trials: int, seed: int, steps: int
) -> tuple[int, int]:
    """Run to the end through ``trials`` SIGKILLs at random moments.

    Returns the kills that hit a running process, and of them those that cut a write.
    """
    rng = np.random.default_rng(seed)
    kills = cut_writes = 0
    resume = False
    for _ in range(trials):
        before = _saved_step(out)
        proc = subprocess.Popen(
            _train_command(corpus, out, resume, steps),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # wait for progress (not a fixed time, which a fast or a loaded machine would miss),
        # then kill somewhere inside the following updates and their checkpoint writes
        deadline = time.monotonic() + 120
        while _saved_step(out) <= before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.1))  # a step with its save takes ≈ 30–60 ms
        proc.send_signal(signal.SIGKILL)
        killed = proc.wait() == -signal.SIGKILL
        resume, cut = _check_every_checkpoint(out)
        kills, cut_writes = kills + killed, cut_writes + (killed and cut)
    finish = subprocess.run(
        _train_command(corpus, out, resume, steps), capture_output=True, text=True
    )
    assert finish.returncode == 0, finish.stderr
    _check_every_checkpoint(out)
    return kills, cut_writes


def _assert_same_parameters(a: Path, b: Path, steps: int) -> None:
    (model_a, state_a), (model_b, state_b) = load_with_state(a), load_with_state(b)
    assert state_a["step"] == state_b["step"] == steps
    for name, w in model_a.params.items():
        np.testing.assert_array_equal(w, model_b.params[name], err_msg=name)


def _uninterrupted(corpus: Path, out: Path, steps: int) -> Path:
    assert main(["train", str(corpus), *RUN, "--steps", str(steps), "--out", str(out)]) == 0
    return out / "last"


@pytest.mark.parametrize("seed", [0])
def test_runs_killed_at_random_moments_resume_to_identical_parameters(
    corpus, tmp_path, capsys, seed
):
    reference = _uninterrupted(corpus, tmp_path / "straight", steps=20)
    capsys.readouterr()
    kills, _ = _kill_and_resume(corpus, tmp_path / "killed", trials=3, seed=seed, steps=20)
    assert kills >= 1
    _assert_same_parameters(reference, tmp_path / "killed" / "last", steps=20)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_many_kills_resume_to_identical_parameters(corpus, tmp_path, capsys, seed):
    reference = _uninterrupted(corpus, tmp_path / "straight", steps=150)
    capsys.readouterr()
    kills, cut_writes = _kill_and_resume(
        corpus, tmp_path / "killed", trials=12, seed=seed, steps=150
    )
    print(f"seed {seed}: {kills} kills, {cut_writes} during a checkpoint write")
    assert kills >= 8
    _assert_same_parameters(reference, tmp_path / "killed" / "last", steps=150)
