"""Every fast kernel equals the reference time loop (``cells.unroll``), the spec: each module
the registry lists, in each dtype it is listed for (forced, whether or not ``resolve`` would
pick it)."""

from importlib import import_module

import numpy as np
import pytest

from rnnkit import kernels
from rnnkit.cells import CellOptions, get_cell, unroll
from rnnkit.layers.recurrent import Recurrent, RecurrentConfig


def tolerance(dtype) -> dict[str, float]:
    """Rounding of a few hundred operations in ``dtype`` (sums over T, B and H, tanh, exp):
    the kernels and the reference differ by grouping and summation order only."""
    eps = float(np.finfo(dtype).eps)
    return {"rtol": 500 * eps, "atol": 100 * eps}


CLAIMED = [  # (cell, options) for every option set a kernel claims to support
    ("elman", CellOptions(nonlinearity="tanh")),
    ("elman", CellOptions(nonlinearity="relu")),
    ("lstm", CellOptions()),
    ("lstm", CellOptions(forget_bias=1.0)),
    ("gru", CellOptions()),
]
UNSUPPORTED = [
    ("lstm", CellOptions(peepholes=True)),
    ("lstm", CellOptions(layer_norm=True)),
    ("gru", CellOptions(reset_after=False)),
    ("gru", CellOptions(layer_norm=True)),
]
SHAPES = [(1, 1, 1, 1), (5, 3, 4, 6), (9, 4, 2, 3), (4, 2, 7, 5)]  # T, B, I, H
# (I ≤ 4 takes the compiled input projection in float32, I = 7 BLAS: seq.NARROW)


REGISTERED = [
    (cell, path, np.dtype(dt).type)
    for cell, entries in kernels.KERNELS.items()
    for path, dtypes in entries
    for dt in dtypes
]
"""(cell, module path, dtype) of every registered kernel in every dtype it registers."""
CASES = [
    (name, opts, path, dtype)
    for name, opts in CLAIMED
    for cell, path, dtype in REGISTERED
    if cell == name
]
CASE_IDS = [
    f"{name}-{CLAIMED.index((name, opts))}-{path.rsplit('.', 1)[1]}-"
    f"{'f32' if dtype == np.float32 else 'f64'}"
    for name, opts, path, dtype in CASES
]


def test_every_registered_kernel_and_dtype_is_a_parity_case():
    assert {(path, dtype) for _, _, path, dtype in CASES} == {
        (path, dtype) for _, path, dtype in REGISTERED
    }
    assert {path for _, path, _ in REGISTERED} >= {
        f"rnnkit.kernels.{cell}{kind}"
        for cell in ("elman", "lstm", "gru")
        for kind in ("", "_fused")
    }


def kernel(name: str):
    return kernels.resolve(name, CellOptions(), np.float64, backend="fast")


def problem(name, opts, shape, dtype, *, masked, dropped, seed=0):
    """Parameters, inputs, state, mask, dropout and upstream gradients of one case."""
    T, B, I, H = shape
    cell = get_cell(name)
    rng = np.random.default_rng(seed)
    sizes = cell.state_sizes(H, opts)
    lengths = rng.integers(1, T + 1, size=B)
    lengths[0] = T
    return {
        "cell": cell,
        "p": cell.init_params(I, H, opts, rng, dtype),
        "xs": rng.standard_normal((T, B, I)).astype(dtype),
        "state0": tuple(rng.standard_normal((B, n)).astype(dtype) for n in sizes),
        "mask": np.arange(T)[:, None] < lengths[None, :] if masked else None,
        "drop": ((rng.random((B, H)) >= 0.3) / 0.7).astype(dtype) if dropped else None,
        "douts": rng.standard_normal((T, B, H)).astype(dtype),
        "dstate": tuple(rng.standard_normal((B, n)).astype(dtype) for n in sizes),
    }


def run(impl, pr, opts):
    """(outs, final state, dxs, dstate0, grads) of one implementation."""
    outs, final, cache = impl.forward(
        pr["cell"], pr["p"], pr["xs"], pr["state0"], opts, pr["mask"], pr["drop"]
    )
    dxs, dstate0, grads = impl.backward(
        pr["cell"], pr["p"], cache, pr["douts"], pr["dstate"], opts
    )
    return outs, final, dxs, dstate0, grads


def assert_same(ours, spec, dtype):
    tol = tolerance(dtype)
    np.testing.assert_allclose(ours[0], spec[0], **tol, err_msg="outputs")
    for k, (a, b) in enumerate(zip(ours[1], spec[1], strict=True)):
        np.testing.assert_allclose(a, b, **tol, err_msg=f"final state {k}")
    np.testing.assert_allclose(ours[2], spec[2], **tol, err_msg="dxs")
    for k, (a, b) in enumerate(zip(ours[3], spec[3], strict=True)):
        np.testing.assert_allclose(a, b, **tol, err_msg=f"dstate0 {k}")
    assert set(ours[4]) == set(spec[4]), "every parameter gets a gradient"
    for key, g in spec[4].items():
        assert ours[4][key].dtype == g.dtype and ours[4][key].shape == g.shape, key
        np.testing.assert_allclose(ours[4][key], g, **tol, err_msg=key)


@pytest.mark.parametrize("dropped", [False, True], ids=["no-dropout", "dropout"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("shape", SHAPES, ids=["T1B1", "T5B3", "T9B4", "T4I7"])
@pytest.mark.parametrize("name,opts,path,dtype", CASES, ids=CASE_IDS)
def test_kernel_matches_reference(name, opts, path, dtype, shape, masked, dropped):
    impl = import_module(path)
    assert impl.supports(opts, dtype), f"{path} is registered for {opts} in {dtype.__name__}"
    pr = problem(name, opts, shape, dtype, masked=masked, dropped=dropped)
    assert_same(run(impl, pr, opts), run(unroll, pr, opts), dtype)


@pytest.mark.parametrize(
    "name,path,dtype",
    REGISTERED,
    ids=[f"{p.rsplit('.', 1)[1]}-{'f32' if d == np.float32 else 'f64'}" for _, p, d in REGISTERED],
)
def test_kernel_matches_reference_on_reversed_views(name, path, dtype):
    """A bidirectional layer hands the kernel negative-stride views of xs and douts."""
    opts = CellOptions()
    pr = problem(name, opts, (6, 3, 2, 4), dtype, masked=True, dropped=False)
    pr = pr | {"xs": pr["xs"][::-1], "douts": pr["douts"][::-1], "mask": pr["mask"][::-1]}
    assert_same(run(import_module(path), pr, opts), run(unroll, pr, opts), dtype)


@pytest.mark.parametrize("name", ["elman", "lstm", "gru"])
def test_kernel_leaves_its_inputs_and_gradients_independent(name):
    """Inputs are not mutated, and mutating the outputs afterwards does not change gradients."""
    opts = CellOptions()
    pr = problem(name, opts, (4, 2, 3, 5), np.float64, masked=False, dropped=False)
    params_before, xs_before = {k: v.copy() for k, v in pr["p"].items()}, pr["xs"].copy()
    impl = kernel(name)
    outs, final, cache = impl.forward(pr["cell"], pr["p"], pr["xs"], pr["state0"], opts)
    expected = impl.backward(pr["cell"], pr["p"], cache, pr["douts"], pr["dstate"], opts)
    outs[...] = 7.0
    for s in final:
        s[...] = 7.0
    again = impl.backward(pr["cell"], pr["p"], cache, pr["douts"], pr["dstate"], opts)
    for key, g in expected[2].items():
        np.testing.assert_array_equal(again[2][key], g, err_msg=key)
    for key, v in params_before.items():
        np.testing.assert_array_equal(pr["p"][key], v, err_msg=key)
    np.testing.assert_array_equal(pr["xs"], xs_before)


@pytest.mark.parametrize(
    "name,opts", UNSUPPORTED, ids=[f"{n}-{i}" for i, (n, _) in enumerate(UNSUPPORTED)]
)
def test_unsupported_options_fall_back_to_the_reference(name, opts):
    assert kernels.resolve(name, opts, np.float32, backend="fast") is unroll


FIRST_CHOICE = {  # (cell, dtype) → the kernel "auto" and "fast" pick
    ("elman", np.float32): "elman_fused",
    ("elman", np.float64): "elman",
    ("gru", np.float32): "gru_fused",
    ("gru", np.float64): "gru",
    ("lstm", np.float32): "lstm_fused",
    ("lstm", np.float64): "lstm",
}


@pytest.mark.parametrize("backend", ["auto", "fast"])
@pytest.mark.parametrize(
    "name,dtype", list(FIRST_CHOICE), ids=[f"{n}-{d.__name__}" for n, d in FIRST_CHOICE]
)
def test_auto_and_fast_pick_the_kernel(name, dtype, backend):
    impl = kernels.resolve(name, CellOptions(), dtype, backend=backend)
    assert impl.__name__ == f"rnnkit.kernels.{FIRST_CHOICE[name, dtype]}"


@pytest.mark.parametrize("name", ["elman", "lstm", "gru"])
def test_a_float32_stacked_bidirectional_layer_on_the_fused_kernels_matches_the_reference(name):
    """Through the layer: reversed directions, lengths, dropout between layers and on h."""
    config = RecurrentConfig(
        cell=name,
        input_size=3,
        hidden_size=5,
        num_layers=2,
        bidirectional=True,
        dropout=0.2,
        recurrent_dropout=0.3,
    )
    fast = Recurrent(config, rng=np.random.default_rng(0), dtype=np.float32, backend="fast")
    spec = Recurrent(config, params=fast.state_dict(), dtype=np.float32, backend="reference")
    assert fast.impl.__name__.endswith("_fused")
    x = np.random.default_rng(1).standard_normal((7, 4, 3)).astype(np.float32)
    lengths = np.array([7, 3, 5, 1])
    results = []
    for layer in (fast, spec):
        out, final, cache = layer.forward(
            x, lengths=lengths, train=True, rng=np.random.default_rng(2)
        )
        d_out = np.random.default_rng(3).standard_normal(out.shape).astype(np.float32)
        results.append((out, final, *layer.backward(cache, d_out)))
    (out, final, dx, ds0, grads), (out_r, final_r, dx_r, ds0_r, grads_r) = results
    tol = tolerance(np.float32)
    np.testing.assert_allclose(out, out_r, **tol)
    for a, b in ((final, final_r), (ds0, ds0_r)):  # arrays, or (h, c) pairs for the LSTM
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **tol)
    np.testing.assert_allclose(dx, dx_r, **tol)
    for key, g in grads_r.items():
        np.testing.assert_allclose(grads[key], g, **tol, err_msg=key)


TOKEN_KERNELS = [
    name
    for name in ("elman", "lstm", "gru")
    if getattr(kernels.resolve(name, CellOptions(), np.float32), "TOKEN_IDS", False)
]


def test_the_fused_kernels_take_token_ids():
    assert TOKEN_KERNELS == ["elman", "lstm", "gru"]


@pytest.mark.parametrize("reversed_view", [False, True], ids=["forward", "reversed"])
@pytest.mark.parametrize("need_dx", [True, False], ids=["dx", "no-dx"])
@pytest.mark.parametrize("dropped", [False, True], ids=["no-dropout", "dropout"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("name", TOKEN_KERNELS)
def test_token_ids_give_the_reference_results_on_their_one_hot_rows(
    name, masked, dropped, need_dx, reversed_view
):
    """ids [T, B] in the kernel == one-hot rows [T, B, V] in the reference, dx included (the
    gradient with respect to the one-hot rows), with repeated and unused ids."""
    opts, V = CellOptions(), 7
    pr = problem(name, opts, (9, 4, V, 5), np.float32, masked=masked, dropped=dropped)
    ids = np.random.default_rng(4).integers(0, V - 2, size=(9, 4))  # ids V−2, V−1 unused
    one_hot = np.eye(V, dtype=np.float32)[ids]
    if reversed_view:
        ids, one_hot = ids[::-1], one_hot[::-1]
        pr["mask"] = None if pr["mask"] is None else pr["mask"][::-1]
    spec = run(unroll, pr | {"xs": one_hot}, opts)
    impl = kernels.resolve(name, opts, np.float32)
    outs, final, cache = impl.forward(
        pr["cell"], pr["p"], ids, pr["state0"], opts, pr["mask"], pr["drop"]
    )
    back = impl.backward(
        pr["cell"], pr["p"], cache, pr["douts"], pr["dstate"], opts, need_dx=need_dx
    )
    ours = (outs, final, back[0] if need_dx else spec[2], back[1], back[2])
    assert need_dx or back[0] is None
    assert_same(ours, spec, np.float32)
    np.testing.assert_array_equal(ours[4]["weight_ih"][:, V - 2 :], 0)  # unused ids: no gradient
