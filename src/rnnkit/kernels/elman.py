"""Elman fast path: the reference's equations (``rnnkit.cells.elman``) with the work regrouped.

Same contract and results as ``rnnkit.cells.unroll.forward/backward`` for the Elman cell
(tanh or relu), in float32 and float64::

    forward:   ax = xs W_ihᵀ + b_ih + b_hh                 (for all t in one product)
               h_t = act(ax_t + h_rec W_hhᵀ)               (the one product inside the loop)
    backward:  da_t = (dout_t + dh_next) ⊙ act′(h_t)       (1 − h_t² | [h_t > 0])
               dh_{t−1} = da_t W_hh  (⊙ drop)
               dW_hh = daᵀ h_rec, dW_ih = daᵀ xs, dxs = da W_ih, db = Σ da   (one each)

The arrays a call saves or scratches come from ``_workspace.POOL``; the elementwise work is
in-place ufuncs with ``out=``; ``need_dx=False`` skips dxs.
"""

from typing import NamedTuple

import numpy as np

from ..cells import CellOptions
from . import sequence as seq
from ._workspace import POOL, Lease, leased


class Cache(NamedTuple):
    xs: np.ndarray  # [T, B, I]
    hs: np.ndarray  # [T + 1, B, H] h_0 … h_T (the carried state, after the mask)
    act: np.ndarray  # [T, B, H] act(a_t), the step's own output before the mask
    mask: seq.Mask | None
    drop: np.ndarray | None  # [B, H] recurrent dropout mask
    lease: Lease  # hs and act return to the pool with the cache


def supports(opts: CellOptions, dtype) -> bool:
    """Elman with tanh or relu, in float32 or float64."""
    return np.dtype(dtype) in (np.float32, np.float64)


def forward(
    cell,
    p: dict,
    xs: np.ndarray,
    state0: tuple,
    opts: CellOptions,
    mask: np.ndarray | None = None,
    drop: np.ndarray | None = None,
):
    """outs [T, B, H], (h_T,), cache — as ``unroll.forward`` with ``cells.elman``."""
    T, B, _ = xs.shape
    H = state0[0].shape[1]
    dt = xs.dtype
    relu = opts.nonlinearity == "relu"
    act = seq.input_projection(xs, p["weight_ih"], p["bias_ih"] + p["bias_hh"])
    W_hhT = seq.scaled_transpose(p["weight_hh"], np.ones(H, dt))  # [H, H]
    mk = seq.prepare_mask(mask, T, B, dt)
    hs = POOL.take((T + 1, B, H), dt)
    hs[0] = state0[0]
    q, h_rec = np.empty((B, H), dt), np.empty((B, H), dt)
    for t in range(T):
        h_prev = hs[t]
        h_in = h_prev if drop is None else np.multiply(h_prev, drop, out=h_rec)
        a = act[t]
        a += np.matmul(h_in, W_hhT, out=q)  # a = x W_ihᵀ + b + h_rec W_hhᵀ
        if relu:
            np.maximum(a, 0, out=a)
        else:
            np.tanh(a, out=a)  # h = act(a)
        if mk is None:
            hs[t + 1] = a
        else:  # state_t = m ? h_t : h_{t−1}
            np.copyto(hs[t + 1], h_prev)
            np.copyto(hs[t + 1], a, where=~mk.off[t])
    outs = act.copy() if mk is None else act * mk.m  # out_t = m ? h_t : 0
    cache = Cache(xs, hs, act, mk, drop, leased(hs, act))
    return outs, (hs[T].copy(),), cache


def backward(
    cell,
    p: dict,
    cache: Cache,
    douts: np.ndarray,
    dstate: tuple,
    opts: CellOptions,
    need_dx: bool = True,
):
    """(dxs [T, B, I] or None, (dh_0,), grads) — as ``unroll.backward`` with ``cells.elman``."""
    xs, hs, act, mk, drop = cache[:5]
    T, B, H = act.shape
    dt = xs.dtype
    W_hh = p["weight_hh"]
    dA, dact = POOL.take((T, B, H), dt), POOL.take((T, B, H), dt)
    if opts.nonlinearity == "relu":
        np.greater(act, 0, out=dact)  # [h > 0]
    else:
        np.multiply(act, act, out=dact)
        np.subtract(1, dact, out=dact)  # 1 − h²
    if mk is not None:
        dact *= mk.m  # a padded step receives no gradient
    dh_next, dh_prev = np.array(dstate[0], dtype=dt), np.empty((B, H), dt)
    for t in reversed(range(T)):
        da = np.add(douts[t], dh_next, out=dA[t])
        da *= dact[t]  # da = (dout + dh) ⊙ act′
        np.matmul(da, W_hh, out=dh_prev)  # dh_{t−1} = da W_hh
        if drop is not None:
            dh_prev *= drop
        if mk is not None:  # a padded step passes its incoming gradient through unchanged
            np.copyto(dh_prev, dh_next, where=mk.off[t])
        dh_next, dh_prev = dh_prev, dh_next
    dxs, grads = seq.gate_grads(p, xs, hs, drop, dA, need_dx)
    POOL.give(dA, dact)
    return dxs, (dh_next,), grads
