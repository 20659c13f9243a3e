"""rnnkit's side of the benchmark: one training step, the layer alone, whole-sequence inference.

A training step is what a user's loop does: ``full_bptt`` (forward over the whole sequence,
the loss, BPTT through every step) and an Adam update of every parameter in place.
"""

from collections.abc import Callable
from typing import Any

import numpy as np

from ..config import ModelConfig
from ..layers.recurrent import Recurrent, RecurrentConfig
from ..models.model import Model
from ..training.bptt import full_bptt
from ..training.optim import make_optimizer
from .configs import Config

CELL_OPTIONS: dict[str, dict[str, Any]] = {
    "irnn": {"cell": "elman", "nonlinearity": "relu", "init": "identity"},
}
"""Bench cell names that are a cell with options (the IRNN: an identity-initialised ReLU
Elman layer); any other name is the cell itself."""


def model_config(cell: str, c: Config) -> ModelConfig:
    """The rnnkit model of a config: one-hot tokens + cross-entropy, or vectors + MSE."""
    rnn_options: dict[str, Any] = {"cell": cell, **CELL_OPTIONS.get(cell, {})}
    if rnn_options["cell"] == "jordan":  # its outputs are the model's: O units fed back
        rnn_options["output_size"] = c.O
    rnn_options.update(hidden_size=c.H, num_layers=c.layers)
    if c.tokens:
        return ModelConfig.for_tokens(c.I, **rnn_options)
    rnn = RecurrentConfig(input_size=c.I, **rnn_options)
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


def layer_step(cell: str, c: Config, rng: np.random.Generator) -> Callable[[], object]:
    """The recurrent layer alone through its public API: ``forward`` over vectors
    ``x: [T, B, I]`` and ``backward`` with a fixed ∂L/∂outputs ``[T, B, H]`` (∂L/∂x and every
    weight gradient; no loss, readout or update).  PyTorch's initialisation, as a layer
    ``rnnkit.from_torch`` makes holds."""
    rnn = RecurrentConfig(cell=cell, input_size=c.I, hidden_size=c.H, num_layers=c.layers)
    layer = Recurrent(rnn, rng=rng)
    x = rng.standard_normal((c.T, c.B, c.I), dtype=np.float32)
    d_out = rng.standard_normal((c.T, c.B, c.H), dtype=np.float32)

    def step() -> object:
        _, _, cache = layer.forward(x)
        return layer.backward(cache, d_out)

    step.layer = layer  # type: ignore[attr-defined]  # for tests
    return step
