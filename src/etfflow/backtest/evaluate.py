"""Signal evaluation, alphalens-style: information coefficient and quantile forward returns by horizon.

The signal at close t is compared with the forward return from close t to close t+h,
``prod(1 + returns[t+1 .. t+h]) - 1`` where ``returns[t]`` is the close t-1 -> close t return, so a
signal built from rows with ``available_on <= t`` never sees the returns it is scored on. The last h
sessions have no forward return (NaN), nor does any window that holds a NaN return.
Forward returns of h > 1 overlap, so IC t-statistics use Newey-West with h - 1 lags.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from etfflow.backtest import metrics as mt
from etfflow.backtest import nb
from etfflow.backtest.engine import as_dates
from etfflow.errors import ConfigError, ValidationError

__all__ = ["forward_returns", "ic_summary", "information_coefficient", "quantile_returns"]


def _matrix(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValidationError(f"{name} must be a 2-D (dates x assets) array", field=name)
    return np.ascontiguousarray(a)


def _horizons(horizons: Sequence[int]) -> list[int]:
    hs = [int(h) for h in horizons]
    if not hs or any(h < 1 for h in hs):
        raise ConfigError("horizons must be a non-empty list of integers >= 1")
    return hs


def forward_returns(returns: Any, horizons: Sequence[int] = (1, 5, 20)) -> dict[int, np.ndarray]:
    """Forward return from close t to close t+h for each horizon h, as (dates x assets) arrays."""
    r = _matrix(returns, "returns")
    n_t = r.shape[0]
    out: dict[int, np.ndarray] = {}
    growth = 1.0 + r
    for h in _horizons(horizons):
        fwd = np.full(r.shape, np.nan)
        if h == 1 and n_t > 1:
            fwd[:-1] = r[1:]
        elif h < n_t:
            acc = np.ones((n_t - h, r.shape[1]))
            for k in range(1, h + 1):
                acc *= growth[k : n_t - h + k]
            fwd[: n_t - h] = acc - 1.0
        out[h] = fwd
    return out


def _check(signal: Any, returns: Any, dates: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = _matrix(signal, "signal")
    r = _matrix(returns, "returns")
    if s.shape != r.shape:
        raise ValidationError(f"signal shape {s.shape} differs from returns shape {r.shape}", field="signal")
    d = as_dates(dates)
    if d.shape[0] != s.shape[0]:
        raise ValidationError(f"{d.shape[0]} dates for {s.shape[0]} signal rows", field="dates")
    return s, r, d


def information_coefficient(
    signal: Any,
    returns: Any,
    dates: Any,
    *,
    horizons: Sequence[int] = (1, 5, 20),
    min_assets: int = 3,
) -> pl.DataFrame:
    """Daily cross-sectional Spearman IC of the signal at close t with the t -> t+h forward return.

    Tidy frame: date, horizon, ic, n_assets (pairs with both values). Dates with fewer than
    ``min_assets`` pairs, or a constant signal or return, have a null IC (rows kept).
    """
    s, r, d = _check(signal, returns, dates)
    frames = []
    for h, fwd in forward_returns(r, horizons).items():
        ic = nb.spearman_rows_nb(s, fwd, int(min_assets))
        n = (np.isfinite(s) & np.isfinite(fwd)).sum(axis=1)
        frames.append(
            pl.DataFrame(
                {
                    "date": pl.Series(d).cast(pl.Date),
                    "horizon": pl.Series(np.full(d.shape[0], h, dtype=np.int32)),
                    "ic": pl.Series(ic).fill_nan(None),
                    "n_assets": pl.Series(n.astype(np.int32)),
                }
            )
        )
    return pl.concat(frames)


def ic_summary(ic: pl.DataFrame) -> pl.DataFrame:
    """Per horizon: mean_ic, std_ic, ic_ir, t_stat (Newey-West, h-1 lags), p_value, hit_rate, n_days."""
    rows = []
    for (h,), part in ic.drop_nulls("ic").sort("date").group_by(["horizon"], maintain_order=True):
        x = part["ic"].to_numpy().astype(np.float64)
        tt = mt.mean_return_tstat(x, lags=int(h) - 1)
        mean = float(x.mean()) if x.size else np.nan
        std = float(x.std(ddof=1)) if x.size > 1 else np.nan
        rows.append(
            {
                "horizon": int(h),
                "mean_ic": mean,
                "std_ic": std,
                "ic_ir": mean / std if std and np.isfinite(std) and std > 0 else np.nan,
                "t_stat": tt.t,
                "p_value": tt.p_value,
                "hit_rate": float((x > 0).mean()) if x.size else np.nan,
                "n_days": int(x.size),
            }
        )
    schema = {
        "horizon": pl.Int32,
        "mean_ic": pl.Float64,
        "std_ic": pl.Float64,
        "ic_ir": pl.Float64,
        "t_stat": pl.Float64,
        "p_value": pl.Float64,
        "hit_rate": pl.Float64,
        "n_days": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema).sort("horizon")


def quantile_returns(
    signal: Any,
    returns: Any,
    dates: Any,
    *,
    quantiles: int = 5,
    horizons: Sequence[int] = (1, 5, 20),
    demeaned: bool = False,
) -> pl.DataFrame:
    """Mean forward return by signal quantile and horizon (alphalens mean_return_by_quantile).

    Each date, assets with a finite signal are bucketed 1..quantiles by cross-sectional rank, as
    pd.qcut on distinct values (ties share their average rank's bucket); dates with fewer assets than
    quantiles are skipped. A bucket's daily value is the equal-weight mean forward return of its names
    (minus the cross-sectional mean if ``demeaned``); the table averages those over dates.
    Columns: horizon, quantile, mean_return (over h sessions), mean_daily ((1+m)^(1/h) - 1),
    std_error (std over dates / sqrt(n), understated for overlapping h > 1), n_days.
    """
    s, r, _ = _check(signal, returns, dates)
    if int(quantiles) < 2:
        raise ConfigError("quantiles must be >= 2")
    q = int(quantiles)
    buckets = nb.quantile_buckets_nb(s, q)
    rows = []
    for h, fwd in forward_returns(r, horizons).items():
        means = nb.quantile_means_nb(buckets, fwd, q, bool(demeaned))
        for j in range(q):
            col = means[:, j]
            col = col[np.isfinite(col)]
            n = int(col.size)
            m = float(col.mean()) if n else np.nan
            se = float(col.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
            daily = (1.0 + m) ** (1.0 / h) - 1.0 if n and m > -1.0 else np.nan
            rows.append(
                {
                    "horizon": h,
                    "quantile": j + 1,
                    "mean_return": m,
                    "mean_daily": daily,
                    "std_error": se,
                    "n_days": n,
                }
            )
    schema = {
        "horizon": pl.Int32,
        "quantile": pl.Int32,
        "mean_return": pl.Float64,
        "mean_daily": pl.Float64,
        "std_error": pl.Float64,
        "n_days": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema)
