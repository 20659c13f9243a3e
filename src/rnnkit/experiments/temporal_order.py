"""The temporal order problem (Hochreiter & Schmidhuber 1997, 6a; Pascanu et al. 2013).

Noise symbols with an X or Y at t1 ∈ [T/10, 2T/10) and at t2 ∈ [5T/10, 6T/10); the class
(XX, XY, YX, YY) must be read at the end.  Trained with the global gradient norm clipped at 1,
as Pascanu et al.; the criterion is test accuracy >= 0.99 (chance: 0.25).

Budget: 6 000 updates of 32 sequences (192 000 sequences; Hochreiter & Schmidhuber's LSTM
needed about 31 000 at T = 100–110), stopping at the first validation where the criterion
holds; no time cap (the former 2.5-minute one was about what 6 000 updates take here).
"""

import numpy as np

from ..data.synthetic import TEMPORAL_CLASSES, TEMPORAL_SYMBOLS, temporal_order
from ..models.model import Model
from .task import Batch, Settings, Task, predict

REQUIRED = 0.99  # test accuracy


def sample(rng: np.random.Generator, B: int, T: int) -> Batch:
    x, y = temporal_order(rng, B, T)
    return Batch(x, y)


def score(model: Model, batch: Batch) -> float:
    """Share of sequences classified right."""
    return float(np.mean(predict(model, batch).argmax(axis=-1) == batch.y))


TASK = Task(
    name="temporal-order",
    title="temporal order (Hochreiter & Schmidhuber 1997; Pascanu et al. 2013), T = {T}, "
    "gradient norm clipped at 1",
    input_size=0,
    vocab_size=TEMPORAL_SYMBOLS,
    output_size=TEMPORAL_CLASSES,
    readout="last_step",
    loss="cross_entropy",
    metric="accuracy",
    threshold=lambda T: REQUIRED,
    lower_is_better=False,
    expect={"lstm": True},
    sample=sample,
    score=score,
    settings=Settings(
        T=100, batch_size=32, lr=2e-3, clip=1.0, parameters=4932, steps=6000, eval_every=100
    ),
)
