"""Fast paths of the cells, behind one switch.

A kernel module implements ``forward`` and ``backward`` with exactly the signatures and
results of ``rnnkit.cells.unroll.forward/backward`` for the cells and options it supports;
its caches are private to it.  A module that sets ``TOKEN_IDS = True`` also takes integer
token ids ``xs: [T, B]`` in place of their one-hot rows ``[T, B, I]`` (and returns no ∂L/∂x
for them); the layer gives other modules the one-hot rows.  ``resolve`` picks the
implementation for a layer:

* ``"reference"``: ``cells.unroll`` — the readable NumPy spec, one step at a time;
* ``"fast"``: the first registered kernel for the cell that supports the options and dtype
  (a fused, Numba-compiled one before a NumPy one), else the reference;
* ``"auto"`` (default): as ``"fast"``.

The environment variable ``RNNKIT_BACKEND`` sets the default (for tests and benchmarks).

Importing this package sets glibc's malloc to keep freed memory for the next step's arrays
(``_heap``: 10–20 % of a small step was page faults on fresh memory).
"""

import os
from importlib import import_module
from types import ModuleType

import numpy as np

from ..cells import CellOptions, unroll
from ..errors import ConfigError
from ._heap import keep_freed_memory

keep_freed_memory()

BACKENDS = ("auto", "fast", "reference")

KERNELS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "elman": (("rnnkit.kernels.elman_fused", ("float32",)),
              ("rnnkit.kernels.elman", ("float32", "float64"))),
    "gru": (("rnnkit.kernels.gru_fused", ("float32",)),
            ("rnnkit.kernels.gru", ("float32", "float64"))),
    "lstm": (("rnnkit.kernels.lstm_fused", ("float32",)),
             ("rnnkit.kernels.lstm", ("float32", "float64"))),
}
"""Cell name → (module path, dtypes) of its fast paths, first choice first.  A module is
imported only for its dtypes (so a float64 layer never loads Numba); the first whose
``supports(opts, dtype)`` holds runs."""


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
    for path, dtypes in KERNELS[cell]:
        if np.dtype(dtype).name in dtypes:
            kernel = import_module(path)
            if kernel.supports(opts, dtype):
                return kernel
    return unroll
