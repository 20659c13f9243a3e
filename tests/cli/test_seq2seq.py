"""``rnnkit seq2seq`` through its add_arguments/run: a tiny run reports exact-match accuracy."""

import argparse
import json

import pytest

from rnnkit.cli import seq2seq
from rnnkit.errors import ConfigError

TINY = ["--steps", "4", "--hidden-size", "8", "--embedding-dim", "4", "--test-size", "20",
        "--eval-every", "2", "--batch-size", "8", "--beam", "2"]


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    seq2seq.add_arguments(parser)
    return seq2seq.run(parser.parse_args(argv))


@pytest.mark.parametrize("task", ["reverse", "addition"])
def test_a_tiny_run_reports_greedy_and_beam_exact_match(task, capsys):
    assert _run([task, *TINY, "--json"]) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert result["task"] == task and result["steps"] == 4 and result["test_pairs"] == 20
    assert 0 <= result["greedy_exact_match"] <= 1 and 0 <= result["beam_exact_match"] <= 1
    assert len(result["examples"]) == 5 and "greedy exact match" in err


def test_text_output_names_both_decoders(capsys):
    assert _run(["reverse", *TINY, "--max-len", "3"]) == 0
    out = capsys.readouterr().out
    assert "exact match, greedy" in out and "beam of 2" in out


def test_bad_options_raise_a_known_error():
    with pytest.raises(ConfigError, match="--beam"):
        _run(["reverse", *TINY, "--beam", "0"])


@pytest.mark.slow
def test_reversing_strings_is_learned_to_ninety_percent_exact_match(capsys):
    """The default model on strings of up to 8 letters (about a minute and a half)."""
    assert _run(["reverse", "--steps", "6000", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["greedy_exact_match"] >= 0.9 and result["beam_exact_match"] >= 0.9
