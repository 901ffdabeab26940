"""Warehouse reads behind the tracker's flow columns: prices, volume and creation units for stored flows.

The computation is `etfflow.signals.tracker.flow_detail` (pure); this module only reads what it needs.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from etfflow.store import Store

__all__ = ["market_columns"]


def market_columns(store: Store, flows: pl.DataFrame) -> pl.DataFrame:
    """`flows` with the tracker columns (`signals.tracker.MARKET_COLUMNS`): price, volume, units, ..."""
    from etfflow.flows.daily import merge_sources
    from etfflow.pipeline import funds_table
    from etfflow.signals.tracker import flow_detail

    if flows.height == 0:
        return flow_detail(flows, pl.DataFrame(schema={"date": pl.Date, "ticker": pl.String}))
    tickers = sorted(set(flows["ticker"].to_list()))
    start, end = flows["date"].min(), flows["date"].max()
    first = start - dt.timedelta(days=60) if isinstance(start, dt.date) else None
    raw = store.read("daily", tickers=tickers, start=first, end=end if isinstance(end, dt.date) else None)
    prices = merge_sources(raw) if raw.height else pl.DataFrame(schema={"date": pl.Date, "ticker": pl.String})
    return flow_detail(flows, prices, funds_table(store).filter(pl.col("ticker").is_in(tickers)))
