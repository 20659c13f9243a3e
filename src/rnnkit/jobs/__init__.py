"""The jobs people use recurrent nets for, end to end, and what they share.

``forecast`` and ``classify`` hold each job's pipeline; this module builds the model a job
asks for — any recurrent cell, or the feed-forward baseline (``cell="ffnn"``) with the same
interface — and trains it through the training engine (``rnnkit.training``): epochs of
shuffled mini-batches, full BPTT, the job's optimizer, clipping and schedule, and, when a
validation part is given, early stopping that keeps the best epoch's parameters.

A job's run lives in one directory (``runs``): its options (``job.json``, so ``--resume``
rebuilds the same data and models) and one sub-directory per trained network with
``last``/``best`` checkpoints and ``metrics.jsonl``.  A resumed network continues exactly
where its ``last`` stopped (parameters, optimizer, generator, shuffle position); a finished
one is not trained again.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..cells import canonical_name
from ..config import ModelConfig
from ..distributed import LOCAL, Comm
from ..errors import CheckpointError, ConfigError
from ..ffnn import CELL_NAME as FFNN, FFNN as FeedForward, FFNNConfig
from ..layers.recurrent import RecurrentConfig
from ..model import Model
from ..training import (Budget, Checkpoints, Engine, FullBPTT, MetricsLog, Optimization,
                        Shuffled, Validation, fit as fit_loop, read_log)
from ..training.arrays import epoch_records, evaluate_arrays


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
    """How a job trains: epochs of shuffled mini-batches.

    Named as the engine's options are, so ``Optimization.of(fit)`` and ``Budget.of(fit)``
    take them by name (the engine's defaults for the rest: no weight decay, no warm-up).
    """

    epochs: int = 100  # passes over the training sequences (most, with early stopping)
    batch_size: int = 32
    optimizer: str = "adam"  # sgd | rmsprop | adagrad | adam | adamw
    lr: float = 3e-3  # base learning rate
    clip: float = 1.0  # global gradient-norm clip (0: off)
    patience: int = 0  # with validation: stop after this many epochs without gain (0: never)
    schedule: str = "constant"  # constant | cosine (decays to 0 over all epochs' updates)
    on_nonfinite: str = "skip"  # a NaN/Inf loss or gradient: skip | reduce-lr | stop

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0 or self.patience < 0:
            raise ConfigError(f"epochs and batch_size must be >= 1, lr > 0, patience >= 0; "
                              f"got {self.epochs}, {self.batch_size}, {self.lr}, {self.patience}")
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"schedule must be constant or cosine, got {self.schedule!r}")
        Optimization.of(self)  # the engine's own checks, now rather than mid-job


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


def train_network(model: Model | FeedForward, x: np.ndarray, y: np.ndarray, fit: Fit, *,
                  rng: np.random.Generator, lengths: np.ndarray | None = None,
                  validation: tuple | None = None, run_dir: Path | None = None,
                  comm: Comm = LOCAL, stop: Callable[[], str | None] = lambda: None,
                  say: Callable[[str], None] | None = None) -> Trained:
    """Train ``model`` on ``x: [N, T, I]``, ``y`` (its readout's targets) through the engine.

    ``validation = (x_val, y_val, lengths_val or None)`` is scored after every epoch; the
    parameters of the epoch with the lowest validation loss are restored at the end (and the
    run stops after ``fit.patience`` epochs without a better one).  ``run_dir`` keeps
    ``last``/``best``/``metrics.jsonl``; if it holds a ``last``, training continues from it
    exactly.  ``comm`` splits each batch's rows over data-parallel ranks.  ``say`` gets an
    epoch line now and then (progress); ``stop()`` names a signal that asks to stop.
    """
    source = Shuffled(x, y, batch_size=fit.batch_size, lengths=lengths)
    _check_rows(len(x), fit.batch_size, comm)
    engine = Engine(model, FullBPTT(), Optimization.of(fit), rng,
                    total_steps=fit.epochs * source.batches_per_epoch, comm=comm)
    resume = _restore(engine, source, run_dir)
    writer = run_dir if comm.rank == 0 else None
    log = _EpochLines(MetricsLog(writer, resume_step=None if resume is None else engine.step,
                                 keep=True), source, fit.epochs, say)
    check = None
    if validation is not None:
        check = Validation(lambda m: {"val_loss": evaluate_arrays(m, *validation)})
    summary = fit_loop(engine, source, Budget.of(fit), validation=check,
                       checkpoints=Checkpoints(run_dir), log=log, stop=stop, resume=resume)
    records = read_log(writer / "metrics.jsonl") if writer is not None else log.records
    epochs = epoch_records(records)
    best = next((r["epoch"] for r in records if r["step"] == summary.best_step), summary.epochs)
    return Trained(summary.epochs, best if check else summary.epochs,
                   epochs[-1]["loss"] if epochs else math.nan,
                   None if check is None or math.isnan(summary.best) else summary.best,
                   summary.seconds, summary.skipped, summary.stopped_by)


def _check_rows(n: int, batch_size: int, comm: Comm) -> None:
    """ConfigError now, not mid-run, if a batch (the last one of an epoch may be smaller)
    cannot be split over the ranks."""
    last = n % batch_size or batch_size
    if comm.size > 1 and min(batch_size, last) < comm.size:
        raise ConfigError(
            f"the {n} training sequences make batches of {batch_size} and a last one of {last} "
            f"per epoch, which cannot be split over {comm.size} processes; choose a "
            f"--batch-size that leaves no remainder below {comm.size}, or fewer processes")


def _restore(engine: Engine, source: Shuffled, run_dir: Path | None) -> dict[str, Any] | None:
    """Load ``run_dir/last`` into the engine, its model and the source (None: nothing saved)."""
    if run_dir is None or not (run_dir / "last").exists():
        return None
    from ..io.model_files import load_with_state

    saved, state = load_with_state(run_dir / "last")
    model = engine.model
    if type(saved) is not type(model) or saved.config != model.config or not isinstance(
            state, dict) or not all(isinstance(state.get(k), dict)
                                    for k in ("engine", "source", "loop")):
        raise CheckpointError(f"{run_dir / 'last'} is not a checkpoint of this job's "
                              f"{describe(model)}; start afresh with --overwrite")
    for n, w in saved.params.items():
        model.params[n][...] = w
    engine.load_state_dict(state["engine"])
    source.load_state_dict(state["source"])
    return {"loop": state["loop"]}


class _EpochLines:
    """The loop's metrics log, which also says each epoch's mean loss (and validation loss)
    at the first, every tenth and the last epoch — progress readable for epoch jobs."""

    def __init__(self, log: MetricsLog, source: Shuffled, epochs: int,
                 say: Callable[[str], None] | None, every: int = 10) -> None:
        self.log, self.source, self.epochs, self.say, self.every = log, source, epochs, say, every
        self.total = self.count = 0.0

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.log.records or []

    def write(self, record: dict[str, Any]) -> None:
        self.log.write(record)
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

    def sync(self) -> None:
        self.log.sync()

    def close(self) -> None:
        self.log.close()


# -- run directories -----------------------------------------------------------------------------

JOB_FILE = "job.json"
"""The options of a job's run, in its directory: what ``--resume`` rebuilds it from."""


def run_directory(job: str, out: str | Path | None, resume: bool, overwrite: bool,
                  comm: Comm = LOCAL) -> Path:
    """The run's directory: ``out``, or a new ``runs/<job>-<date>-<time>[.<k>]`` (rank 0's
    clock, the same name on every rank)."""
    if resume and overwrite:
        raise ConfigError("--resume continues the run in --out and --overwrite starts a new one "
                          "there, losing it; give one of them")
    if out is not None:
        return Path(out)
    if resume:
        raise ConfigError("--resume continues the run in --out DIR: give --out")
    import time

    path = None
    if comm.rank == 0:
        path = Path("runs") / f"{job}-{time.strftime('%Y%m%d-%H%M%S')}"
        for k in range(2, 1000):  # two runs started in the same second get their own
            if not path.exists():
                break
            path = path.with_name(f"{path.name.rsplit('.', 1)[0]}.{k}")
    return Path(comm.bcast(None if path is None else str(path)))


def on_every_rank(job: Callable[[], int], comm: Comm) -> int:
    """``job()`` in one of K data-parallel processes: an error every rank meets alike (bad
    options or data, a divergence — all ranks decide alike) is reported once, by rank 0;
    any other ends all K processes with one line."""
    if comm.size == 1:
        return job()
    from ..errors import DataError, ShapeError
    from ..training import TrainingDiverged

    try:
        return job()
    except SystemExit:
        raise
    except (ConfigError, DataError, ShapeError, TrainingDiverged):
        if comm.rank != 0:
            raise SystemExit(2) from None
        raise
    except BaseException as e:  # noqa: BLE001 — the other ranks may wait in a collective
        comm.abort(f"rnnkit: error in process {comm.rank} of {comm.size}: "
                   f"{type(e).__name__}: {e}", 2)


def saved_options(out: Path, job: str) -> dict[str, Any]:
    """The options a ``job`` run in ``out`` was started with (what ``--resume`` rebuilds)."""
    import json

    path = Path(out) / JOB_FILE
    if not path.exists():
        raise ConfigError(f"{out} holds no {job} run to resume (no {path}); start one "
                          "without --resume")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path} cannot be read ({e}); start afresh with "
                              "--overwrite") from None
    if not isinstance(saved, dict) or saved.get("job") != job or not isinstance(
            saved.get("options"), dict):
        raise CheckpointError(f"{path} does not describe an rnnkit {job} run")
    return saved["options"]


def new_run(out: Path, job: str, options: dict[str, Any], *, overwrite: bool = False,
            comm: Comm = LOCAL) -> None:
    """Save a new run's ``options`` in ``out`` (rank 0).

    A directory that holds a run is refused unless ``overwrite``, which removes the old
    run's networks (checkpoints, logs) — only now that the new options and data are good.
    """
    import json

    path = Path(out) / JOB_FILE
    if path.exists() and not overwrite:
        raise ConfigError(f"{out} already holds a run; continue it with --resume, pass "
                          "--overwrite to start afresh (losing it), or choose another --out")
    if comm.size > 1:
        comm.allreduce_max(np.zeros(1))  # every rank has looked before rank 0 writes
    if comm.rank != 0:
        return
    from ..io.atomic import write_atomic

    if overwrite:
        _clear(Path(out))
    Path(out).mkdir(parents=True, exist_ok=True)
    text = json.dumps({"job": job, "options": options}, indent=2) + "\n"
    write_atomic(path, text.encode("utf-8"))


def _clear(out: Path) -> None:
    """Remove the networks' runs under ``out`` (checkpoints, metrics logs)."""
    import shutil

    from ..training.metrics import LOG_NAME

    for d in [p for p in out.iterdir() if p.is_dir()] if out.is_dir() else []:
        if (d / "last").exists() or (d / "best").exists() or (d / LOG_NAME).exists():
            shutil.rmtree(d)


def stderr_log(stream: TextIO, prefix: str) -> Callable[[str], None]:
    """A job's ``log``: writes ``prefix: message`` lines to ``stream`` (progress, on stderr)."""
    def log(message: str) -> None:
        stream.write(f"{prefix}: {message}\n")
        stream.flush()
    return log
