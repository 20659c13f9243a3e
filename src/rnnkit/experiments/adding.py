"""The adding problem of Hochreiter & Schmidhuber 1997 (experiment 4).

Two values among T ≈ 100 noise values are marked; at the end the net must output
0.5 + (X1 + X2)/4.  A test sequence is right when |ŷ − y| < 0.04; the criterion is that at
least 99 % of 2 560 test sequences are right.  Expected: LSTM passes; a same-size tanh RNN,
whose gradient vanishes over the ≥ 50-step lag, does not.

The GRU makes no claim here: with this recipe it fails.  Always answering 0.5 scores about
0.15, and the GRU stays there — share right 0.154 after 8 000 updates.  A same-size PyTorch
``nn.GRU`` trained with the same generator, optimizer (Adam 1e-3, batch 64, clip 1) and 8 000
updates ends at the same place (0.154), so this is the recipe (this budget, size and
optimizer), not rnnkit's GRU code.

Budget: 8 000 updates of 64 sequences (512 000 sequences; Hochreiter & Schmidhuber's LSTM
needed about 74 000 at T = 100, one at a time), stopping at the first validation where the
criterion holds; no time cap.
"""

import numpy as np

from ..data.synthetic import ADDING_TOLERANCE, adding_problem
from ..models.model import Model
from .task import Batch, Settings, Task, predict

REQUIRED = 0.99  # share of test sequences right


def sample(rng: np.random.Generator, B: int, T: int) -> Batch:
    x, y, lengths, _ = adding_problem(rng, B, T)
    return Batch(x, y, lengths)


def score(model: Model, batch: Batch) -> float:
    """Share of sequences with |ŷ − y| < 0.04."""
    return float(np.mean(np.abs(predict(model, batch) - batch.y) < ADDING_TOLERANCE))


TASK = Task(
    name="adding",
    title="adding problem (Hochreiter & Schmidhuber 1997), T = {T}",
    input_size=2,
    vocab_size=0,
    output_size=1,
    readout="last_step",
    loss="mse",
    metric=f"share |err| < {ADDING_TOLERANCE}",
    threshold=lambda T: REQUIRED,
    lower_is_better=False,
    expect={"lstm": True, "elman": False},
    sample=sample,
    score=score,
    settings=Settings(
        T=100, batch_size=64, lr=1e-3, clip=1.0, parameters=4641, steps=8000, eval_every=100
    ),
)
