"""The research report on the real files: loaders, the monthly China rotation by hand, the CLI end to end."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.research import cn as cn_mod
from etfflow.research.data import VENDOR_FILE, load_cn, us_groups
from etfflow.store import Store

runner = CliRunner()
FEW = "XLE,VDE,XOP,OIH,XLU,XLP,XLI,XLB,SPY,IVV,VOO,SHY,BIL,SGOV,EDV"


def test_rotate_by_hand() -> None:
    """Window 2: a month's percentile is 1/2 if its flow fell below the previous month's, else 1.
    Long at <= 50%: month 1 (index 1) group A fell (10 -> 5), B rose; month 2 both fell; month 3 B fell."""
    flow = np.array([[10.0, 1.0], [5.0, 2.0], [4.0, 1.0], [6.0, 0.0]])
    ret = np.array([[0.0, 0.0], [0.0, 0.0], [0.02, 0.04], [0.01, -0.03]])
    r = cn_mod.rotate(flow, ret, 2, 0.5, None, 0.0)
    # earning month m+1 from the decision at m: m=0 no signal (window not full) -> NaN
    assert np.isnan(r["net"][0])
    assert r["net"][1] == pytest.approx(0.02)  # A only, earning month 2
    assert r["net"][2] == pytest.approx((0.01 - 0.03) / 2)  # A and B, earning month 3
    assert r["bench"][1] == pytest.approx(0.03) and r["bench"][2] == pytest.approx(-0.01)
    assert r["turnover"][1] == pytest.approx(1.0) and r["turnover"][2] == pytest.approx(1.0)
    costly = cn_mod.rotate(flow, ret, 2, 0.5, None, 100.0)
    assert costly["net"][2] == pytest.approx(-0.01 - 0.01)  # 100 bps on a turnover of 1
    short = cn_mod.rotate(flow, ret, 2, None, 0.99, 0.0)
    assert short["net"][1] == pytest.approx(-0.04)  # B rose in month 1: short it, it earned 4%
    # negative control: returns unrelated to the signal's future do not leak (decision at m uses flow[:m+1])
    flow2 = flow.copy()
    flow2[3] = [-100.0, 100.0]
    assert cn_mod.rotate(flow2, ret, 2, 0.5, None, 0.0)["net"][1] == pytest.approx(0.02)


def test_research_cli_names_missing_files(tmp_path: Path) -> None:
    res = runner.invoke(app, ["research", "cn", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 3, res.output
    assert "ETF_aum_amount.csv" in res.output
    res = runner.invoke(app, ["research", "everything", "--data", str(tmp_path)])
    assert res.exit_code == 5, res.output


def test_taxonomy_overrides_financedatabase(shared_data: Path) -> None:
    g = us_groups(shared_data, ["SPY", "XLE", "AAAU"]).to_dicts()
    by = {r["ticker"]: r for r in g}
    assert by["SPY"]["label_source"] == "taxonomy" and "Alternatives" not in by["SPY"]["group"]
    assert by["XLE"]["group"] == "sector: Energy"
    assert by["AAAU"]["label_source"] == "financedatabase"


@pytest.fixture(scope="module")
def few_funds_root(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared data with the vendor flow file cut to a few funds (real rows as published), rest linked."""
    root = tmp_path_factory.mktemp("data")
    vendor = root / VENDOR_FILE
    vendor.parent.mkdir(parents=True)
    rows = pl.read_csv(shared_data / VENDOR_FILE).filter(pl.col("ticker").is_in(FEW.split(",")))
    vendor.write_bytes(gzip.compress(rows.write_csv().encode()))
    for d in ("prices", "reference", "cn"):
        (root / d).symlink_to(shared_data / d)
    return root


@pytest.fixture(scope="module")
def subset_run(
    few_funds_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, object], Path]:
    """`etfflow research all` once on the few-funds data: its --json answer and its warehouse."""
    out = tmp_path_factory.mktemp("rep")
    res = runner.invoke(app, ["research", "all", "--data", str(few_funds_root), "--out", str(out), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output), out / "etfflow-research.duckdb"


def test_research_cli_end_to_end_on_a_subset(subset_run: tuple[dict[str, Any], Path]) -> None:
    doc = subset_run[0]
    files = {k: Path(v) for k, v in doc["files"].items()}
    md = files["md"].read_text(encoding="utf-8")
    html = files["html"].read_text(encoding="utf-8")
    data = json.loads(files["json"].read_text(encoding="utf-8"))
    for text in (md, html, files["json"].read_text(encoding="utf-8")):
        assert "SYNTHETIC" not in text.upper()
    # the China table: published and etfflow figures in adjacent columns
    head = next(line for line in md.splitlines() if line.startswith("| threshold | published annual return"))
    cols = [c.strip() for c in head.strip("|").split("|")]
    want = ["published annual return", "etfflow annual return", "published Sharpe", "etfflow Sharpe"]
    assert cols[1:5] == want
    row5 = next(line for line in md.splitlines() if line.startswith("| long 5% | +22.39% |"))
    cells = [c.strip() for c in row5.strip("|").split("|")]
    rows = data["cn"]["industry_index"]["periods"]["study window 2018-01..2024-07"]["rows"]
    mine = next(
        r for r in rows if r["config"] == "long 5%" and r["window_months"] == 24 and r["cost_bps"] == 0
    )
    assert cells[2] == f"{mine['annual_return'] * 100:+.2f}%" and cells[3] == "1.04"
    assert cells[4] == f"{mine['sharpe']:.2f}"
    # every US universe was evaluated, and the number of configurations is stated
    rot = data["us"]["rotation"]
    assert any(u["universe"].startswith("taxonomy sectors") for u in rot)
    assert all(u.get("n_configs") == 48 for u in rot if "skipped" not in u)
    assert "Configurations tried:" in md and "deflated Sharpe" in md
    assert "<script" not in html and "<svg" in html
    assert data["us"]["unexpected"]["label"].startswith("demand-only")


def test_china_warehouse_on_the_real_files(subset_run: tuple[dict[str, Any], Path]) -> None:
    with Store(subset_run[1], read_only=True) as store:
        cn = load_cn(store)
        assert store.counts()["files"] >= 5 + 1  # the China files and the vendor file were imported
    assert len(cn.codes) == 280 and str(cn.months[0]) == "2010-01-29" and str(cn.months[-1]) == "2025-12-31"
    j = cn.codes.index("512880.SH")  # securities ETF
    m = int(np.flatnonzero(np.isfinite(cn.flow[:, j]))[5])
    # the flow engine's monthly flow is the shares change valued at the month-end NAV
    assert cn.flow[m, j] == pytest.approx((cn.shares[m, j] - cn.shares[m - 1, j]) * cn.nav[m, j], rel=1e-9)
    assert cn.shares[m, j] > 1e8  # Wind states 亿份 (1e8 units)
    first = int(np.flatnonzero(np.isfinite(cn.shares[:, j]))[0])
    assert np.isnan(cn.flow[first, j])  # a fund's first month is not a flow
    groups = cn_mod.group_arrays(cn, "industry")
    assert len(groups["groups"]) == 21 and groups["index_of"]["fin_broker"] == "512880.SH"
