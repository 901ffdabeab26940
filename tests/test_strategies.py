"""Strategies: hand-built panels with known answers, presets, sweeps, and look-ahead checks end to end."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from etfflow import calendar
from etfflow.backtest.data import Panel, panel_from_frames, price_frame, sector_panel
from etfflow.backtest.strategies import (
    PRESETS,
    FlowMomentumParams,
    PercentileRotationParams,
    PriceMomentumParams,
    UnexpectedFlowParams,
    default_upper,
    flow_momentum,
    percentile_rotation,
    percentile_signal,
    price_momentum,
    resolve,
    rolling_residuals_nb,
    run_strategy,
    sweep_percentile_rotation,
    unexpected_flow,
)
from etfflow.backtest.sweep import heatmap
from etfflow.errors import ConfigError
from etfflow.flows.daily import compute_flows
from etfflow.flows.flags import Flag
from etfflow.sources.demo import DemoMarket, build_demo
from etfflow.universe import sector_funds

D = calendar.sessions("2024-01-02", "2029-12-31")


def make_panel(
    flow: np.ndarray,
    returns: np.ndarray | None = None,
    *,
    aum: np.ndarray | None = None,
    trade: np.ndarray | None = None,
    known: np.ndarray | None = None,
) -> Panel:
    n_t, n_a = flow.shape
    a = np.full((n_t, n_a), 1e9) if aum is None else aum
    return Panel(
        dates=D[:n_t],
        assets=tuple("ABCDEFGH"[:n_a]),
        returns=np.zeros((n_t, n_a)) if returns is None else returns,
        open_returns=None,
        priced=np.ones((n_t, n_a), dtype=bool),
        premium=np.zeros((n_t, n_a)),
        aum=a,
        flow_usd=flow,
        flow_pct=flow / a,
        trade_flow_pct=trade,
        known_index=known,
        basis="nav",
    )


# --- panel ---------------------------------------------------------------------------------------


def test_panel_total_returns_flows_by_availability_and_trade_view() -> None:
    d = [dt.date(2024, 1, x) for x in (2, 3, 4, 5, 8, 9, 10)]
    daily = pl.DataFrame(
        {
            "date": d,
            "ticker": ["AAA"] * 7,
            "open": [None, 10.2, 10.4, 5.0, 5.0, 5.2, 5.0],
            "close": [10.0, 10.6, 10.1, 5.2, 5.1, 5.1, 5.0],
            "nav": [10.0, 10.5, 10.0, 5.1, 5.1, 5.0, 5.0],
            "shares_outstanding": [100.0, 110, 120, 240, 240, 250, 250],
            "split_factor": [None, None, None, 2.0, None, None, None],
            "distribution": [None, None, 0.5, None, None, None, None],
        }
    )
    flows = pl.DataFrame(
        {
            "date": [dt.date(2024, 1, x) for x in (3, 4, 5, 8, 9)],
            "ticker": ["AAA"] * 5,
            "flow_usd": [100.0, 50.0, -30.0, 7.0, 9.0],
            "aum_prev_usd": [1000.0] * 5,
            "flow_pct_aum": [0.1, 0.05, -0.03, 0.007, 0.009],
            "flags": [0, 0, 0, int(Flag.BAD_PRINT), 0],
            "available_on": [dt.date(2024, 1, x) for x in (4, 8, 8, 9, 11)],
        }
    )
    p = panel_from_frames(daily, flows)
    assert p.dates.tolist() == [np.datetime64(x) for x in d]
    r = p.returns[:, 0]
    assert np.isnan(r[0])
    np.testing.assert_allclose(
        r[1:], [0.05, (10.0 + 0.5) / 10.5 - 1, 2 * 5.1 / 10.0 - 1, 0.0, 5.0 / 5.1 - 1, 0.0]
    )
    np.testing.assert_allclose(
        p.premium[:, 0], np.array([10.0, 10.6, 10.1, 5.2, 5.1, 5.1, 5.0]) / p_nav() - 1
    )
    assert p.open_returns is not None
    opens = np.array([10.6 / 10.2, 10.1 / 10.4, 5.2 / 5.0, 5.1 / 5.0, 5.1 / 5.2, 1.0]) - 1
    np.testing.assert_allclose(p.open_returns[1:, 0], opens)
    np.testing.assert_allclose(p.aum[:, 0], np.array([100.0, 110, 120, 240, 240, 250, 250]) * p_nav())
    # by availability: 100 known on Jan 4; 50 + (-30) both become known on Jan 8; the bad print is out
    f = p.flow_usd[:, 0]
    assert f[2] == 100.0 and f[4] == 20.0
    assert np.isnan(f[[0, 1, 3, 5, 6]]).all()
    # trade view: the Jan 4 flow belongs to row 2 but is usable only from row 4 (Jan 8)
    assert p.trade_flow_pct is not None and p.known_index is not None
    assert p.trade_flow_pct[2, 0] == 0.05 and p.known_index[2, 0] == 4
    assert p.known_index[1, 0] == 2 and p.known_index[3, 0] == 4
    assert p.known_index[5, 0] == len(d)  # known after the last session: never used
    assert any("bad print" in n for n in p.notes) and any("after the last session" in n for n in p.notes)
    np.testing.assert_allclose(p.flow_pct[4, 0], 20.0 / (240.0 * 5.1))  # AUM at the previous close


def p_nav() -> np.ndarray:
    return np.array([10.0, 10.5, 10.0, 5.1, 5.1, 5.0, 5.0])


def test_price_frame_and_prices_basis() -> None:
    raw = pl.DataFrame(
        {
            "Date": ["2024-01-02", "2024-01-03", "2024-01-04"],
            "Open": [9.9, 10.1, 10.0],
            "Close": [10.0, 10.2, 10.0],
            "Adj Close": [5.0, 5.2, 5.0],
        }
    )
    px = price_frame(raw, "aaa")
    assert px.columns == ["date", "ticker", "open", "close", "adjusted_close"]
    assert px["ticker"].to_list() == ["AAA"] * 3
    daily = pl.DataFrame({"date": [dt.date(2024, 1, 2)], "ticker": ["AAA"], "nav": [10.0]})
    flows = pl.DataFrame(
        schema={
            "date": pl.Date,
            "ticker": pl.String,
            "flow_usd": pl.Float64,
            "flow_pct_aum": pl.Float64,
            "flags": pl.UInt32,
            "available_on": pl.Date,
        }
    )
    p = panel_from_frames(daily, flows, prices=px)
    assert p.basis == "prices"
    np.testing.assert_allclose(p.returns[1:, 0], [0.04, 5.0 / 5.2 - 1])
    assert p.open_returns is not None
    np.testing.assert_allclose(p.open_returns[:, 0], [10.0 / 9.9 - 1, 10.2 / 10.1 - 1, 0.0])


def test_sector_panel_prices_groups_by_primary_and_sums_member_flows() -> None:
    funds = sector_funds(primary_only=False).filter(pl.col("group").is_in(["Technology", "Energy"]))
    tick = ["XLK", "VGT", "XLE"]
    n_t = 4
    rng = np.random.default_rng(0)
    base = make_panel(rng.normal(size=(n_t, 3)), rng.normal(0, 0.01, (n_t, 3)), aum=np.full((n_t, 3), 2.0))
    base = dataclasses.replace(base, assets=tuple(tick))
    g = sector_panel(base, funds)
    assert g.assets == ("Technology", "Energy")
    assert g.members["Technology"] == ("XLK", "VGT")
    np.testing.assert_array_equal(g.returns[:, 0], base.returns[:, 0])
    np.testing.assert_allclose(g.flow_usd[:, 0], base.flow_usd[:, 0] + base.flow_usd[:, 1])
    np.testing.assert_allclose(g.aum[:, 0], 4.0)
    assert g.trade_flow_pct is None


# --- percentile rotation -------------------------------------------------------------------------


def test_daily_percentile_signal_by_hand() -> None:
    p = make_panel(np.array([[1.0], [3.0], [2.0], [5.0], [0.0], [4.0]]))
    sig = percentile_signal(p, "d", window=3)
    np.testing.assert_allclose(sig[:, 0], [np.nan, np.nan, 2 / 3, 1.0, 1 / 3, 2 / 3])


def test_weekly_signal_sums_flows_known_within_each_week_and_holds_until_the_next_end() -> None:
    # sessions: Jan 2-5 (week 1), Jan 8-12 (week 2), Jan 16-19 (week 3), Jan 22-26 (week 4)
    n_t = 18
    flow = np.full((n_t, 1), np.nan)
    flow[[0, 2], 0] = [1.0, 2.0]  # week 1: 3
    flow[5, 0] = 5.0  # week 2: 5
    flow[[9, 11], 0] = [-1.0, 0.0]  # week 3: -1
    flow[14, 0] = 4.0  # week 4: 4
    p = make_panel(flow)
    assert [str(x) for x in D[[3, 8, 12, 17]]] == ["2024-01-05", "2024-01-12", "2024-01-19", "2024-01-26"]
    sig = percentile_signal(p, "w", window=2)
    expected = np.full(n_t, np.nan)
    expected[8:12] = 1.0  # week 2 (5) vs week 1 (3)
    expected[12:17] = 0.5  # week 3 (-1) is the lower of (5, -1)
    expected[17] = 1.0  # week 4 (4) vs (-1)
    np.testing.assert_allclose(sig[:, 0], expected)
    usd = percentile_signal(p, "w", window=2, min_periods=1)
    assert usd[3, 0] == 1.0  # one period of history is enough with min_periods=1


def test_percentile_rotation_longs_the_low_percentiles_and_shorts_the_high() -> None:
    flow = np.array([[1.0, 1.0, 1.0], [2.0, 0.5, 2.0], [3.0, 0.2, 1.5], [0.0, 5.0, 1.8]])
    p = make_panel(flow)
    dec = percentile_rotation(p, PercentileRotationParams(window=3, threshold=0.34, freq="d"))
    # row 2: A=1 (max), B=1/3 (min), C=2/3; row 3: A=1/3, B=1, C=2/3
    np.testing.assert_allclose(dec.signal[2:], [[1.0, 1 / 3, 2 / 3], [1 / 3, 1.0, 2 / 3]])
    np.testing.assert_allclose(dec.weights, [[0, 0, 0], [0, 0, 0], [0, 1, 0], [1, 0, 0]])
    assert dec.first == 2
    ls = percentile_rotation(
        p, PercentileRotationParams(window=3, threshold=0.34, freq="d", side="long_short")
    )
    np.testing.assert_allclose(ls.weights[2:], [[-0.5, 0.5, 0], [0.5, -0.5, 0]])
    assert default_upper(0.01) == pytest.approx(0.99) and default_upper(0.2) == 0.9


def test_sweep_rows_match_single_runs() -> None:
    rng = np.random.default_rng(3)
    n_t = 900
    flow = rng.normal(size=(n_t, 4))
    rets = rng.normal(0.0003, 0.01, (n_t, 4))
    p = make_panel(flow, rets)
    table = sweep_percentile_rotation(
        p, thresholds=(0.1, 0.3), window_years=(1,), freqs=("w",), sides=("long", "long_short")
    )
    assert table.height == 4
    grid = heatmap(table.filter(pl.col("side") == "long"), index="window_years", columns="threshold")
    assert grid.shape == (1, 3) and grid.columns == ["window_years", "0.1", "0.3"]
    assert table.columns[:7] == ["window_years", "window", "threshold", "upper", "freq", "side", "cost_bps"]
    for row in table.iter_rows(named=True):
        run = run_strategy(
            p,
            "percentile_rotation",
            params=PercentileRotationParams(52, row["threshold"], freq="w", side=row["side"]),
            n_boot=10,
        )
        assert run.stats["sharpe"] == pytest.approx(row["sharpe"], rel=1e-9)
        assert run.stats["annual_return"] == pytest.approx(row["annual_return"], rel=1e-9)


# --- unexpected flow -----------------------------------------------------------------------------


def _regression_case(n_t: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.linspace(-1.0, 1.0, n_t)[:, None] ** 3 + 0.1 * np.sin(np.arange(n_t))[:, None]
    y = 0.01 + 0.02 * x
    known = (np.arange(n_t) + 1)[:, None].astype(np.int64)
    return x, y, known


def test_rolling_residual_is_the_error_of_the_fit_on_rows_known_before() -> None:
    x, y, known = _regression_case()
    y[20] += 0.5
    xs = np.stack([np.ones_like(x), x])
    _, e_known, e_trade, _, coef = rolling_residuals_nb(y, xs, known, 10, 5, 0.0)
    assert np.isnan(e_trade[:5]).all()  # warm-up: fewer than min_obs rows known
    np.testing.assert_allclose(e_trade[5:20, 0], 0.0, atol=1e-12)
    assert e_trade[20, 0] == pytest.approx(0.5, abs=1e-12)
    assert e_known[21, 0] == e_trade[20, 0]  # it surfaces on the row where it becomes known
    assert np.isnan(e_known[:6]).all()
    # the last row is known after the sample: never predicted, never used
    assert np.isnan(e_trade[-1, 0])
    assert np.isfinite(coef).all()


def test_rolling_residuals_never_use_a_row_before_it_is_known() -> None:
    x, y, known = _regression_case()
    known[8] = 30  # published late
    xs = np.stack([np.ones_like(x), x + 0.001 * np.cos(np.arange(len(x)) * 7)[:, None]])
    base = rolling_residuals_nb(y, xs, known, 10, 5, 1e-6)
    y2 = y.copy()
    y2[8] = 9.0
    moved = rolling_residuals_nb(y2, xs, known, 10, 5, 1e-6)
    for a, b in zip(base[:2], moved[:2], strict=True):  # by known row
        np.testing.assert_array_equal(a[:30], b[:30])
        assert not np.allclose(np.nan_to_num(a[30:]), np.nan_to_num(b[30:]))


def test_unexpected_flow_signs_and_value_weights() -> None:
    rng = np.random.default_rng(1)
    n_t, n_a = 80, 4
    rets = rng.normal(0.0, 0.01, (n_t, n_a))
    trade = 0.3 * rets + rng.normal(0.0, 0.0005, (n_t, n_a))
    shock_row = 70
    trade[shock_row] += [0.05, 0.05, -0.05, 0.0]
    known = np.minimum(np.arange(n_t)[:, None] + 1, n_t).astype(np.int64).repeat(n_a, axis=1)
    aum = np.tile([1.0, 3.0, 2.0, 5.0], (n_t, 1)) * 1e9
    p = make_panel(np.zeros((n_t, n_a)), rets, aum=aum, trade=trade, known=known)
    base = UnexpectedFlowParams(regressors=("ret",), window=50, min_obs=20, entry_z=5.0)
    inf = unexpected_flow(p, base)
    w = inf.weights[shock_row + 1]
    np.testing.assert_allclose(w, [0.125, 0.375, -0.5, 0.0])  # AUM 1:3 in the long leg
    con = unexpected_flow(p, dataclasses.replace(base, direction="contrarian"))
    np.testing.assert_allclose(con.weights[shock_row + 1], [-0.125, -0.375, 0.5, 0.0])
    eq = unexpected_flow(p, dataclasses.replace(base, scheme="equal"))
    np.testing.assert_allclose(eq.weights[shock_row + 1], [0.25, 0.25, -0.5, 0.0])
    assert inf.diagnostics["residual"][shock_row, 0] == pytest.approx(0.05, abs=0.005)
    coef = inf.diagnostics["coefficients"]["ret"].to_numpy()
    assert coef[3] == pytest.approx(0.3, abs=0.02)  # D had no shock; the others' last window holds one
    with pytest.raises(ConfigError):
        unexpected_flow(dataclasses.replace(p, trade_flow_pct=None, known_index=None), base)


# --- momentum ------------------------------------------------------------------------------------


def test_flow_momentum_follows_positive_accelerating_flows() -> None:
    n_t = 30
    ramp = np.arange(n_t, dtype=float)
    flow = np.stack([1.0 + ramp, 40.0 - ramp, -1.0 - ramp], axis=1)  # A up, B slowing, C outflows
    p = make_panel(flow, aum=np.full((n_t, 3), 1000.0))
    dec = flow_momentum(p, FlowMomentumParams(window=20, fast=5, slow=15, top=1.0, freq="d"))
    t = n_t - 1
    assert dec.signal[t, 0] == pytest.approx(flow[t - 19 : t + 1, 0].sum() / 1000.0)
    accel = dec.diagnostics["acceleration"][t]
    assert accel[0] == pytest.approx((flow[t - 4 : t + 1, 0].mean() - flow[t - 14 : t + 1, 0].mean()) / 1000)
    np.testing.assert_allclose(dec.weights[t], [1.0, 0.0, 0.0])
    ls = flow_momentum(p, FlowMomentumParams(window=20, top=1.0, freq="d", side="long_short"))
    np.testing.assert_allclose(ls.weights[t], [0.5, 0.0, -0.5])
    assert np.isnan(dec.signal[:15]).all()  # 80% of the window needed


def test_price_momentum_ranks_the_lookback_return_skipping_the_last_sessions() -> None:
    n_t = 40
    rets = np.tile([0.001, 0.002, -0.001], (n_t, 1))
    rets[-3:, 0] = 0.05  # a jump inside the skipped sessions changes nothing
    p = make_panel(np.zeros((n_t, 3)), rets)
    dec = price_momentum(p, PriceMomentumParams(lookback=20, skip=5, top=0.3, freq="d"))
    t = n_t - 1
    np.testing.assert_allclose(dec.signal[t], np.array([1.001, 1.002, 0.999]) ** 15 - 1)
    np.testing.assert_allclose(dec.weights[t], [0.0, 1.0, 0.0])
    assert np.isnan(dec.signal[:20]).all()


# --- presets and parameters ----------------------------------------------------------------------


def test_presets_resolve_and_bad_parameters_are_config_errors() -> None:
    assert {"huatai_weekly_5pct_2y", "huatai_monthly_10pct_3y", "xyz_informed", "xyz_contrarian"} <= set(
        PRESETS
    )
    assert {"flow_momentum_20d", "price_momentum_12_1"} <= set(PRESETS)
    _, p = resolve("percentile_rotation")
    assert isinstance(p, PercentileRotationParams) and (p.window, p.threshold, p.freq) == (104, 0.05, "w")
    _, p = resolve("huatai_monthly_10pct_3y")
    assert isinstance(p, PercentileRotationParams) and (p.window, p.threshold, p.freq) == (36, 0.10, "m")
    _, p = resolve("percentile_rotation", "huatai_weekly_5pct_2y", side="long_short", threshold=0.1)
    assert isinstance(p, PercentileRotationParams) and p.upper_bound == 0.9
    _, q = resolve("xyz_contrarian")
    assert isinstance(q, UnexpectedFlowParams) and q.direction == "contrarian"
    for bad in (
        lambda: resolve("nope"),
        lambda: resolve("percentile_rotation", "xyz_informed"),
        lambda: resolve("percentile_rotation", window=1),
        lambda: resolve("percentile_rotation", top=0.3),
        lambda: resolve("unexpected_flow", regressors=("premium", "moon_phase")),
        lambda: resolve("percentile_rotation", freq="q"),
    ):
        with pytest.raises(ConfigError):
            bad()


# --- look-ahead, end to end ----------------------------------------------------------------------

CUT = np.datetime64("2021-03-17")


@pytest.fixture(scope="module")
def market() -> DemoMarket:
    tick = sector_funds(primary_only=False)["ticker"].to_list()
    return build_demo("default", seed=5, start="2018-06-01", end="2021-12-31", tickers=tick)


@pytest.fixture(scope="module")
def frames(market: DemoMarket) -> tuple[pl.DataFrame, pl.DataFrame]:
    return market.daily, compute_flows(market.daily, market.funds)


def _perturb(daily: pl.DataFrame, flows: pl.DataFrame, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Scramble every daily value after CUT and every flow that becomes known after CUT."""
    rng = np.random.default_rng(seed)
    cut = dt.date.fromisoformat(str(CUT))
    late_d = (daily["date"] > cut).to_numpy()
    noise = pl.Series(np.where(late_d, rng.uniform(0.5, 1.5, daily.height), 1.0))
    daily = daily.with_columns(
        *(pl.col(c) * noise for c in ("open", "close", "nav", "shares_outstanding", "total_net_assets"))
    )
    late_f = (flows["available_on"] > cut).to_numpy()
    fnoise = pl.Series(np.where(late_f, rng.normal(0.0, 3.0, flows.height), 1.0))
    flows = flows.with_columns(pl.col("flow_usd") * fnoise, pl.col("flow_pct_aum") * fnoise)
    return daily, flows


STRATS: dict[str, tuple[Callable[..., object], object, bool]] = {
    "percentile_rotation": (percentile_rotation, PercentileRotationParams(26, 0.2, freq="w"), True),
    "percentile_rotation_daily_ls": (
        percentile_rotation,
        PercentileRotationParams(60, 0.1, freq="d", side="long_short", measure="pct"),
        True,
    ),
    "unexpected_flow": (unexpected_flow, UnexpectedFlowParams(window=120, min_obs=60), False),
    "flow_momentum": (flow_momentum, FlowMomentumParams(freq="w", side="long_short"), True),
    "price_momentum": (price_momentum, PriceMomentumParams(lookback=126, skip=10, freq="w"), True),
}


@pytest.mark.parametrize("name", list(STRATS))
def test_changing_data_after_t_leaves_every_decision_up_to_t_identical(
    name: str, market: DemoMarket, frames: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    fn, params, sectors = STRATS[name]
    daily, flows = frames

    def decide(d: pl.DataFrame, f: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        panel = panel_from_frames(d, f)
        if sectors:
            panel = sector_panel(panel, market.funds)
        dec = fn(panel, params)
        return panel.dates, dec.weights  # type: ignore[attr-defined]

    dates, w = decide(daily, flows)
    t = int(np.searchsorted(dates, CUT, "right"))  # rows 0 .. t-1 are <= CUT
    assert np.abs(w[:t]).sum() > 0, "no decision before the cut: the test would prove nothing"
    for seed in (1, 2):
        d2, f2 = _perturb(daily, flows, seed)
        dates2, w2 = decide(d2, f2)
        assert np.array_equal(dates, dates2)
        np.testing.assert_array_equal(w2[:t], w[:t])
        assert not np.array_equal(w2[t:], w[t:])  # the perturbation does reach later decisions
    # cutting the data at t gives the same decisions too
    cut = dt.date.fromisoformat(str(CUT))
    dates3, w3 = decide(daily.filter(pl.col("date") <= cut), flows.filter(pl.col("available_on") <= cut))
    assert len(dates3) == t
    np.testing.assert_array_equal(w3, w[:t])
