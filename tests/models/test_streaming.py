"""The streaming stepper equals the model run over the whole sequence, step by step, and
sampling draws through it the tokens the model's own forward gives."""

import numpy as np
import pytest

from rnnkit import Model
from rnnkit.cells import unroll
from rnnkit.config import ModelConfig
from rnnkit.errors import ConfigError
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.sampling import generate
from rnnkit.models.streaming import Stepper, unsupported


def tolerance(dtype) -> dict[str, float]:
    """Rounding of a few hundred operations: the stepper groups the arithmetic differently."""
    eps = float(np.finfo(dtype).eps)
    return {"rtol": 500 * eps, "atol": 100 * eps}


@pytest.mark.parametrize("embedding_dim", [0, 3], ids=["one-hot", "embedding"])
@pytest.mark.parametrize(
    "cell,nonlinearity", [("lstm", "tanh"), ("gru", "tanh"), ("elman", "tanh"), ("elman", "relu")]
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_stepping_one_token_at_a_time_matches_the_reference_model(
    cell, nonlinearity, dtype, embedding_dim
):
    config = ModelConfig.for_tokens(
        7, embedding_dim=embedding_dim, cell=cell, hidden_size=6, nonlinearity=nonlinearity
    )
    model = Model(config.replace(dtype=dtype), rng=np.random.default_rng(0))
    model.rnn.impl = unroll  # the spec
    ids = np.random.default_rng(1).integers(0, 7, size=(1, 9))
    expected = model.predict(ids)[0]
    stepper = Stepper(model)
    ours = np.stack([stepper.step(int(i)).copy() for i in ids[0]])
    tol = tolerance(dtype)
    np.testing.assert_allclose(ours, expected, **tol)
    stepper.reset()
    np.testing.assert_allclose(stepper.step(int(ids[0, 0])), expected[0], **tol)


def test_stepping_vectors_matches_the_model():
    rnn = RecurrentConfig(cell="gru", input_size=3, hidden_size=4)
    model = Model(
        ModelConfig(rnn=rnn, output_size=2, loss="mse", dtype="float64"),
        rng=np.random.default_rng(0),
    )
    x = np.random.default_rng(1).standard_normal((1, 5, 3))
    stepper = Stepper(model)
    ours = np.stack([stepper.step(v).copy() for v in x[0]])
    np.testing.assert_allclose(ours, model.predict(x)[0], **tolerance(np.float64))


@pytest.mark.parametrize(
    "options, match",
    [
        ({"cell": "lstm", "num_layers": 2}, "one-layer"),
        ({"cell": "gru", "bidirectional": True}, "one-directional"),
        ({"cell": "fully_recurrent"}, "Elman, LSTM or GRU"),
        ({"cell": "lstm", "peepholes": True}, "peepholes"),
        ({"cell": "lstm", "layer_norm": True}, "layer norm"),
        ({"cell": "gru", "reset_after": False}, "reset_after"),
    ],
)
def test_stepper_refuses_models_it_does_not_run(options, match):
    model = Model(
        ModelConfig.for_tokens(5, hidden_size=3, **options), rng=np.random.default_rng(0)
    )
    assert unsupported(model) is not None
    with pytest.raises(ConfigError, match=match):
        Stepper(model)


def generate_by_forward(model, prime, length, temperature, rng):
    """Sampling as the model's forward gives the logits: the prime in one call, then one
    token per call (the spec of ``generate``'s draws)."""
    logits, state, _ = model.forward(prime[None, :])
    out = []
    for _ in range(length):
        last = logits[0, -1].astype(np.float64)
        p = np.exp((last - last.max()) / temperature)
        p /= p.sum()
        out.append(min(int(np.searchsorted(np.cumsum(p), rng.random() * p.sum())), p.size - 1))
        logits, state, _ = model.forward(np.array([[out[-1]]]), state)
    return np.array(out)


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sampling_steps_through_the_stepper_and_draws_what_the_forward_gives(
    monkeypatch, cell, dtype
):
    config = ModelConfig.for_tokens(11, cell=cell, hidden_size=16).replace(dtype=dtype)
    model = Model(config, rng=np.random.default_rng(0))
    for w in model.params.values():
        w *= 4  # sharper distributions than at initialisation, as a trained model's
    steps = []
    original = Stepper.step
    monkeypatch.setattr(Stepper, "step", lambda self, x: steps.append(x) or original(self, x))
    prime = np.array([3, 1, 4])
    ours = generate(model, prime, 80, temperature=0.7, rng=np.random.default_rng(5))
    assert len(steps) == len(prime) + len(ours), "every logit came from the stepper"
    expected = generate_by_forward(model, prime, 80, 0.7, np.random.default_rng(5))
    np.testing.assert_array_equal(ours, expected)


def test_sampling_a_model_the_stepper_does_not_run_takes_the_forward():
    model = Model(
        ModelConfig.for_tokens(6, cell="lstm", hidden_size=4, num_layers=2),
        rng=np.random.default_rng(0),
    )
    ours = generate(model, np.array([2]), 30, rng=np.random.default_rng(1))
    expected = generate_by_forward(model, np.array([2]), 30, 1.0, np.random.default_rng(1))
    np.testing.assert_array_equal(ours, expected)
