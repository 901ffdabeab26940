"""The "ETF Flow Tracker" views: BUY/SELL/NEUTRAL flow signals, and flows beside price and volume (pure).

`tracker_signals` scores every fund at one date from three parts, each in [-1, 1]:
- flow score = clip(F20 / 2%, -1, 1), F20 the 20-session net flow as a fraction of the AUM before
  the window (2% is the framework's strong threshold: a strong inflow scores +1);
- price score = clip(R20 / 5%, -1, 1), R20 the 20-session price return (close, else NAV; unknown
  across a split);
- volume score = clip(V / V30 - 1, -1, 1) x the sign of (flow score + price score): volume above
  its 30-session average confirms the direction the other two point to, volume below it weakens it
  (V30 = mean volume of the 30 sessions before the last, at least 10 known).
composite = 0.5 flow + 0.3 price + 0.2 volume, the weights of the parts with data rescaled to 1
(no flow score, no signal). BUY when composite >= 0.2, SELL when <= -0.2, else NEUTRAL;
strength = round(100 x |composite|), 0-100. The reason names each part with its number.
These are the tracker's fields with etfflow's own documented weights (the tracker script's exact
weights are not reproduced); they describe flows and prices, they are not advice.

`flow_detail` adds to daily flows: close, price change, volume, volume / its 30-session average,
flow/price divergence (money in while the price fell, or out while it rose), the shares change and
the change in creation units (shares change / the fund's creation unit, where known), and `mechanical`:
why the session's flow may be mechanical (quarter end, index rebalance or reconstitution, or the
session after one; `signals.mechanical`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from etfflow.errors import NotFoundError
from etfflow.flows.flags import EXCLUDED_BY_DEFAULT, Flag

__all__ = [
    "ASSET_CLASS_ALIASES",
    "MARKET_COLUMNS",
    "TRACKER_BANDS",
    "TRACKER_WEIGHTS",
    "category_tickers",
    "flow_detail",
    "score",
    "tracker_signals",
]

TRACKER_WEIGHTS: dict[str, float] = {"flow": 0.5, "price": 0.3, "volume": 0.2}
TRACKER_BANDS: tuple[float, float] = (0.2, -0.2)
FLOW_SCALE = 0.02
PRICE_SCALE = 0.05
ASSET_CLASS_ALIASES: dict[str, str] = {
    "bond": "fixed_income",
    "bonds": "fixed_income",
    "fixed-income": "fixed_income",
    "equities": "equity",
    "stock": "equity",
    "stocks": "equity",
    "commodities": "commodity",
}


def category_tickers(funds: pl.DataFrame, name: str) -> list[str]:
    """Tickers of a category (sector, thematic, ...) or an asset class (equity, bond, commodity)."""
    key = name.strip().lower().replace(" ", "_")
    key = ASSET_CLASS_ALIASES.get(key, key)
    cats = sorted(set(funds["category"].drop_nulls().to_list())) if "category" in funds.columns else []
    classes = (
        sorted(set(funds["asset_class"].drop_nulls().to_list())) if "asset_class" in funds.columns else []
    )
    if key in cats:
        return sorted(funds.filter(pl.col("category") == key)["ticker"].to_list())
    if key in classes:
        return sorted(funds.filter(pl.col("asset_class") == key)["ticker"].to_list())
    raise NotFoundError(
        f"unknown category or asset class {name!r}; categories: {', '.join(cats)}; "
        f"asset classes: {', '.join(classes)} (also: bond, equities, commodities)"
    )


def _clip(x: float | None, scale: float) -> float | None:
    if x is None or not np.isfinite(x):
        return None
    return float(max(-1.0, min(1.0, x / scale)))


def score(
    f20: float | None, r20: float | None, vol_ratio: float | None
) -> tuple[str | None, int | None, float | None, dict[str, float | None]]:
    """Signal, strength (0-100), composite and the three part scores (see the module docstring)."""
    fs = _clip(f20, FLOW_SCALE)
    ps = _clip(r20, PRICE_SCALE)
    vs = None
    if vol_ratio is not None and np.isfinite(vol_ratio) and fs is not None:
        direction = np.sign(fs + (ps or 0.0))
        vs = float(max(-1.0, min(1.0, vol_ratio - 1.0)) * direction)
    parts = {"flow": fs, "price": ps, "volume": vs}
    if fs is None:
        return None, None, None, parts
    known = {k: v for k, v in parts.items() if v is not None}
    total_w = sum(TRACKER_WEIGHTS[k] for k in known)
    comp = sum(TRACKER_WEIGHTS[k] * v for k, v in known.items()) / total_w
    sig = "BUY" if comp >= TRACKER_BANDS[0] else "SELL" if comp <= TRACKER_BANDS[1] else "NEUTRAL"
    return sig, round(100 * abs(comp)), comp, parts


def _price(prices: pl.DataFrame, nav_fallback: bool = False) -> pl.DataFrame:
    cols = ["date", "ticker"] + [c for c in ("close", "nav", "volume") if c in prices.columns]
    p = prices.select(cols)
    for c in ("close", "nav", "volume"):
        if c not in p.columns:
            p = p.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    p = p.with_columns(pl.col("close").cast(pl.Float64), pl.col("volume").cast(pl.Float64))
    if nav_fallback:
        p = p.with_columns(pl.coalesce("close", pl.col("nav").cast(pl.Float64)).alias("close"))
    return p.drop("nav")


def flow_detail(
    flows: pl.DataFrame, prices: pl.DataFrame, funds: pl.DataFrame | None = None, *, volume_days: int = 30
) -> pl.DataFrame:
    """Daily flows with price, price change, volume and its ratio, divergence, shares and unit changes."""
    p = _price(prices).sort("ticker", "date")
    p = p.with_columns(
        (pl.col("close") / pl.col("close").shift(1).over("ticker") - 1).alias("price_change"),
        pl.col("volume")
        .shift(1)
        .rolling_mean(volume_days, min_samples=min(10, volume_days))
        .over("ticker")
        .alias("volume_avg"),
    ).with_columns((pl.col("volume") / pl.col("volume_avg")).alias("volume_ratio"))
    out = flows.join(
        p.select("date", "ticker", "close", "price_change", "volume", "volume_ratio"),
        on=["date", "ticker"],
        how="left",
    )
    split = (pl.col("flags").fill_null(0) & int(Flag.SPLIT)) != 0
    out = out.with_columns(pl.when(split).then(None).otherwise(pl.col("price_change")).alias("price_change"))
    out = out.with_columns(
        pl.when((pl.col("flow_usd") > 0) & (pl.col("price_change") < 0))
        .then(pl.lit("inflow_price_down"))
        .when((pl.col("flow_usd") < 0) & (pl.col("price_change") > 0))
        .then(pl.lit("outflow_price_up"))
        .otherwise(None)
        .alias("divergence")
    )
    units = None
    if funds is not None and "creation_unit_shares" in funds.columns:
        units = funds.select("ticker", pl.col("creation_unit_shares").cast(pl.Float64))
    if units is not None:
        out = out.join(units, on="ticker", how="left")
    else:
        out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias("creation_unit_shares"))
    if "shares_change" not in out.columns:
        out = out.with_columns(pl.lit(None, dtype=pl.Float64).alias("shares_change"))
    out = out.with_columns((pl.col("shares_change") / pl.col("creation_unit_shares")).alias("creation_units"))
    return out.with_columns(_mechanical(out["date"])).sort("ticker", "date")


def _mechanical(dates: pl.Series) -> pl.Series:
    """Reasons a date's flow may be mechanical (quarter end, index rebalance; see `signals.mechanical`)."""
    from etfflow.signals.mechanical import REASONS, possibly_mechanical

    if dates.len() == 0 or dates.null_count() == dates.len():
        return pl.Series("mechanical", [None] * dates.len(), dtype=pl.String)
    lo, hi = dates.min(), dates.max()
    assert isinstance(lo, dt.date) and isinstance(hi, dt.date)
    uniq = sorted(set(dates.drop_nulls().to_list()))
    marks = possibly_mechanical(uniq, lo, hi)
    text = {d: ", ".join(REASONS[r] for r in rs) for d, rs in marks.items()}
    return pl.Series("mechanical", [text.get(d) for d in dates.to_list()], dtype=pl.String)


#: the columns `flow_detail` adds, in the order `etfflow flows` shows them
MARKET_COLUMNS: tuple[str, ...] = (
    "close",
    "price_change",
    "volume",
    "volume_ratio",
    "divergence",
    "shares_change",
    "creation_units",
    "mechanical",
)


def _reason(f20: float | None, r20: float | None, vr: float | None, sig: str | None) -> str:
    if f20 is None:
        return "no 20-session flow"
    bits = [
        f"20-session {'inflow' if f20 > 0 else 'outflow' if f20 < 0 else 'flow'} {100 * f20:+.2f}% of AUM"
    ]
    bits.append("price change unknown" if r20 is None else f"price {100 * r20:+.2f}% over 20 sessions")
    if vr is not None:
        bits.append(f"volume {vr:.2f}x its 30-session average")
    if sig == "BUY" and r20 is not None and r20 < 0 < f20:
        bits.append("buying into a falling price")
    if sig == "SELL" and r20 is not None and r20 > 0 > f20:
        bits.append("selling into a rising price")
    return "; ".join(bits)


def tracker_signals(
    flows: pl.DataFrame,
    prices: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    as_of: dt.date | None = None,
    tickers: list[str] | None = None,
    exclude: int = int(EXCLUDED_BY_DEFAULT),
) -> pl.DataFrame:
    """One row per fund: signal, strength, 1/5/20-session flows, price and volume, the part scores, a reason.

    Point in time: only flows with `available_on <= as_of` and prices dated on or before it.
    """
    f = flows
    if as_of is not None:
        f = f.filter(pl.col("date") <= as_of)
        if "available_on" in f.columns:
            f = f.filter(pl.col("available_on").is_null() | (pl.col("available_on") <= as_of))
        prices = prices.filter(pl.col("date") <= as_of)
    if tickers is not None:
        f = f.filter(pl.col("ticker").is_in(tickers))
        prices = prices.filter(pl.col("ticker").is_in(tickers))
    # the last 20 flow rows of each fund
    g = (
        f.sort("ticker", "date")
        .with_columns(pl.col("date").rank("ordinal", descending=True).over("ticker").alias("_k"))
        .filter(pl.col("_k") <= 20)
    )
    ok = ((pl.col("flags").fill_null(0) & exclude) == 0) & pl.col("flow_usd").is_not_null()
    okf = pl.when(ok).then(pl.col("flow_usd"))
    per = g.group_by("ticker").agg(
        pl.col("date").max().alias("date"),
        okf.filter(pl.col("_k") == 1).sum().alias("f1"),
        okf.filter(pl.col("_k") <= 5).sum().alias("f5"),
        okf.sum().alias("f20"),
        ok.sum().alias("n_ok"),
        pl.col("aum_prev_usd").drop_nulls().first().alias("base"),
        ((pl.col("flags").fill_null(0) & int(Flag.SPLIT)) != 0).any().alias("split"),
    )
    # prices up to each fund's last flow date: the last close, the close 20 rows before, volumes
    p = _price(prices, nav_fallback=True).join(
        per.select("ticker", pl.col("date").alias("_last")), on="ticker"
    )
    p = p.filter(pl.col("date") <= pl.col("_last")).sort("ticker", "date")
    v = p.filter(pl.col("volume").is_not_null())
    vol = (
        v.with_columns(pl.col("date").rank("ordinal", descending=True).over("ticker").alias("_k"))
        .group_by("ticker")
        .agg(
            pl.len().alias("nv"),
            pl.col("volume").filter(pl.col("_k") == 1).first().alias("v_last"),
            pl.col("volume").filter((pl.col("_k") > 1) & (pl.col("_k") <= 31)).mean().alias("v_avg"),
        )
    )
    px = (
        p.with_columns(pl.col("date").rank("ordinal", descending=True).over("ticker").alias("_k"))
        .group_by("ticker")
        .agg(
            pl.len().alias("np"),
            pl.col("close").filter(pl.col("_k") == 1).first().alias("close"),
            pl.col("close").filter(pl.col("_k") == 21).first().alias("c21"),
        )
    )
    t = per.join(px, on="ticker", how="left").join(vol, on="ticker", how="left").sort("ticker")
    rows: list[dict[str, Any]] = []
    for x in t.iter_rows(named=True):
        has = (x["n_ok"] or 0) > 0
        f20 = float(x["f20"]) if (x["n_ok"] or 0) >= 15 else None
        base = x["base"]
        f20_pct = f20 / base if f20 is not None and base else None
        close = x["close"]
        r20 = None
        if (x["np"] or 0) > 20 and x["c21"] and close is not None and not x["split"]:
            r20 = close / x["c21"] - 1
        vr = None
        if (x["nv"] or 0) > 10 and x["v_last"] is not None and x["v_avg"]:
            vr = float(x["v_last"]) / float(x["v_avg"])
        sig, strength, comp, parts = score(f20_pct, r20, vr)
        rows.append(
            {
                "ticker": x["ticker"],
                "date": x["date"],
                "signal": sig,
                "strength": strength,
                "composite": comp,
                "flow_1d_usd": float(x["f1"]) if has else None,
                "flow_5d_usd": float(x["f5"]) if has else None,
                "flow_20d_usd": f20,
                "flow_20d_pct": f20_pct,
                "close": close,
                "return_20d": r20,
                "volume_ratio": vr,
                "flow_score": parts["flow"],
                "price_score": parts["price"],
                "volume_score": parts["volume"],
                "reason": _reason(f20_pct, r20, vr, sig),
            }
        )
    schema = {
        "ticker": pl.String,
        "date": pl.Date,
        "signal": pl.String,
        "strength": pl.Int64,
        "composite": pl.Float64,
        "flow_1d_usd": pl.Float64,
        "flow_5d_usd": pl.Float64,
        "flow_20d_usd": pl.Float64,
        "flow_20d_pct": pl.Float64,
        "close": pl.Float64,
        "return_20d": pl.Float64,
        "volume_ratio": pl.Float64,
        "flow_score": pl.Float64,
        "price_score": pl.Float64,
        "volume_score": pl.Float64,
        "reason": pl.String,
    }
    out = pl.DataFrame(rows, schema=schema)
    info = funds.select("ticker", *[c for c in ("name", "category") if c in funds.columns])
    return out.join(info, on="ticker", how="left").sort(
        ["strength", "ticker"], descending=[True, False], nulls_last=True
    )
