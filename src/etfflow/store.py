"""The DuckDB warehouse: DDL, atomic idempotent upserts, and queries that return Polars frames.

Writes happen inside one transaction: a failure (or a crash) part-way leaves the last committed state.
An upsert inserts new keys, updates keys whose values changed, and leaves identical rows untouched
(their `retrieved_at` included), so importing the same data twice changes nothing. A missing value
(NULL or NaN) in a new row never erases a stored one: the stored value is kept and counted (`kept`).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from etfflow.errors import StoreError
from etfflow.schema import TABLES, Table, validate

__all__ = ["DEFAULT_DB", "Store", "UpsertResult", "resolve_db_path"]

DEFAULT_DB = Path("~/.etfflow/etfflow.duckdb")
_IGNORED_IN_COMPARISON = {"retrieved_at"}

_SQL_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "VARCHAR",
    pl.Float64: "DOUBLE",
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.Int8: "TINYINT",
    pl.UInt32: "UINTEGER",
    pl.Boolean: "BOOLEAN",
    pl.Date: "DATE",
    pl.Datetime: "TIMESTAMPTZ",
}


def resolve_db_path(path: str | Path | None = None) -> Path:
    """The warehouse file: the argument, else $ETFFLOW_DB, else ~/.etfflow/etfflow.duckdb."""
    chosen = path or os.environ.get("ETFFLOW_DB") or DEFAULT_DB
    return Path(chosen).expanduser()


@dataclass(frozen=True)
class UpsertResult:
    """Rows added, changed and left unchanged by one upsert; `kept`: stored values kept over missing ones."""

    table: str
    added: int
    changed: int
    unchanged: int
    kept: int = 0

    def __add__(self, other: UpsertResult) -> UpsertResult:
        return UpsertResult(
            self.table,
            self.added + other.added,
            self.changed + other.changed,
            self.unchanged + other.unchanged,
            self.kept + other.kept,
        )


def _literal(value: Any) -> str:
    """A Python value as a SQL literal (the few types the store binds), quotes escaped."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        # from text: exact (repr round-trips), a DOUBLE (a bare 1.5 is a DECIMAL), and 'nan'/'inf' read
        return f"'{value!r}'::DOUBLE"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetimes are not stored: give a time zone")
        return f"TIMESTAMPTZ '{value.isoformat()}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, str):
        if "\x00" in value:  # a NUL cannot sit inside a literal: join the pieces around chr(0)
            return "(" + " || chr(0) || ".join(_literal(p) for p in value.split("\x00")) + ")"
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    raise TypeError(f"cannot bind {type(value).__name__} in a store query")


def _bind(sql: str, params: list[Any] | None) -> str:
    """Replace each `?` by its parameter as a literal.

    DuckDB's own parameter binding imports pandas on first use (about 0.6 s per process), which every
    CLI command would pay; the store's SQL never has `?` inside string literals.
    """
    if not params:
        return sql
    parts = sql.split("?")
    if len(parts) - 1 != len(params):
        raise StoreError(f"query has {len(parts) - 1} placeholders but {len(params)} parameters")
    out = [parts[0]]
    for value, rest in zip(params, parts[1:], strict=True):
        out.extend((_literal(value), rest))
    return "".join(out)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


#: more changed rows than this are deleted and written again rather than updated in place (`upsert_from`)
REWRITE_ROWS = 50_000
#: large tables kept without a DuckDB key index: an ART index makes a 6M-row load about 3x slower (and
#: its commit slower still). Their keys stay unique because every write goes through `validate` and the
#: anti-join upsert (`upsert_from`) or replaces whole (ticker, date range) blocks.
UNINDEXED = frozenset({"daily", "flows_daily"})


def _ddl(table: Table) -> str:
    cols = ", ".join(f"{_q(c.name)} {_SQL_TYPES[type(c.dtype)]}" for c in table.columns)
    if table.name in UNINDEXED:
        return f"CREATE TABLE IF NOT EXISTS {_q(table.name)} ({cols})"
    key = ", ".join(_q(k) for k in table.key)
    return f"CREATE TABLE IF NOT EXISTS {_q(table.name)} ({cols}, PRIMARY KEY ({key}))"


_FILES_DDL = (
    "CREATE TABLE IF NOT EXISTS files (sha256 VARCHAR PRIMARY KEY, path VARCHAR, format VARCHAR, "
    "rows BIGINT, imported_at TIMESTAMPTZ)"
)
#: import options of a file (added after the first release: older warehouses gain it empty)
_FILES_OPTIONS = "ALTER TABLE files ADD COLUMN IF NOT EXISTS options VARCHAR"


class Store:
    """A DuckDB warehouse file holding the canonical tables."""

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = resolve_db_path(path)
        try:
            if not read_only:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            elif not self.path.exists():
                raise StoreError(f"no warehouse at {self.path}: run `etfflow demo` or `etfflow import` first")
            self._con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open warehouse {self.path}: {exc}") from exc
        self._in_tx = False
        if not read_only:
            with self.transaction():
                for t in TABLES.values():
                    self._con.execute(_ddl(t))
                    self._add_missing_columns(t)
                self._con.execute(_FILES_DDL)
                self._con.execute(_FILES_OPTIONS)

    def _add_missing_columns(self, table: Table) -> None:
        """Additive migration: columns the schema gained since the file was made are added (null)."""
        have = {
            r[0]
            for r in self._con.execute(
                _bind("SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table.name])
            ).fetchall()
        }
        for c in table.columns:
            if c.name not in have:
                self._con.execute(
                    f"ALTER TABLE {_q(table.name)} ADD COLUMN {_q(c.name)} {_SQL_TYPES[type(c.dtype)]}"
                )

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection (for set-based work such as `etfflow.ingest`; use `transaction`)."""
        return self._con

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside commit together or not at all."""
        if self._in_tx:
            yield
            return
        self._con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        try:
            yield
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        else:
            self._con.execute("COMMIT")
        finally:
            self._in_tx = False

    def upsert(self, table: str, frame: pl.DataFrame, *, file: str | None = None) -> UpsertResult:
        """Insert new keys, update changed rows, leave identical rows alone; atomically.

        A missing value in `frame` (null, or NaN in a float column) never replaces a stored value: the
        stored one is kept (COALESCE) and counted in the result's `kept`.
        """
        data = validate(frame, table, file=file)
        floats = [c for c, t in data.schema.items() if t == pl.Float64]
        if floats:
            data = data.with_columns(pl.col(c).fill_nan(None) for c in floats)
        if data.height == 0:
            return UpsertResult(table, 0, 0, 0)
        try:
            with self.transaction():
                self._con.register("_incoming", data.to_arrow())
                try:
                    return self.upsert_from(table, "_incoming", rows=data.height)
                finally:
                    self._con.unregister("_incoming")
        except duckdb.Error as exc:
            raise StoreError(f"upsert into {table} failed; nothing was written: {exc}") from exc

    def upsert_from(
        self,
        table: str,
        source: str,
        *,
        rows: int | None = None,
        touched: str | None = None,
        kept_columns: list[str] | None = None,
    ) -> UpsertResult:
        """Set-based upsert of the rows of relation `source` (the table's columns, keys unique) into `table`.

        Only keys that are new or whose values differ are written; a NULL in `source` keeps the stored
        value. `touched` names a temporary table to create with (ticker, lo): each ticker whose rows
        were added or changed and its first such date. `kept_columns` limits the count of kept values
        to those columns (default: every compared column). Raises duckdb.Error (the caller's
        transaction is rolled back).
        """
        spec = TABLES[table]
        t = _q(table)
        key_eq = " AND ".join(f"t.{_q(k)} = n.{_q(k)}" for k in spec.key)
        values = [c.name for c in spec.columns if c.name not in spec.key]
        compared = [c for c in values if c not in _IGNORED_IN_COMPARISON]
        differs = (
            " OR ".join(f"(n.{_q(c)} IS NOT NULL AND n.{_q(c)} IS DISTINCT FROM t.{_q(c)})" for c in compared)
            or "FALSE"
        )
        counted = compared if kept_columns is None else [c for c in compared if c in kept_columns]
        kept_expr = " + ".join(
            f"count(*) FILTER (n.{_q(c)} IS NULL AND t.{_q(c)} IS NOT NULL)" for c in counted
        )
        first_key = _q(spec.key[0])
        with self.transaction():
            if rows is None:
                rows = self._scalar(f"SELECT count(*) FROM {source}")
            if touched is not None:
                self._con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {touched} AS SELECT n.ticker, min(n.date) AS lo, "
                    f"count(*) FILTER (t.{first_key} IS NOT NULL) AS changed "
                    f"FROM {source} n LEFT JOIN {t} t ON {key_eq} "
                    f"WHERE t.{first_key} IS NULL OR {differs} GROUP BY n.ticker"
                )
                changed = self._scalar(f"SELECT coalesce(sum(changed), 0) FROM {touched}")
            else:
                changed = self._scalar(
                    f"SELECT count(*) FROM {source} n JOIN {t} t ON {key_eq} WHERE {differs}"
                )
            kept = 0
            if kept_expr and self._scalar(f"SELECT count(*) FROM {t}"):
                nulls = " OR ".join(f"n.{_q(c)} IS NULL" for c in counted)
                if self._scalar(f"SELECT count(*) FROM {source} n WHERE {nulls}"):
                    kept = self._scalar(f"SELECT {kept_expr} FROM {source} n JOIN {t} t ON {key_eq}")
            if changed > REWRITE_ROWS:
                self._rewrite_changed(table, source, key_eq, differs)
            elif changed:
                sets = ", ".join(f"{_q(c)} = COALESCE(n.{_q(c)}, t.{_q(c)})" for c in values)
                self._con.execute(
                    f"UPDATE {t} AS t SET {sets} FROM {source} n WHERE {key_eq} AND ({differs})"
                )
            cols = ", ".join(_q(c) for c in spec.names)
            if touched is not None and changed == 0 and self._scalar(f"SELECT count(*) FROM {t}") == 0:
                added = self._scalar(f"INSERT INTO {t} ({cols}) SELECT {cols} FROM {source}")  # all new
            else:
                added = self._scalar(
                    f"INSERT INTO {t} ({cols}) SELECT {cols} FROM {source} n ANTI JOIN {t} t ON {key_eq}"
                )
        return UpsertResult(table, added, changed, rows - added - changed, kept)

    def _rewrite_changed(self, table: str, source: str, key_eq: str, differs: str) -> None:
        """Many changed rows: deleted and written again with the merged values (COALESCE, as the UPDATE
        sets them). An UPDATE of millions of rows joined to a large file can thrash under the import's
        memory cap (`ingest.MEMORY_LIMIT`): 3M changed rows of `daily` from a 6M-row file took 10.8 s by
        UPDATE at 512 MB (0.6 s at 1 GB), 2.4 s this way; this way costs about 2 s per 3M rows
        whatever the file, where a lucky UPDATE costs 0.5 s."""
        spec = TABLES[table]
        t = _q(table)
        merged = ", ".join(
            f"n.{_q(c.name)}" if c.name in spec.key else f"COALESCE(n.{_q(c.name)}, t.{_q(c.name)})"
            for c in spec.columns
        )
        self._con.execute(
            f"CREATE OR REPLACE TEMP TABLE _etfflow_merged AS SELECT {merged} FROM {source} n "
            f"JOIN {t} t ON {key_eq} WHERE {differs}"
        )
        try:
            on = " AND ".join(f"t.{_q(k)} = n.{_q(k)}" for k in spec.key)
            self._con.execute(f"DELETE FROM {t} AS t USING _etfflow_merged n WHERE {on}")
            cols = ", ".join(_q(c) for c in spec.names)
            self._con.execute(f"INSERT INTO {t} ({cols}) SELECT * FROM _etfflow_merged")
        finally:
            self._con.execute("DROP TABLE IF EXISTS _etfflow_merged")

    def replace(self, table: str, frame: pl.DataFrame, *, tickers: list[str] | None = None) -> int:
        """Replace a derived table's rows (all, or those of `tickers`) by `frame`; atomically."""
        data = validate(frame, table)
        t = _q(table)
        try:
            with self.transaction():
                if tickers is None:
                    self._con.execute(f"DELETE FROM {t}")
                else:
                    self._con.execute(_bind(f"DELETE FROM {t} WHERE ticker IN (SELECT unnest(?))", [tickers]))
                if data.height:
                    self._con.register("_incoming", data.to_arrow())
                    try:
                        self._con.execute(f"INSERT INTO {t} SELECT * FROM _incoming")
                    finally:
                        self._con.unregister("_incoming")
        except duckdb.Error as exc:
            raise StoreError(f"replacing {table} failed; nothing was written: {exc}") from exc
        return data.height

    def record_file(self, sha256: str, path: str, fmt: str, rows: int, *, options: str | None = None) -> bool:
        """Remember an imported file by content hash (and import options); False if it was already known."""
        known = self._scalar("SELECT count(*) FROM files WHERE sha256 = ?", [sha256])
        if known:
            if options is not None:
                self._con.execute(_bind("UPDATE files SET options = ? WHERE sha256 = ?", [options, sha256]))
            return False
        now = dt.datetime.now(dt.UTC)
        self._con.execute(
            _bind(
                "INSERT INTO files (sha256, path, format, rows, imported_at, options) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [sha256, path, fmt, rows, now, options],
            )
        )
        return True

    def known_file(self, sha256: str, options: str) -> int | None:
        """Rows recorded for a file already imported with the same content and options, else None."""
        row = self._con.execute(
            _bind("SELECT rows FROM files WHERE sha256 = ? AND options = ?", [sha256, options])
        ).fetchone()
        return None if row is None else int(row[0])

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run SQL and return a Polars frame."""
        try:
            return self._con.execute(_bind(sql, params)).pl()
        except duckdb.Error as exc:
            raise StoreError(f"query failed: {exc}") from exc

    def _scalar(self, sql: str, params: list[Any] | None = None) -> int:
        row = self._con.execute(_bind(sql, params)).fetchone()
        return int(row[0]) if row else 0

    def read(
        self,
        table: str,
        *,
        tickers: list[str] | None = None,
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> pl.DataFrame:
        """Rows of a canonical table, optionally filtered by ticker and date range, in key order."""
        spec = TABLES[table]
        where: list[str] = []
        params: list[Any] = []
        if tickers is not None and "ticker" in spec.names:
            where.append("ticker IN (SELECT unnest(?))")
            params.append(tickers)
        datecol = next((c for c in ("date", "month_end", "report_date") if c in spec.names), None)
        if datecol and start is not None:
            where.append(f"{_q(datecol)} >= ?")
            params.append(start)
        if datecol and end is not None:
            where.append(f"{_q(datecol)} <= ?")
            params.append(end)
        sql = f"SELECT * FROM {_q(table)}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY " + ", ".join(_q(k) for k in spec.key)
        out = self.query(sql, params)
        return validate(out, table) if out.height else pl.DataFrame(schema=spec.polars_schema)

    def counts(self) -> dict[str, int]:
        """Row count per table."""
        return {t: self._scalar(f"SELECT count(*) FROM {_q(t)}") for t in (*TABLES, "files")}

    def snapshot(self) -> dict[str, pl.DataFrame]:
        """Every table's full content in key order (used to prove imports idempotent)."""
        out = {t: self.read(t) for t in TABLES}
        out["files"] = self.query("SELECT * FROM files ORDER BY sha256")
        return out
