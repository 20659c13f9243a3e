"""One-to-many generation: the conditioning map's backward, and a model that learns to use it."""

import numpy as np
import pytest

from rnnkit.config import ModelConfig
from rnnkit.diagnostics.gradcheck import check_gradients
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers.losses import softmax_cross_entropy
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.conditioned import Conditioned, ConditionedConfig
from rnnkit.training.optim import make_optimizer
from tests.conftest import FD_RTOL

CASES = {
    "class-lstm-tokens": dict(cell="lstm", condition="class", vocab=5, layers=1, bidir=False),
    "class-gru-2-layers": dict(cell="gru", condition="class", vocab=5, layers=2, bidir=False),
    "vector-elman-real": dict(cell="elman", condition="vector", vocab=0, layers=1, bidir=False),
    "vector-lstm-bidirectional": dict(
        cell="lstm", condition="vector", vocab=0, layers=1, bidir=True
    ),
}


def _conditioned(case, rng, H=4, C=3):
    width = case["vocab"] or 2
    rnn = RecurrentConfig(
        cell=case["cell"],
        input_size=width,
        hidden_size=H,
        num_layers=case["layers"],
        bidirectional=case["bidir"],
    )
    config = ModelConfig(
        rnn=rnn,
        output_size=case["vocab"] or 2,
        vocab_size=case["vocab"],
        loss="cross_entropy" if case["vocab"] else "mse",
        dtype="float64",
    )
    return Conditioned(
        ConditionedConfig(model=config, condition_size=C, condition=case["condition"]), rng=rng
    )


def _inputs(case, rng, B=3, T=4, C=3):
    c = rng.integers(0, C, B) if case["condition"] == "class" else rng.standard_normal((B, C))
    x = rng.integers(0, case["vocab"], (B, T)) if case["vocab"] else rng.standard_normal((B, T, 2))
    return c, x


@pytest.mark.parametrize("name", list(CASES))
def test_backward_matches_finite_differences(name, rng):
    case = CASES[name]
    model = _conditioned(case, rng)
    c, x = _inputs(case, rng)
    y, cache = model.forward(c, x)
    R = rng.standard_normal(y.shape)
    grads = model.backward(cache, R)

    def loss():
        return float((model.forward(c, x)[0] * R).sum())

    errors = check_gradients(loss, model.params, grads)
    assert set(grads) == set(model.params)
    assert max(errors.values()) < FD_RTOL, errors


def test_the_condition_sets_every_state_array_through_tanh(rng):
    model = _conditioned(CASES["vector-lstm-bidirectional"], rng, H=4)
    c = rng.standard_normal((2, 3))
    (h0, c0), _, s0 = model.initial_state(c)
    assert h0.shape == c0.shape == (2, 2, 4)  # [L·D, B, H]
    expected = np.tanh(c @ model.params["init.weight"].T + model.params["init.bias"])
    np.testing.assert_allclose(s0, expected, rtol=1e-12)
    np.testing.assert_allclose(model._join((h0, c0)), s0, rtol=0)  # split and join invert


def test_a_class_conditioned_model_learns_to_generate_each_class_sequence(rng):
    """Class k → the sequence k, k+1, …: only the initial state tells the classes apart."""
    case = dict(cell="gru", condition="class", vocab=6, layers=1, bidir=False)
    model = _conditioned(case, rng, H=16, C=3)
    classes = np.arange(3)
    seqs = (classes[:, None] + np.arange(4)[None, :]) % 6 + 0  # [3, 4] targets
    start = np.zeros(3, dtype=np.int64)  # every sequence starts from the same input id 0
    x = np.concatenate([start[:, None], seqs[:, :-1]], axis=1)  # teacher forcing
    optimizer = make_optimizer("adam", 0.05)
    for _ in range(80):
        y, cache = model.forward(classes, x)
        _, dy = softmax_cross_entropy(y, seqs)
        optimizer.step(model.params, model.backward(cache, dy))
    np.testing.assert_array_equal(model.generate(classes, start, 4), seqs)


def test_bad_conditions_are_refused(rng):
    model = _conditioned(CASES["class-lstm-tokens"], rng)
    with pytest.raises(ShapeError, match="outside"):
        model.initial_state(np.array([7]))
    with pytest.raises(ShapeError, match="conditions"):
        model.forward(np.array([0, 1]), np.zeros((3, 4), dtype=np.int64))
    with pytest.raises(ConfigError, match="condition"):
        ConditionedConfig(model=model.model.config, condition_size=3, condition="text")
    with pytest.raises(ConfigError, match="condition_size"):
        ConditionedConfig(model=model.model.config, condition_size=0)
    with pytest.raises(ConfigError, match="rng"):
        model.generate(np.array([0]), np.array([0]), 2, temperature=1.0)
