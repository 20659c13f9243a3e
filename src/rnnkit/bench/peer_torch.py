"""PyTorch eager peers: ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` (tanh) + ``nn.Linear``, Adam.

torch runs 2 intra-op threads, or ``OPENBLAS_NUM_THREADS`` of them when that is set, so a run
limited to one BLAS thread compares like with like.

The training step mirrors rnnkit's: one-hot float inputs (or vectors), readout at every
step, cross-entropy or MSE, ``loss.backward()``, ``Adam.step()``.  Streaming runs the
matching ``LSTMCell`` / ``GRUCell`` / ``RNNCell`` one step at a time under ``no_grad``.
"""

import os
from collections.abc import Callable

import numpy as np

from .configs import Config

MODULES = {"lstm": "LSTM", "gru": "GRU", "elman": "RNN"}
CELLS = {"lstm": "LSTMCell", "gru": "GRUCell", "elman": "RNNCell"}


def load(threads: int = 2):
    """torch with ``threads`` intra-op threads, or as many as ``OPENBLAS_NUM_THREADS`` gives
    rnnkit's products when it is set (ImportError when torch is not installed)."""
    import torch

    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "").strip()
    torch.set_num_threads(int(blas_threads) if blas_threads.isdigit() else threads)
    return torch


def _inputs(torch, c: Config, rng: np.random.Generator):
    if c.tokens:
        ids = rng.integers(0, c.I, size=(c.T + 1, c.B))
        x = torch.nn.functional.one_hot(torch.from_numpy(ids[:-1]), c.I).float()
        return x, torch.from_numpy(ids[1:])
    x = torch.from_numpy(rng.standard_normal((c.T, c.B, c.I), dtype=np.float32))
    return x, torch.from_numpy(rng.standard_normal((c.T, c.B, c.O), dtype=np.float32))


def training_step(cell: str, c: Config, rng: np.random.Generator) -> Callable[[], None]:
    torch = load()
    torch.manual_seed(0)
    rnn = getattr(torch.nn, MODULES[cell])(c.I, c.H, num_layers=c.layers)
    head = torch.nn.Linear(c.H, c.O)
    opt = torch.optim.Adam([*rnn.parameters(), *head.parameters()], lr=1e-3)
    x, y = _inputs(torch, c, rng)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = head(rnn(x)[0])
        if c.tokens:
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, c.O), y.reshape(-1))
        else:
            loss = torch.nn.functional.mse_loss(out, y)
        loss.backward()
        opt.step()

    return step


def layer_step(cell: str, c: Config, rng: np.random.Generator) -> Callable[[], None]:
    """``nn.LSTM`` / ``GRU`` / ``RNN`` alone: forward over vectors ``[T, B, I]`` and
    ``backward`` of a fixed ∂L/∂outputs into the weights and the input, as ``steps.layer_step``."""
    torch = load()
    torch.manual_seed(0)
    rnn = getattr(torch.nn, MODULES[cell])(c.I, c.H, num_layers=c.layers)
    x = torch.from_numpy(rng.standard_normal((c.T, c.B, c.I), dtype=np.float32))
    x.requires_grad_(True)
    d_out = torch.from_numpy(rng.standard_normal((c.T, c.B, c.H), dtype=np.float32))

    def step() -> None:
        rnn.zero_grad(set_to_none=True)
        x.grad = None
        rnn(x)[0].backward(d_out)

    return step


def inference(cell: str, c: Config, rng: np.random.Generator) -> Callable[[], None]:
    torch = load()
    torch.manual_seed(0)
    rnn = getattr(torch.nn, MODULES[cell])(c.I, c.H, num_layers=c.layers)
    head = torch.nn.Linear(c.H, c.O)
    x, _ = _inputs(torch, c, rng)

    def run() -> None:
        with torch.no_grad():
            head(rnn(x)[0])

    return run


def streaming(cell: str, H: int, O: int, steps: int, rng: np.random.Generator):
    """``steps`` one-token steps of a B = 1 cell with carried state and a readout."""
    torch = load()
    torch.manual_seed(0)
    step_cell = getattr(torch.nn, CELLS[cell])(O, H)
    head = torch.nn.Linear(H, O)
    eye = torch.eye(O)
    ids = rng.integers(0, O, size=steps).tolist()

    def run() -> None:
        with torch.no_grad():
            h = torch.zeros(1, H)
            state = (h, torch.zeros(1, H)) if cell == "lstm" else h
            for i in ids:
                state = step_cell(eye[i : i + 1], state)
                head(state[0] if cell == "lstm" else state)

    return run
