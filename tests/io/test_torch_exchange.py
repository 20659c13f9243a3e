"""``rnnkit.to_torch``: a recurrent layer becomes torch.nn.RNN/LSTM/GRU, a whole Model the
module ``export_torch`` writes — same function, same weights, nothing written to disk."""

import numpy as np
import pytest

import rnnkit
from rnnkit.config import ModelConfig
from rnnkit.errors import ConfigError
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.model import Model
from tests.conftest import torch_or_skip

B, T = 3, 6


def _model(
    cell: str, *, tokens: bool, readout: str = "every_step", dtype: str = "float64"
) -> Model:
    vocab = 5 if tokens else 0
    config = ModelConfig(
        rnn=RecurrentConfig(cell=cell, input_size=vocab or 3, hidden_size=4),
        output_size=vocab or 2,
        vocab_size=vocab,
        readout=readout,
        dtype=dtype,
    )
    return Model(config, rng=np.random.default_rng(0), meta={"note": "in memory"})


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru", "jordan", "fully_recurrent"])
@pytest.mark.parametrize("tokens, readout", [(True, "every_step"), (False, "last_step")])
def test_a_whole_model_becomes_a_torch_module_with_the_same_outputs(cell, tokens, readout):
    torch = torch_or_skip()
    model = _model(cell, tokens=tokens, readout=readout)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 5, (B, T)) if tokens else rng.standard_normal((B, T, 3))
    lengths = np.array([T, 2, 4])
    module = rnnkit.to_torch(model)
    assert isinstance(module, torch.nn.Module) and not module.training
    with torch.no_grad():
        y, _ = module(torch.from_numpy(x), lengths=torch.from_numpy(lengths))
    np.testing.assert_allclose(y.numpy(), model.predict(x, lengths=lengths), atol=1e-12)


def test_the_module_holds_copies_of_the_weights_in_the_model_dtype():
    torch = torch_or_skip()
    model = _model("gru", tokens=True, dtype="float32")
    before = {n: w.copy() for n, w in model.params.items()}
    module = rnnkit.to_torch(model)
    state = module.state_dict()
    assert set(state) == set(model.params)
    for name, w in model.params.items():
        assert state[name].dtype == torch.float32
        np.testing.assert_array_equal(state[name].numpy(), w)
    with torch.no_grad():
        for p in module.parameters():  # training the module leaves the model as it was
            p.add_(1.0)
    for name, w in model.params.items():
        np.testing.assert_array_equal(w, before[name])


def test_the_layer_of_a_model_still_becomes_a_torch_lstm():
    torch = torch_or_skip()
    model = _model("lstm", tokens=False)
    assert isinstance(rnnkit.to_torch(model.rnn), torch.nn.LSTM)


@pytest.mark.parametrize("thing", [3, "model", np.zeros(3)])
def test_anything_else_is_refused_naming_what_works(thing):
    with pytest.raises(
        ConfigError,
        match=r"takes an rnnkit Model or its recurrent layer "
        r"\(model.rnn\), got " + type(thing).__name__,
    ):
        rnnkit.to_torch(thing)
