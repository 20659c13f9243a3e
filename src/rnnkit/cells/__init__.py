"""Recurrent cells: one module per cell, its forward and hand-written backward steps side by side.

The cell contract
-----------------
Every cell module (``elman``, ``jordan``, ``fully_recurrent``, ``lstm``, ``gru``) defines::

    param_shapes(I, H, opts) -> dict[str, tuple]      # PyTorch base names: weight_ih, weight_hh, …
    init_params(I, H, opts, rng, dtype) -> dict[str, ndarray]
    state_sizes(H, opts) -> tuple[int, ...]           # one entry per state array: (H,) or (H, H)
    output_size(H, opts) -> int                        # width of the per-step output
    step_forward(p, ax, state, opts, drop) -> (out, state, cache)
    step_backward(p, dout, dstate, cache, opts) -> (dax, dstate_prev, dstep)
    param_grads(p, caches, dsteps, opts) -> dict[str, ndarray]   # every parameter but weight_ih

Shapes: ``ax: [B, G]`` is the input projection x_t W_ihᵀ *without* bias (``G`` = rows of
``weight_ih``); the driver computes it for all steps in one matrix product before the time
loop and forms ``dweight_ih`` and ``dxs`` in one product after it.  ``state`` is a tuple of
``[B, ·]`` arrays with the sizes of ``state_sizes``; ``out: [B, output_size]``.  ``drop`` is
the variational recurrent-dropout mask ``[B, S]`` (S = ``state_sizes(H, opts)[0]``, the width
of the recurrent input; already scaled by 1/(1−p)) applied to the recurrent input of every
step, or ``None``.  ``cache`` and ``dstep`` are NamedTuples of ``[B, ·]`` arrays (or ``None``
for a field an option switches off); the driver stacks each field over time (``[T, B, ·]``)
and hands the stacks to ``param_grads``, which forms the weight gradients with one matrix
product per weight.
``dout`` and ``dstate`` arrive from the output at t and from step t+1; the step adds them
where the output *is* part of the state.  Nothing is mutated in place.

The time loop, masks, reversal and state carry live once, in ``unroll``.
"""

from importlib import import_module
from types import ModuleType

from ..config import (  # noqa: F401  (the cells' options live with the other configuration)
    ALIASES,
    CELL_NAMES,
    JORDAN_FEEDBACK,
    CellOptions,
    canonical_name,
)


def get_cell(name: str) -> ModuleType:
    """The module implementing cell ``name`` (imported on first use)."""
    return import_module(f"{__name__}.{canonical_name(name)}")
