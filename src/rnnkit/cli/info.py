"""``rnnkit info DIR``: what a saved model is — cell, sizes, parameters, training state."""

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import ModelConfig, RecurrentConfig
    from ..models.conditioned import ConditionedConfig
    from ..models.ffnn import FFNNConfig
    from ..models.seq2seq import Seq2SeqConfig

    SavedConfig = ModelConfig | FFNNConfig | Seq2SeqConfig | ConditionedConfig

SUMMARY = "describe a saved model or run directory"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="run directory or model directory")
    p.add_argument("--json", action="store_true", help="print the description as JSON")


def model_dir(path: str | Path) -> Path:
    """The model directory inside a run directory (best/, else last/), or ``path`` itself."""
    path = Path(path)
    for sub in ("best", "last"):
        if (path / sub).is_dir():
            return path / sub
    return path


def run(args: argparse.Namespace) -> int:
    # out-of-memory and system errors become one line in rnnkit.cli.main
    import json
    import math

    from ..io.model_files import load_with_state

    path = model_dir(args.dir)
    model, state = load_with_state(path)
    c = model.config
    desc: dict[str, Any] = {
        "path": str(path),
        **_shape(c),
        "parameters": model.num_parameters(),
        "dtype": _dtype(c),
        "config": c.to_dict(),
        "parameter_shapes": {n: list(w.shape) for n, w in model.params.items()},
    }
    words = model.meta.get("tokens") == "words"  # a word model (rnnkit train --tokens words)
    if "vocab" in model.meta:
        vocab = model.meta["vocab"]
        if words:
            desc["tokens"] = "words"
        desc["vocabulary_size"] = len(vocab.get("tokens" if words else "chars") or [])
    if state:
        desc["step"] = state.get("step")
        best = state.get("best_val")
        number = isinstance(best, (int, float)) and not isinstance(best, bool)
        bits = best / 0.6931471805599453 if isinstance(best, (int, float)) else None
        if words:
            nats = float(best) if isinstance(best, (int, float)) and number else None
            desc["best_validation_perplexity"] = None if nats is None else math.exp(min(nats, 709))
        else:
            desc["best_validation_bits_per_char"] = bits if number else None
    if args.json:
        print(json.dumps(desc, indent=2))
        return 0
    print(f"{path}: {_headline(c)}, {desc['parameters']:,} parameters, {_dtype(c)}")
    keys = ("tokens", "vocabulary_size", "step", "best_validation_bits_per_char")
    for key in (*keys, "best_validation_perplexity"):
        if desc.get(key) is not None:
            print(f"  {key.replace('_', ' ')}: {desc[key]}")
    for name, shape in desc["parameter_shapes"].items():
        print(f"  {name:<28} {shape}")
    return 0


def _dtype(c: "SavedConfig") -> str:
    """The parameters' dtype (a conditioned model's is its recurrent model's)."""
    from ..models.conditioned import ConditionedConfig

    return c.model.dtype if isinstance(c, ConditionedConfig) else c.dtype


def _recurrent(c: "ModelConfig | Seq2SeqConfig | ConditionedConfig") -> "RecurrentConfig":
    """The recurrent layer's config (a sequence-to-sequence model's encoder and decoder share
    it; a conditioned model's is its recurrent model's)."""
    from ..models.conditioned import ConditionedConfig
    from ..models.seq2seq import Seq2SeqConfig

    if isinstance(c, Seq2SeqConfig):
        return c.rnn()
    if isinstance(c, ConditionedConfig):
        return c.model.rnn
    return c.rnn


def _shape(c: "SavedConfig") -> dict[str, Any]:
    """Cell and sizes: the recurrent layer's, or the feed-forward baseline's window and layers."""
    from ..models.ffnn import FFNNConfig

    if isinstance(c, FFNNConfig):
        return {
            "cell": c.cell,
            "window": c.window,
            "hidden_sizes": list(c.hidden_sizes),
            "activation": c.activation,
        }
    rnn = _recurrent(c)
    return {
        "cell": rnn.cell,
        "hidden_size": rnn.hidden_size,
        "num_layers": rnn.num_layers,
        "bidirectional": rnn.bidirectional,
    }


def _headline(c: "SavedConfig") -> str:
    from ..models.ffnn import FFNNConfig

    if isinstance(c, FFNNConfig):
        return (
            f"ffnn (feed-forward baseline), window {c.window}, hidden layers "
            f"{list(c.hidden_sizes)} ({c.activation})"
        )
    rnn = _recurrent(c)
    return (
        f"{rnn.cell}, {rnn.num_layers} layer(s) of {rnn.hidden_size}"
        f"{' x2 directions' if rnn.bidirectional else ''}"
    )
