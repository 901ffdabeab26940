"""The dated flow report: golden Markdown on the demo market, JSON traceability, CLI, missing data."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.report.build import FlowReport, build_report, report_from_store
from etfflow.report.html import render_html
from etfflow.report.markdown import render_markdown
from etfflow.signals.common import fmt_pct, fmt_usd
from etfflow.store import Store
from etfflow.universe import load_taxonomy
from report_support import GOLDEN_AS_OF, demo_warehouse

GOLDEN = Path(__file__).parent / "golden" / "report_demo.md"
AS_OF = dt.date.fromisoformat(GOLDEN_AS_OF)


@pytest.fixture(scope="session")
def demo_db(request: pytest.FixtureRequest) -> Path:
    return demo_warehouse(request.config)


@pytest.fixture(scope="session")
def demo_report(demo_db: Path) -> FlowReport:
    with Store(demo_db, read_only=True) as store:
        return report_from_store(store, as_of=AS_OF, window=5)


def test_golden_markdown(demo_report: FlowReport) -> None:
    """Regenerate with ETFFLOW_UPDATE_GOLDEN=1 after a deliberate change, then read the diff."""
    text = render_markdown(demo_report)
    if os.environ.get("ETFFLOW_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert GOLDEN.exists(), "no golden file: run with ETFFLOW_UPDATE_GOLDEN=1 once"
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_report_is_deterministic(demo_db: Path, demo_report: FlowReport) -> None:
    with Store(demo_db, read_only=True) as store:
        again = report_from_store(store, as_of=AS_OF, window=5)
    assert render_markdown(again) == render_markdown(demo_report)
    assert again.as_dict() == demo_report.as_dict()


def test_outline_and_labels(demo_report: FlowReport) -> None:
    md = render_markdown(demo_report)
    heads = re.findall(r"^## (.+)$", md, flags=re.M)
    assert heads == [
        "Broad Market Flows",
        "Sector Rotation",
        "Style Factor Flows",
        "Fixed Income Flows",
        "Thematic Highlights",
        "Fund Flow Signals",
        "Composite Signal",
        "Investment Implication",
        "Notes",
    ]
    assert md.startswith(f"# ETF Flow Report: {demo_report.start} to {demo_report.end}\n")
    title_area = md.split("## Broad Market Flows")[0]
    notes = md.split("## Notes")[1]
    assert "SYNTHETIC" in title_area and "SYNTHETIC" in notes
    assert "not investment advice" in notes
    assert re.search(r"Breadth: \d+/11 sectors", md)
    assert "Cyclical/defensive ratio: " in md
    for section in ("### Duration", "### Credit", "### Inflation"):
        assert section in md
    assert demo_report.synthetic and demo_report.start < demo_report.end <= AS_OF


def test_point_in_time_window(demo_report: FlowReport) -> None:
    # the demo states shares with a one-session lag: a report as of Friday covers trades to Thursday
    assert demo_report.end == dt.date(2025, 6, 12) and demo_report.start == dt.date(2025, 6, 6)


def test_every_printed_number_comes_from_the_json(demo_report: FlowReport) -> None:
    data = json.loads(json.dumps(demo_report.as_dict(), allow_nan=False))
    md = render_markdown(demo_report)
    for row in data["sectors"]["table"]:
        assert (
            f"| {row['sector']} |" in md
            and fmt_usd(row["flow_usd"]) in md
            and fmt_pct(row["flow_pct_aum"]) in md
        )
    for row in data["broad"]["funds"]:
        assert f"| {row['ticker']} | {row['group']} | {fmt_usd(row['flow_usd'])} |" in md
    s = data["sectors"]
    assert f"{s['positive']}/{s['sectors']} sectors" in md and f"{s['cd_ratio']:.2f}" in md
    for row in data["composite"]["rows"]:
        assert row["basis"] in md
    for line in data["composite"]["implications"]:
        assert line in md
    assert data["title"] in md and data["label"] in md
    for row in data["top"]["usd_in"]:
        assert f"{row['ticker']} {fmt_usd(row['flow_usd'])}" in md


def test_cli_report_formats(demo_db: Path, demo_report: FlowReport, tmp_path: Path) -> None:
    runner = CliRunner()
    md_out = tmp_path / "r.md"
    res = runner.invoke(app, ["report", "--db", str(demo_db), "--as-of", GOLDEN_AS_OF, "--out", str(md_out)])
    assert res.exit_code == 0, res.output
    assert md_out.read_text(encoding="utf-8") == render_markdown(demo_report)
    assert "Report written to" in res.output and "SYNTHETIC" in res.output
    js = tmp_path / "r.json"
    res = runner.invoke(
        app, ["report", "--db", str(demo_db), "--as-of", GOLDEN_AS_OF, "--format", "json", "--out", str(js)]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(js.read_text()) == json.loads(json.dumps(demo_report.as_dict()))
    res = runner.invoke(
        app,
        [
            "report",
            "--db",
            str(demo_db),
            "--as-of",
            GOLDEN_AS_OF,
            "--format",
            "html",
            "--out",
            str(tmp_path / "r.html"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert payload["out"].endswith("r.html") and payload["format"] == "html"
    assert payload["sectors"] == json.loads(json.dumps(demo_report.as_dict()))["sectors"]
    assert (tmp_path / "r.html").read_text(encoding="utf-8") == render_html(demo_report)


def test_cli_default_output_path(demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(
        app, ["report", "--db", str(demo_db), "--as-of", GOLDEN_AS_OF, "--format", "html"]
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "reports" / f"etfflow-report-{GOLDEN_AS_OF}.html").exists()


def test_cli_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["report", "--db", str(tmp_path / "none.duckdb")]).exit_code == 4
    Store(tmp_path / "empty.duckdb").close()
    res = runner.invoke(app, ["report", "--db", str(tmp_path / "empty.duckdb")])
    assert res.exit_code == 3 and "no flows" in res.output
    assert (
        runner.invoke(app, ["report", "--db", str(tmp_path / "empty.duckdb"), "--format", "pdf"]).exit_code
        == 2
    )


def partial_flows() -> pl.DataFrame:
    """Five sessions of flows for a handful of funds: no small caps, one sector, no bonds or themes."""
    rows = []
    days = [dt.date(2024, 6, d) for d in (3, 4, 5, 6, 7)]
    for d in days:
        for t, f in (("SPY", 10.0), ("IVV", -2.0), ("XLK", 3.0), ("XLU", -1.0), ("IWF", 1.0), ("ZZZZ", 4.0)):
            rows.append({"date": d, "ticker": t, "flow_usd": f, "aum_prev_usd": 1e9, "nav_used": 100.0})
    return pl.DataFrame(rows).with_columns(
        pl.lit(0, dtype=pl.UInt32).alias("flags"), pl.col("date").alias("available_on")
    )


def test_missing_data_is_reported_not_invented() -> None:
    rep = build_report(partial_flows(), load_taxonomy(), as_of=dt.date(2024, 6, 7), window=5)
    md = render_markdown(rep)
    assert rep.broad.regime is None and "small caps (Small Cap): no data" in rep.broad.basis
    assert rep.sectors.sectors == 2 and len(rep.sectors.missing) == 9
    assert "Real Estate" in rep.sectors.missing and "| Real Estate |" not in md
    assert rep.sectors.cd_ratio == 1.0 and "1/2 sectors with net inflows" in md
    assert rep.empty_sections() == ["Fixed Income Flows", "Thematic Highlights"]
    assert "## Fixed Income Flows\n\n**No data in this window**" in md
    assert rep.fixed_income.rates is None and rep.composite.rows[3].reading is None
    assert "value" in rep.styles.missing and rep.styles.growth_value is None
    assert "unclassified 1 (ZZZZ)" in md  # a fund outside the taxonomy is listed, not dropped
    assert "No data in the window for: VOO, QQQ, IWM, DIA." in md
    html = render_html(rep)
    assert 'data-chart="fixed-income-legs"' not in html  # no chart for a section without data
    assert 'data-chart="sector-flows"' in html


def test_zero_flows_are_data() -> None:
    f = partial_flows().with_columns(pl.lit(0.0).alias("flow_usd"))
    rep = build_report(f, load_taxonomy(), as_of=dt.date(2024, 6, 7), window=5)
    assert rep.sectors.positive == 0 and rep.sectors.sectors == 2 and rep.sectors.breadth == 0.0
    assert rep.sectors.cd_ratio is None and rep.sectors.cd_band is None  # 0 vs 0: undefined, not 0.5
    assert rep.broad.large_usd == 0.0 and rep.broad.regime is None
    assert rep.signals.counts == {
        "strong_inflow": 0,
        "mild_inflow": 0,
        "neutral": 0,
        "mild_outflow": 0,
        "strong_outflow": 0,
    }


def test_hostile_group_names_are_inert_in_markdown_and_html(demo_db: Path, tmp_path: Path) -> None:
    """A group name from a user's funds file that reads as a link, HTML and emphasis in Markdown is
    printed as its characters in both documents (CommonMark backslash escapes; HTML escaped)."""
    import shutil

    db = tmp_path / "copy.duckdb"
    shutil.copy(demo_db, db)
    hostile = "[click](http://evil.example) <script>alert(1)</script> *x*"
    with Store(db) as store:
        sectors = store.query("""SELECT "group" FROM funds WHERE category = 'sector' LIMIT 1""")["group"]
        assert sectors.len() == 1  # the demo warehouse stores its funds
        store.connection.execute("""UPDATE funds SET "group" = ? WHERE "group" = ?""", [hostile, sectors[0]])
        report = report_from_store(store, as_of=AS_OF, window=5)
    md = render_markdown(report)
    html = render_html(report)
    assert hostile not in md and r"\[click\](http://evil.example) \<script>alert(1)\</script> \*x\*" in md
    assert "<script>alert" not in html and 'href="http://evil.example"' not in html
    assert "[click](http://evil.example) &lt;script&gt;alert(1)&lt;/script&gt; *x*" in html
