"""``rnnkit info DIR``: what a saved model is — cell, sizes, parameters, training state."""

import argparse
from pathlib import Path

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

    from ..io.model_files import load_with_state

    path = model_dir(args.dir)
    model, state = load_with_state(path)
    c = model.config
    desc = {
        "path": str(path),
        **_shape(c),
        "parameters": model.num_parameters(),
        "dtype": c.dtype,
        "config": c.to_dict(),
        "parameter_shapes": {n: list(w.shape) for n, w in model.params.items()},
    }
    if "vocab" in model.meta:
        desc["vocabulary_size"] = len(model.meta["vocab"]["chars"])
    if state:
        desc["step"] = state.get("step")
        best = state.get("best_val")
        number = isinstance(best, (int, float)) and not isinstance(best, bool)
        desc["best_validation_bits_per_char"] = best / 0.6931471805599453 if number else None
    if args.json:
        print(json.dumps(desc, indent=2))
        return 0
    print(f"{path}: {_headline(c)}, {desc['parameters']:,} parameters, {c.dtype}")
    for key in ("vocabulary_size", "step", "best_validation_bits_per_char"):
        if desc.get(key) is not None:
            print(f"  {key.replace('_', ' ')}: {desc[key]}")
    for name, shape in desc["parameter_shapes"].items():
        print(f"  {name:<28} {shape}")
    return 0


def _shape(c) -> dict:
    """Cell and sizes: the recurrent layer's, or the feed-forward baseline's window and layers."""
    from ..models.ffnn import FFNNConfig

    if isinstance(c, FFNNConfig):
        return {
            "cell": c.cell,
            "window": c.window,
            "hidden_sizes": list(c.hidden_sizes),
            "activation": c.activation,
        }
    return {
        "cell": c.rnn.cell,
        "hidden_size": c.rnn.hidden_size,
        "num_layers": c.rnn.num_layers,
        "bidirectional": c.rnn.bidirectional,
    }


def _headline(c) -> str:
    from ..models.ffnn import FFNNConfig

    if isinstance(c, FFNNConfig):
        return (
            f"ffnn (feed-forward baseline), window {c.window}, hidden layers "
            f"{list(c.hidden_sizes)} ({c.activation})"
        )
    return (
        f"{c.rnn.cell}, {c.rnn.num_layers} layer(s) of {c.rnn.hidden_size}"
        f"{' x2 directions' if c.rnn.bidirectional else ''}"
    )
