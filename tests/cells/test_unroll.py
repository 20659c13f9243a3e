"""The reference time loop, for every cell: stepping by hand, masks, purity."""

import copy

import numpy as np
import pytest

from rnnkit.cells import CELL_NAMES, CellOptions, get_cell, unroll

T, B, I, H = 5, 3, 3, 3
LENGTHS = (5, 3, 1)  # real steps of each sequence in the masked batch
OPTS = CellOptions(output_size=2)  # jordan / fully_recurrent get O ≠ H; the others ignore it
EXACT = {"rtol": 0, "atol": 1e-12}  # the same float64 arithmetic, up to summation order


def load(name: str):
    """The cell module, or skip the test while it is not written yet."""
    try:
        return get_cell(name)
    except ImportError as error:  # ModuleNotFoundError included
        pytest.skip(f"cell {name!r} cannot be imported: {error}")


def make_problem(cell, *, dropped: bool, seed: int = 0) -> dict:
    """Random float64 parameters, inputs, state, dropout and loss projections R, S."""
    rng = np.random.default_rng(seed)
    sizes = cell.state_sizes(H, OPTS)
    return {
        "p": cell.init_params(I, H, OPTS, rng, np.float64),
        "xs": rng.standard_normal((T, B, I)),
        "state0": tuple(rng.standard_normal((B, n)) for n in sizes),
        "drop": (rng.random((B, sizes[0])) >= 0.5) / 0.5 if dropped else None,
        "R": rng.standard_normal((T, B, cell.output_size(H, OPTS))),  # ∂L/∂outs
        "S": tuple(rng.standard_normal((B, n)) for n in sizes),  # ∂L/∂state_T
    }


def stack(steps: list):
    """Per-step NamedTuples → one NamedTuple of [T, ...] arrays (None fields stay None)."""
    fields = zip(*steps)
    return type(steps[0])(*(None if f[0] is None else np.stack(f) for f in fields))


cells = pytest.mark.parametrize("name", CELL_NAMES)
dropout = pytest.mark.parametrize("dropped", [False, True], ids=["no-drop", "drop"])


@dropout
@cells
def test_driver_equals_stepping_the_cell_by_hand(name, dropped):
    cell = load(name)
    pr = make_problem(cell, dropped=dropped)
    p, xs, R = pr["p"], pr["xs"], pr["R"]
    outs, final, cache = unroll.forward(cell, p, xs, pr["state0"], OPTS, None, pr["drop"])
    dxs, dstate0, grads = unroll.backward(cell, p, cache, R, pr["S"], OPTS)

    state, by_hand, caches = pr["state0"], [], []
    for x in xs:
        ax = x @ p["weight_ih"].T  # without bias: the cell adds b_ih
        out, state, step_cache = cell.step_forward(p, ax, state, OPTS, pr["drop"])
        by_hand.append(out)
        caches.append(step_cache)
    np.testing.assert_allclose(outs, np.stack(by_hand), **EXACT)
    for ours, theirs in zip(final, state, strict=True):
        np.testing.assert_allclose(ours, theirs, **EXACT)

    dstate, dax, dsteps = pr["S"], [None] * T, [None] * T
    for t in reversed(range(T)):
        dax[t], dstate, dsteps[t] = cell.step_backward(p, R[t], dstate, caches[t], OPTS)
    expected = cell.param_grads(p, stack(caches), stack(dsteps), OPTS)
    expected["weight_ih"] = sum(dax[t].T @ xs[t] for t in range(T))  # Σ_t da_tᵀ x_t
    assert grads.keys() == p.keys() == expected.keys()
    for key, g in grads.items():
        np.testing.assert_allclose(g, expected[key], **EXACT, err_msg=key)
    np.testing.assert_allclose(dxs, np.stack(dax) @ p["weight_ih"], **EXACT)  # dx_t = da_t W_ih
    for ours, theirs in zip(dstate0, dstate, strict=True):
        np.testing.assert_allclose(ours, theirs, **EXACT)


@pytest.mark.parametrize("padding", ["right", "left"])
@dropout
@cells
def test_masked_batch_equals_each_sequence_run_alone(name, dropped, padding):
    cell = load(name)
    pr = make_problem(cell, dropped=dropped)
    p, xs, R = pr["p"], pr["xs"], pr["R"]
    real = [slice(0, n) if padding == "right" else slice(T - n, T) for n in LENGTHS]
    mask = np.zeros((T, B), dtype=bool)
    for b, steps in enumerate(real):
        mask[steps, b] = True
    outs, final, cache = unroll.forward(cell, p, xs, pr["state0"], OPTS, mask, pr["drop"])
    dxs, dstate0, grads = unroll.backward(cell, p, cache, R, pr["S"], OPTS)

    summed = {key: np.zeros_like(g) for key, g in grads.items()}
    for b, steps in enumerate(real):
        one = slice(b, b + 1)
        drop = None if pr["drop"] is None else pr["drop"][one]
        state0 = tuple(s[one] for s in pr["state0"])
        o, f, c = unroll.forward(cell, p, xs[steps, one], state0, OPTS, None, drop)
        dstate = tuple(s[one] for s in pr["S"])
        dx, ds0, g = unroll.backward(cell, p, c, R[steps, one], dstate, OPTS)
        np.testing.assert_allclose(outs[steps, one], o, **EXACT)
        np.testing.assert_array_equal(outs[~mask[:, b], one], 0)
        np.testing.assert_allclose(dxs[steps, one], dx, **EXACT)
        np.testing.assert_array_equal(dxs[~mask[:, b], one], 0)
        for k in range(len(final)):
            np.testing.assert_allclose(final[k][one], f[k], **EXACT)
            np.testing.assert_allclose(dstate0[k][one], ds0[k], **EXACT)
        for key in summed:
            summed[key] += g[key]
    for key, g in grads.items():
        np.testing.assert_allclose(g, summed[key], **EXACT, err_msg=key)


@cells
def test_driver_never_mutates_its_inputs(name):
    cell = load(name)
    pr = make_problem(cell, dropped=True)
    pr["mask"] = np.arange(T)[:, None] < np.array(LENGTHS)
    before = copy.deepcopy(pr)
    args = (pr["p"], pr["xs"], pr["state0"], OPTS, pr["mask"], pr["drop"])
    outs, final, cache = unroll.forward(cell, *args)
    first = unroll.backward(cell, pr["p"], cache, pr["R"], pr["S"], OPTS)
    outs2, final2, cache2 = unroll.forward(cell, *args)
    second = unroll.backward(cell, pr["p"], cache2, pr["R"], pr["S"], OPTS)

    def equal(a, b):  # arrays, tuples and dicts of arrays, or None
        if isinstance(a, dict):
            assert a.keys() == b.keys()
            return all(equal(a[k], b[k]) for k in a)
        if isinstance(a, tuple):
            return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
        return (a is None and b is None) or np.array_equal(a, b)

    for key in before:
        assert equal(pr[key], before[key]), f"{key} was modified"
    assert equal((outs, final, first), (outs2, final2, second))  # a second run is identical
