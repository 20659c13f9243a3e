"""The classification job: it learns, it counts right, it holds out fairly, it refuses nonsense."""

import json

import numpy as np
import pytest

import rnnkit
from rnnkit.data.sequences import Sequences, pad_sequences
from rnnkit.errors import ConfigError, DataError, ShapeError
from rnnkit.jobs import Fit, Net, build_model, train_network
from rnnkit.jobs.classify import (
    confusion_matrix,
    frame_choices,
    not_learned,
    rank,
    run_classification,
    stratified_split,
    with_overrides,
)
from rnnkit.training import Budget, Optimization, TrainingDiverged, gradients, read_log
from rnnkit.training.arrays import evaluate_arrays


def _toy(n: int, seed: int) -> Sequences:
    """Two classes of 2-channel sequences of 3–9 steps: the class sets the sign of channel 0."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    seqs = [
        np.column_stack([(1 - 2 * c) + 0.3 * rng.standard_normal(T), rng.standard_normal(T)])
        for c, T in zip(y, rng.integers(3, 10, n))
    ]
    x, lengths = pad_sequences(seqs)
    return Sequences(x, lengths, y, ("plus", "minus"))


@pytest.mark.parametrize("cell", ["gru", "elman", "ffnn"])
def test_a_separable_task_is_learned_by_every_kind_of_net(cell):
    report = run_classification(
        _toy(48, 0),
        _toy(40, 1),
        [Net(cell=cell, hidden_size=6)],
        Fit(epochs=15, batch_size=8, lr=2e-2),
        seed=0,
    )
    (row,) = report["results"]
    assert row["accuracy"] >= 0.95
    assert np.trace(row["confusion"]) == round(row["accuracy"] * 40)
    assert report["classes"] == ["plus", "minus"] and report["lengths"] == [3, 9]


def test_early_stopping_keeps_the_best_epoch_and_stops_after_the_patience():
    data, rng = _toy(40, 0), np.random.default_rng(0)
    model = build_model(
        Net(cell="gru", hidden_size=4),
        input_size=2,
        output_size=2,
        steps=9,
        readout="last_step",
        loss="cross_entropy",
        rng=rng,
    )
    flipped = (data.x, 1 - data.y, data.lengths)  # learning the task makes this loss worse
    trained = train_network(
        model,
        data.x,
        data.y,
        Fit(epochs=30, lr=5e-2, patience=3),
        rng=rng,
        lengths=data.lengths,
        validation=flipped,
    )
    assert trained.best_epoch == 1 and trained.epochs == 4 and trained.stopped_by == "patience"
    assert evaluate_arrays(model, *flipped) == pytest.approx(trained.val_loss, rel=1e-6)


def test_the_job_s_fit_names_the_engine_s_options_so_they_are_taken_by_name():
    fit = Fit(
        epochs=7,
        batch_size=3,
        optimizer="sgd",
        lr=0.25,
        clip=2.0,
        patience=4,
        schedule="cosine",
        on_nonfinite="stop",
    )
    o, b = Optimization.of(fit), Budget.of(fit)
    assert (o.optimizer, o.lr, o.clip, o.schedule, o.on_nonfinite) == (
        "sgd",
        0.25,
        2.0,
        "cosine",
        "stop",
    )
    assert (b.epochs, b.patience, b.steps) == (7, 4, 0)
    with pytest.raises(ConfigError, match="on_nonfinite"):
        Fit(on_nonfinite="ignore")


def _trained_parameters(run_dir, cell="gru"):
    return rnnkit.load(run_dir / cell / "last").params


def _stop_after(calls: int):
    """A stop request that names SIGINT from its ``calls``-th call (one call per batch)."""
    count = iter(range(10**9))
    return lambda: "SIGINT" if next(count) >= calls else None


def test_a_job_stopped_mid_epoch_resumes_to_the_parameters_of_an_uninterrupted_one(tmp_path):
    data, test, fit = _toy(30, 0), _toy(10, 1), Fit(epochs=6, batch_size=4, lr=2e-2, patience=2)
    nets = [Net(cell="gru", hidden_size=4), Net(cell="ffnn", hidden_size=4)]

    def run(d, **kw):
        return run_classification(
            data, test, nets, fit, val_fraction=0.25, run_dir=tmp_path / d, **kw
        )

    straight = run("straight")
    stopped = run("stopped", stop=_stop_after(11))  # in the second epoch of the gru
    assert stopped["stopped_by"] == "SIGINT" and stopped["results"] == []
    assert read_log(tmp_path / "stopped" / "gru" / "metrics.jsonl")[-1]["step"] == 11
    resumed = run("stopped")

    def timeless(report):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in report["results"]]

    assert timeless(resumed) == timeless(straight) and len(timeless(straight)) == 2
    for cell in ("gru", "ffnn"):
        a, b = (
            _trained_parameters(tmp_path / "straight", cell),
            _trained_parameters(tmp_path / "stopped", cell),
        )
        for n in a:
            np.testing.assert_array_equal(a[n], b[n], err_msg=f"{cell} {n}")
    steps = [r["step"] for r in read_log(tmp_path / "stopped" / "gru" / "metrics.jsonl")]
    assert steps == [r["step"] for r in read_log(tmp_path / "straight" / "gru" / "metrics.jsonl")]


def _nan_at(monkeypatch, call: int) -> None:
    """Make the ``call``-th gradient computation return a NaN loss and gradients."""
    real, calls = gradients.full_bptt, iter(range(1, 10**9))

    def poisoned(*args, **kwargs):
        step = real(*args, **kwargs)
        if next(calls) == call:
            step.grads[next(iter(step.grads))][...] = np.nan
            return step._replace(loss=float("nan"))
        return step

    monkeypatch.setattr(gradients, "full_bptt", poisoned)


@pytest.mark.parametrize("action", ["skip", "reduce-lr"])
def test_a_nan_update_is_skipped_and_counted_and_training_goes_on(monkeypatch, action):
    _nan_at(monkeypatch, 3)
    report = run_classification(
        _toy(24, 0),
        _toy(10, 1),
        [Net(cell="gru", hidden_size=4)],
        Fit(epochs=3, batch_size=8, lr=2e-2, on_nonfinite=action),
    )
    (row,) = report["results"]
    assert row["skipped"] == 1 and row["epochs"] == 3 and np.isfinite(row["train_loss"])


def test_a_nan_update_stops_the_job_when_told_to_and_keeps_the_last_good_checkpoint(
    monkeypatch, tmp_path
):
    _nan_at(monkeypatch, 5)  # the second batch of the second epoch
    with pytest.raises(TrainingDiverged, match="on-nonfinite stop"):
        run_classification(
            _toy(24, 0),
            _toy(10, 1),
            [Net(cell="gru", hidden_size=4)],
            Fit(epochs=3, batch_size=8, on_nonfinite="stop"),
            run_dir=tmp_path,
        )
    from rnnkit.io.model_files import load_with_state

    model, state = load_with_state(tmp_path / "gru" / "last")
    assert all(np.isfinite(w).all() for w in model.params.values())
    assert state["step"] == 4  # 3 updates of the first epoch, 1 of the second


def test_frames_shorten_the_sequences_the_net_reads():
    report = run_classification(
        _toy(20, 0), _toy(10, 1), [Net(cell="ffnn", hidden_size=4)], Fit(epochs=1), frame=4
    )
    assert report["frame"] == 4 and report["channels"] == 2
    assert report["results"][0]["description"].startswith("ffnn window=3 ")  # ⌈9 / 4⌉ frames


def test_validation_inside_the_job_holds_out_training_sequences_only():
    report = run_classification(
        _toy(40, 0),
        _toy(20, 1),
        [Net(cell="gru", hidden_size=4)],
        Fit(epochs=3, lr=2e-2),
        val_fraction=0.25,
    )
    assert report["train_sequences"] == 40 and report["results"][0]["best_epoch"] <= 3


def test_the_confusion_matrix_counts_true_rows_against_predicted_columns():
    m = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    np.testing.assert_array_equal(m, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])


def test_a_stratified_split_holds_out_part_of_every_class():
    data = _toy(30, 0)
    kept, held = stratified_split(data, 0.3, np.random.default_rng(0))
    assert len(kept.y) + len(held.y) == 30
    assert set(held.y.tolist()) == {0, 1} and set(kept.y.tolist()) == {0, 1}


def test_one_class_cannot_be_classified():
    data = _toy(10, 0)
    one = Sequences(data.x, data.lengths, np.zeros(10, dtype=np.int64), ("only",))
    with pytest.raises(DataError, match="at least two classes"):
        run_classification(one, one, [Net(cell="gru", hidden_size=2)], Fit(epochs=1))


@pytest.mark.parametrize("channels", [1, 3])
def test_a_test_split_with_other_channels_is_a_shape_error_naming_both_counts(channels):
    train_set, test_set = _toy(10, 0), _toy(10, 1)
    x = np.repeat(test_set.x[:, :, :1], channels, axis=2)
    other = Sequences(x, test_set.lengths, test_set.y, test_set.classes)
    with pytest.raises(
        ShapeError,
        match=f"the test split has {channels} channels? per step, but the training split has 2",
    ):
        run_classification(train_set, other, [Net(cell="gru", hidden_size=2)], Fit(epochs=1))


def test_long_series_are_read_in_frames_of_at_most_64_steps():
    assert frame_choices(24) == [1] and frame_choices(64) == [1]
    assert frame_choices(150) == [3, 6] and frame_choices(100) == [2, 4]


def test_options_given_replace_the_preset_and_unknown_ones_are_refused():
    net, fit = with_overrides(Net(), Fit(), hidden_size=7, lr=0.5, cell=None)
    assert (net.hidden_size, fit.lr, net.cell) == (7, 0.5, "gru")
    with pytest.raises(ConfigError):
        with_overrides(Net(), Fit(), colour="red")


@pytest.mark.slow
@pytest.mark.parametrize(
    "dataset", ["ItalyPowerDemand", "GunPoint", "JapaneseVowels", "BasicMotions"]
)
def test_the_searched_network_beats_the_euclidean_and_feed_forward_baselines(dataset):
    """No presets: the default search on the training split, the test split scored once."""
    pytest.importorskip("sktime")
    from rnnkit.jobs.classify import classify, configure, load

    _, train_set, test_set = load(dataset)
    report = classify(train_set, test_set, configure({"dataset": dataset}))
    by = {r["model"]: r["accuracy"] for r in report["results"]}
    others = [a for m, a in by.items() if m in ("ffnn", "1nn-euclidean") and a is not None]
    assert by["gru"] >= max(others) and not report["not_learned"]
    majority = np.bincount(test_set.y).max() / len(test_set.y)
    assert by["gru"] > majority and by["gru"] >= by["1nn-dtw"] - 0.05
    assert report["search"]["seconds"] <= 180


# -- prediction from a saved run ----------------------------------------------------------------


def _save_npz(path, data: Sequences, labelled: bool = True):
    arrays = {"x": data.x, "lengths": data.lengths}
    if labelled:
        arrays["y"] = np.array(data.classes)[data.y]
    np.savez(path, **arrays)
    return path


def _save_csv(path, data: Sequences, names=("a", "b"), labelled: bool = True):
    lines = ["sequence," + ("label," if labelled else "") + ",".join(names)]
    for n in range(len(data.y)):
        for t in range(data.lengths[n]):
            label = f"{data.classes[data.y[n]]}," if labelled else ""
            lines.append(f"s{n},{label}" + ",".join(repr(float(v)) for v in data.x[n, t]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A tiny classify run on NPZ files (a search over the direction only, the gru, the ffnn
    and the 1-NN baselines), and its report."""
    from rnnkit.jobs.classify import run_job

    d = tmp_path_factory.mktemp("classify")
    train, test = _save_npz(d / "train.npz", _toy(40, 0)), _save_npz(d / "test.npz", _toy(30, 1))
    given = dict(
        budget="4",
        train=str(train),
        test=str(test),
        hidden_size=5,
        ffnn_hidden=5,
        epochs=4,
        batch_size=8,
        lr=2e-2,
        frame=2,
    )
    report = run_job(given, d / "run", handle_signals=False)
    return d, report


def test_the_saved_run_predicts_the_test_split_as_the_trained_network_did(saved_run):
    from rnnkit.jobs import predicting

    d, report = saved_run
    assert json.loads((d / "run" / "run.json").read_text()) == {
        "job": "classify",
        "predicts": "gru",
    }
    kept = json.loads((d / "run" / "result.json").read_text())  # what rnnkit report shows
    assert kept["results"] == json.loads(json.dumps(report["results"]))
    p = predicting.load(d / "run")
    assert p.job == "classify" and p.source == d / "run" / "gru" / "last"  # retrained on all
    assert p.model.meta["preprocessing"]["frame"] == 2 and p.classes == ["minus", "plus"]
    table = p.predict_file(d / "test.npz")
    assert table.columns == ["id", "label", "p_minus", "p_plus"]
    truth = _toy(30, 1)
    true_ids = [p.classes.index(truth.classes[k]) for k in truth.y]  # the file's sorted order
    predicted = np.array([p.classes.index(row[1]) for row in table.rows])
    (gru,) = [r for r in report["results"] if r["model"] == "gru"]
    np.testing.assert_array_equal(
        confusion_matrix(np.array(true_ids), predicted, 2), gru["confusion"]
    )
    proba = np.array([row[2:] for row in table.rows])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert any("agree with" in note for note in table.notes)


def test_the_search_varies_only_what_was_not_given_and_ranks_every_table(saved_run):
    d, report = saved_run
    search = report["search"]
    assert search["trainings"] == 4 and search["stopped_by"] == "schedule"  # 2 + 1 + 1: 3 folds
    table = search["table"]
    assert [r["rank"] for r in table] == [1, 2] and [r["best"] for r in table] == [True, False]
    assert {(r["frame"], r["hidden_size"], r["lr"]) for r in table} == {(2, 5, 2e-2)}
    assert {r["bidirectional"] for r in table} == {False, True}
    chosen = search["chosen"]
    assert report["frame"] == 2 and chosen["bidirectional"] == table[0]["bidirectional"]
    assert json.loads((d / "run" / "search.json").read_text()) == search
    results = report["results"]
    assert {r["model"] for r in results} == {"gru", "ffnn", "1nn-euclidean", "1nn-dtw"}
    assert results[0]["best"] and all(r["rank"] == k + 1 for k, r in enumerate(results[:3]))
    accuracies = [r["accuracy"] for r in results if r["accuracy"] is not None]
    assert accuracies == sorted(accuracies, reverse=True)
    (euclid,) = [r for r in results if r["model"] == "1nn-euclidean"]
    assert euclid["accuracy"] is None and "differ in length" in euclid["description"]
    assert report["predicts"] == "gru" and report["not_learned"] in (True, False)


def test_a_net_that_did_not_beat_the_majority_or_lower_its_loss_is_flagged():
    row = {"initial_loss": 0.69, "final_loss": 0.2}
    assert not_learned(row, (0.9, 0.5)) is None
    assert "not above the majority class's 0.600" in not_learned(row, (0.6, 0.6))
    assert "never fell (0.69 → 0.69)" in not_learned({**row, "final_loss": 0.69}, None)


def test_an_untrainable_task_is_reported_as_not_learned(tmp_path):
    from rnnkit.jobs.classify import run_job

    data = _toy(30, 0)
    rng = np.random.default_rng(3)
    noise = Sequences(rng.standard_normal(data.x.shape), data.lengths, data.y, data.classes)
    train = _save_npz(tmp_path / "noise.npz", noise)
    given = dict(train=str(train), hidden_size=3, epochs=1, lr=1e-5, budget="3", baseline=False)
    report = run_job(given, tmp_path / "run", handle_signals=False)
    assert report["not_learned"] is True and "never fell" in report["not_learned_reason"]
    assert "--budget" in report["advice"]


def test_ranking_puts_the_most_accurate_first_and_marks_ties_best():
    ranked = rank(
        [
            {"model": "a", "accuracy": 0.8},
            {"model": "b", "accuracy": None},
            {"model": "c", "accuracy": 0.9},
            {"model": "d", "accuracy": 0.9},
        ]
    )
    assert [r["model"] for r in ranked] == ["c", "d", "a", "b"]
    assert [r["best"] for r in ranked] == [True, True, False, False]
    assert [r["rank"] for r in ranked] == [1, 2, 3, None]


def test_python_prediction_takes_raw_arrays_and_matches_the_file_s(saved_run):
    from rnnkit.jobs import predicting

    d, _ = saved_run
    p = predicting.load(d / "run")
    truth = _toy(30, 1)
    proba = p.predict_proba(truth.x, truth.lengths)
    assert proba.shape == (30, 2)
    table = p.predict_file(d / "test.npz")
    np.testing.assert_allclose(proba, np.array([row[2:] for row in table.rows]), rtol=1e-12)
    assert p.predict(truth.x, truth.lengths) == [row[1] for row in table.rows]


def test_a_long_form_csv_without_labels_is_classified_as_its_npz_twin(saved_run, tmp_path):
    from rnnkit.jobs import predicting

    d, _ = saved_run
    p = predicting.load(d / "run")
    truth = _toy(30, 1)
    table = p.predict_file(_save_csv(tmp_path / "new.csv", truth, labelled=False))
    twin = p.predict_file(_save_npz(tmp_path / "new.npz", truth, labelled=False))
    assert [row[0] for row in table.rows] == [f"s{n}" for n in range(30)]
    assert [row[0] for row in twin.rows] == list(range(30))
    np.testing.assert_allclose(
        np.array([row[2:] for row in table.rows]), np.array([row[2:] for row in twin.rows])
    )
    assert not any("agree with" in note for note in twin.notes)


def test_new_sequences_with_other_channels_are_refused_naming_the_file_and_counts(
    saved_run, tmp_path
):
    from rnnkit.jobs import predicting

    d, _ = saved_run
    p = predicting.load(d / "run")
    truth = _toy(6, 1)
    three = Sequences(
        np.repeat(truth.x, 2, axis=2)[:, :, :3], truth.lengths, truth.y, truth.classes
    )
    path = _save_npz(tmp_path / "three.npz", three)
    with pytest.raises(
        ShapeError, match=r"three.npz has 3 channels per step, but the run .* on 2"
    ):
        p.predict_file(path)
    with pytest.raises(ShapeError, match="1 channel per step"):
        p.predict_proba(truth.x[:, :, :1], truth.lengths)


def test_csv_channels_are_matched_by_name_when_the_run_knows_them(tmp_path):
    from rnnkit.jobs import predicting
    from rnnkit.jobs.classify import run_job

    train, test = _toy(30, 0), _toy(12, 1)
    given = dict(
        train=str(_save_csv(tmp_path / "train.csv", train)),
        test=str(_save_csv(tmp_path / "test.csv", test)),
        hidden_size=4,
        epochs=2,
        baseline=False,
        search=False,
    )
    run_job(given, tmp_path / "run", handle_signals=False)
    p = predicting.load(tmp_path / "run")
    assert p.channel_names == ["a", "b"]
    swapped = Sequences(test.x[:, :, ::-1].copy(), test.lengths, test.y, test.classes)
    same = p.predict_file(tmp_path / "test.csv")
    other = p.predict_file(_save_csv(tmp_path / "swapped.csv", swapped, names=("b", "a")))
    np.testing.assert_allclose([r[2:] for r in same.rows], [r[2:] for r in other.rows])
    with pytest.raises(ShapeError, match=r"renamed.csv has the channels a, c, but the run"):
        p.predict_file(_save_csv(tmp_path / "renamed.csv", test, names=("a", "c")))


def test_a_resumed_run_keeps_its_search_and_a_signal_in_the_search_saves_nothing(tmp_path):
    from rnnkit.jobs.classify import classify, configure, run_job

    train = _save_npz(tmp_path / "train.npz", _toy(30, 0))
    given = dict(train=str(train), hidden_size=3, epochs=2, budget="2", baseline=False)
    first = run_job(given, tmp_path / "run", handle_signals=False)
    lines: list[str] = []
    again = run_job({}, tmp_path / "run", resume=True, handle_signals=False, log=lines.append)
    assert again["search"] == first["search"] and any("search was done before" in x for x in lines)
    assert not any(x.startswith("search 1/") for x in lines)

    stopped = classify(_toy(30, 0), _toy(10, 1), configure(given), stop=lambda: "SIGINT")
    assert stopped == {"stopped_by": "SIGINT", "results": [], "in_search": True}


def test_training_options_given_apply_to_the_feed_forward_baseline_too(saved_run):
    _, report = saved_run
    (ffnn,) = [r for r in report["results"] if r["model"] == "ffnn"]
    assert ffnn["epochs"] == 4  # --epochs 4 was given; its own default is 100


def test_a_csv_with_its_own_id_and_label_columns_trains_and_predicts(tmp_path):
    """``--id-column`` and ``--label-column`` name a CSV's columns; the run keeps them, so
    ``predict`` reads new files with the same header."""
    from rnnkit.jobs import predicting
    from rnnkit.jobs.classify import run_job

    def renamed(path):
        text = path.read_text().split("\n", 1)
        path.write_text(
            text[0].replace("sequence", "window").replace("label", "gesture") + "\n" + text[1]
        )
        return path

    train = renamed(_save_csv(tmp_path / "train.csv", _toy(30, 0)))
    new = renamed(_save_csv(tmp_path / "new.csv", _toy(8, 1), labelled=False))
    given = dict(train=str(train), id_column="window", label_column="gesture", search=False)
    run_job({**given, "hidden_size": 5, "epochs": 3, "baseline": False}, tmp_path / "r")
    table = predicting.load(tmp_path / "r").predict_file(new)
    assert [row[0] for row in table.rows] == [f"s{n}" for n in range(8)]
    with pytest.raises(DataError, match="label"):
        run_job({**given, "label_column": "label"}, tmp_path / "r2")


def test_the_report_says_when_the_network_is_behind_a_baseline_on_the_test_split():
    from rnnkit.jobs.classify import BEHIND_BY, behind

    gru = {"accuracy": 0.70, "description": "gru H=32"}
    dtw = {"accuracy": 0.80, "description": "1-NN DTW"}
    skipped = {"accuracy": None, "description": "1-NN Euclidean (not run)"}
    late = behind(gru, [skipped, dtw])
    assert late["flag"] and "0.700 is more than 0.05 below 1-NN DTW's 0.800" in late["message"]
    close = {"accuracy": 0.80 - BEHIND_BY, "description": "gru"}
    assert not behind(close, [dtw])["flag"] and not behind(gru, [skipped])["flag"]
