"""The CLI end to end, in-process: demo, import, flows, top, sectors, quality; JSON and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etfflow.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("cli") / "demo.duckdb"
    code, out = run("demo", "--db", str(db), "--seed", "11")
    assert code == 0, out
    assert "SYNTHETIC" in out
    return db


def test_demo_json_is_labelled_and_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.duckdb", tmp_path / "b.duckdb"
    code, out = run("demo", "--db", str(a), "--preset", "null", "--seed", "5", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["synthetic"] is True and doc["label"].startswith("SYNTHETIC")
    assert doc["preset"] == "null" and doc["funds"] >= 100
    code2, out2 = run("demo", "--db", str(b), "--preset", "null", "--seed", "5", "--json")
    assert code2 == 0, out2
    doc2 = json.loads(out2)
    assert doc["top_inflows"] == doc2["top_inflows"] and doc["sectors"] == doc2["sectors"]


def test_flows_top_sectors_quality(demo_db: Path) -> None:
    code, out = run("flows", "SPY", "--freq", "m", "--db", str(demo_db), "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["label"].startswith("SYNTHETIC") and doc["freq"] == "m"
    # a month without a counted day has an unknown (null) flow, never 0
    assert abs(sum(r["flow_usd"] or 0.0 for r in doc["rows"]) - doc["net_flow_usd"]) < 1.0
    code, out = run(
        "top", "--category", "sector", "--window", "20", "--by", "pct", "--db", str(demo_db), "--json"
    )
    assert code == 0, out
    doc = json.loads(out)
    assert all(r["category"] == "sector" for r in doc["inflows"] + doc["outflows"])
    pcts = [r["flow_pct_aum"] for r in doc["inflows"]]
    assert pcts == sorted(pcts, reverse=True)
    code, out = run("sectors", "--db", str(demo_db), "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["sectors"] == 11 and 0 <= doc["breadth"] <= 1
    code, out = run("quality", "--db", str(demo_db), "--json")
    assert code == 0, out
    flags = {r["flag"]: r for r in json.loads(out)["flags"]}
    assert {"split", "gap", "bad_print"} <= set(flags)
    # the human-readable forms render too
    for args in (("flows", "XLK"), ("top",), ("sectors",), ("quality", "XLK")):
        code, out = run(*args, "--db", str(demo_db))
        assert code == 0, out
        assert "SYNTHETIC" in out


def test_import_then_flows_on_real_file(shared_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "real.duckdb"
    gld = shared_data / "issuers" / "ssga" / "GLD_US_archive_EN.csv"
    code, out = run("import", str(gld), "--db", str(db), "--json")
    assert code == 0, out
    (res,) = json.loads(out)
    assert res["format"] == "ssga_gld" and res["added"] == 5159 and res["dropped"]["holiday_rows"] == 175
    code, out = run("import", str(gld), "--db", str(db))
    assert code == 0 and "already imported: nothing changed" in out
    code, out = run(
        "flows", "GLD", "--freq", "w", "--start", "2013-01-01", "--end", "2013-12-31", "--db", str(db)
    )
    assert code == 0, out
    assert "SYNTHETIC" not in out and "Net flow over the selection" in out


def test_exit_codes(demo_db: Path, tmp_path: Path) -> None:
    code, out = run("flows", "NOPE", "--db", str(demo_db))
    assert code == 3 and "no flows for NOPE" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("date,ticker,shares_outstanding\n2024-01-02,ABC,12x\n")
    code, out = run("import", str(bad), "--db", str(tmp_path / "x.duckdb"))
    assert code == 1 and "row 2" in out and "shares_outstanding" in out
    code, out = run("import", str(tmp_path / "missing.csv"), "--db", str(tmp_path / "x.duckdb"))
    assert code == 3
    code, out = run("flows", "SPY", "--db", str(tmp_path / "none.duckdb"))
    assert code == 4 and "no warehouse" in out
    # the demo warehouse refuses real files, so synthetic and real rows never mix
    code, out = run("import", str(bad), "--db", str(demo_db))
    assert code == 5 and "synthetic demo warehouse" in out
    code, out = run("flows", "SPY", "--freq", "q", "--db", str(demo_db))
    assert code == 2


def test_help_texts_show_no_type_tags() -> None:
    """Every command's --help (and the group's) lists its flags without Typer's "<bool>" type tag."""
    import typer.main

    names = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {"flows", "top", "report", "backtest", "research", "signals"} <= set(names)
    for args in [["--help"], *[[n, "--help"] for n in names]]:
        res = runner.invoke(app, args, env={"COLUMNS": "160"})
        assert res.exit_code == 0, (args, res.output)
        assert "--help" in res.output
        assert "<bool>" not in res.output, args
