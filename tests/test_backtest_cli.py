"""`etfflow backtest` in-process: Markdown, HTML and JSON tearsheets, sweeps, presets and exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etfflow import pipeline
from etfflow.cli import app
from etfflow.store import Store

runner = CliRunner()
DEMO = ["--demo", "pressure", "--start", "2019-01-01", "--end", "2021-12-31", "--n-boot", "200"]


def run(*args: str) -> tuple[int, str]:
    res = runner.invoke(app, ["backtest", *args])
    return res.exit_code, res.output


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("bt") / "demo.duckdb"
    with Store(db) as store:
        pipeline.load_demo(store, "pressure", 7, start="2019-01-01", end="2021-12-31")
    return db


def test_markdown_tearsheet_from_a_demo_warehouse(demo_db: Path) -> None:
    code, out = run("percentile_rotation", "--window", "26", "--threshold", "0.1", "--db", str(demo_db))
    assert code == 0, out
    assert out.startswith("# Backtest: percentile_rotation")
    assert "SYNTHETIC" in out and "Not investment advice" in out
    for needle in (
        "Sharpe 95% CI (bootstrap)",
        "t-stat of mean daily return",
        "## Yearly returns",
        "`window=26`",
    ):
        assert needle in out
    row = re.search(r"\| Sharpe 95% CI \(bootstrap\) \| \[(-?\d+\.\d+), (-?\d+\.\d+)\]", out)
    assert row and float(row.group(1)) < float(row.group(2))


def test_html_tearsheet_is_self_contained_with_charts_and_a_sweep(tmp_path: Path) -> None:
    out_file = tmp_path / "ts.html"
    code, out = run(
        "huatai_weekly_10pct_1y",
        *DEMO,
        "--window",
        "26",
        "--sweep",
        "--grid",
        "window_years=0.5,1",
        "--grid",
        "threshold=0.1,0.2",
        "--grid",
        "freq=w,m",
        "--format",
        "html",
        "--out",
        str(out_file),
    )
    assert code == 0, out
    assert "Wrote" in out and "SYNTHETIC" in out
    html = out_file.read_text()
    charts = re.findall(r'<svg data-chart="([^"]+)"', html)
    assert {
        "equity-sectors",
        "drawdown-sectors",
        "yearly-sectors",
        "monthly-sectors",
        "sweep-sectors",
    } <= set(charts)
    assert "<script" not in html and not re.search(r"(src|href)\s*=", html)
    assert "SYNTHETIC" in html and "Not investment advice" in html
    # a grid varies only the axes it names: 2 windows x 2 thresholds x 2 freqs
    assert "Parameter sweep" in html and "8 parameter combinations" in html


def test_json_output_with_sweep_and_overrides() -> None:
    code, out = run(
        "percentile_rotation",
        *DEMO,
        "--window",
        "26",
        "--side",
        "long_short",
        "--threshold",
        "0.2",
        "--sweep",
        "--grid",
        "window_years=0.5",
        "--grid",
        "threshold=0.1,0.2",
        "--grid",
        "freq=w",
        "--grid",
        "side=long,long_short",
        "--json",
    )
    assert code == 0, out
    doc = json.loads(out)
    assert doc["synthetic"] is True and doc["label"].startswith("SYNTHETIC")
    assert "Not investment advice" in doc["disclaimer"]
    (r,) = doc["runs"]
    assert (
        r["params"]["side"] == "long_short" and r["params"]["window"] == 26 and r["params"]["upper"] is None
    )
    assert r["stats"]["sharpe_ci_low"] <= r["stats"]["sharpe"] <= r["stats"]["sharpe_ci_high"]
    assert "daily" not in r  # series only when written to a file
    assert len(r["sweep"]) == 4
    assert {x["side"] for x in r["sweep"]} == {"long", "long_short"}


def test_unexpected_flow_on_funds_and_per_asset_time_series() -> None:
    code, out = run(
        "xyz_contrarian",
        *DEMO,
        "--tickers",
        "SPY,XLK,XLE,TLT,GLD",
        "--param",
        "window=120",
        "--param",
        "min_obs=40",
        "--param",
        "regressors=premium,ret,flow_lag1",
        "--json",
    )
    assert code == 0, out
    (r,) = json.loads(out)["runs"]
    assert r["strategy"] == "unexpected_flow" and r["params"]["direction"] == "contrarian"
    assert r["params"]["regressors"] == ["premium", "ret", "flow_lag1"]
    assert r["assets"] == ["SPY", "XLK", "XLE", "TLT", "GLD"]
    code, out = run(
        "percentile_rotation", *DEMO, "--tickers", "XLK,XLE", "--per-asset", "--window", "26", "--json"
    )
    assert code == 0, out
    runs = json.loads(out)["runs"]
    assert [x["universe"] for x in runs] == ["XLK", "XLE"]
    assert all(x["assets"] == [x["universe"]] for x in runs)


def test_presets_listed_and_errors_have_exit_codes() -> None:
    code, out = run("percentile_rotation", "--list")
    assert code == 0 and "huatai_weekly_5pct_2y" in out and "xyz_informed" in out
    assert run("moon_strategy", *DEMO)[0] == 2  # usage mistake
    assert run("price_momentum", *DEMO, "--window", "20")[0] == 5  # no such parameter
    assert run("percentile_rotation", *DEMO, "--param", "threshold")[0] == 5
    assert run("percentile_rotation", *DEMO, "--format", "pdf")[0] == 2
    assert run("unexpected_flow", *DEMO, "--universe", "sectors")[0] == 5
