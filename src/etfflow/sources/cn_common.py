"""Helpers shared by the China A-share readers: numbers per cell, the funds rows they carry, finishing.

Every China reader stamps its rows on XSHG sessions (Shanghai and Shenzhen share one calendar), keeps
tickers in exchange form (`512880.SH`) and adds `funds` rows (market CN, currency CNY and the shipped
classification) for the funds it imports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import polars as pl

from etfflow.errors import ParseError
from etfflow.sources.base import MISSING_TOKENS, ImportBatch, Locator, finish
from etfflow.universe.cn import cn_funds

__all__ = ["CN_MARKET", "finish_cn", "parse_cells", "parse_cn_date"]

CN_MARKET = "CN"
_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")


def parse_cn_date(text: str, *, file: str, row: int, field: str) -> dt.date:
    """`2025-12-31` or `2025/12/31` (Wind writes both, months and days with or without a leading zero)."""
    m = _DATE.match(text.strip())
    try:
        if m is None:
            raise ValueError(text)
        return dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise ParseError(
            f"not a date: {text!r} (expected YYYY-MM-DD or YYYY/M/D)", file=file, row=row, field=field
        ) from None


def parse_cells(frame: pl.DataFrame, column: str, *, file: str, locate: Locator, field_col: str) -> pl.Series:
    """A string column as Float64 (missing tokens null); a bad cell raises naming its row and the
    field given by `field_col` of that row (the fund code of a wide panel's column)."""
    s = frame.get_column(column).str.strip_chars()
    missing = s.is_null() | s.str.to_lowercase().is_in(list(MISSING_TOKENS))
    num = s.cast(pl.Float64, strict=False)
    bad = (num.is_null() | num.is_nan() | num.is_infinite()) & ~missing
    if bad.any():
        i = int(bad.arg_true()[0])
        raise ParseError(
            f"not a number: {s[i]!r}",
            file=file,
            row=locate(int(frame["_row"][i])),
            field=str(frame[field_col][i]),
        )
    return num.zip_with(~missing, pl.Series(column, [None] * len(num), dtype=pl.Float64)).alias(column)


def finish_cn(
    frame: pl.DataFrame,
    *,
    file: str,
    source: str,
    so_lag: int | None,
    retrieved_at: dt.datetime,
    locate: Locator,
    labels: dict[str, str],
    dropped: dict[str, int],
    notes: list[str],
) -> ImportBatch:
    """`finish` on the XSHG calendar, plus the funds rows (market CN, currency CNY) of its tickers."""
    batch = finish(
        frame,
        file=file,
        source=source,
        so_lag=so_lag,
        retrieved_at=retrieved_at,
        locate=locate,
        labels=labels,
        dropped=dropped,
        notes=notes,
        market=CN_MARKET,
    )
    tickers = sorted(set(batch.daily["ticker"].to_list()))
    return dataclasses.replace(batch, tables={**batch.tables, "funds": cn_funds(tickers)})
