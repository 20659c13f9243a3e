"""The one training loop: batches → engine updates → validation, early stopping, checkpoints.

``fit`` runs until the budget is spent (updates, epochs, or the wall-clock cap), the
validation metric has not improved for ``patience`` evaluations, a scheduled evaluation
meets the validation's ``target``, or ``stop()`` names a reason (a signal: see ``signals``).
Every job trains through it and gets, without writing them again:

* validation on the job's validation data only (``validate(model) -> {name: value}``),
  early stopping on ``monitor``, and the best parameters restored at the end;
* with a run directory: ``RUN/last`` (model + everything an exact resume needs) every
  ``checkpoint_every`` updates or epoch, at the end, on a stop request and before a
  ``TrainingDiverged`` propagates (if the parameters are finite); ``RUN/best`` whenever
  validation improves; ``RUN/metrics.jsonl``, a record per update;
* progress on stderr; data parallelism through the engine's communicator (rank 0 writes).

A resumed run passes the state saved in ``last`` (``resume``) and continues exactly.
"""

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .batches import Source
from .distributed import Disagreement, fingerprint, same_on_all
from .engine import Engine, TrainingDiverged
from .metrics import MetricsLog
from .options import Budget
from .signals import agreed


@dataclass
class Tracker:
    """The loop's own state, saved with ``last``: the best validation figure and the wait."""

    best: float = math.nan  # best value of the monitored metric so far (NaN: none yet)
    best_step: int = 0  # the update it was reached at
    since_best: int = 0  # evaluations since then
    evaluations: int = 0
    seconds: float = 0.0  # training time of earlier processes of this run
    epochs_done: int = 0  # complete passes over the data (a resumed run spent on epochs stops)
    reached: bool = False  # a scheduled evaluation met the target (a resumed run stops at once)

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": None if math.isnan(self.best) else self.best,
            "best_step": self.best_step,
            "since_best": self.since_best,
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "epochs_done": self.epochs_done,
            "reached": self.reached,
        }

    @classmethod
    def from_state(cls, d: dict[str, Any]) -> "Tracker":
        best = math.nan if d.get("best") is None else float(d["best"])
        return cls(
            best,
            int(d["best_step"]),
            int(d["since_best"]),
            int(d["evaluations"]),
            float(d.get("seconds", 0.0)),
            int(d.get("epochs_done", 0)),
            bool(d.get("reached", False)),
        )


@dataclass(frozen=True)
class Validation:
    """What to evaluate and how to compare: ``fn(model) -> {name: value}``, ``monitor`` in it.

    ``target(metrics) -> bool`` ends the run (``stopped_by == "target"``, finished) at the
    first *scheduled* evaluation (every ``eval_every`` updates, or at an epoch's end) where
    it holds, whatever else would have stopped the run at that update; the evaluation the
    loop adds when the run stops off schedule is not checked, so whether a run reached its
    target does not depend on where its budget happened to end.
    """

    fn: Callable[[Any], dict[str, float]]
    monitor: str = "val_loss"
    higher_is_better: bool = False
    show: Callable[[dict[str, float]], str] | None = None  # the progress line's text
    target: Callable[[dict[str, float]], bool] | None = None  # a goal that ends the run

    def better(self, value: float, best: float) -> bool:
        if not math.isfinite(value):
            return False
        if math.isnan(best):
            return True
        return value > best if self.higher_is_better else value < best


@dataclass
class Summary:
    """How a run ended."""

    steps: int  # updates applied in all
    epochs: int  # the epoch of the last batch (0 for sources without epochs)
    train_loss: float  # mean loss over the last epoch's (or last 100) updates
    stopped_by: str  # steps | epochs | minutes | patience | target | a signal's name
    seconds: float  # training time of this run, across resumes
    skipped: int  # updates not applied (non-finite)
    best: float = math.nan  # the best validation value (NaN without validation)
    best_step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per evaluation

    @property
    def finished(self) -> bool:
        """The run spent its update/epoch budget or stopped early on validation (patience or
        target), not on the wall clock or a signal."""
        return self.stopped_by in ("steps", "epochs", "patience", "target")


class Checkpoints:
    """Writes ``RUN/last`` and ``RUN/best`` (rank 0; no directory: only keeps the best in memory).

    ``save_model(model, run_dir, name, step, extra)`` is the job's writer (by default
    ``io.model_files.save_in_run``); ``extra`` is merged into every ``last``.
    """

    def __init__(
        self,
        run_dir: str | Path | None,
        *,
        extra: dict[str, Any] | None = None,
        save_model: Callable[..., Any] | None = None,
    ) -> None:
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.extra = dict(extra or {})
        if save_model is None:
            from ..io.model_files import save_in_run

            save_model = save_in_run
        self.save_model: Callable[..., Any] = save_model
        self.best_params: dict[str, np.ndarray] | None = None

    def last(self, engine: Engine, source: Source, tracker: Tracker, log: MetricsLog) -> None:
        state = {
            "step": engine.step,
            "engine": engine.state_dict(),
            "source": source.state_dict(),
            "loop": tracker.state_dict(),
            **self.extra,
        }
        comm = engine.comm
        if comm.size > 1 and not same_on_all(comm, fingerprint(engine.model.params)):
            raise Disagreement(
                f"the {comm.size} processes hold different parameters at update {engine.step}; "
                "nothing was saved; resume from the last checkpoint (are the hosts' NumPy "
                "builds the same?)"
            )
        if self.run_dir is None or comm.rank != 0:
            return
        log.sync()
        self.save_model(engine.model, self.run_dir, "last", engine.step, extra=state)

    def restore_best(self, model: Any) -> None:
        """Put the best evaluated parameters back into ``model`` (from memory, or from
        ``RUN/best`` when this process resumed the run after the best was written)."""
        params = self.best_params
        if params is None and self.run_dir is not None and (self.run_dir / "best").exists():
            from ..io.model_files import load

            params = load(self.run_dir / "best").params
        for n, w in (params or {}).items():
            model.params[n][...] = w

    def saved_best(self, monitor: str) -> tuple[float, int]:
        """(monitored value, update) of ``RUN/best`` ((NaN, 0) if none): ``best`` may be newer
        than ``last`` (a run can stop between writing the two), so a resumed run never
        replaces it by a worse model."""
        if self.run_dir is None or not (self.run_dir / "best").exists():
            return math.nan, 0
        from ..errors import CheckpointError
        from ..io.checkpoint import read_checkpoint

        try:
            extra = read_checkpoint(self.run_dir / "best").extra or {}
        except CheckpointError:
            return math.nan, 0
        value, step = (extra.get("metrics") or {}).get(monitor), extra.get("step")
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            value = math.nan
        return float(value), (step if isinstance(step, int) else 0)

    def best(self, engine: Engine, metrics: dict[str, float]) -> None:
        self.best_params = {n: w.copy() for n, w in engine.model.params.items()}
        if self.run_dir is not None and engine.comm.rank == 0:
            self.save_model(
                engine.model,
                self.run_dir,
                "best",
                engine.step,
                extra={"step": engine.step, "metrics": metrics},
            )


def fit(
    engine: Engine,
    source: Source,
    budget: Budget,
    *,
    validation: Validation | None = None,
    checkpoints: Checkpoints | None = None,
    log: MetricsLog | None = None,
    progress: Any = None,
    stop: Callable[[], str | None] = lambda: None,
    clock: Callable[[], float] = time.monotonic,
    resume: dict[str, Any] | None = None,
    on_evaluate: Callable[[Engine, dict[str, Any]], None] | None = None,
    after_update: Callable[[Engine], None] | None = None,
) -> Summary:
    """Train ``engine.model`` on ``source`` within ``budget``; see the module docstring.

    ``resume`` is the state a ``last`` checkpoint holds (engine, source, loop; a job that
    restored the engine and source itself passes only ``{"loop": …}``).
    ``on_evaluate(engine, record)`` is called after each evaluation, ``after_update(engine)``
    after each applied update (a job's samples, say).
    """
    checkpoints = checkpoints or Checkpoints(None)
    log = log or MetricsLog(None)
    tracker = Tracker()
    if resume is not None:  # engine and source may have been restored by the job already
        if "engine" in resume:
            engine.load_state_dict(resume["engine"])
        if "source" in resume:
            source.load_state_dict(resume["source"])
        tracker = Tracker.from_state(resume["loop"])
        if validation is not None:
            on_disk, step = checkpoints.saved_best(validation.monitor)
            if validation.better(on_disk, tracker.best):
                tracker.best, tracker.best_step = on_disk, step
    comm, start = engine.comm, clock()
    stop = agreed(stop, comm)
    elapsed = lambda: tracker.seconds + clock() - start  # noqa: E731
    losses: list[float] = []  # the updates' losses since the last epoch's end
    epoch_losses: list[float] = []  # those of the last complete epoch
    history: list[dict[str, Any]] = []
    epoch, saved_at, stopped_by = tracker.epochs_done, engine.step, None

    def reason_to_stop() -> str | None:
        if tracker.reached:
            return "target"
        if budget.steps and engine.step >= budget.steps:
            return "steps"
        if budget.epochs and tracker.epochs_done >= budget.epochs:
            return "epochs"
        if budget.patience and tracker.since_best >= budget.patience:
            return "patience"
        if budget.minutes and comm.any(clock() - start >= 60 * budget.minutes):
            return "minutes"
        return None

    def save_last() -> None:
        nonlocal saved_at
        tracker_now = Tracker(**{**tracker.__dict__, "seconds": elapsed()})
        checkpoints.last(engine, source, tracker_now, log)
        saved_at = engine.step

    stopped_by = reason_to_stop()
    try:
        while stopped_by is None:
            signal_name = stop()
            if signal_name:
                stopped_by = signal_name
                break
            batch = source.next_batch(engine.rng)
            epoch = batch.epoch
            before = engine.step
            t0 = clock()
            loss, norm, count = engine.update(batch)
            record = {
                "step": engine.step,
                "epoch": epoch,
                "time": round(elapsed(), 6),
                "loss": loss,
                "lr": engine.lr(),
                "grad_norm": norm,
                "positions": count,
                "positions_per_s": count / max(clock() - t0, 1e-9),
                "nonfinite": engine.step == before,
            }
            if progress is not None:
                progress.update(engine.step, loss, count)
            if engine.step == before:
                log.write(record)
                continue
            if after_update is not None:
                after_update(engine)
            losses.append(loss)
            if batch.epoch_end:
                epoch_losses, losses = losses, []
                tracker.epochs_done = epoch
            stopped_by = reason_to_stop()
            due = (budget.eval_every and engine.step % budget.eval_every == 0) or (
                not budget.eval_every and batch.epoch_end
            )
            if validation is not None and (due or stopped_by is not None):
                metrics = _evaluate(engine, validation, tracker, checkpoints, progress)
                record.update(metrics)
                history.append(record)
                if on_evaluate is not None:
                    on_evaluate(engine, record)
                if due and validation.target is not None and validation.target(metrics):
                    tracker.reached, stopped_by = True, "target"
                stopped_by = stopped_by or reason_to_stop()
            log.write(record)
            every = budget.checkpoint_every
            if (
                (every and engine.step % every == 0)
                or (not every and batch.epoch_end)
                or (stopped_by is not None)
            ):
                save_last()
    except TrainingDiverged:
        if saved_at != engine.step and not engine.nonfinite_params():
            save_last()
        log.close()
        raise
    if saved_at != engine.step:
        save_last()
    if progress is not None:
        progress.close()
    log.close()
    if validation is not None and budget.restore_best:
        checkpoints.restore_best(engine.model)
    tail = epoch_losses or losses[-100:]
    return Summary(
        engine.step,
        epoch,
        float(np.mean(tail)) if tail else math.nan,
        stopped_by or "steps",
        elapsed(),
        engine.skipped,
        tracker.best,
        tracker.best_step,
        history,
    )


def _evaluate(
    engine: Engine,
    validation: Validation,
    tracker: Tracker,
    checkpoints: Checkpoints,
    progress: Any,
) -> dict[str, float]:
    metrics = {k: float(v) for k, v in validation.fn(engine.model).items()}
    value = metrics[validation.monitor]
    tracker.evaluations += 1
    if validation.better(value, tracker.best):
        tracker.best, tracker.best_step, tracker.since_best = value, engine.step, 0
        checkpoints.best(engine, metrics)
    elif value == tracker.best and engine.step == tracker.best_step:
        tracker.since_best = 0  # a resumed run reached again the best it saved before `last`
    else:
        tracker.since_best += 1
    if progress is not None:
        shown = (
            validation.show(metrics)
            if validation.show
            else ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        )
        progress.write(f"step {engine.step}: {shown}")
    return metrics
