"""Daily shares outstanding of China A-share ETFs as the exchanges publish them.

- `etf-shares.csv` (csi300-etf-shares): `date,code,shares_100m,exchange,source,quality,method`, shares in
  亿份 (1e8). `quality` is `official` (exchange disclosure) or `estimated` (Shenzhen rows before
  2016-08-03, inferred from volume and turnover): estimated rows keep `estimated = true`, and the flows
  computed from them carry the `estimated` flag.
- `szse_etf_share_4etf_2023_2026.csv` (szse-etf-share): `date,code,name,shares_wan,share_change_wan`,
  shares in 万份 (1e4).

Codes are bare (`510300`) and become exchange-form tickers (`510300.SH`). The reporting lag of these
counts is not stated (so_lag unknown). A share consolidation (510310 on 2024-09-20) is a split, never a
flow: the price files declare it (see cn_prices) and the flow engine adjusts it.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from etfflow.errors import ParseError
from etfflow.sources.base import (
    ImportBatch,
    PathLike,
    drop_blank_rows,
    parse_dates,
    parse_float,
    read_bytes,
    read_csv_strings,
    resolve_retrieved_at,
)
from etfflow.sources.cn_common import finish_cn
from etfflow.universe.cn import cn_ticker

__all__ = ["read_cn_exchange_shares", "sniff_cn_exchange_shares"]

#: header -> (source name, shares column, shares unit)
_LAYOUTS: dict[tuple[str, ...], tuple[str, str, float]] = {
    ("date", "code", "shares_100m"): ("cn_exchange_shares", "shares_100m", 1e8),
    ("date", "code", "name", "shares_wan"): ("szse_shares", "shares_wan", 1e4),
}
_QUALITY = {"official": False, "estimated": True}


def _layout(head: bytes) -> tuple[tuple[str, ...], tuple[str, str, float]] | None:
    first = head.decode("utf-8", errors="ignore").lstrip("\ufeff").split("\n", 1)[0]
    cells = tuple(c.strip().lower() for c in first.split(","))
    for key, spec in _LAYOUTS.items():
        if cells[: len(key)] == key:
            return key, spec
    return None


def sniff_cn_exchange_shares(head: bytes) -> bool:
    """`date,code,shares_100m,...` or `date,code,name,shares_wan,...`."""
    return _layout(head) is not None


def read_cn_exchange_shares(path: PathLike, *, retrieved_at: dt.datetime | None = None) -> ImportBatch:
    """Daily shares outstanding (whole shares) per fund, estimated rows marked."""
    file = str(path)
    data = read_bytes(path)
    found = _layout(data[:4096])
    if found is None:
        raise ParseError("not an exchange daily-shares file (unknown header)", file=file, row=1)
    _, (source, col, unit) = found
    stamp = resolve_retrieved_at(path, retrieved_at)
    frame, locate = read_csv_strings(data, file)
    dropped: dict[str, int] = {}
    notes: list[str] = []
    frame = drop_blank_rows(frame.with_row_index("_row"), dropped)
    rows = frame["_row"]
    first = frame.select("code", "_row").unique("code", keep="first", maintain_order=True)
    by_code = {
        c: cn_ticker(c or "", file=file, row=locate(int(r)), field="code")
        for c, r in zip(first["code"].to_list(), first["_row"].to_list(), strict=True)
    }
    tickers = frame["code"].replace_strict(by_code, return_dtype=pl.String)
    out = pl.DataFrame(
        {
            "_row": rows,
            "date": parse_dates(
                frame["date"], rows, file=file, field="date", locate=locate, formats=("%Y-%m-%d",)
            ),
            "ticker": tickers,
            "shares_outstanding": (
                parse_float(frame[col], rows, file=file, field=col, locate=locate) * unit
            ).round(0),
        }
    )
    if "quality" in frame.columns:
        q = frame["quality"].str.to_lowercase()
        bad = ~q.is_in(list(_QUALITY)) | q.is_null()
        if bad.any():
            i = int(bad.arg_true()[0])
            raise ParseError(
                f"unknown quality {frame['quality'][i]!r} (expected official or estimated)",
                file=file,
                row=locate(int(rows[i])),
                field="quality",
            )
        out = out.with_columns(q.replace_strict(_QUALITY, return_dtype=pl.Boolean).alias("estimated"))
        n_est = int(out["estimated"].sum())
        if n_est:
            notes.append(f"{n_est} row(s) are the source's estimates (kept, marked estimated)")
    out = out.filter(pl.col("shares_outstanding").is_not_null())
    return finish_cn(
        out,
        file=file,
        source=source,
        so_lag=None,
        retrieved_at=stamp,
        locate=locate,
        labels={"shares_outstanding": col},
        dropped=dropped,
        notes=notes,
    )
