"""rnnkit's side of the benchmark: one training step, whole-sequence inference, a streaming step.

A training step is what a user's loop does: ``full_bptt`` (forward over the whole sequence,
the loss, BPTT through every step) and an Adam update of every parameter in place.
"""

from collections.abc import Callable

import numpy as np

from ..config import ModelConfig
from ..layers.recurrent import RecurrentConfig
from ..models.model import Model
from ..training.bptt import full_bptt
from ..training.optim import make_optimizer
from .configs import Config


def model_config(cell: str, c: Config) -> ModelConfig:
    """The rnnkit model of a config: one-hot tokens + cross-entropy, or vectors + MSE."""
    if c.tokens:
        return ModelConfig.for_tokens(c.I, cell=cell, hidden_size=c.H, num_layers=c.layers)
    rnn = RecurrentConfig(cell=cell, input_size=c.I, hidden_size=c.H, num_layers=c.layers)
    return ModelConfig(rnn=rnn, output_size=c.O, loss="mse")


def batch(c: Config, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets, batch-first: ids [B, T] and next ids, or [B, T, I] and [B, T, O]."""
    if c.tokens:
        ids = rng.integers(0, c.I, size=(c.B, c.T + 1))
        return ids[:, :-1], ids[:, 1:]
    x = rng.standard_normal((c.B, c.T, c.I), dtype=np.float32)
    return x, rng.standard_normal((c.B, c.T, c.O), dtype=np.float32)


def training_step(cell: str, c: Config, rng: np.random.Generator) -> Callable[[], None]:
    """One rnnkit training step (forward, full BPTT, Adam) on a fixed batch."""
    model = Model(model_config(cell, c), rng=rng)
    opt = make_optimizer("adam", 1e-3)
    x, y = batch(c, rng)

    def step() -> None:
        result = full_bptt(model, x, y, train=True, rng=rng)
        opt.step(model.params, result.grads)

    step.model = model  # type: ignore[attr-defined]  # for tests
    return step


def inference(cell: str, c: Config, rng: np.random.Generator) -> Callable[[], object]:
    """Whole-sequence inference: the model's outputs for a [B, T] batch."""
    model = Model(model_config(cell, c), rng=rng)
    x, _ = batch(c, rng)
    return lambda: model.predict(x)
