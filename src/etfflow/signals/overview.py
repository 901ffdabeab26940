"""Window summaries of flows: per-fund totals, top inflows/outflows, sector net flows (pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from etfflow import calendar
from etfflow.errors import DataQualityError
from etfflow.flows.aggregate import clean
from etfflow.flows.flags import EXCLUDED_BY_DEFAULT
from etfflow.signals.common import tilt_ratio

__all__ = [
    "GroupFlows",
    "cd_ratio",
    "group_totals",
    "last_sessions",
    "report_window",
    "top_flows",
    "window_totals",
]


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
    """Per fund over the window: net flow, AUM before the window, flow as % of it, days, currency.

    Amounts are in each fund's currency (`currency`: USD, CNY).
    """
    w = clean(last_sessions(flows, window, as_of), exclude).sort("ticker", "date")
    out = w.group_by("ticker").agg(
        pl.col("flow_usd").sum().alias("flow_usd"),
        pl.col("aum_prev_usd").drop_nulls().first().alias("aum_start_usd"),
        pl.len().cast(pl.Int32).alias("days"),
        pl.col("date").min().alias("start"),
        pl.col("date").max().alias("end"),
    )
    out = out.with_columns((pl.col("flow_usd") / pl.col("aum_start_usd")).alias("flow_pct_aum"))
    currencies = calendar.fund_currencies(funds, out["ticker"].to_list())
    out = out.with_columns(
        pl.col("ticker").replace_strict(currencies, return_dtype=pl.String).alias("currency")
    )
    if funds is not None:
        cols = [c for c in ("name", "category", "group") if c in funds.columns]
        out = out.join(funds.select("ticker", *cols), on="ticker", how="left")
    return out.sort("flow_usd", descending=True)


def top_flows(
    totals: pl.DataFrame, *, n: int = 10, by: str = "flow_usd"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Largest inflows and largest outflows of a `window_totals` frame, ranked by amount or % AUM.

    Ranking amounts of two currencies against each other is refused (DataQualityError): rank by % of
    AUM, or keep one market's funds.
    """
    if by != "flow_pct_aum":
        _one_currency(totals, "rank flows by amount")
    valid = totals.filter(pl.col(by).is_not_null() & pl.col(by).is_not_nan())
    inflows = valid.filter(pl.col(by) > 0).sort(by, descending=True).head(n)
    outflows = valid.filter(pl.col(by) < 0).sort(by).head(n)
    return inflows, outflows


def _one_currency(frame: pl.DataFrame, what: str) -> str | None:
    """The single currency of a frame's rows (None without a currency column); mixed ones raise."""
    if "currency" not in frame.columns or frame.height == 0:
        return None
    found = sorted(frame["currency"].drop_nulls().unique().to_list())
    if len(found) > 1:
        raise DataQualityError(
            f"cannot {what} across currencies ({', '.join(found)}): never adds or compares USD with CNY; "
            "keep one market's funds (e.g. --market US) or use % of AUM"
        )
    return found[0] if found else None


def cd_ratio(cyclical: float, defensive: float) -> float | None:
    """Cyclical/defensive flow ratio in [0, 1]: 0.5 + (C - D) / (2 (|C| + |D|)).

    Equals C / (C + D) when both flows are positive, and stays meaningful when one or both are
    negative (the naive C / (C + D) does not): C=-1, D=-3 gives 0.75, as cyclicals lost less.
    C in and D out gives 1, the reverse 0. None when both are zero. (`tilt_ratio` with a=C, b=D.)
    """
    return tilt_ratio(cyclical, defensive)


def report_window(
    flows: pl.DataFrame, window: int, as_of: dt.date | None = None
) -> tuple[dt.date, dt.date] | None:
    """First and last trade date of the last `window` NYSE sessions ending at the latest flow <= as_of.

    The window is counted on the exchange calendar, not on the dates present, so a hole in the data
    never stretches it. None when no flow is dated on or before `as_of`.
    """
    f = flows if as_of is None else flows.filter(pl.col("date") <= as_of)
    if f.height == 0:
        return None
    end = f["date"].max()
    assert isinstance(end, dt.date)
    sess = calendar.sessions(None, end)
    first = sess[max(0, len(sess) - max(window, 1))]
    return dt.date.fromisoformat(str(first)), end


@dataclass(frozen=True)
class GroupFlows:
    """Net flows of a set of taxonomy groups over one window, with what has no data."""

    #: group, flow_usd, aum_start_usd, flow_pct_aum, funds, known, tickers, currency, flow_with_aum_usd
    table: pl.DataFrame
    missing_groups: list[str]  # expected groups without any fund with data
    missing_funds: list[str]  # known funds of those groups without data in the window

    def get(self, group: str) -> dict[str, Any] | None:
        """The row of one group, or None when it has no data."""
        rows = self.table.filter(pl.col("group") == group).to_dicts()
        return rows[0] if rows else None

    def total(self, groups: tuple[str, ...] | list[str]) -> tuple[float | None, float | None, list[str]]:
        """Summed flow and start AUM of `groups` (None when none has data), and the funds that had data.

        Groups of two currencies are never summed (DataQualityError). The AUM is None when a fund
        without a known AUM had a flow (vendor flows may come without one): a % of AUM over part of
        the flow would be invented.
        """
        sub = self.table.filter(pl.col("group").is_in(list(groups)))
        if sub.height == 0:
            return None, None, []
        _one_currency(sub, "sum group flows")
        aum = sub["aum_start_usd"].drop_nulls()
        tickers = sorted(t for ts in sub["tickers"].to_list() for t in ts)
        usd = float(sub["flow_usd"].sum())
        with_aum = float(sub["flow_with_aum_usd"].sum()) if "flow_with_aum_usd" in sub.columns else usd
        partial = abs(with_aum - usd) > 1e-9 * max(1.0, abs(usd))
        return usd, (float(aum.sum()) if aum.len() and not partial else None), tickers


#: % of AUM of a group counts only the funds whose AUM is known (vendor flows may come without one)
_FLOW_WITH_AUM = (
    pl.col("flow_usd").filter(pl.col("aum_start_usd").is_not_null()).sum().alias("flow_with_aum_usd")
)


def group_totals(
    totals: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    category: str | None = None,
    groups: tuple[str, ...] | list[str] | None = None,
    by: str = "group",
) -> GroupFlows:
    """Sum a `window_totals` frame by taxonomy group (all funds of a group), keeping what is missing.

    `groups` fixes the expected groups (and their order); by default every group of `category`
    in `funds`. A group none of whose funds has a flow in the window is listed as missing, never
    reported as a zero flow.
    """
    members = funds if category is None else funds.filter(pl.col("category") == category)
    members = members.filter(pl.col(by).is_not_null())
    if groups is not None:
        members = members.filter(pl.col(by).is_in(list(groups)))
        expected = list(groups)
    else:
        expected = sorted(set(members[by].to_list()))
    known = members.group_by(by).agg(pl.len().cast(pl.Int32).alias("known"))
    data = totals.select("ticker", "flow_usd", "aum_start_usd").join(
        members.select("ticker", by), on="ticker", how="inner"
    )
    cur = calendar.fund_currencies(funds, data["ticker"].to_list())
    data = data.with_columns(pl.col("ticker").replace_strict(cur, return_dtype=pl.String).alias("currency"))
    mixed = data.group_by(by).agg(pl.col("currency").n_unique().alias("n")).filter(pl.col("n") > 1)
    if mixed.height:
        raise DataQualityError(
            f"group {mixed[by][0]!r} holds funds in several currencies: its flows cannot be summed"
        )
    table = (
        data.group_by(by)
        .agg(
            pl.col("flow_usd").sum(),
            pl.col("aum_start_usd").sum(),
            pl.len().cast(pl.Int32).alias("funds"),
            pl.col("ticker").sort().alias("tickers"),
            pl.col("currency").first(),
            _FLOW_WITH_AUM,
        )
        .join(known, on=by, how="left")
        .with_columns(
            pl.when(pl.col("aum_start_usd") > 0)
            .then(pl.col("flow_with_aum_usd") / pl.col("aum_start_usd"))
            .otherwise(None)
            .alias("flow_pct_aum")
        )
        .rename({by: "group"})
        .select(
            "group",
            "flow_usd",
            "aum_start_usd",
            "flow_pct_aum",
            "funds",
            "known",
            "tickers",
            "currency",
            "flow_with_aum_usd",
        )
    )
    order = {g: i for i, g in enumerate(expected)}
    table = (
        table.with_columns(pl.col("group").replace_strict(order, default=len(order)).alias("_o"))
        .sort("_o", "group")
        .drop("_o")
    )
    present = set(table["group"].to_list())
    missing = [g for g in expected if g not in present]
    with_data = set(data["ticker"].to_list())
    missing_funds = sorted(
        t for t, g in zip(members["ticker"], members[by], strict=True) if g in missing and t not in with_data
    )
    return GroupFlows(table=table, missing_groups=missing, missing_funds=missing_funds)
