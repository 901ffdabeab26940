"""The notebook API (`import etfflow as ef`): its surface, read-only opening, frames and result objects."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import etfflow as ef
from etfflow import api, pipeline
from etfflow.errors import ConfigError, NotFoundError
from etfflow.store import Store

PUBLIC = {
    "Backtest",
    "Report",
    "Table",
    "Warehouse",
    "__version__",
    "backtest",
    "flows",
    "open",
    "quality",
    "report",
    "sectors",
    "top",
}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("api") / "demo.duckdb"
    with Store(db) as store:
        pipeline.load_demo(store, "pressure", 7, start="2019-01-01", end="2021-12-31")
    return db


def test_public_surface_is_small_explicit_and_resolves() -> None:
    assert set(ef.__all__) == PUBLIC
    for name in ef.__all__:
        assert getattr(ef, name) is not None
    assert ef.open is api.open and ef.Table is api.Table
    # subpackages of the same name never shadow the API calls, even once imported
    import etfflow.backtest.strategies
    import etfflow.flows.aggregate
    import etfflow.report.build  # noqa: F401

    assert ef.flows is api.flows and ef.report is api.report and ef.backtest is api.backtest
    from etfflow.flows.aggregate import to_period

    assert callable(to_period)
    with pytest.raises(AttributeError):
        _ = ef.not_a_name  # type: ignore[attr-defined]


def test_import_is_lazy() -> None:
    code = "import sys, etfflow; print(sorted(m for m in ('polars', 'duckdb', 'numba') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_open_is_read_only_and_refuses_a_missing_path(tmp_path: Path, demo_db: Path) -> None:
    missing = tmp_path / "typo.duckdb"
    with pytest.raises(NotFoundError, match="create=True"):
        ef.open(missing)
    assert not missing.exists()  # nothing was created for a mistyped path
    made = ef.open(missing, create=True)
    assert missing.exists() and not made.read_only
    wh = ef.open(demo_db)
    assert wh.read_only and "read-only" in repr(wh)
    assert len(ef.flows("SPY")) > 0
    # the file is not held between calls: a writer can open it while the notebook keeps `wh`
    with Store(demo_db) as store:
        assert store.counts()["flows_daily"] > 0
    with pytest.raises(ConfigError):
        ef.flows("SPY", start="2021-02-30")


def test_flows_frame_decodes_flags_and_pct_is_a_fraction(demo_db: Path) -> None:
    t = ef.flows(["SPY", "XLK"], start="2019-01-01", end="2019-12-31", db=demo_db)
    f = t.frame
    assert f.schema["flags"] == pl.List(pl.String) and f.schema["counted"] == pl.Boolean
    known = f.filter(pl.col("aum_prev_usd") > 0)
    ratio = (known["flow_usd"] / known["aum_prev_usd"]).to_list()
    assert known["flow_pct_aum"].to_list() == pytest.approx(ratio)  # a fraction, not percent
    assert t.summary["net_flow_usd"] == pytest.approx(float(f.filter(pl.col("counted"))["flow_usd"].sum()))
    assert (t.start, t.end) == (f["date"].min(), f["date"].max())
    assert t.label is not None and t.label.startswith("SYNTHETIC")
    excluded = {"first", "bad_print", "no_price"}
    for row in f.iter_rows(named=True):
        assert row["counted"] == (row["flow_usd"] is not None and not excluded & set(row["flags"]))
    html = t._repr_html_()
    assert "SYNTHETIC" in html and t.title in html and "<table>" in html
    pd_frame = t.to_pandas()
    assert len(pd_frame) == f.height and list(pd_frame.columns) == f.columns


def test_monthly_sums_equal_the_counted_days(demo_db: Path) -> None:
    daily = ef.flows("XLE", start="2020-02-10", end="2020-05-20", db=demo_db).frame
    monthly = ef.flows("XLE", start="2020-02-10", end="2020-05-20", freq="m", db=demo_db).frame
    by_month = (
        daily.filter(pl.col("counted"))
        .group_by(pl.col("date").dt.month().alias("m"))
        .agg(pl.col("flow_usd").sum())
        .sort("m")
    )
    assert monthly["flow_usd"].to_list() == pytest.approx(by_month["flow_usd"].to_list())
    assert monthly["partial"].to_list() == [True, False, False, True]  # Feb from the 10th, May to the 20th
    assert str(monthly["date"][-1]) == "2020-05-20"


def test_top_sectors_quality_report_backtest(demo_db: Path, tmp_path: Path) -> None:
    wh = ef.open(demo_db)
    t = ef.top(window=20, n=3, by="pct", as_of="2021-06-30")
    assert t.as_of is not None and str(t.end) <= "2021-06-30"
    ins = t.frame.filter(pl.col("side") == "inflow")
    assert ins["rank"].to_list() == [1, 2, 3]
    assert ins["flow_pct_aum"].to_list() == sorted(ins["flow_pct_aum"].to_list(), reverse=True)
    s = ef.sectors(start="2021-03-01", end="2021-03-31")
    assert s.summary["sectors"] == s.frame.height == 11
    assert 0.0 <= s.summary["cd_ratio"] <= 1.0 and s.summary["cd_band"] in (
        "cyclical",
        "balanced",
        "defensive",
    )
    q = ef.quality("SPY")
    assert "first" in q.frame["flag"].to_list()
    out = q.to_csv(tmp_path / "q.csv")
    assert pl.read_csv(out).height == q.frame.height
    rep = ef.report(start="2021-03-01", end="2021-03-31")
    assert rep.data.window == 23  # NYSE sessions in March 2021 and str(rep.data.end) == "2021-03-31"
    assert "SYNTHETIC" in rep.markdown and rep.html.startswith("<!doctype html>")
    bt = wh.backtest("huatai_weekly_10pct_1y", n_boot=50)
    eq = bt.frame["equity"].to_numpy()
    assert eq[-1] == pytest.approx(float((1 + bt.frame["returns"].fill_nan(0.0)).product()))
    assert bt.basis is not None and bt.basis.startswith("NAV total return")
    assert bt.to_dict()["return_basis"] == bt.basis and "**Returns**" in bt.markdown


def test_open_without_a_path_uses_the_demo_warehouse_and_says_so(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("ETFFLOW_DB", raising=False)
    with pytest.raises(NotFoundError, match="no warehouse at"):
        ef.open()
    (tmp_path / ".etfflow").mkdir()
    (tmp_path / ".etfflow" / "demo.duckdb").write_bytes(demo_db.read_bytes())
    wh = ef.open()
    assert wh.path == tmp_path / ".etfflow" / "demo.duckdb"
    t = ef.sectors()
    assert "using the SYNTHETIC demo warehouse" in t.warnings[0] and t.label is not None
