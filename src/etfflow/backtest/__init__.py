"""Backtests: point-in-time panels, the published flow strategies, the engine, metrics, sweeps, tearsheets."""

from __future__ import annotations

from etfflow.backtest.data import (
    Panel,
    group_panel,
    panel_from_demo,
    panel_from_frames,
    panel_from_store,
    price_frame,
    sector_panel,
)
from etfflow.backtest.engine import Backtest, BacktestResult, rebalance_mask, run_weights, signal_to_weights
from etfflow.backtest.metrics import mean_return_tstat, sharpe_ci_bootstrap, summary, summary_table
from etfflow.backtest.strategies import (
    PRESETS,
    STRATEGIES,
    Decisions,
    FlowMomentumParams,
    PercentileRotationParams,
    PriceMomentumParams,
    StrategyRun,
    UnexpectedFlowParams,
    flow_momentum,
    percentile_rotation,
    price_momentum,
    resolve,
    run_strategy,
    sweep_percentile_rotation,
    sweep_strategy,
    unexpected_flow,
)
from etfflow.backtest.sweep import grid_product, heatmap, run_sweep, sweep_weights
from etfflow.backtest.tearsheet import Tearsheet, render_html, render_json, render_markdown

__all__ = [
    "PRESETS",
    "STRATEGIES",
    "Backtest",
    "BacktestResult",
    "Decisions",
    "FlowMomentumParams",
    "Panel",
    "PercentileRotationParams",
    "PriceMomentumParams",
    "StrategyRun",
    "Tearsheet",
    "UnexpectedFlowParams",
    "flow_momentum",
    "grid_product",
    "group_panel",
    "heatmap",
    "mean_return_tstat",
    "panel_from_demo",
    "panel_from_frames",
    "panel_from_store",
    "percentile_rotation",
    "price_frame",
    "price_momentum",
    "rebalance_mask",
    "render_html",
    "render_json",
    "render_markdown",
    "resolve",
    "run_strategy",
    "run_sweep",
    "run_weights",
    "sector_panel",
    "sharpe_ci_bootstrap",
    "signal_to_weights",
    "summary",
    "summary_table",
    "sweep_percentile_rotation",
    "sweep_strategy",
    "sweep_weights",
    "unexpected_flow",
]
