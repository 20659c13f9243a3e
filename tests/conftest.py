"""Shared fixtures and the tolerances every gradient test uses."""

import numpy as np
import pytest

FD_RTOL = 1e-6  # finite differences in float64: truncation O(ε²) and rounding O(1e-16/ε)
TORCH_ATOL = 1e-10  # float64 against PyTorch autograd: only summation order differs


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def torch_or_skip():
    """PyTorch, or skip the calling test when the test extra is not installed."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch
