"""A random sequence problem for a cell, and its check loss, shared by the cell tests.

The loss is a random projection of every output and of the final state,
L = Σ_t ⟨R_t, out_t⟩ + Σ_k ⟨S_k, state_T[k]⟩, so every output path carries gradient.
"""

from types import ModuleType

import numpy as np

from rnnkit.cells import CellOptions, unroll
from rnnkit.diagnostics.gradcheck import check_gradients

T, B, I, H = 4, 3, 3, 4


def problem(cell: ModuleType, opts: CellOptions, masked: bool, dropped: bool,
            dtype=np.float64, seed: int = 0):
    """Parameters, inputs, initial state, mask, dropout mask and loss projections R, S."""
    rng = np.random.default_rng(seed)
    p = cell.init_params(I, H, opts, rng, dtype)
    for name in p:  # move gains and shifts away from 1 and 0 so that they are exercised
        if name.startswith("ln_"):
            p[name] = (p[name] + 0.5 * rng.standard_normal(p[name].shape)).astype(dtype)
    xs = rng.standard_normal((T, B, I)).astype(dtype)
    state0 = tuple(rng.standard_normal((B, n)).astype(dtype) for n in cell.state_sizes(H, opts))
    mask = None
    if masked:  # sequence 1 ends after two steps
        mask = np.ones((T, B), dtype=dtype)
        mask[2:, 1] = 0
    drop = None
    if dropped:
        drop = ((rng.random((B, state0[0].shape[1])) < 0.75) / 0.75).astype(dtype)
    R = rng.standard_normal((T, B, cell.output_size(H, opts))).astype(dtype)
    S = tuple(rng.standard_normal(s.shape).astype(dtype) for s in state0)
    return p, xs, state0, mask, drop, R, S


def projection_loss(cell: ModuleType, p, xs, state0, opts, mask, drop, R, S) -> float:
    """L = Σ_t ⟨R_t, out_t⟩ + Σ_k ⟨S_k, state_T[k]⟩."""
    outs, state, _ = unroll.forward(cell, p, xs, state0, opts, mask, drop)
    return float((R * outs).sum() + sum((s * d).sum() for s, d in zip(S, state)))


def finite_difference_errors(cell: ModuleType, opts: CellOptions, masked: bool,
                             dropped: bool) -> dict[str, float]:
    """Relative error of every gradient (parameters, xs, each initial state) in float64."""
    p, xs, state0, mask, drop, R, S = problem(cell, opts, masked, dropped)
    _, _, cache = unroll.forward(cell, p, xs, state0, opts, mask, drop)
    dxs, dstate0, grads = unroll.backward(cell, p, cache, R, S, opts)
    assert {k: g.shape for k, g in grads.items()} == {k: w.shape for k, w in p.items()}
    arrays = {**p, "xs": xs, **{f"state0[{k}]": s for k, s in enumerate(state0)}}
    analytic = {**grads, "xs": dxs, **{f"state0[{k}]": d for k, d in enumerate(dstate0)}}
    return check_gradients(lambda: projection_loss(cell, p, xs, state0, opts, mask, drop, R, S),
                           arrays, analytic)
