"""``rnnkit info DIR``: what a run or a saved model is.

A run directory: its job, the network that predicts, and for each network the step of
``last`` and of ``best`` (with the best validation figure), the options the run was started
with, and its metrics log (records, last step, last training loss, last validation figures);
then the predicting network as below.  A model directory: cell, sizes, parameters, dtype,
training state, parameter shapes.
"""

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import ModelConfig, RecurrentConfig
    from ..models.conditioned import ConditionedConfig
    from ..models.ffnn import FFNNConfig
    from ..models.seq2seq import Seq2SeqConfig

    SavedConfig = ModelConfig | FFNNConfig | Seq2SeqConfig | ConditionedConfig

SUMMARY = "describe a run (job, options, checkpoints, metrics) or a model"


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

    run = describe_run(Path(args.dir))
    path = model_dir(args.dir) if run is None else run["source"]
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
        metrics = state.get("metrics")  # a best checkpoint's validation figures
        best = metrics.get("val_loss") if isinstance(metrics, dict) else state.get("best_val")
        number = isinstance(best, (int, float)) and not isinstance(best, bool)
        bits = best / 0.6931471805599453 if isinstance(best, (int, float)) else None
        if words:
            nats = float(best) if isinstance(best, (int, float)) and number else None
            desc["best_validation_perplexity"] = None if nats is None else math.exp(min(nats, 709))
        else:
            desc["best_validation_bits_per_char"] = bits if number else None
    if args.json:
        print(json.dumps(desc if run is None else {"run": run, "model": desc}, indent=2))
        return 0
    if run is not None:
        _print_run(run)
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


def describe_run(out: Path) -> dict[str, Any] | None:
    """What ``out`` holds as a run (None: it is no run directory): job, the checkpoint that
    predicts, and each network's checkpoints, options and metrics log."""
    from ..io.model_files import load as load_model
    from ..jobs.predicting import checkpoint_of
    from ..jobs.runs import networks

    found = [] if (out / "config.json").is_file() else networks(out)
    if not found:
        return None
    source = checkpoint_of(out)
    return {
        "run": str(out),
        "job": load_model(source).meta.get("job"),
        "source": str(source),
        "networks": [_network(out, d) for d in found],
    }


def _network(out: Path, d: Path) -> dict[str, Any]:
    """One network's run: the step of ``last`` and ``best``, its options, its metrics log."""
    import os

    from ..io.checkpoint import read_checkpoint
    from ..training.metrics import LOG_NAME, read_log

    entry: dict[str, Any] = {"name": "." if d == out else d.name}
    for link in ("last", "best"):
        state: Any = None
        if (d / link).exists():
            state = read_checkpoint(d / link).extra
        elif os.path.lexists(d / link):
            entry[f"{link}_missing"] = os.readlink(d / link)
        state = state if isinstance(state, dict) else {}
        entry[f"{link}_step"] = state.get("step")
        if link == "last":
            entry["options"] = state.get("job")
        else:
            metrics = state.get("metrics")
            entry["best_validation"] = metrics if isinstance(metrics, dict) else {}
    records = read_log(d / LOG_NAME) if (d / LOG_NAME).is_file() else []
    last = records[-1] if records else {}
    evaluated = [r for r in records if any(k.startswith("val_") for k in r)]
    entry["metrics"] = {
        "records": len(records),
        "last_step": last.get("step"),
        "last_loss": last.get("loss"),
        "last_validation": (
            {k: v for k, v in evaluated[-1].items() if k.startswith("val_")} if evaluated else {}
        ),
    }
    return entry


def _print_run(run: dict[str, Any]) -> None:
    """The run's job, then each network's checkpoints and log, then the options (once when
    every network was started with the same)."""
    job = run["job"] or "(unknown job)"
    print(f"{run['run']}: a run of rnnkit {job}; predicts with {run['source']}")
    for n in run["networks"]:
        m = n["metrics"]
        val = _figures(m["last_validation"])
        print(
            f"  {n['name']}: last {_step(n, 'last')}, best {_step(n, 'best')}"
            + (f" ({_figures(n['best_validation'])})" if n["best_validation"] else "")
            + f"; metrics.jsonl {m['records']} records"
            + (f", to step {m['last_step']}, loss {m['last_loss']:.6g}" if m["records"] else "")
            + (f", last validation: {val}" if val else "")
        )
    options = [_flat(n["options"] or {}) for n in run["networks"]]
    shared = all(o == options[0] for o in options)
    for n, own in zip(run["networks"], options[:1] if shared else options, strict=False):
        print("  options:" if shared else f"  options of {n['name']}:")
        for k, v in own.items():
            print(f"    {k} = {v}")


def _step(network: dict[str, Any], link: str) -> str:
    """``at step N``, or why there is no such checkpoint."""
    if f"{link}_missing" in network:
        return f"missing (points to {network[f'{link}_missing']})"
    step = network[f"{link}_step"]
    return "none" if step is None else f"at step {step}"


def _figures(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.6g}" for k, v in metrics.items() if _number(v))


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
