"""Form N-PORT: NPORT-P XML (bare, or inside an EDGAR full submission) and SEC's quarterly data sets.

Which month is ``mon1``? Month 1 is the OLDEST of the three months, month 3 the month that ends on
the report date (``genInfo/repPdDate``; ``repPdEnd`` is the fiscal year end, not the period end):

    mon1 -> last day of the month two months before repPdDate's month
    mon2 -> last day of the month before repPdDate's month
    mon3 -> last day of repPdDate's month        (2023-03-31 -> 2023-01-31, 2023-02-28, 2023-03-31)

Evidence. The XSD (eis_NPORT_Filer.xsd: ``mon1Flow`` "Month1 Flow", B.5.a "Monthly total returns of
the Fund for each of the preceding three months") numbers the months without saying which comes
first; Form N-PORT lists "the preceding three months" as Month 1, 2, 3 in calendar order. The
recorded filings agree only with that reading: the Goldman Sachs Bond Fund (report 2023-03-31)
files rtn1/rtn2/rtn3 = 3.86/-2.79/2.50 %, which is January (+3.1 % US Aggregate, +3.8 % IG credit),
February (-2.6 %) and March 2023 (+2.5 %); the Dupree Kentucky short-to-medium muni series (report
2022-12-31) files -0.05/2.15/0.15 %, i.e. October 2022 (munis fell), November (their best month in
decades) and December (small gain); newest-first would give December a loss. SEC's data sets keep
the order (``SALES_FLOW_MON1`` .. ``_MON3``), and OpenBB's SEC provider dates them the same way.

Quirks handled, each recorded in `NportFiling.issues`: "N/A" amounts (null); redemptions filed with
a negative sign (AST Bond Portfolio 2022 files -10,925,162.46: a redemption is a positive amount by
definition, so `negative_redemption="abs"` restores the sign; "keep" or "raise" are the
alternatives); no series id (S-6 unit trusts and N-2 funds have none; keyed as ``CIK`` + the
registrant CIK under ``no_series="cik"``); whitespace before the XML declaration. ``net_assets``
is put on the month-3 row only, because the filing states it as of the report date.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import logging
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
from lxml import etree

from etfflow.checks import check_number
from etfflow.errors import NotFoundError, ParseError, ValidationError
from etfflow.schema import validate
from etfflow.sources.sec_ids import is_full_submission, normalize_cik, split_submission, xml_root
from etfflow.sources.sec_ids import xml_path as _p
from etfflow.sources.sec_ids import xml_text as _text

__all__ = [
    "ClassReturn",
    "MonthlyFlow",
    "NegativeRedemption",
    "NoSeries",
    "NportFiling",
    "NportHolding",
    "holdings_frame",
    "is_nport_dataset_zip",
    "is_nport_xml",
    "month_ends",
    "monthly_flows_frame",
    "parse_nport",
    "read_nport_dataset",
]

NoSeries = Literal["cik", "raise"]
NegativeRedemption = Literal["abs", "keep", "raise"]

_log = logging.getLogger(__name__)
_NPORT_NS = re.compile(rb'xmlns(?::\w+)?\s*=\s*"http://www\.sec\.gov/edgar/nport"')
_NPORT_TYPE = re.compile(rb"CONFORMED SUBMISSION TYPE:\s*NPORT-", re.I)
_DATASET_MEMBERS = ("SUBMISSION.TSV", "FUND_REPORTED_INFO.TSV")
_DATASET_TABLES = frozenset(
    f"{t}.TSV"
    for t in [
        "SUBMISSION",
        "REGISTRANT",
        "FUND_REPORTED_INFO",
        "INTEREST_RATE_RISK",
        "BORROWER",
        "BORROW_AGGREGATE",
        "MONTHLY_TOTAL_RETURN",
        "MONTHLY_RETURN_CAT_INSTRUMENT",
        "FUND_VAR_INFO",
        "FUND_REPORTED_HOLDING",
        "IDENTIFIERS",
        "DEBT_SECURITY",
        "DEBT_SECURITY_REF_INSTRUMENT",
        "CONVERTIBLE_SECURITY_CURRENCY",
        "REPURCHASE_AGREEMENT",
        "REPURCHASE_COUNTERPARTY",
        "REPURCHASE_COLLATERAL",
        "DERIVATIVE_COUNTERPARTY",
        "SWAPTION_OPTION_WARNT_DERIV",
        "DESC_REF_INDEX_BASKET",
        "DESC_REF_INDEX_COMPONENT",
        "DESC_REF_OTHER",
        "FUT_FWD_NONFOREIGNCUR_CONTRACT",
        "FWD_FOREIGNCUR_CONTRACT_SWAP",
        "NONFOREIGN_EXCHANGE_SWAP",
        "FLOATING_RATE_RESET_TENOR",
        "OTHER_DERIV",
        "OTHER_DERIV_NOTIONAL_AMOUNT",
        "SECURITIES_LENDING",
        "EXPLANATORY_NOTE",
    ]
)


@dataclass(frozen=True)
class MonthlyFlow:
    """Item B.6 for one month: USD amounts as filed (None where the filer wrote N/A)."""

    month: int
    month_end: dt.date
    sales: float | None
    reinvestment: float | None
    redemption: float | None


@dataclass(frozen=True)
class ClassReturn:
    """Item B.5.a: monthly total returns in percent for months 1..3 of one class."""

    class_id: str | None
    returns: tuple[float | None, float | None, float | None]


@dataclass(frozen=True)
class NportHolding:
    """Item C: one position as filed (percent of net assets in percent units)."""

    name: str | None
    title: str | None
    lei: str | None
    cusip: str | None
    isin: str | None
    ticker: str | None
    balance: float | None
    units: str | None
    currency: str | None
    value_usd: float | None
    pct_value: float | None
    payoff_profile: str | None
    asset_cat: str | None
    issuer_cat: str | None
    country: str | None


@dataclass(frozen=True)
class NportFiling:
    """One N-PORT report for one series."""

    submission_type: str | None
    registrant_name: str | None
    registrant_cik: str | None
    series_name: str | None
    series_id: str | None
    class_ids: tuple[str, ...]
    class_tickers: tuple[tuple[str, str | None], ...]
    fiscal_year_end: dt.date | None
    report_date: dt.date
    total_assets: float | None
    total_liabilities: float | None
    net_assets: float | None
    flows: tuple[MonthlyFlow, ...]
    returns: tuple[ClassReturn, ...]
    holdings: tuple[NportHolding, ...]
    accession: str | None
    filed_on: dt.date | None
    issues: tuple[str, ...]

    def series_key(self, no_series: NoSeries = "cik") -> str:
        """The series id, or ``CIK`` + registrant CIK for filers without series (policy `no_series`)."""
        if self.series_id:
            return self.series_id
        if no_series == "cik" and self.registrant_cik:
            return f"CIK{self.registrant_cik}"
        raise ValidationError(
            f"filing {self.accession or '(no accession)'} of {self.registrant_name!r} has no series id "
            "(S-6 and N-2 filers have none); use no_series='cik' to key it by the registrant CIK",
            field="seriesId",
        )

    @property
    def ticker(self) -> str | None:
        """The series' ticker when its classes carry exactly one distinct ticker, else None."""
        tickers = {t for _, t in self.class_tickers if t}
        return tickers.pop() if len(tickers) == 1 else None


def month_ends(report_date: dt.date) -> tuple[dt.date, dt.date, dt.date]:
    """Month ends of mon1, mon2, mon3 for a report date (mon3 is the report date's month)."""
    out = []
    for back in (2, 1, 0):
        idx = report_date.year * 12 + report_date.month - 1 - back
        year, month = divmod(idx, 12)
        out.append(dt.date(year, month + 1, calendar.monthrange(year, month + 1)[1]))
    return out[0], out[1], out[2]


# --- XML ----------------------------------------------------------------------------------------


def _attr(el: Any, path: str, name: str) -> str | None:
    found = el.find(path) if path else el
    if found is None:
        return None
    value = found.get(name)
    return (str(value).strip() or None) if value is not None else None


def _na(value: str | None) -> str | None:
    return None if value is None or value.upper() == "N/A" else value


def _num(value: str | None, *, field: str, file: str | None) -> float | None:
    if value is None or value.upper() == "N/A":
        return None
    try:
        number = float(value)
    except ValueError:
        raise ParseError(f"not a number: {value!r}", file=file, field=field) from None
    return check_number(number, field=field, file=file)


def _date(value: str | None, *, field: str, file: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise ParseError(f"not a date: {value!r}", file=file, field=field) from None


def parse_nport(
    data: bytes | str,
    *,
    accession: str | None = None,
    filed_on: dt.date | None = None,
    file: str | None = None,
) -> NportFiling:
    """Parse an NPORT-P/NPORT-NP XML document or an EDGAR full submission (.txt) that carries one."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    class_tickers: dict[str, str | None] = {}
    header_classes: dict[str, tuple[str, ...]] = {}
    header, raw = split_submission(raw, types=("NPORT",), file=file)
    if header is not None:
        accession = accession or header.accession
        filed_on = filed_on or header.filed_on
        for s in header.series:
            class_tickers.update({c.class_id: c.ticker for c in s.classes})
            header_classes[s.series_id] = tuple(c.class_id for c in s.classes)
    root = xml_root(raw, file=file)
    if etree.QName(root).localname != "edgarSubmission" or root.find(_p("formData", "genInfo")) is None:
        raise ParseError("not an N-PORT document: no edgarSubmission/formData/genInfo", file=file)
    issues: list[str] = []
    gen = root.find(_p("formData", "genInfo"))
    fund = root.find(_p("formData", "fundInfo"))
    report_date = _date(_text(gen, _p("repPdDate")), field="repPdDate", file=file)
    if report_date is None:
        raise ParseError("missing report date", file=file, field="repPdDate")
    if (month_ends(report_date)[2] - report_date).days > 3:  # the last business day is allowed
        issues.append(f"repPdDate {report_date} is not a month end; months are those ending in its month")
    series_id = _text(gen, _p("seriesId")) or _text(
        root, _p("headerData", "filerInfo", "seriesClassInfo", "seriesId")
    )
    reg_cik = _text(gen, _p("regCik")) or _text(
        root, _p("headerData", "filerInfo", "filer", "issuerCredentials", "cik")
    )
    if series_id is None:
        issues.append("no series id")
    class_ids = tuple(
        str(c.text).strip()
        for c in root.iterfind(_p("headerData", "filerInfo", "seriesClassInfo", "classId"))
        if c.text and str(c.text).strip()
    ) or header_classes.get(series_id or "", ())
    ends = month_ends(report_date)
    flows = []
    for i in (1, 2, 3):
        path = _p(f"mon{i}Flow")
        el = fund.find(path) if fund is not None else None
        values = {}
        for name in ("sales", "reinvestment", "redemption"):
            raw_value = _attr(el, "", name) if el is not None else None
            values[name] = _num(raw_value, field=f"mon{i}Flow/@{name}", file=file)
            if raw_value is None or raw_value.upper() == "N/A":
                issues.append(f"mon{i}Flow {name} is {'N/A' if raw_value else 'missing'}")
            elif (values[name] or 0.0) < 0:
                issues.append(f"mon{i}Flow {name} is negative ({raw_value})")
        flows.append(
            MonthlyFlow(i, ends[i - 1], values["sales"], values["reinvestment"], values["redemption"])
        )
    returns = tuple(
        ClassReturn(
            class_id=_attr(r, "", "classId"),
            returns=(
                _num(_attr(r, "", "rtn1"), field="rtn1", file=file),
                _num(_attr(r, "", "rtn2"), field="rtn2", file=file),
                _num(_attr(r, "", "rtn3"), field="rtn3", file=file),
            ),
        )
        for r in (
            fund.iterfind(_p("returnInfo", "monthlyTotReturns", "monthlyTotReturn"))
            if fund is not None
            else ()
        )
    )
    holdings = tuple(
        _holding(h, file=file) for h in root.iterfind(_p("formData", "invstOrSecs", "invstOrSec"))
    )
    tot = _text(fund, _p("totAssets")) if fund is not None else None
    liabs = _text(fund, _p("totLiabs")) if fund is not None else None
    net = _text(fund, _p("netAssets")) if fund is not None else None
    return NportFiling(
        submission_type=_text(root, _p("headerData", "submissionType")),
        registrant_name=_text(gen, _p("regName")),
        registrant_cik=normalize_cik(reg_cik) if reg_cik else None,
        series_name=_na(_text(gen, _p("seriesName"))),
        series_id=series_id,
        class_ids=class_ids,
        class_tickers=tuple((c, class_tickers.get(c)) for c in class_ids),
        fiscal_year_end=_date(_text(gen, _p("repPdEnd")), field="repPdEnd", file=file),
        report_date=report_date,
        total_assets=_num(tot, field="totAssets", file=file),
        total_liabilities=_num(liabs, field="totLiabs", file=file),
        net_assets=_num(net, field="netAssets", file=file),
        flows=tuple(flows),
        returns=returns,
        holdings=holdings,
        accession=accession,
        filed_on=filed_on,
        issues=tuple(issues),
    )


def _children(el: Any) -> dict[str, Any]:
    """Direct children by local name (first wins): one pass instead of a wildcard search per field."""
    out: dict[str, Any] = {}
    for c in el:
        tag = c.tag
        if isinstance(tag, str):
            out.setdefault(tag.rpartition("}")[2], c)
    return out


def _holding(h: Any, *, file: str | None) -> NportHolding:
    kids = _children(h)
    ids = _children(kids["identifiers"]) if "identifiers" in kids else {}

    def text(name: str) -> str | None:
        el = kids.get(name)
        return (str(el.text).strip() or None) if el is not None and el.text is not None else None

    def attr(parent: dict[str, Any], name: str, key: str) -> str | None:
        el = parent.get(name)
        value = el.get(key) if el is not None else None
        return (str(value).strip() or None) if value is not None else None

    return NportHolding(
        name=text("name"),
        title=_na(text("title")),
        lei=_na(text("lei")),
        cusip=_na(text("cusip")),
        isin=_na(attr(ids, "isin", "value")),
        ticker=_na(attr(ids, "ticker", "value")),
        balance=_num(text("balance"), field="balance", file=file),
        units=text("units"),
        currency=text("curCd") or attr(kids, "currencyConditional", "curCd"),
        value_usd=_num(text("valUSD"), field="valUSD", file=file),
        pct_value=_num(text("pctVal"), field="pctVal", file=file),
        payoff_profile=_na(text("payoffProfile")),
        asset_cat=text("assetCat") or attr(kids, "assetConditional", "assetCat"),
        issuer_cat=text("issuerCat") or attr(kids, "issuerConditional", "issuerCat"),
        country=_na(text("invCountry")),
    )


# --- frames ---------------------------------------------------------------------------------------


def _fix_redemption(
    value: float | None, policy: NegativeRedemption, *, where: str, file: str | None
) -> float | None:
    if value is None or value >= 0 or policy == "keep":
        return value
    if policy == "raise":
        raise ValidationError(f"negative redemption {value} ({where})", file=file, field="redemption")
    return -value


def monthly_flows_frame(
    filing: NportFiling,
    *,
    ticker: str | None = None,
    no_series: NoSeries = "cik",
    negative_redemption: NegativeRedemption = "abs",
) -> pl.DataFrame:
    """Part B monthly flows as a validated `nport_monthly` frame (three rows, oldest month first)."""
    key = filing.series_key(no_series)
    rows = []
    for f in filing.flows:
        red = _fix_redemption(
            f.redemption, negative_redemption, where=f"mon{f.month}Flow", file=filing.accession
        )
        net = None
        if f.sales is not None and f.reinvestment is not None and red is not None:
            net = f.sales + f.reinvestment - red
        rows.append(
            {
                "series_id": key,
                "ticker": ticker if ticker is not None else filing.ticker,
                "month_end": f.month_end,
                "sales": f.sales,
                "reinvestment": f.reinvestment,
                "redemption": red,
                "net_flow": net,
                "net_assets": filing.net_assets if f.month == 3 else None,
                "accession": filing.accession,
                "filed_on": filing.filed_on,
                "series_name": filing.series_name or filing.registrant_name,
            }
        )
    frame = pl.DataFrame(rows, schema=_MONTHLY_SCHEMA)
    return validate(frame, "nport_monthly", file=filing.accession)


_MONTHLY_SCHEMA: dict[str, pl.DataType] = {
    "series_id": pl.String(),
    "ticker": pl.String(),
    "month_end": pl.Date(),
    "sales": pl.Float64(),
    "reinvestment": pl.Float64(),
    "redemption": pl.Float64(),
    "net_flow": pl.Float64(),
    "net_assets": pl.Float64(),
    "accession": pl.String(),
    "filed_on": pl.Date(),
    "series_name": pl.String(),
}


def holdings_frame(filing: NportFiling, *, no_series: NoSeries = "cik") -> pl.DataFrame:
    """Part C positions as a validated `holdings` frame (position = 1-based order in the filing)."""
    key = filing.series_key(no_series)
    hs = filing.holdings
    n = len(hs)
    frame = pl.DataFrame(
        {
            "series_id": [key] * n,
            "report_date": [filing.report_date] * n,
            "position": list(range(1, n + 1)),
            "name": [h.name for h in hs],
            "title": [h.title for h in hs],
            "cusip": [h.cusip for h in hs],
            "isin": [h.isin for h in hs],
            "lei": [h.lei for h in hs],
            "balance": [h.balance for h in hs],
            "units": [h.units for h in hs],
            "currency": [h.currency for h in hs],
            "value_usd": [h.value_usd for h in hs],
            "pct_net_assets": [h.pct_value for h in hs],
            "asset_cat": [h.asset_cat for h in hs],
            "issuer_cat": [h.issuer_cat for h in hs],
            "country": [h.country for h in hs],
            "accession": [filing.accession] * n,
        },
        schema={
            "series_id": pl.String(),
            "report_date": pl.Date(),
            "position": pl.Int64(),
            **{c: pl.String() for c in ("name", "title", "cusip", "isin", "lei")},
            "balance": pl.Float64(),
            "units": pl.String(),
            "currency": pl.String(),
            "value_usd": pl.Float64(),
            "pct_net_assets": pl.Float64(),
            **{c: pl.String() for c in ("asset_cat", "issuer_cat", "country", "accession")},
        },
    )
    return validate(frame, "holdings", file=filing.accession)


# --- quarterly data sets ------------------------------------------------------------------------


def _member(zf: zipfile.ZipFile, name: str, *, file: str) -> zipfile.ZipInfo:
    for info in zf.infolist():
        if info.filename.replace("\\", "/").rsplit("/", 1)[-1].upper() == name.upper():
            return info
    raise ParseError(f"not an N-PORT data set: no {name} in the zip", file=file)


def _tsv(
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    columns: tuple[str, ...],
    *,
    file: str,
    optional: tuple[str, ...] = (),
) -> Iterator[tuple[int, dict[str, str]]]:
    """Stream a zip member row by row (decompressed incrementally), yielding the named columns.

    `optional` columns read as "" when the member has no such column.
    """
    where = f"{file}:{info.filename}"
    with zf.open(info) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text, delimiter="\t", quoting=csv.QUOTE_NONE)
        n = 1
        try:
            header = next(reader, None)
            if header is None:
                return
            header = [h.strip().upper() for h in header]
            missing = [c for c in columns if c not in header]
            if missing:
                raise ParseError(f"missing column(s) {missing}", file=where, row=1)
            wanted = columns + tuple(c for c in optional if c in header)
            pos = [header.index(c) for c in wanted]
            absent = {c: "" for c in optional if c not in header}
            width = len(header)
            for n, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != width:
                    raise ParseError(f"{len(row)} fields, the header has {width}", file=where, row=n)
                out = {c: row[i].strip() for c, i in zip(wanted, pos, strict=True)}
                out.update(absent)
                yield n, out
        except csv.Error as exc:  # e.g. a field longer than csv.field_size_limit()
            raise ParseError(f"unreadable TSV row: {exc}", file=where, row=n + 1) from None


def _check_names(zf: zipfile.ZipFile, *, file: str) -> None:
    """Refuse a zip whose entry names climb out of its folder (``../x``, ``/etc/x``, ``C:\\x``)."""
    for name in zf.namelist():
        norm = name.replace("\\", "/")
        parts = norm.split("/")
        if norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or ".." in parts:
            raise ParseError(f"zip entry with an unsafe path refused: {name!r}", file=file)


#: fund-month rows collected before they are folded into the deduplicated result (bounds memory)
_CHUNK_ROWS = 30_000


_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}


def _dataset_date(value: str, *, file: str, row: int, field: str) -> dt.date | None:
    if not value:
        return None
    m = re.fullmatch(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})", value)
    try:
        if m:
            return dt.date(int(m.group(3)), _MONTHS[m.group(2).upper()], int(m.group(1)))
        return dt.date.fromisoformat(value[:10])
    except (KeyError, ValueError):
        raise ParseError(f"not a date: {value!r}", file=file, row=row, field=field) from None


def _dataset_num(value: str, *, file: str, row: int, field: str) -> float | None:
    if not value or value.upper() == "N/A":
        return None
    try:
        number = float(value)
    except ValueError:
        raise ParseError(f"not a number: {value!r}", file=file, row=row, field=field) from None
    return check_number(number, field=field, file=file, row=row)


def read_nport_dataset(
    zip_path: Path | str,
    *,
    no_series: NoSeries = "cik",
    negative_redemption: NegativeRedemption = "abs",
) -> pl.DataFrame:
    """Monthly flows from one of SEC's quarterly "Form N-PORT data sets" zips, as `nport_monthly`."""
    # SUBMISSION, REGISTRANT and FUND_REPORTED_INFO are streamed row by row straight out of the zip:
    # memory grows with the number of filings, never with holdings (FUND_REPORTED_HOLDING is not read).
    # A month reported by several filings (amendments) keeps the latest filed, then highest accession;
    # the rows dropped that way and the negative redemptions met are counted and logged.
    path = Path(zip_path)
    file = str(path)
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError as exc:
        raise NotFoundError(f"no such N-PORT data set: {path}") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise ParseError(f"not a zip file: {exc}", file=file) from exc
    with zf:
        _check_names(zf, file=file)
        subs: dict[str, tuple[dt.date | None, dt.date | None]] = {}
        info = _member(zf, "SUBMISSION.tsv", file=file)
        for n, r in _tsv(zf, info, ("ACCESSION_NUMBER", "FILING_DATE", "REPORT_DATE"), file=file):
            where = f"{file}:{info.filename}"
            subs[r["ACCESSION_NUMBER"]] = (
                _dataset_date(r["REPORT_DATE"], file=where, row=n, field="REPORT_DATE"),
                _dataset_date(r["FILING_DATE"], file=where, row=n, field="FILING_DATE"),
            )
        ciks: dict[str, str] = {}
        registrants: dict[str, str] = {}  # the fund name of filers without series
        if no_series == "cik":
            reg = _member(zf, "REGISTRANT.tsv", file=file)
            for _, r in _tsv(zf, reg, ("ACCESSION_NUMBER", "CIK"), file=file, optional=("REGISTRANT_NAME",)):
                if r["CIK"].isdigit():
                    ciks[r["ACCESSION_NUMBER"]] = normalize_cik(r["CIK"])
                if r["REGISTRANT_NAME"]:
                    registrants[r["ACCESSION_NUMBER"]] = r["REGISTRANT_NAME"]
        cols: dict[str, list[Any]] = {k: [] for k in _MONTHLY_SCHEMA}
        kept = _empty_monthly()
        total = 0
        flow_cols = tuple(
            f"{k}_FLOW_MON{i}" for i in (1, 2, 3) for k in ("SALES", "REINVESTMENT", "REDEMPTION")
        )
        info = _member(zf, "FUND_REPORTED_INFO.tsv", file=file)
        where = f"{file}:{info.filename}"
        fixed = 0
        wanted = ("ACCESSION_NUMBER", "SERIES_ID", "NET_ASSETS", *flow_cols)
        for n, r in _tsv(zf, info, wanted, file=file, optional=("SERIES_NAME",)):
            acc = r["ACCESSION_NUMBER"]
            report_date, filed_on = subs.get(acc, (None, None))
            if report_date is None:
                raise ParseError(f"accession {acc} has no REPORT_DATE in SUBMISSION.tsv", file=where, row=n)
            key = r["SERIES_ID"] or (f"CIK{ciks[acc]}" if acc in ciks else "")
            if not key:
                raise ValidationError(
                    f"accession {acc} has no SERIES_ID (S-6 and N-2 filers have none); "
                    "use no_series='cik' to key it by the registrant CIK",
                    file=where,
                    row=n,
                    field="SERIES_ID",
                )
            net_assets = _dataset_num(r["NET_ASSETS"], file=where, row=n, field="NET_ASSETS")
            for i, end in enumerate(month_ends(report_date), start=1):
                s, rv, rd = (
                    _dataset_num(r[f"{k}_FLOW_MON{i}"], file=where, row=n, field=f"{k}_FLOW_MON{i}")
                    for k in ("SALES", "REINVESTMENT", "REDEMPTION")
                )
                if rd is not None and rd < 0:
                    fixed += 1
                    rd = _fix_redemption(rd, negative_redemption, where=f"{acc} month {i}", file=where)
                cols["series_id"].append(key)
                cols["ticker"].append(None)
                cols["month_end"].append(end)
                cols["sales"].append(s)
                cols["reinvestment"].append(rv)
                cols["redemption"].append(rd)
                cols["net_flow"].append(None if s is None or rv is None or rd is None else s + rv - rd)
                cols["net_assets"].append(net_assets if i == 3 else None)
                cols["accession"].append(acc)
                cols["filed_on"].append(filed_on)
                cols["series_name"].append(
                    r["SERIES_NAME"] or (registrants.get(acc) if not r["SERIES_ID"] else None)
                )
            if len(cols["series_id"]) >= _CHUNK_ROWS:
                total += len(cols["series_id"])
                kept = _latest(pl.concat([kept, pl.DataFrame(cols, schema=_MONTHLY_SCHEMA)]))
                cols = {k: [] for k in _MONTHLY_SCHEMA}
    total += len(cols["series_id"])
    frame = _latest(pl.concat([kept, pl.DataFrame(cols, schema=_MONTHLY_SCHEMA)]))
    dropped = total - frame.height
    if dropped or fixed:
        _log.warning(
            "%s: %d month rows superseded by later filings dropped, %d negative redemptions found",
            file,
            dropped,
            fixed,
        )
    return validate(frame, "nport_monthly", file=file)


def _empty_monthly() -> pl.DataFrame:
    return pl.DataFrame(schema=_MONTHLY_SCHEMA)


def _latest(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per (series, month): the latest filed, then the highest accession."""
    return frame.sort(["series_id", "month_end", "filed_on", "accession"], nulls_last=False).unique(
        ["series_id", "month_end"], keep="last", maintain_order=True
    )


# --- content sniffers ---------------------------------------------------------------------------


def is_nport_xml(head: bytes) -> bool:
    """True if `head` starts an N-PORT XML document or an EDGAR full submission of type NPORT-*."""
    if is_full_submission(head):
        return _NPORT_TYPE.search(head) is not None
    return b"edgarSubmission" in head and _NPORT_NS.search(head) is not None


def _first_zip_member(head: bytes) -> str | None:
    """Name of the first member from a zip's first local file header (in the first bytes of the file)."""
    if len(head) < 30 or not head.startswith(b"PK\x03\x04"):
        return None
    size = int.from_bytes(head[26:28], "little")
    name = head[30 : 30 + size]
    return name.decode("utf-8", errors="replace") if len(name) == size else None


def is_nport_dataset_zip(head: bytes, path: Path | str | None = None) -> bool:
    """True if the zip is an N-PORT data set (members SUBMISSION.tsv and FUND_REPORTED_INFO.tsv)."""
    if not head.startswith(b"PK\x03\x04"):
        return False
    if path is None:  # head only: judge by the first member's name
        first = _first_zip_member(head)
        if first is None:
            return False
        base = first.replace("\\", "/").rsplit("/", 1)[-1].upper()
        return base in _DATASET_TABLES or (
            base.startswith("NPORT") and base.endswith((".HTM", ".HTML", ".JSON"))
        )
    try:
        with zipfile.ZipFile(path) as zf:
            names = {n.replace("\\", "/").rsplit("/", 1)[-1].upper() for n in zf.namelist()}
    except (zipfile.BadZipFile, OSError):
        return False
    return all(m in names for m in _DATASET_MEMBERS)
