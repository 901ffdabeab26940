"""`etfflow update`: fetch what is new per fund and source, write each fund in its own transaction.

Sources:
- ``sec``: ticker -> CIK / series / class from SEC's ticker files (`company_tickers_mf.json`, and
  `company_tickers.json` for series-less unit trusts such as SPY), the registrant's filing list
  (``data.sec.gov/submissions/CIK##########.json``: filings.recent plus older pages), then each new
  NPORT-P document (-> `nport_monthly`, `holdings`) and the latest N-CEN (-> creation units in `funds`,
  `authorized_participants`). A trust's filing list does not say which series a filing is for, so
  for a trust with several series each candidate filing's SGML header (``<accession>.hdr.sgml``, a
  few KB) is read first; archive documents never change, so they are kept in the HTTP cache.
- ``issuer``: the fund's issuer file (see `sources.issuer_download`).
- ``yfinance``: prices, actions and share counts (optional extra).

Incremental: SEC filings filed on or after the last stored filing date of the series (the same day
again, since EDGAR accepts filings all day; upserts make the repeat a no-op), else reported on or
after `since` (default: the last `SEC_LOOKBACK_DAYS`); yfinance from the day after its last stored
row; issuer files are whole histories, upserted (unchanged rows stay untouched). Resumable: every
(source, fund) is written in one transaction after everything it needs was fetched, so a failure
leaves the funds done before it committed and the failed one untouched; the next run retries it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from etfflow.checks import TICKER_RE
from etfflow.errors import ConfigError, DataQualityError, NotFoundError, ParseError, TransportError, quote
from etfflow.flows.flags import Flag
from etfflow.pipeline import Written, synthetic_label, write_batch
from etfflow.schema import empty
from etfflow.sources.base import ImportBatch
from etfflow.sources.http import SEC_USER_AGENT_ENV, HttpClient
from etfflow.sources.sec_ids import FundIdMap, FundIds, parse_company_tickers, parse_company_tickers_mf
from etfflow.store import Store

__all__ = [
    "COMPANY_TICKERS_MF_URL",
    "COMPANY_TICKERS_URL",
    "DEFAULT_SOURCES",
    "SEC_LOOKBACK_DAYS",
    "SOURCES",
    "SUBMISSIONS_URL",
    "Filing",
    "SourceStats",
    "UpdateFailure",
    "UpdateSummary",
    "fetch_fund_ids",
    "list_filings",
    "update",
]

SOURCES = ("sec", "issuer", "yfinance")
DEFAULT_SOURCES = ("sec", "issuer", "yfinance")
COMPANY_TICKERS_MF_URL = "https://www.sec.gov/files/company_tickers_mf.json"
COMPANY_TICKERS_URL = "https://www.sec.gov/files/company_tickers.json"
SUBMISSIONS_URL = "https://data.sec.gov/submissions/{name}"
ARCHIVE_URL = "https://www.sec.gov/Archives/edgar/data/{cik}/{folder}/{doc}"
#: without `since` and with nothing stored, N-PORT reports of the last 15 months (five quarters)
SEC_LOOKBACK_DAYS = 460
NPORT_FORMS = ("NPORT-P", "NPORT-P/A")
NCEN_FORMS = ("N-CEN", "N-CEN/A")
#: flags that say nothing about quality (counted as "flagged" are the others)
_NOT_QUALITY = int(Flag.FIRST | Flag.LAG_UNKNOWN)
_RECOVERABLE = (TransportError, NotFoundError, ParseError, DataQualityError)

#: progress callback: (source, message, fraction done of that source)
SourceProgress = Callable[[str, str, float], None]


def _quiet(_source: str, _message: str, _frac: float) -> None:
    return None


@dataclass
class SourceStats:
    """Rows one source wrote (over every table), funds done and skipped, flagged flow rows, notes."""

    source: str
    funds_done: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    flagged: int = 0
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, written: Written) -> None:
        """Count one fund's write."""
        self.funds_done += 1
        self.added += written.added
        self.changed += written.changed
        self.unchanged += written.unchanged
        for name, r in written.results.items():
            t = self.tables.setdefault(name, {"added": 0, "changed": 0, "unchanged": 0})
            t["added"] += r.added
            t["changed"] += r.changed
            t["unchanged"] += r.unchanged


@dataclass(frozen=True)
class UpdateFailure:
    """A (source, fund) that failed; it was not written and is retried by the next run."""

    source: str
    ticker: str | None
    error: str
    kind: str


@dataclass
class UpdateSummary:
    """What one `update` run did, per source, and what failed."""

    tickers: list[str]
    sources: dict[str, SourceStats]
    failures: list[UpdateFailure] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "tickers": self.tickers,
            "ok": self.ok,
            "sources": {k: asdict(v) for k, v in self.sources.items()},
            "failures": [asdict(f) for f in self.failures],
            "refreshed": self.refreshed,
        }


@dataclass(frozen=True)
class Filing:
    """One entry of a registrant's EDGAR filing list."""

    accession: str
    form: str
    filed_on: dt.date
    report_date: dt.date | None
    primary_document: str


# --- SEC ------------------------------------------------------------------------------------------


def fetch_fund_ids(client: HttpClient) -> FundIdMap:
    """SEC's ticker maps (mutual-fund/ETF series file first, CIK-only file for series-less trusts)."""
    mf = parse_company_tickers_mf(
        client.get_bytes(COMPANY_TICKERS_MF_URL, use_cache=False), file="company_tickers_mf.json"
    )
    plain = parse_company_tickers(
        client.get_bytes(COMPANY_TICKERS_URL, use_cache=False), file="company_tickers.json"
    )
    return FundIdMap([*plain, *mf])


def _date(value: object) -> dt.date | None:
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _filings_from(block: dict[str, Any], *, file: str) -> list[Filing]:
    try:
        forms = block["form"]
        rows = zip(
            block["accessionNumber"],
            forms,
            block["filingDate"],
            block.get("reportDate", [""] * len(forms)),
            block["primaryDocument"],
            strict=True,
        )
        out = []
        for acc, form, filed, report, doc in rows:
            filed_on = _date(filed)
            if filed_on is None:
                raise ValueError(f"bad filingDate {filed!r}")
            out.append(Filing(str(acc), str(form), filed_on, _date(report), str(doc)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseError(f"not an EDGAR submissions document: {exc}", file=file) from exc
    return out


class _Submissions:
    """One registrant's EDGAR filing list: filings.recent, plus older pages loaded only when needed."""

    def __init__(self, client: HttpClient, cik: str) -> None:
        self.client = client
        url = SUBMISSIONS_URL.format(name=f"CIK{cik}.json")
        try:
            doc = json.loads(client.get_bytes(url, use_cache=False))
            recent = doc["filings"]["recent"]
            self._pages: list[dict[str, Any]] = list(doc["filings"].get("files", []))
        except (ValueError, KeyError, TypeError) as exc:
            raise ParseError(f"not an EDGAR submissions document: {exc}", file=url) from exc
        self._filings = _filings_from(recent, file=url)
        self._loaded: set[str] = set()

    def filings(self, forms: Sequence[str], filed_from: dt.date | None) -> list[Filing]:
        """Filings of `forms` filed on or after `filed_from` (None: all), oldest first."""
        for page in self._pages:
            to = _date(page.get("filingTo"))
            name = str(page.get("name", ""))
            if name in self._loaded or (filed_from is not None and to is not None and to < filed_from):
                continue
            purl = SUBMISSIONS_URL.format(name=name)
            try:
                block = json.loads(self.client.get_bytes(purl, use_cache=False))
            except ValueError as exc:
                raise ParseError(f"not an EDGAR submissions page: {exc}", file=purl) from exc
            self._filings += _filings_from(block, file=purl)
            self._loaded.add(name)
        wanted = {f.upper() for f in forms}
        keep = {
            f.accession: f
            for f in self._filings
            if f.form.upper() in wanted and (filed_from is None or f.filed_on >= filed_from)
        }
        return sorted(keep.values(), key=lambda f: (f.filed_on, f.accession))


def list_filings(
    client: HttpClient, cik: str, *, forms: Sequence[str], filed_from: dt.date | None = None
) -> list[Filing]:
    """A registrant's filings of `forms` filed on or after `filed_from`, oldest first."""
    return _Submissions(client, cik).filings(forms, filed_from)


def _doc_url(cik: str, filing: Filing, doc: str | None = None) -> str:
    # the filing list names the XSL rendering ("xslFormNPORT-P_X01/primary_doc.xml"); the XML is beside it
    name = doc or filing.primary_document
    if "/" in name and name.split("/", 1)[0].lower().startswith("xsl"):
        name = name.split("/", 1)[1]
    return ARCHIVE_URL.format(cik=int(cik), folder=filing.accession.replace("-", ""), doc=name)


class _Sec:
    """SEC fetching for one run: memoised filing lists, headers and N-CEN documents."""

    def __init__(self, client: HttpClient, ids: FundIdMap, *, holdings: bool) -> None:
        self.client = client
        self.ids = ids
        self.holdings = holdings
        self._subs: dict[str, _Submissions] = {}
        self._headers: dict[str, set[str]] = {}
        frame = ids.frame()
        self._series_per_cik = {
            r["cik"]: r["n"]
            for r in frame.filter(pl.col("series_id").is_not_null())
            .group_by("cik")
            .agg(pl.col("series_id").n_unique().alias("n"))
            .iter_rows(named=True)
        }

    def filings(self, cik: str, filed_from: dt.date | None) -> list[Filing]:
        if cik not in self._subs:
            self._subs[cik] = _Submissions(self.client, cik)
        return self._subs[cik].filings((*NPORT_FORMS, *NCEN_FORMS), filed_from)

    def header_series(self, cik: str, filing: Filing) -> set[str]:
        from etfflow.sources.sec_ids import parse_submission_header

        if filing.accession not in self._headers:
            url = _doc_url(cik, filing, f"{filing.accession}.hdr.sgml")
            header = parse_submission_header(self.client.get_bytes(url))
            self._headers[filing.accession] = {s.series_id for s in header.series}
        return self._headers[filing.accession]

    def fetch(
        self, store: Store, ticker: str, ids: FundIds, *, since: dt.date | None, today: dt.date
    ) -> tuple[ImportBatch, int]:
        """Everything new for one fund as one batch, and the number of filing issues met."""
        from etfflow.sources.sec_ncen import authorized_participants_frame, funds_frame, parse_ncen
        from etfflow.sources.sec_nport import holdings_frame, monthly_flows_frame, parse_nport

        key = ids.series_id or f"CIK{ids.cik}"
        stored = store.query(
            "SELECT max(filed_on) AS f, max(month_end) AS m FROM nport_monthly WHERE series_id = ?", [key]
        ).row(0)
        last_filed, last_month = stored
        report_from = since or (today - dt.timedelta(days=SEC_LOOKBACK_DAYS))
        if last_filed is not None:  # the same day again: EDGAR accepts filings all day
            filed_from, after_month = last_filed, None
        elif last_month is not None:  # stored from files without a filing date
            filed_from, after_month = last_month, last_month
        else:
            filed_from, after_month = report_from, report_from - dt.timedelta(days=1)
        everything = self.filings(ids.cik, filed_from)

        def wanted(f: Filing) -> bool:
            if f.form.upper() not in NPORT_FORMS:
                return False
            if f.report_date is None:
                return True
            return (after_month is None or f.report_date > after_month) and (
                since is None or f.report_date >= since
            )

        nports = [f for f in everything if wanted(f)]
        shared_cik = ids.series_id is not None and self._series_per_cik.get(ids.cik, 0) != 1
        monthly: list[pl.DataFrame] = []
        positions: list[pl.DataFrame] = []
        notes: list[str] = []
        issues = 0
        for f in nports:
            if shared_cik and ids.series_id not in self.header_series(ids.cik, f):
                continue
            data = self.client.get_bytes(_doc_url(ids.cik, f))
            filing = parse_nport(data, accession=f.accession, filed_on=f.filed_on, file=f.accession)
            if ids.series_id is not None and filing.series_id not in (None, ids.series_id):
                continue  # a single-series map that was wrong: the document decides
            monthly.append(monthly_flows_frame(filing, ticker=ticker))
            if self.holdings:
                positions.append(holdings_frame(filing))
            issues += len(filing.issues)
            notes += [f"{f.accession}: {i}" for i in filing.issues]
        tables: dict[str, pl.DataFrame] = {
            "funds": pl.DataFrame(
                {
                    "ticker": [ticker],
                    "cik": [ids.cik],
                    "series_id": [ids.series_id],
                    "class_id": [ids.class_id],
                },
                schema={c: pl.String() for c in ("ticker", "cik", "series_id", "class_id")},
            )
        }
        if monthly:
            # amendments: the latest filed statement of a month wins
            tables["nport_monthly"] = (
                pl.concat(monthly)
                .sort("filed_on", "accession")
                .unique(["series_id", "month_end"], keep="last", maintain_order=True)
                .sort("month_end")
            )
        if positions:
            tables["holdings"] = pl.concat(positions).unique(
                ["series_id", "report_date", "position"], keep="last", maintain_order=True
            )
        ncen = [f for f in everything if f.form.upper() in NCEN_FORMS]
        if ncen and ids.series_id is not None:
            latest = ncen[-1]
            known = store.query(
                "SELECT count(*) AS n FROM authorized_participants WHERE accession = ? AND series_id = ?",
                [latest.accession, ids.series_id],
            )["n"][0]
            if not known:
                doc = parse_ncen(
                    self.client.get_bytes(_doc_url(ids.cik, latest)),
                    accession=latest.accession,
                    filed_on=latest.filed_on,
                    file=latest.accession,
                )
                units = funds_frame(doc, missing_ticker="drop").filter(pl.col("series_id") == ids.series_id)
                units = units.with_columns(pl.lit(ticker).alias("ticker")).select(
                    "ticker", "creation_unit_shares"
                )
                if units.height:
                    tables["funds"] = tables["funds"].join(units.head(1), on="ticker", how="left")
                tables["authorized_participants"] = authorized_participants_frame(doc).filter(
                    pl.col("series_id") == ids.series_id
                )
        if not nports:
            notes.append(f"no new N-PORT filings for {key}")
        batch = ImportBatch(
            source="sec", file=f"sec:{ticker}", daily=empty("daily"), notes=notes, tables=tables
        )
        return batch, issues


# --- the run --------------------------------------------------------------------------------------


def _last_flow_date(store: Store, ticker: str) -> dt.date | None:
    value = store.query("SELECT max(available_on) AS d FROM flows_daily WHERE ticker = ?", [ticker])["d"][0]
    return value if isinstance(value, dt.date) else None


def _flagged_since(store: Store, ticker: str, after: dt.date | None) -> int:
    sql = "SELECT count(*) AS n FROM flows_daily WHERE ticker = ? AND (flags & ~?::UINTEGER) <> 0"
    params: list[Any] = [ticker, _NOT_QUALITY]
    if after is not None:
        sql += " AND available_on > ?"
        params.append(after)
    return int(store.query(sql, params)["n"][0])


def _check_user_agent(client: HttpClient) -> None:
    ua = client.user_agent or ""
    if "@" not in ua:
        raise ConfigError(
            f"the SEC requires a User-Agent with your name and e-mail address (got {client.user_agent!r}); "
            f'set {SEC_USER_AGENT_ENV}="Your Name your@email.com" (or pass --user-agent), '
            "or leave the sec source out (--source issuer --source yfinance)"
        )


Fetched = tuple[ImportBatch, int]  # a fund's batch and the filing issues met (counted as flagged)


def update(
    store: Store,
    tickers: Sequence[str],
    *,
    since: dt.date | None = None,
    client: HttpClient | None = None,
    sources: Sequence[str] = DEFAULT_SOURCES,
    progress: SourceProgress = _quiet,
    ids: FundIdMap | None = None,
    cache_dir: Path | None = None,
    yfinance_factory: Callable[[str], Any] | None = None,
    issuer_config: Path | None = None,
    holdings: bool = True,
    now: dt.datetime | None = None,
) -> UpdateSummary:
    """Fetch what is new for `tickers` from `sources`, one transaction per (source, fund); see the module doc.

    A failing (source, fund) is recorded in the summary and skipped; ConfigError and StoreError stop
    the run. `now` stamps `retrieved_at` (tests pin it); `cache_dir` keeps the HTTP cache and issuer
    downloads (default: a ``cache`` folder beside the warehouse).
    """
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ConfigError(f"unknown source(s) {unknown}; use {', '.join(SOURCES)}")
    if synthetic_label(store):
        raise ConfigError(
            f"{store.path} is a synthetic demo warehouse; update real data into another one (--db)"
        )
    symbols = list(dict.fromkeys(t.strip().upper() for t in tickers if t.strip()))
    if not symbols:
        raise ConfigError("no tickers to update")
    bad = [t for t in symbols if not TICKER_RE.fullmatch(t)]
    if bad:
        shown = ", ".join(quote(t) for t in bad[:5])
        raise ConfigError(f"not a ticker: {shown} (tickers are A-Z, 0-9, then also . - / ^; at most 20)")
    stamp = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    cache = Path(cache_dir) if cache_dir is not None else store.path.parent / "cache"
    own_client = client is None
    http = client if client is not None else HttpClient(cache_dir=cache / "http")
    summary = UpdateSummary(tickers=symbols, sources={s: SourceStats(s) for s in sources})
    refreshed: set[str] = set()
    try:
        if "sec" in sources:
            _check_user_agent(http)
        if "yfinance" in sources and yfinance_factory is None:
            from etfflow.sources.yfinance_source import yfinance_factory as default_factory

            yfinance_factory = default_factory()
        ctx = _Context(store, http, ids, cache, since, stamp, yfinance_factory, issuer_config, holdings)
        for source in sources:
            stats = summary.sources[source]
            try:
                fetch = _fetcher(source, ctx, stats)
            except _RECOVERABLE as exc:
                summary.failures.append(UpdateFailure(source, None, str(exc), type(exc).__name__))
                continue
            for i, ticker in enumerate(symbols):
                progress(source, ticker, i / len(symbols))
                before = _last_flow_date(store, ticker)
                try:
                    got = fetch(ticker)
                    if got is None:
                        continue
                    batch, issues = got
                    if since is not None and batch.daily.height:
                        daily = batch.daily.filter(pl.col("date") >= since)
                        batch = ImportBatch(
                            batch.source, batch.file, daily, batch.dropped, batch.notes, batch.tables
                        )
                    written = write_batch(store, batch)
                except _RECOVERABLE as exc:
                    summary.failures.append(UpdateFailure(source, ticker, str(exc), type(exc).__name__))
                    continue
                stats.add(written)
                stats.flagged += issues
                stats.notes += [f"{ticker}: {n}" for n in [*batch.notes, *written.notes]]
                if batch.dropped:
                    stats.notes.append(f"{ticker}: dropped {batch.dropped}")
                if ticker in written.refreshed:
                    stats.flagged += _flagged_since(store, ticker, before)
                refreshed |= set(written.refreshed)
            progress(source, "done", 1.0)
    finally:
        if own_client:
            http.close()
    summary.refreshed = sorted(refreshed)
    return summary


@dataclass(frozen=True)
class _Context:
    store: Store
    http: HttpClient
    ids: FundIdMap | None
    cache: Path
    since: dt.date | None
    stamp: dt.datetime
    factory: Callable[[str], Any] | None
    issuer_config: Path | None
    holdings: bool


def _fetcher(source: str, ctx: _Context, stats: SourceStats) -> Callable[[str], Fetched | None]:
    """The per-fund fetch function of a source (a failure here fails the whole source)."""
    store, http, since, stamp = ctx.store, ctx.http, ctx.since, ctx.stamp
    if source == "sec":
        idmap = ctx.ids if ctx.ids is not None else fetch_fund_ids(http)
        if ctx.ids is None:  # refresh the warehouse's whole id map from SEC's files
            from etfflow.secmap import merge_sec_ids

            res = merge_sec_ids(store, idmap.id_frame(), file=COMPANY_TICKERS_MF_URL)
            stats.notes.append(f"SEC id map: {res.added} tickers added, {res.changed} changed")
        sec = _Sec(http, idmap, holdings=ctx.holdings)

        def fetch_sec(ticker: str) -> Fetched | None:
            found = idmap.get(ticker)
            if found is None:
                stats.skipped[ticker] = "not in SEC's ticker files"
                return None
            return sec.fetch(store, ticker, found, since=since, today=stamp.date())

        return fetch_sec
    if source == "issuer":
        from etfflow.sources.issuer_download import fetch_issuer, issuer_files

        table = issuer_files(ctx.issuer_config)

        def fetch_issuer_file(ticker: str) -> Fetched | None:
            if ticker not in table:
                stats.skipped[ticker] = "no issuer download configured"
                return None
            return fetch_issuer(ticker, client=http, cache_dir=ctx.cache, files=table, retrieved_at=stamp), 0

        return fetch_issuer_file
    from etfflow.sources.yfinance_source import YFINANCE_SOURCE, fetch_yfinance

    def fetch_yf(ticker: str) -> Fetched | None:
        last = store.query(
            "SELECT max(date) AS d FROM daily WHERE ticker = ? AND source = ?", [ticker, YFINANCE_SOURCE]
        ).row(0)[0]
        shares = store.query(
            "SELECT shares_outstanding AS s FROM daily WHERE ticker = ? AND source = ? "
            "AND shares_outstanding IS NOT NULL ORDER BY date DESC LIMIT 1",
            [ticker, YFINANCE_SOURCE],
        )
        start = last + dt.timedelta(days=1) if last is not None else since
        if since is not None and start is not None:
            start = max(start, since)
        batch = fetch_yfinance(
            ticker,
            start=start,
            factory=ctx.factory,
            last_shares=shares["s"][0] if shares.height else None,
            retrieved_at=stamp,
        )
        return batch, 0

    return fetch_yf
