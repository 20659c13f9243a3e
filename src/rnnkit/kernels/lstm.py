"""LSTM fast path: the reference's equations (``rnnkit.cells.lstm``) with the work regrouped.

Same contract and results as ``rnnkit.cells.unroll.forward/backward`` for the LSTM without
peepholes or layer norm, in float32 and float64.  What changes is only how the arithmetic is
grouped, each choice measured by ``rnnkit bench``:

* σ(a) = ½ (1 + tanh(a/2)): the i, f, o rows of W_ih, W_hh and the bias are halved once per
  call (exact in binary floating point), so one ``tanh`` over the whole [B, 4H] block and one
  multiply-add with per-row vectors (α = ½ | 1, β = ½ | 0) give every gate of a step::

      a   = x_t W_ihᵀ + b_ih + b_hh + h_{t−1} W_hhᵀ     (x_t W_ihᵀ + b for all t in one product)
      i, f, g, o = α ⊙ tanh(a) + β                       (gate order i, f, g, o as the reference)
      c_t = f ⊙ c_{t−1} + i ⊙ g             h_t = o ⊙ tanh(c_t)

* the arrays a call saves or scratches come from ``_workspace.POOL``; the elementwise work is
  in-place ufuncs with ``out=``; the only product inside the loop is the one with h_{t−1}
  (forward) and with da_t (backward);
* the backward (see ``rnnkit.cells.lstm`` for its derivation) first computes, for all steps
  at once, every factor that does not depend on the recurrence::

      P_i = g ⊙ i(1−i)    P_f = c_{t−1} ⊙ f(1−f)    P_g = i ⊙ (1−g²)    P_o = τ ⊙ o(1−o)
      P_c = o ⊙ (1 − τ²)                                                  (τ = tanh c_t)

  so that a step is a handful of products with them::

      dh = dout_t + dh_next                  dc = dc_next + dh ⊙ P_c
      [da_i | da_f | da_g] = dc ⊙ [P_i | P_f | P_g]        da_o = dh ⊙ P_o
      dc_{t−1} = dc ⊙ f                       dh_{t−1} = da W_hh   (⊙ drop)

  then dW_hh = daᵀ h_rec, dW_ih = daᵀ xs, dxs = da W_ih (unless ``need_dx=False``) and
  db = Σ da, one product each.
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
    cs: np.ndarray  # [T + 1, B, H] c_0 … c_T
    gates: np.ndarray  # [T, B, 4H] i, f, g, o after their nonlinearities
    tanh_c: np.ndarray  # [T, B, H] τ = tanh(c_t) (of the step's own c_t, before the mask)
    mask: seq.Mask | None
    drop: np.ndarray | None  # [B, H] recurrent dropout mask
    lease: Lease  # hs, cs, gates and tanh_c return to the pool with the cache


def supports(opts: CellOptions, dtype) -> bool:
    """The plain LSTM (no peepholes, no layer norm) in float32 or float64."""
    return (
        not opts.peepholes and not opts.layer_norm and np.dtype(dtype) in (np.float32, np.float64)
    )


def forward(
    cell,
    p: dict,
    xs: np.ndarray,
    state0: tuple,
    opts: CellOptions,
    mask: np.ndarray | None = None,
    drop: np.ndarray | None = None,
):
    """outs [T, B, H], (h_T, c_T), cache — as ``unroll.forward`` with ``cells.lstm``."""
    T, B, _ = xs.shape
    H = state0[0].shape[1]
    dt = xs.dtype
    alpha, beta = prelude.lstm_affine(H, dt)
    gates, _, W_hhT, hs, cs, tanh_c = prelude.lstm(p, xs, state0)  # sigmoid rows halved
    mk = seq.prepare_mask(mask, T, B, dt)
    outs = np.empty((T, B, H), dt) if mk is not None else None
    q, ig = np.empty((B, 4 * H), dt), np.empty((B, H), dt)
    h_rec = np.empty((B, H), dt)
    for t in range(T):
        h_prev = hs[t]
        if drop is not None:
            h_prev = np.multiply(h_prev, drop, out=h_rec)
        a = gates[t]
        a += np.matmul(h_prev, W_hhT, out=q)  # a = x W_ihᵀ + b + h_{t−1} W_hhᵀ  (i, f, o halved)
        np.tanh(a, out=a)
        a *= alpha
        a += beta  # i, f, o = ½ (1 + tanh(a/2));  g = tanh(a_g)
        c = cs[t + 1]
        np.multiply(a[:, H : 2 * H], cs[t], out=c)
        c += np.multiply(a[:, :H], a[:, 2 * H : 3 * H], out=ig)  # c_t = f ⊙ c_{t−1} + i ⊙ g
        h = np.multiply(a[:, 3 * H :], np.tanh(c, out=tanh_c[t]), out=hs[t + 1])
        if mk is not None:  # out_t = m ? h_t : 0;  state_t = m ? state_t : state_{t−1}
            assert outs is not None  # allocated with the mask
            np.multiply(h, mk.m[t], out=outs[t])
            np.copyto(h, hs[t], where=mk.off[t])
            np.copyto(c, cs[t], where=mk.off[t])
    outs = hs[1:].copy() if outs is None else outs
    cache = Cache(xs, hs, cs, gates, tanh_c, mk, drop, leased(hs, cs, gates, tanh_c))
    return outs, (hs[T].copy(), cs[T].copy()), cache


def _factors(cache: Cache) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P [4, T, B, H] = P_i, P_f, P_g, P_o;  P_c [T, B, H];  gates [4, T, B, H] = i, f, g, o)
    for every step at once (pool buffers).

    The gates are first copied into planes of their own: elementwise passes over whole
    contiguous planes run several times faster than over the strided gate columns.
    """
    T, B, H = cache.tanh_c.shape
    tc = cache.tanh_c
    G = POOL.take((4, T, B, H), tc.dtype)
    np.copyto(G, cache.gates.reshape(T, B, 4, H).transpose(2, 0, 1, 3))
    i, g, o = G[0], G[2], G[3]
    P = POOL.take((4, T, B, H), tc.dtype)
    np.subtract(1, G, out=P)
    P *= G  # s(1 − s) for i, f, o (the g plane is overwritten below)
    P[0] *= g  # P_i = g ⊙ i(1−i)
    P[1] *= cache.cs[:T]  # P_f = c_{t−1} ⊙ f(1−f)
    P_g = np.multiply(g, g, out=P[2])
    np.subtract(1, P_g, out=P_g)
    P_g *= i  # P_g = i ⊙ (1 − g²)
    P[3] *= tc  # P_o = τ ⊙ o(1−o)
    P_c = POOL.take((T, B, H), tc.dtype)
    np.multiply(tc, tc, out=P_c)
    np.subtract(1, P_c, out=P_c)
    P_c *= o  # P_c = o ⊙ (1 − τ²)
    return P, P_c, G


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

    ``need_dx=False`` skips the input gradient (returns None in its place).
    """
    hs, tanh_c, mk, drop = cache.hs, cache.tanh_c, cache.mask, cache.drop
    T, B, H = tanh_c.shape
    dt = hs.dtype
    W_hh = p["weight_hh"]  # [4H, H], unscaled
    P, P_c, G = _factors(cache)
    dA = POOL.take((T, B, 4 * H), dt)
    dA4 = dA.reshape(T, B, 4, H)
    f = G[1]
    dh_next, dh_prev = np.array(dstate[0], dtype=dt), np.empty((B, H), dt)
    dc_next, dc_prev = np.array(dstate[1], dtype=dt), np.empty((B, H), dt)
    dh, dc, t1 = np.empty((B, H), dt), np.empty((B, H), dt), np.empty((B, H), dt)
    for t in reversed(range(T)):
        np.add(douts[t], dh_next, out=dh)  # h is both the output and the state
        if mk is not None:
            dh *= mk.m[t]
        np.multiply(dh, P_c[t], out=dc)
        dc += dc_next if mk is None else np.multiply(dc_next, mk.m[t], out=t1)  # + dc_next
        np.multiply(dc, P[:3, t], out=dA4[t, :, :3].transpose(1, 0, 2))  # da_i, da_f, da_g
        np.multiply(dh, P[3, t], out=dA4[t, :, 3])  # da_o = dh ⊙ P_o
        np.multiply(dc, f[t], out=dc_prev)  # dc_{t−1} = dc ⊙ f
        np.matmul(dA[t], W_hh, out=dh_prev)  # dh_{t−1} = da W_hh
        if drop is not None:
            dh_prev *= drop
        if mk is not None:  # a padded step passes its incoming gradient through unchanged
            np.copyto(dh_prev, dh_next, where=mk.off[t])
            np.copyto(dc_prev, dc_next, where=mk.off[t])
        dh_next, dh_prev = dh_prev, dh_next
        dc_next, dc_prev = dc_prev, dc_next
    POOL.give(P, P_c, G)
    dxs, grads = seq.gate_grads(p, cache.xs, hs, drop, dA, need_dx)
    POOL.give(dA)
    return dxs, (dh_next, dc_next), grads
