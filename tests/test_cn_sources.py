"""China A-share readers on the real files in ../shared/data/cn (exact hand-picked cells) and bad input.

Ground truth read by eye from the files:
- ETF_aum_amount.csv: 512880.SH 504.0429 (2025-11-28), 470.3529 (2025-12-31) 亿份; the last row
  (2026-01-05) repeats 2025-12-31; 510050.SH 101.7457 on 2010-01-29 (the first row).
- ETF_aum_unit_value.csv: 512880.SH 1.1803 (2025/11/28), 1.2125 (2025/12/31); 510050.SH 2.244 (2010/1/29).
- etf-shares.csv: 159915 5.396610 亿份 on 2012-01-04 (estimated), 25.113378 on 2016-08-02 (last
  estimate), 28.034549 on 2016-08-03 (official); 510310 1218.643074 (2024-09-19) -> 623.472440 (2024-09-20).
- szse_etf_share_4etf_2023_2026.csv: 159845 309702.39 万份 on 2023-01-03.
- 512880_2016-08-08_to_2025-11-17.csv: close 1.218 on 2025-11-17 (never adjusted: no distribution).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from etfflow import calendar
from etfflow.errors import ConfigError, ParseError
from etfflow.sources.cn_classification import read_cn_classification
from etfflow.sources.cn_exchange import read_cn_exchange_shares
from etfflow.sources.cn_prices import read_cn_prices, restore_traded_prices
from etfflow.sources.cn_wind import read_wind_panel, read_wind_returns
from etfflow.sources.detect import detect_format
from etfflow.universe.cn import cn_ticker

D = dt.date
UTC = dt.UTC
STAMP = dt.datetime(2026, 11, 27, tzinfo=UTC)


@pytest.fixture(scope="module")
def cn(shared_data: Path) -> Path:
    return shared_data / "cn"


def _one(frame: pl.DataFrame, ticker: str, date: dt.date, col: str) -> object:
    return frame.filter((pl.col("ticker") == ticker) & (pl.col("date") == date))[col].item()


# --- calendar ---------------------------------------------------------------------------------------


def test_xshg_calendar_is_not_the_nyse_one() -> None:
    d = np.array(["2025-10-01", "2025-09-30", "2024-07-04", "2025-01-28"], dtype="datetime64[D]")
    assert calendar.is_trading_day(d, "CN").tolist() == [False, True, True, False]  # National Day, Spring F.
    assert calendar.is_trading_day(d, "US").tolist() == [True, True, False, True]  # July 4th
    assert [str(x) for x in calendar.sessions("2025-09-29", "2025-10-10", "CN")] == [
        "2025-09-29",
        "2025-09-30",
        "2025-10-09",
        "2025-10-10",
    ]
    # January 2025's last Shanghai session was the 27th (Spring Festival); NYSE's the 31st
    jan = np.array(["2025-01-02"], dtype="datetime64[D]")
    assert str(calendar.period_end(jan, "m", "CN")[0]) == "2025-01-27"
    assert str(calendar.period_end(jan, "m", "US")[0]) == "2025-01-31"
    assert calendar.calendar_end("CN") >= D(2026, 12, 31)
    with pytest.raises(ConfigError, match="unknown market"):
        calendar.sessions(market="HK")


def test_tickers_keep_the_exchange_form() -> None:
    assert cn_ticker("512880") == "512880.SH" and cn_ticker("159915") == "159915.SZ"
    assert cn_ticker("512880.SH") == "512880.SH"
    assert calendar.market_of_ticker("512880.SH") == "CN" and calendar.market_of_ticker("SPY") == "US"
    for bad in ("512880.SZ", "312880", "51288"):
        with pytest.raises(ParseError, match="not a Shanghai/Shenzhen ETF code"):
            cn_ticker(bad)


# --- detection --------------------------------------------------------------------------------------


def test_every_cn_file_is_recognised_by_content(cn: Path) -> None:
    expect = {
        "monthly_wind/ETF_aum_amount.csv": "cn_wind_panel",
        "monthly_wind/ETF_aum_unit_value.csv": "cn_wind_panel",
        "monthly_wind/ETF_daily_simple_returns.csv": "cn_wind_returns",
        "monthly_wind/index_daily_simple_returns.csv": "cn_wind_returns",
        "daily_shares/etf-shares.csv": "cn_exchange_shares",
        "daily_shares/szse_etf_share_4etf_2023_2026.csv": "cn_exchange_shares",
        "prices_daily/512880_2016-08-08_to_2025-11-17.csv": "cn_prices",
        "classification/etf_flow_radar_universe_classification_20260821.csv": "cn_classification",
    }
    assert {f: detect_format(cn / f) for f in expect} == expect


# --- Wind month-end panels --------------------------------------------------------------------------


def test_wind_shares_panel_exact_cells(cn: Path) -> None:
    b = read_wind_panel(cn / "monthly_wind" / "ETF_aum_amount.csv", retrieved_at=STAMP)
    d = b.daily
    assert b.source == "wind_shares" and d.height == 15_445
    assert b.dropped == {"hong_kong_listed_values": 2257, "stale_repeated_rows": 1}
    assert not d["ticker"].str.ends_with(".HK").any()
    assert d["ticker"].n_unique() == 280
    assert _one(d, "512880.SH", D(2025, 12, 31), "shares_outstanding") == 47_035_290_000.0
    assert _one(d, "512880.SH", D(2025, 11, 28), "shares_outstanding") == 50_404_290_000.0
    assert _one(d, "510050.SH", D(2010, 1, 29), "shares_outstanding") == 10_174_570_000.0
    assert d["date"].max() == D(2025, 12, 31)  # the repeated 2026-01-05 row is gone
    assert d["so_lag"].null_count() == d.height  # Wind does not say when its counts were true
    funds = b.tables["funds"]
    assert funds.height == 280 and set(funds["market"]) == {"CN"} and set(funds["currency"]) == {"CNY"}
    row = funds.filter(pl.col("ticker") == "512880.SH").row(0, named=True)
    assert (row["group"], row["category"], row["sw_l1_name"]) == ("fin_broker", "industry", "非银金融")


def test_wind_nav_panel_other_date_format(cn: Path) -> None:
    b = read_wind_panel(cn / "monthly_wind" / "ETF_aum_unit_value.csv", retrieved_at=STAMP)
    d = b.daily
    assert b.source == "wind_nav" and d.height == 15_446
    assert b.dropped == {"hong_kong_listed_values": 2084, "stale_repeated_rows": 1}
    assert _one(d, "512880.SH", D(2025, 12, 31), "nav") == 1.2125
    assert _one(d, "510050.SH", D(2010, 1, 29), "nav") == 2.244
    assert d["shares_outstanding"].null_count() == d.height


def test_wind_bad_cell_names_file_row_and_fund(tmp_path: Path) -> None:
    f = tmp_path / "panel.csv"
    f.write_text(
        "日期,证券ETF,券商ETF\nDate,512880.SH,512000.SH\n2025-11-28,504.0429,1\n2025-12-31,4x0,2\n",
        encoding="utf-8",
    )
    with pytest.raises(ParseError) as info:
        read_wind_panel(f, retrieved_at=STAMP)
    assert (info.value.file, info.value.row, info.value.field) == (str(f), 4, "512880.SH")
    f.write_text("日期,证券ETF\nDate,512880.SH\n2025-13-31,1\n", encoding="utf-8")
    with pytest.raises(ParseError, match="not a date") as info:
        read_wind_panel(f, retrieved_at=STAMP)
    assert info.value.row == 3


def test_wind_return_panels_map_names_to_funds(cn: Path) -> None:
    etf = read_wind_returns(cn / "monthly_wind" / "ETF_daily_simple_returns.csv").tables["returns_daily"]
    idx = read_wind_returns(cn / "monthly_wind" / "index_daily_simple_returns.csv").tables["returns_daily"]
    assert etf.height == 76_036 and idx.height == 150_230
    assert set(etf["kind"]) == {"fund"} and set(idx["kind"]) == {"index"}
    # the Wind panels name two funds "证券ETF": the price file picks 512880.SH
    sec = etf.filter(pl.col("series") == "证券ETF")
    assert set(sec["ticker"]) == {"512880.SH"}
    assert set(idx.filter(pl.col("series") == "证券公司")["ticker"]) == {"512880.SH"}
    # a return equals the price file's close-to-close change: 1.218 / 1.23 ... checked on one day
    prices = read_cn_prices(next((cn / "prices_daily").glob("512880_*.csv")), retrieved_at=STAMP).daily
    day = sec.filter(pl.col("date") == D(2025, 11, 17))["simple_return"].item()
    c = prices.filter(pl.col("date").is_in([D(2025, 11, 14), D(2025, 11, 17)]))["close"].to_list()
    assert day == pytest.approx(c[1] / c[0] - 1, abs=1e-12)
    assert set(etf.filter(pl.col("series") == "黄金ETF")["ticker"].to_list()) == {
        None
    }  # ambiguous: no ticker


# --- exchange daily shares --------------------------------------------------------------------------


def test_exchange_shares_keep_estimates_marked(cn: Path) -> None:
    b = read_cn_exchange_shares(cn / "daily_shares" / "etf-shares.csv", retrieved_at=STAMP)
    d = b.daily
    assert b.source == "cn_exchange_shares" and d.height == 17_039 and b.dropped == {}
    assert sorted(d["ticker"].unique()) == ["159915.SZ", "159919.SZ", "510300.SH", "510310.SH", "510330.SH"]
    assert int(d["estimated"].sum()) == 2133
    est = d.filter(pl.col("estimated"))
    assert set(est["ticker"]) == {"159915.SZ", "159919.SZ"} and est["date"].max() == D(2016, 8, 2)
    assert _one(d, "159915.SZ", D(2012, 1, 4), "shares_outstanding") == 539_661_000.0
    assert _one(d, "159915.SZ", D(2016, 8, 2), "estimated") is True
    assert _one(d, "159915.SZ", D(2016, 8, 3), "estimated") is False
    assert _one(d, "510310.SH", D(2024, 9, 19), "shares_outstanding") == 121_864_307_400.0
    assert _one(d, "510310.SH", D(2024, 9, 20), "shares_outstanding") == 62_347_244_000.0


def test_szse_shares_in_wan(cn: Path) -> None:
    b = read_cn_exchange_shares(cn / "daily_shares" / "szse_etf_share_4etf_2023_2026.csv", retrieved_at=STAMP)
    d = b.daily
    assert b.source == "szse_shares" and d.height == 3308
    assert _one(d, "159845.SZ", D(2023, 1, 3), "shares_outstanding") == 3_097_023_900.0
    assert _one(d, "159922.SZ", D(2026, 6, 5), "shares_outstanding") == 2_177_676_700.0
    # the two publications of 159915 agree to the share
    other = read_cn_exchange_shares(cn / "daily_shares" / "etf-shares.csv", retrieved_at=STAMP).daily
    both = d.join(other, on=["date", "ticker"]).filter(pl.col("ticker") == "159915.SZ")
    assert both.height > 700 and (both["shares_outstanding"] == both["shares_outstanding_right"]).all()


def test_cn_rows_on_non_sessions_are_dropped_and_counted(tmp_path: Path) -> None:
    f = tmp_path / "shares.csv"
    f.write_text(
        "date,code,shares_100m,exchange,source,quality,method\n"
        "2024-07-04,510300,1.0,x,x,official,x\n"  # a Shanghai session (the NYSE was closed)
        "2025-10-01,510300,1.0,x,x,official,x\n"  # National Day: no session
        "2025-10-09,510300,1.5,x,x,official,x\n"
    )
    b = read_cn_exchange_shares(f, retrieved_at=STAMP)
    assert b.daily["date"].to_list() == [D(2024, 7, 4), D(2025, 10, 9)]
    assert b.dropped == {"non_session_rows": 1}
    assert "XSHG" in b.notes[0]
    f.write_text("date,code,shares_100m,exchange,source,quality,method\n2024-07-04,510300,1,x,x,guessed,x\n")
    with pytest.raises(ParseError, match="unknown quality") as info:
        read_cn_exchange_shares(f, retrieved_at=STAMP)
    assert (info.value.row, info.value.field) == (2, "quality")
    f.write_text("date,code,shares_100m\n2024-07-04,600000,1\n")
    with pytest.raises(ParseError, match="not a Shanghai/Shenzhen ETF code") as info:
        read_cn_exchange_shares(f, retrieved_at=STAMP)
    assert (info.value.row, info.value.field) == (2, "code")


# --- exchange OHLCV ---------------------------------------------------------------------------------


def test_prices_unadjusted_fund_read_as_is(cn: Path) -> None:
    b = read_cn_prices(cn / "prices_daily" / "512880_2016-08-08_to_2025-11-17.csv", retrieved_at=STAMP)
    d = b.daily
    assert d["ticker"].unique().to_list() == ["512880.SH"] and d.height == 2252
    assert _one(d, "512880.SH", D(2025, 11, 17), "close") == 1.218
    assert _one(d, "512880.SH", D(2025, 11, 17), "volume") == 2_090_480_791.0
    assert d["split_factor"].null_count() == d.height and b.notes == []


def test_prices_forward_adjusted_are_restored(cn: Path) -> None:
    """510310's file is forward-adjusted: before 2024-09-23 prices are about twice the traded ones."""
    b = read_cn_prices(cn / "prices_daily" / "510310_2013-03-25_to_2025-11-17.csv", retrieved_at=STAMP)
    d = b.daily
    assert b.dropped == {} and "3038 row(s) were forward-adjusted" in b.notes[0]
    close = d["close"].to_numpy()
    assert np.all(np.abs(close * 1000 - np.round(close * 1000)) < 1e-6)  # every close on the 0.001 tick
    # the restored close is near the day's traded average (AMT / VOLUME) and Wind's NAV (1.6591)
    aug30 = _one(d, "510310.SH", D(2024, 8, 30), "close")
    assert isinstance(aug30, float) and abs(aug30 / (2075824485 / 1249488254) - 1) < 0.01
    assert abs(aug30 / 1.6591 - 1) < 0.01
    # the consolidation shows as a split of ~0.5 new shares per old one, never as a price move
    split = d.filter(pl.col("split_factor").is_not_null())
    assert split["date"].to_list() == [D(2024, 9, 23)]
    assert split["split_factor"].item() == pytest.approx(0.4998, abs=1e-4)
    assert _one(d, "510310.SH", D(2025, 11, 17), "close") == 4.536  # the newest rows are as traded


def test_restore_synthetic_two_segments() -> None:
    """Synthetic: traded prices near 2.00, then 1.00 after a 2-for-1 split, adjusted x0.5 before."""
    traded = np.array([[2.003, 2.021, 1.991, 2.011], [1.0, 1.01, 0.99, 1.0]])
    adjusted = traded * np.array([[0.5], [1.0]])
    out, fac = restore_traded_prices(adjusted, np.array([2.005, 1.0]))
    assert out == pytest.approx(traded) and fac.tolist() == [2.0, 1.0]


def test_prices_name_must_match_rows(tmp_path: Path, cn: Path) -> None:
    src = (cn / "prices_daily" / "512880_2016-08-08_to_2025-11-17.csv").read_text()
    f = tmp_path / "512880_2016-08-08_to_2020-01-01.csv"
    f.write_text(src)
    with pytest.raises(ParseError, match="file name says"):
        read_cn_prices(f, retrieved_at=STAMP)
    g = tmp_path / "prices.csv"
    g.write_text(src)
    with pytest.raises(ParseError, match="give --ticker"):
        read_cn_prices(g, retrieved_at=STAMP)
    assert read_cn_prices(g, ticker="512880", retrieved_at=STAMP).daily["ticker"][0] == "512880.SH"


# --- classification ---------------------------------------------------------------------------------


def test_classification_rows(cn: Path) -> None:
    b = read_cn_classification(cn / "classification" / "etf_flow_radar_universe_classification_20260821.csv")
    f = b.tables["funds"]
    assert f.height == 1613 and b.daily.height == 0
    assert f.filter(pl.col("ticker").str.ends_with(".SH")).height == 896
    rows = {r["ticker"]: r for r in f.iter_rows(named=True)}
    assert rows["512000.SH"]["group"] == rows["512880.SH"]["group"] == "fin_broker"
    assert rows["512880.SH"]["sw_l1_code"] == "801790"
    assert rows["510030.SH"]["category"] == "theme"  # the source's "style" kind (价值 value)
    assert rows["510300.SH"]["category"] == "broad" and rows["510300.SH"]["group"] == "hs300"
    assert rows["511360.SH"]["category"] is None and rows["511360.SH"]["asset_class"] == "fixed_income"
    assert f["category"].value_counts().sort("category")["count"].to_list() == [369, 322, 672, 250]


def test_failed_download_price_file_is_refused(cn: Path) -> None:
    f = cn / "prices_daily" / "563670_nan_to_2025-11-17.csv"
    assert detect_format(f) == "cn_prices"
    with pytest.raises(ParseError, match="a failed download, not prices") as info:
        read_cn_prices(f, retrieved_at=STAMP)
    assert (info.value.file, info.value.row, info.value.field) == (str(f), 2, "OUTMESSAGE")
