"""NYSE trading-day calendar (exchange_calendars' XNYS), cached as a sorted NumPy date array."""

from __future__ import annotations

import datetime as dt
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import polars as pl

__all__ = [
    "is_trading_day",
    "month_end_sessions",
    "period_end",
    "session_index",
    "sessions",
    "shift_sessions",
    "week_end_sessions",
]

_START = "1990-01-01"
_END = "2035-12-31"


@lru_cache(maxsize=1)
def _all_sessions() -> np.ndarray:
    """XNYS sessions 1990-2035, cached on disk per exchange_calendars version (its setup takes ~1-2 s)."""
    from importlib.metadata import version

    cache = _cache_dir() / f"xnys-{version('exchange_calendars')}-{_START}-{_END}.npy"
    try:
        out: np.ndarray = np.load(cache)
        return out
    except (OSError, ValueError):
        pass
    import exchange_calendars as xc

    cal = xc.get_calendar("XNYS", start=_START, end=_END)
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


def sessions(start: dt.date | str | None = None, end: dt.date | str | None = None) -> np.ndarray:
    """NYSE sessions between start and end inclusive, as datetime64[D]."""
    s = _all_sessions()
    lo = 0 if start is None else int(np.searchsorted(s, np.datetime64(start, "D"), "left"))
    hi = len(s) if end is None else int(np.searchsorted(s, np.datetime64(end, "D"), "right"))
    return s[lo:hi]


def is_trading_day(dates: np.ndarray) -> np.ndarray:
    """Boolean mask: which datetime64[D] values are NYSE sessions."""
    s = _all_sessions()
    d = np.asarray(dates, dtype="datetime64[D]")
    idx = np.clip(np.searchsorted(s, d), 0, len(s) - 1)
    return np.asarray(s[idx] == d)


def session_index(dates: np.ndarray) -> np.ndarray:
    """Position of each date in the session list (dates must be sessions)."""
    return np.searchsorted(_all_sessions(), np.asarray(dates, dtype="datetime64[D]")).astype(np.int64)


def shift_sessions(dates: np.ndarray, n: int) -> np.ndarray:
    """Move each session n sessions forward (n>0) or back (n<0)."""
    s = _all_sessions()
    idx = session_index(dates) + n
    if len(idx) and (idx.min() < 0 or idx.max() >= len(s)):
        raise ValueError("shift leaves the calendar range")
    out: np.ndarray = s[idx]
    return out


def _period_last(dates: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Last session of the run of equal keys (week or month) that holds each date."""
    s = _all_sessions()
    boundary = np.diff(key) != 0
    group = np.concatenate([[0], np.cumsum(boundary)])
    ends = np.flatnonzero(np.append(boundary, True))
    out: np.ndarray = s[ends[group[session_index(dates)]]]
    return out


@lru_cache(maxsize=1)
def _week_key() -> np.ndarray:
    s = _all_sessions()
    # Monday-anchored week number: 1970-01-01 was a Thursday, so shift by 3 days
    return np.asarray((s.astype(np.int64) + 3) // 7)


@lru_cache(maxsize=1)
def _month_key() -> np.ndarray:
    return np.asarray(_all_sessions().astype("datetime64[M]").astype(np.int64))


def period_end(dates: np.ndarray, freq: str) -> np.ndarray:
    """Last NYSE session of the week (normally Friday) or month containing each session.

    freq: 'd' (identity), 'w' or 'm'.
    """
    d = np.asarray(dates, dtype="datetime64[D]")
    if freq == "d":
        return d
    if freq == "w":
        return _period_last(d, _week_key())
    if freq == "m":
        return _period_last(d, _month_key())
    raise ValueError(f"unknown frequency {freq!r}: use d, w or m")


def week_end_sessions(start: dt.date | str | None = None, end: dt.date | str | None = None) -> np.ndarray:
    """Sessions that close a week."""
    s = sessions(start, end)
    return np.unique(period_end(s, "w"))


def month_end_sessions(start: dt.date | str | None = None, end: dt.date | str | None = None) -> np.ndarray:
    """Sessions that close a month."""
    s = sessions(start, end)
    return np.unique(period_end(s, "m"))


def period_end_expr(col: str, freq: str) -> pl.Expr:
    """Polars expression mapping a date column to its period-end session (via the cached table)."""
    if freq == "d":
        return pl.col(col)
    s = _all_sessions()
    table = period_end(s, freq)
    keys = pl.Series(s).cast(pl.Date)
    vals = pl.Series(table).cast(pl.Date)
    return pl.col(col).replace_strict(keys, vals, default=None)
