"""Numba kernels of the backtester on plain float64 arrays (dates x assets); `_nb` suffix, no frames.

Alignment used by every kernel:
- ``target[t]``: weights decided at close t from data known at close t.
- ``rets[t]``: return earned on session t (close t-1 -> close t, or open t -> close t when intraday).
- A weight decided at close t therefore earns ``rets[t + 1]`` only; ``gross[0]`` is always 0.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "bootstrap_sharpe_nb",
    "equal_weight_returns_nb",
    "quantile_buckets_nb",
    "quantile_means_nb",
    "score_rows_nb",
    "simulate_nb",
    "spearman_rows_nb",
    "threshold_sweep_nb",
]


@njit(cache=True)
def _earn_nb(w: np.ndarray, r: np.ndarray) -> tuple[float, int]:
    """Portfolio return of holdings w over one session; NaN returns of held assets count as 0."""
    rp = 0.0
    n_nan = 0
    for i in range(w.shape[0]):
        if w[i] != 0.0:
            x = r[i]
            if np.isnan(x):
                n_nan += 1
            else:
                rp += w[i] * x
    return rp, n_nan


@njit(cache=True)
def _drift_nb(w: np.ndarray, r: np.ndarray, rp: float) -> None:
    """Buy-and-hold drift of weights in place (cash earns 0; a wiped-out book goes to cash)."""
    g = 1.0 + rp
    if g <= 0.0:
        w[:] = 0.0
        return
    for i in range(w.shape[0]):
        if w[i] != 0.0:
            x = r[i]
            if np.isnan(x):
                x = 0.0
            w[i] = w[i] * (1.0 + x) / g


@njit(cache=True)
def _trade_nb(w: np.ndarray, cur: np.ndarray) -> float:
    """Move holdings w to cur in place; returns the two-sided turnover sum |cur - w|."""
    to = 0.0
    for i in range(w.shape[0]):
        to += abs(cur[i] - w[i])
        w[i] = cur[i]
    return to


@njit(cache=True)
def simulate_nb(
    target: np.ndarray, rets: np.ndarray, rebal: np.ndarray, drift: bool, intraday: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Held weights (post-trade at close t), gross returns, turnover and NaN-held count of a weights path.

    Targets are read only where ``rebal[t]``; before the first rebalance the book is in cash.
    drift=True holds shares between rebalances (weights drift); False trades back to target each close.
    intraday=True: positions are opened at the next open and closed at its close, so turnover on the
    session that earns them is 2 x gross exposure and nothing is carried overnight.
    """
    n_t, n_a = target.shape
    held = np.zeros((n_t, n_a))
    gross = np.zeros(n_t)
    turnover = np.zeros(n_t)
    w = np.zeros(n_a)
    cur = np.zeros(n_a)
    n_nan = 0
    for t in range(n_t):
        if t > 0:
            rp, k = _earn_nb(w, rets[t])
            gross[t] = rp
            n_nan += k
            if intraday:
                to = 0.0
                for i in range(n_a):
                    to += 2.0 * abs(w[i])
                turnover[t] = to
            else:
                _drift_nb(w, rets[t], rp)
        if rebal[t]:
            cur[:] = target[t]
        if intraday:
            w[:] = cur
        elif rebal[t] or not drift:
            turnover[t] += _trade_nb(w, cur)
        held[t] = w
    return held, gross, turnover, n_nan


@njit(cache=True)
def equal_weight_returns_nb(rets: np.ndarray) -> np.ndarray:
    """Daily-rebalanced equal weight of the assets with a return that session (0 when none; 0 on day 0)."""
    n_t, n_a = rets.shape
    out = np.zeros(n_t)
    for t in range(1, n_t):
        s = 0.0
        n = 0
        for i in range(n_a):
            x = rets[t, i]
            if not np.isnan(x):
                s += x
                n += 1
        if n > 0:
            out[t] = s / n
    return out


@njit(cache=True)
def _threshold_target_nb(
    sig: np.ndarray,
    aum: np.ndarray,
    value: bool,
    lo: float,
    hi: float,
    side: int,
    long_low: bool,
    leg: float,
    out: np.ndarray,
) -> None:
    """Target row from one signal row: long/short masks by thresholds, equal or AUM weights per leg."""
    n_a = sig.shape[0]
    out[:] = 0.0
    sum_l = 0.0
    sum_s = 0.0
    for i in range(n_a):
        x = sig[i]
        if np.isnan(x):
            continue
        is_low = x <= lo
        is_high = x >= hi
        go_long = is_low if long_low else is_high
        go_short = is_high if long_low else is_low
        size = aum[i] if value else 1.0
        if not size > 0.0:
            continue
        if go_long and side >= 0:
            out[i] = size
            sum_l += size
        elif go_short and side <= 0:
            out[i] = -size
            sum_s += size
    scale_l = (1.0 if side > 0 else leg) / sum_l if sum_l > 0.0 else 0.0
    scale_s = (1.0 if side < 0 else leg) / sum_s if sum_s > 0.0 else 0.0
    for i in range(n_a):
        if out[i] > 0.0:
            out[i] *= scale_l
        elif out[i] < 0.0:
            out[i] *= scale_s


@njit(cache=True)
def threshold_sweep_nb(
    signals: np.ndarray,
    rets: np.ndarray,
    aum: np.ndarray,
    value: bool,
    rebal: np.ndarray,
    combo_sig: np.ndarray,
    combo_lo: np.ndarray,
    combo_hi: np.ndarray,
    combo_side: np.ndarray,
    combo_freq: np.ndarray,
    long_low: bool,
    leg: float,
    drift: bool,
    intraday: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gross returns, turnover, gross and net exposure (combos x dates) of threshold strategies.

    signals: (K, T, N) stacked signal arrays; rebal: (F, T) rebalance masks; combo_* pick, per combo,
    the signal, lower/upper thresholds, side (1 long, -1 short, 0 long/short) and rebalance mask.
    Same bookkeeping as simulate_nb, but targets are built on rebalance sessions only, in place.
    """
    n_c = combo_sig.shape[0]
    n_t = rets.shape[0]
    n_a = rets.shape[1]
    gross = np.zeros((n_c, n_t))
    turnover = np.zeros((n_c, n_t))
    expo = np.zeros((n_c, n_t))
    net_expo = np.zeros((n_c, n_t))
    w = np.zeros(n_a)
    cur = np.zeros(n_a)
    for c in range(n_c):
        k = combo_sig[c]
        f = combo_freq[c]
        w[:] = 0.0
        cur[:] = 0.0
        for t in range(n_t):
            if t > 0:
                rp, _ = _earn_nb(w, rets[t])
                gross[c, t] = rp
                if intraday:
                    to = 0.0
                    for i in range(n_a):
                        to += 2.0 * abs(w[i])
                    turnover[c, t] = to
                else:
                    _drift_nb(w, rets[t], rp)
            if rebal[f, t]:
                _threshold_target_nb(
                    signals[k, t], aum[t], value, combo_lo[c], combo_hi[c], combo_side[c], long_low, leg, cur
                )
            if intraday:
                w[:] = cur
            elif rebal[f, t] or not drift:
                turnover[c, t] += _trade_nb(w, cur)
            g = 0.0
            s = 0.0
            for i in range(n_a):
                g += abs(w[i])
                s += w[i]
            expo[c, t] = g
            net_expo[c, t] = s
    return gross, turnover, expo, net_expo


@njit(cache=True)
def bootstrap_sharpe_nb(x: np.ndarray, n: int, block: float, rng: np.random.Generator) -> np.ndarray:
    """Unannualised Sharpe ratios of n resamples of x (iid if block <= 1, else stationary bootstrap)."""
    m = x.shape[0]
    out = np.empty(n)
    p = 1.0 / block if block > 1.0 else 1.0
    for b in range(n):
        s = 0.0
        s2 = 0.0
        j = rng.integers(0, m)
        for _ in range(m):
            j = rng.integers(0, m) if rng.random() < p else (j + 1) % m
            v = x[j]
            s += v
            s2 += v * v
        mean = s / m
        var = (s2 - m * mean * mean) / (m - 1)
        out[b] = mean / np.sqrt(var) if var > 0.0 else np.nan
    return out


@njit(cache=True)
def _avg_ranks_nb(v: np.ndarray) -> np.ndarray:
    """1-based ranks of v, ties get their average rank."""
    n = v.shape[0]
    order = np.argsort(v, kind="mergesort")
    ranks = np.empty(n)
    i = 0
    while i < n:
        j = i
        while j + 1 < n and v[order[j + 1]] == v[order[i]]:
            j += 1
        r = 0.5 * (i + j) + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = r
        i = j + 1
    return ranks


@njit(cache=True)
def spearman_rows_nb(x: np.ndarray, y: np.ndarray, min_n: int) -> np.ndarray:
    """Spearman correlation of each row of x with the same row of y over pairs that are both finite."""
    n_t, n_a = x.shape
    out = np.full(n_t, np.nan)
    for t in range(n_t):
        idx = np.empty(n_a, dtype=np.int64)
        n = 0
        for i in range(n_a):
            if np.isfinite(x[t, i]) and np.isfinite(y[t, i]):
                idx[n] = i
                n += 1
        if n < min_n or n < 2:
            continue
        rx = _avg_ranks_nb(x[t][idx[:n]])
        ry = _avg_ranks_nb(y[t][idx[:n]])
        mx = rx.mean()
        my = ry.mean()
        sxy = 0.0
        sxx = 0.0
        syy = 0.0
        for k in range(n):
            dx = rx[k] - mx
            dy = ry[k] - my
            sxy += dx * dy
            sxx += dx * dx
            syy += dy * dy
        if sxx > 0.0 and syy > 0.0:
            out[t] = sxy / np.sqrt(sxx * syy)
    return out


@njit(cache=True)
def quantile_buckets_nb(sig: np.ndarray, q: int) -> np.ndarray:
    """Per-row quantile (1..q) of each finite signal, as pd.qcut on distinct values; 0 = not bucketed."""
    n_t, n_a = sig.shape
    out = np.zeros((n_t, n_a), dtype=np.int64)
    for t in range(n_t):
        idx = np.empty(n_a, dtype=np.int64)
        n = 0
        for i in range(n_a):
            if np.isfinite(sig[t, i]):
                idx[n] = i
                n += 1
        if n < q or n < 2:
            continue
        ranks = _avg_ranks_nb(sig[t][idx[:n]])
        for k in range(n):
            pos = (ranks[k] - 1.0) * q / (n - 1)
            b = int(np.ceil(pos - 1e-12))
            out[t, idx[k]] = max(1, min(q, b))
    return out


@njit(cache=True)
def quantile_means_nb(buckets: np.ndarray, fwd: np.ndarray, q: int, demean: bool) -> np.ndarray:
    """Per-row mean forward return of each bucket (T x q), NaN where a bucket has no finite return."""
    n_t, n_a = buckets.shape
    out = np.full((n_t, q), np.nan)
    for t in range(n_t):
        mu = 0.0
        if demean:
            s = 0.0
            n = 0
            for i in range(n_a):
                if buckets[t, i] > 0 and np.isfinite(fwd[t, i]):
                    s += fwd[t, i]
                    n += 1
            if n == 0:
                continue
            mu = s / n
        sums = np.zeros(q)
        counts = np.zeros(q)
        for i in range(n_a):
            b = buckets[t, i]
            if b > 0 and np.isfinite(fwd[t, i]):
                sums[b - 1] += fwd[t, i] - mu
                counts[b - 1] += 1.0
        for j in range(q):
            if counts[j] > 0:
                out[t, j] = sums[j] / counts[j]
    return out


@njit(cache=True)
def score_rows_nb(
    r: np.ndarray,
    turnover: np.ndarray,
    exposure: np.ndarray,
    bench: np.ndarray,
    month_starts: np.ndarray,
    lags: int,
    periods: int,
) -> np.ndarray:
    """Per row of r (strategies x sessions): the sweep METRICS in one pass each, as metrics.py defines them.

    Columns: annual_return, annual_volatility, sharpe, sortino, max_drawdown, calmar, beta,
    monthly_win_rate, profit_loss_ratio, turnover, time_invested, t_stat (excess return is added outside).
    lags < 0 picks the Newey-West lags per row from its count of present values.
    """
    n_c, n_t = r.shape
    n_m = month_starts.shape[0]
    out = np.full((n_c, 12), np.nan)
    sq = np.sqrt(periods)
    for c in range(n_c):
        x = r[c]
        n = 0
        s = 0.0
        hi = -np.inf
        lo = np.inf
        wealth = 1.0
        peak = 1.0
        mdd = 0.0
        for t in range(n_t):
            v = x[t]
            if not np.isnan(v):
                n += 1
                s += v
                hi = max(hi, v)
                lo = min(lo, v)
                wealth *= 1.0 + v
            peak = max(peak, wealth)
            mdd = min(mdd, wealth / peak - 1.0)
        ann = wealth ** (periods / n_t) - 1.0 if n_t > 0 and wealth >= 0.0 else np.nan
        mean = s / n if n > 0 else np.nan
        ss = 0.0
        dd = 0.0
        for t in range(n_t):
            v = x[t]
            if not np.isnan(v):
                e = v - mean
                ss += e * e
                if v < 0.0:
                    dd += v * v
        std = np.sqrt(ss / (n - 1)) if n > 1 else np.nan
        if n > 1 and hi == lo:
            std = 0.0
        out[c, 0] = ann
        out[c, 1] = std * sq
        out[c, 2] = mean / std * sq if std > 0.0 else np.nan
        downside = np.sqrt(dd / n) * sq if n > 0 else np.nan
        out[c, 3] = mean * periods / downside if n > 1 and downside > 0.0 else np.nan
        out[c, 4] = mdd if n_t > 0 else np.nan
        out[c, 5] = ann / -mdd if mdd < 0.0 and np.isfinite(ann / -mdd) else np.nan
        # beta over sessions where both are present
        nb_ = 0
        sb = 0.0
        for t in range(n_t):
            if not np.isnan(x[t]) and not np.isnan(bench[t]):
                nb_ += 1
                sb += bench[t]
        if nb_ > 0:
            mb = sb / nb_
            cov = 0.0
            var = 0.0
            for t in range(n_t):
                if not np.isnan(x[t]) and not np.isnan(bench[t]):
                    e = bench[t] - mb
                    cov += e * x[t]
                    var += e * e
            var /= nb_
            out[c, 6] = (cov / nb_) / var if var >= 1e-30 else np.nan
        # calendar months
        wins = 0
        losses = 0
        sw = 0.0
        sl = 0.0
        for m in range(n_m):
            a = month_starts[m]
            b = month_starts[m + 1] if m + 1 < n_m else n_t
            g = 1.0
            for t in range(a, b):
                if not np.isnan(x[t]):
                    g *= 1.0 + x[t]
            g -= 1.0
            if g > 0.0:
                wins += 1
                sw += g
            elif g < 0.0:
                losses += 1
                sl -= g
        if wins + losses > 0:
            out[c, 7] = wins / (wins + losses)
        if wins > 0 and losses > 0 and sl > 0.0:
            out[c, 8] = (sw / wins) / (sl / losses)
        to = 0.0
        inv = 0
        for t in range(n_t):
            to += turnover[c, t]
            if abs(exposure[c, t]) > 1e-12:
                inv += 1
        if n_t > 0:
            out[c, 9] = to / n_t * periods
            out[c, 10] = inv / n_t
        # Newey-West (Bartlett) t-statistic of the mean, over the present values only
        if n > 1:
            k = lags if lags >= 0 else int(np.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)))
            e = np.empty(n)
            j = 0
            for t in range(n_t):
                if not np.isnan(x[t]):
                    e[j] = x[t] - mean
                    j += 1
            lrv = ss
            for lag in range(1, min(k, n - 1) + 1):
                acc = 0.0
                for t in range(lag, n):
                    acc += e[t] * e[t - lag]
                lrv += 2.0 * (1.0 - lag / (k + 1.0)) * acc
            var_mean = lrv / (n - 1) / n
            if var_mean > 0.0:
                out[c, 11] = mean / np.sqrt(var_mean)
    return out
