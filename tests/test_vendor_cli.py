"""End to end on real files: a warehouse built from etf.com's flow file alone (a gzip subset of 20 funds,
2008-2024, written to tmp) runs every flow view, the report and a backtest; with the iShares IVV workbook
added, `best` takes IVV's computed flows and the others' vendor flows, and each output says so."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.store import Store

FUNDS = [
    "XLE",
    "XLP",
    "XLI",
    "XLU",
    "XLB",
    "IVV",
    "SPY",
    "QQQ",
    "VOO",
    "GLD",
    "SLV",
    "USO",
    "HYG",
    "LQD",
    "IEF",
    "SHY",
    "AGG",
    "EEM",
    "KWEB",
    "ZSL",
]  # ZSL is not in the taxonomy
PRICES = ("XLE", "XLP", "XLI", "XLU", "XLB")


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def subset(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = shared_data / "vendor" / "etfcom" / "etfcom_daily_flows_641_long.csv.gz"
    frame = pl.read_csv(src, infer_schema=False).filter(
        pl.col("ticker").is_in(FUNDS) & (pl.col("date") >= "2008-01-01")
    )
    out = tmp_path_factory.mktemp("vendor") / "etfcom_subset.csv.gz"
    out.write_bytes(gzip.compress(frame.write_csv().encode()))
    return out


@pytest.fixture(scope="module")
def vendor_db(subset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("w") / "vendor.duckdb"
    code, out = run("import", str(subset), "--db", str(db), "--json")
    assert code == 0, out
    (r,) = json.loads(out)
    assert r["format"] == "vendor:vendor" and r["tables"]["vendor_flows"]["added"] == 78_265
    assert sorted(r["tickers"]) == sorted(FUNDS)
    return db


@pytest.fixture(scope="module")
def mixed_db(subset: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("m") / "mixed.duckdb"
    ivv = shared_data / "issuers" / "ishares" / "IVV_fund.xls"
    code, out = run("import", str(ivv), str(subset), "--db", str(db), "--json")
    assert code == 0, out
    return db


def test_views_on_vendor_only(vendor_db: Path) -> None:
    db = ["--db", str(vendor_db)]
    code, out = run("top", "--window", "20", "--json", *db)
    assert code == 0, out
    doc = json.loads(out)
    assert set(doc["flow_sources"].values()) == {"vendor"} and "ZSL" in doc["flow_sources"]
    rows = doc["inflows"] + doc["outflows"]
    assert rows and all(r["flow_source"] == "vendor" and r["flow_pct_aum"] is None for r in rows)
    assert "% of AUM is left empty" in doc["notes"][0]
    code, out = run("flows", "ZSL", "--freq", "m", "--json", *db)  # not in the taxonomy: still there
    assert code == 0, out
    doc = json.loads(out)
    assert doc["flow_source"] == "vendor" and doc["rows"] and doc["rows"][-1]["flow_pct_aum"] is None
    code, out = run("sectors", "--json", *db)
    assert code == 0, out
    assert json.loads(out)["flow_sources"]["XLE"] == "vendor"
    code, out = run("quality", "--json", *db)
    assert code == 0, out
    assert json.loads(out)["flow_rows"] == 78_265
    code, out = run("top", "--start", "2023-12-01", "--end", "2023-12-29", *db)  # sources of the funds shown
    assert code == 0 and "published by vendor: 20 funds" in out
    code, out = run("flows", "ZSL", "--flows", "computed", *db)
    assert code == 3 and "no flows for ZSL" in out
    code, out = run("top", "--flows", "vendor:etfcom", *db)
    assert code == 3 and "vendors: vendor" in out


def test_report_and_backtest_on_vendor_only(vendor_db: Path, shared_data: Path, tmp_path: Path) -> None:
    db = ["--db", str(vendor_db)]
    out_md = tmp_path / "r.md"
    code, out = run("report", "--out", str(out_md), "--json", *db)
    assert code == 0, out
    doc = json.loads(out)
    assert doc["end"] == "2024-03-18" and doc["as_of"] == "2024-03-19"  # known the next session
    assert doc["funds_with_data"] == 7  # most funds' series end in February 2024
    assert "Flow source: published by vendor: 7 funds" in out_md.read_text()
    code, out = run("report", "--as-of", "2023-12-29", "--out", str(out_md), "--json", *db)
    assert code == 0, out
    doc = json.loads(out)
    assert doc["end"] == "2023-12-28" and doc["funds_with_data"] == 20
    assert sorted(doc["flow_sources"]) == sorted(FUNDS) and set(doc["flow_sources"].values()) == {"vendor"}
    assert any(n.startswith("Flow source: published by vendor: 20 funds") for n in doc["notes"])
    px = shared_data / "prices" / "etf_daily_1999_2021"
    prices = [a for t in PRICES for a in ("--prices", str(px / f"{t}.csv"))]
    code, out = run(
        "backtest", "percentile_rotation", *prices, "--start", "2010-01-01",
        "--end", "2021-11-30", "--n-boot", "50", "--json", *db,
    )  # fmt: skip
    assert code == 0, out
    run_ = json.loads(out)["runs"][0]
    assert any(
        "Flow source: published by vendor: 5 funds (XLB, XLE, XLI, XLP, XLU)" in n for n in run_["notes"]
    )


def test_best_mixes_sources_per_fund(mixed_db: Path) -> None:
    db = ["--db", str(mixed_db)]
    code, out = run(
        "top", "--start", "2019-01-02", "--end", "2019-12-31", "--json", *db
    )  # a year in which IVV (computed) and every vendor fund have flows
    assert code == 0, out
    src = json.loads(out)["flow_sources"]
    assert src.pop("IVV") == "computed" and set(src.values()) == {"vendor"} and len(src) == 19
    code, out = run("flows", "IVV", "--json", *db)
    assert code == 0 and json.loads(out)["flow_source"] == "computed"
    code, out = run(
        "flows", "IVV", "--flows", "vendor", "--start", "2020-03-03", "--end", "2020-03-03", "--json", *db
    )
    assert code == 0, out
    doc = json.loads(out)
    assert doc["flow_source"] == "vendor"
    (row,) = doc["rows"]
    with Store(mixed_db, read_only=True) as store:
        day = store.query("SELECT shares_outstanding * nav AS a FROM daily WHERE date = DATE '2020-03-02'")
    # IVV's vendor flow as % of its own AUM, from the workbook's shares x NAV on the session before
    assert row["aum_prev_usd"] == pytest.approx(day["a"][0])
    assert row["flow_pct_aum"] == pytest.approx(-108_621_060.0 / day["a"][0])
    code, out = run("report", "--as-of", "2021-06-30", "--format", "json", "--json", *db)
    assert code == 0, out
    rep = json.loads(out)
    assert rep["flow_sources"]["IVV"] == "computed" and rep["flow_sources"]["XLE"] == "vendor"
