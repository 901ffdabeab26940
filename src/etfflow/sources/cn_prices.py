"""Daily exchange OHLCV of one Shanghai/Shenzhen ETF (China-ETF-LOF-Daily-Market-Data layout).

`,OPEN,HIGH,LOW,CLOSE,VOLUME,AMT` with the date in the unnamed first column, one file per fund named
`<code>_<first>_to_<last>.csv`: the content states no code, so the ticker comes from `--ticker` or
from that file name (`512880_...` -> `512880.SH`, `159915_...` -> `159915.SZ`), whose dates must match
the file's first and last rows.

The source calls its prices unadjusted, but they are forward-adjusted (前复权) for funds that paid
distributions or split: before each such event every price is the traded price times a factor, while
VOLUME and AMT are as traded. Traded ETF prices sit on the 0.001 CNY tick, so the traded prices are
restored exactly: walking back from the newest row (factor 1), a row whose four prices leave the tick
grid starts an older segment, whose factor is the one near AMT / VOLUME / CLOSE that puts all four
prices back on the grid. Each factor change is an event on the newer row: a ratio of old to new factor
beyond 1.25 (or below 0.8) is a split (`split_factor` = that ratio, new shares per old share: 510310's
consolidation on 2024-09-20 is 0.5116), a smaller rise a cash distribution of close x (1 - new/old).
Rows whose prices no factor restores keep no price (counted).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import polars as pl

from etfflow.errors import ParseError
from etfflow.sources.base import (
    ImportBatch,
    PathLike,
    add_dropped,
    drop_blank_rows,
    parse_dates,
    parse_float,
    read_bytes,
    read_csv_strings,
    resolve_retrieved_at,
)
from etfflow.sources.cn_common import finish_cn
from etfflow.universe.cn import cn_ticker

__all__ = ["read_cn_prices", "restore_traded_prices", "sniff_cn_prices"]

SOURCE = "cn_prices"
_HEADER = ("", "open", "high", "low", "close", "volume", "amt")
_NAME = re.compile(r"^(\d{6})_(\d{4}-\d{2}-\d{2})_to_(\d{4}-\d{2}-\d{2})\.csv$")
TICK = 0.001
SPLIT_RATIO = 1.25


def sniff_cn_prices(head: bytes) -> bool:
    """Header `,OPEN,HIGH,LOW,CLOSE,VOLUME,AMT` (first column unnamed or `date`), or the `,OUTMESSAGE`
    file the same download writes when it failed (read to say so)."""
    first = head.decode("utf-8", errors="ignore").lstrip("\ufeff").split("\n", 1)[0]
    cells = tuple(c.strip().lower() for c in first.split(","))
    return cells[0] in ("", "date") and (cells[1:] == _HEADER[1:] or cells[1:] == ("outmessage",))


def _on_grid(p: np.ndarray) -> np.ndarray:
    """Rows (n x 4) whose finite prices are all whole ticks."""
    q = p / TICK
    ok = np.abs(q - np.round(q)) < 1e-6
    return np.asarray(np.all(ok | ~np.isfinite(p), axis=1))


def _solve(p: np.ndarray, guess: float) -> float | None:
    """The factor near `guess` that puts all of one row's prices on the tick grid (nearest one)."""
    c = p[3] if np.isfinite(p[3]) and p[3] > 0 else np.nanmax(p)
    if not np.isfinite(c) or c <= 0:
        return None
    ticks = c * guess / TICK
    span = max(3, int(ticks * 0.06))
    ks = np.arange(max(1, int(ticks) - span), int(ticks) + span + 2)
    f = ks * TICK / c
    fits = _on_grid(np.outer(f, p))
    if not fits.any():
        return None
    cand = f[fits]
    return float(cand[np.argmin(np.abs(cand - guess))])


def restore_traded_prices(prices: np.ndarray, vwap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Traded prices (n x 4: open, high, low, close, oldest first) and each row's factor (NaN: none found).

    `vwap` (AMT / VOLUME, as traded) guides the factor of each older segment.
    """
    n = len(prices)
    fac = np.full(n, np.nan)
    f = 1.0
    end = n
    while end > 0:
        fit = _on_grid(prices[:end] * f)
        bad = np.flatnonzero(~fit)
        j = int(bad[-1]) if len(bad) else -1
        fac[j + 1 : end] = f
        if j < 0:
            break
        guess = vwap[j] / prices[j, 3] if np.isfinite(vwap[j]) and prices[j, 3] > 0 else f
        new = _solve(prices[j], guess)
        if new is None:
            end = j  # this row stays without a price; the segment's factor carries on
            continue
        f = new
        end = j + 1
    return prices * fac[:, None], fac


def _events(fac: np.ndarray, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """split_factor and distribution on the first row of each newer factor segment."""
    n = len(fac)
    split = np.full(n, np.nan)
    dist = np.full(n, np.nan)
    prev = np.nan
    p_close = np.nan
    for i in range(n):
        if np.isnan(fac[i]):
            continue
        if np.isfinite(prev) and abs(fac[i] / prev - 1.0) > 1e-9:
            ratio = prev / fac[i]  # old factor / new factor
            if ratio > SPLIT_RATIO or ratio < 1.0 / SPLIT_RATIO:
                split[i] = ratio
            elif ratio > 1.0 and np.isfinite(p_close):
                dist[i] = round(p_close * (1.0 - fac[i] / prev), 4)
        prev = fac[i]
        p_close = close[i]
    return split, dist


def read_cn_prices(
    path: PathLike, *, ticker: str | None = None, retrieved_at: dt.datetime | None = None
) -> ImportBatch:
    """Traded open, close and volume per session, with the splits and distributions the adjustment shows."""
    file = str(path)
    data = read_bytes(path)
    stamp = resolve_retrieved_at(path, retrieved_at)
    frame, locate = read_csv_strings(data, file)
    frame = frame.rename({frame.columns[0]: "date"})
    if "OUTMESSAGE" in frame.columns:
        msg = frame["OUTMESSAGE"][0] if frame.height else ""
        raise ParseError(f"a failed download, not prices: {msg!r}", file=file, row=2, field="OUTMESSAGE")
    missing = [c for c in ("OPEN", "HIGH", "LOW", "CLOSE", "VOLUME", "AMT") if c not in frame.columns]
    if missing:
        raise ParseError(f"missing column(s) {missing}", file=file, row=1, field=missing[0])
    dropped: dict[str, int] = {}
    notes: list[str] = []
    frame = drop_blank_rows(frame.with_row_index("_row"), dropped)
    rows = frame["_row"]
    dates = parse_dates(frame["date"], rows, file=file, field="date", locate=locate, formats=("%Y-%m-%d",))
    vals = {
        c: parse_float(frame[c.upper()], rows, file=file, field=c.upper(), locate=locate)
        for c in ("open", "high", "low", "close", "volume", "amt")
    }
    tick = _ticker(Path(file), ticker, dates)
    order = np.argsort(dates.to_numpy(), kind="stable")
    p = np.column_stack(
        [vals[c].fill_null(np.nan).to_numpy()[order] for c in ("open", "high", "low", "close")]
    )
    vol = vals["volume"].fill_null(np.nan).to_numpy()[order]
    amt = vals["amt"].fill_null(np.nan).to_numpy()[order]
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap = np.where(vol > 0, amt / vol, np.nan)
    traded, fac = restore_traded_prices(p, vwap)
    split, dist = _events(fac, traded[:, 3])
    n_adj = int(np.sum(np.isfinite(fac) & (np.abs(fac - 1.0) > 1e-12)))
    if n_adj:
        notes.append(
            f"{n_adj} row(s) were forward-adjusted prices: traded prices restored "
            f"({int(np.isfinite(split).sum())} split(s), "
            f"{int(np.isfinite(dist).sum())} distribution(s) found)"
        )
    add_dropped(dropped, "prices_not_restorable", int(np.isnan(fac).sum()))
    out = pl.DataFrame(
        {
            "_row": rows.to_numpy()[order],
            "date": dates.to_numpy()[order],
            "ticker": [tick] * len(order),
            "open": traded[:, 0],
            "close": traded[:, 3],
            "volume": vol,
            "split_factor": split,
            "distribution": dist,
        }
    ).with_columns(pl.col(pl.Float64).fill_nan(None))
    return finish_cn(
        out,
        file=file,
        source=SOURCE,
        so_lag=None,
        retrieved_at=stamp,
        locate=locate,
        labels={"close": "CLOSE", "volume": "VOLUME"},
        dropped=dropped,
        notes=notes,
    )


def _ticker(path: Path, given: str | None, dates: pl.Series) -> str:
    """`--ticker`, else the code of a `<code>_<first>_to_<last>.csv` name whose dates match the rows."""
    if given:
        return cn_ticker(given, file=str(path))
    m = _NAME.match(path.name)
    if m is None:
        raise ParseError(
            "the file states no fund code and its name is not <code>_<first>_to_<last>.csv: give --ticker",
            file=str(path),
        )
    first, last = str(dates.min()), str(dates.max())
    if (first, last) != (m.group(2), m.group(3)):
        raise ParseError(
            f"file name says {m.group(2)} .. {m.group(3)} but the rows run {first} .. {last}: give --ticker",
            file=str(path),
            field="date",
        )
    return cn_ticker(m.group(1), file=str(path))
