"""Whole-file checks name the same fund on every run, and no date (BC, year 10000) makes them panic."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from etfflow import checks
from etfflow.errors import ParseError, ValidationError
from etfflow.pipeline import write_batch
from etfflow.sources.generic import read_generic_csv
from etfflow.store import Store

STAMP = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
HEADER = "Date,Ticker,NAV,Shares\n"
DAYS = ("02", "03", "04", "05", "08")
#: many failing funds, so that Polars' group order (which changes from run to run) is almost never theirs
TICKERS = [f"F{n:02d}" for n in range(24)]
RUNS = 30


def _panel(tickers: list[str], shares: int) -> str:
    return HEADER + "".join(f"2024-01-{d},{t},10,{shares}\n" for d in DAYS for t in tickers)


def _message(call: object) -> str:
    with pytest.raises(ValidationError) as info:
        call()  # type: ignore[operator]
    return str(info.value)


def _zero_frame(tickers: list[str], *, rows: bool) -> pl.DataFrame:
    """Five all-zero shares counts per fund, the funds interleaved in the given order."""
    dates = [dt.date(2024, 1, int(d)) for d in DAYS]
    frame = pl.DataFrame(
        {
            "date": [d for d in dates for _ in tickers],
            "ticker": [t for _ in dates for t in tickers],
            "shares_outstanding": [0.0] * (len(dates) * len(tickers)),
        }
    )
    return frame.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64)) if rows else frame


def _all_zero(frame: pl.DataFrame, locate: checks.Locator | None) -> str:
    return _message(
        lambda: checks._all_zero_shares(frame, file="f.csv", locate=locate, labels={}, context="")
    )


def test_all_zero_shares_names_the_fund_whose_rows_come_first() -> None:
    # the funds' rows in reverse ticker order: the first in the file is F23, at row 0 (file line 2)
    frame = _zero_frame(TICKERS[::-1], rows=True)
    got = {_all_zero(frame, lambda r: r + 2) for _ in range(RUNS)}
    assert got == {
        "file f.csv, row 2, field 'shares_outstanding': every one of the 5 shares counts of F23 is 0: "
        "swapped or mis-scaled columns? nothing was imported"
    }


def test_all_zero_shares_without_rows_names_the_first_ticker() -> None:
    frame = _zero_frame(TICKERS[::-1], rows=False)
    got = {_all_zero(frame, None) for _ in range(RUNS)}
    assert got == {
        "file f.csv, field 'shares_outstanding': every one of the 5 shares counts of F00 is 0: "
        "swapped or mis-scaled columns? nothing was imported"
    }


def test_all_zero_shares_file_names_the_first_fund_every_run(tmp_path: Path) -> None:
    path = tmp_path / "zero.csv"
    path.write_text(_panel(TICKERS[::-1], 0))
    got = {_message(lambda: read_generic_csv(path, retrieved_at=STAMP)) for _ in range(RUNS)}
    assert got == {
        f"file {path}, row 2, field 'Shares': every one of the 5 shares counts of F23 is 0: "
        "swapped or mis-scaled columns? nothing was imported"
    }


def test_against_store_names_the_first_ticker_every_run(tmp_path: Path) -> None:
    good, scaled = tmp_path / "good.csv", tmp_path / "scaled.csv"
    good.write_text(_panel(TICKERS[::-1], 1_000_000))
    scaled.write_text(_panel(TICKERS[::-1], 100))
    with Store(tmp_path / "s.duckdb") as store:
        write_batch(store, read_generic_csv(good, retrieved_at=STAMP))
        batch = read_generic_csv(scaled, retrieved_at=STAMP)
        got = {_message(lambda: checks.check_batch(store, batch)) for _ in range(RUNS)}
    assert got == {
        f"file {scaled}, field 'shares_outstanding': F00: every one of the 5 overlapping "
        "shares_outstanding values differs from the stored one by a factor of 0.0001 or more "
        "(swapped or mis-scaled columns?); nothing was imported"
    }


def test_against_store_one_day_names_the_first_ticker_of_the_first_day(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(_panel(TICKERS[::-1], 1_000_000))
    # one mangled day per fund (the rest as stored), on the same day for every fund
    bad.write_text(
        HEADER
        + "".join(
            f"2024-01-{d},{t},10,{100 if d == '04' else 1_000_000}\n" for d in DAYS for t in TICKERS[::-1]
        )
    )
    with Store(tmp_path / "s.duckdb") as store:
        write_batch(store, read_generic_csv(good, retrieved_at=STAMP))
        batch = read_generic_csv(bad, retrieved_at=STAMP)
        got = {_message(lambda: checks.check_batch(store, batch)) for _ in range(RUNS)}
    assert got == {
        f"file {bad}, field 'shares_outstanding': F00 2024-01-04: shares_outstanding 100 would replace "
        "the stored 1e+06 (a factor of 0.0001: a truncated or mis-scaled value?); nothing was imported"
    }


def test_conflicting_repeats_in_a_bc_year_raise_a_parse_error(tmp_path: Path) -> None:
    # a BC date has no Python date: DataFrame.row used to panic in Polars' Rust code (a BaseException)
    path = tmp_path / "bc_conflict.csv"
    path.write_text(HEADER + "-024-01-02,AAA,10,100\n-024-01-02,AAA,11,100\n")
    with pytest.raises(ParseError) as info:
        read_generic_csv(path, retrieved_at=STAMP)
    assert type(info.value) is ValidationError
    assert str(info.value) == (
        f"file {path}, row 3, field 'NAV': AAA -0024-01-02 appears again with a different value "
        "(10.0 at row 2, 11.0 here)"
    )


def test_identical_repeats_in_a_bc_year_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "bc_same.csv"
    path.write_text(HEADER + "-024-01-02,AAA,10,100\n-024-01-02,AAA,10,100\n2024-01-02,AAA,10,100\n")
    batch = read_generic_csv(path, retrieved_at=STAMP)
    assert batch.dropped == {"duplicate_rows": 1, "non_session_rows": 1}
    assert batch.daily["date"].to_list() == [dt.date(2024, 1, 2)]


def test_dates_past_year_9999_are_dropped_as_future_rows(tmp_path: Path) -> None:
    path = tmp_path / "far.csv"
    path.write_text(HEADER + "+10000-01-03,AAA,10,100\n+10000-01-03,AAA,11,100\n2024-01-02,AAA,10,100\n")
    batch = read_generic_csv(path, retrieved_at=STAMP)
    assert batch.dropped == {"future_rows": 2}
    assert any("(the first on +10000-01-03)" in n for n in batch.notes)
    assert batch.daily["date"].to_list() == [dt.date(2024, 1, 2)]


def test_check_frame_names_a_bc_date_out_of_range() -> None:
    day = pl.Series("date", ["-0024-01-02"]).str.strptime(pl.Date, "%Y-%m-%d")
    frame = pl.DataFrame({"date": day, "ticker": ["AAA"]})
    message = _message(lambda: checks.check_frame(frame, "vendor_flows", file="v.csv"))
    assert message.startswith("file v.csv, field 'date': date -0024-01-02 out of range (1980-01-01 to ")
    assert message.endswith(") (-0024-01-02 AAA)")
