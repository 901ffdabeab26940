"""Premium/discount and the arbitrage view: did creations follow premiums and redemptions discounts? (pure)

premium_t = close_t / NAV_t - 1 (both per share, same session; unknown when either is missing).

The mechanism the framework describes: when a fund trades above NAV by more than the authorised
participants' cost of creating (the `band`, default 0.25%), they buy the basket, deliver it and sell
new shares, so shares outstanding rise; below NAV by more than the band they buy shares and redeem
them. For every session with |premium| > band, etfflow looks at the fund's net creations on that
trade date and the next `follow` sessions (default 1: day t and t + 1) and says whether they went the
arbitrage's way (`creation` after a premium, `redemption` after a discount), the other way, or
nowhere. The base rate is the same share over every session with a known premium (the negative
control: how often creations or redemptions happen anyway); "more often" needs a binomial
z = (rate - base) / sqrt(base (1 - base) / n) of at least 2. Caveat for funds whose NAV is struck
before the close (GLD's NAV uses the 10:30 New York gold price, the close is at 16:00): close vs NAV
then also holds the gold move between the two times, so part of the "premium" is timing, not
mispricing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from etfflow.signals.common import jsonable

__all__ = ["ArbitrageView", "arbitrage_view", "premium_series"]


def premium_series(daily: pl.DataFrame) -> pl.DataFrame:
    """date, close, nav, premium (close / nav - 1) of one fund's merged daily rows, in date order."""
    return (
        daily.select("date", pl.col("close").cast(pl.Float64), pl.col("nav").cast(pl.Float64))
        .sort("date")
        .with_columns(
            pl.when((pl.col("nav") > 0) & (pl.col("close") > 0))
            .then(pl.col("close") / pl.col("nav") - 1)
            .otherwise(None)
            .alias("premium")
        )
    )


@dataclass(frozen=True)
class ArbitrageView:
    """Premium/discount statistics and what creations and redemptions did after the large ones."""

    ticker: str
    band: float
    follow: int
    sessions: int  # sessions with a known premium and a known flow window
    mean_premium: float | None
    median_abs_premium: float | None
    above: int  # premium > band
    below: int  # premium < -band
    above_created: int  # ... followed by net creations
    above_redeemed: int
    below_redeemed: int
    below_created: int
    base_created: float | None  # share of all sessions followed by net creations
    base_redeemed: float | None
    table: pl.DataFrame  # the sessions beyond the band: date, premium, net_shares, followed
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def arbitrage_view(
    ticker: str,
    daily: pl.DataFrame,
    flows: pl.DataFrame,
    *,
    band: float = 0.0025,
    follow: int = 1,
) -> ArbitrageView:
    """Premium sessions beyond `band` and the net creations on that day and the next `follow` sessions.

    `daily`: date, close, nav of the fund; `flows`: its `flows_daily` rows (date, shares_change,
    flags). Shares changes are summed over t .. t + follow by position in the fund's flow rows.
    """
    prem = premium_series(daily)
    f = flows.select("date", pl.col("shares_change").cast(pl.Float64)).sort("date")
    j = prem.join(f, on="date", how="left")
    sc = j["shares_change"].to_numpy().astype(np.float64)
    n = len(sc)
    fwd = np.full(n, np.nan)
    for i in range(n):
        w = sc[i : i + follow + 1]
        if len(w) == follow + 1 and np.isfinite(w).all():
            fwd[i] = w.sum()
    p = j["premium"].to_numpy().astype(np.float64)
    ok = np.isfinite(p) & np.isfinite(fwd)
    pk, fk = p[ok], fwd[ok]
    up, down = pk > band, pk < -band
    created, redeemed = fk > 0, fk < 0
    m = int(ok.sum())
    dates = j["date"].to_numpy()[ok]
    beyond = up | down
    followed = np.where(
        up & created,
        "creation",
        np.where(down & redeemed, "redemption", np.where(fk == 0, "none", "against")),
    )
    table = pl.DataFrame(
        {
            "date": pl.Series(dates[beyond]).cast(pl.Date),
            "premium": pk[beyond],
            "net_shares": fk[beyond],
            "followed": followed[beyond],
        },
        schema={"date": pl.Date, "premium": pl.Float64, "net_shares": pl.Float64, "followed": pl.String},
    )
    a_c, a_r = int((up & created).sum()), int((up & redeemed).sum())
    b_r, b_c = int((down & redeemed).sum()), int((down & created).sum())
    base_c = float(created.mean()) if m else None
    base_r = float(redeemed.mean()) if m else None
    verdict = _verdict(int(up.sum()), a_c, int(down.sum()), b_r, base_c, base_r)
    return ArbitrageView(
        ticker=ticker,
        band=band,
        follow=follow,
        sessions=m,
        mean_premium=float(pk.mean()) if m else None,
        median_abs_premium=float(np.median(np.abs(pk))) if m else None,
        above=int(up.sum()),
        below=int(down.sum()),
        above_created=a_c,
        above_redeemed=a_r,
        below_redeemed=b_r,
        below_created=b_c,
        base_created=base_c,
        base_redeemed=base_r,
        table=table,
        verdict=verdict,
    )


def _verdict(above: int, a_c: int, below: int, b_r: int, base_c: float | None, base_r: float | None) -> str:
    parts = []
    for n, hit, base, kind, side in (
        (above, a_c, base_c, "creations", "premiums"),
        (below, b_r, base_r, "redemptions", "discounts"),
    ):
        if n == 0 or base is None:
            parts.append(f"no {side} beyond the band")
            continue
        rate = hit / n
        z = (rate - base) / np.sqrt(base * (1 - base) / n) if 0 < base < 1 else 0.0
        word = "more often" if z >= 2 else "less often" if z <= -2 else "no more often"
        parts.append(
            f"{kind} followed {hit}/{n} {side} ({rate:.0%}), {word} than on all sessions "
            f"({base:.0%}; binomial z {z:+.1f})"
        )
    return "; ".join(parts)
