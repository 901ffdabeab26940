"""NYSE calendar periods and aggregation of daily flows to weeks, months and groups."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from etfflow import calendar
from etfflow.flows.aggregate import by_group, clean, to_period
from etfflow.flows.flags import Flag

D = dt.date


def test_sessions_skip_holidays() -> None:
    s = calendar.sessions("2024-07-01", "2024-07-08")
    assert [str(x) for x in s] == ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08"]
    assert not calendar.is_trading_day(np.array(["2012-10-29", "2018-12-05"], dtype="datetime64[D]")).any()


def test_week_ends_on_friday_or_the_last_session_before_it() -> None:
    d = np.array(["2024-03-25", "2024-03-28", "2024-04-01", "2024-04-05"], dtype="datetime64[D]")
    # Good Friday 2024-03-29: that week ends on Thursday
    got = calendar.period_end(d, "w")
    assert [str(x) for x in got] == ["2024-03-28", "2024-03-28", "2024-04-05", "2024-04-05"]


def test_month_ends_on_last_session() -> None:
    d = np.array(["2024-03-01", "2024-03-28", "2024-06-03"], dtype="datetime64[D]")
    assert [str(x) for x in calendar.period_end(d, "m")] == ["2024-03-28", "2024-03-28", "2024-06-28"]


def test_shift_sessions() -> None:
    d = np.array(["2024-07-05"], dtype="datetime64[D]")
    assert str(calendar.shift_sessions(d, -1)[0]) == "2024-07-03"
    assert str(calendar.shift_sessions(d, 1)[0]) == "2024-07-08"


def flows_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": [
                D(2024, 3, 25),
                D(2024, 3, 26),
                D(2024, 3, 28),
                D(2024, 4, 1),
                D(2024, 3, 25),
                D(2024, 3, 26),
            ],
            "ticker": ["A", "A", "A", "A", "B", "B"],
            "flow_usd": [10.0, -4.0, 1000.0, 5.0, 7.0, None],
            "aum_prev_usd": [100.0, 110.0, 106.0, 120.0, 50.0, 57.0],
            "flags": [0, 0, int(Flag.BAD_PRINT), 0, 0, int(Flag.NO_PRICE)],
            "available_on": [
                D(2024, 3, 26),
                D(2024, 3, 27),
                D(2024, 4, 1),
                D(2024, 4, 2),
                D(2024, 3, 26),
                D(2024, 3, 27),
            ],
        }
    ).with_columns(pl.col("flags").cast(pl.UInt32))


def test_clean_drops_bad_prints_and_unknown_flows() -> None:
    assert clean(flows_frame()).height == 4


def test_weekly_totals_exclude_bad_prints() -> None:
    w = to_period(flows_frame(), "w")
    a = w.filter(pl.col("ticker") == "A")
    assert a["date"].to_list() == [D(2024, 3, 28), D(2024, 4, 5)]
    assert a["flow_usd"].to_list() == [6.0, 5.0]
    assert a["aum_start_usd"].to_list() == [100.0, 120.0]
    assert a["flow_pct_aum"].to_list() == pytest.approx([0.06, 5 / 120])
    assert a["available_on"].to_list() == [D(2024, 3, 27), D(2024, 4, 2)]
    # including bad prints is an explicit choice
    assert to_period(flows_frame(), "w", exclude=0).filter(pl.col("ticker") == "A")["flow_usd"][0] == 1006.0


def test_group_totals() -> None:
    funds = pl.DataFrame({"ticker": ["A", "B", "C"], "group": ["Tech", "Tech", "Energy"]})
    g = by_group(flows_frame(), funds, by="group", freq="m")
    assert g.to_dicts()[0]["flow_usd"] == 13.0  # March: A 10 - 4 (bad print excluded) + B 7
    assert g["funds"].to_list() == [2, 1]
