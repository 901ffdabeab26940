"""Streaming import of generic daily panels (CSV / Parquet): file -> DuckDB without the whole file in Python.

The file is read in chunks of `CHUNK_ROWS` rows. Each chunk is parsed and checked with the generic
importer's rules and messages (dates, tickers, numbers, negatives: an error names the file, the row as a
user finds it, and the column header; blank rows and rows dated on non-sessions are dropped and counted)
and appended to a temporary staging table. The checks that need the whole file run in SQL on the stage
(repeated (date, ticker) rows: identical ones dropped and counted, conflicting ones refused naming both
rows). The stage is then upserted into `daily` set-based (`Store.upsert_from`: new keys inserted,
changed rows updated, a missing value never erases a stored one) and flows are recomputed only for the
funds and dates the import added or changed (`refresh_flows_from`), all in the caller's transaction.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from etfflow import calendar, checks
from etfflow.errors import NotFoundError, ParseError, ValidationError
from etfflow.schema import TABLES
from etfflow.sources.base import (
    GZIP_MAGIC,
    VALUE_COLUMNS,
    _check_calendar_range,
    add_dropped,
    check_so_lag,
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
    "FLOW_GROUP_ROWS",
    "PanelImport",
    "Streamable",
    "file_digest",
    "import_panel",
    "refresh_flows_from",
    "streamable",
]

#: rows parsed and checked at a time
CHUNK_ROWS = 250_000
#: about how many `daily` rows are read back at a time to recompute flows
FLOW_GROUP_ROWS = 250_000
#: DuckDB's memory limit while a panel is imported (it spills to disk beyond it)
MEMORY_LIMIT = "512MB"
_CSV_BLOCK = 32 << 20
_STAGE = "_etfflow_stage"
_TOUCHED = "_etfflow_touched"
_CTX = "_etfflow_ctx"

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


def file_digest(path: Path) -> tuple[str, bool, bool]:
    """(sha256, has a double quote, is valid UTF-8) of a file, read once in blocks."""
    h = hashlib.sha256()
    quote = False
    utf8 = True
    dec = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
                quote = quote or b'"' in block
                if utf8:
                    try:
                        dec.decode(block)
                    except UnicodeDecodeError:
                        utf8 = False
            if utf8:
                try:
                    dec.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8 = False
    except FileNotFoundError as exc:
        raise NotFoundError(f"file not found: {path}") from exc
    except OSError as exc:
        raise ParseError(f"cannot read file: {exc}", file=str(path)) from exc
    return h.hexdigest(), quote, utf8


def streamable(path: Path, fmt: str) -> Streamable | None:
    """How a file of detected format `fmt` streams, or None when it is not a generic CSV/Parquet panel."""
    if fmt not in ("generic_csv", "generic_parquet"):
        return None
    sha, quote, utf8 = file_digest(path)
    if fmt == "generic_parquet":
        return Streamable("parquet", sha)
    from etfflow.sources.generic import needs_whole_file  # time-zone dates, trailing disclaimer rows

    whole = quote or not utf8 or _special_csv(path) or needs_whole_file(path)
    return Streamable("csv", sha, whole_file=whole)


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
                if data.strip():
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


def _key_hashes(frame: pl.DataFrame) -> np.ndarray:
    """A 64-bit hash of each row's (date, ticker): equal keys give equal hashes (collisions are rare)."""
    return frame.select(pl.struct("date", "ticker").hash(seed=0)).to_series().to_numpy()


def _check_chunk(
    raw: pl.DataFrame, spec: _Spec, dropped: dict[str, int], off: set[str], notes: set[str]
) -> pl.DataFrame:
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
    out: dict[str, pl.Series] = {
        "_row": rows,
        "date": parse_dates(
            frame["date"], rows, file=file, field=labels["date"], locate=here, formats=spec.formats
        ),
    }
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
    # the value checks of every import (etfflow.checks): numbers, identifiers; rows after tomorrow dropped
    checks.check_frame(result, "daily", file=file, locate=here, labels=labels, dates=False)
    later: list[str] = []
    result = checks._drop_future(result, "date", dropped, later) if result.height else result
    notes.update(later)
    days = result["date"].to_numpy().astype("datetime64[D]")
    _check_calendar_range(result, days, "US", file=file, locate=here)
    session = calendar.is_trading_day(days) if len(days) else np.zeros(0, dtype=bool)
    if not session.all():
        off.update(str(d) for d in np.unique(days[~session]))
        add_dropped(dropped, "non_session_rows", int((~session).sum()))
        result = result.filter(pl.Series(session))
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


def import_panel(
    store: Store,
    path: Path,
    info: Streamable,
    *,
    mapping: Mapping[str, str] | None = None,
    ticker: str | None = None,
    so_lag: int | None = 0,
    source: str | None = None,
    date_format: str | None = None,
    retrieved_at: dt.datetime | None = None,
    chunk_rows: int | None = None,
    progress: Progress = _noop,
) -> PanelImport:
    """Stream one generic panel into the warehouse (in the caller's transaction) and refresh its flows.

    A file whose content (sha256) was already imported with the same options is recognised and not
    read again (`already_imported`).
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
        return PanelImport(
            src,
            rows=known,
            unchanged=known,
            already_imported=True,
            notes=["already imported (same content and options): not read again"],
        )
    stamp = resolve_retrieved_at(path, retrieved_at)
    if info.kind == "parquet":
        names, chunks = _parquet_chunks(path, file, chunk_rows or CHUNK_ROWS)
        header_row = None
    else:
        names, chunks = _csv_chunks(path, file)
        header_row = 1
    spec, ignored = _spec(
        names, file=file, mapping=mapping, ticker=ticker, date_format=date_format, header_row=header_row
    )
    out = PanelImport(src)
    out.notes.append(f"so_lag={so_lag} declared by the caller" if so_lag is not None else "so_lag unknown")
    if ignored:
        out.notes.append(f"ignored column(s): {ignored}")
    off: set[str] = set()
    chunk_notes: set[str] = set()
    hashes: list[np.ndarray] = []
    con = store.connection
    cols = ", ".join(
        ["_row BIGINT", "date DATE", "ticker VARCHAR"] + [f"{_q(c)} DOUBLE" for c in spec.values]
    )
    limit = con.execute("SELECT current_setting('memory_limit')").fetchone()
    con.execute(f"SET memory_limit = {_literal(MEMORY_LIMIT)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_STAGE} ({cols})")
    try:
        for k, raw in enumerate(chunks):
            progress(f"reading {path.name}: chunk {k + 1}", 0.1)
            checked = _check_chunk(raw, spec, out.dropped, off, chunk_notes)
            hashes.append(_key_hashes(checked))
            if checked.height:
                con.register("_etfflow_chunk", checked.to_arrow())
                try:
                    con.execute(f"INSERT INTO {_STAGE} SELECT * FROM _etfflow_chunk")
                finally:
                    con.unregister("_etfflow_chunk")
        out.notes.extend(sorted(chunk_notes))
        if off:
            shown = sorted(off)
            n_off = out.dropped.get("non_session_rows", 0)
            listed = ", ".join(shown[:10]) + (", ..." if len(shown) > 10 else "")
            out.notes.append(
                f"{n_off} row(s) dated on days that are not NYSE sessions were dropped: {listed}"
            )
        progress(f"checking {path.name}", 0.4)
        every = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
        del hashes
        every.sort()  # in place: 8 bytes a row, where a hash set would take several times that
        if len(every) > 1 and bool((every[1:] == every[:-1]).any()):  # else no key can repeat
            _drop_repeats(store, spec, out.dropped)
        del every
        _whole_file_checks(store, spec, src)  # after repeats, as the whole-file reader's order
        progress(f"writing {path.name}", 0.5)
        values = ", ".join(
            (_q(c) if c in spec.values else f"NULL::{_sql_type(c)}") + f" AS {_q(c)}"
            for c in TABLES["daily"].names
            if c not in ("date", "ticker", "source", "so_lag", "retrieved_at")
        )
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _etfflow_incoming AS SELECT date, ticker, "
            f"{_literal(src)} AS source, {values}, {_literal(so_lag)}::TINYINT AS so_lag, "
            f"{_literal(stamp)} AS retrieved_at "
            f"FROM {_STAGE}"
        )
        res = store.upsert_from("daily", "_etfflow_incoming", touched=_TOUCHED, kept_columns=spec.values)
        out.rows = res.added + res.changed + res.unchanged
        out.added, out.changed, out.unchanged, out.kept = res.added, res.changed, res.unchanged, res.kept
        out.tickers = [
            r[0] for r in con.execute(f"SELECT DISTINCT ticker FROM {_STAGE} ORDER BY 1").fetchall()
        ]
        progress(f"flows for {path.name}", 0.7)
        out.refreshed = refresh_flows_from(store, _TOUCHED)
        store.record_file(info.sha256, file, src, out.rows, options=opts)
    finally:
        if limit:
            con.execute(f"SET memory_limit = {_literal(limit[0])}")
        con.execute("DROP VIEW IF EXISTS _etfflow_incoming")
        con.execute(f"DROP TABLE IF EXISTS {_STAGE}")
        con.execute(f"DROP TABLE IF EXISTS {_TOUCHED}")
    return out


def _whole_file_checks(store: Store, spec: _Spec, source: str) -> None:
    """`etfflow.checks` on the whole staged file, in SQL, with its messages: a fund whose every shares
    count is 0, and values `checks.FACTOR` times the stored ones (every overlapping day of a fund, or one
    day of the same source)."""
    con = store.connection
    file = spec.file
    if "shares_outstanding" in spec.values:
        zero = con.execute(
            f"SELECT ticker, count(shares_outstanding) AS n FROM {_STAGE} GROUP BY ticker "
            "HAVING count(shares_outstanding) >= 5 AND bool_and(shares_outstanding = 0) "
            "ORDER BY min(_row) LIMIT 1"
        ).fetchone()
        if zero:
            first = con.execute(
                f"SELECT min(_row) FROM {_STAGE} WHERE ticker = {_literal(zero[0])}"
            ).fetchone()
            raise ValidationError(
                f"every one of the {zero[1]} shares counts of {zero[0]} is 0: swapped or mis-scaled columns? "
                "nothing was imported",
                file=file,
                row=int(first[0]) if first else None,
                field=spec.chosen.get("shares_outstanding", "shares_outstanding"),
            )
    cols = [c for c in ("shares_outstanding", "nav") if c in spec.values]
    if not cols or not con.execute("SELECT count(*) FROM (SELECT 1 FROM daily LIMIT 1)").fetchone()[0]:  # type: ignore[index]
        return
    far = checks.FACTOR
    for c in cols:
        q = _q(c)
        pairs = (
            f"SELECT n.ticker, n.date, n.{q} AS v, d.{q} AS vs, d.source AS ss, n.{q} / d.{q} AS ratio "
            f"FROM {_STAGE} n JOIN daily d ON d.date = n.date AND d.ticker = n.ticker "
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


def _drop_repeats(store: Store, spec: _Spec, dropped: dict[str, int]) -> None:
    """Across the whole stage: drop identical repeats of a (date, ticker) row, refuse conflicting ones."""
    con = store.connection
    repeated = con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {_STAGE} GROUP BY date, ticker HAVING count(*) > 1)"
    ).fetchone()
    if not repeated or not repeated[0]:
        return
    content = ", ".join(["date", "ticker", *[_q(c) for c in spec.values]])
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _etfflow_firsts AS SELECT min(_row) AS r, {content} "
        f"FROM {_STAGE} GROUP BY ALL"
    )
    try:
        clash = con.execute(
            "SELECT date, ticker, list(r ORDER BY r) AS rs FROM _etfflow_firsts GROUP BY date, ticker "
            "HAVING count(*) > 1 ORDER BY rs[2] LIMIT 1"
        ).fetchone()
        if clash:
            day, tick, rs = clash
            first = con.execute(f"SELECT * FROM {_STAGE} WHERE _row = {int(rs[0])}").fetchone()
            second = con.execute(f"SELECT * FROM {_STAGE} WHERE _row = {int(rs[1])}").fetchone()
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
            f"DELETE FROM {_STAGE} WHERE _row NOT IN (SELECT r FROM _etfflow_firsts)"
        ).fetchone()
        add_dropped(dropped, "duplicate_rows", int(gone[0]) if gone else 0)
    finally:
        con.execute("DROP TABLE IF EXISTS _etfflow_firsts")


# --- flows for what an import touched --------------------------------------------------------------

#: observations (rows with a shares count, or AUM and NAV) of context read before the first changed date
_CONTEXT_OBS = 3
#: rows of context read before the first changed date besides the fund's largest reporting lag
_CONTEXT_ROWS = 8
#: how far back (calendar days) context is looked for; a fund with less context is recomputed in full
_CONTEXT_DAYS = 400


def refresh_flows_from(store: Store, touched: str) -> int:
    """Recompute `flows_daily` for the (ticker, first changed date) rows of table `touched`; rows written.

    A fund's flows are recomputed from a few observations before its first changed date (the prior
    count, bad-print and split context) to its last row, and replace the stored flows from the previous
    observation on. A fund with several sources, too little recent context, or a split in the
    recomputed range is recomputed over its whole history (a split rescales every earlier row).
    """
    con = store.connection
    n = con.execute(f"SELECT count(*) FROM {touched}").fetchone()
    if not n or not n[0]:
        return 0
    _context(store, touched)
    groups = [r[0] for r in con.execute(f"SELECT DISTINCT grp FROM {_CTX} ORDER BY grp").fetchall()]
    written = 0
    full: list[str] = []
    from etfflow.pipeline import funds_table

    funds = funds_table(store)
    try:
        for g in groups:
            written += _flows_group(store, g, full, funds)
        if full:
            con.execute(
                f"UPDATE {_CTX} SET ctx_start = NULL, keep_from = NULL, grp = -1 "
                f"WHERE ticker IN (SELECT unnest({_literal(full)}))"
            )
            written += _flows_group(store, -1, [], funds)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_CTX}")
    return written


def _context(store: Store, touched: str) -> None:
    """Table _CTX: per touched ticker, where to start reading (ctx_start), where results are kept from
    (keep_from; NULL: from the start) and its read group."""
    con = store.connection
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_CTX} AS
        WITH t AS (SELECT ticker, lo FROM {touched}),
        prev AS (
            SELECT d.ticker, d.date,
                bool_or(d.shares_outstanding IS NOT NULL
                        OR (d.total_net_assets IS NOT NULL AND d.nav > 0)) AS obs,
                max(d.so_lag) AS lag
            FROM daily d JOIN t ON d.ticker = t.ticker
            WHERE d.date < t.lo AND d.date >= t.lo - INTERVAL {_CONTEXT_DAYS} DAY
            GROUP BY d.ticker, d.date),
        r AS (
            SELECT ticker, date, obs,
                row_number() OVER w AS rn,
                sum(obs::INT) OVER w AS nobs,
                max(lag) OVER (PARTITION BY ticker) AS maxlag
            FROM prev WINDOW w AS (PARTITION BY ticker ORDER BY date DESC ROWS UNBOUNDED PRECEDING)),
        c AS (
            SELECT t.ticker, t.lo,
                min(r.date) FILTER (r.nobs <= {_CONTEXT_OBS}
                                    OR r.rn <= coalesce(r.maxlag, 0) + {_CONTEXT_ROWS}) AS ctx_start,
                max(r.date) FILTER (r.obs) AS keep_from,
                coalesce(max(r.nobs), 0) AS nobs
            FROM t LEFT JOIN r ON r.ticker = t.ticker
            GROUP BY t.ticker, t.lo),
        counted AS (
            SELECT c.ticker, c.ctx_start, c.keep_from, c.nobs,
                CASE WHEN min(d.source) = max(d.source) THEN 1 ELSE 2 END AS n_src,
                count(d.date) AS rows_all,
                count(d.date) FILTER (d.date >= c.ctx_start) AS rows_ctx
            FROM c LEFT JOIN daily d ON d.ticker = c.ticker
            GROUP BY ALL),
        sized AS (
            SELECT ticker,
                nobs > {_CONTEXT_OBS} AND n_src <= 1 AS ranged,
                CASE WHEN ranged THEN ctx_start END AS ctx_start,
                CASE WHEN ranged THEN keep_from END AS keep_from,
                CASE WHEN ranged THEN rows_ctx ELSE rows_all END AS rows
            FROM counted)
        SELECT ticker, ctx_start, keep_from,
            (greatest(sum(rows) OVER (ORDER BY ticker ROWS UNBOUNDED PRECEDING), 1) - 1)
                // {FLOW_GROUP_ROWS} AS grp
        FROM sized
        """
    )


def _flows_group(store: Store, grp: int, full: list[str], funds: pl.DataFrame) -> int:
    """Recompute and write the flows of one read group; tickers needing a full recompute go to `full`."""
    from etfflow.flows.daily import MONTHLY_SOURCES, compute_flows, merge_sources
    from etfflow.flows.flags import Flag

    con = store.connection
    names = ", ".join(f"d.{_q(c)}" for c in _FLOW_INPUTS)
    rel = con.execute(
        f"SELECT {names}, c.keep_from FROM daily d JOIN {_CTX} c ON d.ticker = c.ticker "
        f"WHERE c.grp = {grp} AND d.date >= coalesce(c.ctx_start, DATE '0001-01-01') "
        "ORDER BY d.ticker, d.date, d.source"
    )
    daily = pl.from_arrow(rel.arrow().read_all())
    assert isinstance(daily, pl.DataFrame)
    if daily.height == 0:
        return 0
    keep_from = daily["keep_from"]
    daily = daily.drop("keep_from").with_columns(pl.col("so_lag").cast(pl.Int8))
    same_key = (daily["ticker"] == daily["ticker"].shift(1)) & (daily["date"] == daily["date"].shift(1))
    tickers = daily["ticker"].unique().to_list()
    simple = (
        not same_key.any()
        and daily["source"].n_unique() == 1
        and daily["source"][0] not in MONTHLY_SOURCES
        and not daily["estimated"].any()
        and set(calendar.fund_markets(funds, tickers).values()) == {"US"}
    )
    if not simple:
        # several sources, estimated or month-end counts, other markets: the general computation
        flows = compute_flows(merge_sources(daily), funds)
        keep_map = daily.select("ticker", keep_from.alias("keep_from")).unique("ticker")
        keep = flows.join(keep_map, on="ticker", how="left")["keep_from"]
        kept = flows.filter(keep.is_null() | (flows["available_on"] >= keep))
    else:
        kept = _simple_flows(daily.drop("source"), keep_from, funds_units(funds))
    if grp >= 0:
        split = int(Flag.SPLIT)
        new_split = kept.filter((pl.col("flags") & split) != 0)["ticker"].unique().to_list()
        old_split = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT f.ticker FROM flows_daily f JOIN {_CTX} c ON f.ticker = c.ticker "
                f"WHERE c.grp = {grp} AND c.keep_from IS NOT NULL AND f.available_on >= c.keep_from "
                f"AND (f.flags & {split}) <> 0"
            ).fetchall()
        ]
        redo = sorted(set(new_split) | set(old_split))
        if redo:
            full.extend(redo)
            kept = kept.filter(~pl.col("ticker").is_in(redo))
    con.execute(
        f"DELETE FROM flows_daily f USING {_CTX} c WHERE f.ticker = c.ticker AND c.grp = {grp} "
        "AND (c.keep_from IS NULL OR f.available_on >= c.keep_from)"
        + (f" AND f.ticker NOT IN (SELECT unnest({_literal(full)}))" if full and grp >= 0 else "")
    )
    if kept.height:
        con.register("_etfflow_flows", kept.to_arrow())
        try:
            con.execute("INSERT INTO flows_daily SELECT * FROM _etfflow_flows")
        finally:
            con.unregister("_etfflow_flows")
    return kept.height


_FLOW_INPUTS = (
    "date",
    "ticker",
    "source",
    "close",
    "nav",
    "shares_outstanding",
    "total_net_assets",
    "split_factor",
    "estimated",
    "so_lag",
)


def _simple_flows(daily: pl.DataFrame, keep_from: pl.Series, units: dict[str, float]) -> pl.DataFrame:
    """Flows of a single-source US panel sorted by (ticker, date), from each row's `keep_from` on."""
    flows, rows = flows_frame(daily, units)
    keep = keep_from.gather(rows)
    return flows.filter(keep.is_null() | (flows["available_on"] >= keep))


def flows_frame(daily: pl.DataFrame, units: dict[str, float]) -> tuple[pl.DataFrame, pl.Series]:
    """`etfflow.flows.daily.compute_flows` for a single-source US panel already sorted by (ticker, date).

    The same rules and kernel, without the re-sorting and Python-object columns (the streaming path
    reads millions of rows sorted from the warehouse); no estimated or month-end counts. Returns the
    flows (`flows_daily` columns) and, for each, the row of `daily` it comes from. `units`: creation
    unit shares by ticker.
    """
    from etfflow.errors import DataQualityError
    from etfflow.flows.daily import FlowParams
    from etfflow.flows.flags import Flag
    from etfflow.flows.nb import SPLIT_RATIOS, flows_long_nb

    p = FlowParams()
    so = daily["shares_outstanding"]
    derive = so.is_null() & daily["total_net_assets"].is_not_null() & (daily["nav"] > 0).fill_null(False)
    if derive.any():
        so = pl.select(
            pl.when(derive).then(daily["total_net_assets"] / daily["nav"]).otherwise(so)
        ).to_series()
    dates = daily["date"].to_numpy()
    ok = calendar.is_trading_day(dates)
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise DataQualityError(
            f"{daily['ticker'][bad]} has a row dated {daily['date'][bad]}, which is not an NYSE session"
        )
    tick = daily["ticker"]
    change = (tick != tick.shift(1)).fill_null(True).to_numpy()
    starts = np.append(np.flatnonzero(change), len(tick)).astype(np.int64)
    names = tick.gather(starts[:-1]).to_list()
    unit = np.array([units.get(t, 0.0) for t in names], dtype=np.float64)
    lag_col = daily["so_lag"]
    lag = lag_col.fill_null(0).cast(pl.Int64).to_numpy()

    def arr(s: pl.Series) -> np.ndarray:
        return s.cast(pl.Float64).fill_null(np.nan).to_numpy()

    so_a = arr(so)
    flow, aum_prev, dshares, nav_used, flags, gap, trade_sess = flows_long_nb(
        starts,
        calendar.session_index(dates),
        so_a,
        arr(daily["nav"]),
        arr(daily["close"]),
        arr(daily["split_factor"]),
        lag,
        unit,
        *p.thresholds(),
        SPLIT_RATIOS,
    )
    lag_unknown = lag_col.is_null().to_numpy()
    flags = flags | np.where(lag_unknown, np.uint32(Flag.LAG_UNKNOWN), np.uint32(0)).astype(np.uint32)
    aum = derive.to_numpy()
    flags = np.where(aum, flags & ~np.uint32(Flag.ODD_LOT), flags).astype(np.uint32)
    keep = ~np.isnan(so_a)
    sessions = calendar.sessions()
    trade_dates = sessions[np.clip(trade_sess, 0, len(sessions) - 1)]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(aum_prev > 0, flow / aum_prev, np.nan)
    mask = pl.Series(keep)
    out = pl.DataFrame(
        {
            "date": trade_dates[keep],
            "ticker": tick.filter(mask),
            "flow_usd": flow[keep],
            "aum_prev_usd": aum_prev[keep],
            "flow_pct_aum": pct[keep],
            "shares_change": dshares[keep],
            "nav_used": nav_used[keep],
            "method": pl.Series(np.where(aum[keep], "aum", "shares"), dtype=pl.String),
            "flags": flags[keep],
            "gap_sessions": gap[keep],
            "available_on": dates[keep],
        }
    ).with_columns(
        pl.col(c).fill_nan(None)
        for c in ("flow_usd", "aum_prev_usd", "flow_pct_aum", "shares_change", "nav_used")
    )
    return out, pl.Series(np.flatnonzero(keep))


def funds_units(funds: pl.DataFrame) -> dict[str, float]:
    """Creation unit shares by ticker, as floats (funds without one are left out)."""
    return {
        t: float(u)
        for t, u in zip(funds["ticker"].to_list(), funds["creation_unit_shares"].to_list(), strict=True)
        if u
    }


def touched_from_frame(store: Store, frame: pl.DataFrame) -> None:
    """Table _TOUCHED from a (ticker, lo) frame (every given ticker from its date `lo`)."""
    con = store.connection
    con.register("_etfflow_t", frame.select("ticker", "lo").to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_TOUCHED} AS SELECT ticker, lo FROM _etfflow_t")
    finally:
        con.unregister("_etfflow_t")
