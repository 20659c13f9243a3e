"""The jobs people use recurrent nets for, end to end, and what they share.

``forecast`` and ``classify`` hold each job's pipeline; this module builds the model a job
asks for — any recurrent cell, or the feed-forward baseline (``cell="ffnn"``) with the same
interface — and trains it through the training engine (``rnnkit.training``): epochs of
shuffled mini-batches, full BPTT, the job's optimizer, clipping and schedule, and, when a
validation part is given, early stopping that keeps the best epoch's parameters.

A job's run lives in one directory (``runs``) with one sub-directory per trained network:
``last``/``best`` checkpoints (every ``last`` holds the job's options, so ``--resume``
rebuilds the same data and models) and ``metrics.jsonl``.  A resumed network continues
exactly where its ``last`` stopped (parameters, optimizer, generator, shuffle position); a
finished one is not trained again.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..cells import canonical_name
from ..config import ModelConfig
from ..errors import CheckpointError, ConfigError
from ..layers.recurrent import RecurrentConfig
from ..models.ffnn import CELL_NAME as FFNN
from ..models.ffnn import FFNN as FeedForward
from ..models.ffnn import FFNNConfig
from ..models.model import Model
from ..training import (
    Budget,
    Engine,
    FullBPTT,
    MetricsLog,
    Optimization,
    Shuffled,
    Validation,
    read_log,
)
from ..training.arrays import epoch_records, evaluate_arrays
from ..training.distributed import LOCAL, Comm
from ..training.metrics import LOG_NAME
from . import runs


@dataclass(frozen=True, kw_only=True)
class Net:
    """What a job builds: a cell and its size (the readout and loss come from the job)."""

    cell: str = "gru"  # any rnnkit cell, or ffnn
    hidden_size: int = 32  # H (ffnn: width of each hidden layer)
    num_layers: int = 1  # stacked layers (ffnn: hidden layers)
    window: int = 0  # ffnn: steps it reads (0: the whole input length)
    nonlinearity: str = "tanh"  # elman / jordan / fully_recurrent; ffnn's activation
    jordan_feedback: str = "output"  # jordan: feed back the output ("output") or its "softmax"
    bidirectional: bool = False  # recurrent: a second pass reads each sequence backwards
    dtype: str = "float32"

    def __post_init__(self) -> None:
        cell = self.cell.lower()
        object.__setattr__(self, "cell", cell if cell == FFNN else canonical_name(cell))
        if self.hidden_size < 1 or self.num_layers < 1 or self.window < 0:
            raise ConfigError(
                f"hidden_size and num_layers must be >= 1 and window >= 0, got "
                f"{self.hidden_size}, {self.num_layers}, {self.window}"
            )


@dataclass(frozen=True, kw_only=True)
class Fit:
    """How a job trains: epochs of shuffled mini-batches.

    Named as the engine's options are, so ``Optimization.of(fit)`` and ``Budget.of(fit)``
    take them by name (the engine's defaults for the rest: no weight decay, no warm-up).
    """

    epochs: int = 100  # passes over the training sequences (most, with early stopping)
    batch_size: int = 32  # sequences (windows) per update
    optimizer: str = "adam"  # sgd | rmsprop | adagrad | adam | adamw
    lr: float = 3e-3  # base learning rate
    clip: float = 1.0  # global gradient-norm clip (0: off)
    patience: int = 0  # with validation: stop after this many epochs without gain (0: never)
    schedule: str = "constant"  # constant | cosine (decays to 0 over all epochs' updates)
    on_nonfinite: str = "skip"  # a NaN/Inf loss or gradient: skip | reduce-lr | stop

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.patience < 0:
            raise ConfigError(
                f"epochs and batch_size must be >= 1, lr > 0, patience >= 0; "
                f"got {self.epochs}, {self.batch_size}, {self.lr}, {self.patience}"
            )
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"schedule must be constant or cosine, got {self.schedule!r}")
        Optimization.of(self)  # the engine's own checks, now rather than mid-job


def build_model(
    net: Net,
    *,
    input_size: int,
    output_size: int,
    steps: int,
    readout: str,
    loss: str,
    rng: np.random.Generator,
) -> Model | FeedForward:
    """A recurrent Model, or the FFNN baseline reading ``net.window`` (0: all ``steps``) steps."""
    if net.cell == FFNN:
        config = FFNNConfig(
            input_size=input_size,
            window=net.window or steps,
            output_size=output_size,
            hidden_sizes=(net.hidden_size,) * net.num_layers,
            activation=net.nonlinearity,
            readout=readout,
            loss=loss,
            dtype=net.dtype,
        )
        return FeedForward(config, rng=rng)
    rnn = RecurrentConfig(
        cell=net.cell,
        input_size=input_size,
        hidden_size=net.hidden_size,
        num_layers=net.num_layers,
        nonlinearity=net.nonlinearity,
        jordan_feedback=net.jordan_feedback,
        bidirectional=net.bidirectional,
    )
    model_config = ModelConfig(
        rnn=rnn, output_size=output_size, readout=readout, loss=loss, dtype=net.dtype
    )
    return Model(model_config, rng=rng)


def describe(model: Model | FeedForward) -> str:
    """``gru H=32`` / ``ffnn window=24 hidden=(64,)``, with the parameter count."""
    if isinstance(model, FeedForward):
        f = model.config
        text = f"ffnn window={f.window} hidden={list(f.hidden_sizes)}"
    else:
        c = model.config
        text = f"{c.rnn.cell} H={c.rnn.hidden_size}" + (
            f" L={c.rnn.num_layers}" if c.rnn.num_layers > 1 else ""
        )
        text += " bidirectional" if c.rnn.bidirectional else ""
    return f"{text} ({model.num_parameters():,} parameters)"


def prefixed(log: Callable[[str], None], prefix: str) -> Callable[[str], None]:
    """``log`` with every line starting ``prefix: `` (one network's lines in a job of several)."""

    def say(line: str) -> None:
        log(f"{prefix}: {line}")

    return say


@dataclass
class Trained:
    """How one network's training ended."""

    epochs: int  # complete or begun passes over the training sequences
    best_epoch: int  # the epoch whose parameters the model holds
    train_loss: float  # mean loss over the scored positions of the last epoch
    val_loss: float | None  # the best validation loss (None without validation)
    seconds: float  # training time, across resumes
    skipped: int  # updates not applied (non-finite loss or gradient)
    stopped_by: str  # epochs | patience | SIGINT | SIGTERM

    @property
    def interrupted(self) -> bool:
        return self.stopped_by.startswith("SIG")


def train_network(
    model: Model | FeedForward,
    x: np.ndarray,
    y: np.ndarray,
    fit: Fit,
    *,
    rng: np.random.Generator,
    lengths: np.ndarray | None = None,
    validation: tuple | None = None,
    run_dir: Path | None = None,
    options: dict[str, Any] | None = None,
    comm: Comm = LOCAL,
    stop: Callable[[], str | None] = lambda: None,
    say: Callable[[str], None] | None = None,
) -> Trained:
    """Train ``model`` on ``x: [N, T, I]``, ``y`` (its readout's targets) through the engine.

    ``validation = (x_val, y_val, lengths_val or None)`` is scored after every epoch; the
    parameters of the epoch with the lowest validation loss are restored at the end (and the
    run stops after ``fit.patience`` epochs without a better one).  ``run_dir`` keeps
    ``last``/``best``/``metrics.jsonl`` (``options``: the job's, saved in ``last``); if it
    holds a ``last``, training continues from it exactly.  ``comm`` splits each batch's rows
    over data-parallel ranks.  ``say`` gets an epoch line now and then (progress); ``stop()``
    names a signal that asks to stop.
    """
    source = Shuffled(x, y, batch_size=fit.batch_size, lengths=lengths)

    def prepare() -> tuple[Engine, dict[str, Any] | None]:
        _check_rows(len(x), fit.batch_size, comm)
        engine = Engine(
            model,
            FullBPTT(),
            Optimization.of(fit),
            rng,
            total_steps=fit.epochs * source.batches_per_epoch,
            comm=comm,
        )
        return engine, _restore(engine, source, run_dir)

    engine, resume = runs.agree(prepare, comm)
    log = _EpochLines(
        run_dir if comm.rank == 0 else None,
        resume_step=engine.step if resume is not None else None,
        source=source,
        epochs=fit.epochs,
        say=say,
    )
    check = None
    if validation is not None:
        check = Validation(lambda m: {"val_loss": evaluate_arrays(m, *validation)})
    summary = runs.train(
        engine,
        source,
        Budget.of(fit),
        out=run_dir,
        options=options or {},
        validation=check,
        resumed=resume,
        stop=stop,
        log=log,
    )
    writer = run_dir if comm.rank == 0 else None
    records = read_log(writer / LOG_NAME) if writer is not None else log.kept()
    epochs = epoch_records(records)
    best = next((r["epoch"] for r in records if r["step"] == summary.best_step), summary.epochs)
    return Trained(
        summary.epochs,
        best if check else summary.epochs,
        epochs[-1]["loss"] if epochs else math.nan,
        None if check is None or math.isnan(summary.best) else summary.best,
        summary.seconds,
        summary.skipped,
        summary.stopped_by,
    )


def _check_rows(n: int, batch_size: int, comm: Comm) -> None:
    """ConfigError now, not mid-run, if a batch (the last one of an epoch may be smaller)
    cannot be split over the ranks."""
    last = n % batch_size or batch_size
    if comm.size > 1 and min(batch_size, last) < comm.size:
        raise ConfigError(
            f"the {n} training sequences make batches of {batch_size} and a last one of {last} "
            f"per epoch, which cannot be split over {comm.size} processes; choose a "
            f"--batch-size that leaves no remainder below {comm.size}, or fewer processes"
        )


def _restore(engine: Engine, source: Shuffled, run_dir: Path | None) -> dict[str, Any] | None:
    """Load ``run_dir/last`` into the engine, its model and the source (None: nothing saved)."""
    if run_dir is None or not (run_dir / "last").exists():
        return None
    model = engine.model
    saved, state = runs.load_last(run_dir, type(model))
    if type(saved) is not type(model) or saved.config != model.config:
        raise CheckpointError(
            f"{run_dir / 'last'} is not a checkpoint of this job's "
            f"{describe(model)}; start afresh with --overwrite"
        )
    for n, w in saved.params.items():
        model.params[n][...] = w
    engine.load_state_dict(state["engine"])
    source.load_state_dict(state["source"])
    return {"loop": state["loop"]}


class _EpochLines(MetricsLog):
    """The loop's metrics log (``runs.metrics_log`` with ``keep``: written by rank 0 only,
    ``run_dir`` None on the others), which also says each epoch's mean loss (and validation
    loss) at the first, every tenth and the last epoch — progress readable for epoch jobs."""

    def __init__(
        self,
        run_dir: Path | None,
        *,
        resume_step: int | None,
        source: Shuffled,
        epochs: int,
        say: Callable[[str], None] | None,
        every: int = 10,
    ) -> None:
        super().__init__(run_dir, resume_step=resume_step, keep=True)
        self.source, self.epochs, self.say, self.every = source, epochs, say, every
        self.total = self.count = 0.0

    def kept(self) -> list[dict[str, Any]]:
        """This process's records."""
        return self.records or []

    def write(self, record: dict[str, Any]) -> None:
        super().write(record)
        if not record["nonfinite"]:
            self.total += record["loss"] * record["positions"]
            self.count += record["positions"]
        if self.source.cursor < self.source.n:  # not an epoch's last batch
            return
        e = record["epoch"]
        if self.say and (e == 1 or e % self.every == 0 or e == self.epochs):
            text = f"epoch {e}/{self.epochs} loss {self.total / max(self.count, 1):.4g}"
            if "val_loss" in record:
                text += f" val_loss {record['val_loss']:.4g}"
            self.say(text)
        self.total = self.count = 0.0


def stderr_log(stream: TextIO, prefix: str) -> Callable[[str], None]:
    """A job's ``log``: writes ``prefix: message`` lines to ``stream`` (progress, on stderr)."""

    def log(message: str) -> None:
        stream.write(f"{prefix}: {message}\n")
        stream.flush()

    return log
