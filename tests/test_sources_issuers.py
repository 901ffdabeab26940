"""Offline importers for real issuer files (iShares workbook and CSV, SSGA GLD archive) and generic panels.

Ground truth, counted in the published files:
- IVV_fund.xls, sheet Historical: 5,534 rows 2000-05-15 .. 2022-05-11 (newest first); first NAV 145.236 and
  150,000 shares; last NAV 394.279541 and 707,900,000 shares; 90 ex-dividend rows; every shares change is
  a multiple of 50,000; bad print 11.6M -> 111.6M (2000-10-06) -> 11.6M (2000-10-09).
- GLD_US_archive_EN.csv: 5,337 data lines = 175 HOLIDAY + 2 "NYSE Closed" (2012-10-29/30) + 1 row on a
  non-session (2018-12-05) + 5,159 kept; the first row 114,920,000 / 44.2 = 2,600,000 shares.
- EWJ_EWY_EWZ_shares_history.csv: 630 rows, 210 per ticker, 2025-07-01 .. 2026-04-30.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from pathlib import Path

import polars as pl
import pytest

from etfflow.errors import ConfigError, NotFoundError, ParseError, ValidationError
from etfflow.schema import TABLES
from etfflow.sources.base import ImportBatch
from etfflow.sources.detect import FORMATS, Format, detect_format, read_file, register
from etfflow.sources.generic import read_generic, read_generic_csv, read_generic_parquet
from etfflow.sources.ishares import read_ishares_shares_csv, read_ishares_workbook
from etfflow.sources.ssga import read_ssga_gld_csv

STAMP = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = (Path(__file__).parents[1] / "../shared/data").resolve()
    if not path.is_dir():
        pytest.skip(f"shared test data not found at {path} (expected ../shared/data next to the repo)")
    return path


@pytest.fixture(scope="session")
def ivv_path(data_dir: Path) -> Path:
    return data_dir / "issuers/ishares/IVV_fund.xls"


@pytest.fixture(scope="session")
def gld_path(data_dir: Path) -> Path:
    return data_dir / "issuers/ssga/GLD_US_archive_EN.csv"


@pytest.fixture(scope="session")
def ewx_path(data_dir: Path) -> Path:
    return data_dir / "issuers/ishares/EWJ_EWY_EWZ_shares_history.csv"


@pytest.fixture(scope="session")
def ivv(ivv_path: Path) -> ImportBatch:
    return read_ishares_workbook(ivv_path, ticker="IVV", retrieved_at=STAMP)


@pytest.fixture(scope="session")
def gld(gld_path: Path) -> ImportBatch:
    return read_ssga_gld_csv(gld_path, retrieved_at=STAMP)


def _row(frame: pl.DataFrame, day: dt.date) -> dict[str, object]:
    return frame.filter(pl.col("date") == day).row(0, named=True)


def _assert_daily(batch: ImportBatch) -> None:
    assert batch.daily.schema == pl.Schema(TABLES["daily"].polars_schema)


# --- iShares workbook ---------------------------------------------------------------------------------


def test_ivv_rows_and_ends(ivv: ImportBatch, ivv_path: Path) -> None:
    d = ivv.daily
    _assert_daily(ivv)
    assert d.height == 5534
    assert ivv.dropped == {}
    assert ivv.source == "ishares_workbook"
    assert ivv.file == str(ivv_path)
    assert d["date"].min() == dt.date(2000, 5, 15)
    assert d["date"].max() == dt.date(2022, 5, 11)
    assert d["date"].is_sorted()
    first, last = d.row(0, named=True), d.row(-1, named=True)
    assert (first["nav"], first["shares_outstanding"]) == (145.236, 150_000.0)
    assert (last["nav"], last["shares_outstanding"]) == (394.279541, 707_900_000.0)
    assert _row(d, dt.date(2022, 3, 24))["distribution"] == 1.481128
    assert d["distribution"].drop_nulls().len() == 90
    assert d["nav"].null_count() == 0
    assert d["shares_outstanding"].null_count() == 0
    assert set(d["ticker"]) == {"IVV"}
    assert set(d["source"]) == {"ishares_workbook"}
    assert set(d["so_lag"]) == {1}
    assert set(d["retrieved_at"]) == {STAMP}
    assert d["close"].null_count() == 5534
    assert "fund name in file: iShares Core S&P 500 ETF" in ivv.notes
    assert "Holdings sheet states 707,900,000 shares outstanding as of 2022-05-11: matches" in ivv.notes


def test_ivv_shares_changes_are_creation_units(ivv: ImportBatch) -> None:
    change = ivv.daily["shares_outstanding"].cast(pl.Int64).diff().drop_nulls()
    assert change.len() == 5533
    assert int((change % 50_000 != 0).sum()) == 0
    assert int((change != 0).sum()) == 3458


def test_ivv_october_2000_bad_print_is_kept(ivv: ImportBatch) -> None:
    d = ivv.daily
    assert _row(d, dt.date(2000, 10, 5))["shares_outstanding"] == 11_600_000
    assert _row(d, dt.date(2000, 10, 6))["shares_outstanding"] == 111_600_000
    assert _row(d, dt.date(2000, 10, 9))["shares_outstanding"] == 11_600_000


def test_ivv_ticker_found_by_fund_name(ivv_path: Path) -> None:
    # the workbook never states "IVV"; its fund name matches exactly one taxonomy row
    b = read_ishares_workbook(ivv_path)
    assert set(b.daily["ticker"]) == {"IVV"}
    assert "ticker IVV found by fund name in the shipped taxonomy" in b.notes


def test_unknown_fund_needs_ticker(tmp_path: Path, ivv_path: Path) -> None:
    renamed = tmp_path / "fund.xls"
    renamed.write_bytes(ivv_path.read_bytes().replace(b"iShares Core S&P 500 ETF", b"Some Other Fund"))
    with pytest.raises(ParseError, match="pass ticker=") as exc:
        read_ishares_workbook(renamed)
    assert exc.value.field == "ticker"
    assert exc.value.file == str(renamed)


def test_ivv_retrieved_at_defaults_to_mtime_and_is_deterministic(ivv_path: Path) -> None:
    a = read_ishares_workbook(ivv_path, ticker="ivv")
    b = read_ishares_workbook(ivv_path, ticker="IVV")
    mtime = dt.datetime.fromtimestamp(os.stat(ivv_path).st_mtime, tz=dt.UTC)
    assert set(a.daily["retrieved_at"]) == {mtime}
    assert a.daily.equals(b.daily)


def _workbook(rows: list[list[str]], holdings: list[list[str]] | None = None) -> bytes:
    """A tiny XML-Spreadsheet-2003 workbook shaped like iShares' (two BOMs, a bare '&' in an URL)."""

    def sheet(name: str, body: list[list[str]]) -> str:
        out = [f'<ss:Worksheet ss:Name="{name}">', "<ss:Table>"]
        for r in body:
            out.append("<ss:Row>")
            for c in r:
                kind = "Number" if c.replace(".", "").isdigit() else "String"
                out += ["<ss:Cell>", f'<ss:Data ss:Type="{kind}">{c}</ss:Data>', "</ss:Cell>"]
            out.append("</ss:Row>")
        return "\n".join([*out, "</ss:Table>", "</ss:Worksheet>"])

    text = "\n".join(
        [
            '<?xml version="1.0"?>',
            '<ss:Workbook xmlns:ss="urn:schemas-microsoft-com:office:spreadsheet">',
            '<ss:Worksheet ss:Name="Disclaimers"><ss:Table><ss:Row>'
            '<ss:Cell ss:HRef="https://www.ishares.com/x#!type=ishares&style=All">'
            '<ss:Data ss:Type="String">BlackRock</ss:Data></ss:Cell></ss:Row></ss:Table></ss:Worksheet>',
            sheet("Holdings", holdings or [["iShares Test ETF"]]),
            sheet("Historical", [["As Of", "NAV per Share", "Ex-Dividends", "Shares Outstanding"], *rows]),
            "</ss:Workbook>",
        ]
    )
    return b"\xef\xbb\xbf\xef\xbb\xbf" + text.encode()


GOOD_ROWS = [
    ["Jan 04, 2022", "10.5", "--", "100000"],
    ["Jan 03, 2022", "10.25", "0.1", "50000"],
]


def test_small_workbook_ticker_from_content(tmp_path: Path) -> None:
    f = tmp_path / "fund.xls"
    f.write_bytes(_workbook(GOOD_ROWS, holdings=[["iShares Test ETF"], ["Ticker", "TST"]]))
    b = read_ishares_workbook(f, retrieved_at=STAMP)
    assert b.daily.select("date", "ticker", "nav", "distribution", "shares_outstanding").rows() == [
        (dt.date(2022, 1, 3), "TST", 10.25, 0.1, 50_000.0),
        (dt.date(2022, 1, 4), "TST", 10.5, None, 100_000.0),
    ]
    with pytest.raises(ValidationError, match="states 'TST'"):
        read_ishares_workbook(f, ticker="ABC")
    f.write_bytes(_workbook(GOOD_ROWS, holdings=[["iShares Title ETF (TTL)"]]))
    assert set(read_ishares_workbook(f).daily["ticker"]) == {"TTL"}


@pytest.mark.parametrize(
    ("rows", "exc", "row", "field", "text"),
    [
        ([GOOD_ROWS[0], ["Jan 03, 2022", "abc", "--", "1"]], ParseError, 3, "NAV per Share", "not a number"),
        ([GOOD_ROWS[0], ["Jan 32, 2022", "1", "--", "1"]], ParseError, 3, "As Of", "not a date"),
        (
            [GOOD_ROWS[0], ["Jan 03, 2022", "1", "--", "-50000"]],
            ValidationError,
            3,
            "Shares Outstanding",
            "negative",
        ),
        (
            [GOOD_ROWS[0], ["Jan 04, 2022", "10.5", "--", "150000"]],
            ValidationError,
            3,
            "Shares Outstanding",
            "again",
        ),
    ],
)
def test_small_workbook_bad_input(
    tmp_path: Path, rows: list[list[str]], exc: type[Exception], row: int, field: str, text: str
) -> None:
    f = tmp_path / "broken.xls"
    f.write_bytes(_workbook(rows, holdings=[["Ticker", "TST"]]))
    with pytest.raises(exc, match=text) as info:
        read_ishares_workbook(f)
    err = info.value
    assert isinstance(err, ParseError)
    assert (err.file, err.row, err.field) == (str(f), row, field)
    assert str(f) in str(err)
    found = re.search(r"sheet 'Historical', XML line (\d+)", str(err))
    assert found is not None
    lines = f.read_text(encoding="utf-8").splitlines()
    line = int(found.group(1))
    assert lines[line - 1] == "<ss:Row>"
    assert rows[1][0] in lines[line + 1]  # the row's date cell, so the user lands on the bad row


def test_small_workbook_honours_ss_index(tmp_path: Path) -> None:
    f = tmp_path / "idx.xls"
    data = _workbook(GOOD_ROWS, holdings=[["Ticker", "TST"]])
    gap = b'<ss:Cell>\n<ss:Data ss:Type="String">--</ss:Data>\n</ss:Cell>\n<ss:Cell>'
    assert data.count(gap) == 1
    data = data.replace(
        gap, b'<ss:Cell ss:Index="4">'
    )  # Ex-Dividends cell left out, next cell placed by index
    data = data.replace(
        b'<ss:Row>\n<ss:Cell>\n<ss:Data ss:Type="String">Jan 03',
        b'<ss:Row ss:Index="7">\n<ss:Cell>\n<ss:Data ss:Type="String">Jan 03',
    )
    f.write_bytes(data)
    b = read_ishares_workbook(f, retrieved_at=STAMP)
    assert b.daily.select("date", "distribution", "shares_outstanding").rows() == [
        (dt.date(2022, 1, 3), 0.1, 50_000.0),
        (dt.date(2022, 1, 4), None, 100_000.0),
    ]
    f.write_bytes(data.replace(b"0.1<", b"0.x<"))
    with pytest.raises(ParseError, match="not a number") as info:
        read_ishares_workbook(f)
    assert (info.value.row, info.value.field) == (7, "Ex-Dividends")


def test_small_workbook_missing_column_and_identical_duplicates(tmp_path: Path) -> None:
    f = tmp_path / "dup.xls"
    f.write_bytes(_workbook([GOOD_ROWS[0], GOOD_ROWS[0], GOOD_ROWS[1]], holdings=[["Ticker", "TST"]]))
    b = read_ishares_workbook(f)
    assert b.daily.height == 2
    assert b.dropped == {"duplicate_rows": 1}
    f.write_bytes(_workbook(GOOD_ROWS).replace(b"Shares Outstanding", b"Shares"))
    with pytest.raises(ParseError, match="missing required column") as info:
        read_ishares_workbook(f, ticker="TST")
    assert (info.value.row, info.value.field) == (1, "Shares Outstanding")


# --- iShares shares CSV -------------------------------------------------------------------------------


def test_ishares_shares_csv(ewx_path: Path) -> None:
    b = read_ishares_shares_csv(ewx_path, retrieved_at=STAMP)
    _assert_daily(b)
    d = b.daily
    assert d.height == 630
    assert b.dropped == {}
    counts = d.group_by("ticker").agg(
        n=pl.len(), navs=pl.col("nav").is_not_null().sum(), lo=pl.col("date").min(), hi=pl.col("date").max()
    )
    assert counts.sort("ticker").rows() == [
        ("EWJ", 210, 41, dt.date(2025, 7, 1), dt.date(2026, 4, 30)),
        ("EWY", 210, 42, dt.date(2025, 7, 1), dt.date(2026, 4, 30)),
        ("EWZ", 210, 41, dt.date(2025, 7, 1), dt.date(2026, 4, 30)),
    ]
    assert d.row(0, named=True)["shares_outstanding"] == 204_000_000
    last = d.filter(pl.col("ticker") == "EWY").row(-1, named=True)
    assert (last["shares_outstanding"], last["nav"]) == (133_050_000, 158.19)
    assert set(d["source"]) == {"ishares_csv"}
    assert set(d["so_lag"]) == {1}


def test_ishares_shares_csv_bad_rows(tmp_path: Path) -> None:
    f = tmp_path / "s.csv"
    f.write_text("date,ticker,shares_outstanding,nav\n2025-07-01,EWJ,100,\n2025-07-02,EWJ,1x0,\n")
    with pytest.raises(ParseError, match="not a number") as info:
        read_ishares_shares_csv(f)
    assert (info.value.file, info.value.row, info.value.field) == (str(f), 3, "shares_outstanding")
    f.write_text("date,ticker,nav\n2025-07-01,EWJ,1\n")
    with pytest.raises(ParseError, match="missing required column") as info:
        read_ishares_shares_csv(f)
    assert (info.value.row, info.value.field) == (1, "shares_outstanding")


# --- SSGA GLD -----------------------------------------------------------------------------------------


def test_gld_rows_and_drops(gld: ImportBatch) -> None:
    _assert_daily(gld)
    d = gld.daily
    assert d.height == 5159
    assert gld.dropped == {"holiday_rows": 175, "nyse_closed_rows": 2, "non_session_rows": 1}
    assert d["date"].min() == dt.date(2004, 11, 18)
    assert d["date"].max() == dt.date(2025, 5, 23)
    first = d.row(0, named=True)
    assert first == {
        "date": dt.date(2004, 11, 18),
        "ticker": "GLD",
        "source": "ssga_gld",
        "open": None,
        "close": 44.38,
        "nav": 44.2,
        "shares_outstanding": 2_600_000.0,
        "total_net_assets": 114_920_000.0,
        "volume": 5_992_000.0,
        "split_factor": None,
        "distribution": None,
        "estimated": None,
        "so_lag": 1,
        "retrieved_at": STAMP,
    }
    last = d.row(-1, named=True)
    assert (last["nav"], last["total_net_assets"], last["shares_outstanding"]) == (
        308.0868606,
        99_111_543_049.12,
        321_700_000.0,
    )
    dates = set(d["date"])
    for gone in (dt.date(2012, 10, 29), dt.date(2012, 10, 30), dt.date(2018, 12, 5)):
        assert gone not in dates
    # London-only holidays on NYSE sessions: a missing day, no row, noted
    assert dt.date(2004, 12, 31) not in dates
    assert dt.date(2007, 11, 12) not in dates
    assert any("2004-12-31, 2007-11-12" in n for n in gld.notes)
    assert _row(d, dt.date(2018, 7, 3))["close"] is None
    assert d["close"].null_count() == 1


def test_gld_derived_shares_and_creation_units(gld: ImportBatch) -> None:
    """Derived count = round(TNA / NAV); changes are 100,000-share baskets up to NAV-rounding noise."""
    change = gld.daily["shares_outstanding"].cast(pl.Int64).diff().drop_nulls()
    nonzero = change.filter(change != 0)
    off = (nonzero - (nonzero / 100_000).round(0).cast(pl.Int64) * 100_000).abs()
    assert nonzero.len() == 2599
    assert int((off == 0).sum()) == 2378
    assert int(((off > 0) & (off <= 10)).sum()) == 188
    assert int((off > 10).sum()) == 33
    assert (
        "shares_outstanding = round(total net asset value / NAV per share), derived, whole shares; of 2599 "
        "non-zero changes, 2378 are whole 100,000-share baskets, 188 are within 10 shares of one "
        "(NAV rounding), 33 are not" in gld.notes
    )
    # no change sits on an odd 50,000 (half a basket)
    half = (nonzero - (nonzero / 50_000).round(0).cast(pl.Int64) * 50_000).abs()
    assert int(((half <= 10) & (off > 10)).sum()) == 0


GLD_HEADER = (
    "Date, GLD Close, NAV per GLD in Gold, NAV/share at 10.30 a.m. NYT, Indicative Price of GLD at 4.15 p.m. "
    "NYT, Mid point of bid/ask spread at 4.15 p.m. NYT#, Premium/Discount of GLD mid point v Indicative "
    "Value of GLD at 4.15 p.m. NYT, Daily Share Volume, Total Net Asset Value Ounces in the Trust as at "
    "4.15 p.m. NYT, Total Net Asset Value Tonnes in the Trust as at 4.15 p.m. NYT, Total Net Asset Value "
    "in the Trust"
)
GLD_ROW = (
    "18-Nov-2004, 44.38, 100.000000, 44.2, 44.305, $44.37, 0.146%, 5992000, 260000.00, 8.09, 114920000.00"
)
GLD_HOLIDAY = "25-Nov-2004" + ", HOLIDAY" * 10


def test_gld_bad_input(tmp_path: Path) -> None:
    f = tmp_path / "gld.csv"
    f.write_text(
        "\n".join(
            [GLD_HEADER, GLD_ROW, GLD_HOLIDAY, GLD_ROW.replace("18-Nov", "19-Nov").replace("44.2,", "x,")]
        )
    )
    with pytest.raises(ParseError, match="not a number: 'x'") as info:
        read_ssga_gld_csv(f)
    assert (info.value.file, info.value.row, info.value.field) == (str(f), 4, "NAV/share at 10.30 a.m. NYT")
    f.write_text("\n".join([GLD_HEADER, GLD_ROW, GLD_ROW.replace("18-Nov-2004", "31-Nov-2004")]))
    with pytest.raises(ParseError, match="not a date") as info:
        read_ssga_gld_csv(f)
    assert (info.value.row, info.value.field) == (3, "Date")
    f.write_text("\n".join([GLD_HEADER.replace("Daily Share Volume", "Volume"), GLD_ROW]))
    with pytest.raises(ParseError, match="missing required column") as info:
        read_ssga_gld_csv(f)
    assert (info.value.row, info.value.field) == (1, "Daily Share Volume")
    f.write_text("\n".join([GLD_HEADER, GLD_ROW, GLD_ROW.replace("114920000.00", "114920001.00")]))
    with pytest.raises(ValidationError, match="different value") as info:
        read_ssga_gld_csv(f)
    assert (info.value.row, info.value.field) == (3, "Total Net Asset Value in the Trust")
    f.write_text("\n".join([GLD_HEADER, GLD_ROW, GLD_ROW, GLD_HOLIDAY]))
    b = read_ssga_gld_csv(f)
    assert (b.daily.height, b.dropped) == (1, {"duplicate_rows": 1, "holiday_rows": 1})


# --- generic CSV / Parquet ----------------------------------------------------------------------------


PANEL = (
    "Date,Fund,SO,NAV,Close,Volume,Comment\n"
    "2024-01-02,spy,1000000,470.1,470.0,5000,a\n"
    '2024-01-02,QQQ,"2,000,000",400,,,b\n'
    "2024-01-03,SPY,1100000,--,471,6000,c\n"
    "2024-01-03,SPY,1100000,--,471,6000,c\n"
    ",,,,,,\n"
    "2024-01-06,SPY,1200000,472,472,,weekend\n"
)


def test_generic_csv_with_mapping(tmp_path: Path) -> None:
    f = tmp_path / "panel.csv"
    f.write_text(PANEL)
    b = read_generic_csv(
        f, mapping={"Fund": "ticker", "SO": "shares_outstanding"}, so_lag=1, retrieved_at=STAMP
    )
    _assert_daily(b)
    assert b.daily.select("date", "ticker", "shares_outstanding", "nav", "close", "volume").rows() == [
        (dt.date(2024, 1, 2), "QQQ", 2_000_000.0, 400.0, None, None),
        (dt.date(2024, 1, 2), "SPY", 1_000_000.0, 470.1, 470.0, 5000.0),
        (dt.date(2024, 1, 3), "SPY", 1_100_000.0, None, 471.0, 6000.0),
    ]
    assert b.dropped == {"blank_rows": 1, "duplicate_rows": 1, "non_session_rows": 1}
    assert set(b.daily["so_lag"]) == {1}
    assert set(b.daily["source"]) == {"csv"}
    assert "ignored column(s): ['Comment']" in b.notes


def test_generic_aliases_fixed_ticker_and_parquet(tmp_path: Path) -> None:
    f = tmp_path / "one.csv"
    f.write_text(
        "As Of,Shares Outstanding,NAV per Share,Dividend\n01/03/2024,500,10,0.5\n01/02/2024,400,9.5,\n"
    )
    b = read_generic_csv(f, ticker="abc", retrieved_at=STAMP)
    assert b.daily.select("date", "ticker", "shares_outstanding", "nav", "distribution").rows() == [
        (dt.date(2024, 1, 2), "ABC", 400.0, 9.5, None),
        (dt.date(2024, 1, 3), "ABC", 500.0, 10.0, 0.5),
    ]
    assert set(b.daily["so_lag"]) == {0}
    p = tmp_path / "panel.parquet"
    pl.DataFrame(
        {
            "Symbol": ["XLK", "XLK", "XLE"],
            "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 3)],
            "shares": [10, 20, 30],
            "aum": [100.0, float("nan"), 300.0],
        }
    ).write_parquet(p)
    q = read_generic_parquet(p, so_lag=None, retrieved_at=STAMP)
    assert q.daily.select("date", "ticker", "shares_outstanding", "total_net_assets", "so_lag").rows() == [
        (dt.date(2024, 1, 3), "XLE", 30.0, 300.0, None),
        (dt.date(2024, 1, 2), "XLK", 10.0, 100.0, None),
        (dt.date(2024, 1, 3), "XLK", 20.0, None, None),
    ]
    assert q.source == "parquet"
    assert read_generic(p, retrieved_at=STAMP).daily.height == 3
    assert read_generic(f, ticker="ABC", retrieved_at=STAMP).daily.equals(b.daily)


@pytest.mark.parametrize(
    ("text", "exc", "row", "field", "match"),
    [
        ("Day,Fund,SO\n2024-01-02,A,1\n", ParseError, 1, "date", "missing required column"),
        ("Date,Fund,SO\n2024-01-02,A,1\n2024-01-03,A,x1\n", ParseError, 3, "SO", "not a number"),
        ("Date,Fund,SO\n2024-01-02,A,1\n2024-13-03,A,1\n", ParseError, 3, "Date", "not a date"),
        ("Date,Fund,SO\n2024-01-02,A,1\n2024-01-02,A,2\n", ValidationError, 3, "SO", "different value"),
        ("Date,Fund,SO\n2024-01-02,A,1\n2024-01-03,A,-5\n", ValidationError, 3, "SO", "negative"),
        ('Date,Fund,SO\n2024-01-02,A,"1\n"\n2024-01-03,A,y\n', ParseError, 4, "SO", "not a number"),
        ("Date,Fund,SO\n2024-01-02,A b,1\n", ParseError, 2, "Fund", "not a ticker"),
    ],
)
def test_generic_bad_input_names_file_row_field(
    tmp_path: Path, text: str, exc: type[Exception], row: int, field: str, match: str
) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(exc, match=match) as info:
        read_generic_csv(f, mapping={"Fund": "ticker", "SO": "shares_outstanding"})
    err = info.value
    assert isinstance(err, ParseError)
    assert (err.file, err.row, err.field) == (str(f), row, field)
    assert str(f) in str(err)


def test_generic_options_are_checked(tmp_path: Path) -> None:
    f = tmp_path / "p.csv"
    f.write_text("Date,Ticker,SO\n2024-01-02,A,1\n")
    with pytest.raises(ParseError, match="mapped column not in the file"):
        read_generic_csv(f, mapping={"Fund": "ticker"})
    with pytest.raises(ConfigError):
        read_generic_csv(f, mapping={"SO": "shares"})
    with pytest.raises(ConfigError):
        read_generic_csv(f, ticker="B")
    with pytest.raises(ConfigError):
        read_generic_csv(f, so_lag=-1)
    with pytest.raises(ConfigError):
        read_generic_csv(f, retrieved_at=dt.datetime(2024, 1, 1))
    g = tmp_path / "one.csv"
    g.write_text("Date,SO\n2024-01-02,1\n")
    with pytest.raises(ParseError, match="pass ticker=") as info:
        read_generic_csv(g)
    assert info.value.field == "ticker"
    h = tmp_path / "two.csv"
    h.write_text("Date,Shares,SO,Ticker\n2024-01-02,1,2,A\n")
    with pytest.raises(ParseError, match="both read as 'shares_outstanding'"):
        read_generic_csv(h)
    assert read_generic_csv(h, mapping={"SO": "shares_outstanding"}).daily[
        "shares_outstanding"
    ].to_list() == [2.0]
    with pytest.raises(NotFoundError):
        read_generic_csv(tmp_path / "missing.csv")


# --- detection ----------------------------------------------------------------------------------------


def test_detect_by_content_not_name(tmp_path: Path, ivv_path: Path, gld_path: Path, ewx_path: Path) -> None:
    cases = {
        ivv_path: ("prices.csv", "ishares_workbook"),
        gld_path: ("holdings.xls", "ssga_gld_csv"),
        ewx_path: ("data.parquet", "ishares_shares_csv"),
    }
    for src, (name, fmt) in cases.items():
        dst = tmp_path / name
        shutil.copyfile(src, dst)
        assert detect_format(dst) == fmt
    p = tmp_path / "panel.csv"
    pl.DataFrame({"date": [dt.date(2024, 1, 2)], "ticker": ["A"], "nav": [1.0]}).write_parquet(p)
    assert detect_format(p) == "generic_parquet"
    c = tmp_path / "panel.parquet"
    c.write_text(PANEL)
    assert detect_format(c) == "generic_csv"
    junk = tmp_path / "notes.csv"
    junk.write_text("hello,world\n1,2\n")
    with pytest.raises(ParseError, match="unrecognised format"):
        detect_format(junk)


def test_read_file_dispatches(tmp_path: Path, ivv_path: Path, gld_path: Path) -> None:
    dst = tmp_path / "misleading.csv"
    shutil.copyfile(ivv_path, dst)
    b = read_file(dst, ticker="IVV", retrieved_at=STAMP)
    assert (b.source, b.daily.height) == ("ishares_workbook", 5534)
    g = read_file(gld_path, retrieved_at=STAMP)
    assert (g.source, g.daily.height) == ("ssga_gld", 5159)
    with pytest.raises(ConfigError, match="does not take"):
        read_file(gld_path, mapping={"a": "b"})
    c = tmp_path / "p.txt"
    c.write_text(PANEL)
    assert read_file(c, mapping={"Fund": "ticker", "SO": "shares_outstanding"}).daily.height == 3


def test_registry_takes_new_formats_with_one_line(tmp_path: Path) -> None:
    f = tmp_path / "x.dat"
    f.write_bytes(b"MAGIC-X\n")
    empty = ImportBatch(source="x", file=str(f), daily=pl.DataFrame(schema=TABLES["daily"].polars_schema))
    fmt = Format("x_format", lambda head: head.startswith(b"MAGIC-X"), lambda path, **_: empty)
    register(fmt)
    try:
        assert detect_format(f) == "x_format"
        assert [x.name for x in FORMATS][-4:] == [
            "x_format",
            "generic_parquet",
            "generic_xlsx",
            "generic_csv",
        ]
        assert read_file(f) is empty
        with pytest.raises(ConfigError):
            register(fmt)
    finally:
        FORMATS.remove(fmt)
