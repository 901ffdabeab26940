"""A newer file never erases a stored value: a blank or NaN keeps what is stored, and it is counted."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.pipeline import import_paths
from etfflow.store import Store

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
IVV_SO = 195_250_000.0
IVV_NAV = 394.28


def _ivv(nav: float | None, so: float | None, close: float | None, t: dt.datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": [dt.date(2023, 1, 3)],
            "ticker": ["IVV"],
            "source": ["ishares_workbook"],
            "nav": [nav],
            "shares_outstanding": [so],
            "close": [close],
            "retrieved_at": [t],
        },
        schema_overrides={"nav": pl.Float64, "shares_outstanding": pl.Float64, "close": pl.Float64},
    )


def test_upsert_keeps_stored_values_a_newer_row_lacks(tmp_db: Path) -> None:
    with Store(tmp_db) as s:
        s.upsert("daily", _ivv(IVV_NAV, IVV_SO, None, T0))
        # a later, truncated file: NaN NAV, no shares count, but a close the store did not have
        later = T0 + dt.timedelta(days=5)
        r = s.upsert("daily", _ivv(float("nan"), None, 395.1, later))
        got = s.read("daily").row(0, named=True)
    assert (r.added, r.changed, r.unchanged, r.kept) == (0, 1, 0, 2)
    assert got["nav"] == IVV_NAV and got["shares_outstanding"] == IVV_SO
    assert got["close"] == 395.1 and got["retrieved_at"] == later


def test_all_missing_row_is_unchanged_and_keeps_retrieved_at(tmp_db: Path) -> None:
    with Store(tmp_db) as s:
        s.upsert("daily", _ivv(IVV_NAV, IVV_SO, None, T0))
        before = s.snapshot()
        r = s.upsert("daily", _ivv(None, None, None, T0 + dt.timedelta(days=9)))
        after = s.snapshot()
    assert (r.added, r.changed, r.unchanged, r.kept) == (0, 0, 1, 2)
    for name, frame in before.items():
        assert frame.equals(after[name]), name


def _csv(path: Path, nav: str, so: str) -> Path:
    path.write_text(
        f"Date,Ticker,NAV,Shares Outstanding\n2023-01-03,IVV,394.00,195000000\n2023-01-04,IVV,{nav},{so}\n"
    )
    return path


def test_import_of_blank_and_nan_file_keeps_ivv_values(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    good = _csv(tmp_path / "good.csv", "394.28", "195250000")
    bad = _csv(tmp_path / "later.csv", "NaN", "")
    with Store(db) as s:
        import_paths(s, [good])
        flows_before = s.read("flows_daily")
    res = CliRunner().invoke(app, ["import", str(bad), "--db", str(db), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)[0]
    assert summary["kept"] == 2 and summary["changed"] == 0 and summary["unchanged"] == 2
    assert any("2 stored value(s) kept" in n for n in summary["notes"])
    with Store(db) as s:
        row = s.read("daily").filter(pl.col("date") == dt.date(2023, 1, 4)).row(0, named=True)
        assert s.read("flows_daily").equals(flows_before)
    assert (row["nav"], row["shares_outstanding"]) == (IVV_NAV, IVV_SO)
    # the flow that the kept values give: (195,250,000 - 195,000,000) x 394.28
    assert flows_before.filter(pl.col("date") == dt.date(2023, 1, 4))["flow_usd"].item() == 250_000 * IVV_NAV


@pytest.fixture(params=["update", "rewrite"])
def rewrite_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Changed rows updated in place, or (past `store.REWRITE_ROWS`) deleted and written again."""
    from etfflow import store as store_module  # the module, not the class imported above

    if request.param == "rewrite":
        monkeypatch.setattr(store_module, "REWRITE_ROWS", 0)
    return str(request.param)


def test_both_ways_of_writing_changed_rows_give_the_same_table(tmp_path: Path, rewrite_mode: str) -> None:
    """The same upserts, written by UPDATE or by delete-and-insert: the same rows, counts and kept
    values (a NULL in the newer rows keeps the stored value either way)."""
    first = pl.DataFrame(
        {
            "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)],
            "ticker": ["IVV"] * 3,
            "source": ["csv"] * 3,
            "nav": [400.0, 401.0, 402.0],
            "shares_outstanding": [1e6, 1.1e6, 1.2e6],
        }
    )
    later = pl.DataFrame(
        {
            "date": [dt.date(2024, 1, 3), dt.date(2024, 1, 4), dt.date(2024, 1, 5)],
            "ticker": ["IVV"] * 3,
            "source": ["csv"] * 3,
            "nav": [None, 402.5, 403.0],
            "shares_outstanding": [1.15e6, None, 1.3e6],
        },
        schema_overrides={"nav": pl.Float64, "shares_outstanding": pl.Float64},
    )
    with Store(tmp_path / f"{rewrite_mode}.duckdb") as s:
        s.upsert("daily", first)
        res = s.upsert("daily", later)
        rows = s.read("daily").sort("date").select("date", "nav", "shares_outstanding").rows()
    assert (res.added, res.changed, res.unchanged, res.kept) == (1, 2, 0, 2)
    assert rows == [
        (dt.date(2024, 1, 2), 400.0, 1e6),
        (dt.date(2024, 1, 3), 401.0, 1.15e6),
        (dt.date(2024, 1, 4), 402.5, 1.2e6),
        (dt.date(2024, 1, 5), 403.0, 1.3e6),
    ]
