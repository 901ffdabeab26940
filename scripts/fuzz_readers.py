#!/usr/bin/env python
"""Differential fuzzer: the streamed panel import against the whole-file reader, on random panels.

Every panel here is SYNTHETIC: random share counts and NAVs for made-up funds (1-6 of a fixed list of
tickers, up to 300 sessions) with gaps, NaN and blank values, 2:1 and 1:3 splits, one-day bad prints,
identical and conflicting repeats, unsorted rows, lower-case tickers, total net assets instead of shares
and extra columns, written as CSV, typed Parquet or all-text Parquet and damaged in up to two ways (a bad
number, `$1,234`, `n/a`, a Saturday, a US-style date, a negative value, 1e308, inf, an empty, short or
long line, quotes, a BOM, CRLF, ...). Each case imports its file

* through the streamed path, `etfflow.pipeline.import_paths`, in one of three variants: ``default``;
  ``chunked`` (the SQL staging off, tiny `_CSV_BLOCK` / `CHUNK_ROWS` and tiny flow blocks); and
  ``small_blocks`` (tiny `BULK_ROWS` / `BULK_READ_ROWS` / `FLOW_GROUP_ROWS` only);
* through the whole-file reader, `read_generic_csv` / `read_generic_parquet` + `write_batch`;

each fresh, and (in most cases) again on top of an earlier, clean, overlapping panel. The module
attributes a variant changes are restored after every case; files live in a temporary directory.

A discrepancy is any difference between the two paths for the same file: one accepts and the other
refuses; different error types or messages; a Python exception that is not an `EtfflowError` (a crash);
different drop counts; different `daily` (minus `retrieved_at`) or `flows_daily`; a refused file that
changed the warehouse; a staging table left behind. Two classes are known and tolerated, where both
paths refused the file without a crash and without changing the warehouse and only the error differs:
a file with two different errors in different chunks, where each path names a different one (the
streamed path names the first in file order; the case carries two or more damages); and a file whose
dates are written in two formats, where each path names the first date its format cannot read (the
whole-file reader takes the format most dates use, the streamed reader the first chunk's; both refuse
with "not a date"). The run exits 1 if any other discrepancy is found.

    .venv/bin/python scripts/fuzz_readers.py --seed 1 --cases 500 [--minutes M] [--out results.jsonl]
    .venv/bin/python scripts/fuzz_readers.py --replay SEED CASE [--keep DIR]   # one case in detail

tests/test_fuzz_readers.py runs a few cases of a fixed seed under pytest.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import random
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl

from etfflow import calendar, ingest, pipeline, refresh
from etfflow.errors import EtfflowError
from etfflow.sources.generic import read_generic_csv, read_generic_parquet
from etfflow.store import Store

STAMP = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
ALL_SESSIONS = [dt.date.fromisoformat(str(d)) for d in calendar.sessions("2019-01-02", "2026-11-25")]
TICKERS = ["AAA", "BBB", "CCC", "QQQ", "SPY", "IVV", "A.B", "X-Y", "EWJ2", "ZZ"]
VALUE_COLUMNS = ("nav", "shares_outstanding", "total_net_assets", "close", "volume")
HEADERS = {
    "date": ["Date", "date", "As Of Date", "trade_date", "NAV Date"],
    "ticker": ["Ticker", "ticker", "Symbol", "Fund", "ETF"],
    "nav": ["NAV", "nav", "NAV per Share", "Net Asset Value"],
    "shares_outstanding": ["Shares", "Shares Outstanding", "SO", "shares_out"],
    "total_net_assets": ["Total Net Assets", "AUM", "TNA", "net_assets"],
    "close": ["Close", "close", "Market Price", "closing_price"],
    "volume": ["Volume", "daily_volume"],
    "split_factor": ["Split Factor", "split_ratio"],
}
EXTRA_COLUMNS = ["Name", "Weight", "Comment", "Exchange", "CUSIP"]
LAYOUTS = {
    "nav_so": ["nav", "shares_outstanding"],
    "nav_tna": ["nav", "total_net_assets"],
    "close_so": ["close", "shares_outstanding"],
    "nav_so_close": ["nav", "shares_outstanding", "close"],
    "nav_so_vol": ["nav", "shares_outstanding", "volume"],
    "nav_so_split": ["nav", "shares_outstanding", "split_factor"],
    "nav_so_tna": ["nav", "shares_outstanding", "total_net_assets"],
}
SATURDAY = dt.date(2023, 1, 7)

#: damages a typed Parquet file can carry (typed cells only) ...
TYPED_DAMAGES = [
    "saturday", "saturday_insert", "holiday", "negative", "huge", "inf", "nan", "null_date", "null_ticker",
    "blank_row", "lower_one", "bad_ticker", "future", "early", "over_bound", "minus_zero", "all_null_col",
    "bc_date",
]  # fmt: skip
#: ... and those only text (CSV, all-text Parquet) can carry
TEXT_DAMAGES = [
    "bad_number", "dollar", "dollar_comma", "thousands", "na_token", "us_date", "us_date_all", "bad_date",
    "empty_line", "short_line", "long_line", "quotes", "spaces", "underscore", "sci", "plus", "stamp",
    "trailer", "ws_only", "crlf", "bom", "no_final_newline", "dup_saturday", "dup_saturday_conflict",
    "zero_plus_saturday", "hex", "date_trailing", "pm_zero",
]  # fmt: skip
#: replacement cells for the text damages that swap one value for a fixed string
TEXT_CELLS = {
    "bad_number": ["x1", "1.2.3", "abc", "12a", "--5"],
    "dollar_comma": ["$1,234"],
    "thousands": ["1,234,567.5"],
    "na_token": ["n/a", "N/A", "-", "--", "null", "NaN", "nan", "none", "#N/A", "NA"],
    "underscore": ["1_000"],
    "sci": ["1e5", "1.5E3", "2.5e-1", "1e-400", "0e0"],
    "plus": ["+5", ".5", "5.", "+.25", "-0", "00012"],
    "hex": ["0x10", "1d", "1f", "Infinity", "١٢", "1e400", " "],
    "ws_only": ["   "],
    "pm_zero": ["+-0"],
}

# --------------------------------------------------------------------------------------------------
# panel generation
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Panel:
    """Logical rows: cells are typed (dt.date / str / float / None), or a str where damage put text."""

    cols: list[str]  # canonical names in file order ("extra:<name>" for ignored columns)
    header: list[str]
    rows: list[list[Any]]
    tags: list[str]
    line_ops: list[tuple[str, int, str]] = dataclasses.field(default_factory=list)  # CSV text only

    def value_indexes(self, names: tuple[str, ...] = VALUE_COLUMNS) -> list[int]:
        return [j for j, c in enumerate(self.cols) if c in names]


def _series(rng: random.Random, n: int, tags: list[str], zero: bool) -> dict[str, list[float]]:
    """One fund's shares and NAV: random creations/redemptions, maybe a split and a one-day bad print."""
    so, nav = rng.uniform(1e5, 5e7), rng.uniform(5, 500)
    split_at = rng.randrange(1, n) if n > 2 and rng.random() < 0.25 else -1
    ratio = rng.choice([2.0, 1 / 3, 3.0, 0.5])
    bad_at = rng.randrange(1, n - 1) if n > 3 and rng.random() < 0.2 else -1
    shares, navs = [], []
    for i in range(n):
        so = max(so + rng.choice([0, 0, 0, 1, -1, 2]) * rng.choice([25_000, 50_000, 100_000, 12_345]), 0)
        nav = max(nav * (1 + rng.gauss(0, 0.01)), 0.01)
        if i == split_at:
            so, nav = so * ratio, nav / ratio
            tags.append("split")
        if i == bad_at:
            tags.append("bad_print")
        shares.append(0.0 if zero else float(round(so * (3 if i == bad_at else 1))))
        navs.append(round(nav, rng.choice([2, 4, 6])))
    return {"shares_outstanding": shares, "nav": navs}


def make_panel(
    rng: random.Random, window: tuple[int, int], funds: list[str], base_seed: int, *, clean: bool = False
) -> Panel:
    """A panel of `funds` over the sessions in `window`; each fund's series comes from `base_seed`, so
    two panels with the same base seed agree where they overlap. Unless `clean`, rows get blanks,
    repeats, lower-case tickers and a shuffled order."""
    tags: list[str] = []
    sessions = ALL_SESSIONS[window[0] : window[1]]
    layout = rng.choice(["nav_so", "nav_so", "nav_so", *LAYOUTS])
    tags.append(layout)
    cols = ["date", "ticker", *LAYOUTS[layout]]
    if rng.random() < 0.25:
        cols.append("extra:" + rng.choice(EXTRA_COLUMNS))
        tags.append("extra_col")
    if rng.random() < 0.3:
        rest = cols[1:]
        rng.shuffle(rest)
        cols = [cols[0], *rest]
        if rng.random() < 0.3:
            rng.shuffle(cols)
    header = [c[6:] if c.startswith("extra:") else rng.choice(HEADERS[c]) for c in cols]
    zero_fund = funds[0] if rng.random() < 0.04 else None
    if zero_fund:
        tags.append("zero_fund")
    rows: list[list[Any]] = []
    for t in funds:
        fund_rng = random.Random(f"{base_seed}-{t}")
        ser = _series(fund_rng, len(sessions), tags, zero=t == zero_fund)
        gap_p = rng.choice([0.0, 0.0, 0.05, 0.3])
        lo = rng.randrange(0, max(1, len(sessions) // 3)) if rng.random() < 0.3 else 0
        for i, day in enumerate(sessions):
            if i < lo or rng.random() < gap_p:
                continue
            so, nav = ser["shares_outstanding"][i], ser["nav"][i]
            cells: dict[str, Any] = {
                "date": day,
                "ticker": t,
                "nav": nav,
                "shares_outstanding": so,
                "total_net_assets": round(so * nav, 2),
                "close": round(nav * (1 + fund_rng.gauss(0, 0.001)), 2),
                "volume": float(fund_rng.randrange(0, 10**6)),
                "split_factor": None,
            }
            rows.append(
                [cells[c] if c in cells else fund_rng.choice(["x", "y", "", "Fund name"]) for c in cols]
            )
    panel = Panel(cols, header, rows, tags)
    if rows and not clean:
        _mess_up(rng, panel, funds)
    return panel


def _mess_up(rng: random.Random, p: Panel, funds: list[str]) -> None:
    """Ordinary untidiness both readers must accept (or refuse) alike: blanks, repeats, order, case."""
    vi = p.value_indexes()
    if rng.random() < 0.35:
        for _ in range(rng.randint(1, 5)):
            rng.choice(p.rows)[rng.choice(vi)] = rng.choice([None, float("nan")])
        p.tags.append("missing")
    if rng.random() < 0.15:
        for _ in range(rng.randint(1, 3)):
            p.rows.insert(rng.randrange(len(p.rows) + 1), list(rng.choice(p.rows)))
        p.tags.append("dup_same")
    if rng.random() < 0.06:
        r = list(rng.choice(p.rows))
        j = rng.choice(vi)
        r[j] = (r[j] or 1.0) * 1.01 if isinstance(r[j], float) and r[j] == r[j] else 7.0
        p.rows.insert(rng.randrange(len(p.rows) + 1), r)
        p.tags.append("dup_conflict")
    if rng.random() < 0.12:
        ti, low = p.cols.index("ticker"), rng.choice(funds)
        for r in p.rows:
            if r[ti] == low and rng.random() < 0.5:
                r[ti] = low.lower()
        p.tags.append("lower")
    if rng.random() < 0.3:
        rng.shuffle(p.rows)
        p.tags.append("shuffled")
    elif rng.random() < 0.3:
        di, ti = p.cols.index("date"), p.cols.index("ticker")
        p.rows.sort(key=lambda r: (r[di], r[ti]))
        p.tags.append("by_date")


def _next_weekday(d: Any, weekday: int) -> dt.date:
    """The next Saturday (5) or Sunday (6) after a date cell (a fixed Saturday if damage made it text)."""
    d = d if isinstance(d, dt.date) else SATURDAY
    return d + dt.timedelta(days=(weekday - d.weekday()) % 7 or 7)


def damage(rng: random.Random, p: Panel, typed: bool) -> None:
    """One random damage, in place (`typed`: the file is typed Parquet, so only typed damage)."""
    if not p.rows:
        return
    di, ti = p.cols.index("date"), p.cols.index("ticker")
    k = rng.randrange(len(p.rows))
    r = p.rows[k]
    what = rng.choice(TYPED_DAMAGES if typed else TYPED_DAMAGES + TEXT_DAMAGES)
    p.tags.append("dmg:" + what)
    j = rng.choice(p.value_indexes())
    if what in TEXT_CELLS:
        r[j] = rng.choice(TEXT_CELLS[what])
    elif what == "saturday":
        r[di] = _next_weekday(r[di], 5)
    elif what == "saturday_insert":
        nr = list(r)
        nr[di] = _next_weekday(r[di], 5)
        p.rows.insert(rng.randrange(len(p.rows) + 1), nr)
    elif what in ("dup_saturday", "dup_saturday_conflict"):  # the same Sunday row twice
        nr = list(r)
        nr[di] = _next_weekday(r[di], 6)
        p.rows.insert(rng.randrange(len(p.rows) + 1), nr)
        nr2 = list(nr)
        if what == "dup_saturday_conflict":
            nr2[j] = 12345.0
        p.rows.insert(rng.randrange(len(p.rows) + 1), nr2)
    elif what == "zero_plus_saturday":  # a fund all zero shares, plus a Saturday row
        if "shares_outstanding" in p.cols:
            si = p.cols.index("shares_outstanding")
            for rr in p.rows:
                if rr[ti] == r[ti]:
                    rr[si] = 0.0
            nr = list(r)
            nr[di] = _next_weekday(r[di], 5)
            p.rows.insert(rng.randrange(len(p.rows) + 1), nr)
    elif what == "holiday":
        r[di] = dt.date(rng.choice(range(2019, 2026)), 12, 25)
    elif what == "negative":
        r[j] = -abs(r[j] if isinstance(r[j], float) and r[j] == r[j] else 1.0) - 1
    elif what in ("huge", "inf", "nan", "over_bound", "minus_zero"):
        r[j] = {
            "huge": 1e308,
            "inf": rng.choice([float("inf"), float("-inf")]),
            "nan": float("nan"),
            "over_bound": 2e15,
            "minus_zero": -0.0,
        }[what]
    elif what == "null_date":
        r[di] = None
    elif what == "null_ticker":
        r[ti] = None
    elif what == "blank_row":
        p.rows.insert(k, [None] * len(p.cols))
    elif what == "lower_one":
        if isinstance(r[ti], str):
            r[ti] = r[ti].lower()
    elif what == "bad_ticker":
        r[ti] = rng.choice(["A B", "1ABC", "BRK/B", "=1+1", "TOOLONGTICKER1", "A^B", "ÄBC", "123"])
    elif what == "future":
        r[di] = rng.choice([dt.date(2027, 1, 4), dt.date(2030, 6, 3), dt.date(2026, 11, 30)])
    elif what == "early":
        r[di] = rng.choice([dt.date(1975, 1, 2), dt.date(1999, 1, 4), dt.date(1985, 3, 4)])
    elif what == "bc_date":  # year 0 and BC dates are not Python dates: typed files get year 1
        r[di] = dt.date(1, 1, 3) if typed else rng.choice(["-024-01-02", "0000-01-03"])
    elif what == "date_trailing":
        if isinstance(r[di], dt.date) and r[di].day < 10:
            r[di] = f"{r[di]:%Y-%m}-{r[di].day}" + rng.choice(["x", "T", ".", "Z"])
    elif what == "all_null_col":
        for rr in p.rows:
            rr[j] = None
    elif what == "dollar":
        r[j] = "$" + _num(r[j])
    elif what == "us_date":
        if isinstance(r[di], dt.date):
            r[di] = r[di].strftime("%m/%d/%Y")
    elif what == "us_date_all":  # a block of consecutive rows (in file order) written US-style
        a = rng.randrange(len(p.rows))
        for rr in p.rows[a : a + rng.randint(1, 40)]:
            if isinstance(rr[di], dt.date):
                rr[di] = rr[di].strftime("%m/%d/%Y")
    elif what == "bad_date":
        r[di] = rng.choice(["2024-13-04", "2023-02-30", "yesterday", "2023-1-5", "20230105x"])
    elif what == "stamp":
        if isinstance(r[di], dt.date):
            r[di] = r[di].isoformat() + rng.choice(["T16:00:00Z", " 00:00:00-05:00", "T09:30:00"])
    elif what in ("empty_line", "short_line", "long_line", "spaces"):
        p.line_ops.append((what, k, ""))
    elif what == "quotes":
        p.line_ops.append((what, k, str(rng.choice([di, ti, j]))))
    elif what == "trailer":
        trailer = rng.choice(["Source: someone", "Disclaimer, all rights reserved", ",,,"])
        p.line_ops.append((what, len(p.rows), trailer))
    elif what in ("crlf", "bom", "no_final_newline"):
        p.line_ops.append((what, 0, ""))


def _num(v: Any, rng: random.Random | None = None) -> str:
    """A number as text (whole numbers as `5` or `5.0` at random when `rng` is given)."""
    if v is None:
        return ""
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        if v == int(v) and abs(v) < 1e16:
            return str(int(v)) if rng is not None and rng.random() < 0.5 else repr(v)
        return repr(v)
    return str(v)


def _cell_text(v: Any, rng: random.Random) -> str:
    if v is None:
        return ""
    if isinstance(v, dt.date):
        return v.isoformat()
    return _num(v, rng) if isinstance(v, float) else str(v)


def write_csv(p: Panel, path: Path, rng: random.Random) -> None:
    """The panel as CSV text, with its line damage applied."""
    body = [[_cell_text(v, rng) for v in r] for r in p.rows]
    flags = {op for op, _k, _a in p.line_ops if op in ("crlf", "bom", "no_final_newline")}
    trailers = [a for op, _k, a in p.line_ops if op == "trailer"]
    per_line: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for op, k, arg in p.line_ops:
        per_line[k].append((op, arg))
    lines = [",".join(p.header)]
    for k, cells in enumerate(body):
        line = ",".join(cells)
        for op, arg in per_line.get(k, []):
            if op == "empty_line":
                lines.append("")
            elif op == "short_line":
                line = ",".join(cells[:-1])
            elif op == "long_line":
                line += ",5"
            elif op == "quotes":
                quoted = list(cells)
                quoted[int(arg)] = f'"{quoted[int(arg)]}"'
                line = ",".join(quoted)
            elif op == "spaces":
                line = ",".join(f" {x} " for x in cells)
        lines.append(line)
    lines += trailers[-1:]
    nl = "\r\n" if "crlf" in flags else "\n"
    text = nl.join(lines) + ("" if "no_final_newline" in flags else nl)
    path.write_bytes((("\ufeff" if "bom" in flags else "") + text).encode("utf-8"))


def write_parquet(p: Panel, path: Path, rng: random.Random, all_string: bool) -> None:
    """The panel as Parquet: typed columns (Date or Datetime; Float64, some Int64 or Float32), a column
    holding damage text as strings, or every column as strings (`all_string`); random row groups."""
    columns: list[pl.Series] = []
    for j, (c, h) in enumerate(zip(p.cols, p.header, strict=True)):
        vals = [r[j] for r in p.rows]
        if c == "ticker" or c.startswith("extra"):
            columns.append(pl.Series(h, [None if v is None else str(v) for v in vals], dtype=pl.String))
        elif all_string or any(isinstance(v, str) for v in vals):
            texts = [None if v is None else _cell_text(v, rng) for v in vals]
            columns.append(pl.Series(h, texts, dtype=pl.String))
        elif c == "date":
            s = pl.Series(h, vals, dtype=pl.Date)
            columns.append(s.cast(pl.Datetime("us")) if rng.random() < 0.25 else s)
        else:
            s = pl.Series(h, vals, dtype=pl.Float64, strict=False)
            pick, known = rng.random(), s.drop_nulls()
            whole = known.drop_nans().len() == known.len() and bool(
                (known.abs() < 9e18).all() and (known == known.round(0)).all()
            )
            if c in ("shares_outstanding", "volume") and pick < 0.2 and whole:
                s = s.cast(pl.Int64)
            elif pick < 0.05:
                s = s.cast(pl.Float32)
            columns.append(s)
    pl.DataFrame(columns).write_parquet(path, row_group_size=rng.choice([None, 7, 50]))


# --------------------------------------------------------------------------------------------------
# one case: generate, run both paths, compare
# --------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    """One generated case: the file, maybe an earlier overlapping file, the options and the variant."""

    seed: int
    case: int
    fmt: str  # csv | parquet (typed) | parquet_str (all text)
    efmt: str
    so_lag: int | None
    tags: list[str]
    n_dmg: int
    variant_name: str
    variant: dict[str, Any]
    path: Path
    epath: Path | None


def _recolumn(e: Panel, p: Panel) -> Panel:
    """The earlier panel with the later one's columns and headers (the values it lacks blank)."""
    rows = []
    for r in e.rows:
        cells = dict(zip(e.cols, r, strict=True))
        rows.append(["x" if c.startswith("extra") else cells.get(c) for c in p.cols])
    return Panel(list(p.cols), list(p.header), rows, e.tags)


def generate(seed: int, case: int, work: Path) -> Case:
    """Write case `case` of `seed` into `work` (the same files for the same seed and case)."""
    rng = random.Random(seed * 1_000_003 + case)
    fmt = rng.choice(["csv", "csv", "parquet", "parquet_str"])
    so_lag = rng.choice([0, 0, 0, 0, 1, None])
    base_seed = rng.randrange(10**9)
    funds = rng.sample(TICKERS, rng.randint(1, 6))
    n_days = rng.choice([1, 2, 3, 5, 8, 20, 60, 150, 300, rng.randint(1, 300)])
    start = rng.randrange(0, len(ALL_SESSIONS) - n_days - 10)
    p = make_panel(rng, (start, start + n_days), funds, base_seed)
    n_dmg = rng.choice([0, 0, 1, 1, 1, 1, 2])
    for _ in range(n_dmg):
        damage(rng, p, typed=fmt == "parquet")
    path = work / ("case.csv" if fmt == "csv" else "case.parquet")
    if fmt == "csv":
        write_csv(p, path, rng)
    else:
        write_parquet(p, path, rng, all_string=fmt == "parquet_str")

    # an earlier, overlapping, clean panel, mostly from the same underlying series
    efmt = rng.choice(["csv", "parquet", "parquet" if fmt == "parquet_str" else fmt])
    elen = max(1, rng.randint(1, n_days + 5))
    estart = max(0, start - rng.randint(0, elen))
    erng = random.Random(rng.randrange(10**9))
    efunds = rng.sample(funds, rng.randint(1, len(funds))) if rng.random() < 0.7 else funds
    ebase = base_seed if rng.random() < 0.85 else base_seed + 1
    e = make_panel(erng, (estart, estart + elen), efunds, ebase, clean=True)
    if rng.random() < 0.6:  # the later file's columns (else its own set)
        e = _recolumn(e, p)
    if rng.random() < 0.3 and e.rows:  # a few values differ from the later file's
        vi = e.value_indexes(("nav", "shares_outstanding", "total_net_assets", "close"))
        for _ in range(rng.randint(1, 3)):
            r, jj = rng.choice(e.rows), rng.choice(vi)
            if isinstance(r[jj], float):
                r[jj] = r[jj] * rng.choice([1.001, 0.5, 1.0, 2.0]) if rng.random() < 0.8 else None
    epath: Path | None = work / ("early.csv" if efmt == "csv" else "early.parquet")
    assert epath is not None
    if efmt == "csv":
        write_csv(e, epath, erng)
    else:
        write_parquet(e, epath, erng, all_string=False)

    variant_name, variant = "default", {}
    if rng.random() < 0.5:
        variant_name, variant = (
            "chunked",
            {
                "no_sql": True,
                "_CSV_BLOCK": rng.choice([40, 64, 100, 300, 1000, 5000]),
                "CHUNK_ROWS": rng.choice([1, 3, 17, 50, 1000]),
                "BULK_ROWS": rng.choice([1, 7, 50, 10**6]),
                "BULK_READ_ROWS": rng.choice([1, 10, 100, 8_000_000]),
                "FLOW_GROUP_ROWS": rng.choice([1, 30, 250_000]),
            },
        )
    elif rng.random() < 0.5:
        variant_name, variant = (
            "small_blocks",
            {
                "BULK_ROWS": rng.choice([1, 7, 50]),
                "BULK_READ_ROWS": rng.choice([1, 10, 100]),
                "FLOW_GROUP_ROWS": rng.choice([1, 30]),
            },
        )
    if rng.random() < 0.4:
        epath = None
    return Case(seed, case, fmt, efmt, so_lag, p.tags, n_dmg, variant_name, variant, path, epath)


#: (module, attribute) a variant may replace; all are restored after each streamed run
PATCHED = [
    (ingest, "_CSV_BLOCK"),
    (ingest, "CHUNK_ROWS"),
    (ingest, "_stage_csv_sql"),
    (ingest, "_stage_parquet_sql"),
    (refresh, "BULK_ROWS"),
    (refresh, "BULK_READ_ROWS"),
    (refresh, "FLOW_GROUP_ROWS"),
]


def _never_staged(*_a: Any, **_k: Any) -> bool:
    return False


@contextlib.contextmanager
def variant_applied(variant: dict[str, Any], sql_taken: list[bool]) -> Iterator[None]:
    """Set a variant's module attributes (and spy on the SQL staging); restore all of them on exit."""
    saved = {(mod, name): getattr(mod, name) for mod, name in PATCHED}

    def spy(real: Callable[..., bool]) -> Callable[..., bool]:
        def staged(*a: Any, **k: Any) -> bool:
            sql_taken.append(bool(real(*a, **k)))
            return sql_taken[-1]

        return staged

    try:
        for mod, name in PATCHED:
            if name in variant:
                setattr(mod, name, variant[name])
        for name in ("_stage_csv_sql", "_stage_parquet_sql"):
            setattr(ingest, name, _never_staged if variant.get("no_sql") else spy(saved[(ingest, name)]))
        yield
    finally:
        for (mod, name), value in saved.items():
            setattr(mod, name, value)


@dataclasses.dataclass
class Outcome:
    """What importing one file did: accepted (drop counts) or refused (error), and the tables after."""

    ok: bool
    error: tuple[str, str] | None = None  # (type, message); type "CRASH:<name>" if not an EtfflowError
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)
    rows: int = 0
    unchanged: bool = True  # (refused) the warehouse is as before the file
    stage_left: int = 0  # staging tables left behind
    tables: dict[str, pl.DataFrame] = dataclasses.field(default_factory=dict)

    def summary(self) -> str:
        if self.ok:
            return f"ok rows={self.rows} dropped={self.dropped}"
        assert self.error is not None
        return f"{self.error[0]}: {self.error[1][:600]} unchanged={self.unchanged}"


def _tables(s: Store) -> dict[str, pl.DataFrame]:
    return {"daily": s.read("daily").drop("retrieved_at"), "flows_daily": s.read("flows_daily")}


def _error(exc: Exception) -> tuple[str, str]:
    if isinstance(exc, EtfflowError):
        return type(exc).__name__, str(exc)
    return "CRASH:" + type(exc).__name__, "".join(traceback.format_exception(exc))[-1500:]


def _empty_db(db: Path) -> Path:
    """An empty warehouse at `db` (a copy of one made once per folder: the DDL costs more)."""
    template = db.parent / "empty.duckdb.template"
    if not template.exists():
        with Store(template):
            pass
    shutil.copy(template, db)
    return db


def _import_each(
    db: Path, paths: list[Path], one: Callable[[Store, Path], tuple[dict[str, int], int]]
) -> list[Outcome]:
    """Import the files in turn with `one` (returns drop counts and rows); an outcome per file."""
    outs = []
    with Store(_empty_db(db)) as s:
        for p in paths:
            before = _tables(s), s.counts()
            try:
                dropped, rows = one(s, p)
                out = Outcome(True, dropped=dropped, rows=rows)
            except Exception as exc:  # a crash is an outcome too
                out = Outcome(False, error=_error(exc))
                out.unchanged = s.counts() == before[1] and all(
                    frame.equals(before[0][name]) for name, frame in _tables(s).items()
                )
            out.stage_left = s.connection.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name LIKE '_etfflow%'"
            ).fetchone()[0]
            out.tables = _tables(s)
            outs.append(out)
    return outs


def whole_file(s: Store, path: Path, so_lag: int | None) -> tuple[dict[str, int], int]:
    read = read_generic_parquet if path.suffix == ".parquet" else read_generic_csv
    batch = read(path, retrieved_at=STAMP, so_lag=so_lag)
    pipeline.write_batch(s, batch)
    return dict(batch.dropped), batch.daily.height


def streamed(s: Store, path: Path, so_lag: int | None) -> tuple[dict[str, int], int]:
    (res,) = pipeline.import_paths(s, [path], retrieved_at=STAMP, so_lag=so_lag)
    return dict(res.dropped), res.rows


def compare(ref: Outcome, got: Outcome) -> list[str]:
    """The differences between the whole-file (`ref`) and streamed (`got`) outcomes of one file."""
    if ref.ok != got.ok:
        return ["outcome:" + ("ref_ok" if ref.ok else "ref_err") + "/" + ("str_ok" if got.ok else "str_err")]
    d = ["stage_left"] if got.stage_left else []
    if not ref.ok:
        assert ref.error is not None and got.error is not None
        if ref.error[0].startswith("CRASH") or got.error[0].startswith("CRASH"):
            d.append("crash")
        if ref.error[0] != got.error[0]:
            d.append("err_type")
        elif ref.error[1] != got.error[1]:
            d.append("err_msg")
        d += ["str_changed_on_refusal"] * (not got.unchanged) + ["ref_changed_on_refusal"] * (
            not ref.unchanged
        )
        return d
    if ref.dropped != got.dropped:
        d.append("dropped")
    d += [f"table:{t}" for t in ("daily", "flows_daily") if not ref.tables[t].equals(got.tables[t])]
    return d


@dataclasses.dataclass
class CaseResult:
    """A case and, per phase (``fresh``; ``overlay``, or ``early`` when the earlier file already
    differed), the whole-file and streamed outcomes and their differences."""

    case: Case
    phases: dict[str, tuple[Outcome, Outcome, list[str]]]
    sql_taken: list[bool]
    secs: float

    def outcome(self) -> str:
        """The fresh import's outcome by the whole-file reader: accepted, dropped or refused:<type>."""
        ref = self.phases["fresh"][0]
        if not ref.ok:
            assert ref.error is not None
            return "refused:" + ref.error[0]
        return "dropped" if any(ref.dropped.values()) else "accepted"


def run_case(seed: int, case: int, work: Path | None = None) -> CaseResult:
    """Generate case `case` of `seed` and import it both ways, fresh and over the earlier file."""
    with contextlib.ExitStack() as stack:
        if work is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fuzz_readers")))
        for f in work.glob("*.duckdb*"):
            if not f.name.endswith(".template"):
                f.unlink()
        c = generate(seed, case, work)
        t0 = time.perf_counter()
        sql_taken: list[bool] = []

        def both(name: str, paths: list[Path]) -> tuple[list[Outcome], list[Outcome]]:
            ref = _import_each(work / f"ref_{name}.duckdb", paths, lambda s, p: whole_file(s, p, c.so_lag))
            with variant_applied(c.variant, sql_taken):
                got = _import_each(work / f"str_{name}.duckdb", paths, lambda s, p: streamed(s, p, c.so_lag))
            return ref, got

        (ref,), (got,) = both("fresh", [c.path])
        phases = {"fresh": (ref, got, compare(ref, got))}
        if c.epath is not None:
            refs, gots = both("overlay", [c.epath, c.path])
            early = compare(refs[0], gots[0])
            if refs[0].ok and gots[0].ok and not early:
                phases["overlay"] = (refs[1], gots[1], compare(refs[1], gots[1]))
            else:
                phases["early"] = (refs[0], gots[0], early)
        return CaseResult(c, phases, sql_taken, round(time.perf_counter() - t0, 2))


def _is_known(c: Case, phase: str, ref: Outcome, got: Outcome, diffs: list[str]) -> bool:
    """The documented differences (module docstring): two errors in different chunks, each path naming a
    different one; dates in two formats, each path naming the first its chosen format cannot read."""
    if phase not in ("fresh", "overlay") or ref.ok or got.ok or not set(diffs) <= {"err_type", "err_msg"}:
        return False
    two_errors = sum(t.startswith("dmg:") or t in _ERROR_TAGS for t in c.tags) >= 2
    return two_errors or (set(diffs) == {"err_msg"} and _not_a_date(ref) and _not_a_date(got))


def _not_a_date(outcome: Outcome) -> bool:
    return (
        outcome.error is not None
        and outcome.error[0] == "ParseError"
        and ": not a date: " in outcome.error[1]
    )


#: generated features that are errors in their own right (besides the `dmg:` damages)
_ERROR_TAGS = frozenset({"dup_conflict", "zero_fund"})


def known_differences(result: CaseResult) -> list[str]:
    """The result's differences of the known, tolerated class ("phase:diff")."""
    return [
        f"{phase}:{d}"
        for phase, (ref, got, diffs) in result.phases.items()
        if diffs and _is_known(result.case, phase, ref, got, diffs)
        for d in diffs
    ]


def discrepancies(result: CaseResult) -> list[str]:
    """The result's unexpected differences ("phase:diff"); empty when the two paths agree."""
    return [
        f"{phase}:{d}"
        for phase, (ref, got, diffs) in result.phases.items()
        if diffs and not _is_known(result.case, phase, ref, got, diffs)
        for d in diffs
    ]


def _frame_diff(a: pl.DataFrame, b: pl.DataFrame) -> str:
    if a.shape != b.shape or a.columns != b.columns:
        ka = set(a.select(a.columns[:2]).rows()) if a.height else set()
        kb = set(b.select(b.columns[:2]).rows()) if b.height else set()
        only_a, only_b = sorted(ka - kb, key=str)[:5], sorted(kb - ka, key=str)[:5]
        return f"shapes {a.shape} vs {b.shape}; only whole-file: {only_a} only streamed: {only_b}"
    out = []
    for col in a.columns:
        sa, sb = a[col], b[col]
        neq = ~((sa == sb).fill_null(False) | (sa.is_null() & sb.is_null()))
        if sa.dtype.is_float():
            neq &= ~(sa.is_nan() & sb.is_nan()).fill_null(False)
        if neq.any():
            i = int(neq.arg_true()[0])
            out.append(
                f"{col} first at {a.row(i)[:2]}: whole={sa[i]!r} streamed={sb[i]!r} ({neq.sum()} rows)"
            )
    return "; ".join(out) or "(no cell differs: dtype?)"


def describe(result: CaseResult) -> str:
    """Both outcomes of every phase, and where the tables differ."""
    c = result.case
    lines = [
        f"case {c.seed}/{c.case}: {c.fmt} (earlier {c.efmt}) so_lag={c.so_lag} {c.variant_name} {c.variant}"
    ]
    lines.append(f"  tags: {c.tags}")
    for phase, (ref, got, diffs) in result.phases.items():
        lines += [
            f"[{phase}] diffs={diffs}",
            f"  whole-file: {ref.summary()}",
            f"  streamed  : {got.summary()}",
        ]
        lines += [
            f"  {t}: {_frame_diff(ref.tables[t], got.tables[t])}" for t in ref.tables if f"table:{t}" in diffs
        ]
    return "\n".join(lines)


def _record(result: CaseResult) -> dict[str, Any]:
    c = result.case
    rec: dict[str, Any] = {
        "seed": c.seed,
        "case": c.case,
        "fmt": c.fmt,
        "efmt": c.efmt,
        "so_lag": c.so_lag,
        "tags": c.tags,
        "variant": c.variant_name,
        "tuning": c.variant,
        "n_dmg": c.n_dmg,
        "sql_taken": result.sql_taken,
        "secs": result.secs,
        "unexpected": discrepancies(result),
        "known": known_differences(result),
    }
    for phase, (ref, got, diffs) in result.phases.items():
        rec[phase] = {"diffs": diffs, "whole_file": ref.summary(), "streamed": got.summary()}
    if rec["unexpected"] or rec["known"]:
        rec["detail"] = describe(result)
    return rec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--start", type=int, default=0, help="first case number")
    parser.add_argument("--minutes", type=float, help="stop starting new cases after this long")
    parser.add_argument("--out", type=Path, help="append one JSON record per case to this file")
    parser.add_argument("--replay", nargs=2, type=int, metavar=("SEED", "CASE"), help="show one case")
    parser.add_argument("--keep", type=Path, help="(with --replay) copy the case's files here")
    args = parser.parse_args(argv)
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(prefix="fuzz_readers", dir=shm if shm.is_dir() else None) as tmp:
        work = Path(tmp)
        if args.replay:
            result = run_case(*args.replay, work=work)
            sys.stdout.write(describe(result) + "\n")
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for p in (result.case.path, result.case.epath):
                    if p is not None:
                        shutil.copy(p, args.keep / p.name)
            return 1 if discrepancies(result) else 0
        return _run(args, work)


def _run(args: argparse.Namespace, work: Path) -> int:
    t0 = time.monotonic()
    counts: Counter[tuple[str, str]] = Counter()
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    details: dict[tuple[str, str], str] = {}
    fh = args.out.open("a", encoding="utf-8") if args.out else None
    try:
        for case in range(args.start, args.start + args.cases):
            if args.minutes is not None and time.monotonic() - t0 > args.minutes * 60:
                break
            try:
                result = run_case(args.seed, case, work=work)
            except Exception:  # the harness itself failed: a discrepancy to look at
                rec: dict[str, Any] = {
                    "seed": args.seed,
                    "case": case,
                    "harness": traceback.format_exc()[-2000:],
                }
                groups[("unexpected", "harness_error")].append(case)
                details.setdefault(("unexpected", "harness_error"), rec["harness"])
            else:
                rec = _record(result)
                c = result.case
                counts.update(
                    [
                        ("cases", "all"),
                        ("format", c.fmt),
                        ("variant", c.variant_name),
                        ("outcome", result.outcome()),
                    ]
                )
                counts[
                    "phase", "overlay" if "overlay" in result.phases else "early" if c.epath else "fresh only"
                ] += 1
                for kind in ("unexpected", "known"):
                    if rec[kind]:
                        key = (kind, " ".join(rec[kind]) + f" [{c.fmt}; {' '.join(sorted(_damages(c)))}]")
                        groups[key].append(case)
                        details.setdefault(key, rec["detail"])
                        if kind == "unexpected":
                            sys.stderr.write(f"case {case}: {rec['unexpected']}\n")
            if fh is not None:
                fh.write(json.dumps(rec, default=str) + "\n")
                fh.flush()
    finally:
        if fh is not None:
            fh.close()
    out = [f"seed {args.seed}: {counts['cases', 'all']} cases in {time.monotonic() - t0:.0f} s"]
    for dim in ("format", "variant", "outcome", "phase"):
        out.append(f"  {dim}: " + ", ".join(f"{k}={n}" for (d, k), n in sorted(counts.items()) if d == dim))
    unexpected = sum(len(v) for (kind, _), v in groups.items() if kind == "unexpected")
    known = sum(len(v) for (kind, _), v in groups.items() if kind == "known")
    out.append(f"discrepancies: {unexpected} unexpected, {known} known (see the module docstring)")
    for (kind, key), cases in sorted(groups.items(), key=lambda kv: (kv[0][0] != "unexpected", -len(kv[1]))):
        out.append(f"  {kind.upper()} x{len(cases)}: {key}  (cases {cases[:8]})")
        if kind == "unexpected":
            out.append("    " + details[(kind, key)].replace("\n", "\n    ")[:2500])
    sys.stdout.write("\n".join(out) + "\n")
    return 1 if unexpected else 0


def _damages(c: Case) -> list[str]:
    """The tags that can make a file refused or rows dropped (for grouping)."""
    return [
        t for t in c.tags if t.startswith("dmg:") or t in ("dup_same", "dup_conflict", "zero_fund", "lower")
    ]


if __name__ == "__main__":
    sys.exit(main())
