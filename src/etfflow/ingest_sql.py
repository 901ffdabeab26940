"""DuckDB's own staging of generic panels: a typed Parquet panel, or a CSV panel whose every cell reads
the same way as in the chunked reader of `etfflow.ingest`, is read straight into the stage table and
checked as a whole in SQL with the chunked reader's rules. Every function here says False (and leaves
the stage empty) where the file needs the chunked reader, which then names the row or counts the drop.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import numpy as np

from etfflow import calendar, checks
from etfflow.sources.generic import panel_ticker
from etfflow.store import Store, _literal, _q

if TYPE_CHECKING:
    from etfflow.ingest import _Spec

__all__ = [
    "adjacent_keys_repeat",
    "all_zero_shares",
    "parquet_schema",
    "stage_csv",
    "stage_parquet",
]


_NUMERIC_TYPES = frozenset(
    {"DOUBLE", "FLOAT", "REAL", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}
    | {"UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)


def parquet_schema(store: Store, path: Path) -> dict[str, str] | None:
    """Column names and DuckDB types of a Parquet file, or None when DuckDB cannot read its schema
    (the chunked reader then reports why) or names two columns alike."""
    try:
        described = store.connection.execute(
            f"DESCRIBE SELECT * FROM read_parquet({_literal(str(path))})"
        ).fetchall()
    except duckdb.Error:
        return None
    types = {str(r[0]): str(r[1]) for r in described}
    return types if len(types) == len(described) else None


def stage_parquet(store: Store, path: Path, spec: _Spec, types: dict[str, str]) -> bool:
    """Stage a typed Parquet panel with DuckDB alone, when every row is one the chunked reader would take
    as it is; True when staged. False (nothing staged) sends the file through the chunked reader, which
    names the bad row or counts the drops: a column that is not typed (dates as text, numbers as text),
    a page DuckDB cannot read, or a row `_staged_clean` refuses. NaN is read as a missing value, as the
    chunked reader does.
    """
    src = _literal(str(path))
    chosen = spec.chosen
    if types.get(chosen["date"]) != "DATE":
        return False
    if "ticker" in chosen:
        if types.get(chosen["ticker"]) != "VARCHAR":
            return False
        tick = _q(chosen["ticker"])
    else:
        tick = _literal(spec.ticker)
    for c in spec.values:
        kind = types.get(chosen[c], "")
        if kind not in _NUMERIC_TYPES and not kind.startswith("DECIMAL"):
            return False
    values = [f"nullif(CAST({_q(chosen[c])} AS DOUBLE), 'NaN'::DOUBLE)" for c in spec.values]
    columns = ["file_row_number + 1", _q(chosen["date"]), tick, *values]
    if not _insert_stage(store, spec, columns, f"read_parquet({src}, file_row_number = true)"):
        return False
    return _staged_clean(store, spec)


def _insert_stage(store: Store, spec: _Spec, columns: list[str], reader: str) -> bool:
    """Fill the stage from DuckDB's `reader` (`_row`, date, ticker, values), in (ticker, date) order;
    False (stage empty) where DuckDB cannot read the file: a damaged page, a ragged line, a value out of
    DOUBLE's range (the chunked reader then says where)."""
    con = store.connection
    try:
        con.execute(f"INSERT INTO {spec.stage} SELECT {', '.join(columns)} FROM {reader} ORDER BY 3, 2")
    except duckdb.Error:
        con.execute(f"DELETE FROM {spec.stage}")
        return False
    return True


def stage_csv(store: Store, path: Path, spec: _Spec, names: list[str], records: int) -> bool:
    """Stage a CSV panel with DuckDB alone, when every cell is one the chunked reader reads the same way;
    True when staged. The stage then has no file rows (`_row` is NULL), so anything whose message names
    a row sends the file through the chunked reader instead (False, nothing staged): a cell that is not
    a plain number or blank, a date not written YYYY-MM-DD (or a `date_format` other than that), a
    ragged line, a blank line or row (DuckDB's record count must equal the file's lines), a row
    `_staged_clean` refuses, a repeated (date, ticker) key, or a fund whose every shares count is 0.
    """
    if spec.formats[0] != "%Y-%m-%d" or records <= 0 or len(set(names)) != len(names):
        return False
    con = store.connection
    pos = {n: i for i, n in enumerate(names)}
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(names))) + "}"
    src = (
        f"read_csv({_literal(str(path))}, header = true, delim = ',', quote = '\"', escape = '\"', "
        f"auto_detect = false, columns = {columns}, strict_mode = true, null_padding = false)"
    )

    def col(canon: str) -> str:
        return f"c{pos[spec.chosen[canon]]}"

    # a number cell: blank, or what DuckDB's cast and Polars' read alike (DuckDB alone takes 1_000 and
    # +-5; on 111,578 random cells of digits, signs, dots, exponents, spaces and symbols, every other
    # cell DuckDB takes as a finite number the chunked reader reads as the same number)
    plain = [
        f"({col(c)} IS NULL OR {col(c)} = '' OR (NOT contains({col(c)}, '_') "
        f"AND NOT contains({col(c)}, '+-') AND TRY_CAST({col(c)} AS DOUBLE) IS NOT NULL))"
        for c in spec.values
    ]
    d = col("date")
    # YYYY-MM-DD in digits: DuckDB's cast alone reads 2024-01-3x as 2024-01-03
    iso = f"regexp_full_match({d}, '\\d{{4}}-\\d{{2}}-\\d{{2}}')"
    date = f"CASE WHEN {' AND '.join([iso, *plain])} THEN TRY_CAST({d} AS DATE) END"  # else NULL: refused
    tick = col("ticker") if "ticker" in spec.chosen else _literal(spec.ticker)
    values = [f"TRY_CAST(nullif({col(c)}, '') AS DOUBLE)" for c in spec.values]
    if not _insert_stage(store, spec, ["NULL", date, tick, *values], src):
        return False
    n = con.execute(f"SELECT count(*) FROM {spec.stage}").fetchone()
    if n is None or n[0] != records:  # a blank line skipped, or lines DuckDB read otherwise
        con.execute(f"DELETE FROM {spec.stage}")
        return False
    if not _staged_clean(store, spec):  # which has emptied the stage
        return False
    if adjacent_keys_repeat(store, spec.stage) or all_zero_shares(store, spec) is not None:
        con.execute(f"DELETE FROM {spec.stage}")
        return False
    return True


def _staged_clean(store: Store, spec: _Spec) -> bool:
    """Whether every staged row is one the chunked reader takes as it is (else the stage is emptied):
    a date and a ticker, numbers within `etfflow.checks`' bounds, NYSE sessions up to tomorrow (and
    within the calendar), tickers already in canonical form."""
    con = store.connection
    bounds = []
    for c in spec.values:
        lo, hi = checks.bounds(c)
        bounds.append(f"({_q(c)} IS NULL OR (isfinite({_q(c)}) AND {_q(c)} BETWEEN {lo!r} AND {hi!r}))")
    # within the calendar (a BC or year-0 date is not even read back: it comes out as text) and not after
    # tomorrow; the chunked reader drops and counts the rows outside
    first = dt.date.fromisoformat(str(calendar.sessions()[0]))
    last = min(calendar.calendar_end("US"), checks.last_date())
    dated = f"date BETWEEN {_literal(first)} AND {_literal(last)}"
    clean = " AND ".join(["date IS NOT NULL", dated, "ticker IS NOT NULL", *bounds])
    row = con.execute(f"SELECT count(*) FILTER (NOT ({clean})) FROM {spec.stage}").fetchone()
    ok = row is not None and row[0] == 0
    if ok:
        found = con.execute(f"SELECT DISTINCT date FROM {spec.stage}").fetchall()
        days = np.array([r[0] for r in found], dtype="datetime64[D]")
        ok = bool(calendar.is_trading_day(days).all())
    if ok and "ticker" in spec.chosen:  # the generic reader's ticker rule, stricter than checks.TICKER_RE
        ok = all(
            isinstance(t, str) and t == t.strip().upper() and panel_ticker(t)
            for (t,) in con.execute(f"SELECT DISTINCT ticker FROM {spec.stage}").fetchall()
        )
    if not ok:
        con.execute(f"DELETE FROM {spec.stage}")
    return ok


def all_zero_shares(store: Store, spec: _Spec) -> tuple[str, int] | None:
    """(ticker, shares counts) of the first fund whose every shares count (at least 5) is 0, if any."""
    if "shares_outstanding" not in spec.values:
        return None
    zero = store.connection.execute(
        f"SELECT ticker, count(shares_outstanding) AS n FROM {spec.stage} GROUP BY ticker "
        "HAVING count(shares_outstanding) >= 5 AND bool_and(shares_outstanding = 0) "
        "ORDER BY min(_row) LIMIT 1"
    ).fetchone()
    return (str(zero[0]), int(zero[1])) if zero else None


def adjacent_keys_repeat(store: Store, stage: str) -> bool:
    """Whether two neighbouring rows of a stage in (ticker, date) order may share their key (ticker hash
    and date equal; a hash collision only costs the exact check)."""
    got = store.connection.execute(
        f"SELECT hash(ticker) AS h, date - DATE '1970-01-01' AS d FROM {stage}"  # in table order
    ).fetchnumpy()
    h, d = np.asarray(got["h"]), np.asarray(got["d"])
    return bool(((h[1:] == h[:-1]) & (d[1:] == d[:-1])).any())
