"""iShares files: the fund workbook (sheet "Historical") and shares-history CSVs.

The workbook comes as iShares publishes it (XML Spreadsheet 2003, named .xls) or as Excel saves it
after opening (binary BIFF8 .xls, an OLE2 compound file; read with python-calamine); both give the
same rows.

Both declare so_lag=1: iShares states shares outstanding as of day d after the orders struck on the
previous session have settled into the count.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from etfflow.errors import ParseError, ValidationError
from etfflow.sources.base import (
    ImportBatch,
    PathLike,
    cell_text,
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
    "ISHARES_SO_LAG",
    "read_ishares_shares_csv",
    "read_ishares_workbook",
    "read_xls",
    "sniff_ishares_shares_csv",
    "sniff_ishares_workbook",
    "sniff_xls",
]

ISHARES_SO_LAG = 1
_SPREADSHEET_NS = "urn:schemas-microsoft-com:office:spreadsheet"
_DATE_FORMATS = ("%b %d, %Y", "%d-%b-%Y", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d")
#: sheet "Historical" header (lower case) -> canonical column
_HISTORICAL = {
    "as of": "date",
    "nav per share": "nav",
    "ex-dividends": "distribution",
    "shares outstanding": "shares_outstanding",
}
_HISTORICAL_REQUIRED = {
    "as of": "As Of",
    "nav per share": "NAV per Share",
    "shares outstanding": "Shares Outstanding",
}
_TICKER_LABELS = frozenset({"ticker", "fund ticker", "ticker symbol", "symbol", "trading symbol"})
_TICKER = re.compile(r"[A-Z][A-Z0-9.]{0,9}")
_TITLE_TICKER = re.compile(r"\(([A-Z][A-Z0-9.]{0,9})\)\s*$")

_P = r"<(?:\w+:)?"
_SHEET = re.compile(_P + r"Worksheet\b([^>]*)>")
_SHEET_END = re.compile(r"</(?:\w+:)?Worksheet\s*>")
_NAME = re.compile(r'\b(?:\w+:)?Name="([^"]*)"')
_INDEX = re.compile(r'\b(?:\w+:)?Index="(\d+)"')
_TOKEN = re.compile(_P + r"(Row|Cell)\b([^>]*?)/?>|" + _P + r"Data\b[^>]*>(.*?)</(?:\w+:)?Data\s*>", re.S)
_ROW_TAG = re.compile(_P + r"Row\b([^>]*?)/?>")
_HEAD_CHARS = 64 * 1024  # the first rows of a sheet (title block) lie well within this
_TAG = re.compile(r"<[^>]+>")
_ENTITY = re.compile(r"&(#x[0-9a-fA-F]{1,8}|#[0-9]{1,8}|amp|lt|gt|quot|apos);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}


@dataclass(frozen=True)
class _Row:
    number: int  # 1-based row in the sheet, as a spreadsheet program shows it
    cells: list[str | None]


#: the first bytes of an OLE2 compound file (binary .xls, BIFF8)
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def sniff_ishares_workbook(head: bytes) -> bool:
    """An XML Spreadsheet 2003 workbook published by iShares / BlackRock."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return (
        text.startswith(b"<?xml")
        and _SPREADSHEET_NS.encode() in text
        and (b"iShares" in text or b"BlackRock" in text)
    )


def sniff_ishares_shares_csv(head: bytes) -> bool:
    """A CSV whose header is exactly `date,ticker,shares_outstanding[,nav]`."""
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].strip().lower()
    return first in (b"date,ticker,shares_outstanding,nav", b"date,ticker,shares_outstanding")


def read_ishares_workbook(
    path: PathLike, *, ticker: str | None = None, retrieved_at: dt.datetime | None = None
) -> ImportBatch:
    """Daily NAV, ex-dividends and shares outstanding from sheet "Historical" of an iShares workbook.

    The ticker is read from the file where it states one (a "Ticker" row, or a title ending "(XYZ)");
    iShares' own downloads do not, so pass `ticker=`. Rows are returned oldest first.
    """
    file = str(path)
    data = read_bytes(path)
    book: _Book = _BiffBook(data, file) if data.startswith(OLE2_MAGIC) else _XmlBook(decode_text(data))
    stamp = resolve_retrieved_at(path, retrieved_at)
    if "Historical" not in book.names:
        raise ParseError(f"no sheet 'Historical' in the workbook (sheets: {book.names})", file=file)
    rows = book.rows("Historical")
    notes: list[str] = []
    if isinstance(book, _BiffBook):
        notes.append("binary Excel workbook (BIFF .xls)")
    heads: dict[str, list[_Row]] = {
        n: book.rows(n, head=True)[:20]
        for n in ("Holdings", "Performance", "Distributions")
        if n in book.names
    }
    found, name = _ticker_from_content(heads)
    if name:
        notes.append(f"fund name in file: {name}")
    if ticker is None and found is None and name:
        found = _ticker_by_name(name)
        if found:
            notes.append(f"ticker {found} found by fund name in the shipped taxonomy")
    if ticker is None and found is None:
        raise ParseError(
            "the workbook does not state its ticker"
            + (f" (fund: {name})" if name else "")
            + "; pass ticker=, e.g. read_ishares_workbook(path, ticker='IVV')",
            file=file,
            field="ticker",
        )
    if ticker is not None and found is not None and ticker.strip().upper() != found:
        raise ValidationError(f"ticker={ticker!r} but the file states {found!r}", file=file, field="ticker")
    symbol = (ticker or found or "").strip().upper()
    if not _TICKER.fullmatch(symbol):
        raise ParseError(f"not a ticker: {symbol!r}", file=file, field="ticker")

    header_at = next(
        (i for i, r in enumerate(rows) if any((c or "").strip().lower() == "as of" for c in r.cells)), None
    )
    if header_at is None:
        raise ParseError("sheet 'Historical' has no header row with 'As Of'", file=file, field="As Of")
    header = [(c or "").strip() for c in rows[header_at].cells]
    where = {h.lower(): j for j, h in enumerate(header) if h.lower() in _HISTORICAL}
    for req, label in _HISTORICAL_REQUIRED.items():
        if req not in where:
            raise ParseError(
                f"missing required column in sheet 'Historical' (header: {header})",
                file=file,
                row=rows[header_at].number,
                field=label,
            )
    body = rows[header_at + 1 :]

    def locate(number: int) -> int:
        return number

    def context(number: int) -> str:
        return book.where("Historical", number)

    columns: dict[str, list[str | None]] = {h: [] for h in where}
    for r in body:
        for h, j in where.items():
            columns[h].append(r.cells[j] if j < len(r.cells) else None)
    raw = pl.DataFrame(
        [pl.Series("_row", [r.number for r in body], dtype=pl.Int64)]
        + [pl.Series(h, v, dtype=pl.String) for h, v in columns.items()]
    )
    dropped: dict[str, int] = {}
    raw = drop_blank_rows(raw.with_columns(pl.exclude("_row").str.strip_chars()), dropped)

    rownums = raw["_row"]
    labels = {_HISTORICAL[h]: header[j] for h, j in where.items()}
    out: dict[str, pl.Series] = {"_row": rownums}
    for h in where:
        canon = _HISTORICAL[h]
        series = raw[h].alias(canon)
        if canon == "date":
            out[canon] = parse_dates(
                series,
                rownums,
                file=file,
                field=labels[canon],
                locate=locate,
                formats=_DATE_FORMATS,
                context=context,
            )
        else:
            out[canon] = parse_float(
                series, rownums, file=file, field=labels[canon], locate=locate, context=context
            )
    frame = pl.DataFrame(list(out.values())).with_columns(pl.lit(symbol).alias("ticker"))
    holdings_note = _check_holdings_shares(heads.get("Holdings", []), frame)
    if holdings_note:
        notes.append(holdings_note)
    return finish(
        frame,
        file=file,
        source="ishares_workbook",
        so_lag=ISHARES_SO_LAG,
        retrieved_at=stamp,
        locate=locate,
        labels=labels,
        dropped=dropped,
        notes=notes,
        context=context,
    )


def read_ishares_shares_csv(path: PathLike, *, retrieved_at: dt.datetime | None = None) -> ImportBatch:
    """Shares-history CSV `date,ticker,shares_outstanding,nav` (ISO dates; nav often empty), any tickers."""
    file = str(path)
    frame, locate = read_csv_strings(read_bytes(path), file)
    stamp = resolve_retrieved_at(path, retrieved_at)
    for req in ("date", "ticker", "shares_outstanding"):
        if req not in frame.columns:
            raise ParseError(
                f"missing required column (header: {frame.columns})", file=file, row=1, field=req
            )
    extra = [c for c in frame.columns if c not in ("date", "ticker", "shares_outstanding", "nav")]
    if extra:
        raise ParseError(f"unexpected column(s) {extra} for an iShares shares CSV", file=file, row=1)
    dropped: dict[str, int] = {}
    frame = drop_blank_rows(frame.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64)), dropped)
    rows = frame["_row"]
    out = {
        "_row": rows,
        "date": parse_dates(
            frame["date"], rows, file=file, field="date", locate=locate, formats=("%Y-%m-%d",)
        ),
        "ticker": frame["ticker"].str.to_uppercase(),
        "shares_outstanding": parse_float(
            frame["shares_outstanding"], rows, file=file, field="shares_outstanding", locate=locate
        ),
    }
    if "nav" in frame.columns:
        out["nav"] = parse_float(frame["nav"], rows, file=file, field="nav", locate=locate)
    bad = out["ticker"].is_null() | ~out["ticker"].str.contains(r"^[A-Z][A-Z0-9.]{0,9}$")
    if bad.any():
        i = int(bad.arg_true()[0])
        raise ParseError(
            f"not a ticker: {frame['ticker'][i]!r}", file=file, row=locate(rows[i]), field="ticker"
        )
    return finish(
        pl.DataFrame(list(out.values())),
        file=file,
        source="ishares_csv",
        so_lag=ISHARES_SO_LAG,
        retrieved_at=stamp,
        locate=locate,
        labels={},
        dropped=dropped,
        notes=[],
    )


class _Book:
    """A workbook's sheets as rows of cell texts."""

    names: list[str]

    def rows(self, name: str, *, head: bool = False) -> list[_Row]:
        """Rows of sheet `name` (only its first rows where `head`)."""
        raise NotImplementedError

    def where(self, sheet: str, number: int) -> str:
        """Error-message suffix locating row `number` of `sheet`."""
        raise NotImplementedError


class _XmlBook(_Book):
    """XML Spreadsheet 2003 text, read with regular expressions (the published file is not well-formed)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sheets = _sheets(text)
        self.names = list(self.sheets)

    def rows(self, name: str, *, head: bool = False) -> list[_Row]:
        start, end = self.sheets[name]
        return _rows(self.text, start, min(end, start + _HEAD_CHARS) if head else end)

    def where(self, sheet: str, number: int) -> str:
        return f" (sheet {sheet!r}, XML line {_row_line(self.text, *self.sheets[sheet], number)})"


class _BiffBook(_Book):
    """A binary .xls (BIFF) workbook read with python-calamine; cells as the texts the XML file holds."""

    def __init__(self, data: bytes, file: str) -> None:
        from python_calamine import CalamineError, CalamineWorkbook

        try:
            self._wb = CalamineWorkbook.from_filelike(io.BytesIO(data))
        except (CalamineError, ValueError, OSError) as exc:
            raise ParseError(f"not a readable Excel workbook: {exc}", file=file) from exc
        self.file = file
        self.names = list(self._wb.sheet_names)

    def rows(self, name: str, *, head: bool = False) -> list[_Row]:
        from python_calamine import CalamineError

        try:
            cells = self._wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except CalamineError as exc:
            raise ParseError(f"unreadable sheet {name!r}: {exc}", file=self.file) from exc
        return [_Row(i + 1, [cell_text(c) for c in r]) for i, r in enumerate(cells)]

    def where(self, sheet: str, number: int) -> str:
        return f" (sheet {sheet!r}, row {number})"


def _sheets(text: str) -> dict[str, tuple[int, int]]:
    """Worksheet name -> (start, end) offsets of its content."""
    out: dict[str, tuple[int, int]] = {}
    for m in _SHEET.finditer(text):
        name = _NAME.search(m.group(1))
        end = _SHEET_END.search(text, m.end())
        out[_unescape(name.group(1)) if name else f"Sheet{len(out) + 1}"] = (
            m.end(),
            end.start() if end else len(text),
        )
    return out


def _rows(text: str, start: int, end: int) -> list[_Row]:
    """Rows of one worksheet as cell texts, honouring ss:Index on rows and cells."""
    rows: list[_Row] = []
    cells: list[str | None] = []
    number = 0
    for kind, attrs, data in _TOKEN.findall(text, start, end):
        if kind == "Row":
            idx = _INDEX.search(attrs) if "Index" in attrs else None
            number = int(idx.group(1)) if idx else number + 1
            cells = []
            rows.append(_Row(number, cells))
        elif kind == "Cell":
            idx = _INDEX.search(attrs) if "Index" in attrs else None
            if idx:
                cells.extend([None] * (int(idx.group(1)) - 1 - len(cells)))
            cells.append(None)
        elif cells:
            value = _TAG.sub("", data) if "<" in data else data
            cells[-1] = _unescape(value) if "&" in value else value
    return rows


def _row_line(text: str, start: int, end: int, number: int) -> int | None:
    """1-based file line of the <Row> tag of sheet row `number` (for error messages)."""
    current = 0
    for m in _ROW_TAG.finditer(text, start, end):
        idx = _INDEX.search(m.group(1))
        current = int(idx.group(1)) if idx else current + 1
        if current == number:
            return text.count("\n", 0, m.start()) + 1
    return None


def _unescape(value: str) -> str:
    """Resolve XML entities; a bare '&' (this file format's known defect) is kept as it is."""

    def one(m: re.Match[str]) -> str:
        ent = m.group(1)
        if ent.startswith("#"):
            code = int(ent[2:], 16) if ent.startswith("#x") else int(ent[1:])
            return chr(code) if 0 < code <= 0x10FFFF else m.group(0)  # an invalid reference stays as text
        return _ENTITIES[ent]

    return _ENTITY.sub(one, value)


def _ticker_from_content(heads: dict[str, list[_Row]]) -> tuple[str | None, str | None]:
    """(ticker, fund name) stated in the first rows of the non-data sheets, where present."""
    ticker: str | None = None
    name: str | None = None
    for rows in heads.values():
        for r in rows:
            vals = [c.strip() for c in r.cells if c and c.strip()]
            if (
                len(vals) == 2
                and vals[0].lower().rstrip(":") in _TICKER_LABELS
                and _TICKER.fullmatch(vals[1])
            ):
                ticker = ticker or vals[1]
            if len(vals) == 1 and name is None and re.search(r"\b(ETF|Fund|Trust)\b", vals[0]):
                name = vals[0]
                m = _TITLE_TICKER.search(vals[0])
                ticker = ticker or (m.group(1) if m else None)
    return ticker, name


def _check_holdings_shares(head: list[_Row], frame: pl.DataFrame) -> str | None:
    """Compare the Holdings sheet's 'Shares Outstanding' with the Historical row of its date (a note)."""
    stated: dict[str, str] = {}
    for r in head:
        vals = [c.strip() for c in r.cells if c and c.strip()]
        if len(vals) == 2:
            stated[vals[0].lower()] = vals[1]
    if "shares outstanding" not in stated or "fund holdings as of" not in stated:
        return None
    try:
        as_of = dt.datetime.strptime(stated["fund holdings as of"], "%b %d, %Y").date()
        shares = float(stated["shares outstanding"].replace(",", ""))
    except ValueError:
        return None
    hist = frame.filter(pl.col("date") == as_of)["shares_outstanding"]
    if hist.is_empty():
        return (
            f"Holdings sheet states {shares:,.0f} shares as of {as_of}; Historical has no row for that date"
        )
    verdict = "matches" if hist[0] == shares else f"differs from Historical ({hist[0]:,.0f})"
    return f"Holdings sheet states {shares:,.0f} shares outstanding as of {as_of}: {verdict}"


def _ticker_by_name(name: str) -> str | None:
    """The taxonomy's ticker for an exact (case-insensitive) fund name, if exactly one matches."""
    from etfflow.universe import load_taxonomy

    tax = load_taxonomy()
    hits = tax.filter(tax["name"].str.to_lowercase() == name.strip().lower())["ticker"].to_list()
    return str(hits[0]) if len(hits) == 1 else None


def sniff_xls(head: bytes) -> bool:
    """A binary Excel workbook (.xls, BIFF in an OLE2 compound file)."""
    return head.startswith(OLE2_MAGIC)


def read_xls(
    path: PathLike,
    *,
    ticker: str | None = None,
    retrieved_at: dt.datetime | None = None,
    mapping: Mapping[str, str] | None = None,
    so_lag: int | None = 0,
    source: str | None = None,
    date_format: str | None = None,
    sheet: str | None = None,
) -> ImportBatch:
    """A binary .xls: an iShares fund workbook (a sheet "Historical" headed "As Of") or a generic panel.

    `mapping`, `so_lag`, `source`, `date_format` and `sheet` apply to the generic panel only.
    """
    from etfflow.sources.generic import read_generic_xlsx

    book = _BiffBook(read_bytes(path), str(path))
    if "Historical" in book.names and any(
        (c or "").strip().lower() == "as of" for r in book.rows("Historical", head=True)[:50] for c in r.cells
    ):
        return read_ishares_workbook(path, ticker=ticker, retrieved_at=retrieved_at)
    return read_generic_xlsx(
        path,
        mapping=mapping,
        ticker=ticker,
        so_lag=so_lag,
        source=source or "xls",
        date_format=date_format,
        retrieved_at=retrieved_at,
        sheet=sheet,
    )
