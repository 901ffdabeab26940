"""Daily flows: hand-computed cases, the shares/AUM identity, lag, splits, gaps, bad prints."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etfflow import calendar
from etfflow.errors import DataQualityError
from etfflow.flows.daily import aum_method, compute_flows, merge_sources, shares_method
from etfflow.flows.flags import Flag, decode

D = dt.date


def panel(**cols: list[object]) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    base: dict[str, list[object]] = {"ticker": ["A"] * n}
    base.update(cols)
    return pl.DataFrame(base)


def flags_of(f: pl.DataFrame) -> list[list[str]]:
    return [decode(x) for x in f["flags"].to_list()]


def test_hand_computed_shares_and_aum_methods() -> None:
    d = panel(
        date=[D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5)],
        shares_outstanding=[1000.0, 1100.0, 1050.0, 1050.0],
        nav=[10.0, 11.0, 12.0, 12.5],
        so_lag=[0, 0, 0, 0],
    )
    f = compute_flows(d)
    assert f["flow_usd"].to_list() == [None, 1100.0, -600.0, 0.0]
    assert f["aum_prev_usd"].to_list() == [None, 10000.0, 12100.0, 12600.0]
    assert f["flow_pct_aum"].to_list()[1] == pytest.approx(0.11)
    assert f["flow_pct_aum"].to_list()[2] == pytest.approx(-600 / 12100)
    assert flags_of(f) == [["first"], [], [], []]
    aligned = d.rename({"shares_outstanding": "shares"}).with_columns(
        (pl.col("shares") * pl.col("nav")).alias("aum")
    )
    # AUM method by hand: 12100 - 10000 * 11/10 = 1100; 12600 - 12100 * 12/11 = -600;
    # 13125 - 12600 * 12.5/12 = 0
    assert aum_method(aligned).to_list()[1:] == pytest.approx([1100.0, -600.0, 0.0])
    assert shares_method(aligned).to_list()[1:] == [1100.0, -600.0, 0.0]


def test_reporting_lag_stamps_trade_date_and_availability() -> None:
    # shares stated on d reflect orders of the previous session; NAV of the trade date prices them
    d = panel(
        date=[D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5)],
        shares_outstanding=[1000.0, 1000.0, 1100.0, 1050.0],
        nav=[10.0, 11.0, 12.0, 12.5],
        so_lag=[1, 1, 1, 1],
    )
    f = compute_flows(d)
    assert f["date"].to_list() == [D(2023, 12, 29), D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4)]
    assert f["available_on"].to_list() == [D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5)]
    assert f["flow_usd"].to_list() == [None, 0.0, 1100.0, -600.0]
    assert f["aum_prev_usd"].to_list()[2] == 1000.0 * 10.0  # shares after Jan 2 at Jan 2's NAV
    assert flags_of(f)[0] == ["no_price", "first"]  # no row for the first trade date


def test_distribution_is_not_an_outflow() -> None:
    # NAV falls by the 2.00 distribution on the ex-date; no shares change: no flow by either method
    d = panel(
        date=[D(2024, 3, 18), D(2024, 3, 19)],
        shares_outstanding=[5000.0, 5000.0],
        nav=[100.0, 98.0],
        distribution=[None, 2.0],
        so_lag=[0, 0],
    )
    assert compute_flows(d)["flow_usd"].to_list() == [None, 0.0]
    aligned = pl.DataFrame(
        {"ticker": ["A", "A"], "date": d["date"], "aum": [500000.0, 490000.0], "nav": [100.0, 98.0]}
    )
    assert aum_method(aligned).to_list()[1] == pytest.approx(0.0)
    # a total-return AUM method would book 5000 * 2.00 as a spurious outflow:
    total_return_flow = 490000.0 - 500000.0 * (98.0 + 2.0) / 100.0
    assert total_return_flow == -10000.0


@pytest.mark.parametrize("declared", [False, True])
def test_split_is_adjusted_and_never_a_flow(declared: bool) -> None:
    d = panel(
        date=[D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5), D(2024, 1, 8)],
        shares_outstanding=[1100.0, 1100.0, 2400.0, 2400.0],
        nav=[101.0, 102.0, 51.0, 52.0],
        split_factor=[None, None, 2.0 if declared else None, None],
        so_lag=[0, 0, 0, 0],
    )
    f = compute_flows(d)
    # 2:1 split with 200 new post-split shares created on the ex-date: 200 x 51
    assert f["flow_usd"].to_list() == [None, 0.0, 10200.0, 0.0]
    assert f["shares_change"].to_list()[2] == 200.0
    assert f["aum_prev_usd"].to_list()[2] == pytest.approx(1100 * 102.0)
    assert "split" in flags_of(f)[2]


def test_reverse_split_with_lagged_shares() -> None:
    # 1-for-4 reverse split effective Jan 5; the shares count is stated with a one-session lag
    d = panel(
        date=[D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5), D(2024, 1, 8), D(2024, 1, 9)],
        shares_outstanding=[4000.0, 4000.0, 4000.0, 1000.0, 1010.0],
        nav=[10.0, 10.0, 40.0, 40.0, 41.0],
        so_lag=[1, 1, 1, 1, 1],
    )
    f = compute_flows(d)
    assert f["flow_usd"].to_list() == [None, 0.0, 0.0, 0.0, 10 * 40.0]
    assert sum("split" in x for x in flags_of(f)) == 1


def test_gap_is_flagged_not_filled() -> None:
    d = panel(
        date=[D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 8)],  # Jan 5 missing
        shares_outstanding=[1000.0, None, 1000.0, 1200.0],  # Jan 3 has no count
        nav=[10.0, 10.0, 11.0, 12.0],
        so_lag=[0, 0, 0, 0],
    )
    f = compute_flows(d)
    assert f["date"].to_list() == [D(2024, 1, 2), D(2024, 1, 4), D(2024, 1, 8)]
    assert f["gap_sessions"].to_list() == [0, 1, 1]
    assert f["flow_usd"].to_list() == [None, 0.0, 200 * 12.0]
    assert flags_of(f)[1:] == [["gap"], ["gap"]]


def test_bad_print_flagged_on_both_days() -> None:
    d = panel(
        date=[D(2000, 10, 4), D(2000, 10, 5), D(2000, 10, 6), D(2000, 10, 9), D(2000, 10, 10)],
        shares_outstanding=[11_600_000.0, 11_600_000.0, 111_600_000.0, 11_600_000.0, 12_600_000.0],
        nav=[143.8, 143.8, 141.13, 140.4, 138.9],
        so_lag=[0] * 5,
    )
    f = compute_flows(d, pl.DataFrame({"ticker": ["A"], "creation_unit_shares": [50_000]}))
    fl = flags_of(f)
    assert "bad_print" in fl[2] and "bad_print" in fl[3]
    assert "bad_print" not in fl[4] and "split" not in fl[2]


def test_odd_lot_when_unit_known() -> None:
    d = panel(
        date=[D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4)],
        shares_outstanding=[100_000.0, 150_000.0, 160_000.0],
        nav=[10.0, 10.0, 10.0],
        so_lag=[0, 0, 0],
    )
    units = pl.DataFrame({"ticker": ["A"], "creation_unit_shares": [50_000]})
    fl = flags_of(compute_flows(d, units))
    assert "odd_lot" not in fl[1] and "odd_lot" in fl[2]
    assert all("odd_lot" not in x for x in flags_of(compute_flows(d)))  # unknown unit: no check


def test_nav_fallback_and_no_price() -> None:
    d = panel(
        date=[D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4)],
        shares_outstanding=[100.0, 110.0, 120.0],
        nav=[10.0, None, None],
        close=[10.0, 10.5, None],
        so_lag=[0, 0, 0],
    )
    f = compute_flows(d)
    assert f["flow_usd"].to_list() == [None, 105.0, None]
    assert flags_of(f)[1] == ["nav_from_close"]
    assert flags_of(f)[2] == ["no_price"]


def test_missing_lag_is_flagged() -> None:
    d = panel(date=[D(2024, 1, 2), D(2024, 1, 3)], shares_outstanding=[1.0, 2.0], nav=[1.0, 1.0])
    assert all("lag_unknown" in x for x in flags_of(compute_flows(d)))


def test_non_session_row_is_rejected() -> None:
    d = panel(date=[D(2024, 1, 1)], shares_outstanding=[1.0], nav=[1.0], so_lag=[0])  # New Year's Day
    with pytest.raises(DataQualityError, match="not an NYSE session"):
        compute_flows(d)


def test_merge_sources_takes_shares_from_one_source() -> None:
    d = pl.DataFrame(
        {
            "date": [D(2024, 1, 2), D(2024, 1, 2), D(2024, 1, 3)],
            "ticker": ["A", "A", "A"],
            "source": ["yfinance", "ishares_csv", "yfinance"],
            "close": [10.0, None, 11.0],
            "nav": [None, 9.9, None],
            "shares_outstanding": [500.0, 400.0, 600.0],
            "so_lag": [0, 1, 0],
        }
    )
    m = merge_sources(d)
    assert m["shares_outstanding"].to_list() == [400.0, None]  # only the issuer's counts
    assert m["close"].to_list() == [10.0, 11.0]
    assert m["nav"].to_list() == [9.9, None]
    assert m["so_lag"].to_list() == [1, None]


@st.composite
def random_panel(draw: st.DrawFn) -> pl.DataFrame:
    n_funds = draw(st.integers(1, 4))
    n_days = draw(st.integers(2, 30))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    days = calendar.sessions("2021-01-01")[:n_days]
    frames = []
    for k in range(n_funds):
        units = rng.integers(-3, 4, n_days) * 10_000  # whole creation units, at most 30k on 1M shares
        so = 1_000_000 + np.cumsum(units)
        nav = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, n_days)))
        frames.append(
            pl.DataFrame(
                {
                    "date": days,
                    "ticker": f"F{k}",
                    "shares_outstanding": so.astype(float),
                    "nav": nav,
                    "so_lag": 0,
                }
            )
        )
    return pl.concat(frames).with_columns(pl.col("date").cast(pl.Date))


@settings(max_examples=60, deadline=None)
@given(random_panel())
def test_identity_shares_equals_aum_method(d: pl.DataFrame) -> None:
    f = compute_flows(d)
    aligned = d.rename({"shares_outstanding": "shares"}).with_columns(
        (pl.col("shares") * pl.col("nav")).alias("aum")
    )
    a = aum_method(aligned).to_numpy()
    s = shares_method(aligned).to_numpy()
    k = f.sort("ticker", "date")["flow_usd"].to_numpy().astype(float)
    np.testing.assert_allclose(k, s, rtol=1e-9, atol=1e-6, equal_nan=True)
    np.testing.assert_allclose(a, s, rtol=1e-9, atol=1e-3, equal_nan=True)
    assert int((f["flags"] & int(Flag.SPLIT | Flag.BAD_PRINT | Flag.GAP)).sum()) == 0


def test_aum_only_fund_uses_the_aum_method() -> None:
    # a source with total net assets and NAV but no shares count (a distribution on day 3)
    d = panel(
        date=[D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4)],
        total_net_assets=[1_000_000.0, 1_120_000.0, 1_078_000.0],
        nav=[10.0, 11.0, 10.78],
        so_lag=[0, 0, 0],
    )
    f = compute_flows(d, pl.DataFrame({"ticker": ["A"], "creation_unit_shares": [50_000]}))
    # by hand: 1,120,000 - 1,000,000 x 11/10 = 20,000; 1,078,000 - 1,120,000 x 10.78/11 = -19,600
    assert f["flow_usd"].to_list()[1:] == pytest.approx([20_000.0, -19_600.0])
    assert f["method"].to_list() == ["aum", "aum", "aum"]
    assert flags_of(f)[1:] == [[], []]  # no odd-lot check on derived counts
