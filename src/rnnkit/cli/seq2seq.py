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
import signal
import sys
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
    add_training_arguments(p, steps=3000, batch=64, lr=3e-3, eval_every=500)
    p.add_argument("--val-size", type=int, help="validation pairs (default 200)")
    p.add_argument("--test-size", type=int, help="test pairs (default 1000)")
    p.add_argument("--beam", type=int, help="beam width (default 4)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def add_training_arguments(p: argparse.ArgumentParser, *, steps: int, batch: int, lr: float,
                           eval_every: int) -> None:
    """The training and run-directory flags both generated-data jobs share."""
    p.add_argument("--steps", type=int,
                   help=f"most updates, counted from the run's start (default {steps})")
    p.add_argument("--minutes", type=float, help="most minutes of training (0: no limit)")
    p.add_argument("--batch-size", type=int, help=f"sequences per update (default {batch})")
    p.add_argument("--lr", type=float, help=f"Adam's learning rate (default {lr:g})")
    p.add_argument("--clip", type=float, help="clip the global gradient norm (default 1)")
    p.add_argument("--on-nonfinite", choices=("skip", "reduce-lr", "stop"),
                   help="a NaN/Inf loss or gradient: skip the update (default), skip it and "
                        "halve the learning rate, or stop")
    p.add_argument("--eval-every", type=int,
                   help=f"validate every this many updates (default {eval_every})")
    p.add_argument("--checkpoint-every", type=int, help="save DIR/last every this many updates")
    p.add_argument("--seed", type=int, help="seed of the run (default 0)")
    p.add_argument("--out", metavar="DIR",
                   help="run directory (default: a new one under runs/, named on stderr)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in --out (it may change --steps, --minutes, "
                        "--on-nonfinite, --checkpoint-every and what is only reported)")
    p.add_argument("--overwrite", action="store_true",
                   help="start a new run in --out even though it holds one (which is lost)")


def run(args: argparse.Namespace) -> int:
    from ..distributed import connect
    from ..jobs.rundir import on_every_rank

    comm = connect()  # imports mpi4py only when started by mpiexec with K > 1
    return on_every_rank(lambda: _run(args, comm), comm)


def _run(args: argparse.Namespace, comm) -> int:
    from dataclasses import fields

    from ..jobs import rundir
    from ..jobs.seq2seq import Seq2SeqJob, resume, start

    given = options_given(args, {f.name for f in fields(Seq2SeqJob)})
    out = run_directory(args, "seq2seq", comm)
    if args.resume:
        run = resume(out, comm, **given)
    else:
        run = start(Seq2SeqJob(**given), out, comm)
        if args.overwrite:
            rundir.clear(out, comm)
    job = run.job
    if comm.rank == 0:
        K = f", {comm.size} processes" if comm.size > 1 else ""
        print(f"seq2seq {job.task}: {job.cell} H={job.hidden_size}, "
              f"{run.model.num_parameters():,} parameters{K}; run directory {out}",
              file=sys.stderr)
    summary = fit_or_explain(run, "seq2seq", out)
    if summary.stopped_by.startswith("SIG"):
        return interrupted(summary, "seq2seq", out, comm)
    result = {"task": job.task, "cell": job.cell, "parameters": run.model.num_parameters(),
              **rundir.figures(summary), **run.test()}
    if comm.rank == 0:
        import json

        print(json.dumps(result, indent=2) if args.json else _format(result))
    return 0


def options_given(args: argparse.Namespace, names: set[str]) -> dict[str, Any]:
    """The job's options the user gave (flags left at None are not given)."""
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def run_directory(args: argparse.Namespace, command: str, comm) -> Path:
    """--out, checked against --resume/--overwrite, or a new directory under runs/."""
    from ..errors import ConfigError
    from ..jobs import rundir

    if args.resume:
        if args.overwrite:
            raise ConfigError("--resume continues the run in --out and --overwrite starts a "
                              "new one there, losing it; give one of them")
        if args.out is None:
            raise ConfigError("--resume needs --out DIR, the run to continue")
        return Path(args.out)
    if args.task is None:
        raise ConfigError(f"give the task ({command} TASK), or --resume --out DIR")
    out = Path(args.out) if args.out else rundir.default_dir(f"{command}-{args.task}", comm)
    rundir.refuse_existing(out, args.overwrite)
    return out


def fit_or_explain(run, command: str, out: Path):
    """``run.fit`` with progress on stderr; a divergence says how to continue."""
    from ..training import TrainingDiverged

    try:
        return run.fit(sys.stderr)
    except TrainingDiverged as e:
        raise TrainingDiverged(f"{e}; to continue from the last checkpoint: rnnkit {command} "
                               f"--resume --out {out} (with --on-nonfinite skip)") from None


def interrupted(summary, command: str, out: Path, comm) -> int:
    """Say where a signal stopped the run and how to continue; 128 + the signal's number."""
    if comm.rank == 0:
        print(f"rnnkit: {summary.stopped_by} received: stopped at step {summary.steps}, saved "
              f"{out / 'last'}; continue with: rnnkit {command} --resume --out {out}",
              file=sys.stderr)
    return 128 + int(signal.Signals[summary.stopped_by])


def _format(r: dict) -> str:
    lines = [f"seq2seq {r['task']}: {r['cell']}, {r['parameters']} parameters, {r['steps']} steps "
             f"in {r['seconds']:.0f} s, {r['test_pairs']} test pairs",
             f"  exact match, greedy:      {r['greedy_exact_match']:.4f}",
             f"  exact match, beam of {r['beam_width']}:  {r['beam_exact_match']:.4f}"]
    for ex in r["examples"]:
        lines.append(f"  {ex['source']!r:>12} -> {ex['greedy']!r} (beam {ex['beam']!r}, "
                     f"want {ex['target']!r})")
    return "\n".join(lines)
