"""``rnnkit sample DIR``: text from a saved character model, and its numbers checked first."""

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.config import ModelConfig
from rnnkit.data.text import CharVocab
from rnnkit.io.model_files import save
from rnnkit.models.model import Model


@pytest.fixture
def model_dir(tmp_path):
    vocab = CharVocab.from_text("abc \n")
    model = Model(
        ModelConfig.for_tokens(vocab.size, cell="gru", hidden_size=4),
        rng=np.random.default_rng(0),
        meta={"vocab": vocab.to_dict()},
    )
    return save(model, tmp_path / "model")


def test_it_prints_the_prime_and_length_characters_drawn_from_the_vocabulary(model_dir, capsys):
    assert main(["sample", str(model_dir), "--prime", "ab", "--length", "30"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ab") and len(out) == 2 + 30 + 1 and set(out) <= set("abc \n")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--temperature", "nan"], "--temperature must be a finite number > 0, got nan"),
        (["--temperature", "inf"], "--temperature must be a finite number > 0, got inf"),
        (["--temperature", "0"], "--temperature must be a finite number > 0, got 0.0"),
        (["--temperature", "-1"], "--temperature must be a finite number > 0, got -1.0"),
        (["--length", "-3"], "--length must be >= 0, got -3"),
        (["--prime", ""], "--prime must hold at least one character"),
    ],
)
def test_bad_sampling_numbers_are_one_line_errors_and_print_no_text(
    model_dir, capsys, argv, message
):
    assert main(["sample", str(model_dir), *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == f"rnnkit: error: {message}\n"


def _seq2seq_dir(tmp_path):
    from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig

    config = Seq2SeqConfig(vocab_size=6, embedding_dim=3, hidden_size=4, cell="gru")
    model = Seq2Seq(config, rng=np.random.default_rng(0))
    model.meta["vocab"] = CharVocab.from_text("abc \n").to_dict()  # a vocabulary is not enough
    return save(model, tmp_path / "seq2seq")


def test_a_model_that_is_not_a_character_model_is_one_line_naming_its_kind(tmp_path, capsys):
    assert main(["sample", str(_seq2seq_dir(tmp_path)), "--length", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sample takes a recurrent character Model" in err[0]
    assert "got Seq2Seq" in err[0]
