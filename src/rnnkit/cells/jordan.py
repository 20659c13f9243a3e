"""Jordan RNN: the network's output, not its hidden state, feeds back.

Jordan (1986), "Serial order: a parallel distributed processing approach", ICS Report 8604.

The cell's output layer is the network's output layer: y_t, the values the loss is computed
on (logits for cross-entropy, predictions for MSE), is what step t+1 reads.  In a ``Model``
there is no separate readout for a Jordan layer (see ``rnnkit.models.model``).

Forward (per step; ``act`` = tanh | relu; the output units are linear; ``f`` the feedback,
``opts.jordan_feedback``)::

    r_{t−1} = f(y_{t−1})                f = identity ("output") | softmax ("softmax")
    a_t     = x_t W_ihᵀ + b_ih + r_{t−1} W_hhᵀ + b_hh     (r_{t−1} ⊙ drop with recurrent dropout)
    h_t     = act(a_t)
    y_t     = h_t W_hyᵀ + b_hy          the output at t, and the state carried to t+1

Backward (d· = ∂L/∂·; ``dy`` arrives from the output at t and from step t+1)::

    dh_t      = dy_t W_hy
    da_t      = dh_t ⊙ act′(h_t)          (1 − h_t² for tanh, [h_t > 0] for relu)
    dr_{t−1}  = da_t W_hh                 (⊙ drop with recurrent dropout)
    dy_{t−1}  = dr_{t−1}                                         ("output")
              = r_{t−1} ⊙ (dr_{t−1} − Σ_k dr_{t−1,k} r_{t−1,k})   ("softmax": its Jacobian)
    dx_t      = da_t W_ih                 (formed for all steps at once by the driver)
    dW_hy     = Σ_t dy_tᵀ h_t             db_hy = Σ_t Σ_B dy_t
    dW_hh     = Σ_t da_tᵀ r_{t−1}         dW_ih = Σ_t da_tᵀ x_t
    db_ih     = db_hh = Σ_t Σ_B da_t

The feedback.  "output" (the default) feeds back y_{t−1} itself, as Jordan's linear output
units did; it is the only one that means something for every loss (for MSE, y is the
prediction), and the one a Jordan net of the literature has.  "softmax" feeds back the
predicted distribution softmax(y_{t−1}) — for classifiers and language models, where the
logits have no scale of their own and can grow without bound, while probabilities stay in
[0, 1] and sum to 1.  The state is y_{t−1} (the logits) either way; f is applied where the
state is read, so a zero initial state feeds back 0 ("output") or the uniform
distribution 1/O ("softmax").  (Jordan's state units also decayed, s_t = μ s_{t−1} + y_t;
rnnkit's feed back y_{t−1} alone.)

The state is ``(y,)`` of width O = ``opts.output_size`` (H when 0); the per-step output is
y_t as well.  Weights: ``weight_ih [H, I]``, ``weight_hh [H, O]`` (the y → h weights, under
PyTorch's name for "the recurrent weight"), ``bias_ih [H]``, ``bias_hh [H]``,
``weight_hy [O, H]``, ``bias_hy [O]``.

Recurrent dropout multiplies r_{t−1} by a fixed mask before W_hh, so the ``drop`` mask is
``[B, O]``: as for every cell, its width is that of the recurrent input (``state_sizes[0]``).

Initialisation: every array U(−1/√H, 1/√H), as PyTorch.  ``opts.init`` = orthogonal or
identity sets ``weight_hh`` to a random orthogonal matrix or the identity instead, which
needs it square (O = H; otherwise a ``ConfigError``); identity also zeroes the three biases,
as for the IRNN (Le et al. 2015).  ``weight_hy`` is always uniform.

Relation to the fully recurrent net: with output feedback, this cell is the FRNN of
``fully_recurrent`` with linear output units and the connection mask [[0, 1], [1, 0]], run
over the input with a zero step after every real one (each FRNN connection takes one step;
Jordan's h_t → y_t takes none).  ``tests/cells/test_topologies.py`` holds the two equal.
"""

from typing import NamedTuple

import numpy as np

from ..errors import ConfigError
from . import CellOptions
from ._activations import ACTIVATIONS, softmax, softmax_backward
from ._init import recurrent, uniform


class Cache(NamedTuple):
    r_rec: np.ndarray  # [B, O] recurrent input r_{t−1} = f(y_{t−1}) (after the dropout mask)
    r: np.ndarray | None  # [B, O] softmax(y_{t−1}) before the dropout mask ("softmax" only)
    h: np.ndarray  # [B, H] h_t
    drop: np.ndarray | None  # [B, O] recurrent dropout mask


class Step(NamedTuple):
    da: np.ndarray  # [B, H] ∂L/∂a_t
    dy: np.ndarray  # [B, O] ∂L/∂y_t


def _outputs(H: int, opts: CellOptions) -> int:
    """O: the number of output units (``opts.output_size``, or H when it is 0)."""
    return opts.output_size or H


def param_shapes(I: int, H: int, opts: CellOptions) -> dict[str, tuple]:
    O = _outputs(H, opts)
    return {
        "weight_ih": (H, I),
        "weight_hh": (H, O),
        "bias_ih": (H,),
        "bias_hh": (H,),
        "weight_hy": (O, H),
        "bias_hy": (O,),
    }


def init_params(I: int, H: int, opts: CellOptions, rng: np.random.Generator, dtype) -> dict:
    p = {name: uniform(rng, shape, H, dtype) for name, shape in param_shapes(I, H, opts).items()}
    if opts.init == "uniform":
        return p
    O = _outputs(H, opts)
    if O != H:
        raise ConfigError(
            f"init={opts.init!r} needs a square Jordan weight_hh [H, O], got [{H}, {O}]; "
            "make the output units as many as the hidden units (in a Model: hidden_size = "
            "output_size) or use init='uniform'"
        )
    p["weight_hh"] = recurrent(rng, (H, O), H, opts.init, dtype)
    if opts.init == "identity":
        for name in ("bias_ih", "bias_hh", "bias_hy"):
            p[name][:] = 0
    return p


def state_sizes(H: int, opts: CellOptions) -> tuple[int, ...]:
    return (_outputs(H, opts),)


def output_size(H: int, opts: CellOptions) -> int:
    return _outputs(H, opts)


def step_forward(p: dict, ax: np.ndarray, state: tuple, opts: CellOptions, drop=None):
    (y_prev,) = state
    act, _ = ACTIVATIONS[opts.nonlinearity]
    r = softmax(y_prev) if opts.jordan_feedback == "softmax" else None  # r = f(y_{t−1})
    r_rec = y_prev if r is None else r
    r_rec = r_rec if drop is None else r_rec * drop
    # a = x W_ihᵀ + b_ih + r_{t−1} W_hhᵀ + b_hh
    a = ax + p["bias_ih"] + r_rec @ p["weight_hh"].T + p["bias_hh"]
    h = act(a)  # h = act(a)
    y = h @ p["weight_hy"].T + p["bias_hy"]  # y = h W_hyᵀ + b_hy
    return y, (y,), Cache(r_rec, r, h, drop)


def step_backward(p: dict, dout: np.ndarray, dstate: tuple, cache: Cache, opts: CellOptions):
    _, dact = ACTIVATIONS[opts.nonlinearity]
    dy = dout + dstate[0]  # y is both the output and the state
    dh = dy @ p["weight_hy"]  # y = h W_hyᵀ + b_hy
    da = dh * dact(cache.h)  # h = act(a)
    dr = da @ p["weight_hh"]  # a = … + r_{t−1} W_hhᵀ
    if cache.drop is not None:
        dr = dr * cache.drop
    # r = f(y_{t−1}): identity, or softmax with ∂L/∂y = r ⊙ (dr − Σ dr ⊙ r)
    dy_prev = dr if cache.r is None else softmax_backward(dr, cache.r)
    return da, (dy_prev,), Step(da, dy)


def param_grads(p: dict, caches: Cache, dsteps: Step, opts: CellOptions) -> dict:
    T, B, H = dsteps.da.shape
    O = dsteps.dy.shape[2]
    da = dsteps.da.reshape(T * B, H)
    dy = dsteps.dy.reshape(T * B, O)
    db = da.sum(axis=0)
    return {
        "weight_hh": da.T @ caches.r_rec.reshape(T * B, O),
        "bias_ih": db,
        "bias_hh": db.copy(),
        "weight_hy": dy.T @ caches.h.reshape(T * B, H),
        "bias_hy": dy.sum(axis=0),
    }
