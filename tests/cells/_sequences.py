"""A random sequence problem for a cell, its check loss, and the gradient checks built on them
(finite differences, torch autograd), shared by the cell tests.

The loss is a random projection of every output and of the final state,
L = Σ_t ⟨R_t, out_t⟩ + Σ_k ⟨S_k, state_T[k]⟩, so every output path carries gradient.
"""

from types import ModuleType

import numpy as np

from rnnkit.cells import CellOptions, unroll
from rnnkit.diagnostics.gradcheck import check_gradients
from tests.conftest import TORCH_ATOL

T, B, I, H = 4, 3, 3, 4
LENGTHS = (4, 2, 4)  # the mask's real steps per sequence: sequence 1 ends after two steps


def problem(
    cell: ModuleType,
    opts: CellOptions,
    masked: bool,
    dropped: bool,
    dtype=np.float64,
    seed: int = 0,
    *,
    hidden: int = H,
    lengths=LENGTHS,
    keep: float = 0.75,
    **init,
):
    """Parameters, inputs, initial state, mask, dropout mask and loss projections R, S.

    ``hidden`` units; the mask's ``lengths [B]``; ``keep``, the dropout mask's probability of
    keeping a unit; ``init``, further arguments of the cell's ``init_params``.
    """
    rng = np.random.default_rng(seed)
    p = cell.init_params(I, hidden, opts, rng, dtype, **init)
    for name in p:  # move gains and shifts away from 1 and 0 so that they are exercised
        if name.startswith("ln_"):
            p[name] = (p[name] + 0.5 * rng.standard_normal(p[name].shape)).astype(dtype)
    xs = rng.standard_normal((T, B, I)).astype(dtype)
    sizes = cell.state_sizes(hidden, opts)
    state0 = tuple(rng.standard_normal((B, n)).astype(dtype) for n in sizes)
    mask = (np.arange(T)[:, None] < np.asarray(lengths)).astype(dtype) if masked else None
    drop = None
    if dropped:
        drop = ((rng.random((B, state0[0].shape[1])) < keep) / keep).astype(dtype)
    R = rng.standard_normal((T, B, cell.output_size(hidden, opts))).astype(dtype)
    S = tuple(rng.standard_normal(s.shape).astype(dtype) for s in state0)
    return p, xs, state0, mask, drop, R, S


def projection_loss(cell: ModuleType, p, xs, state0, opts, mask, drop, R, S) -> float:
    """L = Σ_t ⟨R_t, out_t⟩ + Σ_k ⟨S_k, state_T[k]⟩."""
    outs, state, _ = unroll.forward(cell, p, xs, state0, opts, mask, drop)
    return float((R * outs).sum() + sum((s * d).sum() for s, d in zip(S, state)))


def smallest_pre_activation(
    cell: ModuleType, opts: CellOptions, masked: bool, dropped: bool, **options
) -> float:
    """min |a_t| over every step and unit of ``problem``'s run: how close relu comes to its kink.

    For the cells with a_t = W_ih x_t + b_ih + (M ⊙ W_hh) r_{t−1} + b_hh, the recurrent input
    r_{t−1} (after dropout) first in each step's cache, and M a fixed ``connection_mask``.
    """
    p, xs, state0, mask, drop, _, _ = problem(cell, opts, masked, dropped, **options)
    _, _, cache = unroll.forward(cell, p, xs, state0, opts, mask, drop)
    r = np.stack([c[0] for c in cache.caches])
    W_hh = p.get("connection_mask", 1) * p["weight_hh"]
    a = xs @ p["weight_ih"].T + p["bias_ih"] + r @ W_hh.T + p["bias_hh"]
    return float(np.abs(a).min())


def finite_difference_errors(
    cell: ModuleType,
    opts: CellOptions,
    masked: bool,
    dropped: bool,
    *,
    fixed: tuple[str, ...] = (),
    **options,
) -> dict[str, float]:
    """Relative error of every gradient (parameters, xs, each initial state) in float64.

    ``options`` go to ``problem``.  Parameters named in ``fixed`` are never trained: their
    gradient must be zero, and they are left out of the comparison.
    """
    p, xs, state0, mask, drop, R, S = problem(cell, opts, masked, dropped, **options)
    _, _, cache = unroll.forward(cell, p, xs, state0, opts, mask, drop)
    dxs, dstate0, grads = unroll.backward(cell, p, cache, R, S, opts)
    assert {k: g.shape for k, g in grads.items()} == {k: w.shape for k, w in p.items()}
    for name in fixed:
        np.testing.assert_array_equal(grads.pop(name), 0)
    trained = {k: w for k, w in p.items() if k not in fixed}
    arrays = {**trained, "xs": xs, **{f"state0[{k}]": s for k, s in enumerate(state0)}}
    analytic = {**grads, "xs": dxs, **{f"state0[{k}]": d for k, d in enumerate(dstate0)}}
    return check_gradients(
        lambda: projection_loss(cell, p, xs, state0, opts, mask, drop, R, S), arrays, analytic
    )


def assert_matches_torch_autograd(
    torch,
    cell: ModuleType,
    opts: CellOptions,
    problem_arrays,
    step,
    *,
    fixed: tuple[str, ...] = (),
) -> None:
    """``unroll``'s outputs, final state and gradients equal torch autograd's of ``step``.

    ``problem_arrays``: ``problem``'s, without a mask.  ``step(w, x_t, state, drop)`` →
    ``(out_t, state_t)`` is one step of the cell's equations in torch ops (``w`` the parameters
    as tensors, ``state`` a tuple); the loss is ``projection_loss``'s.  Parameters named in
    ``fixed`` are not trained and get no gradient to compare.
    """
    p, xs, state0, mask, drop, R, S = problem_arrays
    assert mask is None, "the torch equations take no mask"
    outs, state, cache = unroll.forward(cell, p, xs, state0, opts, None, drop)
    dxs, dstate0, grads = unroll.backward(cell, p, cache, R, S, opts)

    w = {name: torch.tensor(v, requires_grad=name not in fixed) for name, v in p.items()}
    t_xs = torch.tensor(xs, requires_grad=True)
    t_state0 = tuple(torch.tensor(s, requires_grad=True) for s in state0)
    t_drop = None if drop is None else torch.from_numpy(drop)
    t_state, t_outs = t_state0, []
    for x in t_xs:
        out, t_state = step(w, x, t_state, t_drop)
        t_outs.append(out)
    t_outs = torch.stack(t_outs)
    loss = (torch.from_numpy(R) * t_outs).sum()
    (loss + sum((torch.from_numpy(s) * t).sum() for s, t in zip(S, t_state))).backward()

    def same(ours, theirs):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=0, atol=TORCH_ATOL)

    same(outs, t_outs)
    same(dxs, t_xs.grad)
    for k in range(len(state0)):
        same(state[k], t_state[k])
        same(dstate0[k], t_state0[k].grad)
    for name in p:
        if name not in fixed:
            same(grads[name], w[name].grad)
