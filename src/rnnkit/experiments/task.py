"""What an experiment is: a generated task, how to score a model on it, and its criterion.

Each experiment module (``adding``, ``irnn``, ``copy``, ``temporal_order``) builds one
``Task``; the runner trains every cell on it at a matched parameter count.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..models.model import Model


class Batch(NamedTuple):
    """Inputs ``x`` ([B, T, I] or [B, T] ids), targets ``y`` and optional ``lengths [B]``."""

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray | None = None


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Training settings of an experiment (the command line can override each)."""

    T: int  # sequence length of the task
    batch_size: int  # B: sequences per update (fresh ones every update)
    lr: float  # the optimizer's learning rate
    clip: float  # clip the global gradient norm to this (0: off)
    parameters: int  # the parameter count every cell is matched to
    steps: int  # the budget: most updates per cell (the verdict never depends on speed)
    eval_every: int  # score on the validation set every this many updates
    minutes: float | None = None  # safety cap on wall-clock minutes of training per cell; a
    #   run it stops is "not finished" and has no verdict (None: no cap)
    n_val: int = 512  # validation sequences (the early stop: once the criterion holds on them)
    n_test: int = 2560  # test sequences, scored once after training (the verdict)
    optimizer: str = "adam"  # adam | rmsprop | sgd | adagrad | adamw
    curriculum: int = 0  # > 0: train first at this length and lengthen by it whenever the
    #   criterion holds there on a validation set of that length (0: at T throughout)


@dataclass(frozen=True, kw_only=True)
class Task:
    """A generated task with a metric and a pass criterion."""

    name: str  # the experiment's name on the command line
    title: str  # one line for the table's header
    input_size: int  # real features per step (0: the inputs are symbol ids)
    vocab_size: int  # symbols of id inputs (0: real inputs)
    output_size: int  # O: readout width
    readout: str  # every_step | last_step
    loss: str  # mse | cross_entropy
    metric: str  # name of the reported metric
    threshold: Callable[[int], float]  # T → the metric's pass mark
    lower_is_better: bool  # pass when metric < threshold (else when metric >= threshold)
    expect: dict[str, bool]  # what the experiment shows: cell → passes, e.g. {"lstm": True}
    sample: Callable[[np.random.Generator, int, int], Batch]  # (rng, B, T) → Batch
    score: Callable[[Model, Batch], float]  # the metric of a model on a batch (forward only)
    settings: Settings  # defaults

    def passes(self, value: float, T: int) -> bool:
        """The criterion: below the threshold (losses) or at least it (shares right)."""
        mark = self.threshold(T)
        return bool(value < mark) if self.lower_is_better else bool(value >= mark)

    def criterion(self, T: int) -> str:
        """The criterion in words, e.g. ``test accuracy >= 0.99``."""
        return f"{self.metric} {'<' if self.lower_is_better else '>='} {self.threshold(T):.4g}"


def predict(model: Model, batch: Batch, chunk: int = 512) -> np.ndarray:
    """The model's outputs on ``batch`` in chunks of ``chunk`` sequences (bounded memory)."""
    outs = []
    for a in range(0, len(batch.x), chunk):
        lengths = None if batch.lengths is None else batch.lengths[a : a + chunk]
        outs.append(model.predict(batch.x[a : a + chunk], lengths=lengths))
    return np.concatenate(outs, axis=0)
