"""``rnnkit bench``: time rnnkit against PyTorch, JAX, onnxruntime and the GEMM floor.

Run it with the BLAS kernel variables unset for that command alone, as a user's machine has
them: ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE rnnkit bench``.
"""

import argparse
import sys

SUMMARY = "benchmark training, streaming and inference against PyTorch, JAX and onnxruntime"


def _names(allowed: tuple[str, ...]):
    def parse(text: str) -> tuple[str, ...]:
        names = tuple(n.strip() for n in text.split(",") if n.strip())
        bad = [n for n in names if n not in allowed]
        if bad or not names:
            raise argparse.ArgumentTypeError(
                f"choose from {', '.join(allowed)} (comma-separated), got {text!r}"
            )
        return names

    return parse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..bench import configs, run

    p.add_argument(
        "--configs",
        type=_names(tuple(configs.CONFIGS)),
        default=tuple(configs.CONFIGS),
        help="training configs to run, comma-separated (default: A,B,C,D)",
    )
    p.add_argument(
        "--cells",
        type=_names(configs.CELLS),
        default=configs.CELLS,
        help="cells, comma-separated (default: lstm,gru,elman)",
    )
    p.add_argument(
        "--cold-cells",
        type=_names(configs.COLD_CELLS),
        default=configs.COLD_CELLS,
        help="cells of the cold-start section, comma-separated (default: "
        + ",".join(configs.COLD_CELLS)
        + ")",
    )
    p.add_argument(
        "--peers",
        type=_names(run.PEERS),
        default=run.PEERS,
        help="peers to compare with, comma-separated (default: torch,jax,onnx); "
        "a peer that is not installed is skipped with a note",
    )
    p.add_argument(
        "--sections",
        type=_names(run.SECTIONS),
        default=run.SECTIONS,
        help="sections to run (default: all): " + ", ".join(run.SECTIONS),
    )
    p.add_argument("--reps", type=int, default=7, help="interleaved repetitions (default: 7)")
    p.add_argument(
        "--gap",
        type=float,
        default=0.15,
        help="idle seconds before each timed call (default: 0.15)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, one repetition, no gap: checks the plumbing, not speed",
    )
    p.add_argument(
        "--json", metavar="FILE", help="also write the results as JSON ('-': stdout only)"
    )


def run(args: argparse.Namespace) -> int:
    from ..bench import report
    from ..bench.run import Options
    from ..bench.run import run as run_bench
    from ..errors import ConfigError

    if args.reps < 1 or args.gap < 0:
        raise ConfigError("--reps must be >= 1 and --gap >= 0")
    quick = args.quick
    options = Options(
        configs=args.configs,
        cells=args.cells,
        cold_cells=args.cold_cells,
        peers=args.peers,
        sections=args.sections,
        reps=1 if quick else args.reps,
        gap=0.0 if quick else args.gap,
        quick=quick,
    )
    results = run_bench(options, progress=lambda s: print(s, file=sys.stderr, flush=True))
    if args.json == "-":
        print(report.to_json(results))
        return 0
    print(report.text(results), end="")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(report.to_json(results))
    return 0
