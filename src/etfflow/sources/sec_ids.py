"""SEC fund identifiers: ticker <-> CIK, series id and class id; EDGAR full submissions and their XML.

A fund's CIK is its registrant (a trust that may hold dozens of series); the series id (``S000004310``)
names the fund and the class id (``C000012040``) the share class that carries the ticker. Sources:

- SEC's ``company_tickers_mf.json``: ``{"fields": ["cik", "seriesId", "classId", "symbol"], "data": [...]}``;
- SEC's ``company_tickers.json`` (``{"0": {"cik_str": ..., "ticker": ..., "title": ...}}``): CIK only,
  which is all EDGAR has for unit-investment-trust ETFs that have no series (e.g. SPY, DIA);
- CSV with the columns ``CIK,SeriesID,Fund,ContractID,Class,Ticker[,...,filing_date]`` (edgartools'
  ``fund_data.csv`` format);
- the SGML header of an EDGAR full submission (``<SERIES>`` / ``<CLASS-CONTRACT>`` blocks).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from lxml import etree

from etfflow.checks import refuse_dtd
from etfflow.errors import NotFoundError, ParseError, quote
from etfflow.schema import validate
from etfflow.sources.base import read_bytes

__all__ = [
    "ClassContract",
    "FundIdMap",
    "FundIds",
    "SeriesInfo",
    "SubmissionHeader",
    "extract_xml_document",
    "load_fund_ids",
    "normalize_cik",
    "parse_company_tickers",
    "parse_company_tickers_mf",
    "parse_fund_ids_csv",
    "parse_submission_header",
]

_CSV_COLUMNS = ("CIK", "SeriesID", "ContractID", "Ticker")


@dataclass(frozen=True)
class FundIds:
    """The SEC identifiers of one share class (or of a registrant without series)."""

    cik: str
    series_id: str | None
    class_id: str | None
    ticker: str | None = None
    name: str | None = None
    #: the map it came from (company_tickers_mf, company_tickers, ...); not part of equality
    origin: str | None = field(default=None, compare=False)


def normalize_cik(value: str | int) -> str:
    """A CIK as 10 zero-padded digits."""
    text = str(value).strip()
    if not text.isdigit() or len(text) > 10:
        raise ParseError(f"not a CIK: {value!r}", field="cik")
    return text.zfill(10)


def _malformed(rec: FundIds) -> str | None:
    """What is malformed in a record's ticker, series or class id (etfflow.checks.IDENTIFIERS), or None."""
    from etfflow.checks import IDENTIFIERS

    for label, col, value in (
        ("ticker", "ticker", rec.ticker),
        ("series id", "series_id", rec.series_id),
        ("class id", "class_id", rec.class_id),
    ):
        if value is not None and not IDENTIFIERS[col].match(value):
            return f"{label} {quote(value, 30)}"
    return None


def _ticker(value: object) -> str | None:
    """Upper case, outer parentheses dropped (SEC's 2024-08 and 2025-09 maps list '(NWAGX)')."""
    text = str(value).strip().upper() if value is not None else ""
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    return text or None


def _opt(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _text(data: bytes | str) -> str:
    return data.decode("utf-8-sig") if isinstance(data, bytes) else data.lstrip("\ufeff")


class FundIdMap:
    """Ticker and series indexes over `FundIds`; later records win, but CIK-only ones never hide a series."""

    def __init__(self, records: Iterable[FundIds]) -> None:
        self._by_ticker: dict[str, FundIds] = {}
        self._by_series: dict[str, dict[str | None, FundIds]] = {}
        conflicts: set[str] = set()
        malformed: list[str] = []
        for rec in records:
            bad = _malformed(rec)
            if bad is not None:
                malformed.append(bad)
                continue
            if rec.series_id is not None:
                self._by_series.setdefault(rec.series_id, {})[rec.class_id] = rec
            if rec.ticker is None:
                continue
            old = self._by_ticker.get(rec.ticker)
            if old is not None and old.series_id is not None:
                if rec.series_id is None:
                    continue  # a CIK-only record never hides a series mapping
                if (old.cik, old.series_id, old.class_id) != (rec.cik, rec.series_id, rec.class_id):
                    conflicts.add(rec.ticker)
            self._by_ticker[rec.ticker] = rec
        self.conflicts: tuple[str, ...] = tuple(sorted(conflicts))
        #: records left out because an identifier is malformed ("ticker 'X Y'", "series id 'S12'", ...)
        self.malformed: tuple[str, ...] = tuple(malformed)

    def __len__(self) -> int:
        return len(self._by_ticker)

    def __contains__(self, ticker: object) -> bool:
        return isinstance(ticker, str) and ticker.strip().upper() in self._by_ticker

    def get(self, ticker: str) -> FundIds | None:
        """The identifiers for `ticker`, or None."""
        return self._by_ticker.get(ticker.strip().upper())

    def lookup(self, ticker: str) -> FundIds:
        """The identifiers for `ticker`; NotFoundError if unknown."""
        found = self.get(ticker)
        if found is None:
            raise NotFoundError(f"ticker {ticker!r} is not in the SEC identifier map ({len(self)} tickers)")
        return found

    def series(self, series_id: str) -> tuple[FundIds, ...]:
        """Every known class of a series (empty if unknown)."""
        return tuple(self._by_series.get(series_id.strip().upper(), {}).values())

    def frame(self) -> pl.DataFrame:
        """The ticker map as a validated `funds` frame (ticker, name, cik, series_id, class_id)."""
        return self._table(
            "funds", ticker="ticker", name="name", cik="cik", series_id="series_id", class_id="class_id"
        )

    def id_frame(self) -> pl.DataFrame:
        """Every mapped ticker as a validated `sec_ids` frame (ticker, cik, series_id, class_id, source)."""
        return self._table(
            "sec_ids", ticker="ticker", cik="cik", series_id="series_id", class_id="class_id", source="origin"
        )

    def _table(self, table: str, **columns: str) -> pl.DataFrame:
        """Every mapped ticker (sorted) as a validated frame of `table`: column = FundIds attribute."""
        recs = sorted(self._by_ticker.values(), key=lambda r: r.ticker or "")
        frame = pl.DataFrame(
            {c: [getattr(r, attr) for r in recs] for c, attr in columns.items()},
            schema={c: pl.String() for c in columns},
        )
        return validate(frame, table)


def parse_fund_ids_csv(data: bytes | str, *, file: str | None = None) -> list[FundIds]:
    """Rows of a ``CIK,SeriesID,Fund,ContractID,Class,Ticker`` CSV, oldest ``filing_date`` first."""
    reader = csv.DictReader(io.StringIO(_text(data), newline=""))
    missing = [c for c in _CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ParseError(f"not a fund id CSV: missing column(s) {missing}", file=file)
    rows: list[tuple[str, int, FundIds]] = []
    for n, row in enumerate(reader, start=2):
        try:
            cik = normalize_cik(row["CIK"] or "")
        except ParseError:
            raise ParseError(f"not a CIK: {row['CIK']!r}", file=file, row=n, field="CIK") from None
        rec = FundIds(
            cik=cik,
            series_id=_opt(row.get("SeriesID")),
            class_id=_opt(row.get("ContractID")),
            ticker=_ticker(row.get("Ticker")),
            name=_opt(row.get("Class")) or _opt(row.get("Fund")),
            origin="fund_data_csv",
        )
        rows.append((row.get("filing_date") or "", n, rec))
    rows.sort(key=lambda t: (t[0], t[1]))
    return [r for _, _, r in rows]


def parse_company_tickers_mf(data: bytes | str, *, file: str | None = None) -> list[FundIds]:
    """Records of SEC's ``company_tickers_mf.json`` (fields cik, seriesId, classId, symbol)."""
    try:
        doc = json.loads(_text(data))
        fields = [str(f) for f in doc["fields"]]
        pos = {name: fields.index(name) for name in ("cik", "seriesId", "classId", "symbol")}
        rows = doc["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ParseError(f"not a company_tickers_mf.json document: {exc}", file=file) from exc
    out: list[FundIds] = []
    for n, row in enumerate(rows, start=1):
        try:
            out.append(
                FundIds(
                    cik=normalize_cik(row[pos["cik"]]),
                    series_id=_opt(row[pos["seriesId"]]),
                    class_id=_opt(row[pos["classId"]]),
                    ticker=_ticker(row[pos["symbol"]]),
                    origin="company_tickers_mf",
                )
            )
        except (ParseError, IndexError, TypeError) as exc:
            raise ParseError(f"bad record {row!r}: {exc}", file=file, row=n) from None
    return out


def parse_company_tickers(data: bytes | str, *, file: str | None = None) -> list[FundIds]:
    """Records of SEC's ``company_tickers.json`` (CIK, ticker and title only; no series)."""
    try:
        doc = json.loads(_text(data))
        items = list(doc.values()) if isinstance(doc, dict) else list(doc)
        out = [
            FundIds(
                cik=normalize_cik(item["cik_str"]),
                series_id=None,
                class_id=None,
                ticker=_ticker(item["ticker"]),
                name=_opt(item.get("title")),
                origin="company_tickers",
            )
            for item in items
        ]
    except (ValueError, KeyError, TypeError, AttributeError, ParseError) as exc:
        raise ParseError(f"not a company_tickers.json document: {exc}", file=file) from exc
    return out


def load_fund_ids(*paths: Path | str) -> FundIdMap:
    """A `FundIdMap` over one or more files of any supported format (sniffed from the content)."""
    records: list[FundIds] = []
    for path in paths:
        p = Path(path)
        records.extend(_parse_any(read_bytes(p), file=str(p)))
    return FundIdMap(records)


def _parse_any(data: bytes, *, file: str) -> list[FundIds]:
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"{", b"[")):
        if re.search(rb'"fields"\s*:', head):
            return parse_company_tickers_mf(data, file=file)
        return parse_company_tickers(data, file=file)
    if head.startswith(b"<SEC-DOCUMENT>") or head.startswith(b"<SEC-HEADER>"):
        return list(parse_submission_header(data).fund_ids())
    return parse_fund_ids_csv(data, file=file)


# --- EDGAR full submissions (.txt) -------------------------------------------------------------


@dataclass(frozen=True)
class ClassContract:
    """One share class from a submission header."""

    class_id: str
    name: str | None
    ticker: str | None


@dataclass(frozen=True)
class SeriesInfo:
    """One series (fund) from a submission header, with its classes."""

    series_id: str
    name: str | None
    owner_cik: str | None
    classes: tuple[ClassContract, ...]


@dataclass(frozen=True)
class SubmissionHeader:
    """The SGML header of an EDGAR full submission."""

    accession: str | None
    form_type: str | None
    filed_on: dt.date | None
    period: dt.date | None
    cik: str | None
    company: str | None
    series: tuple[SeriesInfo, ...]

    def fund_ids(self) -> Iterator[FundIds]:
        """One `FundIds` per class listed in the header."""
        for s in self.series:
            cik = s.owner_cik or self.cik or ""
            for c in s.classes:
                yield FundIds(
                    cik, s.series_id, c.class_id, ticker=c.ticker, name=c.name, origin="submission_header"
                )

    def series_by_id(self, series_id: str) -> SeriesInfo | None:
        """The header's entry for `series_id`, or None."""
        return next((s for s in self.series if s.series_id == series_id), None)


_HDR_LINE = re.compile(r"^\s*([A-Z][A-Z0-9 .\-]*?):[ \t]*(.*?)\s*$", re.M)
_TAG = r"<{0}>[ \t]*([^\r\n<]*)"


def _tag(block: str, name: str) -> str | None:
    m = re.search(_TAG.format(re.escape(name)), block)
    return _opt(m.group(1)) if m else None


def _yyyymmdd(value: str | None, *, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.datetime.strptime(value[:8], "%Y%m%d").date()
    except ValueError:
        raise ParseError(f"not a YYYYMMDD date: {value!r}", field=field) from None


def parse_submission_header(data: bytes | str) -> SubmissionHeader:
    """The SGML header of an EDGAR full submission (the part before the first ``<DOCUMENT>``)."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8")
    end = raw.find(b"</SEC-HEADER>")
    if end < 0:
        end = raw.find(b"<DOCUMENT>")
    head = raw[: end if end >= 0 else len(raw)].decode("utf-8", errors="replace")
    if "<SEC-HEADER>" not in head and "ACCESSION NUMBER:" not in head:
        raise ParseError("not an EDGAR full submission: no SEC header")
    fields: dict[str, str] = {}
    for m in _HDR_LINE.finditer(head):
        fields.setdefault(m.group(1).strip(), m.group(2))
    cik = fields.get("CENTRAL INDEX KEY")
    series = []
    for block in re.findall(r"<SERIES>(.*?)</SERIES>", head, re.S):
        sid = _tag(block, "SERIES-ID")
        if sid is None:
            continue
        classes = tuple(
            ClassContract(
                class_id=_tag(c, "CLASS-CONTRACT-ID") or "",
                name=_tag(c, "CLASS-CONTRACT-NAME"),
                ticker=_ticker(_tag(c, "CLASS-CONTRACT-TICKER-SYMBOL")),
            )
            for c in re.findall(r"<CLASS-CONTRACT>(.*?)</CLASS-CONTRACT>", block, re.S)
        )
        owner = _tag(block, "OWNER-CIK")
        series.append(
            SeriesInfo(
                series_id=sid,
                name=_tag(block, "SERIES-NAME"),
                owner_cik=normalize_cik(owner) if owner else None,
                classes=classes,
            )
        )
    return SubmissionHeader(
        accession=_opt(fields.get("ACCESSION NUMBER")),
        form_type=_opt(fields.get("CONFORMED SUBMISSION TYPE")),
        filed_on=_yyyymmdd(fields.get("FILED AS OF DATE"), field="FILED AS OF DATE"),
        period=_yyyymmdd(fields.get("CONFORMED PERIOD OF REPORT"), field="CONFORMED PERIOD OF REPORT"),
        cik=normalize_cik(cik) if cik else None,
        company=_opt(fields.get("COMPANY CONFORMED NAME")),
        series=tuple(series),
    )


_DOCUMENT = re.compile(rb"<DOCUMENT>(.*?)</DOCUMENT>", re.S)
_XML_BODY = re.compile(rb"<XML>\s*(.*?)\s*</XML>", re.S)


def extract_xml_document(data: bytes, *, types: tuple[str, ...], file: str | None = None) -> bytes:
    """The XML body of the first ``<DOCUMENT>`` whose ``<TYPE>`` starts with one of `types`."""
    for m in _DOCUMENT.finditer(data):
        doc = m.group(1)
        t = re.search(rb"<TYPE>[ \t]*([^\r\n<]+)", doc)
        doc_type = t.group(1).decode("ascii", errors="replace").strip() if t else ""
        if not doc_type.upper().startswith(tuple(x.upper() for x in types)):
            continue
        body = _XML_BODY.search(doc)
        if body is None:
            raise ParseError(f"document of type {doc_type} has no <XML> body", file=file)
        return body.group(1)
    raise ParseError(f"no document of type {' / '.join(types)} in the submission", file=file)


def is_full_submission(head: bytes) -> bool:
    """True if `head` starts an EDGAR full submission (.txt with an SGML header), not a bare document."""
    return head.lstrip()[:64].startswith((b"<SEC-DOCUMENT>", b"<SEC-HEADER>"))


def split_submission(
    data: bytes, *, types: tuple[str, ...], file: str | None = None
) -> tuple[SubmissionHeader | None, bytes]:
    """(header, XML body) of a full submission's first document of `types`; (None, data) for bare XML."""
    if not is_full_submission(data):
        return None, data
    return parse_submission_header(data), extract_xml_document(data, types=types, file=file)


# --- EDGAR XML documents (N-PORT, N-CEN) ------------------------------------------------------------


def xml_root(data: bytes, *, file: str | None = None) -> Any:
    """The root element of an XML document (no entities, no network); ParseError if malformed."""
    data = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    refuse_dtd(data, file=file)
    try:
        # One parser per call: lxml parser objects must not be shared between threads.
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, remove_comments=True, huge_tree=True
        )
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(f"malformed XML: {exc}", file=file) from exc


def xml_path(*names: str) -> str:
    """An ElementPath of `names` in any namespace."""
    return "/".join("{*}" + n for n in names)


def xml_text(el: Any, path: str) -> str | None:
    """The stripped text of the first element at `path`, or None when absent or blank."""
    found = el.find(path)
    if found is None or found.text is None:
        return None
    return str(found.text).strip() or None
