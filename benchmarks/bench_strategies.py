"""Strategy sweep speed: the real percentile_rotation path, 1,080 combos, 11 sectors x 25 years, vs pandas.

Path timed (what `etfflow backtest percentile_rotation --sweep` runs once the panel is loaded): group
aggregation of 39 sector funds into 11 sectors (primary fund's return, summed flows), per-period flow
sums by availability date and rolling percentiles for every window x frequency, then the threshold
sweep and its metrics. Grid: 10 thresholds x 6 windows (0.5 .. 4 years) x 3 frequencies (d, w, m) x
3 sides x 2 cost levels = 1,080 combos. Data: seeded synthetic fund returns and daily flows over the
6,300 NYSE sessions ending 2024-12-31 (XLRE and XLC listed late, as in life).

The pandas reference does the same per combo the straightforward way (group sums, period sums,
rolling rank, masks, forward-filled weights between rebalances, costs on turnover vs drifted weights)
with constant-weight holding, so agreement is checked against etfflow with holding="fixed"; the
target is timed with etfflow's default buy-and-hold drift. Pandas is timed on a random subset of
combos and extrapolated (say --pandas-combos 1080 for all).

Run: .venv/bin/python benchmarks/bench_strategies.py [--pandas-combos N] [--seed S]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from etfflow import calendar
from etfflow.backtest.data import Panel, sector_panel
from etfflow.backtest.engine import Backtest
from etfflow.backtest.strategies import (
    PER_YEAR,
    PercentileRotationParams,
    default_upper,
    percentile_rotation,
    sweep_percentile_rotation,
)
from etfflow.universe import sector_funds

N_DAYS = 6300
LATE = {"XLRE": 3900, "XLC": 4700}
THRESHOLDS = [0.01, 0.02, 0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.40, 0.50]
WINDOW_YEARS = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0]
FREQS = ["d", "w", "m"]
SIDES: list[Any] = ["long", "short", "long_short"]
COSTS = [0.0, 5.0]
TARGET_S = 5.0


def synthetic(seed: int) -> tuple[Panel, pl.DataFrame]:
    """A fund-level panel of the 39 sector funds (flows by availability date) and their taxonomy rows."""
    funds = sector_funds(primary_only=False)
    tick = funds["ticker"].to_list()
    groups = funds["group"].to_list()
    gid = {g: i for i, g in enumerate(sorted(set(groups)))}
    dates = calendar.sessions(end="2024-12-31")[-N_DAYS:]
    rng = np.random.default_rng(seed)
    n_f, n_g = len(tick), len(gid)
    market = rng.normal(0.0003, 0.011, N_DAYS)
    sector = rng.normal(0.0, 0.006, (N_DAYS, n_g))
    g_of = np.array([gid[g] for g in groups])
    rets = (
        market[:, None] * rng.uniform(0.7, 1.3, n_f) + sector[:, g_of] + rng.normal(0, 0.004, (N_DAYS, n_f))
    )
    aum = 1e9 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, (N_DAYS, n_f)), axis=0))
    flows = np.empty((N_DAYS, n_f))
    flows[0] = 0.0
    shocks = rng.standard_t(4, (N_DAYS, n_f))
    for t in range(1, N_DAYS):  # trend-chasing AR(1) flows, % of AUM, known one session later
        flows[t] = 0.4 * flows[t - 1] + 0.2 * rets[t - 1] + 0.002 * shocks[t]
    flow_usd = np.vstack([np.full((1, n_f), np.nan), (flows * aum)[:-1]])
    for name, start in LATE.items():
        j = tick.index(name)
        rets[:start, j] = np.nan
        flow_usd[:start, j] = np.nan
        aum[:start, j] = np.nan
    priced = np.isfinite(rets)
    panel = Panel(
        dates=dates,
        assets=tuple(tick),
        returns=rets,
        open_returns=None,
        priced=priced,
        premium=np.zeros_like(rets),
        aum=aum,
        flow_usd=flow_usd,
        flow_pct=flow_usd / aum,
        trade_flow_pct=None,
        known_index=None,
        basis="nav",
    )
    return panel, funds


def rebal_pandas(idx: pd.DatetimeIndex, freq: str) -> pd.Series:
    """Last session of each period (the final row only if the NYSE calendar ends its period there)."""
    if freq == "d":
        return pd.Series(True, index=idx)
    ext = idx.append(pd.DatetimeIndex(calendar.shift_sessions(idx[-1:].to_numpy(), 1)))
    key = ext.to_period({"w": "W-SUN", "m": "M"}[freq])
    return pd.Series(key[:-1] != key[1:], index=idx)


def pandas_signal(
    fund_flows: pd.DataFrame, groups: pd.Series, priced: pd.DataFrame, freq: str, window: int
) -> pd.DataFrame:
    """Percentile signal per sector the straightforward way: group sums, period sums, rolling rank."""
    gflow = fund_flows.T.groupby(groups).sum(min_count=1).T[priced.columns]
    ends = rebal_pandas(gflow.index, freq)
    period = ends.shift(1, fill_value=False).cumsum()
    per = gflow.groupby(period.to_numpy()).sum(min_count=1)
    pct = per.rolling(window, min_periods=window).rank(method="max", pct=True)
    end_rows = gflow.index[ends.to_numpy()]
    sig = pd.DataFrame(np.nan, index=gflow.index, columns=gflow.columns)
    sig.loc[end_rows] = pct.iloc[: len(end_rows)].to_numpy()
    return sig.ffill().where(priced)


def pandas_combo(
    sig: pd.DataFrame, rets: pd.DataFrame, q: float, freq: str, side: str, cost: float
) -> pd.Series:
    """Daily net returns of one combo with constant-weight holding (signal already sliced to the span)."""
    long_m = sig <= q
    short_m = sig >= default_upper(q)
    leg = 1.0 if side in ("long", "short") else 0.5
    w_long = long_m.div(long_m.sum(axis=1).replace(0, np.nan), axis=0).fillna(0) * leg
    w_short = short_m.div(short_m.sum(axis=1).replace(0, np.nan), axis=0).fillna(0) * leg
    weights = {"long": w_long, "short": -w_short, "long_short": w_long - w_short}[side]
    rebal = rebal_pandas(rets.index, freq)
    held = weights.where(rebal, np.nan).ffill().fillna(0.0)
    r0 = rets.fillna(0.0)
    prev = held.shift(1).fillna(0.0)
    gross = (prev * r0).sum(axis=1)
    pre = prev.mul(1 + r0).div(1 + gross, axis=0)
    turnover = (held - pre).abs().sum(axis=1)
    return (1 + gross) * (1 - cost * 1e-4 * turnover) - 1


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--pandas-combos", type=int, default=60, help="pandas combos to time (1080 = all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    funds_panel, funds = synthetic(args.seed)
    print(
        f"data: {len(funds_panel.assets)} sector funds -> 11 sectors x {N_DAYS} sessions "
        f"({funds_panel.dates[0]} .. {funds_panel.dates[-1]}), seed {args.seed}"
    )
    grid: dict[str, Any] = {
        "thresholds": THRESHOLDS,
        "window_years": WINDOW_YEARS,
        "freqs": FREQS,
        "sides": SIDES,
        "cost_bps": COSTS,
    }
    # warm-up: compile the numba kernels on a slice (cached on disk after the first run)
    cut = {
        k: getattr(funds_panel, k)[:600]
        for k in ("returns", "priced", "premium", "aum", "flow_usd", "flow_pct")
    }
    small = dataclasses.replace(funds_panel, dates=funds_panel.dates[:600], **cut)
    _, t_warm = timed(
        lambda: sweep_percentile_rotation(sector_panel(small, funds), window_years=[0.5], freqs=["w"])
    )

    def path(holding: Any) -> pl.DataFrame:
        return sweep_percentile_rotation(sector_panel(funds_panel, funds), holding=holding, **grid)

    table, t_drift = timed(lambda: path("drift"))
    table_fixed, t_fixed = timed(lambda: path("fixed"))
    sp, t_group = timed(lambda: sector_panel(funds_panel, funds))
    n_combo = table.height

    # pandas reference on a random subset of combos, extrapolated
    idx = pd.DatetimeIndex(funds_panel.dates)
    fflows = pd.DataFrame(funds_panel.flow_usd, index=idx, columns=list(funds_panel.assets))
    grp = pd.Series(funds["group"].to_list(), index=funds["ticker"].to_list())
    rets = pd.DataFrame(sp.returns, index=idx, columns=list(sp.assets))
    priced = pd.DataFrame(sp.priced, index=idx, columns=list(sp.assets))
    combos = list(itertools.product(WINDOW_YEARS, THRESHOLDS, FREQS, SIDES, COSTS))
    # the sweep's common span starts when the longest window has a signal in every frequency
    longest = max(WINDOW_YEARS)
    lo = 0
    for f in FREQS:
        s = pandas_signal(fflows, grp, priced, f, max(2, round(longest * PER_YEAR[f])))
        lo = max(
            lo, int(np.flatnonzero(s.notna().any(axis=1).to_numpy() & rebal_pandas(idx, f).to_numpy())[0])
        )
    rng = np.random.default_rng(args.seed)
    k = min(args.pandas_combos, len(combos))
    pick = sorted(rng.choice(len(combos), size=k, replace=False).tolist())
    t0 = time.perf_counter()
    pandas_nets = []
    for i in pick:
        wy, q, f, side, c = combos[i]
        sig = pandas_signal(fflows, grp, priced, f, max(2, round(wy * PER_YEAR[f])))
        net = pandas_combo(sig.iloc[lo:], rets.iloc[lo:], q, f, side, c)
        wealth = (1 + net).cumprod()
        with np.errstate(invalid="ignore", divide="ignore"):  # never-invested combos have zero volatility
            _ = (wealth.iloc[-1] ** (252 / len(net)) - 1, net.mean() / net.std() * np.sqrt(252))
        pandas_nets.append(net.to_numpy())
    t_pandas_k = time.perf_counter() - t0
    t_pandas = t_pandas_k / k * len(combos)

    # agreement: etfflow's own decisions through the engine (fixed holding) vs pandas, same combos
    bt = Backtest.from_arrays(sp.returns[lo:], sp.dates[lo:], sp.assets)
    worst = 0.0
    for j, i in enumerate(pick[:20]):
        wy, q, f, side, c = combos[i]
        dec = percentile_rotation(
            sp, PercentileRotationParams(max(2, round(wy * PER_YEAR[f])), q, freq=f, side=side)
        )
        res = bt.run(dec.weights[lo:], rebalance=f, cost_bps=c, holding="fixed")  # type: ignore[arg-type]
        worst = max(worst, float(np.max(np.abs(res.returns - pandas_nets[j]))))
    fixed_row = table_fixed.filter(
        (pl.col("window_years") == combos[pick[0]][0])
        & (pl.col("threshold") == combos[pick[0]][1])
        & (pl.col("freq") == combos[pick[0]][2])
        & (pl.col("side") == combos[pick[0]][3])
        & (pl.col("cost_bps") == combos[pick[0]][4])
    )
    p0 = pd.Series(pandas_nets[0])
    sharpe_pd = float(p0.mean() / p0.std() * np.sqrt(252))

    exact = "measured" if k == len(combos) else f"extrapolated from {k}"
    verdict = "met" if t_drift < TARGET_S else "NOT met"
    lines = [
        f"grid: {len(THRESHOLDS)} thresholds x {len(WINDOW_YEARS)} windows x {len(FREQS)} freqs x "
        f"{len(SIDES)} sides x {len(COSTS)} costs = {n_combo} combos",
        f"numba warm-up (cached after the first run)          {t_warm:8.3f} s",
        f"group aggregation alone (39 funds -> 11 sectors)   {t_group:8.3f} s",
        f"etfflow path, {n_combo} combos, drift holding      {t_drift:8.3f} s  (all steps above)",
        f"etfflow path, {n_combo} combos, fixed holding      {t_fixed:8.3f} s",
        f"pandas {k} combos timed                    {t_pandas_k:8.3f} s  ({1e3 * t_pandas_k / k:.1f} ms)",
        f"pandas {len(combos)} combos ({exact})       {t_pandas:8.3f} s",
        f"ratio pandas / etfflow (fixed, same bookkeeping)    {t_pandas / t_fixed:8.1f}x",
        f"ratio pandas / etfflow (drift)                      {t_pandas / t_drift:8.1f}x",
        f"agreement: net returns max |diff| over {min(20, k)} combos {worst:.2e}; first combo Sharpe "
        f"pandas {sharpe_pd:.6f} vs sweep {float(fixed_row['sharpe'][0]):.6f}",
        f"target {n_combo} combos < {TARGET_S:.0f} s on 11 sectors x 25 years (drift): {verdict}",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
