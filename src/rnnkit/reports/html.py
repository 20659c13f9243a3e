"""The report page: one self-contained HTML file (inline CSS and SVG, pictures as data URIs,
no script, nothing fetched).

Its elements carry stable ids and classes, for a reader and for tests:

    table#runs                  one row per run: directory, job, networks, notes
    section#curves              svg.curve#curve-<quantity> (train_loss, val_*, lr,
                                grad_norm), one polyline.run[data-run=NETWORK] each
    table#final-metrics         one row per network (tr[data-run=NETWORK])
    table#options               the options that differ between networks (all for one)
    section#results             per run (div.run-results[data-run=RUN]):
                                table.results, table.confusion, svg.forecast#forecast-<k>,
                                pre.sample, figure.picture > img
"""

import base64
import json
import math
import time
from html import escape
from pathlib import Path
from typing import Any

from .runs import Network, Run, differing, final_figures, validation_metrics
from .svg import COLOURS, Band, Line, chart

GENERATOR = '<meta name="generator" content="rnnkit report">'
"""What an rnnkit report holds near its start (only such a file is written over)."""

MAX_PICTURE_BYTES = 8 * 2**20
"""Picture files larger than this are named, not embedded."""

CSS = """
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 28px; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
th { background: #f2f2f2; }
.note { color: #a33; font-size: 13px; }
svg { display: block; margin: 8px 0; }
figure { margin: 8px 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
div.wide { overflow-x: auto; }
table.confusion { display: inline-table; margin-right: 24px; vertical-align: top; }
table.confusion caption { max-width: 260px; font-size: 12px; }
pre.sample { background: #f6f6f6; padding: 8px; white-space: pre-wrap; font-size: 12px; }
"""


def quantities(networks: list[Network]) -> list[tuple[str, str, str]]:
    """(curve id, metrics key, title) of each quantity some network's log holds."""
    records = [r for n in networks for r in n.records]
    found = [("train_loss", "loss", "train loss per step")]
    found += [
        (name, name, f"validation {name[4:].replace('_', ' ')}")
        for name in validation_metrics(records)
    ]
    found += [
        ("lr", "lr", "learning rate"),
        ("grad_norm", "grad_norm", "gradient norm (before clipping)"),
    ]
    return [q for q in found if any(q[1] in r for r in records)]


def curves(networks: list[Network]) -> list[str]:
    """One SVG per quantity, one line per network (its colour the same in each), on a shared
    step axis."""
    steps = [r["step"] for n in networks for r in n.records if _number(r.get("step"))]
    x_range = (min(steps), max(steps)) if steps else None
    svgs = []
    for curve_id, key, title in quantities(networks):
        lines = [
            Line(
                n.label,
                [r.get("step") for r in n.records if key in r],
                [r.get(key) for r in n.records if key in r],
                colour=COLOURS[k % len(COLOURS)],
            )
            for k, n in enumerate(networks)
        ]
        svg = chart(f"curve-{curve_id}", title, lines, x_range=x_range)
        if svg:
            svgs.append(svg)
    return svgs


def render(runs: list[Run], *, generated: str | None = None) -> str:
    """The report page of ``runs``."""
    networks = [n for run in runs for n in run.networks]
    generated = generated or time.strftime("%Y-%m-%d %H:%M:%S")
    title = "rnnkit report: " + ", ".join(run.label for run in runs)
    curve_svgs = curves(networks)
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="generated">{len(runs)} run{"s" if len(runs) != 1 else ""}, '
        f"{len(networks)} network{'s' if len(networks) != 1 else ''}; written {generated}</p>",
        '<section id="runs-section"><h2>Runs</h2>',
        _runs_table(runs),
        "</section>",
        '<section id="curves"><h2>Learning curves</h2>',
        *(curve_svgs or ['<p class="note">no metrics logged: no curves</p>']),
        "</section>",
        '<section id="final"><h2>Final metrics</h2>',
        _final_table(networks),
        "</section>",
        '<section id="options-section"><h2>Options</h2>',
        _options_table(networks),
        "</section>",
        '<section id="results"><h2>Results</h2>',
        *[_results(run, k) for k, run in enumerate(runs)],
        "</section>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"{GENERATOR}\n<title>{escape(title)}</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def _runs_table(runs: list[Run]) -> str:
    rows = ["<tr><th>run</th><th>directory</th><th>job</th><th>networks</th><th>notes</th></tr>"]
    for run in runs:
        notes = run.notes + [f"{n.label}: {n.note}" for n in run.networks if n.note]
        rows.append(
            f'<tr data-run="{escape(run.label)}"><td>{escape(run.label)}</td>'
            f'<td class="text">{escape(str(run.path))}</td>'
            f'<td class="text">{escape(run.job or "—")}</td>'
            f'<td class="text">{escape(", ".join(n.label for n in run.networks))}</td>'
            f'<td class="text note">{"<br>".join(escape(x) for x in notes)}</td></tr>'
        )
    return '<table id="runs">\n' + "\n".join(rows) + "\n</table>"


def _final_table(networks: list[Network]) -> str:
    figures = [final_figures(n.records) for n in networks]
    extra = list(dict.fromkeys(k for f in figures for k in f if k.startswith("last_val_")))
    columns = [
        ("last_step", "last step"),
        ("time", "seconds"),
        ("last_loss", "last train loss"),
        ("best_val_loss", "best val_loss"),
        ("best_step", "at step"),
    ] + [(k, k[5:]) for k in extra]
    head = "".join(f"<th>{escape(title)}</th>" for _, title in columns)
    rows = [f"<tr><th>network</th>{head}</tr>"]
    for n, f in zip(networks, figures):
        cells = "".join(f'<td data-key="{k}">{_value(f.get(k))}</td>' for k, _ in columns)
        rows.append(f'<tr data-run="{escape(n.label)}"><td>{escape(n.label)}</td>{cells}</tr>')
    return '<table id="final-metrics">\n' + "\n".join(rows) + "\n</table>"


def _options_table(networks: list[Network]) -> str:
    known = [n for n in networks if n.options is not None]
    if not known:
        return '<p class="note">no network has a readable last checkpoint: no options</p>'
    names = differing([n.options or {} for n in known])
    lead = "all options" if len(known) == 1 else f"{len(names)} options that differ between them"
    unknown = [n.label for n in networks if n.options is None]
    parts = [f'<p class="lead">{escape(lead)}']
    if unknown:
        parts.append(f" (no options for {escape(', '.join(unknown))})")
    parts.append("</p>")
    if not names:
        return "".join(parts) + '<table id="options"></table>'
    head = "".join(f"<th>{escape(n.label)}</th>" for n in known)
    rows = [f"<tr><th>option</th>{head}</tr>"]
    for name in names:
        cells = "".join(f"<td>{_value((n.options or {}).get(name, _MISSING))}</td>" for n in known)
        rows.append(f'<tr data-option="{escape(name)}"><td>{escape(name)}</td>{cells}</tr>')
    return "".join(parts) + '<table id="options">\n' + "\n".join(rows) + "\n</table>"


_MISSING = object()


def _value(v: Any) -> str:
    """A table cell's text: numbers in 4–6 significant digits, other values as JSON."""
    if v is _MISSING or v is None:
        return "—"
    if isinstance(v, bool):
        return escape(str(v).lower())
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "—" if not math.isfinite(v) else f"{v:.6g}"
    if isinstance(v, str):
        return escape(v)
    text = json.dumps(v)
    return escape(text if len(text) <= 80 else text[:77] + "…")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


# -- a run's results -----------------------------------------------------------------------------


def _results(run: Run, k: int) -> str:
    parts = [f'<div class="run-results" data-run="{escape(run.label)}">']
    parts.append(f"<h3>{escape(run.label)}</h3>")
    result = run.result or {}
    parts += _result_table(result)
    parts += _confusions(result)
    parts += _forecasts(result, k)
    parts += _samples(result)
    parts += [_picture(p, run.path) for p in run.pictures]
    if len(parts) == 2:
        parts.append('<p class="note">no result.json and no pictures in this run</p>')
    parts.append("</div>")
    return "\n".join(parts)


def _result_table(result: dict[str, Any]) -> list[str]:
    """The scalar fields of ``result["results"]`` (one row per model), e.g. accuracy, MASE."""
    rows = [r for r in result.get("results", []) if isinstance(r, dict)]
    if not isinstance(result.get("results"), list) or not rows:
        return []
    names = list(
        dict.fromkeys(
            k for r in rows for k, v in r.items() if v is None or isinstance(v, (str, int, float))
        )
    )
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    body = [
        "<tr>"
        + "".join(
            f"<td{' class=text' if isinstance(r.get(n), str) else ''}>"
            f"{_value(r.get(n, _MISSING))}</td>"
            for n in names
        )
        + "</tr>"
        for r in rows
    ]
    return [
        f'<div class="wide"><table class="results"><tr>{head}</tr>',
        *body,
        "</table></div>",
    ]


def _confusions(result: dict[str, Any]) -> list[str]:
    """A table per ``result["results"][i]["confusion"]`` (rows: true class, columns:
    predicted), named by ``result["classes"]``; cells shaded by their row's share."""
    classes = result.get("classes")
    entries = result.get("results")
    if not isinstance(entries, list):
        return []
    parts = []
    for entry in entries:
        matrix = entry.get("confusion") if isinstance(entry, dict) else None
        if not _square(matrix):
            continue
        assert isinstance(matrix, list)
        names = classes if isinstance(classes, list) and len(classes) == len(matrix) else None
        names = [str(c) for c in (names or range(len(matrix)))]
        model = str(entry.get("model", ""))
        caption = f"confusion matrix of {model} (rows: true class, columns: predicted)"
        if _number(entry.get("accuracy")):
            caption += f", accuracy {entry['accuracy']:.4f}"
        rows = [
            f'<table class="confusion" data-model="{escape(model)}">'
            f"<caption>{escape(caption)}</caption>",
            "<tr><th>true \\ predicted</th>"
            + "".join(f"<th>{escape(c)}</th>" for c in names)
            + "</tr>",
        ]
        for name, row in zip(names, matrix):
            total = sum(row) or 1
            cells = "".join(
                f'<td style="background: rgba(31,119,180,{0.85 * n / total:.2f})'
                f'{"; color: #fff" if n / total > 0.5 else ""}">{n}</td>'
                for n in row
            )
            rows.append(f"<tr><th>{escape(name)}</th>{cells}</tr>")
        rows.append("</table>")
        parts += rows
    return parts


def _square(matrix: Any) -> bool:
    return (
        isinstance(matrix, list)
        and len(matrix) > 0
        and all(isinstance(row, list) and len(row) == len(matrix) for row in matrix)
        and all(_number(n) for row in matrix for n in row)
    )


def _forecasts(result: dict[str, Any], k: int) -> list[str]:
    """A chart per ``result["forecast"]`` (an object, or a list of them): history, then the
    forecast with its interval band (``lower``/``upper``) and the truth, if given."""
    found = result.get("forecast")
    entries = found if isinstance(found, list) else [found] if found is not None else []
    parts = []
    for j, f in enumerate(entries):
        problem = _forecast_problem(f)
        if problem:
            parts.append(f'<p class="note">forecast {j + 1} left out: {escape(problem)}</p>')
            continue
        history, forecast = f["history"], f["forecast"]
        n, h = len(history), len(forecast)
        ahead = list(range(n, n + h))
        # the forecast line starts at the last observed value so that the two join up
        lines = [Line("history", range(n), history, colour="#555555")]
        if isinstance(f.get("truth"), list) and len(f["truth"]) == h:
            lines.append(Line("truth", ahead, f["truth"], colour="#2ca02c", dashed=True))
        model = str(f.get("model", "forecast"))
        lines.append(Line(model, [n - 1, *ahead], [history[-1], *forecast], colour="#1f77b4"))
        bands = []
        if isinstance(f.get("lower"), list) and isinstance(f.get("upper"), list):
            level = f.get("level")
            label = f"{level:.0%} interval" if _number(level) and level < 1 else "interval"
            bands.append(Band(label, ahead, f["lower"], f["upper"]))
        dates = f.get("dates")
        names = [str(d) for d in dates] if isinstance(dates, list) else []
        svg = chart(
            f"forecast-{k}-{j}",
            f"{model}: {h}-step forecast",
            lines,
            bands=bands,
            x_label="date" if names else "time step",
            x_names=names,
            css_class="forecast",
        )
        parts.append(svg)
    return parts


def _forecast_problem(f: Any) -> str:
    """Why ``f`` is no forecast to draw ("" when it is one)."""
    if not isinstance(f, dict):
        return "not a JSON object"
    for key in ("history", "forecast"):
        if not isinstance(f.get(key), list) or not f[key]:
            return f"no list {key!r}"
    h = len(f["forecast"])
    for key in ("lower", "upper", "truth"):
        if key in f and (not isinstance(f[key], list) or len(f[key]) != h):
            return f"{key!r} is not a list of {h} values like 'forecast'"
    if ("lower" in f) != ("upper" in f):
        return "an interval needs both 'lower' and 'upper'"
    dates = f.get("dates")
    n = len(f["history"]) + h
    if dates is not None and (not isinstance(dates, list) or len(dates) != n):
        return f"'dates' is not a list of {n} labels (history and forecast)"
    return ""


def _samples(result: dict[str, Any]) -> list[str]:
    samples = result.get("samples")
    if isinstance(samples, str):
        samples = [samples]
    if not isinstance(samples, list):
        return []
    return [f'<pre class="sample">{escape(str(s))}</pre>' for s in samples]


def _picture(path: Path, run_dir: Path) -> str:
    name = escape(str(path.relative_to(run_dir)))
    try:
        size = path.stat().st_size
        if size > MAX_PICTURE_BYTES:
            return f'<p class="note">{name}: {size:,} bytes, too large to embed</p>'
        data = path.read_bytes()
    except OSError as e:
        return f'<p class="note">{name}: unreadable ({escape(str(e))})</p>'
    mime = "image/svg+xml" if path.suffix.lower() == ".svg" else "image/png"
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure class="picture"><img alt="{name}" src="data:{mime};base64,{encoded}">'
        f"<figcaption>{name}</figcaption></figure>"
    )


def write(runs: list[Run], path: str | Path) -> Path:
    """The report of ``runs`` written (atomically) to ``path``, which may hold an earlier
    report but no other file (``check_replaceable``)."""
    from ..io.atomic import write_atomic

    path = Path(path)
    check_replaceable(path)
    write_atomic(path, render(runs).encode("utf-8"))
    return path


def check_replaceable(path: Path) -> None:
    """ConfigError if ``path`` is a directory, or a file that is not an rnnkit report."""
    from ..errors import ConfigError

    if path.is_dir():
        raise ConfigError(f"{path} is a directory; give the report a file name")
    if path.exists():
        with open(path, "rb") as f:
            head = f.read(2048)
        if GENERATOR.encode() not in head:
            raise ConfigError(
                f"{path} exists and is not an rnnkit report; remove it or choose another file"
            )
