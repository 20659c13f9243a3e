"""The Elman cell: finite differences through the driver, PyTorch's nn.RNN, initialisations."""

import numpy as np
import pytest

from rnnkit.cells import CellOptions, elman, unroll
from tests.cells._sequences import H, I, finite_difference_errors, smallest_pre_activation
from tests.conftest import FD_RTOL, TORCH_ATOL, torch_or_skip

SEQUENCES = dict(lengths=(4, 2, 3), keep=0.5)  # the mask's real steps; dropout keeps half


@pytest.mark.parametrize("dropped", [False, True], ids=["no-drop", "drop"])
@pytest.mark.parametrize("masked", [False, True], ids=["full", "masked"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_elman_backward_matches_finite_differences(nonlinearity, masked, dropped):
    opts = CellOptions(nonlinearity=nonlinearity)
    if nonlinearity == "relu":  # finite differences never straddle 0
        assert smallest_pre_activation(elman, opts, masked, dropped, **SEQUENCES) > 1e-4
    errors = finite_difference_errors(elman, opts, masked, dropped, **SEQUENCES)
    assert errors.keys() == {*elman.param_shapes(I, H, opts), "xs", "state0[0]"}
    assert max(errors.values()) < FD_RTOL, errors


@pytest.mark.torch
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_elman_matches_torch_rnn(nonlinearity):
    torch = torch_or_skip()
    T5, B3, I3, H4 = 5, 3, 3, 4
    rng = np.random.default_rng(1)
    opts = CellOptions(nonlinearity=nonlinearity)
    p = elman.init_params(I3, H4, opts, rng, np.float64)
    xs, h0 = rng.standard_normal((T5, B3, I3)), rng.standard_normal((B3, H4))
    R, S = rng.standard_normal((T5, B3, H4)), rng.standard_normal((B3, H4))

    outs, (hT,), cache = unroll.forward(elman, p, xs, (h0,), opts)
    dxs, (dh0,), grads = unroll.backward(elman, p, cache, R, (S,), opts)

    rnn = torch.nn.RNN(I3, H4, nonlinearity=nonlinearity, dtype=torch.float64)
    with torch.no_grad():
        for name, w in p.items():
            getattr(rnn, name + "_l0").copy_(torch.from_numpy(w))
    t_xs = torch.tensor(xs, requires_grad=True)
    t_h0 = torch.tensor(h0[None], requires_grad=True)
    t_outs, t_hT = rnn(t_xs, t_h0)
    ((torch.from_numpy(R) * t_outs).sum() + (torch.from_numpy(S) * t_hT[0]).sum()).backward()

    def same(ours, theirs):
        np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=0, atol=TORCH_ATOL)

    same(outs, t_outs)
    same(hT, t_hT[0])
    same(dxs, t_xs.grad)
    same(dh0, t_h0.grad[0])
    for name in p:
        same(grads[name], getattr(rnn, name + "_l0").grad)


def test_orthogonal_init_gives_orthogonal_recurrent_weight():
    opts = CellOptions(init="orthogonal")
    p = elman.init_params(I, H, opts, np.random.default_rng(0), np.float64)
    W = p["weight_hh"]
    np.testing.assert_allclose(W @ W.T, np.eye(H), rtol=0, atol=1e-12)
    assert np.abs(W - np.eye(H)).max() > 0.1  # a random rotation, not the identity


def test_identity_init_gives_identity_recurrent_weight_and_zero_biases():
    p = elman.init_params(I, H, CellOptions(init="identity"), np.random.default_rng(0), np.float64)
    np.testing.assert_array_equal(p["weight_hh"], np.eye(H))
    np.testing.assert_array_equal(p["bias_ih"], 0)
    np.testing.assert_array_equal(p["bias_hh"], 0)
    assert np.abs(p["weight_ih"]).max() > 0  # the input weights stay random


def test_identity_init_draws_input_weights_from_a_gaussian_of_std_0_001():
    I50, H200 = 50, 200  # 10 000 draws: the sample std is within 0.7 % of σ (one s.e.)
    p = elman.init_params(
        I50,
        H200,
        CellOptions(init="identity", nonlinearity="relu"),
        np.random.default_rng(0),
        np.float64,
    )
    w = p["weight_ih"].ravel()
    sigma, n = 1e-3, w.size  # Le et al. 2015: mean 0, standard deviation 0.001
    assert abs(w.mean()) < 5 * sigma / np.sqrt(n)
    assert abs(w.std() / sigma - 1) < 5 / np.sqrt(2 * n)
    assert abs(np.mean(np.abs(w) < sigma) - 0.6827) < 0.03  # Gaussian, not uniform, in shape


@pytest.mark.parametrize("init", ["uniform", "orthogonal", "identity"])
def test_same_seed_gives_identical_params(init):
    opts = CellOptions(init=init)
    first = elman.init_params(I, H, opts, np.random.default_rng(7), np.float32)
    second = elman.init_params(I, H, opts, np.random.default_rng(7), np.float32)
    other = elman.init_params(I, H, opts, np.random.default_rng(8), np.float32)
    assert first.keys() == second.keys() == elman.param_shapes(I, H, opts).keys()
    for name, w in first.items():
        assert w.dtype == np.float32 and w.shape == elman.param_shapes(I, H, opts)[name]
        np.testing.assert_array_equal(w, second[name])
    assert any(not np.array_equal(w, other[name]) for name, w in first.items())
