"""``rnnkit.save(model, DIR)`` and ``rnnkit.load(DIR)``: a model as a checkpoint directory.

The directory holds the parameters (safetensors, under their PyTorch-style names, with a
SHA-256 of the tensors) and ``config.json`` (the model config and its metadata, e.g. the
vocabulary).  Files are written atomically; loading validates names, shapes, dtypes and
the hash, and never executes anything from the files.
"""

from pathlib import Path
from typing import Any

import numpy as np

from ..config import ModelConfig
from ..errors import CheckpointError, RnnkitError
from ..model import Model
from .checkpoint import read_checkpoint, validate_tensors, write_checkpoint


def save(model: Model, directory: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (and optional training state ``extra``) to ``directory``."""
    config = {"model": model.config.to_dict(), "meta": model.meta}
    return write_checkpoint(directory, model.state_dict(), config, extra)


def load(directory: str | Path) -> Model:
    """The model saved in ``directory``, checked against its own config."""
    return load_with_state(directory)[0]


def load_with_state(directory: str | Path) -> tuple[Model, dict[str, Any] | None]:
    """(model, training state saved beside it or None)."""
    ckpt = read_checkpoint(directory)
    try:
        config = ModelConfig.from_dict(ckpt.config["model"])
        meta = ckpt.config.get("meta", {})
        skeleton = Model(config, rng=np.random.default_rng(0), meta=meta)
    except (KeyError, TypeError, AttributeError, RnnkitError) as e:
        raise CheckpointError(f"{directory}: config.json does not describe an rnnkit model ({e})") from None
    expected = {n: (w.shape, w.dtype) for n, w in skeleton.params.items()}
    validate_tensors(ckpt.tensors, expected, str(Path(directory) / "model.safetensors"))
    skeleton.load_state_dict(ckpt.tensors)
    return skeleton, ckpt.extra
