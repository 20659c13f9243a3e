"""A soak run: many training steps of a small character model with resident memory sampled.

    python -m rnnkit.bench.soak [--steps 10000] [--every 500]

Runs the whole loop — truncated BPTT, clipping, Adam, evaluation, samples, ``last`` and
``best`` checkpoints into a temporary run directory — and prints the resident set size
(from ``/proc/self/statm``) every ``--every`` steps, then the first and last figures.  A leak
shows as a climb; the memory must stay flat after the first samples.  Exit status 1 if it
grew by more than ``--max-growth-mb`` between the first sample and the end.
"""

import argparse
import io
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..jobs.charmodel import start_run


def resident_mb() -> float:
    """This process's resident set size in MB (Linux ``/proc/self/statm``; else peak RSS)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _corpus(path: Path, rng: np.random.Generator) -> None:
    words = ["def", "return", "self", "import", "class", "(x)", ":", "\n", "    ", "for", "in"]
    path.write_text(" ".join(rng.choice(words, 20_000)), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m rnnkit.bench.soak", description=__doc__.split("\n")[0]
    )
    p.add_argument("--steps", type=int, default=10_000, help="training steps (default 10000)")
    p.add_argument("--every", type=int, default=500, help="sample memory every N steps")
    p.add_argument(
        "--max-growth-mb",
        type=float,
        default=10.0,
        help="exit 1 if memory grew more than this after the first sample",
    )
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        _corpus(corpus, np.random.default_rng(0))
        from ..config import TrainConfig

        config = TrainConfig(
            steps=args.every,
            batch_size=4,
            seq_len=16,
            eval_every=250,
            eval_chars=500,
            sample_every=1000,
            sample_length=50,
            checkpoint_every=500,
        )
        run = start_run(
            [str(corpus)], 0, {"cell": "lstm", "hidden_size": 32}, config, Path(tmp) / "run"
        )
        samples, start = [], time.monotonic()
        for done in range(args.every, args.steps + args.every, args.every):
            run.config = replace(config, steps=min(done, args.steps))
            result = run.fit(io.StringIO(), io.StringIO(), time.monotonic)
            samples.append((run.engine.step, resident_mb()))
            print(
                f"step {run.engine.step:6d}  resident {samples[-1][1]:8.1f} MB  "
                f"{time.monotonic() - start:7.1f} s",
                flush=True,
            )
            if run.engine.step >= args.steps or result["stopped_by"]:
                break
    (first_step, first), (last_step, last) = samples[0], samples[-1]
    print(
        f"resident memory: {first:.1f} MB at step {first_step}, {last:.1f} MB at step "
        f"{last_step} ({last - first:+.1f} MB)"
    )
    return 1 if last - first > args.max_growth_mb else 0


if __name__ == "__main__":
    sys.exit(main())
