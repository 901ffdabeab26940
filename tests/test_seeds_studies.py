"""The studies' analyses (issue 12 point 6): Huatai event study, XYZ components, lone leg, stale funds.

Runs on small SYNTHETIC demo markets: the numbers are checks of the machinery, not market facts.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.backtest import data
from etfflow.backtest.data import Panel
from etfflow.backtest.decompose import decompose_flows
from etfflow.backtest.events import _stats, flow_event_study
from etfflow.backtest.strategies import PRESETS, UnexpectedFlowParams, flow_age, unexpected_flow
from etfflow.cli import app
from etfflow.sources.demo import build_demo
from etfflow.universe import load_taxonomy

SECTOR_TICKERS = load_taxonomy().filter(pl.col("category") == "sector")["ticker"].to_list()


@pytest.fixture(scope="module")
def sector_panels() -> dict[str, Panel]:
    out = {}
    for preset in ("pressure", "null"):
        m = build_demo(preset, 7, start="2016-01-01", end="2021-12-31", tickers=SECTOR_TICKERS)
        out[preset] = data.sector_panel(data.panel_from_demo(m), m.funds)
    return out


def test_bucket_stats_hand_case() -> None:
    r = np.array([0.02, -0.01, 0.04, -0.03])
    s = _stats(r, np.full(4, 0.005))
    assert s["events"] == 4 and s["mean_return"] == pytest.approx(0.005) and s["excess"] == pytest.approx(0.0)
    assert s["win_rate"] == 0.5 and s["pl_ratio"] == pytest.approx(0.03 / 0.02)
    assert _stats(np.array([0.01]), np.zeros(1))["pl_ratio"] is None  # no losing event


def test_event_study_finds_planted_pressure_and_not_in_null(sector_panels: dict[str, Panel]) -> None:
    ev = flow_event_study(sector_panels["pressure"], freq="w", window=52)
    pooled = {r["bucket"]: r for r in ev.pooled.to_dicts()}
    assert pooled["0%-5%"]["excess"] > 0.003 and pooled["95%-100%"]["excess"] < -0.003
    assert pooled["0%-5%"]["win_rate"] > 0.55
    # identities: pooled events are the sum over groups; every group's events cover its periods
    by = ev.by_group.group_by("bucket").agg(pl.col("events").sum())
    assert dict(by.iter_rows()) == {r["bucket"]: r["events"] for r in ev.pooled.to_dicts()}
    assert ev.size.height == 11 and ev.size_rank_corr is not None and -1 <= ev.size_rank_corr <= 1
    null = flow_event_study(sector_panels["null"], freq="w", window=52)
    nl = {r["bucket"]: r for r in null.pooled.to_dicts()}
    assert abs(nl["0%-5%"]["excess"]) < pooled["0%-5%"]["excess"] / 2


def test_group_levels(sector_panels: dict[str, Panel]) -> None:
    m = build_demo(
        "null", 3, start="2019-01-01", end="2021-12-31", tickers=[*SECTOR_TICKERS, "SPY", "TLT", "GLD"]
    )
    panel = data.panel_from_demo(m)
    cat = data.group_panel(panel, m.funds, by="category")
    assert set(cat.assets) == {"sector", "broad_market", "fixed_income", "commodity"}
    ac = data.group_panel(panel, m.funds, by="asset_class")
    assert set(ac.assets) == {"equity", "fixed_income", "commodity"}
    assert flow_event_study(ac, freq="m", window=12).pooled["events"].sum() > 0


def _hand_panel() -> Panel:
    """Two funds, 12 sessions; fund B's share counts stop after trade date 4 (known at 5)."""
    n = 12
    dates = np.arange(np.datetime64("2024-01-02"), np.datetime64("2024-01-02") + n).astype("datetime64[D]")
    tf = np.full((n, 2), 0.01)
    tf[5:, 1] = np.nan
    known = np.tile((np.arange(n) + 1)[:, None], (1, 2)).astype(np.int64)
    ones = np.ones((n, 2))
    return Panel(
        dates=dates,
        assets=("A", "B"),
        returns=ones * 0.0,
        open_returns=None,
        priced=np.ones((n, 2), dtype=bool),
        premium=ones * 0.0,
        aum=ones * 100.0,
        flow_usd=ones,
        flow_pct=ones * 0.01,
        trade_flow_pct=tf,
        known_index=known,
        basis="nav",
    )


def test_flow_age_hand_case() -> None:
    age = flow_age(_hand_panel())
    assert age[0, 0] == np.inf  # nothing known at the first close (lag one session)
    assert age[1:, 0].tolist() == [1.0] * 11
    # B: trade date 4 known at close 5, nothing after: ages 1 at 5, then 2, 3, ...
    assert age[5:, 1].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]


@pytest.fixture(scope="module")
def fund_panel() -> Panel:
    m = build_demo(
        "informed", 7, start="2018-01-01", end="2020-12-31", tickers=["SPY", "QQQ", "IWM", "XLK", "XLE"]
    )
    return data.panel_from_demo(m)


def test_lone_leg_full_book_and_stale_funds(fund_panel: Panel) -> None:
    half = unexpected_flow(fund_panel, UnexpectedFlowParams())
    full = unexpected_flow(fund_panel, UnexpectedFlowParams(lone_leg="full"))
    nl = half.diagnostics["n_long"] > 0
    ns = half.diagnostics["n_short"] > 0
    lone = nl ^ ns
    both = nl & ns
    assert lone.any() and both.any()
    gross_h, gross_f = np.abs(half.weights).sum(axis=1), np.abs(full.weights).sum(axis=1)
    assert np.allclose(gross_h[lone], 0.5) and np.allclose(gross_f[lone], 1.0)
    assert np.array_equal(half.weights[both], full.weights[both])
    # stale: cut IWM's share counts after its 400th trade date
    j = fund_panel.assets.index("IWM")
    tf = fund_panel.trade_flow_pct.copy()  # type: ignore[union-attr]
    tf[400:, j] = np.nan
    cut = dataclasses.replace(fund_panel, trade_flow_pct=tf)
    age = flow_age(cut)
    d = unexpected_flow(cut, UnexpectedFlowParams(stale_days=5))
    base = unexpected_flow(cut, UnexpectedFlowParams())
    fresh, stale = age[:, j] <= 5, age[:, j] > 5
    assert stale.sum() > 300 and np.isnan(d.signal[stale, j]).all() and np.all(d.weights[stale, j] == 0.0)
    # while fresh, the last signal is held between arrivals (etfflow's default trades only on arrival)
    known_z = np.isfinite(base.signal[:, j])
    assert np.array_equal(d.signal[known_z, j], base.signal[known_z, j])
    held = fresh & ~known_z & np.isfinite(d.signal[:, j])
    assert held.sum() == 0 or np.isfinite(d.signal[held, j]).all()
    last_known = np.flatnonzero(known_z)[-1]
    after = np.arange(len(age))[(np.arange(len(age)) > last_known) & fresh]
    assert len(after) >= 1 and np.all(d.signal[after, j] == base.signal[last_known, j])
    assert PRESETS["xyz_published"][1] == UnexpectedFlowParams(lone_leg="full", stale_days=5)


def test_decompose_components(fund_panel: Panel) -> None:
    c = decompose_flows(fund_panel, "SPY")
    assert (
        c.coefficients["premium"] is not None and c.coefficients["premium"] > 0
    )  # creations follow premiums
    assert c.days > 400 and all(v is not None and v >= 0 for v in c.variance_share.values())
    # the unexpected part is the strategy's own out-of-sample residual
    d = unexpected_flow(fund_panel.select(["SPY"]), UnexpectedFlowParams())
    res = d.diagnostics["residual"][:, 0]
    dates = fund_panel.dates[np.isfinite(res)]
    got = c.table.filter(pl.col("date").is_in(pl.Series(dates).cast(pl.Date).implode()))
    assert np.allclose(got["unexpected"].to_numpy(), res[np.isfinite(res)][: got.height])


def test_cli_events_and_decompose(tmp_path: Path) -> None:
    r = CliRunner()
    res = r.invoke(
        app,
        [
            "events",
            "--demo",
            "pressure",
            "--start",
            "2019-01-01",
            "--end",
            "2021-12-31",
            "--window",
            "26",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    data_ = json.loads(res.output)
    assert data_["level"] == "sector" and len(data_["pooled"]) == 8 and data_["label"].startswith("SYNTHETIC")
    res = r.invoke(app, ["events", "--level", "board", "--demo", "null"])
    assert res.exit_code == 2
    res = r.invoke(
        app, ["decompose", "SPY", "--demo", "informed", "--start", "2019-01-01", "--end", "2020-12-31"]
    )
    assert res.exit_code == 0 and "variance of the daily flow explained" in res.output
