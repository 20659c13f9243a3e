"""The ``rnnkit influence`` jobs: what a prediction depends on (``diagnostics.influence``).

* ``text_influence``: a trained character model reads a text; the influence of every
  character on the logit of one next character.
* ``adding_influence``: a small LSTM (forget bias 1) trained through the engine (full BPTT,
  Adam, clipping to norm 1) on the adding problem, then where the influence on its final
  prediction peaks over a test set — at the two marked positions when it has learned the
  task.  Generators: the parameters ``default_rng([seed, 0])``, the training batches
  ``[seed, 1]`` (the engine's), the test set ``[seed, 3]``.
"""

import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import ModelConfig
from ..data.synthetic import ADDING_TOLERANCE, adding_problem
from ..diagnostics.influence import influence, top_positions
from ..errors import CheckpointError, ConfigError
from ..layers.recurrent import RecurrentConfig
from ..models.model import Model
from ..training import Batch, Budget, Engine, FullBPTT, Generated, Optimization, fit

# -- a character model ------------------------------------------------------------------------


@dataclass(frozen=True)
class TextInfluence:
    """The influence of each character of ``text`` on the logit of ``target`` predicted
    after ``text``'s last character (``position`` in the text given)."""

    text: str  # the characters read, up to and including ``position``
    position: int  # t: the prediction made after character t
    target: str  # the character whose logit is explained
    values: np.ndarray  # [t + 1] influence of each character


def text_influence(
    path: Any, text: str, position: int = -1, target: str | None = None
) -> TextInfluence:
    """Explain a character model's prediction after ``text[position]`` (see the module).

    The explained character is ``target``, else the true next one when ``text`` has one,
    else the most probable.
    """
    from ..data.text import CharVocab
    from ..io.model_files import load

    model = load(path)
    if not isinstance(model, Model):
        raise ConfigError(f"{path} holds the ffnn baseline; influence needs a recurrent model")
    if "vocab" not in model.meta:
        raise CheckpointError(f"{path} is not a character model (it has no vocabulary)")
    vocab = CharVocab.from_dict(model.meta["vocab"])
    if not text:
        raise ConfigError("--text must hold at least one character")
    ids = vocab.encode(text)
    T = len(ids)
    t = position + T if position < 0 else position
    if not 0 <= t < T:
        raise ConfigError(f"--position {position} is outside the text ({T} characters)")
    unit: int | None
    if target is not None:
        if len(target) != 1:
            raise ConfigError(f"--target must be one character, got {target!r}")
        unit = int(vocab.encode(target)[0])
    else:
        unit = int(ids[t + 1]) if t + 1 < T else None
    values = influence(model, ids[None, : t + 1], -1, unit)[0]  # [t + 1]
    if unit is None:
        logits = model.predict(ids[None, : t + 1])
        unit = int(np.argmax(logits[0, -1] if logits.ndim == 3 else logits[0]))
    return TextInfluence(text[: t + 1], t, vocab.decode([unit]), values)


# -- the adding problem -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AddingSetup:
    """The adding-problem demonstration: model, training and test sizes."""

    T: int = 30  # sequence length (every sequence exactly T steps)
    steps: int = 1200  # training updates
    hidden_size: int = 32  # LSTM units
    lr: float = 3e-3  # Adam's learning rate
    test_size: int = 256  # test sequences
    batch_size: int = 32  # training sequences per update
    clip: float = 1.0  # global-norm clipping
    seed: int = 0  # seed of the data and the weights
    on_nonfinite: str = Optimization.on_nonfinite  # a NaN/Inf loss or gradient: skip |
    #   reduce-lr | stop

    def __post_init__(self) -> None:
        if self.T < 22 or self.steps < 0 or self.test_size < 1:
            raise ConfigError(
                f"need --T >= 22, --steps >= 0, --test-size >= 1; got {self.T}, "
                f"{self.steps}, {self.test_size}"
            )


def adding_influence(setup: AddingSetup) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Train (``train_adding``) and measure: (results, influence of the first test sequence
    ``[T]``, its two marked positions ``[2]``).

    results: ``T``, ``steps``, ``test_accuracy`` (share within the tolerance),
    ``top2_at_marks`` (share of test sequences whose two largest influences are the marks),
    ``marked_to_unmarked_ratio`` and an ``example`` (the first test sequence).
    """
    model = train_adding(setup)
    test = adding_problem(
        np.random.default_rng([setup.seed, 3]), setup.test_size, setup.T, vary_length=False
    )
    pred = model.predict(test.x)
    accuracy = float(np.mean(np.abs(pred - test.y) < ADDING_TOLERANCE))
    values = influence(model, test.x)  # [N, T]
    top2 = np.sort(top_positions(values, 2), axis=1)
    hit = float(np.mean(np.all(top2 == np.sort(test.marks, axis=1), axis=1)))
    marked = np.zeros(values.shape, dtype=bool)
    marked[np.arange(len(values))[:, None], test.marks] = True
    ratio = float(values[marked].mean() / values[~marked].mean())
    example = {
        "marks": [int(m) for m in sorted(test.marks[0])],
        "top": [int(s) for s in top_positions(values[0], 5)],
        "influence": [float(v) for v in values[0]],
    }
    result = {
        "T": setup.T,
        "steps": setup.steps,
        "test_accuracy": accuracy,
        "top2_at_marks": hit,
        "marked_to_unmarked_ratio": ratio,
        "example": example,
    }
    return result, values[0], test.marks[0]


def train_adding(setup: AddingSetup) -> Model:
    """A small LSTM (forget bias 1) trained through the engine on the adding problem."""
    s = setup
    rnn = RecurrentConfig(cell="lstm", input_size=2, hidden_size=s.hidden_size, forget_bias=1.0)
    model = Model(
        ModelConfig(rnn=rnn, output_size=1, readout="last_step", loss="mse"),
        rng=np.random.default_rng([s.seed, 0]),
    )
    if not s.steps:
        return model
    engine = Engine(
        model, FullBPTT(), Optimization.of(s, optimizer="adam"), np.random.default_rng([s.seed, 1])
    )
    source = Generated(
        lambda rng: Batch(*adding_problem(rng, s.batch_size, s.T, vary_length=False)[:2])
    )
    fit(engine, source, Budget(steps=s.steps), progress=_EveryHundred(s.steps))
    return model


class _EveryHundred:
    """The loop's progress: the loss on stderr every 100 updates and at the last."""

    def __init__(self, steps: int) -> None:
        self.steps = steps

    def update(self, step: int, loss: float, count: int) -> None:
        if step % 100 == 0 or step == self.steps:
            print(f"step {step}: loss {loss:.5f}", file=sys.stderr, flush=True)

    def write(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        pass
