"""Labelled sequences: padding, labels, long-form CSV, standardisation, the bundled sets."""

import numpy as np
import pytest

from rnnkit.data.sequences import (
    Sequences,
    encode_labels,
    load_dataset,
    pad_sequences,
    read_csv_sequences,
    read_sequences,
    stack_frames,
    standardise,
)
from rnnkit.errors import DataError


def test_unequal_lengths_are_padded_with_zeros_and_remembered():
    x, lengths = pad_sequences([np.ones((3, 2)), 2 * np.ones((1, 2)), np.ones((5, 2))])
    assert x.shape == (3, 5, 2)
    np.testing.assert_array_equal(lengths, [3, 1, 5])
    assert (x[1, 1:] == 0).all() and (x[1, 0] == 2).all()


@pytest.mark.parametrize("seqs", [[np.ones((2, 2)), np.ones((2, 3))], [np.ones((0, 2))], []])
def test_sequences_of_mixed_channels_or_no_steps_are_refused(seqs):
    with pytest.raises(DataError):
        pad_sequences(seqs)


def test_labels_become_ids_in_sorted_order_numbers_numerically():
    ids, classes = encode_labels(np.array(["10", "9", "10", "1"]))
    assert classes == ("1", "9", "10")
    np.testing.assert_array_equal(ids, [2, 1, 2, 0])


def test_a_single_class_is_encoded_as_class_zero():
    ids, classes = encode_labels(np.array(["only", "only"]))
    assert classes == ("only",) and ids.tolist() == [0, 0]


def test_a_test_label_unseen_in_training_is_an_error():
    with pytest.raises(DataError, match="do not occur in the training split"):
        encode_labels(np.array(["a", "z"]), ("a", "b"))


def _long_csv(tmp_path, text):
    path = tmp_path / "seqs.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_long_form_csv_gives_variable_length_multichannel_sequences(tmp_path):
    path = _long_csv(
        tmp_path, "sequence,label,ch1,ch2\ns1,walk,1,10\ns1,walk,2,20\ns1,walk,3,30\ns2,run,4,40\n"
    )
    x, lengths, labels = read_csv_sequences(path)
    assert x.shape == (2, 3, 2)
    np.testing.assert_array_equal(lengths, [3, 1])
    np.testing.assert_array_equal(x[0, :, 1], [10, 20, 30])
    assert list(labels) == ["walk", "run"]
    data = read_sequences(path)
    assert data.classes == ("run", "walk") and data.y.tolist() == [1, 0]


@pytest.mark.parametrize(
    "text, message",
    [
        ("sequence,label,v\ns1,a,1\ns1,b,2\n", "line 3: sequence 's1' has label 'b'"),
        ("sequence,label,v\ns1,a,\n", "line 2: column 'v' holds a missing value"),
        ("sequence,label,v\ns1,,1\n", "line 2: the label is missing"),
        ("id,label,v\ns1,a,1\n", "'sequence'"),
        ("sequence,label\ns1,a\n", "no channel columns"),
        ("1,2,3\n", "needs a header"),
    ],
)
def test_long_form_csv_problems_name_the_line(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_csv_sequences(_long_csv(tmp_path, text))


def test_an_npz_without_labels_cannot_be_classified(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, x=np.zeros((2, 3)))
    with pytest.raises(DataError, match="no labels"):
        read_sequences(path)


def test_an_unknown_file_type_is_named(tmp_path):
    with pytest.raises(DataError, match="unknown file type '.txt'"):
        read_sequences(tmp_path / "seqs.txt")


def test_standardising_uses_only_the_real_steps_of_the_training_split():
    x = np.array([[[1.0], [3.0], [0.0]], [[5.0], [7.0], [9.0]]])
    train = Sequences(x, np.array([2, 3]), np.array([0, 1]), ("a", "b"))
    test = Sequences(np.full((1, 2, 1), 5.0), np.array([1]), np.array([0]), ("a", "b"))
    z_train, z_test = standardise(train, test)
    real = np.array([1.0, 3, 5, 7, 9])
    expected = (np.array([5, 7, 9]) - real.mean()) / real.std()
    np.testing.assert_allclose(z_train.x[1, :, 0], expected)
    assert z_train.x[0, 2, 0] == 0  # padding stays zero
    assert z_test.x[0, 0, 0] == 0.0 and z_test.x[0, 1, 0] == 0.0  # 5 is the mean; 2nd is padding


def test_a_constant_channel_is_centred_not_divided_by_zero():
    x = np.full((2, 3, 1), 4.0)
    (z,) = standardise(Sequences(x, np.array([3, 3]), np.array([0, 1]), ("a", "b")))
    assert np.isfinite(z.x).all() and (z.x == 0).all()


def test_selecting_sequences_pads_to_their_own_longest():
    x, lengths = pad_sequences([np.ones((5, 1)), np.ones((2, 1)), np.ones((3, 1))])
    data = Sequences(x, lengths, np.array([0, 1, 0]), ("a", "b"))
    part = data.select(np.array([1, 2]))
    assert part.x.shape == (2, 3, 1) and part.y.tolist() == [1, 0]


@pytest.mark.parametrize("k, frames, lengths", [(1, 5, [5, 2]), (2, 3, [3, 1]), (5, 1, [1, 1])])
def test_frames_stack_consecutive_steps_without_losing_any(k, frames, lengths):
    x, n = pad_sequences([np.arange(10.0).reshape(5, 2), -np.ones((2, 2))])
    framed = stack_frames(Sequences(x, n, np.array([0, 1]), ("a", "b")), k)
    assert framed.x.shape == (2, frames, 2 * k) and framed.lengths.tolist() == lengths
    np.testing.assert_array_equal(framed.x[0].reshape(-1)[:10], np.arange(10.0))
    assert (framed.x[0].reshape(-1)[10:] == 0).all()  # the last frame is zero-padded


def test_unknown_bundled_dataset_lists_the_choices():
    names = "GunPoint, ItalyPowerDemand, JapaneseVowels, BasicMotions"
    with pytest.raises(DataError, match=names):
        load_dataset("mnist")


@pytest.mark.slow  # importing sktime takes seconds
@pytest.mark.parametrize(
    "name, train_shape, test_n, classes, unequal",
    [
        ("ItalyPowerDemand", (67, 24, 1), 1029, 2, False),
        ("japanese-vowels", (270, 26, 12), 370, 9, True),
    ],
)
def test_bundled_sets_load_with_their_published_splits(
    name, train_shape, test_n, classes, unequal
):
    pytest.importorskip("sktime")
    train, test = load_dataset(name)
    assert train.x.shape == train_shape and len(test.y) == test_n
    assert train.num_classes == classes and test.classes == train.classes
    assert (len(set(train.lengths.tolist())) > 1) == unequal
    assert np.isfinite(train.x).all()


def test_a_file_of_new_sequences_may_carry_labels_or_not(tmp_path):
    from rnnkit.data.sequences import read_sequence_file

    path = _long_csv(tmp_path, "sequence,ch1,ch2\ns1,1,10\ns1,2,20\ns2,4,40\n")
    f = read_sequence_file(path)
    assert f.ids == ["s1", "s2"] and f.labels is None and f.channel_names == ("ch1", "ch2")
    np.testing.assert_array_equal(f.lengths, [2, 1])
    with pytest.raises(DataError, match="one 'label' column"):
        read_sequence_file(path, labels=True)
    np.savez(tmp_path / "x.npz", x=np.ones((3, 4, 2)))
    f = read_sequence_file(tmp_path / "x.npz")
    assert f.ids == ["0", "1", "2"] and f.labels is None and f.channel_names is None
    with pytest.raises(DataError, match="no labels"):
        read_sequences(tmp_path / "x.npz")
    labelled = read_sequences(_long_csv(tmp_path, "sequence,label,a\ns1,x,1\ns2,y,2\n"))
    assert labelled.channel_names == ("a",) and labelled.select(np.array([1])).channel_names == (
        "a",
    )


def test_a_file_to_classify_may_leave_some_labels_out_but_a_training_file_may_not(tmp_path):
    from rnnkit.data.sequences import read_sequence_file

    path = _long_csv(tmp_path, "sequence,label,a\ns1,x,1\ns2,NA,2\ns2,NA,3\n")
    assert read_sequence_file(path).labels.tolist() == ["x", ""]
    with pytest.raises(DataError, match="line 3: the label is missing"):
        read_sequences(path)
