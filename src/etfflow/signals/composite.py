"""Composite signals (risk appetite, overall state, rotation phase, rates) and what they imply (pure).

Risk appetite = the mean of the votes of the readings that have data:
- regime: risk_on +1, risk_seeking +0.5, neutral 0, quality_flight -0.5, risk_off -1;
- sector breadth: broad +1, mixed 0, narrow -1;
- cyclical/defensive: cyclical +1, balanced 0, defensive -1;
- credit: reaching_for_yield +1, neutral 0, quality -1;
- QQQ (framework rules only): tech/growth appetite +1, flat 0, aversion -1.
score >= 0.5 reads `high`, score <= -0.5 `low`, in between `neutral`; None without any component.

Overall state (the framework's risk-on / risk-off / selective): `risk_on` when appetite is high,
`risk_off` when low; `selective` when it is neutral while money rotates (breadth mixed, or one
regime leg bought and the other sold); `neutral` otherwise.

Sector-rotation phase = the sector pattern's phase (`sectors.cycle_phase`), `confirmed` when the
cyclical/defensive band agrees (the rules say which band confirms which phase).
Rate expectations = the duration reading, moved by TIPS under the framework rules (`fixed_income`).

Implication block (the framework's fields): Positioning (from the overall state), Sector tilts
(toward the sectors with the largest inflows, away from the largest outflows) and Risk level:
one point each for a risk_off regime, narrow breadth, credit caution or both credit legs redeemed,
a crowded thematic unwind, and 3+ flow events (|z| >= 3) in the window; 0-1 `low`, 2-3
`moderate`, 4+ `high`. Every sentence is chosen by the signs and sizes of the flows it describes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from etfflow.signals.common import band, fmt_pct, fmt_usd, jsonable, num
from etfflow.signals.fixed_income import FixedIncomeFlows
from etfflow.signals.fund_signals import FundSignals
from etfflow.signals.regime import BroadMarket
from etfflow.signals.rules import FRAMEWORK, Rules
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
    "overall_state",
    "pair_sentence",
    "rate_expectations",
    "risk_appetite",
    "risk_level",
    "rotation_phase",
]

VOTES: dict[str, dict[str, float]] = {
    "regime": {"risk_on": 1.0, "risk_seeking": 0.5, "neutral": 0.0, "quality_flight": -0.5, "risk_off": -1.0},
    "breadth": {"broad": 1.0, "mixed": 0.0, "narrow": -1.0},
    "cd": {"cyclical": 1.0, "balanced": 0.0, "defensive": -1.0},
    "credit": {"reaching_for_yield": 1.0, "neutral": 0.0, "quality": -1.0},
    "qqq": {"tech_growth_appetite": 1.0, "flat": 0.0, "tech_growth_aversion": -1.0},
}
APPETITE_BANDS: tuple[float, float] = (0.5, -0.5)
#: Fidelity's phase leaders (the `etfflow` rules); the framework's come from `rules.SectorRules`
PHASE_LEADERS: dict[str, str] = {
    "early": "Financials, Consumer Discretionary, Real Estate, Industrials",
    "mid": "Technology, Communication Services",
    "late": "Energy, Materials",
    "recession": "Consumer Staples, Utilities, Health Care",
}
RISK_LEVELS: tuple[tuple[int, str], ...] = ((4, "high"), (2, "moderate"), (0, "low"))


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
    state: str | None = None  # risk_on / risk_off / selective / neutral
    positioning: str = ""
    sector_tilts: str = ""
    risk_level: str | None = None  # low / moderate / high; None without broad, sector or bond data
    risk_points: list[str] = field(default_factory=list)
    rules: str = "framework"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def risk_appetite(
    regime: str | None, breadth: str | None, cd: str | None, credit: str | None, qqq: str | None = None
) -> tuple[str | None, float | None, list[str]]:
    """Reading (high / neutral / low), score and the components used (see the module docstring)."""
    parts = {"regime": regime, "breadth": breadth, "cd": cd, "credit": credit, "qqq": qqq}
    votes = [(k, VOTES[k][v]) for k, v in parts.items() if v is not None and v in VOTES[k]]
    if not votes:
        return None, None, []
    score = sum(v for _, v in votes) / len(votes)
    reading = band(score, APPETITE_BANDS[0], APPETITE_BANDS[1], ("high", "neutral", "low"))
    return reading, score, [k for k, _ in votes]


def rotation_phase(
    phase: str | None, cd: str | None, confirm: dict[str, str | None] | None = None
) -> tuple[str | None, bool | None]:
    """The phase and whether the cyclical/defensive band confirms it (None when it cannot tell).

    `confirm` maps a phase to the band that confirms it (None: no band can); by default recession
    is confirmed by `defensive` and every other phase by `cyclical`.
    """
    if phase is None or phase == "mixed" or cd is None or cd == "balanced":
        return phase, None
    if confirm is None:
        return phase, (phase == "recession") == (cd == "defensive")
    want = confirm.get(phase)
    return (phase, None) if want is None else (phase, cd == want)


def overall_state(appetite: str | None, breadth: str | None, regime: str | None) -> str | None:
    """risk_on / risk_off / selective / neutral (see the module docstring); None without appetite."""
    if appetite is None:
        return None
    if appetite == "high":
        return "risk_on"
    if appetite == "low":
        return "risk_off"
    if breadth == "mixed" or regime in ("quality_flight", "risk_seeking"):
        return "selective"
    return "neutral"


def risk_level(
    regime: str | None,
    breadth: str | None,
    fi: FixedIncomeFlows,
    thematic: ThematicFlows,
    events: int,
) -> tuple[str | None, list[str]]:
    """Risk level and the points that made it (see the module docstring); None without any reading."""
    pts: list[str] = []
    if regime is None and breadth is None and fi.table.height == 0:
        return None, pts
    if regime == "risk_off":
        pts.append("risk-off regime")
    if breadth == "narrow":
        pts.append("narrow breadth")
    legs = {r["leg"]: r["flow_usd"] for r in fi.table.to_dicts()}
    hy, ig = num(legs.get("high_yield")), num(legs.get("investment_grade"))
    if fi.credit == "quality":
        pts.append("credit caution")
    elif hy is not None and ig is not None and hy < 0 and ig < 0:
        pts.append("both credit legs redeemed")
    if "state" in thematic.table.columns and (thematic.table["state"] == "crowded_unwind").any():
        pts.append("crowded thematic unwind")
    if events >= 3:
        pts.append(f"{events} flow events (|z| >= 3)")
    level = next(name for lo, name in RISK_LEVELS if len(pts) >= lo)
    return level, pts


def pair_sentence(a_name: str, a: float | None, b_name: str, b: float | None) -> str | None:
    """What two flows did, in words chosen by their signs (None when either is unknown)."""
    x, y = num(a), num(b)
    if x is None or y is None:
        return None
    both = f"({a_name} {fmt_usd(x)}, {b_name} {fmt_usd(y)})"
    if x > 0 and y > 0:
        more, less = (a_name, b_name) if x >= y else (b_name, a_name)
        return f"both {a_name} and {b_name} take in money, {more} more than {less} {both}"
    if x < 0 and y < 0:
        less, more = (a_name, b_name) if x >= y else (b_name, a_name)
        return f"both {a_name} and {b_name} lose money, {less} less than {more} {both}"
    if x == 0 and y == 0:
        return f"neither {a_name} nor {b_name} has a net flow"
    if x == 0 or y == 0:
        moved, mv, still = (b_name, y, a_name) if x == 0 else (a_name, x, b_name)
        return f"{moved} {'takes in' if mv > 0 else 'loses'} money and {still} has no net flow {both}"
    if x > 0:
        return f"money goes into {a_name} and out of {b_name} {both}"
    return f"money goes into {b_name} and out of {a_name} {both}"


def rate_expectations(fi: FixedIncomeFlows) -> str | None:
    """Falling / stable / rising from the duration reading; None when a duration leg has no data."""
    return fi.rates


_NAMES = {
    "regime": "regime",
    "breadth": "breadth",
    "cd": "C/D",
    "credit": "credit",
    "qqq": "QQQ",
}


def composite(
    broad: BroadMarket,
    sectors: SectorSnapshot,
    styles: StyleFlows,
    fi: FixedIncomeFlows,
    thematic: ThematicFlows,
    extremes: list[str] | None = None,
    *,
    rules: Rules = FRAMEWORK,
    signals: FundSignals | None = None,
    notes: list[str] | None = None,
) -> Composite:
    """The composite signals with their basis, and the implication block (`extremes` appended)."""
    qqq = broad.nasdaq if rules.qqq_vote else None
    reading, score, _ = risk_appetite(broad.regime, sectors.breadth_band, sectors.cd_band, fi.credit, qqq)
    comp = {
        "regime": broad.regime,
        "breadth": sectors.breadth_band,
        "cd": sectors.cd_band,
        "credit": fi.credit,
    }
    if rules.qqq_vote:
        comp["qqq"] = broad.nasdaq
    shown = []
    for k, v in comp.items():
        shown.append(f"{_NAMES[k]} {v.replace('_', ' ') if v else 'no data'}")
    basis_ra = "; ".join(shown) + (
        f" (score {score:+.2f} on -1 .. +1; high >= {APPETITE_BANDS[0]:+.1f}, "
        f"low <= {APPETITE_BANDS[1]:+.1f})"
        if score is not None
        else ""
    )
    state = overall_state(reading, sectors.breadth_band, broad.regime)
    phase, confirmed = rotation_phase(sectors.phase, sectors.cd_band, rules.sectors.confirm)
    if sectors.phase_scores:
        ranked = sorted(sectors.phase_scores.items(), key=lambda kv: -kv[1])
        basis_ph = ", ".join(f"{p.replace('_', ' ')} {fmt_pct(v, 3)}" for p, v in ranked)
        basis_ph = f"mean sector flow % AUM by phase: {basis_ph}"
        if sectors.cd_ratio is not None:
            tag = {True: "confirms", False: "does not confirm", None: "is neutral on"}[confirmed]
            basis_ph += f"; C/D {sectors.cd_ratio:.2f} on 0 .. 1 ({sectors.cd_band}) {tag} it"
    else:
        basis_ph = "no sector data"
    rates = rate_expectations(fi)
    leg = {r["leg"]: r for r in fi.table.to_dicts()}
    if fi.duration_ratio is not None or fi.duration is not None:
        basis_rt = (
            f"long Treasuries {fmt_usd(leg['long']['flow_usd'])} vs short {fmt_usd(leg['short']['flow_usd'])}"
            + (f", duration ratio {fi.duration_ratio:.2f} on 0 .. 1" if fi.duration_ratio is not None else "")
        )
    else:
        basis_rt = "no data for " + " and ".join(x for x in ("long", "short") if x not in leg) + " Treasuries"
    if fi.inflation is not None:
        moves = " (moves the reading)" if rules.tips_rates else " (not used for rates)"
        basis_rt += (
            f"; TIPS {fmt_usd(leg['inflation']['flow_usd'])} ({fi.inflation.replace('_', ' ')}){moves}"
        )
    rows = [
        CompositeRow("Risk appetite", reading, basis_ra, score, dict(comp)),
        CompositeRow(
            "Overall state",
            state,
            f"risk appetite {reading or 'n/a'}, breadth {sectors.breadth_band or 'n/a'}, "
            f"regime {(broad.regime or 'n/a').replace('_', ' ')}",
        ),
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
    n_events = signals.events.height if signals is not None else 0
    level, points = risk_level(broad.regime, sectors.breadth_band, fi, thematic, n_events)
    positioning = _positioning(state, score)
    tilts = _sector_tilts(sectors, signals)
    bullets = implications(
        reading, phase, confirmed, fi, styles, thematic, extremes, sectors=sectors, rules=rules, votes=comp
    )
    return Composite(
        rows=rows,
        implications=bullets,
        state=state,
        positioning=positioning,
        sector_tilts=tilts,
        risk_level=level,
        risk_points=points,
        rules=rules.name,
    )


def _yn(x: bool | None) -> str | None:
    return None if x is None else ("yes" if x else "no")


def _positioning(state: str | None, score: float | None) -> str:
    sc = f" (risk-appetite score {score:+.2f})" if score is not None else ""
    return {
        "risk_on": f"risk-on{sc}: most flow readings favour adding risk exposure.",
        "risk_off": f"risk-off{sc}: most flow readings favour reducing risk exposure.",
        "selective": f"selective{sc}: money rotates between segments rather than into or out of the market.",
        "neutral": f"neutral{sc}: no clear direction in the flows.",
    }.get(state or "", "no reading: no broad-market, sector or credit data in the window.")


def _sector_tilts(s: SectorSnapshot, signals: FundSignals | None) -> str:
    if s.sectors == 0:
        return "no sector data."
    flow = {x["sector"]: x["flow_usd"] for x in s.table.to_dicts()}
    toward = ", ".join(f"{x} ({fmt_usd(flow[x])})" for x in s.leaders) or "none (no sector has a net inflow)"
    away = ", ".join(f"{x} ({fmt_usd(flow[x])})" for x in s.laggards) or "none (no sector has a net outflow)"
    out = f"toward {toward}; away from {away}."
    if signals is not None and signals.readings.height:
        rd = dict(
            zip(signals.readings["category"].to_list(), signals.readings["reading"].to_list(), strict=True)
        )
        if rd.get("sector") == "contrarian":
            out += (
                " Past sector flows read contrarian: these tilts show where money went,"
                " not where returns followed."
            )
        elif rd.get("sector") == "momentum":
            out += " Past sector flows read momentum: returns have tended to follow them."
    return out


def _leg_usd(fi: FixedIncomeFlows, name: str) -> float | None:
    for r in fi.table.to_dicts():
        if r["leg"] == name:
            return num(r["flow_usd"])
    return None


def implications(
    appetite: str | None,
    phase: str | None,
    confirmed: bool | None,
    fi: FixedIncomeFlows,
    styles: StyleFlows,
    thematic: ThematicFlows,
    extremes: list[str] | None = None,
    *,
    sectors: SectorSnapshot | None = None,
    rules: Rules = FRAMEWORK,
    votes: dict[str, str | None] | None = None,
) -> list[str]:
    """Plain-language bullets that follow from the readings and the signs of the flows behind them."""
    out: list[str] = []
    v = [VOTES[k][x] for k, x in (votes or {}).items() if x is not None and x in VOTES.get(k, {})]
    if appetite == "high":
        out.append("Flows lean risk-on: most readings vote for risk.")
    elif appetite == "low":
        out.append("Flows lean risk-off: most readings vote against risk.")
    elif appetite == "neutral":
        if any(x > 0 for x in v) and any(x < 0 for x in v):
            out.append("Flows give no strong risk signal: the readings offset each other.")
        else:
            out.append("Flows give no strong risk signal: the readings are neutral or too few.")
    else:
        out.append("Risk appetite cannot be read: no broad-market, sector or credit data in the window.")
    if phase is not None and phase != "mixed" and sectors is not None:
        best = sectors.phase_scores.get(phase)
        tail = " (not confirmed by the cyclical/defensive ratio)" if confirmed is False else ""
        name = phase.replace("_", "-") + (" cycle" if phase == "rate_cut" else "")
        flow = {x["sector"]: x["flow_usd"] for x in sectors.table.to_dicts()}
        ins = [x for x in rules.sectors.leaders(phase) if (flow.get(x) or 0) > 0]
        outs = [x for x in rules.sectors.leaders(phase) if (flow.get(x) or 0) < 0]
        split = f"in: {', '.join(ins) or 'none'}; out: {', '.join(outs) or 'none'}"
        if best is not None and best > 0:
            out.append(
                f"Sector flows look most like the {name} phase{tail}: its sectors take in "
                f"{fmt_pct(best, 2)} of AUM on average ({split})."
            )
        elif best is not None:
            out.append(
                f"Every cycle phase's sectors lose money on average; the {name} phase's lose least "
                f"({fmt_pct(best, 2)} of AUM; {split}), which is no positive sign of that phase."
            )
    long_, short = _leg_usd(fi, "long"), _leg_usd(fi, "short")
    dur = pair_sentence("long Treasuries", long_, "short Treasuries", short)
    if dur is not None and fi.rates is not None:
        rate = {"falling": "lower", "rising": "higher or sticky", "stable": "no change in"}[fi.rates]
        buying = (fi.rates == "falling" and (long_ or 0) > 0) or (fi.rates == "rising" and (short or 0) > 0)
        what = (
            f"positioning for {rate} yields"
            if buying or fi.rates == "stable"
            else f"a relative tilt toward {rate} yields, not new buying"
        )
        out.append(f"Duration: {dur}: {what}.")
    hy, ig = _leg_usd(fi, "high_yield"), _leg_usd(fi, "investment_grade")
    cr = pair_sentence("high yield", hy, "investment grade", ig)
    if cr is not None and hy is not None and ig is not None:
        if hy < 0 and ig < 0:
            verdict = "credit is being sold on both legs, which is not healthy risk appetite"
        elif fi.credit == "reaching_for_yield":
            verdict = "credit risk appetite is healthy (reaching for yield)"
        elif fi.credit == "quality":
            verdict = "a sign of credit caution"
        else:
            verdict = "no clear credit tilt"
        out.append(f"Credit: {cr}: {verdict}.")
    g, val = _factor_usd(styles, "growth"), _factor_usd(styles, "value")
    st = pair_sentence("growth", g, "value", val)
    if st is not None and styles.growth_value in ("growth", "value"):
        out.append(f"Styles: {st}.")
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


def _factor_usd(styles: StyleFlows, name: str) -> float | None:
    for r in styles.table.to_dicts():
        if r["factor"] == name:
            return num(r["flow_usd"])
    return None
