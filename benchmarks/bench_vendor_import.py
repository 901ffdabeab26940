"""Time importing etf.com's 641-fund daily flow file (1.46M rows, gzip) into a new warehouse (target < 20 s).

Real data: `../shared/data/vendor/etfcom/etfcom_daily_flows_641_long.csv.gz`. Timings, each the best of
`--runs` into a new warehouse: the parse alone (`read_vendor_flows`), the library import
(`pipeline.import_paths`: parse + upsert + file record, one transaction) and the CLI end to end
(`etfflow import FILE --db NEW` in a fresh process), then a re-import of the same file (nothing
changes) and the `report` built on that vendor-only warehouse.

    python benchmarks/bench_vendor_import.py [--runs 3] [--file PATH]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from etfflow import pipeline
from etfflow.report.build import report_from_store
from etfflow.sources.vendor_flows import read_vendor_flows
from etfflow.store import Store

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "vendor" / "etfcom" / "etfcom_daily_flows_641_long.csv.gz"


def best(runs: int, fn: object) -> float:
    """Best wall time of `runs` calls of fn (a zero-argument callable)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--file", type=Path, default=DEFAULT)
    args = ap.parse_args()
    if not args.file.exists():
        sys.exit(f"no vendor file at {args.file}")
    batch = read_vendor_flows(args.file)
    rows = batch.tables["vendor_flows"].height
    funds = batch.tables["funds"].height
    print(
        f"file: {args.file.name} ({args.file.stat().st_size / 1e6:.1f} MB gzip): {rows:,} rows, {funds} funds"
    )
    print(f"dropped: {batch.dropped}")
    parse = best(args.runs, lambda: read_vendor_flows(args.file))
    print(f"parse (read_vendor_flows):          {parse:6.2f} s  ({rows / parse:,.0f} rows/s)")
    with tempfile.TemporaryDirectory() as tmp:
        n = iter(range(1000))

        def lib() -> None:
            with Store(Path(tmp) / f"lib{next(n)}.duckdb") as store:
                pipeline.import_paths(store, [args.file])

        t_lib = best(args.runs, lib)
        print(f"import (pipeline.import_paths):     {t_lib:6.2f} s  ({rows / t_lib:,.0f} rows/s)")
        cli = [str(Path(sys.executable).parent / "etfflow"), "import", str(args.file), "--json"]

        def run_cli() -> None:
            db = Path(tmp) / f"cli{next(n)}.duckdb"
            subprocess.run([*cli, "--db", str(db)], check=True, capture_output=True)

        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t_cli = best(args.runs, run_cli)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / args.runs
        print(f"import (CLI, fresh process):        {t_cli:6.2f} s  ({rows / t_cli:,.0f} rows/s)")
        print(
            f"  CPU time per CLI run (user+sys):  {cpu:6.2f} s  (wall minus CPU: waiting on a busy machine)"
        )
        db = Path(tmp) / "again.duckdb"
        with Store(db) as store:
            pipeline.import_paths(store, [args.file])
            t0 = time.perf_counter()
            again = pipeline.import_paths(store, [args.file])[0]
            t_again = time.perf_counter() - t0
        print(f"re-import (unchanged {again.unchanged:,}):     {t_again:6.2f} s")
        with Store(db, read_only=True) as store:
            t0 = time.perf_counter()
            rep = report_from_store(store)
            t_rep = time.perf_counter() - t0
        print(
            f"report on the vendor-only warehouse: {t_rep:5.2f} s ({rep.funds_with_data} funds, {rep.title})"
        )
    verdict = "OK" if t_cli < 20 else "SLOW"
    print(f"target: CLI import under 20 s -> {verdict} ({t_cli:.2f} s)")


if __name__ == "__main__":
    main()
