"""The seq2seq job: a generated task → an encoder–decoder trained through the engine →
exact match on a held-out test set (``rnnkit seq2seq reverse|addition``).

Data.  The test set (``test_size`` pairs, a generator of its own) is drawn first, and no
source in it is ever trained or validated on.  Every update draws ``batch_size`` fresh
pairs from the run's generator (a ``Generated`` source); a pair whose source is in the test
set is drawn again, so every batch has the same number of rows, which K data-parallel ranks
split (``rnnkit.training.distributed``).  The validation set (``val_size`` pairs, drawn the
same way from another generator) comes from the training distribution: its teacher-forced loss and
greedy exact match are evaluated every ``eval_every`` updates, and the parameters with the
lowest validation loss are kept at the end.  The test set is scored once, at the end: exact
match of greedy and of beam decoding.

Gradients.  ``gradients`` is the engine's ``Custom`` function: the mean teacher-forced
cross-entropy per target token (EOS included) and its BPTT through decoder and encoder
(``rnnkit.models.seq2seq``); ``count`` is the number of target tokens, so the ranks' figures
combine into one process's.

Runs.  ``start`` and ``resume`` build a ``Seq2SeqRun``; ``RUN/last`` holds the job's options
(``Seq2SeqJob.to_dict``), from which a resume rebuilds the same data and model
(``jobs.runs``).  ``rnnkit.load(RUN/best)`` returns the ``Seq2Seq`` model.

Prediction.  The model's ``meta`` holds the task, its characters and, under
``"preprocessing"``, the longest target and the beam width, so ``predictor(model, source)``
(``rnnkit.load(RUN)``, ``rnnkit predict RUN FILE``) decodes new sources alone: one per line.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..data.synthetic import (
    SEQ2SEQ_TASKS,
    Seq2SeqBatch,
    Seq2SeqVocab,
    addition_pairs,
    reverse_pairs,
)
from ..errors import ConfigError, DataError
from ..models.seq2seq import Seq2Seq, Seq2SeqConfig, exact_match
from ..training import Batch, Budget, Custom, Engine, Generated, Optimization, Summary, Validation
from ..training.bptt import Step
from ..training.distributed import LOCAL, Comm
from . import runs
from .predicting import Table, read_lines

JOB = "seq2seq"

Pairs = list[tuple[str, str]]

RESUME_OVERRIDES = frozenset({"steps", "minutes", "on_nonfinite", "checkpoint_every", "beam"})
"""Options a resumed run may change (the others would make it another run)."""

MAX_DRAWS = 100
"""Rounds of drawing again for the pairs whose source is in the test set before giving up."""


@dataclass(frozen=True, kw_only=True)
class Seq2SeqJob(runs.StepOptions):
    """One run's options: task, model, training, evaluation (JSON-serialisable)."""

    task: str = "reverse"  # reverse | addition
    max_len: int = 8  # reverse: the longest string
    digits: int = 3  # addition: the most digits per number
    cell: str = "lstm"  # elman | lstm | gru, of the encoder and the decoder
    hidden_size: int = 128  # H
    embedding_dim: int = 32  # E
    num_layers: int = 1  # L
    dtype: str = "float32"  # float32 | float64
    steps: int = 3000
    batch_size: int = 64
    eval_every: int = 500
    val_size: int = 200  # validation pairs, from the training distribution
    test_size: int = 1000  # test pairs, scored once at the end
    beam: int = 4  # beam width of the final decoding

    def __post_init__(self) -> None:
        if self.task not in SEQ2SEQ_TASKS:
            raise ConfigError(f"task must be one of {', '.join(SEQ2SEQ_TASKS)}, got {self.task!r}")
        for name in (
            "max_len",
            "digits",
            "hidden_size",
            "embedding_dim",
            "num_layers",
            "val_size",
            "test_size",
            "beam",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")
        super().__post_init__()


@dataclass(frozen=True)
class Data:
    """The task's vocabulary and pair generator, the validation pairs and the test pairs."""

    vocab: Seq2SeqVocab
    draw: Callable[[np.random.Generator, int], Pairs]  # (rng, n) → n pairs of the task
    val: Pairs
    test: Pairs
    held_out: frozenset[str]  # the test sources

    def training_pairs(self, rng: np.random.Generator, n: int) -> Pairs:
        """``n`` pairs of the task whose sources are not in the test set."""
        pairs: Pairs = []
        for _ in range(MAX_DRAWS):
            pairs += [p for p in self.draw(rng, n - len(pairs)) if p[0] not in self.held_out]
            if len(pairs) == n:
                return pairs
        raise ConfigError(
            "the test set holds nearly every source this task can draw; use a "
            "smaller --test-size, or a larger --max-len or --digits"
        )

    def batch(self, rng: np.random.Generator, n: int) -> Batch:
        """A training batch: x = (source ids ``[n, S]``, lengths ``[n]``), y = the same of
        the targets."""
        b = self.vocab.batch(self.training_pairs(rng, n))
        return Batch((b.src, b.src_lengths), (b.tgt, b.tgt_lengths))


def make_data(job: Seq2SeqJob) -> Data:
    """The task's data: test pairs from generator [seed, 1], validation from [seed, 2]."""
    chars, _ = SEQ2SEQ_TASKS[job.task]

    def draw(rng: np.random.Generator, n: int) -> Pairs:
        if job.task == "reverse":
            return reverse_pairs(rng, n, max_len=job.max_len)
        return addition_pairs(rng, n, digits=job.digits)

    test = draw(np.random.default_rng([job.seed, 1]), job.test_size)
    data = Data(Seq2SeqVocab(chars), draw, [], test, frozenset(s for s, _ in test))
    val = data.training_pairs(np.random.default_rng([job.seed, 2]), job.val_size)
    return Data(data.vocab, draw, val, test, data.held_out)


def longest_target(job: Seq2SeqJob) -> int:
    """The longest target: the string's length, or one digit more than the longest number."""
    return job.max_len if job.task == "reverse" else job.digits + 1


def gradients(model: Seq2Seq, batch: Batch, rng: np.random.Generator) -> Step:
    """Teacher-forced loss (mean per target token, EOS included) and its gradients."""
    (src, src_lengths), (tgt, tgt_lengths) = batch.x, batch.y
    loss, dlogits, cache = model.loss(Seq2SeqBatch(src, src_lengths, tgt, tgt_lengths))
    count = int(np.sum(tgt_lengths)) + len(tgt_lengths)  # every target and its EOS
    return Step(float(loss), model.backward(cache, dlogits), None, count)


@dataclass
class Seq2SeqRun:
    """One run, ready to ``fit`` and then ``test``."""

    job: Seq2SeqJob
    model: Seq2Seq
    engine: Engine
    data: Data
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
        source = Generated(lambda rng: self.data.batch(rng, self.job.batch_size))
        validation = Validation(
            self.validate,
            "val_loss",
            show=lambda m: (
                f"validation loss {m['val_loss']:.4f}, greedy exact match "
                f"{m['val_exact_match']:.3f} on {len(self.data.val)} pairs"
            ),
        )
        return runs.train(
            self.engine,
            source,
            Budget.of(self.job),
            out=self.out,
            options=self.job.to_dict(),
            validation=validation,
            resumed=self.resumed,
            stream=stream,
            clock=clock,
            bits_per="char",
            signals=runs.SIGNALS if handle_signals else (),
        )

    def validate(self, model: Seq2Seq) -> dict[str, float]:
        """Teacher-forced loss and greedy exact match on the validation pairs."""
        b = self.data.vocab.batch(self.data.val)
        greedy = model.greedy(b.src, b.src_lengths, longest_target(self.job))
        return {
            "val_loss": float(model.loss(b)[0]),
            "val_exact_match": float(exact_match(greedy, b).mean()),
        }

    def test(self) -> dict[str, Any]:
        """Exact match of greedy and beam decoding on the test pairs, and five examples."""
        job, vocab, pairs = self.job, self.data.vocab, self.data.test
        b = vocab.batch(pairs)
        greedy = self.model.greedy(b.src, b.src_lengths, longest_target(job))
        beam = self.model.beam(b.src, b.src_lengths, longest_target(job), job.beam)
        return {
            "test_pairs": len(pairs),
            "greedy_exact_match": float(exact_match(greedy, b).mean()),
            "beam_width": job.beam,
            "beam_exact_match": float(exact_match(beam, b).mean()),
            "examples": [
                {"source": s, "target": t, "greedy": vocab.decode(g), "beam": vocab.decode(e)}
                for (s, t), g, e in zip(pairs[:5], greedy, beam)
            ],
        }


def start(job: Seq2SeqJob, out: Path | None, comm: Comm = LOCAL) -> Seq2SeqRun:
    """A new run: the task's data and a freshly initialised model (generator [seed, 0])."""
    data = make_data(job)
    rng = np.random.default_rng([job.seed, 0])
    config = Seq2SeqConfig(
        vocab_size=len(data.vocab),
        embedding_dim=job.embedding_dim,
        cell=job.cell,
        hidden_size=job.hidden_size,
        num_layers=job.num_layers,
        dtype=job.dtype,
    )
    meta = {
        "job": JOB,
        "task": job.task,
        "chars": data.vocab.chars,
        "preprocessing": {"longest_target": longest_target(job), "beam": job.beam},
    }
    model = Seq2Seq(config, rng=rng, meta=meta)
    return Seq2SeqRun(job, model, _engine(model, job, rng, comm), data, out)


def resume(out: Path, comm: Comm = LOCAL, **changes: Any) -> Seq2SeqRun:
    """Continue the run saved in ``out`` exactly where it stopped, with ``changes`` among
    ``RESUME_OVERRIDES`` (``runs.load_run``)."""
    model, state, job = runs.load_run(out, Seq2Seq, Seq2SeqJob, changes, RESUME_OVERRIDES)
    engine = _engine(model, job, np.random.default_rng([job.seed, 0]), comm)
    engine.load_state_dict(state["engine"])
    return Seq2SeqRun(job, model, engine, make_data(job), out, {"loop": state["loop"]})


def _engine(model: Seq2Seq, job: Seq2SeqJob, rng: np.random.Generator, comm: Comm) -> Engine:
    return Engine(
        model,
        Custom(gradients),
        Optimization.of(job),
        rng,
        total_steps=job.steps,
        comm=comm,
        batch_size=job.batch_size,
    )


# -- prediction ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Translator:
    """A trained encoder–decoder that decodes new sources (``rnnkit predict RUN FILE``)."""

    model: Seq2Seq
    source: Path
    job: str = JOB

    @property
    def vocab(self) -> Seq2SeqVocab:
        return Seq2SeqVocab(self.model.meta["chars"])

    def translate(self, texts: list[str], beam: int | None = None) -> list[str]:
        """The decoded output of each text: beam search of width ``beam`` (None: the run's),
        at most the run's longest target or the text's length, whichever is longer."""
        if not texts:
            return []
        prep = self.model.meta["preprocessing"]
        width = prep["beam"] if beam is None else beam
        ids, lengths = self.vocab.pad(texts)
        longest = max(int(prep["longest_target"]), int(lengths.max()) + 1)
        out = (
            self.model.beam(ids, lengths, longest, width)
            if width > 1
            else self.model.greedy(ids, lengths, longest)
        )
        return [self.vocab.decode(o) for o in out]

    def predict_file(self, path: str | Path) -> Table:
        """One source per line (blank lines skipped) → rows of (input, output)."""
        lines = read_lines(path)
        for number, text in lines:
            missing = sorted(set(text) - set(self.vocab.chars))
            if missing:
                raise DataError(
                    f"{path}, line {number}: characters {missing} are not among the "
                    f"{self.model.meta['task']} task's {self.vocab.chars!r}"
                )
        texts = [text for _, text in lines]
        note = f"decoded with beam width {self.model.meta['preprocessing']['beam']}"
        return Table(
            ["input", "output"],
            [[t, o] for t, o in zip(texts, self.translate(texts), strict=True)],
            [f"{len(texts)} inputs {note} by the model in {self.source}"],
        )


def predictor(model: Any, source: Path) -> Translator:
    """The ``Translator`` of a seq2seq run's network (``jobs.predicting``)."""
    if not isinstance(model, Seq2Seq):
        raise ConfigError(f"{source} holds no encoder–decoder")
    return Translator(model, Path(source))
