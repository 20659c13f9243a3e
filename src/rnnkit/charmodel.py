"""The character model job: corpus → vocabulary → model → truncated-BPTT training → samples.

A run lives in one directory: ``last/`` (model + training state for ``--resume``) and
``best/`` (the model with the best validation loss).  The corpus is described in the saved
state (file list and character cap) and re-read on resume; the stream's checksum makes sure
it is the same text.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .config import ModelConfig, TrainConfig
from .data.corpus import default_corpus, read_texts
from .data.text import CharStream, CharVocab, split
from .errors import CheckpointError, ConfigError
from .generate import generate
from .io.model_files import load_with_state
from .model import Model
from .progress import Progress
from .train import Trainer, fit_text


def load_text(files: list[str], max_chars: int = 0) -> str:
    """The user's files, or the standard library's source restricted to ASCII characters."""
    if files:
        text = read_texts(files)
    else:
        text = default_corpus()
        text = text.encode("ascii", "ignore").decode("ascii")  # ≈ 3k of 12M chars are not ASCII
    return text[:max_chars] if max_chars else text


@dataclass
class CharRun:
    """Everything one character-model run needs, ready to ``fit``."""

    model: Model
    trainer: Trainer
    stream: CharStream
    val_ids: np.ndarray
    vocab: CharVocab
    out_dir: Path | None

    @property
    def log2_vocab(self) -> float:
        return math.log2(self.vocab.size)

    def fit(self, progress_stream: TextIO, samples: TextIO, clock: Callable[[], float]):
        c = self.trainer.config
        progress = Progress(c.steps, 60 * c.minutes, stream=progress_stream, clock=clock)
        return fit_text(self.trainer, self.stream, self.val_ids, self.vocab, self.out_dir,
                        progress=progress, samples=samples, clock=clock)

    def final_sample(self, length: int, temperature: float = 0.8) -> str:
        rng = np.random.default_rng([self.trainer.config.seed, 1 << 30])
        prime = self.vocab.encode("\n" if "\n" in self.vocab.chars else self.vocab.chars[0])
        return self.vocab.decode(generate(self.model, prime, length, temperature=temperature,
                                          rng=rng))


def start_run(files: list[str], max_chars: int, rnn: dict[str, Any], train: TrainConfig,
              out_dir: Path | None, *, embedding_dim: int = 0, dtype: str = "float32") -> CharRun:
    """A new run: read the corpus, build the vocabulary and a freshly initialised model."""
    text = load_text(files, max_chars)
    vocab = CharVocab.from_text(text)
    config = ModelConfig.for_tokens(vocab.size, embedding_dim=embedding_dim, **rnn)
    config = config.replace(dtype=dtype)
    rng = np.random.default_rng(train.seed)
    meta = {"vocab": vocab.to_dict(), "corpus": {"files": [str(f) for f in files],
                                                 "max_chars": max_chars}}
    model = Model(config, rng=rng, meta=meta)
    return _assemble(model, vocab, text, train, rng, out_dir)


def resume_run(out_dir: Path, steps: int = 0, minutes: float = 0.0) -> CharRun:
    """Continue the run saved in ``out_dir/last`` exactly where it stopped.

    ``steps``/``minutes`` replace the saved budget when given (``steps`` counts from the
    start of the run, so resuming an interrupted ``--steps 1000`` run finishes at 1000).
    """
    model, state = load_with_state(out_dir / "last")
    if not state or "train_config" not in state or "vocab" not in model.meta:
        raise CheckpointError(f"{out_dir / 'last'} holds no training state to resume from")
    saved = dict(state["train_config"])
    if steps or minutes:
        saved.update(steps=steps, minutes=minutes)
    train = TrainConfig.from_dict(saved)
    vocab = CharVocab.from_dict(model.meta["vocab"])
    corpus = model.meta.get("corpus", {})
    text = load_text(corpus.get("files", []), corpus.get("max_chars", 0))
    run = _assemble(model, vocab, text, train, np.random.default_rng(train.seed), out_dir)
    run.trainer.load_state_dict(state)
    run.stream.load_state_dict(state["stream"])
    return run


def _assemble(model: Model, vocab: CharVocab, text: str, train: TrainConfig,
              rng: np.random.Generator, out_dir: Path | None) -> CharRun:
    ids = vocab.encode(text)
    need = train.batch_size * (train.seq_len + 1)
    train_ids, val_ids = split(ids, train.val_fraction, min_length=need)
    if len(val_ids) < train.seq_len + 1:
        raise ConfigError(f"the validation split ({len(val_ids)} characters) is shorter than "
                          f"seq_len + 1 = {train.seq_len + 1}; use a longer text")
    stream = CharStream(train_ids, train.batch_size, train.seq_len, name="training text")
    return CharRun(model, Trainer(model, train, rng), stream, val_ids, vocab, out_dir)
