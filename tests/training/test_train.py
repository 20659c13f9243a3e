"""Training on arrays and the character model's run through the engine: they learn, the same
seed gives the same run bit for bit, a resumed run continues exactly, and NaN, signals and
stale records are handled as configured."""

import io
import math
import os
import signal

import numpy as np
import pytest

import rnnkit
from rnnkit.config import ModelConfig, TrainConfig
from rnnkit.errors import ConfigError
from rnnkit.io.model_files import load_with_state
from rnnkit.jobs.charmodel import resume_run, start_run
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.model import Model
from rnnkit.training import Engine, Optimization, TrainingDiverged, Truncated, bptt
from rnnkit.training import loop as loop_module
from rnnkit.training.batches import Batch


def _sign_task(rng, n=256, T=12):
    """Many-to-one: is the sum of a variable-length sequence positive?"""
    x = rng.standard_normal((n, T, 1))
    lengths = rng.integers(3, T + 1, n)
    mask = np.arange(T)[None, :] < lengths[:, None]
    y = ((x[..., 0] * mask).sum(axis=1) > 0).astype(int)
    return x, y, lengths


def _classifier(seed: int, cell: str = "gru") -> Model:
    rnn = RecurrentConfig(cell=cell, input_size=1, hidden_size=8)
    config = ModelConfig(rnn=rnn, output_size=2, readout="last_step")
    return Model(config, rng=np.random.default_rng(seed))


def test_fit_learns_a_many_to_one_task(rng):
    x, y, lengths = _sign_task(rng)
    model = _classifier(0)
    history = rnnkit.fit(
        model, x, y, lengths=lengths, epochs=15, lr=1e-2, rng=np.random.default_rng(1)
    )
    accuracy = (model.predict(x, lengths=lengths).argmax(-1) == y).mean()
    assert history[-1]["loss"] < 0.5 * history[0]["loss"]
    assert accuracy > 0.9


def test_same_seed_gives_bit_identical_parameters(rng):
    x, y, lengths = _sign_task(rng, n=64)
    runs = []
    for _ in range(2):
        model = _classifier(3, cell="lstm")
        rnnkit.fit(model, x, y, lengths=lengths, epochs=2, rng=np.random.default_rng(4))
        runs.append(model.state_dict())
    for name in runs[0]:
        np.testing.assert_array_equal(runs[0][name], runs[1][name])


def test_train_config_rejects_nonsense():
    with pytest.raises(ConfigError, match="lr must be > 0"):
        TrainConfig(steps=10, lr=0)
    with pytest.raises(ConfigError, match="budget"):
        TrainConfig()
    with pytest.raises(ConfigError, match="bptt_steps"):
        TrainConfig(steps=10, seq_len=50, bptt_steps=20)


# ----------------------------------------------------------------------------- the text loop


SMALL_RNN = {"cell": "gru", "hidden_size": 8}


@pytest.fixture
def corpus(tmp_path):
    rng = np.random.default_rng(0)
    words = ["def", "return", "self", "import", "class", "(x)", ":", "\n", "    "]
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(rng.choice(words, 2000)), encoding="utf-8")
    return path


def _run(corpus, out, **train):
    options = {
        "steps": 12,
        "batch_size": 2,
        "seq_len": 8,
        "eval_every": 3,
        "eval_chars": 200,
        "sample_every": 0,
        "checkpoint_every": 4,
        **train,
    }
    return start_run([str(corpus)], 0, SMALL_RNN, TrainConfig(**options), out)


def _fit(run):
    return run.fit(io.StringIO(), io.StringIO(), iter(range(10**6)).__next__)


@pytest.fixture
def nan_loss_at(monkeypatch):
    """Make the loss NaN on the given calls of the objective (0-based, counted per test)."""

    def install(*calls: int) -> None:
        real, count = bptt.objective, [0]

        def objective(model, y, targets, mask=None):
            loss, dy = real(model, y, targets, mask)
            count[0] += 1
            return (math.nan, dy) if count[0] - 1 in calls else (loss, dy)

        monkeypatch.setattr(bptt, "objective", objective)

    return install


def _finite(directory):
    model, _ = load_with_state(directory)
    return all(np.isfinite(w).all() for w in model.params.values())


def test_a_nan_loss_is_skipped_and_counted(corpus, tmp_path, nan_loss_at):
    run = _run(corpus, tmp_path / "run", on_nonfinite="skip")
    nan_loss_at(5)
    result = _fit(run)
    assert result["skipped"] == 1 and result["steps"] == 12
    assert _finite(tmp_path / "run" / "last")


def test_reduce_lr_halves_the_rate_at_each_nan(corpus, tmp_path, nan_loss_at):
    run = _run(corpus, tmp_path / "run", on_nonfinite="reduce-lr", nonfinite_lr_factor=0.5)
    nan_loss_at(2, 6)
    result = _fit(run)
    assert result["skipped"] == 2 and run.engine.lr_scale == 0.25
    assert run.engine.lr() == pytest.approx(0.25 * run.config.lr)
    _, state = load_with_state(tmp_path / "run" / "last")
    assert state["engine"]["lr_scale"] == 0.25  # a resumed run keeps the reduced rate


def test_stop_names_the_step_and_saves_the_finite_parameters(corpus, tmp_path, nan_loss_at):
    run = _run(corpus, tmp_path / "run", on_nonfinite="stop")
    nan_loss_at(5)
    with pytest.raises(TrainingDiverged, match="loss is nan at step 5"):
        _fit(run)
    model, state = load_with_state(tmp_path / "run" / "last")
    assert state["step"] == 5 and _finite(tmp_path / "run" / "last")


def test_too_many_nans_in_a_row_stop_the_run(corpus, tmp_path, nan_loss_at):
    run = _run(corpus, tmp_path / "run", max_nonfinite=2)
    nan_loss_at(3, 4, 5)
    with pytest.raises(TrainingDiverged, match="3th non-finite update in a row"):
        _fit(run)


def test_a_nan_parameter_is_never_saved(corpus, tmp_path, monkeypatch):
    run = _run(corpus, tmp_path / "run", checkpoint_every=1)
    real_step = run.engine.optimizer.step

    def poisoned(params, grads, lr=None):
        real_step(params, grads, lr)
        if run.engine.step == 6:  # the 7th update leaves a NaN in the parameters
            params["head.bias"][0] = np.nan

    monkeypatch.setattr(run.engine.optimizer, "step", poisoned)
    with pytest.raises(TrainingDiverged, match="head.bias became NaN/Inf at step 7"):
        _fit(run)
    _, state = load_with_state(tmp_path / "run" / "last")
    assert state["step"] == 6 and _finite(tmp_path / "run" / "last")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_between_updates_and_saves_last(corpus, tmp_path, monkeypatch, signum):
    run = _run(corpus, tmp_path / "run", checkpoint_every=100)
    real_update = run.engine.update
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def update(batch):
        if run.engine.step == 7:
            os.kill(os.getpid(), signum)  # arrives during the update; acted on after it
        return real_update(batch)

    monkeypatch.setattr(run.engine, "update", update)
    result = _fit(run)
    assert result["stopped_by"] == signal.Signals(signum).name and result["steps"] == 8
    _, state = load_with_state(tmp_path / "run" / "last")
    assert state["step"] == 8
    assert {s: signal.getsignal(s) for s in before} == before  # the previous handlers are back


def test_best_is_only_replaced_by_a_better_model(corpus, tmp_path, monkeypatch):
    written = []
    real = loop_module.Checkpoints.best

    def record(self, engine, metrics):
        written.append(metrics["val_loss"])
        return real(self, engine, metrics)

    monkeypatch.setattr(loop_module.Checkpoints, "best", record)
    run = _run(corpus, tmp_path / "run", steps=30, eval_every=1, lr=0.05)
    _fit(run)
    assert len(written) >= 2 and all(b < a for a, b in zip(written, written[1:]))
    best = load_with_state(tmp_path / "run" / "best")[1]["metrics"]["val_loss"]
    assert best == min(written)


def test_a_resumed_run_compares_with_the_saved_best_not_a_stale_record(corpus, tmp_path):
    out = tmp_path / "run"
    run = _run(corpus, out, steps=6, checkpoint_every=100, eval_every=1)
    _fit(run)
    best_loss = load_with_state(out / "best")[1]["metrics"]["val_loss"]
    model, state = load_with_state(out / "last")
    stale = {**state, "loop": {**state["loop"], "best": None}}  # as if last predated best
    rnnkit.io.model_files.save_in_run(model, out, "last", 6, extra=stale)
    written = []
    real = loop_module.Checkpoints.best
    resumed = resume_run(out, steps=9)
    resumed.model.params["head.bias"][0] += 50.0  # one class always: every later model is worse
    try:
        loop_module.Checkpoints.best = lambda self, e, m: written.append(m)
        _fit(resumed)
    finally:
        loop_module.Checkpoints.best = real
    assert written == []  # compared with the saved best, none of them replaced it
    assert load_with_state(out / "best")[1]["metrics"]["val_loss"] == best_loss


def test_a_resumed_run_continues_bit_identically_through_the_library(corpus, tmp_path):
    straight, split = tmp_path / "a", tmp_path / "b"
    _fit(_run(corpus, straight))
    _fit(_run(corpus, split, steps=5))
    result = _fit(resume_run(split, steps=12))
    assert result["steps"] == 12
    a, b = load_with_state(straight / "last")[0], load_with_state(split / "last")[0]
    for name, w in a.params.items():
        np.testing.assert_array_equal(w, b.params[name], err_msg=name)


def test_a_resumed_run_with_recurrent_dropout_keeps_the_streams_masks(corpus, tmp_path):
    rnn = {**SMALL_RNN, "num_layers": 2, "dropout": 0.2, "recurrent_dropout": 0.3}
    straight, split = tmp_path / "a", tmp_path / "b"

    def run(out, steps):
        options = {
            "steps": steps,
            "batch_size": 2,
            "seq_len": 8,
            "bptt_steps": 12,
            "eval_every": 3,
            "eval_chars": 200,
            "sample_every": 0,
            "checkpoint_every": 4,
        }
        return start_run([str(corpus)], 0, rnn, TrainConfig(**options), out)

    _fit(run(straight, 12))
    _fit(run(split, 5))
    held = load_with_state(split / "last")[1]["engine"]["carried"]
    assert {"recurrent_draw_0", "recurrent_draw_1"} <= set(held)  # one per layer, [B, H]
    assert np.shape(held["recurrent_draw_0"]) == (2, 8)
    _fit(resume_run(split, steps=12))
    a, b = load_with_state(straight / "last")[0], load_with_state(split / "last")[0]
    for name, w in a.params.items():
        np.testing.assert_array_equal(w, b.params[name], err_msg=name)


class _SecondOfTwoRanks:
    rank, size = 1, 2  # enough to load a saved state: no collective is called


def test_a_rank_resumes_with_its_own_rows_of_the_held_recurrent_masks():
    config = TrainConfig(steps=3, seq_len=4, batch_size=5, bptt_steps=6)
    model = Model(
        ModelConfig.for_tokens(5, cell="gru", hidden_size=3, recurrent_dropout=0.5),
        rng=np.random.default_rng(0),
    )
    engine = Engine(model, Truncated(4, 6), Optimization.of(config), np.random.default_rng(0))
    ids = np.random.default_rng(1).integers(0, 5, (5, 5))
    engine.update(Batch(ids[:, :4], ids[:, 1:]))
    state = engine.state_dict()
    rank = Engine(
        model,
        Truncated(4, 6),
        Optimization.of(config),
        np.random.default_rng(0),
        comm=_SecondOfTwoRanks(),
    )
    rank.load_state_dict(state)
    np.testing.assert_array_equal(
        rank.gradients.tbptt.recurrent_draws[0], state["carried"]["recurrent_draw_0"][3:5]
    )


def test_the_checkpoint_holds_everything_a_resume_needs(corpus, tmp_path):
    out = tmp_path / "run"
    _fit(_run(corpus, out, bptt_steps=12, steps=5))
    _, state = load_with_state(out / "last")
    assert {"step", "engine", "source", "loop", "job"} <= set(state)
    assert {"step", "skipped", "nonfinite_run", "lr_scale", "rng", "optimizer", "carried"} <= set(
        state["engine"]
    )
    assert {"buffer", "state_0"} <= set(state["engine"]["carried"])  # truncated BPTT's state
    assert state["source"]["cursor"] == 5 and state["engine"]["optimizer"]["state"]
    assert {"best", "best_step", "since_best"} <= set(state["loop"])
