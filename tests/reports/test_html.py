"""The report page: self-contained, its curves, tables and results in stable elements."""

import base64
import json
import re

import pytest

from rnnkit.reports import read_run, read_runs, render, write

from .dom import parse
from .making import make_run, records

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def two_runs(tmp_path):
    a = make_run(tmp_path / "a", records(30, eval_every=10), {"lr": 0.01, "seed": 0})
    b = make_run(
        tmp_path / "b", records(20, eval_every=5, lr=0.02), {"lr": 0.02, "seed": 0}, hidden_size=16
    )
    return read_runs([a, b])


def test_the_page_is_self_contained(tmp_path):
    runs = two_runs(tmp_path)
    (runs[0].path / "flow.png").write_bytes(PNG)
    (runs[0].path / "result.json").write_text(json.dumps({"forecast": forecast_result()}))
    page = render(read_runs([r.path for r in runs]))
    assert "<script" not in page.lower()
    assert not re.search(r"https?://", page)
    assert not re.search(r"(src|href)\s*=\s*\"(?!data:)", page)
    assert "url(" not in page and "@import" not in page
    assert page.count("<img ") == 1
    parse(page)  # well nested


def test_each_quantity_has_a_curve_with_one_line_per_network_and_every_point(tmp_path):
    dom = parse(render(two_runs(tmp_path)))
    curves = dom.find_all("svg", class_="curve")
    assert [c.attrs["id"] for c in curves] == [
        "curve-train_loss",
        "curve-val_loss",
        "curve-lr",
        "curve-grad_norm",
    ]
    expected = {
        "curve-train_loss": {"a": 30, "b": 20},
        "curve-val_loss": {"a": 3, "b": 4},
        "curve-lr": {"a": 30, "b": 20},
        "curve-grad_norm": {"a": 30, "b": 20},
    }
    for c in curves:
        lines = c.find_all("polyline", class_="run")
        counts = {p.attrs["data-run"]: len(p.attrs["points"].split()) for p in lines}
        assert counts == expected[c.attrs["id"]], c.attrs["id"]


def test_the_runs_share_the_step_axis(tmp_path):
    dom = parse(render(two_runs(tmp_path)))
    [curve] = [c for c in dom.find_all("svg") if c.attrs["id"] == "curve-train_loss"]
    a, b = curve.find_all("polyline")
    last_x = [float(p.attrs["points"].split()[-1].split(",")[0]) for p in (a, b)]
    assert last_x[1] < last_x[0]  # b's 20 steps end left of a's 30


def test_the_options_table_holds_the_options_that_differ(tmp_path):
    dom = parse(render(two_runs(tmp_path)))
    [table] = [t for t in dom.find_all("table") if t.attrs.get("id") == "options"]
    rows = {r.attrs["data-option"]: r for r in table.find_all("tr") if "data-option" in r.attrs}
    assert sorted(rows) == ["lr", "model.rnn.hidden_size"]
    assert [td.all_text() for td in rows["lr"].find_all("td")] == ["lr", "0.01", "0.02"]


def test_one_run_shows_all_its_options(tmp_path):
    run = read_run(make_run(tmp_path / "a", records(3), {"lr": 0.01, "seed": 4}))
    dom = parse(render([run]))
    rows = [r.attrs["data-option"] for r in dom.find_all("tr") if "data-option" in r.attrs]
    assert rows == ["job", "lr", "seed", "model.rnn.cell", "model.rnn.hidden_size", "model.dtype"]


def test_final_metrics_give_one_row_per_network(tmp_path):
    dom = parse(render(two_runs(tmp_path)))
    [table] = [t for t in dom.find_all("table") if t.attrs.get("id") == "final-metrics"]
    rows = {r.attrs["data-run"]: r for r in table.find_all("tr") if "data-run" in r.attrs}
    cells = {td.attrs["data-key"]: td.all_text() for td in rows["a"].find_all("td") if td.attrs}
    assert cells["last_step"] == "30"
    assert cells["last_loss"] == "0.1"
    assert cells["best_val_loss"] == f"{2 + 1 / 30:.6g}" and cells["best_step"] == "30"


def test_a_run_without_metrics_or_options_is_reported_with_notes(tmp_path):
    a = make_run(tmp_path / "a", None, {"lr": 0.01})
    b = make_run(tmp_path / "b", records(3))
    (b / "last").symlink_to("checkpoints/gone")
    page = render(read_runs([a, b]))
    dom = parse(page)
    curves = dom.find_all("svg", class_="curve")
    assert all(len(c.find_all("polyline")) == 1 for c in curves)  # b's alone
    notes = " ".join(td.all_text() for td in dom.find_all("td", class_="note"))
    assert "a: no metrics.jsonl: no curves" in notes
    assert "b: last is a dangling link (to checkpoints/gone): no options" in notes
    assert "(no options for b)" in page


def test_no_metrics_at_all_says_so(tmp_path):
    page = render([read_run(make_run(tmp_path / "a", None, {"lr": 0.01}))])
    assert "no metrics logged: no curves" in page
    assert 'class="curve"' not in page


def classify_result():
    return {
        "dataset": "toy",
        "classes": ["up", "down<"],
        "results": [
            {
                "model": "gru",
                "description": "GRU",
                "accuracy": 0.75,
                "confusion": [[3, 1], [1, 3]],
            },
            {
                "model": "ffnn",
                "description": "FFNN",
                "accuracy": 0.5,
                "confusion": [[2, 2], [2, 2]],
            },
        ],
    }


def forecast_result():
    return {
        "model": "gru",
        "level": 0.9,
        "dates": [f"2020-0{k}" for k in range(1, 8)],
        "history": [1.0, 2.0, 3.0, 4.0],
        "forecast": [5.0, 6.0, 7.0],
        "lower": [4.0, 4.5, 5.0],
        "upper": [6.0, 7.5, 9.0],
        "truth": [5.5, 5.5, 6.5],
    }


def test_a_classify_result_shows_its_confusion_matrices_and_accuracies(tmp_path):
    path = make_run(tmp_path / "a", records(3))
    (path / "result.json").write_text(json.dumps(classify_result()))
    dom = parse(render([read_run(path)]))
    tables = dom.find_all("table", class_="confusion")
    assert [t.attrs["data-model"] for t in tables] == ["gru", "ffnn"]
    rows = tables[0].find_all("tr")
    assert [th.all_text() for th in rows[0].find_all("th")] == ["true \\ predicted", "up", "down<"]
    assert [td.all_text() for td in rows[1].find_all("td")] == ["3", "1"]
    assert "accuracy 0.7500" in tables[0].all_text()
    [results] = dom.find_all("table", class_="results")
    assert [th.all_text() for th in results.find_all("th")] == ["model", "description", "accuracy"]


def test_a_forecast_result_is_drawn_with_its_interval(tmp_path):
    path = make_run(tmp_path / "a", records(3))
    (path / "result.json").write_text(json.dumps({"forecast": forecast_result()}))
    dom = parse(render([read_run(path)]))
    [svg] = dom.find_all("svg", class_="forecast")
    lines = {p.attrs["data-run"]: p for p in svg.find_all("polyline")}
    assert sorted(lines) == ["gru", "history", "truth"]
    assert len(lines["gru"].attrs["points"].split()) == 4  # joined to the last observation
    [band] = svg.find_all("polygon", class_="band")
    assert band.attrs["data-band"] == "90% interval"
    assert len(band.attrs["points"].split()) == 6
    assert "2020-04" in svg.all_text()


def test_a_bad_forecast_is_named_not_drawn(tmp_path):
    path = make_run(tmp_path / "a", records(3))
    bad = {**forecast_result(), "lower": [1.0]}
    (path / "result.json").write_text(json.dumps({"forecast": [bad]}))
    page = render([read_run(path)])
    assert 'class="forecast"' not in page
    assert "forecast 1 left out: &#x27;lower&#x27; is not a list of 3 values" in page


def test_samples_and_pictures_are_embedded(tmp_path):
    path = make_run(tmp_path / "a", records(3))
    (path / "result.json").write_text(json.dumps({"samples": ["def f(x):", "<b>"]}))
    (path / "flow.png").write_bytes(PNG)
    (path / "waves.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    dom = parse(render([read_run(path)]))
    assert [p.all_text() for p in dom.find_all("pre", class_="sample")] == ["def f(x):", "<b>"]
    images = dom.find_all("img")
    assert [i.attrs["alt"] for i in images] == ["flow.png", "waves.svg"]
    kind, data = images[0].attrs["src"].split(",", 1)
    assert kind == "data:image/png;base64" and base64.b64decode(data) == PNG
    assert images[1].attrs["src"].startswith("data:image/svg+xml;base64,")


def test_write_puts_the_page_in_a_file(tmp_path):
    runs = two_runs(tmp_path)
    out = write(runs, tmp_path / "r.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert not list(tmp_path.glob(".r.html.*"))  # no temporary file left


def test_a_long_log_is_thinned_to_at_most_max_points_a_line(tmp_path):
    from rnnkit.reports.svg import MAX_POINTS

    run = read_run(make_run(tmp_path / "a", records(4 * MAX_POINTS + 7)))
    dom = parse(render([run]))
    [curve] = [c for c in dom.find_all("svg") if c.attrs["id"] == "curve-train_loss"]
    [line] = curve.find_all("polyline")
    assert len(line.attrs["points"].split()) == MAX_POINTS
    assert not curve.find_all("circle")  # markers only on short lines


def test_write_replaces_a_report_but_no_other_file(tmp_path):
    from rnnkit.errors import ConfigError

    runs = two_runs(tmp_path)
    page = tmp_path / "r.html"
    write(runs, page)
    write(runs[:1], page)
    assert "rnnkit report: a</title>" in page.read_text(encoding="utf-8")
    other = tmp_path / "notes.html"
    other.write_text("<p>mine</p>")
    with pytest.raises(ConfigError, match="notes.html exists and is not an rnnkit report"):
        write(runs, other)
    assert other.read_text() == "<p>mine</p>"
