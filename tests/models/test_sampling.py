"""Sampling from a next-token model: reproducible, temperature-shaped, checked arguments."""

import numpy as np
import pytest

from rnnkit.config import ModelConfig
from rnnkit.errors import ConfigError
from rnnkit.models.model import Model
from rnnkit.models.sampling import generate


def _model(seed: int = 0) -> Model:
    return Model(
        ModelConfig.for_tokens(7, cell="gru", hidden_size=5), rng=np.random.default_rng(seed)
    )


def test_the_same_seed_draws_the_same_tokens_and_another_seed_differs():
    m = _model()
    draw = lambda s: generate(m, np.array([1, 2]), 60, rng=np.random.default_rng(s))  # noqa: E731
    a, b, c = draw(3), draw(3), draw(4)
    assert a.dtype == np.int64 and a.shape == (60,) and ((0 <= a) & (a < 7)).all()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_a_tiny_temperature_follows_the_most_likely_token():
    m = _model(1)
    out = generate(m, np.array([0]), 12, temperature=1e-4, rng=np.random.default_rng(0))
    history = [0]
    for tok in out:  # greedy decoding by hand: each draw is the argmax given the history
        logits = m.predict(np.array([history]))[0, -1]
        assert tok == int(np.argmax(logits))
        history.append(int(tok))


def test_the_draws_follow_the_softmax_at_temperature_one():
    m = _model(2)
    logits = m.predict(np.array([[3]]))[0, -1].astype(np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    first = [generate(m, np.array([3]), 1, rng=np.random.default_rng(s))[0] for s in range(4000)]
    freq = np.bincount(first, minlength=7) / len(first)
    assert np.abs(freq - p).max() < 0.03  # 4 000 draws: standard error ≤ 0.008


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -0.5}, "temperature must be a finite number > 0, got -0.5"),
        ({"temperature": float("nan")}, "temperature must be a finite number > 0, got nan"),
        ({"temperature": float("inf")}, "temperature must be a finite number > 0, got inf"),
        ({"length": 2.5}, "length must be a whole number"),
        ({"length": -1}, "length"),
        ({"prime": np.array([], dtype=int)}, "priming"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    args = {"prime": np.array([1]), "length": 3, "temperature": 1.0} | kwargs
    with pytest.raises(ConfigError, match=match):
        generate(
            _model(), args.pop("prime"), args.pop("length"), rng=np.random.default_rng(0), **args
        )


def test_a_vanishing_temperature_is_greedy_not_nan():
    m = _model(3)
    # logits / 5e-324 overflow to ±inf: without care, inf − inf = NaN probabilities
    out = generate(m, np.array([2]), 5, temperature=5e-324, rng=np.random.default_rng(0))
    greedy = generate(m, np.array([2]), 5, temperature=1e-4, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(out, greedy)
