"""Influence of each earlier input on one prediction: the connectivity of Madsen (Distill 2019).

For the prediction ŷ_t[k] (output unit k of the readout at step t) and every step s::

    influence(s) = ‖∂ŷ_t[k] / ∂x_s‖₂          x_s: the vector the recurrent layer reads at s
                                                (one-hot column, embedding, or input features)

"Visualizing memorization in RNNs" (Madsen 2019) draws this over the text: a model that
memorises far back has large values far from t.  For a causal (unidirectional) model it is 0
for s > t.  The gradient comes from the model's own backward: the readout's ``dy = e_k``
becomes ∂/∂h through the head (y = h Wᵀ + b ⇒ dh = dy W; a Jordan model's output is its
layer's own, dh = dy), and the recurrent layer's
hand-written BPTT returns ∂/∂x for every step.

The unit k: for a single output, that output; for a classifier or character model, by default
the most probable class at t (or the one given, e.g. the true next character).
"""

import numpy as np

from ..errors import ConfigError, ShapeError
from ..models.model import Model


def input_gradients(
    model: Model, x: np.ndarray, position: int = -1, unit: int | np.ndarray | None = None
) -> np.ndarray:
    """∂ŷ_position[unit] / ∂x_s for every step s: ``[B, T, I]`` (batch-first, like ``x``).

    ``x: [B, T]`` ids or ``[B, T, I]``.  With a last-step readout the prediction is the one
    made after reading ``x[:, :position + 1]`` (unidirectional models only, unless
    ``position`` is the last step).  ``unit``: an output index (or one per sequence, ``[B]``);
    None picks the only output, or the most probable class at ``position``.
    """
    x = np.asarray(x)
    if x.ndim < 2:
        raise ShapeError(f"x must be [B, T] ids or [B, T, I] vectors, got shape {x.shape}")
    T = x.shape[1]
    t = position + T if position < 0 else position
    if not 0 <= t < T:
        raise ConfigError(f"position {position} is outside a sequence of {T} steps")
    last_step = model.config.readout == "last_step"
    if last_step and t != T - 1:
        if model.rnn.num_directions != 1:
            raise ConfigError("a bidirectional last-step model predicts only after the last step")
        x, T = x[:, : t + 1], t + 1
    y, _, cache = model.forward(x)
    y_t = y if last_step else y[:, t]  # [B, O]
    k = _units(model, y_t, unit)
    dy = np.zeros_like(y_t)
    dy[np.arange(len(dy)), k] = 1  # ŷ_t[k]
    dh = model.readout_backward(dy)  # y = h Wᵀ + b  ⇒  dh = dy W  (Jordan: dh = dy)
    dhs = np.zeros_like(cache.hs)  # [T, B, F] ∂ŷ/∂(recurrent outputs)
    if model.rnn.num_directions == 1 or not last_step:
        dhs[T - 1 if last_step else t] = dh
    else:  # a bidirectional last-step readout reads the reverse half at step 0
        half = dh.shape[1] // 2
        dhs[T - 1, :, :half] = dh[:, :half]
        dhs[0, :, half:] += dh[:, half:]
    dxs, _, _ = model.rnn.backward(cache.rnn, dhs)  # [T, B, I]
    assert dxs is not None  # need_dx=True
    return dxs.swapaxes(0, 1)


def influence(
    model: Model, x: np.ndarray, position: int = -1, unit: int | np.ndarray | None = None
) -> np.ndarray:
    """‖∂ŷ_position[unit] / ∂x_s‖ for every step s: ``[B, T']`` (T' = T, or position + 1 with a
    unidirectional last-step readout).  See ``input_gradients``."""
    g = np.asarray(input_gradients(model, x, position, unit), dtype=np.float64)
    return np.sqrt(np.einsum("bti,bti->bt", g, g))


def top_positions(values: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest values along the last axis, largest first: ``[..., n]``."""
    order = np.argsort(-np.asarray(values), axis=-1, kind="stable")
    return order[..., :n]


def _units(model: Model, y_t: np.ndarray, unit) -> np.ndarray:
    """[B] output index per sequence."""
    B, O = y_t.shape
    if unit is None:
        k = np.zeros(B, dtype=np.int64) if O == 1 else np.argmax(y_t, axis=1)
    else:
        k = np.broadcast_to(np.asarray(unit, dtype=np.int64), (B,))
    if k.min() < 0 or k.max() >= O:
        raise ConfigError(f"output unit must lie in [0, {O}), got {k.min()}..{k.max()}")
    return k
