"""Numeric tables from CSV files and labelled sequences from NPZ files, checked as they are read.

CSV (``read_csv``): comma-separated, UTF-8 (a byte-order mark is allowed), quoted fields as
the ``csv`` module reads them, blank lines skipped.  The first row is a header when any of
its fields is not a number; otherwise the columns are named ``"0"``, ``"1"``, …  A missing
value is an empty field or one of ``MISSING_TOKENS`` (any case).  Every problem raises a
``DataError`` naming the file, the line and, where it applies, the column and the value.

NPZ (``read_npz_sequences``): keys ``x`` (``[N, T, C]``, or ``[N, T]`` for one channel),
optional ``lengths`` (``[N]`` integers in [1, T]) and ``y`` (``[N]`` labels: integers or
strings).  Read with ``allow_pickle=False``: object arrays are refused, never unpickled.
"""

import csv
import io
import math
import zipfile
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import DataError

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})
"""Field values (lower-cased, stripped) read as a missing value."""


class Rows(NamedTuple):
    """The raw text of a CSV file: header names and data rows with their line numbers."""

    header: list[str]
    rows: list[list[str]]  # every row has len(header) stripped fields
    lines: list[int]  # the 1-based line number of each row in the file
    has_header: bool


def read_rows(path: str | Path) -> Rows:
    """The fields of a CSV file, every row checked to have as many fields as the first."""
    path = Path(path)
    text = _read_text(path)
    rows, lines = [], []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for fields in reader:
            if not fields or all(not f.strip() for f in fields) and len(fields) == 1:
                continue  # a blank line
            rows.append([f.strip() for f in fields])
            lines.append(reader.line_num)
    except csv.Error as e:
        raise DataError(f"{path}: line {reader.line_num + 1}: not readable as CSV ({e})") from None
    if not rows:
        raise DataError(f"{path}: the file is empty (no rows); a CSV needs at least one data row")
    width = len(rows[0])
    for fields, line in zip(rows, lines):
        if len(fields) != width:
            raise DataError(
                f"{path}: line {line}: {len(fields)} fields where the first row has "
                f"{width}; every row needs the same number of comma-separated fields"
            )
    has_header = any(_number(f) is None and f.lower() not in MISSING_TOKENS for f in rows[0])
    if has_header:
        header, rows, lines = rows[0], rows[1:], lines[1:]
    else:
        header = [str(k) for k in range(width)]
    if not rows:
        raise DataError(f"{path}: only a header line, no data rows")
    return Rows(header, rows, lines, has_header)


def read_csv(
    path: str | Path,
    columns: list[str | int] | None = None,
    *,
    missing: str = "error",
) -> tuple[list[str], np.ndarray]:
    """(column names, values ``[N, C]`` float64) of the chosen columns of a CSV file.

    ``columns`` picks columns by name or 0-based index (default: all; only the chosen ones
    must be numeric).  ``missing="error"`` refuses missing values; ``"keep"`` reads them as
    NaN (count them with ``count_missing``).  Infinite values are always refused.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(p, "w").write("a,b\\n1,2\\n3,\\n")
    >>> read_csv(p, ["b"], missing="keep")
    (['b'], array([[ 2.],
           [nan]]))
    """
    if missing not in ("error", "keep"):
        raise DataError(f"missing must be 'error' or 'keep', got {missing!r}")
    path = Path(path)
    table = read_rows(path)
    picks = _column_indices(path, table.header, columns)
    values = np.empty((len(table.rows), len(picks)), dtype=np.float64)
    for r, (fields, line) in enumerate(zip(table.rows, table.lines)):
        for c, k in enumerate(picks):
            values[r, c] = _parse(path, line, table.header[k], fields[k], missing)
    return [table.header[k] for k in picks], values


def count_missing(header: list[str], values: np.ndarray) -> dict[str, int]:
    """Missing (NaN) values per column, for the columns that have any."""
    counts = np.isnan(values).sum(axis=0)
    return {name: int(n) for name, n in zip(header, counts) if n}


def read_npz_sequences(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(x ``[N, T, C]`` float64 with zero padding, lengths ``[N]`` int64, labels ``[N]`` or None).

    Values past a sequence's length are ignored (set to 0); values within it must be finite.
    """
    path = Path(path)
    arrays = _load_npz(path)
    if "x" not in arrays:
        raise DataError(
            f"{path}: no array named 'x' (found {sorted(arrays) or 'none'}); "
            "save the sequences as x=[N, T, C], with optional lengths=[N], y=[N]"
        )
    x = _sequence_array(path, arrays["x"])
    N, T, _ = x.shape
    lengths = _lengths(path, arrays.get("lengths"), N, T)
    x[np.arange(T)[None, :] >= lengths[:, None]] = 0.0
    bad = np.argwhere(~np.isfinite(x))
    if bad.size:
        n, t, c = (int(k) for k in bad[0])
        raise DataError(
            f"{path}: x[{n}, {t}, {c}] = {x[n, t, c]} is not finite "
            f"({len(bad)} such values); fill or drop missing values first"
        )
    labels = arrays.get("y")
    if labels is not None:
        labels = _labels(path, labels, N)
    return x, lengths, labels


# -- CSV helpers --------------------------------------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a file") from None
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror})") from None
    if not data.strip():
        raise DataError(f"{path}: the file is empty; a CSV needs at least one data row")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line}: byte 0x{data[e.start]:02x} is not UTF-8; save the file as UTF-8"
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise DataError(f"{path}: line {line}: contains a NUL byte; is this a text file?")
    return text


def _number(field: str) -> float | None:
    try:
        return float(field)
    except ValueError:
        return None


def _parse(path: Path, line: int, column: str, field: str, missing: str) -> float:
    if field.lower() in MISSING_TOKENS:
        if missing == "keep":
            return math.nan
        raise DataError(
            f"{path}: line {line}: column {column!r} has a missing value "
            f"({field!r}); fill it in, or let the command fill missing values"
        )
    value = _number(field)
    if value is None:
        raise DataError(
            f"{path}: line {line}: column {column!r} holds {field[:40]!r}, which is not a number"
        )
    if not math.isfinite(value):
        raise DataError(
            f"{path}: line {line}: column {column!r} holds {field!r}, which is not a finite number"
        )
    return value


def _column_indices(path: Path, header: list[str], columns: list[str | int] | None) -> list[int]:
    if columns is None:
        return list(range(len(header)))
    if isinstance(columns, (str, int)):
        columns = [columns]
    if not columns:
        raise DataError(f"{path}: no columns chosen")
    picks = []
    for col in columns:
        if isinstance(col, (int, np.integer)) and not isinstance(col, bool):
            if not 0 <= col < len(header):
                raise DataError(
                    f"{path}: column index {col} is out of range: the file has "
                    f"{len(header)} columns"
                )
            picks.append(int(col))
            continue
        hits = [k for k, name in enumerate(header) if name == col]
        if len(hits) != 1:
            problem = "appears more than once in" if hits else "is not in"
            raise DataError(
                f"{path}: column {col!r} {problem} the header "
                f"({', '.join(map(repr, header[:20]))})"
            )
        picks.append(hits[0])
    return picks


# -- NPZ helpers --------------------------------------------------------------------------------


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz archive, each header checked before anything is allocated."""
    try:
        limit = DEFLATE_MAX_RATIO * path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            return {
                _key(info.filename): _read_member(archive, info, limit)
                for info in archive.infolist()
            }
    except DataError as e:
        raise DataError(f"{path}: {e}") from None
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DataError(f"{path}: is a directory, not a file") from None
    except (
        ValueError,
        SyntaxError,
        OSError,
        EOFError,
        zipfile.BadZipFile,
        zlib.error,
        KeyError,
        RuntimeError,
        NotImplementedError,
    ) as e:
        raise DataError(
            f"{path}: not a readable .npz archive of numeric arrays ({type(e).__name__}: {e})"
        ) from None


DEFLATE_MAX_RATIO = 1100
"""Deflate expands at most ≈ 1032-fold: no honest archive holds more bytes than this × its size."""


def _key(filename: str) -> str:
    return filename[:-4] if filename.endswith(".npy") else filename


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> np.ndarray:
    """One array, refused if its header declares more bytes than the archive can hold."""
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise DataError(f"array {_key(info.filename)!r}: .npy format {version} is not read")
        if dtype.hasobject:
            raise DataError(
                f"array {_key(info.filename)!r} holds Python objects, which would "
                "need pickle; save numeric or string arrays"
            )
        declared = math.prod(shape) * dtype.itemsize
        if declared > min(info.file_size, limit):
            raise DataError(
                f"array {_key(info.filename)!r} declares shape {shape} "
                f"({declared:,} bytes) but its file holds {info.file_size:,} bytes"
            )
    with archive.open(info) as f:
        return np.lib.format.read_array(f, allow_pickle=False)


def _sequence_array(path: Path, x: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in "iuf":
        raise DataError(f"{path}: x must hold real numbers, got dtype {x.dtype}")
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise DataError(
            f"{path}: x must be [N, T, C] (or [N, T] for one channel), got shape {x.shape}"
        )
    if 0 in x.shape:
        raise DataError(f"{path}: x is empty (shape {x.shape}); it needs N, T, C >= 1")
    return x.astype(np.float64)


def _lengths(path: Path, lengths: np.ndarray | None, N: int, T: int) -> np.ndarray:
    if lengths is None:
        return np.full(N, T, dtype=np.int64)
    if lengths.dtype.kind not in "iu":
        raise DataError(f"{path}: lengths must be integers, got dtype {lengths.dtype}")
    if lengths.shape != (N,):
        raise DataError(f"{path}: lengths must have shape [N] = [{N}], got {lengths.shape}")
    bad = np.flatnonzero((lengths < 1) | (lengths > T))
    if bad.size:
        k = int(bad[0])
        raise DataError(f"{path}: lengths[{k}] = {int(lengths[k])} is not in [1, T = {T}]")
    return lengths.astype(np.int64)


def _labels(path: Path, y: np.ndarray, N: int) -> np.ndarray:
    if y.dtype.kind not in "iuUS":
        raise DataError(f"{path}: y must hold integer or string labels, got dtype {y.dtype}")
    if y.shape != (N,):
        raise DataError(f"{path}: y must have shape [N] = [{N}], got {y.shape}")
    if y.dtype.kind == "S":
        try:
            return y.astype(str)
        except UnicodeDecodeError:
            raise DataError(
                f"{path}: y holds byte strings that are not ASCII; "
                "save the labels as integers or str"
            ) from None
    return y
