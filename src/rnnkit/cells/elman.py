"""Elman RNN: the hidden state feeds itself back.

Forward (per step, ``act`` = tanh | relu)::

    a_t = x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh
    h_t = act(a_t)

Backward (d· = ∂L/∂·; ``dh`` arrives from the output at t and from step t+1)::

    da_t      = dh_t ⊙ act′(h_t)          (1 − h_t² for tanh, [h_t > 0] for relu)
    dh_{t−1}  = da_t W_hh
    dx_t      = da_t W_ih                 (formed for all steps at once by the driver)
    dW_hh     = Σ_t da_tᵀ h_{t−1}         dW_ih = Σ_t da_tᵀ x_t
    db_ih     = db_hh = Σ_t Σ_B da_t

Weights (PyTorch's names and shapes): ``weight_ih [H, I]``, ``weight_hh [H, H]``,
``bias_ih [H]``, ``bias_hh [H]``.  With recurrent dropout, h_{t−1} is multiplied by the
fixed mask before W_hh (Gal & Ghahramani 2016).  Initialisation: ``opts.init`` — PyTorch's
uniform, orthogonal, or identity for the IRNN of Le et al. 2015: W_hh = I, both biases 0 and
W_ih ~ N(0, 0.001²), the paper's "Gaussian with mean of zero and standard deviation of 0.001"
for the non-recurrent weights.
"""

from typing import NamedTuple

import numpy as np

from . import CellOptions
from ._activations import ACTIVATIONS
from ._init import IRNN_STD, gaussian, recurrent, uniform


class Cache(NamedTuple):
    h_rec: np.ndarray  # [B, H] recurrent input h_{t−1} (after the dropout mask)
    h: np.ndarray  # [B, H] h_t
    drop: np.ndarray | None  # [B, H] recurrent dropout mask


class Step(NamedTuple):
    da: np.ndarray  # [B, H] ∂L/∂a_t


def param_shapes(I: int, H: int, opts: CellOptions) -> dict[str, tuple]:
    return {"weight_ih": (H, I), "weight_hh": (H, H), "bias_ih": (H,), "bias_hh": (H,)}


def init_params(I: int, H: int, opts: CellOptions, rng: np.random.Generator, dtype) -> dict:
    p = {name: uniform(rng, shape, H, dtype) for name, shape in param_shapes(I, H, opts).items()}
    if opts.init != "uniform":
        p["weight_hh"] = recurrent(rng, (H, H), H, opts.init, dtype)
    if opts.init == "identity":  # IRNN: W_ih ~ N(0, 0.001²), biases 0 (Le et al. 2015)
        p["weight_ih"] = gaussian(rng, (H, I), IRNN_STD, dtype)
        p["bias_ih"][:] = 0
        p["bias_hh"][:] = 0
    return p


def state_sizes(H: int, opts: CellOptions) -> tuple[int, ...]:
    return (H,)


def output_size(H: int, opts: CellOptions) -> int:
    return H


def step_forward(p: dict, ax: np.ndarray, state: tuple, opts: CellOptions, drop=None):
    (h_prev,) = state
    act, _ = ACTIVATIONS[opts.nonlinearity]
    h_rec = h_prev if drop is None else h_prev * drop
    a = (
        ax + p["bias_ih"] + h_rec @ p["weight_hh"].T + p["bias_hh"]
    )  # a = x W_ihᵀ + b_ih + h W_hhᵀ + b_hh
    h = act(a)  # h = act(a)
    return h, (h,), Cache(h_rec, h, drop)


def step_backward(p: dict, dout: np.ndarray, dstate: tuple, cache: Cache, opts: CellOptions):
    _, dact = ACTIVATIONS[opts.nonlinearity]
    dh = dout + dstate[0]  # h is both the output and the state
    da = dh * dact(cache.h)  # h = act(a)
    dh_prev = da @ p["weight_hh"]  # a = … + h_{t−1} W_hhᵀ
    if cache.drop is not None:
        dh_prev = dh_prev * cache.drop
    return da, (dh_prev,), Step(da)


def param_grads(p: dict, caches: Cache, dsteps: Step, opts: CellOptions) -> dict:
    T, B, H = dsteps.da.shape
    da = dsteps.da.reshape(T * B, H)
    db = da.sum(axis=0)
    return {
        "weight_hh": da.T @ caches.h_rec.reshape(T * B, H),
        "bias_ih": db,
        "bias_hh": db.copy(),
    }
