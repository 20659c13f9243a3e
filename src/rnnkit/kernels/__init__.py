"""Fast paths of the cells, the optimizer and the loss, behind one switch.

A kernel module implements ``forward`` and ``backward`` with exactly the signatures and
results of ``rnnkit.cells.unroll.forward/backward`` for the cells and options it supports;
its caches are its own.  A module that sets ``TOKEN_IDS = True`` also takes integer token ids
``xs: [T, B]`` in place of their one-hot rows ``[T, B, I]`` (and returns no ∂L/∂x for them);
the layer gives other modules the one-hot rows.  What the kernels share around their time
loops is in ``sequence`` (masks, the input side, the weight gradients) and ``prelude`` (the
pre-loop layout both kernels of a cell use).  ``resolve`` picks the implementation for a
layer:

* ``"reference"``: ``cells.unroll`` — the readable NumPy spec, one step at a time;
* ``"fast"``: the first registered kernel for the cell that supports the options and dtype
  (a fused, Numba-compiled one before a NumPy one), else the reference;
* ``"auto"`` (default): as ``"fast"``.

``resolve_op`` does the same for the compiled twins of two NumPy functions, Adam's update
(``adam``, for ``rnnkit.training.optim.Adam``) and the softmax cross-entropy
(``cross_entropy``, for ``rnnkit.layers.losses``): the module, or None where the NumPy form
runs (the reference backend, a dtype the twin does not take).

The environment variable ``RNNKIT_BACKEND`` sets the default (for tests and benchmarks):
``RNNKIT_BACKEND=reference`` runs plain NumPy everywhere and never loads Numba.

``keep_freed_memory`` (``_heap``) sets glibc's malloc to keep freed memory for the next
step's arrays (10–20 % of a small step was page faults on fresh memory).  Importing this
package does not: making an optimizer does (``rnnkit.training.optim``), once per process, when
training starts.  ``RNNKIT_KEEP_FREED_MEMORY=0`` leaves malloc alone, as do glibc's own
``MALLOC_*_`` variables and ``GLIBC_TUNABLES``.
"""

import os
from importlib import import_module
from types import ModuleType

import numpy as np

from ..cells import CellOptions, unroll
from ..errors import ConfigError
from ._heap import keep_freed_memory

__all__ = [
    "BACKENDS",
    "KERNELS",
    "OPS",
    "default_backend",
    "keep_freed_memory",
    "resolve",
    "resolve_op",
]

BACKENDS = ("auto", "fast", "reference")

KERNELS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "elman": (
        ("rnnkit.kernels.elman_fused", ("float32",)),
        ("rnnkit.kernels.elman", ("float32", "float64")),
    ),
    "gru": (
        ("rnnkit.kernels.gru_fused", ("float32",)),
        ("rnnkit.kernels.gru", ("float32", "float64")),
    ),
    "lstm": (
        ("rnnkit.kernels.lstm_fused", ("float32",)),
        ("rnnkit.kernels.lstm", ("float32", "float64")),
    ),
}
"""Cell name → (module path, dtypes) of its fast paths, first choice first.  A module is
imported only for its dtypes (so a float64 layer never loads Numba); the first whose
``supports(opts, dtype)`` holds runs.  A fused kernel supports what its NumPy twin does, so
the NumPy kernels' float32 entries are the fallback should it stop doing so;
``tests/kernels/test_parity.py`` holds every module here to the reference in every dtype
listed."""

OPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "adam": ("rnnkit.kernels.adam", ("float32", "float64")),
    "cross_entropy": ("rnnkit.kernels.cross_entropy", ("float32",)),
}
"""Operation → (module path, dtypes) of its compiled twin.  ``adam`` is bit-identical to
``optim.Adam``'s NumPy form (``adam_step``; making an Adam loads it, and Numba);
``cross_entropy`` is ``losses.softmax_cross_entropy``'s row pass to float32 rounding
(``softmax_cross_entropy_rows``; float64 stays with NumPy and never loads Numba)."""

_resolved_ops: dict[tuple[str, str, str], ModuleType | None] = {}


def default_backend() -> str:
    backend = os.environ.get("RNNKIT_BACKEND", "auto")
    if backend not in BACKENDS:
        raise ConfigError(f"RNNKIT_BACKEND must be one of {BACKENDS}, got {backend!r}")
    return backend


def _backend(backend: str | None) -> str:
    backend = default_backend() if backend is None else backend
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    return backend


def resolve(cell: str, opts: CellOptions, dtype, backend: str | None = None) -> ModuleType:
    """The module whose ``forward``/``backward`` run ``cell`` with ``opts`` in ``dtype``."""
    if _backend(backend) == "reference" or cell not in KERNELS:
        return unroll
    for path, dtypes in KERNELS[cell]:
        if np.dtype(dtype).name in dtypes:
            kernel = import_module(path)
            if kernel.supports(opts, dtype):
                return kernel
    return unroll


def resolve_op(name: str, dtype, backend: str | None = None) -> ModuleType | None:
    """The compiled twin of ``name`` (a key of ``OPS``) for arrays of ``dtype``, imported on
    first use; None where the NumPy form runs (``backend`` ``"reference"``, or a dtype the
    twin is not registered for)."""
    key = (name, np.dtype(dtype).name, _backend(backend))
    if key not in _resolved_ops:  # (once per key: Adam asks for every parameter every step)
        path, dtypes = OPS[name]
        fast = key[2] != "reference" and key[1] in dtypes
        _resolved_ops[key] = import_module(path) if fast else None
    return _resolved_ops[key]
