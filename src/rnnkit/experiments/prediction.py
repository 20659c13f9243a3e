"""What an experiment's trained cell answers for new sequences (``rnnkit predict OUT FILE``).

Each cell's network carries ``meta["job"] = "experiment"``, the task's name and, under
``"preprocessing"``, its inputs (real features per step, or symbol ids), readout and loss;
``OUT/run.json`` names the cell that predicts: the one with the best validation figure.

The new sequences are an ``.npz`` with ``x``: ``[N, T, I]`` real inputs or ``[N, T]`` symbol
ids, and optionally ``lengths: [N]``.  The rows: ``id`` and the network's answer — the
value(s) of a regression, the class and each class's probability of a classification at the
last step, or the most likely symbol at every step (``outputs``, ids separated by spaces).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError, ShapeError
from ..jobs.predicting import Table
from ..layers.losses import softmax

JOB = "experiment"


def meta(task: Any) -> dict[str, Any]:
    """What predicting needs of ``task`` (an ``experiments.task.Task``), saved with a cell."""
    return {
        "job": JOB,
        "task": task.name,
        "preprocessing": {
            "input_size": task.input_size,
            "vocab_size": task.vocab_size,
            "readout": task.readout,
            "loss": task.loss,
        },
    }


@dataclass(frozen=True)
class CellPredictor:
    """A trained cell of an experiment, answering for new sequences."""

    model: Any
    source: Path
    job: str = JOB

    def read(self, path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
        """(x, lengths or None) of an ``.npz``, checked against the task's inputs."""
        prep = self.model.meta["preprocessing"]
        try:
            with np.load(path, allow_pickle=False) as f:
                x = np.asarray(f["x"])
                lengths = np.asarray(f["lengths"]) if "lengths" in f.files else None
        except FileNotFoundError:
            raise DataError(f"{path}: no such file") from None
        except (KeyError, ValueError, OSError) as e:
            raise DataError(f"{path}: not an NPZ with x=[N, T, ...] ({e})") from None
        ids = bool(prep["vocab_size"])
        want = "[N, T] symbol ids" if ids else f"[N, T, {prep['input_size']}] real inputs"
        if (ids and x.ndim != 2) or (
            not ids and (x.ndim != 3 or x.shape[2] != prep["input_size"])
        ):
            raise ShapeError(f"{path}: x has shape {list(x.shape)}; this task reads {want}")
        if ids and (
            not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() >= prep["vocab_size"]
        ):
            raise DataError(f"{path}: x must hold symbol ids 0 … {prep['vocab_size'] - 1}")
        if lengths is not None and (
            lengths.shape != (len(x),) or lengths.min() < 1 or lengths.max() > x.shape[1]
        ):
            raise ShapeError(f"{path}: lengths must be [{len(x)}] values in 1 … {x.shape[1]}")
        return (x if ids else x.astype(self.model.dtype)), lengths

    def predict_file(self, path: str | Path) -> Table:
        prep = self.model.meta["preprocessing"]
        x, lengths = self.read(path)
        y = self.model.predict(x, lengths=lengths)
        ids = [str(n) for n in range(len(x))]
        note = [
            f"{len(x)} sequences, answered by the {self.model.meta['task']} cell in {self.source}"
        ]
        if prep["readout"] == "every_step":
            best = y.argmax(axis=-1)
            return Table(
                ["id", "outputs"], [[i, " ".join(map(str, b))] for i, b in zip(ids, best)], note
            )
        if prep["loss"] == "cross_entropy":
            p = softmax(y)
            columns = ["id", "class", *(f"p_{k}" for k in range(p.shape[1]))]
            return Table(
                columns, [[i, int(r.argmax()), *map(float, r)] for i, r in zip(ids, p)], note
            )
        columns = [
            "id",
            *(["value"] if y.shape[1] == 1 else [f"value_{k}" for k in range(y.shape[1])]),
        ]
        return Table(columns, [[i, *map(float, r)] for i, r in zip(ids, y)], note)


def predictor(model: Any, source: Path) -> CellPredictor:
    if not isinstance(model.meta.get("preprocessing"), dict):
        raise ConfigError(f"{source}: no experiment task was saved with this network")
    return CellPredictor(model, Path(source))
