"""yfinance (optional extra ``etfflow[yfinance]``): prices, volume, dividends, splits and share counts.

A thin adapter: it asks a yfinance ``Ticker`` for ``history(auto_adjust=False, actions=True)`` and
``get_shares_full()``, and turns both into `daily` rows (source "yfinance"). yfinance is imported
only when no ticker factory is injected, so tests pass a fake one and need no yfinance at all.

Prices. Yahoo states Open/Close, Volume and Dividends adjusted for every split that follows them
(``auto_adjust=False`` removes only the dividend adjustment). Shares counts are not adjusted, so the
adapter undoes the split adjustment with the splits in the fetched window (price x later splits,
volume / later splits) to keep price and count in the same units; a split then shows as the
reciprocal moves the flow engine detects. "Adj Close" is derivable from close, dividends and splits
and has no column in `daily`. Prices carry so_lag 0.

Share counts, and their known gaps. ``get_shares_full`` returns irregular timestamps (several a day,
weekends, exact duplicates, sometimes conflicting values for one timestamp) or nothing. Rules, each
counted in `dropped`: an empty or missing series gives no counts (never zeros); non-positive values
are dropped; exact duplicate timestamps keep one row, conflicting ones are all dropped; several
stamps on one day keep the latest; stamps on non-sessions are dropped. A repeated count says
nothing new (Yahoo repeats stale values for weeks): only the first of a run of identical counts is
kept, also against the last count already stored (`last_shares`), so the next real change is dated
where it is first seen and flagged GAP over the sessions it spans, instead of a run of zero flows
masquerading as "no creations". The reporting lag of these counts is unknown (`shares_lag=None`
flags LAG_UNKNOWN) unless the caller states it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl

from etfflow.calendar import is_trading_day
from etfflow.errors import ConfigError, EtfflowError, NotFoundError, TransportError
from etfflow.schema import TABLES, empty, validate
from etfflow.sources.base import ImportBatch, add_dropped, check_so_lag

__all__ = [
    "SHARES_START",
    "YFINANCE_SOURCE",
    "TickerFactory",
    "fetch_yfinance",
    "history_rows",
    "shares_rows",
    "yfinance_factory",
]

YFINANCE_SOURCE = "yfinance"
#: yfinance's get_shares_full looks back only ~18 months unless given a start
SHARES_START = dt.date(1993, 1, 1)
TickerFactory = Callable[[str], Any]


def yfinance_factory() -> TickerFactory:
    """``yfinance.Ticker``; ConfigError naming the extra to install when yfinance is missing."""
    try:
        import yfinance
    except ImportError as exc:
        raise ConfigError(
            "the yfinance source needs the optional package yfinance (etfflow's extra of that name): "
            "pip install yfinance"
        ) from exc
    factory: TickerFactory = yfinance.Ticker
    return factory


def _num(value: Any) -> float | None:
    """A float, None for NaN / None / non-numbers."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def _dates(index: Sequence[Any]) -> list[dt.date]:
    """Session dates of a (time-zone aware) pandas DatetimeIndex: each stamp's local calendar date."""
    out = []
    for ts in index:
        out.append(ts.date() if hasattr(ts, "date") else dt.date.fromisoformat(str(ts)[:10]))
    return out


def _column(frame: Any, name: str, n: int) -> list[float | None]:
    if name not in list(frame.columns):
        return [None] * n
    return [_num(v) for v in frame[name].tolist()]


def history_rows(
    frame: Any, *, unadjust_splits: bool = True, dropped: dict[str, int] | None = None
) -> pl.DataFrame:
    """date, open, close, volume, split_factor, distribution from a yfinance history frame."""
    drops = dropped if dropped is not None else {}
    cols = {
        "date": pl.Date,
        **{c: pl.Float64 for c in ("open", "close", "volume", "split_factor", "distribution")},
    }
    if frame is None or len(frame) == 0:
        return pl.DataFrame(schema=cols)
    n = len(frame)
    raw = pl.DataFrame(
        {
            "date": _dates(frame.index),
            "open": _column(frame, "Open", n),
            "close": _column(frame, "Close", n),
            "volume": _column(frame, "Volume", n),
            "split": _column(frame, "Stock Splits", n),
            "dividend": _column(frame, "Dividends", n),
        },
        schema_overrides={"date": pl.Date},
    ).with_row_index("_i")
    # several rows for one date (time-zone slips): the last one stands
    dedup = raw.unique("date", keep="last", maintain_order=True)
    add_dropped(drops, "duplicate_price_dates", raw.height - dedup.height)
    df = dedup.sort("date").with_columns(
        pl.when(pl.col("split") > 0).then(pl.col("split")).alias("split_factor"),
        pl.when(pl.col("dividend") > 0).then(pl.col("dividend")).alias("distribution"),
    )
    empty_row = pl.all_horizontal(
        pl.col(c).is_null() for c in ("open", "close", "volume", "split_factor", "distribution")
    )
    add_dropped(drops, "empty_price_rows", int(df.select(empty_row.sum()).item()))
    df = df.filter(~empty_row)
    if unadjust_splits:
        # product of the splits strictly after each row (reverse cumulative product, shifted by one)
        later = pl.col("split_factor").fill_null(1.0).reverse().cum_prod().reverse().shift(-1).fill_null(1.0)
        df = df.with_columns(later.alias("_later")).with_columns(
            (pl.col("open") * pl.col("_later")).alias("open"),
            (pl.col("close") * pl.col("_later")).alias("close"),
            (pl.col("volume") / pl.col("_later")).alias("volume"),
            (pl.col("distribution") * pl.col("_later")).alias("distribution"),
        )
    return df.select(list(cols)).cast(cols)  # type: ignore[arg-type]


def shares_rows(
    series: Any, *, last_shares: float | None = None, dropped: dict[str, int] | None = None
) -> pl.DataFrame:
    """date, shares_outstanding from ``get_shares_full`` output, cleaned as the module docstring says."""
    drops = dropped if dropped is not None else {}
    schema = {"date": pl.Date, "shares_outstanding": pl.Float64}
    if series is None or len(series) == 0:
        return pl.DataFrame(schema=schema)
    stamps = [str(ts) for ts in series.index]
    raw = pl.DataFrame(
        {"stamp": stamps, "date": _dates(series.index), "shares": [_num(v) for v in series.tolist()]},
        schema_overrides={"date": pl.Date},
    ).with_row_index("_i")
    bad = raw["shares"].is_null() | (raw["shares"] <= 0).fill_null(True)
    add_dropped(drops, "invalid_shares", int(bad.sum()))
    df = raw.filter(~bad)
    same = df.unique(["stamp", "shares"], keep="first", maintain_order=True)
    add_dropped(drops, "duplicate_share_stamps", df.height - same.height)
    conflict = same.select(pl.col("stamp").is_duplicated()).to_series()
    add_dropped(drops, "conflicting_share_stamps", int(conflict.sum()))
    df = same.filter(~conflict).sort("stamp", "_i")
    latest = df.unique("date", keep="last", maintain_order=True)
    add_dropped(drops, "superseded_same_day_shares", df.height - latest.height)
    df = latest.sort("date")
    dates = df["date"].to_numpy().astype("datetime64[D]")
    on_session = is_trading_day(dates) if len(dates) else np.zeros(0, dtype=bool)
    add_dropped(drops, "non_session_shares", int((~on_session).sum()))
    df = df.filter(pl.Series(on_session))
    prev = pl.col("shares").shift(1)
    if last_shares is not None:
        prev = prev.fill_null(float(last_shares))
    repeat = df.select((pl.col("shares") == prev).fill_null(False)).to_series()
    add_dropped(drops, "repeated_shares", int(repeat.sum()))
    df = df.filter(~repeat)
    return df.select("date", pl.col("shares").alias("shares_outstanding")).cast(schema)  # type: ignore[arg-type]


def fetch_yfinance(
    ticker: str,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    factory: TickerFactory | None = None,
    shares: bool = True,
    last_shares: float | None = None,
    shares_lag: int | None = None,
    unadjust_splits: bool = True,
    retrieved_at: dt.datetime | None = None,
) -> ImportBatch:
    """Daily rows for one ticker from yfinance (start/end inclusive dates; None: all history)."""
    symbol = ticker.strip().upper()
    check_so_lag(shares_lag)
    make = factory if factory is not None else yfinance_factory()
    stamp = retrieved_at or dt.datetime.now(dt.UTC)
    if stamp.tzinfo is None:
        raise ConfigError("retrieved_at must be time-zone aware")
    dropped: dict[str, int] = {}
    notes: list[str] = []
    kwargs: dict[str, Any] = {"interval": "1d", "auto_adjust": False, "actions": True}
    if start is not None:
        kwargs["start"] = start.isoformat()
    else:
        kwargs["period"] = "max"
    if end is not None:
        kwargs["end"] = (end + dt.timedelta(days=1)).isoformat()  # yfinance's end is exclusive
    try:
        t = make(symbol)
        hist = t.history(**kwargs)
        counts = None
        if shares:
            counts = t.get_shares_full(
                start=(start or SHARES_START).isoformat(),
                end=(end + dt.timedelta(days=1)).isoformat() if end else None,
            )
    except EtfflowError:
        raise
    except Exception as exc:  # yfinance raises many kinds; none may leak
        raise TransportError(f"yfinance failed for {symbol}: {type(exc).__name__}: {exc}") from exc
    prices = history_rows(hist, unadjust_splits=unadjust_splits, dropped=dropped)
    if start is not None:
        prices = prices.filter(pl.col("date") >= start)
    so = (
        shares_rows(counts, last_shares=last_shares, dropped=dropped)
        if shares
        else pl.DataFrame(schema={"date": pl.Date, "shares_outstanding": pl.Float64})
    )
    if start is not None:
        so = so.filter(pl.col("date") >= start)
    if shares and (counts is None or len(counts) == 0):
        notes.append(f"yfinance returned no share counts for {symbol}: no flows from this source")
    dates = prices["date"].to_numpy().astype("datetime64[D]")
    on_session = is_trading_day(dates) if len(dates) else np.zeros(0, dtype=bool)
    add_dropped(dropped, "non_session_rows", int((~on_session).sum()))
    prices = prices.filter(pl.Series(on_session))
    daily = prices.join(so, on="date", how="full", coalesce=True).sort("date")
    if daily.height == 0 and start is None:
        raise NotFoundError(f"yfinance has no data for {symbol}")
    daily = daily.with_columns(
        pl.lit(symbol).alias("ticker"),
        pl.lit(YFINANCE_SOURCE).alias("source"),
        pl.when(pl.col("shares_outstanding").is_not_null())
        .then(pl.lit(shares_lag, dtype=pl.Int8))
        .otherwise(pl.lit(0, dtype=pl.Int8))
        .alias("so_lag"),
        pl.lit(stamp.astimezone(dt.UTC)).alias("retrieved_at"),
    )
    known = set(TABLES["daily"].names)
    daily = daily.select([c for c in daily.columns if c in known])
    out = validate(daily, "daily", file=f"yfinance:{symbol}") if daily.height else empty("daily")
    return ImportBatch(
        source=YFINANCE_SOURCE, file=f"yfinance:{symbol}", daily=out, dropped=dropped, notes=notes
    )
