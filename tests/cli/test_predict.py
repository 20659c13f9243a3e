"""``rnnkit predict`` and ``rnnkit info`` on a run, ``rnnkit.load`` of a run or a checkpoint;
which checkpoint of a run predicts (``jobs.predicting.checkpoint_of``)."""

import csv
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import rnnkit
from rnnkit.cli import main
from rnnkit.errors import CheckpointError
from rnnkit.jobs import predicting
from rnnkit.jobs.charmodel import TextPredictor


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A short character-model run."""
    d = tmp_path_factory.mktemp("predict")
    text = d / "text.txt"
    text.write_text("def f(x):\n    return x + 1\n" * 200)
    out = d / "run"
    argv = ["train", str(text), "--steps", "12", "--eval-every", "6", "--hidden-size", "8"]
    assert main([*argv, "--seq-len", "16", "--batch-size", "4", "--out", str(out)]) == 0
    return out


@pytest.fixture
def prompts(tmp_path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("def f\nreturn \n")
    return path


def test_predict_prints_the_run_s_prediction_as_csv(run, prompts, capsys):
    capsys.readouterr()
    assert main(["predict", str(run), str(prompts), "--top", "2"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    expected = predicting.predictor_of(run).predict_file(prompts, k=2)
    assert rows[0] == expected.columns
    assert len(rows) == 1 + len(expected.rows) == 1 + 2 * 2
    assert [r[:3] for r in rows[1:]] == [[str(v) for v in r[:3]] for r in expected.rows]


def test_predict_writes_json_to_a_file(run, prompts, tmp_path, capsys):
    out = tmp_path / "next.json"
    assert main(["predict", str(run), str(prompts), "--json", "-o", str(out)]) == 0
    assert f"rows written to {out}" in capsys.readouterr().err
    table = json.loads(out.read_text())
    assert len(table["rows"]) == 2 * 5  # --top defaults to 5
    assert set(table["rows"][0]) == {"prompt", "rank", "token", "probability"}
    probabilities = [r["probability"] for r in table["rows"][:5]]
    assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nowhere", "p.txt"], "nowhere: no such run or model directory"),
        (["RUN", "p.txt", "--top", "0"], "--top must be >= 1"),
    ],
)
def test_predict_refuses_what_it_cannot_do_in_one_line(run, argv, message, capsys):
    argv = [str(run) if a == "RUN" else a for a in argv]
    capsys.readouterr()
    assert main(["predict", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_network_saved_without_a_job_does_not_predict(tmp_path, capsys):
    model = rnnkit.Model(
        rnnkit.ModelConfig.for_tokens(5, cell="gru", hidden_size=4), rng=np.random.default_rng(0)
    )
    rnnkit.save(model, tmp_path / "m")
    (tmp_path / "p.txt").write_text("ab\n")
    assert main(["predict", str(tmp_path / "m"), str(tmp_path / "p.txt")]) == 2
    assert "was not saved by a job that predicts" in capsys.readouterr().err


def test_rnnkit_load_gives_a_run_s_predictor_and_a_checkpoint_s_network(run):
    p = rnnkit.load(run)
    assert isinstance(p, TextPredictor) and p.job == "train" and p.source == run / "best"
    assert rnnkit.load(run, which="last").source == run / "last"
    net = rnnkit.load(run / "best")
    assert isinstance(net, rnnkit.Model)
    for name, w in net.params.items():
        np.testing.assert_array_equal(w, p.model.params[name])
        np.testing.assert_array_equal(w, rnnkit.load_model(run / "best").params[name])


def test_best_falls_back_to_last_and_a_manifest_names_the_network(run, tmp_path):
    one = tmp_path / "one"
    shutil.copytree(run, one, symlinks=True)
    (one / "best").unlink()
    assert predicting.checkpoint_of(one) == one / "last"
    two = tmp_path / "two"
    shutil.copytree(run, two / "gru", symlinks=True)
    shutil.copytree(run, two / "ffnn", symlinks=True)
    with pytest.raises(CheckpointError, match="several networks .*ffnn, gru.* no run.json"):
        predicting.checkpoint_of(two)
    predicting.write_manifest(two, "train", "gru")
    assert predicting.checkpoint_of(two) == two / "gru" / "best"
    assert predicting.checkpoint_of(two, "last") == two / "gru" / "last"
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="holds no complete checkpoint"):
        predicting.checkpoint_of(tmp_path / "empty", "last")


def test_info_on_a_run_shows_job_checkpoints_options_and_metrics(run, capsys):
    capsys.readouterr()
    assert main(["info", str(run), "--json"]) == 0
    desc = json.loads(capsys.readouterr().out)
    r = desc["run"]
    assert r["job"] == "train" and r["source"] == str(run / "best")
    (net,) = r["networks"]
    assert net["last_step"] == 12 and net["best_step"] in (6, 12)
    assert net["options"]["steps"] == 12 and net["options"]["eval_every"] == 6
    assert net["metrics"]["records"] == 12 and net["metrics"]["last_step"] == 12
    assert "val_loss" in net["best_validation"] and "val_loss" in net["metrics"]["last_validation"]
    assert desc["model"]["hidden_size"] == 8
    assert main(["info", str(run)]) == 0
    text = capsys.readouterr().out
    assert f"{run}: a run of rnnkit train; predicts with {run / 'best'}" in text
    assert "last at step 12" in text and "metrics.jsonl 12 records" in text


def test_a_finished_run_keeps_its_report_for_rnnkit_report(run, tmp_path):
    """``RUN/result.json``: the summary and the sample the command printed, which
    ``rnnkit report`` shows."""
    result = json.loads((run / "result.json").read_text())
    assert result["steps"] == 12 and len(result["samples"]) == 1
    page = tmp_path / "report.html"
    assert main(["report", str(run), "--html", str(page)]) == 0
    assert result["samples"][0].splitlines()[0][:20].replace("&", "&amp;") in page.read_text()
