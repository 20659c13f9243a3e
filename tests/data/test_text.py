import json

import numpy as np
import pytest

from rnnkit.data.text import CharStream, CharVocab, split
from rnnkit.errors import CheckpointError, ConfigError, DataError, ShapeError, VocabularyError

TEXTS = {
    "ascii": "def f(x):\n\treturn x + 1\n",
    "latin": "café naïve über",
    "astral": "snake 🐍 and ∑ and 𝔘",
    "one_char": "aaaa",
}


def test_vocab_is_the_sorted_set_of_characters():
    vocab = CharVocab.from_text("hello world")
    assert vocab.chars == (" ", "d", "e", "h", "l", "o", "r", "w")
    assert vocab.size == len(vocab) == 8
    assert vocab.encode("hold").tolist() == [3, 5, 4, 1]


def test_vocab_ids_do_not_depend_on_character_order_in_the_text():
    assert CharVocab.from_text("abcabc") == CharVocab.from_text("cbaacb")


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_vocab_decode_inverts_encode(text):
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    assert ids.shape == (len(text),)
    assert ids.dtype == np.uint16
    assert vocab.decode(ids) == text


def test_vocab_of_more_than_65536_characters_encodes_to_uint32():
    chars = [chr(c) for c in range(0x20000, 0x20000 + 70_000)]
    vocab = CharVocab(chars)
    ids = vocab.encode(chars[-1] + chars[0])
    assert ids.dtype == np.uint32
    assert ids.tolist() == [69_999, 0]


@pytest.mark.parametrize("text", TEXTS.values(), ids=TEXTS.keys())
def test_vocab_survives_a_json_round_trip(text):
    vocab = CharVocab.from_text(text)
    loaded = CharVocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert loaded == vocab
    assert np.array_equal(loaded.encode(text), vocab.encode(text))


BAD_VOCABS = {
    "not_an_object": ["a", "b"],
    "wrong_type": {"type": "word", "chars": ["a"]},
    "chars_not_a_list": {"type": "char", "chars": "ab"},
    "empty": {"type": "char", "chars": []},
    "two_characters": {"type": "char", "chars": ["a", "bc"]},
    "not_a_string": {"type": "char", "chars": ["a", 7]},
    "duplicate": {"type": "char", "chars": ["a", "b", "a"]},
}


@pytest.mark.parametrize("data", BAD_VOCABS.values(), ids=BAD_VOCABS.keys())
def test_loading_a_malformed_vocab_raises_data_error(data):
    with pytest.raises(DataError, match="vocabulary"):
        CharVocab.from_dict(data)


def test_encoding_unknown_characters_names_them_with_counts():
    vocab = CharVocab.from_text("abc")
    with pytest.raises(VocabularyError) as caught:
        vocab.encode("abé\tcé\té")
    message = str(caught.value)
    assert "2 distinct character(s)" in message
    assert "'é' (3x), '\\t' (2x)" in message  # most frequent first, shown by repr
    assert "vocabulary" in message and "build the vocabulary" in message


def test_unknown_character_message_lists_at_most_ten():
    vocab = CharVocab.from_text("a")
    with pytest.raises(VocabularyError, match="12 distinct") as caught:
        vocab.encode("bcdefghijklm")
    assert "and 2 more" in str(caught.value)
    assert "'l'" not in str(caught.value)  # ties break by code point: b..k shown, l, m not


@pytest.mark.parametrize("ids", [[0, 3], [-1, 0]], ids=["too_high", "negative"])
def test_decoding_ids_outside_the_vocab_raises(ids):
    with pytest.raises(VocabularyError, match=r"\[0, 3\)"):
        CharVocab.from_text("abc").decode(np.array(ids))


def positions(N):
    """Ids equal to their own positions, so every batch says where it came from."""
    return np.arange(N, dtype=np.int64)


SIZES = [(1, 1, 2), (2, 3, 8), (3, 4, 50), (3, 5, 61)]  # (B, T, N)
SIZE_IDS = [f"B{B}_T{T}_N{N}" for B, T, N in SIZES]


@pytest.mark.parametrize("B, T, N", SIZES, ids=SIZE_IDS)
def test_stream_rows_are_contiguous_slices_walked_t_steps_at_a_time(B, T, N):
    stream = CharStream(positions(N), B, T)
    S, K = N // B, (N // B - 1) // T
    assert stream.batches_per_epoch == K
    for k in range(K):
        x, y, epoch, step = next(stream)
        assert (epoch, step) == (0, k)
        assert x.shape == y.shape == (B, T)
        starts = np.arange(B)[:, None] * S + k * T  # stream b continues where it left off
        assert np.array_equal(x, starts + np.arange(T))
        assert np.array_equal(y, x + 1)


@pytest.mark.parametrize("B, T, N", SIZES[1:], ids=SIZE_IDS[1:])
def test_stream_targets_run_on_into_the_next_chunk(B, T, N):
    ids = np.random.default_rng(0).integers(0, 5, size=N).astype(np.uint16)
    stream = CharStream(ids, B, T)
    batches = [next(stream) for _ in range(stream.batches_per_epoch)]
    x = np.concatenate([b.x for b in batches], axis=1)  # [B, K·T]
    y = np.concatenate([b.y for b in batches], axis=1)
    assert np.array_equal(x[:, 1:], y[:, :-1])  # y is x shifted by one, across chunk boundaries
    rows = ids[: B * (N // B)].reshape(B, -1)
    assert np.array_equal(x, rows[:, : x.shape[1]])


def test_stream_wraps_around_and_counts_epochs():
    stream = CharStream(positions(61), 3, 5)
    first = next(stream)
    for _ in range(stream.batches_per_epoch - 1):
        next(stream)
    assert (stream.cursor, stream.epoch) == (0, 1)
    again = next(stream)
    assert (again.epoch, again.step) == (1, 0)
    assert np.array_equal(again.x, first.x) and np.array_equal(again.y, first.y)


def test_epoch_batches_cover_an_epoch_without_moving_the_cursor():
    stream = CharStream(positions(61), 3, 5)
    next(stream)
    chunks = list(stream.epoch_batches())
    assert len(chunks) == stream.batches_per_epoch
    assert stream.state_dict()["cursor"] == 1
    assert np.array_equal(chunks[1][0], next(stream).x)


@pytest.mark.parametrize("taken", [0, 2, 3, 7], ids=lambda n: f"after_{n}_batches")
def test_resumed_stream_gives_identical_next_batches(taken):
    ids = np.random.default_rng(1).integers(0, 7, size=61).astype(np.uint16)
    stream = CharStream(ids, 3, 5)  # 3 chunks an epoch
    for _ in range(taken):
        next(stream)
    state = json.loads(json.dumps(stream.state_dict()))
    resumed = CharStream(ids.copy(), 3, 5)
    resumed.load_state_dict(state)
    for _ in range(7):
        want, got = next(stream), next(resumed)
        assert (got.epoch, got.step) == (want.epoch, want.step)
        assert np.array_equal(got.x, want.x) and np.array_equal(got.y, want.y)


@pytest.mark.parametrize(
    "other, match",
    [
        (dict(ids=positions(61), batch_size=3, seq_len=4), "seq_len=5"),
        (dict(ids=positions(62), batch_size=3, seq_len=5), "61 characters"),
        (dict(ids=positions(61)[::-1].copy(), batch_size=3, seq_len=5), "different text"),
    ],
    ids=["other_seq_len", "other_length", "other_text"],
)
def test_resuming_with_another_text_or_layout_raises_data_error(other, match):
    state = CharStream(positions(61), 3, 5).state_dict()
    with pytest.raises(DataError, match=match):
        CharStream(**other).load_state_dict(state)


@pytest.mark.parametrize(
    "change",
    [{"cursor": 3}, {"cursor": -1}, {"epoch": "1"}, {"cursor": True}, {"seq_len": None}],
    ids=["cursor_past_epoch", "negative_cursor", "string_epoch", "bool_cursor", "no_seq_len"],
)
def test_a_damaged_stream_state_raises_checkpoint_error(change):
    stream = CharStream(positions(61), 3, 5)
    with pytest.raises(CheckpointError, match="damaged"):
        stream.load_state_dict({**stream.state_dict(), **change})


def test_too_short_text_error_says_the_sizes():
    with pytest.raises(DataError) as caught:
        CharStream(positions(23), 4, 5, name="validation text")
    message = str(caught.value)
    assert "validation text of 23 characters" in message
    assert "batch_size=4" in message and "seq_len+1=6" in message and "at least 24" in message
    assert CharStream(positions(24), 4, 5).batches_per_epoch == 1


@pytest.mark.parametrize(
    "args, error",
    [
        ((positions(20), 0, 5), ConfigError),
        ((positions(20), 2, 2.5), ConfigError),
        ((np.zeros(20), 2, 2), ShapeError),
        ((positions(20).reshape(4, 5), 2, 2), ShapeError),
    ],
    ids=["zero_batch", "float_seq_len", "float_ids", "2d_ids"],
)
def test_stream_rejects_bad_arguments(args, error):
    with pytest.raises(error):
        CharStream(*args)


@pytest.mark.parametrize("N, fraction, n_val", [(100, 0.1, 10), (10, 0.25, 2), (7, 0.5, 4)])
def test_split_holds_out_the_tail(N, fraction, n_val):
    train, val = split(positions(N), fraction)
    assert val.size == n_val
    assert np.array_equal(np.concatenate([train, val]), positions(N))


@pytest.mark.parametrize(
    "N, fraction, part",
    [
        (100, 0.001, "validation part would hold 0 of 100"),
        (10, 0.95, "training part would hold 0"),
    ],
    ids=["validation_empty", "training_empty"],
)
def test_split_says_which_part_is_too_short(N, fraction, part):
    with pytest.raises(DataError, match=part):
        split(positions(N), fraction)


def test_split_checks_the_minimum_length_it_is_given():
    with pytest.raises(DataError, match="validation part would hold 10 .* fewer than the 24"):
        split(positions(100), 0.1, min_length=24)


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5], ids=str)
def test_split_rejects_fractions_outside_zero_one(fraction):
    with pytest.raises(ConfigError, match="val_fraction"):
        split(positions(100), fraction)
