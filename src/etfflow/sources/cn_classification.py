"""The etf-flow-radar classification of Shanghai/Shenzhen ETFs as `funds` rows (market CN, currency CNY).

`code,name,exchange,asset_scope,fund_type,classification_status,group_id,group_name,group_kind,...,
sw_l1_code,sw_l1_name,...`: one row per ETF. Classified funds get category `industry`, `broad` or
`theme` (the source's `style` kind) and group = the source's group id; unclassified and excluded funds
(cross-border, bond, commodity, money) keep their name and asset class only. The shipped
`universe/cn_funds.csv` is this file's content (built by scripts/build_cn_universe.py).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from etfflow.errors import ParseError
from etfflow.schema import validate
from etfflow.sources.base import ImportBatch, PathLike, read_bytes, read_csv_strings, resolve_retrieved_at
from etfflow.universe.cn import cn_ticker

__all__ = ["classification_frame", "read_cn_classification", "sniff_cn_classification"]

SOURCE = "cn_classification"
ASSET_CLASS = {
    "aShareStockEtf": "equity",
    "crossBorderStockEtf": "equity",
    "bondEtf": "fixed_income",
    "commodityEtf": "commodity",
    "moneyEtf": "money_market",
    "otherEtf": "other",
}
CATEGORY = {"industry": "industry", "broad": "broad", "style": "theme"}
_SUFFIX = {"SSE": "SH", "SZSE": "SZ"}
_REQUIRED = (
    "code",
    "name",
    "exchange",
    "asset_scope",
    "classification_status",
    "group_id",
    "group_name",
    "group_kind",
    "sw_l1_code",
    "sw_l1_name",
)


def sniff_cn_classification(head: bytes) -> bool:
    """A header starting `code,name,exchange,asset_scope`."""
    first = head.decode("utf-8", errors="ignore").lstrip("\ufeff").split("\n", 1)[0]
    return first.startswith("code,name,exchange,asset_scope,")


def classification_frame(path: PathLike) -> pl.DataFrame:
    """The file as funds-like rows with `group_name` (not a funds column) kept for the shipped data."""
    file = str(path)
    frame, locate = read_csv_strings(read_bytes(path), file)
    missing = [c for c in _REQUIRED if c not in frame.columns]
    if missing:
        raise ParseError(f"missing column(s) {missing}", file=file, row=1, field=missing[0])
    rows = []
    for i, r in enumerate(frame.iter_rows(named=True)):
        line = locate(i)
        exch = _SUFFIX.get(r["exchange"] or "")
        if exch is None:
            raise ParseError(
                f"unknown exchange {r['exchange']!r} (SSE or SZSE)", file=file, row=line, field="exchange"
            )
        ticker = cn_ticker(f"{r['code']}.{exch}", file=file, row=line, field="code")
        classified = r["classification_status"] == "classified"
        rows.append(
            {
                "ticker": ticker,
                "name": r["name"],
                "asset_class": ASSET_CLASS.get(r["asset_scope"] or "", "other"),
                "category": CATEGORY.get(r["group_kind"] or "") if classified else None,
                "group": (r["group_id"] or None) if classified else None,
                "group_name": (r["group_name"] or None) if classified else None,
                "sw_l1_code": r["sw_l1_code"] or None,
                "sw_l1_name": r["sw_l1_name"] or None,
            }
        )
    schema = {
        k: pl.String
        for k in (
            "ticker",
            "name",
            "asset_class",
            "category",
            "group",
            "group_name",
            "sw_l1_code",
            "sw_l1_name",
        )
    }
    out = pl.DataFrame(rows, schema=schema)
    dup = out["ticker"].is_duplicated()
    if dup.any():
        i = int(dup.arg_true()[-1])
        raise ParseError(f"{out['ticker'][i]} appears twice", file=file, row=locate(i), field="code")
    return out


def read_cn_classification(path: PathLike, *, retrieved_at: dt.datetime | None = None) -> ImportBatch:
    """`funds` rows for every ETF of the classification (no daily rows)."""
    file = str(path)
    resolve_retrieved_at(path, retrieved_at)
    frame = (
        classification_frame(path)
        .drop("group_name")
        .with_columns(market=pl.lit("CN"), currency=pl.lit("CNY"))
    )
    funds = validate(frame, "funds", file=file)
    empty = validate(pl.DataFrame({"date": [], "ticker": [], "source": []}), "daily", file=file)
    return ImportBatch(source=SOURCE, file=file, daily=empty, tables={"funds": funds})
