"""Benchmark: streaming import of a large generic daily panel (with flows) vs plain DuckDB.

A seeded SYNTHETIC panel (funds x NYSE sessions; columns date, ticker, nav, shares_outstanding; shares
move in whole creation units, NAV is a random walk) is written to a temporary Parquet or CSV file. Each
measurement runs in a fresh subprocess that reports its own peak RSS (getrusage):

* baseline: DuckDB alone - read_parquet / read_csv into a table, then flows (SO - lag(SO)) x NAV by a
  window function written to a table;
* floor: DuckDB alone writing the two tables an import must write, as the schema defines them, from
  the same file: `daily` (14 columns, rows in (ticker, date) order) and `flows_daily` (11 columns, the
  plain flow, prior AUM, % of AUM, shares change and NAV by window functions; no checks, flags,
  splits, lags or gaps). What no importer keeping this schema on this DuckDB can beat;
* import: `etfflow import` of the same file into an empty warehouse (validation, upsert, flows);
* again: the same file imported a second time (recognised by its sha256);
* touch (optional): a second file holding the last --touch-days sessions changed, imported on top.

    python benchmarks/bench_ingest.py [--funds 1500] [--days 4000] [--format parquet|csv] [--quick]
    python benchmarks/bench_ingest.py --funds 4000 --days 5000      # the 20M-row universe
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: the floor: the schema's two tables written by DuckDB alone (`daily` from the file, sorted as an
#: import writes it; `flows_daily` by window functions over it)
FLOOR_DAILY_SQL = (
    "INSERT INTO daily (date, ticker, source, nav, shares_outstanding, so_lag, retrieved_at) "
    "SELECT date, ticker, 'generic', nav, shares_outstanding, 0, now() FROM {reader}('{path}') "
    "ORDER BY ticker, date"
)
FLOOR_FLOWS_SQL = (
    "INSERT INTO flows_daily SELECT date, ticker, (so - so0) * nav, so0 * nav0, "
    "(so - so0) * nav / (so0 * nav0), so - so0, nav, 'shares', 0, 1, date "
    "FROM (SELECT date, ticker, nav, shares_outstanding AS so, "
    "lag(shares_outstanding) OVER w AS so0, lag(nav) OVER w AS nav0 "
    "FROM daily WINDOW w AS (PARTITION BY ticker ORDER BY date))"
)

BASELINE_SQL = (
    "CREATE TABLE flows AS SELECT date, ticker, "
    "(shares_outstanding - lag(shares_outstanding) OVER w) * nav AS flow_usd "
    "FROM panel WINDOW w AS (PARTITION BY ticker ORDER BY date)"
)


def make_panel(path: Path, funds: int, days: int, fmt: str, seed: int = 7, *, last: int = 0) -> int:
    """Write the synthetic panel (date-major: one cross-section per session); returns its rows.

    `last` > 0 writes only the last `last` sessions with every shares count moved by one unit (a file
    that changes the tail of the history).
    """
    import numpy as np
    import polars as pl

    from etfflow import calendar

    rng = np.random.default_rng(seed)
    sess = calendar.sessions(end="2025-12-31")[-days:]
    tickers = np.array([f"S{i:05d}" for i in range(funds)])
    unit = rng.choice([25_000.0, 50_000.0, 100_000.0], size=funds)
    level = rng.integers(20, 2_000, size=funds).astype(np.float64)
    nav = rng.uniform(20.0, 200.0, size=funds)
    rows = 0
    block = max(1, 2_000_000 // funds)  # sessions per written block
    first = days - last if last else 0
    writer: Any = None
    if fmt == "parquet":
        import pyarrow.parquet as pq
    with path.open("w") if fmt == "csv" else open(os.devnull, "w") as text:
        for lo in range(0, days, block):
            hi = min(days, lo + block)
            n = hi - lo
            moves = rng.geometric(0.5, size=(n, funds)) * rng.choice([-1.0, 1.0], size=(n, funds))
            moves *= rng.random((n, funds)) < 0.3
            units = level + np.cumsum(moves, axis=0)
            level = units[-1]
            navs = nav * np.exp(np.cumsum(rng.normal(2e-4, 0.012, size=(n, funds)), axis=0))
            nav = navs[-1]
            if hi <= first:
                continue
            k = max(0, first - lo)
            so = np.maximum(units[k:], 1.0) * unit + (unit if last else 0.0)
            frame = pl.DataFrame(
                {
                    "date": np.repeat(sess[lo + k : hi], funds),
                    "ticker": np.tile(tickers, n - k),
                    "nav": np.round(navs[k:], 4).ravel(),
                    "shares_outstanding": so.ravel(),
                }
            )
            rows += frame.height
            if fmt == "csv":
                frame.write_csv(text, include_header=rows == frame.height)
            else:
                table = frame.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table, row_group_size=250_000)
    if writer is not None:
        writer.close()
    return rows


def child(args: argparse.Namespace) -> None:
    """One measurement, in this (fresh) process: prints a JSON line with seconds and peak RSS."""
    import resource

    ddl: list[str] = []
    if args.child == "floor":  # the tables' DDL, as the warehouse has it (etfflow's import not timed)
        from etfflow.schema import TABLES
        from etfflow.store import _ddl

        ddl = [_ddl(TABLES[name]) for name in ("daily", "flows_daily")]
    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    if args.child == "floor":
        import duckdb

        con = duckdb.connect(args.db)
        reader = "read_parquet" if args.format == "parquet" else "read_csv"
        for sql in ddl:
            con.execute(sql)
        con.execute(FLOOR_DAILY_SQL.format(reader=reader, path=args.path))
        con.execute(FLOOR_FLOWS_SQL)
        out["flows"] = con.execute("SELECT count(flow_usd) FROM flows_daily").fetchone()[0]  # type: ignore[index]
        con.close()
    elif args.child == "baseline":
        import duckdb

        con = duckdb.connect(args.db)
        reader = "read_parquet" if args.format == "parquet" else "read_csv"
        con.execute(f"CREATE TABLE panel AS SELECT * FROM {reader}('{args.path}')")
        con.execute(BASELINE_SQL)
        out["flows"] = con.execute("SELECT count(flow_usd) FROM flows").fetchone()[0]  # type: ignore[index]
        con.close()
    else:
        from etfflow.pipeline import import_paths
        from etfflow.store import Store

        with Store(args.db) as store:
            (summary,) = import_paths(store, [Path(args.path)])
            out.update(
                rows=summary.rows,
                added=summary.added,
                changed=summary.changed,
                unchanged=summary.unchanged,
                already=summary.already_imported,
            )
            if args.child == "import":
                out["flows"] = store.query("SELECT count(flow_usd) AS n FROM flows_daily")["n"][0]
    out["seconds"] = time.perf_counter() - t0
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out, default=str))


def measure(kind: str, path: Path, db: Path, fmt: str) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter."""
    cmd = [sys.executable, __file__, "--child", kind, "--path", str(path), "--db", str(db), "--format", fmt]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{proc.stderr[-3000:]}")
    got: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    got["wall"] = wall
    return got


def main(argv: list[str] | None = None) -> int:
    """Generate the panel, run the measurements, print the table and which of issue 10's goals held."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--funds", type=int, default=1_500)
    ap.add_argument("--days", type=int, default=4_000)
    ap.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    ap.add_argument("--quick", action="store_true", help="small panel (200 funds x 1,000 days)")
    ap.add_argument("--touch-days", type=int, default=0, help="also import a file changing the last N days")
    ap.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--path", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--db", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args)
        return 0
    if args.quick:
        args.funds, args.days = 200, 1_000
    with tempfile.TemporaryDirectory(prefix="etfflow-ingest-", dir=args.dir) as tmp:
        work = Path(tmp)
        path = work / f"panel.{args.format}"
        t0 = time.perf_counter()
        rows = make_panel(path, args.funds, args.days, args.format)
        size = path.stat().st_size / 2**20
        load = os.getloadavg()
        print(
            f"SYNTHETIC panel: {args.funds:,} funds x {args.days:,} sessions = {rows:,} rows, "
            f"{args.format} {size:,.0f} MiB (written in {time.perf_counter() - t0:.1f} s); "
            f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        base = measure("baseline", path, work / "baseline.duckdb", args.format)
        floor = measure("floor", path, work / "floor.duckdb", args.format)
        first = measure("import", path, work / "etfflow.duckdb", args.format)
        again = measure("again", path, work / "etfflow.duckdb", args.format)
        results = [
            ("DuckDB load + window flows (baseline)", base),
            ("DuckDB writing daily + flows_daily (floor)", floor),
            ("etfflow import", first),
        ]
        results.append(("etfflow import again (unchanged file)", again))
        if args.touch_days:
            tpath = work / f"touch.{args.format}"
            make_panel(tpath, args.funds, args.days, args.format, last=args.touch_days)
            results.append(
                (
                    f"etfflow import of last {args.touch_days} days changed",
                    measure("touch", tpath, work / "etfflow.duckdb", args.format),
                )
            )
        print()
        print(
            f"| {'step':<42} | {'seconds':>8} | {'vs baseline':>11} | {'vs floor':>8} | {'peak RSS MB':>11} |"
        )
        print(f"|{'-' * 44}|{'-' * 9}:|{'-' * 12}:|{'-' * 9}:|{'-' * 12}:|")
        for label, r in results:
            ratio = r["seconds"] / base["seconds"]
            vs_floor = r["seconds"] / floor["seconds"]
            print(
                f"| {label:<42} | {r['seconds']:8.2f} | {ratio:10.2f}x | {vs_floor:7.2f}x "
                f"| {r['peak_rss_mb']:11,.0f} |"
            )
        print()
        print(
            f"import: {first['rows']:,} rows, added {first['added']:,}, flows {first['flows']:,}; "
            f"baseline flows {base['flows']:,}; floor flows {floor['flows']:,}"
        )
        print(
            f"again: already imported {again['already']}, "
            f"{again['seconds'] / first['seconds']:.1%} of the first import"
        )
        print()
        for goal, held in goals(rows, base, first, again):
            print(f"goal {'met   ' if held else 'MISSED'} {goal}")
        floor_x, ours_x = floor["seconds"] / base["seconds"], first["seconds"] / floor["seconds"]
        print(
            f"floor: DuckDB alone writing the schema's two tables takes {floor_x:.2f}x the baseline; "
            f"etfflow's import {ours_x:.2f}x the floor"
        )
    return 0


def goals(
    rows: int, base: dict[str, Any], first: dict[str, Any], again: dict[str, Any]
) -> list[tuple[str, bool]]:
    """Issue 10's goals for this panel size: (goal, held)."""
    ratio = first["seconds"] / base["seconds"]
    gb = first["peak_rss_mb"] / 1024
    out = [
        (
            f"unchanged file again < 10% of the first import ({again['seconds'] / first['seconds']:.1%})",
            again["seconds"] < 0.1 * first["seconds"],
        )
    ]
    if rows >= 15_000_000:
        out.append((f"20M rows in < 60 s ({first['seconds']:.1f} s)", first["seconds"] < 60))
        out.append((f"20M rows under 4 GB peak ({gb:.2f} GB)", gb < 4))
    elif rows >= 5_000_000:
        out.append((f"6M rows in <= 2x the baseline ({ratio:.2f}x)", ratio <= 2))
        out.append((f"6M rows under 1.5 GB peak ({gb:.2f} GB)", gb < 1.5))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
