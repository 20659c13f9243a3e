"""The experiment runner: matched sizes, budgets, the stop, the criterion, and its table."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from rnnkit.errors import ConfigError
from rnnkit.experiments import EXPERIMENTS, get_task
from rnnkit.experiments.cells import CELLS, count_parameters, hidden_for, make_model, model_config
from rnnkit.experiments.runner import (
    Table,
    format_json,
    format_table,
    run_experiment,
    train_cell,
    with_overrides,
)
from rnnkit.models.model import Model

TINY = dict(T=22, batch_size=4, steps=3, parameters=300, eval_every=2, n_val=8, n_test=16)


def _tiny(settings, **changes):
    """``settings`` at TINY's sizes, with ``changes`` on top."""
    return with_overrides(settings, **(TINY | changes))


@pytest.mark.parametrize("cell", list(CELLS))
def test_parameter_formula_counts_what_the_model_holds(cell, rng):
    config = model_config(
        cell,
        input_size=2,
        vocab_size=0,
        output_size=3,
        hidden_size=7,
        readout="last_step",
        loss="mse",
    )
    assert count_parameters(cell, 2, 7, 3) == Model(config, rng=rng).num_parameters()


@pytest.mark.parametrize("budget", [4641, 4932, 8730, 10401])
def test_matched_sizes_are_within_a_few_percent_of_the_budget(budget):
    for cell in CELLS:
        H = hidden_for(cell, 2, 1, budget)
        assert abs(count_parameters(cell, 2, H, 1) - budget) / budget < 0.05, (cell, H)


def test_lstm_at_hidden_32_sets_the_adding_budget():
    assert hidden_for("lstm", 2, 1, get_task("adding").settings.parameters) == 32


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_a_tiny_run_prints_a_well_formed_table(name):
    task = get_task(name)
    settings = with_overrides(task.settings, **TINY)
    table = run_experiment(task, list(CELLS), settings, seed=0)
    text = format_table(table)
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("cell"))
    rows = lines[header + 1 : header + 1 + len(CELLS)]
    assert [r.split()[0] for r in rows] == list(CELLS)
    for row, result in zip(rows, table.rows, strict=True):
        assert result.steps <= 3 and np.isfinite(result.test_metric)
        assert result.finished and result.stopped in ("criterion", "steps")
        assert row.split()[9] == ("pass" if result.passed else "fail")
        assert int(row.split()[4]) == result.length
        assert float(row.split()[7]) == pytest.approx(result.val_metric, abs=1e-4)
        assert float(row.split()[8]) == pytest.approx(result.test_metric, abs=1e-4)
    assert lines[-1].startswith("claims ")
    data = json.loads(format_json(table))
    assert [r["cell"] for r in data["rows"]] == list(CELLS)
    assert set(data["rows"][0]) >= {
        "cell",
        "parameters",
        "steps",
        "seconds",
        "stopped",
        "finished",
        "val_metric",
        "test_metric",
        "passed",
        "result",
    }
    assert data["claims"] in ("hold", "do not hold")


@pytest.mark.parametrize(
    "name,value,passes",
    [
        ("adding", 0.99, True),
        ("adding", 0.989, False),
        ("irnn", 0.0099, True),
        ("irnn", 0.01, False),
        ("copy", 0.0866, True),
        ("copy", 0.0867, False),
        ("temporal-order", 0.99, True),
        ("temporal-order", 0.25, False),
    ],
)
def test_criteria_hold_at_the_published_thresholds(name, value, passes):
    task = get_task(name)
    assert task.passes(value, task.settings.T) is passes


def test_the_same_seed_gives_the_same_table():
    task = get_task("temporal-order")
    settings = with_overrides(task.settings, **TINY)
    a = run_experiment(task, ["gru"], settings, seed=3).rows[0]
    b = run_experiment(task, ["gru"], settings, seed=3).rows[0]
    assert a.test_metric == b.test_metric and a.steps == b.steps


def _recording(task, always_pass):
    """``task`` with a criterion that always (or never) holds, recording each batch's (B, T)."""
    seen = []

    def sample(rng, B, T):
        seen.append((B, T))
        return task.sample(rng, B, T)

    mark = math.inf if always_pass else -math.inf
    return replace(task, sample=sample, threshold=lambda T: mark), seen


@pytest.mark.parametrize("always_pass,lengths", [(True, [5, 10, 15, 20]), (False, [5] * 4)])
def test_a_curriculum_lengthens_training_only_while_the_criterion_holds(always_pass, lengths):
    task, seen = _recording(get_task("copy"), always_pass)
    settings = _tiny(task.settings, curriculum=5)
    settings = with_overrides(settings, steps=4, eval_every=1)
    row = run_experiment(task, ["lstm"], settings, seed=0).rows[0]
    assert [T for B, T in seen if B == settings.batch_size] == lengths
    assert row.steps == 4 and row.length == (settings.T if always_pass else 5)
    assert (settings.n_test, settings.T) in seen  # the final score is at the full length


def test_the_table_states_the_curriculum():
    task = get_task("copy")
    settings = _tiny(task.settings, curriculum=7)
    text = format_table(run_experiment(task, ["gru"], settings, seed=0))
    assert "training starts at T = 7 and lengthens by 7" in text
    assert f"every metric is at T = {settings.T}" in text


def test_unknown_names_are_refused():
    with pytest.raises(ConfigError, match="unknown experiment"):
        get_task("adding-problem")
    with pytest.raises(ConfigError, match="unknown cells"):
        run_experiment(get_task("adding"), ["lstm", "transformer"])


# -- the stop: validation alone; the test set scored once ----------------------------------


def _counting(task, *, val_passes, test_passes, n_test):
    """``task`` whose score is fixed per split (told apart by size) and counts test scores."""
    test_scores = []

    def score(model, batch):
        if len(batch.x) == n_test:
            test_scores.append(model)
            return 1.0 if test_passes else 0.0
        return 1.0 if val_passes else 0.0

    return replace(task, score=score, threshold=lambda T: 0.5, lower_is_better=False), test_scores


@pytest.mark.parametrize("val_passes", [True, False])
@pytest.mark.parametrize("test_passes", [True, False])
def test_the_test_set_is_scored_exactly_once_after_training(val_passes, test_passes):
    settings = _tiny(get_task("adding").settings, steps=6, n_test=24)
    task, test_scores = _counting(
        get_task("adding"), val_passes=val_passes, test_passes=test_passes, n_test=24
    )
    row = train_cell(task, "elman", settings, seed=0)
    assert len(test_scores) == 1
    assert row.passed is test_passes and row.test_metric == float(test_passes)


@pytest.mark.parametrize("test_passes", [True, False])
def test_validation_alone_decides_when_training_stops(test_passes):
    settings = _tiny(get_task("adding").settings, steps=6, n_test=24)
    task, _ = _counting(get_task("adding"), val_passes=True, test_passes=test_passes, n_test=24)
    row = train_cell(task, "elman", settings, seed=0)
    assert row.stopped == "criterion" and row.steps == settings.eval_every
    assert row.val_metric == 1.0 and row.passed is test_passes


def test_a_run_without_the_criterion_on_validation_spends_the_step_budget():
    settings = _tiny(get_task("adding").settings, steps=5, n_test=24)
    task, _ = _counting(get_task("adding"), val_passes=False, test_passes=True, n_test=24)
    row = train_cell(task, "elman", settings, seed=0)
    assert (row.stopped, row.steps, row.finished, row.val_metric) == ("steps", 5, True, 0.0)


# -- budgets: update counts; the time cap only makes a run "not finished" -------------------


class FakeClock:
    """A clock that moves ``seconds`` forward every time it is read."""

    def __init__(self, seconds: float):
        self.now, self.seconds = 0.0, seconds

    def __call__(self) -> float:
        self.now += self.seconds
        return self.now


def _always(task, passes):
    mark = math.inf if passes else -math.inf
    return replace(task, threshold=lambda T: mark, lower_is_better=True)


@pytest.mark.parametrize("test_passes", [True, False])
def test_a_run_the_time_cap_stops_is_not_finished_and_has_no_verdict(test_passes):
    task = _always(get_task("adding"), test_passes)  # validation and test alike
    settings = _tiny(task.settings, steps=50, eval_every=100, minutes=1.0)
    row = train_cell(task, "lstm", settings, seed=0, clock=FakeClock(25.0))
    assert row.stopped == "time" and not row.finished and 0 < row.steps < 50
    assert row.passed is None and row.result == "not finished"
    assert np.isfinite(row.val_metric) and np.isfinite(row.test_metric)


def test_a_run_within_the_time_cap_ends_on_its_step_budget_with_a_verdict():
    task = _always(get_task("adding"), False)
    settings = _tiny(task.settings, steps=7, eval_every=100, minutes=1.0)
    row = train_cell(task, "lstm", settings, seed=0, clock=FakeClock(0.5))
    assert (row.stopped, row.steps, row.finished, row.passed) == ("steps", 7, True, False)
    assert row.result == "fail"


def test_the_step_budget_alone_decides_however_slow_the_clock():
    task = get_task("temporal-order")
    settings = _tiny(task.settings, steps=4)
    fast = train_cell(task, "gru", settings, seed=1, clock=FakeClock(1e-3))
    slow = train_cell(task, "gru", settings, seed=1, clock=FakeClock(1e3))  # no cap by default
    assert settings.minutes is None
    assert (fast.steps, fast.test_metric, fast.passed) == (
        slow.steps,
        slow.test_metric,
        slow.passed,
    )
    assert slow.finished and slow.seconds > 1e3


def _claimed_table(expect, passes, clock_seconds):
    task = replace(_always(get_task("adding"), passes), expect=expect)
    settings = _tiny(task.settings, steps=4, eval_every=100, minutes=1.0)
    rows = [
        train_cell(task, cell, settings, seed=0, clock=FakeClock(s))
        for cell, s in clock_seconds.items()
    ]
    return Table(task.name, task.title, task.criterion(settings.T), settings, rows)


@pytest.mark.parametrize("expected, claims", [(True, None), (False, None)])
def test_claims_count_a_not_finished_row_neither_as_pass_nor_as_fail(expected, claims):
    table = _claimed_table(
        {"elman": True, "lstm": expected}, True, {"elman": 0.5, "lstm": 25.0}
    )  # lstm: stopped by the time cap
    assert [r.result for r in table.rows] == ["pass", "not finished"]
    assert table.claims_hold() is claims and table.claims() == "not finished"
    text = format_table(table)
    assert "not finished" in next(line for line in text.splitlines() if line.startswith("lstm"))
    assert "not finished (the time cap" in text and "claims are not settled" in text
    data = json.loads(format_json(table))
    assert [(r["result"], r["finished"], r["passed"]) for r in data["rows"]] == [
        ("pass", True, True),
        ("not finished", False, None),
    ]
    assert data["claims_hold"] is None and data["claims"] == "not finished"


def test_a_finished_row_against_its_claim_fails_the_claims_whatever_else_did_not_finish():
    table = _claimed_table({"elman": False, "lstm": True}, True, {"elman": 0.5, "lstm": 25.0})
    assert table.claims_hold() is False and table.claims() == "do not hold"
    table = _claimed_table({"elman": True}, True, {"elman": 0.5, "lstm": 25.0})
    assert table.claims_hold() is True  # the unfinished lstm made no claim


# -- the IRNN's readout -----------------------------------------------------------------------


def test_the_irnn_readout_is_drawn_from_a_gaussian_of_std_0_001_with_zero_bias():
    config = model_config(
        "irnn",
        input_size=2,
        vocab_size=0,
        output_size=50,
        hidden_size=200,
        readout="last_step",
        loss="mse",
    )
    model = make_model("irnn", config, np.random.default_rng(0))
    w, sigma = model.params["head.weight"].astype(np.float64).ravel(), 1e-3
    assert abs(w.mean()) < 5 * sigma / np.sqrt(w.size)
    assert abs(w.std() / sigma - 1) < 5 / np.sqrt(2 * w.size)
    np.testing.assert_array_equal(model.params["head.bias"], 0)
    assert abs(model.params["rnn.weight_ih_l0"].std() / sigma - 1) < 0.2  # the cell's, too


def test_other_cells_keep_pytorchs_readout():
    config = model_config(
        "elman",
        input_size=2,
        vocab_size=0,
        output_size=50,
        hidden_size=200,
        readout="last_step",
        loss="mse",
    )
    w = make_model("elman", config, np.random.default_rng(0)).params["head.weight"]
    assert abs(w.std() - 1 / np.sqrt(3 * 200)) < 0.05 / np.sqrt(3 * 200)


# -- run directories: an interrupted table resumes to the uninterrupted one's ---------------


def _stop_after(n_calls):
    """A stop request that names SIGINT on its ``n_calls``-th reading (once per update)."""
    calls = []

    def stop():
        calls.append(1)
        return "SIGINT" if len(calls) == n_calls else None

    return stop


@pytest.mark.parametrize("cut", [2, 5, 7])
def test_a_table_interrupted_and_resumed_equals_an_uninterrupted_one(tmp_path, cut):
    from rnnkit.experiments.runner import Interrupted, RunOptions

    task = get_task("copy")
    task = replace(task, threshold=lambda T: math.inf)  # every stage passes: lengthens each time
    settings = _tiny(task.settings, T=22, curriculum=5, steps=8, eval_every=2)
    straight = run_experiment(task, ["lstm", "gru"], settings, seed=4)
    options = RunOptions(out=tmp_path / "run")
    with pytest.raises(Interrupted) as stopped:
        run_experiment(
            task, ["lstm", "gru"], settings, seed=4, options=options, stop=_stop_after(cut)
        )
    assert (tmp_path / "run" / "lstm" / "last").exists() and stopped.value.step == cut - 1
    resumed = run_experiment(
        task, ["lstm", "gru"], settings, seed=4, options=replace(options, resume=True)
    )
    strip = lambda rows: [replace(r, seconds=0.0) for r in rows]  # noqa: E731
    assert strip(resumed.rows) == strip(straight.rows)
    assert [r.length for r in straight.rows] == [settings.T] * 2  # the curriculum was resumed


def test_a_run_directory_is_not_overwritten_without_resume(tmp_path):
    from rnnkit.experiments.runner import RunOptions

    settings = _tiny(get_task("adding").settings)
    run_experiment(get_task("adding"), ["elman"], settings, options=RunOptions(out=tmp_path))
    assert (tmp_path / "elman" / "metrics.jsonl").exists()
    with pytest.raises(ConfigError, match="holds a run already"):
        run_experiment(get_task("adding"), ["elman"], settings, options=RunOptions(out=tmp_path))


def test_a_scored_cell_is_not_trained_again_on_resume(tmp_path):
    from rnnkit.experiments.runner import RunOptions

    task, seen = _recording(get_task("adding"), False)
    settings = _tiny(task.settings)
    first = run_experiment(task, ["elman"], settings, options=RunOptions(out=tmp_path))
    seen.clear()
    again = run_experiment(
        task, ["elman"], settings, options=RunOptions(out=tmp_path, resume=True)
    )
    assert again.rows == first.rows and seen == []


def test_a_cell_whose_loss_stays_nonfinite_ends_diverged_with_a_verdict():
    from rnnkit.experiments.runner import RunOptions

    task = get_task("adding")

    def sample(rng, B, T):
        batch = task.sample(rng, B, T)
        return batch._replace(x=np.full_like(batch.x, np.nan))

    poisoned = replace(task, sample=sample)
    settings = _tiny(task.settings, steps=50)
    row = train_cell(poisoned, "elman", settings, seed=0, options=RunOptions(on_nonfinite="stop"))
    assert (row.stopped, row.steps, row.finished, row.passed) == ("diverged", 0, True, False)
