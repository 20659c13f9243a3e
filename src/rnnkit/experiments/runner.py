"""Train each cell on an experiment's task at a matched parameter count, score it, tabulate.

For every cell: a model of the hidden size whose parameter count is closest to the budget,
trained through the engine (``rnnkit.training``: full BPTT, global-norm clipping, Adam or
``Settings.optimizer``) on fresh batches of the task every update, and scored on a fixed
validation set every ``eval_every`` updates.  The validation set alone decides when to stop:
training ends at the first validation (at the full length T) where the criterion holds — the
validation's target — or when ``Settings.steps`` updates are spent.  Then, and only then,
the model is scored once on a fixed test set, and that single score decides pass or fail.
The validation and test sets come from their own generators, seeded apart from the training
data and from each other; the parameters and the training batches both come from the
engine's one generator, ``default_rng([seed, 0])``.

The budget is the update count, so a verdict does not depend on the machine's speed.
``Settings.minutes`` (off by default) is only a safety cap: a run it stops before the
criterion held on validation and before the step budget was spent is *not finished* — its
row has no verdict (neither pass nor fail, though its test score is still shown), and
``Table.claims_hold`` counts it neither way.  A run whose loss or gradients stay NaN/Inf
(``RunOptions.on_nonfinite``) ends "diverged" and is scored as it stands.

With ``Settings.curriculum = c > 0`` training starts at length c and lengthens by c (up to
T) at each validation where the criterion holds on a validation set of the current length;
from then on as above.  The stop and the test score are always at length T.

With ``RunOptions.out`` every cell trains in its own run directory ``OUT/<cell>`` (``last``,
``best``, ``metrics.jsonl`` and, once scored, ``row.json``); ``RunOptions.resume`` continues
each run exactly where it was saved (a cell with ``row.json`` is not trained again), and
SIGINT/SIGTERM save ``last`` and end the table (``Interrupted``).
"""

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ..errors import ConfigError
from ..training import Batch as TrainingBatch
from ..training import (
    Budget,
    Checkpoints,
    Engine,
    FullBPTT,
    MetricsLog,
    Optimization,
    TrainingDiverged,
    Validation,
    fit,
)
from ..training.distributed import LOCAL, Comm
from ..training.progress import format_duration
from . import prediction
from .cells import check_cells, hidden_for, make_model, model_config
from .task import Batch, Settings, Task

STOPS = {
    "criterion": "the criterion held on the validation set",
    "steps": "the step budget was spent",
    "time": "the time cap stopped it first: not finished",
    "diverged": "the loss or gradients were NaN/Inf and --on-nonfinite stopped it",
}
"""Why training stopped → the words for it."""

ROW_FILE = "row.json"
"""A cell's scored row in its run directory: a resumed table does not train it again."""


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """How a table's cells are run: nothing here changes a result, so none is in the table."""

    out: Path | None = None  # a run directory per cell, OUT/<cell> (None: nothing written)
    resume: bool = False  # continue the runs saved in ``out`` (else ``out`` must hold none)
    on_nonfinite: str | None = None  # skip | reduce-lr | stop (None: the engine's default)


class Interrupted(Exception):
    """A signal ended the table after the running cell saved ``last`` (``out`` only)."""

    def __init__(self, signal: str, cell: str, step: int) -> None:
        super().__init__(f"{signal} received: {cell} saved at update {step}")
        self.signal, self.cell, self.step = signal, cell, step


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
        return {
            "experiment": self.experiment,
            "title": self.title,
            "criterion": self.criterion,
            "settings": asdict(self.settings),
            "rows": [r.to_dict() for r in self.rows],
            "claims_hold": self.claims_hold(),
            "claims": self.claims(),
        }


class Lengthening:
    """Fresh task batches every update, at the curriculum's current length (its state)."""

    def __init__(self, task: Task, batch_size: int, length: int) -> None:
        self.task, self.batch_size, self.length = task, batch_size, length

    def next_batch(self, rng: np.random.Generator) -> TrainingBatch:
        x, y, lengths = self.task.sample(rng, self.batch_size, self.length)
        return TrainingBatch(x, y, lengths)

    def state_dict(self) -> dict[str, Any]:
        return {"length": self.length}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.length = int(state["length"])


def train_cell(
    task: Task,
    cell: str,
    settings: Settings,
    *,
    seed: int,
    log: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
    options: RunOptions = RunOptions(),
    stop: Callable[[], str | None] = lambda: None,
    comm: Comm = LOCAL,
) -> Row:
    """Train one cell on ``task`` within ``settings``' budgets; the row of its result.

    ``Interrupted`` when ``stop()`` names a signal (``last`` saved under ``options.out``).
    With ``comm`` of K ranks every rank draws the same batch and trains on its share of the
    rows (the engine's data parallelism); rank 0 alone writes the run directory.
    """
    s = settings
    run_dir = None if options.out is None else Path(options.out) / cell
    if run_dir is not None and options.resume and (run_dir / ROW_FILE).exists():
        return _read_row(run_dir / ROW_FILE)
    rng = np.random.default_rng([seed, 0])  # the parameters, then the training batches
    model, state = _model(task, cell, s, rng, run_dir, options.resume)
    H = model.config.rnn.hidden_size
    val = task.sample(np.random.default_rng([seed, 1]), s.n_val, s.T)
    source = Lengthening(task, s.batch_size, min(s.curriculum, s.T) if s.curriculum else s.T)
    split = s.batch_size if comm.size > 1 else 0  # B < K is refused now, not mid-run
    engine = Engine(model, FullBPTT(), _optimization(s, options), rng, comm=comm, batch_size=split)
    budget = Budget.of(
        s, minutes=s.minutes or 0.0, restore_best=False, checkpoint_every=s.eval_every
    )
    stages: dict[int, Batch] = {}

    def validate(model: Any) -> dict[str, float]:
        L = source.length
        at = val if L == s.T else stages.setdefault(L, _stage_set(task, s, L, seed))
        score = task.score(model, at)
        return {"val_length": L, "val_score": score, "val_metric": score if L == s.T else math.nan}

    def on_evaluate(engine: Engine, record: dict[str, Any]) -> None:
        L = int(record["val_length"])
        at = "" if L == s.T else f" at T = {L}"
        _log(
            log,
            f"{task.name} {cell} step {engine.step} ({format_duration(record['time'])}): "
            f"loss {record['loss']:.4f}, validation {task.metric} "
            f"{record['val_score']:.4f}{at}",
        )
        due = engine.step % s.eval_every == 0  # not the evaluation added at an off-schedule stop
        if due and L < s.T and task.passes(record["val_score"], L):
            source.length = min(s.T, L + s.curriculum)

    validation = Validation(
        validate,
        "val_metric",
        higher_is_better=not task.lower_is_better,
        target=lambda m: m["val_length"] == s.T and task.passes(m["val_metric"], s.T),
    )
    start = clock()
    writer = run_dir if comm.rank == 0 else None
    logged = MetricsLog(writer, resume_step=None if state is None else state["step"])
    try:
        summary = fit(
            engine,
            source,
            budget,
            validation=validation,
            checkpoints=Checkpoints(run_dir),
            log=logged,
            stop=stop,
            clock=clock,
            resume=state,
            on_evaluate=on_evaluate,
        )
        steps, seconds, stopped, last = (
            summary.steps,
            summary.seconds,
            summary.stopped_by,
            summary.history[-1] if summary.history else None,
        )
    except TrainingDiverged as e:
        _log(log, f"{task.name} {cell}: {e}")
        steps, seconds, stopped, last = engine.step, clock() - start, "diverged", None
    if stopped in ("SIGINT", "SIGTERM"):
        raise Interrupted(stopped, cell, steps)
    stopped = {"target": "criterion", "minutes": "time"}.get(stopped, stopped)
    if last is not None and last["step"] == steps and last["val_length"] == s.T:
        value = last["val_metric"]  # the validation of the final parameters
    else:
        value = task.score(model, val)
    test = task.sample(np.random.default_rng([seed, 2]), s.n_test, s.T)
    metric = task.score(model, test)  # the only time the test set is scored
    passed = None if stopped == "time" else task.passes(metric, s.T)
    n = engine.skipped
    skipped = "" if not n else f"; {n} non-finite update{'s' if n > 1 else ''} skipped"
    _log(
        log,
        f"{task.name} {cell} stopped after {steps} updates ({STOPS[stopped]}{skipped}): "
        f"validation {task.metric} {value:.4f}, test {metric:.4f}",
    )
    row = Row(
        cell,
        H,
        model.num_parameters(),
        steps,
        source.length,
        seconds,
        stopped,
        value,
        metric,
        passed,
        task.expect.get(cell),
    )
    if run_dir is not None and comm.rank == 0:
        _write_row(row, run_dir / ROW_FILE)
    return row


def _model(
    task: Task,
    cell: str,
    s: Settings,
    rng: np.random.Generator,
    run_dir: Path | None,
    resume: bool,
) -> tuple[Any, dict[str, Any] | None]:
    """A new model of the cell's matched size drawn from ``rng``, or the one saved in
    ``run_dir/last`` (with the training state, ``rng``'s included) when resuming."""
    last = None if run_dir is None else run_dir / "last"
    if last is not None and last.exists():
        if not resume:
            raise ConfigError(
                f"{run_dir} holds a run already: add --resume to continue it, "
                "or give another --out"
            )
        from ..io.model_files import load_with_state

        return load_with_state(last)
    I = task.input_size or task.vocab_size
    H = hidden_for(cell, I, task.output_size, s.parameters)
    config = model_config(
        cell,
        input_size=task.input_size,
        vocab_size=task.vocab_size,
        output_size=task.output_size,
        hidden_size=H,
        readout=task.readout,
        loss=task.loss,
    )
    model = make_model(cell, config, rng)
    model.meta.update(prediction.meta(task))
    return model, None


def _optimization(s: Settings, options: RunOptions) -> Optimization:
    more = {} if options.on_nonfinite is None else {"on_nonfinite": options.on_nonfinite}
    return Optimization.of(s, **more)


def _stage_set(task: Task, s: Settings, length: int, seed: int) -> Batch:
    """The validation set of a curriculum stage: ``n_val`` sequences of ``length``."""
    return task.sample(np.random.default_rng([seed, 3, length]), s.n_val, length)


def _write_row(row: Row, path: Path) -> None:
    from ..io.atomic import write_atomic

    write_atomic(path, json.dumps(asdict(row)).encode("utf-8"))


def _read_row(path: Path) -> Row:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Row(**{f.name: data[f.name] for f in fields(Row)})


def run_experiment(
    task: Task,
    cells: list[str],
    settings: Settings | None = None,
    *,
    seed: int = 0,
    log: TextIO | None = None,
    clock: Callable[[], float] = time.monotonic,
    options: RunOptions = RunOptions(),
    stop: Callable[[], str | None] = lambda: None,
    comm: Comm = LOCAL,
) -> Table:
    """Train every cell in ``cells`` on ``task`` (one after the other) and tabulate; under
    ``comm`` of K ranks each cell data-parallel, progress from rank 0 alone."""
    s = settings or task.settings
    log = log if comm.rank == 0 else None
    rows = [
        train_cell(
            task, c, s, seed=seed, log=log, clock=clock, options=options, stop=stop, comm=comm
        )
        for c in check_cells(cells)
    ]
    if options.out is not None and comm.rank == 0:
        _keep_results(options.out, task, rows)
    return Table(task.name, task.title.format(T=s.T), task.criterion(s.T), s, rows)


def _keep_results(out: Path, task: Task, rows: list[Row]) -> None:
    """``OUT/result.json``: the rows (``rnnkit report``); ``OUT/run.json``: the cell with the
    best validation figure predicts (``rnnkit predict``)."""
    from ..jobs.predicting import write_manifest
    from ..jobs.runs import write_result

    write_result(out, {"task": task.name, "results": [asdict(r) for r in rows]})
    scored = [r for r in rows if math.isfinite(r.val_metric)]
    if scored:
        sign = 1 if task.lower_is_better else -1
        best = min(scored, key=lambda r: sign * r.val_metric)
        write_manifest(out, prediction.JOB, best.cell)


def run_table(
    task: Task,
    cells: list[str],
    settings: Settings,
    *,
    seed: int,
    options: RunOptions,
    log: TextIO | None = None,
    comm: Comm = LOCAL,
) -> Table:
    """``run_experiment``; with ``options.out``, SIGINT/SIGTERM save the running cell's
    ``last`` and end the table (``Interrupted``)."""
    if options.out is None:
        return run_experiment(
            task, cells, settings, seed=seed, log=log, options=options, comm=comm
        )
    from ..training.signals import stop_on_signals

    with stop_on_signals() as stop:
        return run_experiment(
            task, cells, settings, seed=seed, log=log, options=options, stop=stop, comm=comm
        )


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """``settings`` with every change that is not None applied."""
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})


def format_table(table: Table) -> str:
    """The table as text: a header, one line per cell, and whether the claims hold."""
    s = table.settings
    cap = "" if s.minutes is None else f", a {s.minutes:g}-minute safety cap per cell"
    lines = [
        table.title,
        (
            f"criterion: {table.criterion}; training stops at the first validation where it holds "
            f"({s.n_val} sequences) or after {s.steps} updates{cap}; the test set "
            f"({s.n_test} sequences) is scored once, at the end"
        ),
        (
            f"{_OPTIMIZER_NAMES.get(s.optimizer, s.optimizer)} lr {s.lr}, batch {s.batch_size}, "
            f"clip {s.clip}, ~{s.parameters} parameters per model"
        ),
    ]
    if s.curriculum:
        lines.append(
            f"curriculum: training starts at T = {s.curriculum} and lengthens by "
            f"{s.curriculum} whenever the criterion holds at the current length "
            f"(column T: the last); every metric is at T = {s.T}"
        )
    lines += [
        "",
        (
            f"{'cell':<6} {'hidden':>6} {'params':>7} {'steps':>6} {'T':>4} {'wall time':>9} "
            f"{'stopped':>9} {'validation':>10} {'test':>10}  result"
        ),
    ]
    for r in table.rows:
        claim = "" if r.expected is None else f"  (expected {'pass' if r.expected else 'fail'})"
        lines.append(
            f"{r.cell:<6} {r.hidden_size:>6} {r.parameters:>7} {r.steps:>6} "
            f"{r.length:>4} {format_duration(r.seconds):>9} {r.stopped:>9} "
            f"{r.val_metric:>10.4f} {r.test_metric:>10.4f}  {r.result}{claim}"
        )
    unfinished = [r.cell for r in table.rows if not r.finished]
    if unfinished:
        lines += [
            "",
            (
                f"not finished (the time cap stopped training before the criterion "
                f"held on validation and before {s.steps} updates; no verdict): "
                f"{', '.join(unfinished)}"
            ),
        ]
    verdict = {
        True: "hold",
        False: "do not hold",
        None: "are not settled: a claimed cell did not finish",
    }[table.claims_hold()]
    lines += ["", f"claims {verdict} in this run"]
    return "\n".join(lines)


_OPTIMIZER_NAMES = {
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "sgd": "SGD",
    "adagrad": "Adagrad",
}


def format_json(table: Table) -> str:
    return json.dumps(table.to_dict(), indent=2)


def _log(stream: TextIO | None, message: str) -> None:
    if stream is not None:
        print(message, file=stream, flush=True)
