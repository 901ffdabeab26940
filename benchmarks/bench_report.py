"""Time `etfflow report` on a warehouse of 4,000 funds x 20 years of daily flows (target: under 3 s).

The warehouse is synthetic (seeded) and written straight into DuckDB (`funds` + `flows_daily`); it is
kept in the cache folder and rebuilt only when missing. Timings: the library call in a warm process,
the library call in a fresh process (imports, calendar and kernels loaded once), and the CLI end to
end (`etfflow report --format html`), each the best of a few runs.

    python benchmarks/bench_report.py [--funds 4000] [--years 20] [--runs 3] [--db PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from etfflow import calendar
from etfflow.report.build import report_from_store
from etfflow.schema import validate
from etfflow.store import Store
from etfflow.universe import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]


def build_warehouse(path: Path, n_funds: int, years: int, seed: int = 11) -> None:
    """Write a synthetic funds table and `flows_daily` panel (n_funds x years) into `path`."""
    rng = np.random.default_rng(seed)
    end = np.datetime64("2025-12-31")
    dates = calendar.sessions(str(end - np.timedelta64(365 * years, "D")), str(end))
    avail = calendar.shift_sessions(dates[:-1], 1)
    dates = dates[:-1]
    tax = load_taxonomy()
    extra = n_funds - tax.height
    pick = rng.integers(0, tax.height, size=extra)
    clones = tax[pick.tolist()].with_columns(
        pl.Series("ticker", [f"Z{i:05d}" for i in range(extra)]),
        pl.lit(False).alias("primary"),
        pl.lit("Synthetic bench fund").alias("name"),
    )
    funds = validate(pl.concat([tax, clones]), "funds")
    tickers = funds["ticker"].to_list()
    n_t = len(dates)
    with Store(path) as store:
        store.upsert("funds", funds)
        chunk = 500
        for lo in range(0, len(tickers), chunk):
            names = tickers[lo : lo + chunk]
            k = len(names)
            aum0 = np.exp(rng.normal(21.0, 1.5, size=k))
            ret = rng.normal(0.0003, 0.012, size=(n_t, k))
            shocks = rng.normal(0.0, 0.004, size=(n_t, k))
            pct = np.empty_like(shocks)
            pct[0] = shocks[0]
            for t in range(1, n_t):
                pct[t] = 0.3 * pct[t - 1] + shocks[t]
            growth = np.cumprod((1 + ret) * (1 + pct), axis=0)
            aum = aum0 * growth
            aum_prev = np.vstack([aum0[None, :], aum[:-1]])
            flow = pct * aum_prev * (1 + ret)
            nav = 50.0 * np.cumprod(1 + ret, axis=0)
            frame = pl.DataFrame(
                {
                    "date": np.repeat(dates, k),
                    "ticker": np.tile(np.array(names, dtype=object), n_t),
                    "flow_usd": flow.ravel(),
                    "aum_prev_usd": aum_prev.ravel(),
                    "flow_pct_aum": (flow / aum_prev).ravel(),
                    "shares_change": (flow / nav).ravel(),
                    "nav_used": nav.ravel(),
                    "method": "shares",
                    "flags": np.zeros(n_t * k, dtype=np.uint32),
                    "gap_sessions": np.zeros(n_t * k, dtype=np.int32),
                    "available_on": np.repeat(avail, k),
                }
            ).with_columns(pl.col("date").cast(pl.Date), pl.col("available_on").cast(pl.Date))
            store.replace("flows_daily", frame, tickers=names)
            print(f"  wrote funds {lo + 1}-{lo + k} ({frame.height:,} rows)", flush=True)


def best(runs: int, fn: object) -> list[float]:
    """Wall times of `runs` calls of fn."""
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    """Build (once) and time."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--funds", type=int, default=4000)
    ap.add_argument("--years", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", type=Path, default=None)
    args = ap.parse_args()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "etfflow-bench"
    db = args.db or cache / f"report-{args.funds}x{args.years}y.duckdb"
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        print(f"building {db} ({args.funds} funds x {args.years} years) ...", flush=True)
        t = time.perf_counter()
        tmp = db.with_suffix(".tmp.duckdb")
        tmp.unlink(missing_ok=True)
        build_warehouse(tmp, args.funds, args.years)
        tmp.rename(db)
        print(f"built in {time.perf_counter() - t:.1f} s", flush=True)
    with Store(db, read_only=True) as store:
        n = store.query("SELECT count(*) AS n, count(DISTINCT ticker) AS f FROM flows_daily")
        print(f"warehouse {db}: {n['n'][0]:,} flow rows, {n['f'][0]:,} funds")
        warm = best(args.runs + 1, lambda: report_from_store(store))[1:]
    print(f"library, warm process: best {min(warm):.2f} s (median {statistics.median(warm):.2f} s)")
    code = (
        "import time; t=time.perf_counter(); from etfflow.store import Store; "
        "from etfflow.report.build import report_from_store; "
        f"s=Store({str(db)!r}, read_only=True); report_from_store(s); print(time.perf_counter()-t)"
    )
    fresh = []
    for _ in range(args.runs):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        fresh.append(float(res.stdout.strip().splitlines()[-1]))
    print(f"library, fresh process (imports included): best {min(fresh):.2f} s")
    parts = (
        "import time; t0=time.perf_counter(); import etfflow.cli; t1=time.perf_counter(); "
        "from etfflow import calendar; calendar.sessions(); t2=time.perf_counter(); "
        "from etfflow.store import Store; from etfflow.report.build import report_from_store; "
        "from etfflow.report.html import render_html; "
        f"s=Store({str(db)!r}, read_only=True); r=report_from_store(s); t3=time.perf_counter(); "
        "render_html(r); t4=time.perf_counter(); "
        "print(f'{t1-t0:.2f} {t2-t1:.2f} {t3-t2:.2f} {t4-t3:.2f}')"
    )
    res = subprocess.run([sys.executable, "-c", parts], capture_output=True, text=True, check=True)
    imp, cal, build, html = res.stdout.split()
    print(f"fresh process: import CLI {imp} s, NYSE calendar {cal} s, build {build} s, render HTML {html} s")
    exe = Path(sys.executable).with_name("etfflow")
    with tempfile.TemporaryDirectory() as tmpdir:
        out = Path(tmpdir) / "bench.html"
        cmd = [str(exe), "report", "--db", str(db), "--format", "html", "--out", str(out)]

        def cli() -> None:
            subprocess.run(cmd, capture_output=True, check=True)

        times = best(args.runs, cli)
        med = statistics.median(times)
        print(f"CLI `etfflow report --format html`: best {min(times):.2f} s (median {med:.2f} s)")
        print(f"report size {out.stat().st_size / 1024:.0f} KiB")
    verdict = "meets" if min(times) < 3.0 else "MISSES"
    print(f"target < 3 s end to end: {verdict}")


if __name__ == "__main__":
    main()
