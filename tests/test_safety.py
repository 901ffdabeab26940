"""Safe outputs and input checks: CSV cells, atomic writes, JSON, clipped quotes, no traceback, no markup."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow import checks, safety
from etfflow.cli import app
from etfflow.errors import ConfigError, ParseError, ValidationError, quote
from etfflow.sources.issuer_download import IssuerFile, cache_name, download_issuer_file

runner = CliRunner()

# --- CSV cells that no spreadsheet evaluates ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1:A9)", "'+SUM(A1:A9)"),
        ("-2+3", "'-2+3"),
        ("@HYPERLINK(x)", "'@HYPERLINK(x)"),
        ("\t=1", "'\t=1"),
        ("-12.5", "-12.5"),  # a number written as text stays a number
        ("+3", "+3"),
        ("IVV", "IVV"),
        ("a=b", "a=b"),
        (-12.5, -12.5),
        (None, None),
    ],
)
def test_csv_safe(value: object, expected: object) -> None:
    assert safety.csv_safe(value) == expected


def test_write_csv_safe_round_trips_and_neutralises(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "=ticker": ["=1+1", "IVV", "@x"],
            "flow": [-1.5, math.inf, 2.0],
            "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3), None],
        }
    )
    path = safety.write_csv_safe(frame, tmp_path / "out" / "f.csv")
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows == [
        ["'=ticker", "flow", "date"],
        ["'=1+1", "-1.5", "2024-01-02"],
        ["IVV", "", "2024-01-03"],
        ["'@x", "2.0", ""],
    ]


# --- atomic writes --------------------------------------------------------------------------------


def test_atomic_write_keeps_the_old_file_when_the_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "report.md"
    safety.atomic_write_text(target, "old report\n")

    def broken(_src: object, _dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(safety.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        safety.atomic_write_text(target, "new, half written")
    assert target.read_text(encoding="utf-8") == "old report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.md"]  # no temporary file left


# --- JSON and quotes ------------------------------------------------------------------------------


def test_json_safe_turns_non_finite_numbers_into_null() -> None:
    doc = {"a": [1.0, math.inf, -math.inf, math.nan], "b": {"c": math.nan}, "d": dt.date(2024, 1, 2)}
    assert json.loads(safety.dumps_json(doc)) == {
        "a": [1.0, None, None, None],
        "b": {"c": None},
        "d": "2024-01-02",
    }


def test_error_messages_quote_at_most_80_characters_of_a_cell() -> None:
    cell = "A" * 1_000_000
    err = ParseError(f"not a number: {cell!r}", file="f.csv", row=7, field="nav")
    text = str(err)
    assert len(text) < 200
    assert text.startswith("file f.csv, row 7, field 'nav': not a number: 'AAAA")
    assert "1,000,000 characters" in text
    assert quote("x" * 81).endswith("... (81 characters)")
    assert quote("short") == "'short'"
    # apostrophes inside ordinary text are left alone
    msg = str(ParseError("the workbook doesn't state its ticker; pass ticker='IVV'", file="a.xls"))
    assert msg == "file a.xls: the workbook doesn't state its ticker; pass ticker='IVV'"


# --- identifiers and numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("ticker", ["IVV", "BRK/B", "512880.SH", "BF-B", "SPY^", "A", "X" * 20])
def test_valid_tickers(ticker: str) -> None:
    assert checks.is_ticker(ticker)


@pytest.mark.parametrize(
    "ticker", ["=1+1", "X'); DROP TABLE daily;--", "<script>", "[/bold]", "", ".X", "X" * 21, "A B"]
)
def test_hostile_tickers(ticker: str) -> None:
    assert not checks.is_ticker(ticker) and not checks.is_ticker(ticker.lower())
    with pytest.raises(ValidationError, match="not a ticker"):
        checks.check_ticker(ticker, file="f.csv", row=3)


def test_check_frame_refuses_non_finite_and_implausible_values() -> None:
    base = pl.DataFrame(
        {
            "_row": [0, 1, 2],
            "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)],
            "ticker": ["IVV", "IVV", "IVV"],
            "nav": [400.0, 401.0, 402.0],
        }
    )
    checks.check_frame(base, "daily", file="f.csv", locate=lambda i: i + 2)  # fine as it is
    for bad, what in ((math.inf, "inf"), (math.nan, "nan"), (1e308, "1e+308"), (9e8, "900000000.0")):
        frame = base.with_columns(pl.Series("nav", [400.0, bad, 402.0]))
        with pytest.raises(ValidationError) as info:
            checks.check_frame(frame, "daily", file="f.csv", locate=lambda i: i + 2)
        assert (info.value.file, info.value.row, info.value.field) == ("f.csv", 3, "nav")
        assert what in str(info.value)
    series = pl.DataFrame({"series_id": ["S000004310", "S12"], "month_end": [dt.date(2024, 1, 31)] * 2})
    with pytest.raises(ValidationError, match="malformed series id 'S12'"):
        checks.check_frame(series, "nport_monthly", file="x.xml")
    names = pl.DataFrame({"ticker": ["IVV"], "name": ["iShares\x1b[31m Core"]})
    with pytest.raises(ValidationError, match="not a name"):
        checks.check_frame(names, "funds")
    checks.check_frame(pl.DataFrame({"ticker": ["IVV"], "name": ["[/bold] <script> =1+1"]}), "funds")


def test_refuse_dtd() -> None:
    checks.refuse_dtd(b'<?xml version="1.0"?><edgarSubmission/>')
    with pytest.raises(ParseError, match="DOCTYPE declaration \\(line 2\\)"):
        checks.refuse_dtd(b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "b">]><x/>', file="f.xml")


# --- the issuer-download cache cannot be escaped ---------------------------------------------------


class _NoNetwork:
    def get_bytes(self, url: str, *, use_cache: bool = True) -> bytes:
        raise AssertionError(f"no request may be made for a bad ticker ({url})")


@pytest.mark.parametrize("ticker", ["../../etc/passwd", "..", "/abs", "X\x00Y", "A\\..\\X"])
def test_issuer_cache_names_cannot_leave_the_folder(tmp_path: Path, ticker: str) -> None:
    with pytest.raises(ConfigError, match="not a ticker"):
        cache_name(ticker)
    spec = IssuerFile(ticker, "ishares_workbook", "https://example.invalid/x")
    with pytest.raises(ConfigError):
        download_issuer_file(_NoNetwork(), spec, tmp_path)  # type: ignore[arg-type]
    assert list(tmp_path.rglob("*")) == []


def test_issuer_cache_name_of_share_classes() -> None:
    assert cache_name("brk/b") == "BRK_B"
    assert cache_name("A/../../x") == "A_.._.._X"  # a valid ticker, and no path separator left
    assert cache_name("512880.SH") == "512880.SH"


def test_update_refuses_hostile_tickers_before_any_request(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    res = runner.invoke(app, ["update", "X'); DROP TABLE daily;--", "--source", "issuer", "--db", str(db)])
    assert res.exit_code == 5, res.output
    assert "not a ticker" in res.output and "Traceback" not in res.output


def test_issuer_url_file_refuses_path_like_tickers(tmp_path: Path) -> None:
    from etfflow.sources.issuer_download import issuer_files

    config = tmp_path / "urls.csv"
    config.write_text(
        "ticker,format,url\n../../x,ishares_workbook,https://example.invalid/a\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="row 2: not a ticker"):
        issuer_files(config)


# --- the CLI never shows a traceback and never reads data as markup ----------------------------------


def test_unexpected_error_is_a_short_message_with_a_debug_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import etfflow.pipeline as pipeline

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("kaboom " + "x" * 500)

    monkeypatch.setattr(pipeline, "import_paths", boom)
    monkeypatch.delenv("ETFFLOW_DEBUG", raising=False)
    f = tmp_path / "a.csv"
    f.write_text("Date,Ticker,NAV\n2024-01-02,IVV,1\n", encoding="utf-8")
    res = runner.invoke(app, ["import", str(f), "--db", str(tmp_path / "w.duckdb")])
    assert res.exit_code == 1
    assert "unexpected RuntimeError" in res.output and "--debug" in res.output
    assert "Traceback" not in res.output and len(res.output) < 500
    res = runner.invoke(app, ["--debug", "import", str(f), "--db", str(tmp_path / "w.duckdb")])
    assert res.exit_code == 1 and "Traceback (most recent call last)" in res.output
    monkeypatch.setenv("ETFFLOW_DEBUG", "1")
    res = runner.invoke(app, ["import", str(f), "--db", str(tmp_path / "w.duckdb")])
    assert res.exit_code == 1 and "Traceback (most recent call last)" in res.output


def test_an_error_while_printing_after_a_commit_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import etfflow.cli.core as core

    def broken(*_a: object, **_k: object) -> None:
        raise KeyError("render")

    monkeypatch.setattr(core, "print_import", broken)
    f = tmp_path / "a.csv"
    f.write_text("Date,Ticker,NAV\n2024-01-02,IVV,1\n", encoding="utf-8")
    res = runner.invoke(app, ["import", str(f), "--db", str(tmp_path / "w.duckdb")])
    assert res.exit_code == 1 and "unexpected KeyError" in res.output
    assert isinstance(res.exception, SystemExit)


def _warehouse_with_hostile_name(tmp_path: Path) -> Path:
    from etfflow.store import Store

    f = tmp_path / "panel.csv"
    days = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09"]
    rows = [f"{d},IVV,{400 + i},{1_000_000 + 50_000 * i}" for i, d in enumerate(days)]
    f.write_text("Date,Ticker,NAV,Shares Outstanding\n" + "\n".join(rows) + "\n", encoding="utf-8")
    db = tmp_path / "w.duckdb"
    res = runner.invoke(app, ["import", str(f), "--db", str(db)])
    assert res.exit_code == 0, res.output
    with Store(db) as store:
        store.upsert("funds", pl.DataFrame({"ticker": ["IVV"], "name": [HOSTILE]}))
    return db


HOSTILE = "[/bold][red]=1+1 <script>alert(1)</script>"


def test_hostile_names_print_literally_everywhere(tmp_path: Path) -> None:
    db = _warehouse_with_hostile_name(tmp_path)
    res = runner.invoke(app, ["top", "--window", "5", "--db", str(db)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert HOSTILE in res.output
    res = runner.invoke(app, ["top", "--window", "5", "--db", str(db), "--json"])
    assert res.exit_code == 0
    assert HOSTILE in {r["name"] for r in json.loads(res.output)["inflows"]}
    out = tmp_path / "r.html"
    res = runner.invoke(app, ["report", "--format", "html", "--out", str(out), "--db", str(db)])
    assert res.exit_code == 0, res.output
    html = out.read_text(encoding="utf-8")
    assert "<script>alert" not in html  # the name is either escaped or not shown
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".r.html")) == []


def test_json_output_never_fails_on_stored_inf(tmp_path: Path) -> None:
    from etfflow.store import Store

    db = _warehouse_with_hostile_name(tmp_path)
    with Store(db) as store:  # a value stored before these checks existed
        store.query("UPDATE flows_daily SET flow_usd = 'inf'::DOUBLE, flow_pct_aum = 'nan'::DOUBLE")
    res = runner.invoke(app, ["flows", "IVV", "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)["rows"]
    assert rows and all(r["flow_usd"] is None for r in rows)
    assert os.path.exists(db)
