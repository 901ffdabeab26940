"""Flows published by a third party (e.g. an ETF.com export): a date, ticker, flow CSV -> `vendor_flows`.

Headers are matched by alias ("Fund Flows", "Net Flows", "Symbol", "As Of" ...). A unit written in
the flow header ("Net Flows ($mm)") is used unless `units` is given. Accounting negatives "(12.5)",
`$` and thousands separators are read; rows without a flow are dropped and counted, never read as 0.
"""

from __future__ import annotations

import re

import polars as pl

from etfflow.checks import vendor_rows
from etfflow.errors import ConfigError, ParseError, ValidationError
from etfflow.schema import empty, validate
from etfflow.sources.base import (
    ImportBatch,
    PathLike,
    add_dropped,
    drop_blank_rows,
    parse_dates,
    parse_float,
    read_bytes,
    read_csv_strings,
)
from etfflow.sources.generic import DATE_FORMATS, normalise_header

__all__ = ["UNITS", "read_vendor_flows"]

#: multipliers to USD
UNITS: dict[str, float] = {
    "usd": 1.0,
    "k": 1e3,
    "thousands": 1e3,
    "mm": 1e6,
    "m": 1e6,
    "millions": 1e6,
    "bn": 1e9,
    "b": 1e9,
    "billions": 1e9,
}
_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date", "as_of", "as_of_date", "trade_date", "day", "period"),
    "ticker": ("ticker", "symbol", "fund_ticker", "etf", "etf_ticker", "fund"),
    "flow_usd": (
        "flow",
        "flows",
        "flow_usd",
        "fund_flow",
        "fund_flows",
        "net_flow",
        "net_flows",
        "netflows",
        "net_fund_flows",
        "daily_flow",
        "daily_flows",
        "net_flows_usd",
    ),
}
_UNIT_IN_HEADER = re.compile(r"\(\s*\$?\s*(usd|k|thousands|mm|m|millions|bn|b|billions)\s*\)\s*$", re.I)
_PARENS = re.compile(r"^\((.*)\)$")


def _match(headers: list[str]) -> tuple[dict[str, str], str | None]:
    """Canonical column -> header, and the unit written in the flow header (if any)."""
    found: dict[str, str] = {}
    unit: str | None = None
    for h in headers:
        m = _UNIT_IN_HEADER.search(h)
        base = normalise_header(_UNIT_IN_HEADER.sub("", h) if m else h)
        for canon, names in _ALIASES.items():
            if canon not in found and (base in names or normalise_header(h) in names):
                found[canon] = h
                if canon == "flow_usd" and m:
                    unit = m.group(1).lower()
    return found, unit


def read_vendor_flows(
    path: PathLike,
    *,
    source: str = "vendor",
    units: str | None = None,
    ticker: str | None = None,
) -> ImportBatch:
    """A vendor's date,ticker,flow CSV as `vendor_flows` rows (in `tables`); `units` scales to USD."""
    file = str(path)
    if units is not None and units.lower() not in UNITS:
        raise ConfigError(f"unknown units {units!r}; use one of {', '.join(UNITS)}")
    if not source.strip():
        raise ConfigError("the vendor source name must not be empty")
    frame, locate = read_csv_strings(read_bytes(path), file)
    cols, header_unit = _match(frame.columns)
    for canon in ("date", "flow_usd"):
        if canon not in cols:
            names = ", ".join(f'"{a}"' for a in _ALIASES[canon][:6])
            raise ParseError(
                f"no {canon} column (looked for {names} ...; header: {frame.columns})", file=file, row=1
            )
    if "ticker" not in cols and ticker is None:
        raise ParseError(
            f"no ticker column (header: {frame.columns}); pass ticker= for a single-fund export",
            file=file,
            row=1,
        )
    notes: list[str] = []
    unit = (units or header_unit or "usd").lower()
    if units is None and header_unit:
        notes.append(f"flows read in {header_unit} (from the header {cols['flow_usd']!r})")
    dropped: dict[str, int] = {}
    frame = frame.with_row_index("_row")
    frame = drop_blank_rows(frame, dropped)
    flows_text = frame[cols["flow_usd"]].str.replace(_PARENS.pattern, "-$1")
    flow = parse_float(flows_text, frame["_row"], file=file, field=cols["flow_usd"], locate=locate)
    dates = parse_dates(
        frame[cols["date"]], frame["_row"], file=file, field=cols["date"], locate=locate, formats=DATE_FORMATS
    )
    if "ticker" in cols:
        tick = frame[cols["ticker"]].str.to_uppercase()
    else:
        tick = pl.Series([(ticker or "").upper()] * frame.height, dtype=pl.String)
    out = pl.DataFrame(
        {
            "_row": frame["_row"],
            "date": dates,
            "ticker": tick,
            "source": [source.strip()] * frame.height,
            "flow_usd": flow * UNITS[unit],
        }
    )
    missing = out["flow_usd"].is_null() | out["ticker"].is_null() | (out["ticker"] == "")
    add_dropped(dropped, "missing_flow", int(missing.sum()))
    out = out.filter(~missing)
    out = vendor_rows(out, file=file, locate=locate, labels=cols, dropped=dropped, notes=notes)
    before = out.height
    out = out.unique(["date", "ticker", "flow_usd"], keep="first", maintain_order=True)
    add_dropped(dropped, "duplicate_rows", before - out.height)
    clash = out.select(pl.struct("date", "ticker").is_first_distinct().not_()).to_series()
    if clash.any():
        i = int(clash.arg_true()[0])
        r = out.row(i, named=True)
        raise ValidationError(
            f"{r['ticker']} {r['date']} appears again with a different flow",
            file=file,
            row=locate(r["_row"]),
            field=cols["flow_usd"],
        )
    table = validate(out.drop("_row").sort("ticker", "date"), "vendor_flows", file=file)
    return ImportBatch(
        source=f"vendor:{source.strip()}",
        file=file,
        daily=empty("daily"),
        dropped=dropped,
        notes=notes,
        tables={"vendor_flows": table},
    )
