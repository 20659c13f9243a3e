"""``rnnkit sample DIR --prompt`` of a saved word model: unknown words read as <unk>, the words
drawn written after the prompt with spaces between them."""

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.config import ModelConfig
from rnnkit.data.text import CharVocab
from rnnkit.data.words import WordVocab, tokenize
from rnnkit.io.model_files import save
from rnnkit.models.model import Model


@pytest.fixture
def word_model(tmp_path):
    vocab = WordVocab.from_tokens(tokenize("the cat sat on the mat .\n"), vocab_size=10)
    model = Model(
        ModelConfig.for_tokens(vocab.size, embedding_dim=3, cell="gru", hidden_size=4),
        rng=np.random.default_rng(0),
        meta={"tokens": "words", "vocab": vocab.to_dict()},
    )
    return save(model, tmp_path / "model"), vocab


def test_a_word_model_continues_a_prompt_of_known_and_unknown_words(word_model, capsys):
    path, vocab = word_model
    argv = ["sample", str(path), "--prompt", "the zebra", "--length", "25", "--seed", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("the zebra") and out.endswith("\n")
    drawn = tokenize(out[len("the zebra") : -1].replace("<unk>", "unk"))
    assert len(drawn) == 25 and set(drawn) <= {*vocab.tokens, "unk"}
    assert "  " not in out and " ." not in out  # one space between words, none before marks


def test_prompt_is_the_same_flag_as_prime_for_a_character_model(tmp_path, capsys):
    vocab = CharVocab.from_text("abc \n")
    model = Model(
        ModelConfig.for_tokens(vocab.size, cell="gru", hidden_size=4),
        rng=np.random.default_rng(0),
        meta={"vocab": vocab.to_dict()},
    )
    path = save(model, tmp_path / "model")
    assert main(["sample", str(path), "--prompt", "ab", "--length", "30"]) == 0
    by_prompt = capsys.readouterr().out
    assert main(["sample", str(path), "--prime", "ab", "--length", "30"]) == 0
    assert capsys.readouterr().out == by_prompt and len(by_prompt) == 2 + 30 + 1
