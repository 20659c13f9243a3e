"""The scikit-learn estimators: scikit-learn's own checks, any-length sequences, model
selection."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import (
    check_classifiers_train,  # noqa: E402
    check_regressors_train,
    parametrize_with_checks,
)

from rnnkit.errors import ShapeError  # noqa: E402
from rnnkit.jobs.estimators import RNNClassifier, RNNRegressor  # noqa: E402

FIXED = {"bidirectional": False, "learning_rate": 1e-2, "frame": 1, "batch_size": 32}
"""Every setting given: no search, one training of ``max_iter`` epochs."""
TINY = {"hidden_size": 4, "max_iter": 2, "random_state": 0, **FIXED}  # plumbing checks: fast
TRAINED = {"hidden_size": 16, "max_iter": 60, "random_state": 0, **FIXED}  # score checks
SCORE_CHECKS = {"check_classifiers_train", "check_regressors_train"}


def _name(check) -> str:
    return getattr(check, "func", check).__name__


@parametrize_with_checks([RNNClassifier(**TINY), RNNRegressor(**TINY)])
def test_scikit_learn_estimator_checks_pass(estimator, check):
    if _name(check) in SCORE_CHECKS:
        pytest.skip("needs a trained size; run by test_score_checks_pass_at_a_trained_size")
    check(estimator)


@pytest.mark.slow
@pytest.mark.parametrize("readonly", [False, True])
@pytest.mark.parametrize(
    ("estimator", "check"),
    [
        (RNNClassifier(**TRAINED), check_classifiers_train),
        (RNNRegressor(**TRAINED), check_regressors_train),
    ],
)
def test_score_checks_pass_at_a_trained_size(estimator, check, readonly):
    check(type(estimator).__name__, estimator, readonly_memmap=readonly)


def _ragged(n: int, seed: int = 0, channels: int = 2) -> tuple[list[np.ndarray], np.ndarray]:
    """Sequences of 3–9 steps; the class is the sign of the first channel's sum."""
    rng = np.random.default_rng(seed)
    X = [rng.standard_normal((int(rng.integers(3, 10)), channels)) for _ in range(n)]
    return X, np.array([int(s[:, 0].sum() > 0) for s in X])


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_never_reaches_the_answer(cell, bidirectional):
    X, y = _ragged(12)
    clf = RNNClassifier(**{**TINY, "cell": cell, "bidirectional": bidirectional}).fit(X, y)
    together = clf.predict_proba(X)
    alone = np.concatenate([clf.predict_proba(s[None]) for s in X])  # [1, T_i, C]: no padding
    np.testing.assert_allclose(together, alone, rtol=1e-12, atol=1e-15)


def test_a_3d_array_and_the_list_of_its_sequences_give_the_same_predictions():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((10, 5, 3)), rng.standard_normal(10)
    reg = RNNRegressor(**TINY).fit(X, y)
    np.testing.assert_array_equal(reg.predict(X), reg.predict(list(X)))
    np.testing.assert_array_equal(reg.predict(X), RNNRegressor(**TINY).fit(list(X), y).predict(X))


def test_a_2d_array_is_univariate_sequences():
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((10, 6)), rng.integers(0, 3, 10)
    clf = RNNClassifier(**TINY).fit(X, y)
    assert clf.n_channels_ == 1 and clf.n_features_in_ == 6
    np.testing.assert_array_equal(clf.predict_proba(X), clf.predict_proba(X[:, :, None]))


def test_the_classifier_learns_a_task_on_variable_length_sequences():
    X, y = _ragged(80)
    clf = RNNClassifier(hidden_size=8, max_iter=25, random_state=0, **FIXED).fit(X[:60], y[:60])
    assert clf.score(X[60:], y[60:]) >= 0.8
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_the_regressor_learns_several_outputs_on_their_own_scale():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((80, 6, 1))
    y = np.stack([100 + 10 * X[:, :, 0].mean(axis=1), -X[:, -1, 0]], axis=1)  # [N, 2]
    reg = RNNRegressor(hidden_size=8, max_iter=40, random_state=0, **FIXED).fit(X[:60], y[:60])
    assert reg.predict(X[60:]).shape == (20, 2)
    assert reg.score(X[60:], y[60:]) >= 0.8


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_the_same_random_state_gives_the_same_model_and_another_one_another(Estimator):
    X, y = _ragged(12)
    a = Estimator(**TINY).fit(X, y).predict(X)
    b = Estimator(**TINY).fit(X, y).predict(X)
    c = Estimator(**{**TINY, "random_state": 1, "max_iter": 5}).fit(X, y)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(
        Estimator(**TINY).fit(X, y).model_.params["head.weight"], c.model_.params["head.weight"]
    )


@pytest.mark.parametrize("as_list", [False, True])
def test_grid_search_over_a_pipeline_picks_from_the_grid(as_list):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((24, 5))
    y = (X.sum(axis=1) > 0).astype(int)
    pipe = Pipeline([("scale", StandardScaler()), ("rnn", RNNClassifier(**TINY))])
    search = GridSearchCV(pipe, {"rnn__hidden_size": [2, 3], "rnn__cell": ["gru"]}, cv=2)
    search.fit(list(X) if as_list else X, y)
    assert search.best_params_["rnn__hidden_size"] in (2, 3)
    assert search.best_estimator_.named_steps["rnn"].model_.config.rnn.cell == "gru"


def test_grid_search_takes_variable_length_sequences():
    X, y = _ragged(16)
    search = GridSearchCV(RNNClassifier(**TINY), {"learning_rate": [1e-2, 1e-3]}, cv=2).fit(X, y)
    assert search.predict(X).shape == (16,)


@pytest.mark.parametrize(
    ("X", "message"),
    [
        (np.zeros((3, 4, 5)), "X has 5 channels per step, but RNNClassifier was fitted with 2"),
        (np.zeros((3, 4, 2, 1)), r"X must be \[N, T, C\] sequences"),
        ([np.zeros((3, 2)), np.zeros((4, 3))], "same channels"),
        ([np.zeros((3, 2)), np.full((4, 2), np.nan)], "X\\[1\\] contains NaN"),
    ],
)
def test_bad_sequences_are_refused_with_what_is_wrong(X, message):
    clf = RNNClassifier(**TINY).fit(*_ragged(6))
    with pytest.raises(ValueError, match=message):
        clf.predict(X)


@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("method", ["predict", "score"])
def test_predicting_with_other_channels_than_fitted_is_a_shape_error(Estimator, channels, method):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((8, 5, 2)), np.arange(8) % 2
    est = Estimator(**TINY).fit(X, y)
    other = rng.standard_normal((4, 5, channels))
    call = (lambda: est.score(other, y[:4])) if method == "score" else (lambda: est.predict(other))
    with pytest.raises(
        ShapeError,
        match=f"X has {channels} channels? per step, but {Estimator.__name__} was fitted with 2",
    ):
        call()


# -- kept as a run directory ---------------------------------------------------------------------


def _labelled(n: int = 30, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 7, 2))
    return X, np.where(X[:, :, 0].sum(axis=1) > 0, "up", "down")


def test_a_saved_classifier_loads_and_predicts_as_the_fitted_one(tmp_path, capsys):
    import json

    import rnnkit
    from rnnkit.cli import main

    X, y = _labelled()
    clf = RNNClassifier(hidden_size=6, max_iter=5, random_state=np.random.RandomState(0), **FIXED)
    clf.fit(X, y)
    out = clf.save(tmp_path / "clf")
    again = RNNClassifier.load(out)
    assert isinstance(rnnkit.load(out), RNNClassifier)
    assert list(again.classes_) == ["down", "up"] and again.loss_curve_ == clf.loss_curve_
    assert again.get_params()["hidden_size"] == 6
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    assert (again.predict(X) == clf.predict(X)).all()
    np.savez(tmp_path / "new.npz", x=X[:4])
    capsys.readouterr()
    assert main(["predict", str(out), str(tmp_path / "new.npz"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["label"] for r in rows] == list(clf.predict(X[:4]))
    assert [r["p_up"] for r in rows] == list(clf.predict_proba(X[:4])[:, 1])
    np.savez(tmp_path / "three.npz", x=np.zeros((2, 5, 3)))
    assert main(["predict", str(out), str(tmp_path / "three.npz")]) == 2
    assert "three.npz: 3 channel(s) per step, but" in capsys.readouterr().err


def test_a_saved_regressor_restores_its_target_scaling(tmp_path):
    X, _ = _labelled()
    y = np.stack([X[:, :, 0].sum(axis=1), 100 + X[:, -1, 1]], axis=1)
    reg = RNNRegressor(hidden_size=6, max_iter=5, random_state=0, **FIXED).fit(X, y)
    again = RNNRegressor.load(reg.save(tmp_path / "reg"))
    np.testing.assert_array_equal(again.predict(X), reg.predict(X))
    with pytest.raises(Exception, match="holds a RNNRegressor, not a RNNClassifier"):
        RNNClassifier.load(tmp_path / "reg")


def test_saving_refuses_an_existing_run_unless_overwrite(tmp_path):
    X, y = _labelled()
    clf = RNNClassifier(hidden_size=4, max_iter=2, random_state=0, **FIXED).fit(X, y)
    clf.save(tmp_path / "c")
    with pytest.raises(Exception, match="already holds a run"):
        clf.save(tmp_path / "c")
    clf.save(tmp_path / "c", overwrite=True)
    assert RNNClassifier.load(tmp_path / "c").n_iter_ == 2


# -- with default arguments: settings chosen on folds of the training data -----------------------


def test_default_arguments_choose_the_settings_on_held_out_folds():
    """``RNNClassifier()`` searches what is left "auto" (here H and the direction, with a
    small budget) on stratified folds; the table and the choice are kept, reproducibly."""
    X, y = _ragged(48, seed=3)
    make = lambda: RNNClassifier(  # noqa: E731
        learning_rate=1e-2, frame=1, search_budget="4", random_state=0
    )
    clf = make().fit(X, y)
    assert len(clf.search_) == 4 and sum(t["folds"] for t in clf.search_) == 4  # the budget
    chosen = clf.best_params_
    assert {chosen["hidden_size"], chosen["bidirectional"]} <= {32, 64, False, True}
    assert chosen["max_iter"] == clf.n_iter_ >= 1  # the epochs early stopping kept
    assert clf.search_[0]["hidden_size"] == chosen["hidden_size"]  # the best ranks first
    assert clf.score(X, y) > 0.75 and not clf.not_learned_
    again = make().fit(X, y)
    assert again.best_params_ == chosen
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_long_sequences_are_read_in_frames_and_predicted_the_same_way(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, 150, 1))
    y = (X[:, :75, 0].mean(axis=1) > 0).astype(int)
    clf = RNNClassifier(hidden_size=8, max_iter=3, search_budget="2", random_state=0)
    clf.set_params(bidirectional=False, learning_rate=1e-2).fit(X, y)
    assert clf.best_params_["frame"] in (3, 6)  # 150 steps → at most 64 read
    assert clf.model_.config.rnn.input_size == clf.best_params_["frame"]
    again = RNNClassifier.load(clf.save(tmp_path / "c"))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


def test_a_network_that_has_not_learned_says_so():
    X, y = np.zeros((30, 6, 1)), np.array([0] * 24 + [1] * 6)  # nothing tells the classes apart
    with pytest.warns(UserWarning, match="the network has not learned"):
        clf = RNNClassifier(
            hidden_size=4, bidirectional=False, learning_rate=1e-2, frame=1, search_budget="1"
        ).fit(X, y)
    assert clf.not_learned_
