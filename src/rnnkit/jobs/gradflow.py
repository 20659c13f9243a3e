"""The ``rnnkit gradflow`` job: cells trained on the adding problem, their gradient flow tracked.

Each cell (one layer, ``hidden_size`` units, a last-step linear readout, MSE) is trained
through the engine (``diagnostics.gradflow.track``: full BPTT, Adam, global-norm clipping) on
fresh adding-problem batches of length T (Hochreiter & Schmidhuber 1997, every sequence T
steps), and profiled — ‖∂L/∂h_t‖ for every t — on a fixed probe batch before the first update,
every ``every`` updates and at the end.  Generators: the parameters ``default_rng([seed, 0])``,
the training batches ``[seed, 1]`` (the engine's), the probe ``[seed, 2]``.
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..config import ModelConfig
from ..data.synthetic import adding_problem
from ..diagnostics.gradflow import Profile, TrainOptions, track
from ..errors import ConfigError
from ..layers.recurrent import RecurrentConfig
from ..models.model import Model


@dataclass(frozen=True, kw_only=True)
class GradflowSetup:
    """What ``rnnkit gradflow`` (without ``--exploding``) trains and measures."""

    cells: tuple[str, ...] = ("elman", "lstm", "gru")  # canonical cell names
    T: int = 100  # sequence length
    steps: int = 300  # updates per cell
    every: int = 0  # profile every this many updates (0: steps // 20, at least 1)
    hidden_size: int = 32  # H
    forget_bias: float = 1.0  # lstm: initial forget-gate bias (Gers et al. 2000)
    batch_size: int = 32  # B: training sequences per update
    probe_size: int = 64  # sequences of the fixed probe batch
    lr: float = 1e-2  # Adam's learning rate
    clip: float = 1.0  # global-norm clipping (0: off)
    seed: int = 0
    on_nonfinite: str | None = None  # skip | reduce-lr | stop (None: the engine's default)

    def __post_init__(self) -> None:
        if not self.cells:
            raise ConfigError("--cells must name at least one cell, e.g. --cells elman,lstm")
        if self.steps < 0 or self.T < 22:
            raise ConfigError(f"need --steps >= 0 and --T >= 22, got {self.steps}, {self.T}")


Results = dict[str, tuple[int, list[Profile]]]
"""Cell → (parameter count, its profiles in training order)."""


def track_cells(
    setup: GradflowSetup, report: Callable[[str, Profile], None] | None = None
) -> Results:
    """Train and profile every cell of ``setup``; ``report(cell, profile)`` as each comes."""
    return {cell: track_cell(cell, setup, report) for cell in setup.cells}


def track_cell(
    cell: str, setup: GradflowSetup, report: Callable[[str, Profile], None] | None = None
) -> tuple[int, list[Profile]]:
    """(parameter count, profiles) of one cell trained on the adding problem."""
    s = setup
    rnn = RecurrentConfig(
        cell=cell,
        input_size=2,
        hidden_size=s.hidden_size,
        forget_bias=s.forget_bias if cell == "lstm" else 0.0,
    )
    config = ModelConfig(rnn=rnn, output_size=1, readout="last_step", loss="mse")
    model = Model(config, rng=np.random.default_rng([s.seed, 0]))
    probe = adding_problem(
        np.random.default_rng([s.seed, 2]), s.probe_size, s.T, vary_length=False
    )

    def sample(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        batch = adding_problem(rng, s.batch_size, s.T, vary_length=False)
        return batch.x, batch.y

    options = TrainOptions(
        steps=s.steps,
        every=s.every or max(1, s.steps // 20),
        lr=s.lr,
        clip=s.clip,
        on_nonfinite=s.on_nonfinite,
    )
    on_profile = None if report is None else (lambda p: report(config.rnn.cell, p))
    profiles = track(
        model, sample, np.random.default_rng([s.seed, 1]), (probe.x, probe.y), options, on_profile
    )
    return model.num_parameters(), profiles


def report_to_stderr(cell: str, p: Profile) -> None:
    """The progress line of one profile."""
    print(
        f"{cell}: step {p.step}: loss {p.loss:.4f}, decay rate {p.rate:+.4f} per step",
        file=sys.stderr,
        flush=True,
    )
