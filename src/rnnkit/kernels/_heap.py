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

and then faults in ``WARM_HEAP`` = 32 MiB of heap once and frees it (it stays at the heap's
top, below the trim threshold), so the first step's arrays come from pages already there: a
new process's first step had paid its own page faults, ≈ 6 000 at config A (≈ 24 MiB of
arrays) and 2 700 at config B, 1.3–3× the time of a steady step with no compilation in it.
Touching 32 MiB (8 200 faults) takes 18–27 ms on a 2-core VM (0.1 s when it is overloaded),
paid where the optimizer is made instead of in the step; the process's resident memory
starts 32 MiB higher, which a training step of config A's size uses anyway.

Blocks above 32 MiB (long sequences, large layers) are still mapped and unmapped; the pool
keeps those the kernels use.  The process never holds more than its peak (at least the
warmed 32 MiB), plus at most 256 MiB of free heap.  Nothing is changed off glibc, when the
user has set glibc's own knobs (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``,
``MALLOC_TOP_PAD_`` or ``GLIBC_TUNABLES``: theirs win), or with
``RNNKIT_KEEP_FREED_MEMORY=0`` (the opt-out).
"""

import ctypes
import os

MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20
WARM_HEAP = 32 << 20  # heap faulted in once, then freed, when the thresholds are set
_WARM_CHUNK = 8 << 20  # in blocks below the mmap threshold, so they come from the heap
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
    applied = bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    if applied:
        _warm_heap(WARM_HEAP)
    return applied


def _warm_heap(nbytes: int) -> None:
    """Fault in ``nbytes`` of heap and free it: it stays at the heap's top (below the trim
    threshold) for the next allocations, which then touch no fresh page."""
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.argtypes, libc.malloc.restype = (ctypes.c_size_t,), ctypes.c_void_p
    libc.free.argtypes, libc.free.restype = (ctypes.c_void_p,), None
    blocks = [libc.malloc(_WARM_CHUNK) for _ in range(nbytes // _WARM_CHUNK)]
    for block in blocks:
        if block:
            ctypes.memset(block, 0, _WARM_CHUNK)
    for block in reversed(blocks):
        libc.free(block)  # (free(NULL) does nothing)


def _glibc() -> bool:
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):
        return False
