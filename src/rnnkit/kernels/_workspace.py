"""Buffers the kernels reuse from call to call instead of asking the allocator afresh.

A training loop runs the same shapes every step; large fresh arrays come from ``mmap`` and
pay a page fault per 4 KiB page on first touch (about a third of a small step's time).  The
kernels therefore take their saved and scratch arrays from one process-wide ``POOL``:

* scratch arrays of one call are ``take``-n and ``give``-n back before it returns;
* arrays a forward saves for its backward are ``lease``-d to the cache: they return to the
  pool when the cache object is garbage-collected, so a cache stays valid for as long as
  anyone holds it (a second backward on the same cache sees the same numbers).

Nothing handed to a caller (outputs, final state, gradients, input gradients) is ever a pool
buffer or a view of one.  The pool is safe to use from several threads.

How much it keeps idle: at most the larger of ``max_bytes`` and the most bytes its buffers
have had in use at once (the high-water mark, counted up to a quarter of physical memory),
so a loop whose step needs more than ``max_bytes`` (e.g. full BPTT over T = 1 000 steps)
still reuses every buffer instead of faulting in fresh pages each step — at config A's sizes
a fresh [T, B, 4H] gradient buffer made a backward step's pass 7× slower — while the pool
never holds more than a step has already needed.  Over the limit, the buffers of the shape
given back longest ago go first: a loop's own shapes stay and those of an earlier, different
workload go (dropping the newest instead had a T = 1 000 step after config C's re-map
and fault in ≈ 1 150 huge pages every other step, 0.45 → 0.9–1.1 s).  ``clear()`` drops the
idle buffers and forgets the mark.
"""

import os
import threading
import weakref

import numpy as np


def _quarter_of_memory() -> int:
    """A quarter of physical memory in bytes (1 GiB where the system does not say)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 4
    except (ValueError, OSError, AttributeError):
        return 1 << 30


class Pool:
    """Idle buffers keyed by (shape, dtype)."""

    def __init__(self, max_bytes: int = 256 << 20, cap: int | None = None) -> None:
        self.max_bytes = max_bytes  # idle bytes kept at most, unless the high-water mark is more
        self.cap = _quarter_of_memory() if cap is None else cap  # … but never beyond this
        self._free: dict[tuple, list[np.ndarray]] = {}
        self._bytes = 0  # idle
        self._in_use = 0  # taken and not yet given back
        self._high_water = 0  # the most ever in use at once
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape`` (an idle buffer when there is one)."""
        key = (tuple(shape), np.dtype(dtype))
        with self._lock:
            idle = self._free.get(key)
            buf = idle.pop() if idle else None
            if buf is not None:
                self._bytes -= buf.nbytes
        if buf is None:
            buf = np.empty(shape, dtype)
        with self._lock:
            self._in_use += buf.nbytes
            self._high_water = max(self._high_water, self._in_use)
        return buf

    def give(self, *buffers: np.ndarray) -> None:
        """Hand buffers back; the caller must hold no view of them any more."""
        with self._lock:
            limit = max(self.max_bytes, min(self._high_water, self.cap))
            for buf in buffers:
                self._in_use = max(self._in_use - buf.nbytes, 0)  # (also buffers made elsewhere)
                if buf.nbytes > limit:
                    continue
                key = (buf.shape, buf.dtype)
                idle = self._free.pop(key, [])
                idle.append(buf)
                self._free[key] = idle  # (re)inserted last: the shape given back most recently
                self._bytes += buf.nbytes
                self._evict(limit)

    def _evict(self, limit: int) -> None:
        """Drop idle buffers until at most ``limit`` bytes are idle, the shape given back
        longest ago first (and within a shape, its oldest buffer)."""
        while self._bytes > limit:
            key, idle = next(iter(self._free.items()))
            self._bytes -= idle.pop(0).nbytes
            if not idle:
                del self._free[key]

    def lease(self, owner: object, *buffers: np.ndarray) -> None:
        """Give ``buffers`` back when ``owner`` is garbage-collected."""
        weakref.finalize(owner, self.give, *buffers)

    def clear(self) -> None:
        """Drop every idle buffer and forget the high-water mark (e.g. before measuring peak
        memory, or to hand memory back after a long sequence)."""
        with self._lock:
            self._free.clear()
            self._bytes = 0
            self._high_water = self._in_use

    @property
    def idle_bytes(self) -> int:
        return self._bytes


class Lease:
    """A token a cache carries; the buffers leased to it return when it is collected."""

    __slots__ = ("__weakref__",)


POOL = Pool()
"""The pool every kernel uses."""


def leased(*buffers: np.ndarray) -> Lease:
    """A new token owning ``buffers`` (they go back to ``POOL`` when it dies)."""
    token = Lease()
    POOL.lease(token, *buffers)
    return token
