"""The streaming stepper equals the model run over the whole sequence, step by step."""

import numpy as np
import pytest

from rnnkit import Model
from rnnkit.cells import unroll
from rnnkit.config import ModelConfig
from rnnkit.errors import ConfigError
from rnnkit.kernels._stream import Stepper
from rnnkit.layers.recurrent import RecurrentConfig


@pytest.mark.parametrize("cell,nonlinearity", [("lstm", "tanh"), ("gru", "tanh"),
                                               ("elman", "tanh"), ("elman", "relu")])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_stepping_one_token_at_a_time_matches_the_reference_model(cell, nonlinearity, dtype):
    config = ModelConfig.for_tokens(7, cell=cell, hidden_size=6, nonlinearity=nonlinearity)
    model = Model(config.replace(dtype=dtype), rng=np.random.default_rng(0))
    model.rnn.impl = unroll  # the spec
    ids = np.random.default_rng(1).integers(0, 7, size=(1, 9))
    expected = model.predict(ids)[0]
    stepper = Stepper(model)
    ours = np.stack([stepper.step(int(i)).copy() for i in ids[0]])
    tol = {"rtol": 1e-10, "atol": 1e-12} if dtype == "float64" else {"rtol": 1e-4, "atol": 1e-5}
    np.testing.assert_allclose(ours, expected, **tol)
    stepper.reset()
    np.testing.assert_allclose(stepper.step(int(ids[0, 0])), expected[0], **tol)


def test_stepping_vectors_matches_the_model():
    rnn = RecurrentConfig(cell="gru", input_size=3, hidden_size=4)
    model = Model(ModelConfig(rnn=rnn, output_size=2, loss="mse", dtype="float64"),
                  rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((1, 5, 3))
    stepper = Stepper(model)
    ours = np.stack([stepper.step(v).copy() for v in x[0]])
    np.testing.assert_allclose(ours, model.predict(x)[0], rtol=1e-10, atol=1e-12)


def test_stepper_refuses_stacked_models():
    model = Model(ModelConfig.for_tokens(5, cell="lstm", hidden_size=3, num_layers=2),
                  rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="one-layer"):
        Stepper(model)
