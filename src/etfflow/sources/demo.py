"""Seeded synthetic ETF market (the embedded demo): SYNTHETIC data that behaves like the real thing.

Model, per fund i (group g) and NYSE session t; a(t) = a fraction of AUM, "units" = creation units:

- NAV total return r = mu_i + v_t (beta_i m_t + dur_i y_t + cred_i c_t + b_i f_g,t + e_i,t)
  + informed_i,t + (P_g,t - P_g,t-1); v_t is a shared stochastic volatility (log AR(1)), m, y, c
  the equity market, rates and credit factors, f_g one factor per group. A distribution D on an
  ex-date drops the NAV: NAV_t = NAV_t-1 (1 + r) - D.
- Premium: p_pre = phi p_t-1 + sd eps + lam u_t (u = demand surprise: noise + informed); close =
  NAV (1 + p). When |p_pre| exceeds the cost c, authorised participants create (redeem)
  floor(kappa (|p_pre| - c) S / CU) whole units, which closes half the excess:
  p_t = p_pre - units CU / S / (2 kappa).
- Investor demand d_t = drift + trend (20-session excess return) + noise (group AR(1) plus fund
  part, fat tails) + informed_flow z_g,t; it accumulates and is served in whole creation units.
- Shares: S_t = k_t S_t-1 + CU (arbitrage units + demand units), never below one unit; a flow is
  (S_t - k_t S_t-1) NAV_t on trade date t.
- Informed: z_g,t ~ N(0, 1) drives flows on t and adds informed_return sd_i z_g,t decay^(k-1) to the
  NAV return of t+k (k >= 1).
- Price pressure: P_g,t = rho P_g,t-1 + price_pressure F_g,t (F = the group's net flow as a
  fraction of its AUM); extreme outflows push prices down and the push reverts with half-life
  `pressure_halflife` sessions, so buying after outflows earns over the following weeks.
- Open: the session's open is the prior NAV (split- and distribution-adjusted) moved by
  `overnight_share` of the session's NAV return, times (1 + an opening premium phi p_t-1 + sd eps);
  drawn from its own seeded stream, so adding it left every other column unchanged.
- Data artefacts: splits (NAV above `split_above` -> k-for-1; below `split_below` -> 1-for-4),
  gaps (null shares counts), one bad print (a one-row shares spike) and the reporting lag: the row
  for date d states the shares outstanding after the trades of d - so_lag (in the units of date d).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from etfflow import calendar
from etfflow.errors import ConfigError, NotFoundError
from etfflow.schema import validate
from etfflow.universe import load_taxonomy

__all__ = ["PRESETS", "DemoMarket", "DemoParams", "build_demo"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
_YEAR = 252.0


@dataclass(frozen=True)
class DemoParams:
    """Knobs of the synthetic market; rates and vols are annual, flows are fractions of AUM."""

    market_vol: float = 0.16
    market_drift: float = 0.09
    vol_of_vol: float = 0.06
    rates_vol: float = 0.008
    credit_vol: float = 0.02
    flow_drift: float = 0.06
    flow_noise: float = 0.003
    flow_persistence: float = 0.3
    flow_group_share: float = 0.6
    premium_scale: float = 1.0
    arbitrage_speed: float = 0.004
    trend_chasing: float = 0.02
    trend_window: int = 20
    informed_flow: float = 0.0
    informed_return: float = 0.0
    informed_decay: float = 0.0
    price_pressure: float = 0.0
    pressure_halflife: float = 7.0
    split_above: float = 500.0
    split_below: float = 8.0
    n_gaps: int = 6
    n_bad_prints: int = 1
    launches: bool = True
    launch_units: int = 10
    so_lag: int = 1
    default_creation_unit: int = 50_000
    overnight_share: float = 0.4


PRESETS: dict[str, DemoParams] = {
    "null": DemoParams(trend_chasing=0.0),
    "default": DemoParams(informed_flow=0.001, informed_return=0.02, price_pressure=0.4),
    "pressure": DemoParams(price_pressure=1.0),
    "informed": DemoParams(informed_flow=0.004, informed_return=0.10, informed_decay=0.5),
}


@dataclass(frozen=True)
class DemoMarket:
    """Demo output: `funds`, `daily` (canonical), `truth` (planted parts per trade date), `events`."""

    funds: pl.DataFrame
    daily: pl.DataFrame
    truth: pl.DataFrame
    events: pl.DataFrame
    params: DemoParams
    label: str


# group -> (market beta, group-factor vol, idiosyncratic vol, distribution yield)
_GROUPS: dict[str, tuple[float, float, float, float]] = {
    "Large Cap": (1.0, 0.0, 0.003, 0.015),
    "Nasdaq 100": (1.15, 0.08, 0.003, 0.006),
    "Small Cap": (1.1, 0.10, 0.02, 0.013),
    "Dow": (0.95, 0.05, 0.003, 0.017),
    "Total Market": (1.0, 0.015, 0.003, 0.014),
    "Mid Cap": (1.05, 0.06, 0.01, 0.013),
    "Equal Weight": (1.0, 0.05, 0.003, 0.016),
    "Technology": (1.15, 0.12, 0.015, 0.008),
    "Financials": (1.1, 0.14, 0.015, 0.018),
    "Energy": (0.95, 0.25, 0.02, 0.035),
    "Health Care": (0.8, 0.11, 0.015, 0.015),
    "Industrials": (1.05, 0.09, 0.015, 0.016),
    "Consumer Discretionary": (1.1, 0.10, 0.015, 0.008),
    "Consumer Staples": (0.6, 0.10, 0.012, 0.025),
    "Utilities": (0.45, 0.14, 0.012, 0.030),
    "Materials": (1.05, 0.12, 0.015, 0.020),
    "Real Estate": (0.8, 0.14, 0.015, 0.035),
    "Communication Services": (1.0, 0.12, 0.015, 0.009),
    "Growth": (1.05, 0.05, 0.01, 0.006),
    "Value": (0.95, 0.05, 0.01, 0.023),
    "Momentum": (1.0, 0.08, 0.02, 0.008),
    "Quality": (1.0, 0.03, 0.01, 0.012),
    "Min Vol": (0.7, 0.05, 0.015, 0.018),
    "Size": (1.0, 0.04, 0.01, 0.015),
    "Small Growth": (1.15, 0.11, 0.01, 0.005),
    "Small Value": (1.05, 0.11, 0.01, 0.018),
    "Dividend": (0.85, 0.05, 0.015, 0.032),
    "Long Treasury": (0.0, 0.005, 0.003, 0.030),
    "Intermediate Treasury": (0.0, 0.003, 0.002, 0.025),
    "Short Treasury": (0.0, 0.001, 0.001, 0.022),
    "Treasury": (0.0, 0.002, 0.002, 0.025),
    "Aggregate": (0.02, 0.003, 0.002, 0.028),
    "Investment Grade": (0.08, 0.005, 0.004, 0.038),
    "High Yield": (0.25, 0.01, 0.006, 0.055),
    "Inflation": (0.0, 0.01, 0.003, 0.030),
    "EM Debt": (0.2, 0.03, 0.005, 0.045),
    "Municipal": (0.02, 0.01, 0.003, 0.025),
    "Loans": (0.12, 0.005, 0.004, 0.055),
    "Disruptive Innovation": (1.4, 0.30, 0.01, 0.0),
    "Genomics": (1.3, 0.35, 0.01, 0.0),
    "Clean Energy": (1.0, 0.25, 0.01, 0.01),
    "Solar": (1.2, 0.35, 0.01, 0.002),
    "Lithium & Batteries": (1.2, 0.25, 0.01, 0.008),
    "Robotics & AI": (1.2, 0.15, 0.01, 0.002),
    "Cybersecurity": (1.1, 0.12, 0.04, 0.002),
    "Cloud Computing": (1.2, 0.15, 0.01, 0.0),
    "Airlines": (1.2, 0.25, 0.01, 0.003),
    "China Internet": (0.8, 0.35, 0.01, 0.003),
    "Uranium": (1.0, 0.30, 0.01, 0.01),
    "Infrastructure": (1.1, 0.10, 0.01, 0.007),
    "Developed ex-US": (0.8, 0.08, 0.01, 0.028),
    "Emerging Markets": (0.8, 0.13, 0.015, 0.025),
    "Europe": (0.85, 0.09, 0.005, 0.03),
    "Japan": (0.7, 0.12, 0.005, 0.018),
    "Brazil": (1.0, 0.30, 0.005, 0.05),
    "South Korea": (0.9, 0.18, 0.005, 0.015),
    "China": (0.8, 0.22, 0.03, 0.02),
    "India": (0.7, 0.14, 0.005, 0.01),
    "Germany": (0.9, 0.12, 0.005, 0.025),
    "United Kingdom": (0.8, 0.10, 0.005, 0.035),
    "Gold": (0.05, 0.14, 0.003, 0.0),
    "Silver": (0.3, 0.18, 0.005, 0.0),
    "Oil": (0.5, 0.35, 0.005, 0.0),
    "Natural Gas": (0.1, 0.50, 0.005, 0.0),
    "Broad Commodities": (0.4, 0.12, 0.005, 0.0),
}
_FALLBACK_GROUP = (1.0, 0.10, 0.02, 0.01)

# group -> (rates duration, credit loading, alpha: drift beyond beta x market drift)
_FIXED: dict[str, tuple[float, float, float]] = {
    "Long Treasury": (17.0, 0.0, 0.0),
    "Intermediate Treasury": (7.5, 0.0, 0.0),
    "Short Treasury": (1.9, 0.0, 0.0),
    "Treasury": (6.0, 0.0, 0.0),
    "Aggregate": (6.2, 0.3, 0.0),
    "Investment Grade": (8.5, 1.0, 0.0),
    "High Yield": (3.5, 2.5, 0.0),
    "Inflation": (4.5, 0.0, 0.0),
    "EM Debt": (7.0, 2.0, 0.0),
    "Municipal": (4.5, 0.3, 0.0),
    "Loans": (0.2, 1.5, 0.0),
    "Gold": (0.0, 0.0, 0.04),
    "Silver": (0.0, 0.0, 0.02),
    "Oil": (0.0, 0.0, -0.08),
    "Natural Gas": (0.0, 0.0, -0.25),
}

# ticker -> (group-factor loading, idiosyncratic vol); funds not listed load 1.0 on their group
_TICKERS: dict[str, tuple[float, float]] = {
    "SMH": (1.4, 0.12),
    "SOXX": (1.4, 0.12),
    "KRE": (1.3, 0.12),
    "KBE": (1.2, 0.10),
    "XOP": (1.5, 0.15),
    "OIH": (1.5, 0.18),
    "XBI": (1.3, 0.22),
    "IBB": (1.0, 0.12),
    "IHI": (0.8, 0.10),
    "ITA": (0.9, 0.10),
    "XRT": (1.0, 0.12),
    "XME": (1.4, 0.15),
    "GDX": (0.6, 0.15),
}
# ticker -> (duration, yield) where a fund differs from its group
_DURATION: dict[str, tuple[float, float]] = {
    "EDV": (24.0, 0.033),
    "BIL": (0.15, 0.02),
    "SGOV": (0.1, 0.035),
    "VCIT": (6.2, 0.035),
    "SJNK": (2.0, 0.06),
}
# extra loadings on another group's factor: ticker -> (group, loading)
_EXTRA: dict[str, tuple[str, float]] = {"GDX": ("Gold", 1.8), "SLV": ("Gold", 1.2), "DBC": ("Oil", 0.4)}

# category -> (premium sd, premium AR(1), arbitrage cost, turnover, base AUM USD, flow noise x,
#              distributions per year)
_CATEGORY: dict[str, tuple[float, float, float, float, float, float, int]] = {
    "broad_market": (0.0003, 0.4, 0.0002, 0.03, 20e9, 1.0, 4),
    "sector": (0.0005, 0.4, 0.0003, 0.03, 5e9, 1.3, 4),
    "style": (0.0006, 0.4, 0.0004, 0.01, 8e9, 1.0, 4),
    "fixed_income": (0.0010, 0.5, 0.0007, 0.02, 10e9, 1.0, 12),
    "thematic": (0.0010, 0.5, 0.0008, 0.03, 0.8e9, 1.8, 4),
    "international": (0.0025, 0.3, 0.0015, 0.03, 10e9, 1.2, 2),
    "commodity": (0.0006, 0.5, 0.0004, 0.02, 5e9, 1.3, 0),
}
_FALLBACK_CATEGORY = (0.001, 0.5, 0.0008, 0.02, 1e9, 1.2, 4)


@dataclass(frozen=True)
class _Funds:
    """Per-fund model constants as arrays (length N)."""

    tickers: list[str]
    group: I64
    groups: list[str]
    cu: F64
    launch: I64
    mu: F64
    beta: F64
    gload: F64
    idio: F64
    dur: F64
    cred: F64
    yld: F64
    freq: I64
    prem_sd: F64
    prem_phi: F64
    prem_cost: F64
    turnover: F64
    flow_mult: F64
    aum0: F64
    extra: list[tuple[int, int, float]]


def _fund_constants(funds: pl.DataFrame, dates: npt.NDArray[np.datetime64], p: DemoParams) -> _Funds:
    """Model constants for each fund, derived from its taxonomy row."""
    groups = sorted(set(funds["group"].to_list()))
    gpos = {g: i for i, g in enumerate(groups)}
    rows = funds.to_dicts()
    n = len(rows)
    out: dict[str, F64] = {
        k: np.zeros(n)
        for k in (
            "cu",
            "mu",
            "beta",
            "gload",
            "idio",
            "dur",
            "cred",
            "yld",
            "prem_sd",
            "prem_phi",
            "prem_cost",
            "turnover",
            "flow_mult",
            "aum0",
        )
    }
    freq = np.zeros(n, dtype=np.int64)
    launch = np.zeros(n, dtype=np.int64)
    extra: list[tuple[int, int, float]] = []
    for i, r in enumerate(rows):
        beta, gvol, idio, yld = _GROUPS.get(r["group"], _FALLBACK_GROUP)
        dur, cred, alpha = _FIXED.get(r["group"], (0.0, 0.0, 0.0))
        load, idio = _TICKERS.get(r["ticker"], (1.0, idio))
        dur, yld = _DURATION.get(r["ticker"], (dur, yld))
        sd, phi, cost, turn, aum, fmult, nfreq = _CATEGORY.get(r["category"], _FALLBACK_CATEGORY)
        fixed = r["asset_class"] == "fixed_income"
        out["cu"][i] = r["creation_unit_shares"] or p.default_creation_unit
        out["mu"][i] = yld + alpha if fixed else beta * p.market_drift + alpha
        out["beta"][i] = beta
        out["gload"][i] = load * gvol
        out["idio"][i] = idio
        out["dur"][i] = dur
        out["cred"][i] = cred
        out["yld"][i] = yld
        out["prem_sd"][i] = sd * p.premium_scale
        out["prem_phi"][i] = phi
        out["prem_cost"][i] = cost * p.premium_scale
        out["turnover"][i] = turn * (2.0 if r["primary"] else 1.0)
        out["flow_mult"][i] = fmult
        out["aum0"][i] = aum * (3.0 if r["primary"] else 1.0)
        freq[i] = nfreq if yld > 0 else 0
        inception = r["inception"]
        if p.launches and inception is not None:
            launch[i] = int(np.searchsorted(dates, np.datetime64(inception, "D"), "left"))
        if r["ticker"] in _EXTRA:
            g, w = _EXTRA[r["ticker"]]
            if g in gpos:
                extra.append((i, gpos[g], w))
    return _Funds(
        tickers=[r["ticker"] for r in rows],
        group=np.array([gpos[r["group"]] for r in rows], dtype=np.int64),
        groups=groups,
        cu=out["cu"],
        launch=launch,
        mu=out["mu"],
        beta=out["beta"],
        gload=out["gload"],
        idio=out["idio"],
        dur=out["dur"],
        cred=out["cred"],
        yld=out["yld"],
        freq=freq,
        prem_sd=out["prem_sd"],
        prem_phi=out["prem_phi"],
        prem_cost=out["prem_cost"],
        turnover=out["turnover"],
        flow_mult=out["flow_mult"],
        aum0=out["aum0"],
        extra=extra,
    )


def _ex_dates(dates: npt.NDArray[np.datetime64], months: tuple[int, ...], day: int) -> npt.NDArray[np.bool_]:
    """Mask of the first session on or after `day` of each listed month (distribution ex-dates)."""
    month = dates.astype("datetime64[M]")
    mnum = month.astype(np.int64) % 12 + 1
    dom = (dates - month.astype("datetime64[D]")).astype(np.int64) + 1
    ok = np.isin(mnum, months) & (dom >= day)
    first = np.zeros(len(dates), dtype=bool)
    idx = np.flatnonzero(ok)
    if len(idx):
        keep = np.concatenate([[True], month[idx][1:] != month[idx][:-1]])
        first[idx[keep]] = True
    return first


def _t_shocks(rng: np.random.Generator, df: float, shape: tuple[int, ...]) -> F64:
    """Student-t draws scaled to unit variance."""
    return np.asarray(rng.standard_t(df, shape) * np.sqrt((df - 2.0) / df), dtype=np.float64)


def _ar1(shocks: F64, phi: float) -> F64:
    """Stationary unit-variance AR(1) along axis 0 driven by unit-variance shocks."""
    out = np.empty_like(shocks)
    out[0] = shocks[0]
    scale = np.sqrt(1.0 - phi * phi)
    for t in range(1, len(shocks)):
        out[t] = phi * out[t - 1] + scale * shocks[t]
    return out


@dataclass(frozen=True)
class _Paths:
    """Simulated T x N arrays (NaN where a fund is not yet listed)."""

    nav: F64
    close: F64
    so_before: F64
    so_after: F64
    arb: F64
    dem: F64
    prem: F64
    pressure: F64
    informed: F64
    dist: F64
    split: F64
    nav_ret: F64
    aum_prev: F64
    volume: F64


def _simulate(p: DemoParams, f: _Funds, n_days: int, dates: npt.NDArray[np.datetime64], seed: int) -> _Paths:
    """Run the market day by day (vectorised across funds)."""
    rng = np.random.default_rng(seed)
    t_n, n, n_g = n_days, len(f.tickers), len(f.groups)
    sq = np.sqrt(_YEAR)

    # exogenous shocks, drawn in a fixed order so a seed fixes the market
    h = _ar1(rng.standard_normal(t_n), 0.985) * p.vol_of_vol / np.sqrt(1 - 0.985**2)
    v = np.exp(h - h.var())
    z_m = _t_shocks(rng, 5.0, (t_n,))
    z_r = _t_shocks(rng, 5.0, (t_n,))
    z_c = _t_shocks(rng, 5.0, (t_n,))
    z_g = _t_shocks(rng, 5.0, (t_n, n_g))
    z_i = _t_shocks(rng, 5.0, (t_n, n))
    u_g = _ar1(_t_shocks(rng, 4.0, (t_n, n_g)), p.flow_persistence)
    u_i = _t_shocks(rng, 4.0, (t_n, n))
    z_inf = rng.standard_normal((t_n, n_g))
    eps_p = rng.standard_normal((t_n, n))
    eps_v = rng.standard_normal((t_n, n))
    dist_noise = rng.uniform(0.8, 1.2, (t_n, n))
    nav0 = np.round(np.exp(rng.normal(np.log(80.0), 0.5, n)).clip(15.0, 300.0), 2)
    aum0 = f.aum0 * np.exp(rng.normal(0.0, 0.5, n))

    factor = (
        f.beta * (p.market_vol / sq) * z_m[:, None]
        + f.dur * (p.rates_vol / sq) * z_r[:, None]
        + f.cred * (p.credit_vol / sq) * z_c[:, None]
        + f.gload / sq * z_g[:, f.group]
        + f.idio / sq * z_i
    )
    for i, g, w in f.extra:
        factor[:, i] += w * _GROUPS[f.groups[g]][1] / sq * z_g[:, g]
    base = f.mu / _YEAR + v[:, None] * factor
    sd_day = (
        np.sqrt(
            (f.beta * p.market_vol) ** 2
            + (f.dur * p.rates_vol) ** 2
            + (f.cred * p.credit_vol) ** 2
            + f.gload**2
            + f.idio**2
        )
        / sq
    )
    if p.informed_return:
        carry = np.zeros((t_n, n_g))
        for t in range(1, t_n):
            carry[t] = z_inf[t - 1] + p.informed_decay * carry[t - 1]
        base += p.informed_return * sd_day * carry[:, f.group]
    w_g = np.sqrt(p.flow_group_share)
    noise = p.flow_noise * f.flow_mult * (w_g * u_g[:, f.group] + np.sqrt(1 - w_g * w_g) * u_i)
    surprise = noise + p.informed_flow * z_inf[:, f.group]

    freq_masks = {
        4: _ex_dates(dates, (3, 6, 9, 12), 18),
        12: _ex_dates(dates, tuple(range(1, 13)), 1),
        2: _ex_dates(dates, (6, 12), 10),
    }
    ex = np.zeros((t_n, n), dtype=bool)
    for per_year, mask in freq_masks.items():
        ex[:, f.freq == per_year] = mask[:, None]

    kappa = p.arbitrage_speed / f.prem_sd
    lam = 0.5 * f.prem_sd / (max(p.flow_noise, 1e-4) * f.flow_mult)
    rho = 0.5 ** (1.0 / p.pressure_halflife)
    informed_on = float(bool(p.informed_flow or p.informed_return))
    cu = f.cu

    shape = (t_n, n)
    out = {k: np.full(shape, np.nan) for k in _Paths.__dataclass_fields__}
    nav = nav0.copy()
    shares = np.maximum(np.round(aum0 / nav0 / cu), 2.0) * cu
    prem = np.zeros(n)
    pending = np.zeros(n)
    press = np.zeros(n_g)
    logidx = np.zeros((t_n + 1, n))
    launched_late = f.launch > 0
    for t in range(t_n):
        alive = f.launch <= t
        new = f.launch == t
        if t > 0 and new.any():
            nav[new] = 25.0
            shares[new] = p.launch_units * cu[new]
            prem[new] = 0.0
            pending[new] = 0.0
            logidx[t, new] = 0.0
        listed = f.launch < t  # never split on a fund's first row
        k = np.where(listed & (nav > p.split_above), np.clip(np.floor(nav / 100.0), 2.0, 10.0), 1.0)
        k = np.where(listed & (nav < p.split_below), 0.25, k)
        nav = nav / k
        shares = shares * k
        pending = pending * k
        before = shares.copy()

        # demand: drift, trend chasing, noise, informed; young funds keep growing for a while
        age = t - f.launch
        trend: F64 = np.zeros(n)
        if p.trend_chasing and t > p.trend_window:
            past = logidx[t] - logidx[t - p.trend_window] - f.mu * p.trend_window / _YEAR
            trend = past * (age > p.trend_window)
        young = launched_late * 0.02 * np.exp(-np.maximum(age, 0) / 250.0)
        d = surprise[t] + p.trend_chasing * trend + p.flow_drift / _YEAR + young
        pending += d * shares
        floor_units = -np.floor(np.maximum(shares - cu, 0.0) / cu)
        dem_units = np.maximum(np.trunc(pending / cu), floor_units)
        pending -= dem_units * cu

        # premium and arbitrage in whole units
        pre = f.prem_phi * prem + f.prem_sd * eps_p[t] + lam * surprise[t]
        excess = np.maximum(np.abs(pre) - f.prem_cost, 0.0)
        arb_units = np.sign(pre) * np.floor(kappa * excess * shares / cu)
        arb_units = np.maximum(arb_units, floor_units - dem_units)
        prem = pre - arb_units * cu / shares / (2.0 * kappa)
        change = (dem_units + arb_units) * cu

        # price pressure from the group's net flow
        aum = shares * nav * alive
        g_aum = np.bincount(f.group, aum, n_g)
        g_flow = np.bincount(f.group, change * nav * alive, n_g)
        frac = np.divide(g_flow, g_aum, out=np.zeros(n_g), where=g_aum > 0)
        new_press = rho * press + p.price_pressure * frac
        r = base[t] + (new_press - press)[f.group]
        press = new_press
        dist = np.where(ex[t] & alive, np.round(nav * f.yld / np.maximum(f.freq, 1) * dist_noise[t], 4), 0.0)
        nav_new = np.maximum(np.round(nav * (1.0 + np.maximum(r, -0.9)) - dist, 4), 0.01)
        ret = (nav_new + dist) / nav - 1.0
        shares = shares + change
        logidx[t + 1] = logidx[t] + np.log1p(ret)
        vol = np.round(before * f.turnover * np.exp(0.5 * eps_v[t] - 0.125) * (1.0 + 50.0 * np.abs(d)))

        for name, val in (
            ("nav", nav_new),
            ("close", np.round(nav_new * (1.0 + prem), 2)),
            ("so_before", before),
            ("so_after", shares),
            ("arb", arb_units * cu),
            ("dem", dem_units * cu),
            ("prem", prem),
            ("pressure", press[f.group]),
            ("informed", z_inf[t, f.group] * informed_on),
            ("dist", dist),
            ("split", k),
            ("nav_ret", ret),
            ("aum_prev", before * nav),
            ("volume", vol),
        ):
            out[name][t] = np.where(alive, val, np.nan)
        nav = nav_new
    return _Paths(**out)


def _opens(p: DemoParams, f: _Funds, paths: _Paths, seed: int) -> F64:
    """Opens: prior NAV moved by `overnight_share` of the session's return, plus an opening premium."""
    eps = np.random.default_rng([seed, 2]).standard_normal(paths.nav.shape)
    first = np.full((1, paths.nav.shape[1]), np.nan)
    prev_nav = np.vstack([first, paths.nav[:-1]]) / paths.split  # in the session's (post-split) units
    prev_prem = np.nan_to_num(np.vstack([first, paths.prem[:-1]]))
    dist = np.nan_to_num(paths.dist)
    moved = prev_nav + p.overnight_share * (paths.nav + dist - prev_nav) - dist
    open_nav = np.where(np.isnan(prev_nav), paths.nav, moved)
    out: F64 = np.round(open_nav * (1.0 + f.prem_phi * prev_prem + f.prem_sd * eps), 2)
    return out


def _resolve_dates(start: dt.date | str | None, end: dt.date | str | None) -> npt.NDArray[np.datetime64]:
    """NYSE sessions of the demo; default: the 12 years ending 2025-12-31."""
    end_d = dt.date.fromisoformat(end) if isinstance(end, str) else end or dt.date(2025, 12, 31)
    if start is None:
        back = end_d - dt.timedelta(days=1) if (end_d.month, end_d.day) == (2, 29) else end_d
        start_d = back.replace(year=back.year - 12) + dt.timedelta(days=1)
    else:
        start_d = dt.date.fromisoformat(start) if isinstance(start, str) else start
    dates = calendar.sessions(start_d, end_d)
    if len(dates) < 2:
        raise ConfigError(f"demo needs at least two NYSE sessions between {start_d} and {end_d}")
    return dates


def build_demo(
    preset: str | DemoParams = "default",
    seed: int = 7,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    tickers: list[str] | None = None,
) -> DemoMarket:
    """Build the seeded synthetic market (same arguments -> identical frames).

    The whole taxonomy is always simulated (group flows drive price pressure); `tickers` only
    selects the funds returned, so a subset is a view of the full build.
    """
    if isinstance(preset, DemoParams):
        params, name = preset, "custom"
    elif preset in PRESETS:
        params, name = PRESETS[preset], preset
    else:
        raise ConfigError(f"unknown demo preset {preset!r}; choose from {', '.join(PRESETS)}")
    if params.so_lag not in (0, 1):
        raise ConfigError(f"so_lag must be 0 or 1, not {params.so_lag}")
    funds = load_taxonomy()
    if tickers is not None:
        missing = sorted(set(tickers) - set(funds["ticker"].to_list()))
        if missing:
            raise NotFoundError(f"not in the demo universe: {', '.join(missing)}")
    dates = _resolve_dates(start, end)
    const = _fund_constants(funds, dates, params)
    paths = _simulate(params, const, len(dates), dates, seed)
    rng = np.random.default_rng([seed, 1])
    so = (paths.so_before if params.so_lag == 1 else paths.so_after).copy()
    events = _plant_artefacts(params, const, paths, so, rng, dates)
    opens = _opens(params, const, paths, seed)

    names = np.array(const.tickers)
    col = np.flatnonzero(np.isin(names, tickers) if tickers is not None else np.ones(len(names), dtype=bool))
    col = col[np.argsort(names[col], kind="stable")]
    ti, rows_t = np.nonzero(~np.isnan(paths.nav[:, col]).T)  # ticker-major, then date
    rows_f = col[ti]
    tick = pl.Series("ticker", names.tolist(), dtype=pl.String).gather(rows_f)
    date = dates[rows_t]

    def take(a: F64) -> F64:
        return np.asarray(a[rows_t, rows_f])

    shares = take(so)
    nav = take(paths.nav)
    retrieved = dt.datetime.combine(dt.date.fromisoformat(str(dates[-1])), dt.time(23, 0), dt.UTC)
    daily = pl.DataFrame(
        {
            "date": pl.Series(date),
            "ticker": tick,
            "source": pl.repeat("demo", len(date), eager=True, dtype=pl.String),
            "open": take(opens),
            "close": take(paths.close),
            "nav": nav,
            "shares_outstanding": pl.Series(shares, nan_to_null=True),
            "total_net_assets": pl.Series(shares * nav, nan_to_null=True),
            "volume": take(paths.volume),
            "split_factor": take(paths.split),
            "distribution": take(paths.dist),
            "so_lag": pl.Series(np.full(len(date), params.so_lag), dtype=pl.Int8),
            "retrieved_at": pl.repeat(retrieved, len(date), eager=True, dtype=pl.Datetime("us", "UTC")),
        }
    )
    change = take(paths.so_after) - take(paths.so_before)
    truth = pl.DataFrame(
        {
            "date": pl.Series(date),
            "ticker": tick,
            "shares": take(paths.so_after),
            "arbitrage_flow_shares": take(paths.arb),
            "demand_flow_shares": take(paths.dem),
            "informed_signal": take(paths.informed),
            "pressure": take(paths.pressure),
            "premium": take(paths.prem),
            "nav_return": take(paths.nav_ret),
            "aum_prev_usd": take(paths.aum_prev),
            "true_flow_usd": change * nav,
        }
    )
    chosen = sorted(names[col].tolist())
    events = events.filter(pl.col("ticker").is_in(chosen)).sort("ticker", "date", "kind")
    fund_frame = funds.filter(pl.col("ticker").is_in(chosen)).with_columns(
        pl.col("creation_unit_shares").fill_null(params.default_creation_unit)
    )
    label = f"SYNTHETIC demo data (etfflow demo market, preset={name}, seed={seed}) - not market data"
    return DemoMarket(
        funds=validate(fund_frame, "funds"),
        daily=validate(daily, "daily"),
        truth=truth,
        events=events,
        params=params,
        label=label,
    )


def _plant_artefacts(
    p: DemoParams,
    f: _Funds,
    paths: _Paths,
    so: F64,
    rng: np.random.Generator,
    dates: npt.NDArray[np.datetime64],
) -> pl.DataFrame:
    """Blank a few shares counts (gaps) and spike one (bad print) in `so`; return every planted event."""
    t_n, n = so.shape
    events: list[tuple[int, int, str, float]] = []
    split_t, split_i = np.nonzero(~np.isnan(paths.split) & (paths.split != 1.0))
    taken = np.zeros((t_n, n), dtype=bool)
    for ts, fs in zip(split_t.tolist(), split_i.tolist(), strict=True):
        events.append((ts, fs, "split", float(paths.split[ts, fs])))
        taken[max(ts - 3, 0) : ts + 4, fs] = True
    events += [(int(f.launch[i]), i, "launch", 0.0) for i in range(n) if 0 < f.launch[i] < t_n]

    def pick(length: int) -> tuple[int, int] | None:
        for _ in range(200):
            i = int(rng.integers(n))
            lo = max(int(f.launch[i]), 0) + 5
            if t_n - 5 - length <= lo:
                continue
            t = int(rng.integers(lo, t_n - 5 - length))
            if not taken[t - 2 : t + length + 2, i].any() and not np.isnan(so[t : t + length, i]).any():
                taken[t - 2 : t + length + 2, i] = True
                return t, i
        return None

    for _ in range(p.n_gaps):
        length = int(rng.integers(1, 4))
        spot = pick(length)
        if spot is not None:
            t, i = spot
            so[t : t + length, i] = np.nan
            events += [(t + j, i, "gap", 0.0) for j in range(length)]
    for _ in range(p.n_bad_prints):
        spot = pick(1)
        if spot is not None:
            t, i = spot
            bad = np.round(so[t, i] * rng.uniform(1.5, 4.0))
            if bad % f.cu[i] == 0:
                bad += 1.0
            events.append((t, i, "bad_print", float(bad / so[t, i])))
            so[t, i] = bad
    return pl.DataFrame(
        {
            "date": pl.Series(dates[np.array([e[0] for e in events], dtype=np.int64)]),
            "ticker": [f.tickers[e[1]] for e in events],
            "kind": [e[2] for e in events],
            "value": [e[3] for e in events],
        },
        schema={"date": pl.Date, "ticker": pl.String, "kind": pl.String, "value": pl.Float64},
    )
