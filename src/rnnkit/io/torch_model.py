"""Whole models to and from PyTorch: a state dict and a module definition that needs only torch.

``export_torch(model, DIR)`` writes::

    DIR/model.safetensors   the parameters under rnnkit's names (embedding.weight,
                            rnn.weight_ih_l0 …, head.weight, head.bias — no head for
                            Jordan, whose output layer is the readout), with their hash
    DIR/config.json         {"model": the ModelConfig, "meta": the model's metadata}
    DIR/manifest.json       so that DIR is also an ordinary rnnkit checkpoint (rnnkit.load)
    DIR/rnnkit_model.py     ``RnnkitModel(torch.nn.Module)``: the same function in PyTorch

The module file imports only torch and the standard library (it reads the safetensors file
itself, no pickle), so the model runs on GPUs, under DDP, or anywhere torch does::

    import sys; sys.path.insert(0, "DIR")
    from rnnkit_model import RnnkitModel
    module = RnnkitModel.from_directory("DIR")
    y, state = module(x, lengths=lengths)     # x: [B, T] ids or [B, T, I]; batch-first

It reproduces the model: one-hot or embedded ids, the recurrent layer (``torch.nn.RNN`` /
``LSTM`` / ``GRU`` where PyTorch has the cell — Elman, LSTM without peepholes, GRU with
reset after the product, no layer norm or recurrent dropout — with lengths by packing;
otherwise rnnkit's own time loop written in torch, with peepholes, Cho's GRU, Jordan, fully
recurrent, layer norm and variational recurrent dropout), and the readout every step or at
the last step (a Jordan layer's own output y_t, which it feeds back, is the readout).
Parameter names equal rnnkit's, so ``module.state_dict()`` comes back with
``model_from_torch(module)`` or ``model_from_state_dict(state_dict, config)`` bit for bit.
"""

from pathlib import Path
from typing import Any

import numpy as np

from ..config import ModelConfig
from ..errors import ConfigError, ShapeError
from ..models.model import Model
from .atomic import write_atomic
from .model_files import save

MODULE_FILE = "rnnkit_model.py"
"""Name of the module definition written beside the state dict."""


def export_torch(model: Model, directory: str | Path) -> Path:
    """Write ``model`` as a checkpoint plus ``rnnkit_model.py`` into ``directory``."""
    if not isinstance(model, Model):
        raise ConfigError(
            f"PyTorch export takes a recurrent rnnkit Model, got {type(model).__name__}"
        )
    directory = save(model, directory)
    write_atomic(directory / MODULE_FILE, MODULE_SOURCE.encode("utf-8"))
    return directory


def load_torch_module(directory: str | Path) -> Any:
    """``RnnkitModel`` from ``directory``'s own ``rnnkit_model.py``, weights loaded.

    The module file is imported as a fresh module (not added to ``sys.modules``); import
    only directories you wrote or trust, as for any Python file.
    """
    import importlib.util

    path = Path(directory) / MODULE_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: no module definition; write it with `rnnkit export torch`")
    spec = importlib.util.spec_from_file_location("rnnkit_model", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.RnnkitModel.from_directory(directory)


def model_from_state_dict(
    state_dict: dict[str, Any],
    config: ModelConfig | dict[str, Any],
    meta: dict[str, Any] | None = None,
) -> Model:
    """An rnnkit ``Model`` from a state dict (torch tensors or arrays) and its config.

    Values are copied unchanged (bit for bit) in the config's dtype; names and shapes are
    checked against the config.
    """
    if isinstance(config, dict):
        config = ModelConfig.from_dict(config)
    params = {}
    for name, value in state_dict.items():
        array = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        if array.dtype != np.dtype(config.dtype):
            raise ShapeError(
                f"parameter {name} is {array.dtype}, the config says {config.dtype}; "
                "cast the module (module.double() / module.float()) or the config"
            )
        params[name] = array
    return Model(config, params=params, meta=meta)


def model_from_torch(module: Any) -> Model:
    """An rnnkit ``Model`` from an ``RnnkitModel`` (its ``config`` and ``state_dict()``)."""
    config = getattr(module, "config", None)
    if not isinstance(config, dict):
        raise ConfigError(
            f"model_from_torch takes an RnnkitModel (written by `rnnkit export "
            f"torch`), got {type(module).__name__}; for a state dict use "
            "model_from_state_dict(state_dict, config)"
        )
    return model_from_state_dict(module.state_dict(), config, getattr(module, "meta", None))


MODULE_SOURCE = (
    # the first line on its own keeps it within 99 columns; the text is one file, unchanged
    '"""An rnnkit model in PyTorch: same function, same parameter names; needs only torch.\n'
    r'''
Written by `rnnkit export torch`.  Batch-first like rnnkit's Model::

    module = RnnkitModel.from_directory(DIR)            # config.json + model.safetensors
    y, state = module(x, state=None, lengths=None)
    # x: [B, T] int64 ids (token models) or [B, T, I] floats;  lengths: [B] real steps
    # y: [B, T, O] (readout every step) or [B, O] (last step); state [L*D, B, S] ((h, c): LSTM)

A finished sequence (lengths) keeps its last state and its outputs are 0; the reverse
direction of a bidirectional layer starts at its last real step; the last-step readout
reads the forward half at the last real step and the reverse half at step 0.
"""

import json
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

_DTYPES = {"F32": torch.float32, "F64": torch.float64}
_LN_EPS = 1e-5


def read_safetensors(path):
    """{name: tensor} from a safetensors file (float32 / float64), read without any library."""
    data = Path(path).read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    body = memoryview(data)[8 + n :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=_DTYPES[info["dtype"]])
        tensors[name] = flat.reshape(info["shape"])
    return tensors


def is_native(rnn):
    """Whether torch.nn.RNN / LSTM / GRU computes this layer (else rnnkit's loop does)."""
    plain = not (rnn["layer_norm"] or rnn["recurrent_dropout"])
    return plain and (rnn["cell"] == "elman"
                      or (rnn["cell"] == "lstm" and not rnn["peepholes"])
                      or (rnn["cell"] == "gru" and rnn["reset_after"]))


class RnnkitModel(nn.Module):
    """Ids (one-hot or embedded) or vectors -> recurrent layer -> linear readout (for Jordan,
    the layer's own output layer)."""

    def __init__(self, config, meta=None):
        super().__init__()
        self.config, self.meta = config, meta or {}
        rnn, dtype = config["rnn"], getattr(torch, config["dtype"])
        if config["embedding_dim"]:
            self.embedding = nn.Embedding(config["vocab_size"], config["embedding_dim"],
                                          dtype=dtype)
        if is_native(rnn):
            kind = {"elman": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[rnn["cell"]]
            extra = {"nonlinearity": rnn["nonlinearity"]} if rnn["cell"] == "elman" else {}
            dropout = rnn["dropout"] if rnn["num_layers"] > 1 else 0.0  # between layers only
            self.rnn = kind(rnn["input_size"], rnn["hidden_size"], rnn["num_layers"],
                            dropout=dropout, bidirectional=rnn["bidirectional"],
                            dtype=dtype, **extra)
        else:
            self.rnn = Unrolled(rnn, dtype)
        D = 2 if rnn["bidirectional"] else 1
        if rnn["cell"] != "jordan":  # a Jordan layer's output layer is the readout
            self.head = nn.Linear(D * cell_output_size(rnn), config["output_size"], dtype=dtype)

    @classmethod
    def from_directory(cls, directory):
        """The model saved in ``directory``, in evaluation mode (call .train() to train)."""
        directory = Path(directory)
        saved = json.loads((directory / "config.json").read_text(encoding="utf-8"))
        module = cls(saved["model"], saved.get("meta"))
        module.load_state_dict(read_safetensors(directory / "model.safetensors"))
        return module.eval()

    def forward(self, x, state=None, lengths=None):
        c = self.config
        if c["vocab_size"]:
            ids = x.t().long()  # [T, B]
            xs = (self.embedding(ids) if c["embedding_dim"] else
                  F.one_hot(ids, c["vocab_size"]).to(next(self.parameters()).dtype))
        else:
            xs = x.transpose(0, 1)
        T, B = xs.shape[:2]
        if lengths is not None:
            lengths = torch.as_tensor(lengths, dtype=torch.int64)
        hs, state = self._recurrent(xs, state, lengths)
        if c["readout"] == "last_step":
            last = (torch.full((B,), T - 1, dtype=torch.int64) if lengths is None
                    else lengths - 1).to(hs.device)
            read = hs[last, torch.arange(B, device=hs.device)]
            if self.rnn_directions() == 2:  # the reverse half has read the whole sequence at 0
                half = hs.shape[2] // 2
                read = torch.cat([read[:, :half], hs[0, :, half:]], dim=1)
            return self.readout(read), state
        return self.readout(hs).transpose(0, 1), state

    def readout(self, h):
        """y = head(h), or h itself for Jordan (its y_t is already the output)."""
        return self.head(h) if hasattr(self, "head") else h

    def rnn_directions(self):
        return 2 if self.config["rnn"]["bidirectional"] else 1

    def _recurrent(self, xs, state, lengths):
        if isinstance(self.rnn, Unrolled):
            return self.rnn(xs, state, lengths)
        if isinstance(state, list):
            state = tuple(state)
        if lengths is None:
            return self.rnn(xs, state)
        packed = nn.utils.rnn.pack_padded_sequence(xs, lengths.cpu(), enforce_sorted=False)
        out, state = self.rnn(packed, state)
        hs, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=xs.shape[0])
        return hs, state


def cell_output_size(rnn):
    if rnn["cell"] in ("jordan", "fully_recurrent"):
        return rnn["output_size"] or rnn["hidden_size"]
    return rnn["hidden_size"]


def state_sizes(rnn):
    H, O = rnn["hidden_size"], rnn["output_size"] or rnn["hidden_size"]
    return {"lstm": (H, H), "jordan": (O,), "fully_recurrent": (H + O,)}.get(rnn["cell"], (H,))


def param_shapes(rnn, I):
    """Base name -> shape of one layer-direction's parameters (rnnkit's cell param_shapes)."""
    cell, H = rnn["cell"], rnn["hidden_size"]
    O = rnn["output_size"] or H
    G = {"lstm": 4 * H, "gru": 3 * H, "fully_recurrent": H + O}.get(cell, H)
    R = {"jordan": O}.get(cell, G if cell == "fully_recurrent" else H)
    shapes = {"weight_ih": (G, I), "weight_hh": (G, R), "bias_ih": (G,), "bias_hh": (G,)}
    if cell == "jordan":
        shapes.update(weight_hy=(O, H), bias_hy=(O,))
    if cell == "fully_recurrent":
        shapes["connection_mask"] = (G, G)
    if cell == "lstm" and rnn["peepholes"]:
        shapes["weight_peep"] = (3, H)
    if cell in ("lstm", "gru") and rnn["layer_norm"]:
        shapes.update(ln_ih_weight=(G,), ln_ih_bias=(G,), ln_hh_weight=(G,), ln_hh_bias=(G,))
        if cell == "lstm":
            shapes.update(ln_c_weight=(H,), ln_c_bias=(H,))
    return shapes


class Unrolled(nn.Module):
    """rnnkit's recurrent layer in torch: its time loop (masks, reversal, stacking, dropout)
    and every cell, step by step.  Parameters: weight_ih_l0, ..., *_reverse, as rnnkit."""

    def __init__(self, rnn, dtype):
        super().__init__()
        self.r = rnn
        self.D = 2 if rnn["bidirectional"] else 1
        H, out = rnn["hidden_size"], self.D * cell_output_size(rnn)
        for layer in range(rnn["num_layers"]):
            I = rnn["input_size"] if layer == 0 else out
            for d in range(self.D):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                shapes = param_shapes(rnn, I)
                units = shapes["weight_hh"][0] if rnn["cell"] == "fully_recurrent" else H
                k = 1.0 / units**0.5  # U(-1/sqrt(H), 1/sqrt(H)), as rnnkit and PyTorch
                for name, shape in shapes.items():
                    if name == "connection_mask":  # fixed, not trained: a buffer
                        self.register_buffer(name + suffix, torch.ones(shape, dtype=dtype))
                    elif name.startswith("ln_"):
                        init = torch.ones if name.endswith("_weight") else torch.zeros
                        w = init(shape, dtype=dtype)  # gains 1, shifts 0
                        self.register_parameter(name + suffix, nn.Parameter(w))
                    else:
                        w = torch.empty(shape, dtype=dtype).uniform_(-k, k)
                        self.register_parameter(name + suffix, nn.Parameter(w))

    def forward(self, xs, state=None, lengths=None):
        r, T, B = self.r, xs.shape[0], xs.shape[1]
        sizes = state_sizes(r)
        LD = r["num_layers"] * self.D
        if state is None:
            states = [xs.new_zeros(LD, B, s) for s in sizes]
        else:
            states = [state] if torch.is_tensor(state) else list(state)
        mask = None
        if lengths is not None:
            steps = torch.arange(T, device=xs.device)[:, None]
            mask = (steps < lengths.to(xs.device)[None, :])[:, :, None]  # [T, B, 1]
        finals, layer_in = [], xs
        for layer in range(r["num_layers"]):
            outs = []
            for d in range(self.D):
                k = layer * self.D + d
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                p = {n: getattr(self, n + suffix) for n in param_shapes(r, layer_in.shape[2])}
                seq = layer_in if d == 0 else layer_in.flip(0)
                m = mask if (mask is None or d == 0) else mask.flip(0)
                drop = self._recurrent_mask(B, sizes[0], xs)
                out, final = unroll(r, p, seq, tuple(s[k] for s in states), m, drop)
                outs.append(out if d == 0 else out.flip(0))
                finals.append(final)
            layer_in = outs[0] if self.D == 1 else torch.cat(outs, dim=2)
            if layer < r["num_layers"] - 1:
                layer_in = F.dropout(layer_in, r["dropout"], self.training)
        final = tuple(torch.stack([f[j] for f in finals]) for j in range(len(sizes)))
        return layer_in, final[0] if len(final) == 1 else final

    def _recurrent_mask(self, B, S, xs):
        """Variational recurrent dropout: one mask [B, S] for every step (training only)."""
        p = self.r["recurrent_dropout"]
        if not (self.training and p):
            return None
        return (torch.rand(B, S, device=xs.device) >= p).to(xs.dtype) / (1.0 - p)


def unroll(r, p, xs, state, mask, drop):
    """(outputs [T, B, O], final state): ax = x W_ih^T for all steps, then one step per t;
    a padded step keeps the state and outputs 0."""
    T, B, _ = xs.shape
    ax = (xs.reshape(T * B, -1) @ p["weight_ih"].T).reshape(T, B, -1)
    step = STEPS[r["cell"]]
    outs = []
    for t in range(T):
        out, new = step(r, p, ax[t], state, drop)
        if mask is not None:
            new = tuple(torch.where(mask[t], s_new, s) for s_new, s in zip(new, state))
            out = torch.where(mask[t], out, torch.zeros_like(out))
        outs.append(out)
        state = new
    return torch.stack(outs), state


def act(r, a):
    return torch.tanh(a) if r["nonlinearity"] == "tanh" else torch.relu(a)


def layer_norm(x, gain, bias, blocks):
    """Each of the K blocks of x [B, K*H] normalised over its H units, then gain * x + bias."""
    B = x.shape[0]
    xb = x.reshape(B, blocks, -1)
    xc = xb - xb.mean(dim=-1, keepdim=True)
    rstd = 1.0 / torch.sqrt((xc * xc).mean(dim=-1, keepdim=True) + _LN_EPS)
    return gain * (xc * rstd).reshape(B, -1) + bias


def elman_step(r, p, ax, state, drop):
    (h,) = state
    h_rec = h if drop is None else h * drop
    h = act(r, ax + p["bias_ih"] + h_rec @ p["weight_hh"].T + p["bias_hh"])
    return h, (h,)


def jordan_step(r, p, ax, state, drop):
    """r_{t-1} = y_{t-1} | softmax(y_{t-1});  h = act(W_ih x + b_ih + W_hh r + b_hh);
    y_t = W_hy h + b_hy: the output, and the state fed back."""
    (y,) = state
    fed = torch.softmax(y, dim=1) if r.get("jordan_feedback") == "softmax" else y
    fed = fed if drop is None else fed * drop
    h = act(r, ax + p["bias_ih"] + fed @ p["weight_hh"].T + p["bias_hh"])
    y = h @ p["weight_hy"].T + p["bias_hy"]
    return y, (y,)


def fully_recurrent_step(r, p, ax, state, drop):
    (u,) = state
    u_rec = u if drop is None else u * drop
    W = p["connection_mask"] * p["weight_hh"]
    a = ax + p["bias_ih"] + u_rec @ W.T + p["bias_hh"]
    H = r["hidden_size"]
    u = act(r, a)
    if r.get("linear_outputs"):  # hidden units act(a), output units a
        u = torch.cat([u[:, :H], a[:, H:]], dim=1)
    return u[:, H:], (u,)


def lstm_step(r, p, ax, state, drop):
    h, c_prev = state
    H = h.shape[1]
    h_rec = h if drop is None else h * drop
    q = h_rec @ p["weight_hh"].T
    if r["layer_norm"]:
        ax = layer_norm(ax, p["ln_ih_weight"], p["ln_ih_bias"], 4)
        q = layer_norm(q, p["ln_hh_weight"], p["ln_hh_bias"], 4)
    a = ax + p["bias_ih"] + q + p["bias_hh"]
    a_i, a_f, a_g, a_o = a[:, :H], a[:, H : 2 * H], a[:, 2 * H : 3 * H], a[:, 3 * H :]
    if r["peepholes"]:  # i, f see c_{t-1}; o sees c_t
        a_i = a_i + p["weight_peep"][0] * c_prev
        a_f = a_f + p["weight_peep"][1] * c_prev
    i, f, g = torch.sigmoid(a_i), torch.sigmoid(a_f), torch.tanh(a_g)
    c = f * c_prev + i * g
    if r["peepholes"]:
        a_o = a_o + p["weight_peep"][2] * c
    o = torch.sigmoid(a_o)
    c_out = layer_norm(c, p["ln_c_weight"], p["ln_c_bias"], 1) if r["layer_norm"] else c
    h = o * torch.tanh(c_out)
    return h, (h, c)


def _gru_recurrent(r, p, q, first, last):
    H = q.shape[1] // (last - first)
    cols = slice(first * H, last * H)
    if r["layer_norm"]:
        q = layer_norm(q, p["ln_hh_weight"][cols], p["ln_hh_bias"][cols], last - first)
    return q + p["bias_hh"][cols]


def gru_step(r, p, ax, state, drop):
    (h_prev,) = state
    H = h_prev.shape[1]
    W_hh = p["weight_hh"]
    h_rec = h_prev if drop is None else h_prev * drop
    if r["layer_norm"]:
        ax = layer_norm(ax, p["ln_ih_weight"], p["ln_ih_bias"], 3)
    a_ih = ax + p["bias_ih"]
    if r["reset_after"]:  # n = tanh(a_ih,n + r * (h W_hn^T + b_hn))
        a_hh = _gru_recurrent(r, p, h_rec @ W_hh.T, 0, 3)
        rz = torch.sigmoid(a_ih[:, : 2 * H] + a_hh[:, : 2 * H])
        reset, z = rz[:, :H], rz[:, H:]
        n = torch.tanh(a_ih[:, 2 * H :] + reset * a_hh[:, 2 * H :])
    else:  # n = tanh(a_ih,n + (r * h) W_hn^T + b_hn)
        a_rz = _gru_recurrent(r, p, h_rec @ W_hh[: 2 * H].T, 0, 2)
        rz = torch.sigmoid(a_ih[:, : 2 * H] + a_rz)
        reset, z = rz[:, :H], rz[:, H:]
        a_hn = _gru_recurrent(r, p, (reset * h_rec) @ W_hh[2 * H :].T, 2, 3)
        n = torch.tanh(a_ih[:, 2 * H :] + a_hn)
    h = (1 - z) * n + z * h_prev
    return h, (h,)


STEPS = {"elman": elman_step, "jordan": jordan_step, "fully_recurrent": fully_recurrent_step,
         "lstm": lstm_step, "gru": gru_step}
'''
)
"""Source of ``rnnkit_model.py`` (imports only torch and the standard library)."""
