"""Full and truncated BPTT: k1 = k2 = T is full BPTT; k2 < T is BPTT on the detached graph."""

import numpy as np
import pytest

from rnnkit.bptt import TruncatedBPTT, full_bptt
from rnnkit.config import ModelConfig
from rnnkit.errors import ConfigError
from rnnkit.model import Model
from tests.conftest import TORCH_ATOL, torch_or_skip

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
        theirs.update({"head.weight": head.weight.grad.numpy(), "head.bias": head.bias.grad.numpy()})
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
