"""Issuer downloads on httpx.MockTransport serving the real recorded files from ../shared/data/issuers/.

IVV_fund.xls is the iShares workbook as downloaded (5,534 daily rows, 2000-05-15 .. 2022-05-11, see
../shared/data/README.md); GLD_US_archive_EN.csv is the SPDR Gold archive (5,159 session rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from etfflow.errors import ConfigError, NotFoundError, ParseError
from etfflow.sources.http import HttpClient
from etfflow.sources.issuer_download import (
    ISSUER_FILES,
    ISSUER_URLS_ENV,
    SPDR_GOLD_ARCHIVE_URL,
    fetch_issuer,
    issuer_files,
)
from etfflow.store import Store
from etfflow.update import update

NOW = dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC)


@pytest.fixture()
def served(shared_data: Path) -> dict[str, bytes]:
    issuers = shared_data / "issuers"
    return {
        ISSUER_FILES["IVV"].url: (issuers / "ishares" / "IVV_fund.xls").read_bytes(),
        SPDR_GOLD_ARCHIVE_URL: (issuers / "ssga" / "GLD_US_archive_EN.csv").read_bytes(),
    }


def transport(
    routes: dict[str, bytes],
    seen: list[httpx.Request] | None = None,
    status: Callable[[str], int] | None = None,
) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        url = str(request.url)
        code = status(url) if status else 200
        if code != 200:
            return httpx.Response(code)
        if url not in routes:
            return httpx.Response(404)
        return httpx.Response(200, content=routes[url])

    return httpx.MockTransport(handler)


def client(routes: dict[str, bytes], **kw: object) -> HttpClient:
    return HttpClient(None, transport=transport(routes, **kw), rate_limits={}, sleep=lambda _s: None)  # type: ignore[arg-type]


def test_ishares_workbook_download(served: dict[str, bytes], tmp_path: Path) -> None:
    """IVV: the product page's ajax URL, kept in the cache folder, parsed by the workbook reader."""
    seen: list[httpx.Request] = []
    with client(served, seen=seen) as c:
        batch = fetch_issuer("ivv", client=c, cache_dir=tmp_path, retrieved_at=NOW)
    assert batch.source == "ishares_workbook" and batch.daily.height == 5534
    assert batch.daily["ticker"].unique().to_list() == ["IVV"]
    assert batch.daily["date"].max() == dt.date(2022, 5, 11)
    kept = tmp_path / "issuers" / "IVV_2024-07-01.xls"
    assert kept.read_bytes() == served[ISSUER_FILES["IVV"].url]
    assert "fileName=IVV_fund" in str(seen[0].url) and "dataType=fund" in str(seen[0].url)
    assert seen[0].headers["User-Agent"].startswith("etfflow/")


def test_spdr_gold_archive_download(served: dict[str, bytes], tmp_path: Path) -> None:
    """GLD: the SPDR archive CSV."""
    with client(served) as c:
        batch = fetch_issuer("GLD", client=c, cache_dir=tmp_path, retrieved_at=NOW)
    assert batch.source == "ssga_gld" and batch.daily.height == 5159
    assert (tmp_path / "issuers" / "GLD_2024-07-01.csv").is_file()


def test_error_page_and_missing_url_are_clear(served: dict[str, bytes], tmp_path: Path) -> None:
    """An HTML page where a workbook was expected, a 404, and a fund without a configured URL."""
    page = {ISSUER_FILES["IVV"].url: b"<html><body>Access denied</body></html>"}
    with client(page) as c, pytest.raises(ParseError, match="not ishares_workbook"):
        fetch_issuer("IVV", client=c, cache_dir=tmp_path, retrieved_at=NOW)
    with client({}) as c, pytest.raises(NotFoundError, match="HTTP 404"):
        fetch_issuer("EWJ", client=c, cache_dir=tmp_path, retrieved_at=NOW)
    with client(served) as c, pytest.raises(NotFoundError, match=ISSUER_URLS_ENV):
        fetch_issuer("ZZZZ", client=c, cache_dir=tmp_path, retrieved_at=NOW)


def test_url_config_file(served: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$ETFFLOW_ISSUER_URLS adds or overrides a fund's URL; a malformed file is a ConfigError."""
    mirror = "https://mirror.example.com/ivv.xls"
    cfg = tmp_path / "urls.csv"
    cfg.write_text(f"ticker,format,url\nivv,ishares_workbook,{mirror}\n")
    monkeypatch.setenv(ISSUER_URLS_ENV, str(cfg))
    table = issuer_files()
    assert table["IVV"].url == mirror and table["GLD"].url == SPDR_GOLD_ARCHIVE_URL
    with client({mirror: served[ISSUER_FILES["IVV"].url]}) as c:
        assert fetch_issuer("IVV", client=c, cache_dir=tmp_path, retrieved_at=NOW).daily.height == 5534
    cfg.write_text("ticker,format,url\nIVV,pdf,https://x.example.com/a\n")
    with pytest.raises(ConfigError, match="unknown format 'pdf'"):
        issuer_files()
    cfg.write_text("symbol,link\nIVV,https://x\n")
    with pytest.raises(ConfigError, match="ticker,format,url"):
        issuer_files()


def test_update_from_issuers_is_idempotent(served: dict[str, bytes], tmp_path: Path) -> None:
    """`update --source issuer`: rows and flows written; a second run adds and changes nothing."""
    db = tmp_path / "w.duckdb"
    with Store(db) as store, client(served) as c:
        s1 = update(store, ["IVV", "GLD", "SPY"], sources=("issuer",), client=c, cache_dir=tmp_path, now=NOW)
        assert s1.ok and s1.sources["issuer"].funds_done == 2
        assert s1.sources["issuer"].tables["daily"]["added"] == 5534 + 5159
        assert s1.sources["issuer"].skipped == {"SPY": "no issuer download configured"}
        assert s1.refreshed == ["GLD", "IVV"]
        assert s1.sources["issuer"].flagged > 0  # the IVV bad print, GLD gaps and odd lots
        assert store.read("flows_daily", tickers=["IVV"]).height == 5534
        s2 = update(store, ["IVV", "GLD"], sources=("issuer",), client=c, cache_dir=tmp_path, now=NOW)
    i2 = s2.sources["issuer"]
    assert (i2.added, i2.changed, i2.unchanged) == (0, 0, 5534 + 5159) and s2.refreshed == []
