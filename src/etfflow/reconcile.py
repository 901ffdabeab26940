"""Reconciliation (pure): monthly sums of daily flows and vendor flows against Form N-PORT monthly flows.

N-PORT states, per series and calendar month, the value of shares sold, reinvested and redeemed
(net flow = sales + reinvestment - redemption). For an ETF that is the value of the creation units
created and redeemed in the month, which is what the sum of daily flows (shares change x NAV) over
the month's trade dates estimates. Months are calendar months (N-PORT's month ends are the last
calendar day); DESIGN's monthly periods end on the month's last trading day, which is the same month.

A daily month is complete when every NYSE session of the month is covered by a clean flow (flow
known, no bad print, not the first observation); a flow whose GAP reaches back covers the sessions it
spans. A month that is not complete, or whose first flow spans sessions of the previous month, is
`partial_month`: its sum is shown but never called a match or a mismatch.

Statuses: ok (|diff| <= abs_tol + rel_tol x |reference|), mismatch, partial_month, missing_daily (the
reference has the month, the daily flows have no row in it), missing_nport (no N-PORT amount),
missing_vendor (no vendor flow in the month).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from etfflow import calendar
from etfflow.flows.flags import EXCLUDED_BY_DEFAULT

__all__ = [
    "DEFAULT_ABS_TOL",
    "DEFAULT_REL_TOL",
    "RESULT_SCHEMA",
    "STATUSES",
    "daily_monthly",
    "reconcile",
    "status_counts",
    "vendor_monthly",
]

DEFAULT_ABS_TOL = 1_000_000.0
DEFAULT_REL_TOL = 0.05
STATUSES = ("ok", "mismatch", "partial_month", "missing_daily", "missing_nport", "missing_vendor")

RESULT_SCHEMA: dict[str, pl.DataType] = {
    "comparison": pl.String(),
    "ticker": pl.String(),
    "series_id": pl.String(),
    "vendor": pl.String(),
    "month_end": pl.Date(),
    "left_usd": pl.Float64(),
    "right_usd": pl.Float64(),
    "diff_usd": pl.Float64(),
    "rel_diff": pl.Float64(),
    "status": pl.String(),
    "sessions": pl.Int32(),
    "covered_sessions": pl.Int32(),
}
_DAILY_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "month_end": pl.Date(),
    "flow_usd": pl.Float64(),
    "sessions": pl.Int32(),
    "covered_sessions": pl.Int32(),
    "spans_previous": pl.Boolean(),
    "complete": pl.Boolean(),
}
_VENDOR_SCHEMA: dict[str, pl.DataType] = {
    "vendor": pl.String(),
    "ticker": pl.String(),
    "month_end": pl.Date(),
    "flow_usd": pl.Float64(),
    "days": pl.Int32(),
    "complete": pl.Boolean(),
}


def _sessions_per_month() -> pl.DataFrame:
    s = calendar.sessions()
    return (
        pl.DataFrame({"date": s.astype("datetime64[D]")})
        .with_columns(pl.col("date").dt.month_end().alias("month_end"))
        .group_by("month_end")
        .agg(pl.len().cast(pl.Int32).alias("sessions"))
    )


def daily_monthly(flows: pl.DataFrame, *, exclude: int = int(EXCLUDED_BY_DEFAULT)) -> pl.DataFrame:
    """Per fund and calendar month with any daily flow row: clean flow sum, sessions covered, completeness."""
    if flows.height == 0:
        return pl.DataFrame(schema=_DAILY_SCHEMA)
    all_sessions = calendar.sessions()
    f = flows.select(
        "ticker",
        "date",
        pl.col("date").dt.month_end().alias("month_end"),
        "flow_usd",
        pl.col("gap_sessions").fill_null(0).cast(pl.Int64).alias("gap"),
        (pl.col("flow_usd").is_not_null() & ((pl.col("flags") & exclude) == 0)).alias("clean"),
    )
    idx = calendar.session_index(f["date"].to_numpy().astype("datetime64[D]"))
    lo = np.clip(idx - f["gap"].to_numpy(), 0, None)
    f = f.with_columns(pl.Series("hi", idx, dtype=pl.Int64), pl.Series("lo", lo, dtype=pl.Int64))
    clean = f.filter(pl.col("clean"))
    session_month = pl.DataFrame(
        {"s": np.arange(len(all_sessions), dtype=np.int64), "s_month": all_sessions.astype("datetime64[D]")}
    ).with_columns(pl.col("s_month").dt.month_end())
    spanned = (
        clean.select("ticker", "month_end", pl.int_ranges("lo", pl.col("hi") + 1).alias("s"))
        .explode("s", empty_as_null=False)
        .join(session_month, on="s", how="left")
    )
    covered = (
        spanned.filter(pl.col("s_month") == pl.col("month_end"))
        .group_by("ticker", "month_end")
        .agg(pl.col("s").n_unique().cast(pl.Int32).alias("covered_sessions"))
    )
    spans = (
        spanned.filter(pl.col("s_month") != pl.col("month_end"))
        .select("ticker", "month_end")
        .unique()
        .with_columns(pl.lit(True).alias("spans_previous"))
    )
    sums = f.group_by("ticker", "month_end").agg(
        pl.col("flow_usd").filter(pl.col("clean")).sum().alias("flow_usd")
    )
    out = (
        sums.join(_sessions_per_month(), on="month_end", how="left")
        .join(covered, on=["ticker", "month_end"], how="left")
        .join(spans, on=["ticker", "month_end"], how="left")
        .with_columns(
            pl.col("covered_sessions").fill_null(0),
            pl.col("spans_previous").fill_null(False),
        )
        .with_columns(
            ((pl.col("covered_sessions") >= pl.col("sessions")) & ~pl.col("spans_previous")).alias("complete")
        )
    )
    return out.select(list(_DAILY_SCHEMA)).cast(_DAILY_SCHEMA).sort("ticker", "month_end")  # type: ignore[arg-type]


def vendor_monthly(vendor: pl.DataFrame) -> pl.DataFrame:
    """Per vendor, fund and calendar month: summed flow; complete when the vendor's span covers the month.

    Vendors often leave out days without a flow, so a month counts as complete when the vendor's
    series (per fund) starts on or before the month's first session and ends on or after its last.
    """
    if vendor.height == 0:
        return pl.DataFrame(schema=_VENDOR_SCHEMA)
    v = vendor.rename({"source": "vendor"}).with_columns(pl.col("date").dt.month_end().alias("month_end"))
    span = v.group_by("vendor", "ticker").agg(
        pl.col("date").min().alias("first"), pl.col("date").max().alias("last")
    )
    bounds = _month_bounds(v["month_end"].unique())
    out = (
        v.group_by("vendor", "ticker", "month_end")
        .agg(pl.col("flow_usd").sum().alias("flow_usd"), pl.len().cast(pl.Int32).alias("days"))
        .join(span, on=["vendor", "ticker"])
        .join(bounds, on="month_end", how="left")
        .with_columns(
            ((pl.col("first") <= pl.col("first_session")) & (pl.col("last") >= pl.col("last_session"))).alias(
                "complete"
            )
        )
    )
    return out.select(list(_VENDOR_SCHEMA)).cast(_VENDOR_SCHEMA).sort("vendor", "ticker", "month_end")  # type: ignore[arg-type]


def _month_bounds(month_ends: pl.Series) -> pl.DataFrame:
    """First and last NYSE session of each month (the month's last day when it has none)."""
    s = pl.DataFrame({"d": calendar.sessions().astype("datetime64[D]")}).with_columns(
        pl.col("d").dt.month_end().alias("month_end")
    )
    b = s.group_by("month_end").agg(
        pl.col("d").min().alias("first_session"), pl.col("d").max().alias("last_session")
    )
    m = pl.DataFrame({"month_end": month_ends.cast(pl.Date)})
    return m.join(b, on="month_end", how="left").with_columns(
        pl.col("first_session").fill_null(pl.col("month_end").dt.month_start()),
        pl.col("last_session").fill_null(pl.col("month_end")),
    )


def _status(
    left: pl.Expr,
    right: pl.Expr,
    complete: pl.Expr,
    missing_left: str,
    missing_right: str,
    abs_tol: float,
    rel_tol: float,
) -> pl.Expr:
    diff = (left - right).abs()
    return (
        pl.when(right.is_null())
        .then(pl.lit(missing_right))
        .when(left.is_null())
        .then(pl.lit(missing_left))
        .when(~complete)
        .then(pl.lit("partial_month"))
        .when(diff <= abs_tol + rel_tol * right.abs())
        .then(pl.lit("ok"))
        .otherwise(pl.lit("mismatch"))
    )


def _finish(
    frame: pl.DataFrame, comparison: str, abs_tol: float, rel_tol: float, missing: tuple[str, str]
) -> pl.DataFrame:
    left, right = pl.col("left_usd"), pl.col("right_usd")
    out = frame.with_columns(
        pl.lit(comparison).alias("comparison"),
        (left - right).alias("diff_usd"),
        pl.when(right.is_not_null() & (right != 0)).then((left - right) / right.abs()).alias("rel_diff"),
        _status(
            left, right, pl.col("complete").fill_null(False), missing[0], missing[1], abs_tol, rel_tol
        ).alias("status"),
    )
    for c, dtype in RESULT_SCHEMA.items():
        if c not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=dtype).alias(c))
    return out.select(list(RESULT_SCHEMA)).cast(RESULT_SCHEMA)  # type: ignore[arg-type]


def _in_range(frame: pl.DataFrame, ref: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Rows whose month lies within the reference's first..last month for the same keys."""
    bounds = ref.group_by(keys).agg(
        pl.col("month_end").min().alias("_lo"), pl.col("month_end").max().alias("_hi")
    )
    return (
        frame.join(bounds, on=keys, how="inner")
        .filter(pl.col("month_end").is_between(pl.col("_lo"), pl.col("_hi")))
        .drop("_lo", "_hi")
    )


def _with_series(frame: pl.DataFrame, sid: pl.DataFrame) -> pl.DataFrame:
    """Attach each fund's series id (from the N-PORT rows)."""
    return frame.join(sid, on="ticker", how="left")


def reconcile(
    daily: pl.DataFrame,
    nport: pl.DataFrame,
    vendor: pl.DataFrame | None = None,
    *,
    abs_tol: float = DEFAULT_ABS_TOL,
    rel_tol: float = DEFAULT_REL_TOL,
    all_months: bool = False,
) -> pl.DataFrame:
    """Compare per fund and month: daily vs N-PORT, vendor vs N-PORT, daily vs vendor (tidy frame).

    `daily`: `daily_monthly` output; `nport`: ticker, series_id, month_end, net_flow (rows without a
    ticker are left out); `vendor`: `vendor_monthly` output. diff = left - right, rel_diff = diff /
    |right|. Only funds both sides know are compared, and (unless `all_months`) only months from
    the reference's first to its last month for that fund (for vendor comparisons: the months both
    sides cover, since a vendor export spans a chosen period).
    """
    if abs_tol < 0 or rel_tol < 0:
        raise ValueError("tolerances must be >= 0")
    parts: list[pl.DataFrame] = []
    np_ = (
        nport.filter(pl.col("ticker").is_not_null())
        .select("ticker", "series_id", "month_end", pl.col("net_flow").alias("right_usd"))
        .unique(["ticker", "month_end"], keep="first", maintain_order=True)
    )
    sid = np_.group_by("ticker").agg(pl.col("series_id").first())
    d = daily.select(
        "ticker",
        "month_end",
        pl.col("flow_usd").alias("left_usd"),
        "sessions",
        "covered_sessions",
        "complete",
    )
    if np_.height:
        dn = d.filter(pl.col("ticker").is_in(np_["ticker"].unique().implode()))
        np_d = np_.filter(pl.col("ticker").is_in(dn["ticker"].unique().implode()))  # funds with daily flows
        if not all_months:
            dn = _in_range(dn, np_d, ["ticker"])
        j = _with_series(
            np_d.drop("series_id").join(dn, on=["ticker", "month_end"], how="full", coalesce=True), sid
        )
        if j.height:
            parts.append(_finish(j, "daily_vs_nport", abs_tol, rel_tol, ("missing_daily", "missing_nport")))
    v = vendor if vendor is not None else pl.DataFrame(schema=_VENDOR_SCHEMA)
    if v.height and np_.height:
        vn = (
            v.filter(pl.col("ticker").is_in(np_["ticker"].unique().implode()))
            .select(
                "vendor",
                "ticker",
                "month_end",
                pl.col("flow_usd").alias("left_usd"),
                "complete",
                pl.col("days").alias("covered_sessions"),  # days the vendor lists in the month
            )
            .join(_sessions_per_month(), on="month_end", how="left")
        )
        pairs = vn.select("vendor", "ticker").unique()
        ref = pairs.join(np_, on="ticker")
        if not all_months:  # the months both cover
            vn, ref = _in_range(vn, ref, ["vendor", "ticker"]), _in_range(ref, vn, ["vendor", "ticker"])
        j = ref.drop("series_id").join(vn, on=["vendor", "ticker", "month_end"], how="full", coalesce=True)
        j = _with_series(j, sid)
        parts.append(_finish(j, "vendor_vs_nport", abs_tol, rel_tol, ("missing_vendor", "missing_nport")))
    if v.height:
        ref = v.select(
            "vendor",
            "ticker",
            "month_end",
            pl.col("flow_usd").alias("right_usd"),
            pl.col("complete").alias("_vc"),
        )
        dv = d.filter(pl.col("ticker").is_in(ref["ticker"].unique().implode()))
        pairs = ref.select("vendor", "ticker").unique()
        dv = pairs.join(dv, on="ticker")
        if not all_months:  # the months both cover
            dv, ref = _in_range(dv, ref, ["vendor", "ticker"]), _in_range(ref, dv, ["vendor", "ticker"])
        j = ref.join(dv, on=["vendor", "ticker", "month_end"], how="full", coalesce=True).with_columns(
            (pl.col("complete").fill_null(False) & pl.col("_vc").fill_null(False)).alias("complete")
        )
        j = _with_series(j, sid)
        parts.append(_finish(j, "daily_vs_vendor", abs_tol, rel_tol, ("missing_daily", "missing_vendor")))
    if not parts:
        return pl.DataFrame(schema=RESULT_SCHEMA)
    order = {"daily_vs_nport": 0, "vendor_vs_nport": 1, "daily_vs_vendor": 2}
    out = pl.concat(parts)
    return (
        out.with_columns(pl.col("comparison").replace_strict(order, return_dtype=pl.Int8).alias("_o"))
        .sort("_o", "ticker", "vendor", "month_end", nulls_last=False)
        .drop("_o")
    )


def status_counts(result: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Rows per comparison and status."""
    out: dict[str, dict[str, int]] = {}
    for row in result.group_by("comparison", "status").len().iter_rows(named=True):
        out.setdefault(row["comparison"], {})[row["status"]] = int(row["len"])
    return {k: dict(sorted(v.items(), key=lambda kv: STATUSES.index(kv[0]))) for k, v in sorted(out.items())}
