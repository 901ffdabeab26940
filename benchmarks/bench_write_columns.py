"""Benchmark: what DuckDB takes to write one column of each kind the warehouse stores, per million rows.

Why the import's writes cost what they do: a SYNTHETIC table of `--rows` rows (1,500 tickers, in
(ticker, date) order, as an import writes `daily`) is staged in a temporary table, then each column is
inserted alone into its own table of a fresh on-disk database (timed; DuckDB compresses as it writes).
Text columns cost about ten times a number, and a column holding one constant text (`daily.source`,
`flows_daily.method`) as much as the tickers: DuckDB handles every row's string whatever its value.
An ENUM of the same constant is shown for comparison (the schema has none).

    python benchmarks/bench_write_columns.py [--rows 6000000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

#: (label, SQL type, expression over the stage)
COLUMNS = (
    ("date", "DATE", "date"),
    ("ticker (1,500 distinct)", "VARCHAR", "ticker"),
    ("constant text ('generic')", "VARCHAR", "'generic'"),
    ("constant ENUM", "src_enum", "'generic'"),
    ("double (NAV-like)", "DOUBLE", "nav"),
    ("double (flow-like)", "DOUBLE", "nav * so"),
    ("all NULL double", "DOUBLE", "NULL"),
    ("boolean", "BOOLEAN", "false"),
    ("tinyint", "TINYINT", "1"),
    ("integer", "INTEGER", "0"),
    ("timestamptz (one value)", "TIMESTAMPTZ", "TIMESTAMPTZ '2024-06-01 00:00:00+00'"),
)


def main(argv: list[str] | None = None) -> int:
    """Print a table of seconds per column for --rows rows, and per million rows."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=6_000_000)
    args = ap.parse_args(argv)
    import duckdb

    with tempfile.TemporaryDirectory(prefix="etfflow-columns-") as tmp:
        con = duckdb.connect(str(Path(tmp) / "w.duckdb"))
        con.execute("CREATE TYPE src_enum AS ENUM ('generic', 'other')")
        con.execute(
            "CREATE TEMP TABLE st AS SELECT 'S' || lpad((i % 1500)::VARCHAR, 5, '0') AS ticker, "
            "DATE '2000-01-03' + (i // 1500)::INTEGER AS date, 20 + (hash(i) % 10000) / 100.0 AS nav, "
            f"1e6 + (hash(i + 7) % 100) * 5e4 AS so FROM range({args.rows}) t(i) ORDER BY ticker, date"
        )
        load = os.getloadavg()
        print(
            f"SYNTHETIC {args.rows:,} rows; DuckDB {duckdb.__version__}, {os.cpu_count()} CPUs, "
            f"load average {load[0]:.2f}"
        )
        print(f"\n| {'column':<28} | {'type':<11} | {'seconds':>7} | {'s per 1M rows':>13} |")
        print(f"|{'-' * 30}|{'-' * 13}|{'-' * 8}:|{'-' * 14}:|")
        for k, (label, sql_type, expr) in enumerate(COLUMNS):
            con.execute(f"CREATE TABLE c{k} (x {sql_type})")
            t0 = time.perf_counter()
            con.execute(f"INSERT INTO c{k} SELECT {expr} FROM st")
            sec = time.perf_counter() - t0
            print(f"| {label:<28} | {sql_type:<11} | {sec:7.3f} | {sec / args.rows * 1e6:13.4f} |")
        con.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
