"""SPDR Gold Shares (GLD) archive CSV from SSGA: close, NAV per share, volume and the trust's net assets.

The archive states no share count. `shares_outstanding` is derived as total net asset value / NAV per
share (the "NAV/share at 10.30 a.m. NYT" column, the USD NAV per share despite its historical name),
rounded to whole shares. The published NAV has 5 to 8 decimals, so the derived count can be off by a
few shares (at most ~0.5 x TNA x 1e-8 / NAV^2 per share of rounding): a change of e.g. 99,998 shares is
one 100,000-share basket. so_lag=1, as for iShares.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl

from etfflow.calendar import is_trading_day
from etfflow.errors import ParseError
from etfflow.sources.base import (
    MISSING_TOKENS,
    ImportBatch,
    PathLike,
    add_dropped,
    decode_text,
    finish,
    parse_dates,
    parse_float,
    read_bytes,
    resolve_retrieved_at,
)

__all__ = ["GLD_BASKET_SHARES", "GLD_SO_LAG", "read_ssga_gld_csv", "sniff_ssga_gld_csv"]

GLD_SO_LAG = 1
GLD_BASKET_SHARES = 100_000
#: canonical column -> accepted headers (compared case-insensitively)
_COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("Date",),
    "close": ("GLD Close",),
    "nav": ("NAV/share at 10.30 a.m. NYT", "NAV/share", "NAV per share"),
    "volume": ("Daily Share Volume",),
    "total_net_assets": ("Total Net Asset Value in the Trust",),
}
_MISSING = MISSING_TOKENS | {"awaited"}
_DATE_FORMATS = ("%d-%b-%Y",)


def sniff_ssga_gld_csv(head: bytes) -> bool:
    """The GLD archive: a header line starting `Date, GLD Close`."""
    first = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    cells = [c.strip().lower() for c in first.split(b",")]
    return len(cells) > 2 and cells[0] == b"date" and cells[1] == b"gld close"


def read_ssga_gld_csv(
    path: PathLike, *, ticker: str = "GLD", retrieved_at: dt.datetime | None = None
) -> ImportBatch:
    """Daily rows of the GLD archive; HOLIDAY and "NYSE Closed" rows are dropped and counted.

    "AWAITED" cells are read as missing. A HOLIDAY row on an NYSE session (a London-only holiday) leaves
    that session without a row: the gap is noted, never filled.
    """
    file = str(path)
    text = decode_text(read_bytes(path))
    stamp = resolve_retrieved_at(path, retrieved_at)
    lines = text.splitlines()
    if not lines:
        raise ParseError("empty file", file=file)
    header = [h.strip() for h in lines[0].split(",")]
    lower = [h.lower() for h in header]
    where: dict[str, int] = {}
    labels: dict[str, str] = {}
    for canon, names in _COLUMNS.items():
        j = next((lower.index(n.lower()) for n in names if n.lower() in lower), None)
        if j is None:
            raise ParseError(f"missing required column (header: {header})", file=file, row=1, field=names[0])
        where[canon], labels[canon] = j, header[j]

    dropped: dict[str, int] = {}
    notes: list[str] = []
    cols: dict[str, list[str]] = {c: [] for c in where}
    rows: list[int] = []
    holiday_dates: list[str] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            add_dropped(dropped, "blank_rows", 1)
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(header):
            raise ParseError(f"expected {len(header)} fields, found {len(cells)}", file=file, row=number)
        marks = {c.lower() for c in cells[1:]}
        if "holiday" in marks:
            add_dropped(dropped, "holiday_rows", 1)
            holiday_dates.append(cells[where["date"]])
            continue
        if "nyse closed" in marks:
            add_dropped(dropped, "nyse_closed_rows", 1)
            continue
        rows.append(number)
        for c, j in where.items():
            cols[c].append(cells[j])

    row_s = pl.Series("_row", rows, dtype=pl.Int64)

    def locate(number: int) -> int:
        return number

    out: dict[str, pl.Series] = {"_row": row_s}
    for c in where:
        raw = pl.Series(c, cols[c], dtype=pl.String)
        if c == "date":
            out[c] = parse_dates(raw, row_s, file=file, field=labels[c], locate=locate, formats=_DATE_FORMATS)
        else:
            out[c] = parse_float(raw, row_s, file=file, field=labels[c], locate=locate, missing=_MISSING)
            awaited = int(raw.str.to_lowercase().eq("awaited").sum())
            if awaited:
                notes.append(f"{awaited} 'AWAITED' value(s) in {labels[c]!r} read as missing")
    frame = pl.DataFrame(list(out.values())).with_columns(
        pl.lit(ticker.strip().upper()).alias("ticker"),
        pl.when(pl.col("nav") > 0)
        .then((pl.col("total_net_assets") / pl.col("nav")).round(0))
        .otherwise(None)
        .alias("shares_outstanding"),
    )
    labels["shares_outstanding"] = f"{labels['total_net_assets']} / {labels['nav']}"
    if holiday_dates:
        holiday_on_session = _on_sessions(holiday_dates)
        if holiday_on_session:
            notes.append(
                f"{len(holiday_on_session)} HOLIDAY row(s) fall on NYSE sessions (no values for those "
                f"sessions): {', '.join(holiday_on_session)}"
            )
    batch = finish(
        frame,
        file=file,
        source="ssga_gld",
        so_lag=GLD_SO_LAG,
        retrieved_at=stamp,
        locate=locate,
        labels=labels,
        dropped=dropped,
        notes=notes,
    )
    summary = (
        "shares_outstanding = round(total net asset value / NAV per share), derived, whole shares; "
        + _basket_summary(batch.daily)
    )
    return dataclasses.replace(batch, notes=[*batch.notes, summary])


def _on_sessions(dates: list[str]) -> list[str]:
    """The HOLIDAY dates (dd-Mon-yyyy) that are NYSE sessions, ISO formatted."""
    parsed = pl.Series(dates).str.strptime(pl.Date, _DATE_FORMATS[0], strict=False).drop_nulls()
    mask = is_trading_day(parsed.to_numpy().astype("datetime64[D]"))
    return [str(d) for d in parsed.filter(pl.Series(mask)).to_list()]


def _basket_summary(frame: pl.DataFrame) -> str:
    """How many day-over-day changes of the derived count are whole 100,000-share baskets."""
    change = (
        frame.sort("date")
        .select(pl.col("shares_outstanding").cast(pl.Int64).diff().alias("d"))
        .filter(pl.col("d").is_not_null() & (pl.col("d") != 0))
        .to_series()
    )
    off = (change - (change / GLD_BASKET_SHARES).round(0).cast(pl.Int64) * GLD_BASKET_SHARES).abs()
    whole = int((off == 0).sum())
    near = int(((off > 0) & (off <= 10)).sum())
    return (
        f"of {change.len()} non-zero changes, {whole} are whole {GLD_BASKET_SHARES:,}-share baskets, "
        f"{near} are within 10 shares of one (NAV rounding), {change.len() - whole - near} are not"
    )
