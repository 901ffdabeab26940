"""The Huatai event study: next-period returns by flow-percentile bucket per group; size; levels (pure).

For every group (a column of a group panel: sectors, taxonomy groups, categories or asset classes, the
"group level" is the caller's choice) and every period end t (week or month, the rebalance sessions):
the percentile of the period's net flow among the last `window` periods (`percentile_signal`, flows
placed by the date they became known), and the group's return over the next period (close t to the
next period end, compounded daily returns; point in time). Each (group, period) falls in one bucket of
percentile edges, (0, 5%], (5%, 10%], (10%, 20%], (20%, 50%], (50%, 80%], (80%, 90%], (90%, 95%],
(95%, 100%] by default. Per group and bucket, and pooled over groups:
- events, mean next-period return, and the excess over the group's mean next-period return over all
  its periods (pooled: the mean of the events' excesses);
- win rate = share of events with a positive next-period return;
- profit/loss ratio = mean positive return / |mean negative return| (None without both).
Size: per group, its mean share of the panel's total AUM (ETF size relative to the other groups), and
the Spearman rank correlation across groups between that share and the excess return of the lowest
bucket (the contrarian signal): does the signal work better where ETFs are large relative to the rest?
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from etfflow.backtest.data import Panel
from etfflow.backtest.engine import rebalance_mask
from etfflow.backtest.strategies import percentile_signal
from etfflow.signals.common import jsonable

__all__ = ["BUCKETS", "FlowEventStudy", "flow_event_study"]

BUCKETS: tuple[float, ...] = (0.05, 0.10, 0.20, 0.50, 0.80, 0.90, 0.95, 1.0)


@dataclass(frozen=True)
class FlowEventStudy:
    """Next-period returns by flow-percentile bucket, per group and pooled, and the size relation."""

    freq: str
    window: int
    buckets: tuple[float, ...]
    periods: int
    by_group: pl.DataFrame  # group, bucket, events, mean_return, excess, win_rate, pl_ratio
    pooled: pl.DataFrame  # bucket, events, mean_return, excess, win_rate, pl_ratio
    size: pl.DataFrame  # group, aum_share, low_bucket_excess
    size_rank_corr: float | None
    label: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def _bucket_names(edges: tuple[float, ...]) -> list[str]:
    lo = (0.0, *edges[:-1])
    return [f"{a:.0%}-{b:.0%}" for a, b in zip(lo, edges, strict=True)]


def _stats(r: np.ndarray, base: np.ndarray) -> dict[str, Any]:
    n = len(r)
    if n == 0:
        return {"events": 0, "mean_return": None, "excess": None, "win_rate": None, "pl_ratio": None}
    pos, neg = r[r > 0], r[r < 0]
    pl_ratio = float(pos.mean() / abs(neg.mean())) if len(pos) and len(neg) else None
    return {
        "events": n,
        "mean_return": float(r.mean()),
        "excess": float((r - base).mean()),
        "win_rate": float((r > 0).mean()),
        "pl_ratio": pl_ratio,
    }


def _spearman(x: list[float], y: list[float]) -> float | None:
    if len(x) < 3:
        return None
    rx = np.argsort(np.argsort(x)).astype(float)
    ry = np.argsort(np.argsort(y)).astype(float)
    if rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def flow_event_study(
    panel: Panel,
    *,
    freq: str = "w",
    window: int = 104,
    buckets: tuple[float, ...] = BUCKETS,
    measure: str = "usd",
) -> FlowEventStudy:
    """The event study on a group panel (see the module docstring)."""
    sig = percentile_signal(panel, freq, window, None, measure)
    ends = np.flatnonzero(rebalance_mask(panel.dates, freq))  # type: ignore[arg-type]
    r = np.where(np.isfinite(panel.returns), panel.returns, 0.0)
    growth = np.vstack([np.zeros((1, r.shape[1])), np.cumsum(np.log1p(r), axis=0)])
    priced = panel.priced
    names = _bucket_names(buckets)
    edges = np.asarray(buckets)
    rows: list[tuple[int, int, int, float]] = []  # (group, bucket, period, return)
    for k in range(len(ends) - 1):
        t, u = int(ends[k]), int(ends[k + 1])
        nxt = np.expm1(growth[u + 1] - growth[t + 1])  # returns of rows t+1 .. u
        ok_price = np.asarray(priced[t + 1 : u + 1].all(axis=0), dtype=np.bool_)
        for j in range(panel.returns.shape[1]):
            s = sig[t, j]
            if not np.isfinite(s) or not ok_price[j]:
                continue
            b = int(np.searchsorted(edges, s, "left"))
            rows.append((j, min(b, len(edges) - 1), k, float(nxt[j])))
    arr = np.array(rows, dtype=np.float64).reshape(-1, 4)
    g_mean = {
        j: float(arr[arr[:, 0] == j, 3].mean())
        for j in range(panel.returns.shape[1])
        if (arr[:, 0] == j).any()
    }
    out = []
    for j, grp in enumerate(panel.assets):
        for b, name in enumerate(names):
            sel = arr[(arr[:, 0] == j) & (arr[:, 1] == b), 3]
            out.append(
                {"group": grp, "bucket": name, **_stats(sel, np.full(len(sel), g_mean.get(j, np.nan)))}
            )
    pooled = []
    base_all = np.array([g_mean.get(int(j), np.nan) for j in arr[:, 0]]) if len(arr) else np.zeros(0)
    for b, name in enumerate(names):
        m = arr[:, 1] == b
        pooled.append({"bucket": name, **_stats(arr[m, 3], base_all[m])})
    schema = {
        "events": pl.Int64,
        "mean_return": pl.Float64,
        "excess": pl.Float64,
        "win_rate": pl.Float64,
        "pl_ratio": pl.Float64,
    }
    by_group = pl.DataFrame(out, schema={"group": pl.String, "bucket": pl.String, **schema})
    pooled_f = pl.DataFrame(pooled, schema={"bucket": pl.String, **schema})
    aum = np.where(np.isfinite(panel.aum), panel.aum, 0.0)
    total = aum.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total[:, None] > 0, aum / total[:, None], np.nan)
    low = by_group.filter(pl.col("bucket") == names[0])
    size_rows = []
    for j, grp in enumerate(panel.assets):
        col = share[:, j]
        ex = low.filter(pl.col("group") == grp)["excess"][0]
        size_rows.append(
            {
                "group": grp,
                "aum_share": float(np.nanmean(col)) if np.isfinite(col).any() else None,
                "low_bucket_excess": ex,
            }
        )
    size = pl.DataFrame(
        size_rows, schema={"group": pl.String, "aum_share": pl.Float64, "low_bucket_excess": pl.Float64}
    )
    both = size.drop_nulls()
    corr = _spearman(both["aum_share"].to_list(), both["low_bucket_excess"].to_list())
    return FlowEventStudy(
        freq=freq,
        window=window,
        buckets=buckets,
        periods=len({int(x) for x in arr[:, 2]}) if len(arr) else 0,
        by_group=by_group,
        pooled=pooled_f,
        size=size,
        size_rank_corr=corr,
        label=panel.label,
    )
