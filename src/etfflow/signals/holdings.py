"""N-PORT holdings: positions on a date, what changed between two dates, and look-through flows (pure).

Input: `holdings` rows (Form N-PORT Part C: name, cusip, isin, lei, value_usd, pct_net_assets in
percent, asset_cat, issuer_cat, country). A security is identified by its ISIN, else its CUSIP
(placeholders such as 000000000 and N/A ignored), else LEI + title, else name + title; several rows of
one security (lots, derivative legs) are summed. N-PORT states no GICS sector: "sector" here is the
filing's issuer category (CORP, UST, USGSE, MUN, ...) beside its asset category (EC equity, DBT debt,
ABS-MBS, DFE derivatives, STIV short-term vehicles, ...).

- summary: positions, total value, top-10 weight (largest |weight| first), allocation by asset and
  issuer category and by country (shares of net assets, percent);
- compare(d1, d2): securities added and removed, turnover = half the sum of |w2 - w1| over the
  union of securities (one-way, weights as fractions of net assets), largest additions and
  deletions by weight change (positions kept, grown or cut included);
- look-through: a fund flow F spread over its holdings by weight: flow into security s = F x w_s,
  summed across funds (each fund's latest report on or before the flow window's end). It assumes
  creations and redemptions buy and sell the portfolio pro rata (in-kind baskets roughly do).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from etfflow.errors import NotFoundError
from etfflow.signals.common import jsonable

__all__ = [
    "HoldingsChange",
    "HoldingsSummary",
    "compare_holdings",
    "look_through",
    "security_key",
    "summarize",
]

_PLACEHOLDERS = ("", "N/A", "NA", "000000000", "0", "NONE")


def security_key() -> pl.Expr:
    """The identity of a security in a holdings frame (see the module docstring)."""

    def clean(c: str) -> pl.Expr:
        v = pl.col(c).cast(pl.String).str.strip_chars()
        return pl.when(v.is_null() | v.str.to_uppercase().is_in(list(_PLACEHOLDERS))).then(None).otherwise(v)

    return pl.coalesce(
        pl.lit("ISIN:") + clean("isin"),
        pl.lit("CUSIP:") + clean("cusip"),
        pl.lit("LEI:") + clean("lei") + pl.lit("|") + pl.col("title").fill_null(""),
        pl.lit("NAME:") + pl.col("name").fill_null("") + pl.lit("|") + pl.col("title").fill_null(""),
    ).alias("security")


def _positions(h: pl.DataFrame) -> pl.DataFrame:
    """One row per security: name, categories, value and weight (fraction of net assets)."""
    return (
        h.with_columns(security_key())
        .group_by("security")
        .agg(
            pl.col("name").first(),
            pl.col("asset_cat").first(),
            pl.col("issuer_cat").first(),
            pl.col("country").first(),
            pl.col("value_usd").sum(),
            (pl.col("pct_net_assets").sum() / 100).alias("weight"),
            pl.len().alias("rows"),
        )
        .sort(pl.col("weight").abs(), "security", descending=[True, False])
    )


def _on(h: pl.DataFrame, date: dt.date | None) -> tuple[pl.DataFrame, dt.date]:
    dates = sorted(set(h["report_date"].to_list()))
    if not dates:
        raise NotFoundError("no holdings stored for this fund")
    if date is None:
        return h.filter(pl.col("report_date") == dates[-1]), dates[-1]
    if date not in dates:
        raise NotFoundError(f"no holdings reported on {date}; report dates: {', '.join(map(str, dates))}")
    return h.filter(pl.col("report_date") == date), date


@dataclass(frozen=True)
class HoldingsSummary:
    """A fund's positions on one report date."""

    series_id: str
    report_date: dt.date
    positions: int  # securities (rows of one security summed)
    rows: int  # rows in the filing
    value_usd: float
    weight_sum: float  # sum of weights (fraction of net assets; cash and liabilities make it differ from 1)
    top10_weight: float
    top10: pl.DataFrame  # security, name, asset_cat, issuer_cat, value_usd, weight
    by_asset: pl.DataFrame  # asset_cat, positions, weight
    by_issuer: pl.DataFrame  # issuer_cat, positions, weight
    by_country: pl.DataFrame  # country, positions, weight

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def _alloc(p: pl.DataFrame, col: str) -> pl.DataFrame:
    return (
        p.group_by(col)
        .agg(pl.len().alias("positions"), pl.col("weight").sum())
        .sort("weight", col, descending=[True, False], nulls_last=True)
    )


def summarize(h: pl.DataFrame, date: dt.date | None = None) -> HoldingsSummary:
    """Positions, top-10 weight and allocations of one fund on `date` (default: its latest report)."""
    rows, day = _on(h, date)
    p = _positions(rows)
    top = p.head(10)
    return HoldingsSummary(
        series_id=str(rows["series_id"][0]),
        report_date=day,
        positions=p.height,
        rows=rows.height,
        value_usd=float(p["value_usd"].sum()),
        weight_sum=float(p["weight"].sum()),
        top10_weight=float(top["weight"].sum()),
        top10=top.select("security", "name", "asset_cat", "issuer_cat", "value_usd", "weight"),
        by_asset=_alloc(p, "asset_cat"),
        by_issuer=_alloc(p, "issuer_cat"),
        by_country=_alloc(p, "country"),
    )


@dataclass(frozen=True)
class HoldingsChange:
    """What changed in a fund's holdings between two report dates."""

    series_id: str
    start: dt.date
    end: dt.date
    positions_start: int
    positions_end: int
    added: int
    removed: int
    kept: int
    turnover: float  # one-way: sum |w_end - w_start| / 2
    additions: (
        pl.DataFrame
    )  # largest weight increases: security, name, weight_start, weight_end, change, status
    deletions: pl.DataFrame  # largest weight decreases
    warnings: list[str]  # e.g. weights that do not sum to about 100% of net assets

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def compare_holdings(h: pl.DataFrame, start: dt.date, end: dt.date, *, n: int = 10) -> HoldingsChange:
    """Added and removed securities, turnover and the largest weight changes from `start` to `end`."""
    a, _ = _on(h, start)
    b, _ = _on(h, end)
    pa = _positions(a).select("security", "name", pl.col("weight").alias("weight_start"))
    pb = _positions(b).select(
        "security", pl.col("name").alias("name_end"), pl.col("weight").alias("weight_end")
    )
    j = pa.join(pb, on="security", how="full", coalesce=True).with_columns(
        pl.coalesce("name_end", "name").alias("name"),
        pl.when(pl.col("weight_start").is_null())
        .then(pl.lit("added"))
        .when(pl.col("weight_end").is_null())
        .then(pl.lit("removed"))
        .otherwise(pl.lit("kept"))
        .alias("status"),
    )
    j = j.with_columns(
        (pl.col("weight_end").fill_null(0) - pl.col("weight_start").fill_null(0)).alias("change")
    )
    cols = ["security", "name", "weight_start", "weight_end", "change", "status"]
    warnings = []
    for day, frame in ((start, pa["weight_start"]), (end, pb["weight_end"])):
        total = float(frame.sum())
        if not 0.5 <= total <= 1.5:
            warnings.append(
                f"weights on {day} sum to {total:.0%} of net assets (the filing repeats or misstates "
                "positions): turnover and weight changes are not meaningful"
            )
    return HoldingsChange(
        series_id=str(a["series_id"][0]),
        start=start,
        end=end,
        positions_start=pa.height,
        positions_end=pb.height,
        added=int((j["status"] == "added").sum()),
        removed=int((j["status"] == "removed").sum()),
        kept=int((j["status"] == "kept").sum()),
        turnover=float(j["change"].abs().sum()) / 2,
        additions=j.filter(pl.col("change") > 0)
        .sort(["change", "security"], descending=[True, False])
        .head(n)
        .select(cols),
        deletions=j.filter(pl.col("change") < 0).sort(["change", "security"]).head(n).select(cols),
        warnings=warnings,
    )


def look_through(
    fund_flows: pl.DataFrame, holdings: pl.DataFrame, *, as_of: dt.date | None = None
) -> pl.DataFrame:
    """Flows per underlying security: sum over funds of the fund's flow x the security's weight.

    `fund_flows`: series_id, flow_usd (one row per fund, e.g. a window's net flow); `holdings`:
    `holdings` rows of those funds. Each fund uses its latest report dated on or before `as_of`.
    Returns security, name, flow_usd, funds (how many funds hold it), sorted by |flow|.
    """
    h = holdings if as_of is None else holdings.filter(pl.col("report_date") <= as_of)
    latest = h.group_by("series_id").agg(pl.col("report_date").max().alias("_last"))
    h = h.join(latest, on="series_id").filter(pl.col("report_date") == pl.col("_last")).drop("_last")
    parts = []
    for (sid,), g in h.group_by("series_id"):
        p = _positions(g).with_columns(pl.lit(sid).alias("series_id"))
        parts.append(p.select("series_id", "security", "name", "weight"))
    schema = {"security": pl.String, "name": pl.String, "flow_usd": pl.Float64, "funds": pl.Int64}
    if not parts:
        return pl.DataFrame(schema=schema)
    w = pl.concat(parts)
    f = fund_flows.select("series_id", pl.col("flow_usd").cast(pl.Float64))
    out = (
        w.join(f, on="series_id", how="inner")
        .with_columns((pl.col("flow_usd") * pl.col("weight")).alias("flow_usd"))
        .group_by("security")
        .agg(
            pl.col("name").first(),
            pl.col("flow_usd").sum(),
            pl.col("series_id").n_unique().cast(pl.Int64).alias("funds"),
        )
        .sort(pl.col("flow_usd").abs(), "security", descending=[True, False])
    )
    return out.select(list(schema))
