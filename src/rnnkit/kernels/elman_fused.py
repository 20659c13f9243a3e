"""Elman fused path (float32): ``kernels.elman`` with each step's elementwise work in one
compiled pass, and token ids read as rows of W_ih.

Same contract and results as ``rnnkit.cells.unroll.forward/backward`` for the Elman cell
(tanh or relu) in float32 (float64 keeps to ``kernels.elman``).  The products are
``kernels.elman``'s: x W_ihᵀ + b for all steps before the loop (for token ids none: step t
reads row id of P = W_ihᵀ + b), one recurrent product per step, one product per weight
gradient after it (for token ids, dW_ihᵀ[id] += da inside the step).

Forward step t, per row and unit (m = the mask, 1 without one)::

    h_t = act(x_t W_ihᵀ + b + h_rec W_hhᵀ)          (padding: state_t = state_{t−1}, out 0)

Backward step t::

    da = m (dout_t + dh_next) act′(h_t)       act′ = 1 − h² (tanh) | [h > 0] (relu)
    dh_{t−1} = da W_hh ⊙ drop                  (padding: dh_next)
"""

from typing import NamedTuple

import numpy as np

from ..cells import CellOptions
from . import sequence as seq
from ._jit import (
    ARRAY2,
    ARRAY3,
    BLAS,
    IDS,
    ONE,
    add_token_rows,
    compiled,
    copy_token_rows,
    tanh32,
)
from ._workspace import POOL, Lease, leased

TOKEN_IDS = True  # forward takes token ids xs: [T, B] for one-hot rows (see rnnkit.kernels)
LOOP = BLAS
"""Whether ``forward`` and ``backward`` may run their time loop as one compiled call (its
products by BLAS from compiled code: ``_jit.BLAS``) rather than a Python loop of a NumPy
product and a compiled step each step (the same arithmetic; tests switch it off)."""


ZERO = np.float32(0)


class Cache(NamedTuple):
    xs: np.ndarray  # [T, B, I] vectors, or [T, B] int64 token ids
    hs: np.ndarray  # [T + 1, B, H] h_0 … h_T (the carried state, after the mask)
    act: np.ndarray  # [T, B, H] act(a_t), the step's own output before the mask
    mask: seq.Mask | None
    drop: np.ndarray | None  # [B, H] recurrent dropout mask
    lease: Lease  # hs and act return to the pool with the cache


def supports(opts: CellOptions, dtype) -> bool:
    """Elman with tanh or relu, in float32."""
    return np.dtype(dtype) == np.float32


@compiled(f"void({ARRAY3}, {ARRAY2}, {IDS}, {ARRAY2}, int64, {ARRAY3}, {ARRAY2}, boolean)")
def _forward_step(act, P, ids, q, t, hs, m, relu):
    """Step t: act[t] = act(x_t W_ihᵀ + b + q) and the state h_t.

    x_t W_ihᵀ + b is act[t] as the input product left it, or for token ids (ids: [T, B];
    [0, 0] for vectors) the row P[id]; m: [T, B] ([0, 0] without a mask).
    """
    B, H = q.shape
    masked = m.shape[0] > 0
    if ids.shape[0] > 0:
        copy_token_rows(P, ids, t, act)  # x_t W_ihᵀ + b = P[id]
    for b in range(B):
        a, qb = act[t, b], q[b]
        if relu:
            for j in range(H):
                a[j] = max(a[j] + qb[j], ZERO)
        else:
            for j in range(H):
                a[j] = tanh32(a[j] + qb[j])
        if masked and m[t, b] == 0:  # padding: the state carries over
            hs[t + 1, b] = hs[t, b]
        else:
            hs[t + 1, b] = a


@compiled(
    f"void({ARRAY3}, {ARRAY3}, int64, {ARRAY2}, {ARRAY3}, {ARRAY2}, boolean, {IDS}, "
    f"{ARRAY2}, {ARRAY2})"
)
def _backward_step(act, douts, t, dh_next, dA, m, relu, ids, dW_ihT, db):
    """Step t: da = dA[t] and its sum db[t] = Σ_b da; for token ids dW_ihᵀ[id] += da
    (m, ids: [T, B], or [0, 0] without a mask / for vectors)."""
    B, H = dh_next.shape
    masked = m.shape[0] > 0
    db_t = db[t]
    for b in range(B):
        mk = m[t, b] if masked else ONE
        a, da, dout, dhn = act[t, b], dA[t, b], douts[t, b], dh_next[b]
        if relu:
            for j in range(H):
                da[j] = mk * (dout[j] + dhn[j]) * (ONE if a[j] > ZERO else ZERO)
        else:
            for j in range(H):
                da[j] = mk * (dout[j] + dhn[j]) * (ONE - a[j] * a[j])
        for j in range(H):
            db_t[j] += da[j]
    if ids.shape[0] > 0:
        add_token_rows(dA, ids, t, dW_ihT)  # dW_ihᵀ[id] += da


if BLAS:  # Numba calls BLAS (through SciPy): the whole time loop in one compiled call

    @compiled(
        f"void({ARRAY3}, {ARRAY2}, {IDS}, {ARRAY2}, {ARRAY3}, {ARRAY2}, boolean, {ARRAY2}, "
        f"{ARRAY2}, {ARRAY2}, int64)"
    )
    def _forward_loop(act, P, ids, W_hhT, hs, m, relu, drop, h_rec, q, rows):
        """Every step of ``forward``: q = h_rec W_hhᵀ, ``rows`` rows per product, then
        ``_forward_step`` (drop: [B, H], or [0, 0] without recurrent dropout; h_rec and q:
        [B, H] scratch)."""
        B = q.shape[0]
        dropped = drop.shape[0] > 0
        for t in range(act.shape[0]):
            h = hs[t]
            if dropped:
                np.multiply(h, drop, h_rec)
                h = h_rec
            for b in range(0, B, rows):
                np.dot(h[b : b + rows], W_hhT, q[b : b + rows])
            _forward_step(act, P, ids, q, t, hs, m, relu)

    @compiled(
        f"void({ARRAY3}, {ARRAY3}, {ARRAY2}, {ARRAY3}, {ARRAY2}, boolean, {IDS}, {ARRAY2}, "
        f"{ARRAY2}, {ARRAY2}, {ARRAY2}, {ARRAY2}, int64)"
    )
    def _backward_loop(act, douts, dh, dA, m, relu, ids, dW_ihT, db, W_hh, drop, dh_prev, rows):
        """Every step of ``backward``, t = T − 1 … 0: ``_backward_step``, then
        dh_{t−1} = da W_hh ⊙ drop (padding: dh_t), ``rows`` rows per product; dh: [B, H],
        ∂L/∂h_T in, ∂L/∂h_0 out (drop: [B, H], or [0, 0]; dh_prev: [B, H] scratch)."""
        B, H = dh.shape
        dropped, masked = drop.shape[0] > 0, m.shape[0] > 0
        for t in range(act.shape[0] - 1, -1, -1):
            _backward_step(act, douts, t, dh, dA, m, relu, ids, dW_ihT, db)
            da = dA[t]
            for b in range(0, B, rows):
                np.dot(da[b : b + rows], W_hh, dh_prev[b : b + rows])
            for b in range(B):
                if masked and m[t, b] == 0:  # padding: ∂L/∂h passes through unchanged
                    continue
                d, dp = dh[b], dh_prev[b]
                if dropped:
                    r = drop[b]
                    for j in range(H):
                        d[j] = dp[j] * r[j]
                else:
                    for j in range(H):
                        d[j] = dp[j]


def forward(
    cell,
    p: dict,
    xs: np.ndarray,
    state0: tuple,
    opts: CellOptions,
    mask: np.ndarray | None = None,
    drop: np.ndarray | None = None,
):
    """outs [T, B, H], (h_T,), cache — as ``unroll.forward`` with ``cells.elman``, for
    vectors ``xs: [T, B, I]`` or token ids ``xs: [T, B]`` (one-hot rows of width I)."""
    T, B = xs.shape[:2]
    H = state0[0].shape[1]
    dt = np.float32
    ids = seq.token_ids(xs)
    xs = ids if xs.ndim == 2 else xs
    act, P = seq.input_side(xs, p["weight_ih"], p["bias_ih"] + p["bias_hh"])
    W_hhT = seq.scaled_transpose(p["weight_hh"], np.ones(H, dt))  # [H, H]
    mk = seq.prepare_mask(mask, T, B, dt)
    m = seq.mask_rows(mk, T, B)
    hs = POOL.take((T + 1, B, H), dt)
    hs[0] = state0[0]
    q, h_rec = np.empty((B, H), dt), np.empty((B, H), dt)
    relu = opts.nonlinearity == "relu"
    rows = seq.loop_rows(B, H, H) if LOOP else 0
    if rows:
        d = np.empty((0, 0), dt) if drop is None else np.ascontiguousarray(drop, dt)
        _forward_loop(act, P, ids, W_hhT, hs, m, relu, d, h_rec, q, rows)
    else:
        for t in range(T):
            h_in = hs[t] if drop is None else np.multiply(hs[t], drop, out=h_rec)
            np.matmul(h_in, W_hhT, out=q)  # h_rec W_hhᵀ
            _forward_step(act, P, ids, q, t, hs, m, relu)
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
    """(dxs [T, B, I] or None, (dh_0,), grads) — as ``unroll.backward`` with ``cells.elman``.

    ``need_dx=False`` skips the input gradient (for token ids, ∂L/∂ of their one-hot rows).
    """
    xs, hs, act, mk, drop = cache.xs, cache.hs, cache.act, cache.mask, cache.drop
    T, B, H = act.shape
    dt = np.float32
    W_hh = p["weight_hh"]
    douts = np.ascontiguousarray(douts, dtype=dt)
    m = seq.mask_rows(mk, T, B)
    ids, tokens = seq.token_ids(xs), xs.ndim == 2
    dA = POOL.take((T, B, H), dt)
    dW_ihT = np.zeros((p["weight_ih"].shape[1], H) if tokens else (0, 0), dt)
    db = np.zeros((T, H), dt)  # Σ_b da per step
    relu = opts.nonlinearity == "relu"
    dh_next, dh_prev = np.array(dstate[0], dtype=dt), np.empty((B, H), dt)
    rows = seq.loop_rows(B, H, H) if LOOP else 0
    if rows:
        d = np.empty((0, 0), dt) if drop is None else np.ascontiguousarray(drop, dt)
        W = np.ascontiguousarray(W_hh, dt)
        _backward_loop(act, douts, dh_next, dA, m, relu, ids, dW_ihT, db, W, d, dh_prev, rows)
    else:
        for t in reversed(range(T)):
            _backward_step(act, douts, t, dh_next, dA, m, relu, ids, dW_ihT, db)
            np.matmul(dA[t], W_hh, out=dh_prev)  # dh_{t−1} = da W_hh
            if drop is not None:
                dh_prev *= drop
            if mk is not None:  # a padded step passes its incoming gradient through unchanged
                np.copyto(dh_prev, dh_next, where=mk.off[t])
            dh_next, dh_prev = dh_prev, dh_next
    dW_ih = np.ascontiguousarray(dW_ihT.T) if tokens else None
    db = db.sum(axis=0, dtype=np.float64).astype(dt)
    dxs, grads = seq.gate_grads(p, xs, hs, drop, dA, need_dx, db, dW_ih)
    POOL.give(dA)
    return dxs, (dh_next,), grads
