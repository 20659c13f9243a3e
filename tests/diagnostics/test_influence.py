"""Influence ‖∂ŷ_t[k]/∂x_s‖: against finite differences and PyTorch, causality, choices of k."""

import numpy as np
import pytest

from rnnkit.config import ModelConfig
from rnnkit.diagnostics.influence import influence, input_gradients, top_positions
from rnnkit.errors import ConfigError
from rnnkit.layers.embedding import one_hot
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.model import Model
from tests.conftest import FD_RTOL, TORCH_ATOL, torch_or_skip

B, T, I, H, O = 2, 5, 3, 4, 3

CASES = {
    "elman-every": dict(cell="elman", readout="every_step", bidirectional=False, layers=1),
    "lstm-every-2layers": dict(cell="lstm", readout="every_step", bidirectional=False, layers=2),
    "gru-last": dict(cell="gru", readout="last_step", bidirectional=False, layers=1),
    "jordan-last": dict(cell="jordan", readout="last_step", bidirectional=False, layers=1),
    "lstm-bi-every": dict(cell="lstm", readout="every_step", bidirectional=True, layers=1),
    "gru-bi-last": dict(cell="gru", readout="last_step", bidirectional=True, layers=2),
}


def _model(case: dict, seed: int = 0, vocab: int = 0) -> Model:
    rnn = RecurrentConfig(
        cell=case["cell"],
        input_size=vocab or I,
        hidden_size=H,
        num_layers=case["layers"],
        bidirectional=case["bidirectional"],
    )
    config = ModelConfig(
        rnn=rnn, output_size=vocab or O, vocab_size=vocab, readout=case["readout"], dtype="float64"
    )
    return Model(config, rng=np.random.default_rng(seed))


def _prediction(model: Model, x: np.ndarray, t: int, k: np.ndarray) -> np.ndarray:
    """ŷ_t[k_b] for every sequence b: ``[B]``."""
    y = model.predict(x)
    y_t = y if y.ndim == 2 else y[:, t]
    return y_t[np.arange(len(y_t)), k]


def _numerical_input_gradients(model, x, t, k, eps=1e-6) -> np.ndarray:
    """∂ŷ_t[k]/∂x by central differences: ``[B, T, I]`` (sequences are independent)."""
    grad = np.zeros_like(x)
    for s in range(x.shape[1]):
        for i in range(x.shape[2]):
            plus, minus = x.copy(), x.copy()
            plus[:, s, i] += eps
            minus[:, s, i] -= eps
            grad[:, s, i] = (_prediction(model, plus, t, k) - _prediction(model, minus, t, k)) / (
                2 * eps
            )
    return grad


@pytest.mark.parametrize("name", list(CASES))
def test_input_gradients_match_finite_differences(name):
    case = CASES[name]
    model = _model(case)
    x = np.random.default_rng(1).standard_normal((B, T, I))
    t = T - 1 if case["readout"] == "last_step" else 2
    k = np.array([0, 2])
    got = input_gradients(model, x, t, k)
    expected = _numerical_input_gradients(model, x, t, k)
    assert np.abs(expected).max() > 1e-3
    np.testing.assert_allclose(got, expected, rtol=0, atol=FD_RTOL * np.abs(expected).max())
    norms = influence(model, x, t, k)
    np.testing.assert_allclose(
        norms, np.linalg.norm(expected, axis=2), rtol=0, atol=FD_RTOL * np.abs(expected).max()
    )


def test_a_last_step_model_explains_an_earlier_position_from_the_prefix_it_has_read():
    model = _model(CASES["gru-last"])
    x = np.random.default_rng(2).standard_normal((B, T, I))
    k = np.array([1, 1])
    got = influence(model, x, 2, k)
    assert got.shape == (B, 3)
    np.testing.assert_allclose(got, influence(model, x[:, :3], -1, k), rtol=0, atol=0)


@pytest.mark.torch
def test_influence_matches_torch_autograd():
    torch = torch_or_skip()
    from rnnkit.io.torch_exchange import to_torch

    model = _model(CASES["lstm-every-2layers"])
    x = np.random.default_rng(3).standard_normal((B, T, I))
    t, k = 3, np.array([2, 0])
    module = to_torch(model.rnn)
    xs = torch.tensor(x.swapaxes(0, 1), requires_grad=True)  # [T, B, I]
    hs, _ = module(xs)
    W, b = (torch.tensor(model.params[n]) for n in ("head.weight", "head.bias"))
    y_t = hs[t] @ W.T + b  # [B, O]
    y_t[torch.arange(B), torch.tensor(k)].sum().backward()  # sequences are independent
    expected = xs.grad.norm(dim=2).T.numpy()  # [B, T]
    np.testing.assert_allclose(influence(model, x, t, k), expected, rtol=0, atol=TORCH_ATOL)


def test_a_causal_model_gives_no_influence_to_later_inputs_and_a_bidirectional_one_does():
    x = np.random.default_rng(4).standard_normal((B, T, I))
    causal = influence(_model(CASES["elman-every"]), x, 1)
    assert np.all(causal[:, 2:] == 0) and np.all(causal[:, :2] > 0)
    both = influence(_model(CASES["lstm-bi-every"]), x, 1)
    assert np.all(both > 0)


def test_token_influence_is_the_gradient_with_respect_to_the_one_hot_input():
    V = 6
    token_model = _model(CASES["lstm-every-2layers"], vocab=V)
    config = token_model.config.replace(vocab_size=0)  # the same net reading vectors
    vector_model = Model(config, params=token_model.params)
    ids = np.random.default_rng(5).integers(0, V, (B, T))
    x = one_hot(ids.T, V, np.float64).swapaxes(0, 1)  # [B, T, V]
    t, k = 3, np.array([4, 1])
    expected = np.linalg.norm(_numerical_input_gradients(vector_model, x, t, k), axis=2)
    np.testing.assert_allclose(
        influence(token_model, ids, t, k), expected, rtol=0, atol=FD_RTOL * expected.max()
    )


def test_the_default_unit_is_the_most_probable_class_at_the_position():
    model = _model(CASES["elman-every"])
    x = np.random.default_rng(6).standard_normal((B, T, I))
    k = np.argmax(model.predict(x)[:, 2], axis=1)
    np.testing.assert_array_equal(influence(model, x, 2), influence(model, x, 2, k))


@pytest.mark.parametrize(
    "position, unit, message",
    [
        (T, None, "outside"),
        (-T - 1, None, "outside"),
        (0, O, "output unit"),
        (0, -1, "output unit"),
    ],
)
def test_bad_positions_and_units_are_named(position, unit, message):
    model = _model(CASES["elman-every"])
    with pytest.raises(ConfigError, match=message):
        influence(model, np.zeros((B, T, I)), position, unit)


def test_top_positions_are_the_largest_first():
    np.testing.assert_array_equal(top_positions(np.array([[0.1, 0.9, 0.5, 0.7]]), 2), [[1, 3]])
