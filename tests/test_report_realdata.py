"""The report on real issuer files (IVV workbook, GLD archive, EWJ/EWY/EWZ shares history).

Only a few real funds exist, so most sections have no data: the report must say so plainly and
still show what it has (IVV in the broad market in 2022, GLD and the country funds in the fund lists).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from etfflow import pipeline
from etfflow.cli import app
from etfflow.report.build import report_from_store
from etfflow.report.html import render_html
from etfflow.report.markdown import render_markdown
from etfflow.store import Store

SECTIONS = [
    "Broad Market Flows",
    "Sector Rotation",
    "Style Factor Flows",
    "Fixed Income Flows",
    "Thematic Highlights",
]


@pytest.fixture(scope="module")
def real_db(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = [
        shared_data / "issuers" / "ishares" / "IVV_fund.xls",
        shared_data / "issuers" / "ssga" / "GLD_US_archive_EN.csv",
        shared_data / "issuers" / "ishares" / "EWJ_EWY_EWZ_shares_history.csv",
    ]
    for f in files:
        if not f.exists():
            pytest.skip(f"missing shared file {f}")
    db = tmp_path_factory.mktemp("real") / "real.duckdb"
    with Store(db) as store:
        pipeline.import_paths(store, files)
    return db


def test_latest_report_says_which_sections_have_no_data(real_db: Path) -> None:
    with Store(real_db, read_only=True) as store:
        rep = report_from_store(store)
    # the newest file (EWJ/EWY/EWZ) ends in April 2026; IVV (2022) and GLD (2025) are long gone
    assert rep.as_of == dt.date(2026, 4, 30) and rep.label is None and not rep.synthetic
    assert rep.empty_sections() == SECTIONS
    md = render_markdown(rep)
    assert f"Sections without data in this window: {', '.join(SECTIONS)}." in md
    for s in SECTIONS:
        assert f"## {s}\n\n**No data in this window**" in md
    assert "SYNTHETIC" not in md and "not investment advice" in md
    assert "international 3 (EWJ, EWY, EWZ)" in md
    assert set(rep.signals.table["ticker"].to_list()) <= {"EWJ", "EWY", "EWZ", "GLD", "IVV"}
    assert rep.composite.rows[0].reading is None  # no risk reading without data
    html = render_html(rep)
    assert "No data in this window" in html and 'data-chart="top-flows"' in html


def test_report_dated_inside_the_ivv_history(real_db: Path) -> None:
    with Store(real_db, read_only=True) as store:
        rep = report_from_store(store, as_of=dt.date(2022, 5, 11))
    assert rep.empty_sections() == SECTIONS[1:]
    assert rep.broad.funds["ticker"].to_list() == ["IVV"]
    assert rep.broad.missing == ["SPY", "VOO", "QQQ", "IWM", "DIA"]
    assert rep.broad.regime is None  # no small-cap leg: no regime rather than a made-up one
    assert "Small Cap" in rep.broad.groups.missing_groups
    tickers = set(rep.signals.table["ticker"].to_list())
    assert {"IVV", "GLD"} <= tickers
    md = render_markdown(rep)
    assert "**Risk regime: n/a**" in md and "small caps (Small Cap): no data" in md


def test_cli_on_real_data(real_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "real.json"
    res = CliRunner().invoke(app, ["report", "--db", str(real_db), "--format", "json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "Sections without data: Broad Market Flows" in res.output
    data = json.loads(out.read_text())
    assert [c["funds_with_data"] for c in data["coverage"]] == [0, 0, 0, 0, 0]
    assert data["synthetic"] is False
