"""A progress line on stderr: step, loss, bits/char, tokens/s, ETA.

The clock and the stream are injected so tests can drive them.  On a terminal the line
redraws in place; otherwise a full line is written at most every ``interval`` seconds.
"""

import math
import sys
import time
from collections.abc import Callable
from typing import TextIO


def format_duration(seconds: float) -> str:
    """``1:02:03`` / ``2:03`` style."""
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    s = int(round(seconds))
    h, m = divmod(s, 3600)
    m, s = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Reports training progress towards a step or time budget."""

    def __init__(
        self,
        total_steps: int = 0,
        total_seconds: float = 0.0,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = 1.0,
        bits_per: str = "char",
    ) -> None:
        self.total_steps, self.total_seconds = total_steps, total_seconds
        self.bits_per = bits_per  # the loss in bits per this ("": not shown, e.g. for MSE)
        self.stream = stream if stream is not None else sys.stderr
        self.clock, self.interval = clock, interval
        self.start = clock()
        self.last_draw = -math.inf
        self.tokens = 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def fraction(self, step: int) -> float:
        """Share of the budget used: the larger of steps and time."""
        parts = []
        if self.total_steps:
            parts.append(step / self.total_steps)
        if self.total_seconds:
            parts.append((self.clock() - self.start) / self.total_seconds)
        return min(max(parts, default=0.0), 1.0)

    def update(self, step: int, loss: float, tokens: int, force: bool = False) -> None:
        """Record ``tokens`` more processed and redraw if the interval has passed."""
        self.tokens += tokens
        now = self.clock()
        if not force and now - self.last_draw < self.interval:
            return
        self.last_draw = now
        elapsed = max(now - self.start, 1e-9)
        frac = self.fraction(step)
        eta = elapsed * (1 - frac) / frac if frac > 0 else math.inf
        bar = "#" * int(20 * frac)
        line = (
            f"[{bar:<20}] step {step}"
            + (f"/{self.total_steps}" if self.total_steps else "")
            + f" | loss {loss:.3f}"
            + (f" | {loss / math.log(2):.3f} bits/{self.bits_per}" if self.bits_per else "")
            + f" | {self.tokens / elapsed:,.0f} tok/s | ETA {format_duration(eta)}"
        )
        self.write(line, transient=True)

    def write(self, text: str, transient: bool = False) -> None:
        """A line of progress (``transient``: redrawn in place on a terminal) or a message."""
        if self.tty:
            end = "" if transient else "\n"
            self.stream.write("\r\x1b[2K" + text + end)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
