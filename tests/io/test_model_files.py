"""rnnkit.save / rnnkit.load: exact round trip, and refusal of damaged or foreign checkpoints."""

import json

import numpy as np
import pytest

import rnnkit
from rnnkit.config import ModelConfig
from rnnkit.errors import CheckpointError
from rnnkit.models.model import Model


@pytest.fixture
def model(rng) -> Model:
    config = ModelConfig.for_tokens(
        7, cell="lstm", hidden_size=5, num_layers=2, peepholes=True, embedding_dim=3
    )
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


def _seq2seq(rng):
    from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig

    config = Seq2SeqConfig(vocab_size=7, embedding_dim=3, cell="gru", hidden_size=5, num_layers=2)
    return Seq2Seq(config, rng=rng, meta={"task": "reverse", "chars": "abcd"})


def _conditioned(rng):
    from rnnkit.models.conditioned import Conditioned, ConditionedConfig

    model = ModelConfig.for_tokens(6, cell="lstm", hidden_size=4)
    config = ConditionedConfig(model=model, condition_size=3, condition="class")
    return Conditioned(config, rng=rng, meta={"task": "words", "vocab": ".abcde"})


@pytest.mark.parametrize("make, kind", [(_seq2seq, "seq2seq"), (_conditioned, "conditioned")])
def test_encoder_decoder_and_conditioned_models_round_trip_exactly(make, kind, rng, tmp_path):
    original = make(rng)
    rnnkit.save(original, tmp_path / "m")
    assert json.loads((tmp_path / "m" / "config.json").read_text())["kind"] == kind
    again = rnnkit.load(tmp_path / "m")
    assert type(again) is type(original)
    assert again.config == original.config and again.meta == original.meta
    assert again.params.keys() == original.params.keys()
    for name, w in original.params.items():
        assert again.params[name].dtype == w.dtype
        np.testing.assert_array_equal(again.params[name], w, err_msg=name)
    if kind == "seq2seq":  # the loaded model computes what the saved one did
        src, lengths = np.array([[3, 4, 5], [6, 3, 0]]), np.array([3, 2])
        np.testing.assert_array_equal(
            again.greedy(src, lengths, 4), original.greedy(src, lengths, 4)
        )
    else:
        np.testing.assert_array_equal(
            again.generate(np.array([0, 2]), np.array([0, 0]), 5),
            original.generate(np.array([0, 2]), np.array([0, 0]), 5),
        )


def test_an_unknown_model_kind_is_refused(rng, tmp_path):
    from rnnkit.io.checkpoint import write_checkpoint

    model = _seq2seq(rng)
    config = {"kind": "transformer", "model": model.config.to_dict(), "meta": {}}
    write_checkpoint(tmp_path / "m", model.state_dict(), config)  # a consistent manifest
    with pytest.raises(CheckpointError, match="transformer"):
        rnnkit.load(tmp_path / "m")
