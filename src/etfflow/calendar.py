"""Exchange trading-day calendars (exchange_calendars), cached as sorted NumPy date arrays.

Every function takes a `market` (default "US"): US funds trade on the NYSE calendar (XNYS), China
A-share funds (Shanghai and Shenzhen, which share one holiday schedule) on XSHG. Each market's sessions
are cached on disk per exchange_calendars version (a calendar's setup takes ~1-2 s).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

from etfflow.errors import ConfigError

__all__ = [
    "CURRENCIES",
    "MARKETS",
    "calendar_end",
    "fund_currencies",
    "fund_markets",
    "is_trading_day",
    "market_of_ticker",
    "month_end_sessions",
    "period_end",
    "session_index",
    "sessions",
    "shift_sessions",
    "week_end_sessions",
]

#: market -> (exchange_calendars code, first day, last day asked for)
MARKETS: dict[str, tuple[str, str, str]] = {
    "US": ("XNYS", "1990-01-01", "2035-12-31"),
    # exchange_calendars records XSHG holidays only a year ahead: the range ends where it ends
    "CN": ("XSHG", "1990-12-19", "2035-12-31"),
}
#: each market's trading currency
CURRENCIES: dict[str, str] = {"US": "USD", "CN": "CNY"}

_CN_TICKER = re.compile(r"^\d{6}\.(SH|SZ)$")


def market_of_ticker(ticker: str) -> str:
    """The market a ticker's form names: `512880.SH` / `159915.SZ` are CN, anything else US.

    Only the fallback for funds the funds table does not place (its `market` column decides).
    """
    return "CN" if _CN_TICKER.match(ticker) else "US"


def fund_markets(funds: pl.DataFrame | None, tickers: list[str]) -> dict[str, str]:
    """Market of each ticker: the funds table's `market`, else the ticker's form (`market_of_ticker`)."""
    known: dict[str, str] = {}
    if funds is not None and "market" in funds.columns:
        known = {t: m for t, m in zip(funds["ticker"].to_list(), funds["market"].to_list(), strict=True) if m}
    out = {t: known.get(t) or market_of_ticker(t) for t in tickers}
    for m in set(out.values()):
        _check(m)
    return out


def fund_currencies(funds: pl.DataFrame | None, tickers: list[str]) -> dict[str, str]:
    """Currency of each ticker: the funds table's `currency`, else its market's currency."""
    known: dict[str, str] = {}
    if funds is not None and "currency" in funds.columns:
        known = {
            t: c for t, c in zip(funds["ticker"].to_list(), funds["currency"].to_list(), strict=True) if c
        }
    markets = fund_markets(funds, tickers)
    return {t: known.get(t) or CURRENCIES[markets[t]] for t in tickers}


def _check(market: str) -> tuple[str, str, str]:
    try:
        return MARKETS[market]
    except KeyError:
        raise ConfigError(f"unknown market {market!r}; known: {', '.join(MARKETS)}") from None


@lru_cache(maxsize=8)
def _all_sessions(market: str = "US") -> np.ndarray:
    """The market's sessions, cached on disk per exchange_calendars version."""
    from importlib.metadata import version

    code, start, end = _check(market)
    cache = _cache_dir() / f"{code.lower()}-{version('exchange_calendars')}-{start}-{end}.npy"
    try:
        out: np.ndarray = np.load(cache)
        return out
    except (OSError, ValueError):
        pass
    import exchange_calendars as xc

    try:
        cal = xc.get_calendar(code, start=start, end=end)
    except ValueError:  # holidays recorded only up to a bound (XSHG: about a year ahead): stop there
        cal = xc.get_calendar(code, start=start)
    s = np.asarray(cal.sessions.values.astype("datetime64[D]"))
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(tmp, s)
        os.replace(tmp, cache)  # atomic: concurrent processes never read half a file
    except OSError:
        pass  # a read-only home only costs the setup time again
    return s


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "etfflow"


def calendar_end(market: str = "US") -> dt.date:
    """The last session the market's calendar knows (XSHG: the end of the year its holidays are set for)."""
    return dt.date.fromisoformat(str(_all_sessions(market)[-1]))


def sessions(
    start: dt.date | str | None = None, end: dt.date | str | None = None, market: str = "US"
) -> np.ndarray:
    """The market's sessions between start and end inclusive, as datetime64[D]."""
    s = _all_sessions(market)
    lo = 0 if start is None else int(np.searchsorted(s, np.datetime64(start, "D"), "left"))
    hi = len(s) if end is None else int(np.searchsorted(s, np.datetime64(end, "D"), "right"))
    return s[lo:hi]


def is_trading_day(dates: np.ndarray, market: str = "US") -> np.ndarray:
    """Boolean mask: which datetime64[D] values are sessions of the market."""
    out: np.ndarray = session_positions(dates, market) >= 0
    return out


def session_index(dates: np.ndarray, market: str = "US") -> np.ndarray:
    """Position of each date in the market's session list (dates must be sessions)."""
    return np.searchsorted(_all_sessions(market), np.asarray(dates, dtype="datetime64[D]")).astype(np.int64)


@lru_cache(maxsize=8)
def _day_lookup(market: str) -> np.ndarray:
    """Position of each calendar day from the first session to the last in the session list; -1 on days
    that are not sessions (a direct lookup: no binary search)."""
    s = _all_sessions(market).view(np.int64)
    lut = np.full(int(s[-1] - s[0]) + 1, -1, dtype=np.int64)
    lut[s - s[0]] = np.arange(len(s), dtype=np.int64)
    return lut


def session_positions(dates: np.ndarray, market: str = "US") -> np.ndarray:
    """Position of each datetime64[D] date in the market's session list, -1 where it is not a session:
    `is_trading_day` and `session_index` in one table lookup."""
    lut = _day_lookup(market)
    first = _all_sessions(market)[0].astype(np.int64)
    rel = np.asarray(dates, dtype="datetime64[D]").view(np.int64) - first
    inside = (rel >= 0) & (rel < len(lut))
    out: np.ndarray = np.where(inside, lut[np.where(inside, rel, 0)], -1)
    return out


def shift_sessions(dates: np.ndarray, n: int, market: str = "US") -> np.ndarray:
    """Move each session n sessions forward (n>0) or back (n<0)."""
    s = _all_sessions(market)
    idx = session_index(dates, market) + n
    if len(idx) and (idx.min() < 0 or idx.max() >= len(s)):
        raise ValueError("shift leaves the calendar range")
    out: np.ndarray = s[idx]
    return out


def _period_last(dates: np.ndarray, key: np.ndarray, market: str) -> np.ndarray:
    """Last session of the run of equal keys (week or month) that holds each date."""
    s = _all_sessions(market)
    boundary = np.diff(key) != 0
    group = np.concatenate([[0], np.cumsum(boundary)])
    ends = np.flatnonzero(np.append(boundary, True))
    out: np.ndarray = s[ends[group[session_index(dates, market)]]]
    return out


@lru_cache(maxsize=8)
def _week_key(market: str = "US") -> np.ndarray:
    s = _all_sessions(market)
    # Monday-anchored week number: 1970-01-01 was a Thursday, so shift by 3 days
    return np.asarray((s.astype(np.int64) + 3) // 7)


@lru_cache(maxsize=8)
def _month_key(market: str = "US") -> np.ndarray:
    return np.asarray(_all_sessions(market).astype("datetime64[M]").astype(np.int64))


def period_end(dates: np.ndarray, freq: str, market: str = "US") -> np.ndarray:
    """Last session of the market's week (normally Friday) or month containing each session.

    freq: 'd' (identity), 'w' or 'm'.
    """
    d = np.asarray(dates, dtype="datetime64[D]")
    if freq == "d":
        return d
    if freq == "w":
        return _period_last(d, _week_key(market), market)
    if freq == "m":
        return _period_last(d, _month_key(market), market)
    raise ValueError(f"unknown frequency {freq!r}: use d, w or m")


def week_end_sessions(
    start: dt.date | str | None = None, end: dt.date | str | None = None, market: str = "US"
) -> np.ndarray:
    """Sessions that close a week."""
    s = sessions(start, end, market)
    return np.unique(period_end(s, "w", market))


def month_end_sessions(
    start: dt.date | str | None = None, end: dt.date | str | None = None, market: str = "US"
) -> np.ndarray:
    """Sessions that close a month."""
    s = sessions(start, end, market)
    return np.unique(period_end(s, "m", market))


def period_end_expr(col: str, freq: str, market: str = "US") -> pl.Expr:
    """Polars expression mapping a date column to its period-end session (via the cached table)."""
    if freq == "d":
        return pl.col(col)
    s = _all_sessions(market)
    table = period_end(s, freq, market)
    keys = pl.Series(s).cast(pl.Date)
    vals = pl.Series(table).cast(pl.Date)
    return pl.col(col).replace_strict(keys, vals, default=None)
