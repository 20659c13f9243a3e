"""The one-to-many job: sequences generated from one conditioning input
(``rnnkit one-to-many sine|words``).

A recurrent model whose initial state is set by the condition (``rnnkit.models.conditioned``) is
trained with teacher forcing on a task the library generates, then generates one sequence
per shown condition from the same start input, feeding its outputs back — so everything
that tells the sequences apart comes from the condition:

    sine   class k → sin(2π t / P_k), t = 1 … T, P_k evenly spaced in [8, 24] steps;
           ``condition="value"``: the condition is the period itself, c = (P − 16) / 8,
           trained on periods drawn from [8, 24], shown at periods in between
    words  class k → the k-th of ``words`` spelt out, then "." to the end

Data.  The task's sequences (generator [seed, 1]) are shuffled; an eighth is held out for
validation and the rest are the training set, read in epochs of shuffled mini-batches
(``Shuffled``).  Validation generates freely from the held-out conditions and scores what
it generates against their sequences (root-mean-square error, or the share of wrong
characters); the parameters that generate best are kept.  The shown conditions are
generated once, at the end (``Results``).

Gradients.  ``gradients`` is the engine's ``Custom`` function: the model's loss
(cross-entropy or MSE) with the teacher-forced inputs, and its BPTT into the conditioning
map; ``count`` is the number of positions, so K data-parallel ranks combine into one.

Prediction.  The network's ``meta`` holds the task and, under ``"preprocessing"``, the
condition's kind, the classes (the periods, or the words) and the length generated, so
``predictor(model, source)`` (``rnnkit.load(RUN)``, ``rnnkit predict RUN FILE``) generates
from new conditions alone: one per line — a class (its number, or the word itself), or a
period for ``condition="value"``.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from numpy.typing import ArrayLike

from ..config import ModelConfig
from ..errors import ConfigError, DataError
from ..layers.recurrent import RecurrentConfig
from ..models.conditioned import Conditioned, ConditionedConfig
from ..training import Batch, Budget, Custom, Engine, Optimization, Shuffled, Summary, Validation
from ..training.bptt import Step, objective
from ..training.distributed import LOCAL, Comm
from . import runs
from .predicting import Table, read_lines

JOB = "one-to-many"

PERIODS = (8.0, 24.0)
"""Shortest and longest period of the sine task, in steps."""

TRAINING_SEQUENCES = 256
"""Sequences the sine-class and words tasks generate (a whole number per class)."""

VALUE_SEQUENCES = 1024
"""Sequences the sine-value task generates (one random period each)."""

RESUME_OVERRIDES = frozenset({"steps", "minutes", "on_nonfinite", "checkpoint_every"})
"""Options a resumed run may change (the others would make it another run)."""


@dataclass(frozen=True, kw_only=True)
class OneToManyJob(runs.StepOptions):
    """One run's options: task, model, training (JSON-serialisable)."""

    task: str = "sine"  # sine | words
    condition: str = "class"  # sine: a class id, or the period as a real "value"
    classes: int = 4  # sine: number of classes
    words: str = "recurrent,networks,remember,sequences"  # words: one class each
    length: int = 48  # sine: steps generated
    input_noise: float = 0.2  # sine: std of the noise added to the teacher-forced inputs
    cell: str = "lstm"  # elman | jordan | lstm | gru
    hidden_size: int = 32  # H
    dtype: str = "float32"  # float32 | float64
    steps: int = 800
    lr: float = 5e-3
    eval_every: int = 50
    checkpoint_every: int = 50

    def __post_init__(self) -> None:
        if self.task not in ("sine", "words"):
            raise ConfigError(f"task must be sine or words, got {self.task!r}")
        if self.condition not in ("class", "value"):
            raise ConfigError(f"condition must be class or value, got {self.condition!r}")
        if self.task == "words" and self.condition != "class":
            raise ConfigError("words are conditioned on their class; leave out --condition value")
        for name in ("classes", "length", "hidden_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.input_noise >= 0:
            raise ConfigError(f"input_noise must be >= 0, got {self.input_noise}")
        super().__post_init__()


@dataclass(frozen=True)
class Task:
    """What a task generates: sequences (c ``[N]`` ids or ``[N, C]``, teacher-forced inputs
    x ``[N, T]`` ids or ``[N, T, 1]``, targets y alike) and the conditions shown at the end."""

    vocab: str  # the characters of a token task ("" for real values)
    condition_size: int  # C
    make: Callable[[np.random.Generator], tuple[np.ndarray, np.ndarray, np.ndarray]]
    shown: np.ndarray  # conditions generated at the end: [K] ids or [K, C]
    truth: np.ndarray  # their sequences: [K, T] ids or [K, T, 1]
    start: np.ndarray  # the first input of every generated sequence: [K] ids or [K, 1]


def sine_waves(periods, T: int) -> np.ndarray:
    """``[K, T, 1]``: sin(2π t / P) for t = 1 … T, one wave per period."""
    t = np.arange(1, T + 1)[None, :]
    return np.sin(2 * np.pi * t / np.asarray(periods, dtype=np.float64)[:, None])[..., None]


def shown_periods(job: OneToManyJob) -> np.ndarray:
    """The periods generated at the end: the classes', or four between the extremes."""
    lo, hi = PERIODS
    return (
        np.linspace(lo, hi, job.classes)
        if job.condition == "class"
        else np.linspace(lo + 1, hi - 1, 4)
    )


def period_value(periods: ArrayLike) -> np.ndarray:
    """``[K, 1]``: the period as a condition value, (P − 16) / 8."""
    lo, hi = PERIODS
    return ((np.asarray(periods) - (lo + hi) / 2) / ((hi - lo) / 2))[:, None]


def sine_task(job: OneToManyJob) -> Task:
    T, value, shown = job.length, job.condition == "value", shown_periods(job)

    def make(rng: np.random.Generator):
        if value:
            periods = rng.uniform(*PERIODS, VALUE_SEQUENCES)
            c = period_value(periods).astype(np.float32)
        else:
            c = np.repeat(np.arange(len(shown)), -(-TRAINING_SEQUENCES // len(shown)))
            periods = shown[c]
        y = sine_waves(periods, T).astype(np.float32)
        x = np.concatenate([np.zeros_like(y[:, :1]), y[:, :-1]], axis=1)  # start 0, then y
        # noisy teacher forcing: the net must keep the wave in its state, not read it off its
        # input, or its own small errors, fed back in generation, would carry it off the wave
        x = x + job.input_noise * rng.standard_normal(x.shape).astype(np.float32)
        return c, x, y

    shown_c = period_value(shown).astype(np.float32) if value else np.arange(len(shown))
    return Task(
        "",
        1 if value else len(shown),
        make,
        shown_c,
        sine_waves(shown, T),
        np.zeros((len(shown), 1), np.float32),
    )


def words_task(job: OneToManyJob) -> Task:
    words = [w.strip() for w in job.words.split(",") if w.strip()]
    if not words or any("." in w for w in words) or len(set(words)) != len(words):
        raise ConfigError(
            f"--words must be distinct comma-separated words without '.', got {job.words!r}"
        )
    vocab = "." + "".join(sorted(set("".join(words))))
    T = max(map(len, words)) + 1
    y = np.array([[vocab.index(ch) for ch in w.ljust(T, ".")] for w in words])
    x = np.concatenate([np.zeros_like(y[:, :1]), y[:, :-1]], axis=1)  # start ".", then y
    classes = np.arange(len(words))
    reps = -(-TRAINING_SEQUENCES // len(words))

    def make(rng: np.random.Generator):
        return np.tile(classes, reps), np.tile(x, (reps, 1)), np.tile(y, (reps, 1))

    return Task(vocab, len(words), make, classes, y, np.zeros(len(words), np.int64))


def make_task(job: OneToManyJob) -> Task:
    return sine_task(job) if job.task == "sine" else words_task(job)


def model_config(job: OneToManyJob, task: Task) -> ConditionedConfig:
    if task.vocab:
        model = ModelConfig.for_tokens(
            len(task.vocab), cell=job.cell, hidden_size=job.hidden_size
        ).replace(dtype=job.dtype)
    else:
        rnn = RecurrentConfig(cell=job.cell, input_size=1, hidden_size=job.hidden_size)
        model = ModelConfig(rnn=rnn, output_size=1, loss="mse", dtype=job.dtype)
    return ConditionedConfig(
        model=model,
        condition_size=task.condition_size,
        condition="vector" if job.condition == "value" else "class",
    )


def split(task: Task, seed: int) -> tuple[tuple, tuple]:
    """((c, x, y) of training, (c, x, y) of validation): an eighth held out, at random."""
    rng = np.random.default_rng([seed, 1])
    c, x, y = task.make(rng)
    order = rng.permutation(len(x))
    val, train = order[: max(1, len(x) // 8)], order[max(1, len(x) // 8) :]
    return (c[train], x[train], y[train]), (c[val], x[val], y[val])


def gradients(net: Conditioned, batch: Batch, rng: np.random.Generator) -> Step:
    """The model's loss with teacher-forced inputs, and its gradients (the condition map's
    too); ``batch.extra["c"]`` holds the conditions."""
    out, cache = net.forward(batch.extra["c"], batch.x, train=True, rng=rng)
    loss, dy = objective(net.model, out, batch.y)
    return Step(float(loss), net.backward(cache, dy), None, int(np.prod(out.shape[:-1])))


def generation_error(net: Conditioned, task: Task, c: np.ndarray, y: np.ndarray) -> float:
    """How far sequences generated freely from conditions ``c`` are from ``y``: the RMSE of
    real values, or the share of wrong characters."""
    start = np.repeat(task.start[:1], len(c), axis=0)
    out = net.generate(c, start, y.shape[1])
    if task.vocab:
        return float(np.mean(out != y))
    return float(np.sqrt(np.mean((out - y) ** 2)))


@dataclass(frozen=True)
class Results:
    """The shown conditions' sequences: the truth and what the model generated."""

    task: str
    condition: str
    vocab: str
    periods: np.ndarray | None  # sine: [K] periods of the shown conditions
    truth: np.ndarray  # [K, T] ids or [K, T, 1]
    out: np.ndarray  # the same shape, generated


@dataclass
class OneToManyRun:
    """One run, ready to ``fit`` and then ``generate``."""

    job: OneToManyJob
    net: Conditioned
    engine: Engine
    task: Task
    source: Shuffled
    val: tuple  # (c, x, y) held out of the training sequences
    out: Path | None
    resumed: dict[str, Any] | None = None  # the loop's saved state when resuming

    def fit(
        self,
        stream: TextIO | None,
        clock: Callable[[], float] = time.monotonic,
        *,
        handle_signals: bool = True,
    ) -> Summary:
        """Train to the budget (progress and validation lines on ``stream``)."""
        what = "characters wrong" if self.task.vocab else "rmse"
        validation = Validation(
            self.validate,
            "val_generation_error",
            show=lambda m: (
                f"validation: generated {what} {m['val_generation_error']:.4f}, teacher-forced "
                f"loss {m['val_loss']:.4f}"
            ),
        )
        return runs.train(
            self.engine,
            self.source,
            Budget.of(self.job),
            out=self.out,
            options=self.job.to_dict(),
            validation=validation,
            resumed=self.resumed,
            stream=stream,
            clock=clock,
            bits_per="char" if self.task.vocab else "",
            signals=runs.SIGNALS if handle_signals else (),
        )

    def validate(self, net: Conditioned) -> dict[str, float]:
        c, x, y = self.val
        out, _ = net.forward(c, x)
        return {
            "val_generation_error": generation_error(net, self.task, c, y),
            "val_loss": float(objective(net.model, out, y)[0]),
        }

    def generate(self) -> Results:
        """Each shown condition's sequence, generated once from the start input."""
        t = self.task
        out = self.net.generate(t.shown, t.start, t.truth.shape[1])
        periods = shown_periods(self.job) if self.job.task == "sine" else None
        return Results(self.job.task, self.job.condition, t.vocab, periods, t.truth, out)


def start(job: OneToManyJob, out: Path | None, comm: Comm = LOCAL) -> OneToManyRun:
    """A new run: the task's sequences and a freshly initialised model (generator [seed, 0])."""
    task = make_task(job)
    rng = np.random.default_rng([job.seed, 0])
    net = Conditioned(model_config(job, task), rng=rng, meta=_meta(job, task))
    return _assemble(job, net, task, rng, out, comm)


def resume(out: Path, comm: Comm = LOCAL, **changes: Any) -> OneToManyRun:
    """Continue the run saved in ``out`` exactly where it stopped, with ``changes`` among
    ``RESUME_OVERRIDES`` (``runs.load_run``)."""
    net, state, job = runs.load_run(out, Conditioned, OneToManyJob, changes, RESUME_OVERRIDES)
    run = _assemble(job, net, make_task(job), np.random.default_rng([job.seed, 0]), out, comm)
    run.engine.load_state_dict(state["engine"])
    run.source.load_state_dict(state["source"])
    run.resumed = {"loop": state["loop"]}
    return run


def _assemble(
    job: OneToManyJob,
    net: Conditioned,
    task: Task,
    rng: np.random.Generator,
    out: Path | None,
    comm: Comm,
) -> OneToManyRun:
    (c, x, y), val = split(task, job.seed)
    rest = len(x) % job.batch_size
    if comm.size > 1 and 0 < rest < comm.size:
        raise ConfigError(
            f"the last batch of each epoch holds {rest} of the {len(x)} training "
            f"sequences, too few for {comm.size} processes; choose another "
            "--batch-size"
        )
    source = Shuffled(x, y, batch_size=min(job.batch_size, len(x)), extra={"c": c})
    engine = Engine(
        net,
        Custom(gradients),
        Optimization.of(job),
        rng,
        total_steps=job.steps,
        comm=comm,
        batch_size=job.batch_size,
    )
    return OneToManyRun(job, net, engine, task, source, val, out)


def _meta(job: OneToManyJob, task: Task) -> dict[str, Any]:
    """What generation from new conditions needs, saved with the network."""
    classes: list[Any] = (
        [w.strip() for w in job.words.split(",") if w.strip()]
        if job.task == "words"
        else shown_periods(job).tolist()
    )
    return {
        "job": JOB,
        "task": job.task,
        "vocab": task.vocab,
        "preprocessing": {
            "condition": job.condition,
            "classes": classes,
            "length": int(task.truth.shape[1]),
        },
    }


# -- prediction ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generator:
    """A trained conditioned network that generates from new conditions."""

    model: Conditioned
    source: Path
    job: str = JOB

    @property
    def preprocessing(self) -> dict[str, Any]:
        return self.model.meta["preprocessing"]

    def conditions(self, given: list[str], where: str = "") -> np.ndarray:
        """The network's conditions for ``given`` texts: ``[K]`` class ids (a class's number
        or name) or ``[K, 1]`` period values (a period in steps)."""
        prep = self.preprocessing
        if prep["condition"] == "value":
            try:
                periods = [float(g) for g in given]
            except ValueError as e:
                raise DataError(f"{where}a period in steps is a number: {e}") from None
            return period_value(periods).astype(self.model.model.config.dtype)
        names = [str(c) for c in prep["classes"]]
        ids = []
        for g in given:
            g = g.strip()
            if g in names:
                ids.append(names.index(g))
            elif g.isdigit() and int(g) < len(names):
                ids.append(int(g))
            else:
                raise DataError(
                    f"{where}{g!r} is no class of this run: give 0 … {len(names) - 1} "
                    f"or one of {', '.join(names)}"
                )
        return np.array(ids, dtype=np.int64)

    def generate(self, given: list[str], length: int | None = None) -> list[Any]:
        """Each condition's generated sequence: a string (words), or ``[T]`` values."""
        c = self.conditions(given)
        T = self.preprocessing["length"] if length is None else length
        vocab = self.model.meta["vocab"]
        start = (
            np.zeros(len(c), np.int64)
            if vocab
            else np.zeros((len(c), 1), self.model.model.config.dtype)
        )
        out = self.model.generate(c, start, T)
        if vocab:
            return ["".join(vocab[i] for i in row).split(".")[0] for row in out]
        return [row[:, 0] for row in out]

    def predict_file(self, path: str | Path) -> Table:
        """One condition per line → (condition, text) rows, or (condition, step, value)."""
        lines = read_lines(path)
        for number, text in lines:
            self.conditions([text], f"{path}, line {number}: ")
        given = [text.strip() for _, text in lines]
        made = self.generate(given)
        note = f"{len(given)} conditions, generated by the model in {self.source}"
        if self.model.meta["vocab"]:
            return Table(["condition", "text"], [[g, m] for g, m in zip(given, made)], [note])
        rows = [[g, t + 1, float(v)] for g, m in zip(given, made) for t, v in enumerate(m)]
        return Table(["condition", "step", "value"], rows, [note])


def predictor(model: Any, source: Path) -> Generator:
    """The ``Generator`` of a one-to-many run's network (``jobs.predicting``)."""
    if not isinstance(model, Conditioned):
        raise ConfigError(f"{source} holds no conditioned network")
    return Generator(model, Path(source))
