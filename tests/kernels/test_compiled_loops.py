"""The float32 Elman, LSTM and GRU kernels' three ways through their time loop — a Python loop of
NumPy products, one compiled call with one product per step, and one compiled call with each
product split into row blocks — each equal to the reference (``cells.unroll``), and equal to
one another within float32 rounding (BLAS groups the row blocks' sums as it likes)."""

import numpy as np
import pytest

from rnnkit.cells import CellOptions, unroll
from rnnkit.kernels import _jit, elman_fused, gru_fused, lstm_fused
from rnnkit.kernels import sequence as seq
from tests.conftest import assert_equal_to_rounding
from tests.kernels.test_parity import assert_same, problem, run

KERNELS = {"elman": elman_fused, "lstm": lstm_fused, "gru": gru_fused}
GATES = {"elman": 1, "lstm": 4, "gru": 3}
MODES = {  # mode → (LOOP, ONE_THREAD_MACS / G·H) for B = 5 (T = 5 or 6: dh ends in either array)
    "python": (False, 0),
    "compiled": (True, 0),  # rows = B: one product per step
    "row-blocks": (True, 2),  # rows = 2: blocks of 2, 2 and 1 rows
}
needs_blas = pytest.mark.skipif(not _jit.BLAS, reason="Numba finds no BLAS (SciPy missing)")


@pytest.fixture(params=list(KERNELS))
def name(request):
    return request.param


@pytest.fixture(params=list(MODES))
def mode(request, name, monkeypatch):
    loop, rows = MODES[request.param]
    if loop and not _jit.BLAS:
        pytest.skip("Numba finds no BLAS (SciPy missing)")
    monkeypatch.setattr(KERNELS[name], "LOOP", loop)
    monkeypatch.setattr(seq, "MIN_ROWS", 2)
    if rows:
        monkeypatch.setattr(seq, "ONE_THREAD_MACS", rows * GATES[name] * 4 * 4)
    return request.param


def test_the_modes_take_their_paths(name, mode):
    rows = seq.loop_rows(5, 4, 4 * GATES[name]) if KERNELS[name].LOOP else 0
    assert rows == {"python": 0, "compiled": 5, "row-blocks": 2}[mode]


@pytest.mark.parametrize("T", [5, 6])
@pytest.mark.parametrize("dropped", [False, True], ids=["no-dropout", "dropout"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_every_mode_matches_the_reference(name, mode, masked, dropped, T):
    opts = CellOptions()
    pr = problem(name, opts, (T, 5, 3, 4), np.float32, masked=masked, dropped=dropped)
    assert_same(run(KERNELS[name], pr, opts), run(unroll, pr, opts), np.float32)


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_every_mode_matches_the_reference_with_relu(mode, masked):
    opts = CellOptions(nonlinearity="relu")
    pr = problem("elman", opts, (6, 5, 3, 4), np.float32, masked=masked, dropped=True)
    assert_same(run(elman_fused, pr, opts), run(unroll, pr, opts), np.float32)


@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
def test_every_mode_matches_the_reference_for_token_ids(name, mode, masked):
    opts, V = CellOptions(), 7
    pr = problem(name, opts, (6, 5, V, 4), np.float32, masked=masked, dropped=True)
    ids = np.random.default_rng(4).integers(0, V, size=(6, 5))
    spec = run(unroll, pr | {"xs": np.eye(V, dtype=np.float32)[ids]}, opts)
    assert_same(run(KERNELS[name], pr | {"xs": ids}, opts), spec, np.float32)


@needs_blas
def test_the_compiled_loop_equals_the_python_loop_to_rounding(name, monkeypatch):
    """Same arithmetic, products by another BLAS call: equal within float32 rounding of the
    sums (H terms a product, T steps of recurrence)."""
    opts, G = CellOptions(), GATES[name] * 16
    pr = problem(name, opts, (20, 8, 3, 16), np.float32, masked=True, dropped=True)
    monkeypatch.setattr(seq, "MIN_ROWS", 2)
    results = {}
    for loop, macs in ((False, seq.ONE_THREAD_MACS), (True, seq.ONE_THREAD_MACS), (True, 32 * G)):
        monkeypatch.setattr(KERNELS[name], "LOOP", loop)
        monkeypatch.setattr(seq, "ONE_THREAD_MACS", macs)
        results[loop, macs] = run(KERNELS[name], pr, opts)
    assert seq.loop_rows(8, 16, G) == 2
    (outs, final, dxs, ds0, grads), *others = results.values()
    for o_outs, o_final, o_dxs, o_ds0, o_grads in others:
        assert_equal_to_rounding(o_outs, outs, operations=20 * 16, err_msg="outputs")
        for k in range(len(final)):
            assert_equal_to_rounding(o_final[k], final[k], operations=20 * 16, err_msg="state")
            assert_equal_to_rounding(o_ds0[k], ds0[k], operations=20 * 16, err_msg="dstate")
        assert_equal_to_rounding(o_dxs, dxs, operations=20 * 16, err_msg="dxs")
        for key, g in grads.items():
            assert_equal_to_rounding(o_grads[key], g, operations=20 * 8 * 16, err_msg=key)


def test_row_blocks_of_the_bench_shapes_and_large_products_stay_with_the_python_loop():
    """A product too large for row blocks of MIN_ROWS (G·H > 2¹⁶) keeps NumPy's product."""
    assert seq.loop_rows(64, 1024, 1024) == 0
    assert seq.loop_rows(2, 1024, 1024) == 0
    assert seq.loop_rows(64, 64, 64) == 64  # B's Elman: one product
    assert seq.loop_rows(32, 128, 128) == 16  # D's
    assert seq.loop_rows(32, 256, 256) == 4  # A's
    assert seq.loop_rows(32, 128, 512) == 4  # D's LSTM
    assert seq.loop_rows(32, 256, 1024) == 0  # A's LSTM
    assert seq.loop_rows(64, 64, 256) == 16  # B's LSTM
