"""A seeded exploding-gradient set-up, trained with and without global-norm clipping.

A tanh Elman RNN whose recurrent matrix has spectral radius ρ > 1 (a Gaussian matrix scaled
to ρ) reads long sequences of the IRNN adding problem.  Going back k steps multiplies the
gradient by k Jacobians diag(1 − h²) W_hh; with ρ well above 1 the product grows like
e^{r k} with r > 0 (Pascanu et al. 2013), so the first gradients are astronomically large.

* Without clipping, plain SGD takes a step η‖g‖ of that size: the input and recurrent
  weights jump by orders of magnitude and every unit saturates (h = ±1).  The readout then
  sees states of norm √H, the curvature of its MSE rises to ≈ 2H, and the same learning rate
  overshoots once η · 2H > 2: the error grows by |1 − 2ηH| per step, so the loss spikes by
  orders of magnitude and, given steps enough, overflows to inf/NaN.
* With clipping to c (g ← g · min(1, c/‖g‖)), every SGD step moves the weights by at most
  η c, so after n steps they have moved at most n η c: the readout weights stay bounded and,
  with |h| ≤ 1, so do the outputs and the loss.

``compare`` runs both from the same seed and summarises each run in one row.
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from ..config import ModelConfig
from ..data.synthetic import irnn_adding
from ..errors import ConfigError
from ..layers.recurrent import RecurrentConfig
from ..models.model import Model
from ..training import (
    Batch,
    Budget,
    Engine,
    FullBPTT,
    Generated,
    MetricsLog,
    Optimization,
    TrainingDiverged,
    fit,
)
from .gradflow import profile

SPIKE_FACTOR = 100.0
"""A loss this many times the first one is a spike (the constant predictor's is ≈ 1/6)."""


@dataclass(frozen=True, kw_only=True)
class ExplodingSetup:
    """The seeded set-up: model, data and SGD settings shared by both runs."""

    hidden_size: int = 32  # H
    seq_len: int = 100  # T: long enough for e^{r T} to be astronomically large
    radius: float = 3.0  # ρ: spectral radius of W_hh (> 1)
    batch_size: int = 32  # B
    steps: int = 60  # SGD updates per run
    lr: float = 0.05  # η
    clip: float = 1.0  # c: global-norm clipping of the clipped run
    seed: int = 0

    def __post_init__(self) -> None:
        counts = {"hidden_size": 1, "seq_len": 2, "batch_size": 1, "steps": 1, "seed": 0}
        bad = [
            f"{name} >= {least} (got {getattr(self, name)!r})"
            for name, least in counts.items()
            if not isinstance(getattr(self, name), int) or getattr(self, name) < least
        ]
        bad += [
            f"{name} > 0 and finite (got {getattr(self, name)!r})"
            for name in ("radius", "lr", "clip")
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0)
        ]
        if bad:
            raise ConfigError(f"the exploding-gradient set-up needs {'; '.join(bad)}")


class RunSummary(NamedTuple):
    """One training run of the set-up."""

    clip: float  # 0: no clipping
    losses: np.ndarray  # [steps] loss of each update's batch (before the update)
    grad_norms: np.ndarray  # [steps] global gradient norm before clipping
    initial_rate: float  # decay rate per step of ‖∂L/∂h_t‖ at initialisation
    displacement: float  # ‖θ_final − θ_0‖ over the trained parameters (NaN if not finite)

    @property
    def nonfinite_steps(self) -> int:
        return int(np.count_nonzero(~np.isfinite(self.losses)))

    @property
    def first_nonfinite(self) -> int | None:
        bad = np.flatnonzero(~np.isfinite(self.losses))
        return int(bad[0]) + 1 if bad.size else None

    @property
    def max_loss(self) -> float:
        finite = self.losses[np.isfinite(self.losses)]
        return float(finite.max()) if finite.size else math.nan

    @property
    def outcome(self) -> str:
        """ "non-finite", "spiking" (max > SPIKE_FACTOR × first) or "stable"."""
        if self.nonfinite_steps:
            return "non-finite"
        return "spiking" if self.max_loss > SPIKE_FACTOR * self.losses[0] else "stable"


def build(setup: ExplodingSetup) -> Model:
    """The tanh Elman model with W_hh scaled to spectral radius ``setup.radius``."""
    rng = np.random.default_rng(setup.seed)
    rnn = RecurrentConfig(cell="elman", input_size=2, hidden_size=setup.hidden_size)
    config = ModelConfig(rnn=rnn, output_size=1, readout="last_step", loss="mse")
    model = Model(config, rng=rng)
    W = rng.standard_normal((setup.hidden_size,) * 2)
    W *= setup.radius / np.abs(np.linalg.eigvals(W)).max()  # ρ(W_hh) = radius
    model.params["rnn.weight_hh_l0"][...] = W
    return model


def train(setup: ExplodingSetup, clip: float) -> RunSummary:
    """Train the set-up with SGD through the engine, clipping the global norm to ``clip``
    (0: not at all).

    Both runs see the same batches.  ``setup.steps`` counts the updates tried: one whose loss
    or gradient is not finite is skipped by the engine (its loss and norm are still
    recorded) and never ends the run; a parameter that overflows does, and the updates
    left are recorded as NaN (every loss and gradient from NaN parameters is NaN).
    """
    model = build(setup)
    probe = irnn_adding(np.random.default_rng([setup.seed, 2]), setup.batch_size, setup.seq_len)
    rate = profile(model, probe.x, probe.y).rate
    theta0 = {n: w.copy() for n, w in model.params.items()}
    options = Optimization(optimizer="sgd", lr=setup.lr, clip=clip, max_nonfinite=setup.steps)
    engine = Engine(model, FullBPTT(), options, np.random.default_rng([setup.seed, 1]))
    source = Generated(lambda rng: Batch(*irnn_adding(rng, setup.batch_size, setup.seq_len)[:2]))
    log = MetricsLog(None, keep=True)
    records: list = log.records  # type: ignore[assignment]  # one per update tried
    tried = lambda: "tried" if len(records) >= setup.steps else None  # noqa: E731
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is the phenomenon shown
        try:
            fit(engine, source, Budget(steps=setup.steps, restore_best=False), log=log, stop=tried)
        except TrainingDiverged:
            pass
        moved = math.sqrt(
            sum(
                float(np.sum((model.params[n].astype(np.float64) - w) ** 2))
                for n, w in theta0.items()
            )
        )
    losses, norms = np.full(setup.steps, np.nan), np.full(setup.steps, np.nan)
    losses[: len(records)] = [r["loss"] for r in records]
    norms[: len(records)] = [r["grad_norm"] for r in records]
    return RunSummary(clip, losses, norms, rate, moved)


def compare(setup: ExplodingSetup = ExplodingSetup()) -> list[RunSummary]:
    """The set-up trained without clipping, then with ``setup.clip``."""
    return [train(setup, 0.0), train(setup, setup.clip)]


def table(runs: list[RunSummary], setup: ExplodingSetup) -> str:
    """A text table: one row per run."""
    head = (
        f"tanh Elman, H={setup.hidden_size}, T={setup.seq_len}, spectral radius "
        f"{setup.radius:g}, SGD lr {setup.lr:g}, {setup.steps} steps, seed {setup.seed}\n"
        f"initial decay rate of |dL/dh_t|: {runs[0].initial_rate:+.3f} per step "
        f"(x{math.exp(runs[0].initial_rate):.3f} per step back)\n"
    )
    rows = [
        (
            "clipping",
            "first loss",
            "max loss",
            "last loss",
            "max |g|",
            "non-finite",
            "|theta - theta0|",
            "outcome",
        )
    ]
    for r in runs:
        first_bad = r.first_nonfinite
        rows.append(
            (
                f"norm {r.clip:g}" if r.clip else "none",
                f"{r.losses[0]:.4g}",
                f"{r.max_loss:.4g}",
                f"{r.losses[-1]:.4g}",
                f"{np.nanmax(np.where(np.isfinite(r.grad_norms), r.grad_norms, np.nan)):.3g}",
                f"{r.nonfinite_steps} (from {first_bad})" if first_bad else "0",
                f"{r.displacement:.3g}",
                r.outcome,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    return head + "\n".join(lines)
