"""How a batch becomes a loss and gradients: full BPTT, truncated BPTT(k1, k2), checkpointed.

A gradient function is called as ``gradients(model, batch, rng) -> bptt.Step`` (mean loss
over the ``count`` positions it scored, gradients keyed like ``model.params``).  Those that
carry something between batches (truncated BPTT's state, buffered inputs and held dropout
draws) also ``reset`` it and save it (``state_dict``; ``row_axis`` names each entry's batch
axis, so data-parallel training can gather and split it by rows).  A job with its own model
(seq2seq, the conditioned generator) passes any function of the same signature: ``Custom``.
"""

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from .batches import Batch
from .bptt import DRAW_KEY, Step, TruncatedBPTT, full_bptt


class FullBPTT:
    """Forward over every step of the batch, then back through all of them.

    ``segment`` > 0 keeps only every segment's starting state and recomputes the rest in the
    backward (``memory_bptt.checkpointed_bptt``: O(T/k + k) memory, same gradients).  A batch
    with ``lengths`` is cut after its longest sequence: steps that are padding in every row
    score nothing and get no gradient, so leaving them out changes no figure.
    """

    def __init__(self, segment: int = 0) -> None:
        self.segment = segment

    def __call__(self, model: Any, batch: Batch, rng: np.random.Generator) -> Step:
        batch = _without_padding_steps(model, batch)
        if self.segment:
            from .memory_bptt import checkpointed_bptt

            return checkpointed_bptt(
                model,
                batch.x,
                batch.y,
                lengths=batch.lengths,
                mask=batch.mask,
                rng=rng,
                segment=self.segment,
            )
        return full_bptt(model, batch.x, batch.y, lengths=batch.lengths, mask=batch.mask, rng=rng)

    def reset(self) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def row_axis(self, key: str) -> int | None:
        return None


def _without_padding_steps(model: Any, batch: Batch) -> Batch:
    """``batch`` cut after its longest sequence (x ``[B, T, …]``; y too when every step has
    a target)."""
    if batch.lengths is None or isinstance(batch.x, tuple) or batch.mask is not None:
        return batch
    T = int(np.max(batch.lengths))
    if T >= np.shape(batch.x)[1]:
        return batch
    every_step = getattr(model.config, "readout", "") == "every_step"
    return replace(batch, x=batch.x[:, :T], y=batch.y[:, :T] if every_step else batch.y)


class Truncated:
    """BPTT(k1, k2) over a stream of ``[B, k1]`` chunks, the state carried between them."""

    def __init__(self, k1: int, k2: int = 0) -> None:
        self.tbptt = TruncatedBPTT(k1, k2 or k1)

    def __call__(self, model: Any, batch: Batch, rng: np.random.Generator) -> Step:
        return self.tbptt.step(model, batch.x, batch.y, rng=rng)

    def reset(self) -> None:
        self.tbptt.reset()

    def state_dict(self) -> dict[str, Any]:
        return self.tbptt.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.tbptt.load_state_dict(state)

    def row_axis(self, key: str) -> int | None:
        """The batch axis of a carried entry: the state ``[L·D, B, S]`` has it at 1, the
        buffered inputs ``[B, k2 − k1]`` and the held dropout draws ``[B, S]`` at 0."""
        if key == "buffer" or (key.startswith(DRAW_KEY) and key[len(DRAW_KEY) :].isdigit()):
            return 0
        return 1 if key.startswith("state_") and key[6:].isdigit() else None


class Custom(FullBPTT):
    """A job's own ``fn(model, batch, rng) -> Step`` (nothing carried between batches)."""

    def __init__(self, fn: Callable[[Any, Batch, np.random.Generator], Step]) -> None:
        super().__init__()
        self.fn = fn

    def __call__(self, model: Any, batch: Batch, rng: np.random.Generator) -> Step:
        return self.fn(model, batch, rng)
