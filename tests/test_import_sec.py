"""SEC files through `etfflow import` (in-process CLI) and the pipeline: N-PORT, N-CEN, data sets, id maps.

Ground truths were read from the recorded files with grep, never from the parsers:
- NPORT Sample 7.xml (Goldman Sachs Bond Fund, S000013795, report 2023-03-31): 1,685 ``<invstOrSec>``;
  mon1..3 sales/reinvestment/redemption 24,063,559.74/1,135,281.61/9,054,083.68,
  7,957,748.47/1,134,091.37/5,249,583.99 and 5,211,750.00/1,219,720.34/20,929,145.30, so net flows
  16,144,757.67, 3,842,255.85 and -14,497,674.96; netAssets 361,898,455.93.
- 0001410368-26-010918.txt (AB Active ETFs, N-CEN, 22 ETF series): 484 ``<authorizedParticipant ``
  elements; FWD (S000079470) has creationUnitNumOfShares 10000.
- 0001410368-26-010921.txt (AB Cap Fund, N-CEN of mutual funds): no ETF series.
"""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow import pipeline
from etfflow.cli import app
from etfflow.flows.flags import Flag
from etfflow.sources.detect import detect_format
from etfflow.store import Store

D = dt.date
NET = [16144757.67, 3842255.85, -14497674.96]


@pytest.fixture()
def sec(shared_data: Path) -> Path:
    return shared_data / "sec"


def nport7(sec: Path) -> Path:
    return sec / "nport" / "samples" / "NPORT Sample 7.xml"


def ncen_etf(sec: Path) -> Path:
    return sec / "ncen" / "0001410368-26-010918.txt"


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


def test_formats_are_detected_by_content(sec: Path, tmp_path: Path) -> None:
    """Every recorded SEC file is recognised from its bytes, whatever its name."""
    renamed = tmp_path / "whatever.bin"
    renamed.write_bytes(nport7(sec).read_bytes())
    assert detect_format(renamed) == "sec_nport_xml"
    assert detect_format(ncen_etf(sec)) == "sec_ncen"
    assert detect_format(sec / "ncen" / "0001410368-26-010921.txt") == "sec_ncen"
    for name in ("fund_data.csv", "ishares_fund_data.csv"):
        assert detect_format(sec / "ids" / name) == "sec_fund_ids"
    assert detect_format(nport_zip(tmp_path / "q.zip")) == "sec_nport_dataset"


def test_cli_import_nport_and_ncen(sec: Path, tmp_db: Path) -> None:
    """`etfflow import` takes an N-PORT XML and an N-CEN submission like any other file."""
    code, out = run("import", str(nport7(sec)), str(ncen_etf(sec)), "--db", str(tmp_db), "--json")
    assert code == 0, out
    res = json.loads(out)
    assert [r["format"] for r in res] == ["sec_nport", "sec_ncen"]
    assert res[0]["tables"] == {
        "nport_monthly": {"added": 3, "changed": 0, "unchanged": 0, "kept": 0},
        "holdings": {"added": 1685, "changed": 0, "unchanged": 0, "kept": 0},
    }
    assert res[0]["rows"] == 1688 and res[0]["added"] == 1688
    assert res[1]["tables"]["funds"]["added"] == 22
    assert res[1]["tables"]["authorized_participants"]["added"] == 484
    with Store(tmp_db, read_only=True) as store:
        m = store.read("nport_monthly")
        assert m["month_end"].to_list() == [D(2023, 1, 31), D(2023, 2, 28), D(2023, 3, 31)]
        assert m["net_flow"].to_list() == pytest.approx(NET)
        assert m["net_assets"].to_list() == [None, None, pytest.approx(361898455.93)]
        assert store.read("holdings").height == 1685
        aps = store.read("authorized_participants")
        assert aps.height == 484 and aps["report_date"].unique().to_list() == [D(2025, 11, 30)]
        fwd = store.read("funds", tickers=["FWD"]).row(0, named=True)
        assert (fwd["series_id"], fwd["creation_unit_shares"], fwd["cik"]) == (
            "S000079470",
            10000,
            "0001496608",
        )
    # importing again changes nothing
    code, out = run("import", str(nport7(sec)), str(ncen_etf(sec)), "--db", str(tmp_db), "--json")
    again = json.loads(out)
    assert all(r["already_imported"] and r["added"] == 0 and r["changed"] == 0 for r in again)


def test_cli_nport_shows_stored_months(sec: Path, tmp_db: Path) -> None:
    """`etfflow nport S000013795 --json` lists the three months; by ticker once a fund carries the series."""
    assert run("import", str(nport7(sec)), "--db", str(tmp_db))[0] == 0
    code, out = run("nport", "S000013795", "--db", str(tmp_db), "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert [r["month_end"] for r in doc["rows"]] == ["2023-01-31", "2023-02-28", "2023-03-31"]
    assert [r["net_flow"] for r in doc["rows"]] == pytest.approx(NET)
    assert [r["sales"] for r in doc["rows"]] == pytest.approx([24063559.74, 7957748.47, 5211750.0])
    code, out = run("nport", "--db", str(tmp_db), "--json")
    assert json.loads(out)["series"][0]["months"] == 3
    code, out = run("nport", "NOPE", "--db", str(tmp_db))
    assert code == 3 and "no N-PORT rows for NOPE" in out
    code, out = run("nport", "S000013795", "--db", str(tmp_db))
    assert code == 0 and "net flow = sales + reinvestment - redemption" in out


def test_nport_ticker_from_the_funds_table(sec: Path, tmp_db: Path) -> None:
    """An N-PORT XML names no ticker; a stored fund with that series id gives it one (GSBND is made up)."""
    with Store(tmp_db) as store:
        pipeline.merge_funds(store, pl.DataFrame({"ticker": ["GSBND"], "series_id": ["S000013795"]}))
        pipeline.import_paths(store, [nport7(sec)])
        assert store.read("nport_monthly")["ticker"].to_list() == ["GSBND"] * 3
        assert pipeline.nport_table(store, "GSBND").height == 3
    # --ticker names it directly
    other = tmp_db.with_name("o.duckdb")
    assert run("import", str(nport7(sec)), "--ticker", "gsx", "--db", str(other))[0] == 0
    with Store(other, read_only=True) as store:
        assert store.read("nport_monthly")["ticker"].to_list() == ["GSX"] * 3


def test_ncen_merges_into_funds_without_blanking(sec: Path, tmp_db: Path) -> None:
    """Partial N-CEN rows fill creation units and SEC ids; stored issuer, category and group stay."""
    full = pl.DataFrame(
        {
            "ticker": ["FWD"],
            "name": ["AB Disruptors ETF (ours)"],
            "issuer": ["AllianceBernstein"],
            "category": ["thematic"],
            "group": ["Disruptive Tech"],
            "creation_unit_shares": [None],
        },
        schema_overrides={"creation_unit_shares": pl.Int64},
    )
    with Store(tmp_db) as store:
        pipeline.merge_funds(store, full)
        pipeline.import_paths(store, [ncen_etf(sec)])
        row = pipeline.funds_table(store).filter(pl.col("ticker") == "FWD").row(0, named=True)
    assert row["issuer"] == "AllianceBernstein" and row["category"] == "thematic"
    assert row["group"] == "Disruptive Tech"
    assert row["creation_unit_shares"] == 10000 and row["series_id"] == "S000079470"
    assert row["name"] == "AB Disruptors ETF"  # a stated value wins


def test_funds_table_merges_per_column_over_the_taxonomy(sec: Path, tmp_db: Path) -> None:
    """An id map adds IVV's SEC ids; the taxonomy's name, category and 50,000-share unit stay."""
    with Store(tmp_db) as store:
        res = pipeline.import_paths(store, [sec / "ids" / "ishares_fund_data.csv"])
        assert any("skipped" in n for n in res[0].notes)  # unknown tickers are not added
        stored = store.read("funds")
        assert stored["category"].null_count() == stored.height  # stored rows are partial ...
        ivv = pipeline.funds_table(store).filter(pl.col("ticker") == "IVV").row(0, named=True)
        tickers = set(pipeline.funds_table(store)["ticker"].to_list())
    assert (ivv["series_id"], ivv["class_id"], ivv["cik"]) == ("S000004310", "C000012040", "0001100663")
    assert ivv["name"] == "iShares Core S&P 500 ETF" and ivv["category"] == "broad_market"  # ... merged here
    assert ivv["creation_unit_shares"] == 50000
    assert "IBMQ" not in tickers  # in the id file, not in the taxonomy or warehouse


def test_creation_unit_change_refreshes_flows(sec: Path, tmp_db: Path, tmp_path: Path) -> None:
    """FWD's 5,000-share changes are half units: flagged ODD_LOT only once N-CEN states 10,000."""
    daily = tmp_path / "fwd.csv"
    daily.write_text(
        "date,ticker,shares_outstanding,nav\n"
        "2025-06-02,FWD,1000000,50\n2025-06-03,FWD,1005000,50\n2025-06-04,FWD,1025000,51\n"
    )
    with Store(tmp_db) as store:
        pipeline.import_paths(store, [daily])

        def odd() -> list[dt.date]:
            f = store.read("flows_daily", tickers=["FWD"])
            return f.filter((pl.col("flags") & int(Flag.ODD_LOT)) != 0)["date"].to_list()

        assert odd() == []
        res = pipeline.import_paths(store, [ncen_etf(sec)])
        assert any("creation unit changed for FWD" in n for n in res[0].notes)
        assert odd() == [D(2025, 6, 2)]  # so_lag 1: the count stated 06-03 belongs to trade date 06-02


def test_mutual_fund_ncen_imports_nothing(sec: Path, tmp_db: Path) -> None:
    """The mutual-fund N-CEN has no ETF series: a clean no-op with a note."""
    code, out = run("import", str(sec / "ncen" / "0001410368-26-010921.txt"), "--db", str(tmp_db))
    assert code == 0, out
    assert "no ETF series" in out


def nport_zip(path: Path) -> Path:
    """A small data set in the published layout (no recorded one exists: written here, say so)."""
    acc = "0000822977-23-000101"
    sub = (
        "ACCESSION_NUMBER\tFILING_DATE\tSUB_TYPE\tREPORT_DATE\n"
        + f"{acc}\t30-MAY-2023\tNPORT-P\t31-MAR-2023\n"
    )
    reg = "ACCESSION_NUMBER\tCIK\tREGISTRANT_NAME\n" + f"{acc}\t822977\tGOLDMAN SACHS TRUST\n"
    flows = [f"{k}_FLOW_MON{i}" for i in (1, 2, 3) for k in ("SALES", "REINVESTMENT", "REDEMPTION")]
    values = (
        "24063559.74 1135281.61 9054083.68 7957748.47 1134091.37 5249583.99 5211750 1219720.34 20929145.3"
    )
    info = "\t".join(["ACCESSION_NUMBER", "SERIES_ID", "NET_ASSETS", *flows]) + "\n"
    info += "\t".join([acc, "S000013795", "361898455.93", *values.split()]) + "\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("SUBMISSION.tsv", sub)
        zf.writestr("REGISTRANT.tsv", reg)
        zf.writestr("FUND_REPORTED_INFO.tsv", info)
    return path


def test_dataset_zip_imports_like_the_xml(sec: Path, tmp_path: Path) -> None:
    """A data-set zip written in the published format gives the XML's monthly flows, with its filing date."""
    with Store(tmp_path / "w.duckdb") as store:
        res = pipeline.import_paths(store, [nport_zip(tmp_path / "2023q2.zip")])
        assert res[0].format == "sec_nport_dataset"
        m = store.read("nport_monthly")
    assert m["net_flow"].to_list() == pytest.approx(NET)
    assert m["filed_on"].unique().to_list() == [D(2023, 5, 30)]


def test_demo_warehouse_refuses_sec_files(sec: Path, tmp_path: Path) -> None:
    """Real filings never mix with the synthetic demo (a warehouse holding any demo row)."""
    db = tmp_path / "demo.duckdb"
    with Store(db) as store:
        row = {"date": [D(2024, 1, 2)], "ticker": ["SPY"], "source": ["demo"], "close": [470.0]}
        store.upsert("daily", pl.DataFrame(row))
    code, out = run("import", str(nport7(sec)), "--db", str(db))
    assert code == 5 and "synthetic" in out


def test_ncen_etf_table(shared_data: Path, tmp_path: Path) -> None:
    """AB Active ETFs N-CEN: 22 ETF series; units 12 x 50k, 6 x 25k, 2 x 10k, 1 x 15k, 1 x 20k."""
    from etfflow import pipeline
    from etfflow.store import Store

    with Store(tmp_path / "w.duckdb") as store:
        pipeline.import_paths(store, [shared_data / "sec" / "ncen" / "0001410368-26-010918.txt"])
        etf = store.read("ncen_etf")
        aps = store.read("authorized_participants")
    assert etf.height == 22
    assert sorted(etf["creation_unit_shares"].to_list()) == sorted(
        [50_000] * 12 + [25_000] * 6 + [10_000] * 2 + [15_000, 20_000]
    )
    assert aps.height == 484 and aps["filed_on"].null_count() == 0
