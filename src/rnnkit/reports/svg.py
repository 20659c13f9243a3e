"""Line charts as SVG text: no dependency, inline in the report's HTML.

``chart(id, title, lines)`` draws each ``Line`` (x and y values) as a ``<polyline
class="run" data-run="LABEL">`` on shared axes (linear x; linear y, or logarithmic when the
values are positive and span two decades or more), with a legend; a ``Band`` (lower and
upper values along x) is drawn under the lines as a ``<polygon class="band">``.  Values
that are None or not finite are left out.  A line of more than ``MAX_POINTS`` points is
thinned to that many (``thin``: the mean of consecutive groups), so that a long run's page
stays small.

    chart      the SVG element, as a string
    thin       xs, ys → at most n points (group means)
    ticks      round tick values for an axis from lo to hi
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

MAX_POINTS = 1500
"""The most points drawn for one line."""

COLOURS = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
"""Line colours, in the order the lines are given (matplotlib's tab10)."""

WIDTH, HEIGHT = 900, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 220, 34, 44
"""The picture's size and the margins around its plot area (the legend is on the right)."""


@dataclass(frozen=True)
class Line:
    """One line: ``label`` names it in the legend and ``data-run``; ``xs[k], ys[k]``."""

    label: str
    xs: Sequence[Any]
    ys: Sequence[Any]
    colour: str = ""
    dashed: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded interval ``lower[k] ≤ y ≤ upper[k]`` at ``xs[k]``."""

    label: str
    xs: Sequence[Any]
    lower: Sequence[Any]
    upper: Sequence[Any]
    colour: str = "#1f77b4"


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def points(xs: Sequence[Any], ys: Sequence[Any]) -> list[tuple[float, float]]:
    """The (x, y) pairs whose both values are finite numbers."""
    return [(float(x), float(y)) for x, y in zip(xs, ys) if _finite(x) and _finite(y)]


def thin(pairs: list[tuple[float, float]], n: int = MAX_POINTS) -> list[tuple[float, float]]:
    """``pairs`` when there are at most ``n``; else ``n`` points, each the mean (x and y) of
    one of ``n`` consecutive groups of nearly equal size."""
    if len(pairs) <= n:
        return pairs
    out = []
    for k in range(n):
        group = pairs[k * len(pairs) // n : (k + 1) * len(pairs) // n]
        out.append((sum(p[0] for p in group) / len(group), sum(p[1] for p in group) / len(group)))
    return out


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round values (1, 2 or 5 × 10^k apart) from ``lo`` to ``hi`` inclusive."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(n - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = [m * magnitude for m in (1, 2, 5, 10)]
    step = min(steps, key=lambda s: abs((hi - lo) / s - (n - 1)))
    first = math.ceil(lo / step - 1e-9)
    values = []
    k = first
    while k * step <= hi + 1e-9 * step:
        values.append(round(k * step, 12))
        k += 1
    return values


def _log_scale(values: list[float]) -> bool:
    return bool(values) and min(values) > 0 and max(values) / min(values) >= 100


def _range(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:
        pad = abs(lo) * 0.05 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.04
    return lo - pad, hi + pad


def fmt(v: float) -> str:
    """A tick or table value in at most 4 significant digits."""
    if v == 0:
        return "0"
    return f"{v:.4g}"


def chart(
    id: str,
    title: str,
    lines: list[Line],
    *,
    bands: Sequence[Band] = (),
    x_range: tuple[float, float] | None = None,
    x_label: str = "step",
    x_names: Sequence[str] = (),
    log_y: bool | None = None,
    css_class: str = "curve",
) -> str:
    """An ``<svg class="{css_class}" id="{id}">`` of ``lines`` over ``bands``; "" when no
    line has a finite point.

    ``x_range`` fixes the x axis (shared between charts); ``log_y`` None chooses the scale
    from the values; ``x_names[k]`` labels x = k on the axis (dates) instead of numbers.
    """
    drawn = [(line, thin(points(line.xs, line.ys))) for line in lines]
    drawn = [(line, pts) for line, pts in drawn if pts]
    if not drawn:
        return ""
    shades = [(b, points(b.xs, b.lower), points(b.xs, b.upper)) for b in bands]
    ys = [y for _, pts in drawn for _, y in pts]
    ys += [y for _, lo, hi in shades for _, y in lo + hi]
    xs = [x for _, pts in drawn for x, _ in pts]
    log = _log_scale(ys) if log_y is None else (log_y and min(ys) > 0)
    if log:
        ys = [math.log10(y) for y in ys]
    x0, x1 = x_range or (min(xs), max(xs))
    if x1 <= x0:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = _range(ys)
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * pw

    def py(y: float) -> float:
        y = math.log10(y) if log else y
        return TOP + (y1 - y) / (y1 - y0) * ph

    parts = [
        f'<svg class="{escape(css_class)}" id="{escape(id)}" width="{WIDTH}"'
        f' height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text class="title" x="{LEFT}" y="20" font-size="14" font-weight="bold">'
        f"{escape(title)}{' (log scale)' if log else ''}</text>",
        f'<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="#fff" stroke="#888"/>',
    ]
    parts += _y_axis(y0, y1, log, py, pw)
    parts += _x_axis(x0, x1, px, ph, x_label, x_names)
    for band, lo, hi in shades:
        if lo and hi:
            outline = [(px(x), py(y)) for x, y in lo] + [(px(x), py(y)) for x, y in hi[::-1]]
            parts.append(
                f'<polygon class="band" data-band="{escape(band.label)}" fill="{band.colour}"'
                f' fill-opacity="0.18" stroke="none" points="{_coords(outline)}"/>'
            )
    for k, (line, pts) in enumerate(drawn):
        colour = line.colour or COLOURS[k % len(COLOURS)]
        dash = ' stroke-dasharray="6 4"' if line.dashed else ""
        coords = _coords([(px(x), py(y)) for x, y in pts])
        parts.append(
            f'<polyline class="run" data-run="{escape(line.label)}" data-points="{len(pts)}"'
            f' fill="none" stroke="{colour}" stroke-width="1.6"{dash} points="{coords}"/>'
        )
        if len(pts) <= 40:
            parts += [
                f'<circle class="point" cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5"'
                f' fill="{colour}"/>'
                for x, y in pts
            ]
    parts += _legend(
        [(b.label, b.colour, "band") for b in bands if b.xs]
        + [
            (line.label, line.colour or COLOURS[k % len(COLOURS)], "dash" if line.dashed else "")
            for k, (line, _) in enumerate(drawn)
        ]
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _coords(pairs: list[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in pairs)


def _y_axis(y0: float, y1: float, log: bool, py: Any, pw: int) -> list[str]:
    parts = []
    for t in ticks(y0, y1):
        value = 10**t if log else t
        y = py(value)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + pw}" y1="{y:.1f}" y2="{y:.1f}"'
            ' stroke="#e4e4e4"/>'
        )
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
            f"{fmt(value)}</text>"
        )
    return parts


def _x_axis(x0: float, x1: float, px: Any, ph: int, label: str, names: Sequence[str]) -> list[str]:
    parts = []
    for t in ticks(x0, x1, 7):
        x = px(t)
        if names:
            k = round(t)
            if k != t or not 0 <= k < len(names):
                continue
            text = escape(str(names[k]))
        else:
            text = fmt(t)
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + ph + 16}" font-size="11" text-anchor="middle">'
            f"{text}</text>"
        )
    parts.append(
        f'<text x="{LEFT + (WIDTH - LEFT - RIGHT) / 2:.0f}" y="{HEIGHT - 8}" font-size="12"'
        f' text-anchor="middle">{escape(label)}</text>'
    )
    return parts


def _legend(entries: list[tuple[str, str, str]]) -> list[str]:
    x = WIDTH - RIGHT + 14
    parts = ['<g class="legend">']
    for k, (label, colour, style) in enumerate(entries):
        y = TOP + 8 + 18 * k
        if style == "band":
            parts.append(
                f'<rect x="{x}" y="{y - 6}" width="22" height="12" fill="{colour}"'
                ' fill-opacity="0.25"/>'
            )
        else:
            dash = ' stroke-dasharray="5 3"' if style == "dash" else ""
            parts.append(
                f'<line x1="{x}" x2="{x + 22}" y1="{y}" y2="{y}" stroke="{colour}"'
                f' stroke-width="2.5"{dash}/>'
            )
        short = label if len(label) <= 26 else "…" + label[-25:]
        parts.append(
            f'<text x="{x + 28}" y="{y + 4}" font-size="12"><title>{escape(label)}</title>'
            f"{escape(short)}</text>"
        )
    parts.append("</g>")
    return parts
