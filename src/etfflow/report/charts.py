"""Inline SVG charts drawn in Python (no JavaScript, no CDN): bars, columns, lines and a heatmap.

Every chart is one `<svg>` element with a `data-chart` attribute naming it, a `<title>` for screen
readers, and `<title>` tooltips on its marks; the HTML renderer inlines them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

from etfflow.report.markup import esc as _e

__all__ = [
    "PALETTE",
    "bar_chart",
    "column_chart",
    "heatmap",
    "line_chart",
    "log_ticks",
    "nice_ticks",
    "small_multiples",
    "time_ticks",
]

#: colour-blind-safe categorical palette (Okabe-Ito, then Tableau) for up to 12 series
PALETTE: tuple[str, ...] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#8C564B",
    "#9467BD",
    "#7F7F7F",
    "#17BECF",
    "#1F3A93",
    "#8C8C00",
)
POS = "#1a9850"
NEG = "#d73027"
FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"

Fmt = Callable[[float], str]


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (about n of them)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi == lo:
        hi, lo = hi + 1.0, lo - 1.0
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    if ticks[-1] < hi:
        ticks.append(round(v, 12))
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks for a log axis over [lo, hi] (lo > 0): 1-2-5 steps, thinned to at most about 7."""
    if not (lo > 0 and math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if lo > 0 else [1.0]
    out: list[float] = []
    for steps in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7), (1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8)):
        out = [
            m * 10.0**e
            for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
            for m in steps
            if lo <= m * 10.0**e <= hi
        ]
        if len(out) >= 3:
            break
    while len(out) > 7:
        out = out[::2]
    return out or [lo, hi]


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _iso(label: str) -> tuple[int, int] | None:
    if (
        len(label) >= 10
        and label[4] == "-"
        and label[7] == "-"
        and label[:4].isdigit()
        and label[5:7].isdigit()
    ):
        return int(label[:4]), int(label[5:7])
    return None


def time_ticks(labels: Sequence[str], max_ticks: int) -> list[tuple[int, str]]:
    """Positions and texts of x-axis ticks; ISO-dated labels get years (or months with their year).

    Spans of two years or more are ticked at the first point of each year ("2015"), thinned to
    `max_ticks`; shorter spans at the first point of each month ("Jun 2025", then "Jul" ...). Labels
    that are not dates are shown as they are, evenly thinned.
    """
    n = len(labels)
    keys = [_iso(x) for x in labels]
    if n == 0:
        return []
    if any(k is None for k in keys):
        step = max(1, math.ceil(n / max(2, max_ticks)))
        return [(i, labels[i]) for i in range(0, n, step)]
    ym = [k for k in keys if k is not None]
    years = ym[-1][0] - ym[0][0]
    if years >= 2:
        firsts = [i for i in range(n) if i == 0 or ym[i][0] != ym[i - 1][0]]
        if firsts[0] == 0 and len(firsts) > 1 and ym[0][1] > 6:
            firsts = firsts[1:]  # a late-year start: the first full year is ticked instead
        step = max(1, math.ceil(len(firsts) / max(2, max_ticks)))
        return [(i, str(ym[i][0])) for i in firsts[::step]]
    firsts = [i for i in range(n) if i == 0 or ym[i][1] != ym[i - 1][1]]
    step = max(1, math.ceil(len(firsts) / max(2, max_ticks)))
    out = []
    for j, i in enumerate(firsts[::step]):
        y, m = ym[i]
        out.append((i, f"{_MONTHS[m - 1]} {y}" if j == 0 or m == 1 else _MONTHS[m - 1]))
    return out


def _svg_open(chart: str, title: str, width: int, height: int) -> list[str]:
    return [
        f'<svg data-chart="{_e(chart)}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="100%" role="img" aria-label="{_e(title)}" style="max-width:{width}px;{FONT}">',
        f"<title>{_e(title)}</title>",
        f'<text x="0" y="16" font-size="14" font-weight="600" fill="#222">{_e(title)}</text>',
    ]


def _empty(chart: str, title: str, width: int, note: str) -> str:
    out = _svg_open(chart, title, width, 60)
    out.append(f'<rect x="0" y="26" width="{width}" height="30" fill="#f4f4f4"/>')
    out.append(f'<text x="10" y="46" font-size="12" fill="#555">{_e(note)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(
    items: Sequence[tuple[str, float]],
    *,
    chart: str,
    title: str,
    fmt: Fmt,
    width: int = 720,
    bar: int = 20,
    label_width: int = 190,
    note: str = "no data",
) -> str:
    """Horizontal bars around a zero line: inflows green to the right, outflows red to the left."""
    items = [(lbl, v) for lbl, v in items if v is not None and math.isfinite(v)]
    if not items:
        return _empty(chart, title, width, note)
    top, gap = 30, 6
    height = top + len(items) * (bar + gap) + 26
    lo = min(0.0, *(v for _, v in items))
    hi = max(0.0, *(v for _, v in items))
    # room for value labels left of outflow bars and right of inflow bars
    plot_l = label_width + (80 if lo < 0 else 10)
    plot_r = width - (85 if hi > 0 else 10)
    if lo == hi:
        hi = 1.0
    span = hi - lo

    def x(v: float) -> float:
        return plot_l + (v - lo) / span * (plot_r - plot_l)

    out = _svg_open(chart, title, width, height)
    zero = x(0.0)
    for t in nice_ticks(lo, hi, 4):
        if lo - 1e-12 <= t <= hi + 1e-12:
            tx = x(t)
            out.append(f'<line x1="{tx:.1f}" y1="{top - 4}" x2="{tx:.1f}" y2="{height - 22}" stroke="#eee"/>')
            out.append(
                f'<text x="{tx:.1f}" y="{height - 8}" font-size="10" fill="#777" text-anchor="middle">'
                f"{_e(fmt(t))}</text>"
            )
    for i, (lbl, v) in enumerate(items):
        y = top + i * (bar + gap)
        x0, x1 = sorted((zero, x(v)))
        colour = POS if v >= 0 else NEG
        out.append(
            f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1.0):.1f}" height="{bar}" '
            f'fill="{colour}" rx="2">'
            f"<title>{_e(lbl)}: {_e(fmt(v))}</title></rect>"
        )
        out.append(
            f'<text x="{label_width - 8}" y="{y + bar * 0.7:.1f}" font-size="12" fill="#333" '
            f'text-anchor="end">{_e(lbl)}</text>'
        )
        tx, anchor = (x1 + 4, "start") if v >= 0 else (x0 - 4, "end")
        out.append(
            f'<text x="{tx:.1f}" y="{y + bar * 0.7:.1f}" font-size="11" fill="#333" text-anchor="{anchor}">'
            f"{_e(fmt(v))}</text>"
        )
    out.append(f'<line x1="{zero:.1f}" y1="{top - 4}" x2="{zero:.1f}" y2="{height - 22}" stroke="#444"/>')
    out.append("</svg>")
    return "\n".join(out)


def _y_grid(
    ticks: Sequence[float],
    lo: float,
    hi: float,
    y: Callable[[float], float],
    left: float,
    pw: float,
    fmt: Fmt,
) -> list[str]:
    """Horizontal grid lines, labelled on the left, at the ticks within [lo, hi]."""
    out = []
    for t in ticks:
        if lo - 1e-12 <= t <= hi + 1e-12:
            out.append(f'<line x1="{left}" y1="{y(t):.1f}" x2="{left + pw}" y2="{y(t):.1f}" stroke="#eee"/>')
            out.append(
                f'<text x="{left - 6}" y="{y(t) + 4:.1f}" font-size="10" fill="#777" text-anchor="end">'
                f"{_e(fmt(t))}</text>"
            )
    return out


def _path_parts(
    s: Sequence[float | None], x: Callable[[int], float], y: Callable[[float], float]
) -> list[str]:
    """SVG path commands of a series: a missing or non-finite value lifts the pen (a gap, not a line)."""
    parts, pen = [], "M"
    for i, v in enumerate(s):
        if v is None or not math.isfinite(v):
            pen = "M"
            continue
        parts.append(f"{pen}{x(i):.1f},{y(v):.1f}")
        pen = "L"
    return parts


def line_chart(
    series: Mapping[str, Sequence[float | None]],
    x_labels: Sequence[str],
    *,
    chart: str,
    title: str,
    fmt: Fmt,
    width: int = 900,
    height: int = 360,
    bands: Sequence[tuple[float, str]] = (),
    y_range: tuple[float, float] | None = None,
    colours: dict[str, str] | None = None,
    note: str = "no data",
    log: bool = False,
) -> str:
    """Lines over shared x labels with direct end labels; `bands` draws dashed reference lines.

    ISO-date x labels are ticked by year (or month, see `time_ticks`). With `log` the y axis is
    logarithmic (growth of 1: equal distances are equal percentage moves; values <= 0 are skipped).
    Every label (series ends, band names) sits in the right margin, never over a line.
    """
    if log:
        series = {k: [v if v is not None and v > 0 else None for v in s] for k, s in series.items()}
    vals = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    if not vals or len(x_labels) == 0:
        return _empty(chart, title, width, note)
    left, right, top, bottom = 70, 170, 30, 40
    pw, ph = width - left - right, height - top - bottom
    if log:
        lo, hi = min(vals), max(vals)
        if hi <= lo:
            lo, hi = lo / 1.1, hi * 1.1
        ticks = log_ticks(lo, hi)
    else:
        lo, hi = y_range if y_range else (min(*vals, 0.0), max(*vals, 0.0))
        ticks = nice_ticks(lo, hi, 5)
        if not y_range:
            lo, hi = min(ticks[0], lo), max(ticks[-1], hi)
        if hi == lo:
            hi = lo + 1.0
    n = len(x_labels)
    tr: Callable[[float], float] = math.log if log else float
    t_lo, t_hi = tr(lo), tr(hi)

    def x(i: int) -> float:
        return left + (i / max(n - 1, 1)) * pw

    def y(v: float) -> float:
        return top + (t_hi - tr(v)) / (t_hi - t_lo) * ph

    out = _svg_open(chart, title, width, height)
    out += _y_grid(ticks, lo, hi, y, left, pw, fmt)
    if not log and lo < 0 < hi:
        out.append(f'<line x1="{left}" y1="{y(0):.1f}" x2="{left + pw}" y2="{y(0):.1f}" stroke="#999"/>')
    if log and lo <= 1.0 <= hi:
        out.append(f'<line x1="{left}" y1="{y(1.0):.1f}" x2="{left + pw}" y2="{y(1.0):.1f}" stroke="#999"/>')
    margin: list[tuple[float, str, str, str]] = []  # (y, text, colour, style) placed right of the plot
    for bv, lbl in bands:
        out.append(
            f'<line x1="{left}" y1="{y(bv):.1f}" x2="{left + pw}" y2="{y(bv):.1f}" stroke="#888" '
            f'stroke-dasharray="5 4"/>'
        )
        margin.append((y(bv), f"{lbl} ({fmt(bv)})", "#666", ' font-style="italic"'))
    for i, text in time_ticks(x_labels, max(2, pw // 75)):
        out.append(
            f'<line x1="{x(i):.1f}" y1="{top + ph}" x2="{x(i):.1f}" y2="{top + ph + 4}" stroke="#999"/>'
        )
        out.append(
            f'<text x="{x(i):.1f}" y="{height - 18}" font-size="10" fill="#777" text-anchor="middle">'
            f"{_e(text)}</text>"
        )
    for k, (name, s) in enumerate(series.items()):
        colour = (colours or {}).get(name, PALETTE[k % len(PALETTE)])
        parts = _path_parts(s, x, y)
        if not parts:
            continue
        last = next(float(v) for v in reversed(s) if v is not None and math.isfinite(v))
        out.append(
            f'<path d="{" ".join(parts)}" fill="none" stroke="{colour}" stroke-width="2">'
            f"<title>{_e(name)}: {_e(fmt(last))} at the end</title></path>"
        )
        margin.append((y(last), name, colour, ""))
    margin.sort()
    placed: list[float] = []
    for yy, text, colour, style in margin:
        ly = max(yy, placed[-1] + 12) if placed else yy
        placed.append(ly)
        out.append(
            f'<text x="{left + pw + 6}" y="{ly + 4:.1f}" font-size="11" fill="{colour}"{style}>'
            f"{_e(text)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def small_multiples(
    series: Mapping[str, Sequence[float | None]],
    x_labels: Sequence[str],
    *,
    chart: str,
    title: str,
    fmt: Fmt,
    columns: int = 4,
    width: int = 900,
    panel_h: int = 110,
    colours: Mapping[str, str] | None = None,
    note: str = "no data",
) -> str:
    """One small panel per series on a shared y scale (easier to read than 11 crossing lines).

    Each panel names its series and its last value above the plot; the zero line is drawn; the first
    and last x label are written under the bottom row.
    """
    vals = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    if not vals or len(x_labels) == 0 or not series:
        return _empty(chart, title, width, note)
    lo, hi = min(*vals, 0.0), max(*vals, 0.0)
    ticks = nice_ticks(lo, hi, 3)
    lo, hi = min(ticks[0], lo), max(ticks[-1], hi)
    if hi == lo:
        hi = lo + 1.0
    rows = math.ceil(len(series) / columns)
    top, gap_x, gap_y, head, axis_w = 30, 14, 10, 16, 54
    cell_w = (width - axis_w - gap_x * (columns - 1)) / columns
    height = top + rows * (panel_h + gap_y) + 18
    n = len(x_labels)
    out = _svg_open(chart, title, width, height)
    for k, (name, s) in enumerate(series.items()):
        r_i, c_i = divmod(k, columns)
        x0 = axis_w + c_i * (cell_w + gap_x)
        y0 = top + r_i * (panel_h + gap_y) + head
        ph = panel_h - head

        def x(i: int, x0: float = x0) -> float:
            return x0 + (i / max(n - 1, 1)) * cell_w

        def y(v: float, y0: float = y0, ph: float = ph) -> float:
            return y0 + (hi - v) / (hi - lo) * ph

        colour = (colours or {}).get(name, PALETTE[k % len(PALETTE)])
        out.append(f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{cell_w:.1f}" height="{ph}" fill="#fafafa"/>')
        if c_i == 0:
            for t in ticks:
                if lo - 1e-12 <= t <= hi + 1e-12:
                    out.append(
                        f'<text x="{x0 - 4:.1f}" y="{y(t) + 3:.1f}" font-size="9" fill="#777" '
                        f'text-anchor="end">{_e(fmt(t))}</text>'
                    )
        if lo < 0 < hi:
            out.append(
                f'<line x1="{x0:.1f}" y1="{y(0):.1f}" x2="{x0 + cell_w:.1f}" y2="{y(0):.1f}" stroke="#bbb"/>'
            )
        parts = _path_parts(s, x, y)
        known = [float(v) for v in s if v is not None and math.isfinite(v)]
        last = fmt(known[-1]) if known else "no data"
        out.append(
            f'<text x="{x0:.1f}" y="{y0 - 4:.1f}" font-size="11" fill="#333">{_e(name)}</text>'
            f'<text x="{x0 + cell_w:.1f}" y="{y0 - 4:.1f}" font-size="11" fill="{colour}" '
            f'text-anchor="end">{_e(last)}</text>'
        )
        if parts:
            out.append(
                f'<path d="{" ".join(parts)}" fill="none" stroke="{colour}" stroke-width="1.8">'
                f"<title>{_e(name)}: {_e(last)} at the end</title></path>"
            )
        if r_i == rows - 1 or k + columns >= len(series):
            yb = y0 + ph + 12
            out.append(
                f'<text x="{x0:.1f}" y="{yb:.1f}" font-size="9" fill="#777">{_e(x_labels[0])}</text>'
                f'<text x="{x0 + cell_w:.1f}" y="{yb:.1f}" font-size="9" fill="#777" text-anchor="end">'
                f"{_e(x_labels[-1])}</text>"
            )
    out.append("</svg>")
    return "\n".join(out)


def column_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    chart: str,
    title: str,
    fmt: Fmt,
    width: int = 900,
    height: int = 300,
    colours: Sequence[str] = PALETTE,
) -> str:
    """Grouped vertical bars (one group per label, one bar per series) around a zero line."""
    vals = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    lo, hi = min([0.0, *vals]), max([0.0, *vals])
    ticks = nice_ticks(lo, hi, 5)
    lo, hi = min(ticks[0], lo), max(ticks[-1], hi)
    if hi == lo:
        hi = lo + 1.0
    left, right, top, bottom = 60, 20, 40, 30
    pw, ph = width - left - right, height - top - bottom

    def y(v: float) -> float:
        return top + (hi - v) / (hi - lo) * ph

    out = _svg_open(chart, title, width, height)
    out += _y_grid(ticks, lo, hi, y, left, pw, fmt)  # the widened range holds every tick
    n, k = max(len(labels), 1), max(len(series), 1)
    gw = pw / n
    bw = gw * 0.8 / k
    for i, lab in enumerate(labels):
        for s_i, (name, s) in enumerate(series.items()):
            v = s[i]
            if v is None or not math.isfinite(v):
                continue
            x = left + i * gw + gw * 0.1 + s_i * bw
            y0, y1 = sorted((y(0.0), y(float(v))))
            colour = colours[s_i % len(colours)]
            out.append(
                f'<rect x="{x:.1f}" y="{y0:.1f}" width="{max(bw - 1, 1):.1f}" '
                f'height="{max(y1 - y0, 0.5):.1f}" fill="{colour}">'
                f"<title>{_e(lab)} {_e(name)}: {_e(fmt(float(v)))}</title></rect>"
            )
        step = max(1, math.ceil(n / 20))
        if i % step == 0:
            out.append(
                f'<text x="{left + (i + 0.5) * gw:.1f}" y="{height - 10}" font-size="10" fill="#777" '
                f'text-anchor="middle">{_e(lab)}</text>'
            )
    out.append(f'<line x1="{left}" y1="{y(0.0):.1f}" x2="{left + pw}" y2="{y(0.0):.1f}" stroke="#666"/>')
    for s_i, name in enumerate(series):
        lx = left + 10 + s_i * 130
        out.append(f'<rect x="{lx}" y="24" width="10" height="10" fill="{colours[s_i % len(colours)]}"/>')
        out.append(f'<text x="{lx + 14}" y="33" font-size="11" fill="#333">{_e(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _diverging(v: float, scale: float) -> str:
    """Red (outflow) - white - green (inflow) colour for v in [-scale, scale]."""
    t = max(-1.0, min(1.0, v / scale)) if scale > 0 else 0.0
    if t >= 0:
        r, g, b = (255 + (26 - 255) * t, 255 + (152 - 255) * t, 255 + (80 - 255) * t)
    else:
        r, g, b = (255 + (215 - 255) * -t, 255 + (48 - 255) * -t, 255 + (39 - 255) * -t)
    return f"#{round(r):02x}{round(g):02x}{round(b):02x}"


def _row_col(row: str, col: str) -> str:
    return f"{row}, {col}"


def heatmap(
    rows: Sequence[str],
    cols: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    chart: str,
    title: str,
    fmt: Fmt,
    width: int = 900,
    cell_h: int = 22,
    label_width: int = 180,
    tip: Callable[[str, str], str] = _row_col,
    annotate: bool = False,
    note: str = "no data",
) -> str:
    """Rows x columns of coloured cells (diverging around zero); grey where there is no data.

    `tip(row, col)` names a cell in its tooltip. With `annotate` the chart reads like a table: every
    column is labelled on top and each value is written in its cell; otherwise every few columns are
    labelled below and a colour legend follows.
    """
    vals = [abs(v) for r in values for v in r if v is not None and math.isfinite(v)]
    if not vals or not rows or not cols:
        return _empty(chart, title, width, note)
    scale = sorted(vals)[int(0.9 * (len(vals) - 1))] or max(vals) or 1.0
    top = 46 if annotate else 30
    cw = (width - label_width - 10) / len(cols)
    height = top + len(rows) * cell_h + (10 if annotate else 50)
    out = _svg_open(chart, title, width, height)
    if annotate:
        for j, c in enumerate(cols):
            out.append(
                f'<text x="{label_width + (j + 0.5) * cw:.1f}" y="{top - 8}" font-size="11" fill="#555" '
                f'text-anchor="middle">{_e(c)}</text>'
            )
    for i, name in enumerate(rows):
        y = top + i * cell_h
        out.append(
            f'<text x="{label_width - 6}" y="{y + cell_h * 0.68:.1f}" font-size="11" fill="#333" '
            f'text-anchor="end">{_e(name)}</text>'
        )
        for j, c in enumerate(cols):
            v = values[i][j]
            ok = v is not None and math.isfinite(v)
            fill = _diverging(v, scale) if ok and v is not None else "#d9d9d9"
            text = fmt(v) if ok and v is not None else "no data"
            out.append(
                f'<rect x="{label_width + j * cw:.1f}" y="{y}" width="{cw - 1:.1f}" height="{cell_h - 1}" '
                f'fill="{fill}"><title>{_e(tip(name, c))}: {_e(text)}</title></rect>'
            )
            if annotate and ok and cw >= 38:
                out.append(
                    f'<text x="{label_width + (j + 0.5) * cw:.1f}" y="{y + cell_h * 0.68:.1f}" '
                    f'font-size="10" fill="#222" text-anchor="middle">{_e(text)}</text>'
                )
    if annotate:
        out.append("</svg>")
        return "\n".join(out)
    step = max(1, math.ceil(len(cols) / 9))
    for j in range(0, len(cols), step):
        out.append(
            f'<text x="{label_width + (j + 0.5) * cw:.1f}" y="{top + len(rows) * cell_h + 14}" '
            f'font-size="10" fill="#777" text-anchor="middle">{_e(cols[j])}</text>'
        )
    ly = top + len(rows) * cell_h + 26
    for k, t in enumerate((-1.0, -0.5, 0.0, 0.5, 1.0)):
        out.append(
            f'<rect x="{label_width + k * 70}" y="{ly}" width="70" height="10" '
            f'fill="{_diverging(t * scale, scale)}" stroke="#ccc"/>'
        )
        out.append(
            f'<text x="{label_width + k * 70 + 35}" y="{ly + 21}" font-size="9" fill="#777" '
            f'text-anchor="middle">{_e(fmt(t * scale))}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)
