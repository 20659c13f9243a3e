"""``rnnkit seq2seq reverse|addition``: train an encoder–decoder on a generated task.

The job (``rnnkit.jobs.seq2seq``): fresh string pairs every update (teacher forcing, Adam,
global-norm clipping), validation on pairs of the training distribution, and a fixed test
set whose sources are never trained on, scored once at the end: exact-match accuracy of
greedy and beam decoding and a few examples, to stdout (``--json`` for JSON).  Progress
and validation go to stderr.

The run lives in ``--out DIR`` (default ``runs/seq2seq-TASK-DATE-TIME``): ``DIR/last``,
``DIR/best`` and ``DIR/metrics.jsonl``.  ``--resume --out DIR`` continues it exactly;
SIGINT (Ctrl-C) or SIGTERM saves ``DIR/last`` and exits with 128 + the signal's number.
Under ``mpiexec -n K`` the K processes split the rows of every batch; process 0 alone
prints and writes.
"""

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

SUMMARY = "train an encoder-decoder on reversing strings or adding numbers; exact-match accuracy"


def add_arguments(p: argparse.ArgumentParser) -> None:
    # defaults are None so that a flag the user gave can be told from one they did not; the
    # real defaults are Seq2SeqJob's (shown in the help texts)
    p.add_argument("task", nargs="?", choices=["reverse", "addition"],
                   help="the generated task (not with --resume: the run's own)")
    p.add_argument("--cell", choices=["elman", "lstm", "gru"],
                   help="cell of the encoder and the decoder (default lstm)")
    p.add_argument("--hidden-size", type=int, help="units per layer (default 128)")
    p.add_argument("--embedding-dim", type=int, help="embedding width (default 32)")
    p.add_argument("--num-layers", type=int, help="stacked layers (default 1)")
    p.add_argument("--dtype", choices=["float32", "float64"], help="default float32")
    p.add_argument("--max-len", type=int, help="reverse: longest string (default 8)")
    p.add_argument("--digits", type=int, help="addition: most digits per number (default 3)")
    add_training_arguments(p, "seq2seq", steps=3000, batch=64, lr=3e-3, eval_every=500)
    p.add_argument("--val-size", type=int, help="validation pairs (default 200)")
    p.add_argument("--test-size", type=int, help="test pairs (default 1000)")
    p.add_argument("--beam", type=int, help="beam width (default 4)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def add_training_arguments(p: argparse.ArgumentParser, command: str, *, steps: int, batch: int,
                           lr: float, eval_every: int) -> None:
    """The training and run flags both generated-data jobs share."""
    from .options import add_run_options

    p.add_argument("--steps", type=int,
                   help=f"most updates, counted from the run's start (default {steps})")
    p.add_argument("--minutes", type=float, help="most minutes of training (0: no limit)")
    p.add_argument("--batch-size", type=int, help=f"sequences per update (default {batch})")
    p.add_argument("--lr", type=float, help=f"Adam's learning rate (default {lr:g})")
    p.add_argument("--clip", type=float, help="clip the global gradient norm (default 1)")
    p.add_argument("--eval-every", type=int,
                   help=f"validate every this many updates (default {eval_every})")
    p.add_argument("--checkpoint-every", type=int, help="save DIR/last every this many updates")
    p.add_argument("--seed", type=int, help="seed of the run (default 0)")
    add_run_options(p.add_argument_group("run"), f"{command}-TASK",
                    resume_may_change="it may change --steps, --minutes, --on-nonfinite, "
                                      "--checkpoint-every and what is only reported")


def run(args: argparse.Namespace) -> int:
    from ..distributed import connect
    from ..jobs.runs import on_every_rank

    comm = connect()  # imports mpi4py only when started by mpiexec with K > 1
    return on_every_rank(lambda: _run(args, comm), comm)


def _run(args: argparse.Namespace, comm) -> int:
    from ..jobs import runs
    from ..jobs.seq2seq import Seq2SeqJob, resume, start

    run, summary, out = train_job(
        args, comm, "seq2seq", Seq2SeqJob, start, resume,
        lambda r: f"seq2seq {r.job.task}: {r.job.cell} H={r.job.hidden_size}, "
                  f"{r.model.num_parameters():,} parameters")
    if summary.stopped_by.startswith("SIG"):
        return interrupted(summary, "seq2seq", out, comm)
    job = run.job
    result = {"task": job.task, "cell": job.cell, "parameters": run.model.num_parameters(),
              **runs.figures(summary), **run.test()}
    if comm.rank == 0:
        import json

        print(json.dumps(result, indent=2) if args.json else _format(result))
    return 0


def train_job(args: argparse.Namespace, comm, command: str, options: type,
              start: Callable[..., Any], resume: Callable[..., Any],
              describe: Callable[[Any], str]) -> tuple[Any, Any, Path]:
    """(run, its ``Summary``, its directory): the generated-data job ``command`` started with
    ``options`` of the flags given, or resumed with them, and trained (progress on stderr)."""
    from dataclasses import fields

    from ..errors import ConfigError
    from ..jobs import runs
    from ..training import TrainingDiverged
    from .options import given_options

    given = given_options(args, {f.name for f in fields(options)})
    if args.task is None and not args.resume:
        raise ConfigError(f"give the task ({command} TASK), or --resume --out DIR")
    out = runs.run_directory(f"{command}-{args.task}", args.out, resume=args.resume,
                             overwrite=args.overwrite, comm=comm)
    run = runs.prepare(out, resume=args.resume, overwrite=args.overwrite,
                       new=lambda: start(options(**given), out, comm),
                       again=lambda: resume(out, comm, **given), comm=comm)
    if comm.rank == 0:
        K = f", {comm.size} processes" if comm.size > 1 else ""
        print(f"{describe(run)}{K}; run directory {out}", file=sys.stderr)
    try:
        return run, run.fit(None if args.quiet else sys.stderr), out
    except TrainingDiverged as e:
        raise runs.diverged(e, command, out, " (with --on-nonfinite skip)") from None


def interrupted(summary, command: str, out: Path, comm) -> int:
    """Say where a signal stopped the run and how to continue; 128 + the signal's number."""
    from ..jobs import runs

    return runs.stopped(summary.stopped_by, command, out,
                        f"stopped at step {summary.steps}, saved {out / 'last'}", comm)


def _format(r: dict) -> str:
    lines = [f"seq2seq {r['task']}: {r['cell']}, {r['parameters']} parameters, {r['steps']} steps "
             f"in {r['seconds']:.0f} s, {r['test_pairs']} test pairs",
             f"  exact match, greedy:      {r['greedy_exact_match']:.4f}",
             f"  exact match, beam of {r['beam_width']}:  {r['beam_exact_match']:.4f}"]
    for ex in r["examples"]:
        lines.append(f"  {ex['source']!r:>12} -> {ex['greedy']!r} (beam {ex['beam']!r}, "
                     f"want {ex['target']!r})")
    return "\n".join(lines)
