"""Warehouse: idempotent and atomic upserts, clear errors, path resolution."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from etfflow.errors import StoreError, ValidationError
from etfflow.store import Store, resolve_db_path

T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def rows(nav: list[float], retrieved: dt.datetime = T0) -> pl.DataFrame:
    n = len(nav)
    return pl.DataFrame(
        {
            "date": [dt.date(2024, 1, 2 + i) for i in range(n)],
            "ticker": ["A"] * n,
            "source": ["csv"] * n,
            "nav": nav,
            "shares_outstanding": [100.0] * n,
            "retrieved_at": [retrieved] * n,
        }
    )


def test_upsert_is_idempotent(tmp_db: Path) -> None:
    with Store(tmp_db) as s:
        assert s.upsert("daily", rows([1.0, 2.0])).added == 2
        before = s.snapshot()
        # the same values read later: nothing changes, not even retrieved_at
        r = s.upsert("daily", rows([1.0, 2.0], T0 + dt.timedelta(days=3)))
        assert (r.added, r.changed, r.unchanged) == (0, 0, 2)
        after = s.snapshot()
    for name, frame in before.items():
        assert frame.equals(after[name]), name


def test_upsert_updates_changed_rows_only(tmp_db: Path) -> None:
    with Store(tmp_db) as s:
        s.upsert("daily", rows([1.0, 2.0]))
        r = s.upsert("daily", rows([1.0, 3.0], T0 + dt.timedelta(days=1)))
        assert (r.added, r.changed, r.unchanged) == (0, 1, 1)
        got = s.read("daily")
    assert got["nav"].to_list() == [1.0, 3.0]
    assert got["retrieved_at"].to_list() == [T0, T0 + dt.timedelta(days=1)]


def test_failure_mid_transaction_keeps_last_good_state(tmp_db: Path) -> None:
    with Store(tmp_db) as s:
        s.upsert("daily", rows([1.0, 2.0]))
        before = s.snapshot()
        with pytest.raises(RuntimeError), s.transaction():
            s.upsert("daily", rows([5.0, 6.0, 7.0]))
            raise RuntimeError("crash half-way")
        after = s.snapshot()
    for name, frame in before.items():
        assert frame.equals(after[name]), name


def test_bad_rows_name_the_row_and_write_nothing(tmp_db: Path) -> None:
    with Store(tmp_db) as s:
        s.upsert("daily", rows([1.0]))
        with pytest.raises(ValidationError, match=r"file f\.csv, row 2, field 'nav': negative value -2\.0"):
            s.upsert("daily", rows([1.0, -2.0]), file="f.csv")
        assert s.read("daily")["nav"].to_list() == [1.0]


def test_duplicate_keys_are_rejected(tmp_db: Path) -> None:
    dup = pl.concat([rows([1.0]), rows([2.0])])
    with Store(tmp_db) as s, pytest.raises(ValidationError, match="duplicate key"):
        s.upsert("daily", dup)


def test_committed_data_survives_reopen(tmp_db: Path) -> None:
    with Store(tmp_db) as s:
        s.upsert("daily", rows([1.0, 2.0]))
    with Store(tmp_db, read_only=True) as s:
        assert s.read("daily").height == 2


def test_read_only_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no warehouse at"):
        Store(tmp_path / "nope.duckdb", read_only=True)


def test_db_path_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ETFFLOW_DB", raising=False)
    assert resolve_db_path() == Path("~/.etfflow/etfflow.duckdb").expanduser()
    monkeypatch.setenv("ETFFLOW_DB", str(tmp_path / "env.duckdb"))
    assert resolve_db_path() == tmp_path / "env.duckdb"
    assert resolve_db_path(tmp_path / "arg.duckdb") == tmp_path / "arg.duckdb"


def test_old_warehouse_gains_new_columns(tmp_db: Path) -> None:
    import duckdb

    con = duckdb.connect(str(tmp_db))
    con.execute(
        "CREATE TABLE daily (date DATE, ticker VARCHAR, source VARCHAR, nav DOUBLE, "
        "PRIMARY KEY (date, ticker, source))"
    )
    con.execute("INSERT INTO daily VALUES ('2024-01-02', 'A', 'csv', 1.5)")
    con.close()
    with Store(tmp_db) as s:
        got = s.read("daily")
        assert got["nav"].to_list() == [1.5] and got["open"].to_list() == [None]
        assert s.upsert("daily", rows([1.5])).changed == 1  # the new columns now hold values


def test_query_parameters_are_bound_as_escaped_literals(tmp_db: Path) -> None:
    with Store(tmp_db) as s:
        s.upsert("daily", rows([1.0, 2.0]))
        got = s.query(
            "SELECT count(*) AS n FROM daily WHERE ticker IN (SELECT unnest(?)) AND date >= ? AND source = ?",
            [["A", "it's"], dt.date(2024, 1, 3), "csv"],
        )
        assert got["n"][0] == 1
        # a quote in a value cannot end the literal
        assert s.query("SELECT ? AS v", ["x' OR '1'='1"])["v"][0] == "x' OR '1'='1"
        with pytest.raises(StoreError, match="placeholders"):
            s.query("SELECT ? AS v", [1, 2])
