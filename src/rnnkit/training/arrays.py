"""Training on in-memory sequences: ``rnnkit.fit`` and what the jobs build on.

``fit(model, x, y, …)`` trains with full BPTT on epochs of shuffled mini-batches through the
engine (``loop.fit``) and returns one record per epoch: the mean training loss over the
epoch's scored positions and, with validation data, the validation loss.
"""

from typing import Any

import numpy as np

from ..errors import RnnkitError
from .batches import Shuffled
from .bptt import objective
from .engine import Engine
from .gradients import FullBPTT
from .loop import Validation
from .loop import fit as fit_loop
from .metrics import MetricsLog
from .options import Budget, Optimization


def fit(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    rng: np.random.Generator,
    lengths: np.ndarray | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    optimizer: str = "adam",
    lr: float = 1e-3,
    clip: float = 1.0,
    validation: tuple | None = None,
) -> list[dict[str, float]]:
    """Train on in-memory sequences with full BPTT; returns one record per epoch.

    ``x: [N, T]`` ids or ``[N, T, I]``; ``y`` the targets of the model's readout and loss
    (``[N, T]``/``[N]`` class ids, or ``[N, T, O]``/``[N, O]`` values); ``lengths: [N]`` for
    variable-length sequences.  ``validation = (x_val, y_val[, lengths_val])`` is evaluated
    after each epoch.  Batches are shuffled with ``rng``, which also drives dropout.
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or (lengths is not None and len(lengths) != len(x)):
        raise RnnkitError(
            f"x, y and lengths must hold the same number of sequences, got "
            f"{len(x)}, {len(y)}, {None if lengths is None else len(lengths)}"
        )
    engine = Engine(model, FullBPTT(), Optimization(optimizer=optimizer, lr=lr, clip=clip), rng)
    check = None
    if validation is not None:
        check = Validation(lambda m: {"val_loss": evaluate_arrays(m, *validation)})
    log = MetricsLog(None, keep=True)
    fit_loop(
        engine,
        Shuffled(x, y, lengths=lengths, batch_size=batch_size),
        Budget(epochs=epochs, restore_best=False),
        validation=check,
        log=log,
    )
    return epoch_records(log.records or [])


def epoch_records(records: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Per-update records → one per epoch: its mean loss over scored positions (and the
    validation figures of its last update)."""
    out: dict[int, dict[str, Any]] = {}
    for r in records:
        if r["nonfinite"]:
            continue
        e = out.setdefault(r["epoch"], {"epoch": r["epoch"], "_sum": 0.0, "_n": 0})
        e["_sum"] += r["loss"] * r["positions"]
        e["_n"] += r["positions"]
        e.update({k: v for k, v in r.items() if k.startswith("val_")})
    return [
        {
            "epoch": e["epoch"],
            "loss": e["_sum"] / max(e["_n"], 1),
            **{k: v for k, v in e.items() if k.startswith("val_")},
        }
        for e in out.values()
    ]


def evaluate_arrays(
    model: Any, x: np.ndarray, y: np.ndarray, lengths: np.ndarray | None = None
) -> float:
    """Mean loss of the model on in-memory sequences (evaluation mode)."""
    out = model.predict(x, lengths=lengths)
    mask = None
    if lengths is not None and model.config.readout == "every_step":
        mask = np.arange(out.shape[1])[None, :] < np.asarray(lengths)[:, None]
    return objective(model, out, y, mask)[0]
