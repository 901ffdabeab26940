"""Sessions whose flows may be mechanical: quarter ends and index reconstitution or rebalance dates (pure).

The framework warns that flows around quarter ends and index rebalancing can be mechanical (window
dressing, tax and hedging trades, index funds matching a new index) rather than a view. etfflow
marks these NYSE sessions (a rule that lands on a holiday moves to the previous session):

- `quarter_end`: the last session of March, June, September and December;
- `index_rebalance`: the third Friday of March, June, September and December (S&P 500 and
  Nasdaq-100 quarterly rebalances, effective after that close; also the quarterly options and
  futures expiry), and the third Friday of December for the Nasdaq-100 annual reconstitution;
- `russell_reconstitution`: the fourth Friday of June (FTSE Russell's annual reconstitution);
- `msci_review`: the last session of February, May, August and November (MSCI index reviews).

A flow on such a session, or on the session after it (creations and redemptions struck for the
close often settle into the next count), is `possibly mechanical`. The dates follow each index
provider's published rule, not its yearly announcement, so a one-off moved date is missed.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from etfflow import calendar

__all__ = ["REASONS", "mechanical_sessions", "possibly_mechanical"]

REASONS: dict[str, str] = {
    "quarter_end": "quarter end",
    "index_rebalance": "S&P 500 / Nasdaq-100 quarterly rebalance and options expiry",
    "russell_reconstitution": "Russell reconstitution",
    "msci_review": "MSCI index review",
}


def _nth_friday(year: int, month: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (4 - first.weekday()) % 7  # Friday is weekday 4
    return first + dt.timedelta(days=offset + 7 * (n - 1))


def _on_or_before(day: dt.date, sess: np.ndarray) -> dt.date | None:
    i = int(np.searchsorted(sess, np.datetime64(day, "D"), "right")) - 1
    return dt.date.fromisoformat(str(sess[i])) if i >= 0 else None


def _month_last(year: int, month: int, sess: np.ndarray) -> dt.date | None:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return _on_or_before(nxt - dt.timedelta(days=1), sess)


def mechanical_sessions(start: dt.date, end: dt.date) -> dict[dt.date, list[str]]:
    """Sessions between start and end (inclusive) with the reasons their flows may be mechanical."""
    sess = calendar.sessions(None, end + dt.timedelta(days=40))
    out: dict[dt.date, list[str]] = {}

    def add(day: dt.date | None, reason: str) -> None:
        if day is not None and start <= day <= end:
            out.setdefault(day, [])
            if reason not in out[day]:
                out[day].append(reason)

    for year in range(start.year, end.year + 1):
        for month in (3, 6, 9, 12):
            add(_month_last(year, month, sess), "quarter_end")
            add(_on_or_before(_nth_friday(year, month, 3), sess), "index_rebalance")
        add(_on_or_before(_nth_friday(year, 6, 4), sess), "russell_reconstitution")
        for month in (2, 5, 8, 11):
            add(_month_last(year, month, sess), "msci_review")
    return dict(sorted(out.items()))


def possibly_mechanical(dates: list[dt.date], start: dt.date, end: dt.date) -> dict[dt.date, list[str]]:
    """For each of `dates`, the reasons of a mechanical session on it or the session before it."""
    lo = start - dt.timedelta(days=10)
    marks = mechanical_sessions(lo, end)
    sess = calendar.sessions(lo, end)
    out: dict[dt.date, list[str]] = {}
    for d in dates:
        i = int(np.searchsorted(sess, np.datetime64(d, "D"), "left"))
        prev = dt.date.fromisoformat(str(sess[i - 1])) if i > 0 else None
        reasons = list(marks.get(d, []))
        if prev is not None:
            reasons += [r for r in marks.get(prev, []) if r not in reasons]
        if reasons:
            out[d] = reasons
    return out
