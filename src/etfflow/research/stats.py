"""Statistics a referee asks for: deflated Sharpe ratio, split-half selection, headline statistics.

Deflated Sharpe ratio (Bailey and Lopez de Prado, "The Deflated Sharpe Ratio", J. Portfolio
Management 40(5), 2014): with per-period Sharpe ratio SR estimated on T returns of skewness g3 and
kurtosis g4 (not excess),

    PSR(SR*) = Phi( (SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2) )

and, after N trials whose Sharpe ratios have variance V, the benchmark SR* is the expected maximum
of N draws under the null:

    SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))),  gamma = 0.5772...

DSR = PSR(SR0): the probability that the true Sharpe ratio is above zero once the selection among N
configurations is accounted for. All Sharpe ratios here are per period (not annualised).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from etfflow.backtest import metrics as mt
from etfflow.errors import ConfigError

__all__ = [
    "EULER_GAMMA",
    "Headline",
    "deflated_sharpe",
    "expected_max_sharpe",
    "headline",
    "probabilistic_sharpe",
    "split_half_selection",
]

F8 = npt.NDArray[np.float64]
EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


def _moments(x: F8) -> tuple[float, float, float, int]:
    """Per-period Sharpe (ddof 1), skewness and kurtosis (population moments, not excess), n."""
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n < 3:
        return math.nan, math.nan, math.nan, n
    mu = float(x.mean())
    sd = float(x.std(ddof=1))
    if not sd > 0:
        return math.nan, math.nan, math.nan, n
    c = x - mu
    m2 = float((c**2).mean())
    g3 = float((c**3).mean()) / m2**1.5
    g4 = float((c**4).mean()) / m2**2
    return mu / sd, g3, g4, n


def probabilistic_sharpe(sr: float, sr_star: float, n: int, skew: float = 0.0, kurt: float = 3.0) -> float:
    """P(true SR > sr_star) given an estimated per-period SR over n returns (Bailey-Lopez de Prado PSR)."""
    if n < 2 or not math.isfinite(sr):
        return math.nan
    den = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if not den > 0:
        return math.nan
    return _N.cdf((sr - sr_star) * math.sqrt(n - 1.0) / math.sqrt(den))


def expected_max_sharpe(n_trials: int, var_sharpe: float) -> float:
    """Expected maximum per-period Sharpe ratio of n_trials strategies with no skill (SR0 above)."""
    if n_trials < 1:
        raise ConfigError("n_trials must be >= 1")
    if n_trials == 1 or not var_sharpe > 0:
        return 0.0
    a = _N.inv_cdf(1.0 - 1.0 / n_trials)
    b = _N.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(var_sharpe) * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b)


def deflated_sharpe(returns: Any, n_trials: int, var_sharpe: float) -> dict[str, float]:
    """DSR of one return series selected among n_trials whose per-period Sharpe ratios have var_sharpe."""
    x = np.asarray(returns, dtype=np.float64)
    sr, g3, g4, n = _moments(x)
    sr0 = expected_max_sharpe(n_trials, var_sharpe)
    return {
        "sharpe_per_period": sr,
        "sr0_per_period": sr0,
        "skew": g3,
        "kurtosis": g4,
        "n": float(n),
        "n_trials": float(n_trials),
        "dsr": probabilistic_sharpe(sr, sr0, n, g3, g4) if math.isfinite(sr) else math.nan,
        "psr0": probabilistic_sharpe(sr, 0.0, n, g3, g4) if math.isfinite(sr) else math.nan,
    }


@dataclass(frozen=True)
class Headline:
    """The statistics reported for every headline number (returns per period, `periods` a year)."""

    annual_return: float
    sharpe: float
    ci_low: float
    ci_high: float
    t_stat: float
    p_value: float
    nw_lags: int
    n: int

    def as_dict(self) -> dict[str, float]:
        """Plain dict for JSON."""
        return {k: float(v) for k, v in self.__dict__.items()}


def headline(
    returns: Any, *, periods: int = mt.PERIODS_PER_YEAR, n_boot: int = 1000, seed: int = 0
) -> Headline:
    """Annual return, Sharpe with a stationary-bootstrap 95% CI, Newey-West t of the mean return."""
    x = np.asarray(returns, dtype=np.float64)
    x = x[np.isfinite(x)]
    tt = mt.mean_return_tstat(x)
    block = 5.0 if periods >= 52 else None
    ci = mt.sharpe_ci_bootstrap(x, n=n_boot, seed=seed, block=block, periods=periods)
    return Headline(
        annual_return=mt.annual_return(x, periods),
        sharpe=mt.sharpe(x, periods=periods),
        ci_low=ci.low,
        ci_high=ci.high,
        t_stat=tt.t,
        p_value=tt.p_value,
        nw_lags=tt.lags,
        n=tt.n,
    )


def split_half_selection(series: F8, *, min_obs: int = 60) -> dict[str, Any]:
    """Choose the configuration (row of `series`, configs x periods) with the best first-half Sharpe.

    Returns the chosen row, the split index, the first-half Sharpe of every row (per period), the
    number of configurations with a first-half Sharpe (N for the DSR) and the in-sample DSR of the
    chosen row. The second half is for reporting only.
    """
    s = np.atleast_2d(np.asarray(series, dtype=np.float64))
    n_t = s.shape[1]
    mid = n_t // 2
    first = s[:, :mid]
    mu = np.nanmean(np.where(np.isfinite(first), first, np.nan), axis=1)
    sd = np.nanstd(np.where(np.isfinite(first), first, np.nan), axis=1, ddof=1)
    cnt = np.isfinite(first).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        srs = np.where((sd > 0) & (cnt >= min_obs), mu / sd, np.nan)
    ok = np.isfinite(srs)
    if not ok.any():
        return {"chosen": -1, "split": mid, "n_trials": 0, "first_half_sharpe": srs, "dsr_in_sample": {}}
    chosen = int(np.nanargmax(np.where(ok, srs, -np.inf)))
    n_trials = int(ok.sum())
    var = float(np.var(srs[ok], ddof=1)) if n_trials > 1 else 0.0
    dsr = deflated_sharpe(first[chosen], n_trials, var)
    return {
        "chosen": chosen,
        "split": mid,
        "n_trials": n_trials,
        "first_half_sharpe": srs,
        "dsr_in_sample": dsr,
    }
