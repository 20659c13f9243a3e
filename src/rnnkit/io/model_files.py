"""``rnnkit.save(model, DIR)`` and ``rnnkit.load(DIR)``: a model as a checkpoint directory.

The directory holds the parameters (safetensors, under their PyTorch-style names, with a
SHA-256 of the tensors) and ``config.json`` (the model config and its metadata, e.g. the
vocabulary).  ``config.json`` names the model's kind (``KINDS``): ``"kind": "ffnn"`` for the
feed-forward baseline (``rnnkit.models.ffnn.FFNN``), ``"seq2seq"`` for an encoder–decoder
(``rnnkit.models.seq2seq.Seq2Seq``), ``"conditioned"`` for a model started from a condition
(``rnnkit.models.conditioned.Conditioned``); a recurrent ``Model`` writes no kind (older
directories have none either), so ``load`` returns whichever was saved.  Files
are written atomically; loading validates names, shapes, dtypes and the hash, and never
executes anything from the files.

A training run keeps its checkpoints in a run directory::

    RUN/last -> checkpoints/last-00000500-3f2a9c1e     (symbolic links)
    RUN/best -> checkpoints/best-00000400-77b01d2c
    RUN/checkpoints/...                                  complete checkpoint directories

``save_in_run`` writes each new checkpoint to a directory of its own and, only once every
file of it is on disk, switches the link in one atomic step (``atomic.point_atomic``).  So
``RUN/last`` is at every moment the previous complete checkpoint or the new one: a crash,
a kill or a full disk during a write leaves the previous one in place.  Directories no
link refers to any more (the superseded ones, or the remains of an interrupted write) are
removed after each switch.
"""

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ModelConfig
from ..errors import CheckpointError, RnnkitError
from ..models.conditioned import Conditioned, ConditionedConfig
from ..models.ffnn import CELL_NAME as FFNN_KIND
from ..models.ffnn import FFNN, FFNNConfig
from ..models.model import Model
from ..models.seq2seq import Seq2Seq, Seq2SeqConfig
from .atomic import point_atomic
from .checkpoint import read_checkpoint, validate_tensors, write_checkpoint

CHECKPOINTS = "checkpoints"
"""The folder of a run directory that holds the checkpoint directories its links point at."""

KINDS: dict[str, tuple[type, Any]] = {
    "recurrent": (Model, ModelConfig),
    FFNN_KIND: (FFNN, FFNNConfig),
    "seq2seq": (Seq2Seq, Seq2SeqConfig),
    "conditioned": (Conditioned, ConditionedConfig),
}
"""``kind`` in config.json → (model class, its config class with ``from_dict``).  Each model
is built as ``cls(config, rng=, meta=)`` and has ``config.to_dict()``, ``meta``,
``state_dict()`` and ``load_state_dict()``."""

Saved = Model | FFNN | Seq2Seq | Conditioned


def save(model: Saved, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (and optional training state ``extra``) to ``directory``."""
    config: dict[str, Any] = {"model": model.config.to_dict(), "meta": model.meta}
    kind = next((k for k, (cls, _) in KINDS.items() if type(model) is cls), None)
    if kind is None:
        raise RnnkitError(f"cannot save a {type(model).__name__}: not an rnnkit model")
    if kind != "recurrent":
        config = {"kind": kind, **config}
    return write_checkpoint(directory, model.state_dict(), config, extra)


def load(directory: str | Path) -> Saved:
    """The model saved in ``directory``, checked against its own config."""
    return load_with_state(directory)[0]


load_model = load
"""``rnnkit.load_model``: the network of a checkpoint directory (``rnnkit.load`` gives a run's
predictor)."""


def load_with_state(directory: str | Path) -> tuple[Saved, dict[str, Any] | None]:
    """(model, training state saved beside it or None)."""
    ckpt = read_checkpoint(directory)
    _refuse_headed_jordan(ckpt.config, ckpt.tensors, directory)
    try:
        meta = ckpt.config.get("meta", {})
        if not isinstance(meta, dict):
            raise TypeError("meta is not an object")
        skeleton = _skeleton(ckpt.config.get("kind", "recurrent"), ckpt.config["model"], meta)
    except (KeyError, TypeError, ValueError, AttributeError, RnnkitError) as e:
        raise CheckpointError(
            f"{directory}: config.json does not describe an rnnkit model ({e})"
        ) from None
    expected = {n: (w.shape, w.dtype) for n, w in skeleton.params.items()}
    validate_tensors(ckpt.tensors, expected, str(Path(directory) / "model.safetensors"))
    skeleton.load_state_dict(ckpt.tensors)
    return skeleton, ckpt.extra


def _refuse_headed_jordan(config: Any, tensors: dict[str, np.ndarray], directory) -> None:
    """CheckpointError for a Jordan model saved with a ``head`` over its layer's output.

    Such a model fed back an internal linear map of its hidden state, which no loss saw; a
    Jordan model now feeds back its own output, the readout.  The saved weights define no
    such model (a head cannot be folded into the recurrence), so they are refused.
    """
    try:
        cell = config["model"]["rnn"]["cell"]
    except (KeyError, TypeError):
        return  # not a recurrent model's config: the checks after this report it
    if cell == "jordan" and "head.weight" in tensors:
        raise CheckpointError(
            f"{directory}: a Jordan model saved with a separate head.weight/head.bias readout "
            "over an internal output layer; rnnkit's Jordan model now feeds back its own "
            "output, which these weights do not define: train the model again"
        )


def _skeleton(kind: Any, config: Any, meta: dict[str, Any]) -> Saved:
    """An initialised model of the saved kind and config, to receive the saved tensors."""
    if not isinstance(kind, str) or kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}")
    if not isinstance(config, dict):
        raise TypeError(f"the {kind} config is not an object")
    cls, config_cls = KINDS[kind]
    return cls(config_cls.from_dict(config), rng=np.random.default_rng(0), meta=meta)


# ----------------------------------------------------------------------------- run directories


def save_in_run(
    model: Saved, run_dir: str | Path, name: str, step: int, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (+ ``extra``) as a new checkpoint and point ``run_dir/name`` at it.

    Returns the link.  If the write fails (``CheckpointError``: a full disk, a NaN tensor)
    the new directory is removed and the link keeps pointing at the previous checkpoint.
    A real directory at ``run_dir/name`` (written by ``save``) is first moved into
    ``run_dir/checkpoints`` and replaced by the link.
    """
    run_dir = Path(run_dir)
    store = run_dir / CHECKPOINTS
    folder = store / f"{name}-{step:08d}-{secrets.token_hex(4)}"
    try:
        save(model, folder, extra)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    link = run_dir / name
    try:
        if link.is_dir() and not link.is_symlink():
            os.replace(link, store / f"{name}-adopted-{secrets.token_hex(4)}")
        point_atomic(link, f"{CHECKPOINTS}/{folder.name}")
    except OSError as e:
        if not _points_at(link, folder):  # else the switch happened; only its fsync failed
            shutil.rmtree(folder, ignore_errors=True)
        remove_unlinked(run_dir)
        raise CheckpointError(
            f"{link}: could not switch to the new checkpoint ({e}); "
            "check the run directory's permissions and free space"
        ) from e
    remove_unlinked(run_dir)
    return link


def _points_at(link: Path, folder: Path) -> bool:
    return link.is_symlink() and Path(os.readlink(link)).name == folder.name


def remove_unlinked(run_dir: str | Path) -> None:
    """Delete the checkpoint directories of ``run_dir`` that no link of it points at.

    Also deletes temporary links left by an interrupted switch.  Best effort: a directory
    that cannot be removed is left for the next call.
    """
    with contextlib.suppress(OSError):
        _remove_unlinked(Path(run_dir), Path(run_dir) / CHECKPOINTS)


def _remove_unlinked(run_dir: Path, store: Path) -> None:
    if not store.is_dir():
        return
    kept = set()
    for entry in run_dir.iterdir():
        if entry.is_symlink():
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)
                continue
            target = Path(os.readlink(entry))
            if target.parent == Path(CHECKPOINTS):
                kept.add(target.name)
    for folder in store.iterdir():
        if folder.name not in kept:
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    folder.unlink()


def check_output_dir(run_dir: str | Path, need_bytes: int) -> None:
    """CheckpointError now, before training, if ``run_dir`` cannot take the run's checkpoints.

    Creates ``run_dir``, writes, fsyncs and removes a probe file there (a read-only or full
    file system fails here), and compares ``need_bytes`` with the free space.
    """
    run_dir = Path(run_dir)
    probe = run_dir / f".write-probe-{secrets.token_hex(4)}"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(b"rnnkit")
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as e:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
        raise CheckpointError(
            f"{run_dir}: cannot write checkpoints there "
            f"({e.strerror or e}); choose another --out, fix its "
            "permissions or free some disk space"
        ) from None
    free = shutil.disk_usage(run_dir).free
    if free < need_bytes:
        raise CheckpointError(
            f"{run_dir}: {free / 1e6:.1f} MB free, but the run's checkpoints need about "
            f"{need_bytes / 1e6:.1f} MB; free some disk space or choose another --out"
        )


def clear_run(run_dir: str | Path) -> None:
    """Remove the run in ``run_dir`` (its ``last`` and ``best`` and their checkpoints)."""
    run_dir = Path(run_dir)
    for name in ("last", "best"):
        link = run_dir / name
        if link.is_symlink() or link.is_file():
            link.unlink()
        elif link.is_dir():
            shutil.rmtree(link)
    remove_unlinked(run_dir)
