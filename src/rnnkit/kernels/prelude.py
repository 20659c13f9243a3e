"""The work before the time loop that the NumPy and the fused kernel of a cell share.

Both LSTM kernels and both GRU kernels compute the sigmoid gates as σ(a) = ½ (1 + tanh(a/2)):
the sigmoid rows of W_ih, W_hh and the bias are halved once per call (exact in binary floating
point), so that one ``tanh`` covers a whole gate block.  ``lstm`` and ``gru`` lay out the
weights so and take the pool buffers the loop fills::

    LSTM (i, f, g, o; α = ½ on i, f, o, 1 on g):
        W_hhᵀ ⊙ α          x W_ihᵀ ⊙ α + (b_ih + b_hh) ⊙ α         hs, cs [T + 1, B, H]
    GRU (r, z, n; ½ on r, z):
        W_hhᵀ halved       x W_ihᵀ + b_ih (+ b_hh for r, z), halved   b_hn   hs [T + 1, B, H]

For vectors ``xs: [T, B, I]`` the input product of all steps is made here; for token ids
``xs: [T, B]`` (the fused kernels) the steps fill it from the table P = W_ihᵀ + b
(``sequence.input_side``).
"""

import numpy as np

from . import sequence as seq
from ._workspace import POOL


def lstm_affine(H: int, dt) -> tuple[np.ndarray, np.ndarray]:
    """(α, β) of [4H]: ½ and ½ on the sigmoid gates i, f, o; 1 and 0 on g, so that
    α ⊙ tanh(a) + β gives every LSTM gate from the halved pre-activations."""
    alpha, beta = np.full(4 * H, 0.5, dt), np.full(4 * H, 0.5, dt)
    alpha[2 * H : 3 * H], beta[2 * H : 3 * H] = 1, 0
    return alpha, beta


def lstm(p: dict, xs: np.ndarray, state0: tuple):
    """(gates [T, B, 4H], P, W_hhᵀ [H, 4H], hs and cs [T + 1, B, H] with the initial state in
    row 0, tanh_c [T, B, H]) with the sigmoid rows halved by α; gates, hs, cs and tanh_c are
    pool buffers.

    For vectors, gates = x W_ihᵀ + b for all t and P is empty ``[0, 0]``; for token ids,
    gates is left for the steps to fill from P = W_ihᵀ + b ``[V, 4H]``.
    """
    T, B = xs.shape[:2]
    H = state0[0].shape[1]
    dt = p["weight_hh"].dtype
    alpha, _ = lstm_affine(H, dt)
    W_hhT = seq.scaled_transpose(p["weight_hh"], alpha)
    W_ih, b = p["weight_ih"] * alpha[:, None], (p["bias_ih"] + p["bias_hh"]) * alpha
    gates, P = seq.input_side(xs, W_ih, b)
    hs, cs = POOL.take((T + 1, B, H), dt), POOL.take((T + 1, B, H), dt)
    hs[0], cs[0] = state0
    return gates, P, W_hhT, hs, cs, POOL.take((T, B, H), dt)


def halve_rz(w: np.ndarray, H: int) -> np.ndarray:
    """A copy of ``w`` with the rows (or entries) of the GRU's r and z blocks halved."""
    out = w.copy()
    out[: 2 * H] *= 0.5
    return out


def gru(p: dict, xs: np.ndarray, state0: tuple):
    """(gates [T, B, 3H], P, W_hhᵀ [H, 3H], b_hn [H], hs [T + 1, B, H] with the initial state
    in row 0, a_hn [T, B, H]) with the r and z rows halved; gates, hs and a_hn are pool
    buffers.

    For vectors, gates = x W_ihᵀ + b for all t and P is empty ``[0, 0]``; for token ids,
    gates is left for the steps to fill from P = W_ihᵀ + b ``[V, 3H]``.
    """
    T, B = xs.shape[:2]
    H = state0[0].shape[1]
    dt = p["weight_hh"].dtype
    b = p["bias_ih"].copy()
    b[: 2 * H] += p["bias_hh"][: 2 * H]
    W_ih, b = halve_rz(p["weight_ih"], H), halve_rz(b, H)
    gates, P = seq.input_side(xs, W_ih, b)
    W_hhT = seq.scaled_transpose(p["weight_hh"], halve_rz(np.ones(3 * H, dt), H))
    b_hn = np.ascontiguousarray(p["bias_hh"][2 * H :], dtype=dt)
    hs = POOL.take((T + 1, B, H), dt)
    hs[0] = state0[0]
    return gates, P, W_hhT, b_hn, hs, POOL.take((T, B, H), dt)
