"""N-PORT: every recorded XML fixture, month dating, frames, a data-set zip, sniffers.

Ground truths below were read from the XML with grep/regex, never from this parser.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import polars as pl
import pytest

from etfflow.errors import ParseError, ValidationError
from etfflow.schema import TABLES
from etfflow.sources import sec_nport as N

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SAMPLES = DATA / "sec" / "nport" / "samples"
pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason=f"shared N-PORT fixtures not found at {SAMPLES}")

D = dt.date

# file -> (series_id, report_date, holdings, net_assets, ((sales, reinvestment, redemption) x 3))
TRUTH: dict[str, tuple[str | None, dt.date, int, float, tuple[tuple[float | None, ...], ...]]] = {
    "N-PORT Sample 1.xml": ("S000002112", D(2017, 10, 22), 1, 0.0, ((0, 0, 0),) * 3),
    "N-PORT Sample 2.xml": (None, D(2012, 1, 5), 1, 0.0, ((0, 0, 0),) * 3),
    "N-PORT Sample 3.xml": (
        "S000014703",
        D(2017, 7, 1),
        1,
        -123456789012345678901234.0,
        ((5.123456789012,) * 3, (None, None, None), (None, None, None)),
    ),
    "N-PORT Sample 4.xml": (None, D(2019, 8, 31), 3254, 32.55, ((0, 0, 0),) * 3),
    "N-PORT Sample 5.xml": (None, D(2021, 7, 20), 3412, 32.55, ((0, 0, 0),) * 3),
    "NPORT Sample 7.xml": (
        "S000013795",
        D(2023, 3, 31),
        1685,
        361898455.93,
        (
            (24063559.74, 1135281.61, 9054083.68),
            (7957748.47, 1134091.37, 5249583.99),
            (5211750.00, 1219720.34, 20929145.30),
        ),
    ),
    "NPORT.AdvancedSeries.xml": (
        "S000030880",
        D(2022, 12, 30),
        0,
        1389080.74,
        ((30926.10, 0, -10925162.46), (0, 0, -17982152.18), (0, 0, -13756139.08)),
    ),
    "NPORT.Dupree.xml": (
        "S000012000",
        D(2022, 12, 31),
        55,
        41349926.01,
        (
            (141189.21, 30358.56, 681940.53),
            (99071.38, 30418.84, 1069086.08),
            (601068.84, 31270.28, 1787701.76),
        ),
    ),
}


def load(name: str) -> N.NportFiling:
    return N.parse_nport((SAMPLES / name).read_bytes(), file=name)


def test_every_fixture_is_covered() -> None:
    """The truth table names every XML file in the samples folder (8 files)."""
    assert sorted(p.name for p in SAMPLES.glob("*.xml")) == sorted(TRUTH)


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_fixture_truths(name: str) -> None:
    """Series id, report date, holdings count, net assets and the nine flow amounts of each fixture."""
    series_id, report_date, n_holdings, net_assets, flows = TRUTH[name]
    f = load(name)
    assert f.series_id == series_id
    assert f.report_date == report_date
    assert len(f.holdings) == n_holdings
    assert f.net_assets == pytest.approx(net_assets)
    got = [v for m in f.flows for v in (m.sales, m.reinvestment, m.redemption)]
    assert got == [None if v is None else pytest.approx(v) for t in flows for v in t]
    assert [m.month for m in f.flows] == [1, 2, 3]
    assert [m.month_end for m in f.flows] == list(N.month_ends(report_date))
    monthly = N.monthly_flows_frame(f)
    assert monthly.columns == TABLES["nport_monthly"].names and monthly.height == 3
    holdings = N.holdings_frame(f)
    assert holdings.columns == TABLES["holdings"].names and holdings.height == n_holdings


def test_goldman_sachs_bond_fund() -> None:
    """NPORT Sample 7: Goldman Sachs Trust (CIK 0000822977), Goldman Sachs Bond Fund S000013795, 8 classes.

    Report date 2023-03-31 (fiscal year end also 2023-03-31); total assets 573,390,244.60; net assets
    361,898,455.93. Flows (sales + reinvestment - redemption = net):
      Jan 2023: 24,063,559.74 + 1,135,281.61 - 9,054,083.68 = 16,144,757.67
      Feb 2023:  7,957,748.47 + 1,134,091.37 - 5,249,583.99 = 3,842,255.85
      Mar 2023:  5,211,750.00 + 1,219,720.34 - 20,929,145.30 = -14,497,674.96
    Class C000037818 returns 3.86 / -2.79 / 2.50 %. Holdings: 1,685; sum valUSD 376,129,711.56; sum
    pctVal 103.932389; 1,005 in USD (1,078 curCd + 607 currencyConditional); 1,131 in the US; 909 in PA
    units; 801 with issuerConditional (issuerCat OTHER). First: Fannie Mae, Fannie Mae Pool, LEI
    B1V7KEBTPIMZEU4LTD58, CUSIP 3138W7WP5, ISIN US3138W7WP51, 13,415.85 PA, valUSD 12,467.33, ABS-MBS,
    USGSE. Second: a JPY forward (currencyConditional curCd JPY, issuerConditional OTHER, JP).
    """
    f = load("NPORT Sample 7.xml")
    assert (f.registrant_name, f.registrant_cik, f.series_name) == (
        "GOLDMAN SACHS TRUST",
        "0000822977",
        "Goldman Sachs Bond Fund",
    )
    assert f.submission_type == "NPORT-P" and f.fiscal_year_end == D(2023, 3, 31)
    assert len(f.class_ids) == 8 and f.class_ids[0] == "C000037818"
    assert f.total_assets == pytest.approx(573390244.60)
    assert f.issues == ()
    assert f.returns[0].class_id == "C000037818" and f.returns[0].returns == (3.86, -2.79, 2.50)
    m = N.monthly_flows_frame(f, ticker="GSBFX")
    assert m["month_end"].to_list() == [D(2023, 1, 31), D(2023, 2, 28), D(2023, 3, 31)]
    assert m["net_flow"].to_list() == pytest.approx([16144757.67, 3842255.85, -14497674.96])
    assert m["net_assets"].to_list() == [None, None, pytest.approx(361898455.93)]
    assert m["ticker"].unique().to_list() == ["GSBFX"] and m["series_id"].unique().to_list() == ["S000013795"]
    h = N.holdings_frame(f)
    assert h["position"].to_list() == list(range(1, 1686))
    assert h["value_usd"].sum() == pytest.approx(376129711.56)
    assert h["pct_net_assets"].sum() == pytest.approx(103.932389, abs=1e-6)
    assert (h["currency"] == "USD").sum() == 1005 and h["currency"].null_count() == 0
    assert (h["country"] == "US").sum() == 1131
    assert (h["units"] == "PA").sum() == 909
    assert (h["issuer_cat"] == "OTHER").sum() >= 801
    first = h.row(0, named=True)
    assert (first["name"], first["title"], first["lei"], first["cusip"], first["isin"]) == (
        "Fannie Mae",
        "Fannie Mae Pool",
        "B1V7KEBTPIMZEU4LTD58",
        "3138W7WP5",
        "US3138W7WP51",
    )
    assert (first["balance"], first["value_usd"], first["asset_cat"], first["issuer_cat"]) == (
        13415.85,
        12467.33,
        "ABS-MBS",
        "USGSE",
    )
    second = h.row(1, named=True)
    assert (second["currency"], second["issuer_cat"], second["country"]) == ("JPY", "OTHER", "JP")


def test_dupree_kentucky_series() -> None:
    """NPORT.Dupree: Dupree Mutual Funds, Kentucky Tax-Free Short-to-Medium Series S000012000.

    repPdDate 2022-12-31 (repPdEnd 2023-06-30 is the fiscal year end). Net flows: Oct -510,392.76,
    Nov -939,595.86, Dec -1,155,362.64. 55 holdings, sum valUSD 40,455,026.70, sum pctVal 97.83579; the
    first is KENTUCKY ST PPTY & BLDGS COMMN, CUSIP 49151FGH7, ISIN US49151FGH73, LEI N/A (null), DBT/MUN.
    """
    f = load("NPORT.Dupree.xml")
    assert f.fiscal_year_end == D(2023, 6, 30)
    m = N.monthly_flows_frame(f)
    assert m["month_end"].to_list() == [D(2022, 10, 31), D(2022, 11, 30), D(2022, 12, 31)]
    assert m["net_flow"].to_list() == pytest.approx([-510392.76, -939595.86, -1155362.64])
    h = N.holdings_frame(f)
    assert h["value_usd"].sum() == pytest.approx(40455026.70)
    assert h["pct_net_assets"].sum() == pytest.approx(97.83579, abs=1e-6)
    first = h.row(0, named=True)
    assert first["name"] == "KENTUCKY ST PPTY & BLDGS COMMN" and first["lei"] is None
    assert (first["cusip"], first["isin"], first["asset_cat"], first["issuer_cat"]) == (
        "49151FGH7",
        "US49151FGH73",
        "DBT",
        "MUN",
    )
    assert f.holdings[0].ticker == "KYSFAC"


def test_ast_bond_portfolio_negative_redemptions() -> None:
    """NPORT.AdvancedSeries: AST Bond Portfolio 2022 files redemptions with a minus sign.

    Filed: -10,925,162.46 / -17,982,152.18 / -13,756,139.08 (sales 30,926.10 / 0 / 0), report date
    2022-12-30 (a Friday, the last business day), net assets 1,389,080.74 after the fund's maturity.
    With the sign restored, net flows are -10,894,236.36 / -17,982,152.18 / -13,756,139.08.
    The file also starts with a blank line before the XML declaration.
    """
    raw = (SAMPLES / "NPORT.AdvancedSeries.xml").read_bytes()
    assert raw.startswith(b"\n")
    f = N.parse_nport(raw)
    assert sum("negative" in i for i in f.issues) == 3
    assert not any("month end" in i for i in f.issues)
    fixed = N.monthly_flows_frame(f)
    assert fixed["redemption"].to_list() == pytest.approx([10925162.46, 17982152.18, 13756139.08])
    assert fixed["net_flow"].to_list() == pytest.approx([-10894236.36, -17982152.18, -13756139.08])
    kept = N.monthly_flows_frame(f, negative_redemption="keep")
    assert kept["net_flow"].to_list() == pytest.approx([10956088.56, 17982152.18, 13756139.08])
    with pytest.raises(ValidationError, match="negative redemption"):
        N.monthly_flows_frame(f, negative_redemption="raise")
    assert N.holdings_frame(f).height == 0


def test_sec_test_samples_quirks() -> None:
    """SEC samples 1-5: test filings. 2, 4, 5 have no seriesId (S-6 / N-2 filers); 3 has N/A flows.

    Sample 2 registrant CIK 0000350001 -> key CIK0000350001; samples 4 and 5 CIK 0001161297. Sample 3 is
    an NPORT-NP with mon1 amounts 5.123456789012 and mon2/mon3 N/A, net assets -1.23456789e23.
    """
    s2 = load("N-PORT Sample 2.xml")
    assert s2.series_id is None and s2.series_key() == "CIK0000350001"
    assert N.monthly_flows_frame(s2)["series_id"].unique().to_list() == ["CIK0000350001"]
    with pytest.raises(ValidationError, match="no series id"):
        N.monthly_flows_frame(s2, no_series="raise")
    with pytest.raises(ValidationError, match="no series id"):
        N.holdings_frame(s2, no_series="raise")
    for name in ("N-PORT Sample 4.xml", "N-PORT Sample 5.xml"):
        assert load(name).series_key() == "CIK0001161297"
    s3 = load("N-PORT Sample 3.xml")
    assert s3.submission_type == "NPORT-NP"
    m = N.monthly_flows_frame(s3)
    assert m["net_flow"].to_list() == [pytest.approx(5.123456789012), None, None]
    assert sum("N/A" in i for i in s3.issues) == 6
    s1 = load("N-PORT Sample 1.xml")
    assert any("not a month end" in i for i in s1.issues)
    assert [x.month_end for x in s1.flows] == [D(2017, 8, 31), D(2017, 9, 30), D(2017, 10, 31)]


def test_month_ends_cross_year_and_leap_february() -> None:
    """Month 3 is the report month; months 1 and 2 precede it, across year ends and in leap years."""
    assert N.month_ends(D(2024, 1, 31)) == (D(2023, 11, 30), D(2023, 12, 31), D(2024, 1, 31))
    assert N.month_ends(D(2024, 3, 28)) == (D(2024, 1, 31), D(2024, 2, 29), D(2024, 3, 31))
    assert N.month_ends(D(2023, 2, 28)) == (D(2022, 12, 31), D(2023, 1, 31), D(2023, 2, 28))


def _envelope(xml: bytes) -> bytes:
    """A synthetic EDGAR full-submission wrapper (no recorded N-PORT .txt exists in the fixtures)."""
    header = (
        "<SEC-DOCUMENT>0000311101-23-000001.txt : 20230228\n<SEC-HEADER>0000311101-23-000001.hdr.sgml\n"
        "ACCESSION NUMBER:\t\t0000311101-23-000001\nCONFORMED SUBMISSION TYPE:\tNPORT-P\n"
        "CONFORMED PERIOD OF REPORT:\t20221231\nFILED AS OF DATE:\t\t20230228\n"
        "FILER:\n\tCOMPANY DATA:\n\t\tCOMPANY CONFORMED NAME:\t\t\tDUPREE MUTUAL FUNDS\n"
        "\t\tCENTRAL INDEX KEY:\t\t\t0000311101\n"
        "<SERIES-AND-CLASSES-CONTRACTS-DATA>\n<EXISTING-SERIES-AND-CLASSES-CONTRACTS>\n<SERIES>\n"
        "<OWNER-CIK>0000311101\n<SERIES-ID>S000012000\n"
        "<SERIES-NAME>Kentucky Tax-Free Short-to-Medium Series\n"
        "<CLASS-CONTRACT>\n<CLASS-CONTRACT-ID>C000032728\n<CLASS-CONTRACT-NAME>Kentucky Short-Medium\n"
        "<CLASS-CONTRACT-TICKER-SYMBOL>KYSMX\n</CLASS-CONTRACT>\n</SERIES>\n"
        "</EXISTING-SERIES-AND-CLASSES-CONTRACTS>\n</SERIES-AND-CLASSES-CONTRACTS-DATA>\n</SEC-HEADER>\n"
        "<DOCUMENT>\n<TYPE>NPORT-P\n<SEQUENCE>1\n<FILENAME>primary_doc.xml\n<TEXT>\n<XML>\n"
    ).encode("ascii")
    return header + xml + b"\n</XML>\n</TEXT>\n</DOCUMENT>\n</SEC-DOCUMENT>\n"


def test_full_submission_adds_accession_filing_date_and_ticker() -> None:
    """A full submission (.txt) yields accession, filed_on and the class ticker from its SGML header."""
    data = _envelope((SAMPLES / "NPORT.Dupree.xml").read_bytes())
    assert N.is_nport_xml(data[:2048])
    f = N.parse_nport(data)
    assert (f.accession, f.filed_on) == ("0000311101-23-000001", D(2023, 2, 28))
    assert f.class_tickers == (("C000032728", "KYSMX"),) and f.ticker == "KYSMX"
    m = N.monthly_flows_frame(f)
    assert m["ticker"].to_list() == ["KYSMX"] * 3
    assert m["accession"].to_list() == ["0000311101-23-000001"] * 3
    assert m["filed_on"].to_list() == [D(2023, 2, 28)] * 3
    assert N.holdings_frame(f)["accession"].unique().to_list() == ["0000311101-23-000001"]


def test_malformed_and_foreign_documents_raise_parse_error() -> None:
    """Broken XML, a non-N-PORT XML, and a bad number all raise ParseError naming the file."""
    with pytest.raises(ParseError, match=r"broken\.xml"):
        N.parse_nport(b"<edgarSubmission><formData>", file="broken.xml")
    with pytest.raises(ParseError, match="not an N-PORT"):
        N.parse_nport(b'<edgarSubmission xmlns="http://www.sec.gov/edgar/ncen"><formData/></edgarSubmission>')
    xml = (SAMPLES / "NPORT.Dupree.xml").read_bytes().replace(b"41349926.01", b"4134x926.01")
    with pytest.raises(ParseError, match="netAssets"):
        N.parse_nport(xml)


def test_sniffers_on_fixtures(tmp_path: Path) -> None:
    """is_nport_xml accepts every N-PORT sample head and rejects N-CEN and CSV heads."""
    for p in SAMPLES.glob("*.xml"):
        assert N.is_nport_xml(p.read_bytes()[:2048]), p.name
    ncen = DATA / "sec" / "ncen"
    for p in ncen.glob("*.txt"):
        assert not N.is_nport_xml(p.read_bytes()[:2048])
    assert not N.is_nport_xml(b"date,ticker,shares\n")
    assert not N.is_nport_dataset_zip(b"date,ticker\n", tmp_path / "x.csv")
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("prices.csv", "date,close\n")
    assert not N.is_nport_dataset_zip(other.read_bytes()[:4096])
    assert not N.is_nport_dataset_zip(other.read_bytes()[:4096], other)


# --- the quarterly data set ---------------------------------------------------------------------

_SUBMISSION = [
    "ACCESSION_NUMBER",
    "FILING_DATE",
    "FILE_NUM",
    "SUB_TYPE",
    "REPORT_ENDING_PERIOD",
    "REPORT_DATE",
]
_SUBMISSION.append("IS_LAST_FILING")
_REGISTRANT = [
    "ACCESSION_NUMBER",
    "CIK",
    "REGISTRANT_NAME",
    "FILE_NUM",
    "LEI",
    "ADDRESS1",
    "ADDRESS2",
    "CITY",
]
_REGISTRANT += ["STATE", "COUNTRY", "ZIP", "PHONE"]
_FUND = ["ACCESSION_NUMBER", "SERIES_NAME", "SERIES_ID", "SERIES_LEI", "TOTAL_ASSETS", "TOTAL_LIABILITIES"]
_FUND += ["NET_ASSETS", "ASSETS_ATTRBT_TO_MISC_SECURITY", "ASSETS_INVESTED"]
_FUND += [f"{k}_FLOW_MON{i}" for i in (1, 2, 3) for k in ("SALES", "REINVESTMENT", "REDEMPTION")]
_FUND += ["IS_NON_CASH_COLLATERAL"]


GS_ROW = [
    *("0000822977-23-000101", "Goldman Sachs Bond Fund", "S000013795", "K5ZYN8ZUQE8S5OUPBU26", "573390244.6"),
    *("211491788.67", "361898455.93", "0", "0"),
    *("24063559.74", "1135281.61", "9054083.68", "7957748.47", "1134091.37", "5249583.99"),
    *("5211750", "1219720.34", "20929145.3", "N"),
]


def _tsv(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join("\t".join(r) for r in [header, *rows]) + "\n"


def _dataset(path: Path, fund_rows: list[list[str]] | None = None, drop: str | None = None) -> Path:
    """Write a small zip in the published Form N-PORT data-set layout (tab-separated, DD-MON-YYYY dates)."""
    gs, gs_a, cef = "0000822977-23-000101", "0000822977-23-000202", "0001161297-21-000001"
    members = {
        "SUBMISSION.tsv": _tsv(
            _SUBMISSION,
            [
                [gs, "30-MAY-2023", "811-05349", "NPORT-P", "31-MAR-2023", "31-MAR-2023", "N"],
                [gs_a, "15-JUN-2023", "811-05349", "NPORT-P/A", "31-MAR-2023", "31-MAR-2023", "N"],
                [cef, "20-AUG-2021", "811-21117", "NPORT-P", "31-MAR-2021", "31-JUL-2021", "Y"],
            ],
        ),
        "REGISTRANT.tsv": _tsv(
            _REGISTRANT,
            [
                [gs, "822977", "GOLDMAN SACHS TRUST", "811-05349", "S2FHCT8U6D2VORP0J605", *[""] * 7],
                [gs_a, "822977", "GOLDMAN SACHS TRUST", "811-05349", "S2FHCT8U6D2VORP0J605", *[""] * 7],
                [cef, "1161297", "Phase V Han Oh Test 6", "811-21117", "LEI12345FEILD20CHA10", *[""] * 7],
            ],
        ),
        "FUND_REPORTED_INFO.tsv": _tsv(
            _FUND,
            fund_rows
            if fund_rows is not None
            else [
                GS_ROW,
                [gs_a, *GS_ROW[1:-2], "20000000", "N"],  # the amendment restates March's redemptions
                [
                    *(
                        cef,
                        "Series Name #1",
                        "",
                        "LEI12345FEILD20CHA10",
                        "44",
                        "11.45",
                        "32.55",
                        "1.48",
                        "1.49",
                    ),
                    *("1", "", "-2", "0", "0", "0", "0", "0", "0", "N"),
                ],
            ],
        ),
        "MONTHLY_TOTAL_RETURN.tsv": _tsv(
            [
                "ACCESSION_NUMBER",
                "CLASS_ID",
                "MONTHLY_TOTAL_RETURN1",
                "MONTHLY_TOTAL_RETURN2",
                "MONTHLY_TOTAL_RETURN3",
            ],
            [[gs, "C000037818", "3.86", "-2.79", "2.5"]],
        ),
    }
    if drop:
        members.pop(drop)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def test_read_nport_dataset(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A data set written in the test (no recorded data set exists); three filings, one an amendment.

    Goldman (S000013795, report 31-MAR-2023): the NPORT-P/A filed 15-JUN-2023 supersedes the original
    for all three months; its March redemption 20,000,000 gives net -13,568,529.66. The N-2 fund has no
    SERIES_ID and is keyed CIK0001161297; its report date 31-JUL-2021 dates months May..Jul 2021, its
    blank reinvestment makes May's net flow null and its -2 redemption is sign-restored to 2.
    """
    zp = _dataset(tmp_path / "2023q2_nport.zip")
    assert N.is_nport_dataset_zip(zp.read_bytes()[:8], zp)
    assert N.is_nport_dataset_zip(zp.read_bytes()[:4096])  # head only: the first member is SUBMISSION.tsv
    with caplog.at_level("WARNING"):
        frame = N.read_nport_dataset(zp)
    assert "3 month rows superseded" in caplog.text and "1 negative redemptions" in caplog.text
    assert frame.columns == TABLES["nport_monthly"].names
    gs = frame.filter(pl.col("series_id") == "S000013795").sort("month_end")
    assert gs["month_end"].to_list() == [D(2023, 1, 31), D(2023, 2, 28), D(2023, 3, 31)]
    assert gs["accession"].unique().to_list() == ["0000822977-23-000202"]
    assert gs["filed_on"].unique().to_list() == [D(2023, 6, 15)]
    assert gs["net_flow"].to_list() == pytest.approx([16144757.67, 3842255.85, -13568529.66])
    assert gs["net_assets"].to_list() == [None, None, pytest.approx(361898455.93)]
    cef = frame.filter(pl.col("series_id") == "CIK0001161297").sort("month_end")
    assert cef["month_end"].to_list() == [D(2021, 5, 31), D(2021, 6, 30), D(2021, 7, 31)]
    assert cef["net_flow"].to_list() == [None, 0.0, 0.0]
    assert cef["redemption"].to_list() == [2.0, 0.0, 0.0]
    with pytest.raises(ValidationError, match="SERIES_ID"):
        N.read_nport_dataset(zp, no_series="raise")


def test_dataset_matches_the_xml_of_the_same_filing(tmp_path: Path) -> None:
    """A data-set row holding the Goldman XML's values gives the same frame as the XML parser."""
    zp = _dataset(tmp_path / "one.zip", fund_rows=[GS_ROW])
    ds = N.read_nport_dataset(zp).drop("accession", "filed_on")
    xml = N.monthly_flows_frame(load("NPORT Sample 7.xml")).drop("accession", "filed_on")
    assert ds.equals(xml)


def test_dataset_errors_name_the_member_and_row(tmp_path: Path) -> None:
    """Missing member, missing column and a ragged row raise ParseError with file and row."""
    with pytest.raises(ParseError, match=r"FUND_REPORTED_INFO\.tsv"):
        N.read_nport_dataset(_dataset(tmp_path / "a.zip", drop="FUND_REPORTED_INFO.tsv"))
    assert not N.is_nport_dataset_zip(b"PK\x03\x04", tmp_path / "a.zip")
    ragged = [["0000822977-23-000101", "Goldman Sachs Bond Fund", "S000013795"]]
    with pytest.raises(ParseError, match="row 2"):
        N.read_nport_dataset(_dataset(tmp_path / "b.zip", fund_rows=ragged))
    bad_date = tmp_path / "c.zip"
    with zipfile.ZipFile(bad_date, "w") as zf:
        zf.writestr("SUBMISSION.tsv", _tsv(_SUBMISSION, [["a", "2023-13-45", "", "", "", "31-FOO-2023", ""]]))
        zf.writestr("REGISTRANT.tsv", _tsv(_REGISTRANT, []))
        zf.writestr("FUND_REPORTED_INFO.tsv", _tsv(_FUND, []))
    with pytest.raises(ParseError, match="REPORT_DATE"):
        N.read_nport_dataset(bad_date)
    no_cols = tmp_path / "d.zip"
    with zipfile.ZipFile(no_cols, "w") as zf:
        zf.writestr("SUBMISSION.tsv", "ACCESSION_NUMBER\tFILING_DATE\n")
        zf.writestr("FUND_REPORTED_INFO.tsv", _tsv(_FUND, []))
    with pytest.raises(ParseError, match="REPORT_DATE"):
        N.read_nport_dataset(no_cols)
    not_zip = tmp_path / "e.zip"
    not_zip.write_bytes(b"not a zip")
    with pytest.raises(ParseError, match="not a zip"):
        N.read_nport_dataset(not_zip)
