"""GRU: a gated recurrent unit that interpolates between its state and a candidate (state (h,)).

Forward (per step; gate order r, z, n as PyTorch; a_ih and a_hh are the stacked [B, 3H]
input and recurrent terms, sliced into their r, z, n blocks)::

    a_ih = x_t W_ihᵀ + b_ih
    r = σ(a_ih,r + h_{t−1} W_hrᵀ + b_hr)       z = σ(a_ih,z + h_{t−1} W_hzᵀ + b_hz)
    reset_after=True  (default):  a_hn = h_{t−1} W_hnᵀ + b_hn        n = tanh(a_ih,n + r ⊙ a_hn)
    reset_after=False:            a_hn = (r ⊙ h_{t−1}) W_hnᵀ + b_hn  n = tanh(a_ih,n + a_hn)
    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}

``reset_after=True`` is the default because it is the function PyTorch's ``nn.GRU`` and
cuDNN compute (ONNX ``linear_before_reset=1``): weights move to and from PyTorch unchanged
and give the same outputs.  ``reset_after=False`` is the GRU of Cho et al. 2014 (v3) and the
ONNX default ``linear_before_reset=0``; it needs a second recurrent matrix product per step,
after r is known.

With layer normalisation (Ba et al. 2016, ``LN`` as in ``_layernorm``: each gate block of H
units normalised on its own, then a learned per-unit gain γ and shift β), the input term is
``a_ih = LN_ih(x_t W_ihᵀ) + b_ih`` and each block of the recurrent product is normalised
before its bias: ``LN_hh(h_{t−1} W_hrᵀ) + b_hr``, the same for z, and for n
``a_hn = LN_hh(h_{t−1} W_hnᵀ) + b_hn`` (r multiplies this normalised term, reset_after=True)
or ``a_hn = LN_hh((r ⊙ h_{t−1}) W_hnᵀ) + b_hn`` (reset_after=False).

Backward (d· = ∂L/∂·; dh arrives from the output at t and from step t+1)::

    dn   = dh ⊙ (1 − z)          dz = dh ⊙ (h_{t−1} − n)        dh_{t−1} = dh ⊙ z  (+ below)
    da_n = dn ⊙ (1 − n²)         da_z = dz ⊙ z(1−z)
    reset_after=True:   da_hn = da_n ⊙ r                  dr = da_n ⊙ a_hn
    reset_after=False:  da_hn = da_n   d(r⊙h) = da_hn W_hn   dr = d(r⊙h) ⊙ h_{t−1}
    da_r = dr ⊙ r(1−r)
    da_ih = [da_r | da_z | da_n]          da_hh = [da_r | da_z | da_hn]
    dh_{t−1} += da_hh W_hh   (reset_after=False: [da_r | da_z] W_h(rz) + d(r⊙h) ⊙ r)
    dx_t = da_ih W_ih        (through LN_ih / LN_hh with layer norm)
    dW_hh = Σ_t da_hhᵀ h_{t−1}  (reset_after=False: the n rows against r ⊙ h_{t−1})
    db_ih = Σ_t Σ_B da_ih      db_hh = Σ_t Σ_B da_hh

Parameters (PyTorch's names and shapes): ``weight_ih [3H, I]``, ``weight_hh [3H, H]``,
``bias_ih [3H]``, ``bias_hh [3H]``; with ``opts.layer_norm`` the gains and shifts
``ln_ih_weight, ln_ih_bias, ln_hh_weight, ln_hh_bias [3H]``.  Initialisation: U(−1/√H, 1/√H)
as PyTorch; ``opts.init`` orthogonal / identity replaces each H×H block of ``weight_hh``;
``opts.chrono_init`` = T_max sets the update gate's b_z = log U(1, T_max − 1) in ``bias_ih``
and zeroes its ``bias_hh`` (z keeps h_{t−1}: the chrono initialisation of Tallec & Ollivier
2018 for the GRU's one gate), drawn last;
layer-norm gains 1, shifts 0.  With recurrent dropout, h_{t−1} is multiplied by the fixed mask
where it feeds the recurrent products (Gal & Ghahramani 2016), not in the carry z ⊙ h_{t−1}.
"""

from typing import NamedTuple

import numpy as np

from . import CellOptions
from . import _layernorm as ln
from ._activations import dsigmoid, dtanh, sigmoid
from ._init import chrono, recurrent, uniform


class Cache(NamedTuple):
    h_prev: np.ndarray  # [B, H] h_{t−1} (the carry)
    h_rec: np.ndarray  # [B, H] recurrent input h_{t−1} (after the dropout mask)
    rz: np.ndarray  # [B, 2H] r, z after the sigmoid
    n: np.ndarray  # [B, H] n after the tanh
    a_hn: np.ndarray | None  # [B, H] recurrent n term that r multiplies (reset_after=True)
    rh: np.ndarray | None  # [B, H] r ⊙ h_rec, the input of W_hn (reset_after=False)
    drop: np.ndarray | None  # [B, H] recurrent dropout mask
    xhat_ih: np.ndarray | None  # [B, 3H] layer norm of x W_ihᵀ: x̂ …
    rstd_ih: np.ndarray | None  # [B, 3]  … and σ̂
    xhat_hh: np.ndarray | None  # [B, 3H] layer norm of the recurrent products
    rstd_hh: np.ndarray | None  # [B, 3]


class Step(NamedTuple):
    da_ih: np.ndarray  # [B, 3H] ∂L/∂a_ih (also ∂L/∂b_ih)
    da_hh: np.ndarray  # [B, 3H] ∂L/∂a_hh (also ∂L/∂b_hh)
    dq: np.ndarray  # [B, 3H] ∂L/∂(recurrent products), equals da_hh without layer norm


def param_shapes(I: int, H: int, opts: CellOptions) -> dict[str, tuple]:
    G = 3 * H
    shapes = {"weight_ih": (G, I), "weight_hh": (G, H), "bias_ih": (G,), "bias_hh": (G,)}
    if opts.layer_norm:
        shapes |= {"ln_ih_weight": (G,), "ln_ih_bias": (G,)}
        shapes |= {"ln_hh_weight": (G,), "ln_hh_bias": (G,)}
    return shapes


def init_params(I: int, H: int, opts: CellOptions, rng: np.random.Generator, dtype) -> dict:
    shapes = param_shapes(I, H, opts)
    drawn = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    p = {name: uniform(rng, shapes[name], H, dtype) for name in drawn}
    if opts.init != "uniform":
        p["weight_hh"] = recurrent(rng, shapes["weight_hh"], H, opts.init, dtype)
    if opts.chrono_init:  # b_z = log U(1, T_max − 1)
        p["bias_ih"][H : 2 * H] = chrono(rng, H, opts.chrono_init, dtype)
        p["bias_hh"][H : 2 * H] = 0
    for name in shapes:
        if name.startswith("ln_"):  # gains 1, shifts 0
            p[name] = (np.ones if name.endswith("_weight") else np.zeros)(shapes[name], dtype)
    return p


def state_sizes(H: int, opts: CellOptions) -> tuple[int, ...]:
    return (H,)


def output_size(H: int, opts: CellOptions) -> int:
    return H


def _recurrent_term(q: np.ndarray, p: dict, opts: CellOptions, first: int, last: int):
    """Blocks first..last−1 of a_hh from their product q: (LN_hh(q) or q) + b_hh, x̂, σ̂."""
    H = q.shape[1] // (last - first)
    cols = slice(first * H, last * H)
    if not opts.layer_norm:
        return q + p["bias_hh"][cols], None, None
    y, xhat, rstd = ln.forward(q, p["ln_hh_weight"][cols], p["ln_hh_bias"][cols], last - first)
    return y + p["bias_hh"][cols], xhat, rstd


def step_forward(p: dict, ax: np.ndarray, state: tuple, opts: CellOptions, drop=None):
    (h_prev,) = state
    H = h_prev.shape[1]
    W_hh = p["weight_hh"]
    h_rec = h_prev if drop is None else h_prev * drop
    xhat_ih = rstd_ih = None
    if opts.layer_norm:
        ax, xhat_ih, rstd_ih = ln.forward(ax, p["ln_ih_weight"], p["ln_ih_bias"], 3)
    a_ih = ax + p["bias_ih"]  # a_ih = x W_ihᵀ + b_ih   (or LN_ih(x W_ihᵀ) + b_ih)
    if opts.reset_after:
        a_hh, xhat_hh, rstd_hh = _recurrent_term(h_rec @ W_hh.T, p, opts, 0, 3)
        rz = sigmoid(a_ih[:, : 2 * H] + a_hh[:, : 2 * H])  # r, z = σ(a_ih + a_hh)
        r, z = rz[:, :H], rz[:, H:]
        a_hn, rh = a_hh[:, 2 * H :], None
        n = np.tanh(a_ih[:, 2 * H :] + r * a_hn)  # n = tanh(a_ih,n + r ⊙ a_hn)
    else:
        a_rz, xhat_rz, rstd_rz = _recurrent_term(h_rec @ W_hh[: 2 * H].T, p, opts, 0, 2)
        rz = sigmoid(a_ih[:, : 2 * H] + a_rz)  # r, z = σ(a_ih + a_hh)
        r, z = rz[:, :H], rz[:, H:]
        rh = r * h_rec  # r ⊙ h_{t−1}
        a_hn, xhat_n, rstd_n = _recurrent_term(rh @ W_hh[2 * H :].T, p, opts, 2, 3)
        n = np.tanh(a_ih[:, 2 * H :] + a_hn)  # n = tanh(a_ih,n + a_hn)
        a_hn, xhat_hh, rstd_hh = None, None, None
        if opts.layer_norm:
            xhat_hh = np.concatenate([xhat_rz, xhat_n], axis=1)
            rstd_hh = np.concatenate([rstd_rz, rstd_n], axis=1)
    h = (1 - z) * n + z * h_prev  # h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
    cache = Cache(h_prev, h_rec, rz, n, a_hn, rh, drop, xhat_ih, rstd_ih, xhat_hh, rstd_hh)
    return h, (h,), cache


def step_backward(p: dict, dout: np.ndarray, dstate: tuple, cache: Cache, opts: CellOptions):
    H = cache.n.shape[1]
    W_hh = p["weight_hh"]
    r, z, n = cache.rz[:, :H], cache.rz[:, H:], cache.n
    dh = dout + dstate[0]  # h is both the output and the state
    dh_prev = dh * z  # h_t = … + z ⊙ h_{t−1}
    da_n = dh * (1 - z) * dtanh(n)  # h_t = (1 − z) ⊙ n + …;  n = tanh(·)
    da_z = dh * (cache.h_prev - n) * dsigmoid(z)  # … z = σ(a_z)
    if opts.reset_after:
        assert cache.a_hn is not None
        da_hn = da_n * r  # n = tanh(a_ih,n + r ⊙ a_hn)
        da_r = da_n * cache.a_hn * dsigmoid(r)  # … r = σ(a_r)
        da_hh = np.concatenate([da_r, da_z, da_hn], axis=1)
        dq = da_hh  # a_hh = q + b_hh
        if opts.layer_norm:  # a_hh = LN_hh(q) + b_hh
            assert cache.xhat_hh is not None and cache.rstd_hh is not None
            dq = ln.backward(da_hh, cache.xhat_hh, cache.rstd_hh, p["ln_hh_weight"])
        dh_rec = dq @ W_hh  # q = h_rec W_hhᵀ
    else:
        dq_n = da_n  # n = tanh(a_ih,n + a_hn);  a_hn = q_n + b_hn
        if opts.layer_norm:  # a_hn = LN_hh(q_n) + b_hn
            assert cache.xhat_hh is not None and cache.rstd_hh is not None
            g_n = p["ln_hh_weight"][2 * H :]
            dq_n = ln.backward(da_n, cache.xhat_hh[:, 2 * H :], cache.rstd_hh[:, 2:], g_n)
        drh = dq_n @ W_hh[2 * H :]  # q_n = (r ⊙ h_rec) W_hnᵀ
        da_r = drh * cache.h_rec * dsigmoid(r)  # rh = r ⊙ h_rec;  r = σ(a_r)
        da_hh = np.concatenate([da_r, da_z, da_n], axis=1)
        dq_rz = da_hh[:, : 2 * H]  # a_rz = q_rz + b_rz
        if opts.layer_norm:  # a_rz = LN_hh(q_rz) + b_rz
            assert cache.xhat_hh is not None and cache.rstd_hh is not None
            g_rz = p["ln_hh_weight"][: 2 * H]
            dq_rz = ln.backward(dq_rz, cache.xhat_hh[:, : 2 * H], cache.rstd_hh[:, :2], g_rz)
        dh_rec = dq_rz @ W_hh[: 2 * H] + drh * r  # q_rz = h_rec W_h(rz)ᵀ;  rh = r ⊙ h_rec
        dq = np.concatenate([dq_rz, dq_n], axis=1)
    if cache.drop is not None:
        dh_rec = dh_rec * cache.drop  # h_rec = h_{t−1} ⊙ drop
    dh_prev = dh_prev + dh_rec
    da_ih = np.concatenate([da_r, da_z, da_n], axis=1)
    dax = da_ih  # a_ih = x W_ihᵀ + b_ih
    if opts.layer_norm:  # a_ih = LN_ih(x W_ihᵀ) + b_ih
        assert cache.xhat_ih is not None and cache.rstd_ih is not None
        dax = ln.backward(da_ih, cache.xhat_ih, cache.rstd_ih, p["ln_ih_weight"])
    return dax, (dh_prev,), Step(da_ih, da_hh, dq)


def param_grads(p: dict, caches: Cache, dsteps: Step, opts: CellOptions) -> dict:
    T, B, G = dsteps.da_ih.shape
    H = G // 3
    dq = dsteps.dq.reshape(T * B, G)
    h_rec = caches.h_rec.reshape(T * B, H)
    if opts.reset_after:  # q = h_rec W_hhᵀ
        dW_hh = dq.T @ h_rec
    else:  # q_rz = h_rec W_h(rz)ᵀ;  q_n = (r ⊙ h_rec) W_hnᵀ
        assert caches.rh is not None
        rh = caches.rh.reshape(T * B, H)
        dW_hh = np.concatenate([dq[:, : 2 * H].T @ h_rec, dq[:, 2 * H :].T @ rh], axis=0)
    grads = {
        "weight_hh": dW_hh,
        "bias_ih": dsteps.da_ih.reshape(T * B, G).sum(axis=0),
        "bias_hh": dsteps.da_hh.reshape(T * B, G).sum(axis=0),
    }
    if opts.layer_norm:
        assert caches.xhat_ih is not None and caches.xhat_hh is not None
        grads["ln_ih_weight"], grads["ln_ih_bias"] = ln.param_grads(dsteps.da_ih, caches.xhat_ih)
        grads["ln_hh_weight"], grads["ln_hh_bias"] = ln.param_grads(dsteps.da_hh, caches.xhat_hh)
    return grads
