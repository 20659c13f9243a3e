"""GRU fused path (float32): ``kernels.gru`` with each step's gate math in one compiled pass.

Same contract and results as ``rnnkit.cells.unroll.forward/backward`` for the GRU with
``reset_after=True`` and no layer norm, in float32 (float64 keeps to ``kernels.gru``).  The
products and the halving of the r and z rows (σ(a) = ½ + ½ tanh(a/2)) are ``kernels.gru``'s;
the elementwise work of a step is one call of a compiled loop (``_jit``).

Forward step t, per row and unit (gx = x_t W_ihᵀ + b, q = h_rec W_hhᵀ; the cache keeps
τ_r, τ_z = tanh of the halved pre-activations, n, and a_hn)::

    r, z = ½ + ½ tanh(gx_rz + q_rz)     a_hn = q_n + b_hn     n = tanh(gx_n + r a_hn)
    h_t = n + z (h_{t−1} − n)            (padding: h_t = h_{t−1}, out 0)

Backward step t (m = the mask, 1 without one)::

    dh = m (dout_t + dh_next)
    da_n = dh (1 − z)(1 − n²)    da_z = dh (h_{t−1} − n) z(1−z)
    da_r = da_n a_hn r(1−r)      da_hn = da_n r
    dh_{t−1} = dh z + [da_r | da_z | da_hn] W_hh ⊙ drop      (padding: dh_next)
"""

from typing import NamedTuple

import numpy as np

from ..cells import CellOptions
from . import prelude
from . import sequence as seq
from ._jit import (
    ARRAY1,
    ARRAY2,
    ARRAY3,
    BLAS,
    HALF,
    IDS,
    ONE,
    compiled,
    copy_token_rows,
    tanh32,
)
from ._workspace import POOL, Lease, leased

TOKEN_IDS = True  # forward takes token ids xs: [T, B] for one-hot rows (see rnnkit.kernels)


class Cache(NamedTuple):
    xs: np.ndarray  # [T, B, I] vectors, or [T, B] int64 token ids
    hs: np.ndarray  # [T + 1, B, H] h_0 … h_T (the carried state, after the mask)
    tau: np.ndarray  # [T, B, 3H] τ_r, τ_z = tanh of the halved pre-activations, and n
    a_hn: np.ndarray  # [T, B, H] h_rec W_hnᵀ + b_hn, the term r multiplies
    mask: seq.Mask | None
    drop: np.ndarray | None  # [B, H] recurrent dropout mask
    lease: Lease  # hs, tau and a_hn return to the pool with the cache


def supports(opts: CellOptions, dtype) -> bool:
    """The GRU with reset_after=True and no layer norm, in float32."""
    return opts.reset_after and not opts.layer_norm and np.dtype(dtype) == np.float32


@compiled(
    f"void({ARRAY3}, {ARRAY2}, {IDS}, {ARRAY2}, {ARRAY1}, int64, {ARRAY3}, {ARRAY3}, "
    f"{ARRAY3}, {ARRAY2})"
)
def _forward_step(gates, P, ids, q, b_hn, t, hs, a_hn, outs, m):
    """Step t: gates[t] becomes τ_r, τ_z, n; a_hn[t] and h_t (and outs when masked).

    gx = x_t W_ihᵀ + b is gates[t] as the input product left it, or for token ids (ids:
    [T, B]; [0, 0] for vectors) the row P[id]; m: [T, B] ([0, 0] without a mask).
    """
    B, G = q.shape
    H = G // 3
    masked = m.shape[0] > 0
    if ids.shape[0] > 0:
        copy_token_rows(P, ids, t, gates)  # gx = P[id]
    for b in range(B):
        a, qb = gates[t, b], q[b]
        for k in range(2 * H):
            a[k] = tanh32(a[k] + qb[k])  # τ_r, τ_z
        a_r, a_z, a_n = a[:H], a[H : 2 * H], a[2 * H :]
        q_n, ahn, h_prev, h = qb[2 * H :], a_hn[t, b], hs[t, b], hs[t + 1, b]
        for j in range(H):
            ahn[j] = q_n[j] + b_hn[j]  # a_hn = h_rec W_hnᵀ + b_hn
            n = tanh32(a_n[j] + (HALF * a_r[j] + HALF) * ahn[j])  # n = tanh(gx_n + r a_hn)
            a_n[j] = n
            h[j] = n + (HALF * a_z[j] + HALF) * (h_prev[j] - n)  # h_t = n + z (h_{t−1} − n)
        if masked:
            if m[t, b] == 0:  # padding: the state carries over, the output is 0
                h[:] = h_prev
                outs[t, b] = 0
            else:
                outs[t, b] = h


@compiled(
    f"void({ARRAY3}, {ARRAY3}, {ARRAY3}, {ARRAY3}, int64, {ARRAY2}, {ARRAY3}, "
    f"{ARRAY3}, {ARRAY2}, {ARRAY2}, {IDS}, {ARRAY2}, {ARRAY2}, {ARRAY2}, boolean)"
)
def _backward_step(
    gates, hs, a_hn, douts, t, dh_next, d_ih, d_hh, dh_z, m, ids, dW_ihT, db_hh, db_n, fill_ih
):
    """Step t: d_hh[t] = [da_r | da_z | da_hn], dh_z = dh z, the step's sums db_hh[t] = Σ_b
    d_hh[t] and db_n[t] = Σ_b da_n; d_ih[t] = [da_r | da_z | da_n] (only da_n unless
    ``fill_ih``), and for token ids dW_ihᵀ[id] += d_ih[t] (m, ids: [T, B], or [0, 0] without
    a mask / for vectors).

    Two passes per row, each over few arrays (one loop over them all does not vectorise).
    """
    B, H = dh_next.shape
    masked, tokens = m.shape[0] > 0, ids.shape[0] > 0
    for b in range(B):
        mk = m[t, b] if masked else ONE
        a, ahn, h_prev = gates[t, b], a_hn[t, b], hs[t, b]
        a_r, a_z, a_n = a[:H], a[H : 2 * H], a[2 * H :]
        dout, dhn, dh = douts[t, b], dh_next[b], dh_z[b]
        dhh, dih = d_hh[t, b], d_ih[t, b]
        da_r, da_z, da_hn, da_n = dhh[:H], dhh[H : 2 * H], dhh[2 * H :], dih[2 * H :]
        for j in range(H):
            z, n = HALF * a_z[j] + HALF, a_n[j]
            dh[j] = mk * (dout[j] + dhn[j])
            da_n[j] = dh[j] * (ONE - z) * (ONE - n * n)
            da_z[j] = dh[j] * (h_prev[j] - n) * z * (ONE - z)
        for j in range(H):
            r = HALF * a_r[j] + HALF
            da_r[j] = da_n[j] * ahn[j] * r * (ONE - r)
            da_hn[j] = da_n[j] * r
            dh[j] *= HALF * a_z[j] + HALF  # dh z
        s_hh, s_n = db_hh[t], db_n[t]
        for k in range(3 * H):
            s_hh[k] += dhh[k]
        for j in range(H):
            s_n[j] += da_n[j]
        if fill_ih:  # d_ih's r, z blocks, for the input products after the loop
            dih[: 2 * H] = dhh[: 2 * H]
    if tokens:  # dW_ihᵀ[id] += [da_r | da_z | da_n], in a pass of its own
        for b in range(B):
            w, dhh, da_n = dW_ihT[ids[t, b]], d_hh[t, b], d_ih[t, b, 2 * H :]
            for k in range(2 * H):
                w[k] += dhh[k]
            for j in range(H):
                w[2 * H + j] += da_n[j]


LOOP = BLAS
"""Whether the time loop may be one compiled call, its recurrent products by BLAS from
compiled code in row blocks (``seq.loop_rows``), rather than a Python loop of a NumPy product
and a compiled step each step (the same arithmetic; tests switch it off)."""

if BLAS:  # Numba calls BLAS (through SciPy): the whole time loop in one compiled call

    @compiled(
        f"void({ARRAY3}, {ARRAY2}, {IDS}, {ARRAY2}, {ARRAY1}, {ARRAY3}, {ARRAY3}, {ARRAY3}, "
        f"{ARRAY2}, {ARRAY2}, {ARRAY2}, {ARRAY2}, int64)"
    )
    def _forward_loop(gates, P, ids, W_hhT, b_hn, hs, a_hn, outs, m, drop, h_rec, q, rows):
        """Every step of ``forward``: q = h_rec W_hhᵀ, ``rows`` rows per product, then
        ``_forward_step`` (drop: [B, H], or [0, 0] without recurrent dropout; h_rec [B, H]
        and q [B, 3H] scratch)."""
        B = q.shape[0]
        dropped = drop.shape[0] > 0
        for t in range(gates.shape[0]):
            h = hs[t]
            if dropped:
                np.multiply(h, drop, h_rec)
                h = h_rec
            for b in range(0, B, rows):
                np.dot(h[b : b + rows], W_hhT, q[b : b + rows])
            _forward_step(gates, P, ids, q, b_hn, t, hs, a_hn, outs, m)

    @compiled(
        f"void({ARRAY3}, {ARRAY3}, {ARRAY3}, {ARRAY3}, {ARRAY2}, {ARRAY2}, {ARRAY2}, "
        f"{ARRAY3}, {ARRAY3}, {ARRAY2}, {IDS}, {ARRAY2}, {ARRAY2}, {ARRAY2}, boolean, "
        f"{ARRAY2}, {ARRAY2}, int64)"
    )
    def _backward_loop(
        gates, hs, a_hn, douts, dh, dh_prev, mm, d_ih, d_hh, m, ids, dW_ihT, db_hh, db_n,
        fill_ih, W_hh, drop, rows,
    ):  # fmt: skip
        """Every step of ``backward``, t = T − 1 … 0: ``_backward_step``, then
        dh_{t−1} = dh z + d_hh W_hh ⊙ drop (padding: dh_t), ``rows`` rows per product.  dh:
        [B, H], ∂L/∂h_T in and ∂L/∂h_0 out (copied back when it ends in the scratch array
        dh_prev; mm [B, H] scratch)."""
        B, H = dh.shape
        dropped, masked = drop.shape[0] > 0, m.shape[0] > 0
        dh_in = dh
        for t in range(gates.shape[0] - 1, -1, -1):
            _backward_step(
                gates, hs, a_hn, douts, t, dh, d_ih, d_hh, dh_prev, m, ids, dW_ihT, db_hh,
                db_n, fill_ih,
            )  # fmt: skip
            da = d_hh[t]
            for b in range(0, B, rows):
                np.dot(da[b : b + rows], W_hh, mm[b : b + rows])
            for b in range(B):
                d, e = dh_prev[b], mm[b]
                if masked and m[t, b] == 0:  # padding: ∂L/∂h passes through unchanged
                    d[:] = dh[b]
                elif dropped:
                    r = drop[b]
                    for j in range(H):
                        d[j] += e[j] * r[j]
                else:
                    for j in range(H):
                        d[j] += e[j]
            dh, dh_prev = dh_prev, dh
        if dh is not dh_in:  # an odd number of steps: the result is in the scratch array
            dh_in[:] = dh


def forward(
    cell,
    p: dict,
    xs: np.ndarray,
    state0: tuple,
    opts: CellOptions,
    mask: np.ndarray | None = None,
    drop: np.ndarray | None = None,
):
    """outs [T, B, H], (h_T,), cache — as ``unroll.forward`` with ``cells.gru``, for vectors
    ``xs: [T, B, I]`` or token ids ``xs: [T, B]`` (one-hot rows of width I)."""
    T, B = xs.shape[:2]
    H = state0[0].shape[1]
    dt = np.float32
    ids = seq.token_ids(xs)
    xs = ids if xs.ndim == 2 else xs
    tau, P, W_hhT, b_hn, hs, a_hn = prelude.gru(p, xs, state0)  # r, z rows halved
    mk = seq.prepare_mask(mask, T, B, dt)
    m = seq.mask_rows(mk, T, B)
    outs = np.empty((T, B, H), dt) if mk is not None else np.empty((0, 0, 0), dt)
    q, h_rec = np.empty((B, 3 * H), dt), np.empty((B, H), dt)
    rows = seq.loop_rows(B, H, 3 * H) if LOOP else 0
    if rows:
        d = np.empty((0, 0), dt) if drop is None else np.ascontiguousarray(drop, dt)
        _forward_loop(tau, P, ids, W_hhT, b_hn, hs, a_hn, outs, m, d, h_rec, q, rows)
    for t in range(0 if rows else T):
        h_in = hs[t] if drop is None else np.multiply(hs[t], drop, out=h_rec)
        np.matmul(h_in, W_hhT, out=q)  # q = h_rec W_hhᵀ  (r, z rows halved)
        _forward_step(tau, P, ids, q, b_hn, t, hs, a_hn, outs, m)
    outs = hs[1:].copy() if mk is None else outs
    cache = Cache(xs, hs, tau, a_hn, mk, drop, leased(hs, tau, a_hn))
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
    """(dxs [T, B, I] or None, (dh_0,), grads) — as ``unroll.backward`` with ``cells.gru``.

    ``need_dx=False`` skips the input gradient (for token ids, ∂L/∂ of their one-hot rows).
    """
    hs, tau, a_hn, mk, drop = cache.hs, cache.tau, cache.a_hn, cache.mask, cache.drop
    T, B, H = a_hn.shape
    dt = np.float32
    W_hh = p["weight_hh"]
    douts = np.ascontiguousarray(douts, dtype=dt)
    m = seq.mask_rows(mk, T, B)
    ids, tokens = seq.token_ids(cache.xs), cache.xs.ndim == 2
    d_ih = POOL.take((T, B, 3 * H), dt)  # ∂L/∂a_ih = [da_r | da_z | da_n]
    d_hh = POOL.take((T, B, 3 * H), dt)  # ∂L/∂a_hh = [da_r | da_z | da_hn]
    dW_ihT = np.zeros((p["weight_ih"].shape[1], 3 * H) if tokens else (0, 0), dt)
    db_hh, db_n = np.zeros((T, 3 * H), dt), np.zeros((T, H), dt)  # Σ_b per step
    dh_next, dh_prev = np.array(dstate[0], dtype=dt), np.empty((B, H), dt)
    mm = np.empty((B, H), dt)
    rows = seq.loop_rows(B, 3 * H, H) if LOOP else 0
    if rows:
        d = np.empty((0, 0), dt) if drop is None else np.ascontiguousarray(drop, dt)
        W = np.ascontiguousarray(W_hh, dt)
        _backward_loop(
            tau, hs, a_hn, douts, dh_next, dh_prev, mm, d_ih, d_hh, m, ids, dW_ihT, db_hh,
            db_n, need_dx or not tokens, W, d, rows,
        )  # fmt: skip
    for t in reversed(range(0 if rows else T)):
        _backward_step(
            tau,
            hs,
            a_hn,
            douts,
            t,
            dh_next,
            d_ih,
            d_hh,
            dh_prev,
            m,
            ids,
            dW_ihT,
            db_hh,
            db_n,
            need_dx or not tokens,
        )
        np.matmul(d_hh[t], W_hh, out=mm)  # [da_r | da_z | da_hn] W_hh
        if drop is not None:
            mm *= drop
        dh_prev += mm  # dh_{t−1} = dh z + …
        if mk is not None:  # a padded step passes its incoming gradient through unchanged
            np.copyto(dh_prev, dh_next, where=mk.off[t])
        dh_next, dh_prev = dh_prev, dh_next
    db_hh, db_n = (s.sum(axis=0, dtype=np.float64).astype(dt) for s in (db_hh, db_n))
    db_ih = np.concatenate([db_hh[: 2 * H], db_n])
    dW_ih = np.ascontiguousarray(dW_ihT.T) if tokens else None
    dxs, grads = seq.split_gate_grads(
        p, cache.xs, hs, drop, d_ih, d_hh, need_dx, db_ih, db_hh, dW_ih
    )
    POOL.give(d_ih, d_hh)
    return dxs, (dh_next,), grads
