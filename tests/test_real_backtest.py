"""The percentile rule in time series on real IVV and GLD flows, against each fund's own total return.

Flows: the iShares IVV workbook and the SSGA GLD archive in ../shared/data/issuers, imported into a
temporary warehouse (shares outstanding stated T+1, so each flow is usable one session after its
trade date). Prices: ../shared/data/prices/etf_daily_1999_2021/{IVV,GLD}.csv, adjusted close (total
return) for close-to-close returns. The numbers are whatever they are; the test checks that the run is
complete, finite and internally consistent. Recorded results (1,000 bootstrap resamples, as here; README):

IVV huatai_weekly_5pct_2y, 2002-05-10 .. 2021-12-01: +1.7%/yr (buy & hold +9.8%), Sharpe 0.41
[-0.04, 0.79], t 2.03, timing +1.2%/yr (t 1.31), invested 6% of sessions.
GLD huatai_weekly_5pct_2y, 2006-11-10 .. 2021-12-01: +2.2%/yr (+6.7%), Sharpe 0.39 [-0.09, 0.85],
t 1.58, timing +1.8%/yr (t 1.21), invested 7%.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from etfflow import pipeline
from etfflow.backtest.data import Panel, panel_from_store, price_frame
from etfflow.backtest.metrics import annual_return, sharpe
from etfflow.backtest.strategies import StrategyRun, run_strategy
from etfflow.backtest.tearsheet import Tearsheet, render_markdown, summary_lines
from etfflow.store import Store

PRESETS = ("huatai_weekly_5pct_2y", "huatai_monthly_10pct_3y", "huatai_weekly_10pct_2y_ls")


@pytest.fixture(scope="module")
def panel(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Panel:
    store = Store(tmp_path_factory.mktemp("real_bt") / "real.duckdb")
    issuers = shared_data / "issuers"
    pipeline.import_paths(
        store, [issuers / "ishares" / "IVV_fund.xls", issuers / "ssga" / "GLD_US_archive_EN.csv"]
    )
    prices = pl.concat(
        [
            price_frame(pl.read_csv(shared_data / "prices" / "etf_daily_1999_2021" / f"{t}.csv"), t)
            for t in ("IVV", "GLD")
        ]
    )
    with store:
        return panel_from_store(store, tickers=["IVV", "GLD"], prices=prices)


@pytest.fixture(scope="module")
def runs(panel: Panel) -> dict[tuple[str, str], StrategyRun]:
    return {
        (t, p): run_strategy(panel.select([t]), p, universe=t, n_boot=1000)
        for t in ("IVV", "GLD")
        for p in PRESETS
    }


def test_panel_uses_adjusted_close_and_flows_by_availability(panel: Panel, shared_data: Path) -> None:
    assert panel.basis == "prices" and panel.label is None
    raw = pl.read_csv(shared_data / "prices" / "etf_daily_1999_2021" / "IVV.csv")
    adj = raw["adjusted_close"].to_numpy()
    j = panel.assets.index("IVV")
    rows = np.searchsorted(panel.dates, raw["date"].str.to_date().to_numpy().astype("datetime64[D]"))
    np.testing.assert_allclose(panel.returns[rows[1:], j], adj[1:] / adj[:-1] - 1, rtol=1e-12)
    # IVV: flows known one session after their trade date; the 2000 bad print is left out
    known = panel.known_index
    assert known is not None
    traded = np.flatnonzero(np.isfinite(panel.trade_flow_pct[:, j]))  # type: ignore[index]
    assert (known[traded, j] - traded <= 3).all() and np.median(known[traded, j] - traded) == 1
    assert any("left out" in n for n in panel.notes)


@pytest.mark.parametrize("ticker", ["IVV", "GLD"])
@pytest.mark.parametrize("preset", PRESETS)
def test_time_series_percentile_rule_is_complete_and_consistent(
    runs: dict[tuple[str, str], StrategyRun], panel: Panel, ticker: str, preset: str
) -> None:
    run = runs[(ticker, preset)]
    res, s, b = run.result, run.stats, run.benchmark_stats
    for key in ("annual_return", "annual_volatility", "sharpe", "max_drawdown", "t_stat", "time_invested"):
        assert math.isfinite(s[key]), key
        assert math.isfinite(b.get(key, 0.0)), key
    assert str(res.dates[-1]) == "2021-12-01"  # the last price in the CSVs
    assert 0.0 < s["time_invested"] < 1.0
    # the benchmark is the fund itself (buy and hold), the strategy is in it or in cash (or short)
    j = panel.assets.index(ticker)
    lo = int(np.searchsorted(panel.dates, res.dates[0]))
    own = panel.returns[lo : lo + len(res.dates), j]
    np.testing.assert_allclose(res.benchmark[1:], np.nan_to_num(own[1:]), atol=1e-15)
    w = res.weights[:, 0]
    if preset.endswith("_ls"):  # half the book long or short, drifting between rebalances
        assert (np.abs(w) < 0.75).all() and (w < 0).any() and (w > 0).any()
    else:
        assert set(np.round(np.unique(w), 12)) <= {0.0, 1.0}
    np.testing.assert_allclose(res.returns[1:], w[:-1] * np.nan_to_num(own[1:]), atol=1e-15)
    assert s["annual_return"] == pytest.approx(annual_return(res.returns), rel=1e-12)
    assert s["sharpe"] == pytest.approx(sharpe(res.returns), rel=1e-12)
    assert s["sharpe_ci_low"] < s["sharpe"] < s["sharpe_ci_high"]
    assert s["time_invested"] == pytest.approx(float(np.mean(np.abs(w) > 0)))
    # warm-up: the first decision needs the full window of flow history
    first_flow = panel.dates[int(np.flatnonzero(np.isfinite(panel.flow_usd[:, j]))[0])]
    years = {"huatai_weekly_5pct_2y": 2, "huatai_monthly_10pct_3y": 3, "huatai_weekly_10pct_2y_ls": 2}[preset]
    # (a partial first period counts as one period of history)
    assert (res.dates[0] - first_flow).astype(int) >= 365 * years - 40


def test_tearsheet_of_the_real_runs_is_not_labelled_synthetic(
    runs: dict[tuple[str, str], StrategyRun],
) -> None:
    picked = [runs[("IVV", "huatai_weekly_5pct_2y")], runs[("GLD", "huatai_weekly_5pct_2y")]]
    md = render_markdown(Tearsheet(picked))
    assert "SYNTHETIC" not in md and "Not investment advice" in md
    assert len(summary_lines(picked)) == 4
