"""``rnnkit report`` end to end, through ``main(argv)``."""

import numpy as np
import pytest

from rnnkit.cli import main
from tests.reports.dom import parse
from tests.reports.making import make_run, records

SMALL = ["--seq-len", "16", "--batch-size", "4", "--eval-every", "5", "--sample-every", "0"]


@pytest.fixture
def text_file(tmp_path):
    rng = np.random.default_rng(0)
    words = ["def", "return", "self", "import", "class", "(x)", ":", "\n", "    "]
    path = tmp_path / "corpus.txt"
    path.write_text(" ".join(rng.choice(words, 2000)), encoding="utf-8")
    return path


def test_two_trained_runs_report_their_curves_and_the_options_that_differ(
    text_file, tmp_path, capsys
):
    runs = []
    for name, size in (("small", "8"), ("large", "16")):
        out = tmp_path / name
        argv = ["train", str(text_file), "--steps", "10", "--hidden-size", size, "--quiet"]
        assert main([*argv, *SMALL, "--out", str(out)]) == 0
        runs.append(str(out))
    capsys.readouterr()
    html = tmp_path / "report.html"
    assert main(["report", *runs, "--html", str(html)]) == 0
    assert capsys.readouterr().out == f"report written to {html}\n"
    dom = parse(html.read_text(encoding="utf-8"))
    [loss] = [
        c for c in dom.find_all("svg", class_="curve") if c.attrs["id"] == "curve-train_loss"
    ]
    lines = loss.find_all("polyline", class_="run")
    assert [p.attrs["data-run"] for p in lines] == ["small", "large"]
    assert [len(p.attrs["points"].split()) for p in lines] == [10, 10]
    options = [r.attrs["data-option"] for r in dom.find_all("tr") if "data-option" in r.attrs]
    assert "model.rnn.hidden_size" in options
    assert "seed" not in options and "lr" not in options


def test_the_default_page_is_report_html_in_the_current_directory(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path / "a", records(3))
    monkeypatch.chdir(tmp_path)
    assert main(["report", "a"]) == 0
    assert capsys.readouterr().out == "report written to report.html\n"
    assert (tmp_path / "report.html").is_file()
    assert main(["report", str(run)]) == 0  # an earlier report is written over


def test_png_saves_the_curves(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    run = make_run(tmp_path / "a", records(30, eval_every=10))
    png = tmp_path / "curves.png"
    assert main(["report", str(run), "--html", str(tmp_path / "r.html"), "--png", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out.splitlines()[-1] == f"curves written to {png}"


def test_a_directory_without_a_run_is_one_error_line(tmp_path, capsys):
    good = make_run(tmp_path / "a", records(3))
    (tmp_path / "empty").mkdir()
    html = tmp_path / "r.html"
    assert main(["report", str(good), str(tmp_path / "empty"), "--html", str(html)]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"rnnkit: error: {tmp_path / 'empty'}: holds no run (no last, best or metrics.jsonl "
        "in it or below it)\n"
    )
    assert not html.exists()
    assert main(["report", str(tmp_path / "nowhere"), "--html", str(html)]) == 2
    assert (
        capsys.readouterr().err
        == f"rnnkit: error: {tmp_path / 'nowhere'}: no such run directory\n"
    )


def test_a_file_that_is_not_a_report_is_not_written_over(tmp_path, capsys):
    run = make_run(tmp_path / "a", records(3))
    notes = tmp_path / "notes.html"
    notes.write_text("<p>mine</p>")
    assert main(["report", str(run), "--html", str(notes)]) == 2
    assert "is not an rnnkit report; remove it or choose another file" in capsys.readouterr().err
    assert notes.read_text() == "<p>mine</p>"
    assert main(["report", str(run), "--html", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_report_needs_a_directory(capsys):
    with pytest.raises(SystemExit) as e:
        main(["report"])
    assert e.value.code == 2
    assert "the following arguments are required: DIR" in capsys.readouterr().err


def test_tensorboard_writes_an_event_file_per_network(tmp_path, capsys):
    run = make_run(tmp_path / "a", records(5))
    tb = tmp_path / "tb"
    argv = ["report", str(run), "--html", str(tmp_path / "r.html"), "--tensorboard", str(tb)]
    assert main(argv) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"1 TensorBoard event file written to {tb}"
    [events] = (tb / "a").iterdir()
    assert events.name.startswith("events.out.tfevents.")
