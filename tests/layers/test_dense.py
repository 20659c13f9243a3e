"""The linear readout's backward against central differences, for one output and several."""

import numpy as np
import pytest

from rnnkit.layers.dense import dense_backward, dense_forward


@pytest.mark.parametrize("O", [1, 3])
def test_dense_backward_matches_finite_differences(O):
    rng = np.random.default_rng(O)
    W, b = rng.standard_normal((O, 4)), rng.standard_normal(O)
    h, dy = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, O))

    def loss(W_, b_, h_):
        return float(np.sum(dense_forward(W_, b_, h_) * dy))

    dh, dW, db = dense_backward(W, h, dy)
    assert dh.shape == h.shape and dW.shape == W.shape and db.shape == b.shape
    for value, grad in ((W, dW), (b, db), (h, dh)):
        numeric = np.zeros_like(value)
        for k in np.ndindex(value.shape):
            old = value[k]
            value[k] = old + 1e-6
            up = loss(W, b, h)
            value[k] = old - 1e-6
            down = loss(W, b, h)
            value[k] = old
            numeric[k] = (up - down) / 2e-6
        np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-8)
