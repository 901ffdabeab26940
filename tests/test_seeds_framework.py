"""The framework's rules as written (issue 12 point 1) against hand-computed cases, and etfflow's variants."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from etfflow import calendar
from etfflow.errors import ConfigError
from etfflow.signals.composite import (
    implications,
    overall_state,
    pair_sentence,
    risk_appetite,
    risk_level,
    rotation_phase,
)
from etfflow.signals.event_returns import event_study
from etfflow.signals.fixed_income import fixed_income_flows
from etfflow.signals.fund_signals import FlowPanel, SignalParams, classify_flow, fund_signals
from etfflow.signals.mechanical import mechanical_sessions, possibly_mechanical
from etfflow.signals.rules import (
    ETFFLOW,
    FIDELITY_SECTORS,
    FRAMEWORK,
    FRAMEWORK_SECTORS,
    get_rules,
    load_themes,
)
from etfflow.signals.sectors import sector_rotation, seed_share
from etfflow.signals.styles import style_flows
from etfflow.signals.thematic import ThematicFlows, thematic_flows
from etfflow.universe import SECTORS, load_taxonomy

D = dt.date


def totals(flows: dict[str, float], aum: float = 1000.0) -> pl.DataFrame:
    t = list(flows)
    return pl.DataFrame(
        {
            "ticker": t,
            "flow_usd": [float(flows[x]) for x in t],
            "aum_start_usd": [aum] * len(t),
            "days": [5] * len(t),
            "start": [D(2024, 6, 3)] * len(t),
            "end": [D(2024, 6, 7)] * len(t),
        },
        schema={
            "ticker": pl.String,
            "flow_usd": pl.Float64,
            "aum_start_usd": pl.Float64,
            "days": pl.Int64,
            "start": pl.Date,
            "end": pl.Date,
        },
    ).with_columns((pl.col("flow_usd") / pl.col("aum_start_usd")).alias("flow_pct_aum"))


def daily(ticker: str, flows: list[float], end: str = "2024-06-28", aum: float = 1000.0) -> pl.DataFrame:
    dates = calendar.sessions(None, end)[-len(flows) :]
    n = len(flows)
    return pl.DataFrame(
        {
            "date": pl.Series(dates).cast(pl.Date),
            "ticker": [ticker] * n,
            "flow_usd": flows,
            "aum_prev_usd": [aum] * n,
            "flow_pct_aum": [f / aum for f in flows],
            "nav_used": [10.0] * n,
            "flags": pl.Series([0] * n, dtype=pl.UInt32),
            "available_on": pl.Series(dates).cast(pl.Date),
        }
    )


# --- per-fund signal: mild 1%, 5-day SUM minus prior 15-day SUM, > 0 ------------------------------


def test_framework_acceleration_is_sum_difference_strictly_positive() -> None:
    funds = pl.DataFrame({"ticker": list("ABCFG"), "category": ["sector"] * 5, "group": ["Technology"] * 5})
    f = pl.concat(
        [
            daily("A", [1.0] * 20),  # F20 2%; 5-day sum 5 - 15-day sum 15 = -10 -> -1%: not accelerating
            daily("B", [0.0] * 15 + [4.0] * 5),  # F20 2%; 20 - 0 = +2%: accelerating, strong
            daily("C", [0.5] * 20),  # F20 1% exactly: mild under the framework
            daily("F", [0.25] * 20),  # F20 0.5%: neutral under the framework, mild under etfflow
            daily("G", [0.75] * 15 + [2.25] * 5),  # F20 2.25%; 11.25 - 11.25 = 0: not > 0, mild
        ]
    )
    fw = fund_signals(f, funds, end=D(2024, 6, 28))
    got = dict(zip(fw.table["ticker"], fw.table["signal"], strict=True))
    assert got == {
        "A": "mild_inflow",
        "B": "strong_inflow",
        "C": "mild_inflow",
        "F": "neutral",
        "G": "mild_inflow",
    }
    acc = dict(zip(fw.table["ticker"], fw.table["accel_pct"], strict=True))
    assert (
        acc["A"] == pytest.approx(-0.01)
        and acc["B"] == pytest.approx(0.02)
        and acc["G"] == pytest.approx(0.0)
    )
    et = fund_signals(f, funds, end=D(2024, 6, 28), params=SignalParams.etfflow())
    got_e = dict(zip(et.table["ticker"], et.table["signal"], strict=True))
    # etfflow's means: A steady (0 >= 0) is strong, F 0.5% is mild, G (0.45 - 0.15 > 0) strong
    assert got_e == {
        "A": "strong_inflow",
        "B": "strong_inflow",
        "C": "mild_inflow",
        "F": "mild_inflow",
        "G": "strong_inflow",
    }


def test_framework_classify_edges() -> None:
    assert classify_flow(0.02, 0.0) == "mild_inflow"  # acceleration must be > 0
    assert classify_flow(0.02, 1e-12) == "strong_inflow"
    assert classify_flow(0.0099, 0.5) == "neutral" and classify_flow(0.01, -0.5) == "mild_inflow"
    assert classify_flow(-0.02, 0.0) == "mild_outflow" and classify_flow(-0.02, -1e-12) == "strong_outflow"
    assert classify_flow(-0.01, 0.0) == "mild_outflow" and classify_flow(-0.0099, 0.0) == "neutral"
    assert SignalParams() == SignalParams.framework() != SignalParams.etfflow()


# --- cyclical / defensive lists and C/(C+D) -----------------------------------------------------


def sector_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {"ticker": [f"X{i}" for i in range(11)], "category": ["sector"] * 11, "group": list(SECTORS)}
    )


def test_framework_cyclical_defensive_lists() -> None:
    assert FRAMEWORK_SECTORS.cyclical == (
        "Technology",
        "Consumer Discretionary",
        "Industrials",
        "Financials",
        "Materials",
    )
    assert FRAMEWORK_SECTORS.defensive == ("Health Care", "Consumer Staples", "Utilities", "Real Estate")
    # Energy +100 and Communication Services +50 are in neither list; Real Estate -30 is defensive
    flows = {f"X{i}": 0.0 for i in range(11)}
    by = {s: f"X{i}" for i, s in enumerate(SECTORS)}
    flows |= {by["Energy"]: 100.0, by["Communication Services"]: 50.0, by["Real Estate"]: -30.0}
    flows |= {by["Technology"]: 20.0, by["Utilities"]: 10.0}
    s = sector_rotation(totals(flows), sector_frame())
    assert (s.cyclical_usd, s.defensive_usd) == (
        20.0,
        -20.0,
    )  # C = Tech 20; D = Utilities 10 + Real Estate -30
    assert s.cd_ratio == 1.0 and s.cd_band == "cyclical"
    assert (s.seed_ratio, s.seed_status) == (None, "n/a")  # C + D = 0: the seed ratio divides by zero
    e = sector_rotation(totals(flows), sector_frame(), rules=FIDELITY_SECTORS)
    assert (e.cyclical_usd, e.defensive_usd) == (140.0, 10.0)  # Energy, Comm, Real Estate count as cyclical


@pytest.mark.parametrize(
    ("c", "d", "value", "status", "tilt"),
    [
        (3.0, 1.0, 0.75, "agrees", 0.75),  # both in: C/(C+D) is the tilt ratio
        (5.0, -2.0, 5 / 3, "mixed_signs", 1.0),  # leaves 0 .. 1
        (-1.0, -3.0, 0.25, "both_outflows", 0.75),  # would rank the larger loser first
        (0.0, 4.0, 0.0, "agrees", 0.0),
    ],
)
def test_seed_ratio_beside_the_tilt(c: float, d: float, value: float, status: str, tilt: float) -> None:
    v, st = seed_share(c, d)
    assert v == pytest.approx(value) and st == status
    from etfflow.signals.common import tilt_ratio

    assert tilt_ratio(c, d) == pytest.approx(tilt)


# --- cycle-phase table -------------------------------------------------------------------------


def test_framework_phase_table_and_scoring() -> None:
    assert FRAMEWORK_SECTORS.labels["Materials"] == "early cycle"
    assert FRAMEWORK_SECTORS.labels["Utilities"] == "late cycle/recession"
    assert FRAMEWORK_SECTORS.labels["Real Estate"] == "rate-cut cycle"
    assert (
        FRAMEWORK_SECTORS.labels["Technology"]
        == FRAMEWORK_SECTORS.labels["Communication Services"]
        == "expansion"
    )
    assert FRAMEWORK_SECTORS.labels["Energy"] == "late cycle"
    assert FRAMEWORK_SECTORS.labels["Financials"] == "early recovery"
    assert FRAMEWORK_SECTORS.labels["Industrials"] == "early expansion"
    assert FRAMEWORK_SECTORS.labels["Consumer Discretionary"] == "recovery"
    assert (
        FRAMEWORK_SECTORS.labels["Health Care"] == FRAMEWORK_SECTORS.labels["Consumer Staples"] == "recession"
    )
    by = {s: f"X{i}" for i, s in enumerate(SECTORS)}
    flows = {f"X{i}": 0.0 for i in range(11)}
    # AUM 1000 each: Utilities +30 (3%) scores in late and recession; Energy +10 (1%)
    flows |= {by["Utilities"]: 30.0, by["Energy"]: 10.0, by["Health Care"]: -6.0}
    s = sector_rotation(totals(flows), sector_frame())
    assert s.phase_scores["late"] == pytest.approx((0.03 + 0.01) / 2)
    assert s.phase_scores["recession"] == pytest.approx((0.03 - 0.006 + 0.0) / 3)
    assert s.phase_scores["rate_cut"] == 0.0 and s.phase == "late"
    row = s.table.filter(pl.col("sector") == "Utilities").row(0, named=True)
    assert (row["cycle"], row["cycle_phase"]) == ("defensive", "late cycle/recession")
    assert FRAMEWORK_SECTORS.leaders("late") == ["Energy", "Utilities"]


def test_rotation_phase_confirmation_by_rules() -> None:
    c = FRAMEWORK_SECTORS.confirm
    assert rotation_phase("expansion", "cyclical", c) == ("expansion", True)
    assert rotation_phase("recession", "cyclical", c) == ("recession", False)
    assert rotation_phase("rate_cut", "defensive", c) == ("rate_cut", None)
    assert rotation_phase("late", "defensive", c) == ("late", None)


# --- QQQ, TIPS, overall state, risk level --------------------------------------------------------


def test_qqq_is_a_risk_appetite_vote() -> None:
    assert risk_appetite("risk_off", "mixed", None, None, "tech_growth_appetite") == (
        "neutral",
        0.0,
        ["regime", "breadth", "qqq"],
    )
    assert risk_appetite(None, None, None, None, "tech_growth_aversion")[:2] == ("low", -1.0)


FI_FUNDS = pl.DataFrame(
    {
        "ticker": ["TLT", "SHY", "LQD", "HYG", "TIP"],
        "category": ["fixed_income"] * 5,
        "group": ["Long Treasury", "Short Treasury", "Investment Grade", "High Yield", "Inflation"],
    }
)


@pytest.mark.parametrize(
    ("tlt", "shy", "tip", "framework", "etfflow"),
    [
        (5.0, 5.0, 1.0, "rising", "stable"),  # neutral duration: TIPS inflow turns it
        (5.0, 5.0, -1.0, "falling", "stable"),
        (10.0, -1.0, 1.0, "falling", "falling"),  # TIPS never overturn a clear duration reading
        (-1.0, 10.0, -1.0, "rising", "rising"),
        (5.0, 5.0, 0.0, "stable", "stable"),
    ],
)
def test_tips_move_the_rates_reading(
    tlt: float, shy: float, tip: float, framework: str, etfflow: str
) -> None:
    t = totals({"TLT": tlt, "SHY": shy, "TIP": tip})
    assert fixed_income_flows(t, FI_FUNDS).rates == framework
    assert fixed_income_flows(t, FI_FUNDS, tips_rates=False).rates == etfflow


def test_overall_state_selective() -> None:
    assert overall_state("high", "narrow", "risk_off") == "risk_on"
    assert overall_state("low", "broad", "risk_on") == "risk_off"
    assert overall_state("neutral", "mixed", "risk_on") == "selective"
    assert overall_state("neutral", "broad", "quality_flight") == "selective"
    assert overall_state("neutral", "broad", "risk_on") == "neutral"
    assert overall_state(None, "mixed", None) is None


def empty_themes() -> ThematicFlows:
    schema = {"theme": pl.String, "state": pl.String}
    return ThematicFlows([], False, pl.DataFrame(schema=schema), [], 4, 0.5)


def test_risk_level_points() -> None:
    fi = fixed_income_flows(totals({"LQD": -2040e6, "HYG": -355e6}), FI_FUNDS)
    level, pts = risk_level("risk_off", "narrow", fi, empty_themes(), 3)
    assert pts == [
        "risk-off regime",
        "narrow breadth",
        "both credit legs redeemed",
        "3 flow events (|z| >= 3)",
    ]
    assert level == "high"
    assert risk_level("risk_on", "broad", fi, empty_themes(), 2) == ("low", ["both credit legs redeemed"])
    nothing = fixed_income_flows(totals({}), FI_FUNDS)
    assert risk_level(None, None, nothing, empty_themes(), 5) == (None, [])  # no reading, not "low"


# --- words follow numbers (issue 11 point 4) -----------------------------------------------------


def test_both_credit_legs_losing_is_not_healthy_appetite() -> None:
    """The case of issue 11: HY -$355m, IG -$2.04bn gave 'credit risk appetite is healthy'."""
    fi = fixed_income_flows(totals({"LQD": -2040e6, "HYG": -355e6}), FI_FUNDS)
    assert fi.credit == "reaching_for_yield"  # the tilt ratio 0.85: HY lost less
    styles = style_flows(
        totals({}), pl.DataFrame(schema={"ticker": pl.String, "category": pl.String, "group": pl.String})
    )
    text = implications("neutral", None, None, fi, styles, empty_themes())
    credit = [x for x in text if x.startswith("Credit:")]
    assert credit == [
        "Credit: both high yield and investment grade lose money, high yield less than investment grade "
        "(high yield -$355.00m, investment grade -$2.04bn): credit is being sold on both legs, "
        "which is not healthy risk appetite."
    ]
    assert not any("healthy (" in x for x in text)
    fi2 = fixed_income_flows(totals({"LQD": -2040e6, "HYG": 355e6}), FI_FUNDS)
    text2 = implications("neutral", None, None, fi2, styles, empty_themes())
    assert any(x.endswith("credit risk appetite is healthy (reaching for yield).") for x in text2)


def test_pair_sentence_signs() -> None:
    assert pair_sentence("a", 3.0, "b", 1.0) == "both a and b take in money, a more than b (a +$3, b +$1)"
    assert pair_sentence("a", -1.0, "b", -3.0) == "both a and b lose money, a less than b (a -$1, b -$3)"
    assert pair_sentence("a", -1.0, "b", 2.0) == "money goes into b and out of a (a -$1, b +$2)"
    assert pair_sentence("a", 0.0, "b", -2.0) == "b loses money and a has no net flow (a $0, b -$2)"
    assert pair_sentence("a", 0.0, "b", 0.0) == "neither a nor b has a net flow"
    assert pair_sentence("a", None, "b", 1.0) is None


def test_duration_sentence_does_not_claim_buying_when_both_ends_are_sold() -> None:
    fi = fixed_income_flows(totals({"TLT": -1e6, "SHY": -9e6}), FI_FUNDS)
    assert fi.duration == "extending"
    styles = style_flows(
        totals({}), pl.DataFrame(schema={"ticker": pl.String, "category": pl.String, "group": pl.String})
    )
    dur = [x for x in implications(None, None, None, fi, styles, empty_themes()) if x.startswith("Duration")]
    assert dur[0].endswith("a relative tilt toward lower yields, not new buying.")


# --- themes ------------------------------------------------------------------------------------


def test_nine_themes_and_a_fund_in_a_sector_and_a_theme() -> None:
    th = load_themes("framework")
    members = {t: sorted(g["ticker"].to_list()) for (t,), g in th.group_by("theme", maintain_order=True)}
    assert members == {
        "AI & Semiconductors": ["BOTZ", "SMH", "SOXX"],
        "Clean Energy": ["ICLN", "QCLN", "TAN"],
        "Biotech": ["IBB", "XBI"],
        "Cybersecurity": ["CIBR", "HACK"],
        "China Internet": ["FXI", "KWEB"],
        "India": ["INDA", "SMIN"],
        "Emerging Markets": ["EEM", "VWO"],
        "Gold Miners": ["GDX", "GDXJ"],
        "Bitcoin": ["FBTC", "IBIT"],
    }
    tax = load_taxonomy()
    assert tax.filter(pl.col("ticker") == "SMH")["group"][0] == "Technology"  # and in a theme
    # weekly theme flows: SMH counts in AI & Semiconductors; its sector sum is unaffected
    f = pl.concat([daily("SMH", [1.0] * 10, end="2024-06-14"), daily("SOXX", [2.0] * 10, end="2024-06-14")])
    t = thematic_flows(f, tax, end=D(2024, 6, 14), weeks=2, themes=th)
    row = t.table.filter(pl.col("theme") == "AI & Semiconductors").row(0, named=True)
    assert row["weekly"] == [15.0, 15.0] and row["missing_funds"] == ["BOTZ"]
    assert "Bitcoin" in t.missing
    assert load_themes("taxonomy")["theme"].unique().len() == 12
    with pytest.raises(ConfigError):
        load_themes("nope")


def test_rule_presets() -> None:
    assert get_rules("framework") is FRAMEWORK and get_rules("etfflow") is ETFFLOW
    assert ETFFLOW.signals.mild == 0.005 and FRAMEWORK.signals.mild == 0.01
    with pytest.raises(ConfigError, match="known: framework, etfflow"):
        get_rules("fidelity")


# --- quarter ends and index rebalances ----------------------------------------------------------


def test_mechanical_sessions_2024() -> None:
    got = mechanical_sessions(D(2024, 1, 1), D(2024, 12, 31))
    assert got[D(2024, 3, 28)] == ["quarter_end"]  # 29 March 2024 was Good Friday: the session before
    assert got[D(2024, 3, 15)] == ["index_rebalance"]  # third Friday of March
    assert got[D(2024, 6, 28)] == ["quarter_end", "russell_reconstitution"]  # fourth Friday of June
    assert got[D(2024, 6, 21)] == ["index_rebalance"]
    assert got[D(2024, 5, 31)] == ["msci_review"]
    assert got[D(2024, 12, 20)] == ["index_rebalance"] and got[D(2024, 12, 31)] == ["quarter_end"]
    assert len(got) == 4 + 4 + 1 + 4 - 1  # the June quarter end is the Russell day
    marks = possibly_mechanical([D(2024, 6, 24), D(2024, 6, 25), D(2024, 7, 1)], D(2024, 6, 1), D(2024, 7, 5))
    assert marks == {
        D(2024, 6, 24): ["index_rebalance"],
        D(2024, 7, 1): ["quarter_end", "russell_reconstitution"],
    }


# --- the 3-sigma claim, measured ---------------------------------------------------------------


def test_event_study_forward_returns_hand_case() -> None:
    n = 320
    dates = calendar.sessions(None, "2024-06-28")[-n:]
    flow = np.where(np.arange(n) % 2 == 0, 1.0, -1.0).reshape(n, 1)  # |z| about 1: no other event
    flow[250, 0] = 100.0  # one inflow event, far beyond 3 sigma
    nav = np.full((n, 1), 10.0)
    nav[252:, 0] = 9.0  # the price falls 10% on session 252 and stays there
    panel = FlowPanel(dates, ["A"], flow, np.full((n, 1), 1000.0), nav, np.zeros((n, 1), dtype=bool))
    es = event_study(panel, SignalParams(), min_events=1)
    row = es.table.filter((pl.col("direction") == "inflow") & (pl.col("horizon") == 5)).row(0, named=True)
    # event at row 250, returns from 251 to 256: 10 -> 9
    assert row["events"] == 1 and row["mean_return"] == pytest.approx(-0.1)
    assert row["reversal_share"] == 1.0 and row["t"] is None  # one event: no standard error
    # the baseline: every fund-day with a known 5-session return; only the windows over 251 -> 252 move
    fwd_rows = n - 1 - 5
    assert row["baseline"] == pytest.approx(-0.1 * 5 / fwd_rows)
    assert es.reading("outflow", 5) == "insufficient"


def test_rolling_z_equals_zscore_at() -> None:
    from etfflow.signals.event_returns import rolling_z
    from etfflow.signals.fund_signals import zscore_at

    rng = np.random.default_rng(3)
    x = rng.standard_t(3, (400, 6)) * 1e-3 + 5e-3
    x[rng.random(x.shape) < 0.1] = np.nan
    x[:, 5] = np.nan  # a fund without any flow
    x[100:, 4] = 2e-3  # constant: zero deviation, no z
    rows = np.arange(400, dtype=np.int64)
    want = zscore_at(x, rows, 252, 60)
    got = rolling_z(x, 252, 60)
    assert np.array_equal(np.isnan(want), np.isnan(got))
    assert np.allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-9, atol=1e-9)


def test_positioning_words() -> None:
    from etfflow.signals.composite import _positioning

    assert (
        _positioning("risk_on", 0.6)
        == "risk-on (risk-appetite score +0.60): most flow readings favour adding risk exposure."
    )
    assert _positioning("selective", 0.25).startswith("selective (risk-appetite score +0.25): money rotates")
    assert _positioning(None, None).startswith("no reading")
