"""The float32 Elman kernel's three ways through its time loop — a Python loop of NumPy
products, one compiled call with one product per step, and one compiled call with each
product split into row blocks — each equal to the reference (``cells.unroll``), and equal to
one another within float32 rounding (BLAS groups the row blocks' sums as it likes)."""

import numpy as np
import pytest

from rnnkit.cells import CellOptions, unroll
from rnnkit.kernels import _jit
from rnnkit.kernels import elman_fused as ef
from tests.conftest import assert_equal_to_rounding
from tests.kernels.test_parity import assert_same, problem, run

MODES = {  # mode → (LOOP, ONE_THREAD_MACS) for T = 6, B = 5, H = 4
    "python": (False, ef.ONE_THREAD_MACS),
    "compiled": (True, ef.ONE_THREAD_MACS),  # rows = B: one product per step
    "row-blocks": (True, 2 * 4 * 4),  # rows = 2: blocks of 2, 2 and 1 rows
}
needs_blas = pytest.mark.skipif(not _jit.BLAS, reason="Numba finds no BLAS (SciPy missing)")


@pytest.fixture(params=list(MODES))
def mode(request, monkeypatch):
    loop, macs = MODES[request.param]
    if loop and not _jit.BLAS:
        pytest.skip("Numba finds no BLAS (SciPy missing)")
    monkeypatch.setattr(ef, "LOOP", loop)
    monkeypatch.setattr(ef, "MIN_ROWS", 2)
    monkeypatch.setattr(ef, "ONE_THREAD_MACS", macs)
    return request.param


def test_the_modes_take_their_paths(mode):
    assert ef.loop_rows(5, 4) == {"python": 0, "compiled": 5, "row-blocks": 2}[mode]


@pytest.mark.parametrize("relu", [False, True], ids=["tanh", "relu"])
@pytest.mark.parametrize("dropped", [False, True], ids=["no-dropout", "dropout"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_every_mode_matches_the_reference(mode, masked, dropped, relu):
    opts = CellOptions(nonlinearity="relu" if relu else "tanh")
    pr = problem("elman", opts, (6, 5, 3, 4), np.float32, masked=masked, dropped=dropped)
    assert_same(run(ef, pr, opts), run(unroll, pr, opts), np.float32)


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_every_mode_matches_the_reference_for_token_ids(mode, masked):
    opts, V = CellOptions(), 7
    pr = problem("elman", opts, (6, 5, V, 4), np.float32, masked=masked, dropped=True)
    ids = np.random.default_rng(4).integers(0, V, size=(6, 5))
    spec = run(unroll, pr | {"xs": np.eye(V, dtype=np.float32)[ids]}, opts)
    assert_same(run(ef, pr | {"xs": ids}, opts), spec, np.float32)


@needs_blas
def test_the_compiled_loop_equals_the_python_loop_to_rounding(monkeypatch):
    """Same arithmetic, products by another BLAS call: equal within float32 rounding of the
    sums (H terms a product, T steps of recurrence)."""
    opts = CellOptions()
    pr = problem("elman", opts, (20, 8, 3, 16), np.float32, masked=True, dropped=True)
    monkeypatch.setattr(ef, "MIN_ROWS", 2)
    results = {}
    for loop, macs in ((False, ef.ONE_THREAD_MACS), (True, ef.ONE_THREAD_MACS), (True, 512)):
        monkeypatch.setattr(ef, "LOOP", loop)
        monkeypatch.setattr(ef, "ONE_THREAD_MACS", macs)
        results[loop, macs] = run(ef, pr, opts)
    assert ef.loop_rows(8, 16) == 2
    (outs, final, dxs, ds0, grads), *others = results.values()
    for o_outs, o_final, o_dxs, o_ds0, o_grads in others:
        assert_equal_to_rounding(o_outs, outs, operations=20 * 16, err_msg="outputs")
        assert_equal_to_rounding(o_final[0], final[0], operations=20 * 16, err_msg="h_T")
        assert_equal_to_rounding(o_dxs, dxs, operations=20 * 16, err_msg="dxs")
        assert_equal_to_rounding(o_ds0[0], ds0[0], operations=20 * 16, err_msg="dh_0")
        for key, g in grads.items():
            assert_equal_to_rounding(o_grads[key], g, operations=20 * 8 * 16, err_msg=key)


def test_large_products_stay_with_the_python_loop():
    """A product too large for row blocks of MIN_ROWS (H > 256) keeps NumPy's product."""
    assert ef.loop_rows(64, 1024) == 0
    assert ef.loop_rows(2, 1024) == 0
    if ef.LOOP:
        assert ef.loop_rows(64, 64) == 64
        assert ef.loop_rows(32, 128) == 16
        assert ef.loop_rows(32, 256) == 4
