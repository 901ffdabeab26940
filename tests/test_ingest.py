"""Streaming panel import: same rows, flows and messages as the whole-file path; ranged flow refresh.

Panels here are SYNTHETIC (hand-made share counts and NAVs), built to hit the flow rules at chunk and
import boundaries: a 2-for-1 split, a one-day bad print, gaps, a missing NAV.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from etfflow import calendar, ingest, refresh
from etfflow.errors import ConfigError, EtfflowError
from etfflow.pipeline import import_paths, refresh_flows, write_batch
from etfflow.sources.generic import read_generic_csv, read_generic_parquet
from etfflow.store import Store

STAMP = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
SESS = calendar.sessions("2023-01-03", "2023-12-29")[:120]


def panel(days: int = 120) -> pl.DataFrame:
    """Three funds; AAA splits 2-for-1 on day 80, BBB has a bad print on day 49, CCC has gaps."""
    rows = []
    for i, d in enumerate(SESS[:days]):
        day = dt.date.fromisoformat(str(d))
        a_so = 1_000_000.0 + 50_000 * (i % 7) + 10_000 * i
        a_nav = 100.0 + 0.1 * i
        if i >= 80:
            a_so, a_nav = a_so * 2, a_nav / 2
        b_so = 500_000.0 + 25_000 * (i // 3)
        if i == 49:
            b_so *= 3  # bad print: reverts the next day
        rows.append((day, "AAA", a_nav, a_so))
        rows.append((day, "BBB", 20.0 + 0.01 * i, b_so))
        if i % 11 not in (3, 4):
            rows.append((day, "CCC", None if i == 30 else 55.5, 2_000_000.0 + 100_000 * (i % 5)))
    return pl.DataFrame(
        rows,
        schema={"Date": pl.Date, "Ticker": pl.String, "NAV": pl.Float64, "Shares": pl.Float64},
        orient="row",
    )


def write_csv(frame: pl.DataFrame, path: Path) -> Path:
    frame.with_columns(pl.col("Date").cast(pl.String)).write_csv(path)
    return path


def tables(db: Path) -> dict[str, pl.DataFrame]:
    with Store(db, read_only=True) as s:
        return {
            "daily": s.read("daily").drop("retrieved_at"),
            "flows_daily": s.read("flows_daily"),
        }


def assert_same(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    for name, frame in a.items():
        assert frame.equals(b[name]), name


def batch_reference(path: Path, db: Path) -> dict[str, pl.DataFrame]:
    """The whole-file path: the generic reader's batch written by write_batch."""
    read = read_generic_parquet if path.suffix == ".parquet" else read_generic_csv
    with Store(db) as s:
        write_batch(s, read(path, retrieved_at=STAMP))
    return tables(db)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_streamed_import_equals_whole_file_import(
    tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = panel()
    path = tmp_path / f"p{suffix}"
    if suffix == ".csv":
        write_csv(frame, path)
        monkeypatch.setattr(ingest, "_CSV_BLOCK", 1000)  # about 25 lines per chunk
    else:
        frame.write_parquet(path, row_group_size=50)
        monkeypatch.setattr(ingest, "CHUNK_ROWS", 37)
    with Store(tmp_path / "s.duckdb") as s:
        (res,) = import_paths(s, [path], retrieved_at=STAMP)
    assert res.rows == frame.height == res.added and not res.already_imported
    assert res.format == suffix[1:] and res.tickers == ["AAA", "BBB", "CCC"]
    got = tables(tmp_path / "s.duckdb")
    assert_same(got, batch_reference(path, tmp_path / "b.duckdb"))
    flows = got["flows_daily"]
    # by hand: BBB's shares rise 25,000 on day 3, at that day's NAV of 20.03
    b = flows.filter(pl.col("ticker") == "BBB").sort("date")
    assert b["flow_usd"][3] == pytest.approx(25_000 * 20.03, rel=1e-12)
    assert b["flags"][49] & 16 and b["flags"][50] & 16 and not b["flags"][48] & 16  # bad print, reversal
    a = flows.filter(pl.col("ticker") == "AAA").sort("date")
    assert a["flags"][80] & 8  # the split


def test_ranged_refresh_equals_full_recompute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame = panel()
    monkeypatch.setattr(refresh, "FLOW_GROUP_ROWS", 100)  # several read groups
    first = write_csv(frame.filter(pl.col("Date") < SESS[60].astype(dt.date)), tmp_path / "a.csv")
    # the second file overlaps 10 days (one value changed), and adds the rest (with AAA's split)
    tail = frame.filter(pl.col("Date") >= SESS[50].astype(dt.date)).with_columns(
        pl.when((pl.col("Ticker") == "CCC") & (pl.col("Date") == SESS[55].astype(dt.date)))
        .then(pl.col("Shares") + 100_000)
        .otherwise(pl.col("Shares"))
        .alias("Shares")
    )
    second = write_csv(tail, tmp_path / "b.csv")
    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        import_paths(s, [first], retrieved_at=STAMP)
        (res,) = import_paths(s, [second], retrieved_at=STAMP)
        overlap = tail.filter(pl.col("Date") < SESS[60].astype(dt.date)).height  # 10 days, CCC has 8
        assert overlap == 28 and (res.added, res.changed, res.unchanged) == (tail.height - 28, 1, 27)
        ranged = s.read("flows_daily")
        refresh_flows(s)  # everything from scratch
        full = s.read("flows_daily")
        n = s.query("SELECT count(*) AS n, count(DISTINCT (date, ticker)) AS k FROM flows_daily")
    assert ranged.equals(full)
    assert n["n"][0] == n["k"][0] == full.height  # no key twice (the big tables have no index)


def test_appending_days_refreshes_only_the_tail(tmp_path: Path) -> None:
    frame = panel(100).filter(pl.col("Ticker") != "AAA")
    db = tmp_path / "s.duckdb"
    head = write_csv(frame.filter(pl.col("Date") < SESS[90].astype(dt.date)), tmp_path / "a.csv")
    tail = write_csv(frame.filter(pl.col("Date") >= SESS[90].astype(dt.date)), tmp_path / "b.csv")
    with Store(db) as s:
        import_paths(s, [head], retrieved_at=STAMP)
        s.connection.execute("UPDATE flows_daily SET method = 'marker'")  # rows not rewritten keep it
        import_paths(s, [tail], retrieved_at=STAMP)
        f = s.read("flows_daily")
    rewritten = f.filter(pl.col("method") != "marker").group_by("ticker").agg(pl.col("date").min(), pl.len())
    # BBB: 10 new days plus the previous session's flow (its bad-print flag depends on the new day)
    for t, n_new in (("BBB", 10), ("CCC", int((frame["Ticker"] == "CCC").sum()) - 0)):
        row = rewritten.filter(pl.col("ticker") == t)
        new = frame.filter((pl.col("Ticker") == t) & (pl.col("Date") >= SESS[90].astype(dt.date))).height
        assert row["len"][0] == new + 1, (t, n_new)


def test_reimport_is_recognised_and_changes_nothing(tmp_path: Path) -> None:
    path = write_csv(panel(40), tmp_path / "p.csv")
    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        import_paths(s, [path])
        before = s.snapshot()
        (again,) = import_paths(s, [path])
        after = s.snapshot()
        (lagged,) = import_paths(s, [path], so_lag=1)  # other options: read again
    assert again.already_imported and (again.added, again.changed) == (0, 0)
    assert again.unchanged == again.rows == panel(40).height
    for name, frame in before.items():
        assert frame.equals(after[name]), name
    assert not lagged.already_imported and lagged.changed == panel(40).height


def test_a_failure_half_way_leaves_the_last_good_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "s.duckdb"
    first = write_csv(panel(40), tmp_path / "a.csv")
    second = write_csv(panel(80).with_columns(pl.col("Shares") + 1), tmp_path / "b.csv")
    with Store(db) as s:
        import_paths(s, [first])
        before = s.snapshot()

        def crash(*_a: object, **_k: object) -> int:
            raise RuntimeError("killed while writing flows")

        monkeypatch.setattr(ingest, "refresh_flows_from", crash)
        with pytest.raises(RuntimeError):
            import_paths(s, [second])
        after = s.snapshot()
    for name, frame in before.items():
        assert frame.equals(after[name]), name


GOOD = "Date,Ticker,NAV,Shares\n2024-01-02,AAA,10,100\n2024-01-03,AAA,10.5,120\n"
BAD_CASES = {
    "bad_number": GOOD + "2024-01-04,AAA,x1,130\n",
    "bad_date": GOOD + "2024-13-04,AAA,10,130\n",
    "missing_date": GOOD + ",AAA,10,130\n",
    "bad_ticker": GOOD + "2024-01-04,A B,10,130\n",
    "negative": GOOD + "2024-01-04,AAA,10,-130\n",
    "conflict_far": GOOD
    + "".join(f"2024-02-{d:02d},AAA,10,1{d}\n" for d in range(5, 29))
    + "2024-01-03,AAA,9,120\n",
    "no_ticker": "Date,NAV\n2024-01-02,1\n",
    "huge_nav": GOOD + "2024-01-04,AAA,1e308,130\n",
    "hostile_ticker": GOOD + "2024-01-04,=1+1,10,130\n",
    "all_zero_shares": "Date,Ticker,NAV,Shares\n"
    + "".join(f"2024-01-{d:02d},AAA,10,0\n" for d in (2, 3, 4, 5, 8, 9)),
    "ambiguous": "Date,NAV,Net Asset Value,Ticker\n2024-01-02,1,1,A\n",
    "no_values": "Date,Ticker,Weight\n2024-01-02,AAA,1.5\n2024-01-03,AAA,1.6\n",
    # the whole-file reader's order: all-zero shares and repeats before rows on non-sessions are
    # dropped (the chunked reader dropped a Saturday's rows first; found by differential fuzzing)
    "saturday_conflict": GOOD + "2024-01-06,AAA,10,100\n2024-01-06,AAA,11,100\n",
    "zeros_with_a_saturday": "Date,Ticker,NAV,Shares\n"
    + "".join(f"2024-01-{d:02d},AAA,10,0\n" for d in (2, 3, 4, 5, 6)),
    "zeros_with_a_future_row": "Date,Ticker,NAV,Shares\n"
    + "".join(f"2024-01-{d:02d},AAA,10,0\n" for d in (2, 3, 4, 5))
    + "2099-01-05,AAA,10,0\n",
    "zeros_with_a_repeat": "Date,Ticker,NAV,Shares\n"
    + "".join(f"2024-01-{d:02d},AAA,10,0\n" for d in (2, 3, 4, 5, 5)),
    # classic Mac OS line endings: a raw csv.Error traceback in both readers (found by fuzzing)
    "bare_cr": GOOD.replace("\n", "\r"),
    # a chunk of US-style dates after ISO ones: each chunk used to pick its own format (found by
    # fuzzing); ISO dates are most of the file, so the whole-file reader names the first US date too
    "mixed_date_formats": GOOD
    + "".join(f"01/{d:02d}/2024,AAA,10,130\n" for d in (4, 5))
    + "".join(f"2024-01-{d:02d},AAA,10,130\n" for d in (8, 9, 10)),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_errors_are_the_whole_file_readers_and_write_nothing(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "_CSV_BLOCK", 64)  # repeats and errors fall in later chunks
    path = tmp_path / f"{case}.csv"
    path.write_text(BAD_CASES[case])
    with pytest.raises(EtfflowError) as whole:
        read_generic_csv(path)
    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        import_paths(s, [write_csv(panel(5), tmp_path / "ok.csv")])
        before = s.snapshot()
        with pytest.raises(EtfflowError) as streamed:
            import_paths(s, [path])
        after = s.snapshot()
    assert type(streamed.value) is type(whole.value)
    assert str(streamed.value) == str(whole.value)
    assert f"file {path}" in str(streamed.value)
    for name, frame in before.items():
        assert frame.equals(after[name]), name


def test_drops_are_counted_like_the_whole_file_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "_CSV_BLOCK", 64)
    text = (
        GOOD
        + ",,,\n"  # blank
        + "2024-01-06,AAA,11,140\n"  # a Saturday
        + "".join(f"2024-02-{d:02d},AAA,10,1{d}\n" for d in range(5, 9))
        + "2024-01-03,AAA,10.5,120\n"  # an identical repeat, chunks later
    )
    path = tmp_path / "p.csv"
    path.write_text(text)
    whole = read_generic_csv(path)
    with Store(tmp_path / "s.duckdb") as s:
        (res,) = import_paths(s, [path])
    assert res.dropped == whole.dropped == {"blank_rows": 1, "non_session_rows": 1, "duplicate_rows": 1}
    assert res.notes[:2] == whole.notes[:2]
    assert res.rows == whole.daily.height == 6


def test_kept_values_in_a_streamed_panel(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    good = tmp_path / "a.parquet"
    pl.DataFrame(
        {
            "date": [dt.date(2023, 1, 3)],
            "ticker": ["IVV"],
            "nav": [394.28],
            "shares_outstanding": [195_250_000.0],
        }
    ).write_parquet(good)
    later = tmp_path / "b.parquet"
    pl.DataFrame(
        {"date": [dt.date(2023, 1, 3)], "ticker": ["IVV"], "nav": [np.nan], "shares_outstanding": [None]},
        schema_overrides={"shares_outstanding": pl.Float64},
    ).write_parquet(later)
    with Store(db) as s:
        import_paths(s, [good])
        (res,) = import_paths(s, [later])
        row = s.read("daily").row(0, named=True)
    assert (res.kept, res.changed, res.unchanged) == (2, 0, 1)
    assert (row["nav"], row["shares_outstanding"]) == (394.28, 195_250_000.0)


def test_options_the_generic_reader_refuses_are_refused(tmp_path: Path) -> None:
    path = write_csv(panel(3), tmp_path / "p.csv")
    with Store(tmp_path / "s.duckdb") as s, pytest.raises(ConfigError, match="does not take option"):
        import_paths(s, [path], sheet="Sheet1")


@pytest.mark.parametrize(("column", "factor"), [("NAV", 1e-5), ("Shares", 1e-6)])
def test_values_far_from_the_stored_ones_are_refused_as_by_write_batch(
    tmp_path: Path, column: str, factor: float
) -> None:
    good = write_csv(panel(20), tmp_path / "a.csv")
    scaled = pl.when(pl.col("Ticker") == "BBB").then(pl.col(column) * factor).otherwise(pl.col(column))
    bad = write_csv(panel(20).with_columns(scaled.alias(column)), tmp_path / "b.csv")
    errors = []
    for how in ("streamed", "whole"):
        with Store(tmp_path / f"{how}.duckdb") as s:
            import_paths(s, [good], retrieved_at=STAMP)
            before = s.snapshot()
            with pytest.raises(EtfflowError) as err:
                if how == "streamed":
                    import_paths(s, [bad], retrieved_at=STAMP)
                else:
                    write_batch(s, read_generic_csv(bad, retrieved_at=STAMP))
            after = s.snapshot()
        errors.append(str(err.value))
        for name, frame in before.items():
            assert frame.equals(after[name]), name
    assert errors[0] == errors[1]
    assert "BBB: every one of the 20 overlapping" in errors[0] and "mis-scaled columns?" in errors[0]


# --- the SQL staging of typed Parquet panels and the bulk flow path -------------------------------------


Tables = dict[str, pl.DataFrame]


def _stream_both_ways(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Tables, Tables, list[bool]]:
    """Import `path` with DuckDB's SQL staging, then with the chunked reader; (tables, tables, which
    way the first import went)."""
    taken: list[bool] = []
    real = ingest._stage_parquet_sql

    def spy(*a: object, **k: object) -> bool:
        taken.append(real(*a, **k))  # type: ignore[arg-type]
        return taken[-1]

    monkeypatch.setattr(ingest, "_stage_parquet_sql", spy)
    with Store(tmp_path / "sql.duckdb") as s:
        import_paths(s, [path], retrieved_at=STAMP)
    monkeypatch.setattr(ingest, "_stage_parquet_sql", lambda *_a, **_k: False)
    with Store(tmp_path / "chunks.duckdb") as s:
        import_paths(s, [path], retrieved_at=STAMP)
    return tables(tmp_path / "sql.duckdb"), tables(tmp_path / "chunks.duckdb"), taken


def test_typed_parquet_is_staged_in_sql_with_the_chunked_readers_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = panel().with_columns(  # a NaN NAV is a missing value for both readers
        pl.when((pl.col("Ticker") == "BBB") & (pl.col("Date") == SESS[7].astype(dt.date)))
        .then(float("nan"))
        .otherwise(pl.col("NAV"))
        .alias("NAV"),
        pl.col("Shares").cast(pl.Int64),  # integer shares are read as numbers too
    )
    path = tmp_path / "p.parquet"
    frame.write_parquet(path)
    sql, chunks, taken = _stream_both_ways(path, tmp_path, monkeypatch)
    assert taken == [True]
    assert_same(sql, chunks)
    assert_same(sql, batch_reference(path, tmp_path / "b.duckdb"))
    bbb = sql["daily"].filter((pl.col("ticker") == "BBB") & (pl.col("date") == SESS[7].astype(dt.date)))
    assert bbb["nav"].to_list() == [None]


def _parquet_both_ways(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, object, int]]:
    """Import a Parquet panel with DuckDB's staging allowed, then with the chunked reader only: each
    way's (outcome, drops or message, rows); no stage table may be left behind, refused or not."""
    outcomes: list[tuple[str, object, int]] = []
    for way in ("sql", "chunks"):
        if way == "chunks":
            monkeypatch.setattr(ingest, "_stage_parquet_sql", lambda *_a, **_k: False)
        with Store(tmp_path / f"{way}.duckdb") as s:
            try:
                (res,) = import_paths(s, [path], retrieved_at=STAMP)
                outcomes.append(("ok", res.dropped, res.rows))
            except EtfflowError as exc:
                outcomes.append(("error", str(exc), 0))
            left = s.query(
                "SELECT count(*) AS n FROM duckdb_tables() WHERE temporary AND table_name LIKE '_etfflow%'"
            )["n"][0]
        assert left == 0
    return outcomes


@pytest.mark.parametrize(
    "damage",
    [
        "saturday",
        "lower_case_ticker",
        "negative",
        "text_dates",
        "huge",
        "blank_row",
        "bc_date",
        "digit_ticker",
    ],
)
def test_parquet_rows_the_sql_staging_cannot_take_go_to_the_chunked_reader(
    damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = panel(10)
    first = pl.col("Ticker") == "AAA"
    if damage == "saturday":
        saturday = pl.when(first).then(dt.date(2023, 1, 7)).otherwise(pl.col("Date"))
        frame = frame.with_columns(saturday.alias("Date"))
        frame = frame.unique(subset=["Date", "Ticker"], keep="first", maintain_order=True)
    elif damage == "lower_case_ticker":
        frame = frame.with_columns(pl.col("Ticker").str.to_lowercase())
    elif damage == "negative":
        frame = frame.with_columns(pl.when(first).then(-1.0).otherwise(pl.col("NAV")).alias("NAV"))
    elif damage == "text_dates":
        frame = frame.with_columns(pl.col("Date").cast(pl.String))
    elif damage == "huge":
        frame = frame.with_columns(pl.when(first).then(1e300).otherwise(pl.col("Shares")).alias("Shares"))
    elif damage == "bc_date":  # DuckDB gives a BC date back as text: the SQL check crashed on it
        bc = pl.DataFrame(
            {
                "Date": pl.Series(["-024-01-02"]).str.to_date("%Y-%m-%d"),
                "Ticker": ["AAA"],
                "NAV": [10.0],
                "Shares": [100.0],
            }
        )
        frame = pl.concat([bc, frame])
    elif damage == "digit_ticker":  # checks.TICKER_RE takes it, the generic reader does not
        frame = frame.with_columns(
            pl.when(first).then(pl.lit("1AA")).otherwise(pl.col("Ticker")).alias("Ticker")
        )
    else:
        frame = pl.concat([frame, pl.DataFrame([[None] * 4], schema=frame.schema, orient="row")])
    path = tmp_path / "p.parquet"
    frame.write_parquet(path)
    outcomes = _parquet_both_ways(path, tmp_path, monkeypatch)
    assert outcomes[0] == outcomes[1]
    expected = {
        "saturday": "ok",
        "lower_case_ticker": "ok",
        "text_dates": "ok",
        "blank_row": "ok",
        "bc_date": "ok",
    }
    assert outcomes[0][0] == expected.get(damage, "error")
    if damage in ("negative", "huge", "digit_ticker"):
        assert f"file {path}" in str(outcomes[0][1]) and "row " in str(outcomes[0][1])
    if damage in ("saturday", "bc_date"):
        assert outcomes[0][1] == {"non_session_rows": 1}


@pytest.mark.parametrize(("block", "read"), [(37, 100), (1, 1), (10_000, 10_000)])
def test_bulk_flows_in_small_blocks_equal_the_whole_file_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int, read: int
) -> None:
    monkeypatch.setattr(refresh, "BULK_ROWS", block)
    monkeypatch.setattr(refresh, "BULK_READ_ROWS", read)
    path = tmp_path / "p.parquet"
    panel().write_parquet(path)
    with Store(tmp_path / "s.duckdb") as s:
        import_paths(s, [path], retrieved_at=STAMP)
    assert_same(tables(tmp_path / "s.duckdb"), batch_reference(path, tmp_path / "b.duckdb"))


def test_the_same_panel_twice_in_one_import_is_written_once(tmp_path: Path) -> None:
    path = write_csv(panel(30), tmp_path / "p.csv")
    copy = tmp_path / "copy.csv"
    copy.write_bytes(path.read_bytes())
    with Store(tmp_path / "s.duckdb") as s:
        first, second = import_paths(s, [path, copy])
        n = s.query("SELECT count(*) AS n, count(DISTINCT (date, ticker)) AS k FROM daily")
    assert first.added == panel(30).height and not first.already_imported
    assert second.already_imported and second.added == 0
    assert n["n"][0] == n["k"][0] == panel(30).height


def test_real_issuer_files_as_a_panel_give_the_issuer_importers_flows(
    tmp_path: Path, shared_data: Path
) -> None:
    """IVV's workbook and iShares' EWJ/EWY/EWZ history, imported by their own readers (flows by the
    general computation), then exported as one generic panel and imported again (DuckDB's staging for
    Parquet and CSV, bulk flows): the same flows, row for row."""
    files = [
        shared_data / "issuers" / "ishares" / "IVV_fund.xls",
        shared_data / "issuers" / "ishares" / "EWJ_EWY_EWZ_shares_history.csv",
    ]
    with Store(tmp_path / "issuer.duckdb") as s:
        import_paths(s, files)
        lags = s.query("SELECT DISTINCT so_lag FROM daily")["so_lag"].to_list()
        panel_rows = s.query(
            "SELECT date, ticker, nav, shares_outstanding, close FROM daily ORDER BY date, ticker"
        )
        reference = s.read("flows_daily").sort("ticker", "date")
    assert lags == [1] and reference.height > 5_500
    for suffix in (".parquet", ".csv"):
        path = tmp_path / f"panel{suffix}"
        if suffix == ".parquet":
            panel_rows.write_parquet(path)
        else:
            panel_rows.with_columns(pl.col("date").cast(pl.String)).write_csv(path)
        with Store(tmp_path / f"panel{suffix}.duckdb") as s:
            (res,) = import_paths(s, [path], so_lag=1)
            got = s.read("flows_daily").sort("ticker", "date")
        assert res.added == panel_rows.height
        assert got.equals(reference), suffix


def test_a_damaged_parquet_page_is_a_located_error(tmp_path: Path) -> None:
    """The footer (and so the schema) is whole, the first page is not: DuckDB fails to read it, the
    chunked reader names the file."""
    n = 10_000
    rng = np.random.default_rng(3)
    first = dt.date(1990, 1, 1)
    frame = pl.DataFrame(
        {
            "date": pl.date_range(first, first + dt.timedelta(days=n - 1), eager=True),
            "ticker": ["AAA"] * n,
            "nav": rng.random(n) * 100,
            "shares_outstanding": rng.random(n) * 1e6,
        }
    )
    path = tmp_path / "p.parquet"
    frame.write_parquet(path, compression="zstd")
    data = bytearray(path.read_bytes())
    data[4:68] = bytes(64)  # the first page's header, after the magic; the footer, at the end, stays whole
    path.write_bytes(bytes(data))
    with Store(tmp_path / "s.duckdb") as s:
        before = s.snapshot()
        with pytest.raises(EtfflowError, match="not a readable Parquet file") as err:
            import_paths(s, [path])
        after = s.snapshot()
    assert f"file {path}" in str(err.value)
    for name, table in before.items():
        assert table.equals(after[name]), name


def test_a_panel_over_funds_of_other_sources_takes_both_paths_and_equals_a_full_recompute(
    tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IVV from its iShares workbook first; then a panel with IVV's last 300 sessions (a second source:
    the general path) and two new funds (the bulk path), read in small groups and blocks. The stored
    flows then equal a recompute of everything from `daily`."""
    monkeypatch.setattr(refresh, "FLOW_GROUP_ROWS", 100)
    monkeypatch.setattr(refresh, "BULK_ROWS", 50)
    db = tmp_path / "s.duckdb"
    with Store(db) as s:
        import_paths(s, [shared_data / "issuers" / "ishares" / "IVV_fund.xls"])
        ivv = s.query(
            "SELECT date AS Date, ticker AS Ticker, nav AS NAV, shares_outstanding AS Shares FROM daily "
            "ORDER BY date DESC LIMIT 300"
        )
    tail = ivv.with_columns(pl.col("Shares") + 1_000.0)  # another source's slightly different counts
    others = panel(120).filter(pl.col("Ticker") != "CCC")
    path = tmp_path / "mixed.parquet"
    pl.concat([tail, others.with_columns(pl.col("Date").cast(pl.Date))]).write_parquet(path)
    with Store(db) as s:
        (res,) = import_paths(s, [path], retrieved_at=STAMP)
        assert res.added == tail.height + others.height
        sources = s.query("SELECT ticker, count(DISTINCT source) AS n FROM daily GROUP BY ticker ORDER BY 1")
        stored = s.read("flows_daily").sort("ticker", "date")
        refresh_flows(s)
        full = s.read("flows_daily").sort("ticker", "date")
    assert sources.rows() == [("AAA", 1), ("BBB", 1), ("IVV", 2)]
    assert stored.equals(full)


@pytest.mark.parametrize("repeat", ["identical", "conflicting"])
def test_repeated_keys_in_a_sql_staged_panel_are_found_as_by_the_chunked_reader(
    repeat: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SQL-staged rows are in (ticker, date) order, so a repeated key sits beside its first
    appearance wherever it is in the file (here 200 rows later)."""
    frame = panel(100)
    again = frame.slice(5, 1)
    if repeat == "conflicting":
        again = again.with_columns(pl.col("Shares") + 1.0)
    path = tmp_path / "p.parquet"
    pl.concat([frame.slice(0, 205), again, frame.slice(205)]).write_parquet(path)
    outcomes = _parquet_both_ways(path, tmp_path, monkeypatch)
    assert outcomes[0] == outcomes[1]
    if repeat == "identical":
        assert outcomes[0] == ("ok", {"duplicate_rows": 1}, frame.height)
    else:
        assert outcomes[0][0] == "error" and "row 206" in outcomes[0][1] and "appears again" in outcomes[0][1]


# --- the SQL staging of CSV panels -----------------------------------------------------------------


def _csv_text(frame: pl.DataFrame) -> str:
    return frame.with_columns(pl.col("Date").cast(pl.String)).write_csv()


def _both_csv_ways(
    text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[tuple[str, str, int]], list[bool], list[dict[str, pl.DataFrame]]]:
    """Import one CSV text with DuckDB's staging allowed, then with the chunked reader only: each way's
    (outcome, message or drops, rows), whether the SQL staging took the file, and the tables."""
    path = tmp_path / "p.csv"
    path.write_text(text)
    taken: list[bool] = []
    real = ingest._stage_csv_sql

    def spy(*a: object, **k: object) -> bool:
        taken.append(real(*a, **k))  # type: ignore[arg-type]
        return taken[-1]

    outcomes, found = [], []
    for way, stage in (("sql", spy), ("chunks", lambda *_a, **_k: False)):
        monkeypatch.setattr(ingest, "_stage_csv_sql", stage)
        db = tmp_path / f"{way}.duckdb"
        with Store(db) as s:
            try:
                (res,) = import_paths(s, [path], retrieved_at=STAMP)
                outcomes.append(("ok", f"{res.dropped} {res.notes}", res.rows))
            except EtfflowError as exc:
                outcomes.append(("error", str(exc).replace(str(tmp_path), ""), 0))
            left = s.query(
                "SELECT count(*) AS n FROM duckdb_tables() WHERE temporary AND table_name LIKE '_etfflow%'"
            )["n"][0]
        assert left == 0
        found.append(tables(db))
    return outcomes, taken, found


def test_a_clean_csv_panel_is_staged_in_sql_with_the_chunked_readers_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = panel()  # CCC has a missing NAV (an empty cell), AAA a split, BBB a bad print
    outcomes, taken, found = _both_csv_ways(_csv_text(frame), tmp_path, monkeypatch)
    assert taken == [True] and outcomes[0] == outcomes[1] and outcomes[0][2] == frame.height
    assert_same(found[0], found[1])
    ref = tmp_path / "ref.csv"
    ref.write_text(_csv_text(frame))
    assert_same(found[0], batch_reference(ref, tmp_path / "b.duckdb"))


GOOD_LINES = _csv_text(panel(12)).splitlines()
CSV_DAMAGE = {
    "underscore_number": ("2023-01-20,AAA,1_000,1000000.0", "error"),
    "na_token": ("2023-01-20,AAA,n/a,1000000.0", "ok"),
    "dollar": ("2023-01-20,AAA,$101.5,1000000.0", "ok"),
    "spaces": ("2023-01-20, AAA , 101.5 ,1000000.0", "ok"),
    "lower_ticker": ("2023-01-20,aaa,101.5,1000000.0", "ok"),
    "us_date": ("01/17/2023,AAA,101.5,1000000.0", "error"),  # one chunk of mixed formats is refused
    "saturday": ("2023-01-21,AAA,101.5,1000000.0", "ok"),
    "blank_row": (",,,", "ok"),
    "blank_line": ("", "ok"),
    "ragged": ("2023-01-20,AAA,101.5", "ok"),  # a short line: its last cells are missing
    "repeat_same": (GOOD_LINES[1], "ok"),
    "repeat_other": (GOOD_LINES[1].rsplit(",", 1)[0] + ",1.0", "error"),
    "huge": ("2023-01-20,AAA,101.5,1e300", "error"),
    "negative": ("2023-01-20,AAA,-101.5,1000000.0", "error"),
    "nan_text": ("2023-01-20,AAA,nan,1000000.0", "ok"),
    # read by DuckDB's casts, refused by the chunked reader: found by differential fuzzing
    "plus_minus": ("2023-01-20,AAA,101.5,+-0", "error"),  # DuckDB: -0.0
    "date_trailing_char": ("2023-02-1x,AAA,101.5,1000000.0", "error"),  # DuckDB: 2023-02-01
    "year_zero": ("0000-01-03,AAA,101.5,1000000.0", "ok"),  # DuckDB: 1 BC, read back as text
    "digit_ticker": ("2023-01-20,1AA,101.5,1000000.0", "error"),  # checks.TICKER_RE takes it
    "slash_ticker": ("2023-01-20,BRK/B,101.5,1000000.0", "error"),
}


@pytest.mark.parametrize("damage", sorted(CSV_DAMAGE))
def test_csv_rows_the_sql_staging_cannot_take_go_to_the_chunked_reader(
    damage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line, expected = CSV_DAMAGE[damage]
    lines = [*GOOD_LINES[:20], line, *GOOD_LINES[20:]]
    outcomes, taken, found = _both_csv_ways("\n".join(lines) + "\n", tmp_path, monkeypatch)
    assert outcomes[0] == outcomes[1], damage
    assert outcomes[0][0] == expected, outcomes[0]
    assert taken in ([False], []), taken  # refused before, or not a clean file for the SQL staging
    if expected == "ok":
        assert_same(found[0], found[1])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_panel_without_a_value_column_is_refused(tmp_path: Path, fmt: str) -> None:
    frame = pl.DataFrame(
        {"Date": ["2024-01-02", "2024-01-03"], "Ticker": ["AAA", "AAA"], "Weight": [1.5, 1.6]}
    )
    path = tmp_path / f"w.{fmt}"
    if fmt == "csv":
        frame.write_csv(path)
    else:
        frame.with_columns(pl.col("Date").str.to_date()).write_parquet(path)
    with Store(tmp_path / "s.duckdb") as s:
        import_paths(s, [write_csv(panel(5), tmp_path / "ok.csv")])
        before = s.snapshot()
        with pytest.raises(EtfflowError, match="no value column: a panel needs one of close, nav") as err:
            import_paths(s, [path])
        after = s.snapshot()
    assert f"file {path}" in str(err.value) and "Weight" in str(err.value)
    for name, table in before.items():
        assert table.equals(after[name]), name


def test_a_real_holdings_file_is_not_taken_for_a_panel(tmp_path: Path, shared_data: Path) -> None:
    """Invesco's QQQ holdings list has a date and a fund ticker but no fund value: it was stored as one
    QQQ row without values (100 repeats dropped); now refused, naming the file."""
    path = shared_data / "issuers" / "holdings" / "Invesco_QQQ_holdings_20230113.csv"
    with Store(tmp_path / "s.duckdb") as s:
        with pytest.raises(EtfflowError, match="no value column") as err:
            import_paths(s, [path])
        assert s.read("daily").height == 0 and s.snapshot()["files"].height == 0
    assert f"file {path}, row 1:" in str(err.value)


def _digest_reference(data: bytes) -> tuple[str, bool, bool, int]:
    import hashlib

    try:
        data.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    lines = data.count(b"\n") + (len(data) > 0 and not data.endswith(b"\n"))
    return hashlib.sha256(data).hexdigest(), b'"' in data, utf8, lines


_PIECES = [
    *(b"a", b"1,", b"\n", b'"'),
    *("é".encode(), "€".encode(), "😀".encode()),  # 2, 3 and 4 bytes
    *(b"\xc3", b"\xe2\x82", b"\xa9", b"\xff"),  # open sequences, a stray continuation, never UTF-8
]


@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.integers(1, 9))
@example([b"\xc3", b"a", b"\xa9"], 1)  # "\xc3" left open, an ASCII block, then its continuation
@example([b"1,", "é".encode(), b"\n"], 3)  # a valid character cut in two
@example([b"a", b"\xe2\x82"], 2)  # open at the end
@settings(max_examples=300, deadline=None)
def test_file_digest_equals_reading_the_whole_file(pieces: list[bytes], block: int) -> None:
    """Blocks of a few bytes cut multi-byte characters anywhere: an open one before an ASCII block, at
    the end, a stray continuation byte; the hash, quote, UTF-8 and line answers are the whole file's."""
    data = b"".join(pieces)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.csv"
        path.write_bytes(data)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ingest, "DIGEST_BLOCK", block)
            assert ingest.file_digest(path) == _digest_reference(data)


@pytest.mark.parametrize("block", [8, 64, 1 << 20])
def test_a_chunk_of_empty_lines_counts_its_blank_rows_and_keeps_row_numbers(
    block: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk holding nothing but empty lines was skipped: its blank rows went uncounted and later rows
    were named by wrong line numbers (found by differential fuzzing)."""
    monkeypatch.setattr(ingest, "_CSV_BLOCK", block)
    head = "Date,Ticker,NAV,Shares\n"
    blank_only = tmp_path / "blank.csv"
    blank_only.write_text(head + "\n\n")
    later_bad = tmp_path / "bad.csv"
    later_bad.write_text(head + "\n\n2024-01-03,AAA,10,100\n2024-01-04,AAA,1x,100\n")
    with Store(tmp_path / "s.duckdb") as s:
        (res,) = import_paths(s, [blank_only])
        assert res.dropped == read_generic_csv(blank_only).dropped == {"blank_rows": 2}
        with pytest.raises(EtfflowError) as err:
            import_paths(s, [later_bad])
    assert str(err.value) == f"file {later_bad}, row 5, field 'NAV': not a number: '1x'"


def test_a_repeat_on_a_saturday_is_counted_as_a_repeat_and_a_non_session_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "_CSV_BLOCK", 64)
    path = tmp_path / "p.csv"
    path.write_text(GOOD + "2024-01-06,AAA,10,100\n" * 2 + "2024-01-08,AAA,10,140\n")
    whole = read_generic_csv(path)
    with Store(tmp_path / "s.duckdb") as s:
        (res,) = import_paths(s, [path])
    assert res.dropped == whole.dropped == {"duplicate_rows": 1, "non_session_rows": 1}
    assert res.notes == whole.notes[: len(res.notes)]
    assert res.rows == whole.daily.height == 3


def test_rows_after_tomorrow_in_several_chunks_give_one_count_and_one_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "_CSV_BLOCK", 64)
    path = tmp_path / "p.csv"
    path.write_text(GOOD + "2099-01-05,AAA,10,100\n2024-01-04,AAA,10,130\n" * 3 + "2099-01-06,AAA,10,100\n")
    whole = read_generic_csv(path)
    with Store(tmp_path / "s.duckdb") as s:
        (res,) = import_paths(s, [path])
    assert res.dropped == whole.dropped == {"future_rows": 4, "duplicate_rows": 2}
    late = [n for n in res.notes if "dated after" in n]
    assert late == [n for n in whole.notes if "dated after" in n] and len(late) == 1
    assert late[0].endswith("dropped (the first on 2099-01-05)")
