"""Fast paths of the cells, behind one switch.

A kernel module implements ``forward`` and ``backward`` with exactly the signatures and
results of ``rnnkit.cells.unroll.forward/backward`` for the cells and options it supports;
its caches are private to it.  ``resolve`` picks the implementation for a layer:

* ``"reference"``: ``cells.unroll`` — the readable NumPy spec, one step at a time;
* ``"fast"``: the first registered kernel for the cell that supports the options and dtype
  (a fused, Numba-compiled one before a NumPy one), else the reference;
* ``"auto"`` (default): as ``"fast"``.

The environment variable ``RNNKIT_BACKEND`` sets the default (for tests and benchmarks).
"""

import os
from importlib import import_module
from types import ModuleType

from ..cells import CellOptions, unroll
from ..errors import ConfigError

BACKENDS = ("auto", "fast", "reference")

KERNELS: dict[str, tuple[str, ...]] = {
    "elman": ("rnnkit.kernels.elman",),
    "gru": ("rnnkit.kernels.gru_fused", "rnnkit.kernels.gru"),
    "lstm": ("rnnkit.kernels.lstm_fused", "rnnkit.kernels.lstm"),
}
"""Cell name → module paths of its fast paths, first choice first (each module has
``supports(opts, dtype)``; the first that supports the options and dtype runs)."""


def default_backend() -> str:
    backend = os.environ.get("RNNKIT_BACKEND", "auto")
    if backend not in BACKENDS:
        raise ConfigError(f"RNNKIT_BACKEND must be one of {BACKENDS}, got {backend!r}")
    return backend


def resolve(cell: str, opts: CellOptions, dtype, backend: str | None = None) -> ModuleType:
    """The module whose ``forward``/``backward`` run ``cell`` with ``opts`` in ``dtype``."""
    backend = default_backend() if backend is None else backend
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "reference" or cell not in KERNELS:
        return unroll
    for path in KERNELS[cell]:
        kernel = import_module(path)
        if kernel.supports(opts, dtype):
            return kernel
    return unroll
