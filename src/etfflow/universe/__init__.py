"""The ETF taxonomy of the US flow framework, shipped as data (`taxonomy.csv`), and its loaders.

One row per fund in the canonical `funds` schema. Every `group` has exactly one `primary` fund (its
reference: the Select Sector SPDR for a sector, the oldest or largest fund elsewhere).

Cyclical / defensive (sectors only; null elsewhere): defensive = Consumer Staples, Utilities and
Health Care, whose earnings barely depend on the business cycle; every other sector is cyclical.
Real Estate is cyclical: rate- and credit-sensitive, an early-cycle leader in Fidelity's
business-cycle work and in Morningstar's "cyclical" super sector. Communication Services is cyclical:
since the 2018 GICS reshuffle it holds internet and media companies (Alphabet, Meta, Netflix), not
the old telecom utilities, and it leads in mid cycle.

Business-cycle phase: the sector's strongest phase in Fidelity's business-cycle approach (Fidelity
Investments, "The Business Cycle Approach to Equity Sector Investing"): early = Financials, Consumer
Discretionary, Real Estate, Industrials; mid = Technology, Communication Services; late = Energy,
Materials; recession = Consumer Staples, Utilities, Health Care. Industrials lead in early cycle in
that work (they are also strong mid cycle); one phase per sector is a simplification.

Alternative sector funds carry their GICS sector's group, cycle and phase: semiconductors (SMH, SOXX)
are Technology, banks (KRE, KBE) Financials, biotech and devices (XBI, IBB, IHI) Health Care, and gold
miners (GDX) Materials, as GICS classifies them (they trade much like gold itself).

`creation_unit_shares` and `inception` are filled only where known with confidence (a wrong unit size
would raise false odd-lot flags).

SEC ids (`cik`, `series_id`, `class_id`) are written by ``scripts/build_sec_ids.py`` from SEC's
``company_tickers_mf`` snapshots in ../shared/data (110 funds from 2025-09, HACK from 2024-08). The
ten series-less funds carry only a CIK, HAND-ENTERED from EDGAR (no shared file lists them): the unit
investment trusts SPY, DIA, MDY and QQQ (which file N-PORT under that CIK) and the grantor trusts and
commodity pools GLD, IAU, SLV, USO, UNG and DBC (1933-Act issuers: 10-K filers, no N-PORT).
"""

from __future__ import annotations

import io
from functools import lru_cache
from importlib.resources import files

import polars as pl

from etfflow.errors import NotFoundError
from etfflow.schema import validate

__all__ = [
    "CATEGORIES",
    "CYCLE_PHASE",
    "CYCLICAL",
    "DEFENSIVE",
    "PHASES",
    "SECTORS",
    "load_taxonomy",
    "sector_funds",
    "tickers",
]

SECTORS: tuple[str, ...] = (
    "Technology",
    "Financials",
    "Energy",
    "Health Care",
    "Industrials",
    "Consumer Discretionary",
    "Consumer Staples",
    "Utilities",
    "Materials",
    "Real Estate",
    "Communication Services",
)
DEFENSIVE: tuple[str, ...] = ("Health Care", "Consumer Staples", "Utilities")
CYCLICAL: tuple[str, ...] = tuple(s for s in SECTORS if s not in DEFENSIVE)
PHASES: tuple[str, ...] = ("early", "mid", "late", "recession")
CYCLE_PHASE: dict[str, str] = {
    "Technology": "mid",
    "Financials": "early",
    "Energy": "late",
    "Health Care": "recession",
    "Industrials": "early",
    "Consumer Discretionary": "early",
    "Consumer Staples": "recession",
    "Utilities": "recession",
    "Materials": "late",
    "Real Estate": "early",
    "Communication Services": "mid",
}
CATEGORIES: tuple[str, ...] = (
    "broad_market",
    "sector",
    "style",
    "fixed_income",
    "thematic",
    "international",
    "commodity",
)

_FILE = "taxonomy.csv"


@lru_cache(maxsize=1)
def _load() -> pl.DataFrame:
    from etfflow.schema import TABLES

    raw = files("etfflow.universe").joinpath(_FILE).read_bytes()
    frame = pl.read_csv(io.BytesIO(raw), schema=TABLES["funds"].polars_schema)
    # the US framework's funds: market US, currency USD unless the file says otherwise
    frame = frame.with_columns(pl.col("market").fill_null("US"), pl.col("currency").fill_null("USD"))
    return validate(frame, "funds", file=_FILE)


def load_taxonomy() -> pl.DataFrame:
    """The shipped taxonomy as a validated `funds` frame (one row per ticker, file order)."""
    return _load().clone()


def sector_funds(primary_only: bool = True) -> pl.DataFrame:
    """Sector funds ordered as SECTORS (primary first within a sector); only primaries by default."""
    frame = _load().filter(pl.col("category") == "sector")
    if primary_only:
        frame = frame.filter(pl.col("primary"))
    order = {s: i for i, s in enumerate(SECTORS)}
    return (
        frame.with_columns(
            pl.col("group").replace_strict(order, return_dtype=pl.Int64).alias("_order"),
            pl.int_range(pl.len()).alias("_row"),
        )
        .sort("_order", pl.col("primary").not_(), "_row")
        .drop("_order", "_row")
    )


def tickers(category: str | None = None, group: str | None = None) -> list[str]:
    """Tickers in file order, optionally of one category and/or group; unknown names raise."""
    frame = _load()
    if category is not None:
        if category not in frame["category"].unique().to_list():
            raise NotFoundError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")
        frame = frame.filter(pl.col("category") == category)
    if group is not None:
        if group not in frame["group"].unique().to_list():
            known = ", ".join(sorted(frame["group"].unique().to_list()))
            raise NotFoundError(f"unknown group {group!r}; known: {known}")
        frame = frame.filter(pl.col("group") == group)
    return frame["ticker"].to_list()
