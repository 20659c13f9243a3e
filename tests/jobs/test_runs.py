"""``rnnkit classify`` and ``rnnkit forecast`` runs: a run directory per job, killed (SIGKILL)
and interrupted (SIGINT) runs that resume to the parameters of an uninterrupted one, bit for
bit, and ``mpiexec -n 2`` held equal to one process."""

import argparse
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
from rnnkit.cli import _run, classify, forecast, main
from rnnkit.io.model_files import load_with_state
from rnnkit.training import read_log
from tests.interrupting import after_progress, start

MPIEXEC = Path(sys.executable).parent / "mpiexec"
needs_mpi = pytest.mark.skipif(
    not MPIEXEC.exists() or importlib.util.find_spec("mpi4py") is None,
    reason=f"needs mpi4py and {MPIEXEC} (pip install 'rnnkit[mpi]')",
)


def _npz(path: Path, n: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 2, "down", "up")
    x = rng.standard_normal((n, 11, 2))
    x[:, :, 0] += np.where(y == "up", 1.0, -1.0)[:, None]
    np.savez(path, x=x, lengths=rng.integers(4, 12, n), y=y)
    return str(path)


def _csv(path: Path) -> str:
    t = np.arange(90)
    rows = [f"{np.sin(2 * np.pi * k / 8) + 0.01 * k + 0.1 * np.sin(k):.6f}" for k in t]
    path.write_text("level\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def jobs(tmp_path) -> dict[str, list[str]]:
    """Each job's command line (without --out): short, with validation and early stopping."""
    train, test = _npz(tmp_path / "train.npz", 40, 0), _npz(tmp_path / "test.npz", 20, 1)
    return {
        "classify": [
            "classify",
            "--train",
            train,
            "--test",
            test,
            "--hidden-size",
            "6",
            "--ffnn-hidden",
            "6",
            "--epochs",
            "30",
            "--batch-size",
            "5",
            "--lr",
            "0.02",
            "--val-fraction",
            "0.25",
            "--patience",
            "8",
        ],
        "forecast": [
            "forecast",
            "--no-search",
            "--csv",
            _csv(tmp_path / "series.csv"),
            "--lookback",
            "6",
            "--horizon",
            "3",
            "--season",
            "8",
            "--test-size",
            "12",
            "--stat",
            "none",
            "--hidden-size",
            "4",
            "--ffnn-hidden",
            "4",
            "--epochs",
            "25",
            "--batch-size",
            "5",
            "--patience",
            "8",
        ],
    }


def _networks(out: Path) -> list[Path]:
    return sorted(d for d in out.iterdir() if d.is_dir())


def _assert_same_runs(a: Path, b: Path) -> None:
    """Every network's last parameters and metrics log steps are the same in both runs."""
    assert [d.name for d in _networks(a)] == [d.name for d in _networks(b)]
    for da, db in zip(_networks(a), _networks(b)):
        pa, pb = rnnkit.load(da / "last").params, rnnkit.load(db / "last").params
        for n in pa:
            np.testing.assert_array_equal(pa[n], pb[n], err_msg=f"{da.name} {n}")
        steps = [[r["step"] for r in read_log(d / "metrics.jsonl")] for d in (da, db)]
        assert steps[0] == steps[1], da.name


def _timeless(report: dict) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in report["results"]]


@pytest.mark.parametrize("job", ["classify", "forecast"])
def test_a_killed_then_interrupted_run_resumes_to_the_uninterrupted_parameters(
    jobs, job, tmp_path, capsys
):
    argv = jobs[job]
    assert main([*argv, "--json", "--quiet", "--out", str(tmp_path / "straight")]) == 0
    straight = json.loads(capsys.readouterr().out)
    out, rng = tmp_path / "stopped", np.random.default_rng(0)

    killed = start([*argv, "--quiet", "--out", str(out)])
    after_progress(killed, out, rng)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait() == -signal.SIGKILL

    interrupted = start([job, "--resume", "--out", str(out)])
    after_progress(interrupted, out, rng)
    interrupted.send_signal(signal.SIGINT)
    _, err = interrupted.communicate(timeout=60)
    assert interrupted.returncode == 128 + signal.SIGINT, err
    assert err.strip().splitlines()[-1] == (
        f"rnnkit: SIGINT received: saved each network's last checkpoint in {out}; "
        f"continue with: rnnkit {job} --resume --out {out}"
    )

    assert main([job, "--resume", "--json", "--out", str(out)]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert _timeless(resumed) == _timeless(straight)
    _assert_same_runs(tmp_path / "straight", out)


@pytest.mark.parametrize("job", ["classify", "forecast"])
def test_a_run_directory_holds_the_options_and_each_network_s_checkpoints(
    jobs, job, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    argv = [*jobs[job], "--epochs", "2"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    (out,) = (tmp_path / "runs").iterdir()
    assert out.name.startswith(f"{job}-") and f"; run in runs/{out.name}\n" in err
    saved = [load_with_state(d / "last")[1]["job"] for d in _networks(out)]
    assert saved[0]["seed"] == 0 and all(s == saved[0] for s in saved)  # the options
    names = {
        "classify": ["ffnn", "gru"],
        "forecast": ["ffnn-direct", "ffnn-recursive", "gru-direct", "gru-recursive"],
    }[job]
    assert [d.name for d in _networks(out)] == names
    for d in _networks(out):
        assert (d / "last").exists() and (d / "best").exists() and (d / "metrics.jsonl").exists()
    assert f"{job}: gru" in err and "epoch 1/2 loss" in err and "val_loss" in err


@pytest.mark.parametrize("job", ["classify", "forecast"])
def test_an_existing_run_is_refused_without_resume_or_overwrite(jobs, job, tmp_path, capsys):
    module = {"classify": classify, "forecast": forecast}[job]
    out = str(tmp_path / "r")
    argv = [*jobs[job][1:], "--epochs", "1", "--quiet", "--out", out]
    assert main([job, *argv]) == 0
    capsys.readouterr()
    for extra, message in [
        ([], "already holds a run; continue it with --resume"),
        (["--resume"], "a resumed run cannot change"),
        (["--resume", "--overwrite"], "give one of them"),
    ]:
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        assert _run(module, parser.parse_args([*argv, *extra]), debug=False) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert main([job, *argv, "--overwrite"]) == 0
    assert main([job, "--resume", "--out", out, "--quiet"]) == 0  # finished: nothing to train


RUN_ALL = """
import json, sys
from rnnkit.cli import main
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    if code:
        sys.exit(code)
"""


@needs_mpi
def test_two_ranks_end_equal_to_one_process_and_only_rank_0_reports(jobs, tmp_path, capsys):
    runs = {
        job: [*argv, "--epochs", "4", "--batch-size", "6", "--json", "--quiet"]
        for job, argv in jobs.items()
    }
    for job, argv in runs.items():
        assert main([*argv, "--out", str(tmp_path / f"{job}-1")]) == 0
    capsys.readouterr()
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")}
    ranked = [
        [*[a for a in argv if a != "--quiet"], "--out", str(tmp_path / f"{job}-2")]
        for job, argv in runs.items()
    ]
    done = subprocess.run(
        [
            str(MPIEXEC),
            "-genv",
            "OPENBLAS_NUM_THREADS",
            "1",
            "-n",
            "2",
            sys.executable,
            "-c",
            RUN_ALL,
            json.dumps(ranked),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"results"') == 2  # one report per job: rank 0's
    assert done.stderr.count(", 2 processes; run in") == 2
    assert done.stderr.count("classify: gru: epoch 1/4") == 1
    for job in runs:
        one, two = tmp_path / f"{job}-1", tmp_path / f"{job}-2"
        for d1, d2 in zip(_networks(one), _networks(two)):
            p1, p2 = rnnkit.load(d1 / "last").params, rnnkit.load(d2 / "last").params
            worst = max(float(np.abs(p1[n].astype(np.float64) - p2[n]).max()) for n in p1)
            assert worst < 1e-6, (d1.name, worst)


# -- jobs.runs itself ----------------------------------------------------------------------------


def _fake_run(d: Path) -> None:
    (d / "last").mkdir(parents=True)
    (d / "metrics.jsonl").write_text("{}\n")


def test_overwrite_clears_the_old_run_only_once_the_new_one_is_ready(tmp_path):
    from rnnkit.errors import ConfigError
    from rnnkit.jobs import runs

    _fake_run(tmp_path / "gru")

    def bad() -> None:
        raise ConfigError("bad option")

    with pytest.raises(ConfigError, match="bad option"):
        runs.prepare(tmp_path, resume=False, overwrite=True, new=bad, again=bad)
    assert (tmp_path / "gru" / "last").exists()  # a bad option keeps the old run
    with pytest.raises(ConfigError, match="already holds a run"):
        runs.prepare(tmp_path, resume=False, overwrite=False, new=lambda: 1, again=bad)
    assert runs.prepare(tmp_path, resume=False, overwrite=True, new=lambda: 1, again=bad) == 1
    assert runs.networks(tmp_path) == [] and not (tmp_path / "gru" / "metrics.jsonl").exists()


def test_a_resume_may_change_only_the_allowed_options_and_not_go_back_in_steps(tmp_path):
    from rnnkit.errors import ConfigError
    from rnnkit.jobs import runs

    state = {"step": 6, "job": {"steps": 6, "lr": 0.1, "hidden_size": 4}}
    allowed = frozenset({"steps", "lr"})
    assert runs.saved_options(tmp_path, {"steps": 9, "lr": None}, allowed, state) == {
        "steps": 9,
        "lr": 0.1,
        "hidden_size": 4,
    }
    with pytest.raises(ConfigError, match="cannot change hidden_size"):
        runs.saved_options(tmp_path, {"hidden_size": 8}, allowed, state)
    with pytest.raises(ConfigError, match="already at step 6, past a budget of 4"):
        runs.saved_options(tmp_path, {"steps": 4}, allowed, state)


def test_without_out_each_start_gets_a_new_directory_and_resume_needs_out(tmp_path, monkeypatch):
    from rnnkit.errors import ConfigError
    from rnnkit.jobs import runs

    monkeypatch.chdir(tmp_path)
    first = runs.run_directory("seq2seq", None, resume=False, overwrite=False)
    first.mkdir(parents=True)
    second = runs.run_directory("seq2seq", None, resume=False, overwrite=False)
    assert first.parent == Path("runs") and first.name.startswith("seq2seq-")
    assert second != first and not second.exists()
    with pytest.raises(ConfigError, match="--resume needs --out"):
        runs.run_directory("seq2seq", None, resume=True, overwrite=False)
    with pytest.raises(ConfigError, match="give one of them"):
        runs.run_directory("seq2seq", "r", resume=True, overwrite=True)


# -- a run is never replaced by accident, and has one writer -------------------------------------


@pytest.fixture
def trained(tmp_path) -> tuple[list[str], Path]:
    """A short character-model run (its command without --out, and its directory)."""
    text = tmp_path / "text.txt"
    text.write_text("def f(x):\n    return x + 1\n" * 200)
    argv = ["train", str(text), "--steps", "20", "--eval-every", "10", "--hidden-size", "8"]
    argv += ["--seq-len", "16", "--batch-size", "4"]
    out = tmp_path / "run"
    assert main([*argv, "--out", str(out)]) == 0
    return argv, out


def _files(d: Path) -> dict[str, bytes]:
    """Every file of the run and its content, but the lock (which names its last holder)."""
    files = sorted(p for p in d.rglob("*") if p.is_file() and p.name != ".lock")
    return {str(p.relative_to(d)): p.read_bytes() for p in files}


@pytest.mark.parametrize("keep_best", [True, False])
def test_a_run_whose_last_points_nowhere_is_refused_and_kept(trained, keep_best, capsys):
    """A copied run whose ``last`` dangles (``ln -sfn checkpoints/nowhere D/last``) is still
    a run: a plain ``train --out D`` refuses it and changes nothing, ``--resume`` says the
    link is broken."""
    argv, out = trained
    os.remove(out / "last")
    os.symlink("checkpoints/nowhere", out / "last")
    if not keep_best:
        os.remove(out / "best")
    before = _files(out)
    capsys.readouterr()
    assert main([*argv, "--out", str(out)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume"]) == 2
    assert "points to checkpoints/nowhere, which is missing" in capsys.readouterr().err
    assert _files(out) == before
    assert os.readlink(out / "last") == "checkpoints/nowhere"


def _hold_lock(out: Path) -> subprocess.Popen:
    """A process that holds ``out``'s lock as a run's writer does, until killed."""
    code = (
        "import sys, time; from pathlib import Path; from rnnkit.jobs import runs; "
        "runs.lock(Path(sys.argv[1])); print('locked', flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


@pytest.mark.parametrize("resume", [False, True])
def test_a_second_writer_is_refused_and_a_killed_writer_leaves_no_lock(trained, resume, capsys):
    """While one process writes a run, another is refused with a line naming it; once that
    process is killed (-9), the run can be continued: the lock died with it."""
    argv, out = trained
    before = _files(out)
    holder = _hold_lock(out)
    try:
        capsys.readouterr()
        again = ["train", "--out", str(out), "--resume", "--steps", "30"]
        assert main(again if resume else [*argv, "--out", str(out), "--overwrite"]) == 2
        err = capsys.readouterr().err
        assert f"is being written by process {holder.pid} on " in err
        assert _files(out) == before
    finally:
        holder.kill()
        holder.wait()
    assert main(["train", "--out", str(out), "--resume", "--steps", "30"]) == 0
    assert load_with_state(out / "last")[1]["step"] == 30


def test_the_writer_s_lock_is_given_up_when_its_command_ends(trained):
    """A command that ends (here ``main`` in this process) releases its run: another process
    may take it at once."""
    _, out = trained
    code = "import sys, pathlib, rnnkit.jobs.runs as r; r.lock(pathlib.Path(sys.argv[1]))"
    assert subprocess.run([sys.executable, "-c", code, str(out)]).returncode == 0
