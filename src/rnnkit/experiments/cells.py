"""The cells an experiment compares, and hidden sizes that match a parameter budget.

    elman  tanh RNN, PyTorch's uniform initialisation
    irnn   ReLU RNN as Le et al. 2015 initialise it: identity recurrent weights, zero biases,
           and the non-recurrent weights — input weights and the linear readout — drawn from
           N(0, 0.001²), with a zero readout bias (the others' readout: PyTorch's nn.Linear)
    lstm   LSTM, forget-gate bias 3 at initialisation: σ(3) ≈ 0.95 keeps the cell close to
           Hochreiter & Schmidhuber's LSTM, which had no forget gate, until learning lowers it
           (with bias 1, σ(1)¹⁰⁰ ≈ 1e-14: a 100-step lag is forgotten at the start)
    gru    GRU (PyTorch form)

Parameters of a one-layer model with I inputs, H hidden units, k gate blocks (elman 1,
gru 3, lstm 4) and O outputs: k (H I + H² + 2H) + O H + O.  ``hidden_for`` picks the H whose
count is closest to the budget.
"""

import math
from typing import Any

import numpy as np

from ..cells import CellOptions, get_cell
from ..cells._init import IRNN_STD, gaussian
from ..config import ModelConfig
from ..errors import ConfigError
from ..layers.recurrent import RecurrentConfig
from ..models.model import Model

CELLS: dict[str, dict[str, Any]] = {
    "elman": {"cell": "elman", "nonlinearity": "tanh"},
    "irnn": {"cell": "elman", "nonlinearity": "relu", "init": "identity"},
    "lstm": {"cell": "lstm", "forget_bias": 3.0},
    "gru": {"cell": "gru"},
}
"""Experiment cell name → the recurrent layer's options."""

READOUT_STD = {"irnn": IRNN_STD}
"""Experiment cell name → std σ of its N(0, σ²) readout weight, zero readout bias
(the other cells: PyTorch's nn.Linear)."""


def check_cells(names: list[str]) -> list[str]:
    unknown = [n for n in names if n not in CELLS]
    if unknown or not names:
        raise ConfigError(f"unknown cells {unknown}; choose from: {', '.join(CELLS)}")
    return names


def count_parameters(name: str, I: int, H: int, O: int) -> int:
    """Parameters of the recurrent layer plus a linear readout to O outputs."""
    spec = CELLS[name]
    opts = CellOptions(**{k: v for k, v in spec.items() if k != "cell"})
    shapes = get_cell(spec["cell"]).param_shapes(I, H, opts)
    rnn = sum(math.prod(s) for s in shapes.values())
    return rnn + O * H + O


def hidden_for(name: str, I: int, O: int, budget: int, max_hidden: int = 2048) -> int:
    """The hidden size whose parameter count is closest to ``budget``."""
    best, best_gap = 1, None
    for H in range(1, max_hidden + 1):
        gap = abs(count_parameters(name, I, H, O) - budget)
        if best_gap is None or gap < best_gap:
            best, best_gap = H, gap
        elif count_parameters(name, I, H, O) > budget:
            break
    return best


def model_config(
    name: str,
    *,
    input_size: int,
    vocab_size: int,
    output_size: int,
    hidden_size: int,
    readout: str,
    loss: str,
    dtype: str = "float32",
) -> ModelConfig:
    """A one-layer model: real or one-hot inputs → cell ``name`` → linear readout."""
    rnn = RecurrentConfig(
        input_size=input_size or vocab_size, hidden_size=hidden_size, **CELLS[name]
    )
    return ModelConfig(
        rnn=rnn,
        output_size=output_size,
        vocab_size=vocab_size,
        readout=readout,
        loss=loss,
        dtype=dtype,
    )


def make_model(name: str, config: ModelConfig, rng: np.random.Generator) -> Model:
    """A new model of ``config`` for cell ``name``, its readout as ``READOUT_STD`` says."""
    model = Model(config, rng=rng)
    if name in READOUT_STD:
        W = model.params["head.weight"]
        W[...] = gaussian(rng, W.shape, READOUT_STD[name], W.dtype)
        model.params["head.bias"][...] = 0
    return model
