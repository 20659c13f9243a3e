"""The compiled kernels are cached on disk: a new process loads their machine code and compiles
nothing, before or during its first training step."""

import json
import os
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import numba
import pytest
from numba.core.caching import FunctionCache
from numba.core.dispatcher import Dispatcher

from rnnkit.kernels import KERNELS, OPS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    numba.config.DISABLE_JIT,  # type: ignore[attr-defined]
    reason="NUMBA_DISABLE_JIT: nothing is compiled",
)

MODULES = sorted(
    {"rnnkit.kernels._jit"}
    | {path for entries in KERNELS.values() for path, dtypes in entries if "float32" in dtypes}
    | {path for path, _ in OPS.values()}
)
COMPILED_MODULES = [m for m in MODULES if m.endswith(("_fused", "_jit", "adam", "cross_entropy"))]

IMPORT_ALL = f"""
import json
from numba.core import event
recorder = event.RecordingListener()
event.register("numba:compile", recorder)
for name in {COMPILED_MODULES!r}:
    __import__(name)
print(json.dumps(sum(e.is_start for _, e in recorder.buffer)))
"""


def dispatchers(module_name: str) -> dict[str, Dispatcher]:
    module = import_module(module_name)
    return {
        name: f
        for name, f in vars(module).items()
        if isinstance(f, Dispatcher) and f.py_func.__module__ == module_name
    }


def test_every_kernel_called_from_python_is_compiled_for_signatures_and_cached_on_disk():
    """Called from Python: compiled at import for explicit signatures (no compile at a call),
    cached on disk.  Inlined helpers (``inline="always"``) are compiled into their callers."""
    seen = 0
    for module_name in COMPILED_MODULES:
        for name, f in dispatchers(module_name).items():
            if f.targetoptions.get("inline") == "always":
                continue
            seen += 1
            where = f"{module_name}.{name}"
            assert f.signatures, f"{where} has no explicit signature: its first call compiles"
            assert not f._can_compile, f"{where} would compile at a call with other types"
            assert isinstance(f._cache, FunctionCache), f"{where} is not cached on disk"
    assert seen >= 9  # lstm, gru, elman forward/backward, adam, cross-entropy, three in _jit


def test_a_kernel_cache_entry_is_keyed_by_the_helpers_compiled_into_it_too():
    """tanh32 and the other helpers of ``_jit`` are compiled into the kernels of other files;
    Numba keys an entry by the kernel's own file, ``compiled`` by ``_jit``'s content too."""
    from rnnkit.kernels import _jit, lstm_fused

    f = lstm_fused._forward_step
    key = f._cache._index_key(f.signatures[0], f.targetctx.codegen())
    assert key[-1] == _jit.SOURCE_HASH and len(_jit.SOURCE_HASH) == 64
    assert key[:-1] == FunctionCache._index_key(f._cache, f.signatures[0], f.targetctx.codegen())


def test_a_new_process_loads_every_kernel_from_the_disk_cache_and_compiles_nothing():
    for module_name in COMPILED_MODULES:  # (in this process: compiled and saved if need be)
        import_module(module_name)
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == 0


@pytest.mark.slow  # compiles every kernel twice, concurrently (30–60 s on two cores)
def test_processes_compiling_into_one_empty_cache_at_once_leave_a_cache_the_next_one_loads(
    tmp_path,
):
    """Numba writes each index and data file to a temporary name and renames it into place,
    so two processes (pytest -n 2, MPI ranks) writing the same entries leave whole files."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    command = [sys.executable, "-c", IMPORT_ALL]
    both = [
        subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    compiled = [json.loads(p.communicate()[0].strip().splitlines()[-1]) for p in both]
    assert all(n > 0 for n in compiled) and all(p.returncode == 0 for p in both)
    assert not list(tmp_path.rglob("*.tmp.*")), "no temporary file is left behind"
    out = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == 0


def test_without_a_writable_cache_directory_a_kernel_is_compiled_instead_of_failing(monkeypatch):
    import numpy as np

    from rnnkit.kernels import _jit

    def no_locator(func):
        raise RuntimeError(f"cannot cache function {func.__name__!r}: no locator available")

    monkeypatch.setattr(_jit, "_Cache", no_locator)

    @_jit.compiled("void(float32[::1])")
    def double(x):
        for k in range(x.shape[0]):
            x[k] *= 2

    x = np.arange(3, dtype=np.float32)
    double(x)
    np.testing.assert_array_equal(x, [0, 2, 4])
    assert not isinstance(double._cache, FunctionCache) and not double._can_compile
