"""LSTM fast path: the reference's equations (``rnnkit.cells.lstm``) with the work regrouped.

Same contract and results as ``rnnkit.cells.unroll.forward/backward`` for the LSTM without
peepholes or layer norm, in float32 and float64.  What changes is only how the arithmetic is
grouped, each choice measured by ``rnnkit bench``:

* the gates are kept in the order i, f, o, g, so the three sigmoid gates are one block;
* σ(a) = ½ (1 + tanh(a/2)): the sigmoid rows of W_ih, W_hh and the bias are halved once per
  call (exact in binary floating point), so one ``tanh`` over the whole [B, 4H] block and one
  multiply-add give every gate of a step::

      a   = x_t W_ihᵀ + b_ih + b_hh + h_{t−1} W_hhᵀ     (x_t W_ihᵀ + b for all t in one product)
      i, f, o = ½ (1 + tanh(a_ifo / 2))     g = tanh(a_g)
      c_t = f ⊙ c_{t−1} + i ⊙ g             h_t = o ⊙ tanh(c_t)

* every array a step writes lives in a buffer allocated once per call ([T, B, ·]); the
  elementwise work is in-place ufuncs with ``out=``; the only product inside the loop is the
  one with h_{t−1} (forward) and with da_t (backward);
* the backward (see ``rnnkit.cells.lstm`` for its derivation)::

      dh  = dout_t + dh_next                 da_o = dh ⊙ τ ⊙ o(1−o)
      dc  = dc_next + dh ⊙ o ⊙ (1 − τ²)      da_i = dc ⊙ g ⊙ i(1−i)
      da_f = dc ⊙ c_{t−1} ⊙ f(1−f)           da_g = dc ⊙ i ⊙ (1 − g²)
      dc_{t−1} = dc ⊙ f                       dh_{t−1} = da W_hh   (⊙ drop)

  then dW_hh = daᵀ h_rec, dW_ih = daᵀ xs, dxs = da W_ih and db = Σ da, one product each.
"""

from typing import NamedTuple

import numpy as np

from ..cells import CellOptions
from . import _sequence as seq

ORDER = (0, 1, 3, 2)  # the reference's gate blocks i, f, g, o taken as i, f, o, g


class Cache(NamedTuple):
    xs: np.ndarray  # [T, B, I]
    hs: np.ndarray  # [T + 1, B, H] h_0 … h_T (the carried state, after the mask)
    cs: np.ndarray  # [T + 1, B, H] c_0 … c_T
    gates: np.ndarray  # [T, B, 4H] i, f, o, g after their nonlinearities
    tanh_c: np.ndarray  # [T, B, H] τ = tanh(c_t) (of the step's own c_t, before the mask)
    mask: seq.Mask | None
    drop: np.ndarray | None  # [B, H] recurrent dropout mask


def supports(opts: CellOptions, dtype) -> bool:
    """The plain LSTM (no peepholes, no layer norm) in float32 or float64."""
    return not opts.peepholes and not opts.layer_norm and np.dtype(dtype) in (
        np.float32, np.float64)


def _halved(w: np.ndarray, H: int) -> np.ndarray:
    """Rows (or entries) of gate blocks i, f, o halved; w already in the order i, f, o, g."""
    out = w.copy()
    out[: 3 * H] *= 0.5
    return out


def forward(cell, p: dict, xs: np.ndarray, state0: tuple, opts: CellOptions,
            mask: np.ndarray | None = None, drop: np.ndarray | None = None):
    """outs [T, B, H], (h_T, c_T), cache — as ``unroll.forward`` with ``cells.lstm``."""
    T, B, _ = xs.shape
    H = state0[0].shape[1]
    dt = xs.dtype
    order = seq.gate_order(ORDER, H)
    W_ih = _halved(p["weight_ih"][order], H)
    W_hhT = np.ascontiguousarray(_halved(p["weight_hh"][order], H).T)  # [H, 4H]
    b = _halved((p["bias_ih"] + p["bias_hh"])[order], H)
    gates = seq.input_projection(xs, W_ih, b)  # x_t W_ihᵀ + b for every t
    hs, cs = np.empty((T + 1, B, H), dt), np.empty((T + 1, B, H), dt)
    hs[0], cs[0] = state0
    tanh_c = np.empty((T, B, H), dt)
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
        s = a[:, : 3 * H]
        s *= 0.5
        s += 0.5  # i, f, o = ½ (1 + tanh(a/2));  g = tanh(a_g)
        c = cs[t + 1]
        np.multiply(a[:, H : 2 * H], cs[t], out=c)
        c += np.multiply(a[:, :H], a[:, 3 * H :], out=ig)  # c_t = f ⊙ c_{t−1} + i ⊙ g
        h = np.multiply(a[:, 2 * H : 3 * H], np.tanh(c, out=tanh_c[t]), out=hs[t + 1])
        if mk is not None:  # out_t = m ? h_t : 0;  state_t = m ? state_t : state_{t−1}
            np.multiply(h, mk.m[t], out=outs[t])
            np.copyto(h, hs[t], where=mk.off[t])
            np.copyto(c, cs[t], where=mk.off[t])
    outs = hs[1:].copy() if outs is None else outs
    cache = Cache(xs, hs, cs, gates, tanh_c, mk, drop)
    return outs, (hs[T].copy(), cs[T].copy()), cache


def backward(cell, p: dict, cache: Cache, douts: np.ndarray, dstate: tuple,
             opts: CellOptions):
    """(dxs [T, B, I], (dh_0, dc_0), grads) — as ``unroll.backward`` with ``cells.lstm``."""
    xs, hs, cs, gates, tanh_c, mk, drop = cache
    T, B, H = tanh_c.shape
    dt = xs.dtype
    order = seq.gate_order(ORDER, H)
    W_hh = p["weight_hh"][order]  # [4H, H], unscaled
    dA = np.empty((T, B, 4 * H), dt)
    dh_next, dh_prev = np.array(dstate[0], dtype=dt), np.empty((B, H), dt)
    dc_next, dc_prev = np.array(dstate[1], dtype=dt), np.empty((B, H), dt)
    dh, dc, t1 = np.empty((B, H), dt), np.empty((B, H), dt), np.empty((B, H), dt)
    sd = np.empty((B, 3 * H), dt)
    for t in reversed(range(T)):
        a, tc, da = gates[t], tanh_c[t], dA[t]
        i, f, o, g = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
        np.add(douts[t], dh_next, out=dh)  # h is both the output and the state
        if mk is not None:
            dh *= mk.m[t]
        np.multiply(dh, tc, out=da[:, 2 * H : 3 * H])  # ∂L/∂o = dh ⊙ τ
        np.multiply(tc, tc, out=t1)
        np.subtract(1, t1, out=t1)
        t1 *= o
        t1 *= dh  # dh ⊙ o ⊙ (1 − τ²)
        if mk is not None:
            np.multiply(dc_next, mk.m[t], out=dc)
            dc += t1
        else:
            np.add(dc_next, t1, out=dc)  # dc = dc_next + dh ⊙ o ⊙ (1 − τ²)
        np.multiply(dc, g, out=da[:, :H])  # ∂L/∂i = dc ⊙ g
        np.multiply(dc, cs[t], out=da[:, H : 2 * H])  # ∂L/∂f = dc ⊙ c_{t−1}
        np.subtract(1, a[:, : 3 * H], out=sd)
        sd *= a[:, : 3 * H]  # σ′ = s (1 − s) for i, f, o
        da[:, : 3 * H] *= sd
        da_g = np.multiply(dc, i, out=da[:, 3 * H :])  # ∂L/∂g = dc ⊙ i
        np.multiply(g, g, out=t1)
        np.subtract(1, t1, out=t1)
        da_g *= t1  # ⊙ (1 − g²)
        np.multiply(dc, f, out=dc_prev)  # dc_{t−1} = dc ⊙ f
        np.matmul(da, W_hh, out=dh_prev)  # dh_{t−1} = da W_hh
        if drop is not None:
            dh_prev *= drop
        if mk is not None:  # a padded step passes its incoming gradient through unchanged
            np.copyto(dh_prev, dh_next, where=mk.off[t])
            np.copyto(dc_prev, dc_next, where=mk.off[t])
        dh_next, dh_prev = dh_prev, dh_next
        dc_next, dc_prev = dc_prev, dc_next
    return _results(p, cache, dA, order, (dh_next, dc_next))


def _results(p: dict, cache: Cache, dA: np.ndarray, order: np.ndarray, dstate0: tuple):
    """dxs, dstate0 and every parameter's gradient, rows back in the gate order i, f, g, o."""
    T, B, G = dA.shape
    H = G // 4
    back = np.argsort(order)
    dW_ih, dxs = seq.input_grads(dA, cache.xs, p["weight_ih"][order])  # Σ daᵀ x_t;  da W_ih
    h_rec = cache.hs[:T] if cache.drop is None else cache.hs[:T] * cache.drop
    db = seq.bias_grad(dA)[back]
    grads = {
        "weight_ih": dW_ih[back],
        "weight_hh": (dA.reshape(T * B, G).T @ h_rec.reshape(T * B, H))[back],  # Σ daᵀ h_rec
        "bias_ih": db,
        "bias_hh": db.copy(),
    }
    return dxs, dstate0, grads
