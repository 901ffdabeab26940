"""Point-in-time market panel for strategies: wide (dates x assets) arrays built from canonical frames.

Timing (see DESIGN.md, "Point in time"):
- Row t of every price array holds what is known at close t: the close, the NAV, the AUM stated for t,
  the total return from close t-1 to close t (``returns``) and the open-to-close return of session t.
- Flows are placed by **availability**, not trade date: ``flow_usd[t]`` is the sum of the daily flows
  whose ``available_on`` is t (NaN when none became known that day). A flow of trade date s published
  on d is therefore first usable at close d.
- ``trade_flow_pct[s]`` keeps the trade-date view (flow of trade date s as a fraction of prior AUM) with
  ``known_index[s]``, the row at which it became known; models that work in trade time (the rolling
  flow regressions) may use row s only from close ``known_index[s]`` on.
- Total returns include distributions and undo splits: NAV basis ``k_t (NAV_t + D_t) / NAV_t-1 - 1``
  (k = new shares per old share on the ex-date t, D = cash per share); close basis the same with
  closes; prices basis from an adjusted close series. A missing row is bridged to the previous
  valid value (the return lands on the next row that has one).

Flows flagged as unusable (bad prints, no price, first observation) are left out, as in
`etfflow.flows.aggregate.clean`; the counts are in ``Panel.notes``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from etfflow import calendar
from etfflow.errors import ConfigError, DataQualityError, NotFoundError, ValidationError
from etfflow.flows.aggregate import clean

if TYPE_CHECKING:
    from etfflow.sources.demo import DemoMarket
    from etfflow.store import Store

__all__ = [
    "Basis",
    "Panel",
    "group_panel",
    "panel_from_demo",
    "panel_from_frames",
    "panel_from_store",
    "price_frame",
    "sector_panel",
]

F8 = npt.NDArray[np.float64]
I8 = npt.NDArray[np.int64]
Basis = Literal["nav", "close", "prices"]
_BASES = ("nav", "close", "prices")


@dataclass(frozen=True)
class Panel:
    """Wide point-in-time arrays (rows = NYSE sessions, columns = assets); see the module docstring.

    ``known_index`` is len(dates) where a trade-date flow becomes known after the last row.
    Group panels (`group_panel`) have no trade-date arrays.
    """

    dates: npt.NDArray[np.datetime64]
    assets: tuple[str, ...]
    returns: F8
    open_returns: F8 | None
    priced: npt.NDArray[np.bool_]
    premium: F8
    aum: F8
    flow_usd: F8
    flow_pct: F8
    trade_flow_pct: F8 | None
    known_index: I8 | None
    basis: str
    label: str | None = None
    members: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def synthetic(self) -> bool:
        """Whether the panel was built from the synthetic demo market."""
        return bool(self.label and self.label.startswith("SYNTHETIC"))

    def select(self, assets: Sequence[str]) -> Panel:
        """The panel restricted to some assets (in the given order)."""
        pos = {a: j for j, a in enumerate(self.assets)}
        missing = [a for a in assets if a not in pos]
        if missing:
            raise NotFoundError(f"not in the panel: {', '.join(missing)}")
        idx = np.array([pos[a] for a in assets], dtype=np.int64)

        def cut(x: np.ndarray | None) -> np.ndarray | None:
            return None if x is None else np.ascontiguousarray(x[:, idx])

        return dataclasses.replace(
            self,
            assets=tuple(assets),
            returns=np.ascontiguousarray(self.returns[:, idx]),
            open_returns=cut(self.open_returns),
            priced=np.ascontiguousarray(self.priced[:, idx]),
            premium=np.ascontiguousarray(self.premium[:, idx]),
            aum=np.ascontiguousarray(self.aum[:, idx]),
            flow_usd=np.ascontiguousarray(self.flow_usd[:, idx]),
            flow_pct=np.ascontiguousarray(self.flow_pct[:, idx]),
            trade_flow_pct=cut(self.trade_flow_pct),
            known_index=None if self.known_index is None else np.ascontiguousarray(self.known_index[:, idx]),
            members={a: self.members[a] for a in assets if a in self.members},
        )

    def returns_span(self) -> tuple[int, int]:
        """First and one-past-last row on which any asset has a return."""
        ok = np.flatnonzero(np.isfinite(self.returns).any(axis=1))
        if ok.size == 0:
            raise DataQualityError("the panel has no returns: nothing to backtest")
        return int(ok[0]), int(ok[-1]) + 1


def price_frame(raw: pl.DataFrame, ticker: str) -> pl.DataFrame:
    """A vendor daily price table (date, open, close, adjusted_close, ...) in the panel's price columns.

    Column names are matched case-insensitively ('Adj Close' and 'adjusted_close' both work); a table
    without an adjusted close uses its close (then it is a price return, which the notes should say).
    """
    norm = {c: c.strip().lower().replace(" ", "_") for c in raw.columns}
    df = raw.rename(norm)
    if "adj_close" in df.columns and "adjusted_close" not in df.columns:
        df = df.rename({"adj_close": "adjusted_close"})
    if "date" not in df.columns or ("close" not in df.columns and "adjusted_close" not in df.columns):
        raise ValidationError("a price table needs date and close or adjusted_close columns", field="date")
    if df["date"].dtype != pl.Date:
        df = df.with_columns(pl.col("date").cast(pl.String).str.to_date(strict=False))
    cols = []
    for c in ("open", "close", "adjusted_close"):
        cols.append(pl.col(c).cast(pl.Float64) if c in df.columns else pl.lit(None, pl.Float64).alias(c))
    out = df.select(pl.col("date"), pl.lit(ticker.upper()).alias("ticker"), *cols)
    out = out.with_columns(pl.coalesce("adjusted_close", "close").alias("adjusted_close"))
    return out.drop_nulls("date").unique(["date", "ticker"], keep="last").sort("date")


def _grid(
    frame: pl.DataFrame, dates: np.ndarray, pos: Mapping[str, int], cols: Sequence[str]
) -> dict[str, F8]:
    """Scatter long columns into (dates x assets) float arrays (NaN where absent)."""
    n_t, n_a = len(dates), len(pos)
    out = {c: np.full((n_t, n_a), np.nan) for c in cols}
    if frame.height == 0:
        return out
    d = frame["date"].to_numpy().astype("datetime64[D]")
    rows = np.searchsorted(dates, d)
    ok = (rows < n_t) & (dates[np.minimum(rows, n_t - 1)] == d)
    col = np.array([pos.get(t, -1) for t in frame["ticker"].to_list()], dtype=np.int64)
    ok &= col >= 0
    for c in cols:
        vals = frame[c].cast(pl.Float64).fill_null(np.nan).to_numpy() if c in frame.columns else None
        if vals is not None:
            out[c][rows[ok], col[ok]] = vals[ok]
    return out


def _ffill(x: F8) -> F8:
    """Forward-fill NaNs down each column (the last valid value so far; NaN before the first)."""
    n_t = x.shape[0]
    idx = np.where(np.isfinite(x), np.arange(n_t)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = x[idx, np.arange(x.shape[1])[None, :]]
    first_valid = np.isfinite(x).cumsum(axis=0) > 0
    return np.where(first_valid, out, np.nan)


def _total_return(px: F8, split: F8, dist: F8) -> F8:
    """k_t (P_t + D_t) / P_prev - 1, where P_prev is the last valid price before t (NaN if none)."""
    prev = np.vstack([np.full((1, px.shape[1]), np.nan), _ffill(px)[:-1]])
    k = np.where(np.isfinite(split) & (split > 0), split, 1.0)
    d = np.where(np.isfinite(dist), dist, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = k * (px + d) / prev - 1.0
    return np.where(np.isfinite(px) & np.isfinite(prev) & (prev > 0), r, np.nan)


def _simple_return(px: F8) -> F8:
    """P_t / P_prev - 1 for an adjusted series (the previous valid value)."""
    prev = np.vstack([np.full((1, px.shape[1]), np.nan), _ffill(px)[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        r = px / prev - 1.0
    return np.where(np.isfinite(px) & np.isfinite(prev) & (prev > 0), r, np.nan)


def _dedupe_daily(daily: pl.DataFrame) -> pl.DataFrame:
    if "source" in daily.columns and daily.select(pl.struct("date", "ticker").is_duplicated().any()).item():
        from etfflow.flows.daily import merge_sources

        return merge_sources(daily)
    return daily


def _as_date(x: dt.date | str | None) -> np.datetime64 | None:
    return None if x is None else np.datetime64(x, "D")


def panel_from_frames(
    daily: pl.DataFrame,
    flows: pl.DataFrame,
    *,
    tickers: Sequence[str] | None = None,
    basis: Basis | None = None,
    prices: pl.DataFrame | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    label: str | None = None,
) -> Panel:
    """Panel from a `daily` frame (sources merged when several), a `flows_daily` frame and optional prices.

    basis: 'nav' (default without prices), 'close', or 'prices' (default when `prices` is given: the
    adjusted close of `price_frame` rows, with their open/close for open-to-close returns). Rows run
    over every NYSE session from the first to the last dated observation (clipped to start/end).
    """
    chosen: str = basis or ("prices" if prices is not None else "nav")
    if chosen not in _BASES:
        raise ConfigError(f"basis must be one of {', '.join(_BASES)}; got {chosen!r}")
    if chosen == "prices" and prices is None:
        raise ConfigError("basis='prices' needs a prices frame (see price_frame)")
    day = _dedupe_daily(daily)
    names = list(tickers) if tickers is not None else sorted(set(day["ticker"].to_list()))
    if prices is not None and tickers is None:
        names = sorted(set(names) | set(prices["ticker"].to_list()))
    if not names:
        raise NotFoundError("no funds to build a panel from")
    day = day.filter(pl.col("ticker").is_in(names))
    flw = flows.filter(pl.col("ticker").is_in(names))
    px = prices.filter(pl.col("ticker").is_in(names)) if prices is not None else None
    stamps = [day["date"]]
    if px is not None:
        stamps.append(px["date"])
    all_dates = pl.concat([s.cast(pl.Date) for s in stamps]).drop_nulls()
    if all_dates.len() == 0:
        raise NotFoundError(f"no daily rows for {', '.join(names)}")
    lo = _as_date(start) or np.datetime64(str(all_dates.min()), "D")
    hi = _as_date(end) or np.datetime64(str(all_dates.max()), "D")
    dates = calendar.sessions(lo.astype(dt.date), hi.astype(dt.date))
    if len(dates) < 2:
        raise DataQualityError(f"fewer than two NYSE sessions between {lo} and {hi}")
    pos = {t: j for j, t in enumerate(names)}
    g = _grid(
        day,
        dates,
        pos,
        ("open", "close", "nav", "shares_outstanding", "total_net_assets", "split_factor", "distribution"),
    )
    notes: list[str] = []
    nav, close = g["nav"], g["close"]
    if chosen == "nav":
        returns = _total_return(nav, g["split_factor"], g["distribution"])
    elif chosen == "close":
        returns = _total_return(close, g["split_factor"], g["distribution"])
    else:
        assert px is not None
        pg = _grid(px, dates, pos, ("open", "close", "adjusted_close"))
        returns = _simple_return(pg["adjusted_close"])
        g["open"] = np.where(np.isfinite(pg["open"]), pg["open"], g["open"])
        close = np.where(np.isfinite(pg["close"]), pg["close"], close)
        without = sorted(set(names) - set(px["ticker"].to_list()))
        if without:
            notes.append(f"no prices for {', '.join(without)}: no returns for them")
    with np.errstate(invalid="ignore", divide="ignore"):
        open_returns = np.where(
            np.isfinite(g["open"]) & (g["open"] > 0) & np.isfinite(close), close / g["open"] - 1.0, np.nan
        )
        premium = np.where(np.isfinite(nav) & (nav > 0), close / nav - 1.0, np.nan)
    tna = g["total_net_assets"]
    aum = np.where(np.isfinite(tna), tna, g["shares_outstanding"] * nav)
    priced = np.isfinite(returns) | (np.isfinite(nav) | np.isfinite(close))
    if chosen == "prices":
        priced = np.isfinite(returns) | np.isfinite(close)
    flow_usd, trade_pct, known = _flow_arrays(flw, dates, pos, notes)
    prev_aum = np.vstack([np.full((1, len(names)), np.nan), _ffill(aum)[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        flow_pct = np.where(prev_aum > 0, flow_usd / prev_aum, np.nan)
    has_open = bool(np.isfinite(open_returns).any())
    return Panel(
        dates=dates,
        assets=tuple(names),
        returns=returns,
        open_returns=open_returns if has_open else None,
        priced=priced,
        premium=premium,
        aum=aum,
        flow_usd=flow_usd,
        flow_pct=flow_pct,
        trade_flow_pct=trade_pct,
        known_index=known,
        basis=chosen,
        label=label,
        members={t: (t,) for t in names},
        notes=tuple(notes),
    )


def _flow_arrays(
    flows: pl.DataFrame, dates: np.ndarray, pos: Mapping[str, int], notes: list[str]
) -> tuple[F8, F8, I8]:
    """Flows summed by availability date; trade-date flow % AUM with the row where each became known."""
    n_t, n_a = len(dates), len(pos)
    usable = clean(flows) if flows.height else flows
    dropped = flows.height - usable.height
    if dropped:
        notes.append(f"{dropped} daily flows left out (bad print, no price or first observation)")
    by_avail = np.full((n_t, n_a), np.nan)
    trade = np.full((n_t, n_a), np.nan)
    known = np.full((n_t, n_a), n_t, dtype=np.int64)
    if usable.height == 0:
        return by_avail, trade, known
    avail = usable["available_on"].to_numpy().astype("datetime64[D]")
    tdate = usable["date"].to_numpy().astype("datetime64[D]")
    col = np.array([pos[t] for t in usable["ticker"].to_list()], dtype=np.int64)
    flow = usable["flow_usd"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    pct = usable["flow_pct_aum"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    a_row = np.searchsorted(dates, avail)
    a_in = (a_row < n_t) & (dates[np.minimum(a_row, n_t - 1)] == avail)
    late = int((avail > dates[-1]).sum())
    if late:
        notes.append(f"{late} daily flows become known after the last session: never used")
    ok = a_in & np.isfinite(flow)
    cell = np.where(ok, a_row * n_a + col, -1)
    sums = np.bincount(cell[ok], weights=flow[ok], minlength=n_t * n_a).reshape(n_t, n_a)
    hit = np.bincount(cell[ok], minlength=n_t * n_a).reshape(n_t, n_a) > 0
    by_avail[hit] = sums[hit]
    t_row = np.searchsorted(dates, tdate)
    t_in = (t_row < n_t) & (dates[np.minimum(t_row, n_t - 1)] == tdate)
    trade[t_row[t_in], col[t_in]] = pct[t_in]
    known_row = np.where(a_in, a_row, np.where(avail > dates[-1], n_t, 0))
    known[t_row[t_in], col[t_in]] = known_row[t_in]
    return by_avail, trade, known


def panel_from_store(
    store: Store,
    *,
    tickers: Sequence[str] | None = None,
    basis: Basis | None = None,
    prices: pl.DataFrame | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    flow_source: str | None = None,
) -> Panel:
    """Panel from the warehouse's daily rows and flows from `flow_source` (labelled synthetic for a demo)."""
    import dataclasses

    from etfflow.flows.source import describe_sources, source_notes
    from etfflow.pipeline import load_flows, synthetic_label

    daily = store.read("daily", tickers=list(tickers) if tickers is not None else None)
    flows, _ = load_flows(
        store, tickers=list(tickers) if tickers is not None else None, flow_source=flow_source
    )
    if daily.height == 0 and prices is None:
        raise NotFoundError(f"no daily rows in {store.path}: import data or run `etfflow demo` first")
    panel = panel_from_frames(
        daily,
        flows,
        tickers=tickers,
        basis=basis,
        prices=prices,
        start=start,
        end=end,
        label=synthetic_label(store),
    )
    used = flows.filter(pl.col("ticker").is_in(list(panel.assets)))
    return dataclasses.replace(panel, notes=(*panel.notes, describe_sources(used), *source_notes(used)))


def panel_from_demo(
    market: DemoMarket,
    *,
    tickers: Sequence[str] | None = None,
    basis: Basis | None = None,
) -> Panel:
    """Panel from a freshly built demo market (flows computed as the warehouse would); labelled SYNTHETIC."""
    from etfflow.flows.daily import compute_flows

    flows = compute_flows(market.daily, market.funds)
    return panel_from_frames(market.daily, flows, tickers=tickers, basis=basis, label=market.label)


def group_panel(
    panel: Panel,
    funds: pl.DataFrame,
    *,
    groups: Sequence[str] | None = None,
    by: str = "group",
) -> Panel:
    """One column per group: the primary fund's returns and premium, all members' AUM and flows summed.

    The group's primary fund is the `funds` row with primary=true among the panel's members, else the
    member with the most returns. A group is priced only where its primary fund is. Group flow % is the
    summed flow over the summed AUM at the previous close.
    """
    if by not in funds.columns:
        raise ConfigError(f"funds has no column {by!r}")
    rows = funds.filter(pl.col("ticker").is_in(list(panel.assets)) & pl.col(by).is_not_null())
    present = rows[by].unique().to_list()
    order = list(groups) if groups is not None else sorted(present)
    order = [g for g in order if g in present]
    if not order:
        raise NotFoundError(f"no panel fund belongs to any requested {by}")
    pos = {a: j for j, a in enumerate(panel.assets)}
    n_t = len(panel.dates)
    n_g = len(order)

    def zeros() -> F8:
        return np.full((n_t, n_g), np.nan)

    ret, opn, prem, aum, flow = zeros(), zeros(), zeros(), zeros(), zeros()
    priced = np.zeros((n_t, n_g), dtype=np.bool_)
    members: dict[str, tuple[str, ...]] = {}
    notes = list(panel.notes)
    has_primary = "primary" in rows.columns
    for k, grp in enumerate(order):
        part = rows.filter(pl.col(by) == grp)
        tick = part["ticker"].to_list()
        prim = [t for t, p in zip(tick, part["primary"].to_list(), strict=True) if p] if has_primary else []
        lead = prim[0] if prim else max(tick, key=lambda t: int(np.isfinite(panel.returns[:, pos[t]]).sum()))
        if not prim:
            notes.append(f"{grp}: no primary fund in the panel; {lead} prices the group")
        members[grp] = (lead, *sorted(t for t in tick if t != lead))
        j = pos[lead]
        ret[:, k] = panel.returns[:, j]
        if panel.open_returns is not None:
            opn[:, k] = panel.open_returns[:, j]
        prem[:, k] = panel.premium[:, j]
        priced[:, k] = panel.priced[:, j]
        idx = [pos[t] for t in tick]
        a = panel.aum[:, idx]
        f = panel.flow_usd[:, idx]
        aum[:, k] = np.where(np.isfinite(a).any(axis=1), np.nansum(a, axis=1), np.nan)
        flow[:, k] = np.where(np.isfinite(f).any(axis=1), np.nansum(f, axis=1), np.nan)
    prev_aum = np.vstack([np.full((1, n_g), np.nan), _ffill(aum)[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        flow_pct = np.where(prev_aum > 0, flow / prev_aum, np.nan)
    return Panel(
        dates=panel.dates,
        assets=tuple(order),
        returns=ret,
        open_returns=opn if panel.open_returns is not None else None,
        priced=priced,
        premium=prem,
        aum=aum,
        flow_usd=flow,
        flow_pct=flow_pct,
        trade_flow_pct=None,
        known_index=None,
        basis=panel.basis,
        label=panel.label,
        members=members,
        notes=tuple(notes),
    )


def sector_panel(panel: Panel, funds: pl.DataFrame | None = None) -> Panel:
    """The 11 GICS sectors as groups (primary = the Select Sector SPDR), in `SECTORS` order."""
    from etfflow.universe import SECTORS, load_taxonomy

    f = funds if funds is not None else load_taxonomy()
    sectors = f.filter(pl.col("category") == "sector")
    return group_panel(panel, sectors, groups=SECTORS)
