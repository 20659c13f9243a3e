"""The GEMM floor: only the unavoidable matrix products of one training step, with NumPy's BLAS.

For each layer (G = gates · H, N = T · B; F = I for the first layer, H above it)::

    forward    ax = xs W_ihᵀ          [N, F] @ [F, G]       once
               q_t = h_{t−1} W_hhᵀ    [B, H] @ [H, G]       T times, in sequence
    backward   dh_{t−1} = da_t W_hh   [B, G] @ [G, H]       T times, in sequence
               dW_ih = daᵀ xs         [G, N] @ [N, F]       once
               dW_hh = daᵀ h          [G, N] @ [N, H]       once
               dxs = da W_ih          [N, G] @ [G, F]       once, layers above the first only
                                                              (and the first without readout)
    readout    y = h W_outᵀ,  dW_out = dyᵀ h,  dh = dy W_out                once each

Each product is done once, into preallocated outputs; nothing else (no gate math, no
Python beyond the loop).  Its time is the physical limit of this machine's BLAS for the step.
"""

import numpy as np

from .configs import GATES, Config


def floor_step(cell: str, config: Config, rng: np.random.Generator, readout: bool = True):
    """A function that runs the step's products once (all operands allocated up front);
    ``readout=False``: the layer's alone, with ∂L/∂x of the first layer too (the ``layer``
    section's work)."""
    c, G = config, GATES[cell] * config.H
    B, T, H, N = c.B, c.T, c.H, c.B * c.T
    f32 = np.float32

    def rand(*shape):
        return rng.standard_normal(shape, dtype=f32)

    layers = []
    for k in range(c.layers):
        F = c.I if k == 0 else H
        layers.append(
            {
                "xs": rand(N, F),
                "W_ih": rand(G, F),
                "W_hhT": rand(H, G),
                "W_hh": rand(G, H),
                "ax": np.empty((N, G), f32),
                "da": rand(T, B, G),
                "hs": rand(T, B, H),
                "q": np.empty((B, G), f32),
                "dh": np.empty((B, H), f32),
                "dW_ih": np.empty((G, F), f32),
                "dW_hh": np.empty((G, H), f32),
                "dxs": np.empty((N, F), f32) if k > 0 or not readout else None,
            }
        )
    W_out, dy = rand(c.O, H), rand(N, c.O)
    y, dW_out, dhs = np.empty((N, c.O), f32), np.empty((c.O, H), f32), np.empty((N, H), f32)

    def step() -> None:
        for L in layers:
            np.matmul(L["xs"], L["W_ih"].T, out=L["ax"])
            hs = L["hs"]
            for t in range(T):
                np.matmul(hs[t], L["W_hhT"], out=L["q"])
        if readout:
            hs_top = layers[-1]["hs"].reshape(N, H)
            np.matmul(hs_top, W_out.T, out=y)
            np.matmul(dy.T, hs_top, out=dW_out)
            np.matmul(dy, W_out, out=dhs)
        for L in reversed(layers):
            da = L["da"]
            for t in reversed(range(T)):
                np.matmul(da[t], L["W_hh"], out=L["dh"])
            da2 = da.reshape(N, G)
            np.matmul(da2.T, L["xs"], out=L["dW_ih"])
            np.matmul(da2.T, L["hs"].reshape(N, H), out=L["dW_hh"])
            if L["dxs"] is not None:
                np.matmul(da2, L["W_ih"], out=L["dxs"])

    return step
