"""Issuer downloads: where each fund's file lives, fetched through `HttpClient` into a cache folder.

Only formats the importers parse are downloaded: the iShares fund workbook (the product page's
"Download" link, an XML-spreadsheet ``.xls`` with the daily history) and the SPDR Gold Shares archive
CSV. URLs per fund come from `ISSUER_FILES` and, overriding it, a CSV ``ticker,format,url`` named by
``$ETFFLOW_ISSUER_URLS`` (or passed as `config`). iShares pages are addressed by a product id and a
slug that only the issuer's site knows; the built-in ids were taken from ishares.com product URLs and
are worth checking when a download answers 404 (add the right URL to the config file).

Each download is kept as ``<cache>/issuers/<TICKER>_<YYYY-MM-DD>.<ext>`` (the raw file, for audit and
re-import), checked to be the expected format by content, then parsed by the existing reader.
"""

from __future__ import annotations

import csv
import datetime as dt
import inspect
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

from etfflow.checks import TICKER_RE
from etfflow.errors import ConfigError, NotFoundError, ParseError, quote
from etfflow.sources.base import ImportBatch
from etfflow.sources.http import HttpClient

__all__ = [
    "ISHARES_FUND_URL",
    "ISSUER_FILES",
    "ISSUER_URLS_ENV",
    "SPDR_GOLD_ARCHIVE_URL",
    "IssuerFile",
    "cache_name",
    "download_issuer_file",
    "fetch_issuer",
    "issuer_files",
]

ISSUER_URLS_ENV = "ETFFLOW_ISSUER_URLS"
ISHARES_FUND_URL = (
    "https://www.ishares.com/us/products/{product_id}/{slug}/1467271812596.ajax"
    "?fileType=xls&fileName={ticker}_fund&dataType=fund"
)
SPDR_GOLD_ARCHIVE_URL = "https://www.spdrgoldshares.com/assets/dynamic/GLD/GLD_US_archive_EN.csv"
_EXTENSIONS = {"ishares_workbook": "xls", "ssga_gld_csv": "csv", "ishares_shares_csv": "csv"}


@dataclass(frozen=True)
class IssuerFile:
    """Where one fund's issuer file is published and which importer format it is."""

    ticker: str
    format: str
    url: str


def _ishares(ticker: str, product_id: int, slug: str) -> IssuerFile:
    url = ISHARES_FUND_URL.format(product_id=product_id, slug=slug, ticker=ticker)
    return IssuerFile(ticker, "ishares_workbook", url)


#: built-in download locations (override or extend with $ETFFLOW_ISSUER_URLS)
ISSUER_FILES: dict[str, IssuerFile] = {
    f.ticker: f
    for f in (
        _ishares("IVV", 239726, "ishares-core-sp-500-etf"),
        _ishares("IWM", 239710, "ishares-russell-2000-etf"),
        _ishares("EFA", 239623, "ishares-msci-eafe-etf"),
        _ishares("EEM", 239637, "ishares-msci-emerging-markets-etf"),
        _ishares("AGG", 239458, "ishares-core-total-us-bond-market-etf"),
        _ishares("TLT", 239454, "ishares-20-year-treasury-bond-etf"),
        _ishares("IEF", 239456, "ishares-710-year-treasury-bond-etf"),
        _ishares("LQD", 239566, "ishares-iboxx-investment-grade-corporate-bond-etf"),
        _ishares("HYG", 239565, "ishares-iboxx-high-yield-corporate-bond-etf"),
        _ishares("EWJ", 239665, "ishares-msci-japan-etf"),
        _ishares("EWZ", 239612, "ishares-msci-brazil-etf"),
        IssuerFile("GLD", "ssga_gld_csv", SPDR_GOLD_ARCHIVE_URL),
    )
}


def issuer_files(config: Path | None = None) -> dict[str, IssuerFile]:
    """Built-in locations, overridden by a ``ticker,format,url`` CSV (`config` or $ETFFLOW_ISSUER_URLS)."""
    out = dict(ISSUER_FILES)
    path = config or (
        Path(os.environ[ISSUER_URLS_ENV]).expanduser() if os.environ.get(ISSUER_URLS_ENV) else None
    )
    if path is None:
        return out
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read the issuer URL file {path}: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    if [c.strip().lower() for c in reader.fieldnames or []][:3] != ["ticker", "format", "url"]:
        raise ConfigError(f"{path}: the header must be ticker,format,url (got {reader.fieldnames})")
    for n, row in enumerate(reader, start=2):
        values = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
        ticker, fmt, url = values["ticker"].upper(), values["format"], values["url"]
        if ticker and not TICKER_RE.fullmatch(ticker):
            raise ConfigError(f"{path}, row {n}: not a ticker: {quote(values['ticker'])}")
        if fmt not in _EXTENSIONS:
            raise ConfigError(f"{path}, row {n}: unknown format {fmt!r}; use one of {sorted(_EXTENSIONS)}")
        if not ticker or not url.startswith(("http://", "https://")):
            raise ConfigError(f"{path}, row {n}: a ticker and an http(s) URL are required")
        out[ticker] = IssuerFile(ticker, fmt, url)
    return out


def cache_name(ticker: str) -> str:
    """The file-name stem for a ticker's downloads: a valid ticker with ``/`` and ``^`` as ``_``.

    The ticker must match `etfflow.checks.TICKER_RE`, so no name can leave the cache folder.
    """
    symbol = ticker.strip().upper()
    if not TICKER_RE.fullmatch(symbol):
        raise ConfigError(f"not a ticker: {quote(ticker)}; nothing was downloaded")
    name = symbol.replace("/", "_").replace("^", "_")
    if name in (".", "..") or not re.fullmatch(r"[A-Z0-9][A-Z0-9._\-]*", name):
        raise ConfigError(f"not a ticker: {quote(ticker)}; nothing was downloaded")
    return name


def download_issuer_file(
    client: HttpClient, spec: IssuerFile, cache_dir: Path, *, today: dt.date | None = None
) -> Path:
    """Download `spec` (never from the HTTP cache: issuer files change daily) and keep it in `cache_dir`."""
    day = (today or dt.datetime.now(dt.UTC).date()).isoformat()
    folder = Path(cache_dir) / "issuers"
    path = folder / f"{cache_name(spec.ticker)}_{day}.{_EXTENSIONS[spec.format]}"
    body = client.get_bytes(spec.url, use_cache=False)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".part")
        tmp.write_bytes(body)
        tmp.replace(path)
    except OSError as exc:
        raise ConfigError(f"cannot write the download cache {folder}: {exc}") from exc
    return path


def fetch_issuer(
    ticker: str,
    *,
    client: HttpClient,
    cache_dir: Path,
    files: dict[str, IssuerFile] | None = None,
    retrieved_at: dt.datetime | None = None,
) -> ImportBatch:
    """Download a fund's issuer file and parse it with its importer; NotFoundError if none is configured."""
    from etfflow.sources.detect import FORMATS, detect_format

    symbol = ticker.strip().upper()
    cache_name(symbol)
    table = files if files is not None else issuer_files()
    spec = table.get(symbol)
    if spec is None:
        raise NotFoundError(
            f"no issuer download is configured for {symbol} (known: {', '.join(sorted(table))}); "
            f"add a ticker,format,url row to the file named by ${ISSUER_URLS_ENV}"
        )
    stamp = retrieved_at or dt.datetime.now(dt.UTC)
    path = download_issuer_file(client, spec, cache_dir, today=stamp.date())
    try:
        found = detect_format(path)
    except ParseError:
        found = "an unrecognised file"
    if found != spec.format:
        raise ParseError(
            f"{spec.url} returned {found}, not {spec.format} (an error page or a moved URL?)", file=str(path)
        )
    fmt = next(f for f in FORMATS if f.name == spec.format)
    accepted = inspect.signature(fmt.read).parameters
    options = {k: v for k, v in (("ticker", symbol), ("retrieved_at", stamp)) if k in accepted}
    return fmt.read(path, **options)
