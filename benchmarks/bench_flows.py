"""Benchmark: daily flows, flow % AUM, 63-day z-score and 252-day percentile, etfflow vs pandas and Polars.

A seeded synthetic panel (funds x days): shares outstanding move in whole creation units with short NaN
gaps and late launches, NAV is a geometric random walk. Both sides get the same Fortran-ordered
arrays (one contiguous series per fund, which is also how pandas stores a wide frame's columns).
Steps 3 and 4 run on step 2's flow % of prior AUM (a fund's flow scaled to its size). Numba's
first call (compile, or load from the on-disk cache) is timed apart on a small array.
Polars runs its own expressions on a wide frame (one column per fund, NaN as null): diff / shift for
steps 1-2, rolling_mean / rolling_std for step 3 and rolling_rank(method="max") / window for step 4.
The results are checked for agreement once, after the timings.

    python benchmarks/bench_flows.py [--funds 4000] [--days 5000] [--quick] [--repeat 1] [--cold]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

Z_WINDOW = 63
P_WINDOW = 252


def make_panel(funds: int, days: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Shares outstanding and NAV, days x funds, Fortran order, NaN before launch and in gaps."""
    rng = np.random.default_rng(seed)
    shape = (days, funds)
    unit = rng.choice([25_000.0, 50_000.0, 100_000.0], size=funds)
    p_move = rng.uniform(0.05, 0.6, size=funds)  # share of days with creations or redemptions
    moves = rng.geometric(0.5, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    moves *= rng.random(shape) < p_move
    units = rng.integers(20, 2_000, size=funds) + np.cumsum(moves, axis=0)
    so = np.asfortranarray(np.maximum(units, 1.0) * unit)
    nav = np.asfortranarray(
        rng.uniform(20.0, 200.0, size=funds) * np.exp(np.cumsum(rng.normal(2e-4, 0.012, size=shape), axis=0))
    )
    launch = np.where(rng.random(funds) < 0.3, rng.integers(0, days, size=funds), 0)
    before = np.arange(days)[:, None] < launch[None, :]
    so[before] = np.nan
    nav[before] = np.nan
    # missing shares counts: a few gaps of 1-5 days per fund
    n_gaps = rng.poisson(1.5, size=funds)
    fund = np.repeat(np.arange(funds), n_gaps)
    start = rng.integers(0, days, size=fund.size)
    for k in range(5):
        hit = rng.random(fund.size) < 1.0 - 0.2 * k  # gap length >= k + 1 with falling odds
        so[np.minimum(start[hit] + k, days - 1), fund[hit]] = np.nan
    return so, nav


def timed(fn: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    """The result of fn and its best wall time over `repeat` runs."""
    best = float("inf")
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def compare(name: str, ours: np.ndarray, theirs: np.ndarray, rtol: float) -> str | None:
    """A line describing the agreement of two arrays; None if they agree."""
    nan_a, nan_b = np.isnan(ours), np.isnan(theirs)
    both = ~nan_a & ~nan_b
    diff = np.abs(ours[both] - theirs[both])
    scale = np.maximum(np.abs(theirs[both]), 1.0)
    max_abs = float(diff.max()) if diff.size else 0.0
    max_rel = float((diff / scale).max()) if diff.size else 0.0
    same_nan = bool(np.array_equal(nan_a, nan_b))
    print(
        f"  {name:<12} NaN patterns equal: {same_nan} ({int(nan_a.sum()):,} NaN), "
        f"max abs diff {max_abs:.3g}, max rel diff {max_rel:.3g}"
    )
    if not same_nan or max_rel > rtol:
        return f"{name}: NaN patterns equal {same_nan}, max rel diff {max_rel:.3g} > {rtol:g}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; exit status 1 if the results disagree."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--funds", type=int, default=4_000)
    ap.add_argument("--days", type=int, default=5_000)
    ap.add_argument("--quick", action="store_true", help="small panel (300 funds x 1,000 days)")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per step (both sides)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cold", action="store_true", help="empty numba cache: time a real compile")
    args = ap.parse_args(argv)
    if args.quick:
        args.funds, args.days = 300, 1_000
    with tempfile.TemporaryDirectory(prefix="etfflow-numba-") as cache:
        if args.cold:
            os.environ["NUMBA_CACHE_DIR"] = cache  # read when numba is first imported, just below
        return run(args)


def run(args: argparse.Namespace) -> int:
    """The benchmark proper (numba and etfflow are imported here, after the cache choice)."""
    import numba
    import pandas as pd

    from etfflow.signals import nb

    so, nav = make_panel(args.funds, args.days, args.seed)
    load = os.getloadavg()
    print(
        f"panel {args.days:,} days x {args.funds:,} funds ({so.size:,} cells); "
        f"{os.cpu_count()} CPUs, numba {numba.__version__} with {numba.get_num_threads()} threads, "
        f"pandas {pd.__version__}, numpy {np.__version__}, Python {platform.python_version()}; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )

    # numba: first call on a small array (compile, or load from the cache) ---------------------
    t0 = time.perf_counter()
    s_so, s_nav = np.asfortranarray(so[:300, :8]), np.asfortranarray(nav[:300, :8])
    s_flow = nb.flow_usd_nb(s_so, s_nav)
    s_pct = nb.flow_pct_nb(s_flow, s_so, s_nav)
    nb.rolling_zscore_nb(s_pct, Z_WINDOW, Z_WINDOW)
    nb.rolling_percentile_nb(s_pct, P_WINDOW, P_WINDOW)
    first_call = time.perf_counter() - t0
    print(f"numba first call ({'compile' if args.cold else 'compile or cache load'}): {first_call:.2f} s")

    # etfflow -----------------------------------------------------------------------------------
    ours: dict[str, np.ndarray] = {}
    t_ours: dict[str, float] = {}
    ours["flow"], t_ours["flow"] = timed(lambda: nb.flow_usd_nb(so, nav), args.repeat)
    ours["pct"], t_ours["pct"] = timed(lambda: nb.flow_pct_nb(ours["flow"], so, nav), args.repeat)
    ours["z"], t_ours["z"] = timed(lambda: nb.rolling_zscore_nb(ours["pct"], Z_WINDOW, Z_WINDOW), args.repeat)
    ours["rank"], t_ours["rank"] = timed(
        lambda: nb.rolling_percentile_nb(ours["pct"], P_WINDOW, P_WINDOW), args.repeat
    )

    # pandas: the straightforward way ------------------------------------------------------------
    so_df, nav_df = pd.DataFrame(so), pd.DataFrame(nav)
    theirs: dict[str, Any] = {}
    t_theirs: dict[str, float] = {}
    theirs["flow"], t_theirs["flow"] = timed(lambda: so_df.diff() * nav_df, args.repeat)
    theirs["pct"], t_theirs["pct"] = timed(
        lambda: theirs["flow"] / (so_df.shift() * nav_df.shift()), args.repeat
    )

    def zscore() -> Any:
        pct = theirs["pct"]
        roll = pct.rolling(Z_WINDOW)
        return (pct - roll.mean()) / roll.std()

    theirs["z"], t_theirs["z"] = timed(zscore, args.repeat)
    theirs["rank"], t_theirs["rank"] = timed(
        lambda: theirs["pct"].rolling(P_WINDOW).rank(pct=True, method="max"), args.repeat
    )

    # Polars: its own expressions on a wide frame ------------------------------------------------
    import polars as pl

    def frame(a: np.ndarray) -> pl.DataFrame:
        return pl.DataFrame({str(j): a[:, j] for j in range(a.shape[1])}).fill_nan(None)

    so_pl, nav_pl = frame(so), frame(nav)
    pol: dict[str, Any] = {}
    t_pol: dict[str, float] = {}
    pol["flow"], t_pol["flow"] = timed(lambda: so_pl.select(pl.all().diff()) * nav_pl, args.repeat)
    pol["pct"], t_pol["pct"] = timed(
        lambda: pol["flow"] / (so_pl.select(pl.all().shift()) * nav_pl.select(pl.all().shift())), args.repeat
    )
    x = pl.all()
    std = x.rolling_std(Z_WINDOW)
    pol["z"], t_pol["z"] = timed(  # a zero std gives no z-score (null), as in pandas and etfflow
        lambda: pol["pct"].select((x - x.rolling_mean(Z_WINDOW)) / pl.when(std > 0).then(std)), args.repeat
    )
    pol["rank"], t_pol["rank"] = timed(
        lambda: pol["pct"].select(x.rolling_rank(P_WINDOW, method="max") / P_WINDOW), args.repeat
    )

    def np_of(df: pl.DataFrame) -> np.ndarray:
        return df.fill_null(np.nan).to_numpy().astype(np.float64)

    # table -------------------------------------------------------------------------------------
    labels = {
        "flow": "1 flow = dSO x NAV",
        "pct": "2 flow % prior AUM",
        "z": f"3 z-score {Z_WINDOW}d",
        "rank": f"4 percentile {P_WINDOW}d",
    }
    print()
    print(
        f"| {'step':<22} | {'etfflow s':>9} | {'pandas s':>9} | {'Polars s':>9} "
        f"| {'vs pandas':>9} | {'vs Polars':>9} |"
    )
    print(f"|{'-' * 24}|{'-' * 10}:|{'-' * 10}:|{'-' * 10}:|{'-' * 10}:|{'-' * 10}:|")
    for key, label in labels.items():
        a, b, c = t_ours[key], t_theirs[key], t_pol[key]
        print(f"| {label:<22} | {a:9.3f} | {b:9.3f} | {c:9.3f} | {b / a:8.1f}x | {c / a:8.1f}x |")
    ta, tb, tc = sum(t_ours.values()), sum(t_theirs.values()), sum(t_pol.values())
    print(f"| {'total':<22} | {ta:9.3f} | {tb:9.3f} | {tc:9.3f} | {tb / ta:8.1f}x | {tc / ta:8.1f}x |")
    print(f"numba first call, not in the totals: {first_call:.2f} s")

    # agreement (checked once, not timed) ------------------------------------------------------
    print("\nagreement with pandas:")
    problems = [
        compare("flow", ours["flow"], theirs["flow"].to_numpy(), 0.0),
        compare("flow_pct", ours["pct"], theirs["pct"].to_numpy(), 0.0),
        compare("zscore", ours["z"], theirs["z"].to_numpy(), 1e-6),
        compare("percentile", ours["rank"], theirs["rank"].to_numpy(), 0.0),
    ]
    print("agreement with Polars:")
    problems += [
        compare("flow", ours["flow"], np_of(pol["flow"]), 0.0),
        compare("flow_pct", ours["pct"], np_of(pol["pct"]), 0.0),
        compare("zscore", ours["z"], np_of(pol["z"]), 1e-6),
        compare("percentile", ours["rank"], np_of(pol["rank"]), 1e-15),  # rank / window: one rounding
    ]
    failed = [p for p in problems if p]
    for p in failed:
        print(f"MISMATCH {p}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
