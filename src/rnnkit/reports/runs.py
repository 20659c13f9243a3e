"""What a report shows of a run directory, read without changing it.

``read_run(path)`` → ``Run``: each network's metrics log, saved options and final figures,
the run's result file (``result.json``) and the pictures found in it.  A network whose
``last`` is missing, dangling or unreadable keeps its metrics and says why it has no
options (``Network.note``).

    read_run         a run directory → Run; ConfigError when it holds no run
    read_runs        several, with labels that tell them apart
    network_dirs     the directories of a run that hold a network's log or checkpoints
    flatten          a nested options dict → {"a.b": value}
    differing        the options whose values differ between networks
    final_figures    last step, last train loss, best validation and the last of each
                     validation metric, from the metrics records
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, RnnkitError
from ..training.metrics import LOG_NAME, read_log

RESULT = "result.json"
"""The file of a run directory holding the job's JSON report (see ``rnnkit.reports``)."""

MANIFEST = "run.json"
"""The file naming a multi-network run's job (``jobs.predicting.write_manifest``)."""

PICTURES = (".png", ".svg")
"""The suffixes of the picture files embedded from a run directory."""

MONITOR = "val_loss"
"""The validation figure whose minimum is a network's best (``training.loop``'s monitor)."""


@dataclass
class Network:
    """One network's training: ``records`` from its metrics log (step order), ``options``
    flattened from its ``last`` (None when unreadable, ``note`` says why)."""

    label: str
    path: Path
    records: list[dict[str, Any]]
    options: dict[str, Any] | None
    note: str = ""


@dataclass
class Run:
    """A run directory: its networks, its ``result.json`` (None: none) and picture files."""

    label: str
    path: Path
    networks: list[Network]
    result: dict[str, Any] | None = None
    pictures: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    job: str | None = None


def _holds_network(d: Path) -> bool:
    names = ("last", "best", LOG_NAME)
    return any((d / n).exists() or (d / n).is_symlink() for n in names)


def network_dirs(path: Path) -> list[Path]:
    """``path`` and the directories just below it that hold a ``last``, a ``best`` (even a
    dangling link) or a metrics log."""
    below = sorted(d for d in path.iterdir() if d.is_dir()) if path.is_dir() else []
    return [d for d in [path, *below] if _holds_network(d)]


def read_runs(paths: list[str | Path]) -> list[Run]:
    """The runs in ``paths``, labelled by directory name, or by the path given where two
    names are the same."""
    names = [Path(p).resolve().name or str(p) for p in paths]
    labels = [n if names.count(n) == 1 else str(p) for n, p in zip(names, paths)]
    return [read_run(p, label) for p, label in zip(paths, labels)]


def read_run(path: str | Path, label: str | None = None) -> Run:
    """The run in ``path``; ConfigError naming ``path`` when it holds none."""
    path = Path(path)
    if not path.is_dir():
        raise ConfigError(f"{path}: no such run directory")
    dirs = network_dirs(path)
    if not dirs:
        raise ConfigError(f"{path}: holds no run (no last, best or {LOG_NAME} in it or below it)")
    label = label or path.resolve().name
    run = Run(label=label, path=path, networks=[])
    for d in dirs:
        name = label if d == path else f"{label}/{d.name}"
        run.networks.append(read_network(d, name))
    run.result, note = _read_result(path / RESULT)
    if note:
        run.notes.append(note)
    places = dict.fromkeys([path, *dirs])
    run.pictures = sorted(p for d in places for p in d.iterdir() if _is_picture(p))
    run.job = _job_of(path, run.networks)
    return run


def _is_picture(p: Path) -> bool:
    return p.suffix.lower() in PICTURES and p.is_file() and not p.name.startswith(".")


def read_network(d: Path, label: str) -> Network:
    """One network's log and options (``last``'s ``job`` state and model config)."""
    log = d / LOG_NAME
    records = sorted(read_log(log), key=_step) if log.is_file() else []
    options, note = _read_options(d / "last")
    if not log.is_file():
        note = "; ".join(filter(None, [note, f"no {LOG_NAME}: no curves"]))
    return Network(label=label, path=d, records=records, options=options, note=note)


def _step(record: dict[str, Any]) -> int:
    step = record.get("step")
    return step if isinstance(step, int) else 0


def _read_options(last: Path) -> tuple[dict[str, Any] | None, str]:
    """(flattened options, "") of a ``last`` checkpoint, or (None, why not)."""
    if last.is_symlink() and not last.exists():
        return None, f"{last.name} is a dangling link (to {last.readlink()}): no options"
    if not last.exists():
        return None, f"no {last.name} checkpoint: no options"
    from ..io.checkpoint import read_checkpoint

    try:
        checkpoint = read_checkpoint(last)
    except (RnnkitError, OSError) as e:
        return None, f"{last.name} is unreadable ({e}): no options"
    options: dict[str, Any] = {}
    config = checkpoint.config if isinstance(checkpoint.config, dict) else {}
    meta = config.get("meta") if isinstance(config.get("meta"), dict) else {}
    if isinstance(meta, dict) and isinstance(meta.get("job"), str):
        options["job"] = meta["job"]
    extra = checkpoint.extra if isinstance(checkpoint.extra, dict) else {}
    if isinstance(extra.get("job"), dict):
        options.update(flatten(extra["job"]))
    if "kind" in config:
        options["model.kind"] = config["kind"]
    if isinstance(config.get("model"), dict):
        options.update(flatten(config["model"], "model"))
    return options, ""


def _read_result(path: Path) -> tuple[dict[str, Any] | None, str]:
    if not path.is_file():
        return None, ""
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f"{path.name} is unreadable ({e}); its results are left out"
    if not isinstance(result, dict):
        return None, f"{path.name} holds no JSON object; its results are left out"
    return result, ""


def _job_of(path: Path, networks: list[Network]) -> str | None:
    """The run's job: ``run.json``'s, else a network's saved ``meta["job"]``."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        if isinstance(manifest, dict) and isinstance(manifest.get("job"), str):
            return str(manifest["job"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        pass
    for n in networks:
        if n.options and isinstance(n.options.get("job"), str):
            return str(n.options["job"])
    return None


def flatten(options: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": 2}`` → ``{"a.b": 1, "c": 2}`` (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in options.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, name))
        else:
            flat[name] = value
    return flat


def differing(options: list[dict[str, Any]]) -> list[str]:
    """The option names whose values are not the same in every one of ``options`` (a name
    one of them lacks differs), in the order they first appear; all of them for one."""
    names = list(dict.fromkeys(n for o in options for n in o))
    if len(options) <= 1:
        return names
    missing = object()
    return [n for n in names if len({_key(o.get(n, missing)) for o in options}) > 1]


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)


def final_figures(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What a network's log ends with: ``last_step``, ``last_loss`` (train loss of the last
    update with a finite one), ``best_val_loss`` and ``best_step`` (minimum of
    ``val_loss``), ``time`` (seconds) and the last value of each other ``val_*`` metric
    (``last_val_accuracy``, …).  Figures the log does not hold are left out."""
    figures: dict[str, Any] = {}
    if not records:
        return figures
    figures["last_step"] = records[-1].get("step")
    losses = [r["loss"] for r in records if _finite(r.get("loss"))]
    if losses:
        figures["last_loss"] = losses[-1]
    best = [(r[MONITOR], r.get("step")) for r in records if _finite(r.get(MONITOR))]
    if best:
        value, step = min(best, key=lambda b: b[0])
        figures["best_val_loss"], figures["best_step"] = value, step
    for name in validation_metrics(records):
        values = [r[name] for r in records if _finite(r.get(name))]
        if values:
            figures[f"last_{name}"] = values[-1]
    if _finite(records[-1].get("time")):
        figures["time"] = records[-1]["time"]
    return figures


def validation_metrics(records: list[dict[str, Any]]) -> list[str]:
    """The ``val_*`` names in ``records``, ``val_loss`` first, then in order of appearance."""
    names = dict.fromkeys(k for r in records for k in r if k.startswith("val_"))
    return sorted(names, key=lambda n: n != MONITOR)


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
