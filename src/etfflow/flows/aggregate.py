"""Aggregate daily flows to weeks (ending on the week's last session), months and taxonomy groups."""

from __future__ import annotations

import polars as pl

from etfflow import calendar
from etfflow.flows.flags import EXCLUDED_BY_DEFAULT

__all__ = ["by_group", "clean", "to_period"]


def clean(flows: pl.DataFrame, exclude: int = int(EXCLUDED_BY_DEFAULT)) -> pl.DataFrame:
    """Rows fit for statistics: a known flow and none of the `exclude` flags (bad prints by default)."""
    return flows.filter(pl.col("flow_usd").is_not_null() & ((pl.col("flags") & exclude) == 0))


def _with_period(flows: pl.DataFrame, freq: str) -> pl.DataFrame:
    return flows.with_columns(calendar.period_end_expr("date", freq).alias("period_end"))


def to_period(
    flows: pl.DataFrame, freq: str = "w", *, exclude: int = int(EXCLUDED_BY_DEFAULT)
) -> pl.DataFrame:
    """Per fund and period: summed flow, AUM before the period, flow as % of that AUM, days, flags.

    freq: 'd', 'w' (period ends on the week's last NYSE session) or 'm' (last session of the month).
    `available_on` is the latest availability inside the period: the period total is known then.
    """
    f = _with_period(clean(flows, exclude), freq).sort("ticker", "date")
    out = f.group_by("period_end", "ticker").agg(
        pl.col("flow_usd").sum().alias("flow_usd"),
        pl.col("aum_prev_usd").drop_nulls().first().alias("aum_start_usd"),
        pl.len().cast(pl.Int32).alias("days"),
        pl.col("flags").bitwise_or().alias("flags"),
        pl.col("available_on").max().alias("available_on"),
    )
    return (
        out.with_columns((pl.col("flow_usd") / pl.col("aum_start_usd")).alias("flow_pct_aum"))
        .rename({"period_end": "date"})
        .sort("ticker", "date")
    )


def by_group(
    flows: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    by: str = "group",
    freq: str = "d",
    exclude: int = int(EXCLUDED_BY_DEFAULT),
) -> pl.DataFrame:
    """Net flow per taxonomy group (or category, cycle, ...) and period, with member counts.

    Funds missing from `funds` (or with a null `by`) are left out; `funds` counts the members seen.
    """
    per = to_period(flows, freq, exclude=exclude)
    joined = per.join(funds.select("ticker", pl.col(by).alias("key")), on="ticker", how="left")
    return (
        joined.filter(pl.col("key").is_not_null())
        .group_by("date", "key")
        .agg(
            pl.col("flow_usd").sum().alias("flow_usd"),
            pl.col("aum_start_usd").sum().alias("aum_start_usd"),
            pl.col("ticker").n_unique().cast(pl.Int32).alias("funds"),
            pl.col("available_on").max().alias("available_on"),
            # % of AUM over the members whose AUM is known (vendor flows may come without one)
            pl.col("flow_usd").filter(pl.col("aum_start_usd").is_not_null()).sum().alias("_flow_with_aum"),
        )
        .with_columns(
            pl.when(pl.col("aum_start_usd") > 0)
            .then(pl.col("_flow_with_aum") / pl.col("aum_start_usd"))
            .alias("flow_pct_aum")
        )
        .drop("_flow_with_aum")
        .rename({"key": by})
        .sort(by, "date")
    )
