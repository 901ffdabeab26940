"""China A-share flows end to end on the real files, and the rule that no total adds CNY to USD.

Hand computation (Wind cells, see test_cn_sources): 512880.SH December 2025 =
(470.3529 - 504.0429) x 1e8 shares x 1.2125 CNY = -4,084,912,500 CNY; prior AUM 504.0429e8 x 1.1803.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow import pipeline
from etfflow.cli import app
from etfflow.errors import DataQualityError
from etfflow.flows.aggregate import by_group, to_period
from etfflow.flows.daily import compute_flows
from etfflow.flows.flags import Flag
from etfflow.signals.overview import group_totals, top_flows, window_totals
from etfflow.store import Store

D = dt.date
runner = CliRunner()
DEC_FLOW = (470.3529 - 504.0429) * 1e8 * 1.2125


@pytest.fixture(scope="module")
def db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cn = shared_data / "cn"
    files = [
        cn / "monthly_wind" / "ETF_aum_amount.csv",
        cn / "monthly_wind" / "ETF_aum_unit_value.csv",
        cn / "daily_shares" / "etf-shares.csv",
        cn / "prices_daily" / "510310_2013-03-25_to_2025-11-17.csv",
        cn / "prices_daily" / "159915_2011-12-09_to_2025-11-17.csv",
        cn / "prices_daily" / "159922_2013-03-15_to_2025-11-17.csv",
        cn / "daily_shares" / "szse_etf_share_4etf_2023_2026.csv",
        cn / "classification" / "etf_flow_radar_universe_classification_20260821.csv",
    ]
    path = tmp_path_factory.mktemp("cn") / "cn.duckdb"
    with Store(path) as store:
        pipeline.import_paths(store, files)
    return path


def _flows(db: Path, ticker: str) -> pl.DataFrame:
    with Store(db, read_only=True) as store:
        return store.read("flows_daily", tickers=[ticker])


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


def test_month_end_flow_equals_hand_computation(db: Path) -> None:
    f = _flows(db, "512880.SH")
    dec = f.filter(pl.col("date") == D(2025, 12, 31)).row(0, named=True)
    assert dec["flow_usd"] == pytest.approx(DEC_FLOW, rel=1e-12)
    assert dec["aum_prev_usd"] == pytest.approx(504.0429e8 * 1.1803, rel=1e-12)
    assert dec["method"] == "month_end" and dec["flags"] & Flag.GAP
    # one flow per month, each on the month's last Shanghai session (January 2025: the 27th)
    assert f.filter(pl.col("date").dt.year() == 2025)["date"].dt.month().to_list() == list(range(1, 13))
    assert D(2025, 1, 27) in f["date"].to_list()


def test_flows_cli_monthly_in_cny(db: Path) -> None:
    code, out = run("flows", "512880.SH", "--freq", "m", "--start", "2025-12-01", "--json", "--db", str(db))
    assert code == 0, out
    data = json.loads(out)
    assert data["currency"] == "CNY" and len(data["rows"]) == 1
    assert data["rows"][0]["flow_usd"] == pytest.approx(DEC_FLOW, rel=1e-12)
    code, out = run("flows", "512880.SH", "--freq", "m", "--start", "2025-12-01", "--db", str(db))
    assert code == 0 and "amounts in CNY" in out and "-4.08bn CNY" in out


def test_daily_shares_win_and_use_the_xshg_calendar(db: Path) -> None:
    f = _flows(db, "510310.SH")
    assert set(f["method"]) == {"shares"}  # the exchange's daily counts, not Wind's month-end ones
    assert D(2024, 7, 4) in f["date"].to_list()  # a Shanghai session on a NYSE holiday
    assert D(2024, 10, 1) not in f["date"].to_list()


def test_consolidation_is_a_split_not_a_flow(db: Path) -> None:
    """510310: 1,218.6 -> 623.5 亿份 on 2024-09-20 while the traded price doubled: no -50% outflow."""
    f = _flows(db, "510310.SH")
    day = f.filter(pl.col("date") == D(2024, 9, 20)).row(0, named=True)
    assert day["flags"] & Flag.SPLIT
    assert abs(day["flow_pct_aum"]) < 0.05
    assert f.filter(pl.col("flow_pct_aum") < -0.25).height == 0


def test_split_by_any_ratio_uses_the_declared_factor(db: Path) -> None:
    """159922: 208,186.99 -> 522,067.67 万份 on 2024-11-29 (Wind NAV 2.4663 that day), first traded at
    the new price on 2024-12-02, where the restored prices declare the exact factor (about 2.6388, not
    a standard ratio): flow = (522,067.67e4 - 208,186.99e4 x k) x 2.4663, flagged split."""
    with Store(db, read_only=True) as store:
        daily = store.read("daily", tickers=["159922.SZ"])
    k = daily.filter(pl.col("split_factor").is_not_null())["split_factor"].item()
    assert k == pytest.approx(2.6388, abs=1e-4)
    f = _flows(db, "159922.SZ")
    day = f.filter(pl.col("date") == D(2024, 11, 29)).row(0, named=True)
    assert day["flags"] & Flag.SPLIT
    assert day["flow_usd"] == pytest.approx((5_220_676_700 - 2_081_869_900 * k) * 2.4663, rel=1e-9)
    assert f.filter(pl.col("flags") & int(Flag.SPLIT) != 0)["date"].to_list() == [D(2024, 11, 29)]


def test_month_end_counts_fill_the_months_before_daily_counts(db: Path) -> None:
    """159922 has Wind month-end counts from 2013 and exchange daily counts from 2023-01-03 only."""
    f = _flows(db, "159922.SZ").sort("date")
    before = f.filter(pl.col("date") < D(2023, 1, 3))
    assert before.height > 100 and set(before["method"]) == {"month_end"}
    switch = f.filter(pl.col("date") == D(2023, 1, 3)).row(0, named=True)
    assert switch["flow_usd"] is None and switch["flags"] & Flag.FIRST  # two sources never differenced
    after = f.filter(pl.col("date") > D(2023, 1, 3))
    assert set(after["method"]) == {"shares"} and after.height > 700


def test_estimated_counts_flag_their_flows(db: Path) -> None:
    f = _flows(db, "159915.SZ").sort("date")
    by_date = {r["date"]: r["flags"] for r in f.iter_rows(named=True)}
    assert by_date[D(2016, 8, 2)] & Flag.ESTIMATED  # both counts estimated
    assert by_date[D(2016, 8, 3)] & Flag.ESTIMATED  # official count minus the last estimate
    assert not by_date[D(2016, 8, 4)] & Flag.ESTIMATED
    est = f.filter((pl.col("flags") & int(Flag.ESTIMATED)) != 0)
    assert est["date"].max() == D(2016, 8, 3)


def test_groups_cli_sums_an_industry_in_its_currency(db: Path) -> None:
    args = (
        "groups",
        "--market",
        "CN",
        "--group",
        "fin_broker",
        "--start",
        "2025-01-01",
        "--end",
        "2025-12-31",
    )
    code, out = run(*args, "--json", "--db", str(db))
    assert code == 0, out
    data = json.loads(out)
    assert {r["currency"] for r in data["rows"]} == {"CNY"} and len(data["rows"]) == 12
    per_fund = pl.DataFrame(data["funds"])
    assert "512880.SH" in per_fund["ticker"].to_list() and "512000.SH" in per_fund["ticker"].to_list()
    dec = next(r for r in data["rows"] if r["date"] == "2025-12-31")
    assert dec["flow_usd"] == pytest.approx(per_fund.filter(pl.col("date") == "2025-12-31")["flow_usd"].sum())
    code, out = run(*args, "--db", str(db))
    assert code == 0 and "Total over the selection" in out and "CNY" in out


def test_bad_file_leaves_the_warehouse_as_it_was(db: Path, tmp_path: Path) -> None:
    f = tmp_path / "panel.csv"
    f.write_text("日期,证券ETF\nDate,512880.SH\n2025-12-31,-1\n", encoding="utf-8")
    with Store(db, read_only=True) as store:
        before = store.counts()
    code, out = run("import", str(f), "--db", str(db))
    assert code == 1 and "row 3" in out and "512880.SH" in out
    with Store(db, read_only=True) as store:
        assert store.counts() == before


# --- currencies are never added (synthetic frames, labelled as such) --------------------------------


def _mixed() -> tuple[pl.DataFrame, pl.DataFrame]:
    """SYNTHETIC: one US fund (SPY, USD) and one China fund (512880.SH, CNY) in one group."""
    flows = pl.DataFrame(
        {
            "date": [D(2024, 7, 3), D(2024, 7, 3), D(2024, 7, 4)],
            "ticker": ["SPY", "512880.SH", "512880.SH"],
            "flow_usd": [10.0, 500.0, 100.0],
            "aum_prev_usd": [1000.0, 10_000.0, 10_500.0],
            "flow_pct_aum": [0.01, 0.05, 100 / 10_500],
            "flags": pl.Series([0, 0, 0], dtype=pl.UInt32),
            "available_on": [D(2024, 7, 3), D(2024, 7, 3), D(2024, 7, 4)],
        }
    )
    funds = pl.DataFrame(
        {
            "ticker": ["SPY", "512880.SH"],
            "name": ["s", "c"],
            "category": ["x", "x"],
            "group": ["Financials", "Financials"],
            "market": ["US", "CN"],
            "currency": ["USD", "CNY"],
        }
    )
    return flows, funds


def test_group_totals_keep_currencies_apart() -> None:
    flows, funds = _mixed()
    g = by_group(flows, funds, by="group", freq="m")
    assert g.select("date", "currency", "flow_usd").to_dicts() == [
        {"date": D(2024, 7, 31), "currency": "CNY", "flow_usd": 600.0},
        {"date": D(2024, 7, 31), "currency": "USD", "flow_usd": 10.0},
    ]
    with pytest.raises(DataQualityError, match="several currencies"):
        group_totals(window_totals(flows, funds, window=5), funds)
    one = group_totals(window_totals(flows.filter(pl.col("ticker") == "SPY"), funds, window=5), funds)
    assert one.table["currency"].to_list() == ["USD"] and one.total(["Financials"])[0] == 10.0


def test_top_lists_refuse_to_rank_amounts_across_currencies() -> None:
    flows, funds = _mixed()
    totals = window_totals(flows, funds, window=5)
    assert dict(zip(totals["ticker"], totals["currency"], strict=True)) == {"512880.SH": "CNY", "SPY": "USD"}
    with pytest.raises(DataQualityError, match="across currencies"):
        top_flows(totals, by="flow_usd")
    inflows, _ = top_flows(totals, by="flow_pct_aum")  # a fraction of AUM has no currency
    assert inflows["ticker"].to_list() == ["512880.SH", "SPY"]
    inflows, _ = top_flows(totals.filter(pl.col("currency") == "CNY"), by="flow_usd")
    assert inflows["flow_usd"].to_list() == [600.0]


def test_top_cli_market_option(db: Path) -> None:
    code, out = run("top", "--market", "CN", "--window", "400", "--json", "--db", str(db))
    assert code == 0, out
    data = json.loads(out)
    assert data["inflows"] and {r["currency"] for r in data["inflows"] + data["outflows"]} == {"CNY"}


def test_each_fund_on_its_own_calendar() -> None:
    """SYNTHETIC panel: a CN row on 2024-07-04 is a session; the same date for a US fund is not."""
    daily = pl.DataFrame(
        {
            "date": [D(2024, 7, 3), D(2024, 7, 4), D(2024, 7, 3), D(2024, 7, 5)],
            "ticker": ["512880.SH", "512880.SH", "SPY", "SPY"],
            "nav": [1.0, 1.0, 500.0, 500.0],
            "shares_outstanding": [100.0, 110.0, 10.0, 12.0],
            "so_lag": [0, 0, 0, 0],
        }
    )
    f = compute_flows(daily)
    assert f.select("date", "ticker", "flow_usd").to_dicts()[1::2] == [
        {"date": D(2024, 7, 4), "ticker": "512880.SH", "flow_usd": 10.0},
        {"date": D(2024, 7, 5), "ticker": "SPY", "flow_usd": 1000.0},
    ]
    per = to_period(f, "m")
    assert set(per["date"]) == {D(2024, 7, 31)}
    bad = daily.with_columns(pl.col("date").replace(D(2024, 7, 5), D(2024, 7, 4)))
    with pytest.raises(DataQualityError, match="NYSE"):
        compute_flows(bad)


def test_funds_stored_before_the_columns_existed_are_us(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE funds (ticker VARCHAR PRIMARY KEY, name VARCHAR)")
    con.execute("INSERT INTO funds VALUES ('ZZZ', 'an old row')")
    con.close()
    with Store(path) as store:  # additive migration
        row = pipeline.funds_table(store).filter(pl.col("ticker") == "ZZZ").row(0, named=True)
    assert (row["name"], row["market"], row["currency"]) == ("an old row", "US", "USD")


def test_groups_by_shenwan_industry(db: Path) -> None:
    code, out = run(
        "groups", "--market", "CN", "--by", "sw_l1_name", "--start", "2025-12-01", "--json", "--db", str(db)
    )
    assert code == 0, out
    rows = json.loads(out)["rows"]
    nonbank = next(r for r in rows if r["sw_l1_name"] == "非银金融")
    assert nonbank["currency"] == "CNY" and nonbank["funds"] >= 15  # the brokers and 512070.SH


def test_us_report_on_a_mixed_warehouse(db: Path, shared_data: Path, tmp_path: Path) -> None:
    mixed = tmp_path / "mixed.duckdb"
    shutil.copy(db, mixed)
    with Store(mixed) as store:
        pipeline.import_paths(store, [shared_data / "issuers" / "ishares" / "IVV_fund.xls"])
    out = tmp_path / "r.json"
    code, text = run("report", "--format", "json", "--out", str(out), "--db", str(mixed))
    assert code == 0, text
    report = out.read_text()
    assert "IVV" in report and ".SH" not in report and ".SZ" not in report
    code, text = run("top", "--window", "2000", "--db", str(mixed))
    assert code == 1 and "across currencies" in text


def test_month_end_method_agrees_with_summed_daily_flows(shared_data: Path) -> None:
    """510300.SH 2016-2025: Wind month-end flows vs the month sums of exchange daily flows."""
    from etfflow.flows.daily import merge_sources
    from etfflow.sources.cn_exchange import read_cn_exchange_shares
    from etfflow.sources.cn_prices import read_cn_prices
    from etfflow.sources.cn_wind import read_wind_panel
    from etfflow.universe.cn import cn_funds

    cn, t = shared_data / "cn", "510300.SH"

    def one(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("ticker") == t)

    shares = one(read_wind_panel(cn / "monthly_wind" / "ETF_aum_amount.csv").daily)
    nav = one(read_wind_panel(cn / "monthly_wind" / "ETF_aum_unit_value.csv").daily)
    daily = one(read_cn_exchange_shares(cn / "daily_shares" / "etf-shares.csv").daily)
    prices = read_cn_prices(next((cn / "prices_daily").glob("510300_*.csv"))).daily

    def monthly(parts: list[pl.DataFrame]) -> pl.DataFrame:
        f = compute_flows(merge_sources(pl.concat(parts)), cn_funds([t]))
        return to_period(f, "m", markets={t: "CN"}).filter(pl.col("date").dt.year().is_between(2016, 2025))

    wind = monthly([shares, nav, prices])
    summed = monthly([daily, nav, prices])
    j = wind.join(summed, on="date", suffix="_d")
    assert j.height == 120
    corr = pl.DataFrame({"a": j["flow_usd"], "b": j["flow_usd_d"]}).select(pl.corr("a", "b")).item()
    assert corr > 0.99
    diff = ((j["flow_usd"] - j["flow_usd_d"]).abs() / j["aum_start_usd_d"]).median()
    assert isinstance(diff, float) and diff < 0.005
