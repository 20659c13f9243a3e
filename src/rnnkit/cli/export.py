"""``rnnkit export onnx|torch DIR --out PATH``: a saved model for other runtimes.

``onnx`` writes one ``.onnx`` file on ONNX's own RNN/LSTM/GRU operators (Jordan and fully
recurrent cells as a Scan; layer-normalised cells are refused), batch-first inputs ``x``
and ``lengths``; ``--verify`` runs it in onnxruntime on random inputs and prints the largest
difference from rnnkit.  ``torch`` writes a directory: the state dict (safetensors), the
config, and ``rnnkit_model.py``, a module definition that needs only torch.  DIR is a model
directory or a run directory (its ``best/`` model, else ``last/``).
"""

import argparse

SUMMARY = "export a saved model to ONNX (one file) or PyTorch (state dict + module definition)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("format", choices=("onnx", "torch"), help="onnx | torch")
    p.add_argument("dir", help="run directory (uses best/, else last/) or model directory")
    p.add_argument(
        "--out",
        required=True,
        help="onnx: the file to write (.onnx); torch: the directory to write",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    o = p.add_argument_group("onnx")
    o.add_argument("--opset", type=int, default=21, help="ONNX opset, 14..26 (default 21)")
    o.add_argument(
        "--lengths",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the graph takes lengths [B] for variable-length batches (default on)",
    )
    o.add_argument(
        "--state", action="store_true", help="the graph takes h0 (c0) and returns h_n (c_n)"
    )
    o.add_argument(
        "--verify",
        action="store_true",
        help="run the file in onnxruntime on random inputs; print the max difference",
    )


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except OSError as e:  # ``rnnkit.cli.main`` reports it; name --out when it names no file
        if e.filename:
            raise
        raise OSError(e.errno, e.strerror or str(e), args.out) from e


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..io.model_files import load
    from ..models.model import Model
    from .info import model_dir

    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ConfigError(f"{out} exists; pass --overwrite to replace it")
    model = load(model_dir(args.dir))
    if args.format == "torch":
        from ..io.torch_model import MODULE_FILE, export_torch

        if out.exists() and not out.is_dir():
            raise ConfigError(f"{out} is a file; torch export writes a directory")
        if not isinstance(model, Model):
            raise ConfigError(
                f"PyTorch export takes a recurrent rnnkit Model, got {type(model).__name__}"
            )
        export_torch(model, out)
        print(f"wrote {out}/ (model.safetensors, config.json, {MODULE_FILE})")
        return 0
    from ..io.onnx_export import export_onnx, max_difference

    if out.is_dir():
        raise ConfigError(f"{out} is a directory; onnx export writes one file")
    if not isinstance(model, Model):
        raise ConfigError(
            f"ONNX export takes a recurrent rnnkit Model, got {type(model).__name__}"
        )
    export_onnx(model, out, lengths=args.lengths, state=args.state, opset=args.opset)
    print(f"wrote {out}")
    if args.verify:
        print(f"max |onnxruntime - rnnkit| on random inputs: {max_difference(model, out):.3g}")
    return 0
