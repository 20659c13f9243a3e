"""Labelled, variable-length, multichannel sequences: padded ``[N, T, C]`` arrays with lengths.

Sources:

* sktime's bundled classification sets with their published train/test splits
  (``load_dataset``): GunPoint, ItalyPowerDemand, JapaneseVowels (unequal lengths) and
  BasicMotions.  sktime is an optional dependency (the ``jobs`` extra); nothing is downloaded.
* NPZ files (``x``, optional ``lengths``, ``y``; see ``tables.read_npz_sequences``).
* CSV files in long form (``read_csv_sequences``): one row per time step, a column naming the
  sequence, a column with its label, and every other column a channel; the rows of a sequence
  are in time order.

``read_sequences`` needs the labels (training and test files); ``read_sequence_file`` reads
the same formats with the labels optional (new sequences to classify): an NPZ without ``y``,
a CSV without the label column.

Labels become class ids ``0 … K−1`` in the sorted order of the training labels
(``encode_labels``); a test label the training split never shows is an error.
"""

from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import DataError
from .tables import MISSING_TOKENS, read_npz_sequences, read_rows

DATASETS = {
    "gunpoint": "load_gunpoint",
    "italypowerdemand": "load_italy_power_demand",
    "japanesevowels": "load_japanese_vowels",
    "basicmotions": "load_basic_motions",
}
"""Bundled sets (names compared without case, '-' or '_') → sktime loader."""

DISPLAY_NAMES = {
    "gunpoint": "GunPoint",
    "italypowerdemand": "ItalyPowerDemand",
    "japanesevowels": "JapaneseVowels",
    "basicmotions": "BasicMotions",
}


@dataclass(frozen=True)
class Sequences:
    """Padded sequences with their lengths and class ids."""

    x: np.ndarray  # [N, T, C] float64, zeros past each length
    lengths: np.ndarray  # [N] int64, in [1, T]
    y: np.ndarray  # [N] int64 class ids in [0, K)
    classes: tuple[str, ...]  # K label names; class id k is classes[k]
    channel_names: tuple[str, ...] | None = None  # C names (a CSV's header), or None

    def __post_init__(self) -> None:
        N = len(self.x)
        if self.x.ndim != 3 or self.lengths.shape != (N,) or self.y.shape != (N,):
            raise DataError(
                f"sequences need x [N, T, C], lengths [N], y [N]; got "
                f"{self.x.shape}, {self.lengths.shape}, {self.y.shape}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return self.x.shape[2]

    def select(self, index: np.ndarray) -> "Sequences":
        """The sequences at ``index``, padded only to their own longest length."""
        lengths = self.lengths[index]
        T = int(lengths.max())
        return replace(self, x=self.x[index, :T], lengths=lengths, y=self.y[index])


def pad_sequences(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(x ``[N, T, C]`` zero-padded, lengths ``[N]``) from a list of ``[T_n, C]`` arrays."""
    if not seqs:
        raise DataError("no sequences")
    seqs = [np.asarray(s, dtype=np.float64) for s in seqs]
    seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
    C = seqs[0].shape[1]
    for n, s in enumerate(seqs):
        if s.ndim != 2 or s.shape[1] != C or len(s) == 0:
            raise DataError(
                f"sequence {n} has shape {s.shape}; every sequence must be [T_n >= 1, C = {C}]"
            )
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    x = np.zeros((len(seqs), int(lengths.max()), C))
    for n, s in enumerate(seqs):
        x[n, : len(s)] = s
    return x, lengths


def encode_labels(
    labels: np.ndarray, classes: tuple[str, ...] | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """(class ids ``[N]``, class names) — the names sorted (numerically if all are integers)."""
    names = np.asarray(labels).astype(str)
    if classes is None:
        unique = sorted(set(names.tolist()), key=_label_key)
        classes = tuple(unique)
    index = {c: k for k, c in enumerate(classes)}
    unknown = sorted(set(names.tolist()) - set(index))
    if unknown:
        raise DataError(
            f"labels {unknown[:5]} do not occur in the training split "
            f"(classes: {list(classes)[:10]})"
        )
    return np.array([index[c] for c in names.tolist()], dtype=np.int64), classes


def dataset_key(name: str) -> str:
    """The registry key of a bundled set, or a DataError listing the choices."""
    key = name.lower().replace("-", "").replace("_", "")
    if key not in DATASETS:
        raise DataError(
            f"unknown dataset {name!r}; choose one of: {', '.join(DISPLAY_NAMES.values())}"
        )
    return key


def load_dataset(name: str) -> tuple[Sequences, Sequences]:
    """(train, test) of a bundled sktime set, with the published split."""
    key = dataset_key(name)
    try:
        import sktime.datasets as sk
    except ImportError:
        raise DataError("the bundled datasets need sktime: pip install 'rnnkit[jobs]'") from None
    loader = getattr(sk, DATASETS[key])
    raw = {split: loader(split=split, return_X_y=True) for split in ("train", "test")}
    train_x, train_len = pad_sequences(_nested_rows(raw["train"][0]))
    test_x, test_len = pad_sequences(_nested_rows(raw["test"][0]))
    y_train, classes = encode_labels(raw["train"][1])
    y_test, _ = encode_labels(raw["test"][1], classes)
    return (
        Sequences(train_x, train_len, y_train, classes),
        Sequences(test_x, test_len, y_test, classes),
    )


class SequenceFile(NamedTuple):
    """What a sequence file holds, labels optional (``read_sequence_file``)."""

    x: np.ndarray  # [N, T, C] float64, zeros past each length
    lengths: np.ndarray  # [N] int64
    ids: list[str]  # N names: a CSV's sequence column, else "0" … "N−1"
    labels: np.ndarray | None  # [N] label strings, or None when the file has none
    channel_names: tuple[str, ...] | None  # C names from a CSV header (None for NPZ)


def read_sequence_file(
    path: str | Path,
    *,
    labels: bool = False,
    id_column: str = "sequence",
    label_column: str = "label",
) -> SequenceFile:
    """Sequences from an ``.npz`` or a long-form ``.csv``; ``labels=True`` requires labels.

    Without ``labels`` a file may carry them or not (an NPZ ``y``; a CSV ``label_column``,
    where a missing label reads as ``""``).
    """
    path = Path(path)
    if path.suffix.lower() == ".npz":
        x, lengths, found = read_npz_sequences(path)
        if found is None and labels:
            raise DataError(f"{path}: no labels: save them as y=[N] beside x")
        names = None
        ids = [str(n) for n in range(len(x))]
    elif path.suffix.lower() == ".csv":
        x, lengths, ids, found, names = _read_csv(path, id_column, label_column, labels)
    else:
        raise DataError(f"{path}: unknown file type {path.suffix!r}; use .npz or .csv")
    return SequenceFile(x, lengths, ids, None if found is None else found.astype(str), names)


def read_sequences(
    path: str | Path,
    classes: tuple[str, ...] | None = None,
    *,
    id_column: str = "sequence",
    label_column: str = "label",
) -> Sequences:
    """Labelled sequences from an ``.npz`` or a long-form ``.csv`` file.

    ``classes`` (from the training file) fixes the class ids of a test file.
    """
    f = read_sequence_file(path, labels=True, id_column=id_column, label_column=label_column)
    assert f.labels is not None  # required above
    y, classes = encode_labels(f.labels, classes)
    return Sequences(f.x, f.lengths, y, classes, f.channel_names)


def read_csv_sequences(
    path: str | Path, id_column: str = "sequence", label_column: str = "label"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x ``[N, T, C]``, lengths ``[N]``, labels ``[N]``) from a long-form CSV (one row per step).

    Sequences appear in the order of their first row; a sequence's label must not change.
    """
    x, lengths, _, labels, _ = _read_csv(Path(path), id_column, label_column, True)
    assert labels is not None  # required
    return x, lengths, labels


def _read_csv(
    path: Path, id_column: str, label_column: str, labelled: bool
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray | None, tuple[str, ...]]:
    """(x, lengths, sequence ids, labels or None, channel names) of a long-form CSV; the label
    column is required when ``labelled``, else read only if the header names it."""
    table = read_rows(path)
    if not table.has_header:
        raise DataError(
            f"{path}: needs a header naming the {id_column!r}"
            + (f" and {label_column!r} columns" if labelled else " column")
            + " and the channels"
        )
    has_label = labelled or label_column in table.header
    for col in (id_column, label_column) if has_label else (id_column,):
        if table.header.count(col) != 1:
            raise DataError(
                f"{path}: the header must name one {col!r} column, got "
                f"{', '.join(map(repr, table.header[:20]))}"
            )
    id_k = table.header.index(id_column)
    label_k = table.header.index(label_column) if has_label else -1
    channels = [k for k in range(len(table.header)) if k not in (id_k, label_k)]
    if not channels:
        raise DataError(
            f"{path}: no channel columns beside {id_column!r}"
            + (f" and {label_column!r}" if has_label else "")
        )
    steps: dict[str, list[list[float]]] = {}
    labels: dict[str, tuple[str, int]] = {}
    for fields, line in zip(table.rows, table.lines):
        sid = fields[id_k]
        if has_label:
            label = fields[label_k]
            if label.lower() in MISSING_TOKENS:
                if labelled:
                    raise DataError(f"{path}: line {line}: the label is missing")
                label = ""  # a file to classify may leave some labels out
            if sid in labels and labels[sid][0] != label:
                raise DataError(
                    f"{path}: line {line}: sequence {sid!r} has label {label!r} here "
                    f"but {labels[sid][0]!r} on line {labels[sid][1]}"
                )
            labels.setdefault(sid, (label, line))
        steps.setdefault(sid, []).append(
            [_channel_value(path, line, table.header[k], fields[k]) for k in channels]
        )
    x, lengths = pad_sequences([np.array(v) for v in steps.values()])
    found = np.array([labels[sid][0] for sid in steps]) if has_label else None
    return x, lengths, list(steps), found, tuple(table.header[k] for k in channels)


def standardiser(train: Sequences) -> tuple[np.ndarray, np.ndarray]:
    """(mean ``[C]``, std ``[C]``) of the training sequences' real steps; a constant channel's
    std is 1 (it is only centred)."""
    real = np.arange(train.x.shape[1])[None, :] < train.lengths[:, None]  # [N, T]
    values = train.x[real]  # [Σ T_n, C]
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    return mean, np.where(std > 1e-12 * np.maximum(np.abs(mean), 1.0), std, 1.0)


def scale(x: np.ndarray, lengths: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(x − mean) / std`` per channel on the real steps of x ``[N, T, C]``, 0 past them."""
    mask = (np.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]
    return np.where(mask, (x - mean) / std, 0.0)


def standardise(train: Sequences, *others: Sequences) -> tuple[Sequences, ...]:
    """Per-channel z-scores with the mean and spread of the training sequences' real steps.

    Padding stays 0; a constant channel is only centred.
    """
    mean, std = standardiser(train)
    return tuple(replace(s, x=scale(s.x, s.lengths, mean, std)) for s in (train, *others))


def frames(x: np.ndarray, lengths: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(``[N, ⌈T/k⌉, k·C]``, ``⌈lengths/k⌉``): every ``k`` steps of x ``[N, T, C]`` as one."""
    if k < 1:
        raise DataError(f"frame size must be >= 1, got {k}")
    if k == 1:
        return x, lengths
    N, T, C = x.shape
    count = -(-T // k)
    stacked = np.zeros((N, count * k, C))
    stacked[:, :T] = x
    return stacked.reshape(N, count, k * C), -(-lengths // k)


def stack_frames(data: Sequences, k: int) -> Sequences:
    """Every ``k`` consecutive steps as one step of ``k·C`` features: ``[N, ⌈T/k⌉, k·C]``.

    Lossless (a sequence's last frame is zero-padded); a recurrent net then steps ⌈T/k⌉
    times instead of T, which makes long sequences (GunPoint's 150 steps) much easier to learn.
    The channel names no longer apply to the stacked features and are dropped.
    """
    if k == 1:
        return data
    x, lengths = frames(data.x, data.lengths, k)
    return Sequences(x, lengths, data.y, data.classes)


def _channel_value(path: Path, line: int, column: str, field: str) -> float:
    try:
        value = float(field)
    except ValueError:
        value = None
    if value is None or not np.isfinite(value):
        what = "a missing value" if field.lower() in MISSING_TOKENS else repr(field[:40])
        raise DataError(
            f"{path}: line {line}: column {column!r} holds {what}, not a finite number"
        )
    return value


def _nested_rows(frame) -> list[np.ndarray]:
    """sktime's nested frame (one pd.Series per cell) → a list of ``[T_n, C]`` arrays."""
    rows = []
    for n in range(len(frame)):
        cells = [np.asarray(frame.iloc[n, c], dtype=np.float64) for c in range(frame.shape[1])]
        T = min(len(c) for c in cells)
        rows.append(np.stack([c[:T] for c in cells], axis=1))
    return rows


def _label_key(label: str) -> tuple:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)
