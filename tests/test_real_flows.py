"""Flows from the real issuer files in ../shared/data, end to end through the warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from etfflow import pipeline
from etfflow.flows.aggregate import clean
from etfflow.flows.flags import Flag
from etfflow.store import Store


@pytest.fixture(scope="module")
def warehouse(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Store:
    db = tmp_path_factory.mktemp("real") / "real.duckdb"
    store = Store(db)
    issuers = shared_data / "issuers"
    pipeline.import_paths(
        store,
        [
            issuers / "ishares" / "IVV_fund.xls",
            issuers / "ssga" / "GLD_US_archive_EN.csv",
            issuers / "ishares" / "EWJ_EWY_EWZ_shares_history.csv",
        ],
    )
    return store


def flagged(f: pl.DataFrame, flag: Flag) -> pl.DataFrame:
    return f.filter((pl.col("flags") & int(flag)) != 0)


def test_ivv_flows(warehouse: Store) -> None:
    f = warehouse.read("flows_daily", tickers=["IVV"])
    assert f.height == 5534
    # every shares change is a whole number of 50,000-share creation units: no odd lots
    assert flagged(f, Flag.ODD_LOT).height == 0
    assert (f["shares_change"].drop_nulls().cast(pl.Int64) % 50_000 == 0).all()  # float % is unreliable
    # the 11.6M -> 111.6M -> 11.6M print stated 2000-10-06/09 belongs to trade dates 10-05/10-06
    bad = flagged(f, Flag.BAD_PRINT)
    assert bad["date"].to_list() == [dt.date(2000, 10, 5), dt.date(2000, 10, 6)]
    assert bad["available_on"].to_list() == [dt.date(2000, 10, 6), dt.date(2000, 10, 9)]
    assert flagged(f, Flag.SPLIT).height == 0
    # the first stated count has no prior count and its trade date precedes the file
    assert flagged(f, Flag.FIRST)["date"].to_list() == [dt.date(2000, 5, 12)]


def test_ivv_yearly_net_flows_exclude_the_bad_print(warehouse: Store) -> None:
    f = clean(warehouse.read("flows_daily", tickers=["IVV"]))
    y = f.group_by(pl.col("date").dt.year().alias("y")).agg(pl.col("flow_usd").sum()).sort("y")
    by_year = dict(zip(y["y"].to_list(), y["flow_usd"].to_list(), strict=True))
    # 2000: the bad print's +14.4bn / -14.1bn pair is excluded, leaving 2.47bn of real creations
    assert by_year[2000] == pytest.approx(2.47e9, rel=5e-3)
    assert by_year[2021] == pytest.approx(31.03e9, rel=5e-4)


def test_gld_flows(warehouse: Store) -> None:
    f = warehouse.read("flows_daily", tickers=["GLD"])
    assert f.height == 5159
    gaps = flagged(f, Flag.GAP)
    # London holidays on NYSE sessions: 2004-12-31 and 2007-11-12 have no row, so the next change spans it
    assert gaps["gap_sessions"].to_list() == [1, 1]
    assert flagged(f, Flag.SPLIT).height == 0
    # derived counts (total NAV / NAV per share) that disagree with whole 100,000-share baskets
    assert flagged(f, Flag.ODD_LOT).height == 16
    y2013 = clean(f).filter(pl.col("date").dt.year() == 2013)["flow_usd"].sum()
    assert y2013 == pytest.approx(-25.21e9, rel=5e-4)


def test_ewj_without_nav_gives_no_price_not_zero(warehouse: Store) -> None:
    f = warehouse.read("flows_daily", tickers=["EWJ"])
    assert f.height == 210
    no_price = flagged(f, Flag.NO_PRICE)
    assert no_price["flow_usd"].null_count() == no_price.height  # unknown, never 0
    assert no_price["shares_change"].null_count() <= 1  # the share changes themselves are kept


def test_reimport_changes_nothing(warehouse: Store, shared_data: Path) -> None:
    before = warehouse.snapshot()
    res = pipeline.import_paths(warehouse, [shared_data / "issuers" / "ishares" / "IVV_fund.xls"])
    assert res[0].already_imported and (res[0].added, res[0].changed) == (0, 0)
    after = warehouse.snapshot()
    for name, frame in before.items():
        assert frame.equals(after[name]), name


def test_broken_file_names_row_and_writes_nothing(warehouse: Store, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("date,ticker,shares_outstanding,nav\n2024-01-02,XYZ,100,10\n2024-01-03,XYZ,-5,10\n")
    before = warehouse.snapshot()
    with pytest.raises(Exception, match=r"bad\.csv, row 3, field .shares_outstanding.") as exc:
        pipeline.import_paths(warehouse, [bad])
    assert "negative" in str(exc.value)
    after = warehouse.snapshot()
    for name, frame in before.items():
        assert frame.equals(after[name]), name
