"""Optimizers and clipping: agreement with torch.optim, frozen parameters, exact resume."""

import json

import numpy as np
import pytest

from rnnkit.errors import CheckpointError, ConfigError, ShapeError
from rnnkit.io.checkpoint import read_checkpoint, write_checkpoint
from rnnkit.training.optim import OPTIMIZERS, clip_grad_norm, clip_grad_value, make_optimizer
from tests.conftest import torch_or_skip

TORCH_TOL = 1e-12  # the same formulas in float64: only rounding of fused operations differs

CONFIGS = [
    ("sgd", {}),
    ("sgd", {"momentum": 0.9}),
    ("sgd", {"momentum": 0.8, "dampening": 0.3, "weight_decay": 0.1}),
    ("sgd", {"momentum": 0.9, "nesterov": True, "weight_decay": 0.05}),
    ("rmsprop", {}),
    ("rmsprop", {"alpha": 0.9, "momentum": 0.5, "weight_decay": 0.1}),
    ("rmsprop", {"alpha": 0.3, "momentum": 0.5, "centered": True, "eps": 1e-3}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5}),
    ("adam", {}),
    ("adam", {"beta1": 0.3, "beta2": 0.9, "eps": 1e-4, "weight_decay": 0.1}),
    ("adamw", {}),
    ("adamw", {"beta1": 0.8, "weight_decay": 0.3}),
]
CONFIG_IDS = ["-".join([name] + [f"{k}{v}" for k, v in opts.items()]) for name, opts in CONFIGS]
LRS = [0.1, 0.05, 0.2, 0.0, 0.01, 0.1]  # a per-step rate, as a schedule would give it
SHAPES = {"weight": (3, 4), "bias": (4,)}


def _params(dtype=np.float64, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s).astype(dtype) for n, s in SHAPES.items()}


def _grads(params: dict, k: int) -> dict[str, np.ndarray]:
    """A gradient that depends on the parameters (a quadratic bowl) plus noise of step k."""
    rng = np.random.default_rng(100 + k)
    return {n: 0.5 * p + rng.standard_normal(p.shape) for n, p in params.items()}


def _torch_optimizer(torch, name: str, opts: dict, lr: float, tensors: list):
    opts = dict(opts)
    if "beta1" in opts or "beta2" in opts:
        opts["betas"] = (opts.pop("beta1", 0.9), opts.pop("beta2", 0.999))
    cls = {
        "sgd": torch.optim.SGD,
        "rmsprop": torch.optim.RMSprop,
        "adagrad": torch.optim.Adagrad,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
    }[name]
    return cls(tensors, lr=lr, foreach=False, **opts)


@pytest.mark.torch
@pytest.mark.parametrize("name, opts", CONFIGS, ids=CONFIG_IDS)
def test_optimizer_matches_torch_optim_over_several_steps(name, opts):
    torch = torch_or_skip()
    params = _params()
    tensors = {n: torch.tensor(p.copy(), requires_grad=True) for n, p in params.items()}
    ours = make_optimizer(name, 0.1, **opts)
    theirs = _torch_optimizer(torch, name, opts, 0.1, list(tensors.values()))
    for k, lr in enumerate(LRS):
        ours.step(params, _grads(params, k), lr=lr)
        torch_grads = _grads({n: t.detach().numpy() for n, t in tensors.items()}, k)
        for n, t in tensors.items():
            t.grad = torch.tensor(torch_grads[n])
        theirs.param_groups[0]["lr"] = lr
        theirs.step()
    for n, t in tensors.items():
        assert np.abs(params[n] - t.detach().numpy()).max() < TORCH_TOL, n
        for slot, value in theirs.state[t].items():
            if slot != "step":
                mine = ours.state_dict()["state"][slot][n]
                assert np.abs(mine - value.numpy()).max() < TORCH_TOL, (n, slot)


@pytest.mark.parametrize("name, opts", CONFIGS, ids=CONFIG_IDS)
def test_resume_from_a_checkpointed_state_dict_is_bit_exact(name, opts, tmp_path):
    params = _params(np.float32)
    first = make_optimizer(name, 0.1, **opts)
    for k in range(3):
        first.step(params, _grads(params, k), lr=LRS[k])
    write_checkpoint(tmp_path, params, {}, extra={"optimizer": first.state_dict()})
    checkpoint = read_checkpoint(tmp_path)
    resumed_params = {n: checkpoint.tensors[n] for n in params}  # _grads reads in order
    resumed = make_optimizer(name, 1.0)  # the settings come back from the state
    resumed.load_state_dict(checkpoint.extra["optimizer"])
    for k in range(3, 6):
        first.step(params, _grads(params, k), lr=LRS[k])
        resumed.step(resumed_params, _grads(resumed_params, k), lr=LRS[k])
    for n in params:
        np.testing.assert_array_equal(resumed_params[n], params[n])


def test_state_dict_holds_copies_that_later_steps_do_not_change():
    params = _params()
    opt = make_optimizer("adam", 0.1)
    opt.step(params, _grads(params, 0))
    saved = opt.state_dict()
    before = saved["state"]["exp_avg"]["weight"].copy()
    opt.step(params, _grads(params, 1))
    np.testing.assert_array_equal(saved["state"]["exp_avg"]["weight"], before)
    assert saved["steps"] == {"weight": 1, "bias": 1}
    assert opt.state_dict()["steps"] == {"weight": 2, "bias": 2}


def test_state_dict_survives_json_for_its_scalars():
    params = _params()
    opt = make_optimizer("rmsprop", 0.1, momentum=0.5, centered=True)
    opt.step(params, _grads(params, 0))
    saved = opt.state_dict()
    scalars = {key: v for key, v in saved.items() if key != "state"}
    assert json.loads(json.dumps(scalars)) == scalars


def test_load_state_dict_rejects_another_optimizers_state():
    params = _params()
    sgd = make_optimizer("sgd", 0.1, momentum=0.9)
    sgd.step(params, _grads(params, 0))
    with pytest.raises(CheckpointError, match="'sgd', not 'adam'"):
        make_optimizer("adam", 0.1).load_state_dict(sgd.state_dict())


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_frozen_fixed_and_gradientless_parameters_are_never_updated(name):
    rng = np.random.default_rng(7)
    names = ["weight", "rnn.connection_mask_l0", "listed", "grad_none", "grad_missing"]
    params = {n: rng.standard_normal((2, 2)) for n in names}
    before = {n: p.copy() for n, p in params.items()}
    grads = {n: rng.standard_normal((2, 2)) for n in names[:3]}  # the mask gets one too
    grads["grad_none"] = None
    opt = make_optimizer(name, 0.1, weight_decay=0.5, frozen={"listed"})
    for _ in range(2):
        opt.step(params, grads)
    assert not np.array_equal(params["weight"], before["weight"])
    for n in names[1:]:
        np.testing.assert_array_equal(params[n], before[n], err_msg=n)
    saved = opt.state_dict()
    assert saved["steps"] == {"weight": 2}
    assert {pname for arrays in saved["state"].values() for pname in arrays} <= {"weight"}


def test_step_uses_the_given_lr_instead_of_the_base_lr():
    params = {"w": np.array([1.0, 2.0])}
    opt = make_optimizer("sgd", 1.0)
    opt.step(params, {"w": np.array([1.0, -1.0])}, lr=0.25)
    np.testing.assert_array_equal(params["w"], [0.75, 2.25])
    opt.step(params, {"w": np.array([1.0, -1.0])})  # no lr given: the base rate
    np.testing.assert_array_equal(params["w"], [-0.25, 3.25])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_updates_are_in_place_and_keep_float32(name):
    params = _params(np.float32)
    arrays = dict(params)
    make_optimizer(name, 0.1).step(params, _grads(params, 0))
    for n, p in params.items():
        assert p is arrays[n] and p.dtype == np.float32


def test_step_rejects_gradients_of_the_wrong_shape_or_for_unknown_parameters():
    params = _params()
    opt = make_optimizer("sgd", 0.1)
    with pytest.raises(ShapeError, match=r"gradient of bias has shape \(3,\)"):
        opt.step(params, {"bias": np.zeros(3)})
    with pytest.raises(ShapeError, match="do not exist: \\['other'\\]"):
        opt.step(params, {"other": np.zeros(3)})


@pytest.mark.parametrize(
    "name, lr, opts, pattern",
    [
        ("lbfgs", 0.1, {}, "unknown optimizer 'lbfgs'; choose one of: sgd"),
        ("adam", 0.0, {}, "lr must be > 0"),
        ("sgd", -1.0, {}, "lr must be > 0"),
        ("adam", 0.1, {"momentum": 0.9}, "adam does not take momentum"),
        ("sgd", 0.1, {"nesterov": True}, "Nesterov momentum needs momentum > 0"),
        ("sgd", 0.1, {"weight_decay": -1.0}, "weight_decay must be >= 0"),
        ("adam", 0.1, {"betas": (0.9, 1.0)}, r"beta2 must be in \[0, 1\)"),
        ("rmsprop", 0.1, {"alpha": 1.5}, "alpha must be in"),
    ],
    ids=[
        "unknown",
        "zero-lr",
        "negative-lr",
        "foreign-option",
        "nesterov",
        "decay",
        "beta",
        "alpha",
    ],
)
def test_make_optimizer_rejects_bad_settings_with_a_clear_message(name, lr, opts, pattern):
    with pytest.raises(ConfigError, match=pattern):
        make_optimizer(name, lr, **opts)


def test_make_optimizer_ignores_options_that_are_off_and_accepts_betas():
    opt = make_optimizer("Adam", 0.1, momentum=0.0, betas=(0.8, 0.99))
    assert (opt.name, opt.beta1, opt.beta2) == ("adam", 0.8, 0.99)


def _clip_case(scale: float):
    rng = np.random.default_rng(8)
    return {"a": scale * rng.standard_normal((3, 2)), "b": scale * rng.standard_normal(4)}


@pytest.mark.torch
@pytest.mark.parametrize("scale", [0.1, 10.0], ids=["below-max", "above-max"])
def test_clip_grad_norm_matches_torch_clip_grad_norm(scale):
    torch = torch_or_skip()
    grads = _clip_case(scale)
    tensors = [
        torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads.values()
    ]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.tensor(g)
    norm = clip_grad_norm(grads, 1.0)
    norm_t = torch.nn.utils.clip_grad_norm_(tensors, 1.0)
    assert abs(norm - norm_t.item()) < TORCH_TOL * norm
    for t, g in zip(tensors, grads.values()):
        assert np.abs(g - t.grad.numpy()).max() < TORCH_TOL


@pytest.mark.torch
def test_clip_grad_value_matches_torch_clip_grad_value():
    torch = torch_or_skip()
    grads = _clip_case(1.0)
    tensors = [
        torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads.values()
    ]
    for t, g in zip(tensors, grads.values()):
        t.grad = torch.tensor(g)
    clip_grad_value(grads, 0.5)
    torch.nn.utils.clip_grad_value_(tensors, 0.5)
    for t, g in zip(tensors, grads.values()):
        np.testing.assert_array_equal(g, t.grad.numpy())


def test_clip_grad_norm_returns_the_norm_before_and_leaves_the_max_norm_after():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[0.0], [4.0]]), "none": None}
    assert clip_grad_norm(grads, 1.0) == 5.0
    after = np.sqrt(sum((g**2).sum() for g in grads.values() if g is not None))
    assert 1.0 - 1e-6 < after <= 1.0
    np.testing.assert_allclose(grads["a"], [0.6, 0.0], rtol=1e-6)


def test_clip_grad_norm_leaves_non_finite_gradients_to_the_caller():
    grads = {"a": np.array([np.inf, 1.0])}
    assert clip_grad_norm(grads, 1.0) == np.inf
    np.testing.assert_array_equal(grads["a"], [np.inf, 1.0])


@pytest.mark.parametrize("clip", [clip_grad_norm, clip_grad_value], ids=["norm", "value"])
def test_clipping_rejects_a_threshold_that_is_not_positive(clip):
    with pytest.raises(ConfigError, match="must be > 0"):
        clip({"a": np.ones(2)}, 0.0)
