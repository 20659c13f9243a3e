"""Configs: every field type- and range-checked; config files read with one clear error."""

import json

import pytest

from rnnkit.config import ModelConfig, TrainConfig, option_types, read_config_file
from rnnkit.errors import ConfigError

KINDS = {**option_types(TrainConfig), "hidden_size": int, "cell": str}


@pytest.mark.parametrize(
    "options, message",
    [
        ({"steps": 5, "lr": -1.0}, "lr must be > 0"),
        ({"steps": 5, "lr": float("nan")}, "lr must be a finite number"),
        ({"steps": "5"}, "steps must be an integer, got '5'"),
        ({"steps": True}, "steps must be an integer"),
        ({"steps": 5, "batch_size": -2}, "batch_size must be > 0"),
        ({"steps": 5, "seq_len": 2.5}, "seq_len must be an integer"),
        (
            {"steps": 5, "on_nonfinite": "ignore"},
            "on_nonfinite must be one of skip, reduce-lr, stop",
        ),
        ({"steps": 5, "nonfinite_lr_factor": 1.0}, "nonfinite_lr_factor must be in"),
    ],
)
def test_train_config_names_the_bad_option(options, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig(**options)


def test_unknown_training_keys_are_named_with_the_closest_known_one():
    with pytest.raises(ConfigError, match="'stepz' \\(did you mean 'steps'\\?\\)"):
        TrainConfig.from_dict({"stepz": 3})


@pytest.mark.parametrize(
    "rnn, message",
    [
        ({"input_size": 3, "hidden_size": "8"}, "hidden_size must be an integer"),
        ({"input_size": 3, "hidden_size": 8, "forget_bias": float("inf")}, "finite"),
        ({"input_size": 3, "hidden_size": 8, "peepholes": 1}, "peepholes must be true or false"),
    ],
)
def test_model_config_checks_the_types_of_the_recurrent_options(rnn, message):
    with pytest.raises(ConfigError, match=message):
        ModelConfig.from_dict({"rnn": rnn, "output_size": 2})


def test_a_config_file_is_read_and_checked(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"hidden_size": 16, "lr": 1, "cell": "gru"}))
    assert read_config_file(path, KINDS) == {"hidden_size": 16, "lr": 1, "cell": "gru"}


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"hidden_size": 16,\n "lr": }', "line 2, column 8: not valid JSON"),
        (b"[1, 2]", "holds a JSON object"),
        (b'{"hidden": 3}', "unknown key\\(s\\) 'hidden' \\(did you mean 'hidden_size'\\?\\)"),
        (b'{"lr": "fast"}', "lr must be a number, got 'fast'"),
        (b'{"lr": NaN}', "NaN is not standard JSON"),
        (b'{"lr": 1, "lr": 2}', "given twice: lr"),
        (b'{"cell": "gr\xe9"}', "byte 12 is not UTF-8"),
    ],
)
def test_a_bad_config_file_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "c.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message):
        read_config_file(path, KINDS)


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.json: cannot read"):
        read_config_file(tmp_path / "nowhere.json", KINDS)
