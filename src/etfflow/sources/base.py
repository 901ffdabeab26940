"""What every file importer returns (`ImportBatch`) and the parsing helpers the importers share.

The helpers turn string columns into typed `daily` columns and raise ParseError / ValidationError that
name the file, the row as a user finds it in that file (CSV line, spreadsheet row) and the column header.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from etfflow.calendar import calendar_end, is_trading_day
from etfflow.checks import daily_rows
from etfflow.errors import ConfigError, NotFoundError, ParseError, ValidationError
from etfflow.schema import DAILY_VALUES, TABLES, validate

__all__ = ["ImportBatch"]

PathLike = str | os.PathLike[str]
Locator = Callable[[int], int]
#: text appended to error messages: fixed, or built from the located file row
Context = str | Callable[[int], str]

#: value columns an importer may fill (besides date and ticker): all of `daily`'s but open and estimated
VALUE_COLUMNS = tuple(c for c in DAILY_VALUES if c not in ("open", "estimated"))
#: cell texts read as "no value"
MISSING_TOKENS = frozenset({"", "--", "-", "n/a", "na", "nan", "null", "none", "#n/a"})
_THOUSANDS = r"^[-+]?\$?\d{1,3}(,\d{3})+(\.\d*)?$"


@dataclass(frozen=True)
class ImportBatch:
    """One imported file: validated `daily` rows, other canonical tables, rows dropped (by reason), notes.

    `tables` maps a canonical table name (nport_monthly, holdings, funds, ...) to validated rows; a
    `funds` frame may be partial (null columns mean "not stated", never "erase").
    """

    source: str
    file: str
    daily: pl.DataFrame
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)


#: the first bytes of a gzip stream (RFC 1952): files are told gzip by content, never by name
GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: PathLike) -> bytes:
    """The file's bytes, decompressed when the file is gzip (by magic bytes); NotFoundError if absent."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise NotFoundError(f"file not found: {p}") from exc
    except OSError as exc:
        raise ParseError(f"cannot read file: {exc}", file=str(p)) from exc
    return gunzip(data, file=str(p)) if data.startswith(GZIP_MAGIC) else data


def gunzip(data: bytes, *, file: str) -> bytes:
    """Decompress a whole gzip file (several members allowed); ParseError when it is damaged."""
    import gzip
    import zlib

    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ParseError(f"damaged gzip file: {exc}", file=file) from exc


def decode_text(data: bytes) -> str:
    """UTF-8 text without leading byte-order marks (cp1252 as a fallback for old exports)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return text.lstrip("\ufeff")


def resolve_retrieved_at(path: PathLike, retrieved_at: dt.datetime | None) -> dt.datetime:
    """The caller's timestamp (must be time-zone aware), else the file's mtime: both in UTC."""
    if retrieved_at is None:
        try:
            mtime = Path(path).stat().st_mtime
        except FileNotFoundError as exc:
            raise NotFoundError(f"file not found: {path}") from exc
        return dt.datetime.fromtimestamp(mtime, tz=dt.UTC)
    if retrieved_at.tzinfo is None or retrieved_at.utcoffset() is None:
        raise ConfigError("retrieved_at must be time-zone aware (e.g. datetime(..., tzinfo=UTC))")
    return retrieved_at.astimezone(dt.UTC)


def check_so_lag(so_lag: int | None) -> int | None:
    """so_lag must fit the schema's Int8 and be >= 0 (None: lag unknown)."""
    if so_lag is not None and not 0 <= so_lag <= 127:
        raise ConfigError(f"so_lag must be between 0 and 127 sessions, got {so_lag}")
    return so_lag


class CsvLines:
    """Maps a 0-based data-record index (as Polars reads it) to its 1-based line in the file."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts: list[int] | None = None

    def __call__(self, index: int) -> int:
        if '"' not in self._text:
            return index + 2  # one line per record, header on line 1
        if self._starts is None:
            starts: list[int] = []
            reader = csv.reader(io.StringIO(self._text))
            line = 0
            for _ in reader:
                starts.append(line + 1)
                line = reader.line_num
            self._starts = starts[1:]
        return self._starts[index] if index < len(self._starts) else index + 2


def read_csv_strings(data: bytes, file: str) -> tuple[pl.DataFrame, Locator]:
    """All columns as stripped strings (headers stripped too) and the record -> file line map."""
    text = decode_text(data)
    try:
        frame = pl.read_csv(io.StringIO(text), infer_schema=False, truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ParseError(f"not a readable CSV file: {exc}", file=file) from exc
    frame = frame.rename({c: c.strip() for c in frame.columns})
    frame = frame.with_columns(pl.all().str.strip_chars())
    return frame, CsvLines(text)


def cell_text(value: object) -> str | None:
    """A spreadsheet (calamine) cell as the text the CSV readers parse: dates ISO, integral numbers
    without '.0', empty cells None."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def drop_blank_rows(frame: pl.DataFrame, dropped: dict[str, int]) -> pl.DataFrame:
    """Drop rows whose every cell (besides `_row`) is empty, counting them as `blank_rows`."""
    cells = [c for c in frame.columns if c != "_row"]
    if not cells:
        return frame
    blank = pl.all_horizontal(pl.col(c).is_null() | (pl.col(c).cast(pl.String) == "") for c in cells)
    n = int(frame.select(blank.sum()).item())
    if n:
        add_dropped(dropped, "blank_rows", n)
        frame = frame.filter(~blank)
    return frame


def add_dropped(dropped: dict[str, int], reason: str, n: int) -> None:
    """Add n rows to a drop reason (zero counts are not recorded)."""
    if n:
        dropped[reason] = dropped.get(reason, 0) + n


def parse_float(
    values: pl.Series,
    rows: pl.Series,
    *,
    file: str,
    field: str,
    locate: Locator,
    context: Context = "",
    missing: frozenset[str] = MISSING_TOKENS,
) -> pl.Series:
    """Strings (or numbers) to Float64: `$` and thousands separators removed, `missing` tokens as null."""
    if values.dtype.is_numeric():
        return values.cast(pl.Float64).fill_nan(None)
    s = values.cast(pl.String).str.strip_chars()
    # the usual column: plain numbers and blanks, read by one cast (what the general reading below
    # makes of them too; '$', thousands separators, 'n/a', 'nan' and bad cells all take that reading)
    fast = s.cast(pl.Float64, strict=False)
    blank = s.is_null() | (s == "")
    if (fast.is_finite().fill_null(False) | blank).all():
        return pl.select(pl.when(blank).then(None).otherwise(fast)).to_series().alias(values.name)
    col = pl.col("s")
    number = (
        pl.when(col.str.contains(_THOUSANDS))
        .then(col.str.replace_all(",", "", literal=True))
        .otherwise(col)
        .str.replace(r"^([-+]?)\$", "$1")
        .cast(pl.Float64, strict=False)
    )
    parsed = pl.DataFrame({"s": s}).select(
        missing=col.is_null() | col.str.to_lowercase().is_in(list(missing)),
        number=number,
    )
    bad = parsed["number"].is_null() | parsed["number"].is_infinite() | parsed["number"].is_nan()
    bad = bad & ~parsed["missing"]
    if bad.any():
        row = locate(rows[int(bad.arg_true()[0])])
        value = values[int(bad.arg_true()[0])]
        raise ParseError(f"not a number: {value!r}{_ctx(context, row)}", file=file, row=row, field=field)
    out = parsed.select(pl.when(pl.col("missing")).then(None).otherwise(pl.col("number")).alias(values.name))
    return out.to_series()


def date_format_of(values: pl.Series, formats: Sequence[str]) -> str | None:
    """The first of `formats` that reads every value of a string series (None if none does)."""
    s = values.cast(pl.String).str.strip_chars()
    for fmt in formats:
        if s.str.strptime(pl.Date, fmt, strict=False, exact=True).null_count() == s.null_count():
            return fmt
    return None


def parse_dates(
    values: pl.Series,
    rows: pl.Series,
    *,
    file: str,
    field: str,
    locate: Locator,
    formats: Sequence[str],
    context: Context = "",
    listed: Sequence[str] | None = None,
) -> pl.Series:
    """Strings to Date with the first format that reads every value; ParseError names the first failure
    (and lists `listed`, by default `formats`: a reader that has settled on one format still says which
    it accepts)."""
    if values.dtype == pl.Date:
        parsed = values
    elif isinstance(values.dtype, pl.Datetime):
        parsed = values.dt.date()
    else:
        s = values.cast(pl.String).str.strip_chars()
        best: pl.Series | None = None
        for fmt in formats:
            cand = s.str.strptime(pl.Date, fmt, strict=False, exact=True)
            if best is None or cand.null_count() < best.null_count():
                best = cand
            if cand.null_count() == s.null_count():
                break
        assert best is not None
        bad = best.is_null() & s.is_not_null()
        if bad.any():
            i = int(bad.arg_true()[0])
            row = locate(rows[i])
            raise ParseError(
                f"not a date: {values[i]!r} (expected one of {list(listed or formats)}){_ctx(context, row)}",
                file=file,
                row=row,
                field=field,
            )
        parsed = best
    if parsed.null_count():
        row = locate(rows[int(parsed.is_null().arg_true()[0])])
        raise ParseError(f"date is missing{_ctx(context, row)}", file=file, row=row, field=field)
    return parsed.alias(values.name)


def finish(
    frame: pl.DataFrame,
    *,
    file: str,
    source: str,
    so_lag: int | None,
    retrieved_at: dt.datetime,
    locate: Locator,
    labels: dict[str, str],
    dropped: dict[str, int],
    notes: list[str],
    context: Context = "",
    market: str = "US",
) -> ImportBatch:
    """Check and conform parsed rows (`_row`, date, ticker, value columns) into a validated ImportBatch.

    In order: negative values raise; identical duplicate (date, ticker) rows are dropped and counted,
    conflicting ones raise naming the second row; rows dated on days that are not sessions of the
    `market`'s exchange (NYSE for US, XSHG for CN) are dropped and counted.
    """
    values = [c for c in VALUE_COLUMNS if c in frame.columns]
    spec = TABLES["daily"]
    for c in values:
        if not spec.column(c).nonnegative:
            continue
        neg = frame.get_column(c) < 0
        if neg.any():
            i = int(neg.arg_true()[0])
            row = locate(frame["_row"][i])
            raise ValidationError(
                f"negative value {frame[c][i]} ({c}){_ctx(context, row)}",
                file=file,
                row=row,
                field=labels.get(c, c),
            )
    frame = daily_rows(
        frame,
        file=file,
        locate=locate,
        labels=labels,
        dropped=dropped,
        notes=notes,
        context=context,
        source=source,
    )
    frame = _drop_duplicates(
        frame, values, file=file, locate=locate, labels=labels, context=context, dropped=dropped
    )
    dates = frame.get_column("date").to_numpy().astype("datetime64[D]")
    _check_calendar_range(frame, dates, market, file=file, locate=locate)
    session = is_trading_day(dates, market) if len(dates) else np.zeros(0, dtype=bool)
    n_off = int((~session).sum())
    if n_off:
        notes.append(non_session_note(n_off, sorted({str(d) for d in dates[~session]}), market))
        add_dropped(dropped, "non_session_rows", n_off)
        frame = frame.filter(pl.Series(session))
    frame = frame.sort("ticker", "date").with_columns(
        pl.lit(source, dtype=pl.String).alias("source"),
        pl.lit(so_lag, dtype=pl.Int8).alias("so_lag"),
        pl.lit(retrieved_at, dtype=pl.Datetime("us", "UTC")).alias("retrieved_at"),
    )
    daily = validate(frame.drop("_row"), "daily", file=file)
    return ImportBatch(source=source, file=file, daily=daily, dropped=dict(dropped), notes=list(notes))


_EXCHANGE = {"US": "NYSE", "CN": "Shanghai/Shenzhen (XSHG)"}


def non_session_note(n: int, days: Sequence[str], market: str) -> str:
    """The note on `n` rows dropped for being dated on `days` (sorted), which are not sessions of the
    `market`'s exchange; the first ten days are listed."""
    shown = ", ".join(days[:10]) + (", ..." if len(days) > 10 else "")
    where = _EXCHANGE.get(market, market)
    return f"{n} row(s) dated on days that are not {where} sessions were dropped: {shown}"


def _check_calendar_range(
    frame: pl.DataFrame, dates: np.ndarray, market: str, *, file: str, locate: Locator
) -> None:
    """A date past the last session the market's calendar knows cannot be checked: say so, naming the row."""
    if not len(dates):
        return
    end = np.datetime64(calendar_end(market), "D")
    late = dates > end
    if late.any():
        i = int(np.flatnonzero(late)[0])
        raise ParseError(
            f"{dates[i]} is after {end}, the last {market} session exchange_calendars knows: "
            "upgrade exchange-calendars to import it",
            file=file,
            row=locate(frame["_row"][i]),
            field="date",
        )


def _drop_duplicates(
    frame: pl.DataFrame,
    values: list[str],
    *,
    file: str,
    locate: Locator,
    labels: dict[str, str],
    context: Context,
    dropped: dict[str, int],
) -> pl.DataFrame:
    """Drop identical repeats of a (date, ticker) row; raise on a repeat whose values differ."""
    key = ["date", "ticker"]
    if not frame.select(pl.struct(key).is_duplicated().any()).item():
        return frame
    content = [*key, *values]
    deduped = frame.unique(subset=content, keep="first", maintain_order=True)
    add_dropped(dropped, "duplicate_rows", frame.height - deduped.height)
    clash = deduped.select(pl.struct(key).is_first_distinct().not_()).to_series()
    if clash.any():
        i = int(clash.arg_true()[0])
        # dates as Polars formats them: a BC or year-10000 date has no Python date (`DataFrame.row`
        # would panic in Polars' Rust code turning it into one)
        shown = deduped.select("_row", pl.col("date").cast(pl.String), "ticker", *values)
        second = shown.row(i, named=True)
        first = shown.filter((pl.col("date") == second["date"]) & (pl.col("ticker") == second["ticker"])).row(
            0, named=True
        )
        diff = next(c for c in values if first[c] != second[c])
        row = locate(second["_row"])
        raise ValidationError(
            f"{second['ticker']} {second['date']} appears again with a different value "
            f"({first[diff]!r} at row {locate(first['_row'])}, {second[diff]!r} here){_ctx(context, row)}",
            file=file,
            row=row,
            field=labels.get(diff, diff),
        )
    return deduped


def _ctx(context: Context, row: int) -> str:
    """The error-message suffix for a located row."""
    return context(row) if callable(context) else context
