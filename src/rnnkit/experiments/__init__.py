"""The long-time-lag experiments: generated tasks on which cells are compared at equal size.

    adding          Hochreiter & Schmidhuber 1997: LSTM ≥ 99 % right at T = 100, tanh RNN not
    irnn            Le et al. 2015: the identity-initialised ReLU RNN reaches MSE < 0.01 at T = 150
    copy            Arjovsky et al. 2016: LSTM below half the memoryless baseline at T = 100
                    (trained with a curriculum over T)
    temporal-order  Hochreiter & Schmidhuber 1997 / Pascanu et al. 2013, clipping at 1

``get_task(name)`` imports the experiment's module and returns its ``Task``;
``runner.run_experiment`` trains and scores the cells.
"""

from importlib import import_module

from ..errors import ConfigError
from .task import Task

EXPERIMENTS = {
    "adding": "adding",
    "irnn": "irnn",
    "copy": "copy",
    "temporal-order": "temporal_order",
}
"""Experiment name → module in this package."""


def get_task(name: str) -> Task:
    if name not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENTS)}")
    return import_module(f"{__name__}.{EXPERIMENTS[name]}").TASK
