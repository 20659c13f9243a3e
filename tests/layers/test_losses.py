"""Losses: gradients against finite differences and PyTorch, stability, masks, errors."""

import math

import numpy as np
import pytest

from rnnkit.diagnostics.gradcheck import numerical_gradient, relative_error
from rnnkit.errors import ShapeError
from rnnkit.layers.losses import (
    bits_per_char,
    counted,
    log_softmax,
    mse,
    softmax,
    softmax_cross_entropy,
)
from tests.conftest import FD_RTOL, torch_or_skip

TORCH_TOL = 1e-12  # a loss is a handful of operations: only summation order differs

SHAPES = [(5, 4), (3, 2, 5), (2, 3, 1)]  # [N, V], [T, B, V], a single class
SHAPE_IDS = ["N5-V4", "T3-B2-V5", "T2-B3-V1"]


def _classification(shape, masked: bool, seed: int = 0):
    """Logits [..., V], targets [...] (padding marked −1 where masked) and the mask."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape) * 3
    y = rng.integers(0, shape[-1], size=shape[:-1])
    mask = None
    if masked:
        mask = (rng.random(shape[:-1]) < 0.6).astype(np.float64)
        mask.reshape(-1)[0] = 1  # at least one counted position
        mask.reshape(-1)[-1] = 0  # at least one padded position
        y = np.where(mask == 1, y, -1)
    return z, y, mask


@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_cross_entropy_gradient_matches_finite_differences(shape, masked):
    z, y, mask = _classification(shape, masked)
    _, dz = softmax_cross_entropy(z, y, mask)
    numeric = numerical_gradient(lambda: softmax_cross_entropy(z, y, mask)[0], z)
    assert relative_error(dz, numeric) < FD_RTOL


@pytest.mark.parametrize("mask_kind", ["none", "positions", "elements"])
@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 2)], ids=["N4-O3", "T3-B2-O2"])
def test_mse_gradient_matches_finite_differences(shape, mask_kind):
    rng = np.random.default_rng(1)
    pred, target = rng.standard_normal(shape), rng.standard_normal(shape)
    mask = {
        "none": None,
        "positions": (rng.random(shape[:-1]) < 0.6).astype(float),
        "elements": (rng.random(shape) < 0.6).astype(float),
    }[mask_kind]
    if mask is not None:
        mask.reshape(-1)[0] = 1
    _, dpred = mse(pred, target, mask)
    numeric = numerical_gradient(lambda: mse(pred, target, mask)[0], pred)
    assert relative_error(dpred, numeric) < FD_RTOL


@pytest.mark.torch
@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_cross_entropy_matches_torch_cross_entropy(shape, masked):
    torch = torch_or_skip()
    z, y, mask = _classification(shape, masked, seed=2)
    loss, dz = softmax_cross_entropy(z, y, mask)
    V = shape[-1]
    z_t = torch.tensor(z.reshape(-1, V), requires_grad=True)
    y_t = torch.tensor(np.where(y < 0, -100, y).reshape(-1))  # torch's ignore_index pads
    loss_t = torch.nn.functional.cross_entropy(z_t, y_t, ignore_index=-100)
    loss_t.backward()
    assert abs(loss - loss_t.item()) < TORCH_TOL * max(1.0, abs(loss))
    assert np.abs(dz - z_t.grad.numpy().reshape(shape)).max() < TORCH_TOL


@pytest.mark.torch
@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
def test_mse_matches_torch_mse_loss(masked):
    torch = torch_or_skip()
    rng = np.random.default_rng(3)
    pred, target = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2, 4))
    mask = (rng.random((3, 2)) < 0.5).astype(float) if masked else None
    if masked:
        mask[0, 0] = 1
    loss, dpred = mse(pred, target, mask)
    w = torch.ones(3, 2, 1, dtype=torch.float64) if mask is None else torch.tensor(mask)[..., None]
    pred_t = torch.tensor(pred, requires_grad=True)
    if masked:  # the mean over the counted elements, as torch writes it by hand
        sq = torch.nn.functional.mse_loss(pred_t * w, torch.tensor(target) * w, reduction="sum")
        loss_t = sq / (w.sum() * 4)
    else:
        loss_t = torch.nn.functional.mse_loss(pred_t, torch.tensor(target))
    loss_t.backward()
    assert abs(loss - loss_t.item()) < TORCH_TOL * max(1.0, abs(loss))
    assert np.abs(dpred - pred_t.grad.numpy()).max() < TORCH_TOL


def test_cross_entropy_is_finite_and_exact_at_logits_of_1e4_in_float32():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=np.float32)
    y = np.array([1, 2])
    loss, dz = softmax_cross_entropy(z, y)
    # row 0: ℓ = 1e4 − (−1e4); row 1: two tied logits, ℓ = log 2
    assert math.isclose(loss, (2e4 + math.log(2)) / 2, rel_tol=1e-6)
    assert dz.dtype == np.float32 and np.isfinite(dz).all()
    expected = np.array([[1.0, -1.0, 0.0], [0.0, 0.5, -0.5]]) / 2  # (p − onehot) / N
    np.testing.assert_allclose(dz, expected, rtol=0, atol=1e-7)


def test_log_softmax_and_softmax_are_stable_and_normalised():
    z = np.array([[1e4, -1e4, 0.0, 1e4], [1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    p, logp = softmax(z), log_softmax(z)
    assert np.isfinite(logp[1]).all() and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p[0], [0.5, 0.0, 0.0, 0.5], atol=1e-7)
    np.testing.assert_allclose(np.exp(logp), p, atol=1e-7)
    np.testing.assert_allclose(logp[1], z[1] - np.log(np.exp(z[1].astype(float)).sum()), rtol=1e-6)


def test_masked_positions_add_no_loss_and_receive_zero_gradient():
    z, y, mask = _classification((4, 3, 5), masked=True, seed=4)
    loss, dz = softmax_cross_entropy(z, y, mask)
    keep = mask.astype(bool)
    loss_kept, dz_kept = softmax_cross_entropy(z[keep], y[keep])  # only the counted rows
    assert math.isclose(loss, loss_kept, rel_tol=1e-13)
    np.testing.assert_array_equal(dz[~keep], 0.0)
    np.testing.assert_allclose(dz[keep], dz_kept, rtol=1e-13, atol=0)


def test_padding_targets_are_never_read_whatever_their_value():
    z, y, mask = _classification((3, 2, 4), masked=True, seed=5)
    padded = np.where(mask == 1, y, 10_000)
    assert softmax_cross_entropy(z, y, mask)[0] == softmax_cross_entropy(z, padded, mask)[0]


def test_mse_position_mask_excludes_whole_positions():
    rng = np.random.default_rng(6)
    pred, target = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    mask = np.array([1, 0, 1])
    loss, dpred = mse(pred, target, mask)
    assert math.isclose(loss, float(((pred - target)[[0, 2]] ** 2).mean()), rel_tol=1e-13)
    np.testing.assert_array_equal(dpred[1], 0.0)


@pytest.mark.parametrize("loss_fn", ["cross_entropy", "mse"])
def test_nothing_counted_gives_zero_loss_and_zero_gradient(loss_fn):
    z = np.ones((2, 3))
    if loss_fn == "cross_entropy":
        loss, dz = softmax_cross_entropy(z, np.array([0, 1]), np.zeros(2))
    else:
        loss, dz = mse(z, np.zeros((2, 3)), np.zeros(2))
    assert loss == 0.0
    np.testing.assert_array_equal(dz, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_gradients_keep_the_outputs_dtype(dtype):
    z = np.zeros((2, 3), dtype=dtype)
    assert softmax_cross_entropy(z, np.array([0, 2]))[1].dtype == dtype
    assert mse(z, np.ones((2, 3)))[1].dtype == dtype


@pytest.mark.parametrize(
    "targets, pattern",
    [
        ([[0, 1], [7, 2]], r"targets\[1, 0\] = 7 is not a class id in \[0, 5\)"),
        ([[0, -1], [3, 2]], r"targets\[0, 1\] = -1 is not a class id"),
    ],
    ids=["too-large", "negative"],
)
def test_cross_entropy_names_an_out_of_range_target_and_its_position(targets, pattern):
    with pytest.raises(ShapeError, match=pattern):
        softmax_cross_entropy(np.zeros((2, 2, 5)), np.array(targets))


@pytest.mark.parametrize(
    "logits_shape, targets, mask, pattern",
    [
        ((2, 3, 4), np.zeros((3, 2), int), None, r"leading shape \(2, 3\)"),
        ((2, 4), np.zeros(2), None, "integer class ids"),
        ((2, 4), np.zeros(2, int), np.ones(3), r"mask must have the shape"),
        ((2, 4), np.zeros(2, int), np.array([1, 2]), "only 0"),
        ((2, 0), np.zeros(2, int), None, "V >= 1"),
    ],
    ids=["targets-shape", "float-targets", "mask-shape", "mask-values", "no-classes"],
)
def test_cross_entropy_rejects_mismatched_shapes(logits_shape, targets, mask, pattern):
    with pytest.raises(ShapeError, match=pattern):
        softmax_cross_entropy(np.zeros(logits_shape), targets, mask)


def test_mse_rejects_a_target_of_another_shape():
    with pytest.raises(ShapeError, match=r"shape of pred \(2, 3\)"):
        mse(np.zeros((2, 3)), np.zeros((2, 1)))


def test_counted_positions_combine_into_bits_per_char():
    y = np.zeros((3, 2), dtype=int)
    assert counted(y) == 6
    assert counted(y, np.array([[1, 0], [1, 1], [0, 0]])) == 3
    # batches of 1 and 3 positions at 2 and 4 bits: (2·1 + 4·3) / 4
    assert math.isclose(bits_per_char([2 * math.log(2), 4 * math.log(2)], [1, 3]), 3.5)


@pytest.mark.parametrize("loss_fn", ["cross_entropy", "mse"])
def test_parts_with_the_whole_normalizer_add_up_to_the_whole_loss(loss_fn):
    """Steps [0, 2) and [2, 5) of a [5, 3, ·] batch, each divided by the whole batch's N_w."""
    rng = np.random.default_rng(7)
    if loss_fn == "cross_entropy":
        z, y, mask = _classification((5, 3, 4), masked=True, seed=7)
        fn, n = softmax_cross_entropy, counted(y, mask)
    else:
        z, y = rng.standard_normal((5, 3, 2)), rng.standard_normal((5, 3, 2))
        mask = (rng.random((5, 3)) < 0.6).astype(float)
        fn, n = mse, 2 * counted(mask, mask)
    whole, dz = fn(z, y, mask)
    parts = [fn(z[a:b], y[a:b], mask[a:b], normalizer=n) for a, b in [(0, 2), (2, 5)]]
    assert math.isclose(parts[0][0] + parts[1][0], whole, rel_tol=1e-14)
    np.testing.assert_array_equal(np.concatenate([d for _, d in parts]), dz)


@pytest.mark.parametrize("loss_fn", [softmax_cross_entropy, mse], ids=["cross_entropy", "mse"])
def test_a_normalizer_replaces_the_count_and_zero_means_no_loss(loss_fn):
    z = np.random.default_rng(8).standard_normal((2, 3))
    y = np.array([0, 2]) if loss_fn is softmax_cross_entropy else np.zeros((2, 3))
    loss, dz = loss_fn(z, y)
    doubled, ddz = loss_fn(z, y, normalizer=2 * counted(y))  # N_w: 2 rows, or 6 elements
    assert math.isclose(doubled, loss / 2, rel_tol=1e-14)
    np.testing.assert_allclose(ddz, dz / 2, rtol=1e-14)
    none, dnone = loss_fn(z, y, normalizer=0)
    assert none == 0.0
    np.testing.assert_array_equal(dnone, 0.0)
    with pytest.raises(ShapeError, match="normalizer must be a count >= 0, got -1"):
        loss_fn(z, y, normalizer=-1)
