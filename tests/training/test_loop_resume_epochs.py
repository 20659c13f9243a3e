"""Resuming epoch-budgeted runs: a run whose epochs are spent trains no further, and a best
written after the ``last`` a run resumes from is reached again without counting as a miss."""

import numpy as np
import pytest

from rnnkit.config import ModelConfig
from rnnkit.io.model_files import load_with_state
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.model import Model
from rnnkit.training import (
    Budget,
    Checkpoints,
    Engine,
    FullBPTT,
    Optimization,
    Shuffled,
    Validation,
    fit,
)


class Killed(Exception):
    """Stands for a SIGKILL between writing ``best`` and ``last``."""


def _run(run_dir, budget: Budget, *, resume: bool = False, checkpoints=None):
    config = ModelConfig(
        rnn=RecurrentConfig(cell="gru", input_size=1, hidden_size=4),
        output_size=2,
        readout="last_step",
        dtype="float64",
    )
    model = Model(config, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 5, 1))
    y = (x.sum(axis=(1, 2)) > 0).astype(int)
    source = Shuffled(x, y, batch_size=4)
    engine = Engine(model, FullBPTT(), Optimization(lr=1e-2), rng)
    state = None
    if resume:
        saved, state = load_with_state(run_dir / "last")
        for n, w in saved.params.items():
            model.params[n][...] = w
    # improves at every evaluation, so patience 1 never stops an uninterrupted run
    validation = Validation(lambda m: {"val_loss": 1.0 / (1 + engine.step)})
    summary = fit(
        engine,
        source,
        budget,
        validation=validation,
        checkpoints=checkpoints or Checkpoints(run_dir),
        resume=state,
    )
    return engine, summary


def test_a_resumed_run_whose_epochs_are_spent_trains_no_further(tmp_path):
    engine, summary = _run(tmp_path, Budget(epochs=2))
    assert (summary.stopped_by, engine.step) == ("epochs", 6)
    engine, summary = _run(tmp_path, Budget(epochs=2), resume=True)
    assert (summary.stopped_by, summary.epochs, engine.step) == ("epochs", 2, 6)


class _KilledAfterBest(Checkpoints):
    def last(self, engine, source, tracker, log):
        if engine.step == 6:  # the end of epoch 2: its best is written, its last is not
            raise Killed
        super().last(engine, source, tracker, log)


def test_the_best_saved_after_last_is_reached_again_without_counting_as_a_miss(tmp_path):
    budget = Budget(epochs=4, patience=1)
    _, straight = _run(tmp_path / "straight", budget)
    with pytest.raises(Killed):
        _run(tmp_path / "killed", budget, checkpoints=_KilledAfterBest(tmp_path / "killed"))
    assert load_with_state(tmp_path / "killed" / "best")[1]["step"] == 6
    assert load_with_state(tmp_path / "killed" / "last")[1]["step"] == 3
    engine, resumed = _run(tmp_path / "killed", budget, resume=True)
    assert (resumed.stopped_by, engine.step) == (straight.stopped_by, 12) == ("epochs", 12)
