"""Copy memory as Arjovsky, Shah & Bengio 2016 set it.

Ten symbols from {1..8}, T blanks, a delimiter, then the ten symbols must be reproduced.
A memoryless net that outputs blanks and then guesses uniformly scores 10 ln 8 / (T + 20)
nats per step (0.1733 at T = 100); the criterion is a test cross-entropy below half of that.
"""

import numpy as np

from ..bptt import objective
from ..data.synthetic import COPY_SYMBOLS, copy_baseline, copy_memory
from ..model import Model
from .task import Batch, Settings, Task, predict


def sample(rng: np.random.Generator, B: int, T: int) -> Batch:
    x, y = copy_memory(rng, B, T)
    return Batch(x, y)


def score(model: Model, batch: Batch) -> float:
    """Mean cross-entropy per step (nats)."""
    return objective(model, predict(model, batch), batch.y)[0]


TASK = Task(
    name="copy",
    title="copy memory (Arjovsky et al. 2016), T = {T}; memoryless baseline 10 ln 8 / (T + 20)",
    input_size=0, vocab_size=COPY_SYMBOLS, output_size=COPY_SYMBOLS, readout="every_step",
    loss="cross_entropy", metric="nats/step",
    threshold=lambda T: copy_baseline(T) / 2, lower_is_better=True,
    expect={"lstm": True},
    sample=sample, score=score,
    settings=Settings(T=100, batch_size=32, lr=2e-3, clip=1.0, parameters=8730, steps=8000,
                      minutes=4.0, eval_every=100),
)
