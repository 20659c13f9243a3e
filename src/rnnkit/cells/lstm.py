"""LSTM: a gated memory cell c carried alongside the hidden state h (state (h, c), output h).

Forward (per step; gate order i, f, g, o as PyTorch; ``a`` is the stacked [B, 4H]
pre-activation, sliced into a_i, a_f, a_g, a_o)::

    a   = x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh
    a_i += p_i ⊙ c_{t−1}     a_f += p_f ⊙ c_{t−1}          (peepholes only)
    i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)
    c_t = f ⊙ c_{t−1} + i ⊙ g
    a_o += p_o ⊙ c_t                                       (peepholes only: o sees c_t)
    o = σ(a_o)
    h_t = o ⊙ tanh(c_t)

With layer normalisation (Ba et al. 2016, ``LN`` as in ``_layernorm``: each gate block of H
units normalised on its own, then a learned per-unit gain γ and shift β)::

    a   = LN_ih(x_t W_ihᵀ) + b_ih + LN_hh(h_{t−1} W_hhᵀ) + b_hh   (+ peepholes as above)
    h_t = o ⊙ tanh(LN_c(c_t))                                      (c_t itself is carried raw)

Backward (d· = ∂L/∂·; dh and dc arrive from the output at t and from step t+1; τ is the
saved tanh(c_t), or tanh(LN_c(c_t)) with layer norm)::

    do   = dh ⊙ τ                 da_o = do ⊙ o(1−o)
    dc  += dh ⊙ o ⊙ (1 − τ²)      (through LN_c first with layer norm)
    dc  += da_o ⊙ p_o             (peepholes: o sees c_t)
    di   = dc ⊙ g    df = dc ⊙ c_{t−1}    dg = dc ⊙ i
    da   = [di ⊙ i(1−i) | df ⊙ f(1−f) | dg ⊙ (1−g²) | da_o]
    dc_{t−1} = dc ⊙ f  (+ da_i ⊙ p_i + da_f ⊙ p_f with peepholes)
    dh_{t−1} = da W_hh            dx_t = da W_ih   (through LN_hh / LN_ih with layer norm)
    dW_hh = Σ_t daᵀ h_{t−1}       db_ih = db_hh = Σ_t Σ_B da
    dp_i = Σ da_i ⊙ c_{t−1}       dp_f = Σ da_f ⊙ c_{t−1}       dp_o = Σ da_o ⊙ c_t

Parameters (PyTorch's names and shapes): ``weight_ih [4H, I]``, ``weight_hh [4H, H]``,
``bias_ih [4H]``, ``bias_hh [4H]``; with ``opts.peepholes`` the diagonal peepholes
``weight_peep [3, H]`` (rows i, f, o; Gers & Schmidhuber 2000, as the ONNX LSTM operator);
with ``opts.layer_norm`` the gains and shifts ``ln_ih_weight, ln_ih_bias, ln_hh_weight,
ln_hh_bias [4H]`` and ``ln_c_weight, ln_c_bias [H]``.

Initialisation: every weight, bias and peephole U(−1/√H, 1/√H) as PyTorch (peepholes are
drawn like the other weights rather than zeroed, so each gate sees the cell from the start);
``opts.init`` orthogonal / identity replaces each H×H block of ``weight_hh``;
``opts.forget_bias`` is added to the forget slice ``bias_ih[H:2H]`` (Jozefowicz et al. 2015);
``opts.chrono_init`` = T_max sets b_f = log U(1, T_max − 1) and b_i = −b_f in ``bias_ih`` and
zeroes their ``bias_hh`` (chrono initialisation, Tallec & Ollivier 2018), drawn last;
layer-norm gains 1, shifts 0.  With recurrent dropout, h_{t−1} is multiplied by the fixed
mask before W_hh only (Gal & Ghahramani 2016); the peepholes see c_{t−1} unmasked.
"""

from typing import NamedTuple

import numpy as np

from . import CellOptions
from . import _layernorm as ln
from ._activations import dsigmoid, dtanh, sigmoid
from ._init import chrono, recurrent, uniform


class Cache(NamedTuple):
    h_rec: np.ndarray  # [B, H] recurrent input h_{t−1} (after the dropout mask)
    c_prev: np.ndarray  # [B, H] c_{t−1}
    c: np.ndarray  # [B, H] c_t
    gates: np.ndarray  # [B, 4H] i, f, g, o after their nonlinearities
    tanh_c: np.ndarray  # [B, H] τ = tanh(c_t), or tanh(LN_c(c_t))
    drop: np.ndarray | None  # [B, H] recurrent dropout mask
    xhat_ih: np.ndarray | None  # [B, 4H] layer norm of x W_ihᵀ: x̂ …
    rstd_ih: np.ndarray | None  # [B, 4]  … and σ̂
    xhat_hh: np.ndarray | None  # [B, 4H] layer norm of h W_hhᵀ
    rstd_hh: np.ndarray | None  # [B, 4]
    xhat_c: np.ndarray | None  # [B, H] layer norm of c_t
    rstd_c: np.ndarray | None  # [B, 1]


class Step(NamedTuple):
    da: np.ndarray  # [B, 4H] ∂L/∂a (the gate pre-activations; also ∂L/∂b_ih = ∂L/∂b_hh)
    dq: np.ndarray  # [B, 4H] ∂L/∂(h_rec W_hhᵀ)  (equals da without layer norm)
    dln_c: np.ndarray | None  # [B, H] ∂L/∂LN_c(c_t), for the gain and shift of LN_c


def param_shapes(I: int, H: int, opts: CellOptions) -> dict[str, tuple]:
    G = 4 * H
    shapes = {"weight_ih": (G, I), "weight_hh": (G, H), "bias_ih": (G,), "bias_hh": (G,)}
    if opts.peepholes:
        shapes["weight_peep"] = (3, H)
    if opts.layer_norm:
        shapes |= {"ln_ih_weight": (G,), "ln_ih_bias": (G,), "ln_hh_weight": (G,)}
        shapes |= {"ln_hh_bias": (G,), "ln_c_weight": (H,), "ln_c_bias": (H,)}
    return shapes


def init_params(I: int, H: int, opts: CellOptions, rng: np.random.Generator, dtype) -> dict:
    shapes = param_shapes(I, H, opts)
    drawn = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_peep")
    p = {name: uniform(rng, shapes[name], H, dtype) for name in drawn if name in shapes}
    if opts.init != "uniform":
        p["weight_hh"] = recurrent(rng, shapes["weight_hh"], H, opts.init, dtype)
    p["bias_ih"][H : 2 * H] += opts.forget_bias
    if opts.chrono_init:  # b_f = log U(1, T_max − 1), b_i = −b_f
        b_f = chrono(rng, H, opts.chrono_init, dtype)
        p["bias_ih"][:H], p["bias_ih"][H : 2 * H] = -b_f, b_f
        p["bias_hh"][: 2 * H] = 0
    for name in shapes:
        if name.startswith("ln_"):  # gains 1, shifts 0
            p[name] = (np.ones if name.endswith("_weight") else np.zeros)(shapes[name], dtype)
    return p


def state_sizes(H: int, opts: CellOptions) -> tuple[int, ...]:
    return (H, H)


def output_size(H: int, opts: CellOptions) -> int:
    return H


def step_forward(p: dict, ax: np.ndarray, state: tuple, opts: CellOptions, drop=None):
    h_prev, c_prev = state
    H = h_prev.shape[1]
    h_rec = h_prev if drop is None else h_prev * drop
    q = h_rec @ p["weight_hh"].T  # q = h_{t−1} W_hhᵀ
    xhat_ih: np.ndarray | None = None
    rstd_ih: np.ndarray | None = None
    xhat_hh: np.ndarray | None = None
    rstd_hh: np.ndarray | None = None
    if opts.layer_norm:  # a = LN_ih(x W_ihᵀ) + b_ih + LN_hh(q) + b_hh
        ax, xhat_ih, rstd_ih = ln.forward(ax, p["ln_ih_weight"], p["ln_ih_bias"], 4)
        q, xhat_hh, rstd_hh = ln.forward(q, p["ln_hh_weight"], p["ln_hh_bias"], 4)
    a = ax + p["bias_ih"] + q + p["bias_hh"]  # a = x W_ihᵀ + b_ih + q + b_hh
    if opts.peepholes:  # a_i += p_i ⊙ c_{t−1};  a_f += p_f ⊙ c_{t−1}
        a[:, : 2 * H] += (p["weight_peep"][:2] * c_prev[:, None, :]).reshape(-1, 2 * H)
    gates = np.empty_like(a)
    gates[:, : 2 * H] = sigmoid(a[:, : 2 * H])  # i = σ(a_i);  f = σ(a_f)
    i, f = gates[:, :H], gates[:, H : 2 * H]
    gates[:, 2 * H : 3 * H] = g = np.tanh(a[:, 2 * H : 3 * H])  # g = tanh(a_g)
    c = f * c_prev + i * g  # c_t = f ⊙ c_{t−1} + i ⊙ g
    a_o = a[:, 3 * H :]
    if opts.peepholes:
        a_o = a_o + p["weight_peep"][2] * c  # a_o += p_o ⊙ c_t
    gates[:, 3 * H :] = o = sigmoid(a_o)  # o = σ(a_o)
    c_out, xhat_c, rstd_c = c, None, None
    if opts.layer_norm:
        c_out, xhat_c, rstd_c = ln.forward(c, p["ln_c_weight"], p["ln_c_bias"], 1)
    tanh_c = np.tanh(c_out)
    h = o * tanh_c  # h_t = o ⊙ tanh(c_t)   (or of LN_c(c_t))
    cache = Cache(
        h_rec, c_prev, c, gates, tanh_c, drop, xhat_ih, rstd_ih, xhat_hh, rstd_hh, xhat_c, rstd_c
    )
    return h, (h, c), cache


def step_backward(p: dict, dout: np.ndarray, dstate: tuple, cache: Cache, opts: CellOptions):
    H = cache.c.shape[1]
    i, f, g, o = (cache.gates[:, k * H : (k + 1) * H] for k in range(4))
    dh = dout + dstate[0]  # h is both the output and the state
    da_o = dh * cache.tanh_c * dsigmoid(o)  # h_t = o ⊙ τ;  o = σ(a_o)
    dtau_in = dh * o * dtanh(cache.tanh_c)  # h_t = o ⊙ τ;  τ = tanh(c_t or LN_c(c_t))
    dln_c, dc = None, dstate[1] + dtau_in
    if opts.layer_norm:  # τ = tanh(LN_c(c_t))
        assert cache.xhat_c is not None and cache.rstd_c is not None
        dln_c = dtau_in
        dc = dstate[1] + ln.backward(dln_c, cache.xhat_c, cache.rstd_c, p["ln_c_weight"])
    if opts.peepholes:
        dc = dc + da_o * p["weight_peep"][2]  # a_o += p_o ⊙ c_t
    da_i = dc * g * dsigmoid(i)  # c_t = f ⊙ c_{t−1} + i ⊙ g;  i = σ(a_i)
    da_f = dc * cache.c_prev * dsigmoid(f)  # … f = σ(a_f)
    da_g = dc * i * dtanh(g)  # … g = tanh(a_g)
    dc_prev = dc * f  # c_t = f ⊙ c_{t−1} + …
    if opts.peepholes:  # a_i += p_i ⊙ c_{t−1};  a_f += p_f ⊙ c_{t−1}
        dc_prev = dc_prev + da_i * p["weight_peep"][0] + da_f * p["weight_peep"][1]
    da = np.concatenate([da_i, da_f, da_g, da_o], axis=1)
    dax, dq = da, da  # a = x W_ihᵀ + b_ih + q + b_hh
    if opts.layer_norm:  # a = LN_ih(x W_ihᵀ) + … + LN_hh(q) + …
        assert cache.xhat_ih is not None and cache.rstd_ih is not None
        assert cache.xhat_hh is not None and cache.rstd_hh is not None
        dax = ln.backward(da, cache.xhat_ih, cache.rstd_ih, p["ln_ih_weight"])
        dq = ln.backward(da, cache.xhat_hh, cache.rstd_hh, p["ln_hh_weight"])
    dh_prev = dq @ p["weight_hh"]  # q = h_{t−1} W_hhᵀ
    if cache.drop is not None:
        dh_prev = dh_prev * cache.drop
    return dax, (dh_prev, dc_prev), Step(da, dq, dln_c)


def param_grads(p: dict, caches: Cache, dsteps: Step, opts: CellOptions) -> dict:
    T, B, G = dsteps.da.shape
    H = G // 4
    da = dsteps.da.reshape(T * B, G)
    db = da.sum(axis=0)
    grads = {
        "weight_hh": dsteps.dq.reshape(T * B, G).T @ caches.h_rec.reshape(T * B, H),
        "bias_ih": db,
        "bias_hh": db.copy(),
    }
    if opts.peepholes:  # a_i, a_f += p ⊙ c_{t−1};  a_o += p_o ⊙ c_t
        c_prev, c = caches.c_prev.reshape(T * B, H), caches.c.reshape(T * B, H)
        grads["weight_peep"] = np.stack(
            [
                (da[:, :H] * c_prev).sum(axis=0),
                (da[:, H : 2 * H] * c_prev).sum(axis=0),
                (da[:, 3 * H :] * c).sum(axis=0),
            ]
        )
    if opts.layer_norm:
        assert caches.xhat_ih is not None and caches.xhat_hh is not None
        assert caches.xhat_c is not None and dsteps.dln_c is not None
        grads["ln_ih_weight"], grads["ln_ih_bias"] = ln.param_grads(dsteps.da, caches.xhat_ih)
        grads["ln_hh_weight"], grads["ln_hh_bias"] = ln.param_grads(dsteps.da, caches.xhat_hh)
        grads["ln_c_weight"], grads["ln_c_bias"] = ln.param_grads(dsteps.dln_c, caches.xhat_c)
    return grads
