"""Run directories made by hand for the report's tests: a metrics log and a ``last``
checkpoint holding options, without training."""

import json
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.io.checkpoint import write_checkpoint


def records(steps: int, *, eval_every: int = 0, lr: float = 1e-3) -> list[dict[str, Any]]:
    """``steps`` records like ``training.metrics``' (loss falling), validation every
    ``eval_every`` steps (0: none)."""
    out = []
    for s in range(1, steps + 1):
        r: dict[str, Any] = {"step": s, "time": 0.1 * s, "loss": 3.0 / s, "lr": lr}
        r["grad_norm"] = 1.0 + s % 3
        if eval_every and s % eval_every == 0:
            r["val_loss"] = 2.0 + 1.0 / s
        out.append(r)
    return out


def make_run(
    path: Path,
    log: list[dict[str, Any]] | None = None,
    options: dict[str, Any] | None = None,
    *,
    hidden_size: int = 8,
    job: str = "train",
) -> Path:
    """``path`` holding ``log`` as its metrics.jsonl (None: none) and, with ``options``, a
    ``last`` link to a checkpoint whose state holds them (as a job's run does)."""
    path.mkdir(parents=True, exist_ok=True)
    if log is not None:
        lines = [json.dumps(r) for r in log]
        (path / "metrics.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if options is not None:
        target = path / "checkpoints" / "last-00000001-00000000"
        config = {
            "model": {"rnn": {"cell": "gru", "hidden_size": hidden_size}, "dtype": "float32"},
            "meta": {"job": job, "vocab": {"chars": ["a", "b"]}},
        }
        extra = {"step": 1, "job": options}
        write_checkpoint(target, {"w": np.zeros(2, np.float32)}, config, extra)
        (path / "last").symlink_to(target.relative_to(path))
    return path
