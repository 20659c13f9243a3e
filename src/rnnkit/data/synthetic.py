"""Generated tasks: the long-time-lag problems and two small sequence-to-sequence tasks.

Every generator draws from the ``numpy.random.Generator`` it is given, so a seed fixes the data.
Inputs are batch-first (``[B, T, I]`` real vectors or ``[B, T]`` symbol ids), as ``Model`` takes.

Adding problem (Hochreiter & Schmidhuber 1997, experiment 4)::

    x_t = (v_t, m_t),  v_t ~ U[−1, 1],  m_t ∈ {−1, 0, 1},  length T_b ~ U{T, …, T + ⌊T/10⌋}
    marks: t1 ~ U{0..9};  t2 ~ the first ⌈T/2⌉ − 1 positions other than t1;  m_{t1} = m_{t2} = 1
    m_0 = m_{T_b − 1} = −1 unless marked;  X_k = v_{t_k} (v_0 = 0 when the first pair is marked)
    target y = 0.5 + (X1 + X2) / 4,  correct when |ŷ − y| < 0.04

IRNN adding variant (Le et al. 2015)::

    v_t ~ U[0, 1];  one mark in the first half, one in the second;  y = X1 + X2
    the best constant predictor (1) has MSE Var(X1 + X2) = 2/12 = 1/6

Copy memory (Arjovsky et al. 2016), alphabet {0 blank, 1..8 data, 9 delimiter}::

    input  = s_1..s_10 (s ~ U{1..8}),  T − 1 blanks,  delimiter,  10 blanks     (T + 20 steps)
    target = T + 10 blanks,  s_1..s_10
    memoryless baseline (blanks, then uniform over 8): 10 ln 8 / (T + 20) nats per step

Temporal order (Hochreiter & Schmidhuber 1997, experiment 6a; Pascanu et al. 2013)::

    symbols a b c d (noise) X Y (relevant) B E (start, end) → ids 0..7
    x_0 = B, x_{T−1} = E, noise elsewhere except t1 ~ U[T/10, 2T/10), t2 ~ U[5T/10, 6T/10)
    class = (X|Y at t1, X|Y at t2) ∈ {XX, XY, YX, YY} → 0..3

Sequence to sequence (strings over a small alphabet, ids with PAD 0, BOS 1, EOS 2)::

    reverse:   "cabd"    → "dbac"
    addition:  "123+45"  → "168"
"""

from typing import NamedTuple

import numpy as np

from ..errors import ConfigError

ADDING_TOLERANCE = 0.04  # a sequence is right when |ŷ − y| < this
COPY_SYMBOLS, COPY_DATA = 10, 8  # alphabet size; data symbols are 1..8
COPY_DELIMITER = 9
TEMPORAL_SYMBOLS, TEMPORAL_CLASSES = 8, 4
X_ID, Y_ID, BEGIN_ID, END_ID = 4, 5, 6, 7

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<s>", "</s>")


class RealTask(NamedTuple):
    """A batch of real-valued inputs with a real target at the end."""

    x: np.ndarray  # [B, T, 2] (value, marker), zero-padded after each length
    y: np.ndarray  # [B, 1] target
    lengths: np.ndarray  # [B] steps of each sequence
    marks: np.ndarray  # [B, 2] positions of X1 and X2


class SymbolTask(NamedTuple):
    """A batch of symbol-id inputs with class-id targets (every step or one per sequence)."""

    x: np.ndarray  # [B, T] ids
    y: np.ndarray  # [B, T] or [B] class ids


def _check(B: int, T: int, min_T: int) -> None:
    if B < 1:
        raise ConfigError(f"batch size must be >= 1, got {B}")
    if T < min_T:
        raise ConfigError(f"sequence length T must be >= {min_T} for this task, got {T}")


def adding_problem(
    rng: np.random.Generator, B: int, T: int, *, vary_length: bool = True, dtype=np.float32
) -> RealTask:
    """Hochreiter & Schmidhuber's adding problem: ``x [B, T + ⌊T/10⌋, 2]``, target in [0, 1].

    With ``vary_length=False`` every sequence has exactly T steps.
    """
    _check(B, T, 22)  # the first ⌈T/2⌉ − 1 positions must include the first ten
    extra = T // 10 if vary_length else 0
    lengths = rng.integers(T, T + extra + 1, size=B)
    x = np.zeros((B, T + extra, 2), dtype=dtype)
    steps = np.arange(T + extra)[None, :]
    x[..., 0] = np.where(steps < lengths[:, None], rng.uniform(-1, 1, (B, T + extra)), 0)
    rows = np.arange(B)
    t1 = rng.integers(0, 10, size=B)
    # t2: uniform over the first ⌈T/2⌉ − 1 positions that are not t1
    n2 = (T + 1) // 2 - 1
    t2 = rng.integers(0, n2 - 1, size=B)
    t2 = t2 + (t2 >= t1)  # skip t1; t1 < 10 < n2, so t2 stays in [0, n2)
    x[rows, 0, 1] = -1
    x[rows, lengths - 1, 1] = -1
    x[rows, t1, 1] = 1
    x[rows, t2, 1] = 1
    x[rows[(t1 == 0) | (t2 == 0)], 0, 0] = 0  # the first pair's value is 0 when it is marked
    X1, X2 = x[rows, t1, 0], x[rows, t2, 0]
    y = (0.5 + (X1 + X2) / 4)[:, None].astype(dtype)
    return RealTask(x, y, lengths, np.stack([t1, t2], axis=1))


def irnn_adding(rng: np.random.Generator, B: int, T: int, *, dtype=np.float32) -> RealTask:
    """Le et al.'s adding problem: values in [0, 1], one mark per half, target X1 + X2."""
    _check(B, T, 2)
    x = np.zeros((B, T, 2), dtype=dtype)
    x[..., 0] = rng.uniform(0, 1, (B, T))
    rows = np.arange(B)
    t1 = rng.integers(0, T // 2, size=B)
    t2 = rng.integers(T // 2, T, size=B)
    x[rows, t1, 1] = 1
    x[rows, t2, 1] = 1
    y = (x[rows, t1, 0] + x[rows, t2, 0])[:, None]
    return RealTask(x, y, np.full(B, T), np.stack([t1, t2], axis=1))


def copy_memory(rng: np.random.Generator, B: int, T: int, *, n_copy: int = 10) -> SymbolTask:
    """Arjovsky et al.'s copy task: ``x, y: [B, T + 2·n_copy]`` ids in [0, 10)."""
    _check(B, T, 1)
    if n_copy < 1:
        raise ConfigError(f"n_copy must be >= 1, got {n_copy}")
    total = T + 2 * n_copy
    data = rng.integers(1, COPY_DATA + 1, size=(B, n_copy))
    x = np.zeros((B, total), dtype=np.int64)
    y = np.zeros((B, total), dtype=np.int64)
    x[:, :n_copy] = data
    x[:, T + n_copy - 1] = COPY_DELIMITER
    y[:, T + n_copy :] = data
    return SymbolTask(x, y)


def copy_baseline(T: int, n_copy: int = 10) -> float:
    """Cross-entropy per step of the memoryless strategy: n ln 8 / (T + 2n)."""
    return n_copy * float(np.log(COPY_DATA)) / (T + 2 * n_copy)


def temporal_order(rng: np.random.Generator, B: int, T: int) -> SymbolTask:
    """The two-symbol temporal order problem: ``x [B, T]`` ids in [0, 8), ``y [B]`` in [0, 4)."""
    _check(B, T, 10)
    x = rng.integers(0, 4, size=(B, T))
    x[:, 0], x[:, -1] = BEGIN_ID, END_ID
    rows = np.arange(B)
    t1 = rng.integers(T // 10, max(2 * T // 10, T // 10 + 1), size=B)
    t2 = rng.integers(5 * T // 10, max(6 * T // 10, 5 * T // 10 + 1), size=B)
    s1, s2 = rng.integers(0, 2, size=B), rng.integers(0, 2, size=B)  # 0: X, 1: Y
    x[rows, t1] = X_ID + s1
    x[rows, t2] = X_ID + s2
    return SymbolTask(x.astype(np.int64), (2 * s1 + s2).astype(np.int64))


# -- sequence to sequence ---------------------------------------------------------------------


class Seq2SeqBatch(NamedTuple):
    """Padded id arrays of source and target strings (targets without BOS/EOS)."""

    src: np.ndarray  # [B, S] ids, PAD after each length
    src_lengths: np.ndarray  # [B]
    tgt: np.ndarray  # [B, U] ids, PAD after each length
    tgt_lengths: np.ndarray  # [B]


class Seq2SeqVocab:
    """Characters ↔ ids, after the specials PAD, BOS, EOS."""

    def __init__(self, chars: str) -> None:
        if len(set(chars)) != len(chars):
            raise ConfigError(f"vocabulary characters must be distinct, got {chars!r}")
        self.chars = chars
        self.index = {c: k + len(SPECIALS) for k, c in enumerate(chars)}

    def __len__(self) -> int:
        return len(SPECIALS) + len(self.chars)

    def encode(self, text: str) -> list[int]:
        missing = sorted(set(text) - set(self.chars))
        if missing:
            raise ConfigError(f"characters {missing} are not in the vocabulary {self.chars!r}")
        return [self.index[c] for c in text]

    def decode(self, ids) -> str:
        """The text of ``ids`` up to the first EOS, specials dropped."""
        out = []
        for i in ids:
            if int(i) == EOS:
                break
            if int(i) >= len(SPECIALS):
                out.append(self.chars[int(i) - len(SPECIALS)])
        return "".join(out)

    def pad(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ids [B, max length] padded with PAD, lengths [B])."""
        lengths = np.array([len(t) for t in texts], dtype=np.int64)
        ids = np.full((len(texts), max(int(lengths.max()), 1)), PAD, dtype=np.int64)
        for b, t in enumerate(texts):
            ids[b, : len(t)] = self.encode(t)
        return ids, lengths

    def batch(self, pairs: list[tuple[str, str]]) -> Seq2SeqBatch:
        src, src_lengths = self.pad([s for s, _ in pairs])
        tgt, tgt_lengths = self.pad([t for _, t in pairs])
        return Seq2SeqBatch(src, src_lengths, tgt, tgt_lengths)


REVERSE_CHARS = "abcdefghij"
ADDITION_CHARS = "0123456789+"


def reverse_pairs(
    rng: np.random.Generator,
    n: int,
    *,
    min_len: int = 1,
    max_len: int = 8,
    chars: str = REVERSE_CHARS,
) -> list[tuple[str, str]]:
    """``n`` (string, its reverse) pairs; lengths ~ U{min_len..max_len}."""
    if not 1 <= min_len <= max_len:
        raise ConfigError(f"need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    lengths = rng.integers(min_len, max_len + 1, size=n)
    pairs = []
    for L in lengths:
        s = "".join(chars[k] for k in rng.integers(0, len(chars), size=L))
        pairs.append((s, s[::-1]))
    return pairs


def addition_pairs(rng: np.random.Generator, n: int, *, digits: int = 3) -> list[tuple[str, str]]:
    """``n`` ("a+b", "a + b") pairs; a and b have 1..digits digits (the count uniform)."""
    if digits < 1:
        raise ConfigError(f"digits must be >= 1, got {digits}")

    def number() -> int:
        d = int(rng.integers(1, digits + 1))
        return int(rng.integers(0 if d == 1 else 10 ** (d - 1), 10**d))

    pairs = []
    for _ in range(n):
        a, b = number(), number()
        pairs.append((f"{a}+{b}", str(a + b)))
    return pairs


SEQ2SEQ_TASKS = {
    "reverse": (REVERSE_CHARS, reverse_pairs),
    "addition": (ADDITION_CHARS, addition_pairs),
}
"""Task name → (alphabet, pair generator)."""
