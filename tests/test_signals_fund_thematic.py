"""Per-fund flow signals and thematic states on hand-built daily flows (every rule and edge)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from etfflow import calendar
from etfflow.flows.flags import Flag
from etfflow.signals.fund_signals import (
    FlowPanel,
    SignalParams,
    category_readings,
    classify_flow,
    fund_signals,
)
from etfflow.signals.thematic import thematic_flows, theme_state

D = dt.date


# --- thematic ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weeks", "state"),
    [
        ([1.0, 1.0, 1.0, 1.0], "conviction"),
        ([-5.0, 1.0, 1.0, 1.0, 1.0, 1.0], "conviction"),
        ([1.0, 1.0, 1.0], "no_trend"),  # three weeks are not a sustained trend
        ([1.0, 1.0, 0.0, 1.0, 1.0], "no_trend"),  # a zero week breaks the run
        ([1.0, 1.0, None, 1.0, 1.0], "no_trend"),  # so does a week without data
        ([1.0, 1.0, None, 1.0, 1.0, 1.0, 1.0], "conviction"),
        ([1.0, 1.0, 1.0, 1.0, -2.0], "crowded_unwind"),
        ([2.0, 1.0, 1.0, 4.0, -1.0], "crowded_unwind"),  # |-1| >= 0.5 x mean(2, 1, 1, 4) = 1
        ([2.0, 1.0, 1.0, 4.0, -0.99], "cooling"),
        ([1.0, 1.0, 1.0, -2.0], "no_trend"),  # only three inflow weeks before the outflow
        ([-1.0, -1.0, -1.0, -1.0], "persistent_outflow"),
        ([1.0, 1.0, 1.0, 1.0, 0.0], "no_trend"),
        ([1.0, 1.0, 1.0, 1.0, None], "stale"),
        ([], "stale"),
    ],
)
def test_theme_state(weeks: list[float | None], state: str) -> None:
    assert theme_state(weeks) == state


def test_theme_state_parameters() -> None:
    assert theme_state([1.0, 1.0, 1.0], min_weeks=3) == "conviction"
    assert theme_state([1.0, 1.0, 1.0, 1.0, -0.5], unwind_ratio=0.5) == "crowded_unwind"
    assert theme_state([1.0, 1.0, 1.0, 1.0, -0.5], unwind_ratio=0.6) == "cooling"


def test_thematic_flows_weekly_and_missing_themes() -> None:
    funds = pl.DataFrame(
        {
            "ticker": ["TAN", "ICLN", "HACK", "CIBR", "URA"],
            "category": ["thematic"] * 5,
            "group": ["Solar", "Clean Energy", "Cybersecurity", "Cybersecurity", "Uranium"],
        }
    )
    rows = []
    fridays = calendar.week_end_sessions("2024-05-01", "2024-06-14")  # 7 week ends
    for k, f in enumerate(fridays):
        d = dt.date.fromisoformat(str(f))
        rows.append((d, "TAN", 10.0))  # inflow every week
        rows.append((d, "HACK", 5.0 if k < 6 else -9.0))  # trend then a sudden outflow
        rows.append((d, "CIBR", 1.0 if k < 6 else 0.0))
        if k != 4:
            rows.append((d, "ICLN", 3.0))  # one week without any data
    flows = pl.DataFrame(
        {
            "date": [r[0] for r in rows],
            "ticker": [r[1] for r in rows],
            "flow_usd": [r[2] for r in rows],
            "aum_prev_usd": [1000.0] * len(rows),
            "flags": [0] * len(rows),
            "available_on": [r[0] for r in rows],
        }
    )
    th = thematic_flows(flows, funds, end=D(2024, 6, 14), weeks=6)
    assert [str(w) for w in th.weeks] == [str(f) for f in fridays[-6:]]
    assert not th.partial_last_week
    state = dict(zip(th.table["theme"], th.table["state"], strict=True))
    assert state == {"Clean Energy": "no_trend", "Cybersecurity": "crowded_unwind", "Solar": "conviction"}
    cyber = th.table.filter(pl.col("theme") == "Cybersecurity").row(0, named=True)
    assert cyber["weekly"][-1] == -9.0 and cyber["tickers"] == ["CIBR", "HACK"] and cyber["streak_in"] == 0
    clean = th.table.filter(pl.col("theme") == "Clean Energy").row(0, named=True)
    assert clean["weekly"][3] is None and clean["streak_in"] == 2
    assert th.missing == ["Uranium"]  # known theme without data: listed, not zero
    mid = thematic_flows(flows, funds, end=D(2024, 6, 12), weeks=6)
    assert mid.partial_last_week and mid.weeks[-1] == D(2024, 6, 14)


# --- per-fund signals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("f20", "accel", "cls"),
    [
        (0.02, 0.0, "strong_inflow"),
        (0.02, 1e-6, "strong_inflow"),
        (0.02, -1e-9, "mild_inflow"),  # decelerating: not strong
        (0.0199, 0.01, "mild_inflow"),
        (0.005, -0.1, "mild_inflow"),
        (0.0049, 0.0, "neutral"),
        (0.0, 0.0, "neutral"),
        (-0.0049, 0.0, "neutral"),
        (-0.005, 0.0, "mild_outflow"),
        (-0.02, 0.0, "strong_outflow"),
        (-0.02, -1e-6, "strong_outflow"),
        (-0.02, 1e-9, "mild_outflow"),
        (0.03, None, "strong_inflow"),  # unknown acceleration counts as steady
        (None, 0.0, None),
        (float("nan"), 0.0, None),
    ],
)
def test_classify_flow_edges(f20: float | None, accel: float | None, cls: str | None) -> None:
    # etfflow's variant: mild 0.5%, acceleration >= 0 counts (the framework's rules: test_seeds_framework)
    assert classify_flow(f20, accel, mild=0.005, strict=False) == cls


def test_classify_flow_thresholds_are_parameters() -> None:
    assert classify_flow(0.01, 0.0, strong=0.01, mild=0.001, strict=False) == "strong_inflow"
    assert classify_flow(0.0009, 0.0, strong=0.01, mild=0.001) == "neutral"


def daily(
    ticker: str,
    flows: list[float | None],
    *,
    end: str = "2024-06-28",
    aum: float = 1000.0,
    nav: list[float] | None = None,
    flags: list[int] | None = None,
) -> pl.DataFrame:
    """A fund's daily flows on the last len(flows) sessions up to `end`, constant prior AUM."""
    dates = calendar.sessions(None, end)[-len(flows) :]
    n = len(flows)
    return pl.DataFrame(
        {
            "date": pl.Series(dates).cast(pl.Date),
            "ticker": [ticker] * n,
            "flow_usd": pl.Series(flows, dtype=pl.Float64),
            "aum_prev_usd": [aum] * n,
            "flow_pct_aum": pl.Series([None if f is None else f / aum for f in flows], dtype=pl.Float64),
            "nav_used": nav or [10.0] * n,
            "flags": pl.Series(flags or [0] * n, dtype=pl.UInt32),
            "available_on": pl.Series(dates).cast(pl.Date),
        }
    )


FUNDS = pl.DataFrame(
    {
        "ticker": ["A", "B", "C", "E", "F", "G", "H", "S"],
        "name": ["a"] * 8,
        "category": ["sector"] * 8,
        "group": ["Technology"] * 8,
    }
)


def test_fund_signal_classes_from_daily_flows() -> None:
    f = pl.concat(
        [
            daily("A", [1.0] * 20),  # 20 / 1000 = 2% exactly, steady pace: strong inflow
            daily("B", [0.0] * 15 + [4.0] * 5),  # 2%, all in the last 5 days: accelerating
            daily("C", [2.0] * 15 + [-2.0] * 5),  # 2%, reversing: mild inflow
            daily("E", [-1.0] * 20),  # -2% steady: strong outflow
            daily("F", [0.25] * 20),  # 0.5% exactly: mild inflow
            daily("G", [1.0] * 14),  # 14 known days < 15: no class
            daily("H", [None] * 6 + [0.1] * 14 + [None] * 0),
        ]
    )
    s = fund_signals(f, FUNDS, end=D(2024, 6, 28), params=SignalParams.etfflow())
    got = dict(zip(s.table["ticker"], s.table["signal"], strict=True))
    assert got == {
        "A": "strong_inflow",
        "B": "strong_inflow",
        "C": "mild_inflow",
        "E": "strong_outflow",
        "F": "mild_inflow",
        "G": None,
        "H": None,
    }
    row = s.table.filter(pl.col("ticker") == "B").row(0, named=True)
    assert row["flow20_pct"] == 0.02 and row["accel_pct"] == pytest.approx((4.0 - 0.0) / 1000)
    assert row["days"] == 20 and row["aum_base_usd"] == 1000.0 and row["category"] == "sector"
    assert s.counts["strong_inflow"] == 2 and s.counts["mild_inflow"] == 2 and s.counts["neutral"] == 0


def test_bad_prints_are_not_flows() -> None:
    flows = [1.0] * 20
    flags = [0] * 19 + [int(Flag.BAD_PRINT)]
    s = fund_signals(daily("A", [*flows[:19], 500.0], flags=flags), FUNDS, end=D(2024, 6, 28))
    row = s.table.row(0, named=True)
    assert row["flow20_usd"] == 19.0 and row["days"] == 19


def test_flow_events_z_score_against_the_trailing_year() -> None:
    rng = np.random.default_rng(3)
    base = list(rng.normal(0.0, 1.0, 299))
    s = fund_signals(daily("A", [*base, 40.0]), FUNDS, end=D(2024, 6, 28), event_days=5)
    ev = s.events.row(0, named=True)
    x = np.array([*base, 40.0])[-252:] / 1000
    z = (x[-1] - x.mean()) / x.std(ddof=1)  # trailing window, the day itself included
    assert ev["ticker"] == "A" and ev["date"] == D(2024, 6, 28) and ev["z"] == pytest.approx(z, rel=1e-9)
    assert s.table["z_last"][0] == pytest.approx(z, rel=1e-9)
    quiet = fund_signals(daily("A", [*base, 0.0]), FUNDS, end=D(2024, 6, 28))
    assert quiet.events.height == 0


def test_z_score_needs_minimum_history() -> None:
    s = fund_signals(daily("A", [0.1, -0.1] * 25 + [50.0]), FUNDS, end=D(2024, 6, 28))
    assert s.events.height == 0 and s.table["z_last"][0] is None  # 51 values < 60 required


def test_percentile_of_the_20_day_flow() -> None:
    ramp = [float(i) / 100 for i in range(300)]  # rising flows: today's 20-day sum is the highest
    s = fund_signals(daily("A", ramp), FUNDS, end=D(2024, 6, 28))
    assert s.table["percentile"][0] == 1.0
    falling = fund_signals(daily("A", ramp[::-1]), FUNDS, end=D(2024, 6, 28))
    assert falling.table["percentile"][0] == pytest.approx(1 / 252)
    short = fund_signals(daily("A", ramp[:70]), FUNDS, end=D(2024, 6, 28))
    assert short.table["percentile"][0] is None  # 56 values of F20 (15+ known days) < 60 required


def test_flow_price_divergence() -> None:
    def nav(ret: float) -> list[float]:
        return [100.0] * 2 + [100.0 * (1 + ret)] * 20

    f = pl.concat(
        [
            daily("A", [1.0] * 22, nav=nav(-0.02)),  # inflows into a 2% fall
            daily("B", [-1.0] * 22, nav=nav(0.02)),  # outflows from a 2% rise
            daily("C", [1.0] * 22, nav=nav(0.02)),  # inflows into a rise: no divergence
            daily("E", [1.0] * 22, nav=[100.0] * 2 + [99.0] * 20),  # exactly -1%: not below -1%
            daily("F", [0.1] * 22, nav=nav(-0.05)),  # flow below the mild threshold
            daily("S", [1.0] * 22, nav=nav(-0.5), flags=[0] * 10 + [int(Flag.SPLIT)] + [0] * 11),
        ]
    )
    s = fund_signals(f, FUNDS, end=D(2024, 6, 28))
    got = dict(zip(s.table["ticker"], s.table["divergence"], strict=True))
    assert got == {
        "A": "inflow_into_weakness",
        "B": "outflow_into_strength",
        "C": None,
        "E": None,
        "F": None,
        "S": None,
    }
    assert s.table.filter(pl.col("ticker") == "S")["return20"][0] is None  # unknown across a split
    assert s.divergences["ticker"].to_list() == ["A", "B"]


def wide(f20_cols: list[list[float]], nav_cols: list[list[float]]) -> tuple[FlowPanel, np.ndarray]:
    f20 = np.array(f20_cols, dtype=float).T
    nav = np.array(nav_cols, dtype=float).T
    n_t, n_f = f20.shape
    w = FlowPanel(
        dates=calendar.sessions(None, "2024-06-28")[-n_t:],
        tickers=[f"T{j}" for j in range(n_f)],
        flow=np.zeros((n_t, n_f)),
        aum_prev=np.full((n_t, n_f), 1000.0),
        nav=nav,
        split=np.zeros((n_t, n_f), dtype=bool),
    )
    return w, f20


def test_category_readings_momentum_contrarian_insufficient() -> None:
    n = 400
    up = list(np.cumprod(np.full(n, 1.001)))
    w, f20 = wide([[0.01] * n, [0.01] * n, [0.001] * n, [0.01] * n], [up, up, up, up])
    cats = {"T0": "sector", "T1": "thematic", "T2": "style", "T3": None}
    f20[:, 1] = -0.01  # outflows before every rise: contrarian
    p = SignalParams(reading_min_obs=10)
    r = category_readings(w, cats, p, f20)
    got = {x["category"]: (x["reading"], x["obs"], x["hit_rate"]) for x in r.to_dicts()}
    assert got["sector"][0] == "momentum" and got["sector"][2] == 1.0 and got["sector"][1] >= 10
    assert got["thematic"][0] == "contrarian" and got["thematic"][2] == 0.0
    assert got["style"] == ("insufficient", 0, None)  # |F20| below the mild threshold: not counted
    assert set(got) == {"sector", "thematic", "style"}


@pytest.mark.parametrize(("ups", "reading"), [(11, "momentum"), (10, "no_edge"), (9, "contrarian")])
def test_category_reading_band_edges(ups: int, reading: str) -> None:
    # 421 sessions give 20 sample dates t = 19, 39, ..., 399; each one's forward window runs from
    # t + 1 to t + 21, so the NAV steps at multiples of 20 set each window's direction
    levels = [100.0, 100.0]
    for k in range(20):
        levels.append(levels[-1] * (1.01 if k < ups else 0.99))
    nav = [levels[t // 20] for t in range(421)]
    w, f = wide([[0.01] * 421], [nav])
    r = category_readings(w, {"T0": "sector"}, SignalParams(reading_min_obs=20), f).row(0, named=True)
    assert (r["obs"], r["hits"], r["reading"]) == (20, ups, reading)
    few = category_readings(w, {"T0": "sector"}, SignalParams(reading_min_obs=21), f).row(0, named=True)
    assert few["reading"] == "insufficient"


def test_point_in_time_statistics_match_the_rolling_kernels() -> None:
    from etfflow.signals import nb
    from etfflow.signals.fund_signals import f20_at, percentile_last, zscore_at

    rng = np.random.default_rng(5)
    x = rng.normal(0.0, 1.0, (400, 6))
    x[rng.random(x.shape) < 0.1] = np.nan
    x[:, 5] = 1.0  # constant: zero standard deviation
    rows = np.arange(395, 400, dtype=np.int64)
    np.testing.assert_allclose(zscore_at(x, rows, 252, 60), nb.rolling_zscore_nb(x, 252, 60)[rows], rtol=1e-9)
    np.testing.assert_allclose(percentile_last(x, 252, 60), nb.rolling_percentile_nb(x, 252, 60)[-1])
    w, _ = wide([[0.0] * 400] * 6, [[1.0] * 400] * 6)
    w = FlowPanel(w.dates, w.tickers, x * 10, np.full(x.shape, 1000.0), w.nav, w.split)
    p = SignalParams()
    f20, k, base = f20_at(w, rows, p)
    sums = nb.rolling_sum_nb(x * 10, 20, 15)[rows] / 1000.0
    np.testing.assert_allclose(f20, sums, rtol=1e-12)
    assert (base == 1000.0).all() and (k <= 20).all()
