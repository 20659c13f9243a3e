"""``rnnkit experiment adding|irnn|copy|temporal-order``: the long-time-lag experiments.

Trains each cell (elman tanh, irnn, lstm, gru) at a matched parameter count on fresh
generated sequences for at most ``--steps`` updates, stopping early at the first validation
where the criterion holds; then scores it once on a fixed test set, and prints a table — cell,
hidden size, parameters, steps, wall time, why training stopped, the validation metric there,
the test metric, and pass / fail / not finished — to stdout (``--json`` for JSON).  A run
stopped by the ``--minutes`` safety cap is "not finished": no verdict.  Progress goes to
stderr.  Training runs through the engine (``rnnkit.training``); with ``--out DIR`` each cell
trains in ``DIR/<cell>`` (``last``, ``best``, ``metrics.jsonl``, ``row.json``), SIGINT/SIGTERM
save ``last`` and exit 128+signum, and ``--resume --out DIR`` continues exactly where the
table stopped (the same table as an uninterrupted run, wall times apart).  Under
``mpiexec -n K`` each cell trains data-parallel (every update's batch split over the K
processes, equal to one process up to rounding); process 0 alone prints and writes.
"""

import argparse

SUMMARY = "run a long-time-lag experiment (adding, irnn, copy, temporal-order) and tabulate"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..experiments import EXPERIMENTS
    from ..experiments.cells import CELLS

    p.add_argument("experiment", choices=list(EXPERIMENTS), help="which experiment to run")
    p.add_argument(
        "--cells",
        nargs="+",
        default=list(CELLS),
        metavar="CELL",
        help=f"cells to compare (default: all of {' '.join(CELLS)})",
    )
    p.add_argument(
        "--steps", type=int, help="the budget: most updates per cell (default: the experiment's)"
    )
    p.add_argument(
        "--minutes",
        type=float,
        help="safety cap on minutes of training per cell (default: none); a cell "
        "it stops is reported as not finished, neither pass nor fail",
    )
    p.add_argument("--T", type=int, dest="T", help="sequence length (default: the experiment's)")
    p.add_argument("--batch-size", type=int, help="sequences per update")
    p.add_argument("--lr", type=float, help="the optimizer's learning rate")
    p.add_argument(
        "--optimizer",
        choices=("adam", "rmsprop", "adamw", "adagrad", "sgd"),
        help="the optimizer (default: the experiment's)",
    )
    p.add_argument("--clip", type=float, help="clip the global gradient norm to this (0: off)")
    p.add_argument("--parameters", type=int, help="parameter count every cell is matched to")
    p.add_argument("--eval-every", type=int, help="validate every this many updates")
    p.add_argument(
        "--curriculum",
        type=int,
        metavar="C",
        help="train first at length C and lengthen by C whenever the criterion "
        "holds there; 0: at T throughout (default: the experiment's)",
    )
    p.add_argument("--test-size", type=int, dest="n_test", help="test sequences")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--seed", type=int, default=0, help="seed of the run (default 0)")
    p.add_argument(
        "--on-nonfinite",
        choices=("skip", "reduce-lr", "stop"),
        help="a NaN/Inf loss or gradient: skip the update, skip it and lower the "
        "rate, or stop the cell (diverged); default skip",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="a run directory per cell, DIR/<cell>: last, best, metrics.jsonl, "
        "row.json (Ctrl-C saves; continue with --resume)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the table saved in --out (scored cells are not retrained)",
    )


def run(args: argparse.Namespace) -> int:
    from ..jobs.runs import launch

    return launch(lambda comm: _run(args, comm))


def _run(args: argparse.Namespace, comm) -> int:
    import signal
    import sys

    from ..experiments.runner import Interrupted, format_json, format_table, run_table
    from ..jobs.runs import agree

    task, settings, options = agree(lambda: _prepare(args, comm), comm)
    try:
        table = run_table(
            task,
            args.cells,
            settings,
            seed=args.seed,
            options=options,
            log=None if args.quiet else sys.stderr,
            comm=comm,
        )
    except Interrupted as e:
        if comm.rank == 0:
            print(
                f"rnnkit: {e}; continue with: rnnkit experiment {args.experiment} ... "
                f"--out {args.out} --resume",
                file=sys.stderr,
            )
        return 128 + int(signal.Signals[e.signal])
    if comm.rank == 0:
        print(format_json(table) if args.json else format_table(table))
    return 0


def _prepare(args: argparse.Namespace, comm):
    """The task, its settings with the flags given, and the run options; ConfigError now
    (a batch of fewer rows than processes too)."""
    from pathlib import Path

    from ..errors import ConfigError
    from ..experiments import get_task
    from ..experiments.cells import check_cells
    from ..experiments.runner import RunOptions, with_overrides

    task = get_task(args.experiment)
    check_cells(args.cells)
    settings = with_overrides(
        task.settings,
        steps=args.steps,
        minutes=args.minutes,
        T=args.T,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer=args.optimizer,
        clip=args.clip,
        parameters=args.parameters,
        eval_every=args.eval_every,
        n_test=args.n_test,
        curriculum=args.curriculum,
    )
    for name in ("steps", "batch_size", "parameters", "eval_every", "n_test"):
        if getattr(settings, name) <= 0:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} must be > 0, got {getattr(settings, name)}")
    if settings.curriculum < 0:
        raise ConfigError(f"--curriculum must be >= 0, got {settings.curriculum}")
    if settings.minutes is not None and not settings.minutes > 0:
        raise ConfigError(f"--minutes must be > 0, got {settings.minutes}")
    if not settings.lr > 0 or not settings.clip >= 0:
        raise ConfigError(
            f"--lr must be > 0 and --clip >= 0, got {settings.lr} and {settings.clip}"
        )
    if comm.size > 1:
        from ..training.distributed import row_range

        row_range(settings.batch_size, comm.rank, comm.size)  # ConfigError if B < K
    if args.resume and not args.out:
        raise ConfigError("--resume continues the table saved in --out DIR: give --out")
    if args.out:
        from ..jobs import runs

        runs.lock(Path(args.out), comm)
        if not args.resume:
            runs.refuse_existing(Path(args.out), overwrite=None)
    options = RunOptions(
        out=None if args.out is None else Path(args.out),
        resume=args.resume,
        on_nonfinite=args.on_nonfinite,
    )
    return task, settings, options
