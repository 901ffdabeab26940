"""The published flow strategies as pure functions ``(panel, params) -> Decisions``, with named presets.

Every decision at close t uses only panel rows <= t (prices, AUM, and flows by availability date; see
`etfflow.backtest.data`), and earns the return from close t to close t+1 (``execution="close"``) or the
open-to-close return of session t+1 (``"next_open"``). Weights change only on rebalance sessions (the
last session of each day, week or month, as the engine defines them).

- ``percentile_rotation`` (Huatai study; contrarian): per asset (a sector, or one fund in time series),
  sum the flows that became known within each period (d/w/m); the signal is the rolling percentile
  of that period's net flow among the last ``window`` periods, itself included (the window minimum
  scores 1/n, the maximum 1), with ``min_periods`` periods of history (default: the full window).
  At each period end, long the assets whose percentile is <= ``threshold`` and short (side short or
  long_short) those >= ``upper`` (default max(1 - threshold, 0.90)); equal weight per leg, cash when
  none qualifies. Benchmark: equal weight of all assets (buy and hold for one asset).
- ``unexpected_flow`` (Xu, Yin and Zhao, "Are the Flows of Exchange-Traded Funds Informative?"): per
  fund, a rolling OLS of the daily flow (fraction of prior AUM, clipped to +-``clip``) of trade date s
  on the regressors in ``REGRESSORS`` (all dated <= s), over the last ``window`` trade dates already
  known. When the flow of trade date s becomes known (close d = its available_on; d = s + 1 with a
  one-session reporting lag) it is first predicted with the coefficients fitted on the flows known
  before it, then added to the window: the prediction error is the unexpected flow, standardised by
  the regression's residual standard deviation (z). At close d: informed reading, long funds with
  z > ``entry_z`` and short z < -``entry_z``; contrarian reading the opposite; AUM-weighted legs of
  0.5 each; positions held one session (open-to-close of d+1 with ``next_open``). When only one leg
  has names, ``lone_leg="half"`` (etfflow's default) keeps it at 0.5 and the rest in cash, ``"full"``
  (as the published code does) gives it the whole book. ``stale_days``: etfflow's default (0)
  trades a fund only on the sessions a new flow of it becomes known; with N > 0 a fund keeps its
  latest signal while its newest known flow is at most N sessions old, and is dropped once its share
  counts have stopped arriving for longer (the published code's missing-data rule). Preset
  ``xyz_published`` sets both (whole book; N = 5, our choice: the rule's N is a parameter).
- ``flow_momentum``: known flows summed over the last ``window`` sessions as a fraction of the AUM
  at close t, and acceleration = mean daily flow over the last ``fast`` sessions minus that over the
  last ``slow``, per AUM. Long the top ``top`` fraction by the flow sum among assets with a positive
  sum (and positive acceleration if ``require_acceleration``); short the mirror image.
- ``price_momentum`` (baseline): total return from t - ``lookback`` to t - ``skip`` sessions (12-1
  months by default); long the top ``top`` fraction (and short the bottom one); monthly.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit, prange

from etfflow.backtest import metrics as mt
from etfflow.backtest.data import Panel
from etfflow.backtest.engine import (
    LONG_SHORT_LEG,
    Backtest,
    BacktestResult,
    Execution,
    Holding,
    Side,
    apply_costs,
    rebalance_mask,
    signal_to_weights,
)
from etfflow.backtest.sweep import METRICS, grid_product, run_sweep, score
from etfflow.errors import ConfigError, DataQualityError
from etfflow.signals.nb import rolling_percentile_nb, rolling_sum_nb

__all__ = [
    "DEFAULT_PRESET",
    "DEFAULT_REGRESSORS",
    "PER_YEAR",
    "PRESETS",
    "REGRESSORS",
    "STRATEGIES",
    "SWEEP_DEFAULTS",
    "Decisions",
    "FlowMomentumParams",
    "PercentileRotationParams",
    "PriceMomentumParams",
    "Strategy",
    "StrategyRun",
    "UnexpectedFlowParams",
    "active_returns",
    "default_upper",
    "flow_momentum",
    "percentile_rotation",
    "percentile_signal",
    "price_momentum",
    "resolve",
    "rolling_residuals_nb",
    "run_strategy",
    "sweep_percentile_rotation",
    "sweep_strategy",
    "timing_returns",
    "unexpected_flow",
]

F8 = npt.NDArray[np.float64]
B1 = npt.NDArray[np.bool_]
Freq = Literal["d", "w", "m"]

#: periods per year of each signal frequency (windows in years -> periods)
PER_YEAR: dict[str, int] = {"d": 252, "w": 52, "m": 12}

#: regressors of the flow decomposition; every one is known at the close of the flow's trade date s
REGRESSORS: dict[str, str] = {
    "premium": "premium of close over NAV at close s (the arbitrage driver)",
    "premium_lag": "premium at close s-1",
    "ret": "total return of session s",
    "ret_lag1": "total return of session s-1",
    "ret_5": "total return summed over sessions s-5 .. s-1",
    "ret_20": "total return summed over sessions s-20 .. s-1",
    "flow_lag1": "flow (% AUM) of trade date s-1",
    "flow_5": "mean flow (% AUM) of trade dates s-5 .. s-1",
}
DEFAULT_REGRESSORS: tuple[str, ...] = (
    "premium",
    "premium_lag",
    "ret",
    "ret_lag1",
    "ret_5",
    "flow_lag1",
    "flow_5",
)


def default_upper(threshold: float) -> float:
    """The short-side percentile for a long threshold q: max(1 - q, 0.90) (1% -> 99%, 10%+ -> 90%)."""
    return max(1.0 - threshold, 0.90)


def _check(value: str, allowed: Sequence[str], name: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


@dataclass(frozen=True)
class PercentileRotationParams:
    """Huatai-style contrarian rotation on the rolling percentile of each asset's period net flow."""

    window: int = 104
    threshold: float = 0.05
    upper: float | None = None
    freq: Freq = "w"
    side: Side = "long"
    measure: Literal["usd", "pct"] = "usd"
    min_periods: int | None = None
    cost_bps: float = 0.0
    execution: Execution = "close"
    holding: Holding = "drift"

    def __post_init__(self) -> None:
        _check(self.freq, ("d", "w", "m"), "freq")
        _check(self.side, ("long", "short", "long_short"), "side")
        _check(self.measure, ("usd", "pct"), "measure")
        if self.window < 2:
            raise ConfigError("window must be at least 2 periods")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError("threshold must lie in (0, 1)")
        if self.side == "long_short" and self.threshold >= self.upper_bound:
            raise ConfigError("threshold must be below upper for a long/short book")

    @property
    def upper_bound(self) -> float:
        """The short-side percentile actually used."""
        return default_upper(self.threshold) if self.upper is None else float(self.upper)


@dataclass(frozen=True)
class UnexpectedFlowParams:
    """Xu-Yin-Zhao flow decomposition: trade the sign of the unexpected (residual) daily flow."""

    regressors: tuple[str, ...] = DEFAULT_REGRESSORS
    window: int = 250
    min_obs: int = 60
    direction: Literal["informed", "contrarian"] = "informed"
    entry_z: float = 0.0
    scheme: Literal["value", "equal"] = "value"
    side: Side = "long_short"
    clip: float = 0.25
    ridge: float = 1e-6
    cost_bps: float = 0.0
    execution: Execution = "close"
    holding: Holding = "drift"
    lone_leg: Literal["half", "full"] = "half"
    stale_days: int = 0

    def __post_init__(self) -> None:
        unknown = [r for r in self.regressors if r not in REGRESSORS]
        if unknown:
            raise ConfigError(f"unknown regressor(s) {unknown}; choose from {', '.join(REGRESSORS)}")
        _check(self.direction, ("informed", "contrarian"), "direction")
        _check(self.scheme, ("value", "equal"), "scheme")
        _check(self.side, ("long", "short", "long_short"), "side")
        if self.min_obs <= len(self.regressors) + 1 or self.window < self.min_obs:
            raise ConfigError("need window >= min_obs > number of regressors + 1")


@dataclass(frozen=True)
class FlowMomentumParams:
    """Follow the recent flow (sum over `window` sessions, % AUM) when it is accelerating."""

    window: int = 20
    fast: int = 5
    slow: int = 15
    top: float = 0.3
    require_acceleration: bool = True
    freq: Freq = "w"
    side: Side = "long"
    cost_bps: float = 0.0
    execution: Execution = "close"
    holding: Holding = "drift"

    def __post_init__(self) -> None:
        _check(self.freq, ("d", "w", "m"), "freq")
        _check(self.side, ("long", "short", "long_short"), "side")
        if not (1 <= self.fast < self.slow and self.window >= 1):
            raise ConfigError("need 1 <= fast < slow and window >= 1")
        if not 0.0 < self.top <= 1.0:
            raise ConfigError("top must lie in (0, 1]")


@dataclass(frozen=True)
class PriceMomentumParams:
    """Cross-sectional price momentum: return from t - lookback to t - skip sessions."""

    lookback: int = 252
    skip: int = 21
    top: float = 0.3
    freq: Freq = "m"
    side: Side = "long"
    cost_bps: float = 0.0
    execution: Execution = "close"
    holding: Holding = "drift"

    def __post_init__(self) -> None:
        _check(self.freq, ("d", "w", "m"), "freq")
        _check(self.side, ("long", "short", "long_short"), "side")
        if not 0 <= self.skip < self.lookback:
            raise ConfigError("need 0 <= skip < lookback")
        if not 0.0 < self.top <= 1.0:
            raise ConfigError("top must lie in (0, 1]")


Params = PercentileRotationParams | UnexpectedFlowParams | FlowMomentumParams | PriceMomentumParams


@dataclass(frozen=True)
class Decisions:
    """A strategy's target weights (dates x assets, decided at each close) and what it decided them from.

    ``first`` is the first row with a usable signal (the warm-up ends there); -1 when there is none.
    """

    strategy: str
    params: Params
    weights: F8
    signal: F8
    rebalance: str
    execution: str
    holding: str
    cost_bps: float
    first: int
    diagnostics: dict[str, Any] = field(default_factory=dict)


# --- shared helpers ------------------------------------------------------------------------------


def _lag(x: F8, k: int = 1) -> F8:
    out = np.full(x.shape, np.nan)
    if k < x.shape[0]:
        out[k:] = x[:-k] if k else x
    return out


def _first_row(signal: F8, rebal: B1) -> int:
    ok = np.flatnonzero(np.isfinite(signal).any(axis=1) & rebal)
    return int(ok[0]) if ok.size else -1


def _hold_between(values: F8, ends: B1) -> F8:
    """Each row gets the values of the latest period-end row <= it (NaN before the first)."""
    n_t = values.shape[0]
    idx = np.where(ends, np.arange(n_t), -1)
    np.maximum.accumulate(idx, out=idx)
    out = values[np.maximum(idx, 0)]
    out[idx < 0] = np.nan
    return np.asarray(out)


def _top_bottom(score: F8, frac: float, long_ok: B1, short_ok: B1) -> tuple[B1, B1]:
    """Per row: the top ceil(frac x n) assets by score (n = assets with a score) that are long_ok, and
    the bottom ones that are short_ok."""
    valid = np.isfinite(score)
    n = valid.sum(axis=1, keepdims=True)
    k = np.ceil(frac * n - 1e-12)
    hi_first = np.where(valid, -score, np.inf)
    lo_first = np.where(valid, score, np.inf)
    rank_hi = np.argsort(np.argsort(hi_first, axis=1, kind="stable"), axis=1, kind="stable")
    rank_lo = np.argsort(np.argsort(lo_first, axis=1, kind="stable"), axis=1, kind="stable")
    long_m = valid & (rank_hi < k) & long_ok
    short_m = valid & (rank_lo < k) & short_ok & ~long_m
    return long_m, short_m


def _weights(long_m: B1, short_m: B1, side: Side, *, aum: F8 | None = None) -> F8:
    scheme: Literal["equal", "value"] = "value" if aum is not None else "equal"
    return signal_to_weights(
        long_m if side != "short" else None,
        short_m if side != "long" else None,
        side=side,
        scheme=scheme,
        aum=aum,
    )


def _periodic_decisions(
    strategy: str,
    panel: Panel,
    p: PercentileRotationParams | FlowMomentumParams | PriceMomentumParams,
    signal: F8,
    long_m: B1,
    short_m: B1,
    **diagnostics: Any,
) -> Decisions:
    """Equal-weight decisions of a strategy that rebalances at each period end of `p.freq`."""
    rebal = rebalance_mask(panel.dates, p.freq)
    return Decisions(
        strategy=strategy,
        params=p,
        weights=_weights(long_m, short_m, p.side),
        signal=signal,
        rebalance=p.freq,
        execution=p.execution,
        holding=p.holding,
        cost_bps=p.cost_bps,
        first=_first_row(signal, rebal),
        diagnostics={**diagnostics, "n_long": long_m.sum(axis=1), "n_short": short_m.sum(axis=1)},
    )


# --- percentile rotation -------------------------------------------------------------------------


def percentile_signal(
    panel: Panel,
    freq: str,
    window: int,
    min_periods: int | None = None,
    measure: str = "usd",
) -> F8:
    """Rolling percentile of each asset's per-period net flow (flows grouped by availability date).

    Values are set at each period end (the engine's rebalance sessions) and held until the next one;
    NaN where the asset has no price at that close or fewer than ``min_periods`` periods of history.
    A period with no flow known in it is missing (skipped by the window); a partial first period (data
    that start mid-week) counts as one period.
    """
    _check(freq, ("d", "w", "m"), "freq")
    _check(measure, ("usd", "pct"), "measure")
    ends = rebalance_mask(panel.dates, freq)  # type: ignore[arg-type]
    x = panel.flow_usd
    fin = np.isfinite(x)
    csum = np.cumsum(np.where(fin, x, 0.0), axis=0)
    ccnt = np.cumsum(fin, axis=0)
    rows = np.flatnonzero(ends)
    if rows.size == 0:
        return np.full(x.shape, np.nan)
    s_end, c_end = csum[rows], ccnt[rows]
    s_prev = np.vstack([np.zeros((1, x.shape[1])), s_end[:-1]])
    c_prev = np.vstack([np.zeros((1, x.shape[1]), dtype=c_end.dtype), c_end[:-1]])
    per = np.where(c_end - c_prev > 0, s_end - s_prev, np.nan)
    if measure == "pct":
        aum = panel.aum.copy()
        valid = np.isfinite(aum)
        idx = np.where(valid, np.arange(aum.shape[0])[:, None], 0)
        np.maximum.accumulate(idx, axis=0, out=idx)
        filled = np.where(np.cumsum(valid, axis=0) > 0, aum[idx, np.arange(aum.shape[1])], np.nan)
        base = np.vstack([np.full((1, x.shape[1]), np.nan), filled[rows][:-1]])
        with np.errstate(invalid="ignore", divide="ignore"):
            per = np.where(base > 0, per / base, np.nan)
    mp = window if min_periods is None else int(min_periods)
    pct = rolling_percentile_nb(np.ascontiguousarray(per), int(window), max(1, min(mp, int(window))))
    full = np.full(x.shape, np.nan)
    full[rows] = pct
    held = _hold_between(full, ends)
    return np.where(panel.priced, held, np.nan)


def percentile_rotation(panel: Panel, params: PercentileRotationParams | None = None) -> Decisions:
    """Contrarian rotation: long assets whose period flow percentile is <= threshold (see module docs)."""
    p = params or PercentileRotationParams()
    sig = percentile_signal(panel, p.freq, p.window, p.min_periods, p.measure)
    valid = np.isfinite(sig)
    long_m = valid & (sig <= p.threshold)
    short_m = valid & (sig >= p.upper_bound)
    if p.side == "long_short":
        short_m &= ~long_m
    return _periodic_decisions("percentile_rotation", panel, p, sig, long_m, short_m)


# --- unexpected flow -----------------------------------------------------------------------------


@njit(cache=True)
def _solve_nb(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, bool]:
    """Solve a x = b by Gaussian elimination with partial pivoting; (x, False) when singular."""
    n = b.shape[0]
    m = a.copy()
    v = b.copy()
    for c in range(n):
        piv = c
        best = abs(m[c, c])
        for r in range(c + 1, n):
            if abs(m[r, c]) > best:
                best = abs(m[r, c])
                piv = r
        if not best > 1e-300:
            return v, False
        if piv != c:
            for q in range(n):
                tmp = m[c, q]
                m[c, q] = m[piv, q]
                m[piv, q] = tmp
            tmp = v[c]
            v[c] = v[piv]
            v[piv] = tmp
        for r in range(c + 1, n):
            f = m[r, c] / m[c, c]
            if f != 0.0:
                for q in range(c, n):
                    m[r, q] -= f * m[c, q]
                v[r] -= f * v[c]
    out = np.zeros(n)
    for c in range(n - 1, -1, -1):
        s = v[c]
        for q in range(c + 1, n):
            s -= m[c, q] * out[q]
        out[c] = s / m[c, c]
    return out, True


@njit(cache=True)
def _fit_nb(xtx: np.ndarray, xty: np.ndarray, ridge: float) -> tuple[np.ndarray, bool]:
    k = xty.shape[0]
    a = xtx.copy()
    tr = 0.0
    for i in range(k):
        tr += xtx[i, i]
    lam = ridge * tr / k
    for i in range(k):
        a[i, i] += lam
    return _solve_nb(a, xty)


@njit(cache=True, parallel=True)
def rolling_residuals_nb(
    y: np.ndarray, x: np.ndarray, known: np.ndarray, window: int, min_obs: int, ridge: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-sample residuals of a rolling OLS, added in the order the rows become known.

    y: (T, N) trade-date values; x: (K, T, N) regressors (include a constant yourself); known: (T, N)
    row at which each trade-date row becomes usable. Per fund, rows with finite y and x are taken in
    (known, trade date) order; each is predicted from the last ``window`` rows added before it (at least
    ``min_obs``), then added. Returns, all (T, N) except the last: z by known row (the latest trade
    date's when several become known together), residual by known row, residual and z by trade date,
    and the final coefficients (N, K).
    """
    n_t, n_a = y.shape
    k = x.shape[0]
    z_known = np.full((n_t, n_a), np.nan)
    e_known = np.full((n_t, n_a), np.nan)
    e_trade = np.full((n_t, n_a), np.nan)
    z_trade = np.full((n_t, n_a), np.nan)
    coef = np.full((n_a, k), np.nan)
    for j in prange(n_a):
        cnt = 0
        for s in range(n_t):
            ok = y[s, j] == y[s, j] and known[s, j] < n_t
            for q in range(k):
                if x[q, s, j] != x[q, s, j]:
                    ok = False
            if ok:
                cnt += 1
        rows = np.empty(cnt, dtype=np.int64)
        keys = np.empty(cnt, dtype=np.int64)
        c = 0
        for s in range(n_t):
            ok = y[s, j] == y[s, j] and known[s, j] < n_t
            for q in range(k):
                if x[q, s, j] != x[q, s, j]:
                    ok = False
            if ok:
                rows[c] = s
                keys[c] = known[s, j] * n_t + s
                c += 1
        order = np.argsort(keys, kind="mergesort")
        buf = np.empty(window, dtype=np.int64)
        head = 0
        nbuf = 0
        xtx = np.zeros((k, k))
        xty = np.zeros(k)
        yty = 0.0
        since = 0
        xs = np.empty(k)
        for p in range(cnt):
            s = rows[order[p]]
            d = known[s, j]
            for q in range(k):
                xs[q] = x[q, s, j]
            ys = y[s, j]
            if nbuf >= min_obs:
                beta, ok = _fit_nb(xtx, xty, ridge)
                if ok:
                    pred = 0.0
                    for q in range(k):
                        pred += xs[q] * beta[q]
                    e = ys - pred
                    bxy = 0.0
                    bxxb = 0.0
                    for q in range(k):
                        bxy += beta[q] * xty[q]
                        for r in range(k):
                            bxxb += beta[q] * xtx[q, r] * beta[r]
                    ssr = yty - 2.0 * bxy + bxxb
                    dof = nbuf - k
                    z = np.nan
                    if dof > 0 and ssr > 0.0:
                        z = e / np.sqrt(ssr / dof)
                    e_trade[s, j] = e
                    z_trade[s, j] = z
                    e_known[d, j] = e
                    z_known[d, j] = z
            if nbuf == window:
                old = buf[head]
                for q in range(k):
                    xo = x[q, old, j]
                    xty[q] -= xo * y[old, j]
                    for r in range(k):
                        xtx[q, r] -= xo * x[r, old, j]
                yty -= y[old, j] * y[old, j]
                buf[head] = s
                head = (head + 1) % window
            else:
                buf[nbuf] = s
                nbuf += 1
            for q in range(k):
                xty[q] += xs[q] * ys
                for r in range(k):
                    xtx[q, r] += xs[q] * xs[r]
            yty += ys * ys
            since += 1
            if since >= window:
                # re-add from scratch now and then so rounding from the subtractions cannot build up
                since = 0
                xtx[:, :] = 0.0
                xty[:] = 0.0
                yty = 0.0
                for b in range(nbuf):
                    o = buf[b]
                    for q in range(k):
                        xty[q] += x[q, o, j] * y[o, j]
                        for r in range(k):
                            xtx[q, r] += x[q, o, j] * x[r, o, j]
                    yty += y[o, j] * y[o, j]
        if nbuf >= min_obs:
            beta, ok = _fit_nb(xtx, xty, ridge)
            if ok:
                for q in range(k):
                    coef[j, q] = beta[q]
    return z_known, e_known, e_trade, z_trade, coef


def flow_regressors(panel: Panel, y: F8, names: Sequence[str]) -> F8:
    """(1 + K, T, N): a constant, then each named regressor aligned on the flow's trade date."""
    assert panel.known_index is not None
    known = panel.known_index
    r = panel.returns
    big = np.iinfo(np.int64).max
    known_prev = np.vstack([np.full((1, known.shape[1]), big), known[:-1]])
    lagged_known = [known_prev]
    for _ in range(4):
        prev = lagged_known[-1]
        lagged_known.append(np.vstack([np.full((1, known.shape[1]), big), prev[:-1]]))
    max5 = np.maximum.reduce(lagged_known)
    layers: list[F8] = [np.ones(y.shape)]
    for name in names:
        if name == "premium":
            v = panel.premium
        elif name == "premium_lag":
            v = _lag(panel.premium)
        elif name == "ret":
            v = r
        elif name == "ret_lag1":
            v = _lag(r)
        elif name == "ret_5":
            v = _lag(rolling_sum_nb(np.asfortranarray(r), 5, 5))
        elif name == "ret_20":
            v = _lag(rolling_sum_nb(np.asfortranarray(r), 20, 20))
        elif name == "flow_lag1":
            v = np.where(known_prev <= known, _lag(y), np.nan)
        elif name == "flow_5":
            mean5 = rolling_sum_nb(np.asfortranarray(y), 5, 5) / 5.0
            v = np.where(max5 <= known, _lag(mean5), np.nan)
        else:  # pragma: no cover - guarded by the params
            raise ConfigError(f"unknown regressor {name!r}")
        layers.append(np.asarray(v, dtype=np.float64))
    return np.ascontiguousarray(np.stack(layers))


def _ffill_rows(x: F8) -> F8:
    """Each column's last finite value carried down the rows."""
    idx = np.where(np.isfinite(x), np.arange(x.shape[0])[:, None], -1)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = x[np.maximum(idx, 0), np.arange(x.shape[1])[None, :]]
    return np.where(idx >= 0, out, np.nan)


def flow_age(panel: Panel) -> F8:
    """Sessions between each close t and the latest trade date whose flow is known by t (inf: none yet)."""
    assert panel.known_index is not None and panel.trade_flow_pct is not None
    n_t, n_a = panel.known_index.shape
    latest = np.full((n_t, n_a), -1, dtype=np.int64)
    s_idx, j_idx = np.nonzero(np.isfinite(panel.trade_flow_pct) & (panel.known_index < n_t))
    k = panel.known_index[s_idx, j_idx]
    np.maximum.at(latest, (k, j_idx), s_idx)
    np.maximum.accumulate(latest, axis=0, out=latest)
    age = np.arange(n_t)[:, None] - latest
    return np.where(latest >= 0, age, np.inf).astype(np.float64)


def unexpected_flow(panel: Panel, params: UnexpectedFlowParams | None = None) -> Decisions:
    """Long/short on the sign of each fund's unexpected flow (rolling out-of-sample regression residual)."""
    p = params or UnexpectedFlowParams()
    if panel.trade_flow_pct is None or panel.known_index is None:
        raise ConfigError("unexpected_flow needs a fund-level panel (trade-date flows), not a group panel")
    y = np.clip(panel.trade_flow_pct, -p.clip, p.clip)
    x = flow_regressors(panel, y, p.regressors)
    z, e, e_trade, z_trade, coef = rolling_residuals_nb(
        np.ascontiguousarray(y), x, np.ascontiguousarray(panel.known_index), p.window, p.min_obs, p.ridge
    )
    aum_ok = np.isfinite(panel.aum) & (panel.aum > 0)
    if p.stale_days > 0:  # hold the latest signal until the fund's flows are stale
        z = np.where(flow_age(panel) <= p.stale_days, _ffill_rows(z), np.nan)
    sig = np.where(panel.priced & aum_ok, z, np.nan)
    valid = np.isfinite(sig)
    pos = valid & (sig > p.entry_z)
    neg = valid & (sig < -p.entry_z)
    long_m, short_m = (pos, neg) if p.direction == "informed" else (neg, pos)
    aum = np.where(aum_ok, panel.aum, np.nan) if p.scheme == "value" else None
    w = _weights(long_m, short_m, p.side, aum=aum)
    if p.lone_leg == "full" and p.side == "long_short":
        lone = long_m.any(axis=1) ^ short_m.any(axis=1)
        w[lone] *= 1.0 / LONG_SHORT_LEG  # the lone leg takes the whole book
    names = ("const", *p.regressors)
    coefficients = pl.DataFrame(
        {"ticker": list(panel.assets), **{n: coef[:, i] for i, n in enumerate(names)}}
    )
    return Decisions(
        strategy="unexpected_flow",
        params=p,
        weights=w,
        signal=sig,
        rebalance="d",
        execution=p.execution,
        holding=p.holding,
        cost_bps=p.cost_bps,
        first=_first_row(sig, np.ones(len(panel.dates), dtype=np.bool_)),
        diagnostics={
            "residual": e_trade,
            "residual_z": z_trade,
            "residual_known": e,
            "coefficients": coefficients,
            "n_long": long_m.sum(axis=1),
            "n_short": short_m.sum(axis=1),
        },
    )


# --- momentum ------------------------------------------------------------------------------------


def flow_momentum(panel: Panel, params: FlowMomentumParams | None = None) -> Decisions:
    """Follow accelerating flows: top assets by summed known flow over `window` sessions, % of AUM."""
    p = params or FlowMomentumParams()
    f = np.asfortranarray(panel.flow_usd)
    aum = np.where(np.isfinite(panel.aum) & (panel.aum > 0), panel.aum, np.nan)
    need = max(1, math.ceil(0.8 * p.window))
    with np.errstate(invalid="ignore", divide="ignore"):
        level = rolling_sum_nb(f, p.window, need) / aum
        fast = rolling_sum_nb(f, p.fast, p.fast) / p.fast
        slow = rolling_sum_nb(f, p.slow, max(1, math.ceil(0.8 * p.slow))) / p.slow
        accel = (fast - slow) / aum
    level = np.where(panel.priced, level, np.nan)
    up = level > 0
    down = level < 0
    if p.require_acceleration:
        up &= accel > 0
        down &= accel < 0
    long_m, short_m = _top_bottom(level, p.top, up, down)
    return _periodic_decisions("flow_momentum", panel, p, level, long_m, short_m, acceleration=accel)


def price_momentum(panel: Panel, params: PriceMomentumParams | None = None) -> Decisions:
    """Baseline: long the top `top` fraction by total return from t - lookback to t - skip sessions."""
    p = params or PriceMomentumParams()
    r = panel.returns
    fin = np.isfinite(r)
    logs = np.cumsum(np.where(fin, np.log1p(np.where(fin, r, 0.0)), 0.0), axis=0)
    cnt = np.cumsum(fin, axis=0)
    n_t = r.shape[0]
    mom = np.full(r.shape, np.nan)
    span = p.lookback - p.skip
    if n_t > p.lookback:
        a = logs[p.lookback - p.skip : n_t - p.skip]  # row t - skip
        b = logs[0 : n_t - p.lookback]  # row t - lookback
        ca = cnt[p.lookback - p.skip : n_t - p.skip]
        cb = cnt[0 : n_t - p.lookback]
        ok = (ca - cb) >= 0.9 * span
        mom[p.lookback :] = np.where(ok, np.expm1(a - b), np.nan)
    mom = np.where(panel.priced, mom, np.nan)
    yes = np.ones(r.shape, dtype=np.bool_)
    long_m, short_m = _top_bottom(mom, p.top, yes, yes)
    return _periodic_decisions("price_momentum", panel, p, mom, long_m, short_m)


# --- registry, presets and runs ------------------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    """A registered strategy: its function, parameter class, default universe and one-line summary."""

    name: str
    run: Callable[[Panel, Any], Decisions]
    params: type
    universe: Literal["sectors", "funds"]
    summary: str
    definition: str = ""


STRATEGIES: dict[str, Strategy] = {
    "percentile_rotation": Strategy(
        "percentile_rotation",
        percentile_rotation,
        PercentileRotationParams,
        "sectors",
        "contrarian: long groups whose period net flow is at an extreme low percentile of its history",
        "per asset, sum the flows that became known within each period (d/w/m); signal = the rolling "
        "percentile of that period sum among the last `window` periods (itself included; the full window "
        "is needed first); at each period end long the assets at or below `threshold`, short (side short "
        "or long_short) those at or above `upper` (default max(1 - threshold, 0.90)); equal weight per "
        "leg (0.5/0.5 long/short), cash when none qualifies.",
    ),
    "unexpected_flow": Strategy(
        "unexpected_flow",
        unexpected_flow,
        UnexpectedFlowParams,
        "funds",
        "long/short the sign of the unexpected (residual) daily flow, value weighted, held one session",
        "per fund, rolling OLS (last `window` known trade dates) of the daily flow (% of prior AUM, clipped) "
        "on a constant and `regressors` (premium, premium_lag: arbitrage; ret, ret_lag1, ret_5, ret_20: "
        "returns chased; flow_lag1, flow_5: flow persistence), all dated <= the flow's trade date s; when "
        "the flow of s becomes known (close s+1 for a one-session reporting lag) it is predicted with the "
        "coefficients fitted on the flows known before it: the error, in residual standard deviations, is "
        "the unexpected flow z; informed reading: long z > entry_z, short z < -entry_z (contrarian: the "
        "opposite), AUM-weighted legs of 0.5, held one session.",
    ),
    "flow_momentum": Strategy(
        "flow_momentum",
        flow_momentum,
        FlowMomentumParams,
        "sectors",
        "follow the 20-session flow (% AUM) where 5-session flows run above 15-session flows",
        "flows known over the last `window` sessions / AUM at close t; acceleration = mean daily flow "
        "over the last `fast` sessions minus that over the last `slow`, / AUM; long the top `top` "
        "fraction by the flow sum among assets with a positive sum (and positive acceleration), short the "
        "mirror image; equal weight; rebalanced at `freq` period ends.",
    ),
    "price_momentum": Strategy(
        "price_momentum",
        price_momentum,
        PriceMomentumParams,
        "sectors",
        "baseline: long the top 30% by 12-1 month total return, monthly",
        "total return from close t - `lookback` to close t - `skip` sessions (at least 90% of the "
        "sessions with returns); long the top `top` fraction, short the bottom one; equal weight; "
        "rebalanced at `freq` period ends.",
    ),
}

#: named presets: preset -> (strategy, params)
PRESETS: dict[str, tuple[str, Params]] = {
    "huatai_weekly_5pct_2y": ("percentile_rotation", PercentileRotationParams(104, 0.05, freq="w")),
    "huatai_weekly_10pct_1y": ("percentile_rotation", PercentileRotationParams(52, 0.10, freq="w")),
    "huatai_monthly_10pct_3y": ("percentile_rotation", PercentileRotationParams(36, 0.10, freq="m")),
    "huatai_daily_1pct_1y": ("percentile_rotation", PercentileRotationParams(252, 0.01, freq="d")),
    "huatai_weekly_10pct_2y_ls": (
        "percentile_rotation",
        PercentileRotationParams(104, 0.10, freq="w", side="long_short"),
    ),
    "xyz_informed": ("unexpected_flow", UnexpectedFlowParams(direction="informed")),
    "xyz_contrarian": ("unexpected_flow", UnexpectedFlowParams(direction="contrarian")),
    "xyz_informed_open": (
        "unexpected_flow",
        UnexpectedFlowParams(direction="informed", execution="next_open"),
    ),
    "xyz_published": (
        "unexpected_flow",
        UnexpectedFlowParams(direction="informed", lone_leg="full", stale_days=5),
    ),
    "flow_momentum_20d": ("flow_momentum", FlowMomentumParams()),
    "price_momentum_12_1": ("price_momentum", PriceMomentumParams()),
}

#: the preset used when only a strategy is named
DEFAULT_PRESET: dict[str, str] = {
    "percentile_rotation": "huatai_weekly_5pct_2y",
    "unexpected_flow": "xyz_informed",
    "flow_momentum": "flow_momentum_20d",
    "price_momentum": "price_momentum_12_1",
}


def resolve(strategy: str, preset: str | None = None, **overrides: Any) -> tuple[Strategy, Params]:
    """The strategy and its parameters: a preset (default: the strategy's own) with field overrides."""
    if strategy in PRESETS and preset is None:
        strategy, preset = PRESETS[strategy][0], strategy
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    spec = STRATEGIES[strategy]
    name = preset or DEFAULT_PRESET[strategy]
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    owner, base = PRESETS[name]
    if owner != strategy:
        raise ConfigError(f"preset {name!r} belongs to {owner}, not {strategy}")
    fields = {f.name for f in dataclasses.fields(spec.params)}
    unknown = sorted(k for k in overrides if k not in fields)
    if unknown:
        raise ConfigError(f"{strategy} has no parameter(s) {unknown}; it takes {', '.join(sorted(fields))}")
    params: Params = dataclasses.replace(base, **overrides)
    return spec, params


@dataclass(frozen=True)
class StrategyRun:
    """One backtest of one strategy on one panel, over its evaluation span (warm-up excluded).

    ``stats``: `etfflow.backtest.metrics.summary` plus ``active_return``/``active_t_stat`` (the daily
    return minus the previous close's net exposure x that day's benchmark return: what selection
    added over holding the benchmark with the same exposure; identically 0 for one asset held long)
    and ``timing_return``/``timing_t_stat`` (the same with the span's mean benchmark return: what
    being in or out at the right times added). ``benchmark_stats``: headline metrics of the benchmark.
    """

    name: str
    strategy: str
    params: Params
    decisions: Decisions
    result: BacktestResult
    stats: dict[str, float]
    benchmark_stats: dict[str, float]
    label: str | None
    universe: str
    assets: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def synthetic(self) -> bool:
        """Whether it ran on the synthetic demo market."""
        return bool(self.label and self.label.startswith("SYNTHETIC"))


def _series_stats(r: F8, dates: np.ndarray, n_boot: int, seed: int) -> dict[str, float]:
    tt = mt.mean_return_tstat(r)
    ci = mt.sharpe_ci_bootstrap(r, n=n_boot, seed=seed)
    return {
        "annual_return": mt.annual_return(r),
        "annual_volatility": mt.annual_volatility(r),
        "sharpe": mt.sharpe(r),
        "sortino": mt.sortino(r),
        "max_drawdown": mt.max_drawdown(r),
        "calmar": mt.calmar(r),
        "monthly_win_rate": mt.monthly_win_rate(r, dates),
        "t_stat": tt.t,
        "p_value": tt.p_value,
        "sharpe_ci_low": ci.low,
        "sharpe_ci_high": ci.high,
        "n_days": float(r.shape[0]),
    }


def _span(panel: Panel, first: int, start: Any, end: Any) -> tuple[int, int]:
    lo, hi = panel.returns_span()
    if first < 0:
        raise DataQualityError(
            "the strategy never has a usable signal on this panel (too little history for its window?)"
        )
    lo = max(lo, first)
    if start is not None:
        lo = max(lo, int(np.searchsorted(panel.dates, np.datetime64(start, "D"), "left")))
    if end is not None:
        hi = min(hi, int(np.searchsorted(panel.dates, np.datetime64(end, "D"), "right")))
    if hi - lo < 2:
        raise DataQualityError("fewer than two sessions to evaluate after the warm-up")
    return lo, hi


def _market(panel: Panel, lo: int, hi: int, execution: str) -> Backtest:
    opens = None
    if panel.open_returns is not None:
        opens = panel.open_returns[lo:hi]
    elif execution == "next_open":
        raise ConfigError(
            "execution='next_open' needs open prices: this panel has none (use close-to-close, "
            "or prices with an open column)"
        )
    return Backtest.from_arrays(panel.returns[lo:hi], panel.dates[lo:hi], panel.assets, open_returns=opens)


def active_returns(result: BacktestResult) -> F8:
    """r_t - (net exposure after close t-1) x benchmark_t: what the book earned beyond that exposure."""
    prev = np.concatenate([[0.0], np.asarray(result.net_exposure)[:-1]])
    return np.asarray(result.returns - prev * result.benchmark)


def timing_returns(result: BacktestResult) -> F8:
    """r_t - (net exposure after close t-1) x the span's mean benchmark return: the edge of being in or
    out at the right times (zero on average for exposure unrelated to the coming returns)."""
    prev = np.concatenate([[0.0], np.asarray(result.net_exposure)[:-1]])
    mean_b = float(np.mean(result.benchmark[1:])) if len(result.benchmark) > 1 else 0.0
    return np.asarray(result.returns - prev * mean_b)


def run_strategy(
    panel: Panel,
    strategy: str,
    preset: str | None = None,
    *,
    params: Params | None = None,
    start: Any = None,
    end: Any = None,
    n_boot: int = 2000,
    seed: int = 0,
    universe: str = "",
    **overrides: Any,
) -> StrategyRun:
    """Decide on the whole panel, then backtest from the first usable decision to the last return.

    Pass `params` to skip preset resolution; otherwise `preset` (default: the strategy's) and field
    overrides. The benchmark is the engine's: equal weight of the panel's assets, daily rebalanced.
    """
    if params is None:
        spec, params = resolve(strategy, preset, **overrides)
        name = preset or (strategy if strategy in PRESETS else DEFAULT_PRESET[spec.name])
    else:
        spec = STRATEGIES[strategy]
        name = preset or strategy
    dec = spec.run(panel, params)
    lo, hi = _span(panel, dec.first, start, end)
    bt = _market(panel, lo, hi, dec.execution)
    res = bt.run(
        dec.weights[lo:hi],
        rebalance=dec.rebalance,  # type: ignore[arg-type]
        cost_bps=dec.cost_bps,
        execution=dec.execution,  # type: ignore[arg-type]
        holding=dec.holding,  # type: ignore[arg-type]
    )
    stats = mt.summary(res, n_boot=n_boot, seed=seed)
    act = active_returns(res)
    att = mt.mean_return_tstat(act)
    stats["active_return"] = float(np.mean(act) * mt.PERIODS_PER_YEAR)
    stats["active_t_stat"] = att.t
    tim = timing_returns(res)
    stats["timing_return"] = float(np.mean(tim) * mt.PERIODS_PER_YEAR)
    stats["timing_t_stat"] = mt.mean_return_tstat(tim).t
    stats["n_nan_returns"] = float(res.n_nan_returns)
    bstats = _series_stats(np.asarray(res.benchmark), res.dates, n_boot, seed)
    return StrategyRun(
        name=name,
        strategy=spec.name,
        params=params,
        decisions=dec,
        result=res,
        stats=stats,
        benchmark_stats=bstats,
        label=panel.label,
        universe=universe
        or ("+".join(panel.assets) if len(panel.assets) <= 3 else f"{len(panel.assets)} assets"),
        assets=panel.assets,
        notes=panel.notes,
    )


def _describe(assets: Sequence[str]) -> str:
    return "+".join(assets) if len(assets) <= 3 else f"{len(assets)} assets"


# --- sweeps --------------------------------------------------------------------------------------

#: default grids: percentile rotation (thresholds x windows in years x freqs x sides) and the others
SWEEP_DEFAULTS: dict[str, dict[str, Sequence[Any]]] = {
    "percentile_rotation": {
        "threshold": (0.01, 0.05, 0.10, 0.20, 0.50),
        "window_years": (1, 2, 3),
        "freq": ("d", "w", "m"),
        "side": ("long", "short", "long_short"),
    },
    "unexpected_flow": {"window": (120, 250, 500), "direction": ("informed", "contrarian")},
    "flow_momentum": {"window": (10, 20, 60), "top": (0.2, 0.3, 0.5), "freq": ("w", "m")},
    "price_momentum": {"lookback": (126, 252), "top": (0.2, 0.3, 0.5), "freq": ("m",)},
}


def sweep_percentile_rotation(
    panel: Panel,
    *,
    thresholds: Sequence[float] = (0.01, 0.05, 0.10, 0.20, 0.50),
    window_years: Sequence[float] = (1, 2, 3),
    freqs: Sequence[str] = ("d", "w", "m"),
    sides: Sequence[Side] = ("long", "short", "long_short"),
    cost_bps: Sequence[float] = (0.0,),
    measure: str = "usd",
    holding: Holding = "drift",
    execution: Execution = "close",
) -> pl.DataFrame:
    """Every threshold x window x freq x side (x cost) of the percentile rotation in one call: a tidy table.

    Columns: window_years, window (periods), threshold (long at or below), upper (`default_upper`),
    freq, side, cost_bps, then `etfflow.backtest.sweep.METRICS`. Windows are given in years and turned
    into periods of each frequency (1y = 252 d, 52 w, 12 m). Every combo is scored over one common span:
    from the first period end at which the longest window has a signal, to the last return.
    """
    if not thresholds or not window_years or not freqs or not sides:
        raise ConfigError("the sweep grid has an empty axis")
    signals: dict[str, dict[float, F8]] = {}
    first = 0
    for f in freqs:
        _check(f, ("d", "w", "m"), "freq")
        ends = rebalance_mask(panel.dates, f)  # type: ignore[arg-type]
        signals[f] = {}
        for y in window_years:
            w = max(2, round(float(y) * PER_YEAR[f]))
            sig = percentile_signal(panel, f, w, None, measure)
            signals[f][float(y)] = sig
            fr = _first_row(sig, ends)
            if fr < 0:
                raise DataQualityError(f"no signal for a {y}-year window at freq {f}: too little history")
            first = max(first, fr)
    lo, hi = panel.returns_span()
    lo = max(lo, first)
    if hi - lo < 2:
        raise DataQualityError("fewer than two sessions to evaluate in the sweep")
    pairs = [(float(q), default_upper(float(q))) for q in thresholds]
    tables = []
    for f in freqs:
        sl = {k: v[lo:hi] for k, v in signals[f].items()}
        table = run_sweep(
            sl,
            panel.returns[lo:hi],
            panel.dates[lo:hi],
            thresholds=pairs,
            freqs=[f],  # type: ignore[list-item]
            sides=list(sides),
            cost_bps=list(cost_bps),
            holding=holding,
            execution=execution,
            open_returns=None if panel.open_returns is None else panel.open_returns[lo:hi],
            key_name="window_years",
        )
        per = PER_YEAR[f]
        tables.append(
            table.with_columns(
                (pl.col("window_years") * per).round(0).cast(pl.Int64).alias("window"),
                pl.col("lower").alias("threshold"),
            )
        )
    out = pl.concat(tables)
    first_cols = ["window_years", "window", "threshold", "upper", "freq", "side", "cost_bps"]
    return out.select(first_cols + [m for m in METRICS])


def sweep_strategy(
    panel: Panel,
    strategy: str,
    grid: Mapping[str, Sequence[Any]] | None = None,
    *,
    preset: str | None = None,
    **fixed: Any,
) -> pl.DataFrame:
    """A grid over a strategy's parameters (percentile rotation: `sweep_percentile_rotation`).

    Other strategies: each combo's weights are built with the preset's parameters updated by the
    combo; every combo is scored over one common span (from the latest first decision).
    """
    spec, base = resolve(strategy, preset, **fixed)
    g = dict(grid or SWEEP_DEFAULTS[spec.name])
    if spec.name == "percentile_rotation":
        assert isinstance(base, PercentileRotationParams)
        g2 = {**SWEEP_DEFAULTS["percentile_rotation"], **g}
        unknown = sorted(set(g2) - {"threshold", "window_years", "freq", "side", "cost_bps"})
        if unknown:
            raise ConfigError(
                f"percentile_rotation sweeps threshold, window_years, freq, side, cost_bps; not {unknown}"
            )
        return sweep_percentile_rotation(
            panel,
            thresholds=g2["threshold"],
            window_years=g2["window_years"],
            freqs=g2["freq"],
            sides=g2["side"],
            cost_bps=g2.get("cost_bps", (base.cost_bps,)),
            measure=base.measure,
            holding=base.holding,
            execution=base.execution,
        )
    fields = {f.name for f in dataclasses.fields(spec.params)}
    unknown = sorted(k for k in g if k not in fields)
    if unknown:
        raise ConfigError(f"{spec.name} has no parameter(s) {unknown} to sweep")
    combos = grid_product(**g)
    decs = []
    for c in combos:
        params = dataclasses.replace(base, **c)
        decs.append(spec.run(panel, params))
    first = max(d.first for d in decs)
    if any(d.first < 0 for d in decs):
        raise DataQualityError("a sweep combo never has a usable signal on this panel")
    lo, hi = _span(panel, first, None, None)
    rows, series, turns, expos = [], [], [], []
    bench = np.zeros(0)
    for c, d in zip(combos, decs, strict=True):
        bt = _market(panel, lo, hi, d.execution)
        res = bt.run(
            d.weights[lo:hi],
            rebalance=d.rebalance,  # type: ignore[arg-type]
            cost_bps=0.0,
            execution=d.execution,  # type: ignore[arg-type]
            holding=d.holding,  # type: ignore[arg-type]
        )
        bench = np.asarray(res.benchmark)
        rows.append({k: (v if not isinstance(v, tuple) else ",".join(map(str, v))) for k, v in c.items()})
        series.append(apply_costs(res.gross, res.turnover, d.cost_bps))
        turns.append(np.asarray(res.turnover))
        expos.append(np.asarray(res.exposure))
    stats = score(np.stack(series), np.stack(turns), np.stack(expos), bench, panel.dates[lo:hi])
    return pl.DataFrame(rows).with_columns(*(pl.Series(m, stats[m]) for m in METRICS))
