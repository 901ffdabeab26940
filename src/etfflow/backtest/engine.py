"""Backtest engine: target weights decided at close t -> daily portfolio returns earned from t+1.

Conventions (see README "Backtester"):
- ``weights[t]`` is decided at close t from data with ``available_on <= t``; it earns ``returns[t + 1]``
  where ``returns[t]`` is the return from close t-1 to close t (``execution="close"``), or the
  open-to-close return of session t+1 (``execution="next_open"``: in at the open, out at the close).
- Weights change only on rebalance sessions (the last session present in ``dates`` of each day, week,
  month, quarter or year); in between the book is held as shares (``holding="drift"``, default) or
  traded back to the target at every close (``holding="fixed"``, constant weights).
- Costs: ``cost_bps`` x two-sided turnover sum|w_new - w_drifted| (fraction of pre-trade NAV), taken
  multiplicatively on the session of the trade: net = (1 + gross) x (1 - cost) - 1.
- An asset with a NaN return and a non-zero weight earns 0 that session and is counted
  (``n_nan_returns``); NaN returns of unheld assets are ignored. NaN or infinite weights are an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from etfflow import calendar as nyse
from etfflow.backtest import nb
from etfflow.errors import ConfigError, DataQualityError, ValidationError

__all__ = [
    "Backtest",
    "BacktestResult",
    "Execution",
    "Holding",
    "Rebalance",
    "Side",
    "apply_costs",
    "as_dates",
    "rebalance_mask",
    "run_weights",
    "signal_to_weights",
]

Rebalance = Literal["d", "w", "m", "q", "y"]
Execution = Literal["close", "next_open"]
Holding = Literal["drift", "fixed"]
Side = Literal["long", "short", "long_short"]

LONG_SHORT_LEG = 0.5


def as_dates(dates: Any) -> np.ndarray:
    """Dates (datetime64, dt.date list, pl.Series) as a strictly increasing datetime64[D] array."""
    if isinstance(dates, pl.Series):
        dates = dates.cast(pl.Date).to_numpy()
    try:
        out = np.asarray(dates, dtype="datetime64[D]")
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"dates are not dates: {exc}", field="dates") from exc
    if out.ndim != 1:
        raise ValidationError("dates must be one-dimensional", field="dates")
    if np.isnat(out).any():
        raise ValidationError("dates contain NaT", field="dates")
    if out.size > 1 and not (np.diff(out.astype(np.int64)) > 0).all():
        raise ValidationError("dates must be strictly increasing", field="dates")
    return out


def _period_key(dates: np.ndarray, freq: str) -> np.ndarray:
    days = dates.astype("datetime64[D]").astype(np.int64)
    if freq == "w":
        # Monday-anchored weeks (1970-01-01 was a Thursday), as etfflow.calendar
        return np.asarray((days + 3) // 7)
    months = dates.astype("datetime64[M]").astype(np.int64)
    if freq == "m":
        return np.asarray(months)
    if freq == "q":
        return np.asarray(months // 3)
    if freq == "y":
        return np.asarray(months // 12)
    raise ConfigError(f"unknown rebalance frequency {freq!r}: use d, w, m, q or y")


def _last_is_period_end(last: np.datetime64, freq: str) -> bool:
    """Whether the final date closes its period: only knowable from the NYSE calendar."""
    day = np.asarray([last], dtype="datetime64[D]")
    if not bool(nyse.is_trading_day(day)[0]):
        return False
    try:
        nxt = nyse.shift_sessions(day, 1)
    except ValueError:
        return False
    pair = np.concatenate([day, nxt])
    key = _period_key(pair, freq)
    return bool(key[0] != key[1])


def rebalance_mask(dates: Any, freq: Rebalance | np.ndarray) -> np.ndarray:
    """Boolean mask of rebalance sessions: the last date present in each d/w/m/q/y period.

    The final date counts only if the NYSE calendar says its period ends there (no look-ahead past the
    data: a sample that stops on a Wednesday does not rebalance weekly on that Wednesday). A boolean
    array is passed through after a length check.
    """
    d = as_dates(dates)
    if isinstance(freq, np.ndarray):
        if freq.dtype != np.bool_ or freq.shape != d.shape:
            msg = "a rebalance mask must be a boolean array as long as dates"
            raise ValidationError(msg, field="rebalance")
        return freq
    if freq == "d":
        return np.ones(d.shape, dtype=np.bool_)
    key = _period_key(d, freq)
    out = np.zeros(d.shape, dtype=np.bool_)
    if d.size:
        out[:-1] = key[1:] != key[:-1]
        out[-1] = _last_is_period_end(d[-1], freq)
    return out


def _as_matrix(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValidationError(f"{name} must be a 2-D (dates x assets) array, got {arr.ndim}-D", field=name)
    return np.ascontiguousarray(arr)


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


@dataclass(frozen=True)
class BacktestResult:
    """Daily outcome of a weights path; arrays are aligned on ``dates`` and read-only.

    ``returns``/``gross``/``benchmark``[t]: earned on session t (so [0] is 0). ``weights``[t], ``exposure``
    and ``net_exposure``[t]: the book after the trade at close t. ``turnover``[t]: traded at close t
    (next_open execution: traded in and out during session t).
    """

    dates: np.ndarray
    assets: tuple[str, ...]
    returns: np.ndarray
    gross: np.ndarray
    benchmark: np.ndarray
    weights: np.ndarray
    turnover: np.ndarray
    exposure: np.ndarray
    net_exposure: np.ndarray
    n_nan_returns: int
    rebalance: str
    cost_bps: float
    execution: str
    holding: str

    def to_frame(self) -> pl.DataFrame:
        """Daily series as a frame: date, returns, gross, benchmark, turnover, exposure, net_exposure."""
        return pl.DataFrame(
            {
                "date": pl.Series(self.dates).cast(pl.Date),
                "returns": self.returns,
                "gross": self.gross,
                "benchmark": self.benchmark,
                "turnover": self.turnover,
                "exposure": self.exposure,
                "net_exposure": self.net_exposure,
            }
        )

    def weights_frame(self) -> pl.DataFrame:
        """Post-trade weights at each close, one column per asset."""
        cols: dict[str, Any] = {"date": pl.Series(self.dates).cast(pl.Date)}
        for j, a in enumerate(self.assets):
            cols[a] = self.weights[:, j]
        return pl.DataFrame(cols)


def apply_costs(gross: np.ndarray, turnover: np.ndarray, cost_bps: float) -> np.ndarray:
    """Net returns: (1 + gross) x (1 - cost_bps/1e4 x turnover) - 1."""
    return np.asarray((1.0 + gross) * (1.0 - cost_bps * 1e-4 * turnover) - 1.0)


def _check_choice(value: str, allowed: Sequence[str], name: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


@dataclass(frozen=True)
class Backtest:
    """Market data for backtests (returns, dates, assets, optional open-to-close returns and benchmark)."""

    returns: np.ndarray
    dates: np.ndarray
    assets: tuple[str, ...]
    open_returns: np.ndarray | None = None
    benchmark: np.ndarray | None = None

    @classmethod
    def from_arrays(
        cls,
        returns: Any,
        dates: Any,
        assets: Sequence[str],
        *,
        open_returns: Any = None,
        benchmark: Any = None,
    ) -> Backtest:
        """Validate and freeze market data: returns[t] is the close t-1 -> close t return."""
        r = _as_matrix(returns, "returns")
        d = as_dates(dates)
        names = tuple(str(a) for a in assets)
        if r.shape[0] != d.shape[0]:
            raise ValidationError(f"returns have {r.shape[0]} rows but dates {d.shape[0]}", field="returns")
        if r.shape[1] != len(names):
            msg = f"returns have {r.shape[1]} columns but {len(names)} assets"
            raise ValidationError(msg, field="assets")
        if np.isinf(r).any():
            raise ValidationError("returns contain infinite values", field="returns")
        o = None
        if open_returns is not None:
            o = _as_matrix(open_returns, "open_returns")
            if o.shape != r.shape:
                raise ValidationError("open_returns must have the shape of returns", field="open_returns")
            if np.isinf(o).any():
                raise ValidationError("open_returns contain infinite values", field="open_returns")
        b = None
        if benchmark is not None:
            b = np.asarray(benchmark, dtype=np.float64)
            if b.shape != (r.shape[0],):
                raise ValidationError("benchmark must be one return per date", field="benchmark")
            if not np.isfinite(b).all():
                raise ValidationError("benchmark returns must be finite", field="benchmark")
        for a in (r, d, o, b):
            if a is not None:
                _readonly(a)
        return cls(returns=r, dates=d, assets=names, open_returns=o, benchmark=b)

    def run(
        self,
        weights: Any,
        *,
        rebalance: Rebalance | np.ndarray = "d",
        cost_bps: float = 0.0,
        execution: Execution = "close",
        holding: Holding = "drift",
    ) -> BacktestResult:
        """Simulate a (dates x assets) weights path decided at each close; see the module docstring."""
        _check_choice(execution, ("close", "next_open"), "execution")
        _check_choice(holding, ("drift", "fixed"), "holding")
        if not (np.isfinite(cost_bps) and cost_bps >= 0.0):
            raise ConfigError(f"cost_bps must be a finite number >= 0; got {cost_bps!r}")
        w = _as_matrix(weights, "weights")
        if w.shape != self.returns.shape:
            raise ValidationError(
                f"weights shape {w.shape} differs from returns shape {self.returns.shape}", field="weights"
            )
        bad = int((~np.isfinite(w)).sum())
        if bad:
            msg = f"weights contain {bad} NaN/inf cells: use 0 for no position"
            raise ValidationError(msg, field="weights")
        mask = rebalance_mask(self.dates, rebalance)
        intraday = execution == "next_open"
        if intraday:
            if self.open_returns is None:
                raise ConfigError("execution='next_open' needs open_returns (open -> close of each session)")
            rets = self.open_returns
        else:
            rets = self.returns
        held, gross, turnover, n_nan = nb.simulate_nb(w, rets, mask, holding == "drift", intraday)
        bench = self.benchmark if self.benchmark is not None else nb.equal_weight_returns_nb(rets)
        net = apply_costs(gross, turnover, float(cost_bps))
        exposure = np.abs(held).sum(axis=1)
        net_exposure = held.sum(axis=1)
        bench = np.array(bench, dtype=np.float64)
        _readonly(net, gross, bench, held, turnover, exposure, net_exposure)
        return BacktestResult(
            dates=self.dates,
            assets=self.assets,
            returns=net,
            gross=gross,
            benchmark=bench,
            weights=held,
            turnover=turnover,
            exposure=exposure,
            net_exposure=net_exposure,
            n_nan_returns=int(n_nan),
            rebalance=rebalance if isinstance(rebalance, str) else "custom",
            cost_bps=float(cost_bps),
            execution=execution,
            holding=holding,
        )


def run_weights(
    weights: Any,
    returns: Any,
    dates: Any,
    assets: Sequence[str],
    *,
    rebalance: Rebalance | np.ndarray = "d",
    cost_bps: float = 0.0,
    execution: Execution = "close",
    holding: Holding = "drift",
    open_returns: Any = None,
    benchmark: Any = None,
) -> BacktestResult:
    """Backtest one weights path (weights[t] decided at close t earns returns[t+1]); see module docs."""
    bt = Backtest.from_arrays(returns, dates, assets, open_returns=open_returns, benchmark=benchmark)
    return bt.run(weights, rebalance=rebalance, cost_bps=cost_bps, execution=execution, holding=holding)


def _leg(mask: np.ndarray, size: np.ndarray, gross: float) -> np.ndarray:
    amount = np.where(mask, size, 0.0)
    total = amount.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0.0, gross * amount / np.where(total > 0.0, total, 1.0), 0.0)
    return np.asarray(out)


def signal_to_weights(
    long_mask: Any,
    short_mask: Any = None,
    *,
    scheme: Literal["equal", "value"] = "equal",
    aum: Any = None,
    side: Side = "long",
    leg: float = LONG_SHORT_LEG,
) -> np.ndarray:
    """Weights (dates x assets) from selection masks known at each close; cash (0) when nothing qualifies.

    long: +1 spread over the long names; short: -1 over the short names; long_short: +leg long and
    -leg short (default 0.5/0.5: gross 1, dollar neutral); a leg with no names is cash, the other keeps
    its size. scheme="value" sizes names by ``aum`` (same shape, known at the same close) within a leg.
    """
    _check_choice(side, ("long", "short", "long_short"), "side")
    _check_choice(scheme, ("equal", "value"), "scheme")
    lm = np.asarray(long_mask, dtype=np.bool_) if long_mask is not None else None
    sm = np.asarray(short_mask, dtype=np.bool_) if short_mask is not None else None
    ref = lm if lm is not None else sm
    if ref is None or ref.ndim != 2:
        raise ValidationError("masks must be 2-D (dates x assets) boolean arrays", field="long_mask")
    if side in ("long", "long_short") and lm is None:
        raise ConfigError(f"side={side!r} needs long_mask")
    if side in ("short", "long_short") and sm is None:
        raise ConfigError(f"side={side!r} needs short_mask")
    if lm is not None and sm is not None:
        if lm.shape != sm.shape:
            raise ValidationError("long_mask and short_mask must have the same shape", field="short_mask")
        if side == "long_short" and (lm & sm).any():
            raise ValidationError("an asset is in both the long and the short mask", field="short_mask")
    if scheme == "value":
        if aum is None:
            raise ConfigError("scheme='value' needs aum (dates x assets, known at each close)")
        size = np.asarray(aum, dtype=np.float64)
        if size.shape != ref.shape:
            raise ValidationError("aum must have the shape of the masks", field="aum")
        picked = np.zeros(ref.shape, dtype=np.bool_)
        if side in ("long", "long_short") and lm is not None:
            picked |= lm
        if side in ("short", "long_short") and sm is not None:
            picked |= sm
        bad = picked & ~(np.isfinite(size) & (size > 0.0))
        if bad.any():
            raise DataQualityError(
                f"{int(bad.sum())} selected cells have missing or non-positive AUM: "
                "fill AUM point-in-time or drop those names from the masks"
            )
    else:
        size = np.ones(ref.shape, dtype=np.float64)
    out = np.zeros(ref.shape, dtype=np.float64)
    if side == "long" and lm is not None:
        out += _leg(lm, size, 1.0)
    elif side == "short" and sm is not None:
        out -= _leg(sm, size, 1.0)
    elif lm is not None and sm is not None:
        out += _leg(lm, size, leg) - _leg(sm, size, leg)
    return out
