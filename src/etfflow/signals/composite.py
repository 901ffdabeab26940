"""Composite signals (risk appetite, sector-rotation phase, rate expectations) and what they imply (pure).

Risk appetite = the mean of the votes of the readings that have data:
- regime: risk_on +1, risk_seeking +0.5, neutral 0, quality_flight -0.5, risk_off -1;
- sector breadth: broad +1, mixed 0, narrow -1;
- cyclical/defensive: cyclical +1, balanced 0, defensive -1;
- credit: reaching_for_yield +1, neutral 0, quality -1.
score >= 0.5 reads `high`, score <= -0.5 `low`, in between `neutral`; None without any component.

Sector-rotation phase = the sector pattern's phase (`sectors.cycle_phase`), `confirmed` when the
cyclical/defensive band agrees (recession with defensive, early/mid/late with cyclical).
Rate expectations = the duration reading (`fixed_income`): falling, stable or rising.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from etfflow.signals.common import band, fmt_pct, fmt_usd, jsonable
from etfflow.signals.fixed_income import FixedIncomeFlows
from etfflow.signals.regime import BroadMarket
from etfflow.signals.sectors import SectorSnapshot
from etfflow.signals.styles import StyleFlows
from etfflow.signals.thematic import ThematicFlows

__all__ = [
    "APPETITE_BANDS",
    "PHASE_LEADERS",
    "VOTES",
    "Composite",
    "CompositeRow",
    "composite",
    "rate_expectations",
    "risk_appetite",
    "rotation_phase",
]

VOTES: dict[str, dict[str, float]] = {
    "regime": {"risk_on": 1.0, "risk_seeking": 0.5, "neutral": 0.0, "quality_flight": -0.5, "risk_off": -1.0},
    "breadth": {"broad": 1.0, "mixed": 0.0, "narrow": -1.0},
    "cd": {"cyclical": 1.0, "balanced": 0.0, "defensive": -1.0},
    "credit": {"reaching_for_yield": 1.0, "neutral": 0.0, "quality": -1.0},
}
APPETITE_BANDS: tuple[float, float] = (0.5, -0.5)
PHASE_LEADERS: dict[str, str] = {
    "early": "Financials, Consumer Discretionary, Real Estate, Industrials",
    "mid": "Technology, Communication Services",
    "late": "Energy, Materials",
    "recession": "Consumer Staples, Utilities, Health Care",
}


@dataclass(frozen=True)
class CompositeRow:
    """One composite signal: its reading, score where it has one, and the basis in words."""

    signal: str
    reading: str | None
    basis: str
    score: float | None = None
    components: dict[str, str | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Composite:
    """The composite signal table and the implication bullets."""

    rows: list[CompositeRow]
    implications: list[str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def risk_appetite(
    regime: str | None, breadth: str | None, cd: str | None, credit: str | None
) -> tuple[str | None, float | None, list[str]]:
    """Reading (high / neutral / low), score and the components used (see the module docstring)."""
    parts = {"regime": regime, "breadth": breadth, "cd": cd, "credit": credit}
    votes = [(k, VOTES[k][v]) for k, v in parts.items() if v is not None and v in VOTES[k]]
    if not votes:
        return None, None, []
    score = sum(v for _, v in votes) / len(votes)
    reading = band(score, APPETITE_BANDS[0], APPETITE_BANDS[1], ("high", "neutral", "low"))
    return reading, score, [k for k, _ in votes]


def rotation_phase(phase: str | None, cd: str | None) -> tuple[str | None, bool | None]:
    """The phase and whether the cyclical/defensive band confirms it (None when it cannot tell)."""
    if phase is None or phase == "mixed" or cd is None or cd == "balanced":
        return phase, None
    return phase, (phase == "recession") == (cd == "defensive")


def rate_expectations(fi: FixedIncomeFlows) -> str | None:
    """Falling / stable / rising from the duration reading; None when a duration leg has no data."""
    return fi.rates


_NAMES = {
    "regime": "regime",
    "breadth": "breadth",
    "cd": "C/D",
    "credit": "credit",
}


def composite(
    broad: BroadMarket,
    sectors: SectorSnapshot,
    styles: StyleFlows,
    fi: FixedIncomeFlows,
    thematic: ThematicFlows,
    extremes: list[str] | None = None,
) -> Composite:
    """The three composite signals with their basis, and the implication bullets (`extremes` appended)."""
    reading, score, _ = risk_appetite(broad.regime, sectors.breadth_band, sectors.cd_band, fi.credit)
    comp = {
        "regime": broad.regime,
        "breadth": sectors.breadth_band,
        "cd": sectors.cd_band,
        "credit": fi.credit,
    }
    shown = []
    for k, v in comp.items():
        shown.append(f"{_NAMES[k]} {v.replace('_', ' ') if v else 'no data'}")
    basis_ra = "; ".join(shown) + (f" (score {score:+.2f})" if score is not None else "")
    phase, confirmed = rotation_phase(sectors.phase, sectors.cd_band)
    if sectors.phase_scores:
        ranked = sorted(sectors.phase_scores.items(), key=lambda kv: -kv[1])
        basis_ph = ", ".join(f"{p} {fmt_pct(v, 3)}" for p, v in ranked)
        basis_ph = f"mean sector flow % AUM by phase: {basis_ph}"
        if sectors.cd_ratio is not None:
            tag = {True: "confirms", False: "does not confirm", None: "is neutral on"}[confirmed]
            basis_ph += f"; C/D {sectors.cd_ratio:.2f} ({sectors.cd_band}) {tag} it"
    else:
        basis_ph = "no sector data"
    rates = rate_expectations(fi)
    leg = {r["leg"]: r for r in fi.table.to_dicts()}
    if fi.duration_ratio is not None or fi.duration is not None:
        basis_rt = (
            f"long Treasuries {fmt_usd(leg['long']['flow_usd'])} vs short {fmt_usd(leg['short']['flow_usd'])}"
            + (f", duration ratio {fi.duration_ratio:.2f}" if fi.duration_ratio is not None else "")
        )
    else:
        basis_rt = "no data for " + " and ".join(x for x in ("long", "short") if x not in leg) + " Treasuries"
    if fi.inflation is not None:
        basis_rt += f"; TIPS {fmt_usd(leg['inflation']['flow_usd'])} ({fi.inflation.replace('_', ' ')})"
    rows = [
        CompositeRow("Risk appetite", reading, basis_ra, score, dict(comp)),
        CompositeRow(
            "Sector rotation phase",
            phase,
            basis_ph,
            None,
            {"phase": sectors.phase, "cd_band": sectors.cd_band, "confirmed": _yn(confirmed)},
        ),
        CompositeRow(
            "Rate expectations",
            rates,
            basis_rt,
            fi.duration_ratio,
            {"duration": fi.duration, "inflation": fi.inflation},
        ),
    ]
    return Composite(
        rows=rows, implications=implications(reading, phase, confirmed, fi, styles, thematic, extremes)
    )


def _yn(x: bool | None) -> str | None:
    return None if x is None else ("yes" if x else "no")


def implications(
    appetite: str | None,
    phase: str | None,
    confirmed: bool | None,
    fi: FixedIncomeFlows,
    styles: StyleFlows,
    thematic: ThematicFlows,
    extremes: list[str] | None = None,
) -> list[str]:
    """Plain-language bullets that follow from the readings (rules, not forecasts)."""
    out: list[str] = []
    if appetite == "high":
        out.append("Flows lean risk-on: money is going into equities broadly and into cyclical exposure.")
    elif appetite == "low":
        out.append("Flows lean risk-off: investors are cutting equity risk and favouring defensive exposure.")
    elif appetite == "neutral":
        out.append("Flows give no strong risk signal: the readings offset each other.")
    else:
        out.append("Risk appetite cannot be read: no broad-market, sector or credit data in the window.")
    if phase in PHASE_LEADERS:
        tail = " (not confirmed by the cyclical/defensive ratio)" if confirmed is False else ""
        out.append(
            f"Sector flows look like the {phase} phase of the cycle{tail}; its usual leaders are "
            f"{PHASE_LEADERS[phase]}."
        )
    if fi.rates == "falling":
        out.append("Money is moving out the curve into long duration: positioning for lower yields.")
    elif fi.rates == "rising":
        out.append("Money is moving to the short end: positioning for higher or sticky yields.")
    if fi.credit == "reaching_for_yield":
        out.append("High yield takes in more than investment grade: credit risk appetite is healthy.")
    elif fi.credit == "quality":
        out.append("Investment grade is preferred to high yield: a sign of credit caution.")
    if styles.growth_value in ("growth", "value"):
        out.append(
            f"Style flows favour {styles.growth_value} over "
            f"{'value' if styles.growth_value == 'growth' else 'growth'}."
        )
    unwinds = thematic.table.filter(thematic.table["state"] == "crowded_unwind")["theme"].to_list()
    conviction = thematic.table.filter(thematic.table["state"] == "conviction")["theme"].to_list()
    if conviction:
        out.append(f"Sustained thematic inflows (conviction): {', '.join(conviction)}.")
    if unwinds:
        out.append(
            f"Crowded unwinds (sudden outflows after a trend): {', '.join(unwinds)}; "
            "watch for further selling."
        )
    out += list(extremes or [])
    out.append("Flows describe positioning, not value: this is a reading of data, not investment advice.")
    return out
