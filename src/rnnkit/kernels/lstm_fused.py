"""LSTM fused path (float32): ``kernels.lstm`` with each step's gate math in one compiled pass.

Same contract and results as ``rnnkit.cells.unroll.forward/backward`` for the LSTM without
peepholes or layer norm, in float32 (float64 keeps to ``kernels.lstm``).  The products are
``kernels.lstm``'s — x W_ihᵀ + b for all steps before the loop, one recurrent product per
step, one product per weight gradient after it — and so is the halving of the sigmoid rows
(σ(z) = ½ + ½ tanh(z/2)).  What changes is that the elementwise work of a step is one call
of a compiled loop (``_jit``) instead of eight to twelve NumPy calls.

Forward step t, for each row b and unit j (a = the step's pre-activations, sigmoid rows
halved; the cache keeps τ_k = tanh(a_k), from which every gate is recovered)::

    τ = tanh(a + h_{t−1} W_hhᵀ)                       i, f, o = ½ + ½ τ_{i,f,o};  g = τ_g
    c_t = f c_{t−1} + i g        h_t = o tanh(c_t)     (padding: state_t = state_{t−1}, out 0)

Backward step t (m = the mask, 1 without one)::

    dh = m (dout_t + dh_next)           dc = m dc_next + dh o (1 − tanh² c_t)
    da_i = dc g i(1−i)       da_f = dc c_{t−1} f(1−f)
    da_g = dc i (1 − g²)     da_o = dh tanh(c_t) o(1−o)
    dc_{t−1} = dc f  (padding: dc_next)      dh_{t−1} = da W_hh ⊙ drop  (padding: dh_next)
"""

from typing import NamedTuple

import numpy as np

from ..cells import CellOptions
from . import prelude
from . import sequence as seq
from ._jit import (
    ARRAY2,
    ARRAY3,
    BLAS,
    HALF,
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
"""Whether the time loop may be one compiled call, its recurrent products by BLAS from
compiled code in row blocks (``seq.loop_rows``), rather than a Python loop of a NumPy product
and a compiled step each step (the same arithmetic; tests switch it off)."""


class Cache(NamedTuple):
    xs: np.ndarray  # [T, B, I] vectors, or [T, B] int64 token ids
    hs: np.ndarray  # [T + 1, B, H] h_0 … h_T (the carried state, after the mask)
    cs: np.ndarray  # [T + 1, B, H] c_0 … c_T
    tau: np.ndarray  # [T, B, 4H] τ = tanh of the pre-activations, sigmoid rows halved
    tanh_c: np.ndarray  # [T, B, H] tanh(c_t) (of the step's own c_t, before the mask)
    mask: seq.Mask | None
    drop: np.ndarray | None  # [B, H] recurrent dropout mask
    lease: Lease  # hs, cs, tau and tanh_c return to the pool with the cache


def supports(opts: CellOptions, dtype) -> bool:
    """The plain LSTM (no peepholes, no layer norm) in float32."""
    return not opts.peepholes and not opts.layer_norm and np.dtype(dtype) == np.float32


@compiled(
    f"void({ARRAY3}, {ARRAY2}, {IDS}, {ARRAY2}, int64, {ARRAY3}, {ARRAY3}, {ARRAY3}, "
    f"{ARRAY3}, {ARRAY2})"
)
def _forward_step(tau, P, ids, q, t, hs, cs, tanh_c, outs, m):
    """Step t: τ[t] = tanh(x_t W_ihᵀ + b + q), then c, tanh c, h (and outs when masked).

    x_t W_ihᵀ + b is τ[t] as the input product left it, or for token ids (ids: [T, B];
    [0, 0] for vectors) the row P[id]; m: [T, B] ([0, 0] without a mask).
    """
    B, G = q.shape
    H = G // 4
    masked = m.shape[0] > 0
    if ids.shape[0] > 0:
        copy_token_rows(P, ids, t, tau)  # x_t W_ihᵀ + b = P[id]
    for b in range(B):
        a, qb = tau[t, b], q[b]
        for k in range(G):
            a[k] = tanh32(a[k] + qb[k])
        c_prev, c, h, tc = cs[t, b], cs[t + 1, b], hs[t + 1, b], tanh_c[t, b]
        a_i, a_f, a_g, a_o = a[:H], a[H : 2 * H], a[2 * H : 3 * H], a[3 * H :]
        # three loops over few arrays each: one over all of them ran 20 % slower
        for j in range(H):
            c[j] = (HALF * a_f[j] + HALF) * c_prev[j] + (HALF * a_i[j] + HALF) * a_g[j]
        for j in range(H):
            tc[j] = tanh32(c[j])  # c_t = f c_{t−1} + i g, and tanh c_t
        for j in range(H):
            h[j] = (HALF * a_o[j] + HALF) * tc[j]  # h_t = o tanh(c_t)
        if masked:
            if m[t, b] == 0:  # padding: the state carries over, the output is 0
                h[:] = hs[t, b]
                c[:] = c_prev
                outs[t, b] = 0
            else:
                outs[t, b] = h


@compiled(
    f"void({ARRAY3}, {ARRAY3}, {ARRAY3}, {ARRAY3}, int64, {ARRAY2}, {ARRAY2}, "
    f"{ARRAY3}, {ARRAY2}, {ARRAY2}, {IDS}, {ARRAY2}, {ARRAY2})"
)
def _backward_step(tau, cs, tanh_c, douts, t, dh_next, dc_next, dA, dc_prev, m, ids, dW_ihT, db):
    """Step t: da = dA[t] and dc_{t−1} from dh_next, dc_next; db[t] = Σ_b da, and for token
    ids dW_ihᵀ[id] += da (m, ids: [T, B], or [0, 0] without a mask / for vectors).

    Two passes per row, each over few arrays: one loop over many arrays at four offsets does
    not vectorise.
    """
    B, H = dh_next.shape
    masked, tokens = m.shape[0] > 0, ids.shape[0] > 0
    for b in range(B):
        mk = m[t, b] if masked else ONE
        a, da, c_prev, tc = tau[t, b], dA[t, b], cs[t, b], tanh_c[t, b]
        dout, dhn, dcn, dc = douts[t, b], dh_next[b], dc_next[b], dc_prev[b]
        a_o, da_o = a[3 * H :], da[3 * H :]
        for j in range(H):
            o = HALF * a_o[j] + HALF
            dh = mk * (dout[j] + dhn[j])
            dc[j] = mk * dcn[j] + dh * o * (ONE - tc[j] * tc[j])
            da_o[j] = dh * tc[j] * o * (ONE - o)
        a_i, a_f, a_g = a[:H], a[H : 2 * H], a[2 * H : 3 * H]
        da_i, da_f, da_g = da[:H], da[H : 2 * H], da[2 * H : 3 * H]
        for j in range(H):
            i = HALF * a_i[j] + HALF
            f = HALF * a_f[j] + HALF
            g = a_g[j]
            da_i[j] = dc[j] * g * i * (ONE - i)
            da_f[j] = dc[j] * c_prev[j] * f * (ONE - f)
            da_g[j] = dc[j] * i * (ONE - g * g)
            dc[j] *= f  # dc_{t−1} = dc f
        if mk == 0:  # padding: dc_{t−1} = dc_next
            dc[:] = dcn
        db_t = db[t]
        for k in range(4 * H):
            db_t[k] += da[k]  # db_t = Σ_b da
    if tokens:
        add_token_rows(dA, ids, t, dW_ihT)  # dW_ihᵀ[id] += da


if BLAS:  # Numba calls BLAS (through SciPy): the whole time loop in one compiled call

    @compiled(
        f"void({ARRAY3}, {ARRAY2}, {IDS}, {ARRAY2}, {ARRAY3}, {ARRAY3}, {ARRAY3}, {ARRAY3}, "
        f"{ARRAY2}, {ARRAY2}, {ARRAY2}, {ARRAY2}, int64)"
    )
    def _forward_loop(tau, P, ids, W_hhT, hs, cs, tanh_c, outs, m, drop, h_rec, q, rows):
        """Every step of ``forward``: q = h_rec W_hhᵀ, ``rows`` rows per product, then
        ``_forward_step`` (drop: [B, H], or [0, 0] without recurrent dropout; h_rec [B, H]
        and q [B, 4H] scratch)."""
        B = q.shape[0]
        dropped = drop.shape[0] > 0
        for t in range(tau.shape[0]):
            h = hs[t]
            if dropped:
                np.multiply(h, drop, h_rec)
                h = h_rec
            for b in range(0, B, rows):
                np.dot(h[b : b + rows], W_hhT, q[b : b + rows])
            _forward_step(tau, P, ids, q, t, hs, cs, tanh_c, outs, m)

    @compiled(
        f"void({ARRAY3}, {ARRAY3}, {ARRAY3}, {ARRAY3}, {ARRAY2}, {ARRAY2}, {ARRAY2}, "
        f"{ARRAY2}, {ARRAY3}, {ARRAY2}, {IDS}, {ARRAY2}, {ARRAY2}, {ARRAY2}, {ARRAY2}, int64)"
    )
    def _backward_loop(
        tau, cs, tanh_c, douts, dh, dh_prev, dc, dc_prev, dA, m, ids, dW_ihT, db, W_hh, drop, rows
    ):
        """Every step of ``backward``, t = T − 1 … 0: ``_backward_step``, then
        dh_{t−1} = da W_hh ⊙ drop (padding: dh_t), ``rows`` rows per product.  dh, dc:
        [B, H], ∂L/∂h_T, ∂L/∂c_T in and ∂L/∂h_0, ∂L/∂c_0 out (the loop copies them back
        when they end up in the scratch arrays dh_prev, dc_prev)."""
        B, H = dh.shape
        dropped, masked = drop.shape[0] > 0, m.shape[0] > 0
        dh_in, dc_in = dh, dc
        for t in range(tau.shape[0] - 1, -1, -1):
            _backward_step(tau, cs, tanh_c, douts, t, dh, dc, dA, dc_prev, m, ids, dW_ihT, db)
            da = dA[t]
            for b in range(0, B, rows):
                np.dot(da[b : b + rows], W_hh, dh_prev[b : b + rows])
            for b in range(B):
                if masked and m[t, b] == 0:  # padding: ∂L/∂h passes through unchanged
                    dh_prev[b] = dh[b]
                elif dropped:
                    d, r = dh_prev[b], drop[b]
                    for j in range(H):
                        d[j] *= r[j]
            dh, dh_prev = dh_prev, dh
            dc, dc_prev = dc_prev, dc
        if dh is not dh_in:  # an odd number of steps: the results are in the scratch arrays
            dh_in[:] = dh
            dc_in[:] = dc


def forward(
    cell,
    p: dict,
    xs: np.ndarray,
    state0: tuple,
    opts: CellOptions,
    mask: np.ndarray | None = None,
    drop: np.ndarray | None = None,
):
    """outs [T, B, H], (h_T, c_T), cache — as ``unroll.forward`` with ``cells.lstm``, for
    vectors ``xs: [T, B, I]`` or token ids ``xs: [T, B]`` (one-hot rows of width I)."""
    T, B = xs.shape[:2]
    H = state0[0].shape[1]
    dt = np.float32
    ids = seq.token_ids(xs)
    xs = ids if xs.ndim == 2 else xs
    tau, P, W_hhT, hs, cs, tanh_c = prelude.lstm(p, xs, state0)  # sigmoid rows halved
    mk = seq.prepare_mask(mask, T, B, dt)
    m = seq.mask_rows(mk, T, B)
    outs = np.empty((T, B, H), dt) if mk is not None else np.empty((0, 0, 0), dt)
    q, h_rec = np.empty((B, 4 * H), dt), np.empty((B, H), dt)
    rows = seq.loop_rows(B, H, 4 * H) if LOOP else 0
    if rows:
        d = np.empty((0, 0), dt) if drop is None else np.ascontiguousarray(drop, dt)
        _forward_loop(tau, P, ids, W_hhT, hs, cs, tanh_c, outs, m, d, h_rec, q, rows)
    for t in range(0 if rows else T):
        h_prev = hs[t] if drop is None else np.multiply(hs[t], drop, out=h_rec)
        np.matmul(h_prev, W_hhT, out=q)  # h_{t−1} W_hhᵀ
        _forward_step(tau, P, ids, q, t, hs, cs, tanh_c, outs, m)
    outs = hs[1:].copy() if mk is None else outs
    cache = Cache(xs, hs, cs, tau, tanh_c, mk, drop, leased(hs, cs, tau, tanh_c))
    return outs, (hs[T].copy(), cs[T].copy()), cache


def backward(
    cell,
    p: dict,
    cache: Cache,
    douts: np.ndarray,
    dstate: tuple,
    opts: CellOptions,
    need_dx: bool = True,
):
    """(dxs [T, B, I] or None, (dh_0, dc_0), grads) — as ``unroll.backward`` with ``cells.lstm``.

    ``need_dx=False`` skips the input gradient (for token ids, ∂L/∂ of their one-hot rows).
    """
    T, B, H = cache.tanh_c.shape
    dt = np.float32
    W_hh = p["weight_hh"]  # [4H, H], unscaled
    douts = np.ascontiguousarray(douts, dtype=dt)
    m = seq.mask_rows(cache.mask, T, B)
    ids, tokens = seq.token_ids(cache.xs), cache.xs.ndim == 2
    dA = POOL.take((T, B, 4 * H), dt)
    dW_ihT = np.zeros((p["weight_ih"].shape[1], 4 * H) if tokens else (0, 0), dt)
    db = np.zeros((T, 4 * H), dt)  # Σ_b da per step
    dh_next, dh_prev = np.array(dstate[0], dtype=dt), np.empty((B, H), dt)
    dc_next, dc_prev = np.array(dstate[1], dtype=dt), np.empty((B, H), dt)
    rows = seq.loop_rows(B, 4 * H, H) if LOOP else 0
    if rows:
        d = np.empty((0, 0), dt) if cache.drop is None else np.ascontiguousarray(cache.drop, dt)
        W = np.ascontiguousarray(W_hh, dt)
        _backward_loop(
            cache.tau, cache.cs, cache.tanh_c, douts, dh_next, dh_prev, dc_next, dc_prev,
            dA, m, ids, dW_ihT, db, W, d, rows,
        )  # fmt: skip
    for t in reversed(range(0 if rows else T)):
        _backward_step(
            cache.tau,
            cache.cs,
            cache.tanh_c,
            douts,
            t,
            dh_next,
            dc_next,
            dA,
            dc_prev,
            m,
            ids,
            dW_ihT,
            db,
        )
        np.matmul(dA[t], W_hh, out=dh_prev)  # dh_{t−1} = da W_hh
        if cache.drop is not None:
            dh_prev *= cache.drop
        if cache.mask is not None:  # a padded step passes its incoming gradient through
            np.copyto(dh_prev, dh_next, where=cache.mask.off[t])
        dh_next, dh_prev = dh_prev, dh_next
        dc_next, dc_prev = dc_prev, dc_next
    dW_ih = np.ascontiguousarray(dW_ihT.T) if tokens else None
    db = db.sum(axis=0, dtype=np.float64).astype(dt)
    dxs, grads = seq.gate_grads(p, cache.xs, cache.hs, cache.drop, dA, need_dx, db, dW_ih)
    POOL.give(dA)
    return dxs, (dh_next, dc_next), grads
