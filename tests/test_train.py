"""The training loops: they learn, and the same seed gives the same run bit for bit."""

import numpy as np
import pytest

import rnnkit
from rnnkit.config import ModelConfig, TrainConfig
from rnnkit.errors import ConfigError
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.model import Model


def _sign_task(rng, n=256, T=12):
    """Many-to-one: is the sum of a variable-length sequence positive?"""
    x = rng.standard_normal((n, T, 1))
    lengths = rng.integers(3, T + 1, n)
    mask = np.arange(T)[None, :] < lengths[:, None]
    y = ((x[..., 0] * mask).sum(axis=1) > 0).astype(int)
    return x, y, lengths


def _classifier(seed: int, cell: str = "gru") -> Model:
    rnn = RecurrentConfig(cell=cell, input_size=1, hidden_size=8)
    config = ModelConfig(rnn=rnn, output_size=2, readout="last_step")
    return Model(config, rng=np.random.default_rng(seed))


def test_fit_learns_a_many_to_one_task(rng):
    x, y, lengths = _sign_task(rng)
    model = _classifier(0)
    history = rnnkit.fit(model, x, y, lengths=lengths, epochs=15, lr=1e-2,
                         rng=np.random.default_rng(1))
    accuracy = (model.predict(x, lengths=lengths).argmax(-1) == y).mean()
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert accuracy > 0.9


def test_same_seed_gives_bit_identical_parameters(rng):
    x, y, lengths = _sign_task(rng, n=64)
    runs = []
    for _ in range(2):
        model = _classifier(3, cell="lstm")
        rnnkit.fit(model, x, y, lengths=lengths, epochs=2, rng=np.random.default_rng(4))
        runs.append(model.state_dict())
    for name in runs[0]:
        np.testing.assert_array_equal(runs[0][name], runs[1][name])


def test_train_config_rejects_nonsense():
    with pytest.raises(ConfigError, match="lr must be > 0"):
        TrainConfig(steps=10, lr=0)
    with pytest.raises(ConfigError, match="budget"):
        TrainConfig()
    with pytest.raises(ConfigError, match="bptt_steps"):
        TrainConfig(steps=10, seq_len=50, bptt_steps=20)
