"""SEC ids: the taxonomy's ids, the warehouse's id map (`sec_ids`), N-PORT rows named by it, data-set zips.

Ground truths read from the recorded files with grep / jq, not from the parsers:
- company_tickers_mf_2025-09.json: 28,553 records, one without symbol (28,552 tickers; four written
  in parentheses, e.g. "(NWAGX)" of series S000064917); IVV is
  [1100663, "S000004310", "C000012040"]; series S000012000 has one ticker (KYSMX), series S000013795
  (Goldman Sachs Bond Fund) eight. company_tickers_mf_2024-08.json: 28,761 records, HACK is
  [1467831, "S000047480", "C000149086"] (absent from 2025-09).
- NPORT.Dupree.xml: seriesId S000012000, seriesName "Kentucky Tax-Free Short-to-Medium Series".
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow import pipeline
from etfflow.cli import app
from etfflow.errors import ParseError
from etfflow.secmap import merge_sec_ids, resolve_nport
from etfflow.sources import sec_nport as N
from etfflow.sources.http import HttpClient
from etfflow.store import Store
from etfflow.universe import load_taxonomy
from etfflow.update import update
from script_support import load_script

ROOT = Path(__file__).resolve().parent.parent
SERIESLESS = {"SPY", "DIA", "MDY", "QQQ", "GLD", "IAU", "SLV", "USO", "UNG", "DBC"}


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


def mf(shared_data: Path, snap: str = "2025-09") -> Path:
    return shared_data / "sec" / "ids" / f"company_tickers_mf_{snap}.json"


def test_every_taxonomy_fund_has_sec_ids(shared_data: Path) -> None:
    """121 funds: 111 with series and class ids that match SEC's maps, 10 series-less trusts with a CIK."""
    tax = load_taxonomy()
    assert tax.height == 121
    assert tax["cik"].null_count() == 0
    assert tax["cik"].str.contains(r"^\d{10}$").all()
    seriesless = set(tax.filter(pl.col("series_id").is_null())["ticker"].to_list())
    assert seriesless == SERIESLESS
    assert tax.filter(pl.col("series_id").is_null())["class_id"].null_count() == 10
    new = {r[3]: r for r in json.loads(mf(shared_data).read_text())["data"]}
    old = {r[3]: r for r in json.loads(mf(shared_data, "2024-08").read_text())["data"]}
    for row in tax.filter(pl.col("series_id").is_not_null()).iter_rows(named=True):
        rec = new.get(row["ticker"]) or old[row["ticker"]]
        assert (row["cik"], row["series_id"], row["class_id"]) == (str(rec[0]).zfill(10), rec[1], rec[2])
    ivv = tax.filter(pl.col("ticker") == "IVV").row(0, named=True)
    assert (ivv["cik"], ivv["series_id"], ivv["class_id"]) == ("0001100663", "S000004310", "C000012040")
    assert "HACK" not in new and tax.filter(pl.col("ticker") == "HACK")["series_id"][0] == "S000047480"


def test_build_script_reproduces_the_taxonomy(shared_data: Path) -> None:
    """scripts/build_sec_ids.py rebuilt from ../shared/data gives the shipped file byte for byte."""
    text, counts = load_script("build_sec_ids").build(shared_data)
    assert text == (ROOT / "src" / "etfflow" / "universe" / "taxonomy.csv").read_text(encoding="utf-8")
    assert counts == {
        "company_tickers_mf_2025-09.json": 110,
        "company_tickers_mf_2024-08.json": 1,
        "hand-entered CIK": 10,
    }


def test_import_loads_the_whole_map(shared_data: Path, tmp_path: Path) -> None:
    """`etfflow import` of the 2025-09 map stores 28,552 tickers (the 4 symbols SEC publishes in
    parentheses, "(NWAGX)", are read as the tickers they are); again: nothing changes; 2024-08 adds."""
    db = str(tmp_path / "w.duckdb")
    code, out = run("import", str(mf(shared_data)), "--db", db, "--json")
    assert code == 0, out
    summary = json.loads(out)
    with Store(db, read_only=True) as store:
        ids = store.read("sec_ids")
    assert ids.height == 28_552
    (res,) = summary
    assert res["dropped"] == {}
    assert ids.filter(pl.col("ticker").str.starts_with("(")).height == 0
    assert ids.filter(pl.col("ticker") == "IVV").row(0) == (
        "IVV",
        "0001100663",
        "S000004310",
        "C000012040",
        "company_tickers_mf",
    )
    assert ids["source"].unique().to_list() == ["company_tickers_mf"]
    # the map spells four symbols of series S000064917 in parentheses: '(NWAGX)' is read as NWAGX
    assert ids.filter(pl.col("series_id") == "S000064917")["ticker"].sort().to_list() == [
        "NWAGX",
        "NWAHX",
        "NWAJX",
        "NWAKX",
    ]
    code, out = run("import", str(mf(shared_data)), "--db", db)
    assert code == 0, out
    with Store(db) as store:
        assert store.snapshot()["sec_ids"].equals(ids)
    code, out = run("import", str(mf(shared_data, "2024-08")), "--db", db)
    assert code == 0, out
    with Store(db, read_only=True) as store:
        both = store.read("sec_ids")
    # the older snapshot adds tickers that 2025-09 no longer lists (HACK) and never drops any
    assert set(ids["ticker"].to_list()) < set(both["ticker"].to_list())
    assert both.filter(pl.col("ticker") == "HACK")["series_id"].to_list() == ["S000047480"]


def test_cik_only_rows_never_hide_a_series(tmp_path: Path) -> None:
    """company_tickers.json lists VOO under Vanguard's CIK without series: the series row stays."""
    schema = {c: pl.String for c in ("ticker", "cik", "series_id", "class_id", "source")}
    with Store(tmp_path / "w.duckdb") as store:
        merge_sec_ids(
            store,
            pl.DataFrame(
                [["VOO", "0000036405", "S000002839", "C000092055", "company_tickers_mf"]],
                schema=schema,
                orient="row",
            ),
        )
        res = merge_sec_ids(
            store,
            pl.DataFrame(
                [
                    ["VOO", "0000036405", None, None, "company_tickers"],
                    ["SPY", "0000884394", None, None, "company_tickers"],
                ],
                schema=schema,
                orient="row",
            ),
        )
        assert (res.added, res.changed) == (1, 0)
        got = store.read("sec_ids")
    assert got.filter(pl.col("ticker") == "VOO")["series_id"].to_list() == ["S000002839"]
    assert got.filter(pl.col("ticker") == "SPY")["cik"].to_list() == ["0000884394"]


def test_nport_xml_gets_ticker_and_name_from_the_map(shared_data: Path, tmp_path: Path) -> None:
    """Dupree's one-class series becomes KYSMX via SEC's map; Goldman's eight-class series stays blank."""
    db = str(tmp_path / "w.duckdb")
    samples = shared_data / "sec" / "nport" / "samples"
    assert run("import", str(mf(shared_data)), "--db", db)[0] == 0
    code, out = run(
        "import", str(samples / "NPORT.Dupree.xml"), str(samples / "NPORT Sample 7.xml"), "--db", db
    )
    assert code == 0, out
    code, out = run("nport", "--db", db, "--json")
    assert code == 0, out
    series = {r["series_id"]: r for r in json.loads(out)["series"]}
    assert series["S000012000"]["ticker"] == "KYSMX"
    assert series["S000012000"]["name"] == "Kentucky Tax-Free Short-to-Medium Series"
    assert series["S000013795"]["ticker"] is None  # eight share classes: no ticker can be chosen
    assert series["S000013795"]["name"] == "Goldman Sachs Bond Fund"
    code, out = run("nport", "KYSMX", "--db", db)
    assert code == 0, out
    assert "KYSMX Kentucky Tax-Free Short-to-Medium Series (S000012000)" in " ".join(out.split())


def _tsv(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join("\t".join(r) for r in [header, *rows]) + "\n"


FLOWS = [f"{k}_FLOW_MON{i}" for i in (1, 2, 3) for k in ("SALES", "REINVESTMENT", "REDEMPTION")]
INFO = ["ACCESSION_NUMBER", "SERIES_NAME", "SERIES_ID", "NET_ASSETS", *FLOWS]


def dataset(path: Path, *, repeat: int = 1, extra: dict[str, str] | None = None) -> Path:
    """A data set in the published layout, written here (no recorded one exists): IVV's series and SPY's CIK.

    The values are made up (synthetic); `repeat` copies the IVV row to build a large, repetitive member.
    """
    ivv, spy = "0001100663-24-000001", "0000884394-24-000001"
    sub = _tsv(
        ["ACCESSION_NUMBER", "FILING_DATE", "SUB_TYPE", "REPORT_DATE"],
        [[ivv, "28-MAY-2024", "NPORT-P", "31-MAR-2024"], [spy, "29-MAY-2024", "NPORT-P", "31-MAR-2024"]],
    )
    reg = _tsv(
        ["ACCESSION_NUMBER", "CIK", "REGISTRANT_NAME"],
        [[ivv, "1100663", "iShares Trust"], [spy, "884394", "SPDR S&P 500 ETF TRUST"]],
    )
    ivv_row = "\t".join([ivv, "iShares Core S&P 500 ETF", "S000004310", "500", *["10", "0", "4"] * 3]) + "\n"
    spy_row = "\t".join([spy, "", "", "600", *["20", "0", "5"] * 3]) + "\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("SUBMISSION.tsv", sub)
        zf.writestr("REGISTRANT.tsv", reg)
        with zf.open("FUND_REPORTED_INFO.tsv", "w") as fh:
            fh.write(("\t".join(INFO) + "\n").encode())
            fh.write(spy_row.encode())
            block = ivv_row.encode() * 1000
            for _ in range(repeat // 1000):
                fh.write(block)
            fh.write(ivv_row.encode() * (repeat % 1000))
        for name, text in (extra or {}).items():
            zf.writestr(name, text)
    return path


def test_dataset_zip_rows_get_tickers_and_names(tmp_path: Path) -> None:
    """IVV by the taxonomy's series id, SPY (no series) by the taxonomy's CIK; names as filed."""
    db = str(tmp_path / "w.duckdb")
    code, out = run("import", str(dataset(tmp_path / "q1.zip")), "--db", db)
    assert code == 0, out
    code, out = run("nport", "--db", db, "--json")
    assert code == 0, out
    series = {r["series_id"]: r for r in json.loads(out)["series"]}
    assert series["S000004310"]["ticker"] == "IVV"
    assert series["S000004310"]["name"] == "iShares Core S&P 500 ETF"
    assert series["CIK0000884394"]["ticker"] == "SPY"
    assert series["CIK0000884394"]["name"] == "SPDR S&P 500 ETF TRUST"  # the registrant, as filed
    assert series["S000004310"]["net_flow"] == pytest.approx(3 * 6.0)


def test_dataset_zip_is_folded_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """25,001 repeated rows read 1,000 at a time give the same 6 fund-months as reading them at once."""
    zp = dataset(tmp_path / "big.zip", repeat=25_000)
    whole = N.read_nport_dataset(zp)
    monkeypatch.setattr(N, "_CHUNK_ROWS", 1_000)
    chunked = N.read_nport_dataset(zp)
    assert chunked.equals(whole)
    assert chunked.height == 6
    assert chunked.filter(pl.col("series_id") == "S000004310")["net_flow"].to_list() == [6.0, 6.0, 6.0]


@pytest.mark.parametrize(
    "name", ["../evil.tsv", "/etc/evil.tsv", "a/../../evil.tsv", "C:\\evil.tsv", "..\\x.tsv"]
)
def test_dataset_zip_with_unsafe_names_is_refused(tmp_path: Path, name: str) -> None:
    zp = dataset(tmp_path / "bad.zip", extra={name: "x\n"})
    with pytest.raises(ParseError, match="unsafe path"):
        N.read_nport_dataset(zp)
    db = tmp_path / "w.duckdb"
    code, out = run("import", str(zp), "--db", str(db))
    assert code != 0 and "unsafe path" in out and "Traceback" not in out


def test_resolve_nport_keeps_stated_values() -> None:
    """A ticker or name already on the row is never replaced; unknown series stay blank."""
    frame = pl.DataFrame(
        {
            "series_id": ["S1", "S2", "S3"],
            "ticker": ["OWN", None, None],
            "series_name": ["Filed name", None, None],
        }
    )
    funds = pl.DataFrame(
        {"ticker": ["AAA", "BBB"], "name": ["Fund A", "Fund B"], "cik": ["1", "2"], "series_id": ["S1", "S2"]}
    )
    ids = pl.DataFrame({"ticker": ["X"], "cik": ["9"], "series_id": ["S9"]})
    got = resolve_nport(frame, funds, ids)
    assert got["ticker"].to_list() == ["OWN", "BBB", None]
    assert got["series_name"].to_list() == ["Filed name", "Fund B", None]


def test_update_refreshes_the_id_map(shared_data: Path, tmp_path: Path) -> None:
    """`update --source sec` stores SEC's maps as served (the recorded 2025-09 file + a CIK-only entry)."""
    routes = {
        "https://www.sec.gov/files/company_tickers_mf.json": mf(shared_data).read_bytes(),
        "https://www.sec.gov/files/company_tickers.json": json.dumps(
            {"0": {"cik_str": 884394, "ticker": "SPY", "title": "SPDR S&P 500 ETF TRUST"},
             "1": {"cik_str": 36405, "ticker": "VOO", "title": "VANGUARD INDEX FUNDS"}}
        ).encode(),
    }  # fmt: skip

    def serve(request: httpx.Request) -> httpx.Response:
        body = routes.get(str(request.url))
        return httpx.Response(200, content=body) if body is not None else httpx.Response(404)

    client = HttpClient(
        "Jane Analyst jane@example.com",
        transport=httpx.MockTransport(serve),
        rate_limits={},
        sleep=lambda _s: None,
        max_retries=0,
    )
    now = dt.datetime(2025, 10, 1, tzinfo=dt.UTC)
    with Store(tmp_path / "w.duckdb") as store, client:
        s: Any = update(store, ["NOTAFUND"], sources=("sec",), client=client, now=now, cache_dir=tmp_path)
        ids = store.read("sec_ids")
    assert s.sources["sec"].skipped == {"NOTAFUND": "not in SEC's ticker files"}
    assert ids.height == 28_552 + 1  # SPY added (CIK only); VOO keeps its series
    assert ids.filter(pl.col("ticker") == "VOO")["series_id"].to_list() == ["S000002839"]
    assert ids.filter(pl.col("ticker") == "SPY")["series_id"].to_list() == [None]


def test_pipeline_fill_uses_the_store_map(tmp_path: Path) -> None:
    """fill_nport_tickers reads `sec_ids`: a series known only to the id map gets its one ticker."""
    with Store(tmp_path / "w.duckdb") as store:
        merge_sec_ids(
            store,
            pl.DataFrame(
                {"ticker": ["ONLY"], "cik": ["0000000001"], "series_id": ["S000000042"], "class_id": ["C1"]}
            ),
        )
        frame = pl.DataFrame({"series_id": ["S000000042"], "month_end": [dt.date(2024, 1, 31)]})
        got = pipeline.fill_nport_tickers(store, pipeline.validate(frame, "nport_monthly"))
    assert got["ticker"].to_list() == ["ONLY"]


def test_symbols_that_are_not_tickers_are_left_out(tmp_path: Path) -> None:
    """A map row whose symbol is no ticker ('FOO BAR') is kept out and named in the notes; the rest import."""
    doc = {
        "fields": ["cik", "seriesId", "classId", "symbol"],
        "data": [[1, "S000000001", "C000000001", "FOO BAR"], [1, "S000000001", "C000000002", "(good)"]],
    }
    path = tmp_path / "company_tickers_mf.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    db = str(tmp_path / "w.duckdb")
    code, out = run("import", str(path), "--db", db, "--json")
    assert code == 0, out
    notes = json.loads(out)[0]["notes"]
    assert any("1 record(s) with a malformed identifier left out: ticker 'FOO BAR'" in n for n in notes)
    assert json.loads(out)[0]["dropped"] == {"malformed_identifiers": 1}
    with Store(db, read_only=True) as store:
        assert store.read("sec_ids")["ticker"].to_list() == ["GOOD"]
