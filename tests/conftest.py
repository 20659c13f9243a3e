"""Shared fixtures and the tolerances every gradient test uses."""

import numpy as np
import pytest

FD_RTOL = 1e-6  # finite differences in float64: truncation O(ε²) and rounding O(1e-16/ε)
TORCH_ATOL = 1e-10  # float64 against PyTorch autograd: only summation order differs


def assert_equal_to_rounding(actual, expected, *, operations: int, err_msg: str = "") -> None:
    """``actual`` equals ``expected`` up to the rounding of ``operations`` sequential steps.

    For two computations of the same arithmetic that BLAS blocks differently (a product over
    all T steps against one per segment, say): BLAS promises no bit-identity across shapes,
    only that each rounding is within one unit in the last place, so the two may drift apart
    by about ``operations`` ulps of the largest value.  Where both sides make the same calls
    on the same shapes, assert bit-identity instead.
    """
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, err_msg
    scale = max(float(np.max(np.abs(expected), initial=0.0)), np.finfo(expected.dtype).tiny)
    bound = operations * np.finfo(expected.dtype).eps * scale
    worst = float(np.max(np.abs(actual - expected), initial=0.0))
    assert worst <= bound, f"{err_msg}: differs by {worst:.3g} > {bound:.3g}"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def torch_or_skip():
    """PyTorch, or skip the calling test when the test extra is not installed."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch
