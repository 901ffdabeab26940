"""Vendor daily-flow files recognised by content: etf.com's long file (gzip) and per-fund workbooks (real),
and a wide table (`tests/fixtures/vendor_wide_synthetic.csv`: SYNTHETIC values, written by hand)."""

from __future__ import annotations

import datetime as dt
import gzip
import shutil
from pathlib import Path

import polars as pl
import pytest

from etfflow import pipeline
from etfflow.errors import ParseError, ValidationError
from etfflow.sources.detect import detect_format, read_file
from etfflow.sources.vendor_flows import read_vendor_flows
from etfflow.store import Store

D = dt.date
WIDE = Path(__file__).parent / "fixtures" / "vendor_wide_synthetic.csv"


def etfcom(shared: Path) -> Path:
    return shared / "vendor" / "etfcom" / "etfcom_daily_flows_641_long.csv.gz"


def workbook(shared: Path, ticker: str) -> Path:
    return shared / "vendor" / "etfcom" / "xlsx_samples" / f"{ticker}_fund_flow_data.xlsx"


def test_long_file_real(shared_data: Path) -> None:
    """The 641-fund file: 1,465,504 data rows; 3,273 dated on NYSE holidays are dropped and counted.

    etf.com values in USD millions (`flow_usd_mn`); IVV on 2020-03-03: -108.62106 ($M), as published.
    """
    f = etfcom(shared_data)
    assert detect_format(f) == "vendor_flows_long"
    b = read_vendor_flows(f)
    t = b.tables["vendor_flows"]
    assert t.height == 1_465_504 - 3_273 and b.dropped == {"non_session_rows": 3_273}
    assert t["ticker"].n_unique() == 641 and b.tables["funds"].height == 641
    assert t["date"].min() == D(2000, 1, 3) and t["date"].max() == D(2024, 3, 19)
    ivv = t.filter((pl.col("ticker") == "IVV") & (pl.col("date") == D(2020, 3, 3)))
    assert ivv["flow_usd"].to_list() == [pytest.approx(-108_621_060.0)]
    assert any("flows read in mn" in n for n in b.notes)
    assert any("2 with a non-zero flow" in n for n in b.notes)  # holiday rows are not all zeros


def test_workbooks_real(shared_data: Path, tmp_path: Path) -> None:
    """Five per-fund workbooks: ticker from the file name; IVV equals the long file on every shared day."""
    for t in ("GLD", "HYG", "IVV", "SPY", "XLE"):
        assert detect_format(workbook(shared_data, t)) == "vendor_flows_workbook"
    b = read_file(workbook(shared_data, "IVV"))
    w = b.tables["vendor_flows"]
    assert w["ticker"].unique().to_list() == ["IVV"] and w.height == 5_970
    first = w.filter(pl.col("date").is_in([D(2000, 5, 18), D(2000, 5, 22)]))["flow_usd"].to_list()
    assert first == [pytest.approx(64_373_260.0), pytest.approx(280_220_000.0)]
    assert b.dropped == {"non_session_rows": 4} and "ticker IVV taken from the file name" in b.notes
    long = read_vendor_flows(etfcom(shared_data)).tables["vendor_flows"].filter(pl.col("ticker") == "IVV")
    j = long.join(w, on=["date", "ticker"])
    assert j.height == 5_970 and (j["flow_usd"] - j["flow_usd_right"]).abs().max() == 0
    anon = tmp_path / "flows.xlsx"
    shutil.copy(workbook(shared_data, "GLD"), anon)
    with pytest.raises(ParseError, match="pass --ticker"):
        read_file(anon)
    assert read_file(anon, ticker="gld").tables["vendor_flows"]["ticker"].unique().to_list() == ["GLD"]


def test_wide_table() -> None:
    """SYNTHETIC fixture: $M per fund column, blanks missing (not 0), Saturday row dropped, Total checked."""
    assert detect_format(WIDE) == "vendor_flows_wide"
    b = read_file(WIDE)
    t = b.tables["vendor_flows"]
    assert t["ticker"].unique().sort().to_list() == ["IVV", "SPY", "ZZZX"]  # never a TOTAL fund
    got = {(r["ticker"], r["date"]): r["flow_usd"] for r in t.iter_rows(named=True)}
    assert got == {
        ("IVV", D(2024, 1, 2)): 35_250_000.0,
        ("IVV", D(2024, 1, 3)): 0.0,
        ("IVV", D(2024, 1, 4)): -20_000_000.0,
        ("SPY", D(2024, 1, 2)): -120_500_000.0,
        ("SPY", D(2024, 1, 3)): -10_000_000.0,
        ("SPY", D(2024, 1, 4)): 250_000_000.0,
        ("ZZZX", D(2024, 1, 3)): 4_500_000.0,
    }
    assert b.dropped == {"missing_flow": 2, "non_session_rows": 3}
    assert any("'Total' column matched" in n for n in b.notes)


def test_wide_needs_evidence_of_flows(tmp_path: Path) -> None:
    """A wide table of prices (no Total, nothing negative) is not taken for flows."""
    prices = tmp_path / "px.csv"
    prices.write_text("Date,SPY,QQQ\n2024-01-02,472.65,402.7\n2024-01-03,468.79,396.3\n")
    assert detect_format(prices) == "generic_csv"
    flows = tmp_path / "flows.csv"
    flows.write_text("Date,SPY,QQQ\n2024-01-02,472.65,402.7\n2024-01-03,-468.79,396.3\n")
    assert detect_format(flows) == "vendor_flows_wide"


@pytest.mark.parametrize(
    ("body", "message", "row", "field"),
    [
        ("Date,SPY,IVV,Total\n2024-01-02,1,2,3\n2024-01-03,1,2,4\n", "differs from the sum", 3, "Total"),
        ("Date,SPY,IVV,Total\n2024-01-02,1,abc,-1\n", "not a number", 2, "IVV"),
        ("ticker,date,flow_usd_mn\nSPY,2024-01-02,1\nSPY,2024-01-03,inf\n", "not a", 3, "flow_usd_mn"),
        ("ticker,date,flow_usd_mn\nSPY,2024-01-02,1\nSPY,02/30/2024,-1\n", "not a date", 3, "date"),
    ],
)
def test_bad_input_names_file_row_field(
    tmp_path: Path, body: str, message: str, row: int, field: str
) -> None:
    f = tmp_path / "bad.csv"
    f.write_text(body)
    with pytest.raises(ParseError, match=message) as err:
        read_file(f)
    assert (err.value.file, err.value.row, err.value.field) == (str(f), row, field)


def test_gzip_and_atomic_import(tmp_path: Path) -> None:
    """A gzip CSV imports like the plain one; a batch with one bad file writes nothing."""
    good = tmp_path / "good.csv.gz"
    good.write_bytes(gzip.compress(b"ticker,date,flow_usd_mn\nspy,2024-01-02,1.5\nSPY,2024-01-03,(2)\n"))
    bad = tmp_path / "bad.csv"
    bad.write_text("Date,SPY,Total\n2024-01-02,1,2\n")
    db = tmp_path / "w.duckdb"
    with Store(db) as store:
        with pytest.raises(ValidationError, match="differs from the sum"):
            pipeline.import_paths(store, [good, bad])
        assert store.counts()["vendor_flows"] == 0 and store.counts()["files"] == 0
        (r,) = pipeline.import_paths(store, [good])
        assert r.tables["vendor_flows"] == {"added": 2, "changed": 0, "unchanged": 0, "kept": 0}
        assert store.read("vendor_flows")["flow_usd"].to_list() == [1_500_000.0, -2_000_000.0]
        again = pipeline.import_paths(store, [good])[0]
        assert again.already_imported and again.added == 0


def test_import_flows_names_the_vendor(tmp_path: Path) -> None:
    """`import-flows --source --units` on the SYNTHETIC wide fixture; views pick it by name."""
    import json

    from typer.testing import CliRunner

    from etfflow.cli import app

    db = ["--db", str(tmp_path / "w.duckdb")]
    res = CliRunner().invoke(
        app, ["import-flows", str(WIDE), "--source", "widevendor", "--units", "k", "--json", *db]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert (
        doc["added"] == 7
        and doc["tables"]["funds"]["added"] == 3
        and doc["tickers"] == ["IVV", "SPY", "ZZZX"]
    )
    res = CliRunner().invoke(app, ["flows", "ZZZX", "--flows", "vendor:widevendor", "--json", *db])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["flow_source"] == "vendor:widevendor" and [r["flow_usd"] for r in doc["rows"]] == [4_500.0]
    res = CliRunner().invoke(app, ["import-flows", str(WIDE), "--source", "=1+1", *db])
    assert res.exit_code == 1 and "vendor source name '=1+1'" in res.output
