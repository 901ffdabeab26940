"""Form N-CEN: ETF series, creation units, cash/in-kind mix and authorised participants (Item E.2).

Input is an EDGAR full submission (.txt, whose SGML header adds the accession, filing date and the
class tickers) or the bare N-CEN XML. Field meanings follow SEC's N-CEN rendering (XSL): for units
purchased, ``averagePercentagePurchased`` is the average percentage of value paid in cash and
``creationUnitPurchasedInKind`` the average percentage paid in kind; for units redeemed,
``averagePercentageRedeemed`` and ``creationUnitPercentageRedeemedInKind``. Percentages are as filed
(filers do report values slightly above 100). ``authorizedParticipantPurchaseValue`` and
``...RedeemValue`` are the USD value of creation units each AP bought and redeemed in the reporting
period (the fiscal year ending on ``generalInfo/@reportEndingPeriod``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl
from lxml import etree

from etfflow.checks import CLASS_RE, CONTROL_CHARS, NAME_MAX, SERIES_RE, TICKER_RE, check_number
from etfflow.errors import ParseError, ValidationError, quote
from etfflow.schema import validate
from etfflow.sources.sec_ids import (
    SubmissionHeader,
    is_full_submission,
    normalize_cik,
    split_submission,
    xml_root,
)
from etfflow.sources.sec_ids import xml_path as _p
from etfflow.sources.sec_ids import xml_text as _text

__all__ = [
    "AuthorizedParticipant",
    "MissingTicker",
    "NcenEtf",
    "NcenFiling",
    "NcenSeries",
    "authorized_participants_frame",
    "funds_frame",
    "is_ncen_submission",
    "ncen_etf_frame",
    "parse_ncen",
]

MissingTicker = Literal["raise", "drop"]
NoSeries = Literal["cik", "raise"]

_NCEN_NS = re.compile(rb'xmlns(?::\w+)?\s*=\s*"http://www\.sec\.gov/edgar/ncen"')
_NCEN_TYPE = re.compile(rb"CONFORMED SUBMISSION TYPE:\s*N-CEN\b", re.I)


@dataclass(frozen=True)
class AuthorizedParticipant:
    """One authorised participant of one ETF and the USD value it created and redeemed."""

    name: str
    lei: str | None
    file_no: str | None
    crd_no: str | None
    purchased_usd: float | None
    redeemed_usd: float | None


@dataclass(frozen=True)
class NcenEtf:
    """Item E for one ETF series."""

    series_id: str | None
    name: str | None
    tickers: tuple[str, ...]
    exchanges: tuple[str, ...]
    class_id: str | None
    creation_unit_shares: int | None
    cash_pct_purchased: float | None
    in_kind_pct_purchased: float | None
    cash_pct_redeemed: float | None
    in_kind_pct_redeemed: float | None
    is_in_kind_etf: bool | None
    authorized_participants: tuple[AuthorizedParticipant, ...]

    @property
    def ticker(self) -> str | None:
        """The first listed ticker, or None."""
        return self.tickers[0] if self.tickers else None


@dataclass(frozen=True)
class NcenSeries:
    """Item C for one series (every fund of the registrant, ETF or not)."""

    series_id: str | None
    name: str | None
    lei: str | None


@dataclass(frozen=True)
class NcenFiling:
    """One N-CEN annual report of one registrant."""

    accession: str | None
    filed_on: dt.date | None
    report_date: dt.date
    registrant_name: str | None
    registrant_cik: str | None
    registrant_lei: str | None
    investment_company_type: str | None
    series: tuple[NcenSeries, ...]
    etfs: tuple[NcenEtf, ...]
    issues: tuple[str, ...]


def _na(value: str | None) -> str | None:
    return None if value is None or value.strip().upper() in ("", "N/A") else value.strip()


def _num(value: str | None, *, field: str, file: str | None) -> float | None:
    if value is None or _na(value) is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ParseError(f"not a number: {quote(value)}", file=file, field=field) from None
    return check_number(number, field=field, file=file)


def _yes_no(value: str | None) -> bool | None:
    v = (value or "").strip().upper()
    return True if v == "Y" else False if v == "N" else None


def parse_ncen(
    data: bytes | str,
    *,
    accession: str | None = None,
    filed_on: dt.date | None = None,
    file: str | None = None,
) -> NcenFiling:
    """Parse an N-CEN full submission (.txt) or bare N-CEN XML."""
    whole = data.encode("utf-8") if isinstance(data, str) else data
    header, raw = split_submission(whole, types=("N-CEN",), file=file)
    body = raw.lstrip(b"\xef\xbb\xbf \t\r\n")
    line0 = whole.count(b"\n", 0, max(whole.find(body[:256]), 0))  # file lines before the XML
    if header is not None:
        accession = accession or header.accession
        filed_on = filed_on or header.filed_on
    root = xml_root(raw, file=file)
    form = root.find(_p("formData"))
    if etree.QName(root).localname != "edgarSubmission" or form is None:
        raise ParseError("not an N-CEN document: no edgarSubmission/formData", file=file)
    general = form.find(_p("generalInfo"))
    period = general.get("reportEndingPeriod") if general is not None else None
    try:
        report_date = dt.date.fromisoformat(str(period).strip()[:10]) if period else None
    except ValueError:
        raise ParseError(f"not a date: {period!r}", file=file, field="reportEndingPeriod") from None
    if report_date is None:
        report_date = header.period if header is not None else None
    if report_date is None:
        raise ParseError("missing report period", file=file, field="reportEndingPeriod")
    reg = form.find(_p("registrantInfo"))
    cik = _text(reg, _p("registrantCik")) if reg is not None else None
    cik = cik or _text(root, _p("headerData", "filerInfo", "filer", "issuerCredentials", "cik"))
    classes_by_series: dict[str, list[str]] = {}
    for info in root.iterfind(_p("headerData", "seriesClass", "reportSeriesClass", "rptSeriesClassInfo")):
        sid = _text(info, _p("seriesId"))
        if sid:
            classes_by_series[sid] = [
                str(c.text).strip() for c in info.iterfind(_p("classInfo", "classId")) if c.text
            ]
    series = tuple(
        NcenSeries(
            series_id=_na(_text(q, _p("mgmtInvSeriesId"))),
            name=_text(q, _p("mgmtInvFundName")),
            lei=_na(_text(q, _p("mgmtInvLei"))),
        )
        for q in form.iterfind(_p("managementInvestmentQuestionSeriesInfo", "managementInvestmentQuestion"))
    )
    issues: list[str] = []
    etfs = tuple(
        _etf(e, header, classes_by_series, issues, file=file, line0=line0)
        for e in form.iterfind(_p("exchangeSeriesInfo", "exchangeTradedFund"))
    )
    return NcenFiling(
        accession=accession,
        filed_on=filed_on,
        report_date=report_date,
        registrant_name=(_text(reg, _p("registrantFullName")) if reg is not None else None)
        or (header.company if header is not None else None),
        registrant_cik=normalize_cik(cik) if cik else (header.cik if header is not None else None),
        registrant_lei=_na(_text(reg, _p("registrantLei"))) if reg is not None else None,
        investment_company_type=_text(root, _p("headerData", "filerInfo", "investmentCompanyType")),
        series=series,
        etfs=etfs,
        issues=tuple(issues),
    )


def _etf(
    e: Any,
    header: SubmissionHeader | None,
    classes_by_series: dict[str, list[str]],
    issues: list[str],
    *,
    file: str | None,
    line0: int = 0,
) -> NcenEtf:
    sid = _na(_text(e, _p("etfSeriesId")))
    name = _text(e, _p("fundName"))
    tickers: list[str] = []
    exchanges: list[str] = []
    for x in e.iterfind(_p("securityExchanges", "securityExchange")):
        t = _na(x.get("fundsTickerSymbol"))
        if t and t.upper() not in tickers:
            tickers.append(t.upper())
        ex = _na(x.get("fundExchange"))
        if ex:
            exchanges.append(ex)
    info = header.series_by_id(sid) if header is not None and sid else None
    if not tickers and info is not None:
        header_tickers = sorted({c.ticker for c in info.classes if c.ticker})
        if len(header_tickers) == 1:
            tickers = header_tickers
            issues.append(f"{sid}: ticker {tickers[0]} taken from the submission header")
    class_id = None
    if info is not None and tickers:
        class_id = next((c.class_id for c in info.classes if c.ticker == tickers[0]), None)
    if class_id is None and sid and len(classes_by_series.get(sid, [])) == 1:
        class_id = classes_by_series[sid][0]
    cu = _num(_text(e, _p("creationUnitNumOfShares")), field="creationUnitNumOfShares", file=file)
    cu_shares: int | None = None
    if cu is not None and not 0 < cu <= 1e9:
        raise ValidationError(
            f"implausible creation unit of {cu:g} shares (the ETF entry starting on this row)",
            file=file,
            row=line0 + e.sourceline,
            field="creationUnitNumOfShares",
        )
    if cu is not None:
        if abs(cu - round(cu)) < 1e-6:
            cu_shares = round(cu)
        else:
            issues.append(f"{sid}: creation unit of {cu} shares is not whole; left null")

    def num(tag: str) -> float | None:
        return _num(_text(e, _p(tag)), field=tag, file=file)

    aps = []
    for a in e.iterfind(_p("authorizedParticipants", "authorizedParticipant")):
        ap_name = _na(a.get("authorizedParticipantName"))
        if ap_name is None:
            issues.append(f"{sid}: authorised participant without a name skipped")
            continue
        aps.append(
            AuthorizedParticipant(
                name=ap_name,
                lei=_na(a.get("authorizedParticipantLei")),
                file_no=_na(a.get("authorizedParticipantFileNo")),
                crd_no=_na(a.get("authorizedParticipantCrdNo")),
                purchased_usd=_num(
                    a.get("authorizedParticipantPurchaseValue"),
                    field="authorizedParticipantPurchaseValue",
                    file=file,
                ),
                redeemed_usd=_num(
                    a.get("authorizedParticipantRedeemValue"),
                    field="authorizedParticipantRedeemValue",
                    file=file,
                ),
            )
        )
    _check_identity(e, sid, tickers, class_id, name, aps, file=file, row=line0 + e.sourceline)
    return NcenEtf(
        series_id=sid,
        name=name,
        tickers=tuple(tickers),
        exchanges=tuple(exchanges),
        class_id=class_id,
        creation_unit_shares=cu_shares,
        cash_pct_purchased=num("averagePercentagePurchased"),
        in_kind_pct_purchased=num("creationUnitPurchasedInKind"),
        cash_pct_redeemed=num("averagePercentageRedeemed"),
        in_kind_pct_redeemed=num("creationUnitPercentageRedeemedInKind"),
        is_in_kind_etf=_yes_no(_text(e, _p("isInKindETF"))),
        authorized_participants=tuple(aps),
    )


def _check_identity(
    e: Any,
    sid: str | None,
    tickers: list[str],
    class_id: str | None,
    name: str | None,
    aps: list[AuthorizedParticipant],
    *,
    file: str | None,
    row: int,
) -> None:
    """Refuse an ETF entry whose ticker, series id, class id or names break `etfflow.checks`' rules.

    `row` is the file line where the entry starts (errors name it and the XML field)."""
    where = " (the ETF entry starting on this row)"
    for t in tickers:
        if not TICKER_RE.fullmatch(t):
            raise ValidationError(
                f"not a ticker: {quote(t)}{where}", file=file, row=row, field="fundsTickerSymbol"
            )
    for value, pattern, tag in ((sid, SERIES_RE, "etfSeriesId"), (class_id, CLASS_RE, "classId")):
        if value is not None and not pattern.fullmatch(value):
            raise ValidationError(f"malformed id {quote(value)}{where}", file=file, row=row, field=tag)
    texts = [("fundName", name)] + [("authorizedParticipantName", a.name) for a in aps]
    for tag, text in texts:
        if text is not None and (len(text) > NAME_MAX or CONTROL_CHARS.search(text)):
            raise ValidationError(
                f"not a name: {quote(text)}{where} (control characters, or longer than {NAME_MAX})",
                file=file,
                row=row,
                field=tag,
            )


def _series_key(filing: NcenFiling, etf: NcenEtf, no_series: NoSeries) -> str:
    if etf.series_id:
        return etf.series_id
    if no_series == "cik" and filing.registrant_cik:
        return f"CIK{filing.registrant_cik}"
    raise ValidationError(
        f"ETF {etf.name!r} in {filing.accession or 'the filing'} has no series id; "
        "use no_series='cik' to key it by the registrant CIK",
        field="etfSeriesId",
    )


def funds_frame(filing: NcenFiling, *, missing_ticker: MissingTicker = "raise") -> pl.DataFrame:
    """The filing's ETFs as a validated `funds` frame (ticker, name, creation unit, SEC ids)."""
    rows = []
    for etf in filing.etfs:
        if etf.ticker is None:
            if missing_ticker == "raise":
                raise ValidationError(
                    f"ETF {etf.name!r} ({etf.series_id}) has no ticker; "
                    "pass missing_ticker='drop' to leave it out",
                    file=filing.accession,
                    field="ticker",
                )
            continue
        rows.append(
            {
                "ticker": etf.ticker,
                "name": etf.name,
                "creation_unit_shares": etf.creation_unit_shares,
                "cik": filing.registrant_cik,
                "series_id": etf.series_id,
                "class_id": etf.class_id,
            }
        )
    schema = {
        "ticker": pl.String(),
        "name": pl.String(),
        "creation_unit_shares": pl.Int64(),
        "cik": pl.String(),
        "series_id": pl.String(),
        "class_id": pl.String(),
    }
    return validate(pl.DataFrame(rows, schema=schema), "funds", file=filing.accession)


def authorized_participants_frame(filing: NcenFiling, *, no_series: NoSeries = "cik") -> pl.DataFrame:
    """Every ETF's authorised participants as a validated `authorized_participants` frame."""
    rows = [
        {
            "series_id": _series_key(filing, etf, no_series),
            "report_date": filing.report_date,
            "ap_name": ap.name,
            "ap_lei": ap.lei,
            "purchased_usd": ap.purchased_usd,
            "redeemed_usd": ap.redeemed_usd,
            "accession": filing.accession,
            "filed_on": filing.filed_on,
        }
        for etf in filing.etfs
        for ap in etf.authorized_participants
    ]
    schema = {
        "series_id": pl.String(),
        "report_date": pl.Date(),
        "ap_name": pl.String(),
        "ap_lei": pl.String(),
        "purchased_usd": pl.Float64(),
        "redeemed_usd": pl.Float64(),
        "accession": pl.String(),
        "filed_on": pl.Date(),
    }
    return validate(pl.DataFrame(rows, schema=schema), "authorized_participants", file=filing.accession)


def ncen_etf_frame(filing: NcenFiling, *, no_series: NoSeries = "cik") -> pl.DataFrame:
    """Every ETF's creation unit and cash / in-kind mix as a validated `ncen_etf` frame."""
    rows = [
        {
            "series_id": _series_key(filing, etf, no_series),
            "report_date": filing.report_date,
            "ticker": etf.ticker,
            "creation_unit_shares": etf.creation_unit_shares,
            "cash_pct_purchased": etf.cash_pct_purchased,
            "in_kind_pct_purchased": etf.in_kind_pct_purchased,
            "cash_pct_redeemed": etf.cash_pct_redeemed,
            "in_kind_pct_redeemed": etf.in_kind_pct_redeemed,
            "is_in_kind_etf": etf.is_in_kind_etf,
            "accession": filing.accession,
            "filed_on": filing.filed_on,
        }
        for etf in filing.etfs
    ]
    schema = {
        "series_id": pl.String(),
        "report_date": pl.Date(),
        "ticker": pl.String(),
        "creation_unit_shares": pl.Int64(),
        "cash_pct_purchased": pl.Float64(),
        "in_kind_pct_purchased": pl.Float64(),
        "cash_pct_redeemed": pl.Float64(),
        "in_kind_pct_redeemed": pl.Float64(),
        "is_in_kind_etf": pl.Boolean(),
        "accession": pl.String(),
        "filed_on": pl.Date(),
    }
    return validate(pl.DataFrame(rows, schema=schema), "ncen_etf", file=filing.accession)


def is_ncen_submission(head: bytes) -> bool:
    """True if `head` starts an EDGAR full submission of type N-CEN (or a bare N-CEN XML document)."""
    if is_full_submission(head):
        return _NCEN_TYPE.search(head) is not None
    return b"edgarSubmission" in head and _NCEN_NS.search(head) is not None
