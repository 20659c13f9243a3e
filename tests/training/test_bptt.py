"""Full and truncated BPTT: k1 = k2 = T is full BPTT; k2 < T is BPTT on the detached graph."""

import numpy as np
import pytest

from rnnkit.config import ModelConfig
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers import recurrent
from rnnkit.models.model import Model
from rnnkit.training.bptt import TruncatedBPTT, full_bptt, objective
from tests.conftest import FD_RTOL, TORCH_ATOL, assert_equal_to_rounding, torch_or_skip

V = 6


def _model(cell: str, seed: int = 0) -> Model:
    config = ModelConfig.for_tokens(V, cell=cell, hidden_size=5).replace(dtype="float64")
    return Model(config, rng=np.random.default_rng(seed))


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru", "jordan", "fully_recurrent"])
def test_truncated_with_k1_equal_k2_equal_T_is_full_bptt(cell, rng):
    model = _model(cell)
    x, y = rng.integers(0, V, (3, 8)), rng.integers(0, V, (3, 8))
    full = full_bptt(model, x, y)
    trunc = TruncatedBPTT(8, 8).step(model, x, y)
    assert trunc.loss == pytest.approx(full.loss, rel=1e-14)
    for name, g in full.grads.items():
        np.testing.assert_allclose(trunc.grads[name], g, rtol=1e-13, atol=1e-15, err_msg=name)


def _torch_copy(torch, model: Model):
    lstm = torch.nn.LSTM(V, 5).double()
    head = torch.nn.Linear(5, V).double()
    with torch.no_grad():
        for name, w in lstm.named_parameters():
            w.copy_(torch.from_numpy(model.params["rnn." + name]))
        head.weight.copy_(torch.from_numpy(model.params["head.weight"]))
        head.bias.copy_(torch.from_numpy(model.params["head.bias"]))
    return lstm, head


@pytest.mark.torch
@pytest.mark.parametrize("k1,k2", [(2, 2), (2, 5), (3, 4), (1, 6)])
def test_truncated_bptt_equals_autograd_on_the_detached_graph(k1, k2, rng):
    torch = torch_or_skip()
    model = _model("lstm", seed=3)
    lstm, head = _torch_copy(torch, model)
    B, chunks = 2, 5
    ids = rng.integers(0, V, (B, k1 * chunks + 1))
    x_all, y_all = ids[:, :-1], ids[:, 1:]
    onehot = torch.nn.functional.one_hot(torch.from_numpy(x_all.T.copy()), V).double()  # [T, B, V]
    tbptt = TruncatedBPTT(k1, k2)
    for c in range(chunks):
        e = (c + 1) * k1  # this update's window ends at step e
        ours = tbptt.step(model, x_all[:, e - k1 : e], y_all[:, e - k1 : e])
        start = max(e - k2, 0)
        with torch.no_grad():  # the state where the window starts is a constant
            state = None if start == 0 else lstm(onehot[:start])[1]
        lstm.zero_grad()
        head.zero_grad()
        out, _ = lstm(onehot[start:e], state)
        logits = head(out[-k1:])  # loss on the last k1 steps only
        target = torch.from_numpy(y_all[:, e - k1 : e].T.copy())
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), target.reshape(-1))
        loss.backward()
        assert ours.loss == pytest.approx(loss.item(), rel=1e-12)
        theirs = {"rnn." + n: w.grad.numpy() for n, w in lstm.named_parameters()}
        theirs.update(
            {"head.weight": head.weight.grad.numpy(), "head.bias": head.bias.grad.numpy()}
        )
        for name, g in theirs.items():
            np.testing.assert_allclose(ours.grads[name], g, rtol=0, atol=TORCH_ATOL, err_msg=name)


def test_truncated_bptt_state_dict_resumes_identically(rng):
    model = _model("gru")
    ids = rng.integers(0, V, (2, 13))
    a, b = TruncatedBPTT(3, 5), TruncatedBPTT(3, 5)
    for c in range(2):
        a.step(model, ids[:, 3 * c : 3 * c + 3], ids[:, 3 * c + 1 : 3 * c + 4])
    b.load_state_dict(a.state_dict())
    ra = a.step(model, ids[:, 6:9], ids[:, 7:10])
    rb = b.step(model, ids[:, 6:9], ids[:, 7:10])
    assert ra.loss == rb.loss
    for name in ra.grads:
        np.testing.assert_array_equal(ra.grads[name], rb.grads[name])


def test_k2_shorter_than_k1_is_refused():
    with pytest.raises(ConfigError, match="k1 <= k2"):
        TruncatedBPTT(5, 3)


# ----------------------------------------------------------------------------- recurrent dropout


def _dropout_model(cell: str = "gru", seed: int = 0, **rnn) -> Model:
    config = ModelConfig.for_tokens(V, cell=cell, hidden_size=5, **rnn).replace(dtype="float64")
    return Model(config, rng=np.random.default_rng(seed))


@pytest.fixture
def recurrent_masks(monkeypatch):
    """Every recurrent-dropout mask [B, S] the layer hands to its time loop, in order."""
    seen, real = [], recurrent._dropout_mask

    def spy(rng, shape, p, dtype):
        mask = real(rng, shape, p, dtype)
        if len(shape) == 2:
            seen.append(mask)
        return mask

    monkeypatch.setattr(recurrent, "_dropout_mask", spy)
    return seen


@pytest.mark.parametrize("k1,k2", [(3, 3), (3, 5), (2, 7)])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_one_recurrent_mask_serves_every_window_and_the_buffered_steps(
    k1, k2, bidirectional, recurrent_masks, rng
):
    model = _dropout_model(
        num_layers=2, dropout=0.3, recurrent_dropout=0.5, bidirectional=bidirectional
    )
    per_forward = 2 * (2 if bidirectional else 1)  # one mask per layer and direction
    ids = rng.integers(0, V, (4, 4 * k1 + 1))
    tbptt, draws = TruncatedBPTT(k1, k2), np.random.default_rng(5)
    for c in range(4):
        tbptt.step(
            model, ids[:, c * k1 : (c + 1) * k1], ids[:, c * k1 + 1 : (c + 1) * k1 + 1], rng=draws
        )
    first = recurrent_masks[:per_forward]
    assert len(recurrent_masks) > per_forward  # windows after the first, pieces of buffered steps
    assert all((m == 0).any() for m in first)  # dropout is on
    assert len({m.tobytes() for m in first}) == per_forward  # each layer·direction its own
    for k, mask in enumerate(recurrent_masks):
        np.testing.assert_array_equal(mask, first[k % per_forward], err_msg=f"mask {k}")


def test_a_reset_draws_new_recurrent_masks(recurrent_masks, rng):
    model = _dropout_model(recurrent_dropout=0.5)
    ids = rng.integers(0, V, (4, 7))
    tbptt, draws = TruncatedBPTT(3, 5), np.random.default_rng(5)
    tbptt.step(model, ids[:, :3], ids[:, 1:4], rng=draws)
    tbptt.reset()
    tbptt.step(model, ids[:, 3:6], ids[:, 4:7], rng=draws)
    assert not np.array_equal(recurrent_masks[0], recurrent_masks[-1])


class _Held:
    """A generator that answers every draw u[B, S] with the given uniforms (and nothing else)."""

    def __init__(self, draws: list) -> None:
        self.draws, self.k = draws, 0

    def random(self, shape):
        u = self.draws[self.k % len(self.draws)]
        assert u.shape == tuple(shape)
        self.k += 1
        return u


def _start_state(model: Model, ids: np.ndarray, e: int, k2: int, held: list):
    """The state where the window [e − k2, e) starts, under the recurrent masks ``held``."""
    start = max(e - k2, 0)
    return model.forward(ids[:, :start], train=True, rng=_Held(held))[1] if start else None


def _window_loss(model: Model, ids: np.ndarray, e: int, k1: int, k2: int, held: list, state=None):
    """Full BPTT over the window [e − k2, e) from the detached ``state`` at e − k2, loss on its
    last k1 steps, every step under the recurrent masks ``held``: (loss, grads)."""
    start = max(e - k2, 0)
    y, _, cache = model.forward(ids[:, start:e], state, train=True, rng=_Held(held))
    loss, dy_last = objective(model, y[:, -k1:], ids[:, e - k1 + 1 : e + 1])
    dy = np.zeros_like(y)
    dy[:, -k1:] = dy_last
    return loss, model.backward(cache, dy)[0]


@pytest.mark.parametrize("cell", ["elman", "lstm", "gru"])
@pytest.mark.parametrize("k1,k2", [(2, 2), (2, 5), (3, 4)])
def test_truncated_bptt_under_the_held_mask_is_full_bptt_of_each_window(cell, k1, k2, rng):
    model = _dropout_model(cell, seed=3, num_layers=2, recurrent_dropout=0.4)
    ids = rng.integers(0, V, (2, 4 * k1 + 1))
    tbptt, draws = TruncatedBPTT(k1, k2), np.random.default_rng(9)
    for c in range(4):
        e = (c + 1) * k1
        ours = tbptt.step(model, ids[:, e - k1 : e], ids[:, e - k1 + 1 : e + 1], rng=draws)
        held = tbptt.recurrent_draws
        loss, grads = _window_loss(
            model, ids, e, k1, k2, held, _start_state(model, ids, e, k2, held)
        )
        # the same arithmetic, but the windows' products are blocked differently by BLAS
        assert ours.loss == pytest.approx(loss, rel=64 * np.finfo(np.float64).eps)
        for name, g in grads.items():
            assert_equal_to_rounding(ours.grads[name], g, operations=64 * e, err_msg=name)


def test_the_window_gradient_under_a_fixed_mask_matches_finite_differences(rng):
    model = _dropout_model("lstm", seed=4, recurrent_dropout=0.4)
    k1, k2, e = 2, 5, 6
    ids = rng.integers(0, V, (2, e + 1))
    tbptt, draws = TruncatedBPTT(k1, k2), np.random.default_rng(2)
    for c in range(e // k1):
        step = tbptt.step(
            model, ids[:, c * k1 : (c + 1) * k1], ids[:, c * k1 + 1 : (c + 1) * k1 + 1], rng=draws
        )
    held, eps = tbptt.recurrent_draws, 1e-6
    state = _start_state(model, ids, e, k2, held)  # a constant: the window starts detached
    for name in ("rnn.weight_hh_l0", "rnn.bias_ih_l0", "head.weight"):
        w = model.params[name]
        for index in map(tuple, rng.integers(0, w.shape, (3, w.ndim))):
            saved = w[index]
            w[index] = saved + eps
            up = _window_loss(model, ids, e, k1, k2, held, state)[0]
            w[index] = saved - eps
            down = _window_loss(model, ids, e, k1, k2, held, state)[0]
            w[index] = saved
            numeric = (up - down) / (2 * eps)
            assert step.grads[name][index] == pytest.approx(numeric, rel=FD_RTOL, abs=1e-9), name


def test_a_resume_continues_with_the_held_recurrent_masks(rng):
    model = _dropout_model("lstm", num_layers=2, dropout=0.2, recurrent_dropout=0.5)
    ids = rng.integers(0, V, (3, 13))
    a, b = TruncatedBPTT(3, 5), TruncatedBPTT(3, 5)
    rng_a = np.random.default_rng(11)
    for c in range(2):
        a.step(model, ids[:, 3 * c : 3 * c + 3], ids[:, 3 * c + 1 : 3 * c + 4], rng=rng_a)
    saved = a.state_dict()
    assert sorted(k for k in saved if k.startswith("recurrent_draw_")) == [
        "recurrent_draw_0",
        "recurrent_draw_1",
    ]
    b.load_state_dict(saved)
    rng_b = np.random.default_rng()
    rng_b.bit_generator.state = rng_a.bit_generator.state
    for c in (2, 3):
        ra = a.step(model, ids[:, 3 * c : 3 * c + 3], ids[:, 3 * c + 1 : 3 * c + 4], rng=rng_a)
        rb = b.step(model, ids[:, 3 * c : 3 * c + 3], ids[:, 3 * c + 1 : 3 * c + 4], rng=rng_b)
        assert ra.loss == rb.loss
        for name in ra.grads:
            np.testing.assert_array_equal(ra.grads[name], rb.grads[name], err_msg=name)


def test_held_masks_for_another_batch_size_are_one_clear_error(rng):
    model = _dropout_model(recurrent_dropout=0.5)
    tbptt = TruncatedBPTT(3)
    tbptt.load_state_dict({"recurrent_draw_0": np.full((2, 5), 0.7)})  # held for 2 streams
    with pytest.raises(ShapeError, match=r"held for this stream are \[\[2, 5\]\].*\[4, 5\]"):
        tbptt.step(
            model,
            rng.integers(0, V, (4, 3)),
            rng.integers(0, V, (4, 3)),
            rng=np.random.default_rng(0),
        )
    with pytest.raises(ShapeError, match="must be \\[B, S\\]"):
        tbptt.load_state_dict({"recurrent_draw_0": np.zeros(5)})
