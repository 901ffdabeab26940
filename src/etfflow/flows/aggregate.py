"""Aggregate daily flows to weeks (ending on the week's last session), months and taxonomy groups.

Periods end on the last session of the fund's own market (NYSE for US funds, XSHG for China A-share
funds). Amounts are in each fund's currency: a group total never adds two currencies (`by_group` keeps
one row per group and currency).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from etfflow import calendar
from etfflow.flows.flags import EXCLUDED_BY_DEFAULT

__all__ = ["by_group", "clean", "to_period"]


def clean(flows: pl.DataFrame, exclude: int = int(EXCLUDED_BY_DEFAULT)) -> pl.DataFrame:
    """Rows fit for statistics: a known flow and none of the `exclude` flags (bad prints by default)."""
    return flows.filter(pl.col("flow_usd").is_not_null() & ((pl.col("flags") & exclude) == 0))


def _with_period(flows: pl.DataFrame, freq: str, markets: Mapping[str, str] | None) -> pl.DataFrame:
    tickers = flows["ticker"].unique().to_list()
    known = dict(markets or {})
    per = {t: known.get(t) or calendar.market_of_ticker(t) for t in tickers}
    if set(per.values()) <= {"US"}:
        return flows.with_columns(calendar.period_end_expr("date", freq).alias("period_end"))
    m = pl.col("ticker").replace_strict(per, return_dtype=pl.String)
    expr = pl.lit(None, dtype=pl.Date)
    for market in sorted(set(per.values())):
        expr = pl.when(m == market).then(calendar.period_end_expr("date", freq, market)).otherwise(expr)
    return flows.with_columns(expr.alias("period_end"))


def to_period(
    flows: pl.DataFrame,
    freq: str = "w",
    *,
    exclude: int = int(EXCLUDED_BY_DEFAULT),
    markets: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Per fund and period: summed flow, AUM before the period, flow as % of that AUM, days, flags.

    freq: 'd', 'w' (period ends on the week's last session) or 'm' (last session of the month), on the
    calendar of each fund's market (`markets`: ticker -> US/CN; by default the ticker's form decides).
    `available_on` is the latest availability inside the period: the period total is known then.
    """
    f = _with_period(clean(flows, exclude), freq, markets).sort("ticker", "date")
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
    """Net flow per taxonomy group (or category, cycle, ...), currency and period, with member counts.

    Funds missing from `funds` (or with a null `by`) are left out; `funds` counts the members seen.
    A group whose funds trade in two currencies gives one row per currency (`currency` column): USD and
    CNY amounts are never added.
    """
    tickers = flows["ticker"].unique().to_list()
    markets = calendar.fund_markets(funds, tickers)
    currencies = calendar.fund_currencies(funds, tickers)
    per = to_period(flows, freq, exclude=exclude, markets=markets)
    joined = per.join(funds.select("ticker", pl.col(by).alias("key")), on="ticker", how="left").with_columns(
        pl.col("ticker").replace_strict(currencies, return_dtype=pl.String).alias("currency")
    )
    return (
        joined.filter(pl.col("key").is_not_null())
        .group_by("date", "key", "currency")
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
        .sort(by, "currency", "date")
    )
