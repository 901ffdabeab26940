"""Flows for what an import touched: recomputed from the warehouse and written back set-based.

`refresh_flows_from(store, touched)` takes a table of (ticker, lo): each fund whose rows were added or
changed, and its first such date. A fund's flows are recomputed from a few observations before `lo`
(the prior count, bad-print and split context) to its last row, and replace the stored flows from the
previous observation on. A fund with several sources, too little recent context, or a split in the
recomputed range (or, for counts stated with a lag, in its context: the NAV move that confirms it may
be a new row) is recomputed over its whole history (a split rescales every earlier row).

Two paths, with the same rules and kernel (`etfflow.flows.nb.flows_long_nb`):

- **bulk**, for single-source US funds without estimated or month-end counts (what a panel import
  writes): one query returns the rows as plain numbers ordered by (fund, date), the ticker as a code;
  `etfflow.flows.bulk` computes them `BULK_ROWS` at a time and they are appended from Arrow, the
  ticker dictionary-encoded;
- **general**, for the rest (several sources, estimated counts, other markets): groups of about
  `FLOW_GROUP_ROWS` rows read as frames and computed by `etfflow.flows.daily.compute_flows`.

Everything runs in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa  # type: ignore[import-untyped]

from etfflow import calendar
from etfflow.errors import DataQualityError
from etfflow.flows.bulk import FlowArrays, flow_arrays
from etfflow.store import Store, _literal, _q

__all__ = [
    "BULK_READ_ROWS",
    "BULK_ROWS",
    "FLOW_GROUP_ROWS",
    "funds_units",
    "refresh_flows_from",
]

#: about how many `daily` rows are read back at a time to recompute flows on the general path
FLOW_GROUP_ROWS = 250_000
#: most rows the bulk path reads at a time (about 42 bytes each; one fund with more is read whole)
BULK_READ_ROWS = 8_000_000
#: rows the bulk path computes and appends at a time
BULK_ROWS = 1_000_000
#: rows per Arrow record batch handed to DuckDB (its row group size)
_BATCH = 122_880
_CTX = "_etfflow_ctx"
_NON_US = "_etfflow_non_us"

#: observations (rows with a shares count, or AUM and NAV) of context read before the first changed date
_CONTEXT_OBS = 3
#: rows of context read before the first changed date besides the fund's largest reporting lag
_CONTEXT_ROWS = 8
#: how far back (calendar days) context is looked for; a fund with less context is recomputed in full
_CONTEXT_DAYS = 400


def refresh_flows_from(store: Store, touched: str, *, new: tuple[str, str] | None = None) -> int:
    """Recompute `flows_daily` for the (ticker, lo) rows of table `touched`; flow rows written.

    `new`: (a table of the tickers that had no stored row before this import, the relation their rows
    came from, with `daily`'s columns). The bulk path reads those funds' rows from that relation rather
    than from `daily`: it holds the same rows, and a table filled before the import's transaction is
    scanned by every thread, the rows just written to `daily` by one.
    """
    from etfflow.pipeline import funds_table

    con = store.connection
    tickers = [r[0] for r in con.execute(f"SELECT DISTINCT ticker FROM {touched}").fetchall()]
    if not tickers:
        return 0
    funds = funds_table(store)
    markets = calendar.fund_markets(funds, tickers)
    other = [t for t in tickers if markets[t] != "US"]
    non_us = pl.DataFrame({"ticker": other}, schema={"ticker": pl.String})
    con.register("_etfflow_non_us_arrow", non_us.to_arrow())
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_NON_US} AS SELECT ticker FROM _etfflow_non_us_arrow")
    finally:
        con.unregister("_etfflow_non_us_arrow")
    _context(store, touched, new[0] if new else None)
    written = 0
    try:
        units = funds_units(funds)
        done, redo = _bulk(store, units, "c.simple AND NOT c.new")
        written += done
        if new:
            written += _bulk(store, units, "c.simple AND c.new", rows_from=new[1])[0]  # never ranged
        if redo:
            _mark_full(store, redo, "redo = true")
            written += _bulk(store, units, "c.simple AND c.redo")[0]
        full: list[str] = []
        groups = [
            r[0]
            for r in con.execute(f"SELECT DISTINCT grp FROM {_CTX} WHERE NOT simple ORDER BY grp").fetchall()
        ]
        for g in groups:
            written += _flows_group(store, g, full, funds)
        if full:
            _mark_full(store, full, "grp = -1")
            written += _flows_group(store, -1, [], funds)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {_CTX}")
        con.execute(f"DROP TABLE IF EXISTS {_NON_US}")
    return written


def _mark_full(store: Store, tickers: list[str], also: str) -> None:
    """Funds to recompute over their whole history (context from the start, results kept from the start)."""
    store.connection.execute(
        f"UPDATE {_CTX} SET ctx_start = NULL, keep_from = NULL, rows = rows_all, {also} "
        f"WHERE ticker IN (SELECT unnest({_literal(sorted(tickers))}))"
    )


def _context(store: Store, touched: str, new: str | None = None) -> None:
    """Table _CTX: per touched ticker, where to start reading (ctx_start), where results are kept from
    (keep_from; NULL: from the start), rows to read, whether the bulk path computes it (`simple`) and
    whether its every row is new (in table `new`), its code (for the bulk path) and read group (for the
    general path)."""
    from etfflow.flows.daily import MONTHLY_SOURCES

    monthly = ", ".join(_literal(s) for s in sorted(MONTHLY_SOURCES))
    con = store.connection
    span = con.execute(f"SELECT min(lo), max(lo) FROM {touched}").fetchone()
    assert span is not None
    # literal bounds let DuckDB skip row groups by their date ranges (a first import reads none)
    since = _literal(span[0] - dt.timedelta(days=_CONTEXT_DAYS)) if span[0] else "DATE '0001-01-01'"
    until = _literal(span[1]) if span[1] else "DATE '0001-01-01'"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {_CTX} AS
        WITH t AS (SELECT ticker, lo FROM {touched}),
        prev AS (
            SELECT d.ticker, d.date,
                bool_or(d.shares_outstanding IS NOT NULL
                        OR (d.total_net_assets IS NOT NULL AND d.nav > 0)) AS obs,
                max(d.so_lag) AS lag
            FROM daily d JOIN t ON d.ticker = t.ticker
            WHERE d.date < t.lo AND d.date >= t.lo - INTERVAL {_CONTEXT_DAYS} DAY
                AND d.date < {until} AND d.date >= {since}
            GROUP BY d.ticker, d.date),
        r AS (
            SELECT ticker, date, obs,
                row_number() OVER w AS rn,
                sum(obs::INT) OVER w AS nobs,
                max(lag) OVER (PARTITION BY ticker) AS maxlag
            FROM prev WINDOW w AS (PARTITION BY ticker ORDER BY date DESC ROWS UNBOUNDED PRECEDING)),
        c AS (
            SELECT t.ticker, t.lo,
                min(r.date) FILTER (r.nobs <= {_CONTEXT_OBS}
                                    OR r.rn <= coalesce(r.maxlag, 0) + {_CONTEXT_ROWS}) AS ctx_start,
                max(r.date) FILTER (r.obs) AS keep_from,
                coalesce(max(r.nobs), 0) AS nobs
            FROM t LEFT JOIN r ON r.ticker = t.ticker
            GROUP BY t.ticker, t.lo),
        agg AS (
            SELECT c.ticker,
                CASE WHEN min(d.source) = max(d.source) THEN 1 ELSE 2 END AS n_src,
                min(d.source) AS src,
                coalesce(bool_or(d.estimated), false) AS est,
                count(*) AS rows_all,
                count(*) FILTER (d.date >= c.ctx_start) AS rows_ctx,
                count(d.close) > 0 AS any_close,
                count(d.split_factor) > 0 AS any_split
            FROM daily d JOIN c ON d.ticker = c.ticker
            GROUP BY c.ticker),
        counted AS (
            SELECT c.ticker, c.ctx_start, c.keep_from, c.nobs, coalesce(a.n_src, 2) AS n_src, a.src,
                coalesce(a.est, false) AS est, coalesce(a.rows_all, 0) AS rows_all,
                coalesce(a.rows_ctx, 0) AS rows_ctx, coalesce(a.any_close, false) AS any_close,
                coalesce(a.any_split, false) AS any_split
            FROM c LEFT JOIN agg a ON a.ticker = c.ticker),
        sized AS (
            SELECT ticker,
                nobs > {_CONTEXT_OBS} AND n_src <= 1 AS ranged,
                CASE WHEN ranged THEN ctx_start END AS ctx_start,
                CASE WHEN ranged THEN keep_from END AS keep_from,
                CASE WHEN ranged THEN rows_ctx ELSE rows_all END AS rows, rows_all, any_close, any_split,
                n_src <= 1 AND NOT est AND coalesce(src NOT IN ({monthly}), true)
                    AND ticker NOT IN (SELECT ticker FROM {_NON_US}) AS simple
            FROM counted)
        SELECT ticker, ctx_start, keep_from, rows, rows_all, any_close, any_split, simple, false AS redo,
            {f"ticker IN (SELECT ticker FROM {new})" if new else "false"} AS new,
            (row_number() OVER (ORDER BY ticker) - 1)::INTEGER AS code,
            (greatest(sum(CASE WHEN simple THEN 0 ELSE rows END)
                      OVER (ORDER BY ticker ROWS UNBOUNDED PRECEDING), 1) - 1) // {FLOW_GROUP_ROWS} AS grp
        FROM sized
        """
    )


# --- the bulk path -------------------------------------------------------------------------------


@dataclass
class _Funds:
    """The funds one bulk pass computes, indexed by code."""

    names: np.ndarray  # object: ticker by code ('' where the code is not in this pass)
    rows: np.ndarray  # int64: rows to read
    close: np.ndarray  # bool: has a close price somewhere (else the column is not read)
    split: np.ndarray  # bool: has a declared split factor somewhere
    keep_from: np.ndarray  # int64 days since 1970 (minimum where results are kept from the start)
    ranged: np.ndarray  # bool: results kept from keep_from only
    unit: np.ndarray  # float64 creation unit shares (0: unknown)


_ALWAYS = np.iinfo(np.int64).min
#: stored flows (f) of a ranged fund (c) whose split makes it a full recompute: those the refresh
#: replaces, and lagged ones in its context (their split's NAV move may lie in the changed rows)
_REPLACED_OR_LAGGED = (
    "f.available_on >= c.keep_from OR (f.available_on >= c.ctx_start AND f.date < f.available_on)"
)


def _funds(store: Store, units: dict[str, float], where: str) -> _Funds | None:
    """The funds of _CTX matching `where` by code (None when there are none)."""
    con = store.connection
    n_codes = con.execute(f"SELECT count(*) FROM {_CTX}").fetchone()
    rows = con.execute(
        f"SELECT code, ticker, rows, keep_from - DATE '1970-01-01', any_close, any_split FROM {_CTX} c "
        f"WHERE {where} ORDER BY code"
    ).fetchall()
    if not rows or not n_codes:
        return None
    n = int(n_codes[0])
    out = _Funds(
        names=np.full(n, "", dtype=object),
        rows=np.zeros(n, dtype=np.int64),
        close=np.zeros(n, dtype=bool),
        split=np.zeros(n, dtype=bool),
        keep_from=np.full(n, _ALWAYS, dtype=np.int64),
        ranged=np.zeros(n, dtype=bool),
        unit=np.zeros(n, dtype=np.float64),
    )
    for code, ticker, count, keep, close, split in rows:
        out.names[code] = ticker
        out.rows[code] = count
        out.close[code] = close
        out.split[code] = split
        out.unit[code] = units.get(ticker, 0.0)
        if keep is not None:
            out.keep_from[code] = keep
            out.ranged[code] = True
    return out


def _bulk(
    store: Store, units: dict[str, float], where: str, *, rows_from: str = "daily"
) -> tuple[int, list[str]]:
    """Recompute and write the flows of the funds of _CTX matching `where` (an SQL condition on `c`),
    reading their rows from `rows_from` (`daily`, or a relation with its columns that holds the same
    rows); (flow rows written, ranged funds whose recomputed range holds a split: to recompute in full).

    The rows come back ordered by (fund, date), up to `BULK_READ_ROWS` at a time, and are computed and
    appended in blocks of whole funds of about `BULK_ROWS` rows.
    """
    from etfflow.flows.flags import Flag

    con = store.connection
    funds = _funds(store, units, where)
    if funds is None:
        return 0, []
    split = int(Flag.SPLIT)
    # ranged funds whose replaced flows held a split: their earlier rows were scaled by it
    skip = {
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT c.code FROM flows_daily f JOIN {_CTX} c ON f.ticker = c.ticker "
            f"WHERE {where} AND c.keep_from IS NOT NULL AND ({_REPLACED_OR_LAGGED}) "
            f"AND (f.flags & {split}) <> 0"
        ).fetchall()
    }
    con.execute(
        f"DELETE FROM flows_daily f USING {_CTX} c WHERE f.ticker = c.ticker AND {where} "
        "AND (c.keep_from IS NULL OR f.available_on >= c.keep_from)"
    )
    names = pa.array(funds.names.tolist(), type=pa.string())
    written = 0
    redo: set[int] = set(skip)
    codes = np.flatnonzero(funds.rows)
    lo = 0
    while lo < len(codes):  # ranges of funds of at most BULK_READ_ROWS rows (one fund may have more)
        hi = lo + 1
        total = int(funds.rows[codes[lo]])
        while hi < len(codes) and total + funds.rows[codes[hi]] <= BULK_READ_ROWS:
            total += int(funds.rows[codes[hi]])
            hi += 1
        first, last = int(codes[lo]), int(codes[hi - 1])
        extra = tuple(
            c for c, has in (("close", funds.close), ("split", funds.split)) if has[first : last + 1].any()
        )
        data = _read_sorted(store, where, first, last, total, extra, rows_from)
        start = 0
        while start < total:  # blocks of whole funds, about BULK_ROWS rows each
            code = data["code"]
            stop = min(total, start + BULK_ROWS)
            if stop < total:
                stop = int(np.searchsorted(code, code[stop], "left"))
                stop = stop if stop > start else int(np.searchsorted(code, code[start], "right"))
            block = {k: v[start:stop] for k, v in data.items()}
            done, found = _compute_block(store, block, funds, names, redo)
            written += done
            redo |= found
            start = stop
        lo = hi
    return written, [str(funds.names[c]) for c in sorted(redo)]


#: what the bulk path reads of each row (close and split only where a fund in the range has one)
_READ_COLUMNS = {
    "code": ("c.code", np.int32),
    "day": ("(d.date - DATE '1970-01-01')::INTEGER", np.int32),
    "so": (
        "coalesce(d.shares_outstanding, CASE WHEN d.total_net_assets IS NOT NULL AND d.nav > 0 "
        "THEN d.total_net_assets / d.nav END, 'NaN'::DOUBLE)",
        np.float64,
    ),
    "nav": ("coalesce(d.nav, 'NaN'::DOUBLE)", np.float64),
    "lag": ("coalesce(d.so_lag, -1)::TINYINT", np.int8),
    "derived": (
        "(d.shares_outstanding IS NULL AND d.total_net_assets IS NOT NULL AND coalesce(d.nav > 0, false))",
        np.bool_,
    ),
    "close": ("coalesce(d.close, 'NaN'::DOUBLE)", np.float64),
    "split": ("coalesce(d.split_factor, 'NaN'::DOUBLE)", np.float64),
}
_OPTIONAL = ("close", "split")


def _read_sorted(
    store: Store, where: str, first: int, last: int, total: int, extra: tuple[str, ...], rows_from: str
) -> dict[str, np.ndarray]:
    """The `total` rows of funds first..last (codes) matching `where`, ordered by (code, date), as
    arrays; of `_OPTIONAL`, only the columns in `extra`. Read whole before anything else runs on the
    connection (a new statement would end a DuckDB stream early)."""
    cols = [c for c in _READ_COLUMNS if c not in _OPTIONAL or c in extra]
    select = ", ".join(f"{_READ_COLUMNS[c][0]} AS {c}" for c in cols)
    sql = (
        f"SELECT {select} FROM {rows_from} d JOIN {_CTX} c ON d.ticker = c.ticker "
        f"WHERE {where} AND c.code BETWEEN {first} AND {last} "
        "AND d.date >= coalesce(c.ctx_start, DATE '0001-01-01') ORDER BY c.code, d.date"
    )
    got = store.connection.execute(sql).fetchnumpy()
    n = len(got[cols[0]]) if cols else 0
    if n != total:
        raise DataQualityError(f"flows: {n} rows read where {total} were counted")
    return {c: np.asarray(got[c]).astype(_READ_COLUMNS[c][1], copy=False) for c in cols}


def _compute_block(
    store: Store, block: dict[str, np.ndarray], funds: _Funds, names: pa.Array, skip: set[int]
) -> tuple[int, set[int]]:
    """Flows of one block of whole funds, appended to `flows_daily`; funds in `skip` are not written.
    (rows written, ranged funds with a split in their recomputed range)."""
    from etfflow.flows.daily import trade_date_clash
    from etfflow.flows.flags import Flag

    code = block["code"]
    day = block["day"].astype(np.int64)
    change = np.flatnonzero(code[1:] != code[:-1]) + 1
    starts = np.concatenate([[0], change, [len(code)]]).astype(np.int64)
    same = (code[1:] == code[:-1]) & (day[1:] == day[:-1])
    if same.any():
        i = int(np.flatnonzero(same)[0])
        raise DataQualityError(
            f"{funds.names[code[i]]} has two rows of one source for {day[i].astype('datetime64[D]')} in the "
            "warehouse"
        )
    group_codes = code[starts[:-1]]
    days = day.view("datetime64[D]")
    got = flow_arrays(
        starts,
        days,
        block["so"],
        block["nav"],
        block["close"] if "close" in block else np.full(len(code), np.nan),
        block["split"] if "split" in block else np.full(len(code), np.nan),
        block["lag"],
        block["derived"],
        funds.unit[group_codes],
        funds.names[group_codes].tolist(),
    )
    # context rows too: a clash with a count before keep_from would duplicate a stored flow's key
    lag = np.maximum(block["lag"], 0)  # as the frame path states an unknown lag
    trade_date_clash(funds.names[code], got.trade_date, days, lag, got.keep)
    keep = got.keep & (day >= funds.keep_from[code])
    split_rows = (keep | _lagged_context(got, day, funds.keep_from[code])) & funds.ranged[code]
    split_rows &= (got.flags & np.uint32(Flag.SPLIT)) != 0
    splits = {int(c) for c in np.unique(code[split_rows])}
    out = skip | splits
    if out:
        keep &= ~np.isin(code, np.fromiter(out, dtype=np.int64))
    return _append(store, got, keep, code, days, names), splits


def _lagged_context(got: FlowArrays, day: np.ndarray, keep_from: np.ndarray) -> np.ndarray:
    """Context rows (before keep_from) stated with a reporting lag. A split on such a row is confirmed
    by a NAV move up to lag + 1 rows later, which may be a new row: the flows before keep_from that it
    restates are not rewritten by a ranged refresh, so a split there sends the fund to a full
    recompute. Without a lag the window ends at keep_from's row, inside the kept range."""
    lagged = got.trade_date.astype("datetime64[D]").astype(np.int64) < day
    return got.keep & lagged & (day < keep_from)


def _append(
    store: Store, got: FlowArrays, keep: np.ndarray, local: np.ndarray, days: np.ndarray, names: pa.Array
) -> int:
    """Append the kept rows of one computed block to `flows_daily` (from Arrow; ticker and method as
    dictionaries, NaN as NULL)."""
    n = int(keep.sum())
    if not n:
        return 0

    every = n == len(keep)  # the usual case: nothing to leave out, no copies

    def sel(x: np.ndarray) -> np.ndarray:
        return x if every else x[keep]

    def num(x: np.ndarray) -> pa.Array:
        return pa.array(sel(x), from_pandas=True)

    table = pa.table(
        {
            "date": pa.array(sel(got.trade_date)),
            "ticker": pa.DictionaryArray.from_arrays(pa.array(sel(local).astype(np.int32)), names),
            "flow_usd": num(got.flow),
            "aum_prev_usd": num(got.aum_prev),
            "flow_pct_aum": num(got.pct),
            "shares_change": num(got.dshares),
            "nav_used": num(got.nav_used),
            "method": pa.DictionaryArray.from_arrays(
                pa.array(sel(got.aum_method).view(np.int8)), pa.array(["shares", "aum"])
            ),
            "flags": pa.array(sel(got.flags)),
            "gap_sessions": pa.array(sel(got.gap)),
            "available_on": pa.array(sel(days)),
        }
    )
    con = store.connection
    cols = ", ".join(_q(c) for c in table.column_names)
    # record batches of a row group each: DuckDB scans (and compresses) them in parallel
    table = pa.Table.from_batches(table.to_batches(max_chunksize=_BATCH))
    con.register("_etfflow_bulk", table)
    try:
        con.execute(f"INSERT INTO flows_daily ({cols}) SELECT {cols} FROM _etfflow_bulk")
    finally:
        con.unregister("_etfflow_bulk")
    return n


# --- the general path ------------------------------------------------------------------------------


def _flows_group(store: Store, grp: int, full: list[str], funds: pl.DataFrame) -> int:
    """Recompute and write the flows of one read group of the general path; tickers needing a full
    recompute go to `full`."""
    from etfflow.flows.daily import compute_flows, merge_sources
    from etfflow.flows.flags import Flag

    con = store.connection
    names = ", ".join(f"d.{_q(c)}" for c in _FLOW_INPUTS)
    rel = con.execute(
        f"SELECT {names}, c.keep_from FROM daily d JOIN {_CTX} c ON d.ticker = c.ticker "
        f"WHERE NOT c.simple AND c.grp = {grp} AND d.date >= coalesce(c.ctx_start, DATE '0001-01-01') "
        "ORDER BY d.ticker, d.date, d.source"
    )
    daily = pl.from_arrow(rel.arrow().read_all())
    assert isinstance(daily, pl.DataFrame)
    if daily.height == 0:
        return 0
    keep_from = daily["keep_from"]
    daily = daily.drop("keep_from").with_columns(pl.col("so_lag").cast(pl.Int8))
    flows = compute_flows(merge_sources(daily), funds)
    keep_map = daily.select("ticker", keep_from.alias("keep_from")).unique("ticker")
    keep = flows.join(keep_map, on="ticker", how="left")["keep_from"]
    kept = flows.filter(keep.is_null() | (flows["available_on"] >= keep))
    if grp >= 0:
        split = int(Flag.SPLIT)
        # as on the bulk path (`_lagged_context`): lagged context rows' splits count too
        lagged = keep.is_not_null() & (flows["date"] < flows["available_on"])
        near = flows.filter(keep.is_null() | (flows["available_on"] >= keep) | lagged)
        new_split = near.filter((pl.col("flags") & split) != 0)["ticker"].unique().to_list()
        old_split = [
            r[0]
            for r in con.execute(
                f"SELECT DISTINCT f.ticker FROM flows_daily f JOIN {_CTX} c ON f.ticker = c.ticker "
                f"WHERE NOT c.simple AND c.grp = {grp} AND c.keep_from IS NOT NULL "
                f"AND ({_REPLACED_OR_LAGGED}) AND (f.flags & {split}) <> 0"
            ).fetchall()
        ]
        redo = sorted(set(new_split) | set(old_split))
        if redo:
            full.extend(redo)
            kept = kept.filter(~pl.col("ticker").is_in(redo))
    con.execute(
        f"DELETE FROM flows_daily f USING {_CTX} c WHERE f.ticker = c.ticker AND NOT c.simple "
        f"AND c.grp = {grp} AND (c.keep_from IS NULL OR f.available_on >= c.keep_from)"
        + (f" AND f.ticker NOT IN (SELECT unnest({_literal(full)}))" if full and grp >= 0 else "")
    )
    if kept.height:
        con.register("_etfflow_flows", kept.to_arrow())
        try:
            con.execute("INSERT INTO flows_daily SELECT * FROM _etfflow_flows")
        finally:
            con.unregister("_etfflow_flows")
    return kept.height


_FLOW_INPUTS = (
    "date",
    "ticker",
    "source",
    "close",
    "nav",
    "shares_outstanding",
    "total_net_assets",
    "split_factor",
    "estimated",
    "so_lag",
)


def funds_units(funds: pl.DataFrame) -> dict[str, float]:
    """Creation unit shares by ticker, as floats (funds without one are left out)."""
    return {
        t: float(u)
        for t, u in zip(funds["ticker"].to_list(), funds["creation_unit_shares"].to_list(), strict=True)
        if u
    }
