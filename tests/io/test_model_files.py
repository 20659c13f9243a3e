"""rnnkit.save / rnnkit.load: exact round trip, and refusal of damaged or foreign checkpoints."""

import json

import numpy as np
import pytest

import rnnkit
from rnnkit.config import ModelConfig
from rnnkit.errors import CheckpointError
from rnnkit.model import Model


@pytest.fixture
def model(rng) -> Model:
    config = ModelConfig.for_tokens(7, cell="lstm", hidden_size=5, num_layers=2,
                                    peepholes=True, embedding_dim=3)
    return Model(config, rng=rng, meta={"vocab": {"type": "char", "chars": list("abcdefg")}})


def test_save_then_load_is_exact(model, tmp_path):
    rnnkit.save(model, tmp_path / "m")
    again = rnnkit.load(tmp_path / "m")
    assert again.config == model.config and again.meta == model.meta
    for name, w in model.state_dict().items():
        assert again.params[name].dtype == w.dtype
        np.testing.assert_array_equal(again.params[name], w)
    x = np.array([[1, 2, 3, 4]])
    np.testing.assert_array_equal(again.forward(x)[0], model.forward(x)[0])


def test_tampered_weights_are_refused(model, tmp_path):
    path = rnnkit.save(model, tmp_path / "m")
    tensors = path / "model.safetensors" if path.is_dir() else path
    data = bytearray(tensors.read_bytes())
    data[-3] ^= 0x01  # one bit of the last tensor
    tensors.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        rnnkit.load(tmp_path / "m")


def test_a_checkpoint_of_another_shape_is_refused(model, tmp_path, rng):
    rnnkit.save(model, tmp_path / "m")
    config_file = tmp_path / "m" / "config.json"
    config = json.loads(config_file.read_text())
    config["model"]["rnn"]["hidden_size"] = 6
    config_file.write_text(json.dumps(config))
    with pytest.raises(CheckpointError):
        rnnkit.load(tmp_path / "m")


def test_not_a_checkpoint_is_refused(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError):
        rnnkit.load(tmp_path / "x")
