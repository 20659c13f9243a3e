"""A job's run directory: how a run starts, resumes and trains there through the engine.

    RUN/last            the model, the job's options (``job``) and the engine, source and loop
                        state: enough to rebuild the same data and model and continue exactly
    RUN/best            the model with the best validation figure
    RUN/metrics.jsonl   one record per update

A new run refuses a directory that holds one, unless told to overwrite it (``refuse_existing``,
then ``clear``); ``load_saved`` reads a run back with the options a resume may change.
``train`` runs ``training.loop.fit`` with checkpoints, the metrics log, progress on a stream
and SIGINT/SIGTERM handling; under K data-parallel ranks only rank 0 prints and writes.
``on_every_rank`` is the error policy of K ranks.
"""

import io
import math
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ..distributed import Comm
from ..errors import CheckpointError, ConfigError, RnnkitError
from ..io.model_files import check_output_dir, clear_run, load_with_state
from ..progress import Progress
from ..training import Budget, Checkpoints, Engine, MetricsLog, Source, Summary, Validation, fit
from ..training.signals import stop_on_signals


def default_dir(job: str, comm: Comm) -> Path:
    """``runs/<job>-<date>-<time>`` (rank 0's clock, so that every rank names the same one)."""
    return Path(comm.bcast(f"runs/{job}-{time.strftime('%Y%m%d-%H%M%S')}"))


def refuse_existing(out: Path, overwrite: bool) -> None:
    """ConfigError if ``out`` holds a run and ``overwrite`` is not given."""
    if (out / "last").exists() and not overwrite:
        raise ConfigError(f"{out} already holds a run; continue it with --resume, or pass "
                          "--overwrite to start afresh (losing it), or choose another --out")


def clear(out: Path, comm: Comm) -> None:
    """Remove the run in ``out`` (rank 0), once the new one is ready to start."""
    if comm.rank == 0:
        clear_run(out)


def load_saved(out: Path, kind: type, changes: dict[str, Any], allowed: frozenset[str]
               ) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """(model, saved state, the job's options with ``changes``) of the run in ``out``.

    ``changes`` (options given again; None values are ignored) may only touch ``allowed``;
    ``steps`` counts from the run's start and may not be below the steps it has made.
    """
    last = out / "last"
    if not last.exists():
        raise CheckpointError(f"{out} holds no run to resume (no {last}); start one without "
                              "--resume")
    model, state = load_with_state(last)
    if not isinstance(model, kind) or not isinstance(state, dict) or not all(
            isinstance(state.get(k), dict) for k in ("job", "engine", "source", "loop")):
        raise CheckpointError(f"{last} holds no {kind.__name__} run of this job to resume")
    changes = {k: v for k, v in changes.items() if v is not None}
    wrong = sorted(set(changes) - allowed)
    if wrong:
        raise ConfigError(f"a resumed run cannot change {', '.join(wrong)}; start a new run "
                          f"for that (a resume may change {', '.join(sorted(allowed))})")
    done, steps = state.get("step"), changes.get("steps", 0)
    if isinstance(done, int) and 0 < steps < done:
        raise ConfigError(f"{out}: the run is already at step {done:,}, past a budget of "
                          f"{steps:,} steps (counted from its start); give --steps greater "
                          f"than {done:,} to continue it")
    return model, state, {**state["job"], **changes}


def train(engine: Engine, source: Source, budget: Budget, *, out: Path | None,
          job: dict[str, Any], validation: Validation | None, resumed: dict[str, Any] | None,
          stream: TextIO, clock: Callable[[], float] = time.monotonic, bits_per: str = "",
          handle_signals: bool = True) -> Summary:
    """``training.loop.fit`` writing ``out`` (``job``: the options saved in ``last``).

    SIGINT/SIGTERM save ``last`` and return (``Summary.stopped_by`` names the signal).
    """
    comm = engine.comm
    if comm.rank != 0:
        stream = _Quiet()
    _check_writable(engine, out)
    progress = Progress(budget.steps, 60 * budget.minutes, stream=stream, clock=clock,
                        bits_per=bits_per)
    resume_step = engine.step if resumed is not None else None
    log = MetricsLog(out if comm.rank == 0 else None, resume_step=resume_step)
    signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
    with stop_on_signals(signals) as stop:
        return fit(engine, source, budget, validation=validation,
                   checkpoints=Checkpoints(out, extra={"job": job}), log=log,
                   progress=progress, stop=stop, clock=clock, resume=resumed)


def figures(summary: Summary) -> dict[str, Any]:
    """What a run's ``Summary`` tells its reader: steps, seconds, how it stopped, the best
    validation figure and its step."""
    return {"steps": summary.steps, "seconds": round(summary.seconds, 1),
            "skipped": summary.skipped, "stopped_by": summary.stopped_by,
            "best_validation": None if math.isnan(summary.best) else summary.best,
            "best_step": summary.best_step}


def _check_writable(engine: Engine, out: Path | None) -> None:
    """CheckpointError on every rank unless rank 0 can write the run's checkpoints in ``out``."""
    if out is None:
        return
    comm, error = engine.comm, None
    if comm.rank == 0:
        params = sum(w.nbytes for w in engine.model.params.values())
        need = params * (3 + 2 * len(engine.optimizer.slots)) + (1 << 20)  # last, best, new
        try:
            check_output_dir(out, need)
        except CheckpointError as e:
            error = e
    if comm.any(error is not None):
        raise error or CheckpointError(f"process 0 cannot write checkpoints to {out}")


class _Quiet(io.TextIOBase):
    """A text stream that discards what is written (the ranks other than 0)."""

    def write(self, text: str) -> int:
        return len(text)


def on_every_rank(job: Callable[[], int], comm: Comm) -> int:
    """``job()`` in one of K processes.

    An rnnkit error is one that every rank meets alike (an option, the data, a divergence,
    which the ranks agree on): rank 0 raises it, to be printed once, and the others exit
    with status 2.  Any other error ends all K processes (MPI_Abort), so none is left
    waiting in a collective.
    """
    if comm.size == 1:
        return job()
    try:
        return job()
    except (SystemExit, KeyboardInterrupt):
        raise
    except RnnkitError:
        if comm.rank == 0:
            raise
        raise SystemExit(2) from None
    except BaseException as e:  # noqa: BLE001 — the other ranks may wait in a collective
        comm.abort(f"rnnkit: error in process {comm.rank} of {comm.size}: "
                   f"{type(e).__name__}: {e}", 2)
