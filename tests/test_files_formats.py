"""Files as users have them: binary .xls workbooks, issuer NAV CSVs, gzip; each told by content.

Binary .xls: no BIFF copy of an iShares workbook is in ../shared (and BlackRock's content may not be
redistributed), so tests write one in tmp_path with xlwt from the real IVV_fund.xls, cell for cell
(the texts as the XML file holds them), plus a variant with typed cells (real dates and numbers); when
LibreOffice is installed, one converted by it (as Excel's "Save as .xls" would). The recorded
tests/fixtures/ishares_synthetic_excel97.xls was made by LibreOffice from a SYNTHETIC workbook in the
iShares layout (scripts/build_xls_fixtures.py).

tests/fixtures/issuer_nav_history.csv is SYNTHETIC (made-up values) in the published shape of issuer
NAV-history downloads: ``YYYYMMDD`` dates, newest first, a "Market Price" column, thousands
separators, and disclaimer rows after the data. 2024-06-19 (Juneteenth, NYSE closed) is absent.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.errors import ParseError
from etfflow.sources.base import decode_text, read_bytes
from etfflow.sources.detect import detect_format, read_file
from etfflow.sources.ishares import _XmlBook
from etfflow.store import Store

D = dt.date
FIXTURES = Path(__file__).parent / "fixtures"
xlwt = pytest.importorskip("xlwt")


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def ivv_xml(shared_data: Path) -> Path:
    return shared_data / "issuers" / "ishares" / "IVV_fund.xls"


def _to_biff(xml_path: Path, out: Path, *, typed: bool = False, drop_rows: int = 0) -> Path:
    """Write the workbook's sheets as BIFF8 (xlwt); `typed` stores dates and numbers as typed cells."""
    book = _XmlBook(decode_text(read_bytes(xml_path)))
    wb = xlwt.Workbook()
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    for name in book.names:
        ws = wb.add_sheet(name[:31])
        rows = book.rows(name)
        if name == "Historical" and drop_rows:
            rows = rows[:-drop_rows]
        for r in rows:
            for j, c in enumerate(r.cells):
                if c is None:
                    continue
                if typed and name == "Historical" and r.number > 1:
                    try:
                        ws.write(r.number - 1, j, dt.datetime.strptime(c, "%b %d, %Y"), date_style)
                        continue
                    except ValueError:
                        pass
                    try:
                        ws.write(r.number - 1, j, float(c.replace(",", "")))
                        continue
                    except ValueError:
                        pass
                ws.write(r.number - 1, j, c[:32_000])
    wb.save(str(out))
    return out


@pytest.fixture(scope="module")
def ivv_biff(ivv_xml: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _to_biff(ivv_xml, tmp_path_factory.mktemp("xls") / "IVV_fund_saved.xls")


def test_binary_xls_reads_like_the_xml_workbook(ivv_xml: Path, ivv_biff: Path) -> None:
    """Same 5,534 daily rows (NAV, shares, ex-dividends) from the BIFF copy as from the download."""
    assert ivv_biff.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    assert detect_format(ivv_biff) == "excel_xls"
    xml = read_file(ivv_xml, ticker="IVV")
    biff = read_file(ivv_biff, ticker="IVV")
    assert biff.source == "ishares_workbook" and biff.daily.height == 5_534
    assert biff.daily.drop("retrieved_at").equals(xml.daily.drop("retrieved_at"))
    assert "binary Excel workbook (BIFF .xls)" in biff.notes
    assert any("707,900,000 shares outstanding as of 2022-05-11: matches" in n for n in biff.notes)


def test_binary_xls_with_typed_cells(ivv_xml: Path, ivv_biff: Path, tmp_path: Path) -> None:
    """Dates as Excel dates and numbers as numbers give the same rows as the text cells."""
    typed = _to_biff(ivv_xml, tmp_path / "typed.xls", typed=True)
    a = read_file(ivv_biff, ticker="IVV").daily.drop("retrieved_at")
    b = read_file(typed, ticker="IVV").daily.drop("retrieved_at")
    assert b.equals(a)
    last = b.filter(pl.col("date") == D(2022, 5, 11)).row(0, named=True)
    assert last["shares_outstanding"] == 707_900_000


def test_binary_xls_through_the_cli(ivv_biff: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "w.duckdb")
    code, out = run("import", str(ivv_biff), "--ticker", "IVV", "--db", db, "--json")
    assert code == 0, out
    assert json.loads(out)[0]["format"] == "ishares_workbook"
    with Store(db, read_only=True) as store:
        assert store.read("daily").height == 5_534
        assert store.read("flows_daily").height > 5_000


def test_binary_xls_written_by_libreoffice(tmp_path: Path) -> None:
    """The recorded Excel 97 file LibreOffice made from the SYNTHETIC iShares-layout workbook
    (scripts/build_xls_fixtures.py) gives the hand-written rows, the same as its XML source."""
    xls = FIXTURES / "ishares_synthetic_excel97.xls"
    assert detect_format(xls) == "excel_xls"
    got = read_file(xls)
    assert got.source == "ishares_workbook"
    assert got.daily.select("date", "ticker", "nav", "shares_outstanding", "distribution").rows() == [
        (D(2024, 6, 14), "XMPL", 49.3, 1_100_000.0, None),
        (D(2024, 6, 17), "XMPL", 49.65, 1_150_000.0, None),
        (D(2024, 6, 18), "XMPL", 50.02, 1_150_000.0, 0.31),
        (D(2024, 6, 20), "XMPL", 49.8, 1_200_000.0, None),
        (D(2024, 6, 21), "XMPL", 50.12, 1_250_000.0, None),
    ]
    xml = read_file(FIXTURES / "ishares_synthetic.xml")
    assert got.daily.drop("retrieved_at").equals(xml.daily.drop("retrieved_at"))
    assert any("1,250,000 shares outstanding as of 2024-06-21: matches" in n for n in got.notes)


@pytest.mark.skipif(
    shutil.which("soffice") is None or not os.environ.get("ETFFLOW_TEST_SOFFICE"),
    reason="opt in with ETFFLOW_TEST_SOFFICE=1 where LibreOffice is installed (about 5-20 s)",
)
def test_real_workbook_saved_by_libreoffice(ivv_xml: Path, tmp_path: Path) -> None:
    """IVV_fund.xls converted to Excel 97 by LibreOffice (numbers become typed cells) reads the same.

    LibreOffice refuses the download as published (two byte-order marks, unescaped '&' in URLs);
    Excel opens it. Those two defects are repaired in a copy (of sheet Historical) before converting.
    """
    data = ivv_xml.read_bytes()
    while data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    data = re.sub(rb"&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)", b"&amp;", data)
    # only sheet Historical (the rows compared), so that the conversion stays quick
    sheet = re.search(rb'<ss:Worksheet ss:Name="Historical">.*?</ss:Worksheet>', data, re.S)
    assert sheet is not None
    head = data[: data.index(b"<ss:Worksheet")]
    src = tmp_path / "ivv_clean.xml"
    src.write_bytes(head + sheet.group(0) + b"</ss:Workbook>\n")
    subprocess.run(
        ["soffice", "--headless", "--infilter=MS Excel 2003 XML", "--convert-to", "xls:MS Excel 97",
         "--outdir", str(tmp_path), str(src)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    biff = tmp_path / "ivv_clean.xls"
    assert biff.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    got = read_file(biff, ticker="IVV").daily.drop("retrieved_at")
    assert got.height == 5_534
    assert got.equals(read_file(ivv_xml, ticker="IVV").daily.drop("retrieved_at"))


def test_broken_binary_xls(ivv_biff: Path, tmp_path: Path) -> None:
    """A truncated .xls is a clear error naming the file; the warehouse stays as it was."""
    bad = tmp_path / "cut.xls"
    bad.write_bytes(ivv_biff.read_bytes()[:20_000])
    with pytest.raises(ParseError, match="not a readable Excel workbook") as err:
        read_file(bad, ticker="IVV")
    assert err.value.file == str(bad)
    db = tmp_path / "w.duckdb"
    code, out = run("import", str(bad), "--ticker", "IVV", "--db", str(db))
    assert code != 0 and "Traceback" not in out and "cut.xls" in out


def test_binary_xls_without_historical_is_a_generic_panel(tmp_path: Path) -> None:
    """Any other .xls goes to the generic reader (header row naming a date column)."""
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Data")
    for i, row in enumerate(
        [["Date", "Ticker", "NAV", "Shares Outstanding"], ["2024-01-02", "ABC", 10.5, 1000]]
    ):
        for j, v in enumerate(row):
            ws.write(i, j, v)
    wb.save(str(tmp_path / "panel.xls"))
    b = read_file(tmp_path / "panel.xls")
    assert b.source == "xls"
    assert b.daily.select("date", "ticker", "nav", "shares_outstanding").row(0) == (
        D(2024, 1, 2),
        "ABC",
        10.5,
        1000.0,
    )


def test_issuer_nav_csv(tmp_path: Path) -> None:
    """YYYYMMDD newest first, market price as close, thousands separators, disclaimers skipped."""
    b = read_file(FIXTURES / "issuer_nav_history.csv", so_lag=1)
    assert b.source == "csv"
    d = b.daily
    assert d["date"].to_list() == [
        D(2024, 6, 14),
        D(2024, 6, 17),
        D(2024, 6, 18),
        D(2024, 6, 20),
        D(2024, 6, 21),
    ]
    last = d.row(-1, named=True)
    assert (last["nav"], last["close"], last["shares_outstanding"], last["total_net_assets"]) == (
        50.12,
        50.15,
        1_250_000.0,
        62_650_000.0,
    )
    assert b.dropped == {"trailing_note_rows": 3}
    assert "3 note row(s) after the data (disclaimers) were skipped" in b.notes


def test_issuer_nav_csv_flows_end_to_end(tmp_path: Path) -> None:
    """Through the CLI (so_lag 0, the default): 1,200,000 -> 1,250,000 shares on 06-21 at NAV 50.12."""
    db = str(tmp_path / "w.duckdb")
    code, out = run("import", str(FIXTURES / "issuer_nav_history.csv"), "--db", db, "--json")
    assert code == 0, out
    with Store(db, read_only=True) as store:
        f = store.read("flows_daily")
    flow = f.filter(pl.col("date") == D(2024, 6, 21))["flow_usd"][0]
    assert flow == pytest.approx(50_000 * 50.12)


def test_a_bad_last_data_row_is_not_a_disclaimer(tmp_path: Path) -> None:
    """A full row with a bad date at the end still fails, naming its line (it is not cut as a note)."""
    text = (FIXTURES / "issuer_nav_history.csv").read_text()
    lines = text.splitlines()
    lines.insert(6, "Example Sector ETF (SYNTHETIC),XMPL,2024-13-01,49.10,49.10,1100000,1,0%")
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ParseError, match="not a date") as err:
        read_file(bad)
    assert (err.value.row, err.value.field) == (7, "Date")


def _gz(src: Path, out: Path) -> Path:
    out.write_bytes(gzip.compress(src.read_bytes()))
    return out


def test_gzip_any_importer(ivv_xml: Path, shared_data: Path, tmp_path: Path) -> None:
    """Gzip is told by its magic bytes, whatever the name; the content decides the format."""
    nav = _gz(FIXTURES / "issuer_nav_history.csv", tmp_path / "nav.bin")
    assert detect_format(nav) == "generic_csv"
    assert read_file(nav).daily.equals(
        read_file(FIXTURES / "issuer_nav_history.csv").daily.with_columns(
            pl.lit(read_file(nav).daily["retrieved_at"][0]).alias("retrieved_at")
        )
    )
    wb = _gz(ivv_xml, tmp_path / "IVV_fund.xls.gz")
    assert detect_format(wb) == "ishares_workbook"
    assert read_file(wb, ticker="IVV").daily.height == 5_534
    ids = _gz(shared_data / "sec" / "ids" / "fund_data.csv", tmp_path / "ids.csv.gz")
    assert detect_format(ids) == "sec_fund_ids"
    plain = read_file(shared_data / "sec" / "ids" / "fund_data.csv").tables["sec_ids"]
    assert plain.height == 108 and read_file(ids).tables["sec_ids"].equals(plain)
    xlb = _gz(shared_data / "prices" / "sector_spdr_1998_2026" / "XLB.csv", tmp_path / "XLB.csv.gz")
    assert detect_format(xlb) == "price_file" and read_file(xlb).daily.height == 6_823


def test_damaged_gzip(tmp_path: Path) -> None:
    """A cut gzip file is a clear error naming the file, never a traceback."""
    data = gzip.compress((FIXTURES / "issuer_nav_history.csv").read_bytes() * 50)
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ParseError, match="damaged gzip") as err:
        read_file(cut)
    assert err.value.file == str(cut)
    code, out = run("import", str(cut), "--db", str(tmp_path / "w.duckdb"))
    assert code != 0 and "damaged gzip" in out and "Traceback" not in out


def test_unquoted_notes_and_time_stamps_through_the_cli(tmp_path: Path) -> None:
    """A plain CSV (no quotes: the chunked import path) with zone-stamped dates and comma'd notes."""
    p = tmp_path / "plain.csv"
    p.write_text(
        "Date,ticker,Close,Shares Outstanding\n"
        "2024-01-02 00:00:00-05:00,ABC,10,100\n2024-01-03 00:00:00-05:00,ABC,11,110\n\n"
        "Source: example issuer, for illustration only\nData as of 01/03/2024\n"
    )
    db = str(tmp_path / "w.duckdb")
    code, out = run("import", str(p), "--db", db, "--json")
    assert code == 0, out
    res = json.loads(out)[0]
    assert res["dropped"] == {"trailing_note_rows": 2}
    with Store(db, read_only=True) as store:
        d = store.read("daily")
    assert d["date"].to_list() == [D(2024, 1, 2), D(2024, 1, 3)]
    assert d["shares_outstanding"].to_list() == [100.0, 110.0]
