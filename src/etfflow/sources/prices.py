"""Daily price files as users download them, recognised by content (gzip or not).

Layouts (header; prices as stated -> what `daily` stores, under which source):
- Stooq ``<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,...``: adjusted for dividends and splits -> the
  adjusted close (``stooq_adjusted``);
- AlphaVantage ``timestamp|date,open,high,low,close,adjusted_close,volume,dividend_amount,
  split_coefficient`` (newest first): raw OHLC plus an adjusted close -> raw open/close, volume,
  dividends, splits (``alphavantage``);
- Yahoo adjusted close ``Date,Close``: adjusted (total return) -> the adjusted close (``yahoo_adjclose``);
- yfinance export ``Date,Open,High,Low,Close,Volume,Dividends,Stock Splits[,...]`` with dates like
  ``1998-12-22 00:00:00-05:00``: adjusted (``auto_adjust``) -> raw open/close rebuilt from the adjusted
  series, dividends and splits, raw dividends, splits (``yfinance_csv``).

Raw vs adjusted matters: flows value share changes at the raw price of the day, and AUM is shares x raw
NAV; total returns need the adjusted series (or raw closes plus dividends and splits, which the close
basis of the backtest adds itself). An adjusted-only file is stored as the close of a source named for
it (`*_adjusted` / ``yahoo_adjclose``): its returns are total returns, and `SOURCE_PRIORITY` ranks it
below every raw close (flows.daily), so any raw close from another source wins for flows.

Rebuilding yfinance's raw prices: Yahoo multiplies prices before an ex-date s by ``1 - D_s / C_(s-1)``
(C the raw close of the session before) and divides them by each later split ratio. Walking back from
the newest row (factor 1), ``C_t = A_t / M_(t+1) + D_(t+1)`` and ``M_t = A_t / C_t`` invert it exactly
(A the adjusted close, M the running dividend factor); multiplying by the later split ratios undoes
splits. On XLB this matches AlphaVantage's raw close to the cent (tests/test_files_prices.py).

`read_prices` gives a price table for `backtest --prices` (date, ticker, open, close, adjusted_close):
the adjusted close for returns, raw open/close only where the file states them (so that premiums and
open-to-close returns never mix raw and adjusted prices).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from etfflow.errors import ParseError
from etfflow.sources.base import (
    ImportBatch,
    PathLike,
    decode_text,
    finish,
    parse_dates,
    parse_float,
    read_bytes,
    resolve_retrieved_at,
)

__all__ = [
    "LAYOUTS",
    "PriceSeries",
    "layout_of",
    "price_table",
    "read_price_file",
    "read_prices",
    "sniff_price_file",
    "ticker_from_name",
]

_TICKER = re.compile(r"^[A-Z][A-Z0-9.\-]{0,11}$")
_AV = ("open", "high", "low", "close", "adjusted_close", "volume", "dividend_amount", "split_coefficient")
_YF = ("date", "open", "high", "low", "close", "volume", "dividends", "stock_splits")
_TZ_STAMP = r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$"


@dataclass(frozen=True)
class PriceSeries:
    """One fund's daily prices from one file, oldest first; `adjusted` says what `close` is."""

    layout: str
    ticker: str
    #: date, open, close (raw where the file states raw prices), adjusted_close, volume, distribution,
    #: split_factor, _row (the file line)
    frame: pl.DataFrame
    #: True when the file states only adjusted prices (open/close are then adjusted too)
    adjusted_only: bool
    notes: tuple[str, ...]


def _header(head: bytes) -> list[str]:
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return [re.sub(r"[^0-9a-z<>]+", "_", c.strip().strip('"').lower()).strip("_") for c in first.split(",")]


def _is_stooq(cells: list[str]) -> bool:
    return cells[:3] == ["<ticker>", "<per>", "<date>"] and "<close>" in cells


def _is_alphavantage(cells: list[str]) -> bool:
    return bool(cells) and cells[0] in ("timestamp", "date") and all(c in cells for c in _AV)


def _is_yahoo_adjclose(cells: list[str]) -> bool:
    return cells == ["date", "close"]


def _is_yfinance(cells: list[str]) -> bool:
    return cells[: len(_YF)] == list(_YF)


#: layout name -> sniffer over the header cells (lower case, punctuation as "_")
LAYOUTS: dict[str, Callable[[list[str]], bool]] = {
    "stooq": _is_stooq,
    "alphavantage": _is_alphavantage,
    "yahoo_adjclose": _is_yahoo_adjclose,
    "yfinance_csv": _is_yfinance,
}
_SOURCE = {
    "stooq": "stooq_adjusted",
    "alphavantage": "alphavantage",
    "yahoo_adjclose": "yahoo_adjclose",
    "yfinance_csv": "yfinance_csv",
}


def layout_of(head: bytes) -> str | None:
    """The price layout of a file's first bytes (decompressed), or None."""
    if b"\x00" in head[:4096]:
        return None
    cells = _header(head)
    return next((name for name, test in LAYOUTS.items() if test(cells)), None)


def sniff_price_file(head: bytes) -> bool:
    """A daily price file of one of LAYOUTS."""
    return layout_of(head) is not None


def ticker_from_name(path: PathLike) -> str | None:
    """'aaa.us.txt.gz' -> 'AAA', 'XLB.csv' -> 'XLB' (None when the name is not a ticker)."""
    name = Path(path).name.upper()
    for suffix in (".GZ", ".CSV", ".TXT", ".US"):
        name = name.removesuffix(suffix)
    return name if _TICKER.match(name) else None


def _read_csv(text: str, file: str) -> tuple[pl.DataFrame, dict[str, str]]:
    """All columns as strings under normalised names, with `_row` (file line); and name -> header."""
    try:
        frame = pl.read_csv(io.StringIO(text), infer_schema=False)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise ParseError(f"not a readable CSV file: {exc}", file=file) from exc
    names = {c: re.sub(r"[^0-9a-z]+", "_", c.strip().lower()).strip("_") for c in frame.columns}
    frame = frame.rename(names)
    frame = frame.with_columns(pl.all().str.strip_chars()).with_row_index("_row")
    frame = frame.with_columns((pl.col("_row").cast(pl.Int64) + 2).alias("_row"))
    return frame, {v: k.strip() for k, v in names.items()}


def _line(row: int) -> int:
    return row


def _floats(frame: pl.DataFrame, col: str, label: str, file: str) -> pl.Series:
    return parse_float(frame[col], frame["_row"], file=file, field=label, locate=_line)


def read_prices(path: PathLike, *, ticker: str | None = None) -> PriceSeries:
    """Parse a price file of any of LAYOUTS (see the module doc); ParseError names file, line and column."""
    file = str(path)
    text = decode_text(read_bytes(path))
    layout = layout_of(text[:4096].encode("utf-8", errors="replace"))
    if layout is None:
        raise ParseError(f"not a known price layout (known: {list(LAYOUTS)})", file=file, row=1)
    raw, header = _read_csv(text, file)
    notes: list[str] = []
    if layout == "stooq":  # <PER> D = daily bars; W or M would not be sessions
        per = raw["per"].fill_null("").str.to_uppercase() != "D"
        if per.any():
            i = int(per.arg_true()[0])
            raise ParseError(
                f"not a daily series: <PER> is {raw['per'][i]!r}",
                file=file,
                row=int(raw["_row"][i]),
                field="<PER>",
            )
    symbol = _resolve_ticker(raw, layout, ticker, path, notes)
    date_col = raw.columns[1] if layout == "alphavantage" else "date"
    dates = raw[date_col]
    stamped = dates.str.contains(_TZ_STAMP).fill_null(False)
    if stamped.any():
        notes.append("time-stamped dates read as the local date (time and zone dropped)")
        dates = raw.select(pl.when(stamped).then(dates.str.slice(0, 10)).otherwise(dates).alias("d"))["d"]
    formats = ("%Y%m%d",) if layout == "stooq" else ("%Y-%m-%d",)
    out = {
        "_row": raw["_row"],
        "date": parse_dates(
            dates.alias("date"), raw["_row"], file=file, field=header[date_col], locate=_line, formats=formats
        ),
    }
    #: canonical column -> the file's column, per layout
    columns = {
        "alphavantage": {
            "open": "open",
            "close": "close",
            "adjusted_close": "adjusted_close",
            "volume": "volume",
            "distribution": "dividend_amount",
            "split_factor": "split_coefficient",
        },
        "yfinance_csv": {
            "open": "open",
            "close": "close",
            "volume": "volume",
            "distribution": "dividends",
            "split_factor": "stock_splits",
        },
        "stooq": {"open": "open", "close": "close", "volume": "vol"},
        "yahoo_adjclose": {"close": "close"},
    }[layout]
    label = {canon: header[col] for canon, col in columns.items()}
    adjusted_only = layout in ("stooq", "yahoo_adjclose", "yfinance_csv")
    for canon, col in columns.items():
        out[canon] = _floats(raw, col, header[col], file)
    for canon in ("open", "volume"):
        out.setdefault(canon, pl.Series(canon, [None] * raw.height, pl.Float64))
    frame = pl.DataFrame([s.alias(k) for k, s in out.items()]).sort("date")
    if frame["date"].is_duplicated().any():
        i = int(frame["date"].is_duplicated().arg_true()[1])
        raise ParseError(
            f"date {frame['date'][i]} appears twice",
            file=file,
            row=int(frame["_row"][i]),
            field=header[date_col],
        )
    zeros = 0
    for col in ("close", "open", "adjusted_close", "volume", "distribution", "split_factor"):
        if col not in label:
            continue
        if (frame[col] < 0).any():
            i = int((frame[col] < 0).arg_true()[0])
            what = "price" if col in ("close", "open", "adjusted_close") else "value"
            raise ParseError(
                f"{what} must not be negative, got {frame[col][i]}",
                file=file,
                row=int(frame["_row"][i]),
                field=label[col],
            )
        if col not in ("close", "open", "adjusted_close"):
            continue
        zero = int((frame[col] == 0).sum())
        if zero:  # a vendor's "no trade" placeholder (Stooq has 0.0 opens), never a price
            zeros += zero
            frame = frame.with_columns(pl.when(pl.col(col) == 0).then(None).otherwise(pl.col(col)).alias(col))
    if zeros:
        notes.append(f"{zeros} zero price(s) read as missing")
    if layout == "yfinance_csv":
        frame = _unadjust_yfinance(frame)
        adjusted_only = False
        notes.append("raw open and close rebuilt from yfinance's adjusted prices, dividends and splits")
    elif layout == "alphavantage":
        frame = frame.with_columns(
            pl.when(pl.col("split_factor") == 1.0)
            .then(None)
            .otherwise(pl.col("split_factor"))
            .alias("split_factor"),
            pl.when(pl.col("distribution") == 0.0)
            .then(None)
            .otherwise(pl.col("distribution"))
            .alias("distribution"),
        )
        zero_split = (frame["split_factor"] == 0).fill_null(False)
        if zero_split.any():
            i = int(zero_split.arg_true()[0])
            raise ParseError(
                "split coefficient must be positive (1 = no split)",
                file=file,
                row=int(frame["_row"][i]),
                field=label["split_factor"],
            )
    else:
        frame = frame.with_columns(pl.col("close").alias("adjusted_close"))
        notes.append(
            f"{layout}: prices are adjusted for dividends and splits (total return); stored as the close of "
            f"source {_SOURCE[layout]!r}, which any raw close outranks for flows"
        )
    return PriceSeries(layout, symbol, frame, adjusted_only, tuple(notes))


def _resolve_ticker(
    raw: pl.DataFrame, layout: str, ticker: str | None, path: PathLike, notes: list[str]
) -> str:
    """The fund's ticker: stated in the file (<TICKER>, a `ticker` column), else given, else the file name."""
    file = str(path)
    stated: str | None = None
    col = "ticker" if "ticker" in raw.columns else None
    if col:
        values = raw[col].drop_nulls().unique().to_list()
        if len(values) != 1:
            raise ParseError(
                f"one fund per price file, found tickers {sorted(values)[:5]}", file=file, field=col
            )
        stated = str(values[0]).upper().removesuffix(".US")
    given = ticker.strip().upper() if ticker else None
    if stated and given and stated != given:
        raise ParseError(f"ticker={given!r} but the file states {stated!r}", file=file, field="ticker")
    symbol = stated or given
    if symbol is None:
        symbol = ticker_from_name(path)
        if symbol is None:
            raise ParseError(
                "the file does not state its ticker and its name is not one; pass ticker=",
                file=file,
                field="ticker",
            )
        notes.append(f"ticker {symbol} taken from the file name")
    if not _TICKER.match(symbol):
        raise ParseError(f"not a ticker: {symbol!r}", file=file, field="ticker")
    return symbol


def _unadjust_yfinance(frame: pl.DataFrame) -> pl.DataFrame:
    """Raw open/close/volume/dividends from yfinance's adjusted columns (see the module doc)."""
    adj = frame["close"].fill_null(np.nan).to_numpy().astype(np.float64)
    div = frame["distribution"].fill_null(0.0).to_numpy().astype(np.float64)
    split = frame["split_factor"].fill_null(0.0).to_numpy().astype(np.float64)
    n = len(adj)
    c = np.empty(n)
    if n:
        c[-1] = adj[-1]
        m = 1.0
        for t in range(n - 2, -1, -1):
            if not np.isfinite(adj[t]):  # a missing close: no price that day, the factor carries on
                c[t] = np.nan
                continue
            c[t] = adj[t] / m + div[t + 1] if div[t + 1] > 0 else adj[t] / m
            m = adj[t] / c[t]
    ratio = np.where(split > 0, split, 1.0)
    later = np.concatenate([np.cumprod(ratio[::-1])[::-1][1:], [1.0]]) if n else np.zeros(0)
    raw_close = c * later
    k = np.divide(raw_close, adj, out=np.full(n, np.nan), where=adj > 0)
    return frame.with_columns(
        pl.Series("adjusted_close", adj),
        pl.Series("close", raw_close),
        (pl.col("open") * pl.Series(k)).alias("open"),
        (pl.col("volume") / pl.Series(later)).alias("volume"),
        pl.when(pl.col("distribution") > 0)
        .then(pl.col("distribution") * pl.Series(later))
        .alias("distribution"),
        pl.when(pl.col("split_factor") > 0).then(pl.col("split_factor")).alias("split_factor"),
    ).with_columns(pl.col("adjusted_close", "close", "open").fill_nan(None))


def read_price_file(
    path: PathLike, *, ticker: str | None = None, retrieved_at: dt.datetime | None = None
) -> ImportBatch:
    """A price file as `daily` rows without share counts (see the module doc for what each layout stores)."""
    file = str(path)
    series = read_prices(path, ticker=ticker)
    stamp = resolve_retrieved_at(path, retrieved_at)
    f = series.frame
    cols = ["_row", "date", "close"]
    if not series.adjusted_only:
        cols += ["open", "volume", "distribution", "split_factor"]
    frame = f.select(cols).with_columns(pl.lit(series.ticker).alias("ticker"))
    dropped: dict[str, int] = {}
    priced = frame["close"].is_not_null()
    if not priced.all():
        dropped["rows_without_close"] = int((~priced).sum())
        frame = frame.filter(priced)
    notes = [
        *series.notes,
        f"{series.layout} prices for {series.ticker}: no share counts (no flows by themselves)",
    ]
    return finish(
        frame,
        file=file,
        source=_SOURCE[series.layout],
        so_lag=None,
        retrieved_at=stamp,
        locate=_line,
        labels={},
        dropped=dropped,
        notes=notes,
    )


def price_table(path: PathLike, *, ticker: str | None = None) -> pl.DataFrame:
    """date, ticker, open, close, adjusted_close for `backtest --prices` (raw open/close where stated)."""
    s = read_prices(path, ticker=ticker)
    f = s.frame
    if s.adjusted_only:
        f = f.with_columns(pl.lit(None, pl.Float64).alias("open"), pl.lit(None, pl.Float64).alias("close"))
    return f.select(
        "date", pl.lit(s.ticker).alias("ticker"), "open", "close", pl.col("adjusted_close").cast(pl.Float64)
    )
