"""Thematic flows: sustained inflows as conviction, sudden outflows after a trend as a crowded unwind (pure).

Weekly net flow per theme (all its funds summed; weeks end on the week's last NYSE session). The
themes are a (theme, ticker) membership frame; the report's framework rules use the nine themes of
`rules.load_themes("framework")` (AI & semiconductors, clean energy, biotech, cybersecurity, China
internet, India, emerging markets, gold miners, bitcoin), where a fund may also sit in a sector or a
region; without one, the `thematic` groups of the funds table. With w_1 .. w_n the last n weeks
(w_n the latest):
- `conviction`: the latest `min_weeks` (default 4) or more weeks are all inflows (> 0);
- `crowded_unwind`: w_n < 0 right after a run of at least `min_weeks` inflow weeks, and
  |w_n| >= `unwind_ratio` (default 0.5) x the run's mean weekly inflow;
- `cooling`: the same outflow after such a run, but smaller than that;
- `persistent_outflow`: the latest `min_weeks` or more weeks are all outflows (< 0);
- `no_trend` otherwise; `stale` when the theme has no flow in the latest week.
A zero week or a week without data breaks a run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from etfflow import calendar
from etfflow.flows.aggregate import to_period
from etfflow.signals.common import jsonable

__all__ = ["THEME_STATES", "ThematicFlows", "thematic_flows", "theme_state"]

THEME_STATES: dict[str, str] = {
    "conviction": "sustained inflows",
    "crowded_unwind": "sudden outflow after an inflow trend",
    "cooling": "small outflow after an inflow trend",
    "persistent_outflow": "sustained outflows",
    "no_trend": "no sustained direction",
    "stale": "no flow data in the latest week",
}


def _run(values: list[float | None], positive: bool) -> int:
    n = 0
    for v in reversed(values):
        if v is None or (v <= 0 if positive else v >= 0):
            break
        n += 1
    return n


def theme_state(weeks: list[float | None], *, min_weeks: int = 4, unwind_ratio: float = 0.5) -> str:
    """State of one theme from its weekly net flows, oldest first (see the module docstring)."""
    if not weeks or weeks[-1] is None:
        return "stale"
    if _run(weeks, True) >= min_weeks:
        return "conviction"
    last = weeks[-1]
    if last < 0:
        prior = weeks[:-1]
        run = _run(prior, True)
        if run >= min_weeks:
            trend = [v for v in prior[len(prior) - run :] if v is not None]
            mean_in = sum(trend) / len(trend)
            return "crowded_unwind" if abs(last) >= unwind_ratio * mean_in else "cooling"
        if _run(weeks, False) >= min_weeks:
            return "persistent_outflow"
    return "no_trend"


@dataclass(frozen=True)
class ThematicFlows:
    """Weekly theme flows and each theme's state."""

    weeks: list[dt.date]  # week ends, oldest first; the last may be incomplete
    partial_last_week: bool
    # theme, funds, tickers, weekly (list), last_week_usd, window_usd, streak_in, streak_out, state,
    # missing_funds (members without data)
    table: pl.DataFrame
    missing: list[str]  # themes without any data in the weeks shown
    min_weeks: int
    unwind_ratio: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def thematic_flows(
    flows: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    end: dt.date,
    weeks: int = 12,
    min_weeks: int = 4,
    unwind_ratio: float = 0.5,
    themes: pl.DataFrame | None = None,
) -> ThematicFlows:
    """Weekly flows of each theme for the `weeks` weeks ending with the week of `end`, and their states.

    `themes` (theme, ticker) fixes the membership and the order; by default the `thematic`
    groups of `funds`, sorted.
    """
    if themes is None:
        theme_funds = funds.filter(pl.col("category") == "thematic").select("ticker", "group")
        theme_funds = theme_funds.filter(pl.col("group").is_not_null()).sort("group", "ticker")
    else:
        theme_funds = themes.select("ticker", pl.col("theme").alias("group"))
    members: dict[str, list[str]] = {}
    for t, g in theme_funds.iter_rows():
        members.setdefault(g, []).append(t)
    theme_names = list(members)
    week_end = calendar.period_end(np.array([end], dtype="datetime64[D]"), "w")[0]
    ends = calendar.week_end_sessions(None, str(week_end))[-weeks:]
    week_list = [dt.date.fromisoformat(str(d)) for d in ends]
    near = calendar.sessions(str(ends[0] - np.timedelta64(10, "D")), str(ends[0]))
    start = dt.date.fromisoformat(str(near[calendar.period_end(near, "w") == ends[0]][0]))
    f = flows.filter(
        pl.col("ticker").is_in(theme_funds["ticker"].implode()) & pl.col("date").is_between(start, end)
    )
    per = to_period(f, "w").join(theme_funds, on="ticker", how="inner")  # a fund counts in each theme
    weekly = per.group_by("group", "date").agg(
        pl.col("flow_usd").sum(), pl.col("ticker").n_unique().alias("n")
    )
    tick = per.group_by("group").agg(pl.col("ticker").unique().sort().alias("tickers"))
    lookup = {(r["group"], r["date"]): r["flow_usd"] for r in weekly.iter_rows(named=True)}
    tickers = {r["group"]: r["tickers"] for r in tick.iter_rows(named=True)}
    rows = []
    missing = []
    for theme in theme_names:
        series: list[float | None] = [lookup.get((theme, w)) for w in week_list]
        if all(v is None for v in series):
            missing.append(theme)
            continue
        rows.append(
            {
                "theme": theme,
                "funds": len(tickers.get(theme, [])),
                "tickers": tickers.get(theme, []),
                "weekly": series,
                "last_week_usd": series[-1],
                "window_usd": sum(v for v in series if v is not None),
                "streak_in": _run(series, True),
                "streak_out": _run(series, False),
                "state": theme_state(series, min_weeks=min_weeks, unwind_ratio=unwind_ratio),
                "missing_funds": sorted(set(members[theme]) - set(tickers.get(theme, []))),
            }
        )
    schema: dict[str, Any] = {
        "theme": pl.String,
        "funds": pl.Int64,
        "tickers": pl.List(pl.String),
        "weekly": pl.List(pl.Float64),
        "last_week_usd": pl.Float64,
        "window_usd": pl.Float64,
        "streak_in": pl.Int64,
        "streak_out": pl.Int64,
        "state": pl.String,
        "missing_funds": pl.List(pl.String),
    }
    return ThematicFlows(
        weeks=week_list,
        partial_last_week=bool(week_list and week_list[-1] > end),
        table=pl.DataFrame(rows, schema=schema),
        missing=missing,
        min_weeks=min_weeks,
        unwind_ratio=unwind_ratio,
    )
