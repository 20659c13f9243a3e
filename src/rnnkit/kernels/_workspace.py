"""Buffers the kernels reuse from call to call instead of asking the allocator afresh.

A training loop runs the same shapes every step; large fresh arrays come from ``mmap`` and
pay a page fault per 4 KiB page on first touch (about a third of a small step's time).  The
kernels therefore take their saved and scratch arrays from one process-wide ``POOL``:

* scratch arrays of one call are ``take``-n and ``give``-n back before it returns;
* arrays a forward saves for its backward are ``lease``-d to the cache: they return to the
  pool when the cache object is garbage-collected, so a cache stays valid for as long as
  anyone holds it (a second backward on the same cache sees the same numbers).

Nothing handed to a caller (outputs, final state, gradients, input gradients) is ever a pool
buffer or a view of one.  The pool keeps at most ``max_bytes`` of idle buffers (larger ones
are simply dropped) and is safe to use from several threads.
"""

import threading
import weakref

import numpy as np


class Pool:
    """Idle buffers keyed by (shape, dtype)."""

    def __init__(self, max_bytes: int = 256 << 20) -> None:
        self.max_bytes = max_bytes  # idle bytes kept at most
        self._free: dict[tuple, list[np.ndarray]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape`` (an idle buffer when there is one)."""
        key = (tuple(shape), np.dtype(dtype))
        with self._lock:
            idle = self._free.get(key)
            if idle:
                buf = idle.pop()
                self._bytes -= buf.nbytes
                return buf
        return np.empty(shape, dtype)

    def give(self, *buffers: np.ndarray) -> None:
        """Hand buffers back; the caller must hold no view of them any more."""
        with self._lock:
            for buf in buffers:
                if self._bytes + buf.nbytes > self.max_bytes:
                    continue
                self._free.setdefault((buf.shape, buf.dtype), []).append(buf)
                self._bytes += buf.nbytes

    def lease(self, owner: object, *buffers: np.ndarray) -> None:
        """Give ``buffers`` back when ``owner`` is garbage-collected."""
        weakref.finalize(owner, self.give, *buffers)

    def clear(self) -> None:
        """Drop every idle buffer (e.g. before measuring peak memory)."""
        with self._lock:
            self._free.clear()
            self._bytes = 0

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
