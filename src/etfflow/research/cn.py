"""China: monthly percentile rotation on A-share industry ETFs from the Wind month-end panel (pure).

Flows: (SO_m - SO_m-1) x NAV_m per ETF (Wind month-end shares and unit NAV, computed by etfflow's flow
engine in the warehouse: splits are never flows), summed per group of the classification (industry,
or broad index for the comparison). A NAV return across a split month is left out.

Signal at the end of month m: the rolling percentile (etfflow's kernel: rank within the trailing
window, itself included, full window required) of the group's month-m flow. Returns, two variants:
- ``index``: the group's tracked index (Wind daily simple returns), compounded from the close of the
  first session of month m+1 to the end of m+1: Wind's month-end shares are published the next
  morning, so the first session is skipped (point in time);
- ``nav``: the AUM-weighted month-end NAV return of the group's ETFs over month m+1 (price only, no
  distributions; all 21 industries; not strictly point in time: it starts one session early).
Equal weight, cash when nothing qualifies; benchmark = equal weight of the groups with a signal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from etfflow.backtest import metrics as mt
from etfflow.research.data import CnData
from etfflow.research.stats import deflated_sharpe, headline, split_half_selection
from etfflow.signals.nb import rolling_percentile_nb

__all__ = ["PUBLISHED", "PUBLISHED_SOURCE", "WINDOWS", "group_arrays", "price_momentum", "rotate", "study"]

F8 = npt.NDArray[np.float64]
B1 = npt.NDArray[np.bool_]

#: the Huatai study's published figures (A-share industry ETFs, weekly, 2018-01 .. 2024-07)
PUBLISHED: dict[str, dict[str, float | str]] = {
    "long 1%": {"annual_return": 0.0285, "sharpe": 0.20},
    "long 5%": {"annual_return": 0.2239, "sharpe": 1.04},
    "long 10%": {"annual_return": 0.2641, "sharpe": 1.13},
    "short 90%": {"annual_return": "10-20% (90-99%)", "sharpe": "n/a"},
    "short 95%": {"annual_return": "10-20% (90-99%)", "sharpe": "n/a"},
    "short 99%": {"annual_return": "10-20% (90-99%)", "sharpe": "n/a"},
}
PUBLISHED_SOURCE = (
    "Huatai Securities (2024): A-share industry ETFs, weekly net inflow percentile, 2018-01 .. 2024-07"
)
LONG = (0.01, 0.05, 0.10, 0.20, 0.50)
SHORT = (0.90, 0.95, 0.99)
WINDOWS = (12, 24)
COSTS = (0.0, 10.0)
PERIODS: dict[str, tuple[str, str]] = {
    "2012-2025": ("2012-01", "2025-12"),
    "study window 2018-01..2024-07": ("2018-01", "2024-07"),
}


def _splits(shares: F8, nav: F8) -> B1:
    """Months where shares and NAV moved by reciprocal factors of at least 1.5 (split/consolidation)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rs = shares[1:] / shares[:-1]
        rn = nav[1:] / nav[:-1]
        hit = ((rs > 1.5) | (rs < 1 / 1.5)) & (np.abs(rs * rn - 1.0) < 0.25)
    return np.vstack([np.zeros((1, shares.shape[1]), dtype=np.bool_), hit])


def _monthly_from_daily(daily: pl.DataFrame, months: npt.NDArray[np.datetime64], codes: Sequence[str]) -> F8:
    """(months x codes) compounded daily returns from the 2nd session of each month to its end."""
    out = np.full((len(months), len(codes)), np.nan)
    mkey = months.astype("datetime64[M]")
    pos = {c: j for j, c in enumerate(codes)}
    d = (
        daily.filter(pl.col("ticker").is_in(list(codes)))
        .with_columns(pl.col("date").dt.truncate("1mo").alias("m"))
        .sort("ticker", "date")
        .with_columns(pl.col("date").rank("ordinal").over("ticker", "m").alias("k"))
        .filter(pl.col("k") > 1)
        .group_by("ticker", "m")
        .agg(((pl.col("r") + 1.0).product() - 1.0).alias("ret"), pl.len().alias("n"))
    )
    for code, m, ret, n in d.iter_rows():
        i = int(np.searchsorted(mkey, np.datetime64(m, "M")))
        if i < len(mkey) and mkey[i] == np.datetime64(m, "M") and n >= 5:
            out[i, pos[code]] = ret
    return out


def group_arrays(cn: CnData, kind: str, by: str = "group") -> dict[str, Any]:
    """Per group of `kind` (industry, broad): flows, AUM, NAV return and index return (months x groups).

    `by` names the `funds` column that defines a group: group (the classification's 21 industry
    groups) or sw_l1_name (Shenwan level-1 industries, coarser); a group's index is that of its largest
    ETF with a tracked-index series.
    """
    cls = cn.funds.select("ticker", "category", by)
    g_of = {c: (k, n) for c, k, n in cls.iter_rows() if k == kind and n}
    groups = sorted({g_of[c][1] for c in cn.codes if c in g_of})
    split = _splits(cn.shares, cn.nav)
    flow = cn.flow
    n_m = len(cn.months)
    prev_aum = np.vstack([np.full((1, len(cn.codes)), np.nan), cn.aum[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        nav_r = np.vstack([np.full((1, len(cn.codes)), np.nan), cn.nav[1:] / cn.nav[:-1] - 1.0])
    nav_r = np.where(split, np.nan, nav_r)
    idx_codes = sorted(set(cn.index_returns["ticker"].drop_nulls().to_list()))
    idx_m = _monthly_from_daily(cn.index_returns, cn.months, idx_codes)
    pos_idx = {c: j for j, c in enumerate(idx_codes)}
    F, A, RN, RI = (np.full((n_m, len(groups)), np.nan) for _ in range(4))
    members: dict[str, list[str]] = {}
    index_of: dict[str, str] = {}
    for k, g in enumerate(groups):
        cols = [j for j, c in enumerate(cn.codes) if g_of.get(c, ("", ""))[1] == g]
        members[g] = [cn.codes[j] for j in cols]
        f = flow[:, cols]
        F[:, k] = np.where(np.isfinite(f).any(axis=1), np.nansum(f, axis=1), np.nan)
        a = cn.aum[:, cols]
        A[:, k] = np.where(np.isfinite(a).any(axis=1), np.nansum(a, axis=1), np.nan)
        w = np.where(np.isfinite(nav_r[:, cols]) & (prev_aum[:, cols] > 0), prev_aum[:, cols], 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            RN[:, k] = np.where(
                w.sum(axis=1) > 0,
                np.nansum(w * np.nan_to_num(nav_r[:, cols]), axis=1) / w.sum(axis=1),
                np.nan,
            )
        # the group's index: that of its largest ETF (median month-end AUM) with a tracked-index series
        size = {
            cn.codes[j]: float(np.nanmedian(cn.aum[:, j])) if np.isfinite(cn.aum[:, j]).any() else 0.0
            for j in cols
        }
        tracked = sorted((c for c in members[g] if c in pos_idx), key=lambda c: -size[c])
        if tracked:
            index_of[g] = tracked[0]
            RI[:, k] = idx_m[:, pos_idx[tracked[0]]]
    return {
        "groups": groups,
        "flow": F,
        "aum": A,
        "nav_return": RN,
        "index_return": RI,
        "members": members,
        "index_of": index_of,
        "n_split_months": int(split.sum()),
    }


def rotate(
    flow: F8, ret: F8, window: int, lower: float | None, upper: float | None, cost_bps: float
) -> dict[str, F8]:
    """Monthly percentile rotation: weights at the end of month m from the month-m percentile, earning
    month m+1's return. Long (lower set) or short (upper set). Returns arrays aligned on months m+1."""
    pct = rolling_percentile_nb(np.ascontiguousarray(flow), int(window), int(window))
    _n_m, n_g = flow.shape
    sig = pct[:-1]
    nxt = ret[1:]
    have = np.isfinite(sig) & np.isfinite(nxt)
    if lower is not None:
        pick = have & (sig <= lower)
        sign = 1.0
    else:
        assert upper is not None
        pick = have & (sig >= upper)
        sign = -1.0
    cnt = pick.sum(axis=1)
    w = np.where(cnt[:, None] > 0, pick / np.maximum(cnt, 1)[:, None], 0.0) * sign
    gross = np.where(cnt > 0, np.nansum(np.where(pick, nxt, 0.0), axis=1) / np.maximum(cnt, 1) * sign, 0.0)
    turn = np.abs(np.diff(np.vstack([np.zeros((1, n_g)), w]), axis=0)).sum(axis=1)
    net = gross - turn * cost_bps / 1e4
    nb = have.sum(axis=1)
    bench = np.where(nb > 0, np.nansum(np.where(have, nxt, 0.0), axis=1) / np.maximum(nb, 1), np.nan)
    started = np.cumsum(np.isfinite(sig).any(axis=1)) > 0
    return {
        "net": np.where(started, net, np.nan),
        "bench": np.where(started, bench, np.nan),
        "exposure": np.where(started, cnt > 0, False).astype(np.float64) * sign,
        "turnover": turn,
    }


def _stats(r: dict[str, F8], sl: slice) -> dict[str, Any]:
    x = r["net"][sl]
    b = r["bench"][sl]
    ok = np.isfinite(x)
    if ok.sum() < 6:
        return {"n": float(ok.sum())}
    h = headline(x[ok], periods=12)
    act = x - r["exposure"][sl] * np.where(np.isfinite(b), b, 0.0)
    at = mt.mean_return_tstat(act[ok])
    return {
        **h.as_dict(),
        "benchmark_annual_return": mt.annual_return(b[ok], 12),
        "benchmark_sharpe": mt.sharpe(b[ok], periods=12),
        "active_return": float(np.nanmean(act[ok]) * 12),
        "active_t": at.t,
        "turnover": float(np.mean(r["turnover"][sl][ok]) * 12),
        "time_invested": float(np.mean(np.abs(r["exposure"][sl][ok]) > 0)),
    }


def _month_slice(months: npt.NDArray[np.datetime64], start: str, end: str) -> slice:
    """Rows of the m+1-aligned arrays whose earning month lies in [start, end]."""
    earn = months[1:].astype("datetime64[M]")
    lo = int(np.searchsorted(earn, np.datetime64(start, "M"), "left"))
    hi = int(np.searchsorted(earn, np.datetime64(end, "M"), "right"))
    return slice(lo, hi)


def _configs() -> list[tuple[str, float | None, float | None]]:
    return [(f"long {round(q * 100)}%", q, None) for q in LONG] + [
        (f"short {round(q * 100)}%", None, q) for q in SHORT
    ]


def _universe(months: npt.NDArray[np.datetime64], flow: F8, ret: F8) -> dict[str, Any]:
    out: dict[str, Any] = {"periods": {}}
    keep = np.isfinite(ret).any(axis=0)
    flow, ret = flow[:, keep], ret[:, keep]
    out["n_groups"] = int(keep.sum())
    runs: dict[tuple[str, int, float], dict[str, F8]] = {}
    for name, lo, hi in _configs():
        for w in WINDOWS:
            for c in COSTS:
                runs[(name, w, c)] = rotate(flow, ret, w, lo, hi, c)
    for pname, (a, b) in PERIODS.items():
        sl = _month_slice(months, a, b)
        rows = []
        for (name, w, c), r in runs.items():
            rows.append({"config": name, "window_months": w, "cost_bps": c, **_stats(r, sl)})
        out["periods"][pname] = {"start": a, "end": b, "rows": rows}
    # parameters chosen on the first half of 2012-2025, reported on the second (net of costs)
    sl = _month_slice(months, *PERIODS["2012-2025"])
    for side in ("long", "short"):
        keys = [k for k in runs if k[0].startswith(side) and k[2] == max(COSTS)]
        mat = np.vstack([runs[k]["net"][sl] for k in keys])
        mat = mat[:, np.isfinite(mat).all(axis=0)]
        sel = split_half_selection(mat, min_obs=12)
        if sel["chosen"] < 0:
            continue
        k = keys[sel["chosen"]]
        mid = int(sel["split"])
        x = mat[sel["chosen"], mid:]
        out[f"oos_{side}"] = {
            "config": {"config": k[0], "window_months": k[1], "cost_bps": k[2]},
            "n_trials": sel["n_trials"],
            "dsr_in_sample": sel["dsr_in_sample"],
            "second_half": headline(x, periods=12).as_dict(),
        }
        srs = np.array([mt.sharpe(row, periods=12) for row in mat]) / math.sqrt(12)
        okf = np.isfinite(srs)
        best = int(np.nanargmax(np.where(okf, srs, -np.inf)))
        out[f"best_full_{side}"] = {
            "config": {"config": keys[best][0], "window_months": keys[best][1]},
            "dsr": deflated_sharpe(mat[best], int(okf.sum()), float(np.var(srs[okf], ddof=1))),
        }
    return out


def _size_relation(
    months: npt.NDArray[np.datetime64], g: dict[str, Any], ret: F8, window: int = 24, q: float = 0.2
) -> dict[str, Any]:
    """Per group: mean excess next-month return after a low-percentile month vs the group's ETF size."""
    flow, aum = g["flow"], g["aum"]
    pct = rolling_percentile_nb(np.ascontiguousarray(flow), window, window)
    sig, nxt = pct[:-1], ret[1:]
    with np.errstate(invalid="ignore"):
        ew = np.nanmean(np.where(np.isfinite(sig), nxt, np.nan), axis=1, keepdims=True)
    ex = nxt - ew
    tot = np.nansum(aum, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = aum / np.where(tot > 0, tot, np.nan)
    rows = []
    for k, name in enumerate(g["groups"]):
        hit = np.isfinite(sig[:, k]) & (sig[:, k] <= q) & np.isfinite(ex[:, k])
        if hit.sum() < 3:
            continue
        rows.append(
            {
                "group": name,
                "events": int(hit.sum()),
                "excess_after_low": float(np.mean(ex[hit, k])),
                "median_aum_share": float(np.nanmedian(share[:, k])),
                "median_aum_cny": float(np.nanmedian(aum[:, k])),
            }
        )
    if len(rows) < 4:
        return {"rows": rows, "spearman": math.nan}
    s = pl.DataFrame(rows).with_columns(
        pl.col("excess_after_low").rank().alias("a"), pl.col("median_aum_share").rank().alias("b")
    )
    rho = float(np.corrcoef(s["a"].to_numpy(), s["b"].to_numpy())[0, 1])
    med = float(s["median_aum_share"].median())  # type: ignore[arg-type]
    big = s.filter(pl.col("median_aum_share") > med)["excess_after_low"].mean()
    small = s.filter(pl.col("median_aum_share") <= med)["excess_after_low"].mean()
    return {
        "rows": rows,
        "spearman": rho,
        "larger_half_mean": big,
        "smaller_half_mean": small,
        "threshold": q,
        "window_months": window,
        "size_measure": "median share of the group in total A-share ETF AUM "
        "(industry market caps are not in the data)",
    }


def price_momentum(ret: F8, top: float = 0.3) -> F8:
    """Monthly baseline aligned like `rotate`: at the end of month m long the top `top` fraction of groups
    by the compounded return of months m-11 .. m-1 (12-1), earning month m+1 (equal weight)."""
    fin = np.isfinite(ret)
    lg = np.vstack(
        [
            np.zeros((1, ret.shape[1])),
            np.cumsum(np.where(fin, np.log1p(np.where(fin, ret, 0.0)), 0.0), axis=0),
        ]
    )
    cnt = np.vstack([np.zeros((1, ret.shape[1])), np.cumsum(fin, axis=0)])
    n_m = ret.shape[0]
    mom = np.full(ret.shape, np.nan)
    for m in range(12, n_m):
        ok = cnt[m] - cnt[m - 11] >= 10  # months m-11 .. m-1
        mom[m] = np.where(ok, np.expm1(lg[m] - lg[m - 11]), np.nan)
    sig, nxt = mom[:-1], ret[1:]
    out = np.full(n_m - 1, np.nan)
    for m in range(n_m - 1):
        ok = np.isfinite(sig[m]) & np.isfinite(nxt[m])
        if ok.sum() < 3:
            continue
        k = max(1, math.ceil(top * ok.sum() - 1e-12))
        order = np.argsort(-np.where(ok, sig[m], -np.inf), kind="stable")[:k]
        out[m] = float(np.mean(nxt[m, order]))
    return out


def _versus_momentum(months: npt.NDArray[np.datetime64], flow: F8, ret: F8) -> dict[str, Any]:
    """Does price momentum explain the rotation? OLS of each rotation's monthly return on the baseline's."""
    mom = price_momentum(ret)
    sl = _month_slice(months, *PERIODS["2012-2025"])
    out: dict[str, Any] = {"baseline": headline(mom[sl][np.isfinite(mom[sl])], periods=12).as_dict()}
    for name, lo, hi in (("long 5%", 0.05, None), ("long 10%", 0.10, None), ("short 90%", None, 0.90)):
        r = rotate(flow, ret, 24, lo, hi, 0.0)["net"][sl]
        x = mom[sl]
        ok = np.isfinite(r) & np.isfinite(x)
        if ok.sum() < 24:
            continue
        y, xx = r[ok], x[ok]
        beta = float(np.cov(xx, y)[0, 1] / np.var(xx, ddof=1))
        resid = y - beta * xx
        tt = mt.mean_return_tstat(resid)
        out[name] = {
            "beta": beta,
            "correlation": float(np.corrcoef(xx, y)[0, 1]),
            "alpha_annual": float(np.mean(resid) * 12),
            "alpha_t": tt.t,
            "n_months": int(ok.sum()),
        }
    return out


def study(cn: CnData) -> dict[str, Any]:
    """China rotation: industry (index, NAV returns) and broad groups, size relation, published figures."""
    out: dict[str, Any] = {
        "notes": list(cn.notes),
        "published": PUBLISHED,
        "published_source": PUBLISHED_SOURCE,
    }
    ind = group_arrays(cn, "industry")
    brd = group_arrays(cn, "broad")
    out["industry_groups"] = {
        g: {"etfs": ind["members"][g], "index_fund": ind["index_of"].get(g)} for g in ind["groups"]
    }
    out["broad_groups"] = {
        g: {"etfs": brd["members"][g], "index_fund": brd["index_of"].get(g)} for g in brd["groups"]
    }
    out["n_split_months"] = ind["n_split_months"]  # NAV-return months left out
    out["industry_index"] = _universe(cn.months, ind["flow"], ind["index_return"])
    out["industry_nav"] = _universe(cn.months, ind["flow"], ind["nav_return"])
    out["broad_index"] = _universe(cn.months, brd["flow"], brd["index_return"])
    sw = group_arrays(cn, "industry", by="sw_l1_name")
    out["sw_l1_groups"] = {
        g: {"etfs": sw["members"][g], "index_fund": sw["index_of"].get(g)} for g in sw["groups"]
    }
    out["industry_sw_l1_index"] = _universe(cn.months, sw["flow"], sw["index_return"])
    out["size_relation"] = _size_relation(cn.months, ind, ind["index_return"])
    out["versus_price_momentum"] = _versus_momentum(cn.months, ind["flow"], ind["index_return"])
    out["n_configs"] = len(_configs()) * len(WINDOWS)
    return out
