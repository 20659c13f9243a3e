"""``rnnkit seq2seq``: exact-match results, and a run that trains through the engine in a run
directory — resumed exactly (also after SIGKILL), stopped by signals, guarded against NaN,
and split over 2 MPI ranks."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.errors import ConfigError
from rnnkit.io.model_files import load_with_state
from rnnkit.jobs import seq2seq as job
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.training import TrainingDiverged, read_log
from rnnkit.training import engine as engine_module
from tests.training.test_distributed import _env, _two_ranks, needs_mpi

TINY = [
    "--steps",
    "4",
    "--hidden-size",
    "8",
    "--embedding-dim",
    "4",
    "--test-size",
    "20",
    "--val-size",
    "20",
    "--eval-every",
    "2",
    "--batch-size",
    "8",
    "--beam",
    "2",
]


def _main(argv: list[str], out: Path) -> int:
    return main(["seq2seq", *argv, "--out", str(out)])


def _params(run_dir: Path) -> dict[str, np.ndarray]:
    return load_with_state(run_dir / "last")[0].params


def assert_same_parameters(a: Path, b: Path) -> None:
    """``a/last`` and ``b/last`` hold the very same parameters (bit for bit)."""
    pa, pb = _params(a), _params(b)
    assert pa.keys() == pb.keys()
    for name, w in pa.items():
        np.testing.assert_array_equal(w, pb[name], err_msg=name)


@pytest.mark.parametrize("task", ["reverse", "addition"])
def test_a_tiny_run_reports_greedy_and_beam_exact_match(task, tmp_path, capsys):
    assert _main([task, *TINY, "--json"], tmp_path / "r") == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["task"] == task and result["steps"] == 4 and result["test_pairs"] == 20
    assert 0 <= result["greedy_exact_match"] <= 1 and 0 <= result["beam_exact_match"] <= 1
    assert len(result["examples"]) == 5 and "greedy exact match" in err
    assert "step 1/4 | loss" in err  # the progress line (at most one a second)


def test_text_output_names_both_decoders(tmp_path, capsys):
    assert _main(["reverse", *TINY, "--max-len", "3"], tmp_path / "r") == 0
    out = capsys.readouterr().out
    assert "exact match, greedy" in out and "beam of 2" in out


def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys):
    assert _main(["reverse", *TINY, "--beam", "0"], tmp_path / "r") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["rnnkit: error: beam must be > 0, got 0"]
    with pytest.raises(ConfigError, match="task"):
        job.Seq2SeqJob(task="sort")


def test_no_test_source_is_trained_or_validated_on():
    data = job.make_data(job.Seq2SeqJob(max_len=2, test_size=60, val_size=50))
    trained = data.training_pairs(np.random.default_rng(0), 500)
    assert len(trained) == 500 and len(data.val) == 50
    assert data.held_out and not ({s for s, _ in trained + data.val} & data.held_out)
    with pytest.raises(ConfigError, match="test set holds nearly every source"):
        job.make_data(job.Seq2SeqJob(max_len=1, test_size=200))


def test_the_run_directory_holds_checkpoints_and_the_log_and_best_loads(tmp_path, capsys):
    out = tmp_path / "r"
    assert _main(["reverse", *TINY], out) == 0
    assert [r["step"] for r in read_log(out / "metrics.jsonl")] == [1, 2, 3, 4]
    best = rnnkit.load(out / "best")
    assert isinstance(best, Seq2Seq) and best.meta["job"] == "seq2seq"
    assert best.meta["task"] == "reverse" and best.meta["chars"] == "abcdefghij"
    _, state = load_with_state(out / "last")
    assert state["job"]["hidden_size"] == 8 and state["step"] == 4
    capsys.readouterr()
    assert _main(["reverse", *TINY], out) == 2  # a run is there
    assert "already holds a run" in capsys.readouterr().err
    assert _main(["reverse", *TINY, "--overwrite"], out) == 0


def test_without_out_a_new_run_directory_is_named_on_stderr(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["seq2seq", "addition", *TINY]) == 0
    err = capsys.readouterr().err
    name = err.split("run directory ")[1].split()[0]
    assert name.startswith("runs/seq2seq-addition-") and (tmp_path / name / "last").exists()


def test_a_resumed_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path, capsys):
    straight, split = tmp_path / "a", tmp_path / "b"
    assert _main(["reverse", *TINY, "--steps", "8", "--checkpoint-every", "3"], straight) == 0
    assert _main(["reverse", *TINY, "--steps", "5", "--checkpoint-every", "3"], split) == 0
    assert main(["seq2seq", "--resume", "--steps", "8", "--out", str(split)]) == 0
    assert_same_parameters(straight, split)
    assert [r["step"] for r in read_log(split / "metrics.jsonl")] == list(range(1, 9))
    capsys.readouterr()
    assert main(["seq2seq", "--resume", "--hidden-size", "9", "--out", str(split)]) == 2
    assert "cannot change hidden_size" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_last_and_exits_128_plus_its_number(tmp_path, monkeypatch, capsys, signum):
    send_signal_at(monkeypatch, step=3, signum=signum)
    out = tmp_path / "r"
    argv = ["reverse", *TINY, "--steps", "50", "--checkpoint-every", "100"]
    assert _main(argv, out) == 128 + signum
    err = capsys.readouterr().err
    assert f"continue with: rnnkit seq2seq --resume --out {out}" in err
    assert load_with_state(out / "last")[1]["step"] == 4


def send_signal_at(monkeypatch, *, step: int, signum: int) -> None:
    """Make the engine send ``signum`` to this process during the update after ``step``."""
    real = engine_module.Engine.update

    def update(self, batch):
        if self.step == step:
            os.kill(os.getpid(), signum)  # arrives during the update; acted on after it
        return real(self, batch)

    monkeypatch.setattr(engine_module.Engine, "update", update)


def _nan_loss_at(monkeypatch, *calls: int) -> None:
    """The job's gradient function returns a NaN loss at these calls (0-based)."""
    real, count = job.gradients, [0]

    def gradients(model, batch, rng):
        step = real(model, batch, rng)
        count[0] += 1
        return step._replace(loss=np.nan) if count[0] - 1 in calls else step

    monkeypatch.setattr(job, "gradients", gradients)


def _fit(tmp_path: Path, **options):
    run = job.start(
        job.Seq2SeqJob(
            **{
                "steps": 6,
                "hidden_size": 8,
                "embedding_dim": 4,
                "batch_size": 8,
                "val_size": 10,
                "test_size": 10,
                "eval_every": 2,
                "checkpoint_every": 1,
                **options,
            }
        ),
        tmp_path / "r",
    )
    return run, run.fit(io.StringIO(), handle_signals=False)


@pytest.mark.parametrize("action", ["skip", "reduce-lr"])
def test_a_nan_loss_is_not_applied(tmp_path, monkeypatch, action):
    _nan_loss_at(monkeypatch, 2)
    run, summary = _fit(tmp_path, on_nonfinite=action)
    assert summary.skipped == 1 and summary.steps == 6
    assert run.engine.lr_scale == (0.5 if action == "reduce-lr" else 1.0)
    assert all(np.isfinite(w).all() for w in _params(tmp_path / "r").values())


def test_a_nan_loss_stops_the_run_when_told_and_last_is_the_step_before(
    tmp_path, monkeypatch, capsys
):
    _nan_loss_at(monkeypatch, 2)
    with pytest.raises(TrainingDiverged, match="loss is nan at step 2"):
        _fit(tmp_path, on_nonfinite="stop")
    assert load_with_state(tmp_path / "r" / "last")[1]["step"] == 2
    _nan_loss_at(monkeypatch, 2)
    assert _main(["reverse", *TINY, "--on-nonfinite", "stop"], tmp_path / "cli") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "loss is nan" in err[-1] and "--resume --out" in err[-1]


# ----------------------------------------------------------------------------- SIGKILL


def _saved_step(out: Path) -> int:
    link = out / "last"
    return int(Path(os.readlink(link)).name.split("-")[1]) if link.is_symlink() else 0


def kill_and_resume(command: list[str], out: Path, kills: int) -> int:
    """Run ``command`` (``rnnkit …`` up to its flags; ``--resume`` after the first start) to
    its end through ``kills`` SIGKILLs, each soon after a new checkpoint; the kills that hit."""
    hits, resume = 0, []
    for _ in range(kills):
        before = _saved_step(out)
        proc = subprocess.Popen(
            [sys.executable, "-m", "rnnkit", *(resume or command), "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while _saved_step(out) <= before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        hits += proc.wait() == -signal.SIGKILL
        resume = [command[0], "--resume"]
    done = subprocess.run(
        [sys.executable, "-m", "rnnkit", *resume, "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return hits


def test_a_run_killed_twice_resumes_to_the_uninterrupted_parameters(tmp_path, capsys):
    argv = ["reverse", *TINY, "--steps", "40", "--checkpoint-every", "1", "--eval-every", "5"]
    assert _main(argv, tmp_path / "straight") == 0
    assert kill_and_resume(["seq2seq", *argv], tmp_path / "killed", kills=2) >= 1
    assert_same_parameters(tmp_path / "straight", tmp_path / "killed")
    assert load_with_state(tmp_path / "killed" / "last")[1]["step"] == 40


# ----------------------------------------------------------------------------- MPI

RUN_ALL = """
import json, sys
from rnnkit.cli import main
for argv in json.loads(sys.argv[1]):
    code = main(argv)
    if code:
        sys.exit(code)
"""


def mpi_runs(commands: dict[str, list[str]], tmp_path: Path) -> subprocess.CompletedProcess:
    """Each command (``rnnkit`` argv without --out) in this process into ``tmp_path/NAME-1``,
    then all in one ``mpiexec -n 2`` into ``tmp_path/NAME-2``."""
    for name, argv in commands.items():
        assert main([*argv, "--out", str(tmp_path / f"{name}-1")]) == 0
    ranked = [[*argv, "--out", str(tmp_path / f"{name}-2")] for name, argv in commands.items()]
    done = subprocess.run(
        _two_ranks(RUN_ALL, json.dumps(ranked)),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    return done


def max_difference(a: Path, b: Path) -> float:
    pa, pb = _params(a), _params(b)
    assert pa.keys() == pb.keys()
    return max(float(np.abs(pa[n].astype(np.float64) - pb[n]).max()) for n in pa)


@needs_mpi
def test_two_ranks_train_as_one_process_in_float32(tmp_path):
    argv = ["seq2seq", "addition", *TINY, "--steps", "6", "--batch-size", "7"]
    done = mpi_runs({"s2s": argv}, tmp_path)
    assert max_difference(tmp_path / "s2s-1", tmp_path / "s2s-2") < 1e-6
    assert done.stdout.count("exact match, greedy") == 1  # rank 0 alone prints
    assert "2 processes" in done.stderr


@needs_mpi
def test_a_batch_smaller_than_the_ranks_is_one_line(tmp_path):
    argv = ["seq2seq", "reverse", *TINY, "--batch-size", "1", "--out", str(tmp_path / "r")]
    done = subprocess.run(
        _two_ranks(RUN_ALL, json.dumps([argv])),
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "rnnkit: error: a batch of 1 rows cannot be split over 2 processes; use --batch-size "
        ">= 2 or fewer processes"
    ]


@pytest.mark.slow
def test_reversing_strings_is_learned_to_ninety_percent_exact_match(tmp_path, capsys):
    """The default model on strings of up to 8 letters (about a minute and a half)."""
    assert _main(["reverse", "--steps", "6000", "--json"], tmp_path / "r") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["greedy_exact_match"] >= 0.9 and result["beam_exact_match"] >= 0.9


def test_predict_decodes_new_sources_as_the_trained_model_does(tmp_path, capsys):
    """``rnnkit predict RUN FILE`` on a seq2seq run: one source per line → its beam-decoded
    output, equal to the model's own decoding; a character outside the task is named."""
    out = tmp_path / "r"
    assert _main(["reverse", *TINY, "--max-len", "4", "--beam", "2"], out) == 0
    (tmp_path / "in.txt").write_text("abc\n\nba\n")
    capsys.readouterr()
    assert main(["predict", str(out), str(tmp_path / "in.txt"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["input"] for r in rows] == ["abc", "ba"]
    model = rnnkit.load(out / "best")
    vocab = job.Seq2SeqVocab(model.meta["chars"])
    ids, lengths = vocab.pad(["abc", "ba"])
    expected = [vocab.decode(o) for o in model.beam(ids, lengths, 4, 2)]
    assert [r["output"] for r in rows] == expected
    result = json.loads((out / "result.json").read_text())  # what rnnkit report shows
    assert 0 <= result["beam_exact_match"] <= 1 and len(result["samples"]) == 5
    (tmp_path / "bad.txt").write_text("ab\nab9\n")
    assert main(["predict", str(out), str(tmp_path / "bad.txt")]) == 2
    assert "bad.txt, line 2: characters ['9'] are not among" in capsys.readouterr().err
