"""Where the engine's batches come from: one ``Batch`` type and the sources jobs share.

A source is an endless iterator of batches with a resumable position: ``next_batch(rng)``
returns the next batch (drawing from ``rng`` where it shuffles or generates, so the run's
one generator decides everything), and ``state_dict`` / ``load_state_dict`` hold where it
stands, so a resumed run reads exactly the batches an uninterrupted one would have.

* ``Shuffled``: epochs of shuffled mini-batches over in-memory sequences (the jobs);
* ``Generated``: a fresh batch from a generator function every update (the experiments);
* a token stream's chunks (``rnnkit.data.text.CharStream`` through ``StreamChunks``).
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from ..errors import CheckpointError, ShapeError


@dataclass(frozen=True)
class Batch:
    """One update's data: inputs, targets and what the gradient function needs besides.

    ``x``/``y`` are arrays with the batch on axis 0 (or tuples of such arrays, e.g. a
    seq2seq pair); ``lengths: [B]`` or ``mask: [B, T]`` mark variable-length sequences.
    """

    x: Any  # [B, T] ids, [B, T, I] vectors, or a tuple of [B, …] arrays
    y: Any  # targets, batch on axis 0 (or a tuple)
    lengths: np.ndarray | None = None  # [B] real steps per sequence
    mask: np.ndarray | None = None  # [B, T] 1 where a step is real
    restart: bool = False  # carried state (truncated BPTT) starts afresh at this batch
    epoch: int = 0  # the pass over the data this batch belongs to (1-based; 0: no epochs)
    epoch_end: bool = False  # the last batch of its epoch
    extra: dict[str, Any] = field(default_factory=dict)  # job-specific arrays, batch on axis 0

    @property
    def size(self) -> int:
        """B: the number of sequences (rows)."""
        first = self.x[0] if isinstance(self.x, tuple) else self.x
        return len(first)

    def rows(self, lo: int, hi: int) -> "Batch":
        """The batch of rows ``[lo, hi)`` (data-parallel training's share of a rank)."""
        return replace(
            self,
            x=_rows(self.x, lo, hi),
            y=_rows(self.y, lo, hi),
            lengths=_rows(self.lengths, lo, hi),
            mask=_rows(self.mask, lo, hi),
            extra={k: _rows(v, lo, hi) for k, v in self.extra.items()},
        )


def _rows(a: Any, lo: int, hi: int) -> Any:
    if a is None:
        return None
    if isinstance(a, tuple):
        return tuple(_rows(v, lo, hi) for v in a)
    return a[lo:hi]


class Source(Protocol):
    """An endless, resumable supply of batches."""

    def next_batch(self, rng: np.random.Generator) -> Batch: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Shuffled:
    """Epochs of mini-batches over in-memory sequences, reshuffled from ``rng`` every epoch.

    ``x: [N, …]``, ``y: [N, …]`` (or tuples of such arrays), ``lengths: [N]``.  The last
    batch of an epoch may be smaller.  The position (epoch, permutation, next row) is the
    state, so a resumed run continues with the very rows an uninterrupted one would take.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        *,
        batch_size: int,
        lengths: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.x, self.y, self.lengths, self.mask = x, y, lengths, mask
        self.extra = dict(extra or {})
        n = len(x[0] if isinstance(x, tuple) else x)
        for name, a in [("y", y), ("lengths", lengths), ("mask", mask), *self.extra.items()]:
            for part in a if isinstance(a, tuple) else (a,):
                if part is not None and len(part) != n:
                    raise ShapeError(f"{name} holds {len(part)} sequences, x holds {n}")
        if n < 1 or batch_size < 1:
            raise ShapeError(
                f"need at least one sequence and batch_size >= 1, got {n} and {batch_size}"
            )
        self.n, self.batch_size = n, batch_size
        self.epoch, self.cursor, self.order = 0, n, np.arange(n)

    @property
    def batches_per_epoch(self) -> int:
        return -(-self.n // self.batch_size)

    def next_batch(self, rng: np.random.Generator) -> Batch:
        if self.cursor >= self.n:
            self.epoch, self.cursor, self.order = self.epoch + 1, 0, rng.permutation(self.n)
        idx = self.order[self.cursor : self.cursor + self.batch_size]
        self.cursor += len(idx)
        pick = lambda a: _take(a, idx)  # noqa: E731
        return Batch(
            pick(self.x),
            pick(self.y),
            pick(self.lengths),
            pick(self.mask),
            epoch=self.epoch,
            epoch_end=self.cursor >= self.n,
            extra={k: pick(v) for k, v in self.extra.items()},
        )

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "cursor": self.cursor, "order": self.order.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        order = np.asarray(state["order"])
        if sorted(order.tolist()) != list(range(self.n)):
            raise CheckpointError(
                f"the saved batch order is not a permutation of the "
                f"{self.n} training sequences: was the data changed?"
            )
        self.epoch, self.cursor, self.order = int(state["epoch"]), int(state["cursor"]), order


def _take(a: Any, idx: np.ndarray) -> Any:
    if a is None:
        return None
    if isinstance(a, tuple):
        return tuple(_take(v, idx) for v in a)
    return np.asarray(a)[idx]


class Generated:
    """A fresh batch every update from ``make(rng) -> Batch`` (its only state is ``rng``'s)."""

    def __init__(self, make: Callable[[np.random.Generator], Batch]) -> None:
        self.make = make

    def next_batch(self, rng: np.random.Generator) -> Batch:
        return self.make(rng)

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class Chunks:
    """The chunks of a token stream (``data.text.CharStream``) as batches for truncated BPTT.

    A chunk that starts an epoch restarts the streams: no state is carried into it.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def next_batch(self, rng: np.random.Generator) -> Batch:
        x, y, epoch, chunk = next(self.stream)
        last = chunk == self.stream.batches_per_epoch - 1
        return Batch(x, y, restart=chunk == 0, epoch=epoch + 1, epoch_end=last)

    def state_dict(self) -> dict[str, Any]:
        return self.stream.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stream.load_state_dict(state)
