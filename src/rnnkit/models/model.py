"""The model: token or vector input → recurrent layer → linear readout, with its backward.

The public API is batch-first: ``x: [B, T]`` token ids or ``[B, T, I]`` vectors; outputs
``[B, T, O]`` (readout every step) or ``[B, O]`` (last step).  Inside, arrays are time-major.

Parameter names follow a PyTorch module with attributes ``embedding``, ``rnn`` and ``head``:
``embedding.weight``, ``rnn.weight_ih_l0`` …, ``head.weight``, ``head.bias``.

A Jordan model has no ``head``: its recurrence carries the network's output, so the Jordan
cell's output layer (``rnn.weight_hy_l{L−1}``, ``rnn.bias_hy_l{L−1}``) *is* the readout.  Its
outputs are the top layer's y_t (``[B, T, O]``), or y at each sequence's last real step::

    every_step:  out_t = y_t            last_step:  out = y_{last(b)}

and the loss's gradient enters the layer directly, where the cell adds it to the gradient
arriving through the feedback from step t+1.  (An older rnnkit put a head on top of a Jordan
layer's internal output; such weights are refused with a ``ShapeError`` that says so.)

Example
-------
>>> import numpy as np, rnnkit
>>> config = rnnkit.ModelConfig.for_tokens(5, cell="lstm", hidden_size=8)
>>> model = rnnkit.Model(config, rng=np.random.default_rng(0))
>>> logits, state, cache = model.forward(np.array([[0, 1, 2, 3]]))
>>> logits.shape
(1, 4, 5)
>>> grads, _ = model.backward(cache, np.ones_like(logits))
>>> sorted(grads)[:3]
['head.bias', 'head.weight', 'rnn.bias_hh_l0']
"""

from typing import Any, NamedTuple

import numpy as np

from ..config import ModelConfig
from ..errors import ShapeError
from ..layers.dense import dense_backward, dense_forward, init_dense
from ..layers.embedding import embed_backward, model_inputs
from ..layers.recurrent import LayerCache, Recurrent, Uniforms

RNN_PREFIX = "rnn."

HEADLESS_CELLS = ("jordan",)
"""Cells whose own output layer is the model's readout (no ``head.*`` parameters)."""


class ModelCache(NamedTuple):
    ids: np.ndarray | None  # [T, B] token ids, or None for vector inputs
    rnn: LayerCache
    hs: np.ndarray  # [T, B, F] recurrent outputs (time-major)
    last: np.ndarray | None  # [B] index of each sequence's last real step (last-step readout)


class Model:
    """A recurrent model with hand-written backpropagation through time."""

    def __init__(
        self,
        config: ModelConfig,
        *,
        rng: np.random.Generator | None = None,
        params: dict[str, np.ndarray] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.dtype = np.dtype(config.dtype)
        self.meta = dict(meta or {})  # JSON-able extras saved with the model, e.g. a vocabulary
        self.rnn = Recurrent(config.rnn, rng=rng, dtype=self.dtype, params=_sub(params))
        self.has_head = config.rnn.cell not in HEADLESS_CELLS  # else the cell's y is the output
        if self.dtype == np.float32 and config.loss == "cross_entropy":
            # load the loss's compiled pass now (≈ 5 ms), not in the first training step
            from ..kernels import resolve_op  # (none under RNNKIT_BACKEND=reference)

            resolve_op("cross_entropy", self.dtype)
        self.params: dict[str, np.ndarray] = {}
        if params is None:
            assert rng is not None  # Recurrent above refuses to initialise without it
            params = {}
            if self.has_head:
                W, b = init_dense(rng, config.output_size, self.rnn.output_size, self.dtype)
                params = {"head.weight": W, "head.bias": b}
            if config.embedding_dim:
                E = rng.standard_normal((config.vocab_size, config.embedding_dim))
                params["embedding.weight"] = E.astype(self.dtype)  # N(0, 1), as nn.Embedding
            params.update({RNN_PREFIX + n: w for n, w in self.rnn.params.items()})
        self.load_state_dict(params)

    # -- parameters ---------------------------------------------------------------------------

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        c = self.config
        shapes: dict[str, tuple[int, ...]] = {}
        if c.embedding_dim:
            shapes["embedding.weight"] = (c.vocab_size, c.embedding_dim)
        shapes.update({RNN_PREFIX + n: s for n, s in self.rnn.param_shapes().items()})
        if self.has_head:
            shapes["head.weight"] = (c.output_size, self.rnn.output_size)
            shapes["head.bias"] = (c.output_size,)
        return shapes

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter as a NumPy array (a copy) under its PyTorch-style name."""
        return {n: w.copy() for n, w in self.params.items()}

    def load_state_dict(self, params: dict[str, np.ndarray]) -> None:
        """Replace every parameter (names and shapes checked, values copied and cast)."""
        expected = self.param_shapes()
        if not self.has_head and any(n.startswith("head.") for n in params):
            raise ShapeError(
                f"these {self.config.rnn.cell} weights have a separate head.weight/head.bias "
                "readout, from an rnnkit whose Jordan layer fed back an internal output under "
                "that head; a Jordan model's own output layer is now its readout, so they do "
                "not define this model: train it again"
            )
        missing, unexpected = (
            sorted(set(expected) - set(params)),
            sorted(set(params) - set(expected)),
        )
        if missing or unexpected:
            raise ShapeError(
                f"parameters do not match this model: missing {missing}, unexpected {unexpected}"
            )
        for n, shape in expected.items():
            if np.shape(params[n]) != shape:
                raise ShapeError(
                    f"parameter {n} must have shape {shape}, got {np.shape(params[n])}"
                )
        self.params = {n: np.array(params[n], dtype=self.dtype, order="C") for n in expected}
        # the layer works on the very same arrays, so in-place optimizer updates reach it
        self.rnn.params = {
            n[len(RNN_PREFIX) :]: w for n, w in self.params.items() if n.startswith(RNN_PREFIX)
        }

    def num_parameters(self) -> int:
        return int(sum(w.size for w in self.params.values()))

    # -- forward and backward -----------------------------------------------------------------

    def forward(
        self,
        x: np.ndarray,
        state: Any = None,
        mask: np.ndarray | None = None,
        *,
        lengths: np.ndarray | None = None,
        train: bool = False,
        rng: Uniforms | None = None,
    ) -> tuple[np.ndarray, Any, ModelCache]:
        """Outputs for ``x: [B, T]`` ids or ``[B, T, I]`` vectors (``mask: [B, T]``).

        Returns (outputs ``[B, T, O]`` or ``[B, O]``, final state ``[L·D, B, S]``, cache).
        """
        ids, xs = self._inputs(x)
        T, B = xs.shape[:2]
        m = None if mask is None else np.asarray(mask).T
        if m is not None and m.shape != (T, B):
            raise ShapeError(f"mask must have shape [B, T] = [{B}, {T}], got {m.T.shape}")
        hs, state, rnn_cache = self.rnn.forward(
            xs, state, m, lengths=lengths, train=train, rng=rng
        )
        last = None
        if self.config.readout == "last_step":
            last = _last_steps(m, lengths, T, B)
            hs_read = self._gather_last(hs, last)
        else:
            hs_read = hs
        if self.has_head:
            y = dense_forward(self.params["head.weight"], self.params["head.bias"], hs_read)
        else:
            y = hs_read  # Jordan: the top layer's y_t is the output (and what it fed back)
        y = y.swapaxes(0, 1) if y.ndim == 3 else y
        return y, state, ModelCache(ids, rnn_cache, hs, last)

    def predict(
        self,
        x: np.ndarray,
        state: Any = None,
        mask: np.ndarray | None = None,
        *,
        lengths: np.ndarray | None = None,
    ) -> np.ndarray:
        """Outputs for ``x`` in evaluation mode (no dropout): ``[B, T, O]`` or ``[B, O]``."""
        return self.forward(x, state, mask, lengths=lengths)[0]

    def backward(
        self, cache: ModelCache, dy: np.ndarray, dstate: Any = None
    ) -> tuple[dict[str, np.ndarray], Any]:
        """Gradients of every parameter from ∂L/∂outputs ``dy`` (and ∂L/∂final state).

        Returns (grads keyed like ``params``, ∂L/∂initial state).
        """
        dy = np.asarray(dy, dtype=self.dtype)
        dy = dy.swapaxes(0, 1) if dy.ndim == 3 else dy
        hs = cache.hs
        grads = {}
        if self.config.readout == "last_step":
            assert cache.last is not None  # saved by a last-step readout
            h_read = self._gather_last(hs, cache.last)
            dh_read = dy
            if self.has_head:
                dh_read, grads["head.weight"], grads["head.bias"] = dense_backward(
                    self.params["head.weight"], h_read, dy
                )
            dhs = self._scatter_last(dh_read, cache.last, hs.shape)
        elif self.has_head:
            dhs, grads["head.weight"], grads["head.bias"] = dense_backward(
                self.params["head.weight"], hs, dy
            )
        else:
            dhs = np.ascontiguousarray(dy)  # Jordan: ∂L/∂y_t enters the layer at its own output
        need_dx = bool(self.config.embedding_dim)  # ∂L/∂x feeds only an embedding's gradient
        dxs, dstate0, rnn_grads = self.rnn.backward(cache.rnn, dhs, dstate, need_dx=need_dx)
        grads.update({RNN_PREFIX + n: g for n, g in rnn_grads.items()})
        if self.config.embedding_dim:
            assert cache.ids is not None and dxs is not None  # token ids, need_dx=True
            grads["embedding.weight"] = embed_backward(
                self.params["embedding.weight"], cache.ids, dxs
            )
        return {n: grads[n] for n in self.params}, dstate0

    def readout_backward(self, dy: np.ndarray) -> np.ndarray:
        """∂L/∂(the recurrent output a step's readout reads) from ∂L/∂y: ``[..., F]``.

        Through the head (y = h Wᵀ + b ⇒ dh = dy W), or ``dy`` itself for a Jordan model,
        whose output is the recurrent layer's own.
        """
        dy = np.asarray(dy, dtype=self.dtype)
        return dy @ self.params["head.weight"] if self.has_head else dy

    # -- helpers ------------------------------------------------------------------------------

    def _inputs(self, x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """(ids [T, B] or None, xs [T, B, I] or the ids [T, B]) from the batch-first input."""
        c = self.config
        return model_inputs(
            x,
            vocab_size=c.vocab_size,
            input_size=c.rnn.input_size,
            dtype=self.dtype,
            embedding=self.params.get("embedding.weight"),
            one_hot_rows=False,
        )  # one-hot input: the layer takes the ids

    def _gather_last(self, hs: np.ndarray, last: np.ndarray) -> np.ndarray:
        """[B, F]: the forward half at each sequence's last step, the reverse half at step 0."""
        B = hs.shape[1]
        fwd = hs[last, np.arange(B)]
        if self.rnn.num_directions == 1:
            return fwd
        half = hs.shape[2] // 2
        return np.concatenate([fwd[:, :half], hs[0, :, half:]], axis=1)

    def _scatter_last(self, dh: np.ndarray, last: np.ndarray, shape: tuple) -> np.ndarray:
        dhs = np.zeros(shape, dtype=self.dtype)
        B = shape[1]
        if self.rnn.num_directions == 1:
            dhs[last, np.arange(B)] = dh
            return dhs
        half = shape[2] // 2
        dhs[last, np.arange(B), :half] = dh[:, :half]
        dhs[0, :, half:] += dh[:, half:]
        return dhs


def _sub(params: dict[str, np.ndarray] | None) -> dict[str, np.ndarray] | None:
    if params is None:
        return None
    return {n[len(RNN_PREFIX) :]: w for n, w in params.items() if n.startswith(RNN_PREFIX)}


def _last_steps(m: np.ndarray | None, lengths, T: int, B: int) -> np.ndarray:
    """[B] index of each sequence's last real step."""
    if lengths is not None:
        return np.asarray(lengths) - 1
    if m is None:
        return np.full(B, T - 1)
    m = np.asarray(m, dtype=bool)
    return T - 1 - np.argmax(m[::-1], axis=0)
