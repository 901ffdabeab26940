"""Generic daily-panel importer for CSV and Parquet files: date, ticker and any `daily` value columns.

Headers are matched by `mapping` first (file header -> canonical name), then by common aliases
("Date", "Symbol", "NAV", "Shares Outstanding", ...), compared case- and punctuation-insensitively.
Columns that match nothing are ignored and listed in the batch's notes.

`so_lag` is the reporting lag the caller declares for the file: 0 (the default) means the shares count
stated for day d already includes the orders struck on d; most issuer websites publish T+1 counts, so
pass so_lag=1 for those. Pass None when the lag is unknown (the flows then carry LAG_UNKNOWN).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from etfflow.errors import ConfigError, ParseError
from etfflow.sources.base import (
    VALUE_COLUMNS,
    ImportBatch,
    Locator,
    PathLike,
    cell_text,
    check_so_lag,
    decode_text,
    drop_blank_rows,
    finish,
    parse_dates,
    parse_float,
    read_bytes,
    read_csv_strings,
    resolve_retrieved_at,
)

__all__ = [
    "ALIASES",
    "DATE_FORMATS",
    "normalise_header",
    "read_generic",
    "read_generic_csv",
    "read_generic_parquet",
    "sniff_generic_csv",
    "sniff_generic_parquet",
]

#: canonical column -> header aliases (normalised: lower case, runs of non-alphanumerics as "_")
ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "as_of", "as_of_date", "asof_date", "trade_date", "nav_date", "market_date"),
    "ticker": ("ticker", "symbol", "fund", "fund_ticker", "etf", "ticker_symbol"),
    "close": (
        "close",
        "close_price",
        "closing_price",
        "market_close",
        "price_close",
        "market_price",
        "closing_market_price",
        "market_price_close",
    ),
    "nav": ("nav", "nav_per_share", "net_asset_value", "nav_share", "net_asset_value_per_share"),
    "shares_outstanding": ("shares_outstanding", "shares_out", "outstanding_shares", "so", "shares"),
    "total_net_assets": ("total_net_assets", "net_assets", "tna", "aum", "total_net_asset_value"),
    "volume": ("volume", "daily_volume", "share_volume", "daily_share_volume"),
    "split_factor": ("split_factor", "split_coefficient", "split_ratio", "split"),
    "distribution": ("distribution", "distributions", "dividend", "dividends", "ex_dividend", "ex_dividends"),
}
#: date formats tried in order for text dates (the first that reads every row wins); US order only
DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d-%b-%Y", "%b %d, %Y", "%Y%m%d", "%Y/%m/%d")
_CANONICAL = ("date", "ticker", *VALUE_COLUMNS)
_TICKER = r"^[A-Z][A-Z0-9.\-]{0,11}$"
_PARQUET_MAGIC = b"PAR1"
#: '1998-12-22 00:00:00-05:00', '2024-01-02T16:00:00Z': the date part is the exchange's local date
_TZ_STAMP = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"
#: trailing note rows (disclaimers, "Source: ...") after the data: at most this many are skipped
_MAX_TRAILER = 50


def normalise_header(name: str) -> str:
    """'Shares Outstanding ' -> 'shares_outstanding' (how headers are compared with aliases)."""
    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def sniff_generic_parquet(head: bytes) -> bool:
    """A Parquet file (magic bytes)."""
    return head.startswith(_PARQUET_MAGIC)


def sniff_generic_csv(head: bytes) -> bool:
    """Delimited text whose header names a date column (by alias) and at least one more column."""
    if b"\x00" in head:
        return False
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", errors="replace")
    cells = [normalise_header(c) for c in first.replace('"', "").split(",")]
    return len(cells) >= 2 and any(c in ALIASES["date"] for c in cells)


def read_generic(
    path: PathLike,
    *,
    mapping: Mapping[str, str] | None = None,
    ticker: str | None = None,
    so_lag: int | None = 0,
    source: str | None = None,
    date_format: str | None = None,
    retrieved_at: dt.datetime | None = None,
) -> ImportBatch:
    """A CSV or Parquet daily panel (told apart by content): see `read_generic_csv`."""
    if read_bytes(path)[:4] == _PARQUET_MAGIC:
        return read_generic_parquet(
            path,
            mapping=mapping,
            ticker=ticker,
            so_lag=so_lag,
            source=source,
            date_format=date_format,
            retrieved_at=retrieved_at,
        )
    return read_generic_csv(
        path,
        mapping=mapping,
        ticker=ticker,
        so_lag=so_lag,
        source=source,
        date_format=date_format,
        retrieved_at=retrieved_at,
    )


def sniff_generic_xlsx(head: bytes) -> bool:
    """An Excel 2007+ workbook: a zip whose first entries are the workbook's parts."""
    return head.startswith(b"PK\x03\x04") and (b"xl/" in head or b"[Content_Types].xml" in head)


def read_generic_xlsx(
    path: PathLike,
    *,
    mapping: Mapping[str, str] | None = None,
    ticker: str | None = None,
    so_lag: int | None = 0,
    source: str | None = None,
    date_format: str | None = None,
    retrieved_at: dt.datetime | None = None,
    sheet: str | None = None,
) -> ImportBatch:
    """An Excel daily panel (first sheet, or `sheet`): the header is the first row naming a date column.

    Rows above the header (titles, notes) are skipped; errors name the spreadsheet row as Excel shows it.
    """
    from python_calamine import CalamineError, CalamineWorkbook

    file = str(path)
    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(read_bytes(path)))
        name = sheet or wb.sheet_names[0]
        if name not in wb.sheet_names:
            raise ParseError(f"no sheet {name!r} (sheets: {wb.sheet_names})", file=file, field="sheet")
        rows = wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except CalamineError as exc:
        raise ParseError(f"not a readable Excel workbook: {exc}", file=file) from exc
    header_at = next(
        (
            i
            for i, r in enumerate(rows)
            if sum(bool(str(c).strip()) for c in r) >= 2
            and any(normalise_header(str(c)) in ALIASES["date"] for c in r)
        ),
        None,
    )
    if header_at is None:
        raise ParseError(f"sheet {name!r} has no header row naming a date column", file=file, field="date")
    header = [str(c).strip() for c in rows[header_at]]
    keep = [j for j, h in enumerate(header) if h]
    body = [r for r in rows[header_at + 1 :]]
    frame = pl.DataFrame(
        {header[j]: [cell_text(r[j]) if j < len(r) else None for r in body] for j in keep},
        schema={header[j]: pl.String for j in keep},
    )

    def locate(index: int) -> int:
        return header_at + 2 + index  # 1-based sheet row: header row + 1 + index

    return _build(
        frame,
        locate,
        file=file,
        path=path,
        mapping=mapping,
        ticker=ticker,
        so_lag=so_lag,
        source=source or "xlsx",
        date_format=date_format,
        retrieved_at=retrieved_at,
        header_row=header_at + 1,
    )


def read_generic_csv(
    path: PathLike,
    *,
    mapping: Mapping[str, str] | None = None,
    ticker: str | None = None,
    so_lag: int | None = 0,
    source: str | None = None,
    date_format: str | None = None,
    retrieved_at: dt.datetime | None = None,
) -> ImportBatch:
    """A comma-separated daily panel: `mapping` renames file headers to canonical names.

    `ticker` fixes the ticker of a single-fund file without a ticker column. Dates are ISO or one of
    DATE_FORMATS unless `date_format` is given. Errors name the CSV line and the file's header.
    """
    file = str(path)
    data, trailer = _strip_trailer(read_bytes(path))
    frame, locate = read_csv_strings(data, file)
    batch = _build(
        frame,
        locate,
        file=file,
        path=path,
        mapping=mapping,
        ticker=ticker,
        so_lag=so_lag,
        source=source or "csv",
        date_format=date_format,
        retrieved_at=retrieved_at,
        header_row=1,
    )
    if trailer:
        batch.dropped["trailing_note_rows"] = trailer
        batch.notes.append(f"{trailer} note row(s) after the data (disclaimers) were skipped")
    return batch


def _is_date(text: str) -> bool:
    """True if `text` reads as a date in one of DATE_FORMATS (or starts an ISO time stamp)."""
    text = text.strip()
    if re.match(_TZ_STAMP, text):
        return True
    for fmt in DATE_FORMATS:
        try:
            dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
        return True
    return False


def _date_index(data: bytes) -> int | None:
    """Position of the date column in the header line (by alias), or None."""
    lines = decode_text(data[:4096]).splitlines()  # any line ending: a bare CR (classic Mac) too
    cells = next(csv.reader(lines[:1]), [])
    return next((i for i, c in enumerate(cells) if normalise_header(c) in ALIASES["date"]), None)


_NUMBER = re.compile(r"^[-+]?\$?[\d,]*\.?\d+%?$")


def _strip_trailer(data: bytes, date_index: int | None = None) -> tuple[bytes, int]:
    """Cut note rows that follow the data (issuer disclaimers); returns (data, rows cut).

    Walking up from the end, a row is a note when it is blank, or when its date cell is not a date
    and none of its cells is a number. A malformed data row (a bad date beside numbers) is never cut,
    so it still raises naming its line.
    """
    if date_index is None:
        date_index = _date_index(data) or 0
    text = data.rstrip()
    cut = 0
    while cut < _MAX_TRAILER:
        nl = text.rfind(b"\n")
        if nl < 0:
            break
        line = decode_text(text[nl + 1 :]).strip()
        if line:
            cells = [c.strip() for c in next(csv.reader([line]), [])]
            date_cell = cells[date_index] if date_index < len(cells) else ""
            if _is_date(date_cell) or any(_NUMBER.match(c) for c in cells):
                break
        text = text[:nl].rstrip()
        cut += 1 if line else 0
    return (text + b"\n", cut) if cut else (data, 0)


def needs_whole_file(path: PathLike) -> bool:
    """True for a CSV panel the chunked reader cannot take as it is: time-stamped dates or trailing notes."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(64 * 1024)
            fh.seek(max(0, p.stat().st_size - 64 * 1024))
            tail = fh.read()
    except OSError:
        return False
    index = _date_index(head)
    if index is None:
        return False
    for line in decode_text(head).splitlines()[1:20]:
        cells = next(csv.reader([line]), [])
        if index < len(cells) and re.match(_TZ_STAMP, cells[index].strip()):
            return True
    return _strip_trailer(tail, index)[1] > 0


def read_generic_parquet(
    path: PathLike,
    *,
    mapping: Mapping[str, str] | None = None,
    ticker: str | None = None,
    so_lag: int | None = 0,
    source: str | None = None,
    date_format: str | None = None,
    retrieved_at: dt.datetime | None = None,
) -> ImportBatch:
    """A Parquet daily panel, same options as `read_generic_csv`; error rows are 1-based row indices."""
    file = str(path)
    try:
        frame = pl.read_parquet(io.BytesIO(read_bytes(path)))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ParseError(f"not a readable Parquet file: {exc}", file=file) from exc

    def locate(index: int) -> int:
        return index + 1

    return _build(
        frame,
        locate,
        file=file,
        path=path,
        mapping=mapping,
        ticker=ticker,
        so_lag=so_lag,
        source=source or "parquet",
        date_format=date_format,
        retrieved_at=retrieved_at,
        header_row=None,
    )


def _resolve_columns(
    columns: Sequence[str], mapping: Mapping[str, str] | None, *, file: str, header_row: int | None
) -> tuple[dict[str, str], list[str]]:
    """(canonical -> file header, ignored headers); ParseError on unknown or ambiguous names."""
    chosen: dict[str, str] = {}
    for src, canon in (mapping or {}).items():
        if canon not in _CANONICAL:
            raise ConfigError(f"mapping {src!r} -> {canon!r}: target must be one of {list(_CANONICAL)}")
        if src not in columns:
            raise ParseError(
                f"mapped column not in the file (columns: {list(columns)})",
                file=file,
                row=header_row,
                field=src,
            )
        if canon in chosen:
            raise ConfigError(f"mapping sends both {chosen[canon]!r} and {src!r} to {canon!r}")
        chosen[canon] = src
    mapped = set(chosen.values())
    for col in columns:
        if col in mapped:
            continue
        norm = normalise_header(col)
        alias_of = next((c for c, names in ALIASES.items() if norm in names), None)
        if alias_of is None or (alias_of in chosen and chosen[alias_of] in (mapping or {})):
            continue
        if alias_of in chosen:
            raise ParseError(
                f"columns {chosen[alias_of]!r} and {col!r} both read as {alias_of!r}; use mapping=",
                file=file,
                row=header_row,
                field=col,
            )
        chosen[alias_of] = col
    used = set(chosen.values())
    return chosen, [c for c in columns if c not in used]


#: the note of a panel whose dates carry a time of day (and zone)
STAMPED_NOTE = "time-stamped dates read as the local date (time and zone dropped)"


def resolve_panel_columns(
    columns: Sequence[str],
    mapping: Mapping[str, str] | None,
    ticker: str | None,
    *,
    file: str,
    header_row: int | None,
) -> tuple[dict[str, str], list[str]]:
    """`_resolve_columns`, then the required columns: a date column, a ticker column or `ticker=` (not
    both), and at least one value column. Shared by the whole-file and the streaming (`etfflow.ingest`)
    readers."""
    if any(re.search(r"\r(?!\n)", c) for c in columns):
        # Polars and DuckDB end lines at LF only: a file with classic Mac OS line endings is one line
        raise ParseError(
            "lines end with a bare carriage return (classic Mac OS line endings): save the file with LF or "
            "CRLF line endings",
            file=file,
            row=header_row,
        )
    chosen, ignored = _resolve_columns(columns, mapping, file=file, header_row=header_row)
    if "date" not in chosen:
        raise ParseError(
            f"missing required column (columns: {list(columns)}); pass mapping={{'<column>': 'date'}}",
            file=file,
            row=header_row,
            field="date",
        )
    if "ticker" in chosen and ticker is not None:
        raise ConfigError(f"ticker={ticker!r} given but the file has a ticker column {chosen['ticker']!r}")
    if "ticker" not in chosen and ticker is None:
        raise ParseError(
            "missing required column; pass ticker= for a single-fund file or mapping= to name the column",
            file=file,
            row=header_row,
            field="ticker",
        )
    if not any(c in chosen for c in VALUE_COLUMNS):
        # a file with a date and a ticker but nothing to store (a holdings list, a calendar): refused,
        # rather than stored as rows without values
        raise ParseError(
            f"no value column: a panel needs one of {', '.join(VALUE_COLUMNS)} (columns: "
            f"{list(columns)}); pass mapping={{'<column>': 'nav'}} to name one",
            file=file,
            row=header_row,
        )
    return chosen, ignored


def panel_ticker(text: str) -> bool:
    """Whether `text` is a ticker as generic panels write them: a letter, then up to 11 letters, digits,
    dots or hyphens (stricter than `checks.TICKER_RE`: a digit first is China's form, and generic panels
    follow NYSE sessions)."""
    return re.fullmatch(_TICKER, text) is not None


def fixed_ticker(ticker: str) -> str:
    """The `ticker=` of a single-fund file, upper case; ConfigError when it is not a ticker."""
    symbol = ticker.strip().upper()
    if not panel_ticker(symbol):
        raise ConfigError(f"not a ticker: {ticker!r}")
    return symbol


def local_dates(frame: pl.DataFrame) -> tuple[pl.DataFrame, bool]:
    """Time-stamped text dates ('2024-01-02T16:00:00Z') cut to their local date; (frame, any were cut)."""
    if frame["date"].dtype != pl.String:
        return frame, False
    stamped = frame["date"].str.contains(_TZ_STAMP).fill_null(False)
    if not stamped.any():
        return frame, False
    return frame.with_columns(
        pl.when(stamped).then(pl.col("date").str.slice(0, 10)).otherwise(pl.col("date")).alias("date")
    ), True


def parse_tickers(values: pl.Series, rows: pl.Series, *, file: str, field: str, locate: Locator) -> pl.Series:
    """A ticker column stripped and upper-cased; ParseError naming the first row that is not a ticker."""
    tick = values.cast(pl.String).str.strip_chars().str.to_uppercase()
    uniq = tick.unique()  # checked once per distinct value: panels repeat a few tickers many times
    bad_u = uniq.filter(uniq.is_null() | ~uniq.str.contains(_TICKER))
    if bad_u.len():
        bad = tick.is_null() | tick.is_in(bad_u.drop_nulls())
        i = int(bad.arg_true()[0])
        raise ParseError(f"not a ticker: {values[i]!r}", file=file, row=locate(int(rows[i])), field=field)
    return tick


def _build(
    frame: pl.DataFrame,
    locate: Locator,
    *,
    file: str,
    path: PathLike,
    mapping: Mapping[str, str] | None,
    ticker: str | None,
    so_lag: int | None,
    source: str,
    date_format: str | None,
    retrieved_at: dt.datetime | None,
    header_row: int | None,
) -> ImportBatch:
    """Shared body of the CSV and Parquet readers."""
    so_lag = check_so_lag(so_lag)
    stamp = resolve_retrieved_at(path, retrieved_at)
    chosen, ignored = resolve_panel_columns(frame.columns, mapping, ticker, file=file, header_row=header_row)
    notes: list[str] = [f"so_lag={so_lag} declared by the caller" if so_lag is not None else "so_lag unknown"]
    if ignored:
        notes.append(f"ignored column(s): {ignored}")
    dropped: dict[str, int] = {}
    frame = frame.select(list(chosen.values())).rename({v: k for k, v in chosen.items()})
    frame = frame.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))
    frame = drop_blank_rows(frame, dropped)
    rows = frame["_row"]
    labels = dict(chosen)
    formats = (date_format,) if date_format else DATE_FORMATS
    frame, stamped = local_dates(frame)
    if stamped:
        notes.append(STAMPED_NOTE)
    out: dict[str, pl.Series] = {
        "_row": rows,
        "date": parse_dates(
            frame["date"], rows, file=file, field=labels["date"], locate=locate, formats=formats
        ),
    }
    if "ticker" in chosen:
        out["ticker"] = parse_tickers(frame["ticker"], rows, file=file, field=labels["ticker"], locate=locate)
    else:
        out["ticker"] = pl.Series("ticker", [fixed_ticker(ticker or "")] * frame.height, dtype=pl.String)
    for c in VALUE_COLUMNS:
        if c in chosen:
            out[c] = parse_float(frame[c].alias(c), rows, file=file, field=labels[c], locate=locate)
    return finish(
        pl.DataFrame(list(out.values())),
        file=file,
        source=source,
        so_lag=so_lag,
        retrieved_at=stamp,
        locate=locate,
        labels=labels,
        dropped=dropped,
        notes=notes,
    )
