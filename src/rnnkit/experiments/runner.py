"""Train each cell on an experiment's task at a matched parameter count, score it, tabulate.

For every cell: a model of the hidden size whose parameter count is closest to the budget,
Adam (or ``Settings.optimizer``) on fresh batches of the task every update (full BPTT,
global-norm clipping), a score on a fixed validation set every ``eval_every`` updates, and
— once the criterion holds there, or the step or time budget is spent — the final score on
a fixed test set.  The validation and test sets come from their own generators, seeded
apart from the training data.

With ``Settings.curriculum = c > 0`` training starts at length c and lengthens by c (up to
T) at each validation where the criterion holds on a validation set of the current length;
from then on as above.  The final score is always on the test set at length T.
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, TextIO

import numpy as np

from ..bptt import full_bptt
from ..model import Model
from ..optim import clip_grad_norm, global_norm, make_optimizer
from ..progress import format_duration
from .cells import check_cells, hidden_for, model_config
from .task import Batch, Settings, Task


@dataclass(frozen=True)
class Row:
    """One cell's result."""

    cell: str
    hidden_size: int
    parameters: int
    steps: int  # updates made
    length: int  # sequence length of the last updates (T unless a curriculum stopped short)
    seconds: float  # wall time of training and validation
    metric: float  # the task's metric on the test set
    passed: bool  # the criterion holds on the test set
    expected: bool | None  # what the experiment claims for this cell (None: no claim)


@dataclass(frozen=True)
class Table:
    """An experiment's results: its settings and one row per cell."""

    experiment: str
    title: str
    criterion: str
    settings: Settings
    rows: list[Row]

    def claims_hold(self) -> bool:
        return all(r.passed == r.expected for r in self.rows if r.expected is not None)

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "title": self.title, "criterion": self.criterion,
                "settings": asdict(self.settings), "rows": [asdict(r) for r in self.rows],
                "claims_hold": self.claims_hold()}


def train_cell(task: Task, cell: str, settings: Settings, *, seed: int,
               log: TextIO | None = None, clock: Callable[[], float] = time.monotonic) -> Row:
    """Train one cell on ``task`` within ``settings``' budgets; the row of its result."""
    s = settings
    I = task.input_size or task.vocab_size
    H = hidden_for(cell, I, task.output_size, s.parameters)
    config = model_config(cell, input_size=task.input_size, vocab_size=task.vocab_size,
                          output_size=task.output_size, hidden_size=H, readout=task.readout,
                          loss=task.loss)
    rng = np.random.default_rng([seed, 0])  # parameters and training batches
    val = task.sample(np.random.default_rng([seed, 1]), s.n_val, s.T)
    test = task.sample(np.random.default_rng([seed, 2]), s.n_test, s.T)
    model = Model(config, rng=rng)
    optimizer = make_optimizer(s.optimizer, s.lr)
    length = min(s.curriculum, s.T) if s.curriculum else s.T
    start, step = clock(), 0
    while step < s.steps and clock() - start < 60 * s.minutes:
        batch = task.sample(rng, s.batch_size, length)
        result = full_bptt(model, batch.x, batch.y, lengths=batch.lengths, rng=rng)
        norm = clip_grad_norm(result.grads, s.clip) if s.clip else global_norm(result.grads)
        if math.isfinite(result.loss) and math.isfinite(norm):
            optimizer.step(model.params, result.grads)
        step += 1
        if step % s.eval_every:
            continue
        at = "" if length == s.T else f" at T = {length}"
        value = task.score(model, val if length == s.T else _stage_set(task, s, length, seed))
        _log(log, f"{task.name} {cell} step {step} ({format_duration(clock() - start)}): "
                  f"loss {result.loss:.4f}, validation {task.metric} {value:.4f}{at}")
        if length < s.T:
            length = min(s.T, length + s.curriculum) if task.passes(value, length) else length
        elif task.passes(value, s.T) and task.passes(task.score(model, test), s.T):
            break
    seconds = clock() - start
    metric = task.score(model, test)
    return Row(cell, H, model.num_parameters(), step, length, seconds, metric,
               task.passes(metric, s.T), task.expect.get(cell))


def _stage_set(task: Task, s: Settings, length: int, seed: int) -> Batch:
    """The validation set of a curriculum stage: ``n_val`` sequences of ``length``."""
    return task.sample(np.random.default_rng([seed, 3, length]), s.n_val, length)


def run_experiment(task: Task, cells: list[str], settings: Settings | None = None, *,
                   seed: int = 0, log: TextIO | None = None,
                   clock: Callable[[], float] = time.monotonic) -> Table:
    """Train every cell in ``cells`` on ``task`` (one after the other) and tabulate."""
    s = settings or task.settings
    rows = [train_cell(task, c, s, seed=seed, log=log, clock=clock) for c in check_cells(cells)]
    return Table(task.name, task.title.format(T=s.T), task.criterion(s.T), s, rows)


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with every change that is not None applied."""
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})


def format_table(table: Table) -> str:
    """The table as text: a header, one line per cell, and whether the claims hold."""
    s = table.settings
    lines = [
        table.title,
        f"criterion on the test set: {table.criterion}; "
        f"{_OPTIMIZER_NAMES.get(s.optimizer, s.optimizer)} lr {s.lr}, batch {s.batch_size}, "
        f"clip {s.clip}, "
        f"~{s.parameters} parameters per model, {s.n_test} test sequences",
    ]
    if s.curriculum:
        lines.append(f"curriculum: training starts at T = {s.curriculum} and lengthens by "
                     f"{s.curriculum} whenever the criterion holds at the current length "
                     f"(column T: the last); every metric is at T = {s.T}")
    lines += [
        "",
        f"{'cell':<6} {'hidden':>6} {'params':>7} {'steps':>6} {'T':>4} {'wall time':>9} "
        f"{'metric':>10}  result",
    ]
    for r in table.rows:
        claim = "" if r.expected is None else f"  (expected {'pass' if r.expected else 'fail'})"
        lines.append(f"{r.cell:<6} {r.hidden_size:>6} {r.parameters:>7} {r.steps:>6} "
                     f"{r.length:>4} {format_duration(r.seconds):>9} {r.metric:>10.4f}  "
                     f"{'pass' if r.passed else 'fail'}{claim}")
    lines += ["", f"claims {'hold' if table.claims_hold() else 'do not hold'} in this run"]
    return "\n".join(lines)


_OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "sgd": "SGD",
                    "adagrad": "Adagrad"}


def format_json(table: Table) -> str:
    return json.dumps(table.to_dict(), indent=2)


def _log(stream: TextIO | None, message: str) -> None:
    if stream is not None:
        print(message, file=stream, flush=True)

