"""yfinance adapter, offline: a fake Ticker serves pandas frames shaped like yfinance's output.

The frames are constructed here (no recorded yfinance response is in ../shared/data): `history()` as
yfinance returns it with auto_adjust=False and actions=True (a tz-aware "Date" index, columns Open,
High, Low, Close, Adj Close, Volume, Dividends, Stock Splits; split-adjusted prices) and
`get_shares_full()` as a Series on irregular tz-aware timestamps. yfinance itself is never imported.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any, ClassVar

import pandas as pd
import polars as pl
import pytest

from etfflow.errors import ConfigError, NotFoundError, TransportError
from etfflow.flows.daily import compute_flows, merge_sources
from etfflow.flows.flags import Flag, decode
from etfflow.sources.yfinance_source import fetch_yfinance, history_rows, shares_rows, yfinance_factory

D = dt.date
NOW = dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC)
TZ = "America/New_York"


def history(dates: list[str], close: list[float], **cols: list[float]) -> pd.DataFrame:
    n = len(dates)
    idx = pd.DatetimeIndex(dates, tz=TZ, name="Date")
    frame = {
        "Open": cols.get("open", close),
        "High": close,
        "Low": close,
        "Close": close,
        "Adj Close": close,
        "Volume": cols.get("volume", [1000.0] * n),
        "Dividends": cols.get("dividends", [0.0] * n),
        "Stock Splits": cols.get("splits", [0.0] * n),
    }
    return pd.DataFrame(frame, index=idx)


def shares(stamps: list[str], values: list[float | None]) -> pd.Series:
    return pd.Series(values, index=pd.DatetimeIndex(stamps, tz=TZ), dtype="float64")


class FakeTicker:
    """Stands in for yfinance.Ticker: records the calls, returns the frames it was given."""

    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def __init__(self, hist: pd.DataFrame, so: pd.Series | None) -> None:
        self.hist, self.so = hist, so

    def history(self, **kw: Any) -> pd.DataFrame:
        FakeTicker.calls.append(("history", kw))
        return self.hist

    def get_shares_full(self, **kw: Any) -> pd.Series | None:
        FakeTicker.calls.append(("shares", kw))
        return self.so


def factory(hist: pd.DataFrame, so: pd.Series | None) -> Any:
    return lambda _symbol: FakeTicker(hist, so)


def test_prices_actions_and_split_unadjustment() -> None:
    """A 2:1 split on 06-05: earlier prices x2, volume /2, dividend x2; the split shows in split_factor."""
    hist = history(
        ["2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06"],
        close=[50.0, 51.0, 52.0, 53.0],
        volume=[2000.0, 4000.0, 1000.0, 1000.0],
        dividends=[0.0, 0.25, 0.0, 0.0],
        splits=[0.0, 0.0, 2.0, 0.0],
    )
    b = fetch_yfinance("spy", factory=factory(hist, None), retrieved_at=NOW)
    d = b.daily
    assert d["close"].to_list() == [100.0, 102.0, 52.0, 53.0]
    assert d["volume"].to_list() == [1000.0, 2000.0, 1000.0, 1000.0]
    assert d["distribution"].to_list() == [None, 0.5, None, None]
    assert d["split_factor"].to_list() == [None, None, 2.0, None]
    assert d["so_lag"].to_list() == [0, 0, 0, 0] and d["source"].unique().to_list() == ["yfinance"]
    assert d["ticker"].unique().to_list() == ["SPY"]
    assert "no share counts" in b.notes[0]
    kept = history_rows(hist, unadjust_splits=False)
    assert kept["close"].to_list() == [50.0, 51.0, 52.0, 53.0]


def test_split_is_never_a_flow() -> None:
    """Unadjusted prices and raw counts: the 2:1 split moves both reciprocally and is flagged, not a flow."""
    days = ["2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06"]
    hist = history(days, close=[50.0, 51.0, 52.0, 53.0], splits=[0.0, 0.0, 2.0, 0.0])
    so = shares([f"{d} 17:00" for d in days], [1e6, 1.05e6, 2.1e6, 2.2e6])
    b = fetch_yfinance("SPY", factory=factory(hist, so), shares_lag=0, retrieved_at=NOW)
    f = compute_flows(merge_sources(b.daily).with_columns(pl.col("close").alias("nav")))
    assert f["flow_usd"].to_list() == [None, 0.05e6 * 102.0, 0.0, 0.1e6 * 53.0]
    assert "split" in decode(f["flags"][2])


def test_share_series_quirks_are_counted() -> None:
    """Duplicates, conflicts, several stamps a day, weekends, non-positive and repeated values."""
    so = shares(
        [
            "2024-06-03 09:00",
            "2024-06-03 09:00",  # exact duplicate: one kept
            "2024-06-04 08:00",
            "2024-06-04 08:00",  # same stamp, another value: both dropped
            "2024-06-05 08:00",
            "2024-06-05 16:00",  # later the same day: wins
            "2024-06-06 08:00",  # repeats 06-05's count: dropped
            "2024-06-08 10:00",  # a Saturday: dropped
            "2024-06-10 10:00",
            "2024-06-11 10:00",
        ],
        [100.0, 100.0, 110.0, 111.0, 120.0, 125.0, 125.0, 130.0, 0.0, 140.0],
    )
    dropped: dict[str, int] = {}
    got = shares_rows(so, dropped=dropped)
    assert got["date"].to_list() == [D(2024, 6, 3), D(2024, 6, 5), D(2024, 6, 11)]
    assert got["shares_outstanding"].to_list() == [100.0, 125.0, 140.0]
    assert dropped == {
        "invalid_shares": 1,
        "duplicate_share_stamps": 1,
        "conflicting_share_stamps": 2,
        "superseded_same_day_shares": 1,
        "non_session_shares": 1,
        "repeated_shares": 1,
    }
    assert shares_rows(so, last_shares=100.0)["date"].to_list()[0] == D(2024, 6, 5)  # stored count repeated


def test_stale_or_empty_counts_never_become_flows() -> None:
    """A count repeated for a week gives no zero flows: the next change is one GAP flow over the week."""
    days = ["2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06", "2024-06-07", "2024-06-10"]
    hist = history(days, close=[10.0] * 6)
    so = shares([f"{d} 17:00" for d in days], [1e6, 1e6, 1e6, 1e6, 1e6, 1.1e6])
    b = fetch_yfinance("XYZ", factory=factory(hist, so), retrieved_at=NOW)
    assert b.dropped == {"repeated_shares": 4}
    f = compute_flows(merge_sources(b.daily).with_columns(pl.col("close").alias("nav")))
    assert f["date"].to_list() == [D(2024, 6, 3), D(2024, 6, 10)]
    assert f["flow_usd"].to_list() == [None, 1e6]
    assert f["gap_sessions"].to_list()[1] == 4 and f["flags"][1] & Flag.GAP
    assert f["flags"][1] & Flag.LAG_UNKNOWN  # yfinance does not say when its counts were true
    for empty in (None, pd.Series([], dtype="float64")):
        b = fetch_yfinance("XYZ", factory=factory(hist, empty), retrieved_at=NOW)
        assert b.daily["shares_outstanding"].null_count() == 6
        assert compute_flows(merge_sources(b.daily)).height == 0


def test_incremental_start_and_end_are_passed_and_applied() -> None:
    """start asks yfinance for that date on (end inclusive -> exclusive + 1 day); older rows are cut."""
    FakeTicker.calls.clear()
    hist = history(["2024-06-03", "2024-06-04"], close=[1.0, 2.0])
    b = fetch_yfinance(
        "XYZ", start=D(2024, 6, 4), end=D(2024, 6, 4), factory=factory(hist, None), retrieved_at=NOW
    )
    assert b.daily["date"].to_list() == [D(2024, 6, 4)]
    (_, hk), (_, sk) = FakeTicker.calls
    assert hk["start"] == "2024-06-04" and hk["end"] == "2024-06-05" and hk["auto_adjust"] is False
    assert sk == {"start": "2024-06-04", "end": "2024-06-05"}
    nothing = fetch_yfinance(
        "XYZ", start=D(2024, 7, 1), factory=factory(history([], []), None), retrieved_at=NOW
    )
    assert nothing.daily.height == 0  # nothing new is not an error


def test_errors_are_etfflow_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """No yfinance -> ConfigError naming the extra; its exceptions -> TransportError; no data -> NotFound."""
    monkeypatch.setitem(sys.modules, "yfinance", None)  # makes `import yfinance` raise ImportError
    with pytest.raises(ConfigError, match="pip install yfinance"):
        yfinance_factory()

    def boom(_symbol: str) -> Any:
        raise ValueError("Too Many Requests. Rate limited.")

    with pytest.raises(TransportError, match="yfinance failed for SPY: ValueError"):
        fetch_yfinance("SPY", factory=boom, retrieved_at=NOW)
    with pytest.raises(NotFoundError, match="no data for NOPE"):
        fetch_yfinance("NOPE", factory=factory(history([], []), None), retrieved_at=NOW)
