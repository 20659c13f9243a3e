"""The feed-forward baseline: an MLP over a fixed window of the most recent inputs.

It has no memory beyond its window of ``k`` steps, which is the point: beside a recurrent
model it shows what memory buys.  At step t it reads the window ``w_t = [x_{t−k+1}; …; x_t]``
(oldest first, ``k·I`` features; steps before the sequence's start are zeros, or the inputs
carried in ``state``) and computes, for hidden layers l = 1 … L::

    a_0 = w_t
    a_l = act(W_l a_{l−1} + b_l)                 act = tanh | relu
    y_t = W_o a_L + b_o

and backward, from the saved activations (as the recurrent cells do)::

    da_L = W_oᵀ dy;   dz_l = da_l ⊙ act'(a_l)     tanh' = 1 − a²,  relu' = [a > 0]
    dW_l = dz_l a_{l−1}ᵀ,  db_l = Σ dz_l,  da_{l−1} = W_lᵀ dz_l
    dx_s = Σ_{t, j : t − k + 1 + j = s} dw_t[j]   (each input sits in k windows)

``FFNN`` has the interface of ``rnnkit.Model`` — ``forward(x, state, mask, lengths=, train=,
rng=)``, ``backward(cache, dy, dstate)``, ``predict``, ``params`` — so ``rnnkit.fit``,
``rnnkit.training.bptt.full_bptt`` and truncated BPTT drive it unchanged.  The state is the last
``k − 1`` inputs ``[k − 1, B, I]``, so a stream read in chunks sees the same windows as the
whole stream.  Readout ``every_step`` gives ``[B, T, O]``; ``last_step`` the window ending at
each sequence's last real step, ``[B, O]``.

Example
-------
>>> import numpy as np
>>> net = FFNN(FFNNConfig(input_size=2, window=3, output_size=1, readout="last_step",
...                       loss="mse"), rng=np.random.default_rng(0))
>>> y, state, cache = net.forward(np.ones((4, 5, 2), np.float32), lengths=np.array([5, 4, 2, 1]))
>>> y.shape, state.shape
((4, 1), (2, 4, 2))
>>> grads, dstate = net.backward(cache, np.ones_like(y))
>>> sorted(grads)
['head.bias', 'head.weight', 'layers.0.bias', 'layers.0.weight']
"""

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, NamedTuple

import numpy as np

from ..config import check_option, option_types
from ..errors import ConfigError, ShapeError
from ..layers.dense import dense_backward, dense_forward, init_dense
from ..layers.embedding import embed_backward, model_inputs

CELL_NAME = "ffnn"
"""The value of ``--cell`` that picks this baseline in the jobs."""


@dataclass(frozen=True, kw_only=True)
class FFNNConfig:
    """A window of k steps → L hidden layers → linear readout (JSON-serialisable)."""

    input_size: int  # I: features per step (V for one-hot ids, E for an embedding)
    window: int  # k: most recent steps read at each output
    output_size: int  # O: classes, vocabulary or predicted values
    hidden_sizes: tuple[int, ...] = (64,)  # widths of the hidden layers (may be empty)
    activation: str = "tanh"  # tanh | relu
    vocab_size: int = 0  # V > 0: inputs are token ids in [0, V)
    embedding_dim: int = 0  # > 0: learned embedding of the ids; 0: one-hot of width V
    readout: str = "every_step"  # every_step | last_step
    loss: str = "cross_entropy"  # cross_entropy | mse
    dtype: str = "float32"  # float32 | float64

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_sizes", tuple(int(h) for h in self.hidden_sizes))
        for name in ("input_size", "window", "output_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        if any(h <= 0 for h in self.hidden_sizes):
            raise ConfigError(f"hidden_sizes must all be > 0, got {self.hidden_sizes}")
        if self.vocab_size < 0 or self.embedding_dim < 0:
            raise ConfigError("vocab_size and embedding_dim must be >= 0")
        if self.embedding_dim and not self.vocab_size:
            raise ConfigError("embedding_dim needs vocab_size > 0 (token inputs)")
        if self.vocab_size and self.input_size != (self.embedding_dim or self.vocab_size):
            raise ConfigError(
                f"input_size must be {self.embedding_dim or self.vocab_size} "
                f"for token inputs, got {self.input_size}"
            )
        for name, allowed in (
            ("activation", ("tanh", "relu")),
            ("readout", ("every_step", "last_step")),
            ("loss", ("cross_entropy", "mse")),
            ("dtype", ("float32", "float64")),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")

    @property
    def cell(self) -> str:
        return CELL_NAME

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FFNNConfig":
        """The config of ``to_dict``'s object; ConfigError names a wrong key or value kind."""
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown ffnn config keys: {', '.join(unknown)}")
        for name, kind in option_types(cls).items():
            if name in d:
                check_option(name, d[name], kind, "ffnn config")
        sizes = d.get("hidden_sizes", [])
        if not isinstance(sizes, (list, tuple)):
            raise ConfigError(f"ffnn config: hidden_sizes must be a list, got {sizes!r}")
        for h in sizes:
            check_option("hidden_sizes", h, int, "ffnn config")
        return cls(**d)

    def replace(self, **changes: Any) -> "FFNNConfig":
        return replace(self, **changes)


class FFNNCache(NamedTuple):
    ids: np.ndarray | None  # [T, B] token ids, or None for vector inputs
    acts: list  # [a_0 … a_L]: the window and each hidden layer's output, [N, ·]
    last: np.ndarray  # [B] each sequence's last real step
    shape: tuple  # (T, B, I) of the inputs


class FFNN:
    """A multilayer perceptron over the last ``window`` inputs, with a hand-written backward."""

    def __init__(
        self,
        config: FFNNConfig,
        *,
        rng: np.random.Generator | None = None,
        params: dict[str, np.ndarray] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.dtype = np.dtype(config.dtype)
        self.meta = dict(meta or {})
        if params is None:
            if rng is None:
                raise ConfigError("FFNN needs rng= (a numpy.random.Generator) or params=")
            params = self._init_params(rng)
        self.params: dict[str, np.ndarray] = {}
        self.load_state_dict(params)

    # -- parameters ---------------------------------------------------------------------------

    def _widths(self) -> list[int]:
        c = self.config
        return [c.window * c.input_size, *c.hidden_sizes]

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        c, widths = self.config, self._widths()
        shapes: dict[str, tuple[int, ...]] = {}
        if c.embedding_dim:
            shapes["embedding.weight"] = (c.vocab_size, c.embedding_dim)
        for layer, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
            shapes[f"layers.{layer}.weight"] = (fan_out, fan_in)
            shapes[f"layers.{layer}.bias"] = (fan_out,)
        shapes["head.weight"] = (c.output_size, widths[-1])
        shapes["head.bias"] = (c.output_size,)
        return shapes

    def _init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        params = {}
        for name, shape in self.param_shapes().items():
            if name == "embedding.weight":
                params[name] = rng.standard_normal(shape).astype(self.dtype)
            elif name.endswith(".weight"):  # nn.Linear's U(−1/√F, 1/√F) for W and b
                W, b = init_dense(rng, shape[0], shape[1], self.dtype)
                params[name], params[name[: -len("weight")] + "bias"] = W, b
        return params

    def state_dict(self) -> dict[str, np.ndarray]:
        return {n: w.copy() for n, w in self.params.items()}

    def load_state_dict(self, params: dict[str, np.ndarray]) -> None:
        expected = self.param_shapes()
        missing = sorted(set(expected) - set(params))
        unexpected = sorted(set(params) - set(expected))
        if missing or unexpected:
            raise ShapeError(
                f"parameters do not match this network: missing {missing}, unexpected {unexpected}"
            )
        for n, shape in expected.items():
            if np.shape(params[n]) != shape:
                raise ShapeError(
                    f"parameter {n} must have shape {shape}, got {np.shape(params[n])}"
                )
        self.params = {n: np.array(params[n], dtype=self.dtype, order="C") for n in expected}

    def num_parameters(self) -> int:
        return int(sum(w.size for w in self.params.values()))

    # -- forward and backward -----------------------------------------------------------------

    def forward(
        self,
        x: np.ndarray,
        state: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        *,
        lengths: np.ndarray | None = None,
        train: bool = False,
        rng: np.random.Generator | None = None,
    ) -> tuple[np.ndarray, np.ndarray, FFNNCache]:
        """Outputs for ``x: [B, T]`` ids or ``[B, T, I]``; ``state``: earlier ``[k − 1, B, I]``.

        Returns (outputs ``[B, T, O]`` or ``[B, O]``, the last k − 1 inputs, cache).
        ``train`` and ``rng`` are accepted for the Model interface; the MLP has no dropout.
        """
        ids, xs = self._inputs(x)
        T, B, I = xs.shape
        k = self.config.window
        xp = np.concatenate([self._state(state, B, I), xs], axis=0)  # [T + k − 1, B, I]
        last = _last_steps(mask, lengths, T, B)
        if self.config.readout == "last_step":
            steps = last[:, None] + np.arange(k)  # rows of xp in each sequence's last window
            a0 = xp[steps, np.arange(B)[:, None]].reshape(B, k * I)  # [B, k·I]
        else:
            win = np.lib.stride_tricks.sliding_window_view(xp, k, axis=0)  # [T, B, I, k]
            a0 = win.transpose(0, 1, 3, 2).reshape(T * B, k * I)  # [T·B, k·I], oldest first
        acts = [a0]
        for layer in range(len(self.config.hidden_sizes)):
            W, b = self.params[f"layers.{layer}.weight"], self.params[f"layers.{layer}.bias"]
            acts.append(self._act(dense_forward(W, b, acts[-1])))  # a_l = act(W_l a_{l−1} + b_l)
        y = dense_forward(self.params["head.weight"], self.params["head.bias"], acts[-1])
        if self.config.readout == "every_step":
            y = y.reshape(T, B, -1).swapaxes(0, 1)
        keep = last[None, :] + 1 + np.arange(k - 1)[:, None]  # [k − 1, B]: the inputs to carry
        final = xp[keep, np.arange(B)[None, :]]
        return y, final, FFNNCache(ids, acts, last, (T, B, I))

    def predict(
        self,
        x: np.ndarray,
        state: np.ndarray | None = None,
        mask: np.ndarray | None = None,
        *,
        lengths: np.ndarray | None = None,
    ) -> np.ndarray:
        return self.forward(x, state, mask, lengths=lengths)[0]

    def backward(
        self, cache: FFNNCache, dy: np.ndarray, dstate: np.ndarray | None = None
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Gradients of every parameter from ∂L/∂outputs ``dy``; also ∂L/∂state ``[k − 1, B, I]``.

        ``dstate`` (∂L/∂ the carried inputs) only reaches an embedding, so it is accepted and,
        for vector inputs, has no effect on the parameters.
        """
        T, B, I = cache.shape
        k = self.config.window
        dy = np.asarray(dy, dtype=self.dtype)
        dy = dy.swapaxes(0, 1).reshape(T * B, -1) if dy.ndim == 3 else dy
        grads = {}
        da, grads["head.weight"], grads["head.bias"] = dense_backward(
            self.params["head.weight"], cache.acts[-1], dy
        )  # da_L = W_oᵀ dy
        for layer in reversed(range(len(self.config.hidden_sizes))):
            dz = da * self._act_grad(cache.acts[layer + 1])  # dz_l = da_l ⊙ act'(a_l)
            W = self.params[f"layers.{layer}.weight"]
            da, grads[f"layers.{layer}.weight"], grads[f"layers.{layer}.bias"] = dense_backward(
                W, cache.acts[layer], dz
            )
        dxp = self._scatter_windows(da, cache, dstate)  # [T + k − 1, B, I]
        if self.config.embedding_dim:
            assert cache.ids is not None  # an embedding reads token ids
            grads["embedding.weight"] = embed_backward(
                self.params["embedding.weight"], cache.ids, dxp[k - 1 :]
            )
        return {n: grads[n] for n in self.params}, dxp[: k - 1]

    # -- helpers ------------------------------------------------------------------------------

    def _scatter_windows(
        self, dwin: np.ndarray, cache: FFNNCache, dstate: np.ndarray | None
    ) -> np.ndarray:
        """∂L/∂ each padded input: every window's gradient added back where it was read."""
        T, B, I = cache.shape
        k = self.config.window
        dxp = np.zeros((T + k - 1, B, I), dtype=self.dtype)
        if self.config.readout == "last_step":
            dwin = dwin.reshape(B, k, I)
            for j in range(k):
                dxp[cache.last + j, np.arange(B)] += dwin[:, j]
        else:
            dwin = dwin.reshape(T, B, k, I)
            for j in range(k):
                dxp[j : j + T] += dwin[:, :, j]  # window t reads x_p[t + j] at slot j
        if dstate is not None and k > 1:
            keep = cache.last[None, :] + 1 + np.arange(k - 1)[:, None]
            np.add.at(dxp, (keep, np.arange(B)[None, :]), np.asarray(dstate, self.dtype))
        return dxp

    def _act(self, z: np.ndarray) -> np.ndarray:
        return np.tanh(z) if self.config.activation == "tanh" else np.maximum(z, 0)

    def _act_grad(self, a: np.ndarray) -> np.ndarray:
        if self.config.activation == "tanh":
            return 1 - a * a  # tanh' from the output
        return (a > 0).astype(a.dtype)

    def _state(self, state: np.ndarray | None, B: int, I: int) -> np.ndarray:
        k = self.config.window
        if state is None:
            return np.zeros((k - 1, B, I), dtype=self.dtype)
        state = np.asarray(state, dtype=self.dtype)
        if state.shape != (k - 1, B, I):
            raise ShapeError(
                f"ffnn state must be the last k − 1 inputs [{k - 1}, {B}, {I}], got {state.shape}"
            )
        return state

    def _inputs(self, x: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """(ids [T, B] or None, xs [T, B, I]) from the batch-first input."""
        c = self.config
        ids, xs = model_inputs(
            x,
            vocab_size=c.vocab_size,
            input_size=c.input_size,
            dtype=self.dtype,
            embedding=self.params.get("embedding.weight"),
        )
        if xs.shape[0] == 0:
            raise ShapeError("input must have at least one step")
        return ids, xs


def _last_steps(mask: np.ndarray | None, lengths: np.ndarray | None, T: int, B: int) -> np.ndarray:
    """[B] index of each sequence's last real step."""
    if lengths is not None:
        last = np.asarray(lengths, dtype=np.int64) - 1
        if last.shape != (B,) or np.any(last < 0) or np.any(last >= T):
            raise ShapeError(f"lengths must be [B] = [{B}] values in [1, {T}], got {lengths}")
        return last
    if mask is None:
        return np.full(B, T - 1)
    m = np.asarray(mask, dtype=bool)
    if m.shape != (B, T):
        raise ShapeError(f"mask must have shape [B, T] = [{B}, {T}], got {m.shape}")
    return T - 1 - np.argmax(m[:, ::-1], axis=1)
