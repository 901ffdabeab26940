"""US studies on the etf.com vendor flows and the shared price sets (pure: arrays in, dicts out).

- ``rotation``: the percentile rotation (reusing `etfflow.backtest`'s percentile signal and threshold
  sweep) in every universe: the funds of each group with >= 3 priced funds, the fine groups against
  each other, the coarse groups, the sector groups of the taxonomy and the broad-market funds;
  daily/weekly/monthly, 1- and 2-year windows, long 1/5/10/20/50%, short 90/95/99%, 0 and 10 bps.
  Parameters are chosen on the first half of each universe's span and reported on the second; every
  configuration counts as a trial for the deflated Sharpe ratio.
- ``flow_events``: forward returns 1-4 weeks after 3-sigma weekly flows, by category; follow vs fade.
- ``readings``: the framework's duration, credit and risk readings against their assets' later returns.
- ``momentum``: flow momentum against the price-momentum baseline.
- ``unexpected``: the Xu-Yin-Zhao decomposition, demand-only (no NAV, so no premium).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from etfflow.backtest import metrics as mt
from etfflow.backtest.data import Panel
from etfflow.backtest.engine import rebalance_mask
from etfflow.backtest.strategies import (
    PER_YEAR,
    FlowMomentumParams,
    PriceMomentumParams,
    UnexpectedFlowParams,
    percentile_signal,
    run_strategy,
)
from etfflow.backtest.sweep import sweep_returns
from etfflow.research.data import UsData
from etfflow.research.stats import deflated_sharpe, headline, split_half_selection

__all__ = [
    "COST_BPS",
    "LONG_THRESHOLDS",
    "SHORT_THRESHOLDS",
    "Universe",
    "flow_events",
    "momentum",
    "profit_loss_by_freq",
    "readings",
    "rotation",
    "unexpected",
    "universes",
    "with_implied_aum",
]

F8 = npt.NDArray[np.float64]
LONG_THRESHOLDS: tuple[float, ...] = (0.01, 0.05, 0.10, 0.20, 0.50)
SHORT_THRESHOLDS: tuple[float, ...] = (0.90, 0.95, 0.99)
WINDOW_YEARS: tuple[int, ...] = (1, 2)
FREQS: tuple[str, ...] = ("d", "w", "m")
COST_BPS: tuple[float, ...] = (0.0, 10.0)
MIN_FUNDS = 3


@dataclass(frozen=True)
class Universe:
    """One cross-section for the rotation: assets with total returns and flows known by each close."""

    name: str
    kind: str
    panel: Panel
    members: dict[str, tuple[str, ...]]


def _implied_aum(returns: F8, flow_trade: F8) -> F8:
    """AUM_t = AUM_t-1 (1 + r_t) + flow_t from the first flow on (a proxy: no share counts exist)."""
    n_t, n_a = returns.shape
    out = np.full((n_t, n_a), np.nan)
    a = np.zeros(n_a)
    started = np.zeros(n_a, dtype=np.bool_)
    for t in range(n_t):
        f = flow_trade[t]
        r = returns[t]
        started |= np.isfinite(f)
        a = np.where(
            started, a * (1.0 + np.where(np.isfinite(r), r, 0.0)) + np.where(np.isfinite(f), f, 0.0), 0.0
        )
        out[t] = np.where(started & (a > 0), a, np.nan)
    return out


def with_implied_aum(panel: Panel) -> Panel:
    """The panel with AUM implied from its flows (known flows moved back to their trade date)."""
    ft = np.full(panel.returns.shape, np.nan)
    ft[:-1] = panel.flow_usd[1:]
    return dataclasses.replace(panel, aum=_implied_aum(panel.returns, ft))


def _panel(us: UsData, names: Sequence[str], returns: F8, flow_known: F8, aum: F8, label: str) -> Panel:
    n_t, n_a = returns.shape
    prev = np.vstack([np.full((1, n_a), np.nan), aum[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        flow_pct = np.where(prev > 0, flow_known / prev, np.nan)
    nan = np.full((n_t, n_a), np.nan)
    return Panel(
        dates=us.dates,
        assets=tuple(names),
        returns=returns,
        open_returns=None,
        priced=np.isfinite(returns),
        premium=nan,
        aum=aum,
        flow_usd=flow_known,
        flow_pct=flow_pct,
        trade_flow_pct=None,
        known_index=None,
        basis="prices",
        label=label,
    )


def fund_panel(us: UsData, names: Sequence[str] | None = None) -> Panel:
    """Fund-level panel (trade-date flows as % of the implied AUM, for the flow regressions)."""
    pos = {t: j for j, t in enumerate(us.tickers)}
    sel = [t for t in (names or us.tickers) if t in us.price_source]
    idx = np.array([pos[t] for t in sel], dtype=np.int64)
    r = np.ascontiguousarray(us.returns[:, idx])
    ft = np.ascontiguousarray(us.flow_trade[:, idx])
    aum = _implied_aum(r, ft)
    p = _panel(us, sel, r, np.ascontiguousarray(us.flow_known[:, idx]), aum, "real: etf.com flows")
    prev = np.vstack([np.full((1, len(sel)), np.nan), aum[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        tpct = np.where(prev > 0, ft / prev, np.nan)
    return dataclasses.replace(
        p,
        trade_flow_pct=tpct,
        known_index=np.ascontiguousarray(us.known_index[:, idx]),
        members={t: (t,) for t in sel},
    )


def _group_arrays(
    us: UsData, groups: dict[str, list[str]]
) -> tuple[list[str], F8, F8, dict[str, tuple[str, ...]]]:
    """Groups as assets: equal-weight return of the priced members, members' known flows summed."""
    pos = {t: j for j, t in enumerate(us.tickers)}
    names, rets, flows, members = [], [], [], {}
    for g, tick in groups.items():
        idx = [pos[t] for t in tick]
        r = us.returns[:, idx]
        f = us.flow_known[:, idx]
        with np.errstate(invalid="ignore"):
            rets.append(
                np.where(
                    np.isfinite(r).any(axis=1),
                    np.nanmean(np.where(np.isfinite(r), r, np.nan), axis=1),
                    np.nan,
                )
            )
        flows.append(np.where(np.isfinite(f).any(axis=1), np.nansum(f, axis=1), np.nan))
        names.append(g)
        members[g] = tuple(tick)
    return names, np.column_stack(rets), np.column_stack(flows), members


def universes(us: UsData) -> list[Universe]:
    """Every cross-section of the rotation study (see the module docstring)."""
    g = us.groups.filter(pl.col("ticker").is_in(list(us.price_source)))
    out: list[Universe] = []
    pos = {t: j for j, t in enumerate(us.tickers)}
    fine: dict[str, list[str]] = {}
    for grp, part in g.group_by("group", maintain_order=True):
        tick = sorted(part["ticker"].to_list())
        name = str(grp[0])
        if len(tick) >= MIN_FUNDS and name != "Unclassified":
            fine[name] = tick
    for name in sorted(fine):
        tick = fine[name]
        idx = np.array([pos[t] for t in tick], dtype=np.int64)
        r = np.ascontiguousarray(us.returns[:, idx])
        p = _panel(us, tick, r, np.ascontiguousarray(us.flow_known[:, idx]), np.full(r.shape, np.nan), "real")
        out.append(Universe(f"funds in {name}", "funds", p, {t: (t,) for t in tick}))

    def grouped(label: str, kind: str, groups: dict[str, list[str]]) -> None:
        if len(groups) < MIN_FUNDS:
            return
        names, r, f, members = _group_arrays(us, groups)
        p = _panel(us, names, r, f, np.full(r.shape, np.nan), "real")
        out.append(Universe(label, kind, p, members))

    grouped("fine groups", "groups", fine)
    coarse: dict[str, list[str]] = {}
    for grp, part in g.filter(pl.col("coarse") != "Unclassified").group_by("coarse", maintain_order=True):
        coarse[str(grp[0])] = sorted(part["ticker"].to_list())
    grouped("coarse groups", "groups", dict(sorted(coarse.items())))
    sect: dict[str, list[str]] = {}
    for row in g.filter(pl.col("framework_category") == "sector").iter_rows(named=True):
        sect.setdefault(row["group"].split(": ", 1)[1], []).append(row["ticker"])
    grouped("taxonomy sectors (Select Sector SPDRs and alternatives)", "groups", dict(sorted(sect.items())))
    broad = sorted(g.filter(pl.col("framework_category") == "broad_market")["ticker"].to_list())
    if len(broad) >= MIN_FUNDS:
        idx = np.array([pos[t] for t in broad], dtype=np.int64)
        r = np.ascontiguousarray(us.returns[:, idx])
        p = _panel(
            us, broad, r, np.ascontiguousarray(us.flow_known[:, idx]), np.full(r.shape, np.nan), "real"
        )
        out.append(Universe("broad-market funds", "funds", p, {t: (t,) for t in broad}))
    return out


def _stats(r: F8, bench: F8, net_expo: F8, dates: npt.NDArray[np.datetime64], turnover: F8) -> dict[str, Any]:
    h = headline(r)
    prev = np.concatenate([[0.0], net_expo[:-1]])
    act = r - prev * bench
    at = mt.mean_return_tstat(act)
    return {
        **h.as_dict(),
        "benchmark_annual_return": mt.annual_return(bench),
        "benchmark_sharpe": mt.sharpe(bench),
        "active_return": float(np.nanmean(act) * mt.PERIODS_PER_YEAR),
        "active_t": at.t,
        "turnover": mt.turnover(turnover),
        "time_invested": mt.time_invested(net_expo),
        "profit_loss": mt.profit_loss_ratio(r, dates),
        "start": str(dates[0]),
        "end": str(dates[-1]),
    }


def rotation(u: Universe, *, cost_bps: Sequence[float] = COST_BPS) -> dict[str, Any]:
    """All configurations of the percentile rotation on one universe; split-half choice; DSR."""
    panel = u.panel
    signals: dict[str, dict[int, F8]] = {}
    first = 0
    for f in FREQS:
        ends = rebalance_mask(panel.dates, f)  # type: ignore[arg-type]
        signals[f] = {}
        for y in WINDOW_YEARS:
            sig = percentile_signal(panel, f, max(2, y * PER_YEAR[f]))
            signals[f][y] = sig
            ok = np.flatnonzero(np.isfinite(sig).any(axis=1) & ends)
            if ok.size == 0:
                return {
                    "universe": u.name,
                    "kind": u.kind,
                    "assets": list(panel.assets),
                    "skipped": "too little history",
                }
            first = max(first, int(ok[0]))
    lo, hi = panel.returns_span()
    lo = max(lo, first)
    if hi - lo < 252:
        return {
            "universe": u.name,
            "kind": u.kind,
            "assets": list(panel.assets),
            "skipped": "under a year to evaluate",
        }
    dates = panel.dates[lo:hi]
    rets = np.where(np.isfinite(panel.returns[lo:hi]), panel.returns[lo:hi], np.nan)
    combos, series, turns, nexp = [], [], [], []
    bench = np.zeros(0)
    for f in FREQS:
        sl = {y: s[lo:hi] for y, s in signals[f].items()}
        for side, pairs in (
            ("long", [(q, 1.01) for q in LONG_THRESHOLDS]),
            ("short", [(-0.01, q) for q in SHORT_THRESHOLDS]),
        ):
            sw = sweep_returns(
                sl,
                rets,
                dates,
                thresholds=pairs,
                freqs=[f],  # type: ignore[list-item]
                sides=[side],  # type: ignore[list-item]
                cost_bps=list(cost_bps),
                key_name="window_years",
            )
            c = sw.combos.with_columns(
                pl.when(pl.col("side") == "long")
                .then(pl.col("lower"))
                .otherwise(pl.col("upper"))
                .alias("threshold")
            ).drop("lower", "upper")
            combos.append(c)
            series.append(sw.returns)
            turns.append(sw.turnover)
            nexp.append(sw.net_exposure)
            bench = sw.benchmark
    table = pl.concat(combos)
    r_all = np.vstack(series)
    t_all = np.vstack(turns)
    e_all = np.vstack(nexp)
    sharpe_all = np.array([mt.sharpe(x) for x in r_all])
    table = table.with_columns(
        pl.Series("annual_return", [mt.annual_return(x) for x in r_all]),
        pl.Series("sharpe", sharpe_all),
        pl.Series("turnover", [mt.turnover(x) for x in t_all]),
        pl.Series("profit_loss", [mt.profit_loss_ratio(x, dates) for x in r_all]),
        pl.Series("t_stat", [mt.mean_return_tstat(x).t for x in r_all]),
    )
    out: dict[str, Any] = {
        "universe": u.name,
        "kind": u.kind,
        "assets": list(panel.assets),
        "members": {k: list(v) for k, v in u.members.items()},
        "start": str(dates[0]),
        "end": str(dates[-1]),
        "n_configs": int(table.filter(pl.col("cost_bps") == cost_bps[0]).height),
        "benchmark": {"annual_return": mt.annual_return(bench), "sharpe": mt.sharpe(bench)},
        "configs": table.to_dicts(),
    }
    # split-half choice per side among the configurations net of the highest cost
    cmax = max(cost_bps)
    for side in ("long", "short"):
        rows = np.flatnonzero((table["side"] == side).to_numpy() & (table["cost_bps"] == cmax).to_numpy())
        sel = split_half_selection(r_all[rows])
        if sel["chosen"] < 0:
            out[f"oos_{side}"] = None
            continue
        k = int(rows[sel["chosen"]])
        mid = int(sel["split"])
        cfg = table.row(k, named=True)
        out[f"oos_{side}"] = {
            "config": {c: cfg[c] for c in ("window_years", "threshold", "freq", "side", "cost_bps")},
            "first_half": {
                "start": str(dates[0]),
                "end": str(dates[mid - 1]),
                "sharpe": mt.sharpe(r_all[k, :mid]),
            },
            "dsr_in_sample": sel["dsr_in_sample"],
            "second_half": _stats(r_all[k, mid:], bench[mid:], e_all[k, mid:], dates[mid:], t_all[k, mid:]),
        }
        # full-span best, deflated for the number of configurations of this side and cost
        full = np.array([mt.sharpe(x) for x in r_all[rows]]) / math.sqrt(mt.PERIODS_PER_YEAR)
        okf = np.isfinite(full)
        if okf.sum() > 1:
            best = int(rows[int(np.nanargmax(np.where(okf, full, -np.inf)))])
            out[f"best_full_{side}"] = {
                "config": {
                    c: table.row(best, named=True)[c] for c in ("window_years", "threshold", "freq", "side")
                },
                "stats": _stats(r_all[best], bench, e_all[best], dates, t_all[best]),
                "dsr": deflated_sharpe(r_all[best], int(okf.sum()), float(np.var(full[okf], ddof=1))),
            }
    # the published presets, full span, gross and net
    presets = {
        "weekly 5% 2y": ("w", 2, 0.05),
        "weekly 10% 1y": ("w", 1, 0.10),
        "monthly 10% 1y": ("m", 1, 0.10),
        "daily 1% 1y": ("d", 1, 0.01),
    }
    out["presets"] = {}
    for name, (f, y, q) in presets.items():
        for cb in cost_bps:
            m = (
                (table["freq"] == f).to_numpy()
                & (table["window_years"] == y).to_numpy()
                & np.isclose(table["threshold"].to_numpy(), q)
                & (table["side"] == "long").to_numpy()
                & (table["cost_bps"] == cb).to_numpy()
            )
            k = int(np.flatnonzero(m)[0])
            out["presets"][f"{name} @ {cb:g} bps"] = _stats(r_all[k], bench, e_all[k], dates, t_all[k])
    return out


def profit_loss_by_freq(rotations: Sequence[dict[str, Any]], cost_bps: float = 10.0) -> dict[str, Any]:
    """Median monthly profit/loss ratio and Sharpe of the long configurations per rebalancing frequency,
    over every universe (Huatai: monthly rebalancing had the best profit/loss ratio)."""
    rows = [
        c
        for r in rotations
        if "configs" in r
        for c in r["configs"]
        if c["side"] == "long" and c["cost_bps"] == cost_bps
    ]
    out: dict[str, Any] = {"cost_bps": cost_bps}
    for f in FREQS:
        pl_ = np.array([_nan(c["profit_loss"]) for c in rows if c["freq"] == f])
        sh = np.array([_nan(c["sharpe"]) for c in rows if c["freq"] == f])
        out[f] = {
            "median_profit_loss": float(np.nanmedian(pl_)) if np.isfinite(pl_).any() else math.nan,
            "median_sharpe": float(np.nanmedian(sh)) if np.isfinite(sh).any() else math.nan,
            "n_configs": int(pl_.size),
        }
    return out


def _nan(x: Any) -> float:
    return math.nan if x is None else float(x)


# --- 3-sigma events and follow vs fade -----------------------------------------------------------


def _weekly(us: UsData) -> tuple[npt.NDArray[np.int64], F8, F8]:
    """Week-end rows, flows known within each week (sum), and log growth per session (for fwd returns)."""
    ends = np.flatnonzero(rebalance_mask(us.dates, "w"))
    f = us.flow_known
    fin = np.isfinite(f)
    cs = np.vstack([np.zeros((1, f.shape[1])), np.cumsum(np.where(fin, f, 0.0), axis=0)])
    cc = np.vstack([np.zeros((1, f.shape[1])), np.cumsum(fin, axis=0)])
    e1 = ends + 1
    s0 = np.concatenate([[0], e1[:-1]])
    wk = cs[e1] - cs[s0]
    wk = np.where(cc[e1] - cc[s0] > 0, wk, np.nan)
    r = us.returns
    lg = np.vstack([np.zeros((1, r.shape[1])), np.cumsum(np.log1p(np.where(np.isfinite(r), r, 0.0)), axis=0)])
    cnt = np.vstack([np.zeros((1, r.shape[1])), np.cumsum(np.isfinite(r), axis=0)])
    fwd = np.full((len(ends), r.shape[1], 4), np.nan)
    for h in range(1, 5):
        a = ends + 1
        b_idx = np.minimum(np.arange(len(ends)) + h, len(ends) - 1)
        b = ends[b_idx] + 1
        valid = (np.arange(len(ends)) + h) < len(ends)
        n_ret = cnt[b] - cnt[a]
        need = (b - a) * 0.8
        g = np.expm1(lg[b] - lg[a])
        fwd[:, :, h - 1] = np.where(valid[:, None] & (n_ret >= need[:, None]) & (n_ret > 0), g, np.nan)
    return ends, wk, fwd


def _zscore_trailing(x: F8, window: int = 52, min_obs: int = 26) -> F8:
    """(x_t - mean) / std of the previous `window` values (x_t excluded), NaN-aware."""
    n_t, n_a = x.shape
    out = np.full((n_t, n_a), np.nan)
    for t in range(min_obs, n_t):
        w = x[max(0, t - window) : t]
        cnt = np.isfinite(w).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = np.nanmean(np.where(cnt >= min_obs, 1.0, np.nan) * w, axis=0)
            sd = np.nanstd(np.where(cnt >= min_obs, 1.0, np.nan) * w, axis=0, ddof=1)
            out[t] = np.where((cnt >= min_obs) & (sd > 0), (x[t] - mu) / sd, np.nan)
    return out


def _mean_t(per_week: list[float]) -> dict[str, float]:
    x = np.array(per_week, dtype=np.float64)
    if x.size < 3:
        return {"mean": float(np.mean(x)) if x.size else math.nan, "t": math.nan, "n_weeks": float(x.size)}
    tt = mt.mean_return_tstat(x)
    rng = np.random.default_rng(0)
    boots = np.array([np.mean(x[rng.integers(0, x.size, x.size)]) for _ in range(500)])
    lo, hi = np.quantile(boots, [0.025, 0.975])
    return {
        "mean": float(np.mean(x)),
        "t": tt.t,
        "ci_low": float(lo),
        "ci_high": float(hi),
        "n_weeks": float(x.size),
    }


def flow_events(us: UsData, *, sigma: float = 3.0) -> dict[str, Any]:
    """Forward excess returns (fund minus the equal weight of its category) 1-4 weeks after |z| >= sigma.

    z = the week's known flow against the mean and standard deviation of the fund's previous 52 weeks
    (at least 26). Excess returns are averaged per event week first (events in one week share the
    market), then tested with a Newey-West t across weeks. Signed = sign(flow) x excess: > 0 means
    the flow was followed by outperformance (follow), < 0 by underperformance (fade).
    """
    ends, wk, fwd = _weekly(us)
    z = _zscore_trailing(wk)
    cats = us.groups.select("ticker", "coarse").to_dict(as_series=False)
    cat_of = dict(zip(cats["ticker"], cats["coarse"], strict=True))
    labels = np.array([cat_of.get(t, "Unclassified") for t in us.tickers])
    out: dict[str, Any] = {"sigma": sigma, "by_category": {}}
    for cat in sorted(set(labels.tolist())):
        cols = np.flatnonzero(labels == cat)
        if cols.size < MIN_FUNDS:
            continue
        fc = fwd[:, cols, :]
        with np.errstate(invalid="ignore"):
            ew = np.nanmean(fc, axis=1, keepdims=True)
        ex = fc - ew
        zc = z[:, cols]
        res: dict[str, Any] = {"n_funds": int(cols.size)}
        for name, mask in (("inflow", zc >= sigma), ("outflow", zc <= -sigma)):
            res[f"n_{name}_events"] = int(mask.sum())
            for h in range(4):
                per_week = [
                    float(np.nanmean(ex[t, mask[t], h]))
                    for t in range(len(ends))
                    if mask[t].any() and np.isfinite(ex[t, mask[t], h]).any()
                ]
                res[f"{name}_{h + 1}w"] = _mean_t(per_week)
        signed = np.where(np.abs(zc) >= sigma, np.sign(zc), np.nan)
        for h in range(4):
            v = signed[:, :, None] * ex[:, :, h : h + 1]
            per_week = [float(np.nanmean(v[t])) for t in range(len(ends)) if np.isfinite(v[t]).any()]
            res[f"signed_{h + 1}w"] = _mean_t(per_week)
        # follow vs fade on every week (not only events): sign of the week's flow z
        allsig = np.sign(zc)
        v = allsig * ex[:, :, 3]
        per_week = [float(np.nanmean(v[t])) for t in range(len(ends)) if np.isfinite(v[t]).any()]
        res["all_weeks_signed_4w"] = _mean_t(per_week)
        m = res["signed_4w"]["mean"]
        res["reading"] = "follow" if m > 0 else "fade" if m < 0 else "none"
        out["by_category"][cat] = res
    return out


# --- framework readings --------------------------------------------------------------------------

READINGS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    "duration": (
        ("EDV", "ZROZ", "VGLT", "SPTL", "TLH"),
        ("SHY", "BIL", "SGOV", "SCHO", "VGSH", "SPTS"),
        "long minus short Treasuries",
    ),
    "credit": (("HYG", "JNK", "SJNK", "USHY"), ("LQD", "VCIT", "IGSB"), "high yield minus investment grade"),
    "risk": (
        ("SPY", "IVV", "VOO", "QQQ"),
        ("BIL", "SGOV", "SHY"),
        "broad equity minus T-bills/short Treasuries",
    ),
}


def _tilt(a: F8, b: F8) -> F8:
    with np.errstate(invalid="ignore", divide="ignore"):
        den = 2.0 * (np.abs(a) + np.abs(b))
        return np.where(den > 0, 0.5 + (a - b) / np.where(den > 0, den, 1.0), np.nan)


def readings(us: UsData, *, weeks: int = 4) -> dict[str, Any]:
    """Each reading (tilt of the last `weeks` weeks' flows, side a vs side b) against the next 1-4 weeks'
    return of side a minus side b (equal weight of the priced funds of each side)."""
    _ends, wk, fwd = _weekly(us)
    pos = {t: j for j, t in enumerate(us.tickers)}
    out: dict[str, Any] = {}
    for name, (a_side, b_side, what) in READINGS.items():
        ia = [pos[t] for t in a_side if t in pos and t in us.price_source]
        ib = [pos[t] for t in b_side if t in pos and t in us.price_source]
        if not ia or not ib:
            out[name] = {"skipped": "funds missing"}
            continue
        fa = np.nansum(wk[:, ia], axis=1)
        fb = np.nansum(wk[:, ib], axis=1)
        ka = np.convolve(fa, np.ones(weeks), "full")[: len(fa)]
        kb = np.convolve(fb, np.ones(weeks), "full")[: len(fb)]
        tilt = _tilt(ka, kb)
        tilt[: weeks - 1] = np.nan
        with np.errstate(invalid="ignore"):
            spread = np.nanmean(fwd[:, ia, :], axis=1) - np.nanmean(fwd[:, ib, :], axis=1)
        res: dict[str, Any] = {
            "a": [us.tickers[i] for i in ia],
            "b": [us.tickers[i] for i in ib],
            "spread": what,
        }
        for h in range(4):
            s = spread[:, h]
            ok = np.isfinite(s) & np.isfinite(tilt)
            hi_ = ok & (tilt > 0.5)
            lo_ = ok & (tilt < 0.5)
            signed = np.where(hi_, s, np.where(lo_, -s, np.nan))
            step = h + 1  # non-overlapping sample for the t-stat
            sub = signed[::step]
            res[f"{h + 1}w"] = {
                "mean_spread_when_a_favoured": float(np.nanmean(s[hi_])) if hi_.any() else math.nan,
                "mean_spread_when_b_favoured": float(np.nanmean(s[lo_])) if lo_.any() else math.nan,
                "n_a_favoured": int(hi_.sum()),
                "n_b_favoured": int(lo_.sum()),
                "corr": float(np.corrcoef(tilt[ok], s[ok])[0, 1]) if ok.sum() > 2 else math.nan,
                "follow": _mean_t([float(v) for v in sub if np.isfinite(v)]),
            }
        out[name] = res
    return out


# --- momentum and unexpected flow ----------------------------------------------------------------


def momentum(us: UsData, panel: Panel) -> dict[str, Any]:
    """flow_momentum vs price_momentum on one panel; flow momentum's alpha over price momentum."""
    runs = {}
    series = {}
    for name, strat, params in (
        ("flow_momentum", "flow_momentum", FlowMomentumParams()),
        ("price_momentum", "price_momentum", PriceMomentumParams()),
    ):
        run = run_strategy(panel, strat, params=params, n_boot=500)
        h = headline(np.asarray(run.result.returns))
        runs[name] = {
            **h.as_dict(),
            "active_return": run.stats["active_return"],
            "active_t": run.stats["active_t_stat"],
            "turnover": run.stats["turnover"],
            "start": str(run.result.dates[0]),
            "end": str(run.result.dates[-1]),
        }
        series[name] = (run.result.dates, np.asarray(run.result.returns))
    d1, r1 = series["flow_momentum"]
    d2, r2 = series["price_momentum"]
    common, i1, i2 = np.intersect1d(d1, d2, return_indices=True)
    x, y = r2[i2], r1[i1]
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    beta = float(np.cov(x, y)[0, 1] / np.var(x, ddof=1)) if x.size > 2 and np.var(x) > 0 else math.nan
    resid = y - beta * x
    tt = mt.mean_return_tstat(resid)
    runs["flow_vs_price"] = {
        "correlation": float(np.corrcoef(x, y)[0, 1]) if x.size > 2 else math.nan,
        "beta": beta,
        "alpha_annual": float(np.mean(resid) * mt.PERIODS_PER_YEAR),
        "alpha_t": tt.t,
        "n_days": int(common.size),
    }
    return runs


def unexpected(panel: Panel) -> dict[str, Any]:
    """Xu-Yin-Zhao on the fund panel, demand-only regressors (no NAV, so no premium): both readings."""
    regs = ("ret", "ret_lag1", "ret_5", "flow_lag1", "flow_5")
    out: dict[str, Any] = {
        "regressors": list(regs),
        "label": "demand-only decomposition (no NAV: no premium/arbitrage driver)",
    }
    for direction in ("informed", "contrarian"):
        for cost in COST_BPS:
            p = UnexpectedFlowParams(regressors=regs, direction=direction, cost_bps=cost)
            run = run_strategy(panel, "unexpected_flow", params=p, n_boot=500)
            h = headline(np.asarray(run.result.returns))
            out[f"{direction} @ {cost:g} bps"] = {
                **h.as_dict(),
                "turnover": run.stats["turnover"],
                "start": str(run.result.dates[0]),
                "end": str(run.result.dates[-1]),
            }
    return out
