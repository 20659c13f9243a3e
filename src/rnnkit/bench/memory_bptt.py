"""Peak memory and time of memory-bounded BPTT against full BPTT.

    python -m rnnkit.bench.memory_bptt [--T 1000 10000 100000] [--batch 32] [--repeats 3]

The workload is a char-model training step: one-hot input I = 96, one LSTM layer of H = 256,
a 96-way readout at every step, cross-entropy, float32, batch B = 32 (``--batch``), for each
length in ``--T``.  For every T it reports

* the peak of memory allocated during one step (``tracemalloc``; NumPy reports its arrays to
  it), for full BPTT and for ``checkpointed_bptt`` with segments of ⌈√T⌉ steps;
* the time of a step: ``--repeats`` pairs of runs, full and checkpointed interleaved (their
  order alternates), and the median of the per-pair ratios, so that load from other processes
  on a shared machine falls on both alike.

Lengths above ``--full-max-T`` skip full BPTT (its estimate is scaled from the longest measured
length) and instead train ``--steps`` steps (checkpointed BPTT, global-norm clipping, Adam) in
a fresh child process, which reports its peak resident memory as well, the figure a 2 GiB
machine must hold.  Results go to stdout as a Markdown table (or JSON), progress to stderr.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from ..config import ModelConfig
from ..models.model import Model
from ..training.bptt import full_bptt
from ..training.memory_bptt import checkpointed_bptt, segment_length
from ..training.optim import clip_grad_norm, make_optimizer

V, H = 96, 256  # one-hot input and readout width; hidden units


def _setup(T: int, B: int, seed: int = 0):
    model = Model(
        ModelConfig.for_tokens(V, cell="lstm", hidden_size=H), rng=np.random.default_rng(seed)
    )
    ids = np.random.default_rng(seed + 1).integers(0, V, (B, T + 1))
    return model, ids[:, :-1], ids[:, 1:]


def _clear_pools() -> None:
    """Drop buffers the fast kernels keep between calls, so each peak starts from nothing."""
    try:
        from ..kernels._workspace import POOL
    except ImportError:
        return
    POOL.clear()


def peak_bytes(fn: Callable[[], object]) -> int:
    """The peak of memory allocated while ``fn`` runs (tracemalloc), in bytes."""
    _clear_pools()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(T: int, B: int, repeats: int, log) -> dict:
    """Peak memory of both and interleaved times of ``repeats`` pairs at length T."""
    model, x, y = _setup(T, B)
    full = lambda: full_bptt(model, x, y)  # noqa: E731
    ck = lambda: checkpointed_bptt(model, x, y)  # noqa: E731
    row: dict[str, float] = {"T": T, "B": B, "segment": segment_length(T)}
    log(f"T={T}: peak memory")
    row["full_peak"], row["ck_peak"] = peak_bytes(full), peak_bytes(ck)
    full_t, ck_t = [], []
    for r in range(repeats):
        log(f"T={T}: timing pair {r + 1}/{repeats}")
        first, second = (full, ck) if r % 2 == 0 else (ck, full)
        a, b = _seconds(first), _seconds(second)
        full_t.append(a if first is full else b)
        ck_t.append(b if first is full else a)
    row["full_s"], row["ck_s"] = statistics.median(full_t), statistics.median(ck_t)
    row["time_ratio"] = statistics.median(c / f for c, f in zip(ck_t, full_t))
    row["memory_ratio"] = row["ck_peak"] / row["full_peak"]
    return row


def train_long(T: int, B: int, steps: int) -> dict:
    """``steps`` training steps at length T with checkpointed BPTT (run in a child process)."""
    model, x, y = _setup(T, B)
    opt = make_optimizer("adam", 2e-3)
    losses, seconds = [], []
    _clear_pools()
    tracemalloc.start()
    for _ in range(steps):
        start = time.perf_counter()
        step = checkpointed_bptt(model, x, y)
        clip_grad_norm(step.grads, 5.0)
        opt.step(model.params, step.grads)
        seconds.append(time.perf_counter() - start)
        losses.append(step.loss)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    return {
        "T": T,
        "B": B,
        "segment": segment_length(T),
        "ck_peak": peak,
        "max_rss": rss,
        "ck_s": statistics.median(seconds),
        "losses": losses,
    }


def _child(T: int, B: int, steps: int) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "rnnkit.bench.memory_bptt",
        "--train-child",
        str(T),
        "--batch",
        str(B),
        "--steps",
        str(steps),
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def _mib(n: float) -> str:
    return f"{n / 2**20:,.1f}"


def table(rows: list[dict]) -> str:
    lines = [
        "| T | B | segment | full BPTT peak MiB | checkpointed peak MiB | memory ratio | "
        "full s/step | checkpointed s/step | time ratio (interleaved) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "full_peak" in r:
            lines.append(
                f"| {r['T']:,} | {r['B']} | {r['segment']} | {_mib(r['full_peak'])} | "
                f"{_mib(r['ck_peak'])} | {r['memory_ratio']:.1%} | {r['full_s']:.2f} | "
                f"{r['ck_s']:.2f} | {r['time_ratio']:.2f}× |"
            )
        else:
            est = f"≈ {_mib(r['full_estimate'])} (scaled)" if "full_estimate" in r else "—"
            lines.append(
                f"| {r['T']:,} | {r['B']} | {r['segment']} | {est} | "
                f"{_mib(r['ck_peak'])} (max RSS {_mib(r['max_rss'])}) | — | — | "
                f"{r['ck_s']:.2f} | — (loss {r['losses'][0]:.4f} → {r['losses'][-1]:.4f})"
                " |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rnnkit.bench.memory_bptt", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--T",
        type=int,
        nargs="+",
        default=[1_000, 10_000, 100_000],
        help="sequence lengths to measure",
    )
    parser.add_argument("--batch", type=int, default=32, help="sequences per batch (B)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timing pairs per T")
    parser.add_argument(
        "--full-max-T",
        type=int,
        default=10_000,
        help="longest T that also runs full BPTT; longer ones train in a child",
    )
    parser.add_argument("--steps", type=int, default=2, help="training steps of the long runs")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--train-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train_child:
        print(json.dumps(train_long(args.train_child, args.batch, args.steps)))
        return 0
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    rows = []
    for T in args.T:
        if T <= args.full_max_T:
            rows.append(measure(T, args.batch, args.repeats, log))
            log(json.dumps(rows[-1]))
            continue
        log(f"T={T}: {args.steps} training steps in a child process")
        row = _child(T, args.batch, args.steps)
        measured = [r for r in rows if "full_peak" in r and r["B"] == args.batch]
        if measured:
            row["full_estimate"] = measured[-1]["full_peak"] * T / measured[-1]["T"]
        rows.append(row)
    print(json.dumps(rows, indent=1) if args.json else table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
