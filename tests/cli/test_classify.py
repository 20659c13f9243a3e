"""``rnnkit classify`` end to end: files in, accuracy and confusion out, JSON, errors."""

import argparse
import json
import sys

import numpy as np
import pytest

from rnnkit.cli import _run
from rnnkit.cli import classify as command

FAST = [
    "--hidden-size",
    "6",
    "--ffnn-hidden",
    "6",
    "--epochs",
    "12",
    "--batch-size",
    "8",
    "--lr",
    "0.02",
    "--budget",
    "2",
]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rnnkit classify")
    command.add_arguments(parser)
    return parser.parse_args(argv)


def _npz(path, n, seed, channels=3):
    rng = np.random.default_rng(seed)
    y = np.where(np.arange(n) % 2, "down", "up")
    lengths = rng.integers(4, 12, n)
    x = rng.standard_normal((n, 11, channels))
    x[:, :, 0] += np.where(y == "up", 1.5, -1.5)[:, None]
    np.savez(path, x=x, lengths=lengths, y=y)
    return path


@pytest.fixture(autouse=True)
def in_a_fresh_directory(tmp_path, monkeypatch):
    """Runs without --out go to runs/ under the current directory: a temporary one."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def files(tmp_path):
    return _npz(tmp_path / "train.npz", 40, 0), _npz(tmp_path / "test.npz", 30, 1)


def test_npz_files_are_classified_with_accuracy_and_confusion(files, capsys):
    train, test = files
    assert command.run(_parse(["--train", str(train), "--test", str(test), *FAST])) == 0
    out, err = capsys.readouterr()
    assert "30 test sequences, 2 classes, 3 channels, lengths 4–11" in out
    assert "gru H=6" in out and "ffnn window=11" in out
    assert "confusion matrix of gru (rows: true, columns: predicted)" in out
    assert "classify: gru: epoch 1" in err and "classify: search 1/" in err
    assert "search: 2 trainings" in out and "chosen: " in out and "mean validation accuracy" in out
    ranked = [line for line in out.splitlines() if line[:1] == "*"]
    assert len(ranked) >= 2  # the search's best row and the test table's best model
    assert "1-NN DTW" in out and "1-NN Euclidean" in out


def test_json_reports_accuracy_that_matches_its_confusion_matrix(files, capsys):
    train, test = files
    argv = [
        "--train",
        str(train),
        "--test",
        str(test),
        *FAST,
        "--json",
        "--quiet",
        "--cell",
        "ffnn",
        "--window",
        "3",
    ]
    assert command.run(_parse(argv)) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["model"] for r in report["results"]].count("ffnn") == 1  # not repeated as baseline
    (row,) = [r for r in report["results"] if r["model"] == "ffnn"]
    confusion = np.array(row["confusion"])
    assert confusion.sum() == 30 and row["accuracy"] == np.trace(confusion) / 30
    assert row["accuracy"] >= 0.9
    assert report["classes"] == ["down", "up"]


def test_a_single_file_is_split_into_train_and_test(files, capsys):
    argv = [
        "--train",
        str(files[0]),
        *FAST,
        "--json",
        "--quiet",
        "--no-baseline",
        "--test-fraction",
        "0.25",
    ]
    assert command.run(_parse(argv)) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["train_sequences"], report["test_sequences"]) == (30, 10)


def test_plot_writes_the_confusion_matrix_as_png(files, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "confusion.png"
    argv = [
        "--train",
        str(files[0]),
        "--test",
        str(files[1]),
        *FAST,
        "--quiet",
        "--no-baseline",
        "--epochs",
        "1",
        "--plot",
        str(png),
    ]
    assert command.run(_parse(argv)) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_a_plot_that_cannot_be_saved_warns_after_the_results_are_printed(files, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    png = blocker / "confusion.png"  # inside a regular file: nobody, root included, can write it
    argv = [
        "--train",
        str(files[0]),
        "--test",
        str(files[1]),
        *FAST,
        "--quiet",
        "--no-baseline",
        "--epochs",
        "1",
        "--plot",
        str(png),
    ]
    assert _run(command, _parse(argv), debug=False) == 0
    out, err = capsys.readouterr()
    assert "confusion matrix of gru" in out and "plot saved" not in out
    assert err.count("\n") == 1 and err.startswith("rnnkit: warning: the plot ")
    assert str(png) in err and "not saved" in err


def test_plot_without_matplotlib_fails_before_training(files, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    argv = [
        "--train",
        str(files[0]),
        "--test",
        str(files[1]),
        *FAST,
        "--no-baseline",
        "--plot",
        str(tmp_path / "c.png"),
    ]
    assert _run(command, _parse(argv), debug=False) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "plots need matplotlib" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give either --dataset or --train"),
        (["--dataset", "mnist"], "unknown dataset 'mnist'"),
        (["--train", "{train}", "--cell", "transformer"], "unknown cell 'transformer'"),
        (["--train", "{train}", "--epochs", "0"], "epochs and batch_size must be >= 1"),
    ],
)
def test_known_errors_print_one_line_and_exit_2(files, capsys, argv, message):
    argv = [a.replace("{train}", str(files[0])) for a in argv]
    assert _run(command, _parse(argv), debug=False) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("rnnkit: error:") and message in err[0]


@pytest.mark.parametrize("channels", [1, 2, 4])
def test_a_test_file_with_other_channels_is_refused_naming_it_and_both_counts(
    files, tmp_path, capsys, channels
):
    test = _npz(tmp_path / "other.npz", 10, 2, channels=channels)
    argv = ["--train", str(files[0]), "--test", str(test), *FAST, "--quiet", "--epochs", "1"]
    assert _run(command, _parse(argv), debug=False) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert (
        f"rnnkit: error: {test} has {channels} channel" in err
        and f"but the training file {files[0]} has 3" in err
    )


def test_the_rnnkit_command_runs_it_once_registered(files, monkeypatch, capsys):
    from rnnkit import cli

    monkeypatch.setitem(cli.COMMANDS, "classify", ("rnnkit.cli.classify", command.SUMMARY))
    argv = [
        "classify",
        "--train",
        str(files[0]),
        "--test",
        str(files[1]),
        *FAST,
        "--quiet",
        "--no-baseline",
        "--epochs",
        "1",
    ]
    assert cli.main(argv) == 0
    assert "accuracy" in capsys.readouterr().out


def test_json_carries_the_not_learned_flag_and_the_text_says_it_in_one_line(files, capsys):
    train, test = files
    argv = ["--train", str(train), "--test", str(test), "--hidden-size", "3", "--epochs", "1"]
    argv += ["--lr", "1e-6", "--budget", "2", "--no-baseline", "--quiet"]
    assert command.run(_parse([*argv, "--json"])) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["not_learned"] is True and "never fell" in report["not_learned_reason"]
    assert err.count("\n") == 1 and "the recurrent network has not learned" in err
    assert command.run(_parse([*argv, "--overwrite", "--out", "again"])) == 0
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if "has not learned" in x]
    assert line.startswith("warning: the recurrent network has not learned: ") and "try" in line


def test_minutes_bound_the_command_and_the_header_says_how(files, capsys):
    train, test = files
    argv = ["--train", str(train), "--test", str(test), *FAST, "--minutes", "0.5"]
    assert command.run(_parse(argv)) == 0
    out, err = capsys.readouterr()
    assert "time bound 0.5 min" in out.splitlines()[0]
    assert out.splitlines()[1].startswith("time bound 0.5 min: search ≤ 0.3 min, recurrent ≤")
    assert "time bound 0.5 min: search ≤ 0.3 min, recurrent ≤" in err


def test_rnnkit_predict_classifies_new_sequences_with_the_run_and_refuses_other_channels(
    files, tmp_path, capsys
):
    from rnnkit.cli import main

    train, test = files
    out = tmp_path / "run"
    argv = ["classify", "--train", str(train), "--test", str(test), *FAST, "--quiet"]
    assert main([*argv, "--json", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    (gru,) = [r for r in report["results"] if r["model"] == "gru"]
    assert main(["predict", str(out), str(test), "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert table["columns"] == ["id", "label", "p_down", "p_up"] and len(table["rows"]) == 30
    truth = np.load(test)["y"]
    accuracy = np.mean([row["label"] == y for row, y in zip(table["rows"], truth)])
    assert accuracy == pytest.approx(gru["accuracy"])
    other = _npz(tmp_path / "two.npz", 5, 3, channels=2)
    assert main(["predict", str(out), str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{other} has 2 channels per step" in err[0] and "on 3" in err[0]
