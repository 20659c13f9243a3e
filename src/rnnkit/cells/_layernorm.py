"""Layer normalisation of gate blocks (Ba et al. 2016), forward and backward side by side.

A row ``x: [B, K·H]`` holds K gate blocks of H units; each block is normalised on its own
over its H units, then scaled and shifted per unit::

    μ    = mean_H(x)          σ̂ = 1 / √(var_H(x) + ε)        (per row and block, ε = 1e-5)
    x̂    = (x − μ) ⊙ σ̂
    y    = γ ⊙ x̂ + β          γ, β: [K·H]

Backward (d· = ∂L/∂·; means over the H units of a block)::

    dx̂   = dy ⊙ γ
    dx   = σ̂ ⊙ (dx̂ − mean_H(dx̂) − x̂ ⊙ mean_H(dx̂ ⊙ x̂))
    dγ   = Σ_rows dy ⊙ x̂          dβ = Σ_rows dy

The backward uses only the saved x̂ and σ̂ (never x).
"""

import numpy as np

EPS = 1e-5
"""ε added to the variance; the value of PyTorch's ``nn.LayerNorm``."""


def forward(
    x: np.ndarray, gain: np.ndarray, bias: np.ndarray, blocks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalise each of the K = ``blocks`` blocks of ``x: [B, K·H]``.

    Returns (y [B, K·H], x̂ [B, K·H], σ̂ [B, K]).
    """
    B = x.shape[0]
    xb = x.reshape(B, blocks, -1)  # [B, K, H]
    mu = xb.mean(axis=-1, keepdims=True)  # μ = mean_H(x)
    xc = xb - mu
    rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + EPS)  # σ̂ = 1/√(var + ε)
    xhat = (xc * rstd).reshape(B, -1)  # x̂ = (x − μ) σ̂
    y = gain * xhat + bias  # y = γ x̂ + β
    return y, xhat, rstd.reshape(B, blocks).astype(x.dtype, copy=False)


def backward(dy: np.ndarray, xhat: np.ndarray, rstd: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """∂L/∂x from ``dy, x̂: [B, K·H]``, ``σ̂: [B, K]`` and ``γ: [K·H]`` (K read from σ̂)."""
    B, K = rstd.shape
    dxhat = (dy * gain).reshape(B, K, -1)  # y = γ x̂ + β
    xh = xhat.reshape(B, K, -1)
    mean_d = dxhat.mean(axis=-1, keepdims=True)  # x̂ = (x − μ) σ̂, through μ …
    mean_dx = (dxhat * xh).mean(axis=-1, keepdims=True)  # … and through σ̂
    dx = rstd[:, :, None] * (dxhat - mean_d - xh * mean_dx)
    return dx.reshape(B, -1)


def param_grads(dys: np.ndarray, xhats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(dγ, dβ) from ``dy`` and ``x̂`` stacked over steps: ``[T, B, K·H]`` → two ``[K·H]``."""
    n = dys.shape[-1]
    dy, xhat = dys.reshape(-1, n), xhats.reshape(-1, n)
    return (dy * xhat).sum(axis=0), dy.sum(axis=0)  # y = γ x̂ + β
