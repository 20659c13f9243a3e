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
from typing import Any

SUMMARY = "train an encoder-decoder on reversing strings or adding numbers; exact-match accuracy"


def add_arguments(p: argparse.ArgumentParser) -> None:
    # defaults are None so that a flag the user gave can be told from one they did not; the
    # real defaults are Seq2SeqJob's (shown in the help texts)
    p.add_argument(
        "task",
        nargs="?",
        choices=["reverse", "addition"],
        help="the generated task (not with --resume: the run's own)",
    )
    p.add_argument(
        "--cell",
        choices=["elman", "lstm", "gru"],
        help="cell of the encoder and the decoder (default lstm)",
    )
    p.add_argument("--hidden-size", type=int, help="units per layer (default 128)")
    p.add_argument("--embedding-dim", type=int, help="embedding width (default 32)")
    p.add_argument("--num-layers", type=int, help="stacked layers (default 1)")
    p.add_argument("--dtype", choices=["float32", "float64"], help="default float32")
    p.add_argument("--max-len", type=int, help="reverse: longest string (default 8)")
    p.add_argument("--digits", type=int, help="addition: most digits per number (default 3)")
    from ..jobs.seq2seq import Seq2SeqJob

    add_training_arguments(p, "seq2seq", Seq2SeqJob)
    p.add_argument("--val-size", type=int, help="validation pairs (default 200)")
    p.add_argument("--test-size", type=int, help="test pairs (default 1000)")
    p.add_argument("--beam", type=int, help="beam width (default 4)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")


def add_training_arguments(p: argparse.ArgumentParser, command: str, options: type) -> None:
    """The training and run flags of a job whose ``options`` extend ``jobs.runs.StepOptions``
    (defaults and help from there)."""
    from ..jobs.runs import STEP_FLAGS
    from .options import add_options, add_run_options

    add_options(p.add_argument_group("training"), options, STEP_FLAGS)
    add_run_options(
        p.add_argument_group("run"),
        f"{command}-TASK",
        resume_may_change="it may change --steps, --minutes, --on-nonfinite, "
        "--checkpoint-every and what is only reported",
    )


def run(args: argparse.Namespace) -> int:
    from ..jobs.runs import launch

    return launch(lambda comm: _run(args, comm))


def _run(args: argparse.Namespace, comm) -> int:
    from ..jobs.seq2seq import Seq2SeqJob, resume, start

    return train_job(
        args,
        comm,
        "seq2seq",
        Seq2SeqJob,
        start,
        resume,
        lambda r: (
            f"seq2seq {r.job.task}: {r.job.cell} H={r.job.hidden_size}, "
            f"{r.model.num_parameters():,} parameters"
        ),
        lambda r, s: _test(r, s, args.json, comm),
    )


def _test(run, summary, as_json: bool, comm) -> int:
    """Score the trained run on the test pairs and print the results (rank 0)."""
    from ..jobs import runs

    job = run.job
    result = {
        "task": job.task,
        "cell": job.cell,
        "parameters": run.model.num_parameters(),
        **runs.figures(summary),
        **run.test(),
    }
    if comm.rank == 0:
        import json

        samples = [
            f"{e['source']} -> {e['beam']} (want {e['target']})" for e in result["examples"]
        ]
        runs.write_result(run.out, {**result, "samples": samples})
        print(json.dumps(result, indent=2) if as_json else _format(result))
    return 0


def train_job(
    args: argparse.Namespace,
    comm,
    command: str,
    options: type,
    start: Callable[..., Any],
    resume: Callable[..., Any],
    describe: Callable[[Any], str],
    finish: Callable[[Any, Any], int],
) -> int:
    """The job ``command`` started with ``options`` of the flags given, or resumed with
    them, and trained (progress on stderr); then ``finish(run, summary)`` unless a signal
    stopped it.  The exit status."""
    from dataclasses import fields

    from ..errors import ConfigError
    from ..jobs import runs
    from ..training import TrainingDiverged
    from .options import given_options

    given = given_options(args, {f.name for f in fields(options)})
    if args.task is None and not args.resume:
        raise ConfigError(f"give the task ({command} TASK), or --resume --out DIR")
    out = runs.run_directory(
        f"{command}-{args.task}", args.out, resume=args.resume, overwrite=args.overwrite, comm=comm
    )
    run = runs.prepare(
        out,
        resume=args.resume,
        overwrite=args.overwrite,
        new=lambda: start(options(**given), out, comm),
        again=lambda: resume(out, comm, **given),
        comm=comm,
    )
    if comm.rank == 0:
        K = f", {comm.size} processes" if comm.size > 1 else ""
        print(f"{describe(run)}{K}; run directory {out}", file=sys.stderr)
    try:
        summary = run.fit(None if args.quiet else sys.stderr)
    except TrainingDiverged as e:
        raise runs.diverged(e, command, out, " (with --on-nonfinite skip)") from None
    if summary.stopped_by.startswith("SIG"):
        return runs.stopped(
            summary.stopped_by,
            command,
            out,
            f"stopped at step {summary.steps}, saved {out / 'last'}",
            comm,
        )
    return finish(run, summary)


def _format(r: dict) -> str:
    lines = [
        f"seq2seq {r['task']}: {r['cell']}, {r['parameters']} parameters, {r['steps']} steps "
        f"in {r['seconds']:.0f} s, {r['test_pairs']} test pairs",
        f"  exact match, greedy:      {r['greedy_exact_match']:.4f}",
        f"  exact match, beam of {r['beam_width']}:  {r['beam_exact_match']:.4f}",
    ]
    for ex in r["examples"]:
        lines.append(
            f"  {ex['source']!r:>12} -> {ex['greedy']!r} (beam {ex['beam']!r}, "
            f"want {ex['target']!r})"
        )
    return "\n".join(lines)
