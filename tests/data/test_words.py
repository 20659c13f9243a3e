"""The word tokeniser, vocabulary and detokeniser of ``rnnkit.data.words``."""

import numpy as np
import pytest

from rnnkit.data.words import (
    TOKEN_PATTERN,
    UNKNOWN,
    WordVocab,
    continuation,
    detokenize,
    tokenize,
)
from rnnkit.errors import ConfigError, DataError


def test_words_punctuation_and_newlines_are_tokens_and_spaces_are_not():
    text = "Hello, world!  Don't print(x.y)\n\n\tnext_line 42"
    assert tokenize(text) == [
        "Hello", ",", "world", "!", "Don't", "print", "(", "x", ".", "y", ")",
        "\n", "\n", "next_line", "42",
    ]  # fmt: skip
    assert tokenize("The Cat", lowercase=True) == ["the", "cat"]
    assert tokenize("The Cat") == ["The", "Cat"]
    assert tokenize("<unk>") == ["<", "unk", ">"]  # text never produces the unknown token


def test_detokenising_puts_spaces_between_words_and_none_before_punctuation():
    tokens = ["the", "cat", "(", "a", "dog", ")", "sat", ".", "\n", "It", "<unk>", "!"]
    assert detokenize(tokens) == "the cat(a dog) sat.\nIt <unk>!"
    assert continuation(["the", "cat"], ["sat", "."]) == " sat."
    assert continuation(["cat", "\n"], ["sat"]) == "sat"
    assert continuation([], []) == ""


def test_quotation_marks_open_and_close_in_turn_within_a_line():
    tokens = tokenize('he said "yes" and \'no\' (or "maybe").\n" x')
    assert detokenize(tokens) == 'he said "yes" and \'no\'(or "maybe").\n"x'
    assert continuation(["said", '"'], ["yes", '"', "."]) == 'yes".'
    assert continuation(["said", '"', "yes", '"'], ["and"]) == " and"


def test_the_vocabulary_is_unk_then_the_most_frequent_words_ties_in_code_point_order():
    tokens = "b a c a b d d e a".split()  # a: 3, b: 2, d: 2, c: 1, e: 1
    vocab = WordVocab.from_tokens(tokens, vocab_size=10)
    assert vocab.tokens == (UNKNOWN, "a", "b", "d", "c", "e")
    assert WordVocab.from_tokens(tokens, vocab_size=2).tokens == (UNKNOWN, "a", "b")
    assert WordVocab.from_tokens(tokens, vocab_size=10, min_count=2).tokens == (
        UNKNOWN, "a", "b", "d",
    )  # fmt: skip
    shuffled = list(np.random.default_rng(0).permutation(tokens))
    assert WordVocab.from_tokens(shuffled, vocab_size=3) == WordVocab.from_tokens(tokens, 3)


def test_words_outside_the_vocabulary_encode_as_unk_and_decode_back():
    vocab = WordVocab.from_tokens(tokenize("the cat sat . the dog sat ."), vocab_size=3)
    assert vocab.tokens == (UNKNOWN, ".", "sat", "the")  # 2 each: in code-point order
    ids = vocab.encode("the bird sat.")
    assert ids.tolist() == [3, 0, 2, 1] and ids.dtype == np.uint16
    assert vocab.decode(ids) == "the <unk> sat."
    assert vocab.unknown(tokenize("the bird and cat sat")) == ["bird", "and", "cat"]


def test_a_lowercasing_vocabulary_lowercases_what_it_encodes():
    vocab = WordVocab.from_tokens(tokenize("The the THE cat", lowercase=True), 5, lowercase=True)
    assert vocab.tokens == (UNKNOWN, "the", "cat")
    assert vocab.encode("THE Cat").tolist() == [1, 2]
    assert WordVocab.from_dict(vocab.to_dict()) == vocab
    assert WordVocab.from_dict(vocab.to_dict()).lowercase


@pytest.mark.parametrize(
    "data",
    [
        {"type": "char", "chars": ["a"]},
        {"type": "word", "tokens": "abc"},
        {"type": "word", "tokens": ["a", "b"]},  # no <unk> first
        {"type": "word", "tokens": [UNKNOWN, "a", "a"]},
        {"type": "word", "tokens": [UNKNOWN, ""]},
        {"type": "word", "tokens": [UNKNOWN, "a"], "lowercase": "yes"},
        {"type": "word", "tokens": [UNKNOWN, "a"], "pattern": 3},
        [UNKNOWN, "a"],
    ],
)
def test_a_damaged_saved_vocabulary_is_a_data_error(data):
    with pytest.raises(DataError):
        WordVocab.from_dict(data)


def test_a_text_whose_words_are_all_too_rare_or_empty_is_refused():
    with pytest.raises(DataError, match="only <unk>"):
        WordVocab.from_tokens(["a", "b"], vocab_size=5, min_count=2)
    with pytest.raises(DataError, match="no words"):
        WordVocab.from_tokens([], vocab_size=5)
    for bad in (0, -1, True, 2.5):
        with pytest.raises(ConfigError):
            WordVocab.from_tokens(["a"], vocab_size=bad)


def test_triple_quotes_are_one_token_and_open_and_close():
    tokens = tokenize("def f():\n    \"\"\"Say 'hi'.\"\"\"\n    return '''a'''")
    assert tokens[5:] == ["\n", '"""', "Say", "'", "hi", "'", ".", '"""', "\n"] + [
        "return", "'''", "a", "'''",
    ]  # fmt: skip
    assert detokenize(tokens) == "def f():\n\"\"\"Say 'hi'.\"\"\"\nreturn '''a'''"


def test_the_vocabulary_tokenises_prompts_with_the_pattern_it_was_saved_with():
    vocab = WordVocab.from_tokens(tokenize("a-b a-b"), vocab_size=5)
    assert vocab.to_dict()["pattern"] == TOKEN_PATTERN
    older = {k: v for k, v in vocab.to_dict().items() if k != "pattern"}
    assert WordVocab.from_dict(older) == vocab  # no pattern saved: TOKEN_PATTERN
    spaced = WordVocab.from_dict({**vocab.to_dict(), "pattern": r"\S+"})
    assert spaced.tokenize("a-b c") == ["a-b", "c"] and spaced != vocab
    with pytest.raises(DataError, match="not a regular expression"):
        WordVocab.from_dict({**vocab.to_dict(), "pattern": "(unclosed"})
