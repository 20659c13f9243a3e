"""Learning-rate schedules: the rate of update ``s`` (0, 1, 2, …) as a pure function of ``s``.

    constant   η_s = η
    step       η_s = η · γ^⌊s / step_size⌋
    cosine     η_s = η · (s + 1) / W                                    s < W  (linear warm-up)
               η_s = η_min + (η − η_min) · (1 + cos(π p)) / 2,   p = min(1, (s − W) / (S − W))

with W = ``warmup_steps`` and S = ``total_steps``: the warm-up reaches η on its last step,
the cosine decays from η at s = W to η_min at s = S and stays there.  A schedule holds no
state, so a resumed run only needs the step count to continue on the same curve.
"""

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class ConstantSchedule:
    """The same rate at every step."""

    lr: float  # η

    def __post_init__(self) -> None:
        _check_lr(self.lr)

    def lr_at(self, step: int) -> float:
        _check_step(step)
        return self.lr


@dataclass(frozen=True, kw_only=True)
class StepSchedule:
    """The rate multiplied by ``gamma`` every ``step_size`` steps (torch's ``StepLR``)."""

    lr: float  # η, the rate of steps 0 … step_size − 1
    step_size: int  # steps between two decays
    gamma: float = 0.1  # γ, factor of each decay

    def __post_init__(self) -> None:
        _check_lr(self.lr)
        if self.step_size < 1:
            raise ConfigError(f"step_size must be >= 1, got {self.step_size}")
        if not 0 < self.gamma <= 1:
            raise ConfigError(f"gamma must be in (0, 1], got {self.gamma}")

    def lr_at(self, step: int) -> float:
        _check_step(step)
        return self.lr * self.gamma ** (step // self.step_size)


@dataclass(frozen=True, kw_only=True)
class CosineSchedule:
    """Linear warm-up to ``lr``, then half a cosine down to ``min_lr`` at ``total_steps``."""

    lr: float  # η, the peak rate (reached on the last warm-up step)
    total_steps: int  # S, the step at which the rate reaches η_min
    warmup_steps: int = 0  # W, steps of linear warm-up (0: start at η)
    min_lr: float = 0.0  # η_min, the final rate

    def __post_init__(self) -> None:
        _check_lr(self.lr)
        if self.total_steps < 1:
            raise ConfigError(f"total_steps must be >= 1, got {self.total_steps}")
        if not 0 <= self.warmup_steps <= self.total_steps:
            raise ConfigError(
                f"warmup_steps must be in [0, total_steps = {self.total_steps}], "
                f"got {self.warmup_steps}"
            )
        if not 0 <= self.min_lr <= self.lr:
            raise ConfigError(f"min_lr must be in [0, lr = {self.lr}], got {self.min_lr}")

    def lr_at(self, step: int) -> float:
        _check_step(step)
        W, S = self.warmup_steps, self.total_steps
        if step < W:
            return self.lr * (step + 1) / W
        if S == W:  # no room for a decay: hold the peak
            return self.lr
        p = min(1.0, (step - W) / (S - W))
        return self.min_lr + (self.lr - self.min_lr) * (1 + math.cos(math.pi * p)) / 2


Schedule = ConstantSchedule | StepSchedule | CosineSchedule

SCHEDULES = ("constant", "step", "cosine")
"""Every schedule by name; also the accepted values of ``--schedule``."""


def make_schedule(
    name: str,
    lr: float,
    *,
    total_steps: int | None = None,
    warmup_steps: int = 0,
    step_size: int | None = None,
    gamma: float = 0.1,
    min_lr: float = 0.0,
) -> Schedule:
    """The schedule ``name`` with peak rate ``lr``.

    ``total_steps`` is the length of the run: the cosine decays over it, and the step
    schedule decays every ``step_size`` steps (default: a third of it, so γ applies twice).
    ``warmup_steps`` and ``min_lr`` belong to the cosine; giving them to another schedule is
    an error rather than silently ignored.
    """
    key = name.lower()
    if key not in SCHEDULES:
        raise ConfigError(f"unknown schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")
    if key != "cosine" and (warmup_steps or min_lr):
        raise ConfigError(f"warmup_steps and min_lr apply to the cosine schedule, not {key!r}")
    if key == "constant":
        return ConstantSchedule(lr=lr)
    if key == "step":
        if step_size is None:
            step_size = max(1, _require_total(total_steps, "step") // 3)
        return StepSchedule(lr=lr, step_size=step_size, gamma=gamma)
    total = _require_total(total_steps, "cosine")
    return CosineSchedule(lr=lr, total_steps=total, warmup_steps=warmup_steps, min_lr=min_lr)


def _require_total(total_steps: Any, name: str) -> int:
    if total_steps is None:
        raise ConfigError(f"the {name} schedule needs total_steps (the length of the run)")
    return total_steps


def _check_lr(lr: float) -> None:
    if not (lr > 0 and math.isfinite(lr)):
        raise ConfigError(f"lr must be a finite number > 0, got {lr}")


def _check_step(step: int) -> None:
    if step < 0:
        raise ConfigError(f"a schedule's step must be >= 0, got {step}")
