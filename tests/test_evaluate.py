"""Signal evaluation: look-ahead-free forward returns, daily Spearman IC, quantile returns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from etfflow import calendar
from etfflow.backtest import evaluate as ev
from etfflow.backtest import nb
from etfflow.errors import ConfigError, ValidationError

DATES = calendar.sessions("2021-01-04", "2022-12-30")


def _data(seed: int = 0, n_a: int = 11, strength: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 0.01, (len(DATES), n_a))
    noise = rng.normal(0.0, 0.01, r.shape)
    nxt = np.vstack([r[1:], np.full((1, n_a), np.nan)])
    sig = strength * np.nan_to_num(nxt) + noise
    return sig, r


def test_forward_returns_start_after_the_signal_close() -> None:
    _, r = _data()
    fwd = ev.forward_returns(r, (1, 5))
    np.testing.assert_array_equal(fwd[1][:-1], r[1:])
    assert np.isnan(fwd[1][-1]).all()
    t = 10
    np.testing.assert_allclose(fwd[5][t], np.prod(1 + r[t + 1 : t + 6], axis=0) - 1, rtol=1e-14)
    assert np.isnan(fwd[5][-5:]).all() and np.isfinite(fwd[5][-6]).all()
    r2 = r.copy()
    r2[20, 3] = np.nan
    f2 = ev.forward_returns(r2, (5,))[5]
    assert np.isnan(f2[15:20, 3]).all() and np.isfinite(f2[14, 3]) and np.isfinite(f2[20, 3])
    with pytest.raises(ConfigError):
        ev.forward_returns(r, (0,))


def test_daily_ic_matches_scipy_spearman() -> None:
    sig, r = _data(1, strength=0.5)
    sig[3, :4] = np.nan
    sig[7, :] = sig[7, 0]  # constant row: no IC
    sig[9, :2] = sig[9, 2]  # ties
    ic = ev.information_coefficient(sig, r, DATES, horizons=(1, 5))
    assert ic.columns == ["date", "horizon", "ic", "n_assets"]
    assert ic.height == 2 * len(DATES)
    fwd = ev.forward_returns(r, (1, 5))
    for h in (1, 5):
        got = ic.filter(ic["horizon"] == h)["ic"].to_numpy()
        for t in (0, 3, 9, 100, len(DATES) - h - 1):
            ok = np.isfinite(sig[t]) & np.isfinite(fwd[h][t])
            ref = stats.spearmanr(sig[t][ok], fwd[h][t][ok]).statistic
            assert got[t] == pytest.approx(ref, abs=1e-12)
        assert np.isnan(got[7])
        assert np.isnan(got[-h:]).all()


def test_ic_finds_a_planted_signal_and_not_a_random_one() -> None:
    sig, r = _data(2, strength=0.3)
    summ = ev.ic_summary(ev.information_coefficient(sig, r, DATES))
    assert summ["horizon"].to_list() == [1, 5, 20]
    one = summ.row(0, named=True)
    assert one["mean_ic"] > 0.2 and one["t_stat"] > 10 and one["hit_rate"] > 0.7
    noise, r0 = _data(3, strength=0.0)
    summ0 = ev.ic_summary(ev.information_coefficient(noise, r0, DATES))
    assert (summ0["t_stat"].abs() < 3).all()
    assert summ0["n_days"].to_list() == [len(DATES) - h for h in (1, 5, 20)]


def test_same_day_return_is_not_scored_as_forward() -> None:
    """A signal equal to today's return (known at close t) has no IC with t -> t+1 on iid returns."""
    _, r = _data(4)
    summ = ev.ic_summary(ev.information_coefficient(r, r, DATES, horizons=(1,)))
    assert abs(summ["mean_ic"][0]) < 0.03


def test_quantile_buckets_match_pandas_qcut() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(50, 11))
    x[4, :3] = np.nan
    b = nb.quantile_buckets_nb(x, 5)
    for t in range(50):
        ok = np.isfinite(x[t])
        ref = pd.qcut(x[t][ok], 5, labels=False) + 1
        np.testing.assert_array_equal(b[t][ok], ref)
        assert (b[t][~ok] == 0).all()
    few = np.array([[1.0, 2.0, np.nan, np.nan]])
    assert (nb.quantile_buckets_nb(few, 3) == 0).all()


def test_quantile_returns_monotone_for_planted_signal() -> None:
    sig, r = _data(6, strength=0.5)
    q = ev.quantile_returns(sig, r, DATES, quantiles=5, horizons=(1, 5))
    assert q.columns == ["horizon", "quantile", "mean_return", "mean_daily", "std_error", "n_days"]
    assert q.height == 10
    one = q.filter(q["horizon"] == 1)["mean_return"].to_numpy()
    assert (np.diff(one) > 0).all()
    dm = ev.quantile_returns(sig, r, DATES, quantiles=5, horizons=(1,), demeaned=True)
    # demeaned bucket means, weighted by bucket sizes (11 names: 3,2,2,2,2), average to zero
    sizes = np.array([3, 2, 2, 2, 2])
    assert float((dm["mean_return"].to_numpy() * sizes).sum()) == pytest.approx(0.0, abs=1e-12)
    five = q.filter(q["horizon"] == 5).row(0, named=True)
    assert five["mean_daily"] == pytest.approx((1 + five["mean_return"]) ** (1 / 5) - 1)


def test_quantile_mean_by_hand() -> None:
    d = DATES[:3]
    sig = np.array([[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    r = np.array([[0.0, 0.0, 0.0, 0.0], [0.01, 0.02, 0.03, 0.04], [0.1, 0.0, 0.0, -0.1]])
    q = ev.quantile_returns(sig, r, d, quantiles=2, horizons=(1,))
    # day 0: low half {a, b} earn day-1 returns 0.01, 0.02; day 1: low half {c, d} earn 0.0, -0.1
    assert q["mean_return"].to_list() == pytest.approx([(0.015 + -0.05) / 2, (0.035 + 0.05) / 2])
    assert q["n_days"].to_list() == [2, 2]


def test_evaluate_validation() -> None:
    sig, r = _data()
    with pytest.raises(ValidationError):
        ev.information_coefficient(sig[:-1], r, DATES)
    with pytest.raises(ValidationError):
        ev.quantile_returns(sig, r, DATES[:-1])
    with pytest.raises(ConfigError):
        ev.quantile_returns(sig, r, DATES, quantiles=1)
