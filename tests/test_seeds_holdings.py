"""N-PORT holdings: positions, changes between dates, look-through flows (issue 12 point 4), real filings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.signals.holdings import compare_holdings, look_through, summarize
from etfflow.sources.sec_files import read_nport_file

D = dt.date
SAMPLES = Path("../shared/data/sec/nport/samples")


def nport_holdings(name: str) -> pl.DataFrame:
    return read_nport_file(SAMPLES / name).tables["holdings"]


def test_summary_of_real_filings() -> None:
    """Dupree Kentucky Tax-Free (55 municipal bonds, 2022-12-31); Goldman Sachs Bond Fund (2023-03-31)."""
    s = summarize(nport_holdings("NPORT.Dupree.xml"))
    assert (s.series_id, s.report_date, s.positions, s.rows) == ("S000012000", D(2022, 12, 31), 55, 55)
    assert s.weight_sum == pytest.approx(0.978358, abs=1e-6) and s.top10_weight == pytest.approx(
        0.332862, abs=1e-6
    )
    assert s.by_asset.to_dicts() == [
        {"asset_cat": "DBT", "positions": 55, "weight": pytest.approx(0.978358, abs=1e-6)}
    ]
    gs = summarize(nport_holdings("NPORT Sample 7.xml"))
    assert (gs.positions, gs.rows) == (1177, 1685)  # derivative legs and lots of one security summed
    assert gs.top10_weight == pytest.approx(0.128912, abs=1e-6)
    top = gs.top10.row(0, named=True)
    assert top["name"] == "UMBS, TBA" and top["weight"] == pytest.approx(0.0558, abs=1e-4)
    assert gs.by_asset["asset_cat"][:2].to_list() == ["DBT", "ABS-MBS"]


def test_compare_hand_case_on_a_real_portfolio() -> None:
    """Second date made by hand from Dupree: first bond sold, a new one bought, the second doubled."""
    a = nport_holdings("NPORT.Dupree.xml")
    first, second = a.row(0, named=True), a.row(1, named=True)
    b = a.slice(1).with_columns(
        pl.lit(D(2023, 3, 31)).alias("report_date"),
        pl.when(pl.col("position") == 2)
        .then(pl.col("pct_net_assets") * 2)
        .otherwise(pl.col("pct_net_assets")),
    )
    new = b.head(1).with_columns(
        pl.lit("US0000000NEW").alias("isin"),
        pl.lit("NEW BOND").alias("name"),
        pl.lit(0.5).alias("pct_net_assets"),
    )
    c = compare_holdings(pl.concat([a, b, new]), D(2022, 12, 31), D(2023, 3, 31))
    assert (c.positions_start, c.positions_end, c.added, c.removed, c.kept) == (55, 55, 1, 1, 54)
    w1, w2 = first["pct_net_assets"] / 100, second["pct_net_assets"] / 100
    assert c.turnover == pytest.approx((w1 + w2 + 0.005) / 2)
    assert c.additions.row(0, named=True)["change"] == pytest.approx(w2)  # the doubled bond
    assert c.deletions.row(0, named=True)["status"] == "removed" and c.warnings == []


def test_compare_sec_samples_warns_on_inconsistent_weights() -> None:
    """SEC's test samples 4 and 5 (one filer, 2019-08-31, 2021-07-20) repeat positions: weights sum ~120x."""
    h = pl.concat([nport_holdings("N-PORT Sample 4.xml"), nport_holdings("N-PORT Sample 5.xml")])
    c = compare_holdings(h, D(2019, 8, 31), D(2021, 7, 20))
    assert (c.positions_start, c.positions_end, c.added, c.removed) == (200, 200, 0, 0)
    assert len(c.warnings) == 2 and "not meaningful" in c.warnings[0]


def test_look_through_flow_times_weight_summed_across_funds() -> None:
    h = pl.concat([nport_holdings("NPORT.Dupree.xml"), nport_holdings("NPORT Sample 7.xml")])
    flows = pl.DataFrame({"series_id": ["S000012000", "S000013795"], "flow_usd": [1e6, -2e6]})
    lt = look_through(flows, h)
    dupree = summarize(nport_holdings("NPORT.Dupree.xml")).top10.row(0, named=True)
    row = lt.filter(pl.col("security") == dupree["security"]).row(0, named=True)
    assert row["flow_usd"] == pytest.approx(1e6 * dupree["weight"]) and row["funds"] == 1
    # the total equals each flow times its fund's weight sum
    total = 1e6 * 0.978358 - 2e6 * summarize(nport_holdings("NPORT Sample 7.xml")).weight_sum
    assert float(lt["flow_usd"].sum()) == pytest.approx(total, rel=1e-6)
    assert look_through(flows, h, as_of=D(2020, 1, 1)).height == 0  # no report known by then


def test_cli_holdings(tmp_path: Path) -> None:
    r = CliRunner()
    db = str(tmp_path / "h.duckdb")
    files = [str(SAMPLES / n) for n in ("NPORT.Dupree.xml", "N-PORT Sample 4.xml", "N-PORT Sample 5.xml")]
    assert r.invoke(app, ["import", *files, "--db", db]).exit_code == 0
    res = r.invoke(app, ["holdings", "S000012000", "--db", db, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["positions"] == 55
    res = r.invoke(
        app, ["holdings", "CIK0001161297", "--compare", "2019-08-31", "2021-07-20", "--db", db, "--json"]
    )
    assert res.exit_code == 0, res.output
    ch = json.loads(res.output)
    assert (ch["added"], ch["removed"], ch["kept"]) == (0, 0, 200) and len(ch["warnings"]) == 2
    res = r.invoke(app, ["holdings", "S000012000", "--date", "2020-01-31", "--db", db])
    assert res.exit_code == 3 and "report dates: 2022-12-31" in res.output
    res = r.invoke(app, ["holdings", "--db", db])
    assert res.exit_code == 0 and "CIK0001161297" in res.output
    res = r.invoke(app, ["holdings", "--look-through", "--db", db])
    assert res.exit_code == 3 and "both N-PORT holdings and a ticker" in res.output
