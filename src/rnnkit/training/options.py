"""What the training engine is told: how to update (``config.Optimization``, which a job's
configuration such as ``TrainConfig`` extends) and when to stop, evaluate and save (``Budget``).

Frozen dataclasses with a comment per field, NumPy-free.  ``Budget.of(config)`` and
``Optimization.of(config)`` take the fields a job's configuration names alike.
"""

from dataclasses import dataclass
from typing import Any

from ..config import Optimization, shared_fields  # noqa: F401  (Optimization: re-exported)
from ..errors import ConfigError


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
        return cls(**{**shared_fields(cls, config), **overrides})
