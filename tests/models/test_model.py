"""The whole model — input, recurrent layer, readout — against finite differences."""

import numpy as np
import pytest

from rnnkit.config import ModelConfig
from rnnkit.diagnostics.gradcheck import check_gradients
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.model import Model
from tests.conftest import FD_RTOL

CASES = {
    "onehot-lstm-every": dict(vocab=5, emb=0, cell="lstm", L=1, bidir=False, readout="every_step"),
    "embed-gru-bi-every": dict(vocab=5, emb=3, cell="gru", L=2, bidir=True, readout="every_step"),
    "vector-elman-last": dict(vocab=0, emb=0, cell="elman", L=1, bidir=False, readout="last_step"),
    "vector-lstm-bi-last": dict(vocab=0, emb=0, cell="lstm", L=2, bidir=True, readout="last_step"),
    "vector-jordan-last": dict(
        vocab=0, emb=0, cell="jordan", L=1, bidir=False, readout="last_step"
    ),
}


def _model(case, rng):
    width = case["emb"] or case["vocab"] or 3
    rnn = RecurrentConfig(
        cell=case["cell"],
        input_size=width,
        hidden_size=4,
        num_layers=case["L"],
        bidirectional=case["bidir"],
    )
    config = ModelConfig(
        rnn=rnn,
        output_size=3,
        vocab_size=case["vocab"],
        embedding_dim=case["emb"],
        readout=case["readout"],
        dtype="float64",
    )
    return Model(config, rng=rng)


@pytest.mark.parametrize("name", list(CASES))
def test_model_backward_matches_finite_differences(name, rng):
    case = CASES[name]
    model = _model(case, rng)
    B, T = 3, 4
    x = rng.integers(0, case["vocab"], (B, T)) if case["vocab"] else rng.standard_normal((B, T, 3))
    lengths = np.array([4, 2, 3])
    y, final, cache = model.forward(x, lengths=lengths)
    R = rng.standard_normal(y.shape)
    grads, _ = model.backward(cache, R)

    def loss():
        return float((model.forward(x, lengths=lengths)[0] * R).sum())

    errors = check_gradients(loss, model.params, grads)
    assert max(errors.values()) < FD_RTOL, errors


def test_last_step_readout_reads_each_sequence_at_its_own_end(rng):
    model = _model(CASES["vector-elman-last"], rng)
    x = rng.standard_normal((2, 5, 3))
    y, _, _ = model.forward(x, lengths=np.array([5, 2]))
    alone, _, _ = model.forward(x[1:, :2])
    np.testing.assert_allclose(y[1], alone[0], rtol=1e-12)


def test_model_rejects_bad_inputs(rng):
    model = _model(CASES["onehot-lstm-every"], rng)
    with pytest.raises(ShapeError, match="outside the vocabulary"):
        model.forward(np.array([[0, 7]]))
    with pytest.raises(ShapeError, match="integers"):
        model.forward(np.array([[0.5, 1.0]]))
    with pytest.raises(ConfigError, match="input_size"):
        ModelConfig(rnn=RecurrentConfig(input_size=4, hidden_size=2), output_size=5, vocab_size=5)


def test_state_dict_uses_pytorch_style_names_and_round_trips(rng):
    model = _model(CASES["embed-gru-bi-every"], rng)
    sd = model.state_dict()
    assert "rnn.weight_ih_l1_reverse" in sd and "embedding.weight" in sd and "head.bias" in sd
    other = Model(model.config, rng=np.random.default_rng(99))
    other.load_state_dict(sd)
    for name, w in other.state_dict().items():
        np.testing.assert_array_equal(w, sd[name])
    with pytest.raises(ShapeError, match="missing"):
        other.load_state_dict({k: v for k, v in sd.items() if k != "head.bias"})


def test_config_round_trips_through_json(rng):
    import json

    config = _model(CASES["vector-lstm-bi-last"], rng).config
    again = ModelConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    with pytest.raises(ConfigError, match="unknown model config keys: colour"):
        ModelConfig.from_dict({**config.to_dict(), "colour": 1})
