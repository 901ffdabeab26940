"""The shipped taxonomy: coverage of the flow framework, sector cycle data, loaders."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from etfflow.errors import NotFoundError
from etfflow.schema import validate
from etfflow.universe import (
    CATEGORIES,
    CYCLE_PHASE,
    CYCLICAL,
    DEFENSIVE,
    PHASES,
    SECTORS,
    load_taxonomy,
    sector_funds,
    tickers,
)

SPDRS = ["XLK", "XLF", "XLE", "XLV", "XLI", "XLY", "XLP", "XLU", "XLB", "XLRE", "XLC"]

# every fund the US flow framework names (issue 2, point 6)
FRAMEWORK = {
    "broad_market": "SPY IVV VOO QQQ IWM IJR VB DIA VTI IJH MDY RSP",
    "sector": " ".join(SPDRS)
    + " VGT IYW SMH SOXX FTEC VFH KRE KBE IYF XOP VDE OIH XBI IBB VHT IHI VIS ITA VCR XRT VDC VPU VAW XME"
    " GDX VNQ IYR VOX",
    "style": "IWF VUG IVW IWD VTV IVE MTUM QUAL USMV SPLV VLUE SIZE IWO IWN SCHD VIG DVY",
    "fixed_income": "TLT EDV IEF SHY BIL SGOV GOVT AGG BND LQD VCIT HYG JNK SJNK TIP SCHP EMB MUB BKLN",
    "thematic": "ARKK ARKG ICLN TAN LIT BOTZ HACK CIBR SKYY JETS KWEB URA",
    "international": "EFA IEFA VEA EEM IEMG VWO EWJ EWZ EWY FXI MCHI INDA EWG EWU VGK",
    "commodity": "GLD IAU SLV USO UNG DBC",
}


@pytest.fixture(scope="module")
def tax() -> pl.DataFrame:
    return load_taxonomy()


def test_taxonomy_is_a_valid_funds_frame(tax: pl.DataFrame) -> None:
    assert validate(tax, "funds").equals(tax)
    assert tax["ticker"].is_unique().all()
    assert tax.height >= 120


def test_no_duplicate_tickers(tax: pl.DataFrame) -> None:
    assert tax["ticker"].n_unique() == tax.height


def test_every_framework_fund_is_present_in_its_category(tax: pl.DataFrame) -> None:
    cat = dict(zip(tax["ticker"], tax["category"], strict=True))
    for category, names in FRAMEWORK.items():
        for t in names.split():
            assert cat.get(t) == category, t


def test_categories_the_framework_needs(tax: pl.DataFrame) -> None:
    assert set(tax["category"].unique()) == set(CATEGORIES)
    required = tax.select("ticker", "name", "issuer", "asset_class", "group")
    assert sum(required.null_count().row(0)) == 0
    assert set(tax["asset_class"].unique()) == {"equity", "fixed_income", "commodity"}


def test_eleven_primary_sector_funds_in_sector_order() -> None:
    primary = sector_funds()
    assert primary["ticker"].to_list() == SPDRS
    assert primary["group"].to_list() == list(SECTORS)
    assert primary["primary"].all()


def test_every_sector_has_its_cycle_and_phase(tax: pl.DataFrame) -> None:
    sectors = tax.filter(pl.col("category") == "sector")
    assert set(sectors["group"]) == set(SECTORS)
    for row in sectors.iter_rows(named=True):
        expected = "defensive" if row["group"] in DEFENSIVE else "cyclical"
        assert row["cycle"] == expected, row["ticker"]
        assert row["cycle_phase"] == CYCLE_PHASE[row["group"]], row["ticker"]
    others = tax.filter(pl.col("category") != "sector")
    assert others["cycle"].null_count() == others.height
    assert others["cycle_phase"].null_count() == others.height


def test_cycle_constants_partition_the_sectors() -> None:
    assert len(SECTORS) == 11
    assert set(CYCLICAL) | set(DEFENSIVE) == set(SECTORS)
    assert not set(CYCLICAL) & set(DEFENSIVE)
    assert set(DEFENSIVE) == {"Consumer Staples", "Utilities", "Health Care"}
    assert set(CYCLE_PHASE) == set(SECTORS)
    assert set(CYCLE_PHASE.values()) == set(PHASES)
    assert {s for s, p in CYCLE_PHASE.items() if p == "recession"} == set(DEFENSIVE)
    assert {s for s, p in CYCLE_PHASE.items() if p == "late"} == {"Energy", "Materials"}


def test_one_primary_fund_per_group(tax: pl.DataFrame) -> None:
    counts = tax.group_by("category", "group").agg(pl.col("primary").sum())
    assert (counts["primary"] == 1).all(), counts.filter(pl.col("primary") != 1)


def test_known_rows_exact(tax: pl.DataFrame) -> None:
    rows = {r["ticker"]: r for r in tax.iter_rows(named=True)}
    assert rows["XLK"] == {
        "ticker": "XLK",
        "name": "Technology Select Sector SPDR Fund",
        "issuer": "State Street",
        "asset_class": "equity",
        "category": "sector",
        "group": "Technology",
        "cycle": "cyclical",
        "cycle_phase": "mid",
        "primary": True,
        "creation_unit_shares": 50_000,
        "inception": dt.date(1998, 12, 16),
        "cik": "0001064641",
        "series_id": "S000006415",
        "class_id": "C000017601",
        "market": "US",
        "currency": "USD",
        "sw_l1_code": None,
        "sw_l1_name": None,
    }
    assert rows["SPY"]["group"] == "Large Cap"
    assert rows["SPY"]["creation_unit_shares"] == 50_000
    assert rows["SPY"]["inception"] == dt.date(1993, 1, 22)
    assert rows["XLP"]["cycle"] == "defensive"
    assert rows["XLP"]["cycle_phase"] == "recession"
    assert rows["XLRE"]["cycle"] == "cyclical"
    assert rows["XLC"]["inception"] == dt.date(2018, 6, 18)
    assert rows["GLD"]["category"] == "commodity"
    assert rows["GLD"]["group"] == "Gold"
    assert rows["GLD"]["creation_unit_shares"] == 100_000
    assert rows["TLT"]["group"] == "Long Treasury"
    assert rows["TLT"]["asset_class"] == "fixed_income"
    assert rows["SMH"]["group"] == "Technology"
    assert not rows["SMH"]["primary"]
    assert rows["HACK"]["group"] == rows["CIBR"]["group"] == "Cybersecurity"


def test_creation_units_only_where_known(tax: pl.DataFrame) -> None:
    known = tax.filter(pl.col("creation_unit_shares").is_not_null())
    assert set(known["ticker"]) == {"SPY", "IVV", "QQQ", "DIA", "GLD", *SPDRS}
    assert (known["creation_unit_shares"] > 0).all()


def test_tickers_filters_and_raises_on_unknown_names() -> None:
    assert tickers(category="sector", group="Technology") == ["XLK", "VGT", "IYW", "SMH", "SOXX", "FTEC"]
    assert tickers(group="Gold") == ["GLD", "IAU"]
    assert len(tickers()) == load_taxonomy().height
    assert set(tickers("commodity")) == set(FRAMEWORK["commodity"].split())
    with pytest.raises(NotFoundError, match="unknown category"):
        tickers(category="sectors")
    with pytest.raises(NotFoundError, match="unknown group"):
        tickers(category="sector", group="Gold")


def test_sector_funds_with_alternatives_keeps_primary_first() -> None:
    frame = sector_funds(primary_only=False)
    assert frame.height == load_taxonomy().filter(pl.col("category") == "sector").height
    firsts = frame.group_by("group", maintain_order=True).first()
    assert firsts["ticker"].to_list() == SPDRS


def test_load_taxonomy_returns_an_independent_frame() -> None:
    a = load_taxonomy()
    a = a.with_columns(pl.lit("x").alias("name"))
    assert load_taxonomy()["name"][0] != "x"
