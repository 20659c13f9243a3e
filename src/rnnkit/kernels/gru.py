"""GRU fast path: the reference's equations (``rnnkit.cells.gru``) with the work regrouped.

Same contract and results as ``rnnkit.cells.unroll.forward/backward`` for the GRU with
``reset_after=True`` (PyTorch's form) and no layer norm, in float32 and float64.  The gates
stay in the order r, z, n; σ(a) = ½ (1 + tanh(a/2)), with the r and z rows of W_ih, W_hh and
their biases halved once per call (exact in binary floating point)::

    gx  = x_t W_ihᵀ + b_ih (+ b_hh for r, z)          (for all t in one product)
    q   = h_rec W_hhᵀ                                  (the one product inside the loop)
    r, z = ½ (1 + tanh(gx_rz + q_rz))      a_hn = q_n + b_hn
    n   = tanh(gx_n + r ⊙ a_hn)            h_t = n + z ⊙ (h_{t−1} − n)

Backward (see ``rnnkit.cells.gru``): every factor that does not depend on the recurrence is
computed first, for all steps at once::

    P_r = a_hn ⊙ r(1−r)      P_z = (h_{t−1} − n) ⊙ z(1−z)      P_n = (1 − z) ⊙ (1 − n²)

and a step is then::

    dh   = dout_t + dh_next
    da_z = dh ⊙ P_z                          da_n = dh ⊙ P_n
    [da_r | da_hn] = da_n ⊙ [P_r | r]
    dh_{t−1} = dh ⊙ z + [da_r | da_z | da_hn] W_hh   (the product ⊙ drop)

then dW_hh, dW_ih, dxs (unless ``need_dx=False``) and both biases in one product or sum each.
The arrays a call saves or scratches come from ``_workspace.POOL``; the elementwise work is
in-place ufuncs.
"""

from typing import NamedTuple

import numpy as np

from ..cells import CellOptions
from . import prelude
from . import sequence as seq
from ._workspace import POOL, Lease, leased


class Cache(NamedTuple):
    xs: np.ndarray  # [T, B, I]
    hs: np.ndarray  # [T + 1, B, H] h_0 … h_T (the carried state, after the mask)
    gates: np.ndarray  # [T, B, 3H] r, z, n after their nonlinearities
    a_hn: np.ndarray  # [T, B, H] h_rec W_hnᵀ + b_hn, the term r multiplies
    mask: seq.Mask | None
    drop: np.ndarray | None  # [B, H] recurrent dropout mask
    lease: Lease  # hs, gates and a_hn return to the pool with the cache


def supports(opts: CellOptions, dtype) -> bool:
    """The GRU with reset_after=True and no layer norm, in float32 or float64."""
    return opts.reset_after and not opts.layer_norm and np.dtype(dtype) in (np.float32, np.float64)


def forward(
    cell,
    p: dict,
    xs: np.ndarray,
    state0: tuple,
    opts: CellOptions,
    mask: np.ndarray | None = None,
    drop: np.ndarray | None = None,
):
    """outs [T, B, H], (h_T,), cache — as ``unroll.forward`` with ``cells.gru``."""
    T, B, _ = xs.shape
    H = state0[0].shape[1]
    dt = xs.dtype
    gates, _, W_hhT, b_hn, hs, a_hn = prelude.gru(p, xs, state0)  # r, z rows halved
    mk = seq.prepare_mask(mask, T, B, dt)
    outs = np.empty((T, B, H), dt) if mk is not None else None
    q, h_rec = np.empty((B, 3 * H), dt), np.empty((B, H), dt)
    for t in range(T):
        h_prev = hs[t]
        h_in = h_prev if drop is None else np.multiply(h_prev, drop, out=h_rec)
        np.matmul(h_in, W_hhT, out=q)  # q = h_rec W_hhᵀ  (r, z rows halved)
        a = gates[t]
        rz, n = a[:, : 2 * H], a[:, 2 * H :]
        rz += q[:, : 2 * H]
        np.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5  # r, z = σ(gx + q + b_hh)
        ahn = np.add(q[:, 2 * H :], b_hn, out=a_hn[t])  # a_hn = h_rec W_hnᵀ + b_hn
        n += np.multiply(a[:, :H], ahn, out=q[:, :H])
        np.tanh(n, out=n)  # n = tanh(gx_n + r ⊙ a_hn)
        h = np.subtract(h_prev, n, out=hs[t + 1])
        h *= a[:, H : 2 * H]
        h += n  # h_t = n + z ⊙ (h_{t−1} − n)
        if mk is not None:  # out_t = m ? h_t : 0;  state_t = m ? h_t : h_{t−1}
            assert outs is not None  # allocated with the mask
            np.multiply(h, mk.m[t], out=outs[t])
            np.copyto(h, h_prev, where=mk.off[t])
    outs = hs[1:].copy() if outs is None else outs
    cache = Cache(xs, hs, gates, a_hn, mk, drop, leased(hs, gates, a_hn))
    return outs, (hs[T].copy(),), cache


def _factors(cache: Cache) -> tuple[np.ndarray, np.ndarray]:
    """(P [4, T, B, H] = P_r, P_z, r, P_n;  z [T, B, H]) for every step at once (pool buffers).

    The gates are first copied into planes of their own: elementwise passes over whole
    contiguous planes run several times faster than over the strided gate columns.
    """
    T, B, H = cache.a_hn.shape
    G = POOL.take((3, T, B, H), cache.a_hn.dtype)
    np.copyto(G, cache.gates.reshape(T, B, 3, H).transpose(2, 0, 1, 3))
    r, z, n = G
    P = POOL.take((4, T, B, H), r.dtype)
    P_r, P_z, P_rr, P_n = P
    np.subtract(1, r, out=P_r)
    P_r *= r
    P_r *= cache.a_hn  # P_r = a_hn ⊙ r(1−r)
    np.subtract(1, z, out=P_z)
    P_z *= z
    np.subtract(cache.hs[:T], n, out=P_n)  # (scratch)
    P_z *= P_n  # P_z = (h_{t−1} − n) ⊙ z(1−z)
    np.subtract(1, z, out=P_rr)  # (scratch)
    np.multiply(n, n, out=P_n)
    np.subtract(1, P_n, out=P_n)
    P_n *= P_rr  # P_n = (1 − z) ⊙ (1 − n²)
    np.copyto(P_rr, r)
    return P, G


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

    ``need_dx=False`` skips the input gradient (returns None in its place).
    """
    xs, hs, _, a_hn, mk, drop = cache[:6]
    T, B, H = a_hn.shape
    dt = hs.dtype
    W_hh = p["weight_hh"]
    P, G = _factors(cache)
    z = G[1]
    d_ih = POOL.take((T, B, 3 * H), dt)  # ∂L/∂a_ih = [da_r | da_z | da_n]
    d_hh = POOL.take((T, B, 3 * H), dt)  # ∂L/∂a_hh = [da_r | da_z | da_hn]
    d_hh3 = d_hh.reshape(T, B, 3, H)
    dh_next, dh_prev = np.array(dstate[0], dtype=dt), np.empty((B, H), dt)
    dh, mm = np.empty((B, H), dt), np.empty((B, H), dt)
    for t in reversed(range(T)):
        np.add(douts[t], dh_next, out=dh)  # h is both the output and the state
        if mk is not None:
            dh *= mk.m[t]
        np.multiply(dh, P[1, t], out=d_hh[t, :, H : 2 * H])  # da_z = dh ⊙ P_z
        da_n = np.multiply(dh, P[3, t], out=d_ih[t, :, 2 * H :])  # da_n = dh ⊙ P_n
        np.multiply(da_n, P[0:3:2, t], out=d_hh3[t, :, ::2].transpose(1, 0, 2))  # da_r, da_hn
        np.matmul(d_hh[t], W_hh, out=mm)  # [da_r | da_z | da_hn] W_hh
        if drop is not None:
            mm *= drop
        np.multiply(dh, z[t], out=dh_prev)
        dh_prev += mm  # dh_{t−1} = dh ⊙ z + …
        if mk is not None:  # a padded step passes its incoming gradient through unchanged
            np.copyto(dh_prev, dh_next, where=mk.off[t])
        dh_next, dh_prev = dh_prev, dh_next
    POOL.give(P, G)
    d_ih[:, :, : 2 * H] = d_hh[:, :, : 2 * H]  # da_r, da_z
    dxs, grads = seq.split_gate_grads(
        p, xs, hs, drop, d_ih, d_hh, need_dx, seq.bias_grad(d_ih), seq.bias_grad(d_hh)
    )
    POOL.give(d_ih, d_hh)
    return dxs, (dh_next,), grads
