"""Xu-Yin-Zhao flow components: arbitrage, demand and unexpected parts of each fund's daily flow (pure).

The `unexpected_flow` regression (see `strategies`) explains the daily flow y (fraction of prior AUM,
clipped) by a constant, arbitrage regressors (premium, premium_lag) and demand regressors (returns
and lagged flows). With the fund's coefficients b, for every trade date:
- arbitrage component = sum of b_k x_k over the premium terms;
- demand component = sum of b_k x_k over the return and flow terms;
- unexpected = the out-of-sample prediction error the strategy trades on (each flow predicted from
  the coefficients fitted on flows known before it).
Caveat: the arbitrage and demand parts use the coefficients of the fund's last window (the kernel keeps
only those), so before that window they are in-sample approximations; the unexpected part is always
out of sample. Variance shares are var(component) / var(y) over the days where all are known (they
need not sum to 1: the parts covary).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from etfflow.backtest.data import Panel
from etfflow.backtest.strategies import UnexpectedFlowParams, flow_regressors, rolling_residuals_nb
from etfflow.errors import ConfigError, NotFoundError
from etfflow.signals.common import jsonable

__all__ = ["ARBITRAGE", "DEMAND", "FlowComponents", "decompose_flows"]

ARBITRAGE: tuple[str, ...] = ("premium", "premium_lag")
DEMAND: tuple[str, ...] = ("ret", "ret_lag1", "ret_5", "ret_20", "flow_lag1", "flow_5")


@dataclass(frozen=True)
class FlowComponents:
    """One fund's flow split into arbitrage, demand and unexpected parts."""

    ticker: str
    coefficients: dict[str, float | None]
    days: int  # trade dates with every component known
    variance_share: dict[str, float | None]  # arbitrage, demand, unexpected: var(part) / var(flow)
    table: pl.DataFrame  # date, flow_pct, arbitrage, demand, constant, unexpected
    label: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def decompose_flows(panel: Panel, ticker: str, params: UnexpectedFlowParams | None = None) -> FlowComponents:
    """The components of one fund's daily flows (see the module docstring)."""
    p = params or UnexpectedFlowParams()
    if panel.trade_flow_pct is None or panel.known_index is None:
        raise ConfigError("decompose needs a fund-level panel (trade-date flows), not a group panel")
    if ticker not in panel.assets:
        raise NotFoundError(f"{ticker} is not in the panel (funds: {', '.join(panel.assets[:12])} ...)")
    panel = panel.select([ticker])  # the regression is per fund: one column is enough
    y = np.clip(np.asarray(panel.trade_flow_pct), -p.clip, p.clip)
    x = flow_regressors(panel, y, p.regressors)
    _, _, e_trade, _, coef = rolling_residuals_nb(
        np.ascontiguousarray(y),
        x,
        np.ascontiguousarray(np.asarray(panel.known_index)),
        p.window,
        p.min_obs,
        p.ridge,
    )
    j = 0
    names = ("const", *p.regressors)
    b = coef[j]
    xs = x[:, :, j]  # (K, T)

    def part(keys: tuple[str, ...]) -> np.ndarray:
        idx = [i for i, n in enumerate(names) if n in keys]
        if not idx:
            return np.zeros(xs.shape[1])
        return np.asarray((b[idx, None] * xs[idx]).sum(axis=0))

    arb, dem = part(ARBITRAGE), part(DEMAND)
    const = np.full(xs.shape[1], b[0])
    unexp = e_trade[:, j]
    yy = y[:, j]
    ok = np.isfinite(yy) & np.isfinite(arb) & np.isfinite(dem) & np.isfinite(unexp)
    var_y = float(np.var(yy[ok])) if ok.sum() > 1 else 0.0

    def share(v: np.ndarray) -> float | None:
        return float(np.var(v[ok]) / var_y) if var_y > 0 else None

    table = pl.DataFrame(
        {
            "date": pl.Series(panel.dates[ok]).cast(pl.Date),
            "flow_pct": yy[ok],
            "arbitrage": arb[ok],
            "demand": dem[ok],
            "constant": const[ok],
            "unexpected": unexp[ok],
        }
    )
    return FlowComponents(
        ticker=ticker,
        coefficients={n: (float(v) if np.isfinite(v) else None) for n, v in zip(names, b, strict=True)},
        days=int(ok.sum()),
        variance_share={"arbitrage": share(arb), "demand": share(dem), "unexpected": share(unexp)},
        table=table,
        label=panel.label,
    )
