"""Reporting lags with several sources, derived (total net assets / NAV) counts and ranged refreshes:
the streamed import, the whole-file path and a full recompute give the same flows.

Panels here are SYNTHETIC, hand-made to hit one rule each (cases a differential fuzzer found).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from etfflow import refresh
from etfflow.errors import DataQualityError
from etfflow.flows.flags import Flag
from etfflow.pipeline import import_paths, refresh_flows, write_batch
from etfflow.sources.generic import read_generic_csv, read_generic_parquet
from etfflow.store import Store

STAMP = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
D = dt.date
COLS = ("date", "ticker", "flow_usd", "shares_change", "nav_used", "method", "flags", "available_on")


def tables(db: Path) -> dict[str, pl.DataFrame]:
    with Store(db, read_only=True) as s:
        return {"daily": s.read("daily").drop("retrieved_at"), "flows_daily": s.read("flows_daily")}


def whole(paths: list[Path], db: Path, so_lag: int) -> dict[str, pl.DataFrame]:
    """The whole-file path: each file's generic batch written by write_batch, in turn."""
    with Store(db) as s:
        for p in paths:
            read = read_generic_parquet if p.suffix == ".parquet" else read_generic_csv
            write_batch(s, read(p, retrieved_at=STAMP, so_lag=so_lag))
    return tables(db)


def streamed(paths: list[Path], db: Path, so_lag: int) -> dict[str, pl.DataFrame]:
    """The streamed import of each file in turn (ranged refresh of the funds a later file extends)."""
    with Store(db) as s:
        for p in paths:
            import_paths(s, [p], retrieved_at=STAMP, so_lag=so_lag)
    return tables(db)


def recomputed(db: Path) -> pl.DataFrame:
    """flows_daily recomputed in full from `daily` (general path), in a copy of the store."""
    with Store(db) as s:
        refresh_flows(s)
        return s.read("flows_daily")


def rows(flows: pl.DataFrame) -> list[tuple[object, ...]]:
    return flows.sort("ticker", "date").select(COLS).rows()


def check_same(paths: list[Path], tmp: Path, so_lag: int) -> list[tuple[object, ...]]:
    """Both import paths and a full recompute agree; the flows as rows."""
    w = whole(paths, tmp / "whole.duckdb", so_lag)
    s = streamed(paths, tmp / "streamed.duckdb", so_lag)
    assert w["daily"].equals(s["daily"])
    assert rows(w["flows_daily"]) == rows(s["flows_daily"])
    assert rows(recomputed(tmp / "streamed.duckdb")) == rows(s["flows_daily"])
    return rows(s["flows_daily"])


@pytest.mark.parametrize("so_lag", [0, 1])
def test_derived_counts_keep_their_lag_next_to_a_two_source_fund(tmp_path: Path, so_lag: int) -> None:
    # r4: BBB has total net assets only; AAA (in the same write) has two sources. merge_sources gave
    # BBB no count source, so no so_lag: LAG_UNKNOWN on the whole-file path and, with a lag, flows
    # dated a session late
    early = tmp_path / "early.csv"
    early.write_text("Date,Ticker,NAV,Total Net Assets\n2024-01-02,AAA,10,1000\n")
    later = tmp_path / "later.parquet"
    pl.DataFrame(
        {
            "Date": [D(2024, 1, 2), D(2024, 1, 2), D(2024, 1, 3)],
            "Ticker": ["AAA", "BBB", "BBB"],
            "NAV": [10.0, 20.0, 20.0],
            "Total Net Assets": [1000.0, 2000.0, 2200.0],
        }
    ).write_parquet(later)
    got = check_same([early, later], tmp_path, so_lag)
    first, no_price = int(Flag.FIRST), int(Flag.FIRST | Flag.NO_PRICE)
    if so_lag == 0:
        assert got == [
            (D(2024, 1, 2), "AAA", None, None, 10.0, "aum", first, D(2024, 1, 2)),
            (D(2024, 1, 2), "BBB", None, None, 20.0, "aum", first, D(2024, 1, 2)),
            (D(2024, 1, 3), "BBB", 200.0, 10.0, 20.0, "aum", 0, D(2024, 1, 3)),
        ]
    else:  # stamped a session earlier; the first count's trade date (Dec 29) has no price row
        assert got == [
            (D(2023, 12, 29), "AAA", None, None, None, "aum", no_price, D(2024, 1, 2)),
            (D(2023, 12, 29), "BBB", None, None, None, "aum", no_price, D(2024, 1, 2)),
            (D(2024, 1, 2), "BBB", 200.0, 10.0, 20.0, "aum", 0, D(2024, 1, 3)),
        ]


SPLIT_ROWS = ((2, 10.0, 100000.0), (3, 10.0, 100000.0), (4, 10.0, 200000.0), (5, 10.0, 200000.0))
NEW_ROW = (8, 5.0, 200000.0)


def test_ranged_refresh_sees_a_split_the_new_rows_confirm_with_a_lag(tmp_path: Path) -> None:
    # r10: so_lag 1; shares double on Jan 4 (stated), NAV halves only on Jan 8, a new row: the kernel
    # confirms the split up to lag + 1 rows later, before keep_from (Jan 5) of the ranged refresh
    head = "Date,Ticker,NAV,Shares\n"
    earlier = tmp_path / "earlier.csv"
    earlier.write_text(head + "".join(f"2024-01-0{d},AAA,{n},{so}\n" for d, n, so in SPLIT_ROWS))
    later = tmp_path / "later.csv"
    later.write_text(head + "2024-01-0{},AAA,{},{}\n".format(*NEW_ROW))
    got = check_same([earlier, later], tmp_path, 1)
    # the jump is a split, never a flow, and the earlier NAVs are restated in the new units
    assert got == [
        (D(2023, 12, 29), "AAA", None, None, None, "shares", int(Flag.FIRST | Flag.NO_PRICE), D(2024, 1, 2)),
        (D(2024, 1, 2), "AAA", 0.0, 0.0, 5.0, "shares", 0, D(2024, 1, 3)),
        (D(2024, 1, 3), "AAA", 0.0, 0.0, 5.0, "shares", int(Flag.SPLIT), D(2024, 1, 4)),
        (D(2024, 1, 4), "AAA", 0.0, 0.0, 5.0, "shares", 0, D(2024, 1, 5)),
        (D(2024, 1, 5), "AAA", 0.0, 0.0, 5.0, "shares", 0, D(2024, 1, 8)),
    ]


def test_ranged_refresh_on_the_general_path_sees_a_lagged_split(tmp_path: Path) -> None:
    # r10 on the general path (`refresh._flows_group`): estimated counts keep a fund off the bulk path
    def daily(rows: tuple[tuple[int, float, float], ...]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "date": [D(2024, 1, d) for d, _, _ in rows],
                "ticker": "AAA",
                "source": "issuer",
                "nav": [n for _, n, _ in rows],
                "shares_outstanding": [so for _, _, so in rows],
                "estimated": True,
                "so_lag": 1,
                "retrieved_at": STAMP,
            },
            schema_overrides={"so_lag": pl.Int8},
        )

    with Store(tmp_path / "g.duckdb") as s:
        s.upsert("daily", daily(SPLIT_ROWS))
        refresh_flows(s)
        s.upsert("daily", daily((NEW_ROW,)))
        s.connection.execute("CREATE TEMP TABLE _t AS SELECT 'AAA' AS ticker, DATE '2024-01-08' AS lo")
        with s.transaction():
            refresh.refresh_flows_from(s, "_t")
        ranged = s.read("flows_daily")
        refresh_flows(s)
        full = s.read("flows_daily")
    assert rows(ranged) == rows(full)
    est = int(Flag.ESTIMATED)
    assert [r[6] for r in rows(ranged)] == [
        int(Flag.FIRST | Flag.NO_PRICE) | est,
        est,
        int(Flag.SPLIT) | est,
        est,
        est,
    ]
    assert [r[2] for r in rows(ranged)] == [None, 0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("so_lag", [0, 1])
def test_ranged_refresh_without_a_split_stays_ranged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, so_lag: int
) -> None:
    # an ordinary append (no split in the recomputed range or its context) is not recomputed in full
    head = "Date,Ticker,NAV,Shares\n"
    earlier = tmp_path / "earlier.csv"
    earlier.write_text(head + "".join(f"2024-01-0{d},AAA,10,{100000 + d}\n" for d in (2, 3, 4, 5)))
    later = tmp_path / "later.csv"
    later.write_text(f"{head}2024-01-08,AAA,10,100010\n")
    marked: list[list[str]] = []
    real = refresh._mark_full
    monkeypatch.setattr(refresh, "_mark_full", lambda s, t, a: (marked.append(t), real(s, t, a)))
    got = check_same([earlier, later], tmp_path, so_lag)
    assert marked == []
    trade = D(2024, 1, 5) if so_lag else D(2024, 1, 8)
    assert got[-1] == (trade, "AAA", 50.0, 5.0, 10.0, "shares", 0, D(2024, 1, 8))


def test_derived_count_of_another_source_is_not_the_funds_count(tmp_path: Path) -> None:
    # r13: so_lag 1; a CSV with NAV and AUM (no shares) on Jan 2, then a Parquet file with shares on
    # Jan 3. The fund's counts come from its shares source only: the CSV's AUM / NAV is not a count of
    # it (it was one with lag 0, whose trade date Jan 2 collided with the Parquet count's: an internal
    # duplicate-key error). The CSV's NAV still prices the Parquet count's trade date.
    earlier = tmp_path / "earlier.csv"
    earlier.write_text("Date,Ticker,NAV,AUM\n2024-01-02,AAA,10,1000\n")
    later = tmp_path / "later.parquet"
    pl.DataFrame(
        {"Date": [D(2024, 1, 3)], "Ticker": ["AAA"], "NAV": [10.0], "Shares": [100.0]}
    ).write_parquet(later)
    got = check_same([earlier, later], tmp_path, 1)
    assert got == [(D(2024, 1, 2), "AAA", None, None, 10.0, "shares", int(Flag.FIRST), D(2024, 1, 3))]


def test_a_lag_change_that_gives_two_counts_one_trade_date_is_refused(tmp_path: Path) -> None:
    # one source, lag 0 then 2: the counts stated on Jan 2 and Jan 4 both belong to Jan 2. The whole
    # file path failed on flows_daily's key (no fund, no dates); the streamed one stored both rows
    head = "Date,Ticker,NAV,Shares\n"
    a = tmp_path / "a.csv"
    a.write_text(head + "2024-01-02,AAA,10,100\n2024-01-03,AAA,10,110\n")
    b = tmp_path / "b.csv"
    b.write_text(head + "2024-01-04,AAA,10,120\n")
    msg = "AAA: the shares counts stated for 2024-01-02 .so_lag 0. and 2024-01-04 .so_lag 2. both belong"
    with Store(tmp_path / "w.duckdb") as s:
        write_batch(s, read_generic_csv(a, retrieved_at=STAMP, so_lag=0))
        with pytest.raises(DataQualityError, match=msg):
            write_batch(s, read_generic_csv(b, retrieved_at=STAMP, so_lag=2))
    with Store(tmp_path / "s.duckdb") as s:
        import_paths(s, [a], retrieved_at=STAMP, so_lag=0)
        with pytest.raises(DataQualityError, match=msg) as err:
            import_paths(s, [b], retrieved_at=STAMP, so_lag=2)
    assert str(err.value).startswith(f"file {b}: AAA: ")  # the import names the file it refuses
    for db in ("w.duckdb", "s.duckdb"):  # nothing of the refused file was written
        t = tables(tmp_path / db)
        assert t["daily"].height == 2
        assert t["flows_daily"].select("date", "flow_usd", "flags").rows() == [
            (D(2024, 1, 2), None, int(Flag.FIRST)),
            (D(2024, 1, 3), 100.0, 0),
        ]
