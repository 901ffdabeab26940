"""N-CEN: both recorded full submissions, the funds and authorized_participants frames, the sniffer.

Ground truths below were read from the .txt files with grep/regex, never from this parser.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from etfflow.errors import ParseError, ValidationError
from etfflow.schema import TABLES
from etfflow.sources import sec_ncen as C
from etfflow.sources.sec_ids import extract_xml_document

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NCEN = DATA / "sec" / "ncen"
pytestmark = pytest.mark.skipif(not NCEN.is_dir(), reason=f"shared N-CEN fixtures not found at {NCEN}")

ETF_FILE = "0001410368-26-010918.txt"
MF_FILE = "0001410368-26-010921.txt"

# ticker -> (series_id, creation unit shares, AP purchases USD, AP redemptions USD)
ETFS = {
    "CAM": ("S000093944", 50000, 12541210.00, 8804155.00),
    "BUFC": ("S000082566", 25000, 264780720.00, 29127995.00),
    "CORB": ("S000093945", 50000, 18026585.00, 0.0),
    "CPLS": ("S000082567", 50000, 79814790.00, 50779210.00),
    "EYEG": ("S000082568", 50000, 23078855.00, 21323510.00),
    "FWD": ("S000079470", 10000, 763333631.00, 185395254.00),
    "EMOP": ("S000092962", 50000, 52799470.00, 0.0),
    "HYFI": ("S000079881", 25000, 152418192.50, 24765872.50),
    "BUFI": ("S000088373", 25000, 177100745.00, 107729305.00),
    "IGGY": ("S000093934", 50000, 4500000.00, 0.0),
    "ILOW": ("S000083870", 50000, 685894955.00, 214504240.00),
    "BUFM": ("S000088374", 25000, 501256925.00, 253598287.50),
    "NYM": ("S000093946", 50000, 4999580.00, 0.0),
    "SYFI": ("S000083864", 25000, 242194350.00, 159466980.00),
    "SDFI": ("S000083865", 50000, 60488135.00, 5305330.00),
    "TAFM": ("S000082569", 50000, 325776180.00, 3694755.00),
    "TAFL": ("S000082570", 50000, 22458945.00, 8659970.00),
    "TAFI": ("S000076879", 50000, 444735955.00, 54940450.00),
    "HIDV": ("S000079471", 20000, 124741662.00, 30690436.00),
    "LRGC": ("S000080208", 15000, 384634156.50, 42550071.00),
    "LOWV": ("S000079472", 10000, 87081758.00, 11265496.00),
    "YEAR": ("S000076880", 25000, 692256432.50, 338915142.50),
}


def load(name: str) -> C.NcenFiling:
    return C.parse_ncen((NCEN / name).read_bytes(), file=name)


def test_every_fixture_is_covered() -> None:
    """Both .txt submissions in the folder are tested below."""
    assert sorted(p.name for p in NCEN.glob("*.txt")) == sorted([ETF_FILE, MF_FILE])


def test_ab_active_etfs() -> None:
    """0001410368-26-010918: AB Active ETFs, Inc. (CIK 0001496608, LEI 2549006ZG5WBMZRI5P66), N-CEN for
    the year to 2025-11-30, filed 2026-02-12.

    22 management series, all 22 ETFs (fundType Exchange-Traded Fund), each with one ticker and 22
    authorised participants: 484 AP rows, purchases 5,124,913,232.50 USD, redemptions 1,551,516,459.50
    USD. Creation units: 12 x 50,000, 6 x 25,000, 2 x 10,000, 1 x 15,000, 1 x 20,000 shares. No series
    is an in-kind ETF (isInKindETF N). Per-ETF truths in ETFS.
    """
    f = load(ETF_FILE)
    assert (f.accession, f.filed_on, f.report_date) == (
        "0001410368-26-010918",
        dt.date(2026, 2, 12),
        dt.date(2025, 11, 30),
    )
    assert (f.registrant_name, f.registrant_cik, f.registrant_lei) == (
        "AB Active ETFs, Inc.",
        "0001496608",
        "2549006ZG5WBMZRI5P66",
    )
    assert f.investment_company_type == "N-1A"
    assert len(f.series) == 22 and len(f.etfs) == 22 and f.issues == ()
    assert all(e.is_in_kind_etf is False for e in f.etfs)
    funds = C.funds_frame(f)
    assert funds.columns == TABLES["funds"].names and funds.height == 22
    by_ticker = {r["ticker"]: r for r in funds.iter_rows(named=True)}
    assert set(by_ticker) == set(ETFS)
    for ticker, (series_id, cu, _, _) in ETFS.items():
        row = by_ticker[ticker]
        assert (row["series_id"], row["creation_unit_shares"], row["cik"]) == (series_id, cu, "0001496608")
        assert row["class_id"] is not None and row["class_id"].startswith("C")
    counts = dict(funds.group_by("creation_unit_shares").len().rows())
    assert counts == {50000: 12, 25000: 6, 10000: 2, 15000: 1, 20000: 1}
    aps = C.authorized_participants_frame(f)
    assert aps.columns == TABLES["authorized_participants"].names and aps.height == 484
    assert aps["purchased_usd"].sum() == pytest.approx(5124913232.50)
    assert aps["redeemed_usd"].sum() == pytest.approx(1551516459.50)
    assert aps["report_date"].unique().to_list() == [dt.date(2025, 11, 30)]
    per = aps.group_by("series_id").agg(pl.len(), pl.col("purchased_usd").sum(), pl.col("redeemed_usd").sum())
    got = {r[0]: r[1:] for r in per.rows()}
    for series_id, _, bought, redeemed in ETFS.values():
        n, p, r = got[series_id]
        assert n == 22 and p == pytest.approx(bought) and r == pytest.approx(redeemed)


def test_bufc_details() -> None:
    """AB Conservative Buffer ETF (BUFC, S000082566, class C000245882) on XNAS, creation unit 25,000.

    Purchases: 100 % cash, 0 % in kind; redemptions: 0.845 % cash, 99.155 % in kind. Merrill Lynch
    Professional Clearing Corp. (LEI 549300PMHS66E71I2D34) bought 257,970,942.50 and redeemed
    26,139,230.00 USD; Goldman Sachs & Co. LLC 6,809,777.50 / 2,988,765.00.
    """
    etf = next(e for e in load(ETF_FILE).etfs if e.ticker == "BUFC")
    assert (etf.series_id, etf.class_id, etf.exchanges, etf.creation_unit_shares) == (
        "S000082566",
        "C000245882",
        ("XNAS",),
        25000,
    )
    assert (etf.cash_pct_purchased, etf.in_kind_pct_purchased) == (100.0, 0.0)
    assert (etf.cash_pct_redeemed, etf.in_kind_pct_redeemed) == (0.845, 99.155)
    aps = {a.name: a for a in etf.authorized_participants}
    ml = aps["Merrill Lynch Professional Clearing Corp."]
    assert (ml.lei, ml.purchased_usd, ml.redeemed_usd) == ("549300PMHS66E71I2D34", 257970942.50, 26139230.00)
    gs = aps["Goldman Sachs & Co. LLC"]
    assert (gs.purchased_usd, gs.redeemed_usd) == (6809777.50, 2988765.00)
    assert aps["Credit Suisse Securities (Europe) Limited"].crd_no is None  # filed as N/A


def test_in_kind_percentages_above_100_are_kept_as_filed() -> None:
    """In-kind redemptions filed above 100 % (HYFI 101.154, BUFM 100.5575, SYFI 100.545) are kept."""
    etfs = {e.ticker: e for e in load(ETF_FILE).etfs}
    assert etfs["HYFI"].in_kind_pct_redeemed == 101.154
    assert etfs["BUFM"].in_kind_pct_redeemed == 100.5575
    assert etfs["SYFI"].in_kind_pct_redeemed == pytest.approx(100.54533333)
    assert etfs["CPLS"].in_kind_pct_purchased == pytest.approx(63.39466666)


def test_mutual_fund_filing_has_no_etfs() -> None:
    """0001410368-26-010921: AB Cap Fund, Inc. (CIK 0000081443, LEI 549300I24E20QB4B6Y20), period
    2025-11-30: 3 mutual-fund series (S000062452 AB All China Equity, S000084745 AB Mid Cap Value,
    S000045542 AB Small Cap Value), no exchangeTradedFund block: empty funds and AP frames.
    """
    f = load(MF_FILE)
    assert (f.registrant_name, f.registrant_cik, f.registrant_lei) == (
        "AB CAP FUND, INC.",
        "0000081443",
        "549300I24E20QB4B6Y20",
    )
    assert [s.series_id for s in f.series] == ["S000062452", "S000084745", "S000045542"]
    assert f.etfs == ()
    assert C.funds_frame(f).height == 0
    assert C.authorized_participants_frame(f).height == 0


def test_bare_xml_parses_without_header() -> None:
    """The XML alone gives the same ETFs and APs; accession and filing date are then unknown unless passed."""
    raw = (NCEN / ETF_FILE).read_bytes()
    xml = extract_xml_document(raw, types=("N-CEN",))
    assert C.is_ncen_submission(xml[:1024])
    f = C.parse_ncen(xml.decode("utf-8"), accession="0001410368-26-010918")
    assert f.filed_on is None and f.accession == "0001410368-26-010918"
    assert len(f.etfs) == 22 and C.authorized_participants_frame(f).height == 484
    assert {e.class_id for e in f.etfs} == {e.class_id for e in load(ETF_FILE).etfs}


def test_ticker_falls_back_to_the_header_and_missing_ticker_policy() -> None:
    """With the exchange ticker removed, the header's class ticker is used (and noted); with neither,
    funds_frame raises by default and drops the ETF with missing_ticker='drop'."""
    raw = (NCEN / ETF_FILE).read_bytes()
    no_exchange = raw.replace(b'fundsTickerSymbol="BUFC"', b'fundsTickerSymbol="N/A"')
    f = C.parse_ncen(no_exchange)
    assert next(e for e in f.etfs if e.series_id == "S000082566").ticker == "BUFC"
    assert any("BUFC taken from the submission header" in i for i in f.issues)
    neither = no_exchange.replace(b"<CLASS-CONTRACT-TICKER-SYMBOL>BUFC", b"<CLASS-CONTRACT-TICKER-SYMBOL>")
    g = C.parse_ncen(neither)
    with pytest.raises(ValidationError, match="no ticker"):
        C.funds_frame(g)
    assert C.funds_frame(g, missing_ticker="drop").height == 21


def test_etf_without_series_is_keyed_by_cik() -> None:
    """A unit-trust ETF has no series id: its APs are keyed CIK + registrant CIK, or it raises."""
    raw = (NCEN / ETF_FILE).read_bytes().replace(b"<etfSeriesId>S000082566</etfSeriesId>", b"")
    f = C.parse_ncen(raw)
    aps = C.authorized_participants_frame(f)
    assert (aps["series_id"] == "CIK0001496608").sum() == 22
    with pytest.raises(ValidationError, match="no series id"):
        C.authorized_participants_frame(f, no_series="raise")


def test_errors() -> None:
    """A submission without an N-CEN document, and malformed XML, raise ParseError."""
    with pytest.raises(ParseError, match="N-CEN"):
        C.parse_ncen(b"<SEC-DOCUMENT>x\n<SEC-HEADER>\nACCESSION NUMBER: 1\n</SEC-HEADER>\n")
    with pytest.raises(ParseError, match="malformed"):
        C.parse_ncen(b"<edgarSubmission><formData>")


def test_sniffer() -> None:
    """is_ncen_submission accepts both recorded submissions and rejects N-PORT XML and CSV."""
    for p in NCEN.glob("*.txt"):
        assert C.is_ncen_submission(p.read_bytes()[:2048])
    for p in (DATA / "sec" / "nport" / "samples").glob("*.xml"):
        assert not C.is_ncen_submission(p.read_bytes()[:2048])
    assert not C.is_ncen_submission(b"CIK,SeriesID,Fund\n")
