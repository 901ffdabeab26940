"""Backtest engine: hand-computed two-asset cases, the one-day lag, costs, rebalancing, look-ahead, sweeps."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from etfflow import calendar
from etfflow.backtest.engine import (
    Backtest,
    rebalance_mask,
    run_weights,
    signal_to_weights,
)
from etfflow.backtest.metrics import sharpe
from etfflow.backtest.sweep import grid_product, heatmap, run_sweep, sweep_returns, sweep_weights
from etfflow.errors import ConfigError, DataQualityError, ValidationError

ASSETS = ["A", "B"]
# 2024-01-02 (Tue) .. 2024-01-08 (Mon): five NYSE sessions
DATES = calendar.sessions("2024-01-02", "2024-01-08")
R = np.array(
    [
        [np.nan, np.nan],
        [0.01, 0.02],
        [-0.02, 0.03],
        [0.05, -0.01],
        [0.00, 0.01],
    ]
)


def test_fixture_dates() -> None:
    assert len(DATES) == 5
    assert str(DATES[3]) == "2024-01-05"  # a Friday


def test_weight_decided_at_close_t_earns_only_t_plus_1() -> None:
    w = np.zeros((5, 2))
    w[1, 0] = 1.0
    res = run_weights(w, R, DATES, ASSETS)
    np.testing.assert_allclose(res.gross, [0.0, 0.0, -0.02, 0.0, 0.0])
    np.testing.assert_allclose(res.turnover, [0.0, 1.0, 1.0, 0.0, 0.0])
    np.testing.assert_allclose(res.exposure, [0.0, 1.0, 0.0, 0.0, 0.0])
    assert res.returns[0] == 0.0
    assert res.n_nan_returns == 0


def test_costs_in_bps_of_two_sided_turnover() -> None:
    w = np.zeros((5, 2))
    w[1, 0] = 1.0
    res = run_weights(w, R, DATES, ASSETS, cost_bps=10.0)
    # buy at close 1 (turnover 1), sell at close 2 (turnover 1); cost = 10bp x turnover of pre-trade NAV
    np.testing.assert_allclose(res.returns, [0.0, -0.001, (1 - 0.02) * (1 - 0.001) - 1, 0.0, 0.0])
    # switching A -> B is a two-sided turnover of 2
    w2 = np.zeros((5, 2))
    w2[1, 0] = 1.0
    w2[2, 1] = 1.0
    w2[3, 1] = 1.0
    res2 = run_weights(w2, R, DATES, ASSETS, cost_bps=5.0)
    assert res2.turnover[2] == pytest.approx(2.0)
    assert res2.returns[2] == pytest.approx((1 - 0.02) * (1 - 2 * 5e-4) - 1)


def test_drift_matches_share_holdings() -> None:
    w = np.zeros((5, 2))
    w[0] = [0.5, 0.5]
    mask = np.array([True, False, False, False, False])
    res = run_weights(w, R, DATES, ASSETS, rebalance=mask, holding="drift")
    growth = np.cumprod(1 + np.nan_to_num(R), axis=0)
    nav = 0.5 * growth[:, 0] + 0.5 * growth[:, 1]
    np.testing.assert_allclose(res.returns[1:], nav[1:] / nav[:-1] - 1, rtol=0, atol=1e-15)
    np.testing.assert_allclose(res.weights[2], 0.5 * growth[2] / nav[2], atol=1e-15)
    np.testing.assert_allclose(res.turnover, [1.0, 0, 0, 0, 0])


def test_fixed_holding_trades_back_to_target_daily() -> None:
    w = np.tile([0.5, 0.5], (5, 1))
    res = run_weights(w, R, DATES, ASSETS, holding="fixed")
    np.testing.assert_allclose(res.gross[1:], 0.5 * R[1:, 0] + 0.5 * R[1:, 1], atol=1e-15)
    g = 1 + 0.015
    drifted = np.array([0.5 * 1.01 / g, 0.5 * 1.02 / g])
    assert res.turnover[1] == pytest.approx(np.abs(drifted - 0.5).sum())
    np.testing.assert_allclose(res.weights, w)


def test_cash_when_nothing_qualifies() -> None:
    long_mask = np.array([[True, False], [False, False], [True, True], [False, False], [False, False]])
    w = signal_to_weights(long_mask)
    np.testing.assert_allclose(w, [[1, 0], [0, 0], [0.5, 0.5], [0, 0], [0, 0]])
    res = run_weights(w, R, DATES, ASSETS)
    np.testing.assert_allclose(res.gross, [0, 0.01, 0, 0.5 * 0.05 + 0.5 * -0.01, 0])
    np.testing.assert_allclose(res.exposure, [1, 0, 1, 0, 0])


def test_short_side_sign_and_drift() -> None:
    short_mask = np.zeros((5, 2), dtype=bool)
    short_mask[0, 1] = True
    w = signal_to_weights(None, short_mask, side="short")
    assert w[0, 1] == -1.0
    mask = np.array([True, False, False, False, False])
    res = run_weights(w, R, DATES, ASSETS, rebalance=mask)
    assert res.gross[1] == pytest.approx(-0.02)
    # short 1 of B, B rises 2%: liability 1.02 against NAV 0.98
    assert res.weights[1, 1] == pytest.approx(-1.02 / 0.98)
    assert res.gross[2] == pytest.approx(-1.02 / 0.98 * 0.03)


def test_long_short_legs_half_each_and_value_weights() -> None:
    lm = np.array([[True, True, False, False]])
    sm = np.array([[False, False, True, False]])
    w = signal_to_weights(lm, sm, side="long_short")
    np.testing.assert_allclose(w, [[0.25, 0.25, -0.5, 0.0]])
    w1 = signal_to_weights(lm, sm, side="long_short", leg=1.0)
    np.testing.assert_allclose(w1, [[0.5, 0.5, -1.0, 0.0]])
    aum = np.array([[1.0, 3.0, 2.0, np.nan]])
    wv = signal_to_weights(lm, sm, side="long_short", scheme="value", aum=aum)
    np.testing.assert_allclose(wv, [[0.125, 0.375, -0.5, 0.0]])
    # one empty leg: that leg is cash, the other keeps its size
    w_only_long = signal_to_weights(lm, np.zeros_like(sm), side="long_short")
    np.testing.assert_allclose(w_only_long, [[0.25, 0.25, 0.0, 0.0]])


def test_signal_to_weights_errors() -> None:
    lm = np.array([[True, False]])
    with pytest.raises(ValidationError):
        signal_to_weights(lm, lm, side="long_short")
    with pytest.raises(ConfigError):
        signal_to_weights(lm, scheme="value")
    with pytest.raises(DataQualityError):
        signal_to_weights(lm, scheme="value", aum=np.array([[np.nan, 1.0]]))
    with pytest.raises(ConfigError):
        signal_to_weights(lm, side="long_short")
    with pytest.raises(ConfigError):
        signal_to_weights(lm, side="sideways")


def test_weekly_rebalance_holds_between_period_ends() -> None:
    d = calendar.sessions("2024-01-01", "2024-03-29")
    rng = np.random.default_rng(1)
    r = rng.normal(0, 0.01, (len(d), 3))
    w = rng.dirichlet(np.ones(3), size=len(d))
    res = run_weights(w, r, d, ["a", "b", "c"], rebalance="w", holding="fixed")
    fridays = calendar.period_end(d, "w") == d
    last = -1
    for t in range(len(d)):
        if fridays[t]:
            last = t
        expected = w[last] if last >= 0 else np.zeros(3)
        np.testing.assert_allclose(res.weights[t], expected)
    drift = run_weights(w, r, d, ["a", "b", "c"], rebalance="w")
    assert (drift.turnover[~fridays] == 0).all()
    assert (drift.turnover[fridays] > 0).all()
    monthly = run_weights(w, r, d, ["a", "b", "c"], rebalance="m")
    assert (monthly.turnover > 0).sum() == 3  # Jan, Feb, Mar month ends (2024-03-28 before Good Friday)


def test_rebalance_mask_matches_calendar_and_stops_at_data_end() -> None:
    d = calendar.sessions("2020-01-01", "2022-12-30")
    for f in ("w", "m"):
        np.testing.assert_array_equal(rebalance_mask(d, f), calendar.period_end(d, f) == d)
    assert rebalance_mask(d, "q").sum() == 12
    assert rebalance_mask(d, "y").sum() == 3
    wed = calendar.sessions("2024-01-02", "2024-01-10")  # ends on a Wednesday
    assert not rebalance_mask(wed, "w")[-1]
    # a missing Friday row: the Thursday is the last session present that week
    d2 = np.delete(DATES, 3)
    assert rebalance_mask(d2, "w").tolist() == [False, False, True, False]
    with pytest.raises(ConfigError):
        rebalance_mask(d, "x")


def test_nan_returns_held_count_as_zero_unheld_ignored() -> None:
    r = R.copy()
    r[2, 0] = np.nan
    r[3, 1] = np.nan
    w = np.zeros((5, 2))
    w[1:3, 0] = 1.0
    res = run_weights(w, r, DATES, ASSETS, holding="fixed")
    assert res.gross[2] == 0.0
    assert res.gross[3] == pytest.approx(0.05)
    assert res.n_nan_returns == 1


def test_next_open_execution_earns_next_open_to_close() -> None:
    opens = np.array([[np.nan, np.nan], [0.003, 0.004], [-0.01, 0.02], [0.02, 0.0], [0.01, -0.01]])
    w = np.zeros((5, 2))
    w[1] = [1.0, 0.0]
    w[2] = [0.5, -0.5]
    res = run_weights(w, R, DATES, ASSETS, execution="next_open", open_returns=opens, cost_bps=10)
    np.testing.assert_allclose(res.gross, [0, 0, -0.01, 0.5 * 0.02, 0])
    # in at the open, out at the close: two-sided turnover 2 x gross exposure on the session held
    np.testing.assert_allclose(res.turnover, [0, 0, 2.0, 2.0, 0])
    np.testing.assert_allclose(res.benchmark, [0, 0.0035, 0.005, 0.01, 0.0])
    with pytest.raises(ConfigError):
        run_weights(w, R, DATES, ASSETS, execution="next_open")


def test_benchmark_equal_weight_of_universe_or_given() -> None:
    w = np.zeros((5, 2))
    r = R.copy()
    r[4, 0] = np.nan
    res = run_weights(w, r, DATES, ASSETS)
    np.testing.assert_allclose(res.benchmark, [0, 0.015, 0.005, 0.02, 0.01])
    b = np.array([0, 0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(run_weights(w, r, DATES, ASSETS, benchmark=b).benchmark, b)


def test_input_validation() -> None:
    w = np.zeros((5, 2))
    with pytest.raises(ValidationError):
        run_weights(w[:4], R, DATES, ASSETS)
    bad = w.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValidationError, match="NaN"):
        run_weights(bad, R, DATES, ASSETS)
    with pytest.raises(ValidationError):
        run_weights(w, R, DATES[::-1], ASSETS)
    with pytest.raises(ValidationError):
        run_weights(w, R, DATES, ["A"])
    with pytest.raises(ConfigError):
        run_weights(w, R, DATES, ASSETS, cost_bps=-1)
    with pytest.raises(ConfigError):
        run_weights(w, R, DATES, ASSETS, holding="bogus")
    assert isinstance(ValidationError("x"), ValueError)


def test_result_is_frozen_and_framed() -> None:
    res = run_weights(np.full((5, 2), 0.5), R, DATES, ASSETS)
    with pytest.raises(ValueError):
        res.returns[1] = 1.0
    frame = res.to_frame()
    assert frame.columns == ["date", "returns", "gross", "benchmark", "turnover", "exposure", "net_exposure"]
    assert frame.height == 5
    assert res.weights_frame().columns == ["date", "A", "B"]


def _momentum_weights(r: np.ndarray) -> np.ndarray:
    """Weights decided at close t from returns up to t only: long the assets up over the last 5 sessions."""
    filled = np.nan_to_num(r)
    csum = np.cumsum(filled, axis=0)
    trail = csum - np.vstack([np.zeros((5, r.shape[1])), csum[:-5]])
    return signal_to_weights(trail > 0, trail < 0, side="long_short")


@pytest.mark.parametrize("rebalance", ["d", "w", "m"])
@pytest.mark.parametrize("holding", ["drift", "fixed"])
def test_no_look_ahead_future_returns_do_not_change_the_past(rebalance: str, holding: str) -> None:
    d = calendar.sessions("2022-01-03", "2023-12-29")
    rng = np.random.default_rng(7)
    r = rng.normal(0.0, 0.01, (len(d), 4))
    cut = 300
    r2 = r.copy()
    r2[cut + 1 :] = rng.normal(0.0, 0.05, r2[cut + 1 :].shape)
    w, w2 = _momentum_weights(r), _momentum_weights(r2)
    np.testing.assert_array_equal(w[: cut + 1], w2[: cut + 1])  # decisions use data up to t only
    a = run_weights(w, r, d, list("abcd"), rebalance=rebalance, holding=holding, cost_bps=5)
    b = run_weights(w2, r2, d, list("abcd"), rebalance=rebalance, holding=holding, cost_bps=5)
    for name in ("returns", "gross", "benchmark", "weights", "turnover", "exposure"):
        np.testing.assert_array_equal(getattr(a, name)[: cut + 1], getattr(b, name)[: cut + 1], err_msg=name)
    assert not np.array_equal(a.returns[cut + 2 :], b.returns[cut + 2 :])


def _market(n_t: int = 600, n_a: int = 6, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = calendar.sessions("2018-01-02")[:n_t]
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0003, 0.01, (n_t, n_a))
    r[:40, 0] = np.nan  # a late listing
    sig = rng.uniform(0, 1, (n_t, n_a))
    sig[:60, 0] = np.nan
    return d, r, sig


@pytest.mark.parametrize("holding", ["drift", "fixed"])
def test_sweep_matches_engine_combo_by_combo(holding: str) -> None:
    d, r, sig = _market()
    sig2 = np.where(np.isnan(sig), np.nan, 1 - sig)
    aum = np.random.default_rng(5).uniform(1, 10, r.shape)
    for scheme in ("equal", "value"):
        sr = sweep_returns(
            {20: sig, 60: sig2},
            r,
            d,
            thresholds=[0.2, (0.3, 0.9)],
            freqs=["d", "w", "m"],
            sides=["long", "short", "long_short"],
            cost_bps=[0.0, 10.0],
            holding=holding,
            scheme=scheme,
            aum=aum,
        )
        assert sr.combos.height == 2 * 2 * 3 * 3 * 2
        bt = Backtest.from_arrays(r, d, [str(i) for i in range(r.shape[1])])
        for i, row in enumerate(sr.combos.iter_rows(named=True)):
            s = sig if row["window"] == 20 else sig2
            lm = np.nan_to_num(s, nan=0.5) <= row["lower"]
            sm = np.nan_to_num(s, nan=0.5) >= row["upper"]
            lm &= ~np.isnan(s)
            sm &= ~np.isnan(s)
            w = signal_to_weights(lm, sm, side=row["side"], scheme=scheme, aum=aum)
            res = bt.run(w, rebalance=row["freq"], cost_bps=row["cost_bps"], holding=holding)
            np.testing.assert_allclose(sr.returns[i], res.returns, rtol=0, atol=1e-13)
            np.testing.assert_allclose(sr.turnover[i], res.turnover, rtol=0, atol=1e-13)
            np.testing.assert_allclose(sr.exposure[i], res.exposure, rtol=0, atol=1e-13)


def test_run_sweep_table_and_heatmap() -> None:
    d, r, sig = _market()
    grid = {"thresholds": [0.1, 0.2, 0.5], "freqs": ["d", "m"], "sides": ["long"], "cost_bps": [0, 5]}
    table = run_sweep({20: sig, 60: sig}, r, d, **grid)
    assert table.height == 2 * 3 * 2 * 1 * 2
    assert table.columns[:6] == ["window", "lower", "upper", "freq", "side", "cost_bps"]
    assert {"sharpe", "max_drawdown", "turnover", "t_stat"} <= set(table.columns)
    costly = table.filter(table["cost_bps"] == 5)["annual_return"].to_numpy()
    free = table.filter(table["cost_bps"] == 0)["annual_return"].to_numpy()
    assert (costly < free).all()
    hi = run_sweep({20: sig}, r, d, thresholds=[0.2], freqs=["d"], sides=["long"], long_when="high")
    bt = Backtest.from_arrays(r, d, [str(i) for i in range(r.shape[1])])
    ref = bt.run(signal_to_weights(np.nan_to_num(sig) >= 0.8))
    assert hi["sharpe"][0] == pytest.approx(sharpe(ref.returns), rel=1e-10)
    hm = heatmap(table.filter(table["cost_bps"] == 0), index="window", columns="lower", values="sharpe")
    assert hm.shape == (2, 4)
    with pytest.raises(ConfigError):
        run_sweep({20: sig}, r, d, thresholds=[0.5])  # long_short: a name at 0.5 would be long and short
    long_only = run_sweep({20: sig}, r, d, thresholds=[0.5, 0.6], sides=["long"])
    assert long_only["time_invested"].min() > 0.5
    with pytest.raises(ValidationError):
        run_sweep({20: sig[:-1]}, r, d, thresholds=[0.1])


def test_heatmap_column_order() -> None:
    table = pl.DataFrame(
        {
            "window": [2, 2, 1, 1, 1],
            "threshold": [0.2, 0.1, 0.2, 0.1, 0.1],
            "sharpe": [1.0, 2.0, 3.0, 4.0, 6.0],
        }
    )
    hm = heatmap(table, index="window", columns="threshold")
    assert hm.columns == ["window", "0.1", "0.2"]
    assert hm.rows() == [(1, 5.0, 3.0), (2, 2.0, 1.0)]  # cells are means, rows sorted
    first = heatmap(table, index="window", columns="threshold", sort_columns=False)
    assert first.columns == ["window", "0.2", "0.1"]  # as the sweep ran them
    assert first.rows() == [(1, 3.0, 5.0), (2, 1.0, 2.0)]


def test_sweep_weights_generic_grid() -> None:
    d, r, sig = _market()

    def make(q: float) -> np.ndarray:
        return signal_to_weights(sig <= q)

    table = sweep_weights(make, {"q": [0.1, 0.3], "freq": ["d", "w"], "cost_bps": [0.0, 10.0]}, r, d)
    assert table.height == 8
    ref = sweep_returns({0: sig}, r, d, thresholds=[(0.3, 2.0)], freqs=["w"], sides=["long"], cost_bps=[10.0])
    row = table.filter((table["q"] == 0.3) & (table["freq"] == "w") & (table["cost_bps"] == 10.0))
    assert row["sharpe"][0] == pytest.approx(sharpe(ref.returns[0]), rel=1e-12)
    assert grid_product(a=[1, 2], b=["x"]) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]


def test_run_sweep_chunks_agree_with_full_series() -> None:
    from etfflow.backtest.sweep import METRICS, score

    d, r, sig = _market()
    kw = {
        "thresholds": [0.1, 0.3],
        "freqs": ["d", "w"],
        "sides": ["long", "long_short"],
        "cost_bps": [0, 3, 9],
    }
    table = run_sweep({20: sig, 40: sig}, r, d, chunk=3, **kw)
    sr = sweep_returns({20: sig, 40: sig}, r, d, **kw)
    assert table.select(sr.combos.columns).equals(sr.combos)
    ref = score(sr.returns, sr.turnover, sr.exposure, sr.benchmark, sr.dates)
    for name in METRICS:
        np.testing.assert_allclose(table[name].to_numpy(), ref[name], rtol=1e-12, atol=1e-15, err_msg=name)


def test_sweep_next_open_matches_engine() -> None:
    d, r, sig = _market()
    opens = np.random.default_rng(8).normal(0.0, 0.006, r.shape)
    sr = sweep_returns(
        {1: sig},
        r,
        d,
        thresholds=[0.3],
        freqs=["w"],
        sides=["long_short"],
        cost_bps=[4.0],
        execution="next_open",
        open_returns=opens,
    )
    w = signal_to_weights((sig <= 0.3) & ~np.isnan(sig), (sig >= 0.7) & ~np.isnan(sig), side="long_short")
    res = run_weights(
        w, r, d, list("abcdef"), rebalance="w", cost_bps=4.0, execution="next_open", open_returns=opens
    )
    np.testing.assert_allclose(sr.returns[0], res.returns, rtol=0, atol=1e-14)
    np.testing.assert_allclose(sr.benchmark, res.benchmark, rtol=0, atol=1e-15)
