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

Recurrent (variational) dropout uses one mask on h_{t−1} for every step of a sequence (Gal &
Ghahramani 2016); here the sequence is the whole stream, so ``TruncatedBPTT`` draws the
recurrent masks when a stream starts (its first chunk after construction or ``reset``) and
holds them across windows — the buffered steps re-run under the same mask — and in its
``state_dict``.  Dropout between layers is drawn afresh for every window's steps.
"""

from typing import Any, NamedTuple, Protocol

import numpy as np

from ..errors import ConfigError, ShapeError
from ..layers import losses
from ..models.model import Model

# The functional form: the field ``count`` (positions the loss counted) replaces the tuple's
# count() method, which the class form's type check refuses.
Step = NamedTuple(
    "Step",
    [
        ("loss", float),  # mean loss over the counted positions
        ("grads", dict[str, np.ndarray]),  # ∂loss/∂params
        ("state", Any),  # final state (for carrying into the next batch)
        ("count", int),  # positions the loss counted
    ],
)


class _LossConfig(Protocol):
    @property
    def loss(self) -> str: ...  # cross_entropy | mse


class LossModel(Protocol):
    """A model whose configuration names its loss (``Model``, ``FFNN``)."""

    @property
    def config(self) -> _LossConfig: ...


def objective(
    model: LossModel, y: np.ndarray, targets: np.ndarray, mask=None
) -> tuple[float, np.ndarray]:
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


DRAW_KEY = "recurrent_draw_"  # state_dict keys of the held recurrent-dropout draws [B, S]


class TruncatedBPTT:
    """BPTT(k1, k2) over a stream of ``[B, k1]`` chunks, carrying state between them."""

    def __init__(self, k1: int, k2: int | None = None) -> None:
        k2 = k1 if k2 is None else k2
        if k1 < 1 or k2 < k1:
            raise ConfigError(f"truncated BPTT needs 1 <= k1 <= k2, got k1={k1}, k2={k2}")
        self.k1, self.k2 = k1, k2
        self.state: Any = None  # state where the buffered inputs start (constant)
        self.buffer: np.ndarray | None = None  # the last k2 − k1 inputs [B, ≤ k2 − k1, ...]
        # the stream's recurrent-dropout draws u[B, S], one per layer and direction (None:
        # not drawn yet; drawn by the stream's first forward)
        self.recurrent_draws: list[np.ndarray] | None = None

    def reset(self) -> None:
        """Start new streams: no carried state, no buffered inputs, new recurrent masks."""
        self.state, self.buffer, self.recurrent_draws = None, None, None

    def step(
        self,
        model: Model,
        x: np.ndarray,
        targets: np.ndarray,
        *,
        rng: np.random.Generator | None = None,
    ) -> Step:
        """One update's loss and gradients from the chunk ``x: [B, k1]`` and its ``targets``."""
        x = np.asarray(x)
        window = x if self.buffer is None else np.concatenate([self.buffer, x], axis=1)
        n_buf = window.shape[1] - x.shape[1]
        split = max(window.shape[1] - (self.k2 - self.k1), 0)
        pieces = [p for p in ((0, split), (split, window.shape[1])) if p[1] > p[0]]
        ys, caches, states, state = [], [], [], self.state
        for a, b in pieces:
            draws = None if rng is None else _StreamDraws(rng, self.recurrent_draws)
            y, state, cache = model.forward(window[:, a:b], state, train=True, rng=draws)
            if draws is not None:
                self.recurrent_draws = draws.held()
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
        assert grads is not None  # the window has at least one piece
        if split > 0:  # the next window starts at `split`; before it, the state is unchanged
            self.state = states[0]
        self.buffer = window[:, split:] if self.k2 > self.k1 else None
        return Step(loss, grads, states[-1], int(np.prod(targets.shape[:2])))

    def state_dict(self) -> dict[str, Any]:
        """Arrays that let a resumed run continue exactly: the state, the buffered inputs and
        the recurrent-dropout draws ``recurrent_draw_{k}: [B, S]`` held for the stream."""
        out: dict[str, Any] = {}
        if self.state is not None:
            parts = self.state if isinstance(self.state, tuple) else (self.state,)
            out.update({f"state_{k}": s for k, s in enumerate(parts)})
            out["state_is_tuple"] = np.array(isinstance(self.state, tuple))
        if self.buffer is not None:
            out["buffer"] = self.buffer
        for k, u in enumerate(self.recurrent_draws or ()):
            out[f"{DRAW_KEY}{k}"] = u
        return out

    def load_state_dict(self, d: dict[str, Any]) -> None:
        self.reset()
        parts = [d[k] for k in _numbered(d, "state_")]
        if parts:
            self.state = tuple(parts) if bool(d["state_is_tuple"]) else parts[0]
        self.buffer = d.get("buffer")
        draws = [np.asarray(d[k], dtype=np.float64) for k in _numbered(d, DRAW_KEY)]
        if any(u.ndim != 2 for u in draws):
            raise ShapeError(
                f"saved recurrent-dropout draws must be [B, S], got shapes "
                f"{[list(u.shape) for u in draws]}"
            )
        self.recurrent_draws = draws or None


def _numbered(d: dict[str, Any], prefix: str) -> list[str]:
    """The keys ``prefix{k}`` of ``d`` in the order of k."""
    keys = [k for k in d if k.startswith(prefix) and k[len(prefix) :].isdigit()]
    return sorted(keys, key=lambda k: int(k[len(prefix) :]))


class _StreamDraws:
    """The generator a window's forward draws dropout from, holding the stream's recurrent masks.

    ``Recurrent.forward`` draws, layer by layer, the recurrent-dropout uniforms u[B, S] once
    per direction, then the inter-layer dropout uniforms u[T, B, F] (``RowRandom`` and
    ``memory_bptt`` read the same order).  The stream's first forward records its u[B, S]
    draws from ``rng``; every later one is answered with them, in order, so the recurrent
    masks stay the same for the whole stream.  Draws u[T, B, F] always come fresh from ``rng``.
    """

    def __init__(self, rng: Any, held: list[np.ndarray] | None) -> None:
        self.rng = rng  # a numpy Generator or a stand-in offering random(shape)
        self.recording = held is None
        self.draws = [] if held is None else held
        self.used = 0

    def random(self, shape) -> np.ndarray:
        shape = tuple(shape)
        if len(shape) != 2:
            return self.rng.random(shape)
        if self.recording:
            self.draws.append(self.rng.random(shape))
            return self.draws[-1]
        if self.used >= len(self.draws) or self.draws[self.used].shape != shape:
            held = [list(u.shape) for u in self.draws]
            raise ShapeError(
                f"the recurrent-dropout masks held for this stream are {held}, "
                f"but the model asks for a mask of shape {list(shape)}; call "
                "reset() before feeding streams of another batch size or model"
            )
        self.used += 1
        return self.draws[self.used - 1]

    def held(self) -> list[np.ndarray]:
        """The stream's draws, after checking that a replayed forward used every one of them."""
        if not self.recording and self.used != len(self.draws):
            raise ShapeError(
                f"the model used {self.used} of the {len(self.draws)} recurrent-"
                "dropout masks held for this stream; call reset() before feeding "
                "another model"
            )
        return self.draws
