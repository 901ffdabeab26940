"""Daily flows from shares outstanding and NAV (pure: frames in, frames out).

Flow on trade date t = (SO_t - SO_t-1) x NAV_t, where SO_t is the shares count that reflects orders
struck up to t. A source states counts with a reporting lag (`so_lag` sessions): the count stated for
session d belongs to trade date d - lag, and a user could know it on d (`available_on`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from etfflow import calendar
from etfflow.errors import DataQualityError
from etfflow.flows.flags import Flag
from etfflow.flows.nb import SPLIT_RATIOS, flows_long_nb
from etfflow.schema import DAILY_VALUES, validate

__all__ = [
    "MONTHLY_SOURCES",
    "SOURCE_PRIORITY",
    "FlowParams",
    "aum_method",
    "compute_flows",
    "merge_sources",
    "shares_method",
    "trade_date_clash",
]

#: Lower is preferred when two sources state the same field for the same fund and session.
SOURCE_PRIORITY: dict[str, int] = {
    "ishares_workbook": 10,
    "ishares_csv": 10,
    "ssga_gld": 10,
    "issuer": 10,
    "csv": 20,
    "parquet": 20,
    "yfinance": 30,
    # price files (etfflow.sources.prices): raw closes before total-return adjusted ones
    "alphavantage": 35,
    "yfinance_csv": 35,
    "stooq_adjusted": 45,
    "yahoo_adjclose": 45,
    "demo": 50,
    # China: exchange daily counts before Wind's month-end counts; Wind NAV before closes
    "cn_exchange_shares": 10,
    "szse_shares": 12,
    "wind_nav": 15,
    "wind_shares": 25,
    "cn_prices": 30,
}
_EXCHANGE = {"US": "NYSE", "CN": "XSHG (Shanghai/Shenzhen)"}
#: sources whose shares counts are month-end observations: their flows are monthly (method month_end)
MONTHLY_SOURCES: frozenset[str] = frozenset({"wind_shares"})


@dataclass(frozen=True)
class FlowParams:
    """Thresholds of the quality rules (fractions, not percent)."""

    split_tol_so: float = 0.15  # SO ratio within 15% of a split ratio k is a split candidate ...
    split_tol_nav: float = 0.2  # ... confirmed by a NAV move within 20% of 1/k
    bad_print_jump: float = 0.5  # a one-observation move of more than 50% ...
    bad_print_reversal: float = 0.01  # ... that returns within 1% of the prior count is a bad print
    large: float = 0.25  # |flow| above 25% of prior AUM is flagged LARGE
    odd_lot_tol: float = 0.001  # a change within 0.1% of a unit of whole units is not an odd lot

    def thresholds(self) -> tuple[float, float, float, float, float, float]:
        """The threshold arguments of `flows_long_nb`, in its order (one mapping for every caller)."""
        return (
            self.split_tol_so,
            self.split_tol_nav,
            self.bad_print_jump,
            self.bad_print_reversal,
            self.large,
            self.odd_lot_tol,
        )


def merge_sources(daily: pl.DataFrame, priority: dict[str, int] | None = None) -> pl.DataFrame:
    """One row per (date, ticker): each field from the most preferred source that states it.

    Shares outstanding of a fund come from a single source (its most preferred one that has any),
    so that two sources' counts are never differenced against each other; the one exception are
    month-end counts (MONTHLY_SOURCES), kept for the months before the daily counts begin, and the
    first daily count after them starts afresh (no flow, flagged FIRST). `so_source` names the
    source of each row's count.

    A fund without any stated count gets its counts from one source likewise: the most preferred
    one with total net assets and NAV on a row (a count of total net assets / NAV, the AUM method).
    Such a count, and one a shares source derives on a day it states no count, is the row's own
    (that source's total net assets over its own NAV) and goes to column `_so_derived`; a count is
    never derived from another source's total net assets. `so_lag` is the lag of the source whose
    count the row carries (each source's declared lag applies to the counts it states).
    """
    if daily.height == 0 or daily["source"].n_unique() == 1:
        # one source: keys are already unique
        return daily.rename({"source": "so_source"}).sort("ticker", "date")
    prio = {**SOURCE_PRIORITY, **(priority or {})}
    df = daily.with_columns(
        pl.col("source").replace_strict(prio, default=40, return_dtype=pl.Int32).alias("_prio")
    )
    has_so = pl.col("shares_outstanding").is_not_null()
    tna = "total_net_assets" in df.columns and "nav" in df.columns
    # a count this row's own source gives as total net assets / NAV (no stated count)
    own = (
        pl.when(~has_so & pl.col("total_net_assets").is_not_null() & (pl.col("nav") > 0))
        .then(pl.col("total_net_assets") / pl.col("nav"))
        .cast(pl.Float64)
        if tna
        else pl.lit(None, dtype=pl.Float64)
    )
    df = df.with_columns(own.alias("_own"))
    counted = has_so | pl.col("_own").is_not_null()
    # the fund's count source: a source with stated counts before one whose counts are derived
    # (before: only stated counts chose it, so a fund with derived counts alone had no count
    # source and lost its so_lag whenever the frame held two sources: LAG_UNKNOWN, wrong dates)
    so_src = (
        df.filter(counted)
        .group_by("ticker")
        .agg(
            pl.col("source")
            .sort_by(has_so.not_(), pl.col("_prio"), pl.col("source"))
            .first()
            .alias("_so_source")
        )
    )
    first = (
        df.filter(counted)
        .join(so_src, on="ticker")
        .filter(pl.col("source") == pl.col("_so_source"))
        .group_by("ticker")
        .agg(pl.col("date").min().alias("_so_first"))
    )
    # month-end counts fill only the months before a fund's daily counts begin
    use = (pl.col("source") == pl.col("_so_source")) | (
        pl.col("source").is_in(list(MONTHLY_SOURCES))
        & ~pl.col("_so_source").is_in(list(MONTHLY_SOURCES))
        & (pl.col("date") < pl.col("_so_first"))
    )
    df = (
        df.join(so_src, on="ticker", how="left")
        .join(first, on="ticker", how="left")
        .with_columns(
            pl.when(use).then(pl.col("shares_outstanding")).alias("shares_outstanding"),
            pl.when(use).then(pl.col("so_lag")).alias("so_lag"),
            pl.when(use).then(pl.col("_own")).alias("_own"),
        )
        .with_columns(
            pl.when(pl.col("shares_outstanding").is_not_null() | pl.col("_own").is_not_null())
            .then(pl.col("source"))
            .alias("_row_so")
        )
    )
    present = [c for c in (*DAILY_VALUES, "so_lag") if c in daily.columns]
    aggs = [pl.col(c).drop_nulls().first().alias(c) for c in present]
    row_so = pl.coalesce(pl.col("_row_so").drop_nulls().first(), pl.col("_so_source").first())
    aggs.append(row_so.alias("so_source"))
    if tna:
        aggs.append(pl.col("_own").drop_nulls().first().alias("_so_derived"))
    return df.sort("_prio").group_by("date", "ticker").agg(aggs).sort("ticker", "date")


def compute_flows(
    daily: pl.DataFrame,
    funds: pl.DataFrame | None = None,
    *,
    params: FlowParams | None = None,
) -> pl.DataFrame:
    """Daily flows (`flows_daily` schema) from a daily panel with one row per (date, ticker).

    `daily` needs date, ticker, shares_outstanding and nav and/or close; split_factor and so_lag are
    optional (a missing so_lag is taken as 0 and flagged LAG_UNKNOWN). `funds` supplies
    creation_unit_shares for the odd-lot check. Rows without a shares count produce no flow; the next
    count's change is flagged GAP with the number of sessions it spans.

    Each fund's sessions come from its market's exchange calendar (`funds.market`, else the ticker's
    form: NYSE for US funds, XSHG for China A-share funds). A flow whose count comes from a month-end
    source (MONTHLY_SOURCES) has method `month_end`: (SO_m - SO_m-1) x NAV_m on the month's last
    session. A change that involves a count the source marks as estimated is flagged ESTIMATED.
    """
    p = params or FlowParams()
    if daily.select(pl.struct("date", "ticker").is_duplicated().any()).item():
        raise DataQualityError("daily panel has several rows per (date, ticker): merge sources first")
    daily = _derive_shares_from_aum(daily)
    cols = {c: pl.Float64 for c in ("close", "nav", "shares_outstanding", "split_factor")}
    extra = [
        (pl.col(c) if c in daily.columns else pl.lit(None, dtype=t)).cast(t).alias(c)
        for c, t in (("estimated", pl.Boolean), ("so_source", pl.String))
    ]
    df = daily.select(
        "date",
        "ticker",
        *[
            (pl.col(c).cast(t) if c in daily.columns else pl.lit(None, dtype=t)).alias(c)
            for c, t in cols.items()
        ],
        (pl.col("so_lag").cast(pl.Int64) if "so_lag" in daily.columns else pl.lit(None, pl.Int64)).alias(
            "so_lag"
        ),
        "_method",
        *extra,
    ).sort("ticker", "date")
    markets = calendar.fund_markets(funds, df["ticker"].unique().to_list())
    df = df.with_columns(pl.col("ticker").replace_strict(markets, return_dtype=pl.String).alias("_market"))
    parts = [
        _market_flows(part, str(m), funds, p) for (m,), part in df.group_by("_market", maintain_order=True)
    ]
    out = pl.concat(parts) if parts else _market_flows(df, "US", funds, p)
    return validate(out.sort("ticker", "date"), "flows_daily")


def _market_flows(df: pl.DataFrame, market: str, funds: pl.DataFrame | None, p: FlowParams) -> pl.DataFrame:
    """The flow kernel on one market's funds, with that market's exchange calendar."""
    dates = df["date"].to_numpy().astype("datetime64[D]")
    ok = calendar.is_trading_day(dates, market)
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise DataQualityError(
            f"{df['ticker'][bad]} has a row dated {df['date'][bad]}, "
            f"which is not an {_EXCHANGE[market]} session"
        )
    lag_unknown = df["so_lag"].is_null().to_numpy()
    lag = df["so_lag"].fill_null(0).to_numpy().astype(np.int64)
    tick = df["ticker"].to_numpy()
    starts = np.flatnonzero(np.r_[True, tick[1:] != tick[:-1]]) if len(tick) else np.zeros(0, np.int64)
    starts = np.append(starts, len(tick)).astype(np.int64)
    tickers = tick[starts[:-1]]
    unit = np.zeros(len(tickers))
    if funds is not None and "creation_unit_shares" in funds.columns:
        units = dict(zip(funds["ticker"].to_list(), funds["creation_unit_shares"].to_list(), strict=True))
        unit = np.array([float(units.get(t) or 0) for t in tickers])
    sess = calendar.session_index(dates, market)
    split_rows = np.zeros(0, dtype=np.int64)
    if market != "US":
        df, split_rows = _apply_declared_splits(df, starts)

    def arr(c: str) -> np.ndarray:
        return df[c].fill_null(np.nan).to_numpy().astype(np.float64)

    flow, aum_prev, dshares, nav_used, flags, gap, trade_sess = flows_long_nb(
        starts,
        sess,
        arr("shares_outstanding"),
        arr("nav"),
        arr("close"),
        arr("split_factor"),
        lag,
        unit,
        *p.thresholds(),
        SPLIT_RATIOS,
    )
    flags = flags | np.where(lag_unknown, np.uint32(Flag.LAG_UNKNOWN), np.uint32(0)).astype(np.uint32)
    flags = flags | np.where(_estimated(df), np.uint32(Flag.ESTIMATED), np.uint32(0)).astype(np.uint32)
    flags = np.asarray(flags, dtype=np.uint32)
    flags[split_rows] = flags[split_rows] | np.uint32(int(Flag.SPLIT))
    # the first count of a new source starts afresh: never differenced against another source's
    switch = _source_switch(df)
    flags[switch] = flags[switch] | np.uint32(int(Flag.FIRST))
    flow[switch] = np.nan
    dshares[switch] = np.nan
    monthly = df["so_source"].is_in(list(MONTHLY_SOURCES)).fill_null(False).to_numpy()
    method = np.where(monthly, "month_end", df["_method"].to_numpy())
    # counts derived from AUM / NAV are not whole shares: the creation-unit check does not apply
    flags = np.where(method == "aum", flags & ~np.uint32(Flag.ODD_LOT), flags).astype(np.uint32)
    keep = ~np.isnan(arr("shares_outstanding"))
    all_sessions = calendar.sessions(market=market)
    trade_dates = all_sessions[np.clip(trade_sess, 0, len(all_sessions) - 1)]
    trade_date_clash(tick, trade_dates, dates, lag, keep)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(aum_prev > 0, flow / aum_prev, np.nan)
    out = pl.DataFrame(
        {
            "date": trade_dates[keep],
            "ticker": tick[keep],
            "flow_usd": flow[keep],
            "aum_prev_usd": aum_prev[keep],
            "flow_pct_aum": pct[keep],
            "shares_change": dshares[keep],
            "nav_used": nav_used[keep],
            "method": method[keep],
            "flags": flags[keep],
            "gap_sessions": gap[keep],
            "available_on": dates[keep],
        },
        schema_overrides={
            "ticker": pl.String,
            "method": pl.String,
            "flags": pl.UInt32,
            "gap_sessions": pl.Int32,
        },
    ).with_columns(pl.col(c).fill_nan(None) for c in ("flow_usd", "aum_prev_usd", "flow_pct_aum"))
    return out.with_columns(pl.col(c).fill_nan(None) for c in ("shares_change", "nav_used"))


def trade_date_clash(
    ticker: np.ndarray, trade: np.ndarray, stated: np.ndarray, lag: np.ndarray, has: np.ndarray
) -> None:
    """DataQualityError where two counts of one fund (rows `has`) belong to one trade date: a source
    whose declared lag changed (lag 0 on one session, 1 on the next). Neither count can be chosen, and
    the flows would break the key of `flows_daily`. Shared by the frame and bulk paths (one message).
    Rows come grouped by fund in date order (both callers' order): where trade dates rise within every
    fund, the usual case, no two counts can share one and the exact search is skipped (it took 1.15 s
    of a 6M-row import)."""
    idx = np.flatnonzero(has)
    if len(idx) < 2:
        return
    t = trade[idx].astype("datetime64[D]").astype(np.int64)
    fund = ticker[idx]
    if not ((fund[1:] == fund[:-1]) & (t[1:] <= t[:-1])).any():
        return
    order = np.lexsort((stated[idx].astype("datetime64[D]"), t, fund))
    i, t = idx[order], t[order]
    same = (ticker[i[1:]] == ticker[i[:-1]]) & (t[1:] == t[:-1])
    if same.any():
        k = int(np.flatnonzero(same)[0])
        a, b = int(i[k]), int(i[k + 1])
        raise DataQualityError(
            f"{ticker[a]}: the shares counts stated for {stated[a].astype('datetime64[D]')} (so_lag "
            f"{lag[a]}) and {stated[b].astype('datetime64[D]')} (so_lag {lag[b]}) both belong to trade "
            f"date {trade[a].astype('datetime64[D]')}: a reporting lag that changes must not give two "
            "counts one trade date"
        )


def _apply_declared_splits(df: pl.DataFrame, starts: np.ndarray) -> tuple[pl.DataFrame, np.ndarray]:
    """Put every fund's series in its latest share units using the split factors its rows declare.

    China A-share funds split or consolidate by any ratio (510310: 0.4998 new shares per old), not
    the standard ratios the kernel recognises, and the count and NAV change at the close of the
    session before the first one traded at the new price (which carries `split_factor`). So, for a
    factor k declared on row j: the shares event is the count next to j (the last one before j, or
    the first from j on) whose change is nearest to k; counts and NAVs before it are restated (x k,
    / k), closes before j likewise (/ k), the factor is consumed, and the event row is returned to be
    flagged SPLIT. The change left at the event row is a flow.
    """
    split = df["split_factor"].to_numpy().astype(np.float64)
    declared = np.flatnonzero(np.isfinite(split) & (split > 0) & (split != 1.0))
    if not len(declared):
        return df, np.zeros(0, dtype=np.int64)
    so = df["shares_outstanding"].fill_null(np.nan).to_numpy().astype(np.float64).copy()
    nav = df["nav"].fill_null(np.nan).to_numpy().astype(np.float64).copy()
    close = df["close"].fill_null(np.nan).to_numpy().astype(np.float64).copy()
    group = np.searchsorted(starts, declared, side="right") - 1
    events = []
    for j, g in zip(declared.tolist(), group.tolist(), strict=True):
        lo, k = int(starts[g]), float(split[j])
        close[lo:j] /= k
        have = np.flatnonzero(np.isfinite(so[lo : starts[g + 1]])) + lo
        best, dist = -1, np.inf
        for cand in (have[have < j][-1:], have[have >= j][:1]):
            for i in cand.tolist():
                prev = have[have < i]
                if len(prev) and so[prev[-1]] > 0 and so[i] > 0:
                    d = abs(np.log(so[i] / so[prev[-1]]) - np.log(k))
                    if d < dist:
                        best, dist = i, d
        if best < 0:
            continue
        so[lo:best] *= k
        nav[lo:best] /= k
        events.append(best)
    out = df.with_columns(
        pl.Series("shares_outstanding", so).fill_nan(None),
        pl.Series("nav", nav).fill_nan(None),
        pl.Series("close", close).fill_nan(None),
        pl.lit(None, dtype=pl.Float64).alias("split_factor"),
    )
    return out, np.array(events, dtype=np.int64)


def _source_switch(df: pl.DataFrame) -> np.ndarray:
    """Rows whose count comes from another source than the fund's previous count."""
    has = pl.col("shares_outstanding").is_not_null()
    src = pl.when(has).then(pl.col("so_source"))
    prev = src.forward_fill().shift(1).over("ticker")
    switch = has & prev.is_not_null() & pl.col("so_source").is_not_null() & (pl.col("so_source") != prev)
    return np.asarray(df.select(switch.fill_null(False).alias("s"))["s"].to_numpy())


def _estimated(df: pl.DataFrame) -> np.ndarray:
    """Rows whose shares change involves an estimated count: this row's or the fund's previous count."""
    has = pl.col("shares_outstanding").is_not_null()
    est = pl.col("estimated").fill_null(False) & has
    prev = pl.when(has).then(est).otherwise(None).forward_fill().shift(1).over("ticker").fill_null(False)
    return np.asarray(df.select((est | (prev & has)).alias("e"))["e"].to_numpy())


def _derive_shares_from_aum(daily: pl.DataFrame) -> pl.DataFrame:
    """Where a row has AUM and NAV but no shares count, use AUM / NAV (the AUM method) and say so.

    (AUM_t / NAV_t - AUM_t-1 / NAV_t-1) x NAV_t = AUM_t - AUM_t-1 x NAV_t / NAV_t-1: the AUM method with
    the price return, so distributions are not outflows.
    """
    if "shares_outstanding" not in daily.columns:
        daily = daily.with_columns(pl.lit(None, dtype=pl.Float64).alias("shares_outstanding"))
    if "_so_derived" in daily.columns:
        # merged by `merge_sources`: the fund's count source's own derived count, with its lag (the
        # merged total net assets may be another source's, whose count is not this fund's)
        derive = pl.col("shares_outstanding").is_null() & pl.col("_so_derived").is_not_null()
        count = pl.col("_so_derived")
    elif "total_net_assets" not in daily.columns:
        return daily.with_columns(pl.lit("shares").alias("_method"))
    else:
        derive = (
            pl.col("shares_outstanding").is_null()
            & pl.col("total_net_assets").is_not_null()
            & (pl.col("nav") > 0)
        )
        count = pl.col("total_net_assets") / pl.col("nav")
    return daily.with_columns(
        pl.when(derive).then(count).otherwise(pl.col("shares_outstanding")).alias("shares_outstanding"),
        pl.when(derive).then(pl.lit("aum")).otherwise(pl.lit("shares")).alias("_method"),
    )


def shares_method(frame: pl.DataFrame) -> pl.Series:
    """Reference shares method on a trade-date-aligned panel: (shares_t - shares_t-1) x nav_t."""
    f = frame.sort("ticker", "date")
    return f.select(
        ((pl.col("shares") - pl.col("shares").shift(1).over("ticker")) * pl.col("nav")).alias("flow")
    ).to_series()


def aum_method(frame: pl.DataFrame) -> pl.Series:
    """Reference AUM method: AUM_t - AUM_t-1 x NAV_t / NAV_t-1 (price return, never total return)."""
    f = frame.sort("ticker", "date")
    prev_aum = pl.col("aum").shift(1).over("ticker")
    prev_nav = pl.col("nav").shift(1).over("ticker")
    return f.select((pl.col("aum") - prev_aum * pl.col("nav") / prev_nav).alias("flow")).to_series()
