"""Performance metrics as pure functions of daily simple returns (252 sessions a year).

Definitions follow empyrical-reloaded (cross-checked in tests/test_metrics.py): NaN returns are skipped
by means and deviations and count as 0 when compounding; ``annual_return`` is geometric over the full
length. Where empyrical returns inf (zero volatility or no downside) these return NaN.
The ``_*_2d`` helpers work along the last axis so sweeps can score thousands of series at once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from etfflow.backtest import nb
from etfflow.backtest.engine import BacktestResult, as_dates
from etfflow.errors import ConfigError, ValidationError

__all__ = [
    "PERIODS_PER_YEAR",
    "SharpeCI",
    "TTest",
    "alpha",
    "annual_return",
    "annual_volatility",
    "beta",
    "calmar",
    "excess_return",
    "max_drawdown",
    "mean_return_tstat",
    "monthly_win_rate",
    "period_returns",
    "profit_loss_ratio",
    "sharpe",
    "sharpe_ci_bootstrap",
    "sortino",
    "summary",
    "summary_table",
    "time_invested",
    "turnover",
    "yearly_returns",
]

PERIODS_PER_YEAR = 252


def _vec(returns: Any) -> np.ndarray:
    x = np.asarray(returns, dtype=np.float64)
    if x.ndim != 1:
        raise ValidationError(f"expected a 1-D return series, got {x.ndim}-D", field="returns")
    return x


def _count(x: np.ndarray) -> np.ndarray:
    return np.asarray((~np.isnan(x)).sum(axis=-1), dtype=np.float64)


def _mean_2d(x: np.ndarray) -> np.ndarray:
    n = _count(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(n > 0, np.nansum(x, axis=-1) / np.where(n > 0, n, 1.0), np.nan))


def _std_2d(x: np.ndarray, ddof: int = 1) -> np.ndarray:
    """Sample standard deviation along the last axis; exactly 0 for constant series."""
    n = _count(x)
    mu = _mean_2d(x)
    dev = np.where(np.isnan(x), 0.0, x - mu[..., None])
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(n > ddof, (dev * dev).sum(axis=-1) / np.where(n > ddof, n - ddof, 1.0), np.nan)
        hi = np.where(np.isnan(x), -np.inf, x).max(axis=-1, initial=-np.inf)
        lo = np.where(np.isnan(x), np.inf, x).min(axis=-1, initial=np.inf)
    return np.asarray(np.where(hi == lo, 0.0, np.sqrt(var)) * np.where(n > ddof, 1.0, np.nan))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan))


def _annual_return_2d(x: np.ndarray, periods: int = PERIODS_PER_YEAR) -> np.ndarray:
    n = x.shape[-1]
    if n == 0:
        return np.full(x.shape[:-1], np.nan)
    ending = np.prod(1.0 + np.where(np.isnan(x), 0.0, x), axis=-1)
    with np.errstate(invalid="ignore"):
        return np.asarray(np.where(ending >= 0, np.abs(ending) ** (periods / n) - 1.0, np.nan))


def _annual_volatility_2d(x: np.ndarray, periods: int = PERIODS_PER_YEAR) -> np.ndarray:
    return np.asarray(_std_2d(x) * math.sqrt(periods))


def _sharpe_2d(x: np.ndarray, risk_free: float = 0.0, periods: int = PERIODS_PER_YEAR) -> np.ndarray:
    adj = x - risk_free
    return np.asarray(_ratio(_mean_2d(adj), _std_2d(adj)) * math.sqrt(periods))


def _sortino_2d(x: np.ndarray, required_return: float = 0.0, periods: int = PERIODS_PER_YEAR) -> np.ndarray:
    adj = x - required_return
    down = np.minimum(adj, 0.0)
    downside = np.sqrt(_mean_2d(down * down)) * math.sqrt(periods)
    out = _ratio(_mean_2d(adj) * periods, downside)
    return np.asarray(np.where(_count(x) >= 2, out, np.nan))


def _max_drawdown_2d(x: np.ndarray) -> np.ndarray:
    if x.shape[-1] == 0:
        return np.full(x.shape[:-1], np.nan)
    wealth = np.cumprod(1.0 + np.where(np.isnan(x), 0.0, x), axis=-1)
    peak = np.maximum.accumulate(np.maximum(wealth, 1.0), axis=-1)
    return np.asarray(np.minimum((wealth / peak - 1.0).min(axis=-1), 0.0))


def _calmar_2d(x: np.ndarray, periods: int = PERIODS_PER_YEAR) -> np.ndarray:
    mdd = _max_drawdown_2d(x)
    out = _ratio(_annual_return_2d(x, periods), -mdd)
    return np.asarray(np.where(np.isfinite(out), out, np.nan))


def _beta_2d(x: np.ndarray, bench: np.ndarray, risk_free: float = 0.0) -> np.ndarray:
    y = x - risk_free
    b = np.broadcast_to(np.asarray(bench, dtype=np.float64) - risk_free, y.shape)
    b = np.where(np.isnan(y), np.nan, b)
    y = np.where(np.isnan(b), np.nan, y)
    res = b - _mean_2d(b)[..., None]
    cov = _mean_2d(res * y)
    var = _mean_2d(res * res)
    var = np.where(var < 1e-30, np.nan, var)
    with np.errstate(invalid="ignore"):
        return np.asarray(cov / var)


def _alpha_2d(
    x: np.ndarray, bench: np.ndarray, risk_free: float = 0.0, periods: int = PERIODS_PER_YEAR
) -> np.ndarray:
    bt = _beta_2d(x, bench, risk_free)
    resid = (x - risk_free) - bt[..., None] * (np.asarray(bench, dtype=np.float64) - risk_free)
    with np.errstate(invalid="ignore"):
        return np.asarray((1.0 + _mean_2d(resid)) ** periods - 1.0)


def _nw_lags(n: int) -> int:
    return math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)) if n > 0 else 0


def _tstat_2d(x: np.ndarray, lags: int) -> np.ndarray:
    """Newey-West (Bartlett) t-statistic of the mean along the last axis; lags=0 is the classic t-test."""
    n = _count(x)
    mu = _mean_2d(x)
    e = np.where(np.isnan(x), 0.0, x - mu[..., None])
    s = (e * e).sum(axis=-1)
    for lag in range(1, lags + 1):
        if lag >= e.shape[-1]:
            break
        w = 1.0 - lag / (lags + 1.0)
        s = s + 2.0 * w * (e[..., lag:] * e[..., :-lag]).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        var_mean = np.where(n > 1, s / np.where(n > 1, n - 1.0, 1.0) / np.where(n > 0, n, 1.0), np.nan)
        return np.asarray(np.where(var_mean > 0, mu / np.sqrt(np.where(var_mean > 0, var_mean, 1.0)), np.nan))


def _pvalue(t: float) -> float:
    """Two-sided p-value of a t-statistic under the normal approximation."""
    return math.erfc(abs(t) / math.sqrt(2.0)) if math.isfinite(t) else math.nan


def annual_return(returns: Any, periods: int = PERIODS_PER_YEAR) -> float:
    """Geometric annual return: prod(1 + r) ** (periods / n) - 1 (empyrical.annual_return)."""
    return float(_annual_return_2d(_vec(returns), periods))


def annual_volatility(returns: Any, periods: int = PERIODS_PER_YEAR) -> float:
    """Sample standard deviation (ddof 1) x sqrt(periods)."""
    return float(_annual_volatility_2d(_vec(returns), periods))


def sharpe(returns: Any, risk_free: float = 0.0, periods: int = PERIODS_PER_YEAR) -> float:
    """mean(r - rf) / std(r - rf) x sqrt(periods); rf is per period; NaN when volatility is 0."""
    return float(_sharpe_2d(_vec(returns), risk_free, periods))


def sortino(returns: Any, required_return: float = 0.0, periods: int = PERIODS_PER_YEAR) -> float:
    """Annualised mean excess return / annualised downside deviation (RMS of min(r - req, 0))."""
    return float(_sortino_2d(_vec(returns), required_return, periods))


def max_drawdown(returns: Any) -> float:
    """Largest peak-to-trough fall of compounded wealth (starting at 1), as a negative fraction."""
    return float(_max_drawdown_2d(_vec(returns)))


def calmar(returns: Any, periods: int = PERIODS_PER_YEAR) -> float:
    """Annual return / |max drawdown|; NaN without a drawdown."""
    return float(_calmar_2d(_vec(returns), periods))


def beta(returns: Any, benchmark: Any, risk_free: float = 0.0) -> float:
    """Cov(r, b) / Var(b) over sessions where both are present (empyrical.beta)."""
    x = _vec(returns)
    b = _vec(benchmark)
    if b.shape != x.shape:
        raise ValidationError("benchmark must be as long as returns", field="benchmark")
    return float(_beta_2d(x, b, risk_free))


def alpha(returns: Any, benchmark: Any, risk_free: float = 0.0, periods: int = PERIODS_PER_YEAR) -> float:
    """Jensen's alpha annualised by compounding: (1 + mean(r - rf - beta (b - rf))) ** periods - 1."""
    x = _vec(returns)
    b = _vec(benchmark)
    if b.shape != x.shape:
        raise ValidationError("benchmark must be as long as returns", field="benchmark")
    return float(_alpha_2d(x, b, risk_free, periods))


def excess_return(returns: Any, benchmark: Any, periods: int = PERIODS_PER_YEAR) -> float:
    """Annual return of the strategy minus annual return of the benchmark (both geometric)."""
    x = _vec(returns)
    b = _vec(benchmark)
    if b.shape != x.shape:
        raise ValidationError("benchmark must be as long as returns", field="benchmark")
    return float(_annual_return_2d(x, periods) - _annual_return_2d(b, periods))


def turnover(daily_turnover: Any, periods: int = PERIODS_PER_YEAR) -> float:
    """Annualised two-sided turnover: mean daily sum|trade| x periods (2.0 a day = full switch daily)."""
    x = _vec(daily_turnover)
    return float(_mean_2d(x) * periods)


def time_invested(exposure: Any) -> float:
    """Share of sessions that end with a non-zero gross exposure (a position held overnight)."""
    x = _vec(exposure)
    return float(np.mean(np.abs(x) > 1e-12)) if x.size else math.nan


def _period_slices(dates: Any, n: int, freq: str) -> tuple[np.ndarray, np.ndarray]:
    d = as_dates(dates)
    if d.shape[0] != n:
        raise ValidationError(f"{d.shape[0]} dates for {n} returns", field="dates")
    if freq == "m":
        key = d.astype("datetime64[M]").astype(np.int64)
    elif freq == "y":
        key = d.astype("datetime64[Y]").astype(np.int64)
    else:
        raise ConfigError(f"unknown period {freq!r}: use m or y")
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate([[True], key[1:] != key[:-1]]))
    return starts, key[starts]


def _period_returns_2d(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    if starts.size == 0:
        return np.zeros((*x.shape[:-1], 0))
    growth = 1.0 + np.where(np.isnan(x), 0.0, x)
    return np.asarray(np.multiply.reduceat(growth, starts, axis=-1) - 1.0)


def period_returns(returns: Any, dates: Any, freq: str = "m") -> pl.DataFrame:
    """Compounded return per calendar month ('m') or year ('y'): period (first date), return."""
    x = _vec(returns)
    starts, _ = _period_slices(dates, x.shape[0], freq)
    d = as_dates(dates)
    return pl.DataFrame(
        {"period": pl.Series(d[starts]).cast(pl.Date), "return": _period_returns_2d(x, starts)}
    )


def _win_rate_2d(m: np.ndarray) -> np.ndarray:
    wins = (m > 0).sum(axis=-1).astype(np.float64)
    losses = (m < 0).sum(axis=-1).astype(np.float64)
    return _ratio(wins, wins + losses)


def _profit_loss_2d(m: np.ndarray) -> np.ndarray:
    pos = m > 0
    neg = m < 0
    n_pos = pos.sum(axis=-1)
    n_neg = neg.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_win = np.where(n_pos > 0, np.where(pos, m, 0.0).sum(axis=-1) / np.maximum(n_pos, 1), np.nan)
        avg_loss = np.where(n_neg > 0, -np.where(neg, m, 0.0).sum(axis=-1) / np.maximum(n_neg, 1), np.nan)
    return _ratio(avg_win, avg_loss)


def monthly_win_rate(returns: Any, dates: Any) -> float:
    """Share of calendar months with a positive compounded return, among months that are not flat (0)."""
    x = _vec(returns)
    starts, _ = _period_slices(dates, x.shape[0], "m")
    return float(_win_rate_2d(_period_returns_2d(x, starts)))


def profit_loss_ratio(returns: Any, dates: Any) -> float:
    """Average winning month / |average losing month| (compounded calendar months); NaN without losses."""
    x = _vec(returns)
    starts, _ = _period_slices(dates, x.shape[0], "m")
    return float(_profit_loss_2d(_period_returns_2d(x, starts)))


def yearly_returns(returns: Any, dates: Any) -> pl.DataFrame:
    """Compounded return per calendar year: year, return (a partial first/last year is not annualised)."""
    x = _vec(returns)
    starts, keys = _period_slices(dates, x.shape[0], "y")
    return pl.DataFrame(
        {"year": pl.Series((keys + 1970).astype(np.int32)), "return": _period_returns_2d(x, starts)}
    )


@dataclass(frozen=True)
class TTest:
    """t-statistic of the mean daily return against 0, its two-sided p-value and the Newey-West lags."""

    t: float
    p_value: float
    lags: int
    n: int


def mean_return_tstat(returns: Any, lags: int | None = None) -> TTest:
    """Newey-West t-test of mean return != 0; lags=None picks floor(4 (n/100)^(2/9)), 0 is the plain t-test.

    The p-value uses the normal approximation (asymptotic, like the HAC variance it rests on).
    """
    x = _vec(returns)
    x = x[~np.isnan(x)]
    n = int(x.shape[0])
    k = _nw_lags(n) if lags is None else int(lags)
    if k < 0:
        raise ConfigError("lags must be >= 0")
    t = float(_tstat_2d(x, k))
    return TTest(t=t, p_value=_pvalue(t), lags=k, n=n)


@dataclass(frozen=True)
class SharpeCI:
    """Annualised Sharpe ratio with a bootstrap percentile confidence interval."""

    sharpe: float
    low: float
    high: float
    alpha: float
    n: int
    block: float | None


def sharpe_ci_bootstrap(
    returns: Any,
    n: int = 2000,
    alpha: float = 0.05,
    *,
    seed: int = 0,
    block: float | None = None,
    risk_free: float = 0.0,
    periods: int = PERIODS_PER_YEAR,
) -> SharpeCI:
    """Percentile bootstrap CI of the Sharpe ratio; block=None resamples days iid, block=L > 1 runs the
    stationary bootstrap (Politis-Romano) with mean block length L to keep autocorrelation.
    """
    if n < 1:
        raise ConfigError("n must be >= 1")
    if not 0.0 < alpha < 1.0:
        raise ConfigError("alpha must lie in (0, 1)")
    if block is not None and not block >= 1.0:
        raise ConfigError("block (mean block length) must be >= 1")
    x = _vec(returns)
    x = x[~np.isnan(x)] - risk_free
    point = float(_sharpe_2d(x, 0.0, periods))
    if x.shape[0] < 2:
        return SharpeCI(point, math.nan, math.nan, alpha, n, block)
    rng = np.random.default_rng(seed)
    boot = nb.bootstrap_sharpe_nb(np.ascontiguousarray(x), int(n), float(block or 1.0), rng)
    boot = boot[np.isfinite(boot)] * math.sqrt(periods)
    if boot.size == 0:
        return SharpeCI(point, math.nan, math.nan, alpha, n, block)
    lo, hi = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
    return SharpeCI(point, float(lo), float(hi), alpha, n, block)


def summary(
    result: BacktestResult,
    *,
    risk_free: float = 0.0,
    periods: int = PERIODS_PER_YEAR,
    ci: bool = True,
    n_boot: int = 2000,
    seed: int = 0,
    block: float | None = None,
    lags: int | None = None,
) -> dict[str, float]:
    """Headline metrics of a backtest over all its sessions (session 0 earns nothing but may pay costs)."""
    r = np.asarray(result.returns)
    b = np.asarray(result.benchmark)
    d = result.dates
    tt = mean_return_tstat(r, lags)
    out: dict[str, float] = {
        "annual_return": annual_return(r, periods),
        "annual_volatility": annual_volatility(r, periods),
        "sharpe": sharpe(r, risk_free, periods),
        "sortino": sortino(r, risk_free, periods),
        "max_drawdown": max_drawdown(r),
        "calmar": calmar(r, periods),
        "benchmark_annual_return": annual_return(b, periods),
        "excess_return": excess_return(r, b, periods),
        "beta": beta(r, b, risk_free),
        "alpha": alpha(r, b, risk_free, periods),
        "monthly_win_rate": monthly_win_rate(r, d),
        "profit_loss_ratio": profit_loss_ratio(r, d),
        "turnover": turnover(result.turnover, periods),
        "time_invested": time_invested(result.exposure),
        "t_stat": tt.t,
        "p_value": tt.p_value,
        "n_days": float(r.shape[0]),
    }
    if ci:
        c = sharpe_ci_bootstrap(r, n=n_boot, seed=seed, block=block, risk_free=risk_free, periods=periods)
        out["sharpe_ci_low"] = c.low
        out["sharpe_ci_high"] = c.high
    return out


def summary_table(results: Mapping[str, BacktestResult], **kwargs: Any) -> pl.DataFrame:
    """One row per named backtest: name + the summary() metrics (kwargs go to summary)."""
    rows = [{"name": name, **summary(res, **kwargs)} for name, res in results.items()]
    if not rows:
        return pl.DataFrame({"name": pl.Series([], dtype=pl.String)})
    return pl.DataFrame(rows)
