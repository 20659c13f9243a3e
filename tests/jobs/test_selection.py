"""Choosing settings on the training part: folds, budgets, successive halving, the ranking."""

import math

import numpy as np
import pytest

from rnnkit.errors import ConfigError, DataError
from rnnkit.jobs.selection import (
    Budget,
    Score,
    Trial,
    describe_settings,
    ranking,
    stratified_folds,
    successive_halving,
)


def test_stratified_folds_cover_every_sequence_once_and_share_out_every_class():
    y = np.array([0] * 9 + [1] * 6 + [2] * 3)
    folds = stratified_folds(y, 3, np.random.default_rng(0))
    assert sorted(np.concatenate(folds).tolist()) == list(range(18))
    for fold in folds:
        assert np.bincount(y[fold], minlength=3).tolist() == [3, 2, 1]
    again = stratified_folds(y, 3, np.random.default_rng(0))
    assert all((a == b).all() for a, b in zip(folds, again))
    with pytest.raises(DataError, match="cannot be split into 3 folds"):
        stratified_folds(np.array([0, 1]), 3, np.random.default_rng(0))


@pytest.mark.parametrize(
    "text, trials, minutes",
    [("12", 12, 0.0), ("2m", 0, 2.0), ("1.5 min", 0, 1.5), ("3minutes", 0, 3.0), ("", 0, 0.5)],
)
def test_a_budget_is_trainings_or_minutes(text, trials, minutes):
    budget = Budget.parse(text, default_minutes=0.5 if text == "" else 0.0)
    assert (budget.trials, budget.minutes) == (trials, minutes)


@pytest.mark.parametrize("text", ["0", "-3", "2h", "m", "1.5", "nan m"])
def test_a_budget_that_is_neither_is_refused(text):
    with pytest.raises(ConfigError, match="trainings .* or minutes"):
        Budget.parse(text)


def _candidates(n: int) -> list[dict]:
    return [{"hidden_size": 8 * (k + 1), "lr": 0.01} for k in range(n)]


def _evaluator(accuracy_of, calls: list):
    """A stand-in training: the accuracy a candidate has, 100 held-out sequences per fold."""

    def evaluate(settings, fold, stop):
        calls.append((settings["hidden_size"], fold))
        a = accuracy_of(settings, fold)
        return Score(a, 1 - a, 10, 0.5, 0.0, 100), settings["hidden_size"] * 10

    return evaluate


def test_halving_trains_every_candidate_once_then_the_better_half_on_each_next_fold():
    calls: list = []
    found = successive_halving(
        _candidates(8),
        3,
        _evaluator(lambda s, f: s["hidden_size"] / 100, calls),
        Budget(),
        one_se=False,
    )
    assert found.trainings == 8 + 4 + 2 == len(calls) and found.stopped_by == "schedule"
    assert [h for h, f in calls if f == 1] == [64, 56, 48, 40]  # the best half, best first
    assert [h for h, f in calls if f == 2] == [64, 56]
    assert found.best.settings["hidden_size"] == 64 and len(found.best.scores) == 3
    assert [len(t.scores) for t in found.trials] == [3, 3, 2, 2, 1, 1, 1, 1]


def test_a_trainings_budget_stops_the_search_and_ranks_what_was_scored():
    calls: list = []
    found = successive_halving(
        _candidates(4),
        3,
        _evaluator(lambda s, f: 0.5 + s["hidden_size"] / 100, calls),
        Budget(trials=5),
        one_se=False,
    )
    assert found.trainings == 5 and found.stopped_by == "trials"
    assert found.best.settings["hidden_size"] == 32 and len(found.best.scores) == 2


def test_a_time_budget_stops_between_trainings():
    now = iter(range(0, 10**6, 30))  # every look at the clock: 30 s later
    found = successive_halving(
        _candidates(8),
        3,
        _evaluator(lambda s, f: 0.9, []),
        Budget(minutes=2),
        clock=lambda: float(next(now)),
    )
    assert found.stopped_by == "minutes" and 0 < found.trainings < 8


def test_a_signal_ends_the_search_at_once():
    calls: list = []
    found = successive_halving(
        _candidates(4),
        2,
        _evaluator(lambda s, f: 0.9, calls),
        Budget(),
        stop=lambda: "SIGINT" if calls else None,
    )
    assert found.stopped_by == "SIGINT" and len(calls) == 1
    assert not any(t.scores for t in found.trials)  # the cut-short training is not scored


def test_the_one_standard_error_rule_prefers_the_smaller_of_nearly_equal_candidates():
    def trial(params, accuracies, n=50):
        t = Trial({"p": params}, params)
        t.scores = [Score(a, 1 - a, 5, 0.5, 0.0, n) for a in accuracies]
        return t

    big, small, poor = trial(900, [0.96, 0.96]), trial(100, [0.945, 0.945]), trial(50, [0.7, 0.7])
    order = {id(t): k for k, t in enumerate([big, small, poor])}
    assert ranking([big, small, poor], order, one_se=False)[0] is big
    assert ranking([big, small, poor], order)[:2] == [small, big]  # 0.945 ≥ 0.96 − 0.0196
    assert big.standard_error == pytest.approx(math.sqrt(0.96 * 0.04 / 100))


def test_settings_are_described_in_one_line():
    text = describe_settings({"frame": 3, "hidden_size": 64, "bidirectional": True, "lr": 0.01})
    assert text == "frame 3, H=64, bidirectional yes, lr 0.01"


def test_the_choice_is_explained_by_accuracy_or_by_the_one_standard_error_rule():
    from rnnkit.jobs.selection import Search, explain

    def trial(params, accuracy):
        t = Trial({"hidden_size": params}, params)
        t.scores = [Score(accuracy, 0.1, 5, 0.5, 0.0, 50)] * 2
        return t

    big, small = trial(900, 0.96), trial(100, 0.945)
    text = explain(Search([small, big], 4, 1.0, "schedule"))
    assert text.startswith("mean validation accuracy 0.945 over the 2 folds it reached, within")
    assert "of the best, 0.960 (H=900), with the fewest parameters (100)" in text
    text = explain(Search([big, small], 4, 1.0, "schedule"))
    assert text == "highest mean validation accuracy (0.960) over the 2 folds it reached"
