"""The classification job: it learns, it counts right, it holds out fairly, it refuses nonsense."""

import numpy as np
import pytest

from rnnkit.data.sequences import DATASETS, Sequences, pad_sequences
from rnnkit.errors import ConfigError, DataError, ShapeError
from rnnkit.training.arrays import evaluate_arrays
from rnnkit.jobs import Fit, Net, build_model, train
from rnnkit.jobs.classify import (PRESETS, confusion_matrix, defaults_for, run_classification,
                                  stratified_split, with_overrides)


def _toy(n: int, seed: int) -> Sequences:
    """Two classes of 2-channel sequences of 3–9 steps: the class sets the sign of channel 0."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    seqs = [np.column_stack([(1 - 2 * c) + 0.3 * rng.standard_normal(T),
                             rng.standard_normal(T)])
            for c, T in zip(y, rng.integers(3, 10, n))]
    x, lengths = pad_sequences(seqs)
    return Sequences(x, lengths, y, ("plus", "minus"))


@pytest.mark.parametrize("cell", ["gru", "elman", "ffnn"])
def test_a_separable_task_is_learned_by_every_kind_of_net(cell):
    report = run_classification(_toy(48, 0), _toy(40, 1), [Net(cell=cell, hidden_size=6)],
                                Fit(epochs=15, batch_size=8, lr=2e-2), seed=0)
    (row,) = report["results"]
    assert row["accuracy"] >= 0.95
    assert np.trace(row["confusion"]) == round(row["accuracy"] * 40)
    assert report["classes"] == ["plus", "minus"] and report["lengths"] == [3, 9]


def test_early_stopping_keeps_the_best_epoch_and_stops_after_the_patience():
    data, rng = _toy(40, 0), np.random.default_rng(0)
    model = build_model(Net(cell="gru", hidden_size=4), input_size=2, output_size=2, steps=9,
                        readout="last_step", loss="cross_entropy", rng=rng)
    flipped = (data.x, 1 - data.y, data.lengths)  # learning the task makes this loss worse
    summary = train(model, data.x, data.y, Fit(epochs=30, lr=5e-2, patience=3), rng=rng,
                    lengths=data.lengths, validation=flipped)
    assert summary["best_epoch"] == 1 and summary["epochs"] == 4
    assert evaluate_arrays(model, *flipped) == pytest.approx(summary["val_loss"], rel=1e-6)


def test_frames_shorten_the_sequences_the_net_reads():
    report = run_classification(_toy(20, 0), _toy(10, 1), [Net(cell="ffnn", hidden_size=4)],
                                Fit(epochs=1), frame=4)
    assert report["frame"] == 4 and report["channels"] == 2
    assert report["results"][0]["description"].startswith("ffnn window=3 ")  # ⌈9 / 4⌉ frames


def test_validation_inside_the_job_holds_out_training_sequences_only():
    report = run_classification(_toy(40, 0), _toy(20, 1), [Net(cell="gru", hidden_size=4)],
                                Fit(epochs=3, lr=2e-2), val_fraction=0.25)
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
    with pytest.raises(ShapeError, match=f"the test split has {channels} channels? per step, "
                                         "but the training split has 2"):
        run_classification(train_set, other, [Net(cell="gru", hidden_size=2)], Fit(epochs=1))


def test_every_bundled_set_has_a_documented_preset_and_files_get_the_general_one():
    assert set(PRESETS) == set(DATASETS)
    assert defaults_for("Japanese_Vowels") == PRESETS["japanesevowels"]
    assert defaults_for(None).net.cell == "gru"


def test_options_given_replace_the_preset_and_unknown_ones_are_refused():
    net, fit = with_overrides(Net(), Fit(), hidden_size=7, lr=0.5, cell=None)
    assert (net.hidden_size, fit.lr, net.cell) == (7, 0.5, "gru")
    with pytest.raises(ConfigError):
        with_overrides(Net(), Fit(), colour="red")


@pytest.mark.slow
@pytest.mark.parametrize("dataset, target", [("ItalyPowerDemand", 0.90), ("GunPoint", 0.85),
                                             ("JapaneseVowels", 0.90), ("BasicMotions", 0.90)])
def test_the_presets_reach_the_target_accuracy_on_the_published_test_split(dataset, target):
    pytest.importorskip("sktime")
    from rnnkit.jobs.classify import load

    preset = defaults_for(dataset)
    _, train_set, test_set = load(dataset)
    report = run_classification(train_set, test_set, [preset.net], preset.fit,
                                frame=preset.frame)
    assert report["results"][0]["accuracy"] >= target
