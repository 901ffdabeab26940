"""Sector rotation from flows: net flow per sector, breadth and the cyclical/defensive ratio (pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from etfflow.flows.flags import EXCLUDED_BY_DEFAULT
from etfflow.signals.overview import cd_ratio, window_totals

__all__ = ["SectorSnapshot", "sector_snapshot"]


@dataclass(frozen=True)
class SectorSnapshot:
    """Sector flows over one window."""

    start: dt.date | None
    end: dt.date | None
    table: pl.DataFrame  # sector, cycle, cycle_phase, flow_usd, aum_start_usd, flow_pct_aum, funds
    sectors: int  # sectors with data
    positive: int  # sectors with net inflow
    breadth: float | None  # positive / sectors
    cyclical_usd: float
    defensive_usd: float
    cd_ratio: float | None
    missing: list[str]  # sectors of the taxonomy with no flow data in the window

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d = dict(self.__dict__)
        d["table"] = self.table.with_columns(pl.col(pl.Float64).fill_nan(None)).to_dicts()
        return d


def sector_snapshot(
    flows: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    window: int = 5,
    as_of: dt.date | None = None,
    exclude: int = int(EXCLUDED_BY_DEFAULT),
) -> SectorSnapshot:
    """Net flow of all funds of each sector over the last `window` sessions."""
    sector_funds = funds.filter(pl.col("category") == "sector")
    all_sectors = sector_funds.select("group", "cycle", "cycle_phase").unique("group").sort("group")
    totals = window_totals(
        flows.filter(pl.col("ticker").is_in(sector_funds["ticker"].implode())),
        None,
        window=window,
        as_of=as_of,
        exclude=exclude,
    )
    joined = totals.join(sector_funds.select("ticker", "group"), on="ticker")
    table = (
        joined.group_by("group")
        .agg(
            pl.col("flow_usd").sum(),
            pl.col("aum_start_usd").sum(),
            pl.len().cast(pl.Int32).alias("funds"),
        )
        .with_columns((pl.col("flow_usd") / pl.col("aum_start_usd")).alias("flow_pct_aum"))
        .join(all_sectors, on="group", how="left")
        .rename({"group": "sector"})
        .select("sector", "cycle", "cycle_phase", "flow_usd", "aum_start_usd", "flow_pct_aum", "funds")
        .sort("flow_usd", descending=True)
    )
    present = set(table["sector"].to_list())
    missing = [s for s in all_sectors["group"].to_list() if s not in present]
    positive = int((table["flow_usd"] > 0).sum())
    cyc = float(table.filter(pl.col("cycle") == "cyclical")["flow_usd"].sum())
    dfn = float(table.filter(pl.col("cycle") == "defensive")["flow_usd"].sum())
    return SectorSnapshot(
        start=totals["start"].min() if totals.height else None,  # type: ignore[arg-type]
        end=totals["end"].max() if totals.height else None,  # type: ignore[arg-type]
        table=table,
        sectors=table.height,
        positive=positive,
        breadth=positive / table.height if table.height else None,
        cyclical_usd=cyc,
        defensive_usd=dfn,
        cd_ratio=cd_ratio(cyc, dfn) if table.height else None,
        missing=missing,
    )
