"""The training engine: updates, early stopping, checkpoints, exact resume, the metrics log,
non-finite values, stop requests and data parallelism."""

import math
import threading

import numpy as np
import pytest

import rnnkit
from rnnkit.config import ModelConfig
from rnnkit.errors import ConfigError
from rnnkit.io.model_files import load_with_state, save_in_run
from rnnkit.layers.recurrent import RecurrentConfig
from rnnkit.models.model import Model
from rnnkit.training import (
    Budget,
    Checkpoints,
    Custom,
    Engine,
    FullBPTT,
    MetricsLog,
    Optimization,
    Shuffled,
    TrainingDiverged,
    Validation,
    fit,
    read_log,
)
from rnnkit.training.bptt import Step


def _model(seed: int = 0, dtype: str = "float64") -> Model:
    config = ModelConfig(
        rnn=RecurrentConfig(cell="gru", input_size=1, hidden_size=6),
        output_size=2,
        readout="last_step",
        dtype=dtype,
    )
    return Model(config, rng=np.random.default_rng(seed))


def _sign_task(n: int = 48, seed: int = 5):
    """Is the sum of a sequence positive?  Variable lengths."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 7, 1))
    lengths = rng.integers(3, 8, n)
    mask = np.arange(7)[None, :] < lengths[:, None]
    y = ((x[:, :, 0] * mask).sum(1) > 0).astype(int)
    return x, y, lengths


def _engine(model: Model, seed: int = 1, **options) -> Engine:
    opt = Optimization(**{"lr": 1e-2, "clip": 1.0, **options})
    return Engine(model, FullBPTT(), opt, np.random.default_rng(seed))


def _accuracy(x, y, lengths):
    def validate(model):
        out = model.predict(x, lengths=lengths)
        return {"val_accuracy": float((out.argmax(-1) == y).mean())}

    return Validation(validate, "val_accuracy", higher_is_better=True)


def test_the_engine_trains_a_classifier_and_counts_epochs_and_updates():
    x, y, lengths = _sign_task()
    engine = _engine(_model())
    source = Shuffled(x, y, lengths=lengths, batch_size=16)
    summary = fit(engine, source, Budget(epochs=30), validation=_accuracy(x, y, lengths))
    assert summary.stopped_by == "epochs" and summary.epochs == 30 and summary.finished
    assert summary.steps == 30 * 3 == engine.step
    assert summary.best > 0.85
    assert len(summary.history) == 30  # one evaluation per epoch


def test_early_stopping_waits_patience_evaluations_and_restores_the_best_parameters():
    x, y, lengths = _sign_task()
    seen = []

    def validate(model):  # a metric that peaks at the third evaluation
        seen.append({n: w.copy() for n, w in model.params.items()})
        return {"score": [1, 2, 5, 4, 3, 2, 1, 0][len(seen) - 1]}

    engine = _engine(_model())
    summary = fit(
        engine,
        Shuffled(x, y, lengths=lengths, batch_size=16),
        Budget(epochs=50, patience=3),
        validation=Validation(validate, "score", True),
    )
    assert summary.stopped_by == "patience" and len(seen) == 6
    assert summary.best == 5 and summary.best_step == 9
    for n, w in engine.model.params.items():
        np.testing.assert_array_equal(w, seen[2][n], err_msg=n)


def _run(out, budget, resume=None, validation=None):
    x, y, lengths = _sign_task()
    model = _model() if resume is None else resume[0]
    engine = _engine(model)
    log = MetricsLog(out, resume_step=None if resume is None else resume[1]["engine"]["step"])
    return fit(
        engine,
        Shuffled(x, y, lengths=lengths, batch_size=16),
        budget,
        validation=validation,
        checkpoints=Checkpoints(out),
        log=log,
        resume=None if resume is None else resume[1],
    ), engine


def test_a_resumed_run_ends_bit_identical_to_an_uninterrupted_one(tmp_path):
    x, y, lengths = _sign_task()
    straight, split = tmp_path / "a", tmp_path / "b"
    _run(straight, Budget(epochs=6, checkpoint_every=4), validation=_accuracy(x, y, lengths))
    _run(
        split, Budget(epochs=6, steps=10, checkpoint_every=4), validation=_accuracy(x, y, lengths)
    )
    assert load_with_state(split / "last")[1]["engine"]["step"] == 10
    summary, _ = _run(
        split,
        Budget(epochs=6, checkpoint_every=4),
        resume=load_with_state(split / "last"),
        validation=_accuracy(x, y, lengths),
    )
    assert summary.steps == 18
    for name in ("last", "best"):
        a, b = rnnkit.load(straight / name), rnnkit.load(split / name)
        for n, w in a.params.items():
            np.testing.assert_array_equal(w, b.params[n], err_msg=f"{name} {n}")


def test_the_metrics_log_has_each_update_once_after_a_resume_from_an_earlier_checkpoint(tmp_path):
    out = tmp_path / "run"
    _run(out, Budget(steps=7, checkpoint_every=3))
    assert load_with_state(out / "last")[1]["engine"]["step"] == 7  # the end is saved too
    # as if killed after update 7 with `last` at 6 and a half-written line in the log
    with open(out / "metrics.jsonl", "a") as f:
        f.write('{"step": 8, "lo')
    save_in_run(rnnkit.load(out / "last"), out, "last", 6, extra=_at_step(out, 6))
    summary, _ = _run(
        out, Budget(steps=12, checkpoint_every=3), resume=load_with_state(out / "last")
    )
    steps = [r["step"] for r in read_log(out / "metrics.jsonl")]
    assert summary.steps == 12 and steps == list(range(1, 13))
    times = [r["time"] for r in read_log(out / "metrics.jsonl")]
    assert times == sorted(times)


def _at_step(out, step):
    """The training state of a run directory's `last`, rewound to look like update ``step``."""
    state = load_with_state(out / "last")[1]
    return {**state, "engine": {**state["engine"], "step": step}}


def test_a_nonfinite_gradient_is_skipped_or_stops_as_configured(tmp_path):
    x, y, lengths = _sign_task()
    calls = []

    def sometimes_nan(model, batch, rng):
        step = FullBPTT()(model, batch, rng)
        calls.append(1)
        return Step(math.nan, step.grads, None, step.count) if len(calls) == 2 else step

    engine = Engine(
        _model(), Custom(sometimes_nan), Optimization(lr=1e-2), np.random.default_rng(0)
    )
    summary = fit(engine, Shuffled(x, y, lengths=lengths, batch_size=16), Budget(steps=4))
    assert summary.steps == 4 and summary.skipped == 1 and len(calls) == 5
    calls.clear()
    out = tmp_path / "run"
    engine = Engine(
        _model(),
        Custom(sometimes_nan),
        Optimization(lr=1e-2, on_nonfinite="stop"),
        np.random.default_rng(0),
    )
    with pytest.raises(TrainingDiverged, match="loss is nan at step 1"):
        fit(
            engine,
            Shuffled(x, y, lengths=lengths, batch_size=16),
            Budget(steps=4),
            checkpoints=Checkpoints(out),
        )
    assert load_with_state(out / "last")[1]["engine"]["step"] == 1  # saved before it stopped


def test_a_stop_request_saves_last_and_names_the_signal(tmp_path):
    x, y, lengths = _sign_task()
    engine = _engine(_model())
    requests = iter([None, None, None, "SIGTERM"])
    summary = fit(
        engine,
        Shuffled(x, y, lengths=lengths, batch_size=16),
        Budget(steps=50),
        checkpoints=Checkpoints(tmp_path),
        stop=lambda: next(requests),
    )
    assert summary.stopped_by == "SIGTERM" and not summary.finished and summary.steps == 3
    assert load_with_state(tmp_path / "last")[1]["engine"]["step"] == 3


def test_the_wall_clock_cap_stops_a_run_that_is_then_not_finished():
    x, y, lengths = _sign_task()
    ticks = iter(range(0, 10_000, 30))  # every call of the clock: 30 s later
    summary = fit(
        _engine(_model()),
        Shuffled(x, y, lengths=lengths, batch_size=16),
        Budget(steps=1000, minutes=2),
        clock=lambda: next(ticks),
    )
    assert summary.stopped_by == "minutes" and not summary.finished and summary.steps < 10


def _counting_validation(reach_at):
    """A validation whose target holds from the ``reach_at``-th evaluation on."""
    seen = []

    def validate(model):
        seen.append(1)
        return {"val_loss": 1.0 / len(seen), "evaluation": float(len(seen))}

    return Validation(validate, target=lambda m: m["evaluation"] >= reach_at), seen


@pytest.mark.parametrize(
    "reach_at, steps, stopped_by", [(2, 4, "target"), (3, 6, "target"), (9, 10, "steps")]
)
def test_a_target_met_at_a_scheduled_evaluation_ends_the_run_finished(reach_at, steps, stopped_by):
    x, y, lengths = _sign_task()
    validation, _ = _counting_validation(reach_at)
    summary = fit(
        _engine(_model()),
        Shuffled(x, y, lengths=lengths, batch_size=16),
        Budget(steps=10, eval_every=2),
        validation=validation,
    )
    assert (summary.stopped_by, summary.steps, summary.finished) == (stopped_by, steps, True)


def test_the_evaluation_after_an_off_schedule_stop_does_not_check_the_target():
    x, y, lengths = _sign_task()
    validation, seen = _counting_validation(2)
    summary = fit(
        _engine(_model()),
        Shuffled(x, y, lengths=lengths, batch_size=16),
        Budget(steps=5, eval_every=3),
        validation=validation,
    )
    assert len(seen) == 2 and summary.stopped_by == "steps"  # the 2nd was at update 5


def test_a_resumed_run_that_had_met_its_target_stops_at_once(tmp_path):
    x, y, lengths = _sign_task()
    validation, _ = _counting_validation(1)
    source = Shuffled(x, y, lengths=lengths, batch_size=16)
    first = fit(
        _engine(_model()),
        source,
        Budget(steps=10, eval_every=2),
        validation=validation,
        checkpoints=Checkpoints(tmp_path),
    )
    resumed = fit(
        _engine(_model()),
        source,
        Budget(steps=10, eval_every=2),
        validation=validation,
        resume=load_with_state(tmp_path / "last")[1],
    )
    assert (first.stopped_by, first.steps) == ("target", 2)
    assert (resumed.stopped_by, resumed.steps) == ("target", 2)


def test_a_budget_and_options_are_checked():
    with pytest.raises(ConfigError, match="give a budget"):
        Budget()
    with pytest.raises(ConfigError, match="on_nonfinite"):
        Optimization(on_nonfinite="ignore")


class _ThreadComm:
    """K ranks as threads of one process: the collectives meet at a barrier."""

    def __init__(self, rank, size, shared):
        self.rank, self.size, self.shared = rank, size, shared

    def _exchange(self, value):
        s = self.shared
        s["slots"][self.rank] = value
        s["barrier"].wait()
        values = list(s["slots"])
        s["barrier"].wait()
        return values

    def allreduce_sum(self, buf):
        parts = self._exchange(buf.copy())
        total = parts[0].copy()
        for p in parts[1:]:
            total += p
        buf[...] = total
        return buf

    def allreduce_max(self, values):
        return np.max(self._exchange(np.asarray(values, np.int64)), axis=0)

    def any(self, flag):
        return any(self._exchange(bool(flag)))

    def gather_rows(self, a, axis):
        parts = self._exchange(a)
        return np.concatenate(parts, axis=axis) if self.rank == 0 else None


def test_two_ranks_train_to_the_parameters_of_one_process():
    x, y, lengths = _sign_task(n=40)
    single = _engine(_model(dtype="float32"))
    fit(single, Shuffled(x, y, lengths=lengths, batch_size=10), Budget(steps=8))
    shared = {"slots": [None, None], "barrier": threading.Barrier(2)}
    engines = [
        Engine(
            _model(dtype="float32"),
            FullBPTT(),
            Optimization(lr=1e-2, clip=1.0),
            np.random.default_rng(1),
            comm=_ThreadComm(r, 2, shared),
        )
        for r in (0, 1)
    ]
    threads = [
        threading.Thread(
            target=fit, args=(e, Shuffled(x, y, lengths=lengths, batch_size=10), Budget(steps=8))
        )
        for e in engines
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, w in single.model.params.items():
        np.testing.assert_array_equal(engines[0].model.params[n], engines[1].model.params[n])
        np.testing.assert_allclose(engines[0].model.params[n], w, rtol=0, atol=1e-6, err_msg=n)
