"""Exchange of recurrent layers with PyTorch: ``torch.nn.RNN``/``LSTM``/``GRU`` ↔ ``Recurrent``.

``to_torch`` also takes a whole ``Model`` and gives the module ``rnnkit.export_torch`` writes.

Parameter names, shapes and gate orders are PyTorch's on both sides (LSTM i, f, g, o; GRU
r, z, n with reset applied after the recurrent product), so the exchange is a copy.  PyTorch
is imported only when these functions are called (install the ``torch`` extra).
"""

from typing import Any

import numpy as np

from ..errors import ConfigError
from ..layers.recurrent import Recurrent, RecurrentConfig

_CELL_OF = {"RNN": "elman", "LSTM": "lstm", "GRU": "gru"}


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigError("PyTorch exchange needs torch: pip install 'rnnkit[torch]'") from e
    return torch


def from_torch(module: Any) -> Recurrent:
    """An rnnkit ``Recurrent`` layer with the weights and options of a torch RNN/LSTM/GRU.

    Keeps ``num_layers``, ``bidirectional``, ``batch_first``, ``dropout``, ``nonlinearity``
    and the dtype (float64 modules give float64 layers, anything else float32).
    """
    kind = type(module).__name__
    if kind not in _CELL_OF:
        raise ConfigError(f"from_torch takes torch.nn.RNN, LSTM or GRU, got {kind}")
    if not module.bias:
        raise ConfigError("from_torch needs a module with bias=True (rnnkit layers have biases)")
    if getattr(module, "proj_size", 0):
        raise ConfigError("from_torch does not support LSTM proj_size > 0")
    config = RecurrentConfig(
        cell=_CELL_OF[kind],
        input_size=module.input_size,
        hidden_size=module.hidden_size,
        num_layers=module.num_layers,
        bidirectional=module.bidirectional,
        dropout=float(module.dropout),
        batch_first=module.batch_first,
        nonlinearity=getattr(module, "nonlinearity", "tanh"),
    )
    weights = {n: w.detach().cpu().numpy() for n, w in module.state_dict().items()}
    dtype = np.float64 if all(w.dtype == np.float64 for w in weights.values()) else np.float32
    return Recurrent(config, params=weights, dtype=dtype)


def to_torch(layer: Any) -> Any:
    """A torch module holding the same weights as ``layer`` (same dtype).

    * a ``Recurrent`` layer (e.g. ``model.rnn``) → ``torch.nn.RNN`` / ``LSTM`` / ``GRU``, for
      the cells PyTorch has (Elman, LSTM without peepholes, GRU with reset after, no layer
      norm or recurrent dropout);
    * a whole ``Model`` → the ``RnnkitModel`` that ``rnnkit.export_torch`` writes out (any
      cell; input, recurrent layer and readout; batch-first, ``y, state = module(x,
      lengths=...)``), in evaluation mode and in memory: nothing is written.
    """
    from ..models.model import Model

    if isinstance(layer, Model):
        return _model_to_torch(layer)
    if not isinstance(layer, Recurrent):
        raise ConfigError(
            f"to_torch takes an rnnkit Model or its recurrent layer (model.rnn), "
            f"got {type(layer).__name__}"
        )
    torch = _torch()
    c = layer.config
    if c.cell not in ("elman", "lstm", "gru"):
        raise ConfigError(f"PyTorch has no {c.cell} layer; to_torch takes elman, lstm or gru")
    if c.peepholes or c.layer_norm or c.recurrent_dropout or not c.reset_after:
        raise ConfigError(
            "PyTorch's RNN/LSTM/GRU have no peepholes, layer norm, recurrent dropout or "
            "reset-before GRU; export this layer with `rnnkit export` instead"
        )
    kwargs = dict(
        input_size=c.input_size,
        hidden_size=c.hidden_size,
        num_layers=c.num_layers,
        bidirectional=c.bidirectional,
        dropout=c.dropout,
        batch_first=c.batch_first,
    )
    if c.cell == "elman":
        module = torch.nn.RNN(nonlinearity=c.nonlinearity, **kwargs)
    else:
        module = (torch.nn.LSTM if c.cell == "lstm" else torch.nn.GRU)(**kwargs)
    dtype = torch.float64 if layer.dtype == np.float64 else torch.float32
    module = module.to(dtype)
    state = {n: torch.from_numpy(np.ascontiguousarray(w)) for n, w in layer.params.items()}
    module.load_state_dict(state)
    return module


def _model_to_torch(model: Any) -> Any:
    """``RnnkitModel`` (``io.torch_model.MODULE_SOURCE``) with ``model``'s config and weights."""
    import types

    from .torch_model import MODULE_FILE, MODULE_SOURCE

    torch = _torch()
    source = types.ModuleType("rnnkit_model")  # a fresh module, not added to sys.modules
    exec(compile(MODULE_SOURCE, MODULE_FILE, "exec"), source.__dict__)  # noqa: S102 - our own
    module = source.RnnkitModel(model.config.to_dict(), dict(model.meta))
    module.load_state_dict(
        {n: torch.from_numpy(np.ascontiguousarray(w)) for n, w in model.state_dict().items()}
    )
    return module.eval()
