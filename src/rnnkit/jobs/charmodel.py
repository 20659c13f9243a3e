"""The character (or word) model job: corpus → vocabulary → model → truncated-BPTT training.

A run lives in one directory (``jobs.runs``): ``last`` (model, options and training state for
``--resume``) and ``best`` (the model with the best validation loss), each a link to a
complete checkpoint (``io.model_files.save_in_run``).  The corpus is described in the saved
state (file list and character cap) and re-read on resume; the stream's checksum makes sure it
is the same text.

The model is any recurrent cell, or the feed-forward baseline (``cell="ffnn"``: an MLP over the
last ``window`` characters, ``rnnkit.models.ffnn``), which trains, saves, resumes and samples the
same way; beside a recurrent model it shows what memory buys.

The library equivalent of ``rnnkit train --resume``::

    run = resume_run(Path("runs/char"))                 # or resume_run(dir, steps=20_000)
    result = run.fit(sys.stderr, sys.stdout, time.monotonic)

continues exactly where the saved run stopped (``result["stopped_by"]`` names a signal that
interrupted it, after the last checkpoint was written).

Words
-----
``start_run(..., tokens="words")`` models the next *word* instead: the text is split into words
and punctuation (``rnnkit.data.words``), the ``vocab_size`` most frequent tokens of the training
part seen ``min_count`` times or more form the vocabulary with ``<unk>`` for the rest, and
the model reads learned embeddings of the ids (``embedding_dim``; 0 means
``WORD_EMBEDDING``).  Validation reports perplexity, exp(mean nats per token), with ``<unk>``
counted as a token; a character model reports bits per character.  Both appear in the
progress lines and in ``metrics.jsonl`` (``val_perplexity`` / ``val_bits_per_char`` beside
``val_loss`` in nats).

The network's meta says what it reads: ``meta["tokens"]`` is ``"chars"`` or ``"words"``
(absent in checkpoints saved before word models: characters), ``meta["vocab"]`` the
vocabulary (``CharVocab.to_dict`` / ``WordVocab.to_dict``), and ``meta["preprocessing"]``
repeats both for prediction (``jobs.predicting``), with ``meta["job"] = "train"``.

Prediction
----------
``predictor(model, source)`` (or ``predicting.load(RUN)``) is a ``TextPredictor``:
``next_tokens(prompt, k)`` gives the k most likely next words (characters) and their
probabilities, ``sample(prompt, length)`` continues the prompt, and ``predict_file(path, k=5)``
reads one prompt per line and returns a table of prompt, rank, token and probability.

Data-parallel: ``start_run(..., comm=connect())`` or ``resume_run(dir, comm=...)`` in each of
the K processes of ``mpiexec -n K`` (``rnnkit.training.distributed``); every rank reads the
same text (and run directory), and only rank 0 prints progress and samples and writes the run.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..config import CharModelOptions, ModelConfig, TrainConfig
from ..data.corpus import check_distinct, default_corpus, read_texts
from ..data.text import CharStream, CharVocab, split
from ..data.words import NEWLINE, WordVocab, continuation, tokenize
from ..errors import CheckpointError, ConfigError, DataError, RnnkitError, VocabularyError
from ..layers.losses import softmax
from ..models.ffnn import CELL_NAME as FFNN_CELL
from ..models.ffnn import FFNN, FFNNConfig
from ..models.model import Model
from ..models.sampling import generate
from ..training import Budget, Engine, Optimization, Truncated, Validation
from ..training.batches import Chunks
from ..training.bptt import objective
from ..training.distributed import LOCAL, Comm, Disagreement, fingerprint, row_range, same_on_all
from . import predicting, runs

LN2 = math.log(2)

TOKENS = ("chars", "words")
"""What a model reads and predicts (``meta["tokens"]``)."""

WORD_EMBEDDING = 64
"""The embedding width of a word model when ``embedding_dim`` is 0."""

Vocab = CharVocab | WordVocab

DEFAULT_WINDOW = CharModelOptions.window
"""Characters the feed-forward baseline reads by default (≈ an LSTM-256's parameters at V ≈ 96)."""

RESUME_OVERRIDES = frozenset(
    {
        "steps",
        "minutes",
        "lr",
        "clip",
        "clip_value",
        "eval_every",
        "eval_chars",
        "sample_every",
        "sample_length",
        "checkpoint_every",
        "on_nonfinite",
        "nonfinite_lr_factor",
        "max_nonfinite",
    }
)
"""Training options a resumed run may change (the rest would make it another run)."""


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

    model: Model | FFNN
    engine: Engine
    config: TrainConfig
    stream: CharStream
    val_ids: np.ndarray
    vocab: Vocab
    out_dir: Path | None
    resumed: dict[str, Any] | None = None  # the loop's saved state when resuming

    @property
    def log2_vocab(self) -> float:
        return math.log2(self.vocab.size)

    @property
    def words(self) -> bool:
        """A word model (perplexity), not a character model (bits/char)."""
        return isinstance(self.vocab, WordVocab)

    def fit(
        self,
        progress_stream: TextIO | None,
        samples: TextIO,
        clock: Callable[[], float],
        *,
        handle_signals: bool = True,
    ) -> dict[str, Any]:
        """Train to the budget; SIGINT/SIGTERM save ``last`` and return (``"stopped_by"``).

        Progress goes to ``progress_stream`` (None: none), samples to ``samples``.  Returns
        the final figures; ``"stopped_by"`` is a signal's name or None.
        """
        c, comm = self.config, self.engine.comm
        samples = runs.quiet(samples, comm)  # one voice: rank 0's
        _check_same_start(self.engine, self.stream)
        budget = Budget(
            steps=c.steps,
            minutes=c.minutes,
            eval_every=c.eval_every,
            checkpoint_every=c.checkpoint_every,
            restore_best=False,
        )
        validation = Validation(self._validate, "val_loss", show=self.shown)

        def sample(engine: Engine) -> None:
            if c.sample_every and engine.step % c.sample_every == 0:
                _print_sample(
                    self.model, self.vocab, c.seed, c.sample_length, samples, engine.step
                )

        summary = runs.train(
            self.engine,
            Chunks(self.stream),
            budget,
            out=self.out_dir,
            options=c.to_dict(),
            validation=validation,
            resumed=self.resumed,
            stream=progress_stream,
            clock=clock,
            signals=runs.SIGNALS if handle_signals else (),
            need_bytes=self.checkpoint_bytes(),
            after_update=sample,
        )
        val_loss = summary.history[-1]["val_loss"] if summary.history else math.nan
        signalled = summary.stopped_by if summary.stopped_by.startswith("SIG") else None
        return {
            "steps": summary.steps,
            "train_loss": summary.train_loss,
            **self.figures(val_loss),
            "best_val_loss": summary.best,  # the validation loss of ``best`` (NaN: none)
            "best_step": summary.best_step,
            "skipped": summary.skipped,
            "stopped_by": signalled,
        }

    def figures(self, val_loss: float) -> dict[str, float]:
        """The validation loss (nats per token) and this model's figure of it: perplexity
        exp(loss) for words, bits per character loss / ln 2 for characters."""
        if self.words:
            return {"val_loss": val_loss, "val_perplexity": _perplexity(val_loss)}
        return {"val_loss": val_loss, "val_bits_per_char": val_loss / LN2}

    def shown(self, metrics: dict[str, float]) -> str:
        """The validation figure as a progress line shows it."""
        if self.words:
            return f"validation perplexity {_perplexity(metrics['val_loss']):.2f}"
        return f"validation {metrics['val_loss'] / LN2:.3f} bits/char"

    def _validate(self, model: Model | FFNN) -> dict[str, float]:
        c = self.config
        loss = evaluate(
            model, self.val_ids, c.batch_size, c.seq_len, c.eval_chars, self.engine.comm
        )
        return self.figures(loss)

    def checkpoint_bytes(self) -> int:
        """Room the run's checkpoints need: the last, the best, and a new last being written."""
        params = sum(w.nbytes for w in self.model.params.values())
        return 2 * _last_checkpoint_bytes(self.engine, self.config) + params + (1 << 20)

    def final_sample(self, length: int, temperature: float = 0.8) -> str:
        """``length`` tokens drawn after a newline (or the first token of the vocabulary)."""
        rng = np.random.default_rng([self.config.seed, 1 << 30])
        return self.vocab.decode(
            generate(self.model, _start(self.vocab), length, temperature=temperature, rng=rng)
        )


def _perplexity(nats: float) -> float:
    """exp(mean nats per token); inf past what a float holds, NaN for NaN."""
    return math.exp(nats) if nats < 709 else (math.inf if nats == nats else math.nan)


def _symbols(vocab: Vocab) -> tuple[str, ...]:
    """The vocabulary's tokens in id order."""
    return vocab.tokens if isinstance(vocab, WordVocab) else vocab.chars


def _start(vocab: Vocab) -> np.ndarray:
    """``[1]``: the newline's id, else 0 (the token a sample starts after)."""
    symbols = _symbols(vocab)
    return np.array([symbols.index(NEWLINE) if NEWLINE in symbols else 0])


def _last_checkpoint_bytes(engine: Engine, c: TrainConfig) -> int:
    """An upper estimate of one ``last`` checkpoint: parameters, moments, carried state, JSON."""
    model = engine.model
    params = sum(w.nbytes for w in model.params.values())
    if isinstance(model, FFNN):
        f = model.config
        carried = c.batch_size * (f.window + (c.bptt_steps or c.seq_len)) * f.input_size * 8
    else:
        rnn = model.config.rnn
        state = 3 * rnn.num_layers * (2 if rnn.bidirectional else 1) * rnn.hidden_size
        carried = c.batch_size * (state + (c.bptt_steps or c.seq_len)) * 8  # + held masks
    return params * (1 + len(engine.optimizer.slots)) + carried + (1 << 20)


def evaluate(
    model: Model | FFNN,
    ids: np.ndarray,
    batch_size: int,
    seq_len: int,
    max_tokens: int = 0,
    comm: Comm = LOCAL,
) -> float:
    """Mean cross-entropy (nats per token) on ``ids``, read as parallel streams, state carried.

    With K ranks each reads its own rows of the streams and the sums are added up, so every
    rank returns the same figure.
    """
    ids = ids[: max_tokens + 1] if max_tokens else ids
    B = max(1, min(batch_size, (len(ids) - 1) // max(seq_len, 1)))
    n = (len(ids) - 1) // B
    if n < 1:
        raise RnnkitError(f"validation text too short: {len(ids)} tokens")
    xs = ids[: B * n].reshape(B, n)
    ys = ids[1 : B * n + 1].reshape(B, n)
    lo, hi = (
        row_range(B, comm.rank, comm.size)
        if B >= comm.size
        else (min(comm.rank, B), min(comm.rank + 1, B))
    )
    state, total = None, 0.0
    for a in range(0, n if hi > lo else 0, seq_len):
        logits, state, _ = model.forward(xs[lo:hi, a : a + seq_len], state)
        loss, _ = objective(model, logits, ys[lo:hi, a : a + seq_len])
        total += loss * ys[lo:hi, a : a + seq_len].size
    if comm.size > 1:
        total = float(comm.allreduce_sum(np.array([total]))[0])
    return total / ys.size


def _check_same_start(engine: Engine, stream: CharStream) -> None:
    """``Disagreement`` on every rank unless all start from the same parameters and text."""
    comm = engine.comm
    if comm.size == 1:
        return
    where = np.array([stream.checksum, stream.cursor, stream.epoch, engine.step], np.int64)
    if not same_on_all(comm, fingerprint({**engine.model.params, "stream": where})):
        raise Disagreement(
            f"the {comm.size} processes do not start from the same parameters, text and "
            "position; every host must read the same text files and the same run directory"
        )


def _print_sample(
    model: Model | FFNN, vocab: Vocab, seed: int, length: int, out: TextIO, step: int
) -> None:
    # a generator of its own, so that sampling never shifts the training run's random stream
    sample_rng = np.random.default_rng([seed, step])
    ids = generate(model, _start(vocab), length, temperature=0.8, rng=sample_rng)
    out.write(f"--- sample at step {step} ---\n{vocab.decode(ids)}\n")
    out.flush()


def start_run(
    files: list[str],
    max_chars: int,
    rnn: dict[str, Any],
    train: TrainConfig,
    out_dir: Path | None,
    *,
    embedding_dim: int = 0,
    dtype: str = "float32",
    window: int = DEFAULT_WINDOW,
    comm: Comm = LOCAL,
    tokens: str = "chars",
    vocab_size: int = CharModelOptions.vocab_size,
    min_count: int = CharModelOptions.min_count,
    lowercase: bool = False,
) -> CharRun:
    """A new run: read the corpus, build the vocabulary and a freshly initialised model.

    ``rnn`` holds the recurrent layer's options; with ``rnn["cell"] == "ffnn"`` the model is
    the feed-forward baseline over the last ``window`` tokens, with ``num_layers``
    hidden layers of ``hidden_size`` units and ``nonlinearity`` as its activation.
    ``comm`` makes it one of K data-parallel ranks (each starts from the same seed).
    ``tokens="words"`` models words (module docstring): ``vocab_size``, ``min_count`` and
    ``lowercase`` shape its vocabulary, built from the training part of the text only.
    """
    if tokens not in TOKENS:
        raise ConfigError(f"tokens must be 'chars' or 'words', got {tokens!r}")
    text = load_text(files, max_chars)
    if max_chars:  # the whole text has two characters or more; its first max_chars may not
        check_distinct(text, f"the first {max_chars:,} characters (--max-chars)")
    vocab: Vocab
    if tokens == "words":
        words = tokenize(text, lowercase)
        training = words[: len(words) - int(round(len(words) * train.val_fraction))]
        vocab = WordVocab.from_tokens(training, vocab_size, min_count, lowercase=lowercase)
        ids = vocab.ids(words)
        embedding_dim = embedding_dim or WORD_EMBEDDING
        how = {"vocab_size": vocab_size, "min_count": min_count, "lowercase": lowercase}
    else:
        vocab = CharVocab.from_text(text)
        ids = vocab.encode(text)
        how = {}
    rng = np.random.default_rng(train.seed)
    meta = {
        "tokens": tokens,
        "vocab": vocab.to_dict(),
        "corpus": {"files": [str(f) for f in files], "max_chars": max_chars},
        "job": "train",
        "preprocessing": {"tokens": tokens, "vocab": vocab.to_dict(), **how},
    }
    model: Model | FFNN
    if rnn.get("cell") == FFNN_CELL:
        model = FFNN(
            ffnn_config(vocab.size, rnn, embedding_dim=embedding_dim, dtype=dtype, window=window),
            rng=rng,
            meta=meta,
        )
    else:
        config = ModelConfig.for_tokens(vocab.size, embedding_dim=embedding_dim, **rnn)
        model = Model(config.replace(dtype=dtype), rng=rng, meta=meta)
    return _assemble(model, vocab, ids, train, rng, out_dir, comm)


def ffnn_config(
    vocab_size: int,
    rnn: dict[str, Any],
    *,
    embedding_dim: int = 0,
    dtype: str = "float32",
    window: int = DEFAULT_WINDOW,
) -> FFNNConfig:
    """The baseline's config from the recurrent options it shares (sizes, activation)."""
    hidden = rnn.get("hidden_size", CharModelOptions.hidden_size)
    layers = rnn.get("num_layers", CharModelOptions.num_layers)
    if not isinstance(window, int) or window < 1:
        raise ConfigError(f"window must be an integer >= 1, got {window!r}")
    if not isinstance(layers, int) or layers < 1:
        raise ConfigError(f"num_layers must be >= 1, got {layers!r}")
    return FFNNConfig(
        input_size=embedding_dim or vocab_size,
        window=window,
        output_size=vocab_size,
        hidden_sizes=(hidden,) * layers,
        activation=rnn.get("nonlinearity", "tanh"),
        vocab_size=vocab_size,
        embedding_dim=embedding_dim,
        dtype=dtype,
    )


def resume_run(
    out_dir: Path, steps: int = 0, minutes: float = 0.0, *, comm: Comm = LOCAL, **changes: Any
) -> CharRun:
    """Continue the run saved in ``out_dir/last`` exactly where it stopped.

    ``steps``/``minutes`` replace the saved budget when given (``steps`` counts from the
    start of the run, so resuming an interrupted ``--steps 1000`` run finishes at 1000).
    ``changes`` replace other saved options among ``RESUME_OVERRIDES`` (e.g. a lower ``lr``
    after a divergence); the run is then no longer the same as an uninterrupted one.
    ``comm`` resumes as one of K ranks; K need not be the saved run's.
    """
    if steps or minutes:
        changes = {**changes, "steps": steps, "minutes": minutes}
    model, state, train = runs.load_run(
        out_dir, (Model, FFNN), TrainConfig, changes, RESUME_OVERRIDES
    )
    last = Path(out_dir) / "last"
    vocab = vocabulary(model.meta, last)
    if "job" not in model.meta:  # saved before runs recorded what they predict with
        kind = "words" if isinstance(vocab, WordVocab) else "chars"
        preprocessing = {"tokens": kind, "vocab": vocab.to_dict()}
        model.meta.update(tokens=kind, job="train", preprocessing=preprocessing)
    corpus = model.meta.get("corpus", {})
    if not isinstance(corpus, dict):
        raise CheckpointError(f"{last}: the saved corpus description is damaged")
    text = load_text(corpus.get("files", []), corpus.get("max_chars", 0))
    ids = vocab.encode(text)
    run = _assemble(model, vocab, ids, train, np.random.default_rng(train.seed), out_dir, comm)
    run.engine.load_state_dict(state["engine"])
    run.stream.load_state_dict(state["source"])
    run.resumed = {"loop": state["loop"]}
    return run


def vocabulary(meta: dict[str, Any], where: Path | str) -> Vocab:
    """The vocabulary a model's ``meta`` holds: characters, or words when ``meta["tokens"]``
    says so (checkpoints saved before word models have no ``tokens``: characters)."""
    if "vocab" not in meta:
        raise CheckpointError(f"{where} holds no character or word model (it has no vocabulary)")
    tokens = meta.get("tokens", "chars")
    if tokens == "words":
        return WordVocab.from_dict(meta["vocab"])
    if tokens == "chars":
        return CharVocab.from_dict(meta["vocab"])
    raise CheckpointError(f"{where}: tokens must be 'chars' or 'words', got {tokens!r:.40}")


def _assemble(
    model: Model | FFNN,
    vocab: Vocab,
    ids: np.ndarray,
    train: TrainConfig,
    rng: np.random.Generator,
    out_dir: Path | None,
    comm: Comm = LOCAL,
) -> CharRun:
    """The run of ``model`` on the text's ids ``[N]``: its tail held out for validation."""
    unit = vocab.unit
    need = train.batch_size * (train.seq_len + 1)
    if len(ids) * (1 - train.val_fraction) < need:
        raise DataError(
            f"the text of {len(ids):,} {unit}s is too short for batch_size={train.batch_size} "
            f"streams of seq_len+1={train.seq_len + 1} {unit}s after holding out "
            f"{train.val_fraction:.0%} for validation (it needs about "
            f"{math.ceil(need / (1 - train.val_fraction)):,}); use a longer text or a smaller "
            "--batch-size or --seq-len"
        )
    # the training streams need `need` ids; validation reads as many rows as it can fill
    train_ids, val_ids = split(
        ids, train.val_fraction, min_length=train.seq_len + 1, unit=f"{unit}s"
    )
    stream = CharStream(train_ids, train.batch_size, train.seq_len, name="training text")
    engine = Engine(
        model,
        Truncated(train.seq_len, train.bptt_steps),
        Optimization.of(train),
        rng,
        total_steps=train.steps,
        comm=comm,
        batch_size=train.batch_size,
    )
    return CharRun(model, engine, train, stream, val_ids, vocab, out_dir)


# -- prediction ----------------------------------------------------------------------------------

SHOWN = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
"""How a table writes the tokens that would break its lines."""


@dataclass
class TextPredictor:
    """The next words (or characters) a trained model expects after a prompt.

    A word prompt is tokenised as the training text was; words outside the vocabulary read as
    ``<unk>``.  A character prompt must use the vocabulary's characters.  A prompt is read as
    the start of a line: after a newline, when the vocabulary has one and the prompt does not
    begin with it.  The model learnt from running text, its state carried from chunk to
    chunk, and reads the first tokens after a fresh state poorly; the newline puts it where a
    line begins (on the default corpus this lowers the loss of a line's next tokens by about
    0.9 nats, for words and characters alike).
    """

    model: Model | FFNN
    source: Path
    vocab: Vocab
    job: str = "train"
    tokens: str = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = "words" if isinstance(self.vocab, WordVocab) else "chars"

    def encode(self, prompt: str) -> tuple[np.ndarray, list[str]]:
        """(the ids ``[P]`` the model reads for ``prompt``, P ≥ 1: a newline first unless the
        prompt begins with one or the vocabulary has none; the prompt's words outside the
        vocabulary)."""
        if isinstance(self.vocab, WordVocab):
            words = self.vocab.tokenize(prompt)
            ids, unknown = self.vocab.ids(words), self.vocab.unknown(words)
        else:
            ids, unknown = self.vocab.encode(prompt), []
        start = _start(self.vocab)
        if NEWLINE in _symbols(self.vocab) and not (ids.size and ids[0] == start[0]):
            ids = np.concatenate([start, ids])
        return (ids if ids.size else start).astype(np.int64), unknown

    def probabilities(self, prompt: str) -> np.ndarray:
        """p(next token | prompt) ``[V]`` (float64): the softmax of the model's last logits."""
        ids, _ = self.encode(prompt)
        logits, _, _ = self.model.forward(ids[None, :])
        return softmax(np.asarray(logits[0, -1], dtype=np.float64))

    def next_tokens(self, prompt: str, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most likely next tokens and their probabilities, most likely first (ties
        in id order)."""
        _check_k(k)
        p = self.probabilities(prompt)
        order = np.argsort(-p, kind="stable")[:k]
        symbols = _symbols(self.vocab)
        return [(symbols[i], float(p[i])) for i in order]

    def sample(
        self, prompt: str, length: int = 100, temperature: float = 0.8, seed: int = 0
    ) -> str:
        """The text of ``length`` tokens drawn after ``prompt`` (the prompt not repeated; a
        word continuation starts with the space it needs)."""
        ids, _ = self.encode(prompt)
        drawn = generate(
            self.model, ids, length, temperature=temperature, rng=np.random.default_rng(seed)
        )
        if isinstance(self.vocab, WordVocab):
            return continuation(self.vocab.tokenize(prompt), self.vocab.words(drawn))
        return self.vocab.decode(drawn)

    def predict_file(self, path: str | Path, k: int = 5, **options: Any) -> predicting.Table:
        """One prompt per line of the UTF-8 file ``path`` (blank lines skipped) → rows
        (prompt, rank, token, probability) of the ``k`` most likely next tokens."""
        if options:
            raise ConfigError(
                f"the text model's prediction takes k only, got {', '.join(sorted(options))}"
            )
        _check_k(k)
        lines = _prompts(Path(path))
        rows: list[list[Any]] = []
        unknown: list[str] = []
        for number, prompt in lines:
            try:
                unknown += self.encode(prompt)[1]
                ranked = self.next_tokens(prompt, k)
            except VocabularyError as e:
                raise DataError(f"{path}: line {number}: {e}") from None
            for rank, (token, p) in enumerate(ranked, 1):
                rows.append([prompt, rank, SHOWN.get(token, token), p])
        unit = "words" if self.tokens == "words" else "characters"
        notes = [
            f"{len(lines)} prompts; the {k} most likely next {unit} of each, by the model in "
            f"{self.source} (probabilities of the softmax, temperature 1; newline written \\n)"
        ]
        if unknown:
            shown = ", ".join(sorted(set(unknown))[:10])
            notes.append(
                f"{len(unknown)} word(s) of the prompts are outside the vocabulary of "
                f"{self.vocab.size} and were read as <unk>: {shown}"
            )
        return predicting.Table(["prompt", "rank", "token", "probability"], rows, notes)


def _check_k(k: object) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigError(f"k must be a whole number >= 1, got {k!r}")


def _prompts(path: Path) -> list[tuple[int, str]]:
    """(line number from 1, prompt) of every non-blank line of the UTF-8 file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file of prompts") from None
    except UnicodeDecodeError as e:
        raise DataError(
            f"{path}: byte offset {e.start} is not valid UTF-8; give the prompts as UTF-8 text"
        ) from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror}") from None
    return [(i, line) for i, line in enumerate(text.split("\n"), 1) if line.strip()]


def predictor(model: Model | FFNN, source: Path) -> TextPredictor:
    """The predictor of a character or word model saved by ``rnnkit train``."""
    if not isinstance(model, (Model, FFNN)):
        raise CheckpointError(f"{source} holds a {type(model).__name__}, not a text model")
    return TextPredictor(model, Path(source), vocabulary(model.meta, source))
