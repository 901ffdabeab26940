"""Daily reconciliation: the alignment (vendor date offset, NAV basis) is found per fund and year.

Hand-built case (SYNTHETIC): a fund whose NAV cycles 100 / 110 / 95 and whose shares change in a
5-session cycle; a vendor that in 2023 stamps flows one session late at the previous NAV and in 2024
on the trade date at that day's NAV, with one 2024 day off by $5M. Real case: iShares' IVV workbook
against etf.com's IVV flows, whose alignment changes over the years.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow import calendar
from etfflow.cli import app
from etfflow.reconcile_daily import alignment_changes, reconcile_daily
from etfflow.schema import validate
from etfflow.store import Store

D = dt.date
CYCLE = np.array([1e6, -2e6, 0.0, 3e6, 5e5])


def case() -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    s = calendar.sessions("2022-12-30", "2024-12-31")
    n = len(s)
    nav = np.array([100.0, 110.0, 95.0])[np.arange(n) % 3]
    dso = CYCLE[np.arange(n) % 5]
    dso[0] = np.nan  # first observation: no change known
    flows = validate(
        pl.DataFrame(
            {
                "date": s.astype("datetime64[D]"),
                "ticker": "AAA",
                "flow_usd": dso * nav,
                "shares_change": dso,
                "nav_used": nav,
                "flags": pl.Series(np.zeros(n, dtype=np.uint32)),
                "gap_sessions": pl.Series(np.zeros(n, dtype=np.int32)),
            }
        ).with_columns(pl.col("flow_usd", "shares_change").fill_nan(None)),
        "flows_daily",
    )
    rows = []
    for i in range(1, n - 1):
        year = int(str(s[i])[:4])
        if year == 2023 and str(s[i + 1]) < "2024":  # next session, at the previous session's NAV
            rows.append((s[i + 1], dso[i] * nav[i - 1]))
        elif year == 2024:
            rows.append((s[i], dso[i] * nav[i] + (5e6 if str(s[i]) == "2024-06-03" else 0.0)))
    vendor = pl.DataFrame(
        {
            "date": [r[0].astype("datetime64[D]").astype(dt.date) for r in rows],
            "ticker": "AAA",
            "source": "etfcom",
            "flow_usd": [r[1] for r in rows],
        }
    )
    return flows, validate(vendor, "vendor_flows"), s, dso, nav


def test_finds_each_years_alignment() -> None:
    flows, vendor, s, dso, nav = case()
    r = reconcile_daily(flows, vendor)
    y = {row["year"]: row for row in r.years.iter_rows(named=True)}
    assert (y[2023]["offset"], y[2023]["nav_basis"]) == (1, "t-1")
    assert (y[2024]["offset"], y[2024]["nav_basis"]) == (0, "t")
    assert y[2024]["days"] == 251 and y[2024]["matched"] == 250  # 2024-12-31 has no vendor row
    assert y[2024]["diff_usd"] == pytest.approx(-5e6)  # computed - vendor over the year
    # 2023's one miss is the switch itself: its last trade date meets 2024-01-02's same-day flow
    assert y[2023]["days"] == 250 and y[2023]["matched"] == 249
    got = [(w["trade_date"], w["vendor_date"], w["diff_usd"]) for w in r.worst.iter_rows(named=True)]
    i = int(np.searchsorted(s, np.datetime64("2023-12-29")))
    assert got == [
        (D(2023, 12, 29), D(2024, 1, 2), pytest.approx(dso[i] * nav[i - 1] - dso[i + 1] * nav[i + 1])),
        (D(2024, 6, 3), D(2024, 6, 3), pytest.approx(-5e6)),
    ]
    assert alignment_changes(r.years) == [
        "AAA (etfcom): from 2024 the vendor's dates fit offset +0, NAV t (before: offset +1, NAV t-1)"
    ]
    # the losing alignments are reported too, best first
    alts = r.rows()[0]["alignments"]
    assert (alts[0]["offset"], alts[0]["nav_basis"]) == (1, "t-1") and alts[1]["match_share"] < 0.9


def test_negative_control_and_tolerance() -> None:
    """Shuffled vendor values match on the zero days only; a tolerance of $1bn matches everything."""
    flows, vendor, *_ = case()
    rng = np.random.default_rng(3)
    shuffled = vendor.with_columns(pl.Series("flow_usd", rng.permutation(vendor["flow_usd"].to_numpy())))
    r = reconcile_daily(flows, shuffled)
    assert r.years["match_share"].max() < 0.5
    loose = reconcile_daily(flows, vendor, abs_tol=1e9)
    assert loose.years["match_share"].min() == 1.0


@pytest.fixture(scope="module")
def ivv_db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("ivv")
    src = shared_data / "vendor" / "etfcom" / "etfcom_daily_flows_641_long.csv.gz"
    ivv = pl.read_csv(src, infer_schema=False).filter(pl.col("ticker") == "IVV")
    sub = tmp / "etfcom_ivv.csv.gz"
    sub.write_bytes(gzip.compress(ivv.write_csv().encode()))
    db = tmp / "w.duckdb"
    wb = shared_data / "issuers" / "ishares" / "IVV_fund.xls"
    res = CliRunner().invoke(app, ["import", str(wb), str(sub), "--db", str(db)])
    assert res.exit_code == 0, res.output
    return db


def test_ivv_alignment_changes_over_the_years(ivv_db: Path) -> None:
    """etf.com vs the iShares workbook (trade date = workbook date - 1): etf.com dates IVV's flows on the
    trade date in 2000-01 and 2009-13, on the next session (the day iShares publishes the count) in
    2002-08 (valued at that session's NAV) and 2014-22 (at the trade date's NAV); 2016-22 match to the
    dollar."""
    res = CliRunner().invoke(app, ["reconcile", "--daily", "IVV", "--db", str(ivv_db), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    rows = {r["year"]: r for r in doc["rows"]}
    assert sorted(rows) == list(range(2000, 2023))
    offsets = {y: r["offset"] for y, r in rows.items()}
    assert [y for y, o in offsets.items() if o == 0] == [2000, 2001, 2009, 2010, 2011, 2012, 2013]
    assert {y for y, r in rows.items() if r["nav_basis"] == "t+1"} == {2001, *range(2002, 2009)}
    assert {(r["offset"], r["nav_basis"]) for y, r in rows.items() if y >= 2014} == {(1, "t")}
    for y in range(2016, 2023):
        assert rows[y]["match_share"] == 1.0 and abs(rows[y]["diff_usd"]) < 5_000
    assert rows[2010]["days"] == 252 and rows[2010]["match_share"] == 1.0
    assert rows[2013]["match_share"] < 0.75 < rows[2013]["any_match_share"]  # changed within 2013
    assert [c[19:23] for c in doc["alignment_changes"]] == ["2001", "2002", "2009", "2014"]
    res = CliRunner().invoke(app, ["reconcile", "--daily", "--db", str(ivv_db)])
    assert res.exit_code == 0 and "alignment change: IVV" in res.output


def test_nothing_to_reconcile_daily(tmp_path: Path) -> None:
    db = tmp_path / "v.duckdb"
    f = tmp_path / "v.csv"
    f.write_text("ticker,date,flow_usd_mn\nAAA,2024-03-01,1.5\n")
    assert CliRunner().invoke(app, ["import", str(f), "--db", str(db)]).exit_code == 0
    res = CliRunner().invoke(app, ["reconcile", "--daily", "--db", str(db)])
    assert res.exit_code == 3 and "nothing to reconcile daily" in res.output


def test_monthly_vendor_vs_nport_without_daily_flows(tmp_path: Path) -> None:
    """SYNTHETIC amounts: vendor sums 4.0m (March) and -2.0m (April) against N-PORT 4.0m and -5.0m."""
    db = tmp_path / "v.duckdb"
    f = tmp_path / "v.csv"
    f.write_text(
        "ticker,date,flow_usd_mn\nAAA,2024-03-01,1.5\nAAA,2024-03-28,2.5\nAAA,2024-04-01,1\nAAA,2024-04-30,-3\n"
    )
    assert CliRunner().invoke(app, ["import", str(f), "--db", str(db)]).exit_code == 0
    with Store(db) as store:
        store.upsert(
            "nport_monthly",
            pl.DataFrame(
                {
                    "series_id": ["S000000001"] * 2,
                    "ticker": ["AAA"] * 2,
                    "month_end": [D(2024, 3, 31), D(2024, 4, 30)],
                    "net_flow": [4e6, -5e6],
                }
            ),
        )
        assert store.counts()["flows_daily"] == 0
    res = CliRunner().invoke(app, ["reconcile", "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["counts"] == {"vendor_vs_nport": {"ok": 1, "mismatch": 1}}
    diffs = [r["diff_usd"] for r in doc["rows"]]
    assert diffs == [pytest.approx(0.0), pytest.approx(3e6)]
    # days the vendor lists / NYSE sessions in the month
    assert [(r["covered_sessions"], r["sessions"]) for r in doc["rows"]] == [(2, 20), (2, 22)]
