"""The compiled pieces: the float32 tanh, and the fused kernels run with the JIT disabled."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.kernels import sequence as seq
from rnnkit.kernels._jit import tanh32_array
from rnnkit.kernels._workspace import POOL

ROOT = Path(__file__).resolve().parents[2]


def test_tanh32_is_within_float32_rounding_of_tanh():
    x = np.linspace(-20, 20, 4_000_001, dtype=np.float32)
    out = np.empty_like(x)
    tanh32_array(x, out)
    err = np.abs(out.astype(np.float64) - np.tanh(x.astype(np.float64)))
    assert err.max() < 5e-7, f"largest error {err.max():.2e} at x = {x[err.argmax()]}"
    assert np.all(np.abs(out) <= 1), "|tanh| never exceeds 1"
    assert np.array_equal(np.sign(out), np.sign(x)), "odd, and 0 at 0"


def test_tanh32_propagates_nan_and_saturates_at_inf():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0], np.float32)
    out = np.empty_like(x)
    tanh32_array(x, out)
    assert np.isnan(out[0]), "a NaN stays a NaN (a diverging run must look diverged)"
    np.testing.assert_allclose(out[1:3], [1, -1], rtol=0, atol=5e-7)
    np.testing.assert_array_equal(out[3:], [0, 0])


@pytest.mark.parametrize("I", [1, 2, seq.NARROW, seq.NARROW + 1])
def test_input_projection_of_narrow_inputs_matches_float64(I):
    """x Wᵀ + b for [T, B, I] float32, by the compiled loop (I ≤ NARROW) or BLAS, from a
    non-contiguous (batch-first) view too."""
    rng = np.random.default_rng(I)
    xs = rng.standard_normal((3, 5, I)).astype(np.float32).swapaxes(0, 1)  # [T=5, B=3, I]
    W = rng.standard_normal((7, I)).astype(np.float32)
    b = rng.standard_normal(7).astype(np.float32)
    ax = seq.input_projection(xs, W, b)
    expected = xs.astype(np.float64) @ W.T.astype(np.float64) + b
    np.testing.assert_allclose(ax, expected, rtol=1e-6, atol=1e-6)
    POOL.give(ax)


def in_new_process(code: str) -> str:
    """What ``code`` prints, run by a new Python process (which modules it loads is fresh)."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return out.stdout.strip()


def test_fused_kernels_match_the_reference_with_the_jit_disabled():
    """Coverage of the compiled loops as plain Python: float32 parity (vectors and token ids),
    Adam, the narrow input projection and the float32 cross-entropy, uncompiled."""
    env = os.environ | {"NUMBA_DISABLE_JIT": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            *(
                str(ROOT / "tests/kernels" / f)
                for f in ("test_parity.py", "test_adam.py", "test_jit.py", "test_cross_entropy.py")
            ),
            "-k",
            "f32 and (T1B1 or T5B3) or adam or token_ids_give or narrow_inputs "
            "or float32_cross_entropy",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout and " failed" not in result.stdout


def test_a_float64_model_its_loss_and_optimizer_do_not_load_numba_until_an_update():
    code = (
        "import sys, numpy as np; from rnnkit.layers.recurrent import Recurrent, "
        "RecurrentConfig; import rnnkit.training.optim; from rnnkit.layers.losses import "
        "softmax_cross_entropy; "
        "Recurrent(RecurrentConfig(cell='lstm', input_size=2, hidden_size=3), "
        "rng=np.random.default_rng(0), dtype=np.float64); "
        "softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 1])); "
        "print('numba' in sys.modules)"
    )
    assert in_new_process(code) == "False"


def test_an_adam_made_after_a_compiled_kernel_loads_its_compiled_update_before_the_first_step():
    """The first training step of a new process does not pay for loading the Adam kernel."""
    code = (
        "import sys, numpy as np; from rnnkit.layers.recurrent import Recurrent, "
        "RecurrentConfig; from rnnkit.training.optim import make_optimizer; "
        "before = 'rnnkit.kernels.adam' in sys.modules; "
        "Recurrent(RecurrentConfig(cell='lstm', input_size=2, hidden_size=3), "
        "rng=np.random.default_rng(0), dtype=np.float32); make_optimizer('adam', 1e-3); "
        "print(before, 'rnnkit.kernels.adam' in sys.modules)"
    )
    assert in_new_process(code) == "False True"


def test_an_adam_made_before_any_compiled_kernel_loads_its_compiled_update_when_made():
    """A Jordan net with MSE has no compiled kernel: its first update had loaded Numba."""
    code = (
        "import sys; from rnnkit.training.optim import make_optimizer; "
        "before = 'numba' in sys.modules; make_optimizer('adam', 1e-3); "
        "print(before, 'rnnkit.kernels.adam' in sys.modules)"
    )
    assert in_new_process(code) == "False True"


@pytest.mark.parametrize(
    "dtype, loss, loaded",
    [
        ("float32", "cross_entropy", "True"),
        ("float32", "mse", "False"),
        ("float64", "cross_entropy", "False"),
    ],
)
def test_a_float32_cross_entropy_model_loads_its_loss_pass_when_made(dtype, loss, loaded):
    """The first training step of a new process does not pay for loading the loss's pass."""
    code = (
        "import sys, numpy as np; from rnnkit.config import ModelConfig; "
        "from rnnkit.layers.recurrent import RecurrentConfig; "
        "from rnnkit.models.model import Model; "
        "Model(ModelConfig(rnn=RecurrentConfig(input_size=4, hidden_size=3), "
        f"output_size=4, vocab_size=4, loss={loss!r}, dtype={dtype!r}), "
        "rng=np.random.default_rng(0)); "
        "print('rnnkit.kernels.cross_entropy' in sys.modules)"
    )
    assert in_new_process(code) == loaded
