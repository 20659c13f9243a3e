"""Fully recurrent net (FRNN): every unit feeds every unit at the next step.

Williams & Zipser (1989), "A learning algorithm for continually running fully recurrent
neural networks"; trained here by BPTT rather than their real-time recurrent learning.

The net has N = H + O units u = [h; y]: H hidden units and O = ``opts.output_size`` output
units (H when 0).  Hidden and output units alike see the input and all N units of step t−1;
the output units are the last O.

Forward (per step, ``act`` = tanh | relu, ``M`` the fixed 0/1 connection mask)::

    a_t = x_t W_ihᵀ + b_ih + u_{t−1} (M ⊙ W_hh)ᵀ + b_hh
    u_t = act(a_t)                    out_t = y_t = u_t[:, H:]
    (``opts.linear_outputs``: u_t = [act(a_t[:, :H]) | a_t[:, H:]], linear output units)

Backward (d· = ∂L/∂·; ``du`` arrives from step t+1, ``dy`` from the output at t)::

    du_t       ← du_t + [0 | dy_t]               (the output units are part of the state)
    da_t        = du_t ⊙ act′(u_t)                (1 − u_t² for tanh, [u_t > 0] for relu;
                                                   1 for linear output units)
    du_{t−1}    = da_t (M ⊙ W_hh)                 (⊙ drop with recurrent dropout)
    dx_t        = da_t W_ih                       (formed for all steps at once by the driver)
    dW_hh       = M ⊙ Σ_t da_tᵀ u_{t−1}           dW_ih = Σ_t da_tᵀ x_t
    db_ih       = db_hh = Σ_t Σ_B da_t

State ``(u,)`` of width N; per-step output y_t of width O.  Weights: ``weight_ih [N, I]``,
``weight_hh [N, N]``, ``bias_ih [N]``, ``bias_hh [N]``, and ``connection_mask [N, N]``.

The connection mask
-------------------
``connection_mask[i, j] = 0`` removes the connection from unit j at t−1 to unit i at t (rows
and columns index u = [h; y]).  The effective recurrent weight is M ⊙ W_hh and its gradient
is masked the same way, so a removed weight has zero gradient and never changes.  Zeroing
blocks derives other topologies; in blocks [[h ← h, h ← y], [y ← h, y ← y]], and with every
connection taking one step (u_t reads u_{t−1} only):

* M = [[1, 0], [·, 0]]: the hidden units are an Elman RNN on the blocks W_ih[:H],
  W_hh[:H, :H] (exactly: same weights, same values); with M[H:, :H] = 1 the output units
  read the hidden state one step late, y_t = act(x_t W_ih[H:]ᵀ + h_{t−1} W_hh[H:, :H]ᵀ + b).
* M = [[0, 1], [0, 0]]: the hidden units read only the outputs, and the outputs have no
  recurrent input at all, y_t = act(x_t W_ih[H:]ᵀ + b): no path from the hidden units to
  the outputs — not a Jordan net.
* M = [[0, 1], [1, 0]]: Jordan's topology (h ← y ← h), but the loop takes two steps where
  the Jordan cell's takes one (its y_t reads h_t of the same step), and the outputs are
  nonlinear.  With ``linear_outputs``, W_ih[H:] = 0 and a zero input step after every real
  one, it *is* the Jordan cell with output feedback on the same weights (weight_hh =
  W_hh[:H, H:], weight_hy = W_hh[H:, :H], bias_hy = b_ih[H:] + b_hh[H:]): the hidden units
  at step 2t are Jordan's h_t, the outputs at 2t+1 its y_t; the other half-steps form a
  second chain that never reaches them.  Softmax feedback is not in the family (softmax
  is not a function of one unit).  ``tests/cells/test_topologies.py`` holds both equalities.
* A block-triangular M gives layers, each one step behind the one below.

The mask is not trained: it is stored with the parameters so that it travels with them (state
dicts, checkpoints), its "gradient" is always zeros, and optimisers leave it unchanged
(exclude it from weight decay).  ``init_params`` makes it all ones (fully connected) unless
one is given; ``with_connection_mask`` sets it on existing parameters.  The input weights
``weight_ih`` are not masked.

Recurrent dropout multiplies u_{t−1} by a fixed mask before W_hh, so the ``drop`` mask is
``[B, N]``: as for every cell, its width is that of the recurrent input (``state_sizes[0]``).

Initialisation: every weight and bias U(−1/√N, 1/√N) (PyTorch's rule with N units);
``opts.init`` = orthogonal or identity makes ``weight_hh`` a random orthogonal matrix or the
identity, and identity zeroes both biases (IRNN, Le et al. 2015).
"""

from typing import NamedTuple

import numpy as np

from ..errors import ShapeError
from . import CellOptions
from ._activations import ACTIVATIONS
from ._init import recurrent, uniform


class Cache(NamedTuple):
    u_rec: np.ndarray  # [B, N] recurrent input u_{t−1} (after the dropout mask)
    u: np.ndarray  # [B, N] u_t
    drop: np.ndarray | None  # [B, N] recurrent dropout mask


class Step(NamedTuple):
    da: np.ndarray  # [B, N] ∂L/∂a_t


def _units(H: int, opts: CellOptions) -> int:
    """N = H + O: hidden plus output units (O = ``opts.output_size``, or H when it is 0)."""
    return H + (opts.output_size or H)


def _hidden(N: int, opts: CellOptions) -> int:
    """H from N = H + O."""
    return N - opts.output_size if opts.output_size else N // 2


def param_shapes(I: int, H: int, opts: CellOptions) -> dict[str, tuple]:
    N = _units(H, opts)
    return {
        "weight_ih": (N, I),
        "weight_hh": (N, N),
        "bias_ih": (N,),
        "bias_hh": (N,),
        "connection_mask": (N, N),
    }


def init_params(
    I: int,
    H: int,
    opts: CellOptions,
    rng: np.random.Generator,
    dtype,
    connection_mask: np.ndarray | None = None,
) -> dict:
    """Random parameters; ``connection_mask [N, N]`` of 0/1 (default all ones) removes weights."""
    N = _units(H, opts)
    shapes = param_shapes(I, H, opts)
    trained = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    p = {name: uniform(rng, shapes[name], N, dtype) for name in trained}
    if opts.init != "uniform":
        p["weight_hh"] = recurrent(rng, (N, N), N, opts.init, dtype)
    if opts.init == "identity":
        p["bias_ih"][:] = 0
        p["bias_hh"][:] = 0
    p["connection_mask"] = np.ones((N, N), dtype=dtype)
    return p if connection_mask is None else with_connection_mask(p, connection_mask)


def with_connection_mask(p: dict, mask: np.ndarray) -> dict:
    """A new parameter dict with ``connection_mask = mask`` and the removed weights zeroed.

    ``mask: [N, N]`` of 0/1; ``mask[i, j] = 0`` removes the weight from unit j to unit i.
    ``p`` is not modified.
    """
    W_hh = p["weight_hh"]
    mask = np.asarray(mask)
    if mask.shape != W_hh.shape:
        raise ShapeError(f"connection_mask must have shape {W_hh.shape} [N, N], got {mask.shape}")
    if not np.isin(mask, (0, 1)).all():
        raise ShapeError("connection_mask must hold only 0 (removed) and 1 (kept)")
    M = mask.astype(W_hh.dtype)
    return {**p, "weight_hh": W_hh * M, "connection_mask": M}


def state_sizes(H: int, opts: CellOptions) -> tuple[int, ...]:
    return (_units(H, opts),)


def output_size(H: int, opts: CellOptions) -> int:
    return opts.output_size or H


def step_forward(p: dict, ax: np.ndarray, state: tuple, opts: CellOptions, drop=None):
    (u_prev,) = state
    act, _ = ACTIVATIONS[opts.nonlinearity]
    W_hh = p["connection_mask"] * p["weight_hh"]  # M ⊙ W_hh
    u_rec = u_prev if drop is None else u_prev * drop
    a = (
        ax + p["bias_ih"] + u_rec @ W_hh.T + p["bias_hh"]
    )  # a = x W_ihᵀ + b_ih + u (M⊙W_hh)ᵀ + b_hh
    u = act(a)  # u = act(a)
    H = _hidden(u.shape[1], opts)
    if opts.linear_outputs:
        u[:, H:] = a[:, H:]  # y = a[:, H:]: linear output units
    y = u[:, H:]  # y = u[:, H:]
    return y, (u,), Cache(u_rec, u, drop)


def step_backward(p: dict, dout: np.ndarray, dstate: tuple, cache: Cache, opts: CellOptions):
    _, dact = ACTIVATIONS[opts.nonlinearity]
    H = _hidden(cache.u.shape[1], opts)
    du = dstate[0].copy()
    du[:, H:] += dout  # y = u[:, H:]
    g = dact(cache.u)  # u = act(a)
    if opts.linear_outputs:
        g[:, H:] = 1  # y = a[:, H:]
    da = du * g
    du_prev = da @ (p["connection_mask"] * p["weight_hh"])  # a = … + u_{t−1} (M⊙W_hh)ᵀ
    if cache.drop is not None:
        du_prev = du_prev * cache.drop
    return da, (du_prev,), Step(da)


def param_grads(p: dict, caches: Cache, dsteps: Step, opts: CellOptions) -> dict:
    T, B, N = dsteps.da.shape
    da = dsteps.da.reshape(T * B, N)
    db = da.sum(axis=0)
    return {
        "weight_hh": p["connection_mask"] * (da.T @ caches.u_rec.reshape(T * B, N)),
        "bias_ih": db,
        "bias_hh": db.copy(),
        "connection_mask": np.zeros_like(p["connection_mask"]),  # fixed, never trained
    }
