"""The reference time loop: forward over t, backpropagation through time over reversed t.

Any cell module that follows the contract in ``rnnkit.cells`` runs here.  The loop is
written once, so every cell gets the same semantics for masks and state carry:

    forward:   ax = xs W_ihᵀ                      (one matrix product for all steps)
               for t = 0 … T−1:  out_t, s_t = cell(ax_t, s_{t−1})
                                 s_t   = m_t ? s_t   : s_{t−1}   (finished sequences keep state)
                                 out_t = m_t ? out_t : 0
    backward:  for t = T−1 … 0:  dax_t, ds_{t−1} = cellᵀ(m_t · dout_t, m_t · ds_t)
                                 ds_{t−1} += (1 − m_t) · ds_t      (state passed through unchanged)
               dW_ih = Σ_t dax_tᵀ x_t,  dxs = dax W_ih            (one matrix product each)

Shapes: ``xs: [T, B, I]``, ``mask: [T, B]`` (1 = step is real, 0 = padding) or ``None``;
outputs ``[T, B, O]``; state a tuple of ``[B, ·]`` arrays.
"""

from collections.abc import Sequence
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from . import CellOptions


class SequenceCache(NamedTuple):
    """What the backward of one sequence needs, saved by ``forward``."""

    xs: np.ndarray  # [T, B, I]
    mask: np.ndarray | None  # [T, B, 1] of 0/1 in the dtype of xs, or None
    caches: tuple  # T per-step caches of the cell
    drop: np.ndarray | None  # recurrent dropout mask [B, S] or None


def forward(
    cell: ModuleType,
    p: dict[str, np.ndarray],
    xs: np.ndarray,
    state0: tuple[np.ndarray, ...],
    opts: CellOptions,
    mask: np.ndarray | None = None,
    drop: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[np.ndarray, ...], SequenceCache]:
    """Run ``cell`` over ``xs: [T, B, I]`` from ``state0``.

    Returns (outs [T, B, O], state_T, cache).
    """
    T, B, _ = xs.shape
    ax = (xs.reshape(T * B, -1) @ p["weight_ih"].T).reshape(T, B, -1)
    m = None if mask is None else mask.astype(xs.dtype).reshape(T, B, 1)
    outs, state, caches = [], state0, []
    for t in range(T):
        out, new_state, cache = cell.step_forward(p, ax[t], state, opts, drop)
        if m is not None:
            on = m[t] > 0
            new_state = tuple(np.where(on, s_new, s) for s_new, s in zip(new_state, state))
            out = np.where(on, out, 0)
        outs.append(out)
        state = new_state
        caches.append(cache)
    return np.stack(outs), state, SequenceCache(xs, m, tuple(caches), drop)


def backward(
    cell: ModuleType,
    p: dict[str, np.ndarray],
    cache: SequenceCache,
    douts: np.ndarray,
    dstate: tuple[np.ndarray, ...],
    opts: CellOptions,
) -> tuple[np.ndarray, tuple[np.ndarray, ...], dict[str, np.ndarray]]:
    """Backpropagate ``douts: [T, B, O]`` and ``dstate`` (∂L/∂state_T) through time.

    Returns (dxs [T, B, I], ∂L/∂state0, grads keyed like ``p``).
    """
    xs, m = cache.xs, cache.mask
    T, B, _ = xs.shape
    dax = np.empty((T, B, p["weight_ih"].shape[0]), dtype=xs.dtype)
    dsteps = [None] * T
    for t in reversed(range(T)):
        dout, ds = douts[t], dstate
        if m is not None:
            dout, ds = dout * m[t], tuple(d * m[t] for d in dstate)
        dax[t], ds_prev, dsteps[t] = cell.step_backward(p, dout, ds, cache.caches[t], opts)
        if m is not None:
            ds_prev = tuple(d + s * (1 - m[t]) for d, s in zip(ds_prev, dstate))
        dstate = ds_prev
    grads = cell.param_grads(p, _stack(cache.caches), _stack(dsteps), opts)
    dax2 = dax.reshape(T * B, -1)
    grads["weight_ih"] = dax2.T @ xs.reshape(T * B, -1)
    dxs = (dax2 @ p["weight_ih"]).reshape(xs.shape)
    return dxs, dstate, grads


def _stack(steps: Sequence[Any]) -> Any:
    """Stack a list of per-step NamedTuples field by field into one NamedTuple of [T, ...]."""
    first = steps[0]
    return type(first)(
        *(None if f is None else np.stack([s[k] for s in steps]) for k, f in enumerate(first))
    )
