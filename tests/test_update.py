"""`update` offline: httpx.MockTransport serves SEC's formats; a failure half-way, then a clean resume.

Served documents. Real recorded files: the N-PORT XMLs (Goldman Sachs Bond Fund S000013795, Dupree
Kentucky S000012000, AST Bond Portfolio 2022 S000030880, the series-less SEC test sample 2 of CIK
350001) and the AB Active ETFs N-CEN (its XML document, as EDGAR serves ``primary_doc.xml``).
Written here in the published formats, since no recorded copy exists: ``company_tickers_mf.json``,
``company_tickers.json``, the EDGAR submissions JSON (filings.recent + one older page) and the
``.hdr.sgml`` headers. The tickers GSBND, DUPKY, ASTBD, GSOTH and UITX are made up; FWD is real.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.errors import ConfigError
from etfflow.sources.http import SEC_USER_AGENT_ENV, HttpClient
from etfflow.sources.sec_ids import extract_xml_document, load_fund_ids
from etfflow.store import Store
from etfflow.update import update

UA = "Jane Analyst jane@example.com"
NOW = dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC)
SINCE = dt.date(2011, 1, 1)
SEC = "https://www.sec.gov"
DATA = "https://data.sec.gov/submissions"

# ticker -> (cik, series, class, accession, filed, report, recorded file)
FUNDS: dict[str, tuple[str, str | None, str | None, str, str, str, str]] = {
    "GSBND": ("0000822977", "S000013795", "C000037818", "0000822977-23-000101", "2023-05-25", "2023-03-31",
              "NPORT Sample 7.xml"),
    "DUPKY": ("0000311101", "S000012000", "C000032728", "0000311101-23-000007", "2023-02-27", "2022-12-31",
              "NPORT.Dupree.xml"),
    "ASTBD": ("0000814679", "S000030880", "C000095824", "0000814679-23-000020", "2023-02-28", "2022-12-30",
              "NPORT.AdvancedSeries.xml"),
    "UITX": ("0000350001", None, None, "0000350001-12-000003", "2012-03-01", "2012-01-05",
             "N-PORT Sample 2.xml"),
}  # fmt: skip
OTHER_GS = ("0000822977-23-000102", "S000099999")  # another series of the Goldman Sachs trust
NCEN_ACC = "0001410368-26-010918"


@pytest.fixture(autouse=True)
def _ua(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(SEC_USER_AGENT_ENV, raising=False)
    yield


def test_the_suite_is_offline() -> None:
    """conftest's autouse `_block_sockets` refuses connections, lookups and real HTTP."""
    with pytest.raises(RuntimeError, match="network access attempted"):
        socket.create_connection(("127.0.0.1", 9), timeout=0.1)
    with pytest.raises(RuntimeError, match="network access attempted"):
        socket.getaddrinfo("www.sec.gov", 443)
    s = socket.socket()
    try:
        with pytest.raises(RuntimeError, match="network access attempted"):
            s.connect(("127.0.0.1", 9))
    finally:
        s.close()
    with pytest.raises(Exception, match="network access attempted"):
        httpx.get("http://example.com/")


def _header(acc: str, filed: str, report: str, cik: str, series: str | None) -> bytes:
    """An EDGAR .hdr.sgml in the layout of the recorded full submissions."""
    block = ""
    if series:
        block = (
            "<SERIES-AND-CLASSES-CONTRACTS-DATA>\n<EXISTING-SERIES-AND-CLASSES-CONTRACTS>\n<SERIES>\n"
            f"<OWNER-CIK>{cik}\n<SERIES-ID>{series}\n<SERIES-NAME>Fund\n<CLASS-CONTRACT>\n"
            "<CLASS-CONTRACT-ID>C000000001\n<CLASS-CONTRACT-NAME>Class A\n</CLASS-CONTRACT>\n</SERIES>\n"
            "</EXISTING-SERIES-AND-CLASSES-CONTRACTS>\n</SERIES-AND-CLASSES-CONTRACTS-DATA>\n"
        )
    return (
        f"<SEC-HEADER>{acc}.hdr.sgml : {filed.replace('-', '')}\nACCESSION NUMBER:\t\t{acc}\n"
        f"CONFORMED SUBMISSION TYPE:\tNPORT-P\nPUBLIC DOCUMENT COUNT:\t\t1\n"
        f"CONFORMED PERIOD OF REPORT:\t{report.replace('-', '')}\n"
        f"FILED AS OF DATE:\t\t{filed.replace('-', '')}\n\n"
        f"FILER:\n\n\tCOMPANY DATA:\t\n\t\tCENTRAL INDEX KEY:\t\t\t{cik}\n{block}</SEC-HEADER>\n"
    ).encode()


def _submissions(entries: list[tuple[str, str, str, str, str]], **extra: Any) -> bytes:
    """data.sec.gov/submissions JSON: filings.recent as parallel arrays (newest first, as EDGAR lists)."""
    entries = sorted(entries, key=lambda e: e[2], reverse=True)
    cols: dict[str, list[str]] = {
        "accessionNumber": [e[0] for e in entries],
        "form": [e[1] for e in entries],
        "filingDate": [e[2] for e in entries],
        "reportDate": [e[3] for e in entries],
        "primaryDocument": [e[4] for e in entries],
        "acceptanceDateTime": [f"{e[2]}T16:00:00.000Z" for e in entries],
    }
    return json.dumps({"cik": "x", "filings": {"recent": cols, "files": extra.get("files", [])}}).encode()


def _folder(cik: str, acc: str) -> str:
    return f"{SEC}/Archives/edgar/data/{int(cik)}/{acc.replace('-', '')}"


@pytest.fixture(scope="module")
def world(shared_data: Path) -> dict[str, bytes]:
    """URL -> body for everything an update of the five tickers (and FWD) may ask for."""
    samples = shared_data / "sec" / "nport" / "samples"
    routes: dict[str, bytes] = {}
    mf_rows = [[int(c), s, k, t] for t, (c, s, k, *_r) in FUNDS.items() if s]
    mf_rows += [[822977, OTHER_GS[1], "C000099999", "GSOTH"], [1496608, "S000079470", "C000240507", "FWD"]]
    routes[f"{SEC}/files/company_tickers_mf.json"] = json.dumps(
        {"fields": ["cik", "seriesId", "classId", "symbol"], "data": mf_rows}
    ).encode()
    routes[f"{SEC}/files/company_tickers.json"] = json.dumps(
        {"0": {"cik_str": 350001, "ticker": "UITX", "title": "UNIT TRUST X"}}
    ).encode()
    by_cik: dict[str, list[tuple[str, str, str, str, str]]] = {}
    for cik, series, _k, acc, filed, report, name in FUNDS.values():
        by_cik.setdefault(cik, []).append(
            (acc, "NPORT-P", filed, report, "xslFormNPORT-P_X01/primary_doc.xml")
        )
        routes[f"{_folder(cik, acc)}/primary_doc.xml"] = (samples / name).read_bytes()
        routes[f"{_folder(cik, acc)}/{acc}.hdr.sgml"] = _header(acc, filed, report, cik, series)
    gs = FUNDS["GSBND"][0]
    by_cik[gs].append(
        (OTHER_GS[0], "NPORT-P", "2023-05-26", "2023-03-31", "xslFormNPORT-P_X01/primary_doc.xml")
    )
    routes[f"{_folder(gs, OTHER_GS[0])}/{OTHER_GS[0]}.hdr.sgml"] = _header(
        OTHER_GS[0], "2023-05-26", "2023-03-31", gs, OTHER_GS[1]
    )
    dupree = FUNDS["DUPKY"][0]
    page = "CIK0000311101-submissions-001.json"
    for cik, entries in by_cik.items():
        files = (
            [{"name": page, "filingFrom": "2001-01-02", "filingTo": "2018-12-31"}] if cik == dupree else []
        )
        routes[f"{DATA}/CIK{cik}.json"] = _submissions(entries, files=files)
    routes[f"{DATA}/{page}"] = json.dumps(
        {
            k: v
            for k, v in json.loads(
                _submissions([("0000311101-18-000001", "N-CSR", "2018-08-30", "", "d1.htm")])
            )["filings"]["recent"].items()
        }
    ).encode()
    ncen = (shared_data / "sec" / "ncen" / f"{NCEN_ACC}.txt").read_bytes()
    routes[f"{DATA}/CIK0001496608.json"] = _submissions(
        [(NCEN_ACC, "N-CEN", "2026-02-12", "2025-11-30", "xslFormN-CEN_X01/primary_doc.xml")]
    )
    routes[f"{_folder('0001496608', NCEN_ACC)}/primary_doc.xml"] = extract_xml_document(
        ncen, types=("N-CEN",)
    )
    return routes


class Recorder:
    """A MockTransport over `routes` that logs each request and can fail chosen URLs."""

    def __init__(self, routes: dict[str, bytes], fail: Callable[[str], bool] = lambda _u: False) -> None:
        self.routes, self.fail, self.seen = routes, fail, []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.seen.append(url)
        if self.fail(url):
            return httpx.Response(500)
        if url not in self.routes:
            return httpx.Response(404)
        return httpx.Response(200, content=self.routes[url])


def client(rec: Recorder, cache: Path | None = None) -> HttpClient:
    return HttpClient(
        UA,
        transport=httpx.MockTransport(rec),
        rate_limits={},
        sleep=lambda _s: None,
        max_retries=2,
        cache_dir=cache,
    )


def run_update(db: Path, rec: Recorder, tickers: list[str], cache: Path | None = None, **kw: Any) -> Any:
    with Store(db) as store, client(rec, cache) as c:
        return update(
            store, tickers, sources=("sec",), client=c, since=SINCE, now=NOW, cache_dir=db.parent, **kw
        )


def snapshot(db: Path) -> dict[str, pl.DataFrame]:
    with Store(db, read_only=True) as store:
        return store.snapshot()


TICKERS = ["GSBND", "DUPKY", "ASTBD", "UITX", "FWD"]


def test_sec_update_resolves_series_and_stores_filings(world: dict[str, bytes], tmp_path: Path) -> None:
    """Ticker -> series via SEC's maps; only the fund's own filings are fetched; N-CEN fills FWD's unit."""
    rec = Recorder(world)
    s = run_update(tmp_path / "w.duckdb", rec, TICKERS)
    assert s.ok, s.failures
    sec = s.sources["sec"]
    assert sec.funds_done == 5
    assert sec.tables["nport_monthly"]["added"] == 12 and sec.tables["holdings"]["added"] == 1685 + 55 + 1
    # FWD's block of the recorded N-CEN has 22 <authorizedParticipant> elements (counted with a regex)
    assert sec.tables["authorized_participants"]["added"] == 22
    other = _folder(FUNDS["GSBND"][0], OTHER_GS[0])
    assert f"{other}/{OTHER_GS[0]}.hdr.sgml" in rec.seen  # the trust's other filing: header only ...
    assert f"{other}/primary_doc.xml" not in rec.seen  # ... never its document
    assert not any("xslForm" in u for u in rec.seen)  # the XML, not the XSL rendering
    with Store(tmp_path / "w.duckdb", read_only=True) as store:
        m = store.read("nport_monthly")
        funds = store.read("funds")
    assert sorted(m["ticker"].unique().to_list()) == ["ASTBD", "DUPKY", "GSBND", "UITX"]
    assert m.filter(pl.col("ticker") == "UITX")["series_id"].unique().to_list() == ["CIK0000350001"]
    gs = m.filter(pl.col("ticker") == "GSBND").sort("month_end")
    assert gs["net_flow"].to_list() == pytest.approx([16144757.67, 3842255.85, -14497674.96])
    assert gs["accession"].unique().to_list() == [FUNDS["GSBND"][3]]
    assert gs["filed_on"].unique().to_list() == [dt.date(2023, 5, 25)]
    fwd = funds.filter(pl.col("ticker") == "FWD").row(0, named=True)
    assert (fwd["series_id"], fwd["creation_unit_shares"]) == ("S000079470", 10000)
    assert any("no new N-PORT filings for S000079470" in n for n in sec.notes)
    page = f"{DATA}/CIK0000311101-submissions-001.json"
    assert page in rec.seen  # since 2011 reaches back into the older page


def test_failure_half_way_then_clean_resume(world: dict[str, bytes], tmp_path: Path) -> None:
    """DUPKY's document answers 500 through every retry: the others are stored, the summary names it;
    the next run stores DUPKY and the warehouse equals one clean run (nothing lost, nothing twice)."""
    dupree_doc = f"{_folder(FUNDS['DUPKY'][0], FUNDS['DUPKY'][3])}/primary_doc.xml"
    broken = Recorder(world, fail=lambda u: u == dupree_doc)
    db, cache = tmp_path / "resumed.duckdb", tmp_path / "http"
    first = run_update(db, broken, TICKERS, cache=cache)
    assert [(f.source, f.ticker, f.kind) for f in first.failures] == [("sec", "DUPKY", "TransportError")]
    assert "HTTP 500" in first.failures[0].error and "3 attempts" in first.failures[0].error
    assert broken.seen.count(dupree_doc) == 3
    with Store(db, read_only=True) as store:
        tickers = set(store.read("nport_monthly")["ticker"].to_list())
        assert tickers == {"GSBND", "ASTBD", "UITX"}  # funds after the failure were still done
        assert (
            store.read("holdings").filter(pl.col("series_id") == "S000012000").height == 0
        )  # nothing partial
    healthy = Recorder(world)
    second = run_update(db, healthy, TICKERS, cache=cache)
    assert second.ok
    sec = second.sources["sec"]
    assert sec.tables["nport_monthly"] == {"added": 3, "changed": 0, "unchanged": 9}
    assert sec.tables["holdings"]["added"] == 55
    archive = [u for u in healthy.seen if "/Archives/" in u]
    assert archive == [dupree_doc]  # what the first run fetched came from the cache
    clean_db = tmp_path / "clean.duckdb"
    assert run_update(clean_db, Recorder(world), TICKERS).ok
    resumed, clean = snapshot(db), snapshot(clean_db)
    for name, frame in clean.items():
        if name != "files":
            assert frame.equals(resumed[name]), name


def test_incremental_run_asks_only_for_new_filings(world: dict[str, bytes], tmp_path: Path) -> None:
    """A second run starts at the last stored filing date: no older pages, nothing changed."""
    db = tmp_path / "w.duckdb"
    run_update(db, Recorder(world), ["DUPKY"])
    rec = Recorder(world)
    again = run_update(db, rec, ["DUPKY"])
    assert again.ok and again.sources["sec"].added == 0 and again.sources["sec"].changed == 0
    assert f"{DATA}/CIK0000311101-submissions-001.json" not in rec.seen
    assert f"{DATA}/CIK0000311101.json" in rec.seen  # the filing list is never taken from a cache


def test_ids_from_the_recorded_id_file(world: dict[str, bytes], shared_data: Path, tmp_path: Path) -> None:
    """IVV's CIK is iShares Trust; the recorded id file gives its series, and a document of another
    series served under IVV's trust is refused by its own seriesId."""
    ids = load_fund_ids(shared_data / "sec" / "ids" / "ishares_fund_data.csv")
    ivv = ids.lookup("IVV")
    assert (ivv.cik, ivv.series_id) == ("0001100663", "S000004310")
    acc = "0001100663-23-000500"
    routes = dict(world)
    routes[f"{DATA}/CIK0001100663.json"] = _submissions(
        [(acc, "NPORT-P", "2023-05-30", "2023-03-31", "primary_doc.xml")]
    )
    routes[f"{_folder(ivv.cik, acc)}/{acc}.hdr.sgml"] = _header(
        acc, "2023-05-30", "2023-03-31", ivv.cik, "S000004310"
    )
    routes[f"{_folder(ivv.cik, acc)}/primary_doc.xml"] = world[
        f"{_folder(FUNDS['GSBND'][0], FUNDS['GSBND'][3])}/primary_doc.xml"
    ]
    s = run_update(tmp_path / "w.duckdb", Recorder(routes), ["IVV", "NOTAFUND"], ids=ids)
    assert s.ok and s.sources["sec"].skipped == {"NOTAFUND": "not in SEC's ticker files"}
    with Store(tmp_path / "w.duckdb", read_only=True) as store:
        assert store.read("nport_monthly").height == 0
        row = store.read("funds", tickers=["IVV"]).row(0, named=True)
    assert (row["series_id"], row["class_id"], row["cik"]) == ("S000004310", "C000012040", "0001100663")


def test_ticker_map_failure_fails_the_source_not_the_run(world: dict[str, bytes], tmp_path: Path) -> None:
    """No ticker map: one failure for the whole SEC source, named; nothing written."""
    rec = Recorder(world, fail=lambda u: u.endswith("company_tickers_mf.json"))
    s = run_update(tmp_path / "w.duckdb", rec, ["GSBND"])
    assert [(f.source, f.ticker) for f in s.failures] == [("sec", None)]
    assert "company_tickers_mf.json" in s.failures[0].error


def test_missing_user_agent_says_how_to_set_it(tmp_path: Path) -> None:
    """Library and CLI refuse before any request and name ETFFLOW_SEC_USER_AGENT."""
    rec = Recorder({})
    with (
        Store(tmp_path / "w.duckdb") as store,
        HttpClient(None, transport=httpx.MockTransport(rec)) as c,
        pytest.raises(ConfigError, match=SEC_USER_AGENT_ENV),
    ):
        update(store, ["SPY"], sources=("sec",), client=c)
    assert rec.seen == []
    res = CliRunner().invoke(app, ["update", "SPY", "--source", "sec", "--db", str(tmp_path / "c.duckdb")])
    assert res.exit_code == 5 and SEC_USER_AGENT_ENV in res.output


def test_cli_update_without_yfinance_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--source yfinance` without the package: exit 5 and the pip command."""
    monkeypatch.setitem(__import__("sys").modules, "yfinance", None)
    res = CliRunner().invoke(
        app, ["update", "SPY", "--source", "yfinance", "--db", str(tmp_path / "w.duckdb")]
    )
    assert res.exit_code == 5 and "pip install yfinance" in res.output


def test_cli_update_json_summary(
    world: dict[str, bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`etfflow update ... --json` in-process, its HttpClient on the mock transport; a failure exits 6."""
    rec = Recorder(world, fail=lambda u: "CIK0000814679.json" in u)
    real = HttpClient.__init__

    def mocked(self: HttpClient, user_agent: str | None = None, **kw: Any) -> None:
        real(
            self, user_agent, transport=httpx.MockTransport(rec), rate_limits={}, sleep=lambda _s: None, **kw
        )

    monkeypatch.setattr(HttpClient, "__init__", mocked)
    monkeypatch.setenv(SEC_USER_AGENT_ENV, UA)
    db = tmp_path / "w.duckdb"
    args = ["update", "GSBND", "ASTBD", "--source", "sec", "--since", "2011-01-01", "--db", str(db), "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 6, res.output
    doc = json.loads(res.output)
    assert doc["sources"]["sec"]["funds_done"] == 1 and doc["failures"][0]["ticker"] == "ASTBD"
    assert doc["tickers_from"] == "the command line"
    res = CliRunner().invoke(app, ["nport", "GSBND", "--db", str(db), "--json"])
    assert res.exit_code == 0 and len(json.loads(res.output)["rows"]) == 3


class FakeYf:
    """yfinance.Ticker stand-in (frames shaped like yfinance's, written here)."""

    calls: list[dict[str, Any]]

    def __init__(self, days: list[str], counts: list[float]) -> None:
        self.days, self.counts, self.calls = days, counts, []

    def __call__(self, _symbol: str) -> FakeYf:
        return self

    def history(self, **kw: Any) -> pd.DataFrame:
        self.calls.append(kw)
        days = [d for d in self.days if "start" not in kw or d >= kw["start"]]
        idx = pd.DatetimeIndex(days, tz="America/New_York", name="Date")
        n = len(days)
        return pd.DataFrame(
            {
                "Open": [10.0] * n,
                "Close": [10.0] * n,
                "Volume": [1e5] * n,
                "Dividends": [0.0] * n,
                "Stock Splits": [0.0] * n,
            },
            index=idx,
        )

    def get_shares_full(self, start: str, end: str | None = None) -> pd.Series:
        pairs = [(d, c) for d, c in zip(self.days, self.counts, strict=True) if d >= start]
        idx = pd.DatetimeIndex([f"{d} 18:00" for d, _ in pairs], tz="America/New_York")
        return pd.Series([c for _, c in pairs], index=idx, dtype="float64")


def test_yfinance_source_is_incremental(tmp_path: Path) -> None:
    """Run 2 starts the day after the last stored row; a first count equal to the stored one is dropped."""
    yf = FakeYf(["2024-06-03", "2024-06-04", "2024-06-05"], [1e6, 1.1e6, 1.1e6])
    db = tmp_path / "w.duckdb"
    with Store(db) as store:
        s1 = update(store, ["SPY"], sources=("yfinance",), yfinance_factory=yf, now=NOW, cache_dir=tmp_path)
        assert s1.ok and s1.sources["yfinance"].added == 3 and s1.refreshed == ["SPY"]
        yf.days += ["2024-06-06", "2024-06-07"]
        yf.counts += [1.1e6, 1.2e6]
        s2 = update(store, ["SPY"], sources=("yfinance",), yfinance_factory=yf, now=NOW, cache_dir=tmp_path)
        assert yf.calls[-1]["start"] == "2024-06-06"
        assert s2.sources["yfinance"].added == 2
        d = store.read("daily", tickers=["SPY"])
        f = store.read("flows_daily", tickers=["SPY"])
    assert d["shares_outstanding"].to_list() == [1e6, 1.1e6, None, None, 1.2e6]
    assert f["flow_usd"].to_list() == [None, 1e6, 1e6]  # 06-07's change spans 06-05..06-07 (GAP)
    assert f["gap_sessions"].to_list()[-1] == 2
