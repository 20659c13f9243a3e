"""What a trained run predicts: one verb for every job (``rnnkit predict RUN INPUT``).

A job writes what prediction needs into the network's ``meta`` before training, so every
checkpoint of the run (``last``, ``best``) carries it and a copied checkpoint predicts alone::

    model.meta["job"] = "classify"                      the job's name (a key of PREDICTORS)
    model.meta["preprocessing"] = {...}                 the job's own: scaler fitted on the
                                                        training part, class labels in order,
                                                        channel names, lookback, vocabulary…

A run that trains several networks names the one that predicts in ``RUN/run.json``
(``{"job": ..., "predicts": "gru"}``, written by ``write_manifest``); a run of one network
needs no manifest.

Each job module named in ``PREDICTORS`` has ``predictor(model, source) -> Predictor``, where
``source`` is the checkpoint directory it came from.  A predictor has the job's own Python
methods (``predict_proba``, ``forecast``, …) and ``predict_file(path, **options) -> Table``,
what the command prints.
"""

import csv
import json
import math
import sys
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import Any, Protocol, TextIO

from ..errors import CheckpointError, ConfigError

PREDICTORS = {
    "train": "rnnkit.jobs.charmodel",
    "classify": "rnnkit.jobs.classify",
    "forecast": "rnnkit.jobs.forecast",
    "seq2seq": "rnnkit.jobs.seq2seq",
    "one-to-many": "rnnkit.jobs.one_to_many",
    "estimator": "rnnkit.jobs.estimators",
    "experiment": "rnnkit.experiments.prediction",
}
"""A job's name (``meta["job"]``) → the module whose ``predictor(model, source)`` predicts."""

MANIFEST = "run.json"
"""The file of a run directory naming its job and the network that predicts."""


@dataclass(frozen=True)
class Table:
    """A prediction as rows: ``columns`` names them; ``notes`` say how it was made (e.g. where
    the intervals come from), printed on stderr and carried in the JSON."""

    columns: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)

    def write_csv(self, stream: TextIO) -> None:
        w = csv.writer(stream, lineterminator="\n")
        w.writerow(self.columns)
        w.writerows([[_cell(v) for v in row] for row in self.rows])

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "rows": [dict(zip(self.columns, row, strict=True)) for row in self.rows],
            "notes": self.notes,
        }


def _cell(v: Any) -> Any:
    """A CSV cell: floats at full precision (repr), NaN as empty."""
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return v


class Predictor(Protocol):
    job: str
    source: Path

    def predict_file(self, path: str | Path, **options: Any) -> Table: ...


def write_manifest(out: str | Path, job: str, predicts: str | None) -> None:
    """``RUN/run.json``: the run's job and the network below it that predicts (None: ``RUN``
    itself), written atomically (rank 0's caller only)."""
    from ..io.atomic import write_atomic

    text = json.dumps({"job": job, "predicts": predicts}, indent=2) + "\n"
    write_atomic(Path(out) / MANIFEST, text.encode())


def checkpoint_of(path: str | Path, which: str = "best") -> Path:
    """The checkpoint directory that predicts for ``path``: a run's ``which`` (``best``, or
    ``last``; ``best`` falls back to ``last`` when no validation chose one), in the network
    the manifest names; or ``path`` itself when it is a checkpoint."""
    if which not in ("best", "last"):
        raise ConfigError(f"which must be 'best' or 'last', got {which!r}")
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such run or model directory")
    if (path / "config.json").is_file():
        return path
    network = path
    manifest = path / MANIFEST
    if manifest.is_file():
        try:
            predicts = json.loads(manifest.read_text())["predicts"]
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{manifest}: not a run manifest ({e})") from None
        network = path if predicts is None else path / str(predicts)
    else:
        from .runs import networks

        found = networks(path)
        if len(found) > 1 and found[0] != path:
            names = ", ".join(d.name for d in found)
            raise CheckpointError(
                f"{path} holds several networks ({names}) and no {MANIFEST} naming the one "
                f"that predicts; give one of them, e.g. {found[0]}"
            )
        if found:
            network = found[0]
    for sub in (which, "last") if which == "best" else (which,):
        if (network / sub / "config.json").is_file():
            return network / sub
    raise CheckpointError(f"{network} holds no complete checkpoint ({which}) to predict with")


def predictor_of(path: str | Path, which: str = "best") -> Predictor:
    """The predictor of the run (or checkpoint) in ``path``: its job's, built from the
    checkpoint ``which`` names (see ``checkpoint_of``)."""
    from ..io.model_files import load as load_model

    source = checkpoint_of(path, which)
    model = load_model(source)
    job = model.meta.get("job")
    if job not in PREDICTORS:
        known = ", ".join(PREDICTORS)
        raise CheckpointError(
            f"{source} was not saved by a job that predicts ({known}); "
            "train it again with this version of rnnkit, or load the network alone "
            "with rnnkit.load_model"
        )
    return import_module(PREDICTORS[job]).predictor(model, source)


def load(path: str | Path, which: str = "best") -> Any:
    """``rnnkit.load``: a run directory gives its job's predictor (``predictor_of``: the
    ``best`` checkpoint, or ``which="last"``); a checkpoint directory (``RUN/best``, or one
    ``rnnkit.save`` wrote) gives the network itself, as ``rnnkit.load_model`` does."""
    path = Path(path)
    if (path / "config.json").is_file():
        from ..io.model_files import load as load_model

        return load_model(path)
    return predictor_of(path, which)


def read_lines(path: str | Path) -> list[tuple[int, str]]:
    """(line number, text) of each line of a UTF-8 text file that is not blank."""
    from ..errors import DataError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text (byte {e.start})") from None
    lines = [(k, line) for k, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise DataError(f"{path}: no input lines")
    return lines


def print_table(table: Table, *, as_json: bool, out: TextIO | None = None) -> None:
    """The table as CSV (or JSON) on ``out`` (None: stdout); its notes on stderr when
    printing CSV."""
    out = sys.stdout if out is None else out
    if as_json:
        json.dump(table.to_json(), out, indent=2)
        out.write("\n")
        return
    for note in table.notes:
        print(f"rnnkit: {note}", file=sys.stderr)
    table.write_csv(out)
