"""Reconciliation against N-PORT on hand-built cases: an exact month, a flagged mismatch, partial months.

Everything here is written in the test (there is no recorded pair of daily flows and N-PORT months for
one fund): a fund's daily shares and NAV, the N-PORT months they should match, a vendor export.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow import calendar, pipeline
from etfflow.cli import app
from etfflow.errors import ConfigError, ParseError, ValidationError
from etfflow.flows.daily import compute_flows
from etfflow.reconcile import daily_monthly, reconcile, status_counts, vendor_monthly
from etfflow.sources.vendor_flows import read_vendor_flows
from etfflow.store import Store

D = dt.date


def panel(ticker: str, start: str, end: str, *, skip: tuple[dt.date, ...] = ()) -> pl.DataFrame:
    """Daily shares and NAV: shares move by whole 5,000-share units, NAV drifts (so flows are not x10)."""
    days = [d.astype(dt.date) for d in calendar.sessions(start, end) if d.astype(dt.date) not in skip]
    n = len(days)
    units = [((i * 7919) % 7) - 3 for i in range(n)]
    shares = 1_000_000 + 5_000 * np.cumsum([0, *units[1:]])
    nav = [50.0 + 0.25 * ((i * 31) % 9) for i in range(n)]
    return pl.DataFrame(
        {
            "date": days,
            "ticker": [ticker] * n,
            "shares_outstanding": shares.astype(float),
            "nav": nav,
            "so_lag": 0,
        }
    )


def month_sum(p: pl.DataFrame, month_end: dt.date) -> float:
    """By hand: sum over the month's sessions of (shares_t - shares_prev) x nav_t."""
    rows = p.sort("date").rows(named=True)
    total = 0.0
    for prev, cur in itertools.pairwise(rows):
        if cur["date"].year == month_end.year and cur["date"].month == month_end.month:
            total += (cur["shares_outstanding"] - prev["shares_outstanding"]) * cur["nav"]
    return total


def nport_row(ticker: str, month_end: dt.date, net: float | None) -> dict[str, object]:
    return {"ticker": ticker, "series_id": f"S{ticker}", "month_end": month_end, "net_flow": net}


@pytest.fixture(scope="module")
def case() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """AAA: 2024-02-29 .. 2024-05-15, one missing count (2024-03-13); BBB starts mid-March."""
    aaa = panel("AAA", "2024-02-29", "2024-05-15", skip=(D(2024, 3, 13),))
    bbb = panel("BBB", "2024-03-11", "2024-04-30")
    daily = pl.concat([aaa, bbb])
    march, april = month_sum(aaa, D(2024, 3, 31)), month_sum(aaa, D(2024, 4, 30))
    nport = pl.DataFrame(
        [
            nport_row("AAA", D(2024, 3, 31), march),  # exactly the daily sum
            nport_row("AAA", D(2024, 4, 30), april + 5_000_000.0),  # 5m more than the daily sum: flagged
            nport_row("AAA", D(2024, 6, 30), 1_000_000.0),  # no daily rows in June
            nport_row("BBB", D(2024, 3, 31), month_sum(bbb, D(2024, 3, 31))),
            nport_row("BBB", D(2024, 4, 30), None),  # N/A amounts
        ]
    )
    return daily, nport, aaa


def test_exact_month_and_flagged_mismatch(case: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> None:
    """March sums exactly to N-PORT (its one-session gap is covered by the GAP flow); April is 5m off."""
    daily, nport, aaa = case
    monthly = daily_monthly(compute_flows(daily))
    mar = monthly.filter((pl.col("ticker") == "AAA") & (pl.col("month_end") == D(2024, 3, 31))).row(
        0, named=True
    )
    assert mar["sessions"] == 20 and mar["covered_sessions"] == 20 and mar["complete"]  # Good Friday closed
    r = reconcile(monthly, nport)
    got = {(x["ticker"], x["month_end"]): x for x in r.rows(named=True)}
    m = got[("AAA", D(2024, 3, 31))]
    assert m["status"] == "ok" and m["diff_usd"] == pytest.approx(0.0, abs=1e-6)
    assert m["left_usd"] == pytest.approx(month_sum(aaa, D(2024, 3, 31)))
    a = got[("AAA", D(2024, 4, 30))]
    assert a["status"] == "mismatch" and a["diff_usd"] == pytest.approx(-5_000_000.0)
    assert a["rel_diff"] == pytest.approx(-5e6 / abs(a["right_usd"]))
    assert got[("AAA", D(2024, 5, 31))]["status"] == "missing_nport"  # daily May, no N-PORT May
    assert got[("AAA", D(2024, 6, 30))]["status"] == "missing_daily"
    assert got[("BBB", D(2024, 3, 31))]["status"] == "partial_month"  # starts 2024-03-11
    assert got[("BBB", D(2024, 4, 30))]["status"] == "missing_nport"  # N/A is not zero
    assert set(r["comparison"].to_list()) == {"daily_vs_nport"}
    assert r["series_id"].to_list()[0] == "SAAA"


def test_tolerances_decide(case: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> None:
    """The 5m April gap passes with abs_tol 5m, or with a relative tolerance above 5m / |N-PORT|."""
    daily, nport, _ = case
    monthly = daily_monthly(compute_flows(daily))

    def april(**kw: float) -> str:
        r = reconcile(monthly, nport, **kw)
        return str(
            r.filter((pl.col("ticker") == "AAA") & (pl.col("month_end") == D(2024, 4, 30)))["status"][0]
        )

    assert april(abs_tol=5_000_001.0) == "ok"
    assert april(abs_tol=4_999_000.0, rel_tol=0.0) == "mismatch"
    right = nport.filter(pl.col("month_end") == D(2024, 4, 30))["net_flow"][0]
    assert april(abs_tol=0.0, rel_tol=5e6 / abs(right) * 1.001) == "ok"
    with pytest.raises(ValueError, match="tolerances"):
        reconcile(monthly, nport, abs_tol=-1.0)


def test_gap_reaching_into_the_previous_month_is_partial() -> None:
    """No count on February's last session: March 1's flow spans Feb 29 and Mar 1, so both are partial.

    A gap inside a month (March 13 above) keeps the month exact; one across a month end cannot be split.
    """
    p = panel("CCC", "2024-01-31", "2024-04-30", skip=(D(2024, 2, 29),))
    monthly = daily_monthly(compute_flows(p))
    by_month = {r["month_end"]: r for r in monthly.rows(named=True)}
    assert by_month[D(2024, 3, 31)]["spans_previous"] and not by_month[D(2024, 3, 31)]["complete"]
    assert by_month[D(2024, 3, 31)]["covered_sessions"] == 20
    assert not by_month[D(2024, 2, 29)]["complete"] and by_month[D(2024, 2, 29)]["covered_sessions"] == 19
    assert by_month[D(2024, 4, 30)]["complete"]


def test_vendor_flows_against_both(case: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]) -> None:
    """A vendor equal to the daily flows: ok against them; against N-PORT it meets the same 5m gap."""
    daily, nport, _ = case
    flows = compute_flows(daily)
    vend = flows.filter(
        (pl.col("ticker") == "AAA") & pl.col("date").is_between(D(2024, 3, 1), D(2024, 4, 30))
    )
    vend = vend.select("date", "ticker", pl.lit("etf.com").alias("source"), "flow_usd").drop_nulls()
    r = reconcile(daily_monthly(flows), nport, vendor_monthly(vend))
    counts = status_counts(r)
    assert counts["daily_vs_vendor"] == {"ok": 2}
    vn = r.filter(pl.col("comparison") == "vendor_vs_nport").sort("month_end")
    assert vn["status"].to_list() == ["ok", "mismatch"]
    assert vn["vendor"].unique().to_list() == ["etf.com"]


def test_store_glue_and_cli(case: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], tmp_path: Path) -> None:
    """Through the warehouse: `import-flows` a vendor CSV ($mm), then `etfflow reconcile --json`."""
    daily, nport, aaa = case
    db = tmp_path / "w.duckdb"
    with Store(db) as store:
        store.upsert("daily", daily.with_columns(pl.lit("csv").alias("source")))
        pipeline.refresh_flows(store)
        full = nport.with_columns(pl.lit(None, dtype=pl.Float64).alias("sales"))
        store.upsert("nport_monthly", full)
    march = month_sum(aaa, D(2024, 3, 31)) / 1e6
    csv = tmp_path / "etfcom.csv"
    # a vendor that lists the month's first and last session (zero on the first) covers the month
    csv.write_text(f"Date,Ticker,Net Flows ($mm)\n03/01/2024,AAA,0\n03/28/2024,AAA,{march:.6f}\n")
    res = CliRunner().invoke(
        app, ["import-flows", str(csv), "--source", "etf.com", "--db", str(db), "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["added"] == 2
    res = CliRunner().invoke(app, ["reconcile", "AAA", "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["counts"]["daily_vs_nport"] == {"ok": 1, "mismatch": 1, "missing_daily": 1, "missing_nport": 1}
    assert doc["counts"]["vendor_vs_nport"] == {"ok": 1}
    res = CliRunner().invoke(app, ["reconcile", "AAA", "--strict", "--problems", "--db", str(db)])
    assert res.exit_code == 1 and "mismatch" in res.output


def test_vendor_csv_reader(tmp_path: Path) -> None:
    """Header aliases, accounting negatives, $ and commas, units from the header or the option."""
    f = tmp_path / "v.csv"
    f.write_text(
        'As Of,Symbol,Fund Flows\n2024-01-02,spy,"(1,234.5)"\n2024-01-03,SPY,$12\n2024-01-03,SPY,$12\n'
    )
    b = read_vendor_flows(f, units="k")
    t = b.tables["vendor_flows"]
    assert t["flow_usd"].to_list() == [-1_234_500.0, 12_000.0]
    assert t["ticker"].to_list() == ["SPY", "SPY"] and b.dropped == {"duplicate_rows": 1}
    one = tmp_path / "one.csv"
    one.write_text("Date,Net Flows ($mm)\n01/02/2024,1.5\n01/03/2024,\n")
    b = read_vendor_flows(one, ticker="qqq", source="etf.com")
    assert b.tables["vendor_flows"]["flow_usd"].to_list() == [1_500_000.0]
    assert b.dropped == {"missing_flow": 1} and "mm" in b.notes[0]
    with pytest.raises(ParseError, match="no ticker column"):
        read_vendor_flows(one)
    with pytest.raises(ConfigError, match="unknown units"):
        read_vendor_flows(one, ticker="Q", units="lakh")
    clash = tmp_path / "clash.csv"
    clash.write_text("date,ticker,flow\n2024-01-02,SPY,1\n2024-01-02,SPY,2\n")
    with pytest.raises(ValidationError, match=r"row 3.*appears again"):
        read_vendor_flows(clash)
