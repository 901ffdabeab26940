"""Fixed-income flows: duration, credit, inflation and EM debt, and the rate expectation they imply (pure).

Legs are taxonomy groups of the `fixed_income` category, each the sum of its funds over the window:
long = Long Treasury (TLT, EDV), intermediate = Intermediate Treasury (IEF), short = Short Treasury
(SHY, BIL, SGOV), investment grade (LQD, VCIT), high yield (HYG, JNK, SJNK), inflation (TIP, SCHP),
EM debt (EMB).

- Duration ratio = 0.5 + (L - S) / (2 (|L| + |S|)) on net $ flows (`common.tilt_ratio`):
  >= 0.65 `extending` (money moves out the curve: falling rates expected), <= 0.35 `shortening`
  (rising or sticky rates expected), else `neutral`.
- Credit ratio = the same with a = high yield, b = investment grade: >= 0.65 `reaching_for_yield`,
  <= 0.35 `quality` (credit caution), else `neutral`.
- Inflation: TIPS net inflow `rising_concern`, outflow `easing_concern`, zero `flat`.
- EM debt: inflow `appetite`, outflow `aversion`, zero `flat`.
- Rate expectation: extending -> `falling`, shortening -> `rising`, neutral -> `stable`.
  With `tips_rates` (the framework's rule, default) TIPS move it: score = duration vote
  (shortening +1, neutral 0, extending -1) + TIPS vote (inflow +0.5: inflation protection bought,
  yields pushed up; outflow -0.5); >= 0.5 `rising`, <= -0.5 `falling`, else `stable`. TIPS alone
  can turn a neutral duration reading, never overturn a clear one; without a duration reading
  there is no rates reading.
A leg without data makes the reading that needs it None (stated as missing), never a zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from etfflow.signals.common import direction, flow_fields, jsonable, tilt
from etfflow.signals.overview import GroupFlows, group_totals

__all__ = ["FI_BANDS", "LEGS", "FixedIncomeFlows", "fixed_income_flows"]

LEGS: dict[str, tuple[str, ...]] = {
    "long": ("Long Treasury",),
    "intermediate": ("Intermediate Treasury",),
    "short": ("Short Treasury",),
    "investment_grade": ("Investment Grade",),
    "high_yield": ("High Yield",),
    "inflation": ("Inflation",),
    "em_debt": ("EM Debt",),
}
FI_BANDS: tuple[float, float] = (0.65, 0.35)


@dataclass(frozen=True)
class FixedIncomeFlows:
    """Fixed-income legs over one window and their readings."""

    table: pl.DataFrame  # leg, groups, flow_usd, aum_start_usd, flow_pct_aum, funds, tickers, direction
    groups: GroupFlows  # every fixed-income group
    duration_ratio: float | None
    duration: str | None  # extending / neutral / shortening
    credit_ratio: float | None
    credit: str | None  # reaching_for_yield / neutral / quality
    inflation: str | None  # rising_concern / flat / easing_concern
    em_debt: str | None  # appetite / flat / aversion
    rates: str | None  # falling / stable / rising
    missing: list[str]  # legs without data

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def fixed_income_flows(
    totals: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    legs: dict[str, tuple[str, ...]] | None = None,
    bands: tuple[float, float] = FI_BANDS,
    tol: float = 0.0,
    tips_rates: bool = True,
) -> FixedIncomeFlows:
    """Duration, credit, inflation and EM-debt readings from a `window_totals` frame."""
    lg = legs or LEGS
    groups = group_totals(totals, funds, category="fixed_income")
    rows = []
    sums: dict[str, float | None] = {}
    aums: dict[str, float | None] = {}
    for name, gs in lg.items():
        usd, aum, tickers = groups.total(gs)
        sums[name], aums[name] = usd, aum
        if usd is None:
            continue
        rows.append({"leg": name, "groups": list(gs), **flow_fields(usd, aum, tickers, tol)})
    schema: dict[str, Any] = {
        "leg": pl.String,
        "groups": pl.List(pl.String),
        "flow_usd": pl.Float64,
        "aum_start_usd": pl.Float64,
        "flow_pct_aum": pl.Float64,
        "funds": pl.Int64,
        "tickers": pl.List(pl.String),
        "direction": pl.String,
    }
    dur_r, dur = tilt(sums.get("long"), sums.get("short"), ("extending", "neutral", "shortening"), bands)
    cr_r, cr = tilt(
        sums.get("high_yield"),
        sums.get("investment_grade"),
        ("reaching_for_yield", "neutral", "quality"),
        bands,
    )
    infl = {"inflow": "rising_concern", "outflow": "easing_concern", "flat": "flat"}.get(
        direction(sums.get("inflation"), aums.get("inflation"), tol) or ""
    )
    em = {"inflow": "appetite", "outflow": "aversion", "flat": "flat"}.get(
        direction(sums.get("em_debt"), aums.get("em_debt"), tol) or ""
    )
    return FixedIncomeFlows(
        table=pl.DataFrame(rows, schema=schema),
        groups=groups,
        duration_ratio=dur_r,
        duration=dur,
        credit_ratio=cr_r,
        credit=cr,
        inflation=infl,
        em_debt=em,
        rates=_rates(dur, infl if tips_rates else None),
        missing=[n for n in lg if sums.get(n) is None],
    )


def _rates(duration: str | None, inflation: str | None) -> str | None:
    """Rate expectation from the duration reading, moved by TIPS when given (see the module docstring)."""
    if duration is None:
        return None
    score = {"shortening": 1.0, "neutral": 0.0, "extending": -1.0}[duration]
    score += {"rising_concern": 0.5, "easing_concern": -0.5}.get(inflation or "", 0.0)
    if score >= 0.5:
        return "rising"
    if score <= -0.5:
        return "falling"
    return "stable"
