"""``rnnkit experiment --out DIR`` as a run: killed (SIGKILL) and interrupted (SIGINT) tables
resume to the uninterrupted one bit for bit, ``--on-nonfinite`` reaches the engine, and
``mpiexec -n 2`` trains each cell data-parallel, equal to one process."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.io.model_files import load_with_state
from rnnkit.training import bptt
from tests.interrupting import after_progress, start

MPIEXEC = Path(sys.executable).parent / "mpiexec"
needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or not MPIEXEC.exists(),
    reason=f"needs mpi4py and {MPIEXEC} (pip install 'rnnkit[mpi]')",
)

CELLS = ("lstm", "gru")
ARGV = [
    "experiment",
    "adding",
    "--cells",
    *CELLS,
    "--T",
    "22",
    "--steps",
    "150",
    "--eval-every",
    "10",
    "--parameters",
    "300",
    "--batch-size",
    "16",
    "--test-size",
    "64",
]


def _timeless(table: str) -> list[list[str]]:
    """The printed table's lines as words, without the rows' wall time (column 6)."""
    lines = [line.split() for line in table.splitlines()]
    return [
        words[:5] + words[6:] if words[:1] in ([c] for c in CELLS) else words for words in lines
    ]


def _assert_same_cells(a: Path, b: Path) -> None:
    for cell in CELLS:
        pa, pb = rnnkit.load(a / cell / "last").params, rnnkit.load(b / cell / "last").params
        assert sorted(pa) == sorted(pb)
        for n in pa:
            np.testing.assert_array_equal(pa[n], pb[n], err_msg=f"{cell} {n}")


def test_a_killed_then_interrupted_experiment_resumes_to_the_uninterrupted_table(tmp_path, capsys):
    assert main([*ARGV, "--quiet", "--out", str(tmp_path / "straight")]) == 0
    straight = capsys.readouterr().out
    out, rng = tmp_path / "stopped", np.random.default_rng(0)

    killed = start([*ARGV, "--quiet", "--out", str(out)])
    after_progress(killed, out, rng)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL

    interrupted = start([*ARGV, "--quiet", "--out", str(out), "--resume"])
    after_progress(interrupted, out, rng)
    interrupted.send_signal(signal.SIGINT)
    _, err = interrupted.communicate(timeout=60)
    assert interrupted.returncode == 128 + signal.SIGINT, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("rnnkit: SIGINT received: ") and " saved at update " in last, err
    assert last.endswith(f"continue with: rnnkit experiment adding ... --out {out} --resume")

    assert main([*ARGV, "--quiet", "--out", str(out), "--resume"]) == 0
    resumed = capsys.readouterr().out
    assert _timeless(resumed) == _timeless(straight)
    _assert_same_cells(tmp_path / "straight", out)


TINY = [
    "experiment",
    "adding",
    "--cells",
    "elman",
    "--T",
    "22",
    "--steps",
    "8",
    "--eval-every",
    "4",
    "--parameters",
    "300",
    "--batch-size",
    "4",
    "--test-size",
    "16",
]


@pytest.fixture
def nan_loss_at(monkeypatch):
    """Make the loss NaN on the given calls of the objective (0-based, counted per test)."""

    def install(*calls: int) -> None:
        real, count = bptt.objective, [0]

        def objective(model, y, targets, mask=None):
            loss, dy = real(model, y, targets, mask)
            count[0] += 1
            return (float("nan"), dy) if count[0] - 1 in calls else (loss, dy)

        monkeypatch.setattr(bptt, "objective", objective)

    return install


def test_on_nonfinite_skip_skips_the_nan_update_and_counts_it(tmp_path, capsys, nan_loss_at):
    nan_loss_at(3)
    argv = [*TINY, "--json", "--on-nonfinite", "skip", "--out", str(tmp_path)]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    (row,) = json.loads(out)["rows"]
    assert row["steps"] == 8 and row["stopped"] == "steps"
    assert "1 non-finite update skipped" in err
    _, state = load_with_state(tmp_path / "elman" / "last")
    assert state["engine"]["skipped"] == 1
    assert all(
        np.isfinite(w).all() for w in rnnkit.load(tmp_path / "elman" / "last").params.values()
    )


def test_on_nonfinite_stop_ends_the_cell_diverged_at_the_nan(tmp_path, capsys, nan_loss_at):
    nan_loss_at(3)
    assert main([*TINY, "--json", "--on-nonfinite", "stop", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    (row,) = json.loads(out)["rows"]
    assert (row["stopped"], row["steps"]) == ("diverged", 3)
    said = [line for line in err.splitlines() if "loss is nan at step 3" in line]
    assert len(said) == 1, err


@needs_mpi
def test_two_processes_train_each_cell_equal_to_one_and_only_rank_0_reports(tmp_path, capsys):
    argv = [*TINY[:3], *CELLS, *TINY[4:], "--batch-size", "5", "--steps", "12", "--json"]
    assert main([*argv, "--quiet", "--out", str(tmp_path / "one")]) == 0
    one = json.loads(capsys.readouterr().out)
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")}
    done = subprocess.run(
        [
            str(MPIEXEC),
            "-genv",
            "OPENBLAS_NUM_THREADS",
            "1",
            "-n",
            "2",
            sys.executable,
            "-m",
            "rnnkit",
            *argv,
            "--out",
            str(tmp_path / "two"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    two = json.loads(done.stdout)  # one table: rank 0's
    assert [r["steps"] for r in two["rows"]] == [r["steps"] for r in one["rows"]]
    assert done.stderr.count("adding lstm step 4 ") == 1  # progress from rank 0 alone
    for cell in CELLS:
        p1 = rnnkit.load(tmp_path / "one" / cell / "last").params
        p2 = rnnkit.load(tmp_path / "two" / cell / "last").params
        worst = max(float(np.abs(p1[n].astype(np.float64) - p2[n]).max()) for n in p1)
        assert worst < 1e-6, (cell, worst)


@needs_mpi
def test_two_processes_refuse_a_batch_of_one_row(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")}
    done = subprocess.run(
        [str(MPIEXEC), "-n", "2", sys.executable, "-m", "rnnkit", *TINY, "--batch-size", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("cannot be split over 2 processes") == 1, done.stderr


def test_the_cell_with_the_best_validation_predicts_new_sequences(tmp_path, capsys):
    """``OUT/run.json`` names the cell with the best validation figure; ``rnnkit predict OUT
    FILE`` gives its answers for new sequences, and ``OUT/result.json`` keeps the rows."""
    import json

    from rnnkit.jobs.predicting import checkpoint_of

    out = tmp_path / "t"
    argv = ["experiment", "adding", "--cells", *CELLS, "--T", "22", "--steps", "20"]
    argv += ["--eval-every", "10", "--parameters", "200", "--batch-size", "8"]
    assert main([*argv, "--test-size", "16", "--quiet", "--json", "--out", str(out)]) == 0
    table = json.loads(capsys.readouterr().out)
    rows = json.loads((out / "result.json").read_text())["results"]
    assert [r["cell"] for r in rows] == [r["cell"] for r in table["rows"]] == list(CELLS)
    best = max(rows, key=lambda r: r["val_metric"])["cell"]  # a share right: higher is better
    assert checkpoint_of(out).parent.name == best
    rng = np.random.default_rng(5)
    x = np.stack([rng.uniform(size=(3, 22)), np.zeros((3, 22))], axis=-1)
    x[:, [1, 4], 1] = 1.0
    np.savez(tmp_path / "new.npz", x=x)
    assert main(["predict", str(out), str(tmp_path / "new.npz"), "--json"]) == 0
    answers = [r["value"] for r in json.loads(capsys.readouterr().out)["rows"]]
    expected = rnnkit.load(checkpoint_of(out)).predict(x.astype(np.float32))[:, 0]
    np.testing.assert_array_equal(answers, expected)
    np.savez(tmp_path / "bad.npz", x=x[..., :1])
    assert main(["predict", str(out), str(tmp_path / "bad.npz")]) == 2
    assert "bad.npz: x has shape [3, 22, 1]; this task reads [N, T, 2] real inputs" in (
        capsys.readouterr().err
    )
