"""The jobs people use recurrent nets for, end to end, and what they share.

``forecast`` and ``classify`` hold each job's pipeline; this module builds the model a job
asks for — any recurrent cell, or the feed-forward baseline (``cell="ffnn"``) with the same
interface — and trains it on in-memory sequences with full BPTT, Adam, global-norm clipping
an optional cosine decay of the rate and, when a validation part is given, early stopping
that keeps the best epoch's parameters.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from ..bptt import full_bptt
from ..cells import canonical_name
from ..config import ModelConfig
from ..errors import ConfigError, RnnkitError
from ..ffnn import CELL_NAME as FFNN, FFNN as FeedForward, FFNNConfig
from ..layers.recurrent import RecurrentConfig
from ..model import Model
from ..optim import clip_grad_norm, make_optimizer
from ..schedules import make_schedule
from ..training.arrays import evaluate_arrays


@dataclass(frozen=True, kw_only=True)
class Net:
    """What a job builds: a cell and its size (the readout and loss come from the job)."""

    cell: str = "gru"  # any rnnkit cell, or ffnn
    hidden_size: int = 32  # H (ffnn: width of each hidden layer)
    num_layers: int = 1  # stacked layers (ffnn: hidden layers)
    window: int = 0  # ffnn: steps it reads (0: the whole input length)
    nonlinearity: str = "tanh"  # elman / jordan / fully_recurrent; ffnn's activation
    jordan_feedback: str = "output"  # jordan: feed back the output ("output") or its "softmax"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        cell = self.cell.lower()
        object.__setattr__(self, "cell", cell if cell == FFNN else canonical_name(cell))
        if self.hidden_size < 1 or self.num_layers < 1 or self.window < 0:
            raise ConfigError(f"hidden_size and num_layers must be >= 1 and window >= 0, got "
                              f"{self.hidden_size}, {self.num_layers}, {self.window}")


@dataclass(frozen=True, kw_only=True)
class Fit:
    """How a job trains: epochs of shuffled mini-batches."""

    epochs: int = 100  # passes over the training sequences (most, with early stopping)
    batch_size: int = 32
    lr: float = 3e-3  # Adam's learning rate
    clip: float = 1.0  # global gradient-norm clip (0: off)
    patience: int = 0  # with validation: stop after this many epochs without gain (0: never)
    schedule: str = "constant"  # constant | cosine (decays to 0 over all epochs' updates)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.patience < 0:
            raise ConfigError(f"epochs and batch_size must be >= 1, lr > 0, patience >= 0; "
                              f"got {self.epochs}, {self.batch_size}, {self.lr}, {self.patience}")
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"schedule must be constant or cosine, got {self.schedule!r}")


def build_model(net: Net, *, input_size: int, output_size: int, steps: int, readout: str,
                loss: str, rng: np.random.Generator) -> Model | FeedForward:
    """A recurrent Model, or the FFNN baseline reading ``net.window`` (0: all ``steps``) steps."""
    if net.cell == FFNN:
        config = FFNNConfig(input_size=input_size, window=net.window or steps,
                            output_size=output_size,
                            hidden_sizes=(net.hidden_size,) * net.num_layers,
                            activation=net.nonlinearity, readout=readout, loss=loss,
                            dtype=net.dtype)
        return FeedForward(config, rng=rng)
    rnn = RecurrentConfig(cell=net.cell, input_size=input_size, hidden_size=net.hidden_size,
                          num_layers=net.num_layers, nonlinearity=net.nonlinearity,
                          jordan_feedback=net.jordan_feedback)
    config = ModelConfig(rnn=rnn, output_size=output_size, readout=readout, loss=loss,
                         dtype=net.dtype)
    return Model(config, rng=rng)


def describe(model: Model | FeedForward) -> str:
    """``gru H=32`` / ``ffnn window=24 hidden=(64,)``, with the parameter count."""
    c = model.config
    if isinstance(model, FeedForward):
        text = f"ffnn window={c.window} hidden={list(c.hidden_sizes)}"
    else:
        text = f"{c.rnn.cell} H={c.rnn.hidden_size}" + (
            f" L={c.rnn.num_layers}" if c.rnn.num_layers > 1 else "")
    return f"{text} ({model.num_parameters():,} parameters)"


def train(
    model: Model | FeedForward,
    x: np.ndarray,
    y: np.ndarray,
    fit: Fit,
    *,
    rng: np.random.Generator,
    lengths: np.ndarray | None = None,
    validation: tuple | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Train ``model`` on ``x: [N, T, I]``, ``y`` (its readout's targets); the best epoch is kept.

    ``validation = (x_val, y_val, lengths_val or None)`` is scored after every epoch; the
    parameters of the epoch with the lowest validation loss are restored at the end.
    Without validation the last epoch's parameters stay.  Returns a summary.
    """
    opt = make_optimizer("adam", fit.lr)
    batches = -(-len(x) // fit.batch_size)
    schedule = make_schedule(fit.schedule, fit.lr, **(
        {"total_steps": fit.epochs * batches} if fit.schedule == "cosine" else {}))
    best = (math.inf, 0, None)  # (validation loss, epoch, parameters)
    start, record = time.perf_counter(), {}
    for epoch in range(1, fit.epochs + 1):
        lrs = [schedule.lr_at((epoch - 1) * batches + b) for b in range(batches)]
        record = {"epoch": epoch, "loss": _epoch(model, opt, lrs, x, y, lengths, fit, rng)}
        if not math.isfinite(record["loss"]):
            raise RnnkitError(f"training diverged at epoch {epoch} (loss {record['loss']}); "
                              "lower --lr")
        if validation is not None:
            record["val_loss"] = evaluate_arrays(model, *validation)
            if record["val_loss"] < best[0]:
                best = (record["val_loss"], epoch, model.state_dict())
        if log and (epoch % 10 == 0 or epoch == 1):
            log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in record.items()))
        if validation is not None and fit.patience and epoch - best[1] >= fit.patience:
            break
    if best[2] is not None:
        model.load_state_dict(best[2])
    return {"epochs": record["epoch"], "best_epoch": best[1] or record["epoch"],
            "train_loss": record["loss"], "val_loss": None if best[2] is None else best[0],
            "seconds": time.perf_counter() - start}


def _epoch(model, opt, lrs: list[float], x, y, lengths, fit: Fit,
           rng: np.random.Generator) -> float:
    """One pass over shuffled batches (batch b at rate ``lrs[b]``); returns the mean loss."""
    order = rng.permutation(len(x))
    total, count = 0.0, 0
    for b, a in enumerate(range(0, len(x), fit.batch_size)):
        idx = order[a : a + fit.batch_size]
        part = None if lengths is None else lengths[idx]
        xb = x[idx] if part is None else x[idx, : int(part.max())]  # no all-padding steps
        step = full_bptt(model, xb, y[idx], lengths=part, rng=rng)
        if fit.clip:
            clip_grad_norm(step.grads, fit.clip)
        opt.step(model.params, step.grads, lr=lrs[b])
        total, count = total + step.loss * len(idx), count + len(idx)
    return total / count


def stderr_log(stream: TextIO, prefix: str) -> Callable[[str], None]:
    """A ``log`` for ``train`` that writes ``prefix: message`` lines to ``stream``."""
    def log(message: str) -> None:
        stream.write(f"{prefix}: {message}\n")
        stream.flush()
    return log
