"""Learning-rate schedules: closed forms, torch.optim.lr_scheduler, validation."""

import dataclasses
import math

import pytest

from rnnkit.errors import ConfigError
from rnnkit.training.schedules import (
    ConstantSchedule,
    CosineSchedule,
    StepSchedule,
    make_schedule,
)
from tests.conftest import torch_or_skip

TORCH_TOL = 1e-12  # relative: torch's chained form multiplies factors step by step


def _torch_rates(torch, make_scheduler, lr: float, steps: int) -> list[float]:
    """The rate torch's scheduler gives to steps 0 … steps − 1."""
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=lr)
    scheduler = make_scheduler(opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        scheduler.step()
    return rates


def _assert_close(ours: list[float], theirs: list[float], scale: float) -> None:
    assert len(ours) == len(theirs)
    worst = max(abs(a - b) for a, b in zip(ours, theirs))
    assert worst < TORCH_TOL * scale, worst


def test_constant_schedule_gives_the_base_rate_at_every_step():
    schedule = make_schedule("constant", 0.3, total_steps=100)
    assert {schedule.lr_at(s) for s in (0, 1, 99, 10_000)} == {0.3}


@pytest.mark.parametrize(
    "step_size, gamma",
    [(1, 0.5), (3, 0.1), (4, 0.97)],
    ids=["every-step", "every-3", "every-4-slow"],
)
def test_step_schedule_multiplies_by_gamma_every_step_size_steps(step_size, gamma):
    schedule = StepSchedule(lr=0.2, step_size=step_size, gamma=gamma)
    for s in range(3 * step_size + 1):
        assert schedule.lr_at(s) == 0.2 * gamma ** (s // step_size)
    assert schedule.lr_at(step_size - 1) == 0.2
    assert math.isclose(schedule.lr_at(step_size), 0.2 * gamma, rel_tol=1e-15)


@pytest.mark.torch
@pytest.mark.parametrize(
    "step_size, gamma",
    [(1, 0.5), (3, 0.1), (4, 0.97)],
    ids=["every-step", "every-3", "every-4-slow"],
)
def test_step_schedule_matches_torch_step_lr(step_size, gamma):
    torch = torch_or_skip()
    steps = 5 * step_size
    theirs = _torch_rates(
        torch, lambda o: torch.optim.lr_scheduler.StepLR(o, step_size, gamma), 0.2, steps
    )
    schedule = StepSchedule(lr=0.2, step_size=step_size, gamma=gamma)
    _assert_close([schedule.lr_at(s) for s in range(steps)], theirs, 0.2)


def test_cosine_schedule_warms_up_linearly_then_follows_half_a_cosine():
    schedule = CosineSchedule(lr=1.0, total_steps=14, warmup_steps=4, min_lr=0.1)
    assert [schedule.lr_at(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert schedule.lr_at(4) == 1.0  # the decay starts from the peak
    assert math.isclose(schedule.lr_at(9), 0.55, rel_tol=1e-15)  # halfway: (η + η_min) / 2
    assert math.isclose(
        schedule.lr_at(6), 0.1 + 0.9 * (1 + math.cos(math.pi * 0.2)) / 2, rel_tol=1e-15
    )
    assert schedule.lr_at(14) == schedule.lr_at(1000) == 0.1
    rates = [schedule.lr_at(s) for s in range(4, 15)]
    assert all(a > b for a, b in zip(rates, rates[1:]))


def test_cosine_schedule_without_room_to_decay_holds_the_peak_after_warm_up():
    schedule = CosineSchedule(lr=0.5, total_steps=2, warmup_steps=2)
    assert [schedule.lr_at(s) for s in range(4)] == [0.25, 0.5, 0.5, 0.5]


@pytest.mark.torch
@pytest.mark.parametrize("min_lr", [0.0, 0.01], ids=["to-zero", "to-min"])
def test_cosine_without_warm_up_matches_torch_cosine_annealing_lr(min_lr):
    torch = torch_or_skip()
    total = 20
    theirs = _torch_rates(
        torch,
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, total, min_lr),
        0.1,
        total + 1,
    )
    schedule = CosineSchedule(lr=0.1, total_steps=total, min_lr=min_lr)
    _assert_close([schedule.lr_at(s) for s in range(total + 1)], theirs, 0.1)


@pytest.mark.torch
def test_cosine_warm_up_matches_torch_linear_lr():
    torch = torch_or_skip()
    W = 5
    theirs = _torch_rates(
        torch,
        lambda o: torch.optim.lr_scheduler.LinearLR(o, 1 / W, 1.0, total_iters=W - 1),
        0.1,
        W,
    )
    schedule = CosineSchedule(lr=0.1, total_steps=20, warmup_steps=W)
    _assert_close([schedule.lr_at(s) for s in range(W)], theirs, 0.1)


def test_make_schedule_builds_each_schedule_from_its_name():
    assert make_schedule("constant", 0.1, total_steps=9) == ConstantSchedule(lr=0.1)
    assert make_schedule("Step", 0.1, total_steps=9) == StepSchedule(lr=0.1, step_size=3)
    assert make_schedule("step", 0.1, step_size=5, gamma=0.5) == StepSchedule(
        lr=0.1, step_size=5, gamma=0.5
    )
    assert make_schedule("cosine", 0.1, total_steps=9, warmup_steps=2, min_lr=0.01) == (
        CosineSchedule(lr=0.1, total_steps=9, warmup_steps=2, min_lr=0.01)
    )


def test_schedules_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ConstantSchedule(lr=0.1).lr = 0.2


@pytest.mark.parametrize(
    "name, options, pattern",
    [
        ("linear", {}, "unknown schedule 'linear'; choose one of: constant, step, cosine"),
        ("constant", {"lr": 0.0}, "lr must be a finite number > 0"),
        ("constant", {"warmup_steps": 3}, "apply to the cosine schedule, not 'constant'"),
        ("step", {}, "step schedule needs total_steps"),
        ("step", {"step_size": 0}, "step_size must be >= 1"),
        ("step", {"step_size": 2, "gamma": 0.0}, r"gamma must be in \(0, 1\]"),
        ("cosine", {}, "cosine schedule needs total_steps"),
        ("cosine", {"total_steps": 0}, "total_steps must be >= 1"),
        ("cosine", {"total_steps": 5, "warmup_steps": 6}, r"warmup_steps must be in \[0, "),
        ("cosine", {"total_steps": 5, "min_lr": 0.2}, r"min_lr must be in \[0, lr = 0.1\]"),
    ],
    ids=[
        "unknown",
        "zero-lr",
        "warmup-constant",
        "step-no-total",
        "step-size",
        "gamma",
        "cosine-no-total",
        "total",
        "warmup-long",
        "min-lr",
    ],
)
def test_make_schedule_rejects_bad_settings_with_a_clear_message(name, options, pattern):
    options = {"lr": 0.1, **options}
    with pytest.raises(ConfigError, match=pattern):
        make_schedule(name, options.pop("lr"), **options)


@pytest.mark.parametrize(
    "schedule",
    [
        ConstantSchedule(lr=0.1),
        StepSchedule(lr=0.1, step_size=2),
        CosineSchedule(lr=0.1, total_steps=4),
    ],
    ids=["constant", "step", "cosine"],
)
def test_a_negative_step_is_rejected(schedule):
    with pytest.raises(ConfigError, match="step must be >= 0, got -1"):
        schedule.lr_at(-1)
