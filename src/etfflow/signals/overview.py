"""Window summaries of flows: per-fund totals, top inflows/outflows, sector net flows (pure)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from etfflow.flows.aggregate import clean
from etfflow.flows.flags import EXCLUDED_BY_DEFAULT

__all__ = ["cd_ratio", "last_sessions", "top_flows", "window_totals"]


def last_sessions(flows: pl.DataFrame, window: int, as_of: dt.date | None = None) -> pl.DataFrame:
    """Rows of the last `window` trade dates up to `as_of` (default: the latest date present)."""
    f = flows if as_of is None else flows.filter(pl.col("date") <= as_of)
    dates = f["date"].unique().sort()
    if dates.len() == 0:
        return f
    first = dates[max(0, dates.len() - window)]
    return f.filter(pl.col("date") >= first)


def window_totals(
    flows: pl.DataFrame,
    funds: pl.DataFrame | None = None,
    *,
    window: int = 5,
    as_of: dt.date | None = None,
    exclude: int = int(EXCLUDED_BY_DEFAULT),
) -> pl.DataFrame:
    """Per fund over the window: net flow ($), AUM before the window, flow as % of it, days, flags."""
    w = clean(last_sessions(flows, window, as_of), exclude).sort("ticker", "date")
    out = w.group_by("ticker").agg(
        pl.col("flow_usd").sum().alias("flow_usd"),
        pl.col("aum_prev_usd").drop_nulls().first().alias("aum_start_usd"),
        pl.len().cast(pl.Int32).alias("days"),
        pl.col("date").min().alias("start"),
        pl.col("date").max().alias("end"),
    )
    out = out.with_columns((pl.col("flow_usd") / pl.col("aum_start_usd")).alias("flow_pct_aum"))
    if funds is not None:
        cols = [c for c in ("name", "category", "group") if c in funds.columns]
        out = out.join(funds.select("ticker", *cols), on="ticker", how="left")
    return out.sort("flow_usd", descending=True)


def top_flows(
    totals: pl.DataFrame, *, n: int = 10, by: str = "flow_usd"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Largest inflows and largest outflows of a `window_totals` frame, ranked by $ or % AUM."""
    valid = totals.filter(pl.col(by).is_not_null() & pl.col(by).is_not_nan())
    inflows = valid.filter(pl.col(by) > 0).sort(by, descending=True).head(n)
    outflows = valid.filter(pl.col(by) < 0).sort(by).head(n)
    return inflows, outflows


def cd_ratio(cyclical: float, defensive: float) -> float | None:
    """Cyclical/defensive flow ratio in [0, 1]: 0.5 + (C - D) / (2 (|C| + |D|)).

    Equals C / (C + D) when both flows are positive, and stays meaningful when one or both are
    negative (the naive C / (C + D) does not): C=-1, D=-3 gives 0.75, as cyclicals lost less.
    None when both are zero.
    """
    denom = abs(cyclical) + abs(defensive)
    if denom == 0:
        return None
    return 0.5 + (cyclical - defensive) / (2 * denom)
