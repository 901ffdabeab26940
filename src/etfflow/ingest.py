"""Streaming import of generic daily panels (CSV / Parquet): file -> DuckDB without the whole file in Python.

An import has two phases.

1. **Stage** (`stage_panel`, before the import's transaction begins: DuckDB scans a table filled inside
   an open transaction with one thread, and one filled before it with all of them). A typed Parquet
   panel (a DATE column, text tickers, numeric values), or a CSV panel whose every cell reads the same
   way in both readers, is read by DuckDB alone (`etfflow.ingest_sql`) into a temporary stage table, and
   the whole stage is checked in SQL against the same rules (`etfflow.checks` bounds, NYSE sessions,
   canonical tickers); any row the SQL check cannot take as it is sends the file through the chunked
   reader instead, which names the row or counts the drop. That reader takes chunks of `CHUNK_ROWS`
   rows, each parsed and checked with the generic importer's rules and messages (dates, tickers,
   numbers, negatives: an error names the file, the row as a user finds it, and the column header; blank
   rows and rows dated on non-sessions are dropped and counted) and appended to the stage. The stage is
   kept in (ticker, date) order. Repeated (date, ticker) rows are then found: identical ones dropped and
   counted, conflicting ones refused naming both rows.
2. **Write** (`write_panel`, in the caller's transaction): the checks against stored rows (swapped or
   mis-scaled columns, truncated values), the set-based upsert into `daily` (`Store.upsert_from`: new
   keys inserted, changed rows updated, a missing value never erases a stored one), and flows
   recomputed only for the funds and dates the import added or changed (`etfflow.refresh`).

When several errors are in one file, the first chunk's error is reported (the whole-file reader reports
the first error of the first check that fails), so another of the file's errors may be named. CSV files
with quoted fields or that are not UTF-8 go through the whole-file reader (their line numbers need it).
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from etfflow import calendar, checks
from etfflow.errors import NotFoundError, ParseError, ValidationError
from etfflow.ingest_sql import adjacent_keys_repeat as _adjacent_keys_repeat
from etfflow.ingest_sql import all_zero_shares as _all_zero_shares
from etfflow.ingest_sql import parquet_schema as _parquet_schema_sql
from etfflow.ingest_sql import stage_csv as _stage_csv_sql
from etfflow.ingest_sql import stage_parquet as _stage_parquet_sql
from etfflow.refresh import refresh_flows_from
from etfflow.schema import TABLES
from etfflow.sources.base import (
    GZIP_MAGIC,
    VALUE_COLUMNS,
    _check_calendar_range,
    add_dropped,
    check_so_lag,
    date_format_of,
    non_session_note,
    parse_dates,
    parse_float,
    resolve_retrieved_at,
)
from etfflow.sources.generic import (
    DATE_FORMATS,
    STAMPED_NOTE,
    fixed_ticker,
    local_dates,
    parse_tickers,
    resolve_panel_columns,
)
from etfflow.store import Store, _literal, _q

__all__ = [
    "CHUNK_ROWS",
    "PanelImport",
    "StagedPanel",
    "Streamable",
    "capped_memory",
    "drop_stage",
    "file_digest",
    "import_panel",
    "refresh_flows_from",
    "stage_panel",
    "streamable",
    "write_panel",
]

#: rows parsed and checked at a time
CHUNK_ROWS = 250_000
#: DuckDB's memory limit while a panel is imported (it spills to disk beyond it)
MEMORY_LIMIT = "512MB"
_CSV_BLOCK = 32 << 20
_STAGE = "_etfflow_stage"
_TOUCHED = "_etfflow_touched"
_NEW = "_etfflow_new"

Progress = Callable[[str, float], None]


def _noop(_msg: str, _frac: float) -> None:
    return None


@dataclass(frozen=True)
class Streamable:
    """A file the streaming path can read: its format ('csv' or 'parquet'), sha256, and whether CSV text
    needs the whole-file reader (quoted fields, not UTF-8)."""

    kind: str
    sha256: str
    whole_file: bool = False
    #: CSV: records after the header, one per line ending (what a reader must return for every line)
    records: int = 0


#: file_digest reads files in blocks of this many bytes
DIGEST_BLOCK = 1 << 22


def file_digest(path: Path) -> tuple[str, bool, bool, int]:
    """(sha256, has a double quote, is valid UTF-8, lines) of a file, read once in blocks; a last line
    without its line ending is counted too.

    The hash of each block runs in a second thread (hashlib releases the GIL) while this one counts its
    lines and checks it; an ASCII block is valid UTF-8 unless a multi-byte character is left open before
    it (then it is decoded, which fails). 0.12 s for a 215 MB CSV panel, 0.31 s done in turn.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    h = hashlib.sha256()
    quote = False
    utf8 = True
    lines = 0
    last = b"\n"
    dec = codecs.getincrementaldecoder("utf-8")()
    hashing: Future[None] | None = None
    try:
        with ThreadPoolExecutor(1) as pool, path.open("rb") as fh:
            for block in iter(lambda: fh.read(DIGEST_BLOCK), b""):
                if hashing is not None:
                    hashing.result()
                hashing = pool.submit(h.update, block)
                lines += int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == 10))
                last = block[-1:]
                quote = quote or b'"' in block
                if utf8 and not (block.isascii() and not dec.getstate()[0]):
                    try:
                        dec.decode(block)
                    except UnicodeDecodeError:
                        utf8 = False
            if hashing is not None:
                hashing.result()
            if utf8:
                try:
                    dec.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8 = False
    except FileNotFoundError as exc:
        raise NotFoundError(f"file not found: {path}") from exc
    except OSError as exc:
        raise ParseError(f"cannot read file: {exc}", file=str(path)) from exc
    return h.hexdigest(), quote, utf8, lines + (last != b"\n")


def streamable(path: Path, fmt: str) -> Streamable | None:
    """How a file of detected format `fmt` streams, or None when it is not a generic CSV/Parquet panel."""
    if fmt not in ("generic_csv", "generic_parquet"):
        return None
    sha, quote, utf8, lines = file_digest(path)
    if fmt == "generic_parquet":
        return Streamable("parquet", sha)
    from etfflow.sources.generic import needs_whole_file  # time-zone dates, trailing disclaimer rows

    whole = quote or not utf8 or _special_csv(path) or needs_whole_file(path)
    return Streamable("csv", sha, whole_file=whole, records=max(lines - 1, 0))


def _special_csv(path: Path) -> bool:
    """A gzip file: the whole-file reader decompresses it."""
    with path.open("rb") as fh:
        return fh.read(2) == GZIP_MAGIC


@dataclass
class PanelImport:
    """What streaming one panel did (the pipeline turns it into an ImportSummary)."""

    source: str
    rows: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    kept: int = 0
    tickers: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    refreshed: int = 0
    already_imported: bool = False


def options_key(options: Mapping[str, Any]) -> str:
    """A stable text of the import options (a file re-imported with other options is read again)."""

    def enc(v: Any) -> Any:
        return v.isoformat() if isinstance(v, dt.datetime) else v

    return json.dumps({k: enc(v) for k, v in sorted(options.items()) if v is not None}, sort_keys=True)


# --- reading chunks ------------------------------------------------------------------------------


def _parquet_chunks(path: Path, file: str, chunk_rows: int) -> tuple[list[str], Iterator[pl.DataFrame]]:
    """Column names and chunks (with `_row`: 1-based row index) of a Parquet file."""
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    try:
        pf = pq.ParquetFile(path)
        names = list(pf.schema_arrow.names)
    except (pa.ArrowException, OSError) as exc:
        raise ParseError(f"not a readable Parquet file: {exc}", file=file) from exc

    def gen() -> Iterator[pl.DataFrame]:
        offset = 0
        try:
            for batch in pf.iter_batches(batch_size=chunk_rows):
                frame = pl.from_arrow(batch)
                assert isinstance(frame, pl.DataFrame)
                n = frame.height
                yield frame.with_columns(
                    pl.int_range(offset + 1, offset + n + 1, dtype=pl.Int64).alias("_row")
                )
                offset += n
        except (pa.ArrowException, OSError) as exc:
            raise ParseError(f"not a readable Parquet file: {exc}", file=file) from exc

    return names, gen()


def _csv_chunks(path: Path, file: str) -> tuple[list[str], Iterator[pl.DataFrame]]:
    """Header (stripped) and string chunks (with `_row`: the file line) of an unquoted UTF-8 CSV file."""
    with path.open("rb") as fh:
        head = fh.readline()
    header_line = head.lstrip(b"\xef\xbb\xbf").rstrip(b"\r\n")
    try:
        header = pl.read_csv(io.BytesIO(header_line + b"\n"), infer_schema=False, n_rows=0).columns
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ParseError(f"not a readable CSV file: {exc}", file=file) from exc
    names = [c.strip() for c in header]

    def gen() -> Iterator[pl.DataFrame]:
        line = 2  # the first data record's line
        with path.open("rb") as fh:
            fh.readline()
            rest = b""
            while True:
                block = fh.read(_CSV_BLOCK)
                data = rest + block
                if not block:
                    rest = b""
                else:
                    cut = data.rfind(b"\n")
                    if cut < 0:
                        rest = data
                        continue
                    data, rest = data[: cut + 1], data[cut + 1 :]
                if data and not data.strip():  # only empty lines: blank rows, as Polars reads them
                    n = data.count(b"\n") + (not data.endswith(b"\n"))
                    blank = pl.DataFrame({c: [""] * n for c in names}, schema=dict.fromkeys(names, pl.String))
                    yield blank.with_columns(pl.int_range(line, line + n, dtype=pl.Int64).alias("_row"))
                    line += data.count(b"\n")
                elif data:
                    try:
                        frame = pl.read_csv(
                            io.BytesIO(header_line + b"\n" + data),
                            infer_schema=False,
                            truncate_ragged_lines=False,
                            has_header=True,
                        )
                    except (pl.exceptions.PolarsError, OSError) as exc:
                        raise ParseError(f"not a readable CSV file: {exc}", file=file) from exc
                    frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
                    frame = frame.with_columns(pl.all().str.strip_chars())
                    n = frame.height
                    yield frame.with_columns(pl.int_range(line, line + n, dtype=pl.Int64).alias("_row"))
                    line += data.count(b"\n")
                if not block:
                    return

    return names, gen()


# --- checking a chunk ----------------------------------------------------------------------------


@dataclass
class _Spec:
    """The resolved columns and options of one panel."""

    file: str
    chosen: dict[str, str]
    ticker: str | None
    formats: tuple[str, ...]
    values: list[str]
    stage: str = _STAGE
    #: the date format the first chunk was read with: every later chunk must use it (a file's dates are
    #: read with one format, as the whole-file reader reads them)
    pinned: str | None = None


def _key_hashes(frame: pl.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's (date, ticker): equal keys give equal hashes (collisions are rare)."""
    return frame.select(pl.struct("date", "ticker").hash(seed=0)).to_series().to_numpy()


def _check_chunk(raw: pl.DataFrame, spec: _Spec, dropped: dict[str, int], notes: set[str]) -> pl.DataFrame:
    """One chunk parsed and checked like the generic importer: `_row`, date, ticker, value columns."""
    file, labels = spec.file, spec.chosen
    frame = raw.select(pl.col("_row"), *[pl.col(src).alias(canon) for canon, src in spec.chosen.items()])
    cells = [c for c in frame.columns if c != "_row"]
    blank = pl.all_horizontal(
        (pl.col(c).is_null() | (pl.col(c) == "")) if frame.schema[c] == pl.String else pl.col(c).is_null()
        for c in cells
    )
    n_blank = int(frame.select(blank.sum()).item())
    if n_blank:
        add_dropped(dropped, "blank_rows", n_blank)
        frame = frame.filter(~blank)
    rows = frame["_row"]

    def here(r: int) -> int:
        return r

    frame, stamped = local_dates(frame)
    if stamped:
        notes.add(STAMPED_NOTE)
    formats = (spec.pinned,) if spec.pinned else spec.formats
    out: dict[str, pl.Series] = {
        "_row": rows,
        "date": parse_dates(
            frame["date"],
            rows,
            file=file,
            field=labels["date"],
            locate=here,
            formats=formats,
            listed=spec.formats,
        ),
    }
    if spec.pinned is None and len(spec.formats) > 1 and frame["date"].dtype == pl.String and frame.height:
        spec.pinned = date_format_of(frame["date"], spec.formats)
    if "ticker" in labels:
        out["ticker"] = parse_tickers(frame["ticker"], rows, file=file, field=labels["ticker"], locate=here)
    else:
        out["ticker"] = pl.Series("ticker", [spec.ticker] * frame.height, dtype=pl.String)
    for c in spec.values:
        out[c] = parse_float(frame[c].alias(c), rows, file=file, field=labels[c], locate=here)
    daily = TABLES["daily"]
    for c in spec.values:
        if not daily.column(c).nonnegative:
            continue
        neg = out[c] < 0
        if neg.any():
            i = int(neg.arg_true()[0])
            raise ValidationError(
                f"negative value {out[c][i]} ({c})", file=file, row=int(rows[i]), field=labels.get(c, c)
            )
    result = pl.DataFrame(list(out.values()))
    # the value checks of every import (etfflow.checks): numbers, identifiers
    checks.check_frame(result, "daily", file=file, locate=here, labels=labels, dates=False)
    # rows after tomorrow and rows on days that are not sessions stay until the whole file's
    # all-zero-shares check has seen them, as in the whole-file reader (`_drop_future_rows`,
    # `_drop_non_sessions`)
    current = result.filter(pl.col("date") <= checks.last_date())
    _check_calendar_range(
        current, current["date"].to_numpy().astype("datetime64[D]"), "US", file=file, locate=here
    )
    return result


def _spec(
    names: list[str],
    *,
    file: str,
    mapping: Mapping[str, str] | None,
    ticker: str | None,
    date_format: str | None,
    header_row: int | None,
) -> tuple[_Spec, list[str]]:
    """Resolve the file's columns as the generic importer does; (spec, ignored columns)."""
    chosen, ignored = resolve_panel_columns(names, mapping, ticker, file=file, header_row=header_row)
    symbol = fixed_ticker(ticker) if ticker is not None else None
    values = [c for c in VALUE_COLUMNS if c in chosen]
    formats = (date_format,) if date_format else DATE_FORMATS
    return _Spec(file, chosen, symbol, formats, values), ignored


# --- the import ----------------------------------------------------------------------------------


@contextmanager
def capped_memory(store: Store) -> Iterator[None]:
    """DuckDB's memory limit at `MEMORY_LIMIT` while panels are imported (it spills beyond it)."""
    con = store.connection
    limit = con.execute("SELECT current_setting('memory_limit')").fetchone()
    con.execute(f"SET memory_limit = {_literal(MEMORY_LIMIT)}")
    try:
        yield
    finally:
        if limit:
            con.execute(f"SET memory_limit = {_literal(limit[0])}")


@dataclass
class StagedPanel:
    """A panel read and checked into its stage table, waiting to be written (`write_panel`)."""

    path: Path
    info: Streamable
    spec: _Spec
    out: PanelImport
    options: str
    so_lag: int | None
    stamp: dt.datetime


def stage_panel(
    store: Store,
    path: Path,
    info: Streamable,
    *,
    index: int = 0,
    mapping: Mapping[str, str] | None = None,
    ticker: str | None = None,
    so_lag: int | None = 0,
    source: str | None = None,
    date_format: str | None = None,
    retrieved_at: dt.datetime | None = None,
    chunk_rows: int | None = None,
    progress: Progress = _noop,
) -> StagedPanel | PanelImport:
    """Read and check one panel into a temporary stage table: the first phase of an import.

    Run it before the import's transaction begins: DuckDB scans a table filled inside an open
    transaction with one thread, one filled before it with all of them. The file's own checks run here
    (rows, dates, tickers, numbers, repeated keys); the checks against stored rows when it is written.
    The stage holds the rows in (ticker, date) order: `daily` then gets full row groups of a few funds
    each (rows written in file order cost DuckDB a rewrite of them at its next checkpoint, 0.8 s for 6M
    rows, more than the sort), and the flows read each fund's rows back together.
    A file whose content (sha256) was already imported with the same options is recognised and not
    read again (a PanelImport with `already_imported`). Drop the stage with `drop_stage`.
    """
    file = str(path)
    so_lag = check_so_lag(so_lag)
    src = source or info.kind
    opts = options_key(
        {"mapping": dict(mapping) if mapping else None, "ticker": ticker, "so_lag": so_lag, "source": src}
        | {"date_format": date_format, "retrieved_at": retrieved_at}
    )
    known = store.known_file(info.sha256, opts)
    if known is not None:
        return _already(src, known)
    stamp = resolve_retrieved_at(path, retrieved_at)
    types = _parquet_schema_sql(store, path) if info.kind == "parquet" else None
    chunks: Iterator[pl.DataFrame] | None = None
    if types is not None:
        names = list(types)
    elif info.kind == "parquet":
        names, chunks = _parquet_chunks(path, file, chunk_rows or CHUNK_ROWS)
    else:
        names, chunks = _csv_chunks(path, file)
    header_row = 1 if info.kind == "csv" else None
    spec, ignored = _spec(
        names, file=file, mapping=mapping, ticker=ticker, date_format=date_format, header_row=header_row
    )
    spec.stage = f"{_STAGE}_{index}"
    out = PanelImport(src)
    out.notes.append(f"so_lag={so_lag} declared by the caller" if so_lag is not None else "so_lag unknown")
    if ignored:
        out.notes.append(f"ignored column(s): {ignored}")
    chunk_notes: set[str] = set()
    hashes: list[np.ndarray] = []
    con = store.connection
    _create_stage(store, spec)
    staged = StagedPanel(path, info, spec, out, opts, so_lag, stamp)
    try:
        if types is not None:
            in_sql = _stage_parquet_sql(store, path, spec, types)
        else:
            in_sql = info.kind == "csv" and _stage_csv_sql(store, path, spec, names, info.records)
        if in_sql:
            progress(f"read {path.name} in SQL", 0.3)
        elif chunks is None:  # DuckDB read the schema, but a row needs the chunked reader
            arrow_names, chunks = _parquet_chunks(path, file, chunk_rows or CHUNK_ROWS)
            if arrow_names != names:  # not seen: DuckDB and Arrow name a file's columns alike
                stage = spec.stage
                spec, _ = _spec(
                    arrow_names,
                    file=file,
                    mapping=mapping,
                    ticker=ticker,
                    date_format=date_format,
                    header_row=None,
                )
                spec.stage = stage
                staged.spec = spec
                _create_stage(store, spec)
        for k, raw in enumerate(() if in_sql else chunks or ()):
            progress(f"reading {path.name}: chunk {k + 1}", 0.1)
            checked = _check_chunk(raw, spec, out.dropped, chunk_notes)
            hashes.append(_key_hashes(checked))
            if checked.height:
                con.register("_etfflow_chunk", checked.to_arrow())
                try:
                    con.execute(f"INSERT INTO {spec.stage} SELECT * FROM _etfflow_chunk")
                finally:
                    con.unregister("_etfflow_chunk")
        out.notes.extend(sorted(chunk_notes))
        progress(f"checking {path.name}", 0.4)
        # the whole-file reader's order: a fund whose every shares count is 0 (repeats and rows on
        # non-session days counted), then repeated keys, then rows on days that are not sessions
        if not (in_sql and info.kind == "csv"):  # a CSV staged in SQL has been through this check
            _refuse_all_zero_shares(store, spec)
        if not in_sql:  # the SQL staging takes only files without rows after tomorrow
            _drop_future_rows(store, spec, out.dropped, out.notes)
        if in_sql:  # the rows are in (ticker, date) order: a repeated key sits next to its first
            # (a CSV staged in SQL has been through this check: it had none)
            repeats = info.kind == "parquet" and _adjacent_keys_repeat(store, spec.stage)
        else:
            repeats = _hashes_repeat(hashes)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {spec.stage} AS SELECT * FROM {spec.stage} "
                "ORDER BY ticker, date"
            )
        del hashes
        if repeats:
            _drop_repeats(store, spec, out.dropped)
        if not in_sql:  # the SQL staging takes only files whose every row is on a session
            off = _drop_non_sessions(store, spec, out.dropped)
            if off:
                out.notes.append(non_session_note(out.dropped.get("non_session_rows", 0), off, "US"))
    except BaseException:
        drop_stage(store, staged)
        raise
    return staged


def _create_stage(store: Store, spec: _Spec) -> None:
    cols = ", ".join(
        ["_row BIGINT", "date DATE", "ticker VARCHAR"] + [f"{_q(c)} DOUBLE" for c in spec.values]
    )
    store.connection.execute(f"CREATE OR REPLACE TEMP TABLE {spec.stage} ({cols})")


def _hashes_repeat(hashes: list[np.ndarray]) -> bool:
    """Whether any key hash appears twice (else no (date, ticker) key can repeat)."""
    every = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
    every.sort()  # in place: 8 bytes a row, where a hash set would take several times that
    return len(every) > 1 and bool((every[1:] == every[:-1]).any())


def _already(source: str, rows: int) -> PanelImport:
    return PanelImport(
        source,
        rows=rows,
        unchanged=rows,
        already_imported=True,
        notes=["already imported (same content and options): not read again"],
    )


def drop_stage(store: Store, staged: StagedPanel) -> None:
    """Drop a panel's stage table (after its import committed or failed)."""
    store.connection.execute(f"DROP TABLE IF EXISTS {staged.spec.stage}")


def write_panel(store: Store, staged: StagedPanel, progress: Progress = _noop) -> PanelImport:
    """Write a staged panel into the warehouse (in the caller's transaction) and refresh its flows: the
    second phase of an import. The checks against the stored rows run first (swapped or mis-scaled
    columns, truncated values)."""
    spec, out, path = staged.spec, staged.out, staged.path
    src = out.source
    known = store.known_file(staged.info.sha256, staged.options)  # the same file twice in one import
    if known is not None:
        return _already(src, known)
    con = store.connection
    try:
        _whole_file_checks(store, spec, src)
        progress(f"writing {path.name}", 0.5)
        values = ", ".join(
            (_q(c) if c in spec.values else f"NULL::{_sql_type(c)}") + f" AS {_q(c)}"
            for c in TABLES["daily"].names
            if c not in ("date", "ticker", "source", "so_lag", "retrieved_at")
        )
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _etfflow_incoming AS SELECT date, ticker, "
            f"{_literal(src)} AS source, {values}, {_literal(staged.so_lag)}::TINYINT AS so_lag, "
            f"{_literal(staged.stamp)} AS retrieved_at "
            f"FROM {spec.stage}"
        )
        # funds with no stored row yet: their flows are computed from the stage (see refresh_flows_from)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_NEW} AS SELECT DISTINCT s.ticker FROM {spec.stage} s "
            "ANTI JOIN (SELECT DISTINCT ticker FROM daily) d ON s.ticker = d.ticker"
        )
        res = store.upsert_from("daily", "_etfflow_incoming", touched=_TOUCHED, kept_columns=spec.values)
        out.rows = res.added + res.changed + res.unchanged
        out.added, out.changed, out.unchanged, out.kept = res.added, res.changed, res.unchanged, res.kept
        out.tickers = [
            r[0] for r in con.execute(f"SELECT DISTINCT ticker FROM {spec.stage} ORDER BY 1").fetchall()
        ]
        progress(f"flows for {path.name}", 0.7)
        out.refreshed = refresh_flows_from(store, _TOUCHED, new=(_NEW, "_etfflow_incoming"))
        store.record_file(staged.info.sha256, spec.file, src, out.rows, options=staged.options)
    finally:
        con.execute("DROP VIEW IF EXISTS _etfflow_incoming")
        con.execute(f"DROP TABLE IF EXISTS {_TOUCHED}")
        con.execute(f"DROP TABLE IF EXISTS {_NEW}")
    return out


def import_panel(
    store: Store, path: Path, info: Streamable, *, progress: Progress = _noop, **options: Any
) -> PanelImport:
    """Stage and write one panel (`stage_panel`, then `write_panel`), in the caller's transaction if
    any. `pipeline.import_paths` stages every panel before its transaction begins instead."""
    with capped_memory(store):
        staged = stage_panel(store, path, info, progress=progress, **options)
        if isinstance(staged, PanelImport):
            return staged
        try:
            return write_panel(store, staged, progress)
        finally:
            drop_stage(store, staged)


def _whole_file_checks(store: Store, spec: _Spec, source: str) -> None:
    """`etfflow.checks` against the stored rows, in SQL, with their messages: values `checks.FACTOR`
    times the stored ones (every overlapping day of a fund, or one day of the same source). A fund whose
    every shares count is 0 was refused when the file was staged (`_refuse_all_zero_shares`)."""
    con = store.connection
    file = spec.file
    cols = [c for c in ("shares_outstanding", "nav") if c in spec.values]
    if not cols or not con.execute("SELECT count(*) FROM (SELECT 1 FROM daily LIMIT 1)").fetchone()[0]:  # type: ignore[index]
        return
    far = checks.FACTOR
    for c in cols:
        q = _q(c)
        pairs = (
            f"SELECT n.ticker, n.date, n.{q} AS v, d.{q} AS vs, d.source AS ss, n.{q} / d.{q} AS ratio "
            f"FROM {spec.stage} n JOIN daily d ON d.date = n.date AND d.ticker = n.ticker "
            f"WHERE n.{q} > 0 AND d.{q} > 0"
        )
        whole = con.execute(
            f"SELECT ticker, count(*), min(ratio), max(ratio) FROM ({pairs}) GROUP BY ticker "
            f"HAVING min(ratio) >= {far!r} OR max(ratio) <= {1 / far!r} ORDER BY ticker LIMIT 1"
        ).fetchone()
        if whole:
            tick, n, lo, hi = whole
            factor = lo if lo >= far else hi
            raise ValidationError(
                f"{tick}: every one of the {n} overlapping {c} values differs from the stored "
                f"one by a factor of {factor:.3g} or more (swapped or mis-scaled columns?); "
                "nothing was imported",
                file=file,
                field=c,
            )
        one = con.execute(
            f"SELECT ticker, date, v, vs, ratio FROM ({pairs}) WHERE ss = {_literal(source)} "
            f"AND (ratio >= {far!r} OR ratio <= {1 / far!r}) ORDER BY date, ticker LIMIT 1"
        ).fetchone()
        if one:
            tick, day, v, vs, ratio = one
            raise ValidationError(
                f"{tick} {day}: {c} {v:,.6g} would replace the stored {vs:,.6g} "
                f"(a factor of {ratio:.3g}: a truncated or mis-scaled value?); nothing was imported",
                file=file,
                field=c,
            )


def _sql_type(col: str) -> str:
    dtype = TABLES["daily"].column(col).dtype
    return "BOOLEAN" if dtype == pl.Boolean else "TINYINT" if dtype == pl.Int8 else "DOUBLE"


def _refuse_all_zero_shares(store: Store, spec: _Spec) -> None:
    """ValidationError for the first fund in the file whose every shares count (at least 5) is 0."""
    zero = _all_zero_shares(store, spec)
    if zero:
        where = f"WHERE ticker = {_literal(zero[0])}"
        first = store.connection.execute(f"SELECT min(_row) FROM {spec.stage} {where}").fetchone()
        raise ValidationError(
            f"every one of the {zero[1]} shares counts of {zero[0]} is 0: swapped or mis-scaled columns? "
            "nothing was imported",
            file=spec.file,
            row=int(first[0]) if first and first[0] is not None else None,
            field=spec.chosen.get("shares_outstanding", "shares_outstanding"),
        )


def _drop_future_rows(store: Store, spec: _Spec, dropped: dict[str, int], notes: list[str]) -> None:
    """Delete the stage's rows dated after tomorrow, counted, with `etfflow.checks`' note."""
    con = store.connection
    limit = checks.last_date()
    late = f"date > {_literal(limit)}"
    got = con.execute(f"SELECT count(*), min(date)::VARCHAR FROM {spec.stage} WHERE {late}").fetchone()
    if got is None or not got[0]:
        return
    con.execute(f"DELETE FROM {spec.stage} WHERE {late}")
    add_dropped(dropped, "future_rows", int(got[0]))
    notes.append(checks.future_note(int(got[0]), limit, str(got[1])))


def _drop_non_sessions(store: Store, spec: _Spec, dropped: dict[str, int]) -> list[str]:
    """Delete the stage's rows dated on days that are not NYSE sessions, counted; their dates, sorted."""
    con = store.connection
    got = con.execute(f"SELECT DISTINCT date - DATE '1970-01-01' AS d FROM {spec.stage}").fetchnumpy()
    days = np.asarray(got["d"]).astype(np.int64).view("datetime64[D]")
    off = np.sort(days[~calendar.is_trading_day(days)]) if len(days) else days
    if not len(off):
        return []
    numbers = ", ".join(str(int(d)) for d in off.view(np.int64))
    gone = con.execute(f"DELETE FROM {spec.stage} WHERE date - DATE '1970-01-01' IN ({numbers})").fetchone()
    add_dropped(dropped, "non_session_rows", int(gone[0]) if gone else 0)
    return [str(d) for d in off]


def _drop_repeats(store: Store, spec: _Spec, dropped: dict[str, int]) -> None:
    """Across the whole stage: drop identical repeats of a (date, ticker) row, refuse conflicting ones."""
    con = store.connection
    repeated = con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {spec.stage} GROUP BY date, ticker HAVING count(*) > 1)"
    ).fetchone()
    if not repeated or not repeated[0]:
        return
    content = ", ".join(["date", "ticker", *[_q(c) for c in spec.values]])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _etfflow_firsts AS SELECT min(_row) AS r, {content} "
        f"FROM {spec.stage} GROUP BY ALL"
    )
    try:
        clash = con.execute(
            "SELECT date, ticker, list(r ORDER BY r) AS rs FROM _etfflow_firsts GROUP BY date, ticker "
            "HAVING count(*) > 1 ORDER BY rs[2] LIMIT 1"
        ).fetchone()
        if clash:
            day, tick, rs = clash
            first = con.execute(f"SELECT * FROM {spec.stage} WHERE _row = {int(rs[0])}").fetchone()
            second = con.execute(f"SELECT * FROM {spec.stage} WHERE _row = {int(rs[1])}").fetchone()
            assert first is not None and second is not None
            names = ["_row", "date", "ticker", *spec.values]
            a, b = dict(zip(names, first, strict=True)), dict(zip(names, second, strict=True))
            diff = next(c for c in spec.values if a[c] != b[c] and not (a[c] != a[c] and b[c] != b[c]))
            raise ValidationError(
                f"{tick} {day} appears again with a different value "
                f"({a[diff]!r} at row {rs[0]}, {b[diff]!r} here)",
                file=spec.file,
                row=int(rs[1]),
                field=spec.chosen.get(diff, diff),
            )
        gone = con.execute(
            f"DELETE FROM {spec.stage} WHERE _row NOT IN (SELECT r FROM _etfflow_firsts)"
        ).fetchone()
        add_dropped(dropped, "duplicate_rows", int(gone[0]) if gone else 0)
    finally:
        con.execute("DROP TABLE IF EXISTS _etfflow_firsts")
