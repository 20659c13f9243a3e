"""``rnnkit one-to-many sine|words``: sequences generated from one conditioning input.

The job (``rnnkit.jobs.one_to_many``) trains a recurrent model whose initial state is set
by the condition, then generates one sequence per condition from the same start input,
feeding its outputs back.  This prints, per condition, what was generated beside the truth
(sine: the root-mean-square error and both as a line of block characters; words: the word
and whether it is exact); ``--plot FILE.png`` draws the sine waves.  Progress and
validation go to stderr.

The run lives in ``--out DIR`` (default ``runs/one-to-many-TASK-DATE-TIME``), with
``--resume``, signals and ``mpiexec -n K`` as for ``rnnkit seq2seq``.
"""

import argparse
import sys

SUMMARY = "generate a sequence from one conditioning input (class or value): sine waves, words"

BLOCKS = " ▁▂▃▄▅▆▇█"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from .seq2seq import add_training_arguments

    # defaults are None so that a flag the user gave can be told from one they did not; the
    # real defaults are OneToManyJob's (shown in the help texts)
    p.add_argument(
        "task",
        nargs="?",
        choices=("sine", "words"),
        help="what to generate (not with --resume: the run's own)",
    )
    p.add_argument(
        "--condition",
        choices=("class", "value"),
        help="sine: a class id, or the period as a real value (default class)",
    )
    p.add_argument("--classes", type=int, help="sine: number of classes (default 4)")
    p.add_argument(
        "--words",
        help="words: comma-separated words, one class each (default "
        "recurrent,networks,remember,sequences)",
    )
    p.add_argument("--length", type=int, help="sine: steps generated (default 48)")
    p.add_argument(
        "--input-noise",
        type=float,
        help="sine: std of the noise added to the teacher-forced inputs (default 0.2)",
    )
    p.add_argument("--cell", help="elman | jordan | lstm | gru (default lstm)")
    p.add_argument("--hidden-size", type=int, help="units (default 32)")
    p.add_argument("--dtype", choices=["float32", "float64"], help="default float32")
    from ..jobs.one_to_many import OneToManyJob

    add_training_arguments(p, "one-to-many", OneToManyJob)
    p.add_argument("--plot", metavar="FILE.png", help="sine: draw truth and generated waves")


def run(args: argparse.Namespace) -> int:
    from ..jobs.runs import launch

    return launch(lambda comm: _run(args, comm))


def _run(args: argparse.Namespace, comm) -> int:
    from ..errors import ConfigError
    from ..jobs.one_to_many import OneToManyJob, resume, start
    from .seq2seq import train_job

    if args.plot and args.task not in (None, "sine"):
        raise ConfigError("--plot draws sine waves; leave it out for words")
    return train_job(
        args,
        comm,
        "one-to-many",
        OneToManyJob,
        start,
        resume,
        lambda r: (
            f"one-to-many {r.job.task}: {r.job.cell} H={r.job.hidden_size}, "
            f"{r.net.num_parameters():,} parameters, conditioned on a {r.job.condition}"
        ),
        lambda r, s: _generate(r, s, args.plot, comm),
    )


def _generate(run, summary, plot: str | None, comm) -> int:
    """Generate the shown conditions' sequences and print them (rank 0; ``plot``: a PNG)."""
    results = run.generate()
    if comm.rank != 0:
        return 0
    print(
        f"one-to-many: {summary.steps} steps, training loss {summary.train_loss:.4f}",
        file=sys.stderr,
    )
    text = _sine(results) if results.task == "sine" else _words(results)
    from ..jobs import runs

    runs.write_result(
        run.out,
        {"task": results.task, **runs.figures(summary), "samples": text.splitlines()},
    )
    print(text)
    if plot and results.task != "sine":  # a resumed words run
        from ..errors import ConfigError

        raise ConfigError("--plot draws sine waves; leave it out for words")
    if plot:
        from . import write_or_warn

        if write_or_warn(lambda: _plot(plot, results), "the plot"):
            print(f"plot: {plot}")
    return 0


def _sine(r) -> str:
    from ..jobs.one_to_many import period_value

    rows = [
        f"one-to-many sine ({r.condition} condition): every sequence starts from input 0; "
        "generated outputs are fed back",
        "",
    ]
    for k, P in enumerate(r.periods):
        rmse = float(((r.out[k, :, 0] - r.truth[k, :, 0]) ** 2).mean() ** 0.5)
        name = f"class {k}" if r.condition == "class" else f"value {period_value([P])[0, 0]:+.2f}"
        rows += [
            f"{name} (period {P:.1f}): rmse {rmse:.3f}",
            f"  truth      {_blocks(r.truth[k, :, 0])}",
            f"  generated  {_blocks(r.out[k, :, 0])}",
        ]
    return "\n".join(rows)


def _words(r) -> str:
    rows = [
        "one-to-many words (class condition): every sequence starts from '.'; "
        "generated characters are fed back",
        "",
    ]
    right = 0
    for k, ids in enumerate(r.truth):
        word = "".join(r.vocab[i] for i in ids).split(".")[0]
        text = "".join(r.vocab[i] for i in r.out[k]).split(".")[0]
        right += text == word
        rows.append(
            f"class {k}: {text!r:<24} target {word!r:<20} {'exact' if text == word else 'wrong'}"
        )
    return "\n".join(rows + ["", f"exact: {right}/{len(r.truth)}"])


def _blocks(values) -> str:
    """One block character per value in [−1, 1] (a text picture of a wave)."""
    import numpy as np

    levels = np.clip(
        np.round((np.asarray(values) + 1) / 2 * (len(BLOCKS) - 1)), 0, len(BLOCKS) - 1
    )
    return "".join(BLOCKS[int(v)] for v in levels)


def _plot(path: str, r) -> None:
    from ..plots.sequences import waves_png

    waves_png(
        path,
        r.truth,
        r.out,
        r.periods,
        title=f"one-to-many: sine waves generated from a {r.condition} condition",
    )
