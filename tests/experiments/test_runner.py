"""The experiment runner: matched sizes, budgets, the criterion, and the table it prints."""

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from rnnkit.experiments import EXPERIMENTS, get_task
from rnnkit.experiments.cells import CELLS, count_parameters, hidden_for, model_config
from rnnkit.experiments.runner import format_json, format_table, run_experiment, with_overrides
from rnnkit.errors import ConfigError
from rnnkit.model import Model

TINY = dict(T=22, batch_size=4, steps=3, minutes=1.0, parameters=300, eval_every=2,
            n_val=8, n_test=16)


@pytest.mark.parametrize("cell", list(CELLS))
def test_parameter_formula_counts_what_the_model_holds(cell, rng):
    config = model_config(cell, input_size=2, vocab_size=0, output_size=3, hidden_size=7,
                          readout="last_step", loss="mse")
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
        assert result.steps <= 3 and np.isfinite(result.metric)
        assert row.split()[7] == ("pass" if result.passed else "fail")
        assert int(row.split()[4]) == result.length
    assert lines[-1].startswith("claims ")
    data = json.loads(format_json(table))
    assert [r["cell"] for r in data["rows"]] == list(CELLS)
    assert set(data["rows"][0]) >= {"cell", "parameters", "steps", "seconds", "metric", "passed"}


@pytest.mark.parametrize("name,value,passes", [
    ("adding", 0.99, True), ("adding", 0.989, False),
    ("irnn", 0.0099, True), ("irnn", 0.01, False),
    ("copy", 0.0866, True), ("copy", 0.0867, False),
    ("temporal-order", 0.99, True), ("temporal-order", 0.25, False),
])
def test_criteria_hold_at_the_published_thresholds(name, value, passes):
    task = get_task(name)
    assert task.passes(value, task.settings.T) is passes


def test_the_same_seed_gives_the_same_table():
    task = get_task("temporal-order")
    settings = with_overrides(task.settings, **TINY)
    a = run_experiment(task, ["gru"], settings, seed=3).rows[0]
    b = run_experiment(task, ["gru"], settings, seed=3).rows[0]
    assert a.metric == b.metric and a.steps == b.steps


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
    settings = with_overrides(task.settings, **TINY, curriculum=5)
    settings = with_overrides(settings, steps=4, eval_every=1)
    row = run_experiment(task, ["lstm"], settings, seed=0).rows[0]
    assert [T for B, T in seen if B == settings.batch_size] == lengths
    assert row.steps == 4 and row.length == (settings.T if always_pass else 5)
    assert (settings.n_test, settings.T) in seen  # the final score is at the full length


def test_the_table_states_the_curriculum():
    task = get_task("copy")
    settings = with_overrides(task.settings, **TINY, curriculum=7)
    text = format_table(run_experiment(task, ["gru"], settings, seed=0))
    assert "training starts at T = 7 and lengthens by 7" in text
    assert f"every metric is at T = {settings.T}" in text


def test_unknown_names_are_refused():
    with pytest.raises(ConfigError, match="unknown experiment"):
        get_task("adding-problem")
    with pytest.raises(ConfigError, match="unknown cells"):
        run_experiment(get_task("adding"), ["lstm", "transformer"])
