"""Render a `FlowReport` as one self-contained HTML file: inline CSS, inline SVG charts, no scripts.

The text is the Markdown report's (converted here, for the small Markdown subset it uses), so both
formats always say the same; the charts are drawn from the same report object.
"""

from __future__ import annotations

import polars as pl

from etfflow.report.build import FlowReport
from etfflow.report.charts import PALETTE, bar_chart, heatmap, line_chart, small_multiples
from etfflow.report.markdown import LEG_NAMES, header_lines, section_blocks
from etfflow.report.markup import esc, markdown_to_html, page_start, slug
from etfflow.signals.common import fmt_pct, fmt_usd
from etfflow.signals.sectors import BREADTH_BANDS, CD_BANDS

__all__ = ["charts_for", "markdown_to_html", "render_html"]

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #222; margin: 0;
       background: #fafafa; line-height: 1.45; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 36px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #e4e4e4; }
h3 { font-size: 16px; margin: 20px 0 6px; }
.banner p { margin: 0; }
.banner { background: #fff3bf; border: 1px solid #e0b400; padding: 8px 12px; font-weight: 600;
          border-radius: 4px; margin: 10px 0; }
.meta { color: #555; font-size: 14px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #f3f3f3; text-align: left; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fcfcfc; }
ul { padding-left: 22px; }
li { margin: 3px 0; }
code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; font-size: 12px; }
figure { margin: 14px 0; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
@media (max-width: 800px) { .grid2 { grid-template-columns: 1fr; } }
"""


def _week_of(row: str, col: str) -> str:
    return f"{row}, week of {col}"


def _fig(svg: str) -> str:
    return f"<figure>{svg}</figure>"


def charts_for(r: FlowReport) -> dict[str, list[str]]:
    """SVG charts per section title."""
    span = f"{r.start} to {r.end}"
    out: dict[str, list[str]] = {}
    g = r.broad.groups.table
    out["Broad Market Flows"] = [
        bar_chart(
            [(x["group"], x["flow_usd"]) for x in g.sort("flow_usd", descending=True).to_dicts()],
            chart="broad-market-groups",
            title=f"Broad-market net flows by group, {span}",
            fmt=fmt_usd,
        )
    ]
    sec = r.sectors.table
    weeks = r.sector_weeks
    sector_charts = [
        bar_chart(
            [(x["sector"], x["flow_usd"]) for x in sec.to_dicts()],
            chart="sector-flows",
            title=f"Sector net flows, {span}",
            fmt=fmt_usd,
        )
    ]
    if weeks.height:
        dates = weeks["date"].unique().sort().to_list()
        labels = [d.isoformat() for d in dates]
        sectors = sorted(set(weeks["sector"].to_list()))
        colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(sectors)}
        wide = weeks.pivot(on="sector", index="date", values="flow_usd").sort("date")
        pct = weeks.pivot(on="sector", index="date", values="flow_pct_aum").sort("date")
        cumulative: dict[str, list[float | None]] = {
            s: _cumsum(wide[s].to_list()) for s in sectors if s in wide.columns
        }
        cumulative = dict(sorted(cumulative.items(), key=lambda kv: -(_last(kv[1]) or 0.0)))
        sector_charts.append(
            small_multiples(
                cumulative,
                labels,
                chart="sector-cumulative",
                title=f"Cumulative net flows by sector, {len(dates)} weeks to {dates[-1]}",
                fmt=fmt_usd,
                colours=colours,
            )
        )
        order = [x["sector"] for x in sec.to_dicts()] + [
            s for s in sectors if s not in set(sec["sector"].to_list())
        ]
        order = [s for s in order if s in pct.columns]
        sector_charts.append(
            heatmap(
                order,
                [d.strftime("%d %b") for d in dates],
                [[v for v in pct[s].to_list()] for s in order],
                chart="sector-heatmap",
                title="Weekly sector flows, % of AUM (green inflow, red outflow)",
                fmt=fmt_pct,
                tip=_week_of,
            )
        )
        bh = r.breadth_weeks
        bl = [d.isoformat() for d in bh["date"].to_list()]
        sector_charts.append(
            '<div class="grid2">'
            + line_chart(
                {"weekly": bh["breadth"].to_list(), "4 weeks": bh["breadth_smooth"].to_list()},
                bl,
                chart="breadth-history",
                title="Breadth: share of sectors with inflows",
                fmt=lambda v: f"{v:.0%}",
                width=480,
                height=260,
                bands=[(BREADTH_BANDS[0], "broad"), (BREADTH_BANDS[1], "narrow")],
                y_range=(0.0, 1.0),
                colours={"weekly": "#9ecae1", "4 weeks": "#0072B2"},
            )
            + line_chart(
                {"weekly": bh["cd_ratio"].to_list(), "4 weeks": bh["cd_ratio_smooth"].to_list()},
                bl,
                chart="cd-history",
                title="Cyclical/defensive flow ratio",
                fmt=lambda v: f"{v:.2f}",
                width=480,
                height=260,
                bands=[(CD_BANDS[0], "cyclical"), (CD_BANDS[1], "defensive")],
                y_range=(0.0, 1.0),
                colours={"weekly": "#fdae6b", "4 weeks": "#D55E00"},
            )
            + "</div>"
        )
    out["Sector Rotation"] = sector_charts
    out["Style Factor Flows"] = [
        bar_chart(
            [(x["factor"].replace("_", " "), x["flow_usd"]) for x in r.styles.table.to_dicts()],
            chart="style-factors",
            title=f"Style and factor net flows, {span}",
            fmt=fmt_usd,
        )
    ]
    out["Fixed Income Flows"] = [
        bar_chart(
            [(LEG_NAMES.get(x["leg"], x["leg"]), x["flow_usd"]) for x in r.fixed_income.table.to_dicts()],
            chart="fixed-income-legs",
            title=f"Fixed-income net flows by leg, {span}",
            fmt=fmt_usd,
        )
    ]
    th = r.thematic.table.sort("window_usd", descending=True)
    out["Thematic Highlights"] = [
        heatmap(
            th["theme"].to_list(),
            [d.strftime("%d %b") for d in r.thematic.weeks],
            [list(x) for x in th["weekly"].to_list()],
            chart="thematic-heatmap",
            title="Weekly thematic net flows ($; green inflow, red outflow)",
            fmt=fmt_usd,
            tip=_week_of,
        )
    ]
    top = pl.concat([r.top.usd_in, r.top.usd_out.sort("flow_usd", descending=True)], how="diagonal_relaxed")
    out["Fund Flow Signals"] = [
        bar_chart(
            [(_short(f"{x['ticker']} {x.get('name') or ''}", 34), x["flow_usd"]) for x in top.to_dicts()],
            chart="top-flows",
            title=f"Top inflows and outflows, {span}",
            fmt=fmt_usd,
            label_width=250,
        )
    ]
    return out


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _cumsum(xs: list[float | None]) -> list[float | None]:
    out: list[float | None] = []
    total = 0.0
    for v in xs:
        if v is None:
            out.append(None)
            continue
        total += v
        out.append(total)
    return out


def _last(xs: list[float | None]) -> float | None:
    return next((v for v in reversed(xs) if v is not None), None)


def render_html(r: FlowReport) -> str:
    """The report as one self-contained HTML document."""
    charts = charts_for(r)
    head = header_lines(r)
    parts = [*page_start(r.title, _CSS), markdown_to_html(head)]
    for title, body in section_blocks(r):
        parts.append(f'<section id="{slug(title)}"><h2>{esc(title)}</h2>')
        no_data = bool(body) and body[0].startswith("**No data in this window**")
        if not no_data:
            parts += [_fig(svg) for svg in charts.get(title, [])]
        parts.append(markdown_to_html(body))
        parts.append("</section>")
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"
