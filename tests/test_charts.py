"""Chart helpers: year ticks, log scale, labels kept off the plot, small multiples, markdown-it HTML."""

from __future__ import annotations

import re

from etfflow.report.charts import line_chart, log_ticks, small_multiples, time_ticks
from etfflow.report.markup import markdown_to_html


def test_time_axis_shows_years_or_months_with_their_year() -> None:
    long = ["2015-12-24", "2016-01-04", "2016-06-01", "2017-01-03", "2018-01-02"]
    assert time_ticks(long, 10) == [(1, "2016"), (3, "2017"), (4, "2018")]
    short = ["2025-07-11", "2025-07-18", "2025-08-01", "2026-01-02"]
    assert time_ticks(short, 10) == [(0, "Jul 2025"), (2, "Aug"), (3, "Jan 2026")]
    assert time_ticks(["a", "b", "c", "d"], 2) == [(0, "a"), (2, "c")]  # not dates: thinned as they are


def test_log_ticks() -> None:
    assert log_ticks(0.5, 40) == [0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
    assert log_ticks(0.95, 2.6) == [1.0, 1.5, 2.0]


def test_log_scale_spaces_equal_ratios_equally_and_labels_stay_in_the_margin() -> None:
    svg = line_chart(
        {"s": [1.0, 2.0, 4.0]},
        ["2020-01-02", "2021-01-04", "2022-01-03"],
        chart="c",
        title="t",
        fmt=str,
        width=600,
        height=300,
        log=True,
        bands=[(2.0, "two")],
    )
    path = re.search(r'<path d="([^"]+)"', svg)
    assert path
    ys = [float(p.split(",")[1]) for p in path.group(1).replace("M", "").split(" L")]
    assert abs((ys[0] - ys[1]) - (ys[1] - ys[2])) < 0.2  # 1 -> 2 and 2 -> 4 are the same distance
    plot_right = 600 - 170
    for m in re.finditer(r'<text x="([\d.]+)"[^>]*>(two \(2.0\)|s)</text>', svg):
        assert float(m.group(1)) > plot_right  # band and series names never sit over the lines
    assert ">2021<" in svg and ">2022<" in svg


def test_small_multiples_one_panel_per_series() -> None:
    series = {f"S{i}": [0.0, float(i), float(-i)] for i in range(11)}
    svg = small_multiples(series, ["2025-01-03", "2025-01-10", "2025-01-17"], chart="m", title="t", fmt=str)
    assert svg.count("<path ") == 11
    assert all(f">S{i}<" in svg for i in range(11))


def test_markdown_to_html_uses_markdown_it_with_house_classes() -> None:
    html = markdown_to_html(
        ["# T", "", "> SYNTHETIC", "", "| a | b |", "| --- | ---: |", "| x | 1 |", "", "<b>x</b>"]
    )
    assert "<h1>T</h1>" in html
    assert '<div class="banner">' in html and "SYNTHETIC" in html
    assert '<td class="r">1</td>' in html and "style=" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html  # raw HTML in the text is escaped
