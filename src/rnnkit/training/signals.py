"""Stop requests: SIGINT/SIGTERM ask the loop to save and stop between updates.

The handler only records the signal; the loop reads it between updates and saves there.
Under K data-parallel ranks the request is agreed (``agreed``): a signal that any rank
received stops all of them at the same update.
"""

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .distributed import Comm


class StopRequest:
    """Holds the name of the signal that asked training to stop (None: keep going)."""

    def __init__(self) -> None:
        self.signal: str | None = None

    def __call__(self) -> str | None:
        return self.signal


@contextmanager
def stop_on_signals(
    signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM),
) -> Iterator[StopRequest]:
    """While inside, SIGINT/SIGTERM set the yielded request instead of killing the process.

    A second SIGINT raises ``KeyboardInterrupt`` at once (the checkpoint on disk stays the
    previous complete one).  Outside the main thread, no handler is installed.
    """
    request = StopRequest()

    def handler(signum: int, frame: Any) -> None:
        if request.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        request.signal = signal.Signals(signum).name

    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def agreed(stop: Callable[[], str | None], comm: Comm) -> Callable[[], str | None]:
    """``stop`` as every rank sees it: a signal that any rank received (a small all-reduce)."""
    if comm.size == 1:
        return stop

    def on_all() -> str | None:
        name = stop()
        number = comm.allreduce_max(np.array([signal.Signals[name] if name else 0]))[0]
        return signal.Signals(int(number)).name if number else None

    return on_all
