"""Broad-market flows and the risk regime read from the large-cap and small-cap flow signs (pure).

| large-cap leg | small-cap leg | regime |
|---|---|---|
| inflow | inflow | risk_on: broad buying of equities |
| inflow | outflow | quality_flight: large caps bought, small caps sold |
| outflow | inflow | risk_seeking: small caps bought while large caps are sold |
| outflow | outflow | risk_off: broad de-risking |

A leg is the sum of all funds of its groups (by default SPY/IVV/VOO for large caps and IWM/IJR/VB
for small caps). A leg whose net flow is within `tol` x its AUM of zero (exactly zero by default)
is flat and the regime is `neutral`; a leg with no data gives no regime (None), never a zero.

QQQ (the `Nasdaq 100` group) gives its own reading, as in the framework: a net inflow is
`tech_growth_appetite`, an outflow `tech_growth_aversion`; the framework rules count it as a
risk-appetite vote (`composite`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from etfflow.signals.common import direction, fmt_pct, fmt_usd, jsonable, num
from etfflow.signals.overview import GroupFlows, group_totals

__all__ = [
    "KEY_FUNDS",
    "LARGE_CAP",
    "NASDAQ",
    "REGIMES",
    "SMALL_CAP",
    "BroadMarket",
    "broad_market",
    "risk_regime",
]

KEY_FUNDS: tuple[str, ...] = ("SPY", "IVV", "VOO", "QQQ", "IWM", "DIA")
LARGE_CAP: tuple[str, ...] = ("Large Cap",)
SMALL_CAP: tuple[str, ...] = ("Small Cap",)
NASDAQ: tuple[str, ...] = ("Nasdaq 100",)
_NASDAQ = {"inflow": "tech_growth_appetite", "outflow": "tech_growth_aversion", "flat": "flat"}
REGIMES: dict[str, str] = {
    "risk_on": "broad buying: large and small caps both take in money",
    "quality_flight": "large caps bought, small caps sold: a flight to quality",
    "risk_seeking": "small caps bought while large caps are sold: appetite for risk",
    "risk_off": "large and small caps both redeemed: broad de-risking",
    "neutral": "a leg is flat: no regime signal",
}
_TABLE = {
    ("inflow", "inflow"): "risk_on",
    ("inflow", "outflow"): "quality_flight",
    ("outflow", "inflow"): "risk_seeking",
    ("outflow", "outflow"): "risk_off",
}


def risk_regime(
    large: float | None,
    small: float | None,
    *,
    large_aum: float | None = None,
    small_aum: float | None = None,
    tol: float = 0.0,
) -> str | None:
    """Regime from the two legs' net flows: risk_on, quality_flight, risk_seeking, risk_off or neutral."""
    a = direction(large, large_aum, tol)
    b = direction(small, small_aum, tol)
    if a is None or b is None:
        return None
    return _TABLE.get((a, b), "neutral")


@dataclass(frozen=True)
class BroadMarket:
    """Broad-market flows over one window and the risk regime they point to."""

    funds: pl.DataFrame  # key funds with data: ticker, name, group, flow_usd, aum_start_usd, flow_pct_aum
    groups: GroupFlows  # every broad-market group
    large_usd: float | None
    small_usd: float | None
    large_funds: list[str]  # funds of the large-cap leg that had data
    small_funds: list[str]
    regime: str | None
    basis: str
    missing: list[str]  # key funds without data in the window
    nasdaq_usd: float | None = None  # QQQ leg (Nasdaq 100 group)
    nasdaq_funds: list[str] | None = None
    nasdaq: str | None = None  # tech_growth_appetite / flat / tech_growth_aversion

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def broad_market(
    totals: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    key: tuple[str, ...] = KEY_FUNDS,
    large: tuple[str, ...] = LARGE_CAP,
    small: tuple[str, ...] = SMALL_CAP,
    tol: float = 0.0,
) -> BroadMarket:
    """Key broad-market funds, group totals and the regime from a `window_totals` frame."""
    groups = group_totals(totals, funds, category="broad_market")
    named = funds.select("ticker", *[c for c in ("name", "group") if c in funds.columns])
    rows = (
        totals.select("ticker", "flow_usd", "aum_start_usd", "flow_pct_aum", "days")
        .filter(pl.col("ticker").is_in(list(key)))
        .join(named, on="ticker", how="left")
    )
    order = {t: i for i, t in enumerate(key)}
    rows = (
        rows.with_columns(pl.col("ticker").replace_strict(order, default=len(order)).alias("_o"))
        .sort("_o")
        .drop("_o")
    )
    missing = [t for t in key if t not in set(rows["ticker"].to_list())]
    l_usd, l_aum, l_funds = groups.total(large)
    s_usd, s_aum, s_funds = groups.total(small)
    regime = risk_regime(l_usd, s_usd, large_aum=l_aum, small_aum=s_aum, tol=tol)
    basis = _basis(l_usd, l_aum, l_funds, s_usd, s_aum, s_funds, large, small)
    q_usd, q_aum, q_funds = groups.total(NASDAQ)
    q_dir = direction(q_usd, q_aum, tol)
    return BroadMarket(
        funds=rows,
        groups=groups,
        large_usd=num(l_usd),
        small_usd=num(s_usd),
        large_funds=l_funds,
        small_funds=s_funds,
        regime=regime,
        basis=basis,
        missing=missing,
        nasdaq_usd=num(q_usd),
        nasdaq_funds=q_funds,
        nasdaq=_NASDAQ.get(q_dir) if q_dir else None,
    )


def _leg(name: str, usd: float | None, aum: float | None, tickers: list[str], groups: tuple[str, ...]) -> str:
    if usd is None:
        return f"{name} ({', '.join(groups)}): no data"
    pct = fmt_pct(usd / aum) if aum else "n/a"
    return f"{name} {'+'.join(tickers)} {fmt_usd(usd)} ({pct} of AUM)"


def _basis(
    l_usd: float | None,
    l_aum: float | None,
    l_funds: list[str],
    s_usd: float | None,
    s_aum: float | None,
    s_funds: list[str],
    large: tuple[str, ...],
    small: tuple[str, ...],
) -> str:
    legs = (
        _leg("large caps", l_usd, l_aum, l_funds, large),
        _leg("small caps", s_usd, s_aum, s_funds, small),
    )
    return "; ".join(legs)
