"""Streaming: a model run one step at a time with carried state, batch of one, readout each step.

For a single-layer, one-directional Elman / LSTM / GRU model (the LSTM without peepholes or
layer norm, the GRU with ``reset_after``), a ``Stepper`` holds the weights in the layout its
step wants (transposed, gate rows reordered and halved as in the kernels, the input
projection of every token id precomputed with both biases) and buffers for the state, so
that a step is two matrix–vector products and a few in-place ufuncs::

    a = P[id] + h_{t−1} W_hhᵀ        (P = X W_ihᵀ + b: row id is the input projection of token
                                       id, X = the identity (one-hot input) or the embedding)
    h_t, c_t = cell(a, c_{t−1})       (the kernels' equations)
    y_t = h_t W_outᵀ + b_out          ([O] logits or predictions)

It returns a view of its own buffer for y_t (overwritten by the next step).  Its outputs
equal ``Model.predict`` over the whole sequence to rounding (``tests/models/test_streaming.py``).
``rnnkit.models.sampling.generate`` draws text through it, and ``rnnkit bench`` times it.

>>> import numpy as np, rnnkit
>>> model = rnnkit.Model(rnnkit.ModelConfig.for_tokens(5, cell="gru", hidden_size=4),
...                      rng=np.random.default_rng(0))
>>> stepper = Stepper(model)
>>> [stepper.step(i).shape for i in (0, 3)]
[(5,), (5,)]
"""

import numpy as np

from ..errors import ConfigError
from ..kernels import sequence as seq
from .model import Model

ORDER = (0, 1, 3, 2)  # LSTM gate blocks i, f, g, o taken as i, f, o, g: one sigmoid block


def unsupported(model: Model) -> str | None:
    """Why a ``Stepper`` cannot run ``model``, or None when it can."""
    if not isinstance(model, Model):
        return f"Stepper runs recurrent Models, not {type(model).__name__}"
    rnn = model.config.rnn
    if rnn.num_layers != 1 or rnn.bidirectional or rnn.cell not in ("elman", "lstm", "gru"):
        return "Stepper runs one-layer, one-directional Elman, LSTM or GRU models"
    if rnn.cell == "lstm" and (rnn.peepholes or rnn.layer_norm):
        return "Stepper runs the LSTM without peepholes or layer norm"
    if rnn.cell == "gru" and (not rnn.reset_after or rnn.layer_norm):
        return "Stepper runs the GRU with reset_after and without layer norm"
    return None


class Stepper:
    """Step a model one token (or vector) at a time; the state carries between calls."""

    def __init__(self, model: Model) -> None:
        why = unsupported(model)
        if why:
            raise ConfigError(why)
        rnn = model.rnn.config
        p, H, dt = model.rnn.params, rnn.hidden_size, model.dtype
        self.cell, self.H, self.tokens = rnn.cell, H, bool(model.config.vocab_size)
        self.relu = rnn.nonlinearity == "relu"
        W_ih, W_hh = p["weight_ih_l0"], p["weight_hh_l0"]
        b, b_hh = p["bias_ih_l0"].copy(), p["bias_hh_l0"]
        scale = np.ones(W_hh.shape[0], dt)
        if rnn.cell == "lstm":  # i, f, o, g; sigmoid rows halved: σ(a) = ½ (1 + tanh(a/2))
            order = seq.gate_order(ORDER, H)
            W_ih, W_hh, b = W_ih[order], W_hh[order], (b + b_hh)[order]
            scale[: 3 * H] = 0.5
        elif rnn.cell == "gru":  # r, z, n; b_hh of r, z joins the input side, b_hn stays inside
            b[: 2 * H] += b_hh[: 2 * H]
            self.b_hn = b_hh[2 * H :].copy()
            scale[: 2 * H] = 0.5
        else:
            b = b + b_hh
        self.W_ihT = np.ascontiguousarray((W_ih * scale[:, None]).T)  # [I, G]
        self.b = b * scale
        self.P = None  # [V, G]: the input projection of each token
        if self.tokens and model.config.embedding_dim:
            self.P = model.params["embedding.weight"] @ self.W_ihT + self.b
        elif self.tokens:
            self.P = self.W_ihT + self.b  # one-hot rows
        self.W_hhT = np.ascontiguousarray((W_hh * scale[:, None]).T)  # [H, G]
        self.W_outT = np.ascontiguousarray(model.params["head.weight"].T)  # [H, O]
        self.b_out = model.params["head.bias"].copy()
        G = W_hh.shape[0]
        self.a, self.q = np.empty(G, dt), np.empty(G, dt)
        self.y = np.empty(self.W_outT.shape[1], dt)
        self.tmp = np.empty(H, dt)
        self.reset()

    def reset(self) -> None:
        """Zero the carried state."""
        self.h = np.zeros(self.H, self.a.dtype)
        self.c = np.zeros(self.H, self.a.dtype)

    def step(self, x) -> np.ndarray:
        """y_t for one token id (token models) or one input vector [I]; carries the state."""
        a, H = self.a, self.H
        np.matmul(self.h, self.W_hhT, out=self.q)  # h_{t−1} W_hhᵀ
        if self.P is not None:  # token models (P is set exactly for them)
            np.add(self.P[x], self.q, out=a)
        else:
            np.matmul(x, self.W_ihT, out=a)
            a += self.b
            a += self.q
        if self.cell == "lstm":
            self._lstm(a, H)
        elif self.cell == "gru":
            self._gru(a, H)
        elif self.relu:
            np.maximum(a, 0, out=self.h)
        else:
            np.tanh(a, out=self.h)
        np.matmul(self.h, self.W_outT, out=self.y)
        self.y += self.b_out  # y_t = h_t W_outᵀ + b_out
        return self.y

    def _lstm(self, a: np.ndarray, H: int) -> None:
        np.tanh(a, out=a)
        s = a[: 3 * H]
        s *= 0.5
        s += 0.5  # i, f, o = σ;  g = tanh
        self.c *= a[H : 2 * H]
        self.c += np.multiply(a[:H], a[3 * H :], out=self.tmp)  # c_t = f ⊙ c + i ⊙ g
        np.multiply(a[2 * H : 3 * H], np.tanh(self.c, out=self.tmp), out=self.h)  # o ⊙ tanh(c)

    def _gru(self, a: np.ndarray, H: int) -> None:
        # here a holds gx + q for all three blocks; n needs gx_n + r ⊙ (q_n + b_hn) instead
        rz = a[: 2 * H]
        np.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5  # r, z = σ
        n = a[2 * H :]
        q_n = self.q[2 * H :]
        n -= q_n  # back to gx_n
        q_n += self.b_hn
        q_n *= a[:H]
        n += q_n
        np.tanh(n, out=n)  # n = tanh(gx_n + r ⊙ a_hn)
        np.subtract(self.h, n, out=self.tmp)
        self.tmp *= a[H : 2 * H]
        np.add(n, self.tmp, out=self.h)  # h_t = n + z ⊙ (h_{t−1} − n)
