"""Backpropagation through time: full, and truncated with separate k1 and k2.

Full BPTT runs the whole sequence forward, then the whole backward (``full_bptt``).

Truncated BPTT(k1, k2) (Williams & Peng 1990; Sutskever 2013, §2.8.6) reads a long stream
in chunks of k1 steps.  After each chunk it makes one update from the loss of those k1 steps,
back-propagated k2 ≥ k1 steps: the window is the chunk preceded by the last k2 − k1 inputs,
re-run from the state saved where the window starts, which is treated as a constant
(detached).  The state then moves on, so no information is lost between chunks, only
gradient:

    window  = inputs [e − k2, e)          loss on [e − k1, e)          state(e − k2) detached
    carried = state(e − k2 + k1)  →  start of the next window

With k1 = k2 = T on a single chunk, this is exactly full BPTT.
"""

from typing import Any, NamedTuple

import numpy as np

from . import losses
from .errors import ConfigError
from .model import Model


class Step(NamedTuple):
    loss: float  # mean loss over the counted positions
    grads: dict[str, np.ndarray]  # ∂loss/∂params
    state: Any  # final state (for carrying into the next batch)
    count: int  # positions the loss counted


def objective(model: Model, y: np.ndarray, targets: np.ndarray, mask=None) -> tuple[float, np.ndarray]:
    """(mean loss, ∂loss/∂y) with the model's loss (cross-entropy or MSE)."""
    if model.config.loss == "cross_entropy":
        return losses.softmax_cross_entropy(y, targets, mask)
    return losses.mse(y, targets, mask)


def full_bptt(
    model: Model,
    x: np.ndarray,
    targets: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    state: Any = None,
    train: bool = True,
    rng: np.random.Generator | None = None,
) -> Step:
    """Loss and gradients of one batch: forward over every step, then back through all of them.

    ``x: [B, T]`` ids or ``[B, T, I]``; ``targets`` shaped like the outputs without the last
    axis (class ids) or with it (regression).  For an every-step readout, ``mask``/``lengths``
    also mask the loss.
    """
    y, final, cache = model.forward(x, state, mask, lengths=lengths, train=train, rng=rng)
    loss_mask = None
    if model.config.readout == "every_step":
        if lengths is not None:
            loss_mask = np.arange(y.shape[1])[None, :] < np.asarray(lengths)[:, None]
        elif mask is not None:
            loss_mask = np.asarray(mask, dtype=bool)
    loss, dy = objective(model, y, targets, loss_mask)
    grads, _ = model.backward(cache, dy)
    count = int(loss_mask.sum()) if loss_mask is not None else int(np.prod(y.shape[:-1]))
    return Step(loss, grads, final, count)


class TruncatedBPTT:
    """BPTT(k1, k2) over a stream of ``[B, k1]`` chunks, carrying state between them."""

    def __init__(self, k1: int, k2: int | None = None) -> None:
        k2 = k1 if k2 is None else k2
        if k1 < 1 or k2 < k1:
            raise ConfigError(f"truncated BPTT needs 1 <= k1 <= k2, got k1={k1}, k2={k2}")
        self.k1, self.k2 = k1, k2
        self.state: Any = None  # state where the buffered inputs start (constant)
        self.buffer: np.ndarray | None = None  # the last k2 − k1 inputs [B, ≤ k2 − k1, ...]

    def reset(self) -> None:
        self.state, self.buffer = None, None

    def step(self, model: Model, x: np.ndarray, targets: np.ndarray, *,
             rng: np.random.Generator | None = None) -> Step:
        """One update's loss and gradients from the chunk ``x: [B, k1]`` and its ``targets``."""
        x = np.asarray(x)
        window = x if self.buffer is None else np.concatenate([self.buffer, x], axis=1)
        n_buf = window.shape[1] - x.shape[1]
        split = max(window.shape[1] - (self.k2 - self.k1), 0)
        pieces = [p for p in ((0, split), (split, window.shape[1])) if p[1] > p[0]]
        ys, caches, states, state = [], [], [], self.state
        for a, b in pieces:
            y, state, cache = model.forward(window[:, a:b], state, train=True, rng=rng)
            ys.append(y)
            caches.append(cache)
            states.append(state)
        y = np.concatenate(ys, axis=1)
        loss, dy_chunk = objective(model, y[:, n_buf:], targets)
        dy = np.zeros_like(y)
        dy[:, n_buf:] = dy_chunk
        grads, dstate = None, None
        for (a, b), cache in zip(reversed(pieces), reversed(caches)):
            g, dstate = model.backward(cache, dy[:, a:b], dstate)
            grads = g if grads is None else {n: grads[n] + g[n] for n in grads}
        if split > 0:  # the next window starts at `split`; before it, the state is unchanged
            self.state = states[0]
        self.buffer = window[:, split:] if self.k2 > self.k1 else None
        return Step(loss, grads, states[-1], int(np.prod(targets.shape[:2])))

    def state_dict(self) -> dict[str, Any]:
        """Arrays that let a resumed run continue exactly (state and buffered inputs)."""
        out: dict[str, Any] = {}
        if self.state is not None:
            parts = self.state if isinstance(self.state, tuple) else (self.state,)
            out.update({f"state_{k}": s for k, s in enumerate(parts)})
            out["state_is_tuple"] = np.array(isinstance(self.state, tuple))
        if self.buffer is not None:
            out["buffer"] = self.buffer
        return out

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.reset()
        parts = [d[k] for k in sorted(k for k in d if k.startswith("state_") and k[6:].isdigit())]
        if parts:
            self.state = tuple(parts) if bool(d["state_is_tuple"]) else parts[0]
        self.buffer = d.get("buffer")
