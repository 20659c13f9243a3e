"""The timing loop: implementations interleaved repetition by repetition, with an idle gap.

The host is shared and its speed drifts minute to minute, so every repetition times each
implementation once, in a rotated order, rather than all repetitions of one and then the
next; BLAS and OpenMP worker threads keep spinning for a while after a call, so each timed
call waits ``gap`` seconds first.  Results are medians with their (min, max).
"""

import statistics
import time
from collections.abc import Callable
from typing import NamedTuple


class Summary(NamedTuple):
    median: float
    min: float
    max: float
    n: int

    def as_dict(self) -> dict:
        return self._asdict()


def interleaved(
    fns: dict[str, Callable[[], object]],
    reps: int,
    gap: float,
    *,
    per: int = 1,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Summary]:
    """Seconds per call (divided by ``per``) of each function, ``reps`` interleaved rounds."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            sleep(gap)
            start = clock()
            fns[name]()
            samples[name].append((clock() - start) / per)
    return {name: summarize(s) for name, s in samples.items()}


def summarize(samples: list[float]) -> Summary:
    return Summary(statistics.median(samples), min(samples), max(samples), len(samples))
