"""What the benchmark reports about the machine, peak memory, and cold start in new processes."""

import os
import platform
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

BLAS_VARS = (
    "OPENBLAS_CORETYPE",
    "OPENBLAS_L2_SIZE",
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "RNNKIT_BACKEND",
)


def machine() -> dict:
    """CPU, Python, NumPy and the BLAS kernel threadpoolctl reports, with the BLAS env vars
    and whether malloc keeps freed memory (``kernels.keep_freed_memory``: set here for every
    section, as a training run sets it when it makes its optimizer)."""
    import numpy as np

    from ..kernels import _heap

    info: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "env": {v: os.environ.get(v) for v in BLAS_VARS},
        "heap": (
            f"freed memory kept (mmap threshold {_heap.MMAP_THRESHOLD >> 20} MiB, trim "
            f"threshold {_heap.TRIM_THRESHOLD >> 20} MiB)"
            if _heap.keep_freed_memory()
            else "malloc as configured by the system"
        ),
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {
                k: d.get(k)
                for k in (
                    "internal_api",
                    "version",
                    "architecture",
                    "num_threads",
                    "threading_layer",
                )
            }
            for d in threadpool_info()
        ]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    return info


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def peak_numpy_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes NumPy (and Python) allocate while ``fn`` runs, by tracemalloc."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def peak_rss_bytes(fn: Callable[[], object], interval: float = 0.002) -> int:
    """Peak growth of the resident set while ``fn`` runs, sampled every ``interval`` s."""
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    base, peak, done = rss(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss())
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        fn()
    finally:
        done.set()
        thread.join()
    return max(peak[0], rss()) - base


def help_seconds(repeats: int) -> list[float]:
    """Wall times of ``rnnkit --help`` in new processes."""
    exe = Path(sys.executable).with_name("rnnkit")
    cmd = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "rnnkit", "--help"]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


FIRST_STEP = """
import json, sys, time
start = time.perf_counter()
import numpy as np
from rnnkit.bench.configs import CONFIGS, quick
from rnnkit.bench.steps import training_step
c = CONFIGS[sys.argv[2]]
c = quick(c) if sys.argv[3] == "1" else c
step = training_step(sys.argv[1], c, np.random.default_rng(0))
ready = time.perf_counter()
numba_before = "numba" in sys.modules
if numba_before:  # count the compilations the first step triggers
    from numba.core import event
    recorder = event.RecordingListener()
    event.register("numba:compile", recorder)
t = time.perf_counter()
step()
first = time.perf_counter() - t
compiled = sum(e.is_start for _, e in recorder.buffer) if numba_before else 0
times = []
for _ in range(int(sys.argv[4])):
    t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
times.sort()
print(json.dumps({
    "setup_s": ready - start, "first_s": first, "steady_s": times[len(times) // 2],
    "compiled": compiled, "numba_loaded_by_step": not numba_before and "numba" in sys.modules,
}))
"""


def first_step(
    cell: str,
    config: str,
    quick: bool,
    steady_reps: int,
    processes: int = 1,
    env: dict[str, str] | None = None,
) -> dict:
    """A new process's import+setup time, first training step and steady (median) step, the
    median of each over ``processes`` new processes (a first step is one sample per process),
    and the ratio first/steady per process: its median, min and max (``ratio``).
    ``compiled`` is the most Numba compilations a first step made; ``numba_loaded_by_step``
    whether a first step loaded Numba.  ``env`` replaces entries of the processes'
    environment (e.g. ``NUMBA_CACHE_DIR`` of an empty directory: a first process ever)."""
    import json

    runs = []
    for _ in range(processes):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                FIRST_STEP,
                cell,
                config,
                "1" if quick else "0",
                str(steady_reps),
            ],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, **(env or {})},
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    result: dict[str, Any] = {
        key: _median([r[key] for r in runs]) for key in ("setup_s", "first_s", "steady_s")
    }
    ratios = sorted(r["first_s"] / r["steady_s"] for r in runs)
    result["ratio"] = {"median": _median(ratios), "min": ratios[0], "max": ratios[-1]}
    result["compiled"] = max(r["compiled"] for r in runs)
    result["numba_loaded_by_step"] = any(r["numba_loaded_by_step"] for r in runs)
    return result


def _median(values: list[float]) -> float:
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
