"""Keep freed memory in the process heap, so a training step's fresh arrays reuse warm pages.

Every step allocates the same arrays outside the kernels' ``POOL``: outputs, gradients, the
readout's and the loss's temporaries.  glibc's ``malloc`` serves a block above its mmap
threshold (128 KiB, raised only as such blocks are freed) with a fresh ``mmap`` and hands it
back with ``munmap``, and it returns free memory at the top of the heap to the system above
its trim threshold.  Either way the next step's array of the same size faults in fresh pages,
one fault per 4 KiB on first touch: 10–20 % of a step at configs A, B and D.

``keep_freed_memory`` sets the two thresholds once per process.  Importing rnnkit does not
call it: making an optimizer does (``rnnkit.training.optim``), which every training loop does
before its first step — the steps are where it was measured to matter.  It sets

* ``M_MMAP_THRESHOLD`` = 32 MiB (glibc's upper limit on 64-bit systems): blocks below it come
  from the heap, and freed ones are reused by the next step;
* ``M_TRIM_THRESHOLD`` = 256 MiB: at most that much free memory stays at the heap's top.

Blocks above 32 MiB (long sequences, large layers) are still mapped and unmapped; the pool
keeps those the kernels use.  The process never holds more than its peak, plus at most
256 MiB of free heap.  Nothing is changed off glibc, when the user has set glibc's own
knobs (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_TOP_PAD_`` or
``GLIBC_TUNABLES``: theirs win), or with ``RNNKIT_KEEP_FREED_MEMORY=0`` (the opt-out).
"""

import ctypes
import os

MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
USER_KNOBS = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "GLIBC_TUNABLES",
)
OPT_OUT = "RNNKIT_KEEP_FREED_MEMORY"  # "0" leaves malloc as it is

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds (once per process); whether they are set."""
    global _applied
    if _applied is None:
        _applied = _set_thresholds()
    return _applied


def applied() -> bool:
    """Whether ``keep_freed_memory`` has set the thresholds in this process (it never sets
    them itself)."""
    return bool(_applied)


def _set_thresholds() -> bool:
    if os.environ.get(OPT_OUT, "1").strip() == "0":
        return False
    if not _glibc() or any(k in os.environ for k in USER_KNOBS):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):
        return False
