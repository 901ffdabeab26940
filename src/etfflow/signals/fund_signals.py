"""Per-fund flow signals at one date: strength class, z-scores, percentiles, divergence, readings (pure).

All values at `as_of` use only rows dated on or before it (the caller applies the availability
filter). Flows excluded by the quality flags (bad prints, unknown, first rows) count as missing.
The statistics follow the conventions of the rolling kernels in `signals.nb` (trailing windows that
include the current row, sample standard deviation, percentile = share of values <= the current
one) but are evaluated only at the rows a dated report needs, with NumPy: that costs milliseconds
and spares a command-line run the numba start-up (a test checks both give the same numbers).

- 20-day flow F20 = sum of the last `long_days` (20) daily flows / the fund's AUM before the window
  (prior-day AUM at the window's first session, carried forward over holes).
- Acceleration, the framework's rule (`SignalParams.framework()`, the default): A = (SUM of the
  last `short_days` (5) daily flows - SUM of the 15 before) / the same AUM, accelerating when A > 0.
  etfflow's variant (`SignalParams.etfflow()`): A = (mean of the last 5 - mean of the 15 before) /
  AUM, not decelerating when A >= 0. With a steady inflow the sums give A < 0 (15 days outweigh 5),
  the means A = 0: the framework calls a strong inflow only when the last week beats the three before.
- Class: `strong_inflow` F20 >= strong (2%) and accelerating; `mild_inflow` F20 >= mild (framework
  1%, etfflow 0.5%) otherwise; `strong_outflow` F20 <= -strong and accelerating outwards (A < 0,
  or A <= 0 in the etfflow variant); `mild_outflow` F20 <= -mild otherwise; `neutral` in between.
  F20 is None with fewer than `min_days` (15) known daily flows.
- z-score of a daily flow (% of prior AUM) against the trailing `z_window` (252) sessions, the
  day itself included as in every etfflow rolling kernel (at least `z_min` (60) known values,
  sample standard deviation); |z| >= 3 is a flow event.
- Percentile of today's F20 within the F20 values of the trailing `pct_window` (252) sessions,
  today included: share of them <= today's value (at least `pct_min` (60) values).
- Divergence: F20 >= mild while the price fell over the same 20 sessions (return < -`div_return`,
  1%) is `inflow_into_weakness`; F20 <= -mild while it rose (return > `div_return`) is
  `outflow_into_strength`. The return is NAV (or close) price return; unknown across a split.
- Contrarian vs momentum, per category: over past dates every `horizon` sessions, the share of
  (fund, date) pairs with |F20| >= mild whose sign matches the sign of the fund's next `horizon`
  session price return, starting `skip` (1) session later (when the flow is known). Share >=
  0.5 + `reading_band` (0.05) reads `momentum`, <= 0.5 - band `contrarian`, else `no_edge`;
  fewer than `reading_min_obs` (30) pairs `insufficient`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from etfflow import calendar
from etfflow.flows.flags import EXCLUDED_BY_DEFAULT, Flag
from etfflow.signals.common import jsonable

__all__ = [
    "FLOW_CLASSES",
    "FlowPanel",
    "FundSignals",
    "SignalParams",
    "category_readings",
    "classify_flow",
    "fund_signals",
    "panel_sessions",
    "to_panel",
]

F64 = npt.NDArray[np.float64]
FLOW_CLASSES: tuple[str, ...] = ("strong_inflow", "mild_inflow", "neutral", "mild_outflow", "strong_outflow")


@dataclass(frozen=True)
class SignalParams:
    """Thresholds and windows of the per-fund signals (fractions of AUM, sessions).

    The defaults are the framework's rules; `etfflow()` gives etfflow's earlier variant.
    """

    long_days: int = 20
    short_days: int = 5
    strong: float = 0.02
    mild: float = 0.01
    accel: str = "sum"  # "sum": 5-day sum - prior 15-day sum (framework); "mean": 5-day mean - 15-day mean
    accel_strict: bool = True  # accelerating means A > 0 (framework); False: A >= 0 (etfflow)
    min_days: int = 15
    z_window: int = 252
    z_min: int = 60
    event_sigma: float = 3.0
    pct_window: int = 252
    pct_min: int = 60
    extreme: float = 0.95
    div_return: float = 0.01
    horizon: int = 20
    skip: int = 1
    reading_band: float = 0.05
    reading_min_obs: int = 30

    @classmethod
    def framework(cls, **kw: Any) -> SignalParams:
        """The framework's rules: mild 1%, 5-day sum minus prior 15-day sum, strictly > 0."""
        return cls(**{"mild": 0.01, "accel": "sum", "accel_strict": True, **kw})

    @classmethod
    def etfflow(cls, **kw: Any) -> SignalParams:
        """etfflow's variant: mild 0.5%, 5-day mean minus prior 15-day mean, >= 0."""
        return cls(**{"mild": 0.005, "accel": "mean", "accel_strict": False, **kw})

    def acceleration(self, s5: F64, s15: F64, base: F64) -> F64:
        """A from the 5-day and the prior 15-day flow sums ($) and the AUM base."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.accel == "sum":
                return np.asarray((s5 - s15) / base)
            n15 = self.long_days - self.short_days
            return np.asarray((s5 / self.short_days - s15 / n15) / base)


def classify_flow(
    f20: float | None,
    accel: float | None,
    strong: float = 0.02,
    mild: float = 0.01,
    strict: bool = True,
) -> str | None:
    """Strength class of a 20-day flow (% AUM) and its acceleration (see the module docstring)."""
    if f20 is None or not np.isfinite(f20):
        return None
    a = 0.0 if accel is None or not np.isfinite(accel) else accel
    if f20 >= strong and (a > 0 if strict else a >= 0):
        return "strong_inflow"
    if f20 >= mild:
        return "mild_inflow"
    if f20 <= -strong and (a < 0 if strict else a <= 0):
        return "strong_outflow"
    if f20 <= -mild:
        return "mild_outflow"
    return "neutral"


def _classify(f20: F64, accel: F64, p: SignalParams) -> npt.NDArray[np.object_]:
    """`classify_flow` over arrays (None where F20 is unknown)."""
    a = np.nan_to_num(accel, nan=0.0)
    up = a > 0 if p.accel_strict else a >= 0
    down = a < 0 if p.accel_strict else a <= 0
    out = np.select(
        [
            (f20 >= p.strong) & up,
            f20 >= p.mild,
            (f20 <= -p.strong) & down,
            f20 <= -p.mild,
            np.isfinite(f20),
        ],
        ["strong_inflow", "mild_inflow", "strong_outflow", "mild_outflow", "neutral"],
        default="",
    ).astype(object)
    out[out == ""] = None
    return np.asarray(out)


@dataclass(frozen=True)
class FlowPanel:
    """A sessions x funds panel: flows ($, NaN = unknown), prior AUM, NAV used and split rows."""

    dates: npt.NDArray[np.datetime64]
    tickers: list[str]
    flow: F64
    aum_prev: F64
    nav: F64
    split: npt.NDArray[np.bool_]


def to_panel(
    flows: pl.DataFrame, end: dt.date, sessions: int, exclude: int = int(EXCLUDED_BY_DEFAULT)
) -> FlowPanel:
    """The last `sessions` NYSE sessions up to `end` as dense dates x funds arrays."""
    cal = calendar.sessions(None, end)[-sessions:]
    start = dt.date.fromisoformat(str(cal[0]))
    f = flows.filter(pl.col("date").is_between(start, end))
    tickers: list[str] = f["ticker"].unique().sort().to_list()
    n_t, n_f = len(cal), len(tickers)
    shape = (n_t, n_f)
    # column-major: the rolling kernels walk one fund (column) at a time
    flow = np.full(shape, np.nan, order="F")
    aum = np.full(shape, np.nan, order="F")
    nav = np.full(shape, np.nan, order="F")
    split = np.zeros(shape, dtype=np.bool_, order="F")
    if f.height:
        fi = f["ticker"].cast(pl.Enum(tickers)).to_physical().to_numpy().astype(np.int64)
        day0 = int(cal[0].astype(np.int64))
        lookup = np.full(int(cal[-1].astype(np.int64)) - day0 + 1, -1, dtype=np.int64)
        lookup[cal.astype(np.int64) - day0] = np.arange(n_t)
        di = lookup[f["date"].cast(pl.Int32).to_numpy().astype(np.int64) - day0]
        ok = di >= 0  # rows dated on a non-session are not placed
        di, fi = di[ok], fi[ok]
        flags = f["flags"].fill_null(0).to_numpy().astype(np.int64)[ok]
        fl = f["flow_usd"].cast(pl.Float64).to_numpy().astype(np.float64)[ok]
        fl[(flags & exclude) != 0] = np.nan
        flow[di, fi] = fl
        aum[di, fi] = f["aum_prev_usd"].cast(pl.Float64).to_numpy().astype(np.float64)[ok]
        nav[di, fi] = f["nav_used"].cast(pl.Float64).to_numpy().astype(np.float64)[ok]
        split[di, fi] = (flags & int(Flag.SPLIT)) != 0
    return FlowPanel(cal, tickers, flow, aum, nav, split)


def _ffill(a: F64) -> F64:
    """Carry the last known value of each column forward."""
    idx = np.where(np.isnan(a), 0, np.arange(a.shape[0])[:, None])
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = a[idx, np.arange(a.shape[1])[None, :]]
    return np.asarray(out)


def _bfill(a: F64) -> F64:
    return _ffill(a[::-1])[::-1]


def _aum_known(w: FlowPanel) -> F64:
    """Prior-day AUM carried forward over holes (and back before a fund's first known value)."""
    known = _ffill(w.aum_prev)
    return np.where(np.isnan(known), _bfill(w.aum_prev), known)


def f20_at(
    w: FlowPanel, rows: npt.NDArray[np.int64], p: SignalParams, aum: F64 | None = None
) -> tuple[F64, F64, F64]:
    """F20, its count of known flows and its AUM base at each of `rows` (NaN before a full window)."""
    aum = _aum_known(w) if aum is None else aum
    n_f, n = w.flow.shape[1], p.long_days
    f20 = np.full((len(rows), n_f), np.nan)
    k = np.zeros((len(rows), n_f))
    base = np.full((len(rows), n_f), np.nan)
    ok = rows >= n - 1
    if not ok.any():
        return f20, k, base
    r = rows[ok]
    lo, hi = int(r.min()) - n + 1, int(r.max()) + 1
    known = ~np.isnan(w.flow[lo:hi])
    vals = np.where(known, w.flow[lo:hi], 0.0)
    # sliding windows over the block by differences of running sums: window i ends at block row i + n - 1
    cs = np.zeros((vals.shape[0] + 1, n_f))
    np.cumsum(vals, axis=0, out=cs[1:])
    sums = cs[n:] - cs[:-n]
    cc = np.zeros((known.shape[0] + 1, n_f), dtype=np.int64)
    np.cumsum(known, axis=0, out=cc[1:])
    cnts = cc[n:] - cc[:-n]
    idx = r - (lo + n - 1)
    k[ok] = cnts[idx]
    base[ok] = aum[r - n + 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        f20[ok] = np.where((base[ok] > 0) & (k[ok] >= p.min_days), sums[idx] / base[ok], np.nan)
    return f20, k, base


def exact_z(hist: F64, last: F64) -> F64:
    """z of `last` against the known values of `hist` (sample sd), NaN for a zero deviation."""
    known = ~np.isnan(hist)
    n = known.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(known, hist, 0.0).sum(axis=0) / n
        dev = np.where(known, hist - mean, 0.0)
        sd = np.sqrt((dev**2).sum(axis=0) / (n - 1))
        z = (last - mean) / sd
    return np.where((sd > 0) & np.isfinite(z), z, np.nan)


def zscore_at(x: F64, rows: npt.NDArray[np.int64], window: int, min_obs: int) -> F64:
    """(x - mean) / std (ddof=1) over the trailing `window` rows, the row itself included.

    The convention of `signals.nb.rolling_zscore_nb`, evaluated at a few rows only: NaN where x is
    NaN, with fewer than `min_obs` known values, or a zero standard deviation.
    """
    out = np.full((len(rows), x.shape[1]), np.nan)
    for i, r in enumerate(rows):
        hist = x[max(0, r - window + 1) : r + 1]
        n = (~np.isnan(hist)).sum(axis=0)
        out[i] = np.where(n >= max(min_obs, 2), exact_z(hist, x[r]), np.nan)
    return out


def percentile_last(x: F64, window: int, min_obs: int) -> F64:
    """Share of the last `window` known values of each column (the last row included) <= the last row.

    The convention of `signals.nb.rolling_percentile_nb`, evaluated at the last row only.
    """
    hist = x[-window:]
    last = x[-1]
    n = (~np.isnan(hist)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = (hist <= last[None, :]).sum(axis=0) / n
    return np.where((n >= min_obs) & ~np.isnan(last), pct, np.nan)


def category_readings(
    w: FlowPanel,
    categories: dict[str, str | None],
    p: SignalParams,
    f20: F64 | None = None,
    aum: F64 | None = None,
) -> pl.DataFrame:
    """Momentum vs contrarian reading per category from past flows and later returns (see module)."""
    nav = _ffill(w.nav)
    split_cum = np.cumsum(w.split, axis=0)
    n_t = w.flow.shape[0]
    last_start = n_t - 1 - p.skip - p.horizon
    rows_t = np.arange(last_start, p.long_days - 2, -p.horizon, dtype=np.int64)[::-1]
    if f20 is None:
        f20_rows = f20_at(w, rows_t, p, aum)[0]
    else:
        f20_rows = f20[rows_t] if len(rows_t) else np.zeros((0, w.flow.shape[1]))
    names = sorted({c for c in categories.values() if c is not None})
    code = {c: i for i, c in enumerate(names)}
    codes = np.array([code.get(categories.get(t) or "", -1) for t in w.tickers], dtype=np.int64)
    obs = np.zeros(len(names), dtype=np.int64)
    hit = np.zeros(len(names), dtype=np.int64)
    for i, t in enumerate(rows_t):
        a, b = t + p.skip, t + p.skip + p.horizon
        with np.errstate(invalid="ignore", divide="ignore"):
            fwd = (nav[b] - nav[a]) / nav[a]
        x = f20_rows[i]
        ok = np.isfinite(x) & np.isfinite(fwd) & (split_cum[b] == split_cum[a]) & (np.abs(x) >= p.mild)
        ok &= (fwd != 0) & (codes >= 0)
        obs += np.bincount(codes[ok], minlength=len(names))
        hit += np.bincount(codes[ok & (np.sign(x) == np.sign(fwd))], minlength=len(names))
    out = []
    for i, cat in enumerate(names):
        rate = hit[i] / obs[i] if obs[i] else None
        if obs[i] < p.reading_min_obs or rate is None:
            reading = "insufficient"
        elif rate >= 0.5 + p.reading_band:
            reading = "momentum"
        elif rate <= 0.5 - p.reading_band:
            reading = "contrarian"
        else:
            reading = "no_edge"
        out.append(
            {"category": cat, "obs": int(obs[i]), "hits": int(hit[i]), "hit_rate": rate, "reading": reading}
        )
    schema = {
        "category": pl.String,
        "obs": pl.Int64,
        "hits": pl.Int64,
        "hit_rate": pl.Float64,
        "reading": pl.String,
    }
    return pl.DataFrame(out, schema=schema)


@dataclass(frozen=True)
class FundSignals:
    """Per-fund signals at one date, flow events in the report window, and per-category readings."""

    as_of: dt.date
    params: SignalParams
    table: pl.DataFrame  # one row per fund with data (see `fund_signals`)
    counts: dict[str, int]  # funds per class
    events: pl.DataFrame  # date, ticker, flow_usd, flow_pct_aum, z
    divergences: pl.DataFrame  # rows of `table` with a divergence
    readings: pl.DataFrame  # category, obs, hits, hit_rate, reading

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def panel_sessions(p: SignalParams, event_days: int = 5, history: int = 504) -> int:
    """Sessions of history `fund_signals` needs."""
    return max(history, p.z_window + event_days, p.pct_window + p.long_days) + 1


def fund_signals(
    flows: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    end: dt.date,
    event_days: int = 5,
    params: SignalParams | None = None,
    history: int = 504,
    panel: FlowPanel | None = None,
) -> FundSignals:
    """Signals of every fund at `end` from daily flows up to it (`history` sessions are used).

    `panel`: the `to_panel(flows, end, panel_sessions(...))` panel when the caller already built it.
    """
    p = params or SignalParams()
    w = panel if panel is not None else to_panel(flows, end, panel_sessions(p, event_days, history))
    n_t, n_f = w.flow.shape
    aum = _aum_known(w)
    pct_rows = np.arange(max(0, n_t - p.pct_window), n_t, dtype=np.int64)
    f20_hist, k_hist, base_hist = f20_at(w, pct_rows, p, aum)
    f_now = f20_hist[-1] if n_t else np.zeros(n_f)
    k_now = k_hist[-1].astype(np.int64) if n_t else np.zeros(n_f, dtype=np.int64)
    b_now = base_hist[-1] if n_t else np.zeros(n_f)
    last = w.flow[max(0, n_t - p.long_days) :]
    s20 = np.nansum(last, axis=0)
    s5 = np.nansum(last[-p.short_days :], axis=0)
    a_now = p.acceleration(s5, s20 - s5, b_now)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct_aum = np.where(w.aum_prev > 0, w.flow / w.aum_prev, np.nan)
    pct = percentile_last(f20_hist, p.pct_window, p.pct_min) if n_t else np.zeros(n_f)
    ev_rows = np.arange(max(0, n_t - event_days), n_t, dtype=np.int64)
    z = zscore_at(pct_aum, ev_rows, p.z_window, p.z_min)
    nav = _ffill(w.nav)
    a = max(0, n_t - 1 - p.long_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = (nav[-1] - nav[a]) / nav[a] if n_t else np.zeros(n_f)
    splits = w.split[a + 1 :].any(axis=0) if n_t else np.zeros(n_f, dtype=bool)
    ret = np.where(splits, np.nan, ret)
    info = funds.select("ticker", *[c for c in ("name", "category", "group") if c in funds.columns])
    cls = _classify(f_now, a_now, p)
    cls[k_now < p.min_days] = None
    div = np.full(len(w.tickers), None, dtype=object)
    div[(f_now >= p.mild) & (ret < -p.div_return)] = "inflow_into_weakness"
    div[(f_now <= -p.mild) & (ret > p.div_return)] = "outflow_into_strength"
    has = k_now > 0
    z_last = z[-1] if z.shape[0] else np.full(len(w.tickers), np.nan)

    def col(a: F64) -> pl.Series:
        return pl.Series(np.asarray(a, dtype=np.float64)[has], nan_to_null=True)

    table = (
        pl.DataFrame(
            {
                "ticker": pl.Series(np.array(w.tickers, dtype=object)[has], dtype=pl.String),
                "flow20_usd": col(s20),
                "aum_base_usd": col(b_now),
                "flow20_pct": col(f_now),
                "accel_pct": col(a_now),
                "days": pl.Series(k_now[has], dtype=pl.Int64),
                "signal": pl.Series(cls[has].tolist(), dtype=pl.String),
                "z_last": col(z_last),
                "percentile": col(pct),
                "return20": col(ret),
                "divergence": pl.Series(div[has].tolist(), dtype=pl.String),
            }
        )
        .join(info, on="ticker", how="left")
        .sort("ticker")
    )
    counts = {c: int((table["signal"] == c).sum()) for c in FLOW_CLASSES}
    ii, jj = np.nonzero(np.abs(np.nan_to_num(z)) >= p.event_sigma)
    rr = ev_rows[ii]
    events = pl.DataFrame(
        {
            "date": pl.Series(w.dates[rr]).cast(pl.Date),
            "ticker": pl.Series([w.tickers[j] for j in jj], dtype=pl.String),
            "flow_usd": w.flow[rr, jj],
            "flow_pct_aum": pct_aum[rr, jj],
            "z": z[ii, jj],
        },
        schema={
            "date": pl.Date,
            "ticker": pl.String,
            "flow_usd": pl.Float64,
            "flow_pct_aum": pl.Float64,
            "z": pl.Float64,
        },
    )
    events = events.sort(pl.col("z").abs(), "date", "ticker", descending=[True, False, False])
    cats = (
        dict(zip(info["ticker"].to_list(), info["category"].to_list(), strict=True))
        if "category" in info.columns
        else {}
    )
    readings = category_readings(w, {t: cats.get(t) for t in w.tickers}, p, aum=aum)
    return FundSignals(
        as_of=end,
        params=p,
        table=table,
        counts=counts,
        events=events,
        divergences=table.filter(pl.col("divergence").is_not_null()),
        readings=readings,
    )
