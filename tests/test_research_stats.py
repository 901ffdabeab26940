"""Deflated Sharpe ratio and split-half selection (etfflow.research.stats), checked by hand."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from etfflow.errors import ConfigError
from etfflow.research.stats import (
    EULER_GAMMA,
    deflated_sharpe,
    expected_max_sharpe,
    headline,
    probabilistic_sharpe,
    split_half_selection,
)


def test_expected_max_sharpe_by_hand() -> None:
    """N = 100 trials, Var[SR] = 0.0025: sqrt(V) = 0.05; Phi^-1(0.99) = 2.32634787404,
    Phi^-1(1 - 1/(100 e)) = Phi^-1(0.99632120559) = 2.68021044497;
    SR0 = 0.05 x (0.42278433510 x 2.32634787404 + 0.57721566490 x 2.68021044497) = 0.12653014466."""
    assert expected_max_sharpe(100, 0.0025) == pytest.approx(0.12653014466, abs=1e-10)
    manual = 0.05 * ((1 - EULER_GAMMA) * 2.3263478740408408 + EULER_GAMMA * 2.6802104449668875)
    assert expected_max_sharpe(100, 0.0025) == pytest.approx(manual, rel=1e-12)
    # one trial, or no dispersion: nothing to deflate
    assert expected_max_sharpe(1, 0.0025) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0
    with pytest.raises(ConfigError):
        expected_max_sharpe(0, 0.01)


def test_probabilistic_sharpe_by_hand() -> None:
    """SR = 0.1 per period, T = 1000, normal returns (skew 0, kurtosis 3):
    z = 0.1 sqrt(999) / sqrt(1 + 2/4 x 0.01) = 3.15282389414, PSR = Phi(z) = 0.99919150338."""
    assert probabilistic_sharpe(0.1, 0.0, 1000) == pytest.approx(0.99919150338, abs=1e-10)
    # at the benchmark itself the probability is one half, whatever the moments
    assert probabilistic_sharpe(0.05, 0.05, 500, skew=-1.0, kurt=9.0) == pytest.approx(0.5)
    # negative skew and fat tails widen the error: PSR falls towards 1/2
    assert probabilistic_sharpe(0.1, 0.0, 1000, skew=-1.0, kurt=10.0) < probabilistic_sharpe(0.1, 0.0, 1000)


def test_deflated_sharpe_moments_and_monotone_in_trials() -> None:
    x = np.array([0.01, -0.02, 0.03, 0.0, 0.01, -0.01, 0.02, 0.005, -0.005, 0.015])
    mu, sd = x.mean(), x.std(ddof=1)
    c = x - mu
    g3 = (c**3).mean() / (c**2).mean() ** 1.5
    g4 = (c**4).mean() / (c**2).mean() ** 2
    one = deflated_sharpe(x, 1, 0.01)
    assert one["sharpe_per_period"] == pytest.approx(mu / sd)
    assert one["skew"] == pytest.approx(g3) and one["kurtosis"] == pytest.approx(g4)
    assert one["dsr"] == pytest.approx(one["psr0"])  # one trial: DSR = PSR(0)
    many = [deflated_sharpe(x, n, 0.01)["dsr"] for n in (1, 10, 100, 1000)]
    assert all(a > b for a, b in itertools.pairwise(many))  # more trials, less confidence
    assert math.isnan(deflated_sharpe(np.zeros(20), 5, 0.01)["dsr"])  # no volatility: undefined, not 0


def test_split_half_selection_uses_only_the_first_half() -> None:
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.01, (3, 400))
    s = noise.copy()
    s[0, :200] += 0.01  # great first half, nothing after
    s[1, 200:] += 0.02  # nothing first, great second half: must not be chosen
    sel = split_half_selection(s)
    assert sel["chosen"] == 0 and sel["split"] == 200 and sel["n_trials"] == 3
    # changing the second half never changes the choice (no look-ahead)
    s2 = s.copy()
    s2[:, 200:] = rng.normal(0, 0.05, (3, 200))
    assert split_half_selection(s2)["chosen"] == 0
    assert 0.0 <= sel["dsr_in_sample"]["dsr"] <= 1.0


def test_headline_reports_t_and_interval() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(0.001, 0.01, 2000)
    h = headline(x, n_boot=200)
    assert h.ci_low < h.sharpe < h.ci_high
    assert h.n == 2000 and h.nw_lags == math.floor(4 * (2000 / 100) ** (2 / 9))
    assert h.t_stat > 0


def test_implied_aum_and_trailing_zscore_by_hand() -> None:
    from etfflow.research.us import _implied_aum, _tilt, _zscore_trailing

    r = np.array([[np.nan], [0.10], [-0.50], [0.0]])
    f = np.array([[np.nan], [100.0], [np.nan], [-60.0]])
    # nothing before the first flow; then A_t = A_t-1 (1 + r_t) + f_t: 100, 50, -10 -> not a valid AUM
    a = _implied_aum(r, f)
    assert np.isnan(a[0, 0]) and a[1, 0] == pytest.approx(100.0) and a[2, 0] == pytest.approx(50.0)
    assert np.isnan(a[3, 0])
    x = np.array([[1.0], [2.0], [3.0], [10.0]])
    z = _zscore_trailing(x, window=3, min_obs=3)
    # row 3 against rows 0..2 only (itself excluded): mean 2, sd 1 -> z = 8
    assert np.isnan(z[:3]).all() and z[3, 0] == pytest.approx(8.0)
    # tilt ratio: both outflows, a lost less -> above one half (0.75, as in the report's rules)
    assert _tilt(np.array([-1.0]), np.array([-3.0]))[0] == pytest.approx(0.75)
