"""Daily reconciliation (pure): flows computed from shares against a vendor's daily flows, explained.

A vendor's daily flow and ours can differ only because the two are stamped or valued differently:
the vendor may date a flow on the trade date or on the day the new share count is published (one
session later), or even a session earlier, and may value the shares change at its date's NAV or the
previous day's. So for each fund, vendor and calendar year (of the trade date) every alignment is tried:

- `offset` in (-1, 0, +1): vendor date = trade date + offset sessions;
- `nav_basis` "t" (computed flow = dSO_t x NAV_t, as stored), "t-1" (dSO_t x NAV_t-1) or "t+1"
  (dSO_t x NAV_t+1), t being the trade date; NAV_t-1 and NAV_t+1 come from the fund's rows for the
  sessions before and after (a vendor that dates a flow one session late and values it at its own
  date's NAV is offset +1, NAV t+1; at the previous day's NAV, offset +1, NAV t);

and the one with the highest `match_share` is chosen (ties: smaller mean absolute difference, then
the order above). A day matches when |computed - vendor| <= max(abs_tol, rel_tol x the larger of the
two in absolute value). Days compared are trade dates where both sides have a value; computed flows
that are unknown, flagged bad print / no price / first observation, or that span a gap are left out.
`diff_usd` = computed - vendor, summed over the days compared. `any_match_share` is the share of
trade dates that match under at least one alignment: well above `match_share`, it says the vendor
changed its alignment within the year (the worst days show from when).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from etfflow import calendar
from etfflow.flows.flags import EXCLUDED_BY_DEFAULT, Flag

__all__ = [
    "ALIGNMENTS",
    "DEFAULT_ABS_TOL",
    "DEFAULT_REL_TOL",
    "DailyReconciliation",
    "alignment_changes",
    "reconcile_daily",
]

DEFAULT_ABS_TOL = 1_000_000.0
DEFAULT_REL_TOL = 0.02
#: (offset, nav_basis) in preference order for ties
ALIGNMENTS: tuple[tuple[int, str], ...] = (
    (0, "t"),
    (1, "t"),
    (1, "t+1"),
    (0, "t-1"),
    (-1, "t"),
    (-1, "t-1"),
    (0, "t+1"),
    (1, "t-1"),
    (-1, "t+1"),
)
BASES = ("t", "t-1", "t+1")
_KEYS = ["vendor", "ticker", "year"]
YEAR_SCHEMA = pl.Schema(
    {
        "vendor": pl.String(),
        "ticker": pl.String(),
        "year": pl.Int32(),
        "offset": pl.Int8(),
        "nav_basis": pl.String(),
        "days": pl.UInt32(),
        "matched": pl.UInt32(),
        "match_share": pl.Float64(),
        "correlation": pl.Float64(),
        "computed_usd": pl.Float64(),
        "vendor_usd": pl.Float64(),
        "diff_usd": pl.Float64(),
        "mean_abs_diff_usd": pl.Float64(),
    }
)
WORST_SCHEMA = pl.Schema(
    {
        "vendor": pl.String(),
        "ticker": pl.String(),
        "year": pl.Int32(),
        "trade_date": pl.Date(),
        "vendor_date": pl.Date(),
        "computed_usd": pl.Float64(),
        "vendor_usd": pl.Float64(),
        "diff_usd": pl.Float64(),
    }
)


@dataclass(frozen=True)
class DailyReconciliation:
    """Per fund, vendor and year: the chosen alignment (`years`), every alignment tried (`candidates`),
    and the days that differ most under the chosen one (`worst`)."""

    years: pl.DataFrame
    candidates: pl.DataFrame
    worst: pl.DataFrame
    left_out: dict[str, int]

    def rows(self) -> list[dict[str, Any]]:
        """JSON-ready rows: the chosen alignment, the other alignments' match shares, the worst days."""
        alt = self.candidates.group_by(_KEYS).agg(
            pl.struct("offset", "nav_basis", "match_share", "days")
            .sort_by("match_share", descending=True)
            .alias("alignments")
        )
        alts: dict[tuple[str, str, int], list[dict[str, Any]]] = {
            (r["vendor"], r["ticker"], r["year"]): r["alignments"] for r in alt.iter_rows(named=True)
        }
        worst: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
        for r in self.worst.iter_rows(named=True):
            key = (r.pop("vendor"), r.pop("ticker"), r.pop("year"))
            worst.setdefault(key, []).append(r)
        out = []
        for r in self.years.with_columns(pl.col(pl.Float64).fill_nan(None)).iter_rows(named=True):
            key = (r["vendor"], r["ticker"], r["year"])
            out.append({**r, "alignments": alts.get(key, []), "worst_days": worst.get(key, [])})
        return out


def _computed(flows: pl.DataFrame, exclude: int) -> tuple[pl.DataFrame, int]:
    """Clean single-session computed flows under each NAV basis, keyed by session index."""
    f = flows.sort("ticker", "date")
    idx = calendar.session_index(f["date"].to_numpy().astype("datetime64[D]"))
    f = f.with_columns(pl.Series("idx", idx, dtype=pl.Int64))
    prev_ok = (pl.col("idx").shift(1).over("ticker") == pl.col("idx") - 1) & (
        pl.col("flags") & int(Flag.NO_PRICE) == 0
    ).shift(1).over("ticker")
    next_ok = (pl.col("idx").shift(-1).over("ticker") == pl.col("idx") + 1) & (
        pl.col("flags") & int(Flag.NO_PRICE) == 0
    ).shift(-1).over("ticker")
    nav_prev = pl.when(prev_ok).then(pl.col("nav_used").shift(1).over("ticker"))
    nav_next = pl.when(next_ok).then(pl.col("nav_used").shift(-1).over("ticker"))
    f = f.with_columns(
        pl.col("flow_usd").alias("c_t"),
        (pl.col("shares_change") * nav_prev).alias("c_t-1"),
        (pl.col("shares_change") * nav_next).alias("c_t+1"),
    )
    keep = (
        pl.col("flow_usd").is_not_null()
        & ((pl.col("flags") & (exclude | int(Flag.GAP))) == 0)
        & (pl.col("gap_sessions").fill_null(0) == 0)
    )
    good = f.filter(keep)
    return good.select("ticker", "date", "idx", *[f"c_{b}" for b in BASES]), f.height - good.height


def reconcile_daily(
    flows: pl.DataFrame,
    vendor: pl.DataFrame,
    *,
    abs_tol: float = DEFAULT_ABS_TOL,
    rel_tol: float = DEFAULT_REL_TOL,
    worst: int = 3,
    exclude: int = int(EXCLUDED_BY_DEFAULT),
) -> DailyReconciliation:
    """Compare computed daily flows (`flows_daily` rows) with `vendor_flows` rows per fund, vendor, year."""
    if abs_tol < 0 or rel_tol < 0:
        raise ValueError("tolerances must be >= 0")
    empty = DailyReconciliation(
        pl.DataFrame(schema=YEAR_SCHEMA),
        pl.DataFrame(schema=YEAR_SCHEMA),
        pl.DataFrame(schema=WORST_SCHEMA),
        {},
    )
    if flows.height == 0 or vendor.height == 0:
        return empty
    comp, left_out = _computed(flows, exclude)
    v = vendor.filter(pl.col("ticker").is_in(comp["ticker"].unique().implode()))
    if v.height == 0 or comp.height == 0:
        return empty
    vidx = calendar.session_index(v["date"].to_numpy().astype("datetime64[D]"))
    v = v.select(
        pl.col("source").alias("vendor"),
        "ticker",
        pl.col("date").alias("vendor_date"),
        pl.Series("vidx", vidx, dtype=pl.Int64),
        pl.col("flow_usd").alias("v"),
    )
    parts = []
    for offset in (-1, 0, 1):
        j = comp.join(v.with_columns((pl.col("vidx") - offset).alias("idx")), on=["ticker", "idx"])
        for basis in BASES:
            parts.append(
                j.select(
                    "vendor",
                    "ticker",
                    pl.col("date").dt.year().cast(pl.Int32).alias("year"),
                    pl.lit(offset, dtype=pl.Int8).alias("offset"),
                    pl.lit(basis).alias("nav_basis"),
                    pl.col("date").alias("trade_date"),
                    "vendor_date",
                    pl.col(f"c_{basis}").alias("c"),
                    "v",
                ).filter(pl.col("c").is_not_null() & pl.col("v").is_not_null())
            )
    pairs = pl.concat(parts)
    diff = pl.col("c") - pl.col("v")
    tol = pl.max_horizontal(
        pl.lit(abs_tol), rel_tol * pl.max_horizontal(pl.col("c").abs(), pl.col("v").abs())
    )
    pairs = pairs.with_columns(diff.alias("d"), (diff.abs() <= tol).alias("ok"))
    cand = (
        pairs.group_by(*_KEYS, "offset", "nav_basis")
        .agg(
            pl.len().cast(pl.UInt32).alias("days"),
            pl.col("ok").sum().cast(pl.UInt32).alias("matched"),
            pl.col("ok").mean().alias("match_share"),
            pl.corr("c", "v").alias("correlation"),
            pl.col("c").sum().alias("computed_usd"),
            pl.col("v").sum().alias("vendor_usd"),
            pl.col("d").sum().alias("diff_usd"),
            pl.col("d").abs().mean().alias("mean_abs_diff_usd"),
        )
        .with_columns(
            pl.struct("offset", "nav_basis")
            .map_elements(lambda s: ALIGNMENTS.index((s["offset"], s["nav_basis"])), return_dtype=pl.Int32)
            .alias("_pref")
        )
    )
    chosen = (
        cand.sort(
            [*_KEYS, "match_share", "mean_abs_diff_usd", "_pref"],
            descending=[False, False, False, True, False, False],
        )
        .unique(_KEYS, keep="first", maintain_order=True)
        .drop("_pref")
    )
    cand = cand.drop("_pref").select(list(YEAR_SCHEMA)).cast(YEAR_SCHEMA)
    any_ok = (
        pairs.group_by(*_KEYS, "trade_date")
        .agg(pl.col("ok").any())
        .group_by(_KEYS)
        .agg(pl.col("ok").mean().alias("any_match_share"))
    )
    chosen = chosen.select(list(YEAR_SCHEMA)).cast(YEAR_SCHEMA).join(any_ok, on=_KEYS, how="left").sort(_KEYS)
    w = (
        pairs.join(chosen.select(*_KEYS, "offset", "nav_basis"), on=[*_KEYS, "offset", "nav_basis"])
        .filter(~pl.col("ok"))
        .sort(pl.col("d").abs(), descending=True)
        .group_by(_KEYS, maintain_order=True)
        .head(worst)
        .select(
            *_KEYS,
            "trade_date",
            "vendor_date",
            pl.col("c").alias("computed_usd"),
            pl.col("v").alias("vendor_usd"),
            pl.col("d").alias("diff_usd"),
        )
        .sort(*_KEYS, "trade_date")
    )
    dropped = {"computed_flows_left_out": left_out} if left_out else {}
    return DailyReconciliation(
        chosen, cand.sort(*_KEYS, "offset", "nav_basis"), w.cast(WORST_SCHEMA), dropped
    )


def alignment_changes(years: pl.DataFrame) -> list[str]:
    """Sentences naming the years in which a fund's chosen alignment differs from the year before."""
    out = []
    for (vendor, ticker), part in years.sort(*_KEYS).group_by("vendor", "ticker", maintain_order=True):
        prev: tuple[int, str] | None = None
        for r in part.iter_rows(named=True):
            cur = (r["offset"], r["nav_basis"])
            if prev is not None and cur != prev:
                out.append(
                    f"{ticker} ({vendor}): from {r['year']} the vendor's dates fit offset {cur[0]:+d}, "
                    f"NAV {cur[1]} (before: offset {prev[0]:+d}, NAV {prev[1]})"
                )
            prev = cur
    return out
