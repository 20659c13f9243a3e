"""The kernels' buffer pool: reused across calls, never visible in anything handed out."""

import gc

import numpy as np
import pytest

from rnnkit import kernels
from rnnkit.cells import CellOptions
from rnnkit.kernels._workspace import POOL, Pool
from rnnkit.layers.recurrent import Recurrent, RecurrentConfig

from .test_parity import kernel, problem, run

CELLS = ["elman", "lstm", "gru"]
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])


def fresh_problem(name, seed, masked=True, dtype=np.float64):
    return problem(
        name, CellOptions(), (5, 3, 4, 6), dtype, masked=masked, dropped=True, seed=seed
    )


@DTYPES
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "mask"])
@pytest.mark.parametrize("name", CELLS)
def test_results_handed_out_are_not_overwritten_by_later_calls(name, masked, dtype):
    impl = kernels.resolve(name, CellOptions(), dtype, backend="fast")
    first = run(impl, fresh_problem(name, 0, masked, dtype), CellOptions())
    kept = [np.copy(a) for a in (first[0], *first[1], *first[3], *first[4].values())]
    gc.collect()  # the first call's cache is gone: its buffers are back in the pool
    run(impl, fresh_problem(name, 1, masked, dtype), CellOptions())
    now = [first[0], *first[1], *first[3], *first[4].values()]
    for before, after in zip(kept, now, strict=True):
        np.testing.assert_array_equal(after, before)


@DTYPES
@pytest.mark.parametrize("name", CELLS)
def test_a_held_cache_gives_the_same_gradients_after_other_calls(name, dtype):
    impl, opts = kernels.resolve(name, CellOptions(), dtype, backend="fast"), CellOptions()
    pr = fresh_problem(name, 0, dtype=dtype)
    _, _, cache = impl.forward(
        pr["cell"], pr["p"], pr["xs"], pr["state0"], opts, pr["mask"], pr["drop"]
    )
    expected = impl.backward(pr["cell"], pr["p"], cache, pr["douts"], pr["dstate"], opts)
    for seed in (1, 2):
        run(impl, fresh_problem(name, seed, dtype=dtype), opts)
    again = impl.backward(pr["cell"], pr["p"], cache, pr["douts"], pr["dstate"], opts)
    np.testing.assert_array_equal(again[0], expected[0])
    for key, g in expected[2].items():
        np.testing.assert_array_equal(again[2][key], g, err_msg=key)


@pytest.mark.parametrize("name", CELLS)
def test_a_dropped_cache_returns_its_buffers_to_the_pool(name):
    impl, opts = kernel(name), CellOptions()
    pr = fresh_problem(name, 0)
    POOL.clear()
    cache = impl.forward(pr["cell"], pr["p"], pr["xs"], pr["state0"], opts)[2]
    assert POOL.idle_bytes == 0
    del cache
    gc.collect()
    assert POOL.idle_bytes > 0


@pytest.mark.parametrize("max_bytes,kept", [(0, 0), (800, 800), (799, 0)])
def test_the_pool_keeps_no_more_idle_bytes_than_its_limit(max_bytes, kept):
    pool = Pool(max_bytes)
    pool.give(np.empty(100, np.float64))
    assert pool.idle_bytes == kept


def test_the_pool_keeps_what_was_in_use_at_once_even_beyond_its_limit():
    """A step that needs more than max_bytes gets all its buffers back the next time."""
    pool = Pool(max_bytes=1000)
    step = [pool.take((100,), np.float64) for _ in range(3)]  # 2 400 bytes in use at once
    pool.give(*step)
    assert pool.idle_bytes == 2400
    again = [pool.take((100,), np.float64) for _ in range(3)]
    assert {id(b) for b in again} == {id(b) for b in step}, "every buffer reused"
    pool.give(*again)
    pool.give(np.empty(100, np.float64))  # beyond the high-water mark: dropped
    assert pool.idle_bytes == 2400
    pool.clear()
    assert pool.idle_bytes == 0
    pool.give(np.empty(200, np.float64))  # 1 600 > max_bytes, and the mark is forgotten
    assert pool.idle_bytes == 0


def test_the_high_water_mark_counts_only_up_to_the_cap():
    pool = Pool(max_bytes=0, cap=1000)
    step = [pool.take((100,), np.float64) for _ in range(2)]  # 1 600 bytes in use at once
    pool.give(*step)
    assert pool.idle_bytes == 800


def test_the_pool_hands_back_a_buffer_of_the_asked_shape_and_dtype():
    pool = Pool()
    buf = np.empty((3, 4), np.float32)
    pool.give(buf)
    assert pool.take((3, 4), np.float64) is not buf
    assert pool.take((4, 3), np.float32) is not buf
    assert pool.take((3, 4), np.float32) is buf
    assert pool.idle_bytes == 0


@pytest.mark.parametrize("name", CELLS)
def test_need_dx_false_skips_only_the_input_gradient(name):
    impl, opts = kernel(name), CellOptions()
    pr = fresh_problem(name, 0)
    full = run(impl, pr, opts)
    _, _, cache = impl.forward(
        pr["cell"], pr["p"], pr["xs"], pr["state0"], opts, pr["mask"], pr["drop"]
    )
    dxs, dstate0, grads = impl.backward(
        pr["cell"], pr["p"], cache, pr["douts"], pr["dstate"], opts, need_dx=False
    )
    assert dxs is None
    for a, b in zip(dstate0, full[3], strict=True):
        np.testing.assert_array_equal(a, b)
    for key, g in full[4].items():
        np.testing.assert_array_equal(grads[key], g, err_msg=key)


@pytest.mark.parametrize("backend", ["fast", "reference"])
@pytest.mark.parametrize("name", CELLS)
def test_layer_backward_without_dx_gives_the_same_gradients(name, backend):
    config = RecurrentConfig(
        cell=name, input_size=3, hidden_size=4, num_layers=2, bidirectional=True
    )
    layer = Recurrent(config, rng=np.random.default_rng(0), dtype=np.float64, backend=backend)
    x = np.random.default_rng(1).standard_normal((5, 2, 3))
    out, _, cache = layer.forward(x)
    d_out = np.random.default_rng(2).standard_normal(out.shape)
    dx, ds0, grads = layer.backward(cache, d_out)
    none, ds0_skip, grads_skip = layer.backward(cache, d_out, need_dx=False)
    assert dx.shape == x.shape and none is None
    for a, b in zip(ds0_skip, ds0, strict=True):
        np.testing.assert_array_equal(a, b)
    for key, g in grads.items():
        np.testing.assert_array_equal(grads_skip[key], g, err_msg=key)


def test_over_its_limit_the_pool_drops_the_shapes_given_back_longest_ago():
    """An earlier workload's idle buffers make room for the current loop's, not the reverse."""
    pool = Pool(max_bytes=2400, cap=2400)
    old = [np.empty(100, np.float64) for _ in range(3)]  # an earlier workload: 2 400 bytes
    pool.give(*old)
    new = [np.empty(50, np.float32) for _ in range(2)] + [np.empty(200, np.float32)]
    pool.give(*new)  # 1 200 bytes of other shapes: two of the old buffers must go
    assert pool.idle_bytes == 2000
    kept = [
        pool.take((50,), np.float32),
        pool.take((50,), np.float32),
        pool.take((200,), np.float32),
        pool.take((100,), np.float64),
    ]
    assert {id(b) for b in kept} == {id(b) for b in new} | {id(old[2])}
    assert pool.idle_bytes == 0
