"""The run's training log: one JSON object per update in ``RUN/metrics.jsonl``.

JSON Lines, not CSV: records differ (validation figures appear only where the run
evaluated, a job adds its own), every reader has a JSON parser, and a line cut short by a
kill is recognisable (it does not parse) and dropped.  Each record holds ``step``,
``epoch``, ``time`` (seconds since the run's first start, across resumes), ``loss``,
``lr``, ``grad_norm`` (before clipping), ``positions`` (the targets the loss counted),
``positions_per_s`` and ``nonfinite``; an
evaluated update adds the validation metrics (``val_loss``, …).

Durable like the checkpoints: records are flushed as written and fsynced before each
``last`` checkpoint, so after a kill the log holds every record up to the checkpoint the
run resumes from; resuming drops the records after it (and a cut-off last line), so the
resumed log has no duplicated and no missing steps.
"""

import json
import math
import os
from pathlib import Path
from typing import Any

LOG_NAME = "metrics.jsonl"


class MetricsLog:
    """Appends records to ``run_dir/metrics.jsonl`` (nothing when ``run_dir`` is None); with
    ``keep``, also holds this process's records in ``records``."""

    def __init__(
        self, run_dir: str | Path | None, *, resume_step: int | None = None, keep: bool = False
    ) -> None:
        self.path = None if run_dir is None else Path(run_dir) / LOG_NAME
        self.file = None
        self.records: list[dict[str, Any]] | None = [] if keep else None
        if self.path is None:
            return
        if resume_step is not None and self.path.exists():
            _rewrite(
                self.path, [r for r in read_log(self.path) if r.get("step", 0) <= resume_step]
            )
        elif resume_step is None:
            self.path.unlink(missing_ok=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        if self.records is not None:
            self.records.append(record)
        if self.file is None:
            return
        clean = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in record.items()
        }
        self.file.write(json.dumps(clean, separators=(",", ":")) + "\n")
        self.file.flush()

    def sync(self) -> None:
        """Make every record written so far durable (before a checkpoint that follows them)."""
        if self.file is not None:
            os.fsync(self.file.fileno())

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics log; a line that does not parse (cut by a kill) is skipped."""
    records = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def _rewrite(path: Path, records: list[dict[str, Any]]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
