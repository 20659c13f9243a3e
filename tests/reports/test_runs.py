"""Reading run directories for the report: networks, options, notes, final figures."""

import json

import pytest

from rnnkit.errors import ConfigError
from rnnkit.reports.runs import (
    differing,
    final_figures,
    flatten,
    network_dirs,
    read_run,
    read_runs,
)

from .making import make_run, records


def test_a_run_gives_its_records_its_options_flattened_and_its_job(tmp_path):
    path = make_run(tmp_path / "a", records(5, eval_every=2), {"lr": 0.01, "steps": 5})
    run = read_run(path)
    assert run.label == "a" and run.job == "train" and run.notes == []
    [net] = run.networks
    assert net.label == "a" and net.note == ""
    assert [r["step"] for r in net.records] == [1, 2, 3, 4, 5]
    assert net.options == {
        "job": "train",
        "lr": 0.01,
        "steps": 5,
        "model.rnn.cell": "gru",
        "model.rnn.hidden_size": 8,
        "model.dtype": "float32",
    }


def test_the_networks_below_a_run_are_read_and_its_checkpoint_store_is_not(tmp_path):
    path = tmp_path / "run"
    make_run(path / "gru", records(3), {"lr": 0.01})
    make_run(path / "baseline", records(4), {"lr": 0.02})
    (path / "notes").mkdir()
    (path / "run.json").write_text(json.dumps({"job": "forecast", "predicts": "gru"}))
    run = read_run(path)
    assert [n.label for n in run.networks] == ["run/baseline", "run/gru"]
    assert run.job == "forecast"
    assert network_dirs(path / "gru") == [path / "gru"]  # not gru/checkpoints


def test_a_dangling_last_keeps_the_metrics_and_says_why_there_are_no_options(tmp_path):
    path = make_run(tmp_path / "a", records(4), {"lr": 0.01})
    target = (path / "last").resolve()
    for f in target.iterdir():
        f.unlink()
    target.rmdir()
    [net] = read_run(path).networks
    assert net.options is None
    assert "dangling" in net.note
    assert len(net.records) == 4


def test_a_run_with_only_a_metrics_log_has_no_options(tmp_path):
    [net] = read_run(make_run(tmp_path / "a", records(2))).networks
    assert net.options is None and net.note == "no last checkpoint: no options"


def test_an_unreadable_last_is_named(tmp_path):
    path = make_run(tmp_path / "a", records(2), {"lr": 0.01})
    (path / "last" / "manifest.json").write_text("{")
    [net] = read_run(path).networks
    assert net.options is None and net.note.startswith("last is unreadable")


def test_a_network_without_a_metrics_log_says_it_has_no_curves(tmp_path):
    [net] = read_run(make_run(tmp_path / "a", None, {"lr": 0.01})).networks
    assert net.records == [] and net.note == "no metrics.jsonl: no curves"
    assert net.options is not None


def test_a_directory_without_a_run_is_a_config_error(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"empty: holds no run \(no last, best or metrics"):
        read_run(tmp_path / "empty")
    with pytest.raises(ConfigError, match="missing: no such run directory"):
        read_run(tmp_path / "missing")


def test_a_bad_result_file_is_a_note_not_an_error(tmp_path):
    path = make_run(tmp_path / "a", records(2))
    (path / "result.json").write_text("[1, 2]")
    run = read_run(path)
    assert run.result is None and run.notes == [
        "result.json holds no JSON object; its results are left out"
    ]
    (path / "result.json").write_text("{not json")
    assert "result.json is unreadable" in read_run(path).notes[0]


def test_pictures_of_the_run_and_its_networks_are_found(tmp_path):
    path = make_run(tmp_path / "run" / "gru", records(2)).parent  # run/ holds no log
    (path / "forecast.png").write_bytes(b"\x89PNG")
    (path / "gru" / "flow.SVG").write_text("<svg/>")
    (path / "gru" / "notes.txt").write_text("x")
    (path / ".hidden.png").write_bytes(b"")
    assert read_run(path).pictures == [path / "forecast.png", path / "gru" / "flow.SVG"]


def test_runs_of_the_same_name_are_labelled_by_their_path(tmp_path):
    a = make_run(tmp_path / "x" / "run", records(1))
    b = make_run(tmp_path / "y" / "run", records(1))
    c = make_run(tmp_path / "other", records(1))
    assert [r.label for r in read_runs([a, b, c])] == [str(a), str(b), "other"]


def test_flatten_joins_nested_names_with_dots():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": None,
    }


def test_differing_lists_the_options_not_equal_everywhere_including_missing_ones():
    a = {"lr": 0.1, "seed": 0, "cell": "gru", "sizes": [1, 2]}
    b = {"lr": 0.2, "seed": 0, "cell": "gru", "sizes": [1, 2], "extra": True}
    c = {"lr": 0.1, "seed": 0, "cell": "lstm", "sizes": [1, 2]}
    assert differing([a, b, c]) == ["lr", "cell", "extra"]
    assert differing([a, dict(a)]) == []
    assert differing([a]) == ["lr", "seed", "cell", "sizes"]
    assert differing([{"x": 1}, {"x": 1.0}]) == ["x"]  # 1 and 1.0 print differently


def test_final_figures_of_a_log():
    log = records(6, eval_every=2)
    log[-1]["loss"] = None  # a non-finite loss, written as null
    log[3]["val_loss"] = 1.5  # step 4: the best
    log[5]["val_accuracy"] = 0.75
    assert final_figures(log) == {
        "last_step": 6,
        "last_loss": 3.0 / 5,
        "best_val_loss": 1.5,
        "best_step": 4,
        "last_val_loss": 2.0 + 1.0 / 6,
        "last_val_accuracy": 0.75,
        "time": pytest.approx(0.6),
    }
    assert final_figures([]) == {}
    assert final_figures([{"step": 3}]) == {"last_step": 3}
