"""Backtest tearsheets: Markdown, JSON and one self-contained HTML file (inline CSS and SVG, no scripts).

Every number comes from `StrategyRun` objects (and an optional sweep table); every format carries the
SYNTHETIC label when the run used the demo market, and always says that it is not investment advice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from etfflow.backtest import metrics as mt
from etfflow.backtest.strategies import STRATEGIES, StrategyRun
from etfflow.backtest.sweep import METRICS
from etfflow.backtest.sweep import heatmap as sweep_heatmap
from etfflow.report.charts import PALETTE, column_chart, heatmap, line_chart
from etfflow.report.markup import esc, markdown_to_html, md_table, name_list, page_start, slug
from etfflow.signals.common import fmt_pct, num

__all__ = [
    "DISCLAIMER",
    "Tearsheet",
    "render_html",
    "render_json",
    "render_markdown",
    "sweep_grid",
]

DISCLAIMER = (
    "Not investment advice. A backtest shows what a rule would have earned on this data, "
    "with the stated costs and timing; it is no forecast."
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MAX_POINTS = 600


@dataclass(frozen=True)
class Tearsheet:
    """One or more runs (e.g. one per fund in time series) and optional sweep tables keyed by universe."""

    runs: Sequence[StrategyRun]
    sweeps: Mapping[str, pl.DataFrame] = field(default_factory=dict)
    title: str | None = None
    basis: str | None = None  # what the returns are (NAV/close total or price return; see api.return_basis)

    @property
    def label(self) -> str | None:
        """The synthetic-data label if any run used demo data."""
        return next((r.label for r in self.runs if r.synthetic), None)

    @property
    def heading(self) -> str:
        """Title line."""
        if self.title:
            return self.title
        first = self.runs[0]
        return f"Backtest: {first.strategy} ({first.name})"


# --- formatting ----------------------------------------------------------------------------------


def _plain_pct(x: Any, digits: int = 1) -> str:
    v = num(x)
    return "n/a" if v is None else f"{100 * v:.{digits}f}%"


def _f(x: Any, digits: int = 2) -> str:
    v = num(x)
    return "n/a" if v is None else f"{v:.{digits}f}"


def _date(d: Any) -> str:
    return str(np.asarray(d).astype("datetime64[D]"))


_STAT_ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("Annual return", "annual_return", fmt_pct),
    ("Annual volatility", "annual_volatility", _plain_pct),
    ("Sharpe ratio", "sharpe", _f),
    ("Sharpe 95% CI (bootstrap)", "_ci", str),
    ("Sortino ratio", "sortino", _f),
    ("Max drawdown", "max_drawdown", fmt_pct),
    ("Calmar ratio", "calmar", _f),
    ("t-stat of mean daily return (Newey-West)", "t_stat", _f),
    ("p-value", "p_value", lambda x: _f(x, 3)),
    ("Excess return vs benchmark (annual)", "excess_return", fmt_pct),
    ("Active return (annual, exposure-matched)", "active_return", fmt_pct),
    ("t-stat of active return", "active_t_stat", _f),
    ("Timing return (annual)", "timing_return", fmt_pct),
    ("t-stat of timing return", "timing_t_stat", _f),
    ("Beta to benchmark", "beta", _f),
    ("Alpha (annual)", "alpha", fmt_pct),
    ("Monthly win rate", "monthly_win_rate", _plain_pct),
    ("Profit/loss ratio (months)", "profit_loss_ratio", _f),
    ("Turnover (annual, two-sided)", "turnover", lambda x: _f(x, 1)),
    ("Time invested", "time_invested", _plain_pct),
    ("Sessions", "n_days", lambda x: "n/a" if num(x) is None else f"{int(x):,}"),
)


def _stat_cell(stats: Mapping[str, float], key: str, fmt: Callable[[Any], str]) -> str:
    if key == "_ci":
        lo, hi = num(stats.get("sharpe_ci_low")), num(stats.get("sharpe_ci_high"))
        return "n/a" if lo is None or hi is None else f"[{lo:.2f}, {hi:.2f}]"
    if key not in stats:
        return ""
    return fmt(stats[key])


def stats_rows(run: StrategyRun) -> list[list[str]]:
    """The statistics table of a run: metric, strategy, benchmark."""
    return [
        [name, _stat_cell(run.stats, key, fmt), _stat_cell(run.benchmark_stats, key, fmt)]
        for name, key, fmt in _STAT_ROWS
    ]


def _params_text(run: StrategyRun) -> str:
    parts = []
    for f in dataclasses.fields(run.params):
        v = getattr(run.params, f.name)
        if isinstance(v, tuple):
            v = ",".join(map(str, v))
        parts.append(f"`{f.name}={v}`")
    return " ".join(parts)


def _yearly(run: StrategyRun) -> pl.DataFrame:
    r = run.result
    s = mt.yearly_returns(r.returns, r.dates)
    b = mt.yearly_returns(r.benchmark, r.dates)
    return s.rename({"return": "strategy"}).join(b.rename({"return": "benchmark"}), on="year")


def _monthly(run: StrategyRun) -> dict[int, list[float | None]]:
    r = run.result
    m = mt.period_returns(r.returns, r.dates, "m")
    out: dict[int, list[float | None]] = {}
    for d, v in zip(m["period"].to_list(), m["return"].to_list(), strict=True):
        out.setdefault(d.year, [None] * 12)[d.month - 1] = float(v)
    return out


def _wealth(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.cumprod(1.0 + np.nan_to_num(x)))


def _drawdown(x: np.ndarray) -> np.ndarray:
    w = _wealth(x)
    return np.asarray(w / np.maximum.accumulate(np.maximum(w, 1.0)) - 1.0)


def sweep_grid(
    table: pl.DataFrame, run: StrategyRun, values: str = "sharpe"
) -> tuple[str, str, pl.DataFrame]:
    """(row axis, column axis, pivot) for a sweep heatmap: the run's own freq/side slice if present."""
    t = table
    if {"window_years", "threshold"} <= set(t.columns):
        p = run.params
        for col in ("freq", "side", "cost_bps"):
            if col in t.columns and hasattr(p, col):
                cut = t.filter(pl.col(col) == getattr(p, col))
                if cut.height:
                    t = cut
        return "window_years", "threshold", _pivot(t, "window_years", "threshold", values)
    axes = [c for c in t.columns if c not in (*METRICS, "cost_bps")]
    if len(axes) >= 2:
        return axes[0], axes[1], _pivot(t, axes[0], axes[1], values)
    return axes[0], "", _pivot(t.with_columns(pl.lit("all").alias("_")), axes[0], "_", values)


def _pivot(t: pl.DataFrame, index: str, columns: str, values: str) -> pl.DataFrame:
    # column labels as text, in the order the sweep ran them
    cells = t.with_columns(pl.col(columns).cast(pl.String))
    return sweep_heatmap(cells, index=index, columns=columns, values=values, sort_columns=False)


def _sweep_lines(table: pl.DataFrame, run: StrategyRun) -> list[str]:
    n = table.height
    clean = table.with_columns(pl.col(pl.Float64).fill_nan(None))
    best = clean.sort("sharpe", descending=True, nulls_last=True).head(10)
    axes = [c for c in table.columns if c not in METRICS]
    rows = [
        [str(x[c]) for c in axes]
        + [fmt_pct(x["annual_return"]), _f(x["sharpe"]), _f(x["t_stat"]), fmt_pct(x["max_drawdown"])]
        for x in best.to_dicts()
    ]
    out = [
        f"{n:,} parameter combinations, scored over one common span. The best of many combinations "
        "looks good partly by chance: judge a rule by the whole table, not its best row.",
        "",
        "Top 10 by Sharpe ratio:",
        "",
    ]
    out += md_table(
        [*axes, "Annual return", "Sharpe", "t-stat", "Max drawdown"], rows, "l" * len(axes) + "rrrr"
    )
    ri, ci, piv = sweep_grid(table, run)
    if ci:
        cols = [c for c in piv.columns if c != ri]
        out += ["", f"Sharpe ratio by {ri} (rows) and {ci} (columns):", ""]
        out += md_table(
            [ri, *cols],
            [[str(x[ri]), *[_f(x[c]) for c in cols]] for x in piv.to_dicts()],
            "l" + "r" * len(cols),
        )
    return out


# --- Markdown ------------------------------------------------------------------------------------


def _run_lines(run: StrategyRun, sweep: pl.DataFrame | None, many: bool) -> list[str]:
    r = run.result
    spec = STRATEGIES[run.strategy]
    h = "###" if many else "##"
    out = [f"## {run.universe}", ""] if many else []
    out += [
        f"{h} Setup",
        "",
        f"- Strategy: **{run.strategy}** (preset `{run.name}`): {spec.summary}.",
        f"- Rule: {spec.definition}",
        f"- Universe: {run.universe} ({name_list(run.assets)})",
        f"- Span: {_date(r.dates[0])} to {_date(r.dates[-1])} ({len(r.dates):,} sessions, from the first "
        "usable decision)",
        "- Timing: decided at each close from data known by then; earns "
        + (
            "the next session's open-to-close return"
            if r.execution == "next_open"
            else "the next close-to-close return"
        )
        + f"; rebalanced {_FREQ.get(r.rebalance, r.rebalance)}; holding {r.holding}; "
        f"costs {r.cost_bps:g} bps of two-sided turnover",
        f"- Benchmark: equal weight of the {len(run.assets)} asset(s), rebalanced daily"
        + (" (buy and hold)" if len(run.assets) == 1 else ""),
        f"- Parameters: {_params_text(run)}",
    ]
    if r.n_nan_returns:
        out.append(f"- {r.n_nan_returns} held positions had no return on a session (earned 0)")
    for note in run.notes:
        out.append(f"- Data note: {note}")
    out += ["", f"{h} Statistics", ""]
    out += md_table(["Metric", "Strategy", "Benchmark"], stats_rows(run), "lrr")
    out += [
        "",
        "Sharpe CI: 95% percentile bootstrap of the daily returns (iid). t-stat: Newey-West "
        "(Bartlett) t of the mean daily return against 0. Active return: daily return minus the "
        "previous close's net exposure times that day's benchmark return (selection); timing return: "
        "minus that exposure times the span's mean benchmark return (being in at the right times).",
        "",
        f"{h} Yearly returns",
        "",
    ]
    y = _yearly(run)
    out += md_table(
        ["Year", "Strategy", "Benchmark", "Difference"],
        [
            [
                str(x["year"]),
                fmt_pct(x["strategy"]),
                fmt_pct(x["benchmark"]),
                fmt_pct(x["strategy"] - x["benchmark"]),
            ]
            for x in y.to_dicts()
        ],
    )
    out += ["", f"{h} Monthly returns (strategy)", ""]
    months = _monthly(run)
    out += md_table(
        ["Year", *_MONTHS],
        [[str(yr), *[fmt_pct(v, 1) if v is not None else "" for v in vals]] for yr, vals in months.items()],
    )
    if sweep is not None and sweep.height:
        out += ["", f"{h} Parameter sweep", ""]
        out += _sweep_lines(sweep, run)
    out.append("")
    return out


_FREQ = {"d": "daily", "w": "weekly (last session of the week)", "m": "monthly (last session of the month)"}


def _header(ts: Tearsheet) -> list[str]:
    out = [f"# {ts.heading}", ""]
    if ts.label:
        out += [f"> {ts.label}", ""]
    out += [f"> {DISCLAIMER}", ""]
    if ts.basis:
        out += [f"**Returns**: {ts.basis}.", ""]
    return out


def render_markdown(ts: Tearsheet) -> str:
    """The tearsheet as Markdown."""
    many = len(ts.runs) > 1
    lines = _header(ts)
    if many:
        lines += ["## Summary", ""]
        lines += summary_lines(ts.runs)
        lines.append("")
    for run in ts.runs:
        lines += _run_lines(run, ts.sweeps.get(run.universe), many)
    lines += ["---", "", DISCLAIMER, ""]
    return "\n".join(lines)


def summary_lines(runs: Sequence[StrategyRun]) -> list[str]:
    """A compact table: one row per run and its benchmark."""
    rows = []
    for r in runs:
        s, b = r.stats, r.benchmark_stats
        rows.append(
            [
                r.universe,
                f"{_date(r.result.dates[0])} .. {_date(r.result.dates[-1])}",
                fmt_pct(s["annual_return"]),
                fmt_pct(b["annual_return"]),
                _f(s["sharpe"]),
                f"[{_f(s.get('sharpe_ci_low'))}, {_f(s.get('sharpe_ci_high'))}]",
                _f(b["sharpe"]),
                _f(s["t_stat"]),
                fmt_pct(s["max_drawdown"]),
                fmt_pct(b["max_drawdown"]),
                _plain_pct(s["time_invested"]),
            ]
        )
    return md_table(
        [
            "Asset",
            "Span",
            "Annual return",
            "Buy & hold / benchmark",
            "Sharpe",
            "Sharpe 95% CI",
            "Benchmark Sharpe",
            "t-stat",
            "Max drawdown",
            "Benchmark max drawdown",
            "Time invested",
        ],
        rows,
        "ll" + "r" * 9,
    )


# --- JSON ----------------------------------------------------------------------------------------


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    if isinstance(x, np.floating):
        return _clean(float(x))
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, dt.date):
        return x.isoformat()
    return x


def render_json(ts: Tearsheet, *, series: bool = True) -> dict[str, Any]:
    """JSON-ready dict: label, disclaimer, and per run its setup, statistics, yearly/monthly returns,
    daily series (when `series`) and sweep table."""
    runs = []
    for run in ts.runs:
        r = run.result
        item: dict[str, Any] = {
            "name": run.name,
            "strategy": run.strategy,
            "universe": run.universe,
            "assets": list(run.assets),
            "params": dataclasses.asdict(run.params),
            "start": _date(r.dates[0]),
            "end": _date(r.dates[-1]),
            "execution": r.execution,
            "rebalance": r.rebalance,
            "holding": r.holding,
            "cost_bps": r.cost_bps,
            "stats": run.stats,
            "benchmark_stats": run.benchmark_stats,
            "yearly": _yearly(run).to_dicts(),
            "monthly": {str(k): v for k, v in _monthly(run).items()},
            "notes": list(run.notes),
        }
        if series:
            item["daily"] = {
                "date": [_date(d) for d in r.dates],
                "returns": r.returns.tolist(),
                "benchmark": r.benchmark.tolist(),
                "exposure": r.exposure.tolist(),
            }
        sw = ts.sweeps.get(run.universe)
        if sw is not None:
            item["sweep"] = sw.to_dicts()
        runs.append(item)
    out: dict[str, Any] = _clean(
        {
            "title": ts.heading,
            "label": ts.label,
            "synthetic": ts.label is not None,
            "disclaimer": DISCLAIMER,
            "return_basis": ts.basis,
            "runs": runs,
        }
    )
    return out


# --- HTML ----------------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #222; margin: 0;
       background: #fafafa; line-height: 1.45; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 4px; }
h2 { font-size: 20px; margin: 34px 0 10px; padding-bottom: 4px; border-bottom: 2px solid #e4e4e4; }
h3 { font-size: 16px; margin: 20px 0 6px; }
.banner p { margin: 0; }
.banner { background: #fff3bf; border: 1px solid #e0b400; padding: 8px 12px; font-weight: 600;
          border-radius: 4px; margin: 10px 0; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 13px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #eee; vertical-align: top; }
th { background: #f3f3f3; text-align: left; }
td.r, th.r { text-align: right; font-variant-numeric: tabular-nums; }
ul { padding-left: 22px; }
li { margin: 3px 0; }
code { background: #f3f3f3; padding: 1px 4px; border-radius: 3px; font-size: 12px; }
figure { margin: 14px 0; }
"""


def _thin(n: int) -> np.ndarray:
    """Indices of at most _MAX_POINTS evenly spaced points, first and last included."""
    if n <= _MAX_POINTS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, _MAX_POINTS).round().astype(np.int64))


def run_charts(run: StrategyRun, sweep: pl.DataFrame | None) -> dict[str, str]:
    """SVG charts of one run keyed by the section they belong to."""
    r = run.result
    idx = _thin(len(r.dates))
    labels = [_date(r.dates[i]) for i in idx]
    tag = slug(run.universe)
    colours = {"strategy": PALETTE[0], "benchmark": PALETTE[8]}
    eq = line_chart(
        {
            "strategy": _wealth(r.returns)[idx].tolist(),
            "benchmark": _wealth(r.benchmark)[idx].tolist(),
        },
        labels,
        chart=f"equity-{tag}",
        title=f"Growth of 1 (log scale), {run.universe}: strategy vs benchmark",
        fmt=lambda v: f"{v:.2f}",
        colours=colours,
        log=True,
    )
    dd = line_chart(
        {
            "strategy": _drawdown(r.returns)[idx].tolist(),
            "benchmark": _drawdown(r.benchmark)[idx].tolist(),
        },
        labels,
        chart=f"drawdown-{tag}",
        title=f"Drawdown from the running peak, {run.universe}",
        fmt=lambda v: f"{100 * v:.0f}%",
        colours=colours,
        height=260,
    )
    y = _yearly(run)
    yr = column_chart(
        [str(v) for v in y["year"].to_list()],
        {"strategy": y["strategy"].to_list(), "benchmark": y["benchmark"].to_list()},
        chart=f"yearly-{tag}",
        title=f"Calendar-year returns, {run.universe}",
        fmt=lambda v: f"{100 * v:.0f}%",
        colours=(colours["strategy"], colours["benchmark"]),
    )
    months = _monthly(run)
    mh = heatmap(
        [str(k) for k in months],
        list(_MONTHS),
        list(months.values()),
        chart=f"monthly-{tag}",
        title=f"Monthly returns of the strategy, {run.universe}",
        fmt=lambda v: f"{100 * v:.1f}",
        cell_h=24,
        label_width=90,
        tip=lambda row, col: f"{col} {row}",
        annotate=True,
    )
    out = {"Statistics": eq + "\n" + dd, "Yearly returns": yr, "Monthly returns (strategy)": mh}
    if sweep is not None and sweep.height:
        ri, ci, piv = sweep_grid(sweep, run)
        cols = [c for c in piv.columns if c != ri]
        out["Parameter sweep"] = heatmap(
            [str(v) for v in piv[ri].to_list()],
            cols,
            [[piv[c][i] for c in cols] for i in range(piv.height)],
            chart=f"sweep-{tag}",
            title=f"Sweep: Sharpe ratio by {ri} (rows) and {ci or 'combo'} (columns)",
            fmt=lambda v: f"{v:.2f}",
            cell_h=24,
            label_width=110,
            tip=lambda row, col: f"{ri}={row}, {ci}={col}",
            annotate=True,
        )
    return out


def render_html(ts: Tearsheet) -> str:
    """The tearsheet as one self-contained HTML document (inline CSS and SVG; no scripts, no CDN)."""
    many = len(ts.runs) > 1
    parts = [*page_start(ts.heading, _CSS), markdown_to_html(_header(ts))]
    if many:
        parts.append("<h2>Summary</h2>")
        parts.append(markdown_to_html(summary_lines(ts.runs)))
    for run in ts.runs:
        sweep = ts.sweeps.get(run.universe)
        charts = run_charts(run, sweep)
        lines = _run_lines(run, sweep, many)
        # split the run's Markdown at its headings and put each section's charts after its heading
        sections: list[tuple[str, list[str]]] = []
        for line in lines:
            m = re.match(r"#{2,3} (.*)", line)
            if m:
                sections.append((m.group(1), [line]))
            elif sections:
                sections[-1][1].append(line)
        for title, body in sections:
            chart = charts.get(title)
            parts.append(f'<section id="{slug(run.universe + "-" + title)}">')
            parts.append(markdown_to_html(body[:1]))
            if chart:
                parts.append(f"<figure>{chart}</figure>")
            parts.append(markdown_to_html(body[1:]))
            parts.append("</section>")
    parts.append(f'<p class="banner">{esc(DISCLAIMER)}</p>')
    parts.append("</main></body></html>")
    return "\n".join(parts)
