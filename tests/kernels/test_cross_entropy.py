"""The compiled float32 softmax cross-entropy against the float64 NumPy one (the spec, itself
held to finite differences and PyTorch in tests/test_losses.py)."""

import numpy as np
import pytest

from rnnkit.kernels._jit import exp32_array
from rnnkit.layers.losses import softmax_cross_entropy


def test_exp32_is_within_a_few_float32_roundings_of_exp():
    x = np.linspace(-87, 0, 3_000_001, dtype=np.float32)
    out = np.empty_like(x)
    exp32_array(x, out)
    exact = np.exp(x.astype(np.float64))
    rel = np.abs(out - exact) / exact
    assert rel.max() < 5e-7, f"largest relative error {rel.max():.2e} at x = {x[rel.argmax()]}"
    assert out[-1] == 1, "exp(0) = 1 exactly"


def test_exp32_clamps_below_the_smallest_normal_float32():
    x = np.array([-87.5, -1e4, -np.inf], np.float32)
    out = np.empty_like(x)
    exp32_array(x, out)
    assert np.all(out > 0) and np.all(out < 1.2e-38), out


@pytest.mark.parametrize(
    "shape", [(7, 5), (4, 3, 96), (3, 2, 1), (2, 5, 13)], ids=["N7-V5", "B4-T3-V96", "V1", "V13"]
)
@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("transposed", [False, True], ids=["contiguous", "batch-first-view"])
def test_float32_cross_entropy_matches_float64(shape, masked, transposed):
    rng = np.random.default_rng(len(shape) * 10 + shape[-1])
    z = (rng.standard_normal(shape) * 4).astype(np.float32)
    z.reshape(-1, shape[-1])[0, 0] = -300  # exp underflows: its loss must stay finite
    y = rng.integers(0, shape[-1], size=shape[:-1])
    y.reshape(-1)[0] = 0
    mask = None
    if masked:
        mask = (rng.random(shape[:-1]) < 0.7).astype(np.float32)
        mask.reshape(-1)[0] = 1
        y = np.where(mask == 1, y, -1)  # padding targets are never read
    if transposed and z.ndim == 3:  # the model's [B, T, V] view of [T, B, V] memory
        z, y = z.swapaxes(0, 1), y.swapaxes(0, 1)
        mask = None if mask is None else mask.swapaxes(0, 1)
    loss, dz = softmax_cross_entropy(z, y, mask)
    loss64, dz64 = softmax_cross_entropy(z.astype(np.float64), y, mask)
    assert dz.dtype == np.float32 and dz.shape == z.shape
    assert np.isfinite(loss) and abs(loss - loss64) <= 1e-6 * abs(loss64), (loss, loss64)
    np.testing.assert_allclose(dz, dz64, rtol=0, atol=2e-7 / np.prod(shape[:-1]) * 4)
    if masked:
        assert np.all(dz[mask == 0] == 0), "padding gets zero gradient"


def test_float32_cross_entropy_with_a_normalizer_and_nothing_counted():
    z = np.ones((3, 4), np.float32)
    y = np.array([0, 1, 2])
    loss, dz = softmax_cross_entropy(z, y, normalizer=6)
    assert loss == pytest.approx(np.log(4) / 2, rel=1e-6)  # 3 rows of log 4, over 6
    np.testing.assert_allclose(dz.sum(axis=1), 0, atol=1e-7)
    loss, dz = softmax_cross_entropy(z, y, np.zeros(3))
    assert loss == 0 and not dz.any()
