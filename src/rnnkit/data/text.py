"""Character-level text: a vocabulary of characters, and truncated-BPTT batches of their ids.

Vocabulary
----------
``CharVocab.from_text(text)`` takes the sorted set of the text's characters (sorted by code
point), so the same text always gives the same ids.  ``encode`` maps a string of N characters
to ids ``[N]`` — ``uint16`` while V ≤ 65 536, else ``uint32`` (``vocab.dtype``) — and
``decode`` maps ids back.  Saved as JSON: ``{"type": "char", "chars": ["\\n", " ", ...]}``,
where entry i is the character of id i.

Batches (the char-rnn layout)
-----------------------------
``CharStream`` cuts the N ids into B contiguous streams of S = ⌊N / B⌋ ids (the last N mod B
ids are dropped) and walks them T steps at a time::

    streams[b] = ids[b·S : (b+1)·S]                                         [B, S]
    x_k = streams[:, kT : kT + T]        y_k = streams[:, kT + 1 : kT + T + 1]     [B, T]

y is x shifted one ahead, and the last column of y_k is the first column of x_{k+1}: row b of
chunk k+1 continues row b of chunk k, so the hidden state left by chunk k is the right initial
state for chunk k+1.  An epoch has K = ⌊(S − 1) / T⌋ chunks (the last S − 1 − K·T ids of each
stream are not used); after chunk K−1 the cursor wraps to 0 and ``epoch`` rises.  There the
streams jump back to their beginnings, so the hidden state must be reset: ``batch.step == 0``.

The cursor and epoch are the whole state of a stream (``state_dict`` / ``load_state_dict``,
JSON-able ints), so a resumed run draws exactly the batches the interrupted one would have.

``split(ids, val_fraction)`` holds out the tail of the text for validation.
"""

import zlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple, TypeGuard

import numpy as np

from ..errors import CheckpointError, ConfigError, DataError, ShapeError, VocabularyError

MAX_SHOWN = 10
"""How many unknown characters an error message lists."""


class CharVocab:
    """The characters a model knows; id i stands for ``chars[i]``.

    >>> vocab = CharVocab.from_text("hello")
    >>> vocab.chars, vocab.encode("hole").tolist(), vocab.decode([3, 1])
    (('e', 'h', 'l', 'o'), [1, 3, 2, 0], 'oh')
    """

    unit = "character"

    def __init__(self, chars: Sequence[str]) -> None:
        chars = tuple(chars)
        _check_chars(chars)
        self.chars = chars
        self._codes = np.array([ord(c) for c in chars], dtype="<u4")  # [V] code point of each id
        self._table = np.full(int(self._codes.max()) + 2, -1, dtype=np.int32)  # code point → id
        self._table[self._codes] = np.arange(len(chars))  # last entry stays −1: "unknown"

    @classmethod
    def from_text(cls, text: str) -> "CharVocab":
        """The vocabulary of every character in ``text``, in code-point order."""
        if not text:
            raise DataError("cannot build a vocabulary from an empty text; give a non-empty text")
        return cls(sorted(set(text)))

    @property
    def size(self) -> int:
        """V, the number of characters."""
        return len(self.chars)

    @property
    def dtype(self) -> np.dtype:
        """The dtype of encoded ids: uint16 while every id fits, else uint32."""
        return np.dtype(np.uint16 if self.size <= 1 << 16 else np.uint32)

    def encode(self, text: str) -> np.ndarray:
        """The ids ``[N]`` (``self.dtype``) of the N characters of ``text``.

        Raises ``VocabularyError`` naming the characters the vocabulary lacks.
        """
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")  # [N]
        ids = self._table[np.minimum(codes, self._table.size - 1)]
        unknown = ids < 0
        if unknown.any():
            raise VocabularyError(self._unknown_message(codes[unknown]))
        return ids.astype(self.dtype)

    def decode(self, ids: np.ndarray | Sequence[int]) -> str:
        """The text of ids ``[N]`` (any integer dtype)."""
        ids = np.asarray(ids)
        if ids.size == 0:
            return ""
        if ids.ndim > 1 or ids.dtype.kind not in "iu":
            raise ShapeError(f"decode takes a 1-D integer array [N], got {ids.dtype} {ids.shape}")
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= self.size:
            raise VocabularyError(
                f"ids must lie in [0, {self.size}) for this vocabulary of {self.size} characters,"
                f" got ids from {low} to {high}; decode with the vocabulary they were encoded with"
            )
        return self._codes[ids.reshape(-1)].tobytes().decode("utf-32-le", "surrogatepass")

    def to_dict(self) -> dict:
        """A JSON-able description: ``{"type": "char", "chars": [...]}``."""
        return {"type": "char", "chars": list(self.chars)}

    @classmethod
    def from_dict(cls, data: Mapping) -> "CharVocab":
        """The vocabulary ``to_dict`` described; ``DataError`` if ``data`` is malformed."""
        if not isinstance(data, Mapping) or data.get("type") != "char":
            raise DataError(
                'a character vocabulary must be a JSON object {"type": "char", "chars": [...]},'
                f" got {_preview(data)}; the vocabulary file is damaged or of another kind"
            )
        if not isinstance(data.get("chars"), list):
            raise DataError(
                f'the vocabulary\'s "chars" must be a list of characters, got'
                f" {_preview(data.get('chars'))}; the vocabulary file is damaged"
            )
        return cls(data["chars"])

    def __len__(self) -> int:
        return self.size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharVocab) and self.chars == other.chars

    def __hash__(self) -> int:
        return hash(self.chars)

    def __repr__(self) -> str:
        return f"CharVocab(size={self.size})"

    def _unknown_message(self, codes: np.ndarray) -> str:
        """Names the unknown code points, most frequent first, with their counts."""
        values, counts = np.unique(codes, return_counts=True)
        order = np.lexsort((values, -counts))
        shown = ", ".join(f"{chr(values[i])!r} ({counts[i]}x)" for i in order[:MAX_SHOWN])
        more = f" and {values.size - MAX_SHOWN} more" if values.size > MAX_SHOWN else ""
        return (
            f"the text has {values.size} distinct character(s) that are not in the vocabulary"
            f" of {self.size}: {shown}{more}; remove or replace them, or build the vocabulary"
            " from a text that contains them (and train the model on it)"
        )


def _check_chars(chars: tuple) -> None:
    """DataError unless ``chars`` is a non-empty sequence of distinct single characters."""
    if not chars:
        raise DataError("a vocabulary needs at least one character; the vocabulary is empty")
    for i, c in enumerate(chars):
        if not isinstance(c, str) or len(c) != 1:
            raise DataError(
                f"vocabulary entry {i} is {_preview(c)}, not a single character;"
                " the vocabulary file is damaged — rebuild it from the training text"
            )
    if len(set(chars)) != len(chars):
        twice = sorted(c for c, n in Counter(chars).items() if n > 1)
        raise DataError(
            f"the vocabulary lists {', '.join(map(repr, twice[:MAX_SHOWN]))} more than once;"
            " the vocabulary file is damaged — rebuild it from the training text"
        )


def _preview(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class TextBatch(NamedTuple):
    x: np.ndarray  # [B, T] input ids
    y: np.ndarray  # [B, T] target ids: y[b, t] is the id that follows x[b, t]
    epoch: int  # epochs completed before this batch
    step: int  # chunk index within the epoch; 0 = streams restart, reset the hidden state


class CharStream:
    """Consecutive ``[B, T]`` chunks of B parallel streams of ids, for truncated BPTT.

    ``ids [N]`` (any integer dtype) is viewed, not copied.  Iterating never ends: it wraps
    around at the end of each epoch.  ``name`` labels the text in error messages.
    """

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int, *, name: str = "text"):
        ids = np.asarray(ids)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise ShapeError(
                f"{name}: ids must be a 1-D integer array [N], got {ids.dtype} {ids.shape}"
            )
        _check_count("batch_size", batch_size)
        _check_count("seq_len", seq_len)
        need = batch_size * (seq_len + 1)
        if ids.size < need:
            raise DataError(
                f"the {name} of {ids.size} characters is too short for batch_size={batch_size}"
                f" streams of seq_len+1={seq_len + 1} characters (needs at least {need});"
                " use a longer text, a smaller batch_size or a shorter seq_len"
            )
        S = ids.size // batch_size
        self.name = name
        self.batch_size, self.seq_len = batch_size, seq_len
        self.batches_per_epoch = (S - 1) // seq_len  # K
        self.cursor = 0  # index of the next chunk within the epoch, 0 ≤ cursor < K
        self.epoch = 0  # epochs completed
        self._ids = ids
        self._streams = ids[: batch_size * S].reshape(batch_size, S)  # [B, S]
        self._checksum: int | None = None

    def __iter__(self) -> Iterator[TextBatch]:
        return self

    def __next__(self) -> TextBatch:
        x, y = self._chunk(self.cursor)
        batch = TextBatch(x, y, self.epoch, self.cursor)
        self.cursor += 1
        if self.cursor == self.batches_per_epoch:
            self.cursor, self.epoch = 0, self.epoch + 1
        return batch

    def epoch_batches(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Every chunk ``(x, y)`` of one epoch from chunk 0; the cursor stays put (evaluation)."""
        for k in range(self.batches_per_epoch):
            yield self._chunk(k)

    def _chunk(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        t = k * self.seq_len
        x = self._streams[:, t : t + self.seq_len].copy()  # x_k = streams[:, kT : kT+T]
        y = self._streams[:, t + 1 : t + self.seq_len + 1].copy()  # y_k: one ahead of x_k
        return x, y

    @property
    def checksum(self) -> int:
        """CRC-32 of the ids' values, recorded in the state so a resume can't switch texts."""
        if self._checksum is None:
            crc, step = 0, 1 << 20
            for start in range(0, self._ids.size, step):
                crc = zlib.crc32(self._ids[start : start + step].astype("<i8").tobytes(), crc)
            self._checksum = crc
        return self._checksum

    def state_dict(self) -> dict[str, int]:
        """The position (cursor, epoch) and the layout it refers to, as JSON-able ints."""
        return {
            "cursor": self.cursor,
            "epoch": self.epoch,
            "batch_size": self.batch_size,
            "seq_len": self.seq_len,
            "length": int(self._ids.size),
            "checksum": self.checksum,
        }

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Continue at the position ``state_dict`` saved; the text and sizes must match."""
        fields = ("cursor", "epoch", "batch_size", "seq_len", "length", "checksum")
        if not isinstance(state, Mapping):
            state = {}
        bad = [f for f in fields if not _is_int(state.get(f))]
        if bad:
            raise CheckpointError(
                f"the saved {self.name} stream state lacks integer field(s) {', '.join(bad)};"
                " the checkpoint is damaged — resume from another one or start a fresh run"
            )
        saved = (state["batch_size"], state["seq_len"], state["length"])
        if saved != (self.batch_size, self.seq_len, self._ids.size):
            raise DataError(
                f"the saved {self.name} position is for batch_size={saved[0]}, seq_len={saved[1]}"
                f" and {saved[2]} characters, but this stream has batch_size={self.batch_size},"
                f" seq_len={self.seq_len} and {self._ids.size} characters; resume with the same"
                " text and sizes, or start a fresh run"
            )
        if state["checksum"] != self.checksum:
            raise DataError(
                f"the saved {self.name} position is for a different text of the same length;"
                " resume with the text the run was trained on, or start a fresh run"
            )
        if not (0 <= state["cursor"] < self.batches_per_epoch and state["epoch"] >= 0):
            raise CheckpointError(
                f"the saved {self.name} position (cursor {state['cursor']}, epoch"
                f" {state['epoch']}) is outside the {self.batches_per_epoch} chunks of an epoch;"
                " the checkpoint is damaged — resume from another one or start a fresh run"
            )
        self.cursor, self.epoch = state["cursor"], state["epoch"]


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_count(name: str, value: object) -> None:
    if not _is_int(value) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def split(
    ids: np.ndarray, val_fraction: float, *, min_length: int = 2, unit: str = "characters"
) -> tuple[np.ndarray, np.ndarray]:
    """Hold out the last ``val_fraction`` of ``ids [N]``: views ``(train [N − M], val [M])``.

    M = round(N · val_fraction).  Each part must hold at least ``min_length`` ids (2: one
    input and its target); pass ``batch_size · (seq_len + 1)`` to fail here rather than when
    the streams are built.  ``unit`` names the ids in messages (``words``).
    """
    if not isinstance(val_fraction, (int, float)) or not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must lie strictly between 0 and 1, got {val_fraction!r}")
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ShapeError(f"split takes a 1-D array of ids [N], got shape {ids.shape}")
    M = int(round(ids.size * val_fraction))
    parts = {"training": ids.size - M, "validation": M}
    for part, n in parts.items():
        if n < min_length:
            fix = "lower" if part == "training" else "raise"
            raise DataError(
                f"the {part} part would hold {n} of {ids.size} {unit}"
                f" (val_fraction={val_fraction}), fewer than the {min_length} it needs;"
                f" use a longer text or {fix} val_fraction"
            )
    return ids[: ids.size - M], ids[ids.size - M :]
