"""Style and factor flows: growth vs value, momentum, quality, min-vol, size, dividend (pure).

Each factor's net flow is the sum of its groups' funds over the window. Two tilts use the bounded
ratio 0.5 + (a - b) / (2 (|a| + |b|)) of net $ flows (see `common.tilt_ratio`):
- growth vs value: a = Growth, b = Value; >= 0.65 `growth`, <= 0.35 `value`, else `balanced`;
- defensive factors: a = Quality + Min Vol, b = Momentum + Size; >= 0.65 `defensive`,
  <= 0.35 `aggressive`, else `balanced`.
A factor with no fund with data is listed as missing, and a tilt that needs it is None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from etfflow.signals.common import flow_fields, jsonable, tilt
from etfflow.signals.overview import GroupFlows, group_totals

__all__ = ["FACTORS", "FACTOR_READINGS", "TILT_BANDS", "StyleFlows", "style_flows"]

#: factor -> taxonomy groups of the `style` category
FACTORS: dict[str, tuple[str, ...]] = {
    "growth": ("Growth",),
    "value": ("Value",),
    "momentum": ("Momentum",),
    "quality": ("Quality",),
    "min_vol": ("Min Vol",),
    "size": ("Size", "Small Growth", "Small Value"),
    "dividend": ("Dividend",),
}
#: what a net inflow / outflow into a factor suggests
FACTOR_READINGS: dict[str, tuple[str, str]] = {
    "growth": ("demand for growth stocks", "growth stocks sold"),
    "value": ("demand for value stocks", "value stocks sold"),
    "momentum": ("trend-following demand", "momentum being unwound"),
    "quality": ("preference for strong balance sheets", "quality sold"),
    "min_vol": ("defensive, low-volatility demand", "defensive positioning reduced"),
    "size": ("appetite for smaller companies", "smaller companies sold"),
    "dividend": ("demand for income", "income strategies sold"),
}
TILT_BANDS: tuple[float, float] = (0.65, 0.35)


@dataclass(frozen=True)
class StyleFlows:
    """Factor flows over one window and the two tilts they show."""

    table: pl.DataFrame  # factor, flow_usd, aum_start_usd, flow_pct_aum, funds, direction, reading
    groups: GroupFlows
    growth_value_ratio: float | None
    growth_value: str | None  # growth / balanced / value
    defensive_ratio: float | None
    defensive_tilt: str | None  # defensive / balanced / aggressive
    missing: list[str]  # factors without data

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def style_flows(
    totals: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    factors: dict[str, tuple[str, ...]] | None = None,
    tol: float = 0.0,
) -> StyleFlows:
    """Per-factor flows and the growth/value and defensive/aggressive tilts from a `window_totals` frame."""
    fac = factors or FACTORS
    all_groups = [g for gs in fac.values() for g in gs]
    groups = group_totals(totals, funds, category="style", groups=all_groups)
    rows = []
    sums: dict[str, float | None] = {}
    for name, gs in fac.items():
        usd, aum, tickers = groups.total(gs)
        sums[name] = usd
        if usd is None:
            continue
        fields = flow_fields(usd, aum, tickers, tol)
        d = fields["direction"]
        reading = FACTOR_READINGS.get(name, ("inflow", "outflow"))
        rows.append(
            {
                "factor": name,
                **fields,
                "reading": reading[0] if d == "inflow" else reading[1] if d == "outflow" else "no net flow",
            }
        )
    schema: dict[str, Any] = {
        "factor": pl.String,
        "flow_usd": pl.Float64,
        "aum_start_usd": pl.Float64,
        "flow_pct_aum": pl.Float64,
        "funds": pl.Int64,
        "tickers": pl.List(pl.String),
        "direction": pl.String,
        "reading": pl.String,
    }
    table = pl.DataFrame(rows, schema=schema)
    missing = [n for n in fac if sums.get(n) is None]
    gv, gv_label = tilt(sums.get("growth"), sums.get("value"), ("growth", "balanced", "value"), TILT_BANDS)

    def add(*xs: float | None) -> float | None:
        known = [x for x in xs if x is not None]
        return sum(known) if known else None

    defn, aggr = add(sums.get("quality"), sums.get("min_vol")), add(sums.get("momentum"), sums.get("size"))
    dr, dr_label = tilt(defn, aggr, ("defensive", "balanced", "aggressive"), TILT_BANDS)
    return StyleFlows(
        table=table,
        groups=groups,
        growth_value_ratio=gv,
        growth_value=gv_label,
        defensive_ratio=dr,
        defensive_tilt=dr_label,
        missing=missing,
    )
