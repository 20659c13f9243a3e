"""One to many: a sequence generated from a single conditioning input that sets the state.

The condition — a class id (one-hot) or a real vector such as a first value — is mapped to
the initial state of every layer and direction through one learned linear map; a ``Model``
then runs from that state, reading its own previous outputs (teacher forcing in training)::

    c ∈ {0,1}^C (one-hot class) or ℝ^C
    s_0 = tanh(W c + b)          W: [N, C], N = L·D·Σ_j S_j (every state array, e.g. h and c)
    y_t = Model(x_1..x_t; state_0 = split(s_0))

    backward:  ds_0 = ∂L/∂state_0 (from the model's BPTT, joined back)
               da = ds_0 ⊙ (1 − s_0²);   dW = daᵀ c;   db = Σ_B da

Parameters: the model's own names plus ``init.weight`` and ``init.bias``.
Shapes: conditions ``[B]`` ids or ``[B, C]``; inputs and outputs as ``Model`` (batch-first).
``rnnkit.jobs.one_to_many`` trains one with teacher forcing through the training engine
(``rnnkit one-to-many`` on generated sine waves and words).
"""

from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from ..config import ModelConfig
from ..errors import ConfigError, ShapeError
from ..layers.embedding import check_ids, one_hot
from ..layers.losses import softmax
from .model import Model
from .seq2seq import copy_params


@dataclass(frozen=True, kw_only=True)
class ConditionedConfig:
    """A ``Model`` and the condition that sets its initial state (JSON-serialisable)."""

    model: ModelConfig  # the recurrent model that runs from the conditioned state
    condition_size: int  # C: classes, or the length of a condition vector
    condition: str = "class"  # class (c: [B] ids) | vector (c: [B, C])

    def __post_init__(self) -> None:
        if self.condition not in ("class", "vector"):
            raise ConfigError(f"condition must be 'class' or 'vector', got {self.condition!r}")
        if not isinstance(self.condition_size, int) or self.condition_size <= 0:
            raise ConfigError(f"condition_size must be > 0, got {self.condition_size}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.to_dict(),
            "condition_size": self.condition_size,
            "condition": self.condition,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ConditionedConfig":
        """The config of ``to_dict``'s object; ConfigError names an unknown key or bad value."""
        if not isinstance(d, dict):
            raise ConfigError(f"conditioned config must be a JSON object, got {type(d).__name__}")
        unknown = sorted(set(d) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"unknown conditioned config keys: {', '.join(unknown)}")
        try:
            return cls(**{**d, "model": ModelConfig.from_dict(d["model"])})
        except (KeyError, TypeError) as e:
            raise ConfigError(f"invalid conditioned config: {e}") from None


class ConditionedCache(NamedTuple):
    c: np.ndarray  # [B, C] the condition as a vector
    s0: np.ndarray  # [B, N] tanh(W c + b)
    model: Any  # the model's cache


class Conditioned:
    """A ``Model`` whose initial state is ``tanh(W c + b)`` of a condition ``c``.

    ``config.condition`` is ``"class"`` (``c`` given as ids in [0, C)) or ``"vector"``
    (``c: [B, C]``).
    """

    def __init__(
        self,
        config: ConditionedConfig,
        *,
        rng: np.random.Generator,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.meta = dict(meta or {})  # JSON-able extras saved with the model (the task)
        self.condition, self.condition_size = config.condition, config.condition_size
        condition_size = config.condition_size
        self.model = Model(config.model, rng=rng)
        rnn = self.model.rnn
        self.widths = [
            rnn.config.num_layers * rnn.num_directions * S[-1] for S in _state_shapes(rnn)
        ]
        N, k = sum(self.widths), 1.0 / np.sqrt(condition_size)
        dtype = self.model.dtype
        self.params = {
            "init.weight": rng.uniform(-k, k, (N, condition_size)).astype(dtype),
            "init.bias": np.zeros(N, dtype=dtype),
        }
        self.params |= self.model.params  # the same arrays: in-place updates reach the model

    def num_parameters(self) -> int:
        return int(sum(w.size for w in self.params.values()))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter as a NumPy array (a copy) under its name."""
        return {n: w.copy() for n, w in self.params.items()}

    def load_state_dict(self, params: dict[str, np.ndarray]) -> None:
        """Copy ``params`` into the model's arrays (names and shapes checked)."""
        copy_params(self.params, params)

    def condition_vector(self, c: np.ndarray) -> np.ndarray:
        """``[B, C]``: one-hot rows of class ids, or the vectors themselves (checked)."""
        c = np.asarray(c)
        if self.condition == "class":
            if c.ndim != 1:
                raise ShapeError(f"class conditions must be [B] ids, got shape {c.shape}")
            return one_hot(
                check_ids(c, self.condition_size), self.condition_size, self.model.dtype
            )
        if c.ndim != 2 or c.shape[1] != self.condition_size:
            raise ShapeError(f"conditions must be [B, {self.condition_size}], got {c.shape}")
        return c.astype(self.model.dtype, copy=False)

    def initial_state(self, c: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
        """(state for the model, condition vectors ``[B, C]``, s_0 ``[B, N]``)."""
        cv = self.condition_vector(c)
        s0 = np.tanh(cv @ self.params["init.weight"].T + self.params["init.bias"])  # tanh(Wc + b)
        return self._split(s0), cv, s0

    def forward(
        self,
        c: np.ndarray,
        x: np.ndarray,
        *,
        train: bool = False,
        rng: np.random.Generator | None = None,
    ) -> tuple[np.ndarray, ConditionedCache]:
        """Outputs ``[B, T, O]`` for conditions ``c`` and inputs ``x: [B, T]`` or ``[B, T, I]``."""
        state, cv, s0 = self.initial_state(c)
        if len(cv) != len(x):
            raise ShapeError(f"{len(cv)} conditions for {len(x)} input sequences")
        y, _, cache = self.model.forward(x, state, train=train, rng=rng)
        return y, ConditionedCache(cv, s0, cache)

    def backward(self, cache: ConditionedCache, dy: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of every parameter (keyed like ``params``) from ∂L/∂outputs."""
        grads, dstate0 = self.model.backward(cache.model, dy)
        ds0 = self._join(dstate0)
        da = ds0 * (1 - cache.s0 * cache.s0)  # da = ds_0 ⊙ (1 − s_0²)
        return {"init.weight": da.T @ cache.c, "init.bias": da.sum(axis=0), **grads}

    def generate(
        self,
        c: np.ndarray,
        start: np.ndarray,
        length: int,
        *,
        temperature: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """``length`` outputs per condition, each fed back as the next input.

        ``start`` is the first input (``[B]`` ids or ``[B, I]``).  Token models take the most
        probable id (``temperature = 0``) or sample at ``temperature`` from ``rng``; real-valued
        models feed their output back (then O must equal I).  Returns ``[B, length]`` ids or
        ``[B, length, O]``.
        """
        tokens = bool(self.model.config.vocab_size)
        if temperature < 0 or (temperature > 0 and rng is None):
            raise ConfigError("temperature must be >= 0, and sampling (> 0) needs rng=")
        if not tokens and self.model.config.output_size != self.model.config.rnn.input_size:
            raise ConfigError("feeding outputs back needs output_size == input_size")
        state, _, _ = self.initial_state(c)
        x, out = np.asarray(start), []
        for _ in range(length):
            y, state, _ = self.model.forward(x[:, None], state)
            y = y[:, 0]
            if not tokens:
                x = y
            elif temperature == 0 or rng is None:  # (rng is given whenever temperature > 0)
                x = y.argmax(axis=-1)
            else:
                x = _draw(y, temperature, rng)
            out.append(x)
        return np.stack(out, axis=1)

    # -- the state as one [B, N] array ------------------------------------------------------------

    def _split(self, s0: np.ndarray) -> Any:
        """[B, N] → the model's state: ``[L·D, B, S]`` per state array (a tuple for LSTM)."""
        parts: list[np.ndarray] = []
        at = 0
        for w in self.widths:
            block = s0[:, at : at + w].reshape(len(s0), -1, self._size(len(parts)))
            parts.append(np.ascontiguousarray(block.transpose(1, 0, 2)))
            at += w
        return parts[0] if len(parts) == 1 else tuple(parts)

    def _join(self, state: Any) -> np.ndarray:
        parts = state if isinstance(state, tuple) else (state,)
        return np.concatenate(
            [p.transpose(1, 0, 2).reshape(p.shape[1], -1) for p in parts], axis=1
        )

    def _size(self, j: int) -> int:
        return _state_shapes(self.model.rnn)[j][-1]


def _state_shapes(rnn) -> list[tuple[int, ...]]:
    return [tuple(np.atleast_1d(S)) for S in rnn.state_sizes]


def _draw(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """One id per row from softmax(logits / temperature) (inverse-CDF draws)."""
    p = softmax(logits.astype(np.float64) / temperature)
    u = rng.random(len(p))[:, None] * p.sum(axis=1, keepdims=True)
    return np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)
