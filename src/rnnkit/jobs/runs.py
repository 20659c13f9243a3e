"""A job's run: its directory, its saved options, how it resumes, trains and fails under MPI.

Every job (``train``, ``classify``, ``forecast``, ``seq2seq``, ``one-to-many``) keeps its run
in one directory, by default a new ``runs/<job>-<date>-<time>``::

    RUN/last            a network, the job's options (``"job"``) and the engine, source and
                        loop state: enough to rebuild the same data and model and continue
    RUN/best            the network with the best validation figure
    RUN/metrics.jsonl   one record per update

A job that trains several networks keeps one such directory per network below ``RUN``
(``RUN/gru/``, ``RUN/ffnn-direct/``, ``RUN/baseline/``), each ``last`` with the same options.

The options live inside ``last``, not in a file of their own: they are written in the same
atomic checkpoint as the state they describe, so a resume that changes the budget or the
rate records the change with the state it applies to and a kill can never leave the two
disagreeing; and a library caller (``charmodel.start_run`` → ``fit`` → ``resume_run``) has
a resumable run without writing anything else.  A directory holds a run when it or one of
its networks has a ``last`` or a ``best``.

    run_directory      --out, or the default name; --resume/--overwrite checked
    refuse_existing    a new run refuses a directory that holds one, unless --overwrite
    lock               one process writes a run: a second is refused, naming the first
    clear              --overwrite: the old run goes only once the new one is ready
    prepare            a new run or the saved one, in every rank, then the clearing
    saved_options      the options of the run in a directory, with the changes a resume may make
    load_last          a network's ``last`` and its state, to continue from (``load_run``: both)
    SavedOptions       a job's options dataclass: its round trip through ``last`` and checks
    StepOptions        the training options of the step-budget jobs, declared once
    write_result       the job's report as ``RUN/result.json``, for ``rnnkit report``
    train              ``training.loop.fit`` with checkpoints, the metrics log, progress and
                       SIGINT/SIGTERM; under K ranks rank 0 alone prints and writes
    launch             a command's job in one process or in each of K (``mpiexec -n K``),
                       under ``on_every_rank``, the error policy of K ranks (``agree`` makes
                       a step's errors shared)
"""

import io
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

import numpy as np

from ..errors import CheckpointError, ConfigError, RnnkitError
from ..training import Budget, Checkpoints, Engine, MetricsLog, Source, Summary, Validation, fit
from ..training.distributed import LOCAL, Comm
from ..training.metrics import LOG_NAME
from ..training.signals import stop_on_signals

SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals that save ``last`` and stop a run between updates."""


# -- the directory -------------------------------------------------------------------------------


def run_directory(
    job: str, out: str | Path | None, *, resume: bool, overwrite: bool, comm: Comm = LOCAL
) -> Path:
    """``out``, or a new ``runs/<job>-<date>-<time>[.<k>]`` (rank 0's clock: every rank names
    the same one)."""
    if resume and overwrite:
        raise ConfigError(
            "--resume continues the run in --out and --overwrite starts a new one "
            "there, losing it; give one of them"
        )
    if out is not None:
        return Path(out)
    if resume:
        raise ConfigError("--resume needs --out DIR, the run to continue")
    path = None
    if comm.rank == 0:
        path = Path("runs") / f"{job}-{time.strftime('%Y%m%d-%H%M%S')}"
        for k in range(2, 1000):  # two runs started in the same second get their own
            if not path.exists():
                break
            path = path.with_name(f"{path.name.rsplit('.', 1)[0]}.{k}")
    return Path(comm.bcast(None if path is None else str(path)))


def networks(out: Path) -> list[Path]:
    """The directories of ``out`` that hold a network's run: ``out`` itself and those below it.

    A network's run is a ``last`` or ``best`` link, even one that points nowhere (a copied
    or damaged run still holds the other link and the checkpoints), or a ``checkpoints``
    folder that is not empty.
    """
    out = Path(out)
    below = sorted(d for d in out.iterdir() if d.is_dir()) if out.is_dir() else []
    return [d for d in [out, *below] if _holds_network(d)]


def _holds_network(d: Path) -> bool:
    from ..io.model_files import CHECKPOINTS

    if any(os.path.lexists(d / link) for link in ("last", "best")):
        return True
    return (d / CHECKPOINTS).is_dir() and any((d / CHECKPOINTS).iterdir())


def refuse_existing(out: Path, overwrite: bool | None) -> None:
    """ConfigError if ``out`` holds a run and ``overwrite`` is not given (None: the command
    has no ``--overwrite``)."""
    if networks(out) and not overwrite:
        afresh = "" if overwrite is None else "pass --overwrite to start afresh (losing it), "
        raise ConfigError(
            f"{out} already holds a run; continue it with --resume, {afresh}"
            "or choose another --out"
        )


# -- one writer -----------------------------------------------------------------------------------

LOCK_NAME = ".lock"
"""The file of a run directory that its writing process holds locked."""

_held: dict[Path, int] = {}  # run directory (resolved) → the open file that holds its lock


def lock(out: Path, comm: Comm = LOCAL) -> None:
    """Make this process the one writer of the run in ``out`` (rank 0 holds the lock).

    ``flock`` on ``out/.lock``: the kernel drops the lock when its process ends, however it
    ends (a kill -9 leaves nothing stuck), and the file names the holder (process, host,
    command) for the refusal of a second writer.  Held until ``release`` or the process
    ends; a process that holds it already (a job run again in one process) keeps it.
    """
    import fcntl
    import socket
    import sys

    if comm.rank != 0:
        return
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    key = out.resolve()
    if key in _held:
        return
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 4096).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise ConfigError(
            f"{out} is being written by {holder}; wait for it to end (or stop it), "
            "or choose another --out"
        ) from None
    command = " ".join(["rnnkit", *sys.argv[1:]]) if sys.argv else "rnnkit"
    os.ftruncate(fd, 0)
    os.write(fd, f"process {os.getpid()} on {socket.gethostname()} ({command[:200]})".encode())
    _held[key] = fd


def release(out: Path | None = None) -> None:
    """Give up the lock of the run in ``out`` (None: of every run this process holds)."""
    keys = list(_held) if out is None else [Path(out).resolve()]
    for key in keys:
        fd = _held.pop(key, None)
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the flock


def clear(out: Path, comm: Comm = LOCAL) -> None:
    """Remove the run in ``out`` (rank 0): every network's checkpoints and metrics log.

    Called once the new run is ready to start, so that a bad option keeps the old one.
    """
    if comm.rank != 0:
        return
    from ..io.model_files import clear_run

    for d in networks(out):
        clear_run(d)
        (d / LOG_NAME).unlink(missing_ok=True)


def prepare(
    out: Path,
    *,
    resume: bool,
    overwrite: bool,
    new: Callable[[], Any],
    again: Callable[[], Any],
    comm: Comm = LOCAL,
) -> Any:
    """The run to train in ``out``: ``again()`` continues the saved one (``resume``), else
    ``new()`` starts one where no run is (or ``overwrite``).

    Every rank prepares, and they agree on how it went (``agree``); only then does
    ``overwrite`` clear the old run, so that a bad option or file keeps it.
    """

    def step() -> Any:
        lock(out, comm)
        if resume:
            return again()
        refuse_existing(out, overwrite)
        return new()

    run = agree(step, comm)
    if overwrite and not resume:
        clear(out, comm)
    return run


# -- the saved options ---------------------------------------------------------------------------


class SavedOptions:
    """What a job's options dataclass (frozen, JSON-serialisable fields) shares: the round
    trip through ``last`` and the training checks of the engine."""

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        from dataclasses import fields

        unknown = sorted(set(d) - {f.name for f in fields(cls)})  # type: ignore[arg-type]
        if unknown:
            raise CheckpointError(
                f"the saved options name unknown ones: {', '.join(unknown)}; "
                "start afresh with --overwrite"
            )
        return cls(**d)

    def check_training(self) -> None:
        """ConfigError now, not mid-run, for a bad rate, clip, non-finite action or budget."""
        from ..training import Optimization

        if not self.lr > 0:  # type: ignore[attr-defined]
            raise ConfigError(f"lr must be > 0, got {self.lr}")  # type: ignore[attr-defined]
        Optimization.of(self)
        Budget.of(self)


def saved_options(
    out: Path,
    changes: dict[str, Any] | None = None,
    allowed: frozenset[str] = frozenset(),
    state: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The options the run in ``out`` was started with, with ``changes``.

    ``state`` is a ``last``'s (``load_last``), else the first network's is read.
    ``changes`` (options given again; None values are ignored) may only touch ``allowed``;
    ``steps`` counts from the run's start and may not be below the steps it has made.
    """
    found = networks(out)
    last = (found[0] if found else Path(out)) / "last"
    if state is None:
        from ..io.checkpoint import read_checkpoint

        no_last(out, last)
        state = read_checkpoint(last).extra
    if not isinstance(state, dict) or not isinstance(state.get("job"), dict):
        raise CheckpointError(
            f"{last} holds no options of a run to resume; start afresh with --overwrite"
        )
    changes = {k: v for k, v in (changes or {}).items() if v is not None}
    wrong = sorted(set(changes) - allowed)
    if wrong:
        may = ", ".join(sorted(allowed)) or "none of them"
        raise ConfigError(
            f"a resumed run cannot change {', '.join(wrong)}; start a new run "
            f"for that (a resume may change {may})"
        )
    done, steps = state.get("step"), changes.get("steps", 0)
    if isinstance(done, int) and 0 < steps < done:
        raise ConfigError(
            f"{out}: the run is already at step {done:,}, past a budget of "
            f"{steps:,} steps (counted from its start); give --steps greater "
            f"than {done:,} to continue it"
        )
    return {**state["job"], **changes}


def no_last(run_dir: Path, last: Path) -> None:
    """CheckpointError unless ``last`` leads to a checkpoint: none, or a link to nowhere."""
    if last.exists():
        return
    if os.path.lexists(last):
        raise CheckpointError(
            f"{last} points to {os.readlink(last)}, which is missing: the run cannot "
            f"continue from it; its other checkpoints are kept (start a new run elsewhere, "
            f"or --overwrite to replace it)"
        )
    raise CheckpointError(
        f"{run_dir} holds no run to resume (no {last}); start one without --resume"
    )


def load_run(
    out: Path,
    kind: type | tuple[type, ...],
    options: Any,
    changes: dict[str, Any],
    allowed: frozenset[str],
) -> tuple[Any, dict[str, Any], Any]:
    """(network, saved state, ``options.from_dict`` of the saved options with ``changes``) of
    the one-network run in ``out``, to continue exactly where it stopped."""
    model, state = load_last(out, kind)
    return model, state, options.from_dict(saved_options(out, changes, allowed, state))


def load_last(run_dir: Path, kind: type | tuple[type, ...]) -> tuple[Any, dict[str, Any]]:
    """(network, saved state) of ``run_dir/last``; CheckpointError unless it is a ``kind``
    with the engine, source and loop state a resume continues from."""
    from ..io.model_files import load_with_state

    last = Path(run_dir) / "last"
    no_last(run_dir, last)
    model, state = load_with_state(last)
    if (
        not isinstance(model, kind)
        or not isinstance(state, dict)
        or not all(isinstance(state.get(k), dict) for k in ("engine", "source", "loop"))
    ):
        raise CheckpointError(
            f"{last} holds no training state of this job to continue from; "
            "start afresh with --overwrite"
        )
    return model, state


@dataclass(frozen=True, kw_only=True)
class StepOptions(SavedOptions):
    """The training options of a job that trains for a number of updates (seq2seq,
    one-to-many); a job's options extend it, redeclaring the defaults it changes."""

    steps: int = 1000  # most updates, counted from the run's start
    minutes: float = 0.0  # most minutes of training (0: no limit)
    batch_size: int = 32  # sequences per update
    lr: float = 3e-3  # Adam's learning rate
    clip: float = 1.0  # clip the global gradient norm to this (0: off)
    on_nonfinite: str = "skip"  # a NaN/Inf loss or gradient: skip | reduce-lr | stop
    eval_every: int = 100  # validate every this many updates
    checkpoint_every: int = 100  # save RUN/last every this many updates
    seed: int = 0  # seed of the run

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, got {self.seed}")
        self.check_training()


STEP_FLAGS = [
    "steps",
    "minutes",
    "batch_size",
    "lr",
    "clip",
    "eval_every",
    "checkpoint_every",
    "seed",
]
"""``StepOptions``' flags on the command line (``--on-nonfinite`` is a run flag)."""


# -- training ------------------------------------------------------------------------------------


def train(
    engine: Engine,
    source: Source,
    budget: Budget,
    *,
    out: Path | None,
    options: dict[str, Any],
    validation: Validation | None = None,
    resumed: dict[str, Any] | None = None,
    stream: TextIO | None = None,
    bits_per: str = "",
    clock: Callable[[], float] = time.monotonic,
    signals: tuple[int, ...] = SIGNALS,
    stop: Callable[[], str | None] | None = None,
    log: MetricsLog | None = None,
    need_bytes: int = 0,
    after_update: Callable[[Engine], None] | None = None,
) -> Summary:
    """``training.loop.fit`` writing the run in ``out`` (``options`` saved in every ``last``).

    Progress goes to ``stream`` (None: none) on rank 0.  ``signals`` save ``last`` and
    return (``Summary.stopped_by`` names the signal), unless the caller watches them itself
    and passes ``stop``.  ``log`` replaces the default metrics log of ``out``;
    ``need_bytes`` the estimate of the room the checkpoints need.
    """
    from ..training.progress import Progress

    comm = engine.comm
    check_writable(engine, out, need_bytes)
    progress = None
    if stream is not None:
        progress = Progress(
            budget.steps,
            60 * budget.minutes,
            stream=quiet(stream, comm),
            clock=clock,
            bits_per=bits_per,
        )
    if log is None:
        log = metrics_log(engine, out, resumed)
    checkpoints = Checkpoints(out, extra={"job": options})
    with stop_on_signals(() if stop is not None else signals) as request:
        return fit(
            engine,
            source,
            budget,
            validation=validation,
            checkpoints=checkpoints,
            log=log,
            progress=progress,
            stop=stop or request,
            clock=clock,
            resume=resumed,
            after_update=after_update,
        )


def metrics_log(
    engine: Engine, out: Path | None, resumed: dict[str, Any] | None, *, keep: bool = False
) -> MetricsLog:
    """The run's ``metrics.jsonl`` (written by rank 0), continued after the resumed step."""
    writer = out if engine.comm.rank == 0 else None
    return MetricsLog(writer, resume_step=engine.step if resumed is not None else None, keep=keep)


RESULT_NAME = "result.json"
"""The file of a run directory that holds the job's report (``rnnkit report`` shows it)."""


def write_result(out: Path, result: dict[str, Any], comm: Comm = LOCAL) -> None:
    """``out/result.json``: the job's report, written atomically by rank 0 (the keys
    ``rnnkit report`` reads are in ``rnnkit.reports``)."""
    import json

    from ..io.atomic import write_atomic

    if comm.rank == 0:
        text = json.dumps(result, indent=2, default=_jsonable) + "\n"
        write_atomic(Path(out) / RESULT_NAME, text.encode("utf-8"))


def _jsonable(value: Any) -> Any:
    """NumPy scalars and arrays as JSON numbers and lists."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-able")


def figures(summary: Summary) -> dict[str, Any]:
    """What a run's ``Summary`` tells its reader: steps, seconds, how it stopped, the best
    validation figure and its step."""
    return {
        "steps": summary.steps,
        "seconds": round(summary.seconds, 1),
        "skipped": summary.skipped,
        "stopped_by": summary.stopped_by,
        "best_validation": None if math.isnan(summary.best) else summary.best,
        "best_step": summary.best_step,
    }


def check_writable(engine: Engine, out: Path | None, need_bytes: int = 0) -> None:
    """CheckpointError on every rank unless rank 0 can write the run's checkpoints in ``out``
    (``need_bytes``: their size; 0: the last, the best and a new last being written)."""
    if out is None:
        return
    from ..io.model_files import check_output_dir

    comm, error = engine.comm, None
    if comm.rank == 0:
        params = sum(w.nbytes for w in engine.model.params.values())
        need = need_bytes or params * (3 + 2 * len(engine.optimizer.slots)) + (1 << 20)
        try:
            check_output_dir(out, need)
        except CheckpointError as e:
            error = e
    if comm.any(error is not None):
        raise shared(error or CheckpointError(f"process 0 cannot write checkpoints to {out}"))


class _Quiet(io.TextIOBase):
    """A text stream that discards what is written (the ranks other than 0)."""

    def write(self, text: str) -> int:
        return len(text)


def quiet(stream: TextIO, comm: Comm) -> TextIO:
    """``stream`` on rank 0; a stream that discards everything on the others."""
    return stream if comm.rank == 0 else cast(TextIO, _Quiet())


def stopped(signal_name: str, job: str, out: Path, what: str, comm: Comm = LOCAL) -> int:
    """Say (rank 0) that a signal stopped the run, ``what`` was saved and how to continue;
    128 + the signal's number."""
    if comm.rank == 0:
        import sys

        print(
            f"rnnkit: {signal_name} received: {what}; continue with: rnnkit {job} --resume "
            f"--out {out}",
            file=sys.stderr,
        )
    return 128 + int(signal.Signals[signal_name])


def diverged(error: Exception, job: str, out: Path, hint: str = "") -> Exception:
    """The ``TrainingDiverged`` to raise instead of ``error``: how to continue the run."""
    from ..training import TrainingDiverged

    return TrainingDiverged(
        f"{error}; to continue from the last checkpoint: rnnkit {job} --resume --out {out}{hint}"
    )


# -- K data-parallel processes -------------------------------------------------------------------


def shared(error: BaseException) -> BaseException:
    """Mark ``error`` as one that every rank raised at the same point (``on_every_rank``
    reports it once)."""
    error.on_every_rank = True  # type: ignore[attr-defined]
    return error


def agree(step: Callable[[], Any], comm: Comm = LOCAL) -> Any:
    """``step()`` in each of K processes, which then agree whether all succeeded.

    If every rank failed, the error is ``shared`` (rank 0 reports it, as one process
    would).  If some did, the lowest failing rank prints its error naming its process, and
    every rank exits with status 2, none left waiting in a collective.
    """
    if comm.size == 1:
        return step()
    error = None
    try:
        result = step()
    except Exception as e:  # noqa: BLE001 — handled once every rank has said how it went
        error = e
    # [did any fail, −(the lowest failing rank), did any succeed]
    failed = comm.allreduce_max(
        np.array([int(error is not None), -comm.rank if error else -comm.size, int(error is None)])
    )
    if not failed[0]:
        return result
    if error is None:  # another rank failed: it names itself
        raise SystemExit(2)
    if not failed[2]:
        raise shared(error)
    if comm.rank == -int(failed[1]):
        import sys

        print(
            f"rnnkit: error in process {comm.rank} of {comm.size}: {_what(error)}", file=sys.stderr
        )
    raise SystemExit(2)


def launch(job: Callable[[Comm], int]) -> int:
    """``job(comm)`` in this process: alone, or one of the K that ``mpiexec -n K`` started
    (``distributed.connect`` imports mpi4py only then), under ``on_every_rank``."""
    from ..training.distributed import connect

    comm = connect()
    try:
        return on_every_rank(lambda: job(comm), comm)
    finally:
        release()


def on_every_rank(job: Callable[[], int], comm: Comm) -> int:
    """``job()`` in one of K processes.

    An error every rank meets alike — ``shared`` (see ``agree``), a divergence or a
    disagreement, which the ranks decide together — is raised by rank 0, to be printed
    once, while the others exit with status 2.  Any other error ends all K processes
    (MPI_Abort) with one line naming the process, so that none is left waiting.
    """
    if comm.size == 1:
        return job()
    from ..training import TrainingDiverged
    from ..training.distributed import Disagreement

    try:
        return job()
    except SystemExit:
        raise
    except BaseException as e:  # the other ranks may wait in a collective
        if getattr(e, "on_every_rank", False) or isinstance(e, (TrainingDiverged, Disagreement)):
            if comm.rank != 0:
                raise SystemExit(2) from None
            raise
        comm.abort(f"rnnkit: error in process {comm.rank} of {comm.size}: {_what(e)}", 2)


def _what(error: BaseException) -> str:
    """One line for an error: rnnkit's own message, else the exception's type and message."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return str(error) if isinstance(error, RnnkitError) else f"{type(error).__name__}: {error}"
