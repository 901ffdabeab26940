"""Metrics: hand-built answers, empyrical-reloaded cross-checks, bootstrap, t-stat, negative control."""

from __future__ import annotations

import math

import empyrical as ep
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from etfflow import calendar
from etfflow.backtest import metrics as mt
from etfflow.backtest.engine import run_weights
from etfflow.errors import ConfigError

DATES = calendar.sessions("2019-01-02", "2023-12-29")
SEEDS = [0, 1, 2, 3, 4]


def _series(seed: int, nan: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = len(DATES)
    bench = rng.normal(0.0004, 0.011, n)
    r = 0.2 * rng.normal(0.0002, 0.01, n) + 0.8 * bench
    if nan:
        r[rng.choice(n, 25, replace=False)] = np.nan
    return r, bench


def test_hand_computed() -> None:
    r = np.array([0.1, -0.5, 0.2])
    assert mt.max_drawdown(r) == pytest.approx(-0.5)
    assert mt.annual_return(r, periods=3) == pytest.approx(1.1 * 0.5 * 1.2 - 1)
    assert mt.annual_return(np.full(252, 0.001)) == pytest.approx(1.001**252 - 1)
    assert mt.max_drawdown(np.array([-0.1, 0.05])) == pytest.approx(-0.1)
    assert mt.max_drawdown(np.array([0.01, 0.02])) == 0.0
    assert math.isnan(mt.calmar(np.array([0.01, 0.02])))
    expected = 0.02 / np.std([0.01, 0.03], ddof=1) * math.sqrt(252)
    assert mt.sharpe(np.array([0.01, 0.03])) == pytest.approx(expected)
    assert math.isnan(mt.sharpe(np.zeros(10)))  # all cash: undefined, not inf
    assert mt.turnover(np.array([0.0, 2.0, 0.0, 0.0])) == pytest.approx(0.5 * 252)
    assert mt.time_invested(np.array([0.0, 1.0, 1.0, 0.0])) == 0.5


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("nan", [False, True])
def test_against_empyrical(seed: int, nan: bool) -> None:
    r, b = _series(seed, nan)
    tol = {"rel": 1e-10, "abs": 1e-12}
    assert mt.annual_return(r) == pytest.approx(ep.annual_return(r), **tol)
    assert mt.annual_volatility(r) == pytest.approx(ep.annual_volatility(r), **tol)
    assert mt.sharpe(r) == pytest.approx(ep.sharpe_ratio(r), **tol)
    assert mt.sharpe(r, risk_free=0.0001) == pytest.approx(ep.sharpe_ratio(r, risk_free=0.0001), **tol)
    assert mt.sortino(r) == pytest.approx(ep.sortino_ratio(r), **tol)
    assert mt.sortino(r, required_return=0.0002) == pytest.approx(ep.sortino_ratio(r, 0.0002), **tol)
    assert mt.max_drawdown(r) == pytest.approx(ep.max_drawdown(r), **tol)
    assert mt.calmar(r) == pytest.approx(ep.calmar_ratio(r), **tol)
    assert mt.beta(r, b) == pytest.approx(ep.beta(r, b), **tol)
    assert mt.alpha(r, b) == pytest.approx(ep.alpha(r, b), **tol)
    assert mt.excess_return(r, b) == pytest.approx(ep.annual_return(r) - ep.annual_return(b), **tol)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_period_aggregates_against_empyrical(seed: int) -> None:
    r, _ = _series(seed, nan=True)
    s = pd.Series(r, index=pd.DatetimeIndex(DATES))
    monthly = ep.aggregate_returns(s, "monthly").to_numpy()
    yearly = ep.aggregate_returns(s, "yearly")
    np.testing.assert_allclose(mt.period_returns(r, DATES, "m")["return"].to_numpy(), monthly, rtol=1e-10)
    yr = mt.yearly_returns(r, DATES)
    assert yr["year"].to_list() == list(yearly.index)
    np.testing.assert_allclose(yr["return"].to_numpy(), yearly.to_numpy(), rtol=1e-10)
    wins, losses = monthly[monthly > 0], monthly[monthly < 0]
    assert mt.monthly_win_rate(r, DATES) == pytest.approx(len(wins) / (len(wins) + len(losses)))
    assert mt.profit_loss_ratio(r, DATES) == pytest.approx(wins.mean() / -losses.mean(), rel=1e-10)


def test_flat_months_are_not_wins_or_losses() -> None:
    d = calendar.sessions("2024-01-02", "2024-03-28")
    r = np.zeros(len(d))
    r[5] = 0.02  # January up
    r[-3] = -0.01  # March down; February flat (all cash)
    assert mt.monthly_win_rate(r, d) == 0.5
    assert mt.profit_loss_ratio(r, d) == pytest.approx(2.0)


def test_sharpe_translation_same() -> None:
    r, _ = _series(0)
    assert mt.sharpe(r + 0.001, risk_free=0.001) == pytest.approx(mt.sharpe(r), rel=1e-12)


def test_bootstrap_ci_contains_point_and_is_deterministic() -> None:
    for seed in SEEDS:
        r, _ = _series(seed)
        ci = mt.sharpe_ci_bootstrap(r, n=500, seed=42)
        assert ci.low < ci.sharpe < ci.high
        assert ci.sharpe == pytest.approx(mt.sharpe(r))
        assert mt.sharpe_ci_bootstrap(r, n=500, seed=42) == ci
        assert mt.sharpe_ci_bootstrap(r, n=500, seed=43) != ci
        blk = mt.sharpe_ci_bootstrap(r, n=500, seed=42, block=10)
        assert blk.low < blk.sharpe < blk.high
        assert blk != ci
    # width close to the textbook standard error sqrt((1 + SR^2/2) / n) annualised
    r, _ = _series(0)
    ci = mt.sharpe_ci_bootstrap(r, n=2000, seed=1)
    daily = mt.sharpe(r) / math.sqrt(252)
    se = math.sqrt((1 + daily**2 / 2) / len(r)) * math.sqrt(252)
    assert (ci.high - ci.low) / (2 * 1.96 * se) == pytest.approx(1.0, abs=0.15)
    with pytest.raises(ConfigError):
        mt.sharpe_ci_bootstrap(r, alpha=1.5)
    with pytest.raises(ConfigError):
        mt.sharpe_ci_bootstrap(r, block=0.5)


def test_tstat_plain_matches_scipy_and_newey_west_by_hand() -> None:
    r, _ = _series(1)
    tt = mt.mean_return_tstat(r, lags=0)
    ref = stats.ttest_1samp(r, 0.0)
    assert tt.t == pytest.approx(ref.statistic, rel=1e-10)
    assert tt.p_value == pytest.approx(2 * stats.norm.sf(abs(ref.statistic)), rel=1e-10)
    x = np.array([0.01, -0.02, 0.03, 0.0, 0.015, -0.005])
    n, e = len(x), x - x.mean()
    g0 = (e * e).sum()
    g1 = (e[1:] * e[:-1]).sum()
    g2 = (e[2:] * e[:-2]).sum()
    s = g0 + 2 * (2 / 3) * g1 + 2 * (1 / 3) * g2
    expected = x.mean() / math.sqrt(s / (n - 1) / n)
    assert mt.mean_return_tstat(x, lags=2).t == pytest.approx(expected, rel=1e-12)
    auto = mt.mean_return_tstat(r)
    assert auto.lags == math.floor(4 * (len(r) / 100) ** (2 / 9))


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15, 16])
def test_negative_control_random_weights_on_zero_mean_returns(seed: int) -> None:
    """Random long/short weights on iid zero-mean returns: statistically indistinguishable from zero."""
    rng = np.random.default_rng(seed)
    n_t, n_a = len(DATES), 8
    r = rng.normal(0.0, 0.01, (n_t, n_a))
    r -= r.mean(axis=0)  # exactly zero-mean assets
    w = rng.normal(0.0, 1.0, (n_t, n_a))
    w /= np.abs(w).sum(axis=1, keepdims=True)
    res = run_weights(w, r, DATES, [f"a{i}" for i in range(n_a)], rebalance="w")
    tt = mt.mean_return_tstat(res.returns)
    assert abs(tt.t) < 3.0
    assert tt.p_value > 0.003


def test_summary_and_table() -> None:
    rng = np.random.default_rng(0)
    r = rng.normal(0.0003, 0.01, (len(DATES), 3))
    w = np.full(r.shape, 1 / 3)
    res = run_weights(w, r, DATES, ["a", "b", "c"], rebalance="m", cost_bps=5)
    s = mt.summary(res, n_boot=200)
    assert s["sharpe_ci_low"] < s["sharpe"] < s["sharpe_ci_high"]
    assert s["sharpe"] == pytest.approx(mt.sharpe(res.returns))
    assert s["time_invested"] == pytest.approx(1 - 20 / len(DATES))  # cash until the first month end
    assert s["beta"] == pytest.approx(1.0, abs=0.02)
    assert s["n_days"] == len(DATES)
    table = mt.summary_table({"ew": res, "ew2": res}, ci=False)
    assert table["name"].to_list() == ["ew", "ew2"]
    assert "sharpe_ci_low" not in table.columns
    assert table["annual_return"][0] == pytest.approx(s["annual_return"])


@pytest.mark.parametrize("nan", [False, True])
def test_sweep_scorer_matches_metric_functions(nan: bool) -> None:
    """The numba scorer used by sweeps computes the same numbers as the public metric functions."""
    from etfflow.backtest.sweep import METRICS, score

    rows = np.stack([_series(s, nan)[0] for s in SEEDS] + [np.zeros(len(DATES))])
    _, b = _series(9)
    rng = np.random.default_rng(0)
    turn = rng.uniform(0, 0.2, rows.shape)
    expo = (rng.uniform(0, 1, rows.shape) > 0.3).astype(float)
    got = score(rows, turn, expo, b, DATES)
    assert list(got) == list(METRICS)
    for i, r in enumerate(rows):
        expected = {
            "annual_return": mt.annual_return(r),
            "annual_volatility": mt.annual_volatility(r),
            "sharpe": mt.sharpe(r),
            "sortino": mt.sortino(r),
            "max_drawdown": mt.max_drawdown(r),
            "calmar": mt.calmar(r),
            "excess_return": mt.excess_return(r, b),
            "beta": mt.beta(r, b),
            "monthly_win_rate": mt.monthly_win_rate(r, DATES),
            "profit_loss_ratio": mt.profit_loss_ratio(r, DATES),
            "turnover": mt.turnover(turn[i]),
            "time_invested": mt.time_invested(expo[i]),
            "t_stat": mt.mean_return_tstat(r).t,
        }
        for name, value in expected.items():
            assert got[name][i] == pytest.approx(value, rel=1e-10, abs=1e-14, nan_ok=True), name
