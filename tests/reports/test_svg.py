"""The report's SVG line charts: points, thinning, ticks, scales."""

import math

import pytest

from rnnkit.reports.svg import Band, Line, chart, points, thin, ticks

from .dom import parse


def test_points_leave_out_none_and_non_finite_values():
    xs = [1, 2, 3, 4, 5]
    ys = [1.0, None, math.nan, math.inf, 2]
    assert points(xs, ys) == [(1.0, 1.0), (5.0, 2.0)]
    assert points([True], [1.0]) == []


def test_thin_keeps_few_points_and_averages_groups_of_many():
    few = [(float(k), float(k)) for k in range(10)]
    assert thin(few, 10) is few
    many = [(float(k), float(2 * k)) for k in range(10)]
    assert thin(many, 4) == [(0.5, 1.0), (3.0, 6.0), (5.5, 11.0), (8.0, 16.0)]
    assert len(thin([(float(k), 0.0) for k in range(10_001)], 1500)) == 1500


def test_ticks_are_round_and_inside_the_range():
    assert ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    assert ticks(0.13, 0.92) == [0.2, 0.4, 0.6, 0.8]
    assert ticks(-3, 3) == [-2, 0, 2]
    assert ticks(1, 40, 7) == [5, 10, 15, 20, 25, 30, 35, 40]
    assert ticks(5, 5) == [5]


def test_a_chart_has_one_polyline_per_line_with_its_points():
    lines = [Line("a", [1, 2, 3], [1.0, 2.0, None]), Line("b<&>", [1, 2], [3.0, 4.0])]
    svg = parse(chart("curve-x", "x", lines)).find_all("svg")[0]
    assert svg.attrs["id"] == "curve-x" and svg.attrs["class"] == "curve"
    polylines = svg.find_all("polyline", class_="run")
    assert [p.attrs["data-run"] for p in polylines] == ["a", "b<&>"]
    assert [len(p.attrs["points"].split()) for p in polylines] == [2, 2]
    assert [p.attrs["data-points"] for p in polylines] == ["2", "2"]
    assert "b<&>" in svg.find_all("g", class_="legend")[0].all_text()


def test_points_are_placed_on_the_axes():
    from rnnkit.reports import svg as s

    text = chart("c", "t", [Line("a", [0, 10], [0.0, 1.0])], x_range=(0, 10))
    [p] = parse(text).find_all("polyline")
    (x0, y0), (x1, y1) = [tuple(map(float, xy.split(","))) for xy in p.attrs["points"].split()]
    assert x0 == pytest.approx(s.LEFT) and x1 == pytest.approx(s.WIDTH - s.RIGHT)
    assert y0 > y1  # larger values are higher up
    assert s.TOP < y1 < y0 < s.HEIGHT - s.BOTTOM


def test_a_chart_without_finite_points_is_empty():
    assert chart("c", "t", [Line("a", [1], [None])]) == ""
    assert chart("c", "t", []) == ""


def test_values_spanning_decades_get_a_log_scale_unless_told():
    wide = [Line("a", [1, 2, 3], [1e-4, 1e-2, 1.0])]
    assert "(log scale)" in chart("c", "t", wide)
    assert "(log scale)" not in chart("c", "t", wide, log_y=False)
    assert "(log scale)" not in chart("c", "t", [Line("a", [1, 2], [-1.0, 100.0])])


def test_a_band_is_a_polygon_around_its_interval():
    text = chart(
        "f",
        "t",
        [Line("m", [2, 3], [1.0, 2.0])],
        bands=[Band("90% interval", [2, 3], [0.5, 1.0], [1.5, 3.0])],
        css_class="forecast",
    )
    [polygon] = parse(text).find_all("polygon", class_="band")
    assert len(polygon.attrs["points"].split()) == 4
    assert polygon.attrs["data-band"] == "90% interval"
