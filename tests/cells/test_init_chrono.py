"""Chrono initialisation (Tallec & Ollivier 2018) of the LSTM and GRU gate biases."""

import numpy as np
import pytest

from rnnkit.cells import CellOptions, gru, lstm
from rnnkit.cells._init import chrono
from rnnkit.config import ModelConfig
from rnnkit.errors import ConfigError
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.model import Model
from rnnkit.training.bptt import full_bptt
from tests.cells._sequences import finite_difference_errors

I_, H_ = 5, 6


def test_chrono_biases_are_log_uniform_between_1_and_t_max_minus_1():
    b = chrono(np.random.default_rng(0), 4000, 150, np.float64)
    assert b.shape == (4000,) and b.min() >= 0.0 and b.max() <= np.log(149.0)
    u = np.sort(np.exp(b))  # should be U(1, 149)
    ks = np.max(np.abs(np.arange(1, len(u) + 1) / len(u) - (u - 1.0) / 148.0))
    assert ks < 0.03, ks  # Kolmogorov–Smirnov distance; 1 % critical value ≈ 0.026


def test_lstm_chrono_sets_b_f_and_b_i_and_leaves_every_other_draw_as_it_was():
    plain = lstm.init_params(I_, H_, CellOptions(), np.random.default_rng(3), np.float64)
    p = lstm.init_params(I_, H_, CellOptions(chrono_init=50), np.random.default_rng(3), np.float64)
    b_i, b_f = p["bias_ih"][:H_], p["bias_ih"][H_ : 2 * H_]
    assert np.all((b_f >= 0) & (b_f <= np.log(49.0))) and np.array_equal(b_i, -b_f)
    assert not np.any(p["bias_hh"][: 2 * H_])
    assert np.array_equal(p["bias_ih"][2 * H_ :], plain["bias_ih"][2 * H_ :])
    assert np.array_equal(p["bias_hh"][2 * H_ :], plain["bias_hh"][2 * H_ :])
    for name in ("weight_ih", "weight_hh"):
        assert np.array_equal(p[name], plain[name])


def test_gru_chrono_sets_the_update_gate_bias_only():
    plain = gru.init_params(I_, H_, CellOptions(), np.random.default_rng(3), np.float64)
    p = gru.init_params(I_, H_, CellOptions(chrono_init=50), np.random.default_rng(3), np.float64)
    b_z = p["bias_ih"][H_ : 2 * H_]
    assert np.all((b_z >= 0) & (b_z <= np.log(49.0))) and not np.any(p["bias_hh"][H_ : 2 * H_])
    keep = np.r_[0:H_, 2 * H_ : 3 * H_]  # the r and n slices
    for name in ("bias_ih", "bias_hh"):
        assert np.array_equal(p[name][keep], plain[name][keep])
    for name in ("weight_ih", "weight_hh"):
        assert np.array_equal(p[name], plain[name])


def _model(cell: str, chrono_init: int, seed: int) -> Model:
    rnn = RecurrentConfig(cell=cell, input_size=4, hidden_size=H_, chrono_init=chrono_init)
    config = ModelConfig(rnn=rnn, output_size=4, vocab_size=4, dtype="float64")
    return Model(config, rng=np.random.default_rng(seed))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_same_seed_gives_the_same_chrono_model(cell):
    a, b, c = _model(cell, 30, 7), _model(cell, 30, 7), _model(cell, 30, 8)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["rnn.bias_ih_l0"], c.params["rnn.bias_ih_l0"])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_chrono_changes_the_start_not_the_gradients(cell):
    chrono_model, plain = _model(cell, 30, 1), _model(cell, 0, 2)
    for name, value in chrono_model.params.items():
        plain.params[name][...] = value
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 4, size=(3, 9)), rng.integers(0, 4, size=(3, 9))
    a, b = full_bptt(chrono_model, x, y), full_bptt(plain, x, y)
    assert a.loss == b.loss
    assert all(np.array_equal(a.grads[k], b.grads[k]) for k in a.grads)


@pytest.mark.parametrize("cell", [lstm, gru], ids=["lstm", "gru"])
def test_chrono_initialised_cells_pass_the_finite_difference_check(cell):
    errors = finite_difference_errors(cell, CellOptions(chrono_init=20), True, False)
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize(
    "options,message",
    [
        ({"chrono_init": 2}, "chrono_init must be 0"),
        ({"chrono_init": -5}, "chrono_init must be 0"),
        ({"chrono_init": 100, "forget_bias": 1.0}, "leave forget_bias 0"),
    ],
)
def test_bad_chrono_options_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        RecurrentConfig(cell="lstm", input_size=2, hidden_size=3, **options)


def test_chrono_init_survives_the_config_round_trip():
    rnn = RecurrentConfig(cell="gru", input_size=2, hidden_size=3, chrono_init=120)
    config = ModelConfig(rnn=rnn, output_size=2)
    assert ModelConfig.from_dict(config.to_dict()).rnn.chrono_init == 120
