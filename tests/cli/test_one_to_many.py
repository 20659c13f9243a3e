"""``rnnkit one-to-many``: sequences generated from a class or a value, end to end, trained
through the engine in a run directory (resume, signals, NaN guard, SIGKILL, 2 MPI ranks)."""

import argparse
import io
import json
import re
import signal

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import _run, main, one_to_many
from rnnkit.io.model_files import load_with_state
from rnnkit.jobs import one_to_many as job
from rnnkit.models.conditioned import Conditioned
from tests.cli.test_seq2seq import (
    assert_same_parameters,
    kill_and_resume,
    max_difference,
    mpi_runs,
    send_signal_at,
)
from tests.training.test_distributed import needs_mpi

TINY = [
    "--classes",
    "2",
    "--steps",
    "6",
    "--length",
    "12",
    "--hidden-size",
    "8",
    "--eval-every",
    "2",
    "--checkpoint-every",
    "3",
]


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs without --out go to tmp_path/runs


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    one_to_many.add_arguments(parser)
    return _run(one_to_many, parser.parse_args(argv), debug=False)


def test_each_word_is_generated_from_its_class_alone(capsys):
    assert (
        _main(["words", "--words", "cat,cart,dog", "--steps", "300", "--hidden-size", "16"]) == 0
    )
    out, err = capsys.readouterr()
    assert "exact: 3/3" in out
    assert re.search(r"class 1: 'cart' +target 'cart' +exact", out)
    assert "validation: generated characters wrong" in err and "run directory runs/" in err


@pytest.mark.parametrize("condition", ["class", "value"])
def test_sine_prints_truth_and_generated_waves_per_condition(capsys, condition):
    argv = [
        "sine",
        "--condition",
        condition,
        "--classes",
        "3",
        "--steps",
        "150",
        "--length",
        "24",
        "--hidden-size",
        "16",
    ]
    assert _main(argv) == 0
    out = capsys.readouterr().out
    rmses = [float(v) for v in re.findall(r"rmse (\d+\.\d+)", out)]
    assert len(rmses) == (3 if condition == "class" else 4)
    generated = [
        line.split(maxsplit=1)[1]
        for line in out.splitlines()
        if line.strip().startswith("generated")
    ]
    assert all(len(g) == 24 and set(g) <= set(one_to_many.BLOCKS) for g in generated)


def test_the_sine_plot_is_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "waves.png"
    assert _main(["sine", *TINY, "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sine_waves_start_one_step_after_zero_phase():
    waves = job.sine_waves([8.0, 16.0], 8)
    assert waves.shape == (2, 8, 1)
    np.testing.assert_allclose(waves[0, :, 0], np.sin(2 * np.pi * np.arange(1, 9) / 8))


def test_validation_is_held_out_of_the_training_sequences():
    run = job.start(job.OneToManyJob(condition="value"), None)
    c_val = run.val[0]
    assert len(c_val) == job.VALUE_SEQUENCES // 8 and run.source.n == len(c_val) * 7
    assert not set(c_val[:, 0].tolist()) & set(run.source.extra["c"][:, 0].tolist())


@pytest.mark.parametrize(
    "argv, message",
    [
        (["words", "--words", "cat,cat"], "distinct"),
        (["words", "--words", "a.b"], "without '.'"),
        (["words", "--condition", "value"], "conditioned on their class"),
        (["words", "--plot", "w.png"], "--plot draws sine waves"),
        (["sine", "--length", "0"], "length must be >= 1"),
        (["sine", "--steps", "0"], "steps must be >= 1"),
        (["sine", "--lr", "nan"], "lr must be > 0"),
        (["--resume"], "--resume needs --out"),
        ([], "give the task"),
    ],
)
def test_nonsense_is_one_line_and_exit_2(capsys, argv, message):
    assert _main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_best_loads_as_the_conditioned_model(tmp_path):
    assert (
        main(
            [
                "one-to-many",
                "words",
                "--words",
                "ab,ba",
                "--steps",
                "4",
                "--eval-every",
                "2",
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    best = rnnkit.load(tmp_path / "r" / "best")
    assert isinstance(best, Conditioned) and best.meta["job"] == "one-to-many"
    assert best.meta["task"] == "words" and best.meta["vocab"] == ".ab"
    assert best.generate(np.array([0, 1]), np.array([0, 0]), 3).shape == (2, 3)


def test_a_resumed_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path):
    straight, split = tmp_path / "a", tmp_path / "b"
    assert main(["one-to-many", "sine", *TINY, "--steps", "10", "--out", str(straight)]) == 0
    assert main(["one-to-many", "sine", *TINY, "--steps", "4", "--out", str(split)]) == 0
    assert main(["one-to-many", "--resume", "--steps", "10", "--out", str(split)]) == 0
    assert_same_parameters(straight, split)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_last_and_exits_128_plus_its_number(tmp_path, monkeypatch, capsys, signum):
    send_signal_at(monkeypatch, step=2, signum=signum)
    out = tmp_path / "r"
    assert main(["one-to-many", "words", "--steps", "50", "--out", str(out)]) == 128 + signum
    assert f"continue with: rnnkit one-to-many --resume --out {out}" in capsys.readouterr().err
    assert load_with_state(out / "last")[1]["step"] == 3


@pytest.mark.parametrize("action", ["skip", "reduce-lr", "stop"])
def test_a_nan_loss_is_guarded_as_told(tmp_path, monkeypatch, action):
    real, calls = job.gradients, [0]

    def gradients(net, batch, rng):
        calls[0] += 1
        step = real(net, batch, rng)
        return step._replace(loss=np.nan) if calls[0] == 3 else step

    monkeypatch.setattr(job, "gradients", gradients)
    run = job.start(
        job.OneToManyJob(task="words", steps=6, checkpoint_every=1, on_nonfinite=action),
        tmp_path / "r",
    )
    if action == "stop":
        with pytest.raises(rnnkit.errors.RnnkitError, match="loss is nan at step 2"):
            run.fit(io.StringIO(), handle_signals=False)
        assert load_with_state(tmp_path / "r" / "last")[1]["step"] == 2
        return
    summary = run.fit(io.StringIO(), handle_signals=False)
    assert summary.skipped == 1 and summary.steps == 6
    assert run.engine.lr_scale == (0.5 if action == "reduce-lr" else 1.0)


def test_a_killed_run_resumes_to_the_uninterrupted_parameters(tmp_path):
    argv = ["one-to-many", "sine", *TINY, "--steps", "40", "--checkpoint-every", "1"]
    assert main([*argv, "--out", str(tmp_path / "straight")]) == 0
    assert kill_and_resume(argv, tmp_path / "killed", kills=1) == 1
    assert_same_parameters(tmp_path / "straight", tmp_path / "killed")


@needs_mpi
def test_two_ranks_train_as_one_process(tmp_path):
    # float64: in float32 an LSTM bias whose gradient is ≈ 0 up to rounding gets Adam's
    # first update ±lr·g/(|g| + ε) from rounding noise, which the split changes (≈ 1e-5)
    mpi_runs(
        {"otm": ["one-to-many", "sine", *TINY, "--batch-size", "7", "--dtype", "float64"]},
        tmp_path,
    )
    assert max_difference(tmp_path / "otm-1", tmp_path / "otm-2") < 1e-12


def test_predict_generates_from_new_conditions(tmp_path, capsys):
    """``rnnkit predict RUN FILE`` on a one-to-many run: a class per line (its number or its
    word) → the sequence the network generates from it; a class it lacks is named."""
    out = tmp_path / "w"
    argv = ["words", "--words", "cat,dog", "--steps", "6", "--hidden-size", "8", "--out", str(out)]
    assert _main(argv) == 0
    (tmp_path / "c.txt").write_text("dog\n0\n")
    capsys.readouterr()
    assert main(["predict", str(out), str(tmp_path / "c.txt"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    net = rnnkit.load(out / "best")
    made = net.generate(np.array([1, 0]), np.zeros(2, np.int64), 4)
    vocab = net.meta["vocab"]
    expected = ["".join(vocab[i] for i in m).split(".")[0] for m in made]
    assert rows == [{"condition": c, "text": t} for c, t in zip(["dog", "0"], expected)]
    (tmp_path / "bad.txt").write_text("cow\n")
    assert main(["predict", str(out), str(tmp_path / "bad.txt")]) == 2
    assert "bad.txt, line 1: 'cow' is no class of this run" in capsys.readouterr().err


def test_predict_generates_a_sine_wave_per_period(tmp_path, capsys):
    out = tmp_path / "s"
    assert _main(["sine", *TINY, "--condition", "value", "--out", str(out)]) == 0
    (tmp_path / "p.txt").write_text("10\n20.5\n")
    capsys.readouterr()
    assert main(["predict", str(out), str(tmp_path / "p.txt"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert len(rows) == 2 * 12 and rows[12] == {**rows[12], "condition": "20.5", "step": 1}
    net = rnnkit.load(out / "best")
    made = net.generate(
        job.period_value([10.0, 20.5]).astype(np.float32), np.zeros((2, 1), np.float32), 12
    )
    np.testing.assert_array_equal([r["value"] for r in rows], made[..., 0].ravel())
