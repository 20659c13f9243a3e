"""Adam's update and the softmax cross-entropy take their compiled twins through the registry
(``kernels.resolve_op``): by default where one is registered, never under the reference
backend."""

import numpy as np
import pytest

from rnnkit import kernels
from rnnkit.layers.losses import softmax_cross_entropy
from rnnkit.training.optim import make_optimizer

from .test_jit import in_new_process

TRAINING_STEP = (
    "import os, sys, numpy as np; "
    "from rnnkit.config import ModelConfig; from rnnkit.models.model import Model; "
    "from rnnkit.training.arrays import fit; "
    "x = np.random.default_rng(0).integers(0, 5, size=(4, 8)); "
    "model = Model(ModelConfig.for_tokens(5, hidden_size=8), rng=np.random.default_rng(0)); "
    "fit(model, x, np.roll(x, -1, axis=1), rng=np.random.default_rng(1), epochs=1, "
    "batch_size=2); "
    "print(model.dtype, sorted(m for m in ('numba', 'rnnkit.kernels.adam', "
    "'rnnkit.kernels.cross_entropy', 'rnnkit.kernels.lstm_fused') if m in sys.modules))"
)


def test_the_reference_backend_trains_a_float32_model_without_loading_numba():
    out = in_new_process("import os; os.environ['RNNKIT_BACKEND'] = 'reference'; " + TRAINING_STEP)
    assert out == "float32 []"


def test_by_default_a_float32_training_step_loads_the_compiled_twins():
    assert in_new_process(TRAINING_STEP) == (
        "float32 ['numba', 'rnnkit.kernels.adam', 'rnnkit.kernels.cross_entropy', "
        "'rnnkit.kernels.lstm_fused']"
    )


@pytest.mark.parametrize(
    "name, dtype, fast",
    [
        ("adam", np.float32, True),
        ("adam", np.float64, True),
        ("cross_entropy", np.float32, True),
        ("cross_entropy", np.float64, False),
    ],
)
@pytest.mark.parametrize("backend", ["auto", "fast", "reference"])
def test_resolve_op_gives_the_registered_twin_or_none(name, dtype, fast, backend):
    op = kernels.resolve_op(name, dtype, backend=backend)
    if fast and backend != "reference":
        assert op is not None and op.__name__ == kernels.OPS[name][0]
    else:
        assert op is None


@pytest.mark.parametrize("backend, calls", [("auto", 2), ("reference", 0)])
def test_adam_and_the_loss_call_the_compiled_twin_unless_the_backend_is_reference(
    monkeypatch, backend, calls
):
    """Counted by wrapping the twins' entry points: one call per parameter, one per loss."""
    monkeypatch.setenv("RNNKIT_BACKEND", backend)
    counted = []
    for name, entry in (("adam", "adam_step"), ("cross_entropy", "softmax_cross_entropy_rows")):
        module = kernels.resolve_op(name, np.float32, backend="fast")
        original = getattr(module, entry)

        def wrapped(*args, _original=original, _name=name):
            counted.append(_name)
            return _original(*args)

        monkeypatch.setattr(module, entry, wrapped)
    rng = np.random.default_rng(0)
    params = {
        "w": rng.standard_normal((3, 4)).astype(np.float32),
        "b": rng.standard_normal(4).astype(np.float32),
    }
    before = {n: p.copy() for n, p in params.items()}
    make_optimizer("adam", 0.1).step(params, {n: np.ones_like(p) for n, p in params.items()})
    loss, _ = softmax_cross_entropy(params["w"], np.array([0, 1, 3]))
    assert all(not np.array_equal(params[n], before[n]) for n in params), "Adam moved them"
    assert np.isfinite(loss)
    assert counted.count("adam") == calls and counted.count("cross_entropy") == calls // 2
