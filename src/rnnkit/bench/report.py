"""Tables and JSON of the benchmark's results: medians (min, max) and ratios."""

import json
import math
from typing import Any

from .timing import Summary

PEER_ORDER = ("rnnkit", "torch", "jax", "onnx", "floor")


def _cell(s: Summary | None, scale: float, digits: int) -> str:
    if s is None:
        return "—"
    return (
        f"{s.median * scale:.{digits}f} ({s.min * scale:.{digits}f}, {s.max * scale:.{digits}f})"
    )


def _best_peer(times: dict[str, Summary]) -> tuple[str, float] | None:
    peers = [(n, s.median) for n, s in times.items() if n not in ("rnnkit", "floor")]
    return min(peers, key=lambda p: p[1]) if peers else None


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}×"


def _table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    rule = "  ".join("-" * w for w in widths)
    return "\n".join([title, line(header), rule, *map(line, rows)])


def _timing_rows(rows: list[dict], keys: list[str], scale: float, digits: int, floor: bool):
    impls = [p for p in PEER_ORDER if any(p in r["times"] for r in rows)]
    header = keys + impls + ["ours/best peer"] + (["ours/floor"] if floor else [])
    out = []
    for r in rows:
        t = r["times"]
        ours = t["rnnkit"].median if "rnnkit" in t else None
        best = _best_peer(t)
        cells = [str(r[k]) for k in keys] + [_cell(t.get(p), scale, digits) for p in impls]
        cells.append(f"{_ratio(ours, best[1])} ({best[0]})" if best else "—")
        if floor:
            cells.append(_ratio(ours, t["floor"].median if "floor" in t else None))
        out.append(cells)
    return header, out


def text(results: dict[str, Any]) -> str:
    """The human-readable report."""
    m = results["machine"]
    parts = [
        f"machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, NumPy {m['numpy']}",
        f"BLAS: {m['blas']}",
        "env: "
        + ", ".join(f"{k}={v}" for k, v in m["env"].items() if v is not None)
        + ("" if any(v is not None for v in m["env"].values()) else "no BLAS variables set"),
    ]
    if "heap" in m:  # results saved before the heap setting have no entry
        parts.append(f"heap: {m['heap']}")
    if "train" in results:
        h, rows = _timing_rows(results["train"], ["config", "cell"], 1e3, 1, floor=True)
        parts.append(_table("training step, ms: median (min, max)", h, rows))
    if "layer" in results:
        h, rows = _timing_rows(results["layer"], ["cell"], 1e3, 1, floor=True)
        title = (
            "recurrent layer alone (B=32, T=100, I=96, H=128, 2 layers, vectors), forward + BPTT"
        )
        parts.append(_table(title + ", ms: median (min, max)", h, rows))
    if "stream" in results:
        h, rows = _timing_rows(results["stream"], ["cell"], 1e6, 1, floor=False)
        parts.append(_table("streaming step (B=1, readout), µs: median (min, max)", h, rows))
    if "infer" in results:
        h, rows = _timing_rows(results["infer"], ["config", "cell"], 1e3, 2, floor=False)
        parts.append(_table("whole-sequence inference, ms: median (min, max)", h, rows))
    if "scale" in results:
        h, rows = _timing_rows(results["scale"], ["axis", "value", "cell"], 1e3, 1, floor=True)
        parts.append(_table("scaling (LSTM, config A sizes), ms per step", h, rows))
    if "memory" in results:
        impls = sorted({k for r in results["memory"] for k in r["bytes"]})
        rows = [
            [str(r["T"])]
            + [f"{r['bytes'][k] / 2**20:.1f}" if k in r["bytes"] else "—" for k in impls]
            for r in results["memory"]
        ]
        parts.append(
            _table(
                "peak memory of a step (LSTM, config A sizes), MiB "
                "(rnnkit: tracemalloc; torch: resident-set growth)",
                ["T", *impls],
                rows,
            )
        )
    if "cold" in results:
        parts.extend(_cold(results["cold"]))
    for note in results.get("notes", []):
        parts.append(f"note: {note}")
    return "\n\n".join(parts) + "\n"


def _cold(c: dict[str, Any]) -> list[str]:
    """The cold-start lines: ``rnnkit --help``, and a table of new processes per cell."""
    first = c["first_step"]
    if isinstance(first, dict):  # results saved before configs B: config A, keyed by cell
        first = [{"config": "A", "cell": cell, **d} for cell, d in first.items()]
    rows = []
    for d in first:
        r = d.get("ratio")  # results saved before the per-process ratios have none
        spread = f"{r['median']:.2f}× ({r['min']:.2f}, {r['max']:.2f})" if r else "—"
        rows.append(
            [
                d["config"],
                d["cell"],
                f"{d['setup_s']:.2f}",
                f"{d['first_s'] * 1e3:.1f}",
                f"{d['steady_s'] * 1e3:.1f}",
                _ratio(d["first_s"], d["steady_s"]),
                spread,
            ]
        )
    header = ["config", "cell", "import+setup s", "first step ms", "steady ms", "first/steady"]
    title = f"new process (medians of {c.get('processes', 1)} processes)"
    return [
        f"cold start: rnnkit --help {c['help_s']:.3f} s",
        _table(title, [*header, "per process: median (min, max)"], rows),
    ]


def to_json(results: dict[str, Any]) -> str:
    """The results as JSON (timings in seconds)."""

    return json.dumps(_plain(results), indent=2)


def _plain(o: Any) -> Any:
    """Summaries as dicts, tuples as lists, non-finite floats as null."""
    if isinstance(o, Summary):
        return o.as_dict()
    if isinstance(o, dict):
        return {str(k): _plain(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_plain(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o
