"""What the training engine is told: how to update, and when to stop, evaluate and save.

Frozen dataclasses with a comment per field, NumPy-free.  A job's own configuration (the
character model's ``TrainConfig``, a job's ``Fit``) names these fields alike, so
``Optimization.of(config)`` and ``Budget.of(config)`` take them by name: a default is
written once, here or in the job's configuration, never in between.
"""

from dataclasses import dataclass, fields
from typing import Any

from ..errors import ConfigError

NONFINITE_ACTIONS = ("skip", "reduce-lr", "stop")


@dataclass(frozen=True, kw_only=True)
class Optimization:
    """How one update is made from a batch's gradients."""

    optimizer: str = "adam"  # sgd | rmsprop | adagrad | adam | adamw
    lr: float = 2e-3  # base learning rate
    momentum: float = 0.0  # sgd / rmsprop momentum
    weight_decay: float = 0.0  # L2 (sgd, rmsprop, adagrad, adam) or decoupled (adamw)
    clip: float = 5.0  # clip the global gradient norm to this (0: off)
    clip_value: float = 0.0  # clip each gradient element to ±this (0: off)
    schedule: str = "constant"  # constant | step | cosine (over the budget's updates)
    warmup_steps: int = 0  # cosine: linear warm-up updates
    min_lr: float = 0.0  # cosine: the rate it decays to at the last update
    step_size: int = 0  # step: multiply the rate by gamma every this many updates (0: 1/3)
    gamma: float = 0.1  # step: the decay factor
    on_nonfinite: str = "skip"  # a NaN/Inf loss or gradient: skip | reduce-lr | stop
    nonfinite_lr_factor: float = 0.5  # reduce-lr: multiply the rate by this each time
    max_nonfinite: int = 10  # skip / reduce-lr: stop after this many in a row

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        for name in ("clip", "clip_value", "momentum", "weight_decay", "warmup_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.on_nonfinite not in NONFINITE_ACTIONS:
            raise ConfigError(f"on_nonfinite must be one of {', '.join(NONFINITE_ACTIONS)}, "
                              f"got {self.on_nonfinite!r}")
        if not 0.0 < self.nonfinite_lr_factor < 1.0:
            raise ConfigError(f"nonfinite_lr_factor must be in (0, 1), got "
                              f"{self.nonfinite_lr_factor}")
        if self.max_nonfinite < 1:
            raise ConfigError(f"max_nonfinite must be >= 1, got {self.max_nonfinite}")

    @classmethod
    def of(cls, config: Any, **overrides: Any) -> "Optimization":
        """The fields of this class that ``config`` has (by name), with ``overrides``."""
        return cls(**{**_shared(cls, config), **overrides})


@dataclass(frozen=True, kw_only=True)
class Budget:
    """When training stops, evaluates and saves."""

    steps: int = 0  # most updates (0: no limit on updates)
    epochs: int = 0  # most passes over the data (0: no limit; for epoch-based data)
    minutes: float = 0.0  # wall-clock cap (0: none); a run it stops is "not finished"
    eval_every: int = 0  # evaluate every this many updates (0: at each epoch's end)
    patience: int = 0  # stop after this many evaluations without a better one (0: never)
    checkpoint_every: int = 0  # write `last` every this many updates (0: epochs' ends)
    restore_best: bool = True  # end with the best evaluated parameters (with validation)

    def __post_init__(self) -> None:
        for name in ("steps", "epochs", "minutes", "eval_every", "patience", "checkpoint_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not (self.steps or self.epochs or self.minutes):
            raise ConfigError("give a budget: steps, epochs or minutes > 0")

    @classmethod
    def of(cls, config: Any, **overrides: Any) -> "Budget":
        """The fields of this class that ``config`` has (by name), with ``overrides``."""
        return cls(**{**_shared(cls, config), **overrides})


def _shared(cls: type, config: Any) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in fields(cls) if hasattr(config, f.name)}
