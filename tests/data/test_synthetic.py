"""The generated tasks: shapes, markers, targets and baselines as their papers define them."""

import math

import numpy as np
import pytest

from rnnkit.data import synthetic as syn
from rnnkit.errors import ConfigError


@pytest.mark.parametrize("T", [22, 100, 150])
def test_adding_problem_marks_two_values_and_targets_half_plus_a_quarter_of_their_sum(T, rng):
    x, y, lengths, marks = syn.adding_problem(rng, 500, T)
    rows = np.arange(500)
    assert x.shape == (500, T + T // 10, 2)
    assert lengths.min() >= T and lengths.max() <= T + T // 10
    t1, t2 = marks.T
    assert (t1 < 10).all() and (t2 < (T + 1) // 2 - 1).all() and (t1 != t2).all()
    assert ((x[..., 1] == 1).sum(axis=1) == 2).all()
    assert (x[rows, t1, 1] == 1).all() and (x[rows, t2, 1] == 1).all()
    np.testing.assert_allclose(y[:, 0], 0.5 + (x[rows, t1, 0] + x[rows, t2, 0]) / 4, rtol=1e-6)
    # the first and last pairs are marked −1 unless they carry a value to add
    first_free = (t1 != 0) & (t2 != 0)
    assert (x[first_free, 0, 1] == -1).all() and (x[rows, lengths - 1, 1] == -1).all()
    assert (x[~first_free, 0, 0] == 0).all()  # X = 0 when the first pair is marked
    steps = np.arange(x.shape[1])[None, :]
    assert (x[steps >= lengths[:, None]] == 0).all()  # padding after each length
    assert (np.abs(x[..., 0]) <= 1).all() and 0 <= y.min() and y.max() <= 1


def test_adding_problem_draws_every_allowed_first_marker(rng):
    _, _, _, marks = syn.adding_problem(rng, 2000, 100)
    assert set(marks[:, 0]) == set(range(10))


def test_irnn_adding_puts_one_mark_in_each_half_and_sums_the_marked_values(rng):
    T = 150
    x, y, lengths, marks = syn.irnn_adding(rng, 4000, T)
    rows = np.arange(4000)
    assert x.shape == (4000, T, 2) and (lengths == T).all()
    assert (marks[:, 0] < T // 2).all() and (marks[:, 1] >= T // 2).all()
    assert ((x[..., 1] == 1).sum(axis=1) == 2).all()
    np.testing.assert_allclose(
        y[:, 0], x[rows, marks[:, 0], 0] + x[rows, marks[:, 1], 0], rtol=1e-6
    )
    assert abs(np.mean((y - 1) ** 2) - 1 / 6) < 0.02  # the constant predictor's MSE ≈ 1/6


def test_copy_memory_asks_for_the_first_ten_symbols_after_the_delimiter(rng):
    T = 30
    x, y = syn.copy_memory(rng, 8, T)
    assert x.shape == y.shape == (8, T + 20)
    assert ((x[:, :10] >= 1) & (x[:, :10] <= 8)).all()
    assert (x[:, 10 : T + 9] == 0).all() and (x[:, T + 9] == syn.COPY_DELIMITER).all()
    assert (x[:, T + 10 :] == 0).all()
    assert (y[:, : T + 10] == 0).all()
    np.testing.assert_array_equal(y[:, T + 10 :], x[:, :10])


def test_copy_baseline_is_ten_ln_eight_over_t_plus_twenty():
    assert syn.copy_baseline(100) == pytest.approx(10 * math.log(8) / 120)
    assert round(syn.copy_baseline(100), 4) == 0.1733


@pytest.mark.parametrize("T", [10, 100])
def test_temporal_order_places_x_or_y_in_the_two_windows_and_labels_their_order(T, rng):
    x, y = syn.temporal_order(rng, 1000, T)
    assert x.shape == (1000, T) and y.shape == (1000,)
    assert (x[:, 0] == syn.BEGIN_ID).all() and (x[:, -1] == syn.END_ID).all()
    relevant = (x == syn.X_ID) | (x == syn.Y_ID)
    assert (relevant.sum(axis=1) == 2).all()
    where = np.argwhere(relevant)[:, 1].reshape(1000, 2)
    lo1, hi1 = T // 10, max(2 * T // 10, T // 10 + 1)
    lo2, hi2 = 5 * T // 10, max(6 * T // 10, 5 * T // 10 + 1)
    assert ((where[:, 0] >= lo1) & (where[:, 0] < hi1)).all()
    assert ((where[:, 1] >= lo2) & (where[:, 1] < hi2)).all()
    first, second = x[np.arange(1000), where[:, 0]], x[np.arange(1000), where[:, 1]]
    np.testing.assert_array_equal(y, 2 * (first - syn.X_ID) + (second - syn.X_ID))
    assert set(y) == {0, 1, 2, 3}


def test_the_same_seed_gives_the_same_data():
    a = syn.adding_problem(np.random.default_rng(5), 4, 30)
    b = syn.adding_problem(np.random.default_rng(5), 4, 30)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


def test_reverse_and_addition_pairs_hold_what_they_claim(rng):
    for s, t in syn.reverse_pairs(rng, 50, min_len=2, max_len=5):
        assert t == s[::-1] and 2 <= len(s) <= 5 and set(s) <= set(syn.REVERSE_CHARS)
    for s, t in syn.addition_pairs(rng, 50, digits=3):
        a, b = s.split("+")
        assert int(t) == int(a) + int(b) and 1 <= len(a) <= 3 and str(int(a)) == a


def test_vocab_pads_encodes_and_decodes_up_to_eos():
    vocab = syn.Seq2SeqVocab("ab")
    assert len(vocab) == 5
    ids, lengths = vocab.pad(["ab", "b"])
    np.testing.assert_array_equal(ids, [[3, 4], [4, syn.PAD]])
    np.testing.assert_array_equal(lengths, [2, 1])
    assert vocab.decode([4, 3, syn.EOS, 3]) == "ba"
    with pytest.raises(ConfigError, match="not in the vocabulary"):
        vocab.encode("abc")


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: syn.adding_problem(rng, 2, 21),
        lambda rng: syn.temporal_order(rng, 2, 9),
        lambda rng: syn.copy_memory(rng, 0, 10),
        lambda rng: syn.reverse_pairs(rng, 2, min_len=3, max_len=2),
    ],
)
def test_impossible_settings_are_refused(make, rng):
    with pytest.raises(ConfigError):
        make(rng)
