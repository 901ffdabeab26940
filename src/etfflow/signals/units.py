"""Creations and redemptions in creation units, and N-PORT's gross monthly sales and redemptions (pure).

Daily: net units_t = shares change_t / creation unit (e.g. IVV 50,000 shares, GLD 100,000); a change
that is not a whole number of units (within `tol` of a unit) is marked `whole = False`. A day's count
is a net figure: 3 units created and 1 redeemed on the same day show as +2.

Monthly: the daily net flows summed per calendar month beside the fund's Form N-PORT Part B figures
for that month (sales, reinvestment, redemption, net = sales + reinvestment - redemption). N-PORT gives
the gross two-way traffic that daily share counts net away; `gross_to_net` = (sales + redemption) /
|net| shows how much of it the net hides (None when N-PORT's net is 0).
"""

from __future__ import annotations

import polars as pl

from etfflow.flows.flags import EXCLUDED_BY_DEFAULT

__all__ = ["daily_units", "monthly_units"]


def daily_units(flows: pl.DataFrame, unit: float | None, *, tol: float = 0.001) -> pl.DataFrame:
    """date, shares_change, units, whole, flow_usd, flags of one fund's flows (units null without a unit)."""
    f = flows.select("date", pl.col("shares_change").cast(pl.Float64), "flow_usd", "flags").sort("date")
    if not unit:
        return f.with_columns(
            pl.lit(None, dtype=pl.Float64).alias("units"), pl.lit(None, dtype=pl.Boolean).alias("whole")
        )
    u = pl.col("shares_change") / float(unit)
    return (
        f.with_columns(u.alias("units"))
        .with_columns(((pl.col("units") - pl.col("units").round(0)).abs() <= tol).alias("whole"))
        .select("date", "shares_change", "units", "whole", "flow_usd", "flags")
    )


def monthly_units(
    flows: pl.DataFrame,
    nport: pl.DataFrame,
    unit: float | None,
    *,
    exclude: int = int(EXCLUDED_BY_DEFAULT),
) -> pl.DataFrame:
    """Per calendar month: daily net flow, net shares and units, sessions, and N-PORT's gross figures.

    `nport` holds `nport_monthly` rows of the same fund (month_end, sales, reinvestment, redemption,
    net_flow). Months present on either side are kept; a side without data is null, never 0.
    """
    ok = flows.filter((pl.col("flags").fill_null(0) & exclude) == 0)
    d = (
        ok.with_columns(pl.col("date").dt.month_end().alias("month_end"))
        .group_by("month_end")
        .agg(
            pl.col("flow_usd").sum().alias("daily_net_usd"),
            pl.col("shares_change").sum().alias("net_shares"),
            pl.len().cast(pl.Int64).alias("sessions"),
        )
    )
    d = d.with_columns(
        (pl.col("net_shares") / float(unit) if unit else pl.lit(None, dtype=pl.Float64)).alias("net_units")
    )
    n = nport.select(
        pl.col("month_end").dt.month_end(),
        pl.col("sales").cast(pl.Float64),
        pl.col("reinvestment").cast(pl.Float64),
        pl.col("redemption").cast(pl.Float64),
        pl.col("net_flow").cast(pl.Float64).alias("nport_net_usd"),
    ).unique("month_end", keep="last")
    out = d.join(n, on="month_end", how="full", coalesce=True).sort("month_end")
    return out.with_columns(
        pl.when(pl.col("nport_net_usd") != 0)
        .then((pl.col("sales") + pl.col("redemption")) / pl.col("nport_net_usd").abs())
        .otherwise(None)
        .alias("gross_to_net"),
        (pl.col("daily_net_usd") - pl.col("nport_net_usd")).alias("difference_usd"),
    ).select(
        "month_end",
        "sessions",
        "daily_net_usd",
        "net_shares",
        "net_units",
        "sales",
        "reinvestment",
        "redemption",
        "nport_net_usd",
        "gross_to_net",
        "difference_usd",
    )
