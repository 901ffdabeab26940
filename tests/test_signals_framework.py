"""The US flow framework's rules and bands on hand-built window totals (every edge, tie and gap)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from etfflow.signals.common import band, direction, fmt_pct, fmt_usd, jsonable, tilt_ratio
from etfflow.signals.composite import composite, risk_appetite, rotation_phase
from etfflow.signals.fixed_income import fixed_income_flows
from etfflow.signals.overview import cd_ratio, group_totals, report_window
from etfflow.signals.regime import broad_market, risk_regime
from etfflow.signals.rules import ETFFLOW, FIDELITY_SECTORS
from etfflow.signals.sectors import (
    breadth_band,
    breadth_history,
    cd_band,
    cycle_phase,
    sector_rotation,
    sector_snapshot,
)
from etfflow.signals.styles import style_flows
from etfflow.signals.thematic import ThematicFlows

D = dt.date

SECTORS = {
    "Technology": ("cyclical", "mid"),
    "Financials": ("cyclical", "early"),
    "Energy": ("cyclical", "late"),
    "Health Care": ("defensive", "recession"),
    "Industrials": ("cyclical", "early"),
    "Consumer Discretionary": ("cyclical", "early"),
    "Consumer Staples": ("defensive", "recession"),
    "Utilities": ("defensive", "recession"),
    "Materials": ("cyclical", "late"),
    "Real Estate": ("cyclical", "early"),
    "Communication Services": ("cyclical", "mid"),
}


def funds_frame(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    """ticker, category, group (+ cycle and phase for sectors)."""
    return pl.DataFrame(
        {
            "ticker": [r[0] for r in rows],
            "name": [f"{r[0]} fund" for r in rows],
            "category": [r[1] for r in rows],
            "group": [r[2] for r in rows],
            "cycle": [SECTORS[r[2]][0] if r[1] == "sector" else None for r in rows],
            "cycle_phase": [SECTORS[r[2]][1] if r[1] == "sector" else None for r in rows],
        }
    )


def totals_frame(flows: dict[str, float], aum: float = 1000.0) -> pl.DataFrame:
    """A `window_totals`-shaped frame: every fund with the same AUM before the window."""
    t = list(flows)
    return pl.DataFrame(
        {
            "ticker": t,
            "flow_usd": [float(flows[x]) for x in t],
            "aum_start_usd": [aum] * len(t),
            "days": [5] * len(t),
            "start": [D(2024, 6, 3)] * len(t),
            "end": [D(2024, 6, 7)] * len(t),
        }
    ).with_columns((pl.col("flow_usd") / pl.col("aum_start_usd")).alias("flow_pct_aum"))


# --- shared helpers ------------------------------------------------------------------------------


def test_tilt_ratio_formula_and_its_edges() -> None:
    assert tilt_ratio(3, 1) == 0.75 == 3 / (3 + 1)  # both inflows: a / (a + b)
    assert tilt_ratio(13, 7) == 0.65 and tilt_ratio(7, 13) == 0.35  # exact at band edges
    assert tilt_ratio(5, -2) == 1.0 and tilt_ratio(-2, 5) == 0.0
    assert tilt_ratio(-1, -3) == 0.75  # both outflows: the side that lost less ranks higher
    assert tilt_ratio(-3, -1) == 0.25
    assert tilt_ratio(-2, -2) == 0.5 and tilt_ratio(4, 4) == 0.5  # ties
    assert tilt_ratio(0, 0) is None and tilt_ratio(None, 1) is None and tilt_ratio(1, float("nan")) is None
    assert tilt_ratio(0, -1) == 1.0 and tilt_ratio(0, 1) == 0.0
    assert cd_ratio(-1, -3) == 0.75 and cd_ratio(0, 0) is None


def test_naive_ratio_would_misorder_all_negative_flows() -> None:
    c, d = -1.0, -3.0  # cyclicals lost less
    assert c / (c + d) == 0.25  # the naive formula says "defensive"
    assert cd_band(cd_ratio(c, d)) == "cyclical"  # ours says cyclicals held up better


def test_band_and_direction() -> None:
    labels = ("hi", "mid", "lo")
    assert band(0.7, 0.7, 0.4, labels) == "hi"
    assert band(0.69999, 0.7, 0.4, labels) == "mid"
    assert band(0.4, 0.7, 0.4, labels) == "lo"
    assert band(None, 0.7, 0.4, labels) is None
    assert direction(1.0) == "inflow" and direction(-1.0) == "outflow" and direction(0.0) == "flat"
    assert direction(None) is None
    assert direction(2.0, 1000.0, tol=0.002) == "flat"  # |2| <= 0.2% of 1000
    assert direction(2.5, 1000.0, tol=0.002) == "inflow"


def test_formatting_and_json() -> None:
    assert fmt_usd(1.234e9) == "+$1.23bn" and fmt_usd(-5e5) == "-$500.00k" and fmt_usd(0.0) == "$0"
    assert fmt_usd(None) == "n/a" and fmt_pct(0.0123) == "+1.23%" and fmt_pct(float("nan")) == "n/a"
    frame = pl.DataFrame({"a": [1.0, float("nan")], "d": [D(2024, 1, 2), None]})
    assert jsonable({"f": frame, "x": float("inf")}) == {
        "f": [{"a": 1.0, "d": "2024-01-02"}, {"a": None, "d": None}],
        "x": None,
    }


def test_report_window_counts_exchange_sessions() -> None:
    flows = pl.DataFrame({"date": [D(2024, 7, 1), D(2024, 7, 8)], "ticker": ["A", "A"]})
    # 5 sessions ending Monday 2024-07-08: Jul 1, 2, 3, 5, 8 (Jul 4 is a holiday)
    assert report_window(flows, 5) == (D(2024, 7, 1), D(2024, 7, 8))
    assert report_window(flows, 5, as_of=D(2024, 7, 5)) == (D(2024, 6, 25), D(2024, 7, 1))
    assert report_window(flows, 5, as_of=D(2024, 6, 1)) is None


def test_group_totals_reports_missing_groups_not_zeros() -> None:
    funds = funds_frame([("A", "style", "Growth"), ("B", "style", "Growth"), ("C", "style", "Value")])
    g = group_totals(totals_frame({"A": 5.0, "B": -2.0}), funds, category="style")
    assert g.table.select("group", "flow_usd", "funds", "known").to_dicts() == [
        {"group": "Growth", "flow_usd": 3.0, "funds": 2, "known": 2}
    ]
    assert g.missing_groups == ["Value"] and g.missing_funds == ["C"]
    assert g.total(["Value"]) == (None, None, [])
    assert g.total(["Growth", "Value"]) == (3.0, 2000.0, ["A", "B"])


# --- broad market regime -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("large", "small", "regime"),
    [
        (1.0, 1.0, "risk_on"),
        (1.0, -1.0, "quality_flight"),
        (-1.0, 1.0, "risk_seeking"),
        (-1.0, -1.0, "risk_off"),
        (0.0, 1.0, "neutral"),
        (1.0, 0.0, "neutral"),
        (0.0, 0.0, "neutral"),
        (None, 1.0, None),
        (1.0, None, None),
    ],
)
def test_risk_regime_table(large: float | None, small: float | None, regime: str | None) -> None:
    assert risk_regime(large, small) == regime


def test_risk_regime_dead_band() -> None:
    assert risk_regime(1.0, -5.0, large_aum=1000.0, small_aum=1000.0, tol=0.001) == "neutral"
    assert risk_regime(1.5, -5.0, large_aum=1000.0, small_aum=1000.0, tol=0.001) == "quality_flight"


BROAD = [
    ("SPY", "broad_market", "Large Cap"),
    ("IVV", "broad_market", "Large Cap"),
    ("VOO", "broad_market", "Large Cap"),
    ("QQQ", "broad_market", "Nasdaq 100"),
    ("IWM", "broad_market", "Small Cap"),
    ("IJR", "broad_market", "Small Cap"),
    ("DIA", "broad_market", "Dow"),
]


def test_broad_market_legs_are_several_funds() -> None:
    funds = funds_frame(BROAD)
    b = broad_market(totals_frame({"SPY": 10.0, "IVV": -4.0, "VOO": -1.0, "IWM": -2.0, "IJR": 0.0}), funds)
    assert b.large_usd == 5.0 and b.small_usd == -2.0
    assert b.large_funds == ["IVV", "SPY", "VOO"] and b.small_funds == ["IJR", "IWM"]
    assert b.regime == "quality_flight"
    assert b.missing == ["QQQ", "DIA"]
    assert b.funds["ticker"].to_list() == ["SPY", "IVV", "VOO", "IWM"]
    assert "IVV+SPY+VOO +$5" in b.basis and "IJR+IWM -$2" in b.basis


def test_broad_market_without_small_caps_has_no_regime() -> None:
    b = broad_market(totals_frame({"SPY": 10.0}), funds_frame(BROAD))
    assert b.regime is None and b.small_usd is None
    assert "small caps (Small Cap): no data" in b.basis
    assert "Small Cap" in b.groups.missing_groups
    assert b.as_dict()["regime"] is None


# --- sectors -------------------------------------------------------------------------------------


def sector_funds(extra: list[tuple[str, str, str]] | None = None) -> pl.DataFrame:
    rows = [(f"X{i}", "sector", s) for i, s in enumerate(SECTORS)]
    return funds_frame(rows + (extra or []))


def test_breadth_and_cd_bands_at_their_edges() -> None:
    assert breadth_band(0.7) == "broad" and breadth_band(7 / 10) == "broad"
    assert breadth_band(0.6999) == "mixed" and breadth_band(0.4001) == "mixed"
    assert breadth_band(0.4) == "narrow" and breadth_band(4 / 10) == "narrow" and breadth_band(None) is None
    assert breadth_band(8 / 11) == "broad" and breadth_band(7 / 11) == "mixed"
    assert breadth_band(5 / 11) == "mixed" and breadth_band(4 / 11) == "narrow"
    assert cd_band(0.65) == "cyclical" and cd_band(0.6499) == "balanced"
    assert cd_band(0.4) == "defensive" and cd_band(0.4001) == "balanced" and cd_band(None) is None


def test_sector_net_flow_sums_all_funds_of_a_sector() -> None:
    funds = sector_funds([("VGT", "sector", "Technology"), ("SMH", "sector", "Technology")])
    flows = {f"X{i}": 1.0 for i in range(11)} | {"VGT": 2.0, "SMH": -5.0}
    s = sector_rotation(totals_frame(flows), funds)
    tech = s.table.filter(pl.col("sector") == "Technology").row(0, named=True)
    assert tech["flow_usd"] == -2.0 and tech["funds"] == 3 and tech["aum_start_usd"] == 3000.0
    assert s.positive == 10 and s.sectors == 11


def test_breadth_ties_zero_and_missing_sector() -> None:
    # 10 sectors with data: 7 up, 1 flat (zero is not an inflow), 2 down; Real Estate has no data
    names = [s for s in SECTORS if s != "Real Estate"]
    flows = {}
    for i, s in enumerate(SECTORS):
        if s == "Real Estate":
            continue
        k = names.index(s)
        flows[f"X{i}"] = 1.0 if k < 7 else 0.0 if k == 7 else -1.0
    s = sector_rotation(totals_frame(flows), sector_funds())
    assert (s.positive, s.sectors, s.expected) == (7, 10, 11)
    assert s.breadth == 0.7 and s.breadth_band == "broad"  # the 0.7 edge counts as broad
    assert s.missing == ["Real Estate"]
    assert "Real Estate" not in s.table["sector"].to_list()  # not invented as a zero


def test_leaders_and_laggards_break_ties_by_name() -> None:
    flows = {
        f"X{i}": (5.0 if s in ("Utilities", "Energy") else -5.0 if s in ("Materials", "Financials") else 1.0)
        for i, s in enumerate(SECTORS)
    }
    s = sector_rotation(totals_frame(flows), sector_funds(), n_leaders=2)
    assert s.leaders == ["Energy", "Utilities"]
    assert s.laggards == ["Financials", "Materials"]


def test_all_negative_sector_flows() -> None:
    flows = {f"X{i}": (-1.0 if SECTORS[s][0] == "cyclical" else -3.0) for i, s in enumerate(SECTORS)}
    s = sector_rotation(totals_frame(flows), sector_funds(), rules=FIDELITY_SECTORS)  # etfflow variant
    assert s.positive == 0 and s.breadth == 0.0 and s.breadth_band == "narrow"
    assert s.leaders == [] and len(s.laggards) == 3
    assert s.cyclical_usd == -8.0 and s.defensive_usd == -9.0
    # cyclicals lost less in total: ratio above one half, still meaningful
    assert s.cd_ratio == pytest.approx(0.5 + 1 / 34) and s.cd_ratio is not None and s.cd_ratio > 0.5
    assert s.phase == "mixed"  # early, mid and late sectors each lost 0.1%: a three-way tie
    assert s.phase_scores["recession"] == pytest.approx(-0.003)


def test_cd_ratio_bands_from_sector_flows() -> None:
    def run(c: float, d: float) -> tuple[float | None, str | None]:
        flows = {}
        n_c = sum(1 for v in SECTORS.values() if v[0] == "cyclical")
        n_d = len(SECTORS) - n_c
        for i, s in enumerate(SECTORS):
            flows[f"X{i}"] = c / n_c if SECTORS[s][0] == "cyclical" else d / n_d
        s = sector_rotation(totals_frame(flows), sector_funds(), rules=FIDELITY_SECTORS)
        return s.cd_ratio, s.cd_band

    assert run(8.0, -3.0) == (1.0, "cyclical")
    assert run(-8.0, 3.0) == (0.0, "defensive")
    assert run(0.0, 0.0) == (None, None)


def test_cd_ratio_exact_edges() -> None:
    funds = funds_frame([("C", "sector", "Technology"), ("D", "sector", "Utilities")])
    for c, d, want in [
        (13.0, 7.0, "cyclical"),
        (12.9, 7.1, "balanced"),
        (2.0, 3.0, "defensive"),
        (-3.0, -2.0, "defensive"),
    ]:
        s = sector_rotation(totals_frame({"C": c, "D": d}), funds)
        assert s.cd_band == want, (c, d, s.cd_ratio)


def test_cd_ratio_needs_both_sides() -> None:
    funds = funds_frame([("C", "sector", "Technology"), ("D", "sector", "Utilities")])
    s = sector_rotation(totals_frame({"C": 5.0}), funds)
    assert s.cd_ratio is None and s.cd_band is None and s.defensive_usd is None
    assert s.missing == ["Utilities"]


def test_cycle_phase_scores_and_ties() -> None:
    table = pl.DataFrame(
        {
            "cycle_phase": ["early", "early", "mid", "late", "recession"],
            "flow_pct_aum": [0.02, 0.00, 0.01, -0.01, 0.005],
        }
    )
    # early (mean of 2% and 0%) ties mid (1%): no single phase
    assert cycle_phase(table) == ("mixed", {"early": 0.01, "mid": 0.01, "late": -0.01, "recession": 0.005})
    clear = table.with_columns(pl.Series("flow_pct_aum", [0.02, 0.02, 0.01, -0.01, 0.005]))
    assert cycle_phase(clear) == ("early", {"early": 0.02, "mid": 0.01, "late": -0.01, "recession": 0.005})
    assert cycle_phase(table.head(0)) == (None, {})


def test_sector_snapshot_keeps_working_for_the_sectors_command() -> None:
    funds = funds_frame([("C", "sector", "Technology"), ("D", "sector", "Utilities")])
    flows = pl.DataFrame(
        {
            "date": [D(2024, 6, 3), D(2024, 6, 4), D(2024, 6, 3), D(2024, 6, 4)],
            "ticker": ["C", "C", "D", "D"],
            "flow_usd": [1.0, 2.0, -1.0, None],
            "aum_prev_usd": [100.0, 101.0, 50.0, 49.0],
            "flags": [0, 0, 0, 2],
        }
    )
    s = sector_snapshot(flows, funds, window=5)
    assert s.table["sector"].to_list() == ["Technology", "Utilities"]
    assert (s.cyclical_usd, s.defensive_usd, s.positive) == (3.0, -1.0, 1)
    assert s.cd_ratio == 1.0 and s.start == D(2024, 6, 3) and s.end == D(2024, 6, 4)
    assert s.as_dict()["table"][0]["sector"] == "Technology"


def test_breadth_history_per_week() -> None:
    hist = pl.DataFrame(
        {
            "date": [D(2024, 6, 7)] * 3 + [D(2024, 6, 14)] * 3,
            "sector": ["Technology", "Energy", "Utilities"] * 2,
            "cycle": ["cyclical", "cyclical", "defensive"] * 2,
            "flow_usd": [1.0, 1.0, 1.0, -1.0, -1.0, 2.0],
        }
    )
    b = breadth_history(hist)
    assert b["breadth"].to_list() == [1.0, pytest.approx(1 / 3)]
    assert b["breadth_band"].to_list() == ["broad", "narrow"]
    assert b["cd_ratio"].to_list() == [pytest.approx(2 / 3), 0.0]
    assert b["cd_band"].to_list() == ["cyclical", "defensive"]
    assert b["breadth_smooth"].to_list() == [None, None]  # fewer than 4 weeks shown
    two = breadth_history(hist, smooth=2)
    # summed over both weeks: Technology 0, Energy 0, Utilities 3 -> 1 of 3 up; C = 0, D = 3
    assert two["breadth_smooth"].to_list() == [None, pytest.approx(1 / 3)]
    assert two["cd_ratio_smooth"].to_list() == [None, 0.0]


# --- styles and fixed income ---------------------------------------------------------------------

STYLE = [
    ("IWF", "style", "Growth"),
    ("IWD", "style", "Value"),
    ("MTUM", "style", "Momentum"),
    ("QUAL", "style", "Quality"),
    ("USMV", "style", "Min Vol"),
    ("SIZE", "style", "Size"),
    ("IWO", "style", "Small Growth"),
]


@pytest.mark.parametrize(
    ("g", "v", "ratio", "label"),
    [
        (13.0, 7.0, 0.65, "growth"),
        (7.0, 13.0, 0.35, "value"),
        (1.0, 1.0, 0.5, "balanced"),
        (-1.0, -3.0, 0.75, "growth"),
        (0.0, 0.0, None, "balanced"),
    ],
)
def test_growth_vs_value(g: float, v: float, ratio: float | None, label: str) -> None:
    st = style_flows(totals_frame({"IWF": g, "IWD": v}), funds_frame(STYLE))
    assert st.growth_value_ratio == ratio and st.growth_value == label


def test_style_factors_and_missing() -> None:
    st = style_flows(
        totals_frame({"IWF": 1.0, "QUAL": 3.0, "USMV": 0.0, "MTUM": -1.0, "IWO": 2.0}), funds_frame(STYLE)
    )
    assert st.growth_value is None and st.growth_value_ratio is None  # no value fund has data
    assert st.missing == ["value", "dividend"]
    rows = {r["factor"]: r for r in st.table.to_dicts()}
    assert rows["size"]["flow_usd"] == 2.0 and rows["size"]["tickers"] == ["IWO"]
    assert rows["min_vol"]["direction"] == "flat" and rows["momentum"]["direction"] == "outflow"
    assert rows["quality"]["reading"] == "preference for strong balance sheets"
    # quality + min vol = 3 vs momentum + size = 1: 0.75 -> defensive
    assert st.defensive_ratio == 0.75 and st.defensive_tilt == "defensive"


FI = [
    ("TLT", "fixed_income", "Long Treasury"),
    ("IEF", "fixed_income", "Intermediate Treasury"),
    ("SHY", "fixed_income", "Short Treasury"),
    ("LQD", "fixed_income", "Investment Grade"),
    ("HYG", "fixed_income", "High Yield"),
    ("JNK", "fixed_income", "High Yield"),
    ("TIP", "fixed_income", "Inflation"),
    ("EMB", "fixed_income", "EM Debt"),
]


@pytest.mark.parametrize(
    ("tlt", "shy", "duration", "rates"),
    [
        (5.0, -1.0, "extending", "falling"),
        (-1.0, 5.0, "shortening", "rising"),
        (13.0, 7.0, "extending", "falling"),
        (7.0, 13.0, "shortening", "rising"),
        (12.0, 8.0, "neutral", "stable"),
        (0.0, 0.0, "neutral", "stable"),
        (-2.0, -8.0, "extending", "falling"),
    ],
)
def test_duration_and_rates(tlt: float, shy: float, duration: str, rates: str) -> None:
    fi = fixed_income_flows(totals_frame({"TLT": tlt, "SHY": shy}), funds_frame(FI))
    assert fi.duration == duration and fi.rates == rates


def test_credit_inflation_em_and_missing_legs() -> None:
    fi = fixed_income_flows(
        totals_frame({"LQD": 1.0, "HYG": 4.0, "JNK": -1.0, "TIP": 0.0, "EMB": -2.0}), funds_frame(FI)
    )
    assert fi.credit_ratio == 0.75 and fi.credit == "reaching_for_yield"  # HY 3 vs IG 1
    assert fi.inflation == "flat" and fi.em_debt == "aversion"
    assert fi.duration is None and fi.rates is None and fi.duration_ratio is None
    assert fi.missing == ["long", "intermediate", "short"]
    fi2 = fixed_income_flows(totals_frame({"LQD": 5.0, "HYG": -1.0, "TIP": 2.0}), funds_frame(FI))
    assert fi2.credit == "quality" and fi2.inflation == "rising_concern" and fi2.em_debt is None


# --- composite -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "reading", "score"),
    [
        (("risk_on", "broad", "cyclical", "reaching_for_yield"), "high", 1.0),
        (("risk_off", "narrow", "defensive", "quality"), "low", -1.0),
        (("risk_on", "mixed", None, None), "high", 0.5),  # the 0.5 edge is high
        (("quality_flight", None, None, None), "low", -0.5),  # the -0.5 edge is low
        (("risk_seeking", "mixed", None, None), "neutral", 0.25),
        (("neutral", "mixed", "balanced", "neutral"), "neutral", 0.0),
        ((None, None, None, None), None, None),
    ],
)
def test_risk_appetite_votes(parts: tuple[str | None, ...], reading: str | None, score: float | None) -> None:
    got, s, _ = risk_appetite(*parts)
    assert (got, s) == (reading, score)


def test_rotation_phase_confirmation() -> None:
    assert rotation_phase("recession", "defensive") == ("recession", True)
    assert rotation_phase("early", "cyclical") == ("early", True)
    assert rotation_phase("mid", "defensive") == ("mid", False)
    assert rotation_phase("late", "balanced") == ("late", None)
    assert rotation_phase("mixed", "cyclical") == ("mixed", None)
    assert rotation_phase(None, None) == (None, None)


def test_composite_rows_have_readings_and_basis() -> None:
    funds = funds_frame(BROAD + [(f"X{i}", "sector", s) for i, s in enumerate(SECTORS)] + STYLE + FI)
    flows = {"SPY": 5.0, "IWM": 2.0, "TLT": 3.0, "SHY": -1.0, "HYG": 3.0, "LQD": 1.0, "TIP": 1.0}
    flows |= {f"X{i}": (2.0 if SECTORS[s][1] == "early" else 1.0) for i, s in enumerate(SECTORS)}
    t = totals_frame(flows)
    thematic = ThematicFlows(
        [],
        False,
        pl.DataFrame({"theme": [], "state": []}, schema={"theme": pl.String, "state": pl.String}),
        [],
        4,
        0.5,
    )
    c = composite(
        broad_market(t, funds),
        sector_rotation(t, funds, rules=FIDELITY_SECTORS),
        style_flows(t, funds),
        fixed_income_flows(t, funds, tips_rates=False),
        thematic,
        rules=ETFFLOW,
    )
    rows = {r.signal: r for r in c.rows}
    assert rows["Risk appetite"].reading == "high" and "regime risk on" in rows["Risk appetite"].basis
    assert rows["Sector rotation phase"].reading == "early"
    assert (
        rows["Rate expectations"].reading == "falling"
        and "duration ratio 1.00" in rows["Rate expectations"].basis
    )
    assert c.implications[-1].endswith("not investment advice.")
    assert any("early phase" in x for x in c.implications)
