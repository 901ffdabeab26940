"""Date controls, totals, exports and usage errors of the table commands, end to end in-process."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow import pipeline
from etfflow.api import Table
from etfflow.cli import app
from etfflow.store import Store

runner = CliRunner()


def flat(out: str) -> str:
    """Output with table and panel borders and line wraps removed."""
    return " ".join(out.replace("│", " ").replace("┃", " ").split())


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def ivv_db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("ivv") / "ivv.duckdb"
    code, out = run("import", str(shared_data / "issuers" / "ishares" / "IVV_fund.xls"), "--db", str(db))
    assert code == 0, out
    return db


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("dates") / "demo.duckdb"
    with Store(db) as store:
        pipeline.load_demo(store, "pressure", 7, start="2019-01-01", end="2021-12-31")
    return db


def test_flow_total_leaves_out_the_ivv_bad_print(ivv_db: Path) -> None:
    """IVV 2000-10-02..12: 11.6M -> 111.6M -> 11.6M shares is a bad print; the one real flow is +138.95m."""
    args = ("flows", "IVV", "--start", "2000-10-02", "--end", "2000-10-12", "--db", str(ivv_db))
    code, out = run(*args, "--json")
    assert code == 0, out
    doc = json.loads(out)
    rows = doc["rows"]
    assert len(rows) == 9
    bad = [r for r in rows if "bad_print" in r["flags"]]
    assert [r["date"] for r in bad] == ["2000-10-05", "2000-10-06"]
    assert all(r["counted"] is False for r in bad)
    counted = sum(r["flow_usd"] for r in rows if r["counted"])
    assert doc["net_flow_usd"] == pytest.approx(138_946_364.0, abs=0.5)
    assert doc["net_flow_usd"] == pytest.approx(counted)
    # negative control: summing every row (bad prints included) gives the old, wrong +410.61m
    assert sum(r["flow_usd"] for r in rows) == pytest.approx(410.61e6, abs=0.01e6)
    code, out = run(*args)
    assert code == 0, out
    assert "+138.95m" in out and "+410.61m" not in out
    assert "2000-10-02 .. 2000-10-12" in out


def test_weekly_table_never_ends_after_end_and_marks_partial_and_unknown(ivv_db: Path) -> None:
    code, out = run(
        "flows",
        "IVV",
        "--freq",
        "w",
        "--start",
        "2000-09-20",
        "--end",
        "2000-12-12",
        "--db",
        str(ivv_db),
        "--json",
    )
    assert code == 0, out
    doc = json.loads(out)
    rows = doc["rows"]
    assert max(r["date"] for r in rows) == "2000-12-12"  # Tuesday: the week is cut, not labelled Friday
    first, last = rows[0], rows[-1]
    assert first["partial"] and first["sessions"] == 3 and first["period_sessions"] == 5  # Wed..Fri
    assert last["partial"] and last["period_end"] == "2000-12-15" and last["sessions"] == 2
    assert sum(r["partial"] for r in rows) == doc["partial_periods"] == 2
    bad_week = next(r for r in rows if r["period_end"] == "2000-10-06")
    assert bad_week["unknown_days"] == 2 and "bad_print" in bad_week["flags"]
    assert doc["periods_with_unknown_flows"] == 1
    assert sum(r["flow_usd"] for r in rows) == pytest.approx(doc["net_flow_usd"])
    code, out = run(
        "flows", "IVV", "--freq", "w", "--start", "2000-09-20", "--end", "2000-12-12", "--db", str(ivv_db)
    )
    assert code == 0 and "partial" in out and "not counted" in flat(out)


def test_range_without_data_says_so(ivv_db: Path) -> None:
    code, out = run("flows", "IVV", "--start", "2023-01-01", "--end", "2023-06-30", "--db", str(ivv_db))
    assert code == 3
    assert "no flows for IVV between 2023-01-01 and 2023-06-30" in out and "2022-05-10" in out
    assert "import" not in out
    code, out = run("flows", "IVV", "--start", "2001-01-05", "--end", "2001-01-01", "--db", str(ivv_db))
    assert code == 2 and "after --end" in out
    code, out = run("top", "--start", "2024-01-01", "--db", str(ivv_db))
    assert code == 3 and "no flows between 2024-01-01" in out and "import" not in out


def test_several_tickers_each_with_its_total(demo_db: Path) -> None:
    code, out = run(
        "flows", "SPY", "QQQ", "IWM", "--freq", "m", "--start", "2021-01-01", "--db", str(demo_db), "--json"
    )
    assert code == 0, out
    doc = json.loads(out)
    assert doc["label"].startswith("SYNTHETIC")
    assert {r["ticker"] for r in doc["rows"]} == {"SPY", "QQQ", "IWM"}
    for t, total in doc["net_flow_usd_by_fund"].items():
        assert total == pytest.approx(sum(r["flow_usd"] or 0.0 for r in doc["rows"] if r["ticker"] == t))
    assert doc["net_flow_usd"] == pytest.approx(sum(doc["net_flow_usd_by_fund"].values()))
    code, out = run("flows", "SPY", "NOPE", "--db", str(demo_db))
    assert code == 0 and "no flows for NOPE in the warehouse" in out


def test_top_and_sectors_as_of_are_point_in_time(demo_db: Path) -> None:
    # the demo has a one-session lag: as of Friday 2020-06-12 the newest known trade date is Thursday
    code, out = run("top", "--as-of", "2020-06-12", "--window", "5", "--db", str(demo_db), "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["end"] == "2020-06-11" and doc["start"] == "2020-06-05" and doc["as_of"] == "2020-06-12"
    assert all(r["end"] <= "2020-06-11" for r in doc["inflows"] + doc["outflows"])
    code, out = run("sectors", "--start", "2020-03-02", "--end", "2020-03-31", "--db", str(demo_db), "--json")
    assert code == 0, out
    s = json.loads(out)
    assert (s["start"], s["end"]) == ("2020-03-02", "2020-03-31")
    assert s["net_flow_usd"] == pytest.approx(sum(r["flow_usd"] for r in s["rows"]))
    assert s["cd_bands"] == {"cyclical": 0.65, "defensive": 0.4}
    code, out = run("sectors", "--start", "2020-03-02", "--end", "2020-03-31", "--db", str(demo_db))
    assert code == 0 and "on a 0-1 scale" in out and "2020-03-02 .. 2020-03-31" in out
    assert "Net flow of these 11 sectors" in out
    code, out = run("top", "--as-of", "2024-06-30", "--db", str(demo_db))
    assert code == 0 and "warning: as of 2024-06-30" in out and "the figures stop at 2021-12-30" in out
    code, out = run("quality", "--start", "2019-01-01", "--end", "2019-01-31", "--db", str(demo_db), "--json")
    assert code == 0, out
    q = json.loads(out)
    assert all("2019-01-01" <= r["first"] <= r["last"] <= "2019-01-31" for r in q["flags"])


def test_all_rows_and_exports(demo_db: Path, tmp_path: Path) -> None:
    csv, pq = tmp_path / "top.csv", tmp_path / "top.parquet"
    code, out = run("top", "--all", "--csv", str(csv), "--parquet", str(pq), "--db", str(demo_db), "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert len(doc["rows"]) == doc["funds_ranked"] > 20  # every fund, not the top 10
    back = pl.read_parquet(pq)
    assert back.height == len(doc["rows"])
    assert back["ticker"].to_list() == [r["ticker"] for r in doc["rows"]]
    assert pl.read_csv(csv)["flow_usd"].to_list() == pytest.approx(back["flow_usd"].to_list())
    code, out = run("flows", "XLK", "--db", str(demo_db))
    assert code == 0 and "(last 40 of 757 rows; --all shows" in flat(out)
    code, out = run("flows", "XLK", "--all", "--db", str(demo_db))
    assert code == 0 and "last 40" not in out


def test_csv_cells_never_run_as_formulas(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "name": ["=HYPERLINK(1)", "+1x", "-x", "@SUM(A1)", "plain", None],
            "flow_usd": [-1.0, 2.0, -3.0, 4.0, 5.0, 6.0],
            "flags": [["bad_print"], [], ["=x"], [], [], []],
        }
    )
    out = Table(frame, "t").to_csv(tmp_path / "t.csv")
    lines = out.read_text().splitlines()
    assert lines[1:5] == ["'=HYPERLINK(1),-1.0,bad_print", "'+1x,2.0,", "'-x,-3.0,'=x", "'@SUM(A1),4.0,"]
    back = pl.read_csv(out)
    assert back["flow_usd"].to_list() == frame["flow_usd"].to_list()  # numbers stay numbers


def test_demo_warehouse_is_used_and_said_when_no_other_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_db: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("ETFFLOW_DB", raising=False)
    code, out = run("top")
    assert code == 4 and "no warehouse at" in out and "etfflow demo" in out
    (tmp_path / ".etfflow").mkdir()
    (tmp_path / ".etfflow" / "demo.duckdb").write_bytes(demo_db.read_bytes())
    code, out = run("top", "--window", "20", "--by", "pct")
    assert code == 0, out
    assert "using the SYNTHETIC demo warehouse" in out and "SYNTHETIC demo data" in out
    real = tmp_path / ".etfflow" / "etfflow.duckdb"
    Store(real).close()  # once a real warehouse exists it is the default again
    code, out = run("top")
    assert code == 3 and "using the SYNTHETIC demo" not in out


def test_version_and_help_without_bool_tags() -> None:
    from etfflow import __version__

    code, out = run("--version")
    assert code == 0 and out.strip() == f"etfflow {__version__}"
    code, out = run("top", "--help")
    assert code == 0 and "--as-of" in out and "--csv" in out
    line = next(x for x in out.splitlines() if "--all" in x)
    assert "<bool>" not in line


def test_backtest_list_and_usage_errors() -> None:
    code, out = run("backtest", "--list")
    assert code == 0 and "huatai_weekly_5pct_2y" in out and "percentile_rotation" in out
    code, out = run("backtest", "huatai_weekly_5pct_2", "--demo", "null")
    assert code == 2
    assert "did you mean 'huatai_weekly_5pct_2y'" in flat(out) and "xyz_informed" in flat(out)
    code, out = run("backtest", "percentile_rotation", "--sweep", "--grid", "windw=52,104", "--demo", "null")
    assert code == 2 and "did you mean 'window'" in flat(out)
    code, out = run("backtest")
    assert code == 2 and "--list" in out


def test_grid_keys_are_option_names_and_only_given_axes_vary(demo_db: Path) -> None:
    code, out = run(
        "backtest",
        "percentile_rotation",
        "--freq",
        "w",
        "--grid",
        "threshold=0.05,0.1,0.2,0.5",
        "--grid",
        "window=26,39,52",
        "--n-boot",
        "50",
        "--db",
        str(demo_db),
        "--json",
    )
    assert code == 0, out
    doc = json.loads(out)
    (r,) = doc["runs"]
    sweep = r["sweep"]
    assert len(sweep) == 12  # 4 x 3, nothing else varies
    assert sorted({x["window"] for x in sweep}) == [26, 39, 52]  # weeks, as --window counts them
    assert {x["freq"] for x in sweep} == {"w"} and {x["side"] for x in sweep} == {"long"}
    assert doc["return_basis"].startswith("NAV total return")
    assert dt.date.fromisoformat(r["end"]) <= dt.date(2021, 12, 31)


def test_tearsheet_notes_count_only_its_funds_and_state_the_return_basis(
    ivv_db: Path, shared_data: Path, tmp_path: Path
) -> None:
    db = tmp_path / "two.duckdb"
    db.write_bytes(ivv_db.read_bytes())
    gld = shared_data / "issuers" / "ssga" / "GLD_US_archive_EN.csv"
    assert run("import", str(gld), "--db", str(db))[0] == 0
    code, out = run(
        "backtest",
        "huatai_weekly_5pct_2y",
        "--tickers",
        "IVV",
        "--per-asset",
        "--n-boot",
        "20",
        "--db",
        str(db),
        "--json",
    )
    assert code == 0, out
    doc = json.loads(out)
    (r,) = doc["runs"]
    # IVV's own left-out flows: the two bad-print days and the first observation; GLD's are not counted
    assert "3 daily flows left out (bad print, no price or first observation)" in r["notes"]
    assert doc["return_basis"].startswith("NAV total return: NAV changes plus")  # IVV states its dividends


def test_backtest_markdown_is_rendered_on_a_terminal(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from etfflow.cli.app import console

    args = ("backtest", "huatai_weekly_10pct_1y", "--window", "26", "--n-boot", "20", "--db", str(demo_db))
    code, raw = run(*args)
    assert code == 0 and raw.startswith("# Backtest") and "| Metric |" in raw  # piped: plain Markdown
    monkeypatch.setattr(console, "_force_terminal", True)
    code, shown = run(*args)
    assert code == 0, shown
    assert (
        "Backtest: percentile_rotation" in shown and "# Backtest" not in shown and "| Metric |" not in shown
    )
