"""Daily flows published by a third party (e.g. etf.com) -> `vendor_flows`, in three layouts.

- long: one row per fund and day, `date`, `ticker`, flow (`ticker,date,flow_usd_mn`; aliases such as
  "Fund Flows", "Net Flows", "Symbol", "As Of"). A unit written in the flow header ("Net Flows ($mm)",
  "flow_usd_mn") is used unless `units` is given; without one, USD.
- per-fund workbook (etf.com's `<TICKER>_fund_flow_data.xlsx`): columns `asOf`, `value` in USD millions;
  the ticker comes from the file name (`IVV_fund_flow_data.xlsx`) or `ticker=`.
- wide: a date column and one column per fund, values in USD millions (unless `units`), blank =
  missing; an optional `Total` column is checked against the row's sum and never stored as a fund.

Any of them may be gzip-compressed. Accounting negatives "(12.5)", `$` and thousands separators are
read; a cell without a flow is dropped and counted, never read as 0; non-finite values are refused;
rows dated on days that are not NYSE sessions are dropped and counted.
"""

from __future__ import annotations

import gzip
import io
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import polars as pl

from etfflow.checks import vendor_rows
from etfflow.errors import ConfigError, ParseError, ValidationError
from etfflow.schema import empty, validate
from etfflow.sources.base import (
    ImportBatch,
    Locator,
    PathLike,
    add_dropped,
    drop_blank_rows,
    parse_dates,
    parse_float,
    read_bytes,
    read_csv_strings,
)
from etfflow.sources.generic import ALIASES as GENERIC_ALIASES
from etfflow.sources.generic import DATE_FORMATS, normalise_header

__all__ = [
    "UNITS",
    "read_vendor_flows",
    "sniff_vendor_long",
    "sniff_vendor_wide",
    "sniff_vendor_workbook",
]

#: multipliers to USD
UNITS: dict[str, float] = {
    "usd": 1.0,
    "k": 1e3,
    "thousands": 1e3,
    "mm": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "millions": 1e6,
    "bn": 1e9,
    "b": 1e9,
    "billions": 1e9,
}
_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "as_of", "asof", "as_of_date", "trade_date", "day", "period"),
    "ticker": ("ticker", "symbol", "fund_ticker", "etf", "etf_ticker", "fund"),
    "flow_usd": (
        "flow",
        "flows",
        "flow_usd",
        "fund_flow",
        "fund_flows",
        "net_flow",
        "net_flows",
        "netflows",
        "net_fund_flows",
        "daily_flow",
        "daily_flows",
        "net_flows_usd",
        "value",
    ),
}
_UNIT_IN_HEADER = re.compile(r"\(\s*\$?\s*(usd|k|thousands|mm|mn|m|millions|bn|b|billions)\s*\)\s*$", re.I)
#: a unit as the last word of a normalised header: flow_usd_mn, net_flows_millions
_UNIT_SUFFIX = re.compile(r"_(mn|mm|millions|k|thousands|bn|billions)$")
_PARENS = re.compile(r"^\((.*)\)$")
_TICKER_HEADER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,9}$")
_TICKER_IN_NAME = re.compile(r"^([A-Za-z][A-Za-z0-9.\-]{0,9})_fund_flow", re.I)
_TOTALS = ("total", "totals", "sum", "all")
_NUMBER = re.compile(rb"(^|,)\s*\(?-\d")
#: the wide layout's default unit (etf.com and most vendor tables state flows in USD millions)
WIDE_UNIT = "millions"
WORKBOOK_UNIT = "millions"


# ---------------------------------------------------------------- sniffing (first bytes only)


def _plain_head(head: bytes) -> bytes:
    """The head as text bytes: gzip heads are inflated as far as they go."""
    if head[:2] != b"\x1f\x8b":
        return head
    try:
        return zlib.decompressobj(wbits=31).decompress(head, 1 << 20)
    except zlib.error:
        return b""


def _header_cells(head: bytes) -> list[str] | None:
    text = _plain_head(head)
    if not text or b"\x00" in text[:4096]:
        return None
    first = text.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
    cells = [c.strip().strip('"').strip() for c in first.split(",")]
    return cells if len(cells) >= 2 else None


def _canon(header: str) -> tuple[str | None, str | None]:
    """Canonical column a header names (date, ticker, flow_usd) and the unit it states."""
    unit: str | None = None
    m = _UNIT_IN_HEADER.search(header)
    base = normalise_header(_UNIT_IN_HEADER.sub("", header)) if m else normalise_header(header)
    if m:
        unit = m.group(1).lower()
    s = _UNIT_SUFFIX.search(base)
    if s and _UNIT_SUFFIX.sub("", base) in _ALIASES["flow_usd"]:
        base, unit = _UNIT_SUFFIX.sub("", base), s.group(1)
    for canon, names in _ALIASES.items():
        if base in names:
            return canon, unit if canon == "flow_usd" else None
    return None, None


def sniff_vendor_long(head: bytes) -> bool:
    """A CSV (or gzip CSV) whose header names a date, a ticker and a flow column (not `value` alone)."""
    cells = _header_cells(head)
    if cells is None:
        return False
    canon = [_canon(c)[0] for c in cells]
    flows = [
        c for c, k in zip(cells, canon, strict=True) if k == "flow_usd" and normalise_header(c) != "value"
    ]
    return "date" in canon and "ticker" in canon and bool(flows)


def sniff_vendor_wide(head: bytes) -> bool:
    """A CSV with a date column and one column per fund (ticker headers), holding flows.

    A table of prices has the same shape, so the file must also show it holds flows: a `Total`
    column or a negative value in its first bytes.
    """
    cells = _header_cells(head)
    if cells is None:
        return False
    dates = [c for c in cells if normalise_header(c) in _ALIASES["date"]]
    rest = [c for c in cells if c and c not in dates]
    if len(dates) != 1 or not rest:
        return False
    totals = [c for c in rest if normalise_header(c) in _TOTALS]
    funds = [c for c in rest if c not in totals]
    generic = {a for names in GENERIC_ALIASES.values() for a in names}
    if not funds or any(not _TICKER_HEADER.match(c) or normalise_header(c) in generic for c in funds):
        return False
    body = _plain_head(head).split(b"\n", 1)[1] if b"\n" in _plain_head(head) else b""
    return bool(totals) or any(_NUMBER.search(line) for line in body.split(b"\n")[:-1])


def _zip_member_head(head: bytes, suffix: bytes) -> bytes | None:
    """Inflate (as far as `head` goes) the first zip member whose name ends with `suffix`."""
    pos = 0
    while head[pos : pos + 4] == b"PK\x03\x04" and pos + 30 <= len(head):
        method, _, _, _, csize, _, nlen, xlen = struct.unpack("<HHHIIIHH", head[pos + 8 : pos + 30])
        name = head[pos + 30 : pos + 30 + nlen]
        start = pos + 30 + nlen + xlen
        if name.endswith(suffix):
            data = head[start : start + csize] if csize else head[start:]
            if method == 0:
                return data
            try:
                return zlib.decompressobj(-15).decompress(data, 1 << 16)
            except zlib.error:
                return None
        if csize == 0:  # sizes in a data descriptor: cannot walk further
            return None
        pos = start + csize
    return None


def sniff_vendor_workbook(head: bytes) -> bool:
    """An xlsx workbook whose first sheet starts with the header `asOf`, `value` (etf.com's per-fund file)."""
    if not head.startswith(b"PK\x03\x04"):
        return False
    sheet = _zip_member_head(head, b"worksheets/sheet1.xml")
    if sheet is None:
        return False
    first = re.search(rb"<row[^>]*>(.*?)</row>", sheet, re.S)
    if first is None:
        return False
    texts = [t.strip().lower() for t in re.findall(rb"<t[^>]*>([^<]*)</t>", first.group(1))]
    return texts[:2] == [b"asof", b"value"]


# ---------------------------------------------------------------- reading


def read_vendor_flows(
    path: PathLike,
    *,
    source: str = "vendor",
    units: str | None = None,
    ticker: str | None = None,
) -> ImportBatch:
    """A vendor's daily flows (long, per-fund workbook or wide; gzip accepted) as `vendor_flows` rows.

    `units` scales the values to USD (default: the unit in the header, else USD for the long layout
    and USD millions for the workbook and wide layouts). The batch also carries a `funds` frame naming
    each fund, so that funds outside the taxonomy are known to the warehouse (category unknown).
    """
    file = str(path)
    if units is not None and units.lower() not in UNITS:
        raise ConfigError(f"unknown units {units!r}; use one of {', '.join(UNITS)}")
    name = source.strip()
    if not name:
        raise ConfigError("the vendor source name must not be empty")
    data = read_bytes(path)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise ParseError(f"not a readable gzip file: {exc}", file=file) from exc
    dropped: dict[str, int] = {}
    notes: list[str] = []
    if data.startswith(b"PK\x03\x04"):
        frame, locate, labels = _read_workbook(data, file, path, ticker, units, notes)
    else:
        frame, locate, labels = _read_csv(data, file, ticker, units, notes, dropped)
    table = _finish(frame, locate, labels, file=file, source=name, dropped=dropped, notes=notes)
    funds = pl.DataFrame({"ticker": table["ticker"].unique().sort()})
    return ImportBatch(
        source=f"vendor:{name}",
        file=file,
        daily=empty("daily"),
        dropped=dropped,
        notes=notes,
        tables={"funds": validate(funds, "funds", file=file), "vendor_flows": table},
    )


def _scale(units: str | None, stated: str | None, default: str, header: str, notes: list[str]) -> float:
    unit = (units or stated or default).lower()
    if units is None:
        where = f"from the header {header!r}" if stated else "the layout's default"
        notes.append(f"flows read in {unit} ({where})")
    return UNITS[unit]


def _read_csv(
    data: bytes,
    file: str,
    ticker: str | None,
    units: str | None,
    notes: list[str],
    dropped: dict[str, int],
) -> tuple[pl.DataFrame, Locator, dict[str, str]]:
    """Long or wide CSV -> `_row`, date (text), ticker, flow (USD), and the flow column's header."""
    frame, locate = _csv_strings(data, file)
    found: dict[str, str] = {}
    unit: str | None = None
    for h in frame.columns:
        canon, u = _canon(h)
        if canon and canon not in found:
            found[canon] = h
            if canon == "flow_usd":
                unit = u
    frame = drop_blank_rows(frame.with_row_index("_row"), dropped)
    if "date" not in found:
        names = ", ".join(f'"{a}"' for a in _ALIASES["date"][:5])
        raise ParseError(
            f"no date column (looked for {names} ...; header: {frame.columns[1:]})", file=file, row=1
        )
    if "flow_usd" in found and "ticker" not in found and ticker is None:
        raise ParseError(
            f"no ticker column (header: {frame.columns[1:]}); "
            "pass ticker= (--ticker) for a single-fund export",
            file=file,
            row=1,
        )
    if "flow_usd" in found:
        scale = _scale(units, unit, "usd", found["flow_usd"], notes)
        flow = _number(frame[found["flow_usd"]], frame["_row"], file, found["flow_usd"], locate)
        tick = (
            frame[found["ticker"]].str.to_uppercase()
            if "ticker" in found
            else pl.Series([(ticker or "").upper()] * frame.height, dtype=pl.String)
        )
        out = pl.DataFrame(
            {"_row": frame["_row"], "date": frame[found["date"]], "ticker": tick, "flow_usd": flow * scale}
        )
        labels = {
            "date": found["date"],
            "ticker": found.get("ticker", "ticker"),
            "flow_usd": found["flow_usd"],
        }
        return out, locate, labels
    labels = {"date": found["date"], "ticker": "(fund column header)", "flow_usd": "(fund column)"}
    return _wide(frame, found["date"], file, units, locate, notes), locate, labels


def _csv_strings(data: bytes, file: str) -> tuple[pl.DataFrame, Locator]:
    """`read_csv_strings` without decoding a large UTF-8 file to text first (the line map is built
    only if an error needs it); other encodings go through `read_csv_strings`."""
    if b'"' in data or (not data.isascii() and data[:3] != b"\xef\xbb\xbf"):
        return read_csv_strings(data, file)
    try:
        frame = pl.read_csv(data, infer_schema=False, truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ParseError(f"not a readable CSV file: {exc}", file=file) from exc
    frame = frame.rename({c: c.strip().lstrip("\ufeff").strip() for c in frame.columns})
    frame = frame.with_columns(pl.all().str.strip_chars())

    def locate(index: int) -> int:
        return index + 2  # no quotes: one line per record, the header on line 1

    return frame, locate


def _number(values: pl.Series, rows: pl.Series, file: str, field: str, locate: Locator) -> pl.Series:
    if values.dtype.is_numeric():
        out = values.cast(pl.Float64)
    else:
        # plain numbers: the fast path for large files ("NaN" is a missing value, as in parse_float)
        out = values.cast(pl.Float64, strict=False).fill_nan(None)
        slow = out.is_null() & values.is_not_null()
        if slow.any():
            text = values.filter(slow).str.replace(_PARENS.pattern, "-$1")
            parsed = parse_float(text, rows.filter(slow), file=file, field=field, locate=locate)
            out = out.scatter(slow.arg_true(), parsed)
    bad = out.is_nan() | out.is_infinite()
    if bad.any():
        i = int(bad.arg_true()[0])
        raise ParseError(f"not a finite number: {values[i]!r}", file=file, row=locate(rows[i]), field=field)
    return out


def _wide(
    frame: pl.DataFrame, date_col: str, file: str, units: str | None, locate: Locator, notes: list[str]
) -> pl.DataFrame:
    """A date column and one column per fund (USD millions by default); a Total column is checked."""
    cols = [c for c in frame.columns if c not in ("_row", date_col)]
    totals = [c for c in cols if normalise_header(c) in _TOTALS]
    funds = [c for c in cols if c not in totals]
    bad = [c for c in funds if not _TICKER_HEADER.match(c)]
    if not funds or bad:
        raise ParseError(
            f"no ticker or flow column, and not a wide flow table (a date column, then one column per fund "
            f"named by its ticker): header {bad[:3] or frame.columns[1:]}",
            file=file,
            row=1,
            field=bad[0] if bad else None,
        )
    if len(totals) > 1:
        raise ParseError(f"more than one total column: {totals}", file=file, row=1, field=totals[1])
    scale = _scale(units, None, WIDE_UNIT, "", notes)
    values = {c: _number(frame[c], frame["_row"], file, c, locate) for c in funds + totals}
    if totals:
        _check_total(frame["_row"], values, funds, totals[0], file, locate)
        notes.append(f"the {totals[0]!r} column matched the sum of the funds on every row and was not stored")
    wide = pl.DataFrame({"_row": frame["_row"], "date": frame[date_col], **{c: values[c] for c in funds}})
    long = wide.unpivot(index=["_row", "date"], on=funds, variable_name="ticker", value_name="flow_usd")
    return long.with_columns(pl.col("ticker").str.to_uppercase(), pl.col("flow_usd") * scale)


def _check_total(
    rows: pl.Series, values: dict[str, pl.Series], funds: list[str], total: str, file: str, locate: Locator
) -> None:
    """Each stated total equals the sum of the row's stated fund values (within rounding of each cell)."""
    stated = values[total]
    mat = np.column_stack([values[c].fill_null(np.nan).to_numpy() for c in funds])
    summed = np.nansum(mat, axis=1)
    tol = 0.005 * (len(funds) + 1) + 1e-9 * np.abs(summed)
    tot = stated.fill_null(np.nan).to_numpy()
    off = np.isfinite(tot) & (np.abs(tot - summed) > tol)
    if off.any():
        i = int(np.argmax(off))
        raise ValidationError(
            f"total {tot[i]:,.4f} differs from the sum of the funds {summed[i]:,.4f}",
            file=file,
            row=locate(int(rows[i])),
            field=total,
        )


def _read_workbook(
    data: bytes, file: str, path: PathLike, ticker: str | None, units: str | None, notes: list[str]
) -> tuple[pl.DataFrame, Locator, dict[str, str]]:
    """etf.com's per-fund workbook: `asOf`, `value` (USD millions); the ticker from the file name."""
    from python_calamine import CalamineError, CalamineWorkbook

    try:
        wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        rows = wb.get_sheet_by_name(wb.sheet_names[0]).to_python(skip_empty_area=False)
    except CalamineError as exc:
        raise ParseError(f"not a readable Excel workbook: {exc}", file=file) from exc
    header = [str(c).strip() for c in rows[0]] if rows else []
    if [normalise_header(h) for h in header[:2]] != ["asof", "value"]:
        raise ParseError(
            f"not a per-fund flow workbook: header {header[:4]} (expected asOf, value)", file=file, row=1
        )
    if ticker is None:
        m = _TICKER_IN_NAME.match(Path(path).name)
        if m is None:
            raise ParseError(
                "the workbook does not name its fund: pass --ticker "
                "(or keep the name <TICKER>_fund_flow_data.xlsx)",
                file=file,
            )
        ticker = m.group(1)
        notes.append(f"ticker {ticker.upper()} taken from the file name")
    body = rows[1:]
    dates = [_cell(r[0]) if r else None for r in body]
    vals = [_cell(r[1]) if len(r) > 1 else None for r in body]
    frame = pl.DataFrame(
        {"_row": pl.Series(range(len(body)), dtype=pl.UInt32), "date": dates, "value": vals},
        schema={"_row": pl.UInt32, "date": pl.String, "value": pl.String},
    )
    frame = frame.filter(pl.col("date").is_not_null() | pl.col("value").is_not_null())

    def locate(index: int) -> int:
        return index + 2  # the header is sheet row 1

    scale = _scale(units, None, WORKBOOK_UNIT, "", notes)
    flow = _number(frame["value"], frame["_row"], file, header[1], locate)
    out = pl.DataFrame(
        {
            "_row": frame["_row"],
            "date": frame["date"],
            "ticker": pl.Series([ticker.upper()] * frame.height, dtype=pl.String),
            "flow_usd": flow * scale,
        }
    )
    return out, locate, {"date": header[0], "ticker": "(file name)", "flow_usd": header[1]}


def _cell(value: object) -> str | None:
    if value is None or value == "":
        return None
    if hasattr(value, "isoformat"):
        return str(value.isoformat())[:10]
    return str(value)


def _finish(
    frame: pl.DataFrame,
    locate: Locator,
    labels: dict[str, str],
    *,
    file: str,
    source: str,
    dropped: dict[str, int],
    notes: list[str],
) -> pl.DataFrame:
    """Dates parsed, missing flows dropped, non-sessions dropped, duplicates checked; validated rows."""
    dates = parse_dates(
        frame["date"], frame["_row"], file=file, field=labels["date"], locate=locate, formats=DATE_FORMATS
    )
    out = frame.with_columns(dates.alias("date"), pl.lit(source, dtype=pl.String).alias("source"))
    missing = out["flow_usd"].is_null() | out["ticker"].is_null() | (out["ticker"] == "")
    add_dropped(dropped, "missing_flow", int(missing.sum()))
    out = out.filter(~missing)
    out = vendor_rows(out, file=file, locate=locate, labels=labels, dropped=dropped, notes=notes)
    out = out.sort("ticker", "date", "_row")
    same = (pl.col("ticker") == pl.col("ticker").shift(1)) & (pl.col("date") == pl.col("date").shift(1))
    repeat = out.select(same.fill_null(False)).to_series()
    if repeat.any():  # rare: sorted, a repeated (ticker, date) sits right after its first row
        before = out.height
        out = out.unique(["date", "ticker", "flow_usd"], keep="first", maintain_order=True)
        add_dropped(dropped, "duplicate_rows", before - out.height)
        clash = out.select(same.fill_null(False)).to_series()
        if clash.any():
            r = out.row(int(clash.arg_true()[0]), named=True)
            raise ValidationError(
                f"{r['ticker']} {r['date']} appears again with a different flow",
                file=file,
                row=locate(r["_row"]),
                field=labels["flow_usd"],
            )
    return validate(out.drop("_row"), "vendor_flows", file=file)
