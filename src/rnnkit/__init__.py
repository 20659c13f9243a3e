"""rnnkit: recurrent neural networks with backpropagation through time written out by hand.

Elman, Jordan and fully recurrent nets, LSTM (optional peepholes) and GRU; stacked and
bidirectional; full and truncated BPTT; safe checkpoints; exchange with PyTorch.

>>> import numpy as np, rnnkit
>>> model = rnnkit.Model(rnnkit.ModelConfig.for_tokens(4, cell="gru", hidden_size=6),
...                      rng=np.random.default_rng(0))
>>> model.forward(np.zeros((2, 3), dtype=int))[0].shape
(2, 3, 4)

Heavy or optional modules (PyTorch exchange, the command line) load only when used.
"""

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Model": "rnnkit.models.model",
    "ModelConfig": "rnnkit.config",
    "Recurrent": "rnnkit.layers.recurrent",
    "RecurrentConfig": "rnnkit.config",
    "CellOptions": "rnnkit.config",
    "fit": "rnnkit.training.arrays",
    "resume_run": "rnnkit.jobs.charmodel",
    "generate": "rnnkit.models.sampling",
    "save": "rnnkit.io.model_files",
    "load": "rnnkit.jobs.predicting",  # a run: its predictor; a checkpoint: the network
    "load_model": "rnnkit.io.model_files",
    "from_torch": "rnnkit.io.torch_exchange",
    "export_onnx": "rnnkit.io.onnx_export",
    "export_torch": "rnnkit.io.torch_model",
    "model_from_torch": "rnnkit.io.torch_model",
    "to_torch": "rnnkit.io.torch_exchange",
    "RnnkitError": "rnnkit.errors",
    "full_bptt": "rnnkit.training.bptt",
    "TruncatedBPTT": "rnnkit.training.bptt",
    "checkpointed_bptt": "rnnkit.training.memory_bptt",
    "RNNClassifier": "rnnkit.jobs.estimators",  # needs the sklearn extra
    "RNNRegressor": "rnnkit.jobs.estimators",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rnnkit' has no attribute {name!r}")
