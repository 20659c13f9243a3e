"""CSV and NPZ loaders: the values they read, and the errors that name the problem."""

import math
import zipfile

import numpy as np
import pytest

from rnnkit.data.tables import count_missing, read_csv, read_npz_sequences
from rnnkit.errors import DataError


def _csv(tmp_path, text: str, name: str = "t.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_csv_with_a_header_reads_as_names_and_float64_values(tmp_path):
    path = _csv(tmp_path, "date,a,b\n2001,1,2.5\n2002,-3,4e1\n")
    header, values = read_csv(path, ["a", "b"])
    assert header == ["a", "b"]
    assert values.dtype == np.float64
    np.testing.assert_array_equal(values, [[1, 2.5], [-3, 40]])


def test_a_csv_without_a_header_names_its_columns_by_position(tmp_path):
    header, values = read_csv(_csv(tmp_path, "1,2\n3,4\n"))
    assert header == ["0", "1"]
    np.testing.assert_array_equal(values, [[1, 2], [3, 4]])


@pytest.mark.parametrize("columns, expected", [([1], [[2], [5]]), (["c", "a"], [[3, 1], [6, 4]])])
def test_columns_are_chosen_by_name_or_index_in_the_order_given(tmp_path, columns, expected):
    path = _csv(tmp_path, "a,b,c\n1,2,3\n4,5,6\n")
    _, values = read_csv(path, columns)
    np.testing.assert_array_equal(values, expected)


def test_blank_lines_quotes_and_a_byte_order_mark_are_accepted(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b'\xef\xbb\xbfx,"y"\n\n1,"2"\n\n3,4\n')
    header, values = read_csv(path)
    assert header == ["x", "y"]
    np.testing.assert_array_equal(values, [[1, 2], [3, 4]])


@pytest.mark.parametrize("token", ["", "NA", "nan", "NULL", "?", " n/a "])
def test_missing_values_are_kept_as_nan_and_counted(tmp_path, token):
    path = _csv(tmp_path, f"a,b\n1,2\n{token},4\n5,{token}\n")
    header, values = read_csv(path, missing="keep")
    assert math.isnan(values[1, 0]) and math.isnan(values[2, 1])
    assert count_missing(header, values) == {"a": 1, "b": 1}


def test_a_missing_value_is_an_error_by_default_naming_file_line_and_column(tmp_path):
    path = _csv(tmp_path, "a,b\n1,2\n3,\n")
    with pytest.raises(DataError, match=r"t\.csv: line 3: column 'b' has a missing value"):
        read_csv(path)


def test_text_in_a_numeric_column_names_the_column_and_the_value(tmp_path):
    path = _csv(tmp_path, "a,b\n1,2\n3,oops\n")
    with pytest.raises(DataError, match=r"line 3: column 'b' holds 'oops'"):
        read_csv(path)


def test_text_in_a_column_not_chosen_is_ignored(tmp_path):
    _, values = read_csv(_csv(tmp_path, "name,v\nx,1\ny,2\n"), ["v"])
    np.testing.assert_array_equal(values, [[1], [2]])


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b\n1,2\n3\n", r"line 3: 1 fields where the first row has 2"),
        ("a,b\n1,2,3\n", r"line 2: 3 fields"),
        ("", "empty"),
        ("\n\n  \n", "empty"),
        ("a,b\n", "only a header"),
        ("a,b\n1,inf\n", "not a finite number"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, text, message):
    path = _csv(tmp_path, text)
    with pytest.raises(DataError, match=message) as err:
        read_csv(path)
    assert "t.csv" in str(err.value)


@pytest.mark.parametrize(
    "columns, message", [(["z"], "'z' is not in the header"), ([5], "index 5 is out of range")]
)
def test_unknown_columns_are_named(tmp_path, columns, message):
    with pytest.raises(DataError, match=message):
        read_csv(_csv(tmp_path, "a,b\n1,2\n"), columns)


def test_bytes_that_are_not_utf8_name_their_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a\n1\n\xff\n")
    with pytest.raises(DataError, match="line 3.*not UTF-8"):
        read_csv(path)


def test_a_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_csv(tmp_path / "nowhere.csv")


def test_npz_sequences_are_padded_with_zeros_past_their_lengths(tmp_path):
    x = np.ones((2, 4, 3))
    x[1, 2:] = np.nan  # padding may hold anything
    path = tmp_path / "s.npz"
    np.savez(path, x=x, lengths=np.array([4, 2]), y=np.array(["up", "down"]))
    seqs, lengths, labels = read_npz_sequences(path)
    assert seqs.shape == (2, 4, 3) and seqs.dtype == np.float64
    np.testing.assert_array_equal(lengths, [4, 2])
    assert (seqs[1, 2:] == 0).all() and (seqs[1, :2] == 1).all()
    assert list(labels) == ["up", "down"]


def test_npz_of_one_channel_may_be_two_dimensional_and_unlabelled(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(path, x=np.arange(6.0).reshape(2, 3))
    seqs, lengths, labels = read_npz_sequences(path)
    assert seqs.shape == (2, 3, 1) and labels is None
    np.testing.assert_array_equal(lengths, [3, 3])


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"X": np.zeros((2, 3))}, "no array named 'x'"),
        ({"x": np.zeros(3)}, r"\[N, T, C\]"),
        ({"x": np.zeros((2, 3, 1, 1))}, r"\[N, T, C\]"),
        ({"x": np.zeros((0, 3, 1))}, "empty"),
        ({"x": np.array([["a", "b"]])}, "real numbers"),
        ({"x": np.zeros((2, 3)), "lengths": np.array([3, 4])}, r"lengths\[1\] = 4"),
        ({"x": np.zeros((2, 3)), "lengths": np.array([3])}, r"lengths must have shape \[N\]"),
        ({"x": np.zeros((2, 3)), "lengths": np.array([3.0, 2.0])}, "integers"),
        ({"x": np.zeros((2, 3)), "y": np.array([1, 2, 3])}, r"y must have shape \[N\]"),
        ({"x": np.zeros((2, 3)), "y": np.array([0.5, 1.5])}, "integer or string labels"),
        ({"x": np.array([[1.0, np.nan]])}, r"x\[0, 1, 0\] = nan is not finite"),
    ],
)
def test_npz_problems_are_named(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message):
        read_npz_sequences(path)


def test_npz_object_arrays_are_refused_not_unpickled(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, x=np.array([np.zeros(2), np.zeros(3)], dtype=object))
    with pytest.raises(DataError, match="holds Python objects"):
        read_npz_sequences(path)


def test_an_array_declaring_more_bytes_than_its_file_holds_is_refused_before_allocation(tmp_path):
    header = b"{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776,), }"
    header += b" " * (118 - len(header)) + b"\n"
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(
            "x.npy",
            b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x00" * 64,
        )
    with pytest.raises(DataError, match=r"declares shape \(1099511627776,\)"):
        read_npz_sequences(path)


def test_a_damaged_compressed_archive_is_a_data_error(tmp_path):
    path = tmp_path / "z.npz"
    np.savez_compressed(path, x=np.random.default_rng(0).standard_normal((20, 30)))
    data = bytearray(path.read_bytes())
    data[80:120] = bytes(40)  # inside x.npy's deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="z.npz"):
        read_npz_sequences(path)


@pytest.mark.parametrize("content", [b"", b"not a zip file", b"PK\x03\x04 truncated"])
def test_files_that_are_not_npz_archives_are_data_errors(tmp_path, content):
    path = tmp_path / "junk.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="junk.npz"):
        read_npz_sequences(path)
