"""The feed-forward baseline: its hand-written backward, its window, and its Model interface."""

import numpy as np
import pytest

from rnnkit.diagnostics.gradcheck import check_gradients
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.models.ffnn import FFNN, FFNNConfig
from rnnkit.training.arrays import fit
from rnnkit.training.bptt import TruncatedBPTT, full_bptt
from tests.conftest import FD_RTOL

B, T, I, O = 3, 6, 2, 4


def _net(rng, **options) -> FFNN:
    base = dict(input_size=I, window=3, output_size=O, hidden_sizes=(5, 4), dtype="float64")
    return FFNN(FFNNConfig(**{**base, **options}), rng=rng)


def _check_fd(net: FFNN, x, rng, **forward_options) -> dict[str, float]:
    """Relative error of every parameter's gradient of L = Σ y ⊙ G against finite differences."""
    y, _, cache = net.forward(x, **forward_options)
    G = rng.standard_normal(y.shape)
    grads, _ = net.backward(cache, G)

    def loss() -> float:
        return float(np.sum(net.forward(x, **forward_options)[0] * G))

    return check_gradients(loss, net.params, grads)


@pytest.mark.parametrize("readout", ["every_step", "last_step"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("window", [1, 3, 8])
def test_gradients_match_finite_differences(rng, readout, activation, window):
    net = _net(rng, readout=readout, activation=activation, window=window)
    x = rng.standard_normal((B, T, I))
    lengths = np.array([6, 2, 4]) if readout == "last_step" else None
    errors = _check_fd(net, x, rng, lengths=lengths)
    assert max(errors.values()) < FD_RTOL, errors


@pytest.mark.parametrize("embedding_dim", [0, 3])
def test_token_input_gradients_match_finite_differences(rng, embedding_dim):
    V = 5
    net = _net(
        rng,
        vocab_size=V,
        embedding_dim=embedding_dim,
        input_size=embedding_dim or V,
        hidden_sizes=(4,),
    )
    errors = _check_fd(net, rng.integers(0, V, (B, T)), rng)
    assert set(errors) >= ({"embedding.weight"} if embedding_dim else {"head.weight"})
    assert max(errors.values()) < FD_RTOL, errors


def test_state_gradient_matches_finite_differences(rng):
    net = _net(rng)
    x = rng.standard_normal((B, T, I))
    state = rng.standard_normal((2, B, I))
    y, _, cache = net.forward(x, state)
    G = rng.standard_normal(y.shape)
    _, dstate = net.backward(cache, G)
    errors = check_gradients(
        lambda: float(np.sum(net.forward(x, state)[0] * G)), {"state": state}, {"state": dstate}
    )
    assert errors["state"] < FD_RTOL


@pytest.mark.parametrize("shift", [0, 1, 2])
def test_an_output_sees_only_the_last_window_steps(rng, shift):
    net = _net(rng, window=3)
    x = rng.standard_normal((1, T, I))
    t = 4
    changed = x.copy()
    changed[0, t - shift] += 1.0  # inside the window of step t
    older = x.copy()
    older[0, t - 3] += 1.0  # one step before it
    y = net.predict(x)
    assert not np.allclose(net.predict(changed)[0, t], y[0, t])
    np.testing.assert_array_equal(net.predict(older)[0, t], y[0, t])


def test_chunks_with_carried_state_equal_the_whole_stream(rng):
    net = _net(rng, window=4)
    x = rng.standard_normal((B, T, I))
    whole = net.predict(x)
    first, state, _ = net.forward(x[:, :2])
    second, _, _ = net.forward(x[:, 2:], state)
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), whole, rtol=1e-12)


def test_last_step_reads_each_sequence_up_to_its_length(rng):
    net = _net(rng, readout="last_step", window=3)
    x = rng.standard_normal((B, T, I))
    lengths = np.array([6, 2, 4])
    y = net.predict(x, lengths=lengths)
    mask = np.arange(T)[None, :] < lengths[:, None]
    np.testing.assert_array_equal(net.predict(x, mask=mask), y)
    for b, n in enumerate(lengths):
        np.testing.assert_allclose(y[b], net.predict(x[b : b + 1, :n])[0], rtol=1e-12)


@pytest.mark.parametrize("loss, readout", [("mse", "last_step"), ("cross_entropy", "every_step")])
def test_the_library_fit_trains_it_like_a_recurrent_model(rng, loss, readout):
    net = _net(rng, loss=loss, readout=readout, output_size=2, dtype="float32")
    x = rng.standard_normal((32, T, I)).astype(np.float32)
    if loss == "mse":
        y = x[:, -2:, 0].sum(axis=1, keepdims=True).repeat(2, axis=1)  # a function of the window
    else:
        y = (x[:, :, 0] > 0).astype(np.int64)
    history = fit(net, x, y, rng=rng, epochs=30, batch_size=8, lr=1e-2)
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]


def test_truncated_bptt_drives_it_over_a_token_stream(rng):
    V = 4
    net = _net(rng, vocab_size=V, input_size=V, output_size=V, window=2)
    tbptt = TruncatedBPTT(3, 5)
    ids = rng.integers(0, V, (B, 4))
    step = tbptt.step(net, ids, rng.integers(0, V, (B, 4)))
    assert np.isfinite(step.loss) and step.state.shape == (1, B, V)
    again = full_bptt(net, ids, rng.integers(0, V, (B, 4)))
    assert set(again.grads) == set(net.params)


@pytest.mark.parametrize(
    "options",
    [
        dict(window=0),
        dict(hidden_sizes=(0,)),
        dict(activation="sigmoid"),
        dict(readout="middle"),
        dict(embedding_dim=3),
    ],
)
def test_bad_configurations_are_refused(options):
    base = dict(input_size=I, window=3, output_size=O)
    with pytest.raises(ConfigError):
        FFNNConfig(**{**base, **options})


@pytest.mark.parametrize(
    "x, kwargs",
    [
        (np.zeros((B, T, I + 1)), {}),
        (np.zeros((B, T)), {}),
        (np.zeros((B, T, I)), {"state": np.zeros((1, B, I))}),
        (np.zeros((B, T, I)), {"lengths": np.array([7, 1, 1])}),
    ],
)
def test_bad_inputs_raise_shape_errors(rng, x, kwargs):
    net = _net(rng)
    with pytest.raises(ShapeError):
        net.forward(x, **kwargs)


@pytest.mark.parametrize(
    "options, x",
    [
        (dict(), np.zeros((B, 0, I))),
        (dict(vocab_size=5, input_size=5), np.zeros((B, 0), np.int64)),
    ],
    ids=["vectors", "token-ids"],
)
def test_an_input_with_no_steps_is_refused(rng, options, x):
    net = _net(rng, **options)
    with pytest.raises(ShapeError, match="at least one step"):
        net.forward(x)


def test_a_config_round_trips_through_a_dict():
    config = FFNNConfig(input_size=2, window=5, output_size=3, hidden_sizes=(8, 8))
    assert FFNNConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("options", [dict(), dict(vocab_size=5, input_size=3, embedding_dim=3)])
def test_save_and_load_give_back_the_same_baseline(rng, tmp_path, options):
    import rnnkit

    net = _net(rng, **options)
    net.meta["note"] = "kept"
    rnnkit.save(net, tmp_path / "m")
    back = rnnkit.load(tmp_path / "m")
    assert isinstance(back, FFNN) and back.config == net.config and back.meta == net.meta
    x = rng.integers(0, 5, (B, T)) if options else rng.standard_normal((B, T, I))
    np.testing.assert_array_equal(back.predict(x), net.predict(x))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"window": "3"}, "window must be an integer"),
        ({"hidden_sizes": [4, True]}, "hidden_sizes must be an integer"),
        ({"hidden_sizes": 4}, "hidden_sizes must be a list"),
        ({"depth": 2}, "unknown ffnn config keys: depth"),
    ],
)
def test_a_damaged_config_dict_is_refused_by_name(rng, change, message):
    config = {**_net(rng).config.to_dict(), **change}
    with pytest.raises(ConfigError, match=message):
        FFNNConfig.from_dict(config)


@pytest.mark.parametrize(
    "kind, message",
    [("tree", "unknown model kind 'tree'"), ("ffnn", "unknown ffnn config keys: rnn")],
)
def test_a_checkpoint_of_an_unknown_kind_or_wrong_config_does_not_load(
    rng, tmp_path, kind, message
):
    import rnnkit
    from rnnkit.config import ModelConfig
    from rnnkit.errors import CheckpointError
    from rnnkit.io.checkpoint import write_checkpoint
    from rnnkit.models.model import Model

    model = Model(ModelConfig.for_tokens(4, cell="gru", hidden_size=3), rng=rng)
    config = {"kind": kind, "model": model.config.to_dict(), "meta": {}}
    write_checkpoint(tmp_path / "m", model.state_dict(), config)
    with pytest.raises(CheckpointError, match=message):
        rnnkit.load(tmp_path / "m")
