"""A Jordan model: its output layer is the readout, and that output is what it feeds back.

Checked three ways: central finite differences of the whole model and its loss in float64,
a small PyTorch autograd implementation of the same equations written here, and the
property that defines a Jordan net (the output at t depends on the output at t−1 through
the output layer's own weights).
"""

import numpy as np
import pytest

from rnnkit.config import ModelConfig
from rnnkit.diagnostics.gradcheck import check_gradients
from rnnkit.errors import ConfigError, ShapeError
from rnnkit.layers import losses
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.model import Model
from tests.conftest import FD_RTOL, torch_or_skip

B, T, I, H, O = 3, 4, 3, 5, 4
LENGTHS = np.array([4, 2, 3])  # sequence 1 ends after two steps


def jordan_model(
    feedback="output",
    readout="every_step",
    loss="cross_entropy",
    *,
    layers=1,
    nonlinearity="tanh",
    dropout=0.0,
    recurrent_dropout=0.0,
    seed=0,
) -> Model:
    rnn = RecurrentConfig(
        cell="jordan",
        input_size=I,
        hidden_size=H,
        num_layers=layers,
        nonlinearity=nonlinearity,
        jordan_feedback=feedback,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
    )
    config = ModelConfig(rnn=rnn, output_size=O, readout=readout, loss=loss, dtype="float64")
    return Model(config, rng=np.random.default_rng(seed))


def batch(model: Model, seed: int = 1):
    """Inputs [B, T, I], targets for the model's loss and readout, and the loss mask."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, I))
    every = model.config.readout == "every_step"
    lead = (B, T) if every else (B,)
    if model.config.loss == "cross_entropy":
        targets = rng.integers(0, O, lead)
    else:
        targets = rng.standard_normal(lead + (O,))
    mask = (np.arange(T)[None, :] < LENGTHS[:, None]) if every else None
    return x, targets, mask


def model_loss(model: Model, y, targets, mask):
    if model.config.loss == "cross_entropy":
        return losses.softmax_cross_entropy(y, targets, mask)
    return losses.mse(y, targets, mask)


CASES = [
    pytest.param(dict(feedback=f, readout=r, loss=loss), id=f"{f}-{r}-{loss}")
    for f in ("output", "softmax")
    for r in ("every_step", "last_step")
    for loss in ("cross_entropy", "mse")
] + [
    pytest.param(
        dict(
            feedback="softmax", layers=2, nonlinearity="relu", dropout=0.3, recurrent_dropout=0.3
        ),
        id="softmax-stacked-relu-dropout",
    ),
    pytest.param(
        dict(feedback="output", layers=2, readout="last_step", loss="mse", recurrent_dropout=0.5),
        id="output-stacked-last-mse-dropout",
    ),
]


def _run(model, x, targets, mask, state0, train):
    """(loss, ∂loss/∂y, cache): dropout masks drawn from the same seed at every call."""
    rng = np.random.default_rng(7) if train else None
    y, _, cache = model.forward(x, state0, lengths=LENGTHS, train=train, rng=rng)
    loss, dy = model_loss(model, y, targets, mask)
    return loss, dy, cache


@pytest.mark.parametrize("case", CASES)
def test_jordan_model_backward_matches_finite_differences(case):
    model = jordan_model(**case)
    x, targets, mask = batch(model)
    state0 = np.random.default_rng(3).standard_normal((model.config.rnn.num_layers, B, O))
    train = bool(case.get("dropout") or case.get("recurrent_dropout"))
    _, dy, cache = _run(model, x, targets, mask, state0, train)
    grads, dstate0 = model.backward(cache, dy)
    assert sorted(grads) == sorted(model.params)
    arrays = {**model.params, "state0": state0}
    analytic = {**grads, "state0": dstate0}
    errors = check_gradients(
        lambda: _run(model, x, targets, mask, state0, train)[0], arrays, analytic
    )
    assert max(errors.values()) < FD_RTOL, errors


def torch_jordan_loss(torch, model: Model, w: dict, x, targets, mask, state0):
    """The Jordan model's loss in torch ops (one layer, no dropout), from its equations:

    r = y_{t−1} | softmax(y_{t−1});  h_t = act(W_ih x_t + b_ih + W_hh r + b_hh);
    y_t = W_hy h_t + b_hy;  a finished sequence keeps y and outputs 0;  loss on y.
    """
    c = model.config
    act = torch.tanh if c.rnn.nonlinearity == "tanh" else torch.relu
    real = torch.from_numpy(np.arange(T)[:, None] < LENGTHS[None, :])[:, :, None]  # [T, B, 1]
    xs = torch.from_numpy(x).transpose(0, 1)
    y, outs = state0, []
    for t in range(T):
        r = torch.softmax(y, dim=1) if c.rnn.jordan_feedback == "softmax" else y
        h = act(xs[t] @ w["weight_ih"].T + w["bias_ih"] + r @ w["weight_hh"].T + w["bias_hh"])
        y_new = h @ w["weight_hy"].T + w["bias_hy"]
        outs.append(torch.where(real[t], y_new, torch.zeros_like(y_new)))
        y = torch.where(real[t], y_new, y)
    ys = torch.stack(outs, dim=1)  # [B, T, O]
    if c.readout == "last_step":
        out = ys[torch.arange(B), torch.from_numpy(LENGTHS - 1)]
        if c.loss == "cross_entropy":
            return torch.nn.functional.cross_entropy(out, torch.from_numpy(targets))
        return ((out - torch.from_numpy(targets)) ** 2).mean()
    keep = torch.from_numpy(mask)
    if c.loss == "cross_entropy":
        return torch.nn.functional.cross_entropy(ys[keep], torch.from_numpy(targets)[keep])
    return ((ys[keep] - torch.from_numpy(targets)[keep]) ** 2).mean()


@pytest.mark.torch
@pytest.mark.parametrize("case", CASES[:8])
def test_jordan_model_matches_torch_autograd_of_its_equations(case):
    torch = torch_or_skip()
    model = jordan_model(**case, nonlinearity="tanh")
    x, targets, mask = batch(model)
    state0 = np.random.default_rng(3).standard_normal((1, B, O))
    y, final, cache = model.forward(x, state0, lengths=LENGTHS)
    loss, dy = model_loss(model, y, targets, mask)
    grads, dstate0 = model.backward(cache, dy)

    w = {
        n[len("rnn.") : -len("_l0")]: torch.tensor(v, requires_grad=True)
        for n, v in model.params.items()
    }
    t_state0 = torch.tensor(state0[0], requires_grad=True)
    t_loss = torch_jordan_loss(torch, model, w, x, targets, mask, t_state0)
    t_loss.backward()
    differences = [abs(loss - t_loss.item())]
    for name, g in grads.items():
        theirs = w[name[len("rnn.") : -len("_l0")]].grad.numpy()
        np.testing.assert_allclose(g, theirs, rtol=1e-10, atol=1e-13, err_msg=name)
        differences.append(np.abs(g - theirs).max())
    np.testing.assert_allclose(dstate0[0], t_state0.grad.numpy(), rtol=1e-10, atol=1e-13)
    assert max(differences) < 1e-12


def test_jordan_model_has_no_separate_head_and_its_output_is_the_cells_output():
    model = jordan_model()
    assert not any(name.startswith("head.") for name in model.params)
    assert model.params["rnn.weight_hy_l0"].shape == (O, H)
    x, _, _ = batch(model)
    y, final, _ = model.forward(x)
    p = {n[len("rnn.") : -len("_l0")]: w for n, w in model.params.items()}
    y_prev = np.zeros((B, O))
    for t in range(T):  # y_t = W_hy tanh(W_ih x_t + b_ih + W_hh y_{t−1} + b_hh) + b_hy
        h = np.tanh(
            x[:, t] @ p["weight_ih"].T + p["bias_ih"] + y_prev @ p["weight_hh"].T + p["bias_hh"]
        )
        y_prev = h @ p["weight_hy"].T + p["bias_hy"]
        np.testing.assert_allclose(y[:, t], y_prev, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(final[0], y[:, -1])  # the state carried on is the output


@pytest.mark.parametrize("feedback", ["output", "softmax"])
def test_changing_the_output_layer_changes_the_next_steps_input(feedback):
    """The output at t depends on the output at t−1: moving one output unit's bias (which a
    head on top of the recurrence would add to each step's output alone) shifts the first
    step's output by exactly that, and changes every later output by more than that."""
    model = jordan_model(feedback)
    x, _, _ = batch(model)
    y, _, _ = model.forward(x)
    model.params["rnn.bias_hy_l0"][0] += 0.5  # one unit: softmax ignores a shift of all
    y_shifted, _, _ = model.forward(x)
    shift = np.zeros(O)
    shift[0] = 0.5
    np.testing.assert_allclose(
        y_shifted[:, 0] - y[:, 0], np.broadcast_to(shift, (B, O)), rtol=0, atol=1e-14
    )
    later = np.abs(y_shifted[:, 1:] - y[:, 1:] - shift)
    assert later.min() > 1e-6  # the shifted output went round the recurrence


def test_softmax_feedback_differs_from_output_feedback_on_the_same_weights():
    out, soft = jordan_model("output"), jordan_model("softmax")
    soft.load_state_dict(out.state_dict())
    x, _, _ = batch(out)
    y_out, _, _ = out.forward(x)
    y_soft, _, _ = soft.forward(x)
    p = {n[len("rnn.") : -len("_l0")]: w for n, w in soft.params.items()}
    h = np.tanh(
        x[:, 0] @ p["weight_ih"].T
        + p["bias_ih"]
        + np.full((B, O), 1 / O) @ p["weight_hh"].T
        + p["bias_hh"]
    )  # softmax(0) = 1/O is fed back first
    np.testing.assert_allclose(y_soft[:, 0], h @ p["weight_hy"].T + p["bias_hy"], atol=1e-14)
    assert np.abs(y_out - y_soft).max() > 1e-3


def test_last_step_readout_is_y_at_each_sequences_last_real_step():
    every, last = jordan_model(), jordan_model(readout="last_step")
    last.load_state_dict(every.state_dict())
    x, _, _ = batch(every)
    y_every, _, _ = every.forward(x, lengths=LENGTHS)
    y_last, _, _ = last.forward(x, lengths=LENGTHS)
    np.testing.assert_array_equal(y_last, y_every[np.arange(B), LENGTHS - 1])


def test_jordan_model_fills_in_and_checks_the_output_units():
    rnn = RecurrentConfig(cell="jordan", input_size=I, hidden_size=H)
    assert ModelConfig(rnn=rnn, output_size=O).rnn.output_size == O
    again = ModelConfig.from_dict(ModelConfig(rnn=rnn, output_size=O).to_dict())
    assert again.rnn.output_size == O
    with pytest.raises(ConfigError, match="rnn.output_size must be 0 or output_size = 4, got 2"):
        ModelConfig(
            rnn=RecurrentConfig(cell="jordan", input_size=I, hidden_size=H, output_size=2),
            output_size=O,
        )


def test_bidirectional_jordan_model_is_refused():
    rnn = RecurrentConfig(cell="jordan", input_size=I, hidden_size=H, bidirectional=True)
    with pytest.raises(ConfigError, match="Jordan model cannot be bidirectional"):
        ModelConfig(rnn=rnn, output_size=O)


def test_unknown_jordan_feedback_is_refused():
    with pytest.raises(ConfigError, match="jordan_feedback must be 'output' or 'softmax'"):
        RecurrentConfig(cell="jordan", input_size=I, hidden_size=H, jordan_feedback="probs")


def test_old_jordan_weights_with_a_head_are_refused_with_a_clear_error():
    model = jordan_model()
    old = {**model.state_dict(), "head.weight": np.zeros((O, O)), "head.bias": np.zeros(O)}
    with pytest.raises(ShapeError, match="separate head.weight/head.bias readout"):
        model.load_state_dict(old)
    with pytest.raises(ShapeError, match="separate head.weight/head.bias readout"):
        Model(model.config, params=old)


def test_old_jordan_checkpoint_is_refused_with_a_clear_error(tmp_path):
    """A directory written with a head over a Jordan layer of O = H internal outputs."""
    from rnnkit.errors import CheckpointError
    from rnnkit.io.checkpoint import write_checkpoint
    from rnnkit.io.model_files import load

    rng = np.random.default_rng(0)
    tensors = {
        "head.weight": rng.standard_normal((O, H)),
        "head.bias": np.zeros(O),
        "rnn.weight_ih_l0": rng.standard_normal((H, I)),
        "rnn.weight_hh_l0": rng.standard_normal((H, H)),
        "rnn.bias_ih_l0": np.zeros(H),
        "rnn.bias_hh_l0": np.zeros(H),
        "rnn.weight_hy_l0": rng.standard_normal((H, H)),
        "rnn.bias_hy_l0": np.zeros(H),
    }
    rnn = {"cell": "jordan", "input_size": I, "hidden_size": H}
    config = {"model": {"rnn": rnn, "output_size": O, "dtype": "float64"}, "meta": {}}
    write_checkpoint(tmp_path / "old", tensors, config)
    with pytest.raises(CheckpointError, match="Jordan model saved with a separate head"):
        load(tmp_path / "old")
