"""SEC identifiers: the recorded fund_data CSVs, SEC's JSON formats (tiny samples written here), headers.

Ground truths below were read from the files with grep/cut, never from this parser.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from etfflow.errors import NotFoundError, ParseError
from etfflow.schema import TABLES
from etfflow.sources import sec_ids as S

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
IDS = DATA / "sec" / "ids"
pytestmark = pytest.mark.skipif(not IDS.is_dir(), reason=f"shared SEC id fixtures not found at {IDS}")


def test_direxion_fund_data_csv() -> None:
    """fund_data.csv: 252 rows, all CIK 0001424958 (Direxion Shares ETF Trust), 22 blank tickers, 108
    distinct tickers. ERY appears 4 times with the same ids (S000022780 / C000065908); its newest filing
    (2022-04-29) names it "Direxion Daily Energy Bear 2X Shares", the 2011 row (last in the file) "3X".
    """
    rows = S.parse_fund_ids_csv((IDS / "fund_data.csv").read_bytes(), file="fund_data.csv")
    assert len(rows) == 252
    assert {r.cik for r in rows} == {"0001424958"}
    assert sum(r.ticker is None for r in rows) == 22
    m = S.FundIdMap(rows)
    assert len(m) == 108 and m.conflicts == ()
    ery = m.lookup("ery")
    assert (ery.cik, ery.series_id, ery.class_id) == ("0001424958", "S000022780", "C000065908")
    assert ery.name == "Direxion Daily Energy Bear 2X Shares"
    untickered = m.series("S000071021")
    assert len(untickered) == 1 and untickered[0].class_id == "C000225450" and untickered[0].ticker is None


def test_ishares_fund_data_csv_and_spy() -> None:
    """ishares_fund_data.csv: 100 rows, 91 tickers, CIKs 0001100663 (95 rows), 0000930667 (4), 0001524513
    (1). IVV -> iShares Trust 0001100663, series S000004310, class C000012040. SPY is in neither CSV.
    """
    m = S.load_fund_ids(IDS / "ishares_fund_data.csv", IDS / "fund_data.csv")
    assert len(m) == 91 + 108
    ivv = m.lookup("IVV")
    assert (ivv.cik, ivv.series_id, ivv.class_id) == ("0001100663", "S000004310", "C000012040")
    assert "SPY" not in m
    with pytest.raises(NotFoundError, match="SPY"):
        m.lookup("SPY")
    frame = m.frame()
    assert frame.columns == TABLES["funds"].names and frame.height == 199
    assert frame.filter(frame["ticker"] == "IVV")["series_id"].to_list() == ["S000004310"]


def test_company_tickers_mf_json(tmp_path: Path) -> None:
    """SEC's company_tickers_mf.json format, as a tiny sample written here: {"fields": [...], "data": [...]}.

    The CIK is an integer there and tickers may come in lower case; both are normalised. The VTI row's
    ids are illustrative; IVV's are those of ishares_fund_data.csv.
    """
    doc = {
        "fields": ["cik", "seriesId", "classId", "symbol"],
        "data": [[1100663, "S000004310", "C000012040", "IVV"], [36405, "S000002848", "C000007806", "vti"]],
    }
    path = tmp_path / "company_tickers_mf.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    m = S.load_fund_ids(path)
    assert m.lookup("VTI") == S.FundIds("0000036405", "S000002848", "C000007806", ticker="VTI")
    assert m.lookup("ivv").series_id == "S000004310"
    with pytest.raises(ParseError, match="company_tickers_mf"):
        S.parse_company_tickers_mf(b'{"fields": ["cik"], "data": []}')


def test_spy_maps_to_its_trust_cik_without_a_series(tmp_path: Path) -> None:
    """SPY is a unit investment trust: SEC's company_tickers.json (sample written here) gives only CIK
    0000884394; a CIK-only record never hides a series mapping loaded from another file (IVV)."""
    tickers = {
        "0": {"cik_str": 884394, "ticker": "SPY", "title": "SPDR S&P 500 ETF TRUST"},
        "1": {"cik_str": 1100663, "ticker": "IVV", "title": "iShares Trust"},
    }
    path = tmp_path / "company_tickers.json"
    path.write_text(json.dumps(tickers), encoding="utf-8")
    m = S.load_fund_ids(IDS / "ishares_fund_data.csv", path)
    spy = m.lookup("SPY")
    assert (spy.cik, spy.series_id, spy.class_id) == ("0000884394", None, None)
    assert m.lookup("IVV").series_id == "S000004310"
    assert m.conflicts == ()


def test_conflicting_mappings_are_reported() -> None:
    """Two different series for one ticker: the later record wins and the ticker is listed in conflicts."""
    m = S.FundIdMap(
        [
            S.FundIds("0000000001", "S000000001", "C000000001", ticker="ABC"),
            S.FundIds("0000000002", "S000000002", "C000000002", ticker="ABC"),
        ]
    )
    assert m.lookup("ABC").series_id == "S000000002" and m.conflicts == ("ABC",)


def test_bad_inputs() -> None:
    """A CSV without the id columns, a bad CIK, and a missing file raise named errors."""
    with pytest.raises(ParseError, match="missing column"):
        S.parse_fund_ids_csv(b"ticker,name\nSPY,x\n")
    with pytest.raises(ParseError, match="row 2"):
        S.parse_fund_ids_csv(b"CIK,SeriesID,ContractID,Ticker\nabc,S1,C1,X\n")
    with pytest.raises(NotFoundError):
        S.load_fund_ids(IDS / "does_not_exist.csv")
    assert S.normalize_cik(884394) == "0000884394"
    with pytest.raises(ParseError):
        S.normalize_cik("12345678901")


def test_submission_header_of_the_ncen_fixture() -> None:
    """0001410368-26-010918 header: N-CEN, period 2025-11-30, filed 2026-02-12, AB Active ETFs, Inc.
    (CIK 0001496608), 22 series with one class each; S000076879 -> C000237018 TAFI.
    """
    path = DATA / "sec" / "ncen" / "0001410368-26-010918.txt"
    h = S.parse_submission_header(path.read_bytes())
    assert (h.accession, h.form_type, h.period, h.filed_on) == (
        "0001410368-26-010918",
        "N-CEN",
        dt.date(2025, 11, 30),
        dt.date(2026, 2, 12),
    )
    assert (h.company, h.cik) == ("AB Active ETFs, Inc.", "0001496608")
    assert len(h.series) == 22 and all(len(s.classes) == 1 for s in h.series)
    tafi = h.series_by_id("S000076879")
    assert tafi is not None and tafi.classes[0] == S.ClassContract("C000237018", tafi.name, "TAFI")
    m = S.load_fund_ids(path)
    assert m.lookup("TAFI") == S.FundIds("0001496608", "S000076879", "C000237018", "TAFI", tafi.name)
    assert len(m) == 22
    with pytest.raises(ParseError, match="no SEC header"):
        S.parse_submission_header(b"hello")
