"""Price files by content: the three US price sets, yfinance exports, AlphaVantage; import and backtest.

Ground truths read from the files with zcat/grep, not from the parser:
- sector_spdr_1998_2026/XLB.csv: 6,823 rows 1998-12-22 .. 2026-02-06, dates like
  ``1998-12-22 00:00:00-05:00``; a 2:1 split on 2025-12-05; adjusted close 20.264856... on 2015-06-10.
- etf_daily_1999_2021/XLB.csv (AlphaVantage layout, raw prices): close 50.38 on 2015-06-10.
- us_etfs_stooq_2005_2024/aaa.us.txt.gz: 950 rows, first ``AAA.US,D,20200911,000000,24.7978,...,24.7928``.
- us_etfs_alphavantage/AGQ.csv.gz: newest first, first row 2020-12-11 close 42.43.
- us_etfs_adjclose_yahoo/AAA.csv.gz: ``Date,Close``, first row 2020-09-09 19.735374450683594.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.errors import ParseError
from etfflow.sources.base import read_bytes
from etfflow.sources.detect import detect_format, read_file
from etfflow.sources.prices import layout_of, price_table, read_price_file, read_prices, ticker_from_name
from etfflow.store import Store

D = dt.date


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def prices(shared_data: Path) -> Path:
    return shared_data / "prices"


@pytest.mark.parametrize(
    ("folder", "layout", "source", "adjusted_only"),
    [
        ("us_etfs_stooq_2005_2024", "stooq", "stooq_adjusted", True),
        ("us_etfs_alphavantage", "alphavantage", "alphavantage", False),
        ("us_etfs_adjclose_yahoo", "yahoo_adjclose", "yahoo_adjclose", True),
        ("sector_spdr_1998_2026", "yfinance_csv", "yfinance_csv", False),
    ],
)
def test_every_file_of_each_set_parses(
    prices: Path, folder: str, layout: str, source: str, adjusted_only: bool
) -> None:
    """All files of a set (551 + 139 + 515 + 11) recognised by content; every 4th parsed in full.

    Parsed: its layout, one ticker, positive prices, sorted unique dates (parsing all 1,216 files
    takes about 10 s here; the quick check of the rest keeps the suite fast).
    """
    files = sorted((prices / folder).iterdir())
    assert (
        len(files)
        == {
            "us_etfs_stooq_2005_2024": 551,
            "us_etfs_alphavantage": 139,
            "us_etfs_adjclose_yahoo": 515,
            "sector_spdr_1998_2026": 11,
        }[folder]
    )
    for f in files:
        assert layout_of(read_bytes(f)[:4096]) == layout, f
    for f in files[::4]:
        s = read_prices(f)
        assert s.layout == layout, f
        assert s.adjusted_only is adjusted_only
        assert s.ticker == ticker_from_name(f), f
        fr = s.frame
        assert fr.height > 0 and fr["date"].is_sorted() and not fr["date"].is_duplicated().any(), f
        assert (fr["adjusted_close"].drop_nulls() > 0).all(), f
    assert detect_format(files[0]) == "price_file"


def test_stooq_values(prices: Path) -> None:
    s = read_prices(prices / "us_etfs_stooq_2005_2024" / "aaa.us.txt.gz")
    assert s.ticker == "AAA" and s.frame.height == 950
    first = s.frame.row(0, named=True)
    assert first["date"] == D(2020, 9, 11)
    assert first["adjusted_close"] == 24.7928 and first["close"] == 24.7928


def test_alphavantage_newest_first_raw_with_dividends(prices: Path) -> None:
    """Newest-first rows come out oldest first; raw close kept apart from the adjusted close."""
    s = read_prices(prices / "us_etfs_alphavantage" / "AGQ.csv.gz")
    assert s.frame["date"][-1] == D(2020, 12, 11) and s.frame["close"][-1] == 42.43
    xlb = read_prices(prices / "etf_daily_1999_2021" / "XLB.csv").frame
    row = xlb.filter(pl.col("date") == D(2015, 6, 10)).row(0, named=True)
    assert (row["close"], row["adjusted_close"]) == (50.38, 44.1572635615)
    assert xlb["distribution"].drop_nulls().len() > 50  # quarterly dividends, zeros read as "none"
    assert (xlb["distribution"].drop_nulls() > 0).all()


def test_yfinance_raw_closes_rebuilt_match_alphavantage(prices: Path) -> None:
    """XLB's raw close rebuilt from yfinance's adjusted series equals AlphaVantage's raw close.

    5,558 common sessions; median difference $0.00001, 98.5% within 1 cent. The rest are vendor
    differences, not a bias of the rebuild: 62 of the 82 are in 2008, of both signs, where the rebuilt
    closes are whole cents (44.00 vs AlphaVantage's 43.93 on 2008-05-08).
    """
    yf = read_prices(prices / "sector_spdr_1998_2026" / "XLB.csv").frame
    av = read_prices(prices / "etf_daily_1999_2021" / "XLB.csv").frame
    both = yf.join(av, on="date", suffix="_av")
    assert both.height == 5_558
    err = (both["close"] - both["close_av"]).abs()
    assert err.median() < 1e-4
    assert (err <= 0.01).mean() >= 0.98
    d0508 = both.filter(pl.col("date") == D(2008, 5, 8))
    assert float(d0508["close"][0]) == pytest.approx(44.00, abs=1e-4) and d0508["close_av"][0] == 43.93
    assert float(both.filter(pl.col("date") == D(2015, 6, 10))["close"][0]) == pytest.approx(50.38, abs=0.005)
    # the split day: 2 new shares per old, raw close after it is the stated close
    split = yf.filter(pl.col("split_factor").is_not_null())
    assert split["date"].to_list() == [D(2025, 12, 5)] and split["split_factor"].to_list() == [2.0]
    assert yf["close"][-1] == yf["adjusted_close"][-1]
    # negative control: without unadjusting, the 2015 close would be the adjusted 20.26
    assert float(both.filter(pl.col("date") == D(2015, 6, 10))["adjusted_close"][0]) == pytest.approx(
        20.2649, abs=1e-3
    )


def test_import_prices_without_share_counts(prices: Path, tmp_path: Path) -> None:
    """`etfflow import` of a yfinance export and a Stooq file: closes into `daily`, no shares, no flows."""
    db = str(tmp_path / "w.duckdb")
    xlb = prices / "sector_spdr_1998_2026" / "XLB.csv"
    code, out = run(
        "import", str(xlb), str(prices / "us_etfs_stooq_2005_2024" / "aaa.us.txt.gz"), "--db", db, "--json"
    )
    assert code == 0, out
    assert [r["format"] for r in json.loads(out)] == ["yfinance_csv", "stooq_adjusted"]
    with Store(db, read_only=True) as store:
        d = store.read("daily")
        assert store.read("flows_daily").height == 0
    assert d["shares_outstanding"].null_count() == d.height
    x = d.filter(pl.col("ticker") == "XLB")
    assert x.height == 6_823 and x["source"].unique().to_list() == ["yfinance_csv"]
    assert x.filter(pl.col("date") == D(2015, 6, 10))["close"][0] == pytest.approx(50.38, abs=0.005)
    assert x["distribution"].drop_nulls().len() > 100
    a = d.filter(pl.col("ticker") == "AAA")
    assert a["source"].unique().to_list() == ["stooq_adjusted"] and a.height == 950
    assert a["open"].null_count() == a.height  # adjusted-only: only the (adjusted) close is stored


def test_backtest_prices_accepts_every_layout(prices: Path, tmp_path: Path) -> None:
    """`backtest --prices` with time-zone dates, gzip, Stooq and newest-first files: a result."""
    db = str(tmp_path / "w.duckdb")
    assert run("import", str(prices / "sector_spdr_1998_2026" / "XLE.csv"), "--db", db)[0] == 0
    specs = [
        str(prices / "sector_spdr_1998_2026" / "XLB.csv"),
        str(prices / "sector_spdr_1998_2026" / "XLE.csv"),
        f"ACES={prices / 'us_etfs_stooq_2005_2024' / 'aces.us.txt.gz'}",
        str(prices / "us_etfs_alphavantage" / "EDV.csv.gz"),
        str(prices / "us_etfs_adjclose_yahoo" / "AAAU.csv.gz"),
    ]
    args = ["backtest", "price_momentum", "--db", db, "--json", "--tickers", "XLB,XLE,ACES,EDV,AAAU"]
    for s in specs:
        args += ["--prices", s]
    code, out = run(*args)
    assert code == 0, out
    r = json.loads(out)["runs"][0]
    assert r["assets"] == ["XLB", "XLE", "ACES", "EDV", "AAAU"]
    assert r["end"] == "2026-08-03"  # the Yahoo file's last session: every file contributed


def test_price_table_never_mixes_raw_and_adjusted(prices: Path) -> None:
    """Adjusted-only files give no open/close (premiums, open-to-close); raw files give both."""
    stooq = price_table(prices / "us_etfs_stooq_2005_2024" / "aaa.us.txt.gz")
    assert stooq["close"].null_count() == stooq.height and stooq["open"].null_count() == stooq.height
    av = price_table(prices / "us_etfs_alphavantage" / "AGQ.csv.gz")
    assert av["close"].null_count() == 0 and av["adjusted_close"].null_count() == 0


STOOQ = "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\n"
AV = "timestamp,open,high,low,close,adjusted_close,volume,dividend_amount,split_coefficient\n"
YF = "Date,Open,High,Low,Close,Volume,Dividends,Stock Splits\n"


def _write(path: Path, text: str, gz: bool = False) -> Path:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize(
    ("text", "match", "row", "field"),
    [
        (STOOQ + "AAA.US,D,20200911,0,1,1,1,x,1,0\n", "not a number", 2, "<CLOSE>"),
        (STOOQ + "AAA.US,W,20200911,0,1,1,1,1,1,0\n", "not a daily series", 2, "<PER>"),
        (STOOQ + "AAA.US,D,2020-13-45,0,1,1,1,1,1,0\n", "not a date", 2, "<DATE>"),
        ("Date,Close\n2020-09-09,1.5\n2020-09-10,-1\n", "must not be negative", 3, "Close"),
        ("Date,Close\n2020-09-09,1.5\n2020-09-09,1.6\n", "appears twice", 3, "Date"),
        (AV + "2020-12-11,1,1,1,1,1,1,0,-2\n", "must not be negative", 2, "split_coefficient"),
        (AV + "2020-12-11,1,1,1,1,1,1,0,0\n", "split coefficient must be positive", 2, "split_coefficient"),
        (AV + "2020-12-11,1,1,1,1,1,1,-0.5,1\n", "must not be negative", 2, "dividend_amount"),
        (YF + "2020-12-11 00:00:00-05:00,1,1,1,1,100,0,-2\n", "must not be negative", 2, "Stock Splits"),
    ],
)  # fmt: skip
def test_broken_price_files(tmp_path: Path, text: str, match: str, row: int | None, field: str) -> None:
    """Each error names file, line and column; the same through the CLI, with nothing written."""
    for gz in (False, True):
        p = _write(tmp_path / ("AAA.csv.gz" if gz else "AAA.csv"), text, gz)
        with pytest.raises(ParseError, match=match) as err:
            read_price_file(p)
        assert err.value.file == str(p) and err.value.row == row and err.value.field == field
    db = tmp_path / "w.duckdb"
    code, out = run("import", str(p), "--db", str(db))
    assert code != 0 and match in out and "Traceback" not in out
    with Store(db, read_only=True) as store:
        assert store.read("daily").height == 0


def test_yfinance_missing_close_does_not_spread() -> None:
    """A zero (missing) adjusted close leaves the rebuild of the other days intact."""
    from etfflow.sources.prices import _unadjust_yfinance

    frame = pl.DataFrame(
        {
            "close": [9.0, None, 10.0, 11.0],
            "open": [9.0, None, 10.0, 11.0],
            "volume": [1.0, 1.0, 1.0, 1.0],
            "distribution": [None, None, None, 0.5],
            "split_factor": [None, None, None, None],
        }
    )
    got = _unadjust_yfinance(frame)
    assert got["close"][3] == 11.0 and got["close"][2] == pytest.approx(10.0 / (10.0 / 10.5))
    assert got["close"][1] is None and got["open"][1] is None  # missing, never NaN
    assert got["close"][0] == pytest.approx(9.0 * 10.5 / 10.0)


def test_ticker_must_be_known(tmp_path: Path) -> None:
    """A file that states no ticker and has no ticker-like name asks for one; a stated one must agree."""
    p = _write(tmp_path / "my prices (1).csv", "Date,Close\n2020-09-09,1.5\n")
    with pytest.raises(ParseError, match="pass ticker="):
        read_prices(p)
    assert read_prices(p, ticker="abc").ticker == "ABC"
    stooq = _write(
        tmp_path / "x.txt",
        "<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>,<OPENINT>\nAAA.US,D,20200911,0,1,1,1,1,1,0\n",
    )
    with pytest.raises(ParseError, match="states 'AAA'"):
        read_prices(stooq, ticker="BBB")
    assert read_file(stooq).daily["ticker"].to_list() == ["AAA"]


def test_generic_csv_with_time_zone_dates(tmp_path: Path) -> None:
    """A generic panel with yfinance-style stamps reads the local date (no time-zone shift)."""
    p = _write(
        tmp_path / "tz.csv",
        "Date,ticker,Close,Shares Outstanding\n"
        "2024-01-02 00:00:00-05:00,ABC,10,100\n2024-01-03 00:00:00-05:00,ABC,11,110\n"
        "2024-07-01T00:00:00-04:00,ABC,12,120\n",
    )
    b = read_file(p)
    assert b.daily["date"].to_list() == [D(2024, 1, 2), D(2024, 1, 3), D(2024, 7, 1)]
    assert any("time-stamped" in n for n in b.notes)


def test_raw_closes_outrank_adjusted_ones() -> None:
    """Same fund and day from a raw and an adjusted price file: the merged close is the raw one."""
    from etfflow.flows.daily import merge_sources
    from etfflow.schema import validate

    day = D(2024, 1, 2)
    rows = [
        {"date": day, "ticker": "ABC", "source": "stooq_adjusted", "close": 9.5},
        {"date": day, "ticker": "ABC", "source": "alphavantage", "close": 10.0},
        {"date": day, "ticker": "ABC", "source": "yahoo_adjclose", "close": 9.4},
    ]
    for order in (rows, rows[::-1]):
        merged = merge_sources(validate(pl.DataFrame(order), "daily"))
        assert merged["close"].to_list() == [10.0]
    # and an issuer's or a generic file's close outranks every price file
    generic = {"date": day, "ticker": "ABC", "source": "csv", "close": 10.1}
    assert merge_sources(validate(pl.DataFrame([*rows, generic]), "daily"))["close"].to_list() == [10.1]


def test_split_adjusted_histories_of_reverse_splitters_are_imported(prices: Path, tmp_path: Path) -> None:
    """The six real files (of 1,066 Yahoo and Stooq files) whose split-adjusted closes pass $1M a share:
    repeated reverse splits make UVXY's adjusted close for 2011-10-04 $514.5bn. They were refused by a
    $1M bound; the prices of adjusted sources now may reach `checks.MAX_PRICE`. A raw close (any other
    source) keeps the $1M bound: the same value in a generic panel is refused."""
    from etfflow import checks
    from etfflow.sources import prices as price_module

    adjusted = {price_module._SOURCE[k] for k in ("stooq", "yahoo_adjclose")}  # adjusted-only layouts
    assert adjusted == checks.ADJUSTED_SOURCES

    files = [prices / "us_etfs_adjclose_yahoo" / f"{t}.csv.gz" for t in ("UVXY", "SOXS", "BOIL")]
    files += [prices / "us_etfs_stooq_2005_2024" / f"{t}.us.txt.gz" for t in ("uvxy", "soxs", "nrgd")]
    for f in files:
        db = tmp_path / f"{f.name}.duckdb"
        code, out = run("import", "--db", str(db), str(f))
        assert code == 0, out
        with Store(db, read_only=True) as s:
            top = s.query("SELECT max(close) AS c FROM daily")["c"][0]
        assert 1e6 < top < checks.MAX_PRICE, f
    with Store(tmp_path / "UVXY.csv.gz.duckdb", read_only=True) as s:
        first = s.query("SELECT close FROM daily WHERE date = DATE '2011-10-04'")["close"].to_list()
    assert first == [514500001792.0]
    panel = tmp_path / "raw.csv"
    panel.write_text("date,ticker,close\n2011-10-04,UVXY,514500001792.0\n")
    code, out = run("import", "--db", str(tmp_path / "raw.duckdb"), str(panel))
    assert code == 1 and "implausible value" in out and "field 'close'" in out
