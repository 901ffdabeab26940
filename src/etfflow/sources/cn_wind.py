"""Wind exports of China A-share ETFs: month-end shares and unit NAV panels, daily simple-return panels.

Shares / NAV panels (`ETF_aum_amount.csv`, `ETF_aum_unit_value.csv`): one row per month-end, one
column per fund; a header block of 2-3 rows (fund names, then `Date` and the Wind codes `512880.SH`;
the NAV file starts with a `单位净值` title row); dates `2025-12-31` in one file, `2025/12/31` in the
other. Shares are in 亿份 (1e8 shares), NAV in CNY per share. Hong Kong-listed columns (`.HK`) are
skipped (their market is not supported: counted). A row dated inside a month whose values repeat the
previous row (the export's last row repeats 2025-12-31 as 2026-01-05) is a stale copy: dropped, counted.
The shares count's reporting lag is not stated (so_lag unknown).

Return panels (`ETF_daily_simple_returns.csv`, `index_daily_simple_returns.csv`): a `日期` column and
one column per fund or index, by name only; the shipped `cn_wind_returns.csv` names each column's
fund (verified against the exchange price files where they exist) and, for the index panel, the fund
in the same position, whose index it is.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import numpy as np
import polars as pl

from etfflow import calendar
from etfflow.errors import ParseError, ValidationError
from etfflow.schema import validate
from etfflow.sources.base import (
    ImportBatch,
    PathLike,
    add_dropped,
    decode_text,
    read_bytes,
    resolve_retrieved_at,
)
from etfflow.sources.cn_common import CN_MARKET, finish_cn, parse_cells, parse_cn_date
from etfflow.universe.cn import wind_returns_map

__all__ = [
    "SHARES_UNIT",
    "read_wind_panel",
    "read_wind_returns",
    "sniff_wind_panel",
    "sniff_wind_returns",
]

#: 亿份: Wind states shares outstanding in units of 100 million shares
SHARES_UNIT = 1e8
SOURCE_SHARES = "wind_shares"
SOURCE_NAV = "wind_nav"
SOURCE_RETURNS = "wind_returns"
_NAV_TITLE = "单位净值"
_DATE_NAMES = ("日期", "Date")


def _head_rows(head: bytes, n: int) -> list[list[str]]:
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    lines = text.splitlines()[:n]
    return [next(csv.reader([line]), []) for line in lines]


def sniff_wind_panel(head: bytes) -> bool:
    """A `日期`/`单位净值` first cell, and within the first three rows a `Date` row of Wind codes."""
    rows = _head_rows(head, 3)
    if not rows or not rows[0] or rows[0][0].strip() not in (*_DATE_NAMES, _NAV_TITLE):
        return False
    for r in rows[1:]:
        if r and r[0].strip() == "Date":
            codes = [c for c in r[1:] if c.strip()]
            return bool(codes) and all(c.strip()[-3:] in (".SH", ".SZ", ".HK") for c in codes)
    return False


def sniff_wind_returns(head: bytes) -> bool:
    """A `日期` header whose other columns are the Wind fund or index return series etfflow knows."""
    rows = _head_rows(head, 2)
    if len(rows) < 2 or not rows[0] or rows[0][0].strip() != "日期":
        return False
    m = wind_returns_map()
    names = [c.strip() for c in rows[0][1:]]
    known = set(m["column"].to_list()) | set(m["index"].to_list())
    return bool(names) and sum(n in known for n in names) >= 0.8 * len(names)


def read_wind_panel(path: PathLike, *, retrieved_at: dt.datetime | None = None) -> ImportBatch:
    """Month-end shares (x 1e8) or unit NAV per fund, as `daily` rows of source wind_shares / wind_nav."""
    file = str(path)
    stamp = resolve_retrieved_at(path, retrieved_at)
    rows = list(csv.reader(io.StringIO(decode_text(read_bytes(path)))))
    if not rows:
        raise ParseError("empty file", file=file)
    is_nav = rows[0][0].strip() == _NAV_TITLE
    hdr_i = next((i for i, r in enumerate(rows[:4]) if r and r[0].strip() == "Date"), None)
    if hdr_i is None:
        raise ParseError("no `Date` row of Wind codes in the first 4 rows", file=file, field="Date")
    codes = [c.strip() for c in rows[hdr_i]]
    dropped: dict[str, int] = {}
    notes: list[str] = []
    keep = [j for j, c in enumerate(codes) if j > 0 and c[-3:] in (".SH", ".SZ")]
    hk = [j for j, c in enumerate(codes) if j > 0 and c.endswith(".HK")]
    other = [c for j, c in enumerate(codes) if j > 0 and c and j not in keep and j not in hk]
    if other:
        j = codes.index(other[0])
        raise ParseError(
            f"not a Wind fund code: {other[0]!r}", file=file, row=hdr_i + 1, field=f"column {j + 1}"
        )
    data = [(i + 1, r) for i, r in enumerate(rows[hdr_i + 1 :], start=hdr_i + 1) if any(c.strip() for c in r)]
    for line, r in data:
        if len(r) != len(codes):
            raise ParseError(f"{len(r)} cells where the header has {len(codes)}", file=file, row=line)
    if hk:
        n_hk = sum(1 for _, r in data for j in hk if r[j].strip())
        add_dropped(dropped, "hong_kong_listed_values", n_hk)
        notes.append(f"{len(hk)} Hong Kong-listed fund column(s) skipped (market HK is not supported)")
    dates = [parse_cn_date(r[0], file=file, row=line, field=codes[0] or "Date") for line, r in data]
    data, dates = _drop_stale_repeat(data, dates, keep, dropped, notes)
    value = "nav" if is_nav else "shares_outstanding"
    long = pl.DataFrame(
        {
            "_row": [line for line, _ in data for _ in keep],
            "date": [d for d in dates for _ in keep],
            "ticker": [codes[j] for _ in data for j in keep],
            "_cell": [r[j] for _, r in data for j in keep],
        },
        schema={"_row": pl.Int64, "date": pl.Date, "ticker": pl.String, "_cell": pl.String},
    )

    def locate(row: int) -> int:
        return row

    vals = parse_cells(long, "_cell", file=file, locate=locate, field_col="ticker")
    neg = (vals < 0).fill_null(False)
    if neg.any():
        i = int(neg.arg_true()[0])
        raise ValidationError(
            f"negative {value}: {long['_cell'][i]!r}",
            file=file,
            row=int(long["_row"][i]),
            field=long["ticker"][i],
        )
    if not is_nav:
        vals = (vals * SHARES_UNIT).round(0)
    long = long.with_columns(vals.alias(value)).drop("_cell").filter(pl.col(value).is_not_null())
    return finish_cn(
        long,
        file=file,
        source=SOURCE_NAV if is_nav else SOURCE_SHARES,
        so_lag=None,
        retrieved_at=stamp,
        locate=locate,
        labels={},
        dropped=dropped,
        notes=notes,
    )


def _drop_stale_repeat(
    data: list[tuple[int, list[str]]],
    dates: list[dt.date],
    keep: list[int],
    dropped: dict[str, int],
    notes: list[str],
) -> tuple[list[tuple[int, list[str]]], list[dt.date]]:
    """Drop rows dated before their month's last session whose A-share cells repeat the previous row."""
    if not dates:
        return data, dates
    d = np.array(dates, dtype="datetime64[D]")
    ok = calendar.is_trading_day(d, CN_MARKET)
    ends = d.copy()
    ends[ok] = calendar.period_end(d[ok], "m", CN_MARKET)
    out_rows, out_dates = [data[0]], [dates[0]]
    for k in range(1, len(data)):
        same = all(data[k][1][j].strip() == data[k - 1][1][j].strip() for j in keep)
        if same and ok[k] and ends[k] != d[k]:
            add_dropped(dropped, "stale_repeated_rows", 1)
            notes.append(f"row {data[k][0]} ({dates[k]}) repeats the previous month-end's values: dropped")
            continue
        out_rows.append(data[k])
        out_dates.append(dates[k])
    return out_rows, out_dates


def read_wind_returns(path: PathLike, *, retrieved_at: dt.datetime | None = None) -> ImportBatch:
    """Daily simple returns per fund (or index) as `returns_daily` rows; dates must be XSHG sessions."""
    file = str(path)
    resolve_retrieved_at(path, retrieved_at)
    text = decode_text(read_bytes(path))
    try:
        raw = pl.read_csv(io.StringIO(text), infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise ParseError(f"not a readable CSV file: {exc}", file=file) from exc
    m = wind_returns_map()
    names = raw.columns[1:]
    fund_cols = set(m["column"].to_list())
    is_index = sum(n in fund_cols for n in names) < len(names) / 2
    key = "index" if is_index else "column"
    tick = dict(zip(m[key].to_list(), m["ticker"].to_list(), strict=True))
    unknown = [n for n in names if n not in tick]
    dropped: dict[str, int] = {}
    notes: list[str] = []
    if unknown:
        notes.append(
            f"{len(unknown)} column(s) not in cn_wind_returns.csv kept without a ticker: {unknown[:5]}"
        )
    raw = raw.with_row_index("_row", offset=2).rename({raw.columns[0]: "_date"})
    long = raw.unpivot(index=["_row", "_date"], variable_name="series", value_name="_cell")
    vals = parse_cells(long, "_cell", file=file, locate=lambda r: r, field_col="series")
    long = long.with_columns(vals.alias("simple_return")).filter(pl.col("simple_return").is_not_null())
    dates = long["_date"].str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    if dates.null_count():
        i = int(dates.is_null().arg_true()[0])
        raise ParseError(
            f"not a date: {long['_date'][i]!r}", file=file, row=int(long["_row"][i]), field="日期"
        )
    long = long.with_columns(dates.alias("date"))
    d = long["date"].to_numpy().astype("datetime64[D]")
    ok = calendar.is_trading_day(d, CN_MARKET)
    if not ok.all():
        add_dropped(dropped, "non_session_rows", int((~ok).sum()))
        long = long.filter(pl.Series(ok))
    out = long.select(
        "date",
        "series",
        pl.lit(SOURCE_RETURNS).alias("source"),
        pl.col("series").replace_strict(tick, default=None, return_dtype=pl.String).alias("ticker"),
        pl.lit("index" if is_index else "fund").alias("kind"),
        "simple_return",
    )
    table = validate(out, "returns_daily", file=file)
    empty = validate(pl.DataFrame({"date": [], "ticker": [], "source": []}), "daily", file=file)
    return ImportBatch(
        source=SOURCE_RETURNS,
        file=file,
        daily=empty,
        dropped=dropped,
        notes=notes,
        tables={"returns_daily": table},
    )
