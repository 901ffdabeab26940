"""Which flows a view uses: computed from shares outstanding, a vendor's, or the best per fund (pure).

`--flows computed` keeps the flows computed from shares x NAV (`flows_daily`); `--flows vendor[:NAME]`
uses the flows a vendor published (`vendor_flows`, one vendor per fund: NAME, else the vendor with
the most rows for that fund); `--flows best` (the default) takes computed flows for every fund that
has any and vendor flows for the others. A fund's flows always come from one source, never a mix
of days. Every selected row carries `flow_source`: "computed", or "vendor:NAME" ("vendor" for flows
imported under the default vendor name).

Vendor rows as flows: `flow_usd` as published; `aum_prev_usd` is the fund's own AUM at the previous
session when the warehouse states it (total net assets, or shares x NAV), else null, so % of AUM is
left empty rather than invented; `method` = "vendor"; the only flag is LARGE; `available_on` is the
next session (a vendor publishes a day's flows after that day's close).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from etfflow import calendar
from etfflow.errors import ConfigError
from etfflow.flows.flags import Flag
from etfflow.schema import TABLES

__all__ = [
    "COMPUTED",
    "FLOW_SOURCE_COLUMN",
    "FlowSource",
    "describe_sources",
    "flow_sources",
    "parse_flow_source",
    "select_flows",
    "source_notes",
    "vendor_as_flows",
    "with_flow_source",
]

FLOW_SOURCE_COLUMN = "flow_source"
COMPUTED = "computed"
#: |flow| above this share of prior AUM is flagged LARGE (as FlowParams.large for computed flows)
LARGE_SHARE = 0.25
#: how stale the AUM used for a vendor flow's % may be (calendar days before the flow's session)
AUM_STALE_DAYS = 7
_FLOW_SCHEMA = {**TABLES["flows_daily"].polars_schema, FLOW_SOURCE_COLUMN: pl.String()}


@dataclass(frozen=True)
class FlowSource:
    """A parsed `--flows` choice: kind computed, vendor or best, and an optional vendor name."""

    kind: str
    vendor: str | None = None

    def __str__(self) -> str:
        return f"{self.kind}:{self.vendor}" if self.vendor else self.kind


def parse_flow_source(text: str | FlowSource | None) -> FlowSource:
    """'computed', 'vendor', 'vendor:etfcom' or 'best' (None means best)."""
    if isinstance(text, FlowSource):
        return text
    raw = (text or "best").strip()
    kind, sep, name = raw.partition(":")
    kind = kind.lower()
    if kind not in (COMPUTED, "vendor", "best") or (sep and (kind != "vendor" or not name.strip())):
        raise ConfigError(f"--flows takes computed, vendor, vendor:NAME or best, not {raw!r}")
    return FlowSource(kind, name.strip() if sep else None)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=_FLOW_SCHEMA)


def _pick_vendor(vendor: pl.DataFrame, name: str | None) -> pl.DataFrame:
    """One vendor per fund: `name`, else the vendor with the most rows for the fund (then by name)."""
    if name is not None:
        return vendor.filter(pl.col("source") == name)
    if vendor["source"].n_unique() <= 1:
        return vendor
    best = (
        vendor.group_by("ticker", "source")
        .len()
        .sort(["ticker", "len", "source"], descending=[False, True, False])
        .unique("ticker", keep="first")
        .select("ticker", "source")
    )
    return vendor.join(best, on=["ticker", "source"], how="semi")


def vendor_as_flows(vendor: pl.DataFrame, aum: pl.DataFrame | None = None) -> pl.DataFrame:
    """`vendor_flows` rows (one vendor per fund) as `flows_daily` rows plus `flow_source`.

    `aum`: date, ticker, aum_usd (the fund's end-of-day AUM where known); each flow's prior AUM is the
    last one stated before the flow's session, at most AUM_STALE_DAYS old.
    """
    if vendor.height == 0:
        return _empty()
    v = vendor.sort("ticker", "date")
    dates = v["date"].to_numpy().astype("datetime64[D]")
    prev = calendar.shift_sessions(dates, -1)
    avail = calendar.shift_sessions(dates, 1)
    v = v.with_columns(
        pl.Series("_prev", prev).cast(pl.Date),
        pl.Series("available_on", avail).cast(pl.Date),
    )
    if aum is not None and aum.height:
        a = (
            aum.filter(pl.col("aum_usd").is_finite() & (pl.col("aum_usd") > 0))
            .select(pl.col("date").alias("_prev"), "ticker", pl.col("aum_usd").alias("aum_prev_usd"))
            .sort("ticker", "_prev")
        )
        v = v.sort("ticker", "_prev").join_asof(
            a,
            on="_prev",
            by="ticker",
            strategy="backward",
            tolerance=dt.timedelta(days=AUM_STALE_DAYS),
            check_sortedness=False,  # both sides are sorted by ticker, then date
        )
    else:
        v = v.with_columns(pl.lit(None, dtype=pl.Float64).alias("aum_prev_usd"))
    pct = pl.when(pl.col("aum_prev_usd") > 0).then(pl.col("flow_usd") / pl.col("aum_prev_usd"))
    out = v.with_columns(
        pct.alias("flow_pct_aum"),
        pl.lit("vendor").alias("method"),
        pl.when(pct.abs() > LARGE_SHARE)
        .then(pl.lit(int(Flag.LARGE)))
        .otherwise(pl.lit(0))
        .cast(pl.UInt32)
        .alias("flags"),
        pl.when(pl.col("source") == "vendor")
        .then(pl.lit("vendor"))
        .otherwise("vendor:" + pl.col("source"))
        .alias(FLOW_SOURCE_COLUMN),
    )
    for c, dtype in _FLOW_SCHEMA.items():
        if c not in out.columns:
            out = out.with_columns(pl.lit(None, dtype=dtype).alias(c))
    return out.select(list(_FLOW_SCHEMA)).cast(_FLOW_SCHEMA).sort("ticker", "date")  # type: ignore[arg-type]


def select_flows(
    computed: pl.DataFrame,
    vendor: pl.DataFrame,
    choice: FlowSource | str | None = None,
    *,
    computed_tickers: set[str] | None = None,
    aum: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The flows a view uses (see the module docstring), with `flow_source`, sorted by ticker and date.

    `computed`: `flows_daily` rows; `vendor`: `vendor_flows` rows; `computed_tickers`: the funds that
    have computed flows at all (default: those in `computed`), so that a date filter never flips a
    fund's source under `best`.
    """
    c = parse_flow_source(choice)
    comp = computed.with_columns(pl.lit(COMPUTED).alias(FLOW_SOURCE_COLUMN)).select(list(_FLOW_SCHEMA))
    if c.kind == COMPUTED:
        return comp.cast(_FLOW_SCHEMA).sort("ticker", "date")  # type: ignore[arg-type]
    vend = _pick_vendor(vendor, c.vendor)
    if c.kind == "best":
        have = (
            computed_tickers if computed_tickers is not None else set(computed["ticker"].unique().to_list())
        )
        vend = vend.filter(~pl.col("ticker").is_in(sorted(have)))
        parts = [comp.cast(_FLOW_SCHEMA), vendor_as_flows(vend, aum)]  # type: ignore[arg-type]
        return pl.concat(parts).sort("ticker", "date")
    return vendor_as_flows(vend, aum)


def flow_sources(flows: pl.DataFrame) -> dict[str, str]:
    """Ticker -> the source of its flows ('computed' when the frame carries no `flow_source`)."""
    if flows.height == 0:
        return {}
    if FLOW_SOURCE_COLUMN not in flows.columns:
        return {t: COMPUTED for t in sorted(flows["ticker"].unique().to_list())}
    pairs = flows.select("ticker", FLOW_SOURCE_COLUMN).unique().sort("ticker")
    return dict(zip(pairs["ticker"].to_list(), pairs[FLOW_SOURCE_COLUMN].to_list(), strict=True))


def with_flow_source(frame: pl.DataFrame, flows: pl.DataFrame) -> pl.DataFrame:
    """A per-fund frame (with `ticker`) with each fund's flow source added as `flow_source`."""
    src = flow_sources(flows)
    return frame.with_columns(
        pl.col("ticker").replace_strict(src, default=None, return_dtype=pl.String).alias(FLOW_SOURCE_COLUMN)
    )


def describe_sources(flows: pl.DataFrame, *, limit: int = 20) -> str:
    """One line: which funds' flows come from which source (the first `limit` names of each)."""
    by: dict[str, list[str]] = {}
    for t, s in flow_sources(flows).items():
        by.setdefault(s, []).append(t)
    if not by:
        return "Flow source: no flows."
    parts = []
    for s in sorted(by, key=lambda k: (k != COMPUTED, k)):
        names = by[s]
        shown = ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
        what = "computed from shares outstanding" if s == COMPUTED else f"published by {s}"
        parts.append(f"{what}: {len(names)} fund{'s' if len(names) != 1 else ''} ({shown})")
    return "Flow source: " + "; ".join(parts) + "."


def source_notes(flows: pl.DataFrame, *, limit: int = 20) -> list[str]:
    """Notes on vendor flows: funds whose % of AUM is empty because the warehouse has no AUM for them."""
    if flows.height == 0 or FLOW_SOURCE_COLUMN not in flows.columns:
        return []
    v = flows.filter(pl.col(FLOW_SOURCE_COLUMN) != COMPUTED)
    if v.height == 0:
        return []
    no_aum = (
        v.group_by("ticker")
        .agg(pl.col("aum_prev_usd").is_not_null().any().alias("any"))
        .filter(~pl.col("any"))["ticker"]
        .sort()
        .to_list()
    )
    if not no_aum:
        return []
    shown = ", ".join(no_aum[:limit]) + (f" and {len(no_aum) - limit} more" if len(no_aum) > limit else "")
    return [
        f"{len(no_aum)} fund(s) with vendor flows have no AUM in the warehouse, so their % of AUM is left "
        f"empty (import their shares, NAV or net assets to fill it): {shown}."
    ]
