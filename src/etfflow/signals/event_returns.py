"""Does a 3-sigma flow event mean-revert within 2-4 weeks? Forward returns after past events (pure).

The framework asserts that 3-sigma flow events mean-revert within 2-4 weeks; this measures it on
the data at hand instead. An event is a daily flow (% of prior AUM) with |z| >= `event_sigma`
against the trailing `z_window` sessions (the `fund_signals` convention). For each event on trade
date t the fund's NAV (or close) price return from t + `skip` to t + `skip` + h is taken for
h = 5, 10 and 20 sessions (1, 2 and 4 weeks), only where that window ends by the report date and
holds no split. Per direction (inflow events, outflow events) and horizon: events, mean forward
return, the mean return of all fund-days of the same funds and horizon (the baseline), the excess,
and the share of events whose return went against the flow (a reversal). The reading per horizon
is `reverts` when the excess has the sign opposite to the flow and |t| >= 2 (t = excess / its
standard error, events treated as independent: overlapping windows make it optimistic),
`continues` when it has the flow's sign with |t| >= 2, else `no_evidence`; fewer than `min_events`
(10) events is `insufficient`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from etfflow.signals.common import jsonable
from etfflow.signals.fund_signals import F64, FlowPanel, SignalParams, _ffill, exact_z

__all__ = ["HORIZONS", "EventStudy", "event_study", "rolling_z"]

HORIZONS: tuple[int, ...] = (5, 10, 20)


@dataclass(frozen=True)
class EventStudy:
    """Forward returns after past flow events, per direction and horizon."""

    start: Any  # first session scanned
    end: Any  # last session (the report's end)
    sigma: float
    table: (
        pl.DataFrame
    )  # direction, horizon, events, mean_return, baseline, excess, t, reversal_share, reading
    horizons: tuple[int, ...] = field(default=HORIZONS)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d

    def reading(self, direction: str, horizon: int) -> str | None:
        """The reading of one cell, None when absent."""
        r = self.table.filter((pl.col("direction") == direction) & (pl.col("horizon") == horizon))
        return None if r.height == 0 else str(r["reading"][0])


def rolling_z(x: F64, window: int, min_obs: int) -> F64:
    """`fund_signals.zscore_at` at every row, by running sums (O(rows x funds) instead of x window).

    Each column is centred on its mean first, so the sums of squares keep their precision; a test
    checks the result against `zscore_at`.
    """
    x = np.ascontiguousarray(x)  # row-wise running sums are several times faster in C order
    known = np.isfinite(x)
    cnt = known.sum(axis=0)
    total = np.where(known, x, 0.0).sum(axis=0)
    centre = np.divide(total, cnt, out=np.zeros_like(total), where=cnt > 0)
    c = np.where(known, x - centre, 0.0)

    lo = np.maximum(np.arange(1, x.shape[0] + 1) - window, 0)

    def run(a: F64) -> F64:
        cs = np.zeros((a.shape[0] + 1, a.shape[1]))
        np.cumsum(a, axis=0, out=cs[1:])
        return np.asarray(cs[1:] - cs[lo])

    n = run(known.astype(np.float64))
    s1, s2 = run(c), run(c * c)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = np.maximum(s2 - s1 * mean, 0.0) / (n - 1)
        sd = np.sqrt(var)
        z = (c - mean) / sd
        # where the window's spread is tiny next to its distance from the centre, the running sums
        # cancel badly: those cells are recomputed exactly (two passes over the window)
        shaky = known & (n >= max(min_obs, 2)) & (var <= 1e-8 * (s2 / n))
    for r in np.unique(np.nonzero(shaky)[0]):
        cols = np.flatnonzero(shaky[r])
        z[r, cols] = exact_z(x[max(0, r - window + 1) : r + 1, cols], x[r, cols])
        sd[r, cols] = np.where(np.isfinite(z[r, cols]), 1.0, 0.0)
    ok = known & (n >= max(min_obs, 2)) & (sd > 0) & np.isfinite(z)
    return np.where(ok, z, np.nan)


def _reading(excess: float | None, t: float | None, sign: int, n: int, min_events: int) -> str:
    if n < min_events or excess is None or t is None:
        return "insufficient"
    if abs(t) < 2:
        return "no_evidence"
    return "reverts" if np.sign(excess) == -sign else "continues"


def event_study(
    w: FlowPanel,
    p: SignalParams | None = None,
    *,
    horizons: tuple[int, ...] = HORIZONS,
    skip: int = 1,
    min_events: int = 10,
) -> EventStudy:
    """Forward returns after every |z| >= sigma flow event of the panel (see the module docstring)."""
    p = p or SignalParams()
    n_t = w.flow.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        pct: F64 = np.where(w.aum_prev > 0, w.flow / w.aum_prev, np.nan)
    z = rolling_z(pct, p.z_window, p.z_min) if n_t else np.zeros((0, w.flow.shape[1]))
    zz = np.nan_to_num(z, nan=0.0)
    ev_rows, ev_cols = np.nonzero(np.abs(zz) >= p.event_sigma)
    ev_sign = np.sign(zz[ev_rows, ev_cols]).astype(np.int64)
    cols = np.unique(ev_cols)  # forward returns are needed only for funds with an event
    pos = np.searchsorted(cols, ev_cols)
    nav = np.ascontiguousarray(_ffill(w.nav[:, cols]))
    split_cum = np.cumsum(np.ascontiguousarray(w.split[:, cols]), axis=0)
    out = []
    for h in horizons:
        a = np.arange(n_t) + skip
        b = a + h
        ok_rows = b <= n_t - 1
        ra, rb = a[ok_rows], b[ok_rows]
        fwd = np.full((n_t, len(cols)), np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            fwd[ok_rows] = np.where(split_cum[rb] == split_cum[ra], (nav[rb] - nav[ra]) / nav[ra], np.nan)
        known = np.isfinite(fwd)
        col_sum = np.where(known, fwd, 0.0).sum(axis=0)
        col_n = known.sum(axis=0)
        ev_fwd = fwd[ev_rows, pos] if len(ev_rows) else np.zeros(0)
        for direction, sign in (("inflow", 1), ("outflow", -1)):
            sel = (ev_sign == sign) & np.isfinite(ev_fwd)
            vals = ev_fwd[sel]
            n = int(sel.sum())
            hit = np.unique(pos[sel])
            base_n = int(col_n[hit].sum())
            baseline = float(col_sum[hit].sum() / base_n) if base_n else None
            mean = float(vals.mean()) if n else None
            excess = mean - baseline if mean is not None and baseline is not None else None
            t = None
            if n >= 2 and excess is not None:
                sd = float(vals.std(ddof=1))
                t = excess / (sd / math.sqrt(n)) if sd > 0 else None
            rev = float((np.sign(vals) == -sign).mean()) if n else None
            out.append(
                {
                    "direction": direction,
                    "horizon": h,
                    "events": n,
                    "mean_return": mean,
                    "baseline": baseline,
                    "excess": excess,
                    "t": t,
                    "reversal_share": rev,
                    "reading": _reading(excess, t, sign, n, min_events),
                }
            )
    schema = {
        "direction": pl.String,
        "horizon": pl.Int64,
        "events": pl.Int64,
        "mean_return": pl.Float64,
        "baseline": pl.Float64,
        "excess": pl.Float64,
        "t": pl.Float64,
        "reversal_share": pl.Float64,
        "reading": pl.String,
    }
    seen = np.flatnonzero(np.isfinite(w.flow).any(axis=1))
    dates = [str(d) for d in w.dates]
    return EventStudy(
        start=dates[int(seen[0])] if len(seen) else None,
        end=dates[-1] if dates else None,
        sigma=p.event_sigma,
        table=pl.DataFrame(out, schema=schema),
        horizons=horizons,
    )
