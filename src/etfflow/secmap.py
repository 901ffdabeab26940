"""The warehouse's SEC id map (`sec_ids`): merging new snapshots, and naming N-PORT rows by it.

`resolve_nport` is pure (frames in, frame out); `merge_sec_ids` and `nport_keys` read the store.
"""

from __future__ import annotations

import polars as pl

from etfflow.schema import validate
from etfflow.store import Store, UpsertResult

__all__ = ["merge_sec_ids", "resolve_nport"]


def merge_sec_ids(store: Store, frame: pl.DataFrame, *, file: str | None = None) -> UpsertResult:
    """Upsert ticker rows into `sec_ids`; a CIK-only row never replaces a stored row that has a series.

    (SEC's company_tickers.json lists every listed ticker under its registrant CIK, ETF share classes
    of multi-series trusts included: it must not erase the series mapping the fund map gave.)
    """
    data = validate(frame, "sec_ids", file=file)
    if data.height == 0:
        return UpsertResult("sec_ids", 0, 0, 0)
    with_series = store.query("SELECT ticker FROM sec_ids WHERE series_id IS NOT NULL")["ticker"]
    keep = data["series_id"].is_not_null() | ~data["ticker"].is_in(with_series.to_list())
    return store.upsert("sec_ids", data.filter(keep), file=file)


def _unique_key(frame: pl.DataFrame, key: pl.Expr) -> pl.DataFrame:
    """(series key -> ticker) where exactly one ticker has that key."""
    return (
        frame.select(key.alias("series_id"), pl.col("ticker"))
        .drop_nulls()
        .group_by("series_id")
        .agg(pl.col("ticker").unique().alias("t"))
        .filter(pl.col("t").list.len() == 1)
        .select("series_id", pl.col("t").list.first().alias("_t"))
    )


def resolve_nport(frame: pl.DataFrame, funds: pl.DataFrame, ids: pl.DataFrame) -> pl.DataFrame:
    """Fill null `ticker` and `series_name` of `nport_monthly` rows.

    Tickers, first match wins: a fund of `funds` (taxonomy + stored) with that series id, or for
    series-less trusts keyed ``CIK...`` that CIK; then SEC's id map `ids` where the series (or the
    CIK, for series-less entries) has exactly one ticker. A series with several share-class tickers
    and no fund in `funds` stays without ticker (no class can be chosen for it). Names: the name as
    filed, else the fund's name in `funds`.
    """
    if frame.height == 0:
        return frame
    funds_series = funds.filter(pl.col("series_id").is_not_null())
    funds_cik = funds.filter(pl.col("series_id").is_null() & pl.col("cik").is_not_null())
    ids_cik = ids.filter(pl.col("series_id").is_null())
    keys = pl.concat(
        [
            _unique_key(funds_series, pl.col("series_id")),
            _unique_key(funds_cik, "CIK" + pl.col("cik")),
            _unique_key(ids, pl.col("series_id")),
            _unique_key(ids_cik, "CIK" + pl.col("cik")),
        ]
    ).unique("series_id", keep="first", maintain_order=True)
    names = funds.select(pl.col("ticker").alias("_nt"), pl.col("name").alias("_name")).drop_nulls()
    if "series_name" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("series_name"))
    return (
        frame.join(keys, on="series_id", how="left", maintain_order="left")
        .with_columns(pl.coalesce("ticker", "_t").alias("ticker"))
        .drop("_t")
        .join(names, left_on="ticker", right_on="_nt", how="left", maintain_order="left")
        .with_columns(pl.coalesce("series_name", "_name").alias("series_name"))
        .drop("_name")
    )
