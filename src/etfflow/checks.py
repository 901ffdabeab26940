"""Input checks: what every imported value must satisfy before it reaches the warehouse (one policy).

- **Numbers** are finite and within a plausible magnitude for their column (`LIMITS`, else
  `MAX_ABS`): NaN, inf, 1e308 and values that overflow after unit scaling are refused with an error
  naming the file, the row and the field.
- **Identifiers**: tickers match `TICKER_RE` (upper case letters and digits, then also ``. - / ^``; at
  most 20 characters: ``IVV``, ``BRK/B``, ``512880.SH``), series ids `SERIES_RE` (``S`` + 9 digits, or
  ``CIK`` + 10 digits for trusts without a series), class ids ``C`` + 9 digits, CIKs 10 digits.
  Anything else is refused, except in SEC id maps, whose few malformed symbols (``(NWAKX)`` in SEC's own
  file) are dropped and counted.
- **Names** (funds, authorised participants, holdings) are stored as text: any characters but control
  characters, at most `NAME_MAX` long. Output escapes them (Rich markup off, HTML escaped, CSV cells
  formula-proof: `etfflow.safety`).
- **Implausible whole files**: a file whose every shares count of a fund is 0, or whose counts (or NAVs)
  differ from the stored ones by a factor of `FACTOR` or more on every overlapping day (swapped or
  mis-scaled columns), is refused naming the column.
- **Dates**: rows dated after tomorrow are dropped and counted (`future_rows`); vendor rows on days that
  are not NYSE sessions (weekends, 1900 placeholders) are dropped and counted, as for every other source.

Called where each path's rows are still tied to file rows (`sources.base.finish`, the vendor, N-PORT and
N-CEN readers) and once more where every batch goes to the store (`pipeline.write_batch`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from etfflow.errors import ParseError, ValidationError, quote
from etfflow.schema import TABLES

if TYPE_CHECKING:
    from etfflow.sources.base import ImportBatch
    from etfflow.store import Store

__all__ = [
    "ADJUSTED_SOURCES",
    "CIK_RE",
    "CLASS_RE",
    "CONTROL_CHARS",
    "FACTOR",
    "LIMITS",
    "MAX_ABS",
    "MAX_PRICE",
    "NAME_MAX",
    "SERIES_RE",
    "TICKER_RE",
    "bounds",
    "check_batch",
    "check_frame",
    "check_number",
    "check_ticker",
    "daily_rows",
    "is_ticker",
    "refuse_dtd",
    "vendor_rows",
]

TICKER_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-/^]{0,19}$")
SERIES_RE = re.compile(r"^(S\d{9}|CIK\d{10})$")
CLASS_RE = re.compile(r"^C\d{9}$")
CIK_RE = re.compile(r"^\d{10}$")
NAME_MAX = 300
#: the earliest date a filing or flow may carry (the first US ETF listed in 1993)
FIRST_DATE = dt.date(1980, 1, 1)
CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: the largest magnitude any imported number may have: SEC's N-PORT schema allows up to 24 digits
MAX_ABS = 1e24
#: USD amounts of daily rows and vendor flows: a thousand times the largest fund
MAX_USD = 1e15
#: split-adjusted prices per share: the histories of funds that reverse-split again and again reach far
#: beyond any traded price (UVXY's adjusted close for 2011-10-04 is 5.1e11 in Yahoo's file, SOXS's 5.0e11)
MAX_PRICE = 1e13
#: sources whose open and close are split-adjusted histories (`etfflow.sources.prices`); their prices
#: may reach `MAX_PRICE`, every other source's the $1M of `LIMITS` (which refuses a close column holding
#: volumes or shares counts)
ADJUSTED_SOURCES = frozenset({"stooq_adjusted", "yahoo_adjclose"})
#: per-column (low, high) bounds, checked on non-null values
LIMITS: dict[str, tuple[float, float]] = {
    "open": (0.0, 1e6),
    "close": (0.0, 1e6),
    "nav": (0.0, 1e6),
    "distribution": (0.0, 1e6),
    "shares_outstanding": (0.0, 1e13),
    "volume": (0.0, 1e13),
    "total_net_assets": (0.0, MAX_USD),
    "flow_usd": (-MAX_USD, MAX_USD),
    "split_factor": (1e-4, 1e4),
}
#: a whole file whose values differ from the stored ones by this factor (either way) is refused
FACTOR = 1e4
#: identifier columns and the pattern each must match
IDENTIFIERS: dict[str, re.Pattern[str]] = {
    "ticker": TICKER_RE,
    "series_id": SERIES_RE,
    "class_id": CLASS_RE,
    "cik": CIK_RE,
}
NAMES = ("name", "ap_name", "title", "issuer")

Locator = Callable[[int], int]
Context = str | Callable[[int], str]


def is_ticker(value: object) -> bool:
    """True if `value` is a ticker in the documented character set (`TICKER_RE`)."""
    return isinstance(value, str) and TICKER_RE.fullmatch(value) is not None


def check_ticker(
    value: str, *, file: str | None = None, row: int | None = None, field: str = "ticker"
) -> str:
    """`value` stripped and upper-cased if it is a valid ticker; ValidationError otherwise."""
    symbol = value.strip().upper()
    if not TICKER_RE.fullmatch(symbol):
        raise ValidationError(
            f"not a ticker: {quote(value)} (tickers are A-Z, 0-9, then also . - / ^; at most 20)",
            file=file,
            row=row,
            field=field,
        )
    return symbol


def check_number(
    value: float, *, field: str, file: str | None = None, row: int | None = None, limit: float = MAX_ABS
) -> float:
    """`value` if finite and at most `limit` in magnitude; ValidationError naming the field otherwise."""
    if not math.isfinite(value) or abs(value) > limit:
        raise ValidationError(
            f"implausible number {value!r} (must be finite and at most {limit:g} in magnitude)",
            file=file,
            row=row,
            field=field,
        )
    return value


def refuse_dtd(data: bytes, *, file: str | None = None) -> None:
    """Refuse XML carrying a DOCTYPE or entity declarations: SEC's XML never does, hostile XML does
    (entity expansion, "billion laughs", external entities)."""
    for token in (b"<!DOCTYPE", b"<!ENTITY"):
        at = data.find(token)
        if at >= 0:
            line = data.count(b"\n", 0, at) + 1
            raise ParseError(
                f"XML with a {token[2:].decode()} declaration (line {line}) is not accepted: SEC filings "
                "have none, and entity declarations can expand without bound or read local files",
                file=file,
            )


def bounds(column: str, source: str | None = None) -> tuple[float, float]:
    """The (low, high) bounds a non-null value of `column` from `source` must lie within."""
    if source in ADJUSTED_SOURCES and column in ("open", "close"):
        return (0.0, MAX_PRICE)
    return LIMITS.get(column, (-MAX_ABS, MAX_ABS))


def _ctx(context: Context, row: int) -> str:
    return context(row) if callable(context) else context


def _where(
    frame: pl.DataFrame, i: int, locate: Locator | None, key: tuple[str, ...]
) -> tuple[int | None, str]:
    """(file row, key text) of frame row i: the file row when `_row` and a locator are known."""
    if locate is not None and "_row" in frame.columns:
        return locate(int(frame["_row"][i])), ""
    texts = (_text(frame[k], i) for k in key if k in frame.columns)
    parts = [t for t in texts if t is not None]
    return None, f" ({' '.join(parts)})" if parts else f" (record {i + 1})"


def _text(s: pl.Series, i: int) -> str | None:
    """Value i of `s` as text (None when null); dates formatted by Polars: a BC or year-10000 date has
    no Python date."""
    value = s.slice(i, 1).cast(pl.String)[0] if s.dtype.is_temporal() else s[i]
    return None if value is None else str(value)


def check_frame(
    frame: pl.DataFrame,
    table: str,
    *,
    file: str | None = None,
    locate: Locator | None = None,
    labels: dict[str, str] | None = None,
    context: Context = "",
    dates: bool = True,
    source: str | None = None,
) -> None:
    """Refuse the first implausible number, malformed identifier or name in a frame of `table`'s columns.

    With `dates`, dates before `FIRST_DATE` or after tomorrow are refused too (daily and vendor rows
    drop and count them instead). With a `_row` column and `locate`, errors name the file row;
    otherwise the record's key.
    """
    labels = labels or {}
    key = TABLES[table].key if table in TABLES else ()

    def refuse(
        s: pl.Series, bad: pl.Series, head: str, show: Callable[[Any], str], mid: str = "", tail: str = ""
    ) -> None:
        """Raise naming the first `bad` row of column `s`: head, its value as `show` gives it, mid,
        the row's key (where no file row is known), tail."""
        if not bad.any():
            return
        i = int(bad.arg_true()[0])
        row, where = _where(frame, i, locate, key)
        raise ValidationError(
            f"{head}{show(s[i])}{mid}{where}{tail}" + (_ctx(context, row) if row is not None else ""),
            file=file,
            row=row,
            field=labels.get(s.name, s.name),
        )

    if dates:
        last = last_date()
        for col, dtype in frame.schema.items():
            if dtype != pl.Date:
                continue
            s = frame[col]
            bad = ((s < FIRST_DATE) | (s > last)).fill_null(False)
            refuse(s.cast(pl.String), bad, "date ", str, f" out of range ({FIRST_DATE} to {last})")
    for col, dtype in frame.schema.items():
        if col == "_row" or not dtype.is_float():
            continue
        s = frame[col]
        lo, hi = bounds(col, source)
        bad = (s.is_nan() | s.is_infinite() | (s < lo) | (s > hi)).fill_null(False)
        refuse(s, bad, "implausible value ", repr, f" (must be finite, {lo:g} to {hi:g})")
    for col, pattern in IDENTIFIERS.items():
        if col not in frame.columns:
            continue
        s = frame[col].cast(pl.String)
        bad = (~s.str.contains(pattern.pattern)).fill_null(False)
        refuse(s, bad, f"malformed {col.replace('_', ' ')} ", quote, tail=f"; expected {pattern.pattern}")
    for col in NAMES:
        if col not in frame.columns or frame.schema[col] != pl.String:
            continue
        s = frame[col]
        bad = (s.str.contains(CONTROL_CHARS.pattern) | (s.str.len_chars() > NAME_MAX)).fill_null(False)
        refuse(s, bad, "not a name: ", quote, tail=f" (control characters, or longer than {NAME_MAX})")


def last_date() -> dt.date:
    """The last date a row may carry: tomorrow (UTC). Later rows are dropped and counted (`future_rows`)."""
    return dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)


def future_note(n: int, limit: dt.date, first: str) -> str:
    """The note on `n` rows dropped for being dated after `limit`, the earliest on `first`."""
    return f"{n} row(s) dated after {limit} dropped (the first on {first})"


def _drop_future(frame: pl.DataFrame, column: str, dropped: dict[str, int], notes: list[str]) -> pl.DataFrame:
    limit = last_date()
    late = frame[column] > limit
    n = int(late.sum())
    if n:
        dropped["future_rows"] = dropped.get("future_rows", 0) + n
        first = str(frame.filter(late).select(pl.col(column).min().cast(pl.String)).item())
        notes.append(future_note(n, limit, first))
        frame = frame.filter(~late)
    return frame


def _all_zero_shares(
    frame: pl.DataFrame, *, file: str, locate: Locator | None, labels: dict[str, str], context: Context
) -> None:
    """Refuse the fund (at least 5 shares counts, every one 0) whose rows come first in the file: the
    lowest `_row` where the frame has one (as the streamed path's ``ORDER BY min(_row)``), else the
    first ticker in sorted order; never Polars' group order, which changes from run to run."""
    if "shares_outstanding" not in frame.columns:
        return
    by_row = "_row" in frame.columns
    shares = pl.col("shares_outstanding")
    per = (
        frame.group_by("ticker")
        .agg(
            shares.count().alias("n"),
            (shares == 0).all().alias("zero"),
            (pl.col("_row") if by_row else pl.col("ticker")).min().alias("first"),
        )
        .filter(pl.col("zero") & (pl.col("n") >= 5))
        .sort("first", "ticker")
    )
    if per.height:
        t = per["ticker"][0]
        mine = (frame["ticker"] == t).arg_true()
        i = int(mine[int(frame["_row"].gather(mine).arg_min() or 0)] if by_row else mine[0])
        row, _ = _where(frame, i, locate, ("date", "ticker"))
        raise ValidationError(
            f"every one of the {per['n'][0]} shares counts of {t} is 0: swapped or mis-scaled columns? "
            "nothing was imported" + (_ctx(context, row) if row is not None else ""),
            file=file,
            row=row,
            field=labels.get("shares_outstanding", "shares_outstanding"),
        )


def daily_rows(
    frame: pl.DataFrame,
    *,
    file: str,
    locate: Locator,
    labels: dict[str, str],
    dropped: dict[str, int],
    notes: list[str],
    context: Context = "",
    source: str | None = None,
) -> pl.DataFrame:
    """Checks on parsed `daily` rows (with `_row`) of `source`: numbers, tickers, all-zero shares; future
    rows dropped."""
    check_frame(
        frame, "daily", file=file, locate=locate, labels=labels, context=context, dates=False, source=source
    )
    _all_zero_shares(frame, file=file, locate=locate, labels=labels, context=context)
    return _drop_future(frame, "date", dropped, notes) if frame.height else frame


def vendor_rows(
    frame: pl.DataFrame,
    *,
    file: str,
    locate: Locator,
    labels: dict[str, str],
    dropped: dict[str, int],
    notes: list[str],
) -> pl.DataFrame:
    """Checks on parsed `vendor_flows` rows (with `_row`): rows on days that are not NYSE sessions are
    dropped and counted first (the note says how many held a non-zero flow), then numbers after unit
    scaling, tickers and the source are checked, and rows after tomorrow dropped and counted."""
    from etfflow.calendar import is_trading_day

    dates = frame["date"].to_numpy().astype("datetime64[D]")
    session = is_trading_day(dates) if len(dates) else np.zeros(0, dtype=bool)
    n_off = int((~session).sum())
    if n_off:
        gone = frame.filter(~pl.Series(session))
        off = gone["date"].unique().sort().cast(pl.String).to_list()
        shown = ", ".join(off[:8]) + (", ..." if len(off) > 8 else "")
        nonzero = gone.filter(pl.col("flow_usd") != 0)
        notes.append(
            f"{n_off} row(s) dated on days that are not NYSE sessions were dropped ({nonzero.height} with a "
            f"non-zero flow, net {float(nonzero['flow_usd'].sum()):,.0f} USD): {shown}"
        )
        dropped["non_session_rows"] = dropped.get("non_session_rows", 0) + n_off
        frame = frame.filter(pl.Series(session))
    check_frame(frame, "vendor_flows", file=file, locate=locate, labels=labels, dates=False)
    sources = frame["source"].unique().to_list() if "source" in frame.columns else []
    for src in sources:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 ._\-]{0,39}", str(src)):
            raise ValidationError(
                f"vendor source name {quote(src)}: use letters, digits and . _ - (at most 40)",
                file=file,
                field="source",
            )
    if frame.height == 0:
        return frame
    return _drop_future(frame, "date", dropped, notes)


def check_batch(store: Store, batch: ImportBatch) -> ImportBatch:
    """The last check before a batch is written: every table's numbers, identifiers and names, and the
    batch's shares and NAVs against the stored ones (`FACTOR`). SEC id-map rows with malformed
    identifiers are dropped and counted in `batch.dropped` (the same dict the caller reports)."""
    from etfflow.sources.sec_files import FUND_IDS_SOURCE

    tables = dict(batch.tables)
    filtered = False
    if batch.source == FUND_IDS_SOURCE:
        gone = 0
        for name, frame in tables.items():
            ok = pl.lit(True)
            for col, pattern in IDENTIFIERS.items():
                if col in frame.columns:
                    ok = ok & (pl.col(col).is_null() | pl.col(col).str.contains(pattern.pattern))
            kept = frame.filter(ok)
            if kept.height < frame.height:
                gone = max(gone, frame.height - kept.height)
                tables[name] = kept
                filtered = True
        if gone:
            batch.dropped["malformed_identifiers"] = batch.dropped.get("malformed_identifiers", 0) + gone
    for name, frame in tables.items():
        check_frame(frame, name, file=batch.file, dates=name != "vendor_flows")
    if batch.daily.height:
        check_frame(batch.daily, "daily", file=batch.file, dates=False, source=batch.source)
        _against_store(store, batch.daily, file=batch.file)
    return replace(batch, tables=tables) if filtered else batch


def _against_store(store: Store, daily: pl.DataFrame, *, file: str) -> None:
    """Refuse values `FACTOR` times larger or smaller than the stored ones: for every overlapping day of a
    fund (any source: swapped or mis-scaled columns), or for one day of the same source (a truncated or
    mangled cell replacing a good value)."""
    cols = [c for c in ("shares_outstanding", "nav") if c in daily.columns]
    cols = [c for c in cols if daily[c].null_count() < daily.height]
    if not cols:
        return
    tickers = sorted(set(daily["ticker"].to_list()))
    # clipped to Python's date range: a BC or year-10000 date has no Python date (no stored row either)
    span = daily.select(
        pl.col("date").clip(dt.date.min, dt.date.max).min().alias("lo"),
        pl.col("date").clip(dt.date.min, dt.date.max).max().alias("hi"),
    )
    lo, hi = span["lo"][0], span["hi"][0]
    stored = store.query(
        "SELECT date, ticker, source, shares_outstanding, nav FROM daily "
        "WHERE ticker IN (SELECT unnest(?)) AND date BETWEEN ? AND ?",
        [tickers, lo, hi],
    )
    if stored.height == 0:
        return
    both = daily.select("date", "ticker", "source", *cols).join(
        stored.select("date", "ticker", "source", *cols), on=["date", "ticker"], suffix="_stored"
    )
    far = pl.lit(FACTOR)
    for c in cols:
        pairs = both.filter((pl.col(c) > 0) & (pl.col(f"{c}_stored") > 0)).with_columns(
            (pl.col(c) / pl.col(f"{c}_stored")).alias("ratio")
        )
        whole = (
            pairs.group_by("ticker")
            .agg(pl.len().alias("n"), pl.col("ratio").min().alias("lo"), pl.col("ratio").max().alias("hi"))
            .filter((pl.col("lo") >= far) | (pl.col("hi") <= 1 / far))
            .sort("ticker")  # the first fund by ticker, as the streamed path's ORDER BY ticker
        )
        if whole.height:
            r = whole.row(0, named=True)
            factor = r["lo"] if r["lo"] >= FACTOR else r["hi"]
            raise ValidationError(
                f"{r['ticker']}: every one of the {r['n']} overlapping {c} values differs from the stored "
                f"one by a factor of {factor:.3g} or more (swapped or mis-scaled columns?); "
                "nothing was imported",
                file=file,
                field=c,
            )
        one = pairs.filter(
            (pl.col("source") == pl.col("source_stored"))
            & ((pl.col("ratio") >= far) | (pl.col("ratio") <= 1 / far))
        )
        if one.height:
            r = one.sort("date", "ticker").row(0, named=True)
            raise ValidationError(
                f"{r['ticker']} {r['date']}: {c} {r[c]:,.6g} would replace the stored "
                f"{r[f'{c}_stored']:,.6g} "
                f"(a factor of {r['ratio']:.3g}: a truncated or mis-scaled value?); nothing was imported",
                file=file,
                field=c,
            )
