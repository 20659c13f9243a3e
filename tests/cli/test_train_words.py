"""``rnnkit train --tokens words``, ``sample`` and ``info`` of a word model, through ``main``."""

import json
import math

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.data.words import tokenize

SMALL = [
    "--tokens",
    "words",
    "--hidden-size",
    "12",
    "--embedding-dim",
    "8",
    "--seq-len",
    "10",
    "--batch-size",
    "4",
    "--eval-every",
    "5",
    "--sample-every",
    "0",
    "--checkpoint-every",
    "5",
    "--vocab-size",
    "20",
]


@pytest.fixture
def text_file(tmp_path):
    rng = np.random.default_rng(0)
    words = ["The", "cat", "dog", "sat", "ran", "on", "the", "mat", ",", ".", "\n", "rare"]
    p = np.array([3, 2, 2, 2, 2, 2, 3, 2, 1, 2, 1, 0.05])
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(rng.choice(words, 3000, p=p / p.sum())), encoding="utf-8")
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_a_word_model_trains_reports_perplexity_samples_and_describes_itself(
    text_file, tmp_path, capsys
):
    out = tmp_path / "run"
    argv = ["train", str(text_file), *SMALL, "--steps", "10", "--out", str(out), "--lowercase"]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "vocabulary 12 words" in printed.err  # <unk> + 11 words and marks ("The" is "the")
    assert "step 10: validation perplexity" in printed.err and "bits/char" not in printed.err
    summary = next(line for line in printed.out.splitlines() if line.startswith("steps 10"))
    assert "validation perplexity" in summary and "uniform: V = 12" in summary
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    last = records[-1]
    assert last["val_perplexity"] == pytest.approx(math.exp(last["val_loss"]))
    assert f"validation perplexity {last['val_perplexity']:.2f}" in summary

    assert main(["sample", str(out), "--prompt", "The cat", "--length", "12", "--seed", "1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("The cat") and text.endswith("\n")
    drawn = text[len("The cat") : -1].replace("<unk>", "unk")  # <unk>: one token, not three
    assert len(tokenize(drawn)) == 12
    assert main(["sample", str(out), "--prompt", "The cat", "--length", "12", "--seed", "1"]) == 0
    assert capsys.readouterr().out == text

    assert main(["info", str(out)]) == 0
    info = capsys.readouterr().out
    assert "tokens: words" in info and "vocabulary size: 12" in info


def test_embedding_size_is_the_same_flag_as_embedding_dim(text_file, tmp_path, capsys):
    from rnnkit.io.model_files import load

    out = tmp_path / "run"
    argv = ["train", str(text_file), *SMALL, "--embedding-size", "5", "--steps", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    capsys.readouterr()
    assert load(out / "last").config.embedding_dim == 5


def test_a_resumed_word_run_keeps_its_vocabulary_and_refuses_another_kind(
    text_file, tmp_path, capsys
):
    out = tmp_path / "run"
    assert main(["train", str(text_file), *SMALL, "--steps", "5", "--out", str(out)]) == 0
    assert main(["train", "--resume", "--steps", "10", "--out", str(out)]) == 0
    assert "step 10: validation perplexity" in capsys.readouterr().err
    assert main(["train", "--resume", "--steps", "15", "--tokens", "chars", "--out", str(out)])
    assert "cannot change tokens" in _one_error_line(capsys)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--vocab-size", "5"], "--vocab-size: the word model's options; use them with --tokens"),
        (["--lowercase"], "--lowercase: the word model's options"),
        (["--tokens", "bytes"], "--tokens must be chars or words, got 'bytes'"),
        (["--tokens", "words", "--vocab-size", "0"], "--vocab-size must be >= 1, got 0"),
        (["--tokens", "words", "--min-count", "0"], "--min-count must be >= 1, got 0"),
        (["--tokens", "words", "--min-count", "100000"], "only <unk>"),
    ],
)
def test_word_options_that_make_no_sense_are_one_line(text_file, tmp_path, capsys, extra, message):
    argv = ["train", str(text_file), "--steps", "1", "--out", str(tmp_path / "r"), *extra]
    assert main(argv) == 2
    assert message in _one_error_line(capsys)


def test_the_ffnn_baseline_trains_beside_a_word_model_and_compares_perplexity(
    text_file, tmp_path, capsys
):
    out = tmp_path / "run"
    argv = ["train", str(text_file), *SMALL, "--steps", "5", "--baseline", "--window", "4"]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "validation perplexity" in printed.splitlines()[-3]  # the comparison's header
    assert json.loads((out / "run.json").read_text()) == {"job": "train", "predicts": None}


@pytest.mark.parametrize(
    "tokens, line",
    [
        ("words", "validation perplexity 7.39 (2.000 nats/word; best 2.72 at step 4; uniform: V"),
        ("chars", "validation 2.885 bits/char  (best 1.443 at step 4; uniform: log2 V"),
    ],
)
def test_the_summary_names_the_best_validation_when_the_last_is_worse(
    text_file, capsys, tokens, line
):
    from rnnkit.cli.train import _report
    from rnnkit.config import TrainConfig
    from rnnkit.jobs.charmodel import start_run

    train = TrainConfig(steps=9, batch_size=4, seq_len=10)
    run = start_run(
        [str(text_file)], 0, {"cell": "gru", "hidden_size": 4}, train, None, tokens=tokens
    )
    result = {"steps": 9, **run.figures(2.0), "best_val_loss": 1.0, "best_step": 4, "skipped": 0}
    _report(run, result, "DIR")
    assert line in capsys.readouterr().out
    _report(run, {**result, "best_val_loss": 2.0, "best_step": 9}, "DIR")
    assert "best" not in capsys.readouterr().out.splitlines()[0]


def test_rnnkit_predict_prints_the_most_likely_next_words_of_each_prompt(
    text_file, tmp_path, capsys
):
    pytest.importorskip("rnnkit.cli.predict")
    out = tmp_path / "run"
    assert main(["train", str(text_file), *SMALL, "--steps", "5", "--out", str(out)]) == 0
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("The cat sat\nthe zebra\n", encoding="utf-8")
    capsys.readouterr()
    rows = tmp_path / "rows.csv"
    assert main(["predict", str(out), str(prompts), "-o", str(rows)]) == 0
    lines = rows.read_text().splitlines()
    assert lines[0] == "prompt,rank,token,probability" and len(lines) == 1 + 2 * 5
    assert [line.split(",")[:2] for line in lines[1:3]] == [
        ["The cat sat", "1"],
        ["The cat sat", "2"],
    ]
    printed = capsys.readouterr()
    assert "<unk>" in printed.err  # the note on the unknown word "zebra"
