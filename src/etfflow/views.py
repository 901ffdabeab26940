"""The tables the CLI and the Python API show, computed from flow frames (pure: frames in, frames out).

Conventions shared by every view:
- a column ending in ``_pct`` or holding ``_pct_`` is a fraction (0.01 = 1%), never a percentage;
- ``flags`` is a list of flag names (`etfflow.flows.flags.Flag`, lower case), never the bitmask;
- ``counted`` says whether a daily flow enters totals: a known flow without the flags left out of
  statistics by default (bad_print, no_price, first). Every total is the sum of the counted rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from etfflow import calendar
from etfflow.flows.flags import EXCLUDED_BY_DEFAULT, Flag

__all__ = [
    "csv_ready",
    "daily_view",
    "decode_flags",
    "period_view",
    "sessions_between",
    "window_start",
]

_FLAG_NAMES = [(int(f.value), (f.name or "").lower()) for f in Flag]


def decode_flags(col: str = "flags") -> pl.Expr:
    """The bitmask column as a list of flag names (in `Flag` order)."""
    parts = [pl.when((pl.col(col) & v) != 0).then(pl.lit(name)).otherwise(None) for v, name in _FLAG_NAMES]
    return pl.concat_list(parts).list.drop_nulls().alias(col)


def counted_expr(exclude: int = int(EXCLUDED_BY_DEFAULT)) -> pl.Expr:
    """True where a daily flow enters totals: known, and none of the `exclude` flags."""
    return (pl.col("flow_usd").is_not_null() & ((pl.col("flags") & exclude) == 0)).alias("counted")


def daily_view(flows: pl.DataFrame, exclude: int = int(EXCLUDED_BY_DEFAULT)) -> pl.DataFrame:
    """Daily flows with `counted` and decoded flags: date, ticker, flow_usd, aum_prev_usd, flow_pct_aum,..."""
    from etfflow.signals.tracker import MARKET_COLUMNS

    extra = [c for c in ("flow_source", *MARKET_COLUMNS) if c in flows.columns]
    return (
        flows.sort("ticker", "date")
        .with_columns(counted_expr(exclude))
        .select(
            "date",
            "ticker",
            "flow_usd",
            "aum_prev_usd",
            "flow_pct_aum",
            "counted",
            decode_flags(),
            "available_on",
            *extra,
        )
    )


def _full_period_sessions(freq: str, market: str = "US") -> dict[dt.date, int]:
    ends, counts = np.unique(
        calendar.period_end(calendar.sessions(None, None, market), freq, market), return_counts=True
    )
    return {dt.date.fromisoformat(str(e)): int(c) for e, c in zip(ends, counts, strict=True)}


def period_view(
    flows: pl.DataFrame,
    freq: str,
    coverage: dict[str, tuple[dt.date, dt.date]],
    exclude: int = int(EXCLUDED_BY_DEFAULT),
    markets: dict[str, str] | None = None,
) -> pl.DataFrame:
    """Weekly ('w') or monthly ('m') sums of the counted daily flows, per fund, with what is incomplete.

    `coverage` gives each fund's first and last trade date covered by the selection (the asked
    range clipped to the fund's data); `markets` each fund's market (default US), whose calendar
    makes its weeks and months. Columns: period_end (the week's or month's last session), date (the
    last covered session of the period: never after the range's end), ticker, flow_usd (sum of
    counted rows, in the fund's currency), aum_start_usd, flow_pct_aum (fraction of aum_start_usd),
    sessions (sessions of the period covered), period_sessions, partial (the selection or the fund's
    data covers only part of the period), days (counted rows), unknown_days (rows not counted:
    unknown flows and flags left out), flags (every flag seen in the period), available_on (when the
    period's last flow was known).
    """
    if freq not in ("w", "m"):
        raise ValueError(f"unknown period {freq!r}: use w or m")
    schema = {
        "ticker": pl.String,
        "period_end": pl.Date,
        "date": pl.Date,
        "sessions": pl.Int32,
        "period_sessions": pl.Int32,
    }
    cover_rows: list[dict[str, Any]] = []
    tagged = []
    for ticker, (lo, hi) in coverage.items():
        market = (markets or {}).get(ticker, "US")
        full = _full_period_sessions(freq, market)
        s = calendar.sessions(lo, hi, market)
        ends = calendar.period_end(s, freq, market)
        for e in np.unique(ends):
            pe = dt.date.fromisoformat(str(e))
            cover_rows.append(
                {
                    "ticker": ticker,
                    "period_end": pe,
                    "date": dt.date.fromisoformat(str(s[ends == e].max())),
                    "sessions": int((ends == e).sum()),
                    "period_sessions": full[pe],
                }
            )
        tagged.append(
            flows.filter(pl.col("ticker") == ticker).with_columns(
                calendar.period_end_expr("date", freq, market).alias("period_end")
            )
        )
    cover = pl.DataFrame(cover_rows, schema=schema)
    f = (
        pl.concat(tagged) if tagged else flows.with_columns(pl.col("date").alias("period_end"))
    ).with_columns(counted_expr(exclude))
    agg = (
        f.sort("ticker", "date")
        .group_by("ticker", "period_end")
        .agg(
            pl.col("flow_usd").filter(pl.col("counted")).sum().alias("flow_usd"),
            pl.col("aum_prev_usd").filter(pl.col("counted")).drop_nulls().first().alias("aum_start_usd"),
            pl.col("counted").sum().cast(pl.Int32).alias("days"),
            (~pl.col("counted")).sum().cast(pl.Int32).alias("unknown_days"),
            pl.col("flags").bitwise_or().alias("flags"),
            pl.col("available_on").max().alias("available_on"),
        )
    )
    out = cover.join(agg, on=["ticker", "period_end"], how="left").with_columns(
        pl.col("days").fill_null(0),
        pl.col("unknown_days").fill_null(0),
        pl.col("flags").fill_null(0),
        pl.when(pl.col("days") > 0).then(pl.col("flow_usd")).otherwise(None).alias("flow_usd"),
        (pl.col("sessions") < pl.col("period_sessions")).alias("partial"),
    )
    return (
        out.with_columns(
            pl.when(pl.col("aum_start_usd") > 0)
            .then(pl.col("flow_usd") / pl.col("aum_start_usd"))
            .otherwise(None)
            .alias("flow_pct_aum"),
            decode_flags(),
        )
        .select(
            "period_end",
            "date",
            "ticker",
            "flow_usd",
            "aum_start_usd",
            "flow_pct_aum",
            "sessions",
            "period_sessions",
            "partial",
            "days",
            "unknown_days",
            "flags",
            "available_on",
        )
        .sort("ticker", "period_end")
    )


def sessions_between(start: dt.date, end: dt.date) -> int:
    """NYSE sessions from start to end inclusive."""
    return len(calendar.sessions(start, end))


def window_start(end: dt.date, window: int) -> dt.date:
    """First session of the `window` NYSE sessions ending at `end` (counted on the calendar)."""
    s = calendar.sessions(None, end)
    if not len(s):
        return end
    return dt.date.fromisoformat(str(s[max(0, len(s) - max(window, 1))]))


def csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """List columns joined with ';' (CSV has no lists); `etfflow.safety.write_csv_safe` makes it safe."""
    return frame.with_columns(
        pl.col(name).cast(pl.List(pl.String)).list.join(";")
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.List)
    )
