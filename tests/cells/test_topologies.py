"""Other topologies follow from the fully recurrent net by zeroing connections.

Two exact equalities, on the same weights, outputs and every gradient to float64 rounding:

* Elman: the FRNN's hidden units with M = [[1, 0], [1, 0]] are the Elman cell; linear
  output units copying h (W_hh[H:, :H] = I) show every h_t, one step late.
* Jordan (output feedback): M = [[0, 1], [1, 0]], linear output units, no input to them,
  and a zero input step after every real one: FRNN steps 2t and 2t+1 are Jordan step t.

Every FRNN connection takes one step, so the FRNN needs the extra steps the cells do not.
"""

import numpy as np
import pytest

from rnnkit.cells import CellOptions, elman, fully_recurrent, jordan, unroll
from tests.conftest import assert_equal_to_rounding

T, B, I, H, O = 5, 3, 3, 4, 2
OPERATIONS = 8 * T * (I + H + O)  # sequential roundings along the longest path, generously


def same(actual, expected, what):
    assert_equal_to_rounding(actual, expected, operations=OPERATIONS, err_msg=what)


def inputs(seed: int):
    rng = np.random.default_rng(seed)
    return rng, rng.standard_normal((T, B, I))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_frnn_with_hidden_to_hidden_connections_only_is_the_elman_cell(nonlinearity):
    rng, xs = inputs(0)
    e_opts = CellOptions(nonlinearity=nonlinearity)
    pe = elman.init_params(I, H, e_opts, rng, np.float64)
    h0 = rng.standard_normal((B, H))
    R, S = rng.standard_normal((T, B, H)), rng.standard_normal((B, H))

    # the FRNN: N = H + H units; the output units copy h one step late (y_t = h_{t−1})
    f_opts = CellOptions(nonlinearity=nonlinearity, output_size=H, linear_outputs=True)
    M = np.zeros((2 * H, 2 * H))
    M[:, :H] = 1  # [[1, 0], [1, 0]]: nothing reads the output units
    W_hh = np.zeros((2 * H, 2 * H))
    W_hh[:H, :H], W_hh[H:, :H] = pe["weight_hh"], np.eye(H)
    pf = {
        "weight_ih": np.vstack([pe["weight_ih"], np.zeros((H, I))]),
        "weight_hh": W_hh,
        "connection_mask": M,
        "bias_ih": np.concatenate([pe["bias_ih"], np.zeros(H)]),
        "bias_hh": np.concatenate([pe["bias_hh"], np.zeros(H)]),
    }
    xs_f = np.concatenate([xs, np.zeros((1, B, I))])  # one more step shows h_{T−1}
    u0 = np.concatenate([h0, rng.standard_normal((B, H))], axis=1)

    hs, (hT,), e_cache = unroll.forward(elman, pe, xs, (h0,), e_opts)
    ys, (uT,), f_cache = unroll.forward(fully_recurrent, pf, xs_f, (u0,), f_opts)
    same(ys[1:], hs, "y_{t+1} = h_t")
    same(ys[0], h0, "y_0 = h_{−1}")
    same(uT[:, H:], hT, "final output units = h_{T−1}")

    # L = Σ_t ⟨R_t, h_t⟩ + ⟨S, h_{T−1}⟩, read through the output units in the FRNN
    e_dxs, (dh0,), e_grads = unroll.backward(elman, pe, e_cache, R, (S,), e_opts)
    douts = np.concatenate([np.zeros((1, B, H)), R])
    dstate = np.concatenate([np.zeros((B, H)), S], axis=1)
    f_dxs, (du0,), f_grads = unroll.backward(
        fully_recurrent, pf, f_cache, douts, (dstate,), f_opts
    )
    same(f_dxs[:T], e_dxs, "dx")
    np.testing.assert_array_equal(f_dxs[T], 0)  # the extra step's input reaches no loss
    same(du0[:, :H], dh0, "dh_{−1}")
    np.testing.assert_array_equal(du0[:, H:], 0)
    same(f_grads["weight_hh"][:H, :H], e_grads["weight_hh"], "dW_hh")
    np.testing.assert_array_equal(f_grads["weight_hh"][:, H:], 0)  # removed connections
    for name in ("weight_ih", "bias_ih", "bias_hh"):
        same(f_grads[name][:H], e_grads[name], name)


def jordan_as_frnn(pj: dict) -> tuple[dict, np.ndarray]:
    """FRNN parameters holding the Jordan weights, and the mask [[0, 1], [1, 0]]."""
    M = np.zeros((H + O, H + O))
    M[:H, H:] = M[H:, :H] = 1
    W_hh = np.zeros((H + O, H + O))
    W_hh[:H, H:], W_hh[H:, :H] = pj["weight_hh"], pj["weight_hy"]  # h ← y,  y ← h
    return {
        "weight_ih": np.vstack([pj["weight_ih"], np.zeros((O, I))]),  # outputs see no x
        "weight_hh": W_hh,
        "connection_mask": M,
        "bias_ih": np.concatenate([pj["bias_ih"], pj["bias_hy"]]),
        "bias_hh": np.concatenate([pj["bias_hh"], np.zeros(O)]),
    }, M


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_frnn_with_the_jordan_mask_and_linear_outputs_is_the_jordan_cell(nonlinearity):
    rng, xs = inputs(1)
    j_opts = CellOptions(nonlinearity=nonlinearity, output_size=O)
    pj = jordan.init_params(I, H, j_opts, rng, np.float64)
    y0 = rng.standard_normal((B, O))
    R, S = rng.standard_normal((T, B, O)), rng.standard_normal((B, O))

    f_opts = CellOptions(nonlinearity=nonlinearity, output_size=O, linear_outputs=True)
    pf, _ = jordan_as_frnn(pj)
    xs_f = np.zeros((2 * T, B, I))
    xs_f[0::2] = xs  # x_0, 0, x_1, 0, …: step 2t updates h, step 2t+1 the output from it
    u0 = np.concatenate([rng.standard_normal((B, H)), y0], axis=1)

    ys, (yT,), j_cache = unroll.forward(jordan, pj, xs, (y0,), j_opts)
    outs, (uT,), f_cache = unroll.forward(fully_recurrent, pf, xs_f, (u0,), f_opts)
    same(outs[1::2], ys, "y_t at FRNN step 2t+1")
    same(uT[:, H:], yT, "final output")
    h_j = np.stack([c.h for c in j_cache.caches])
    h_f = np.stack([c.u[:, :H] for c in f_cache.caches])[0::2]
    same(h_f, h_j, "h_t at FRNN step 2t")

    # L = Σ_t ⟨R_t, y_t⟩ + ⟨S, y_{T−1}⟩
    j_dxs, (dy0,), j_grads = unroll.backward(jordan, pj, j_cache, R, (S,), j_opts)
    douts = np.zeros((2 * T, B, O))
    douts[1::2] = R
    dstate = np.concatenate([np.zeros((B, H)), S], axis=1)
    f_dxs, (du0,), f_grads = unroll.backward(
        fully_recurrent, pf, f_cache, douts, (dstate,), f_opts
    )
    same(f_dxs[0::2], j_dxs, "dx_t at step 2t")
    np.testing.assert_array_equal(f_dxs[1::2], 0)  # the inserted steps reach no loss
    same(du0[:, H:], dy0, "dy_{−1}")
    np.testing.assert_array_equal(du0[:, :H], 0)
    same(f_grads["weight_hh"][:H, H:], j_grads["weight_hh"], "dW_hh (y → h)")
    same(f_grads["weight_hh"][H:, :H], j_grads["weight_hy"], "dW_hy (h → y)")
    np.testing.assert_array_equal(f_grads["weight_hh"][:H, :H], 0)
    np.testing.assert_array_equal(f_grads["weight_hh"][H:, H:], 0)
    same(f_grads["weight_ih"][:H], j_grads["weight_ih"], "dW_ih")
    same(f_grads["bias_ih"][:H], j_grads["bias_ih"], "db_ih")
    same(f_grads["bias_hh"][:H], j_grads["bias_hh"], "db_hh")
    same(f_grads["bias_ih"][H:], j_grads["bias_hy"], "db_hy")


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_the_jordan_mask_with_nonlinear_outputs_is_not_the_jordan_cell(nonlinearity):
    """The FRNN's output units are act(a): without linear_outputs the equality fails, so the
    test above depends on it."""
    rng, xs = inputs(1)
    j_opts = CellOptions(nonlinearity=nonlinearity, output_size=O)
    pj = jordan.init_params(I, H, j_opts, rng, np.float64)
    pj["bias_hy"] -= 1.0  # some outputs negative, where relu and the identity differ
    pf, _ = jordan_as_frnn(pj)
    xs_f = np.zeros((2 * T, B, I))
    xs_f[0::2] = xs
    y0 = np.zeros((B, O))
    ys, _, _ = unroll.forward(jordan, pj, xs, (y0,), j_opts)
    f_opts = CellOptions(nonlinearity=nonlinearity, output_size=O)
    outs, _, _ = unroll.forward(fully_recurrent, pf, xs_f, (np.zeros((B, H + O)),), f_opts)
    assert np.abs(outs[1::2] - ys).max() > 1e-3
