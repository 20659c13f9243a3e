"""Train each cell on an experiment's task at a matched parameter count, score it, tabulate.

For every cell: a model of the hidden size whose parameter count is closest to the budget,
Adam (or ``Settings.optimizer``) on fresh batches of the task every update (full BPTT,
global-norm clipping), and a score on a fixed validation set every ``eval_every`` updates.
The validation set alone decides when to stop: training ends at the first validation (at
the full length T) where the criterion holds, or when ``Settings.steps`` updates are spent.
Then, and only then, the model is scored once on a fixed test set, and that single score
decides pass or fail.  The validation and test sets come from their own generators, seeded
apart from the training data and from each other.

The budget is the update count, so a verdict does not depend on the machine's speed.
``Settings.minutes`` (off by default) is only a safety cap: a run it stops before the
criterion held on validation and before the step budget was spent is *not finished* — its
row has no verdict (neither pass nor fail, though its test score is still shown), and
``Table.claims_hold`` counts it neither way.

With ``Settings.curriculum = c > 0`` training starts at length c and lengthens by c (up to
T) at each validation where the criterion holds on a validation set of the current length;
from then on as above.  The stop and the test score are always at length T.
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, TextIO

import numpy as np

from ..bptt import full_bptt
from ..optim import clip_grad_norm, global_norm, make_optimizer
from ..progress import format_duration
from .cells import check_cells, hidden_for, make_model, model_config
from .task import Batch, Settings, Task

STOPS = {
    "criterion": "the criterion held on the validation set",
    "steps": "the step budget was spent",
    "time": "the time cap stopped it first: not finished",
}
"""Why training stopped → the words for it."""


@dataclass(frozen=True)
class Row:
    """One cell's result."""

    cell: str
    hidden_size: int
    parameters: int
    steps: int  # updates made
    length: int  # sequence length of the last updates (T unless a curriculum stopped short)
    seconds: float  # wall time of training and validation
    stopped: str  # why training ended: a key of STOPS (criterion | steps | time)
    val_metric: float  # the task's metric on the validation set (at T) when training ended
    test_metric: float  # the task's metric on the test set, scored once after training
    passed: bool | None  # the criterion holds on the test set (None: not finished)
    expected: bool | None  # what the experiment claims for this cell (None: no claim)

    @property
    def finished(self) -> bool:
        """Training ended by its own rules (criterion on validation or step budget)."""
        return self.stopped != "time"

    @property
    def result(self) -> str:
        """``pass``, ``fail`` or ``not finished``."""
        return "not finished" if self.passed is None else ("pass" if self.passed else "fail")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"finished": self.finished, "result": self.result}


@dataclass(frozen=True)
class Table:
    """An experiment's results: its settings and one row per cell."""

    experiment: str
    title: str
    criterion: str
    settings: Settings
    rows: list[Row]

    def claims_hold(self) -> bool | None:
        """False if a finished row contradicts its claim; None if none does but a claimed row
        is not finished (the claim is untested); True if every claimed row finished as
        claimed."""
        claimed = [r for r in self.rows if r.expected is not None]
        if any(r.passed is not None and r.passed != r.expected for r in claimed):
            return False
        return None if any(r.passed is None for r in claimed) else True

    def claims(self) -> str:
        """``hold``, ``do not hold`` or ``not finished``."""
        return {True: "hold", False: "do not hold", None: "not finished"}[self.claims_hold()]

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "title": self.title, "criterion": self.criterion,
                "settings": asdict(self.settings), "rows": [r.to_dict() for r in self.rows],
                "claims_hold": self.claims_hold(), "claims": self.claims()}


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
    model = make_model(cell, config, rng)
    optimizer = make_optimizer(s.optimizer, s.lr)
    length = min(s.curriculum, s.T) if s.curriculum else s.T
    cap = math.inf if s.minutes is None else 60 * s.minutes
    start, step, stopped, value = clock(), 0, "steps", None  # value: validation at T, now
    while step < s.steps:
        if clock() - start >= cap:
            stopped = "time"
            break
        batch = task.sample(rng, s.batch_size, length)
        result = full_bptt(model, batch.x, batch.y, lengths=batch.lengths, rng=rng)
        norm = clip_grad_norm(result.grads, s.clip) if s.clip else global_norm(result.grads)
        if math.isfinite(result.loss) and math.isfinite(norm):
            optimizer.step(model.params, result.grads)
        step += 1
        value = None
        if step % s.eval_every:
            continue
        at = "" if length == s.T else f" at T = {length}"
        score = task.score(model, val if length == s.T else _stage_set(task, s, length, seed))
        _log(log, f"{task.name} {cell} step {step} ({format_duration(clock() - start)}): "
                  f"loss {result.loss:.4f}, validation {task.metric} {score:.4f}{at}")
        if length < s.T:
            length = min(s.T, length + s.curriculum) if task.passes(score, length) else length
            continue
        value = score
        if task.passes(value, s.T):
            stopped = "criterion"
            break
    seconds = clock() - start
    if value is None:  # the model changed since the last validation at T
        value = task.score(model, val)
    test = task.sample(np.random.default_rng([seed, 2]), s.n_test, s.T)
    metric = task.score(model, test)  # the only time the test set is scored
    passed = None if stopped == "time" else task.passes(metric, s.T)
    _log(log, f"{task.name} {cell} stopped after {step} updates ({STOPS[stopped]}): "
              f"validation {task.metric} {value:.4f}, test {metric:.4f}")
    return Row(cell, H, model.num_parameters(), step, length, seconds, stopped, value, metric,
               passed, task.expect.get(cell))


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
    cap = "" if s.minutes is None else f", a {s.minutes:g}-minute safety cap per cell"
    lines = [
        table.title,
        (f"criterion: {table.criterion}; training stops at the first validation where it holds "
         f"({s.n_val} sequences) or after {s.steps} updates{cap}; the test set "
         f"({s.n_test} sequences) is scored once, at the end"),
        (f"{_OPTIMIZER_NAMES.get(s.optimizer, s.optimizer)} lr {s.lr}, batch {s.batch_size}, "
         f"clip {s.clip}, ~{s.parameters} parameters per model"),
    ]
    if s.curriculum:
        lines.append(f"curriculum: training starts at T = {s.curriculum} and lengthens by "
                     f"{s.curriculum} whenever the criterion holds at the current length "
                     f"(column T: the last); every metric is at T = {s.T}")
    lines += [
        "",
        (f"{'cell':<6} {'hidden':>6} {'params':>7} {'steps':>6} {'T':>4} {'wall time':>9} "
         f"{'stopped':>9} {'validation':>10} {'test':>10}  result"),
    ]
    for r in table.rows:
        claim = "" if r.expected is None else f"  (expected {'pass' if r.expected else 'fail'})"
        lines.append(f"{r.cell:<6} {r.hidden_size:>6} {r.parameters:>7} {r.steps:>6} "
                     f"{r.length:>4} {format_duration(r.seconds):>9} {r.stopped:>9} "
                     f"{r.val_metric:>10.4f} {r.test_metric:>10.4f}  {r.result}{claim}")
    unfinished = [r.cell for r in table.rows if not r.finished]
    if unfinished:
        lines += ["", (f"not finished (the time cap stopped training before the criterion "
                       f"held on validation and before {s.steps} updates; no verdict): "
                       f"{', '.join(unfinished)}")]
    verdict = {True: "hold", False: "do not hold",
               None: "are not settled: a claimed cell did not finish"}[table.claims_hold()]
    lines += ["", f"claims {verdict} in this run"]
    return "\n".join(lines)


_OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "sgd": "SGD",
                    "adagrad": "Adagrad"}


def format_json(table: Table) -> str:
    return json.dumps(table.to_dict(), indent=2)


def _log(stream: TextIO | None, message: str) -> None:
    if stream is not None:
        print(message, file=stream, flush=True)

