"""Adam's compiled update is bit-identical to its NumPy form (taken for non-contiguous arrays)."""

import numpy as np
import pytest

from rnnkit.kernels import adam
from rnnkit.training.optim import make_optimizer


def _strided(a: np.ndarray) -> np.ndarray:
    """A copy of ``a`` that is not C-contiguous (Fortran order, or a reversed view)."""
    return np.asfortranarray(a) if a.ndim > 1 else a[::-1].copy()[::-1]


@pytest.mark.parametrize("beta1", [0.9, 0.3], ids=["lerp-up", "lerp-down"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_compiled_adam_equals_the_numpy_form_bit_for_bit(dtype, beta1):
    rng = np.random.default_rng(0)
    start = {
        "w": rng.standard_normal((7, 5)).astype(dtype),
        "b": rng.standard_normal(5).astype(dtype),
    }
    fast = {n: p.copy() for n, p in start.items()}
    slow = {n: _strided(p) for n, p in start.items()}
    assert adam.supports(fast["w"], fast["w"]) and not adam.supports(slow["w"], slow["w"])
    assert not adam.supports(slow["b"], slow["b"])
    opts = {"beta1": beta1, "beta2": 0.99, "eps": 1e-6}
    ours, reference = make_optimizer("adam", 0.01, **opts), make_optimizer("adam", 0.01, **opts)
    for k in range(5):
        grads = {
            n: (np.random.default_rng(k).standard_normal(p.shape) * 10**k).astype(dtype)
            for n, p in start.items()
        }
        ours.step(fast, grads, lr=0.01 / (k + 1))
        reference.step(slow, {n: _strided(g) for n, g in grads.items()}, lr=0.01 / (k + 1))
    for n in start:
        assert not np.array_equal(fast[n], start[n]), "the parameters moved"
        np.testing.assert_array_equal(fast[n], slow[n], err_msg=n)
        for slot in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(ours.state[n][slot], reference.state[n][slot])


def test_adam_kernel_takes_only_matching_contiguous_float_arrays():
    a = np.zeros(4, np.float32)
    assert adam.supports(a, a.copy())
    assert not adam.supports(a, np.zeros(4, np.float64))
    assert not adam.supports(a, np.zeros(5, np.float32))
    assert not adam.supports(np.zeros(4, np.float16), np.zeros(4, np.float16))
