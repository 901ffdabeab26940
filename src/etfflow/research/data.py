"""Real-data inputs of the research report, through the warehouse: import the files, read panels back.

`build_us` / `build_cn` import the shared files with `etfflow.pipeline.import_paths` (the same
importers as `etfflow import`) into a DuckDB warehouse; `load_us` / `load_cn` read it back as the
plain arrays the pure study modules take. I/O lives here and nowhere else in `etfflow.research`.

US: the etf.com vendor flows are read with `pipeline.load_flows(flow_source="vendor")`: a flow of
trade date s is usable from its `available_on` (the next session; a vendor publishes after the
close). Each fund's prices come from one price set, the first that has the fund in `PRICE_SETS`
order, so that every return has one stated source; returns are total returns (adjusted closes, or
raw closes with dividends and splits).
China: Wind month-end shares and NAV become `daily` rows and monthly `flows_daily` (computed by
etfflow's flow engine: splits detected, first observations flagged); the daily simple-return panels
become `returns_daily`; the classification becomes `funds` rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from etfflow.errors import NotFoundError

__all__ = [
    "CN_FILES",
    "PRICE_SETS",
    "VENDOR_FILE",
    "CnData",
    "UsData",
    "build_cn",
    "build_us",
    "load_cn",
    "load_us",
    "price_files",
    "us_groups",
]

F8 = npt.NDArray[np.float64]

#: US price sets in order of preference: (name, folder, file name pattern, what the return is)
PRICE_SETS: tuple[tuple[str, str, str, str], ...] = (
    ("yahoo", "prices/us_etfs_adjclose_yahoo", "{T}.csv.gz", "adjusted close: total return"),
    ("stooq", "prices/us_etfs_stooq_2005_2024", "{t}.us.txt.gz", "adjusted close: total return"),
    (
        "alphavantage",
        "prices/us_etfs_alphavantage",
        "{T}.csv.gz",
        "raw close + dividends + splits: total return",
    ),
    (
        "etf_daily_1999_2021",
        "prices/etf_daily_1999_2021",
        "{T}.csv",
        "raw close + dividends + splits (AlphaVantage layout): total return",
    ),
)
VENDOR_FILE = "vendor/etfcom/etfcom_daily_flows_641_long.csv.gz"
FINANCEDATABASE = "reference/financedatabase_etfs"
CN_FILES: tuple[str, ...] = (
    "cn/monthly_wind/ETF_aum_amount.csv",
    "cn/monthly_wind/ETF_aum_unit_value.csv",
    "cn/monthly_wind/ETF_daily_simple_returns.csv",
    "cn/monthly_wind/index_daily_simple_returns.csv",
    "cn/classification/etf_flow_radar_universe_classification_20260821.csv",
)

Progress = Callable[[str, float], None]


def _noop(_m: str, _f: float) -> None:
    return None


@dataclass(frozen=True)
class UsData:
    """US panel on NYSE sessions: total returns, vendor flows by trade date and by availability."""

    dates: npt.NDArray[np.datetime64]
    tickers: tuple[str, ...]
    returns: F8
    flow_trade: F8
    flow_known: F8
    known_index: npt.NDArray[np.int64]
    price_source: dict[str, str]
    groups: pl.DataFrame
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CnData:
    """China month-end panel from the warehouse: shares, NAV, flows (CNY) per ETF on month-end dates."""

    months: npt.NDArray[np.datetime64]
    codes: tuple[str, ...]
    shares: F8
    nav: F8
    flow: F8
    aum: F8
    funds: pl.DataFrame
    index_returns: pl.DataFrame
    etf_returns: pl.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)


# --- US ------------------------------------------------------------------------------------------


def _vendor_tickers(root: Path) -> list[str]:
    path = root / VENDOR_FILE
    if not path.exists():
        raise NotFoundError(f"vendor flow file not found: {path}")
    return sorted(pl.read_csv(path, columns=["ticker"])["ticker"].str.to_uppercase().unique().to_list())


def price_files(root: Path, tickers: Sequence[str]) -> dict[str, list[tuple[str, Path]]]:
    """Each fund's price files in `PRICE_SETS` order of preference (the first is used if it imports)."""
    out: dict[str, list[tuple[str, Path]]] = {}
    for t in tickers:
        for name, folder, pattern, _ in PRICE_SETS:
            p = root / folder / pattern.format(T=t, t=t.lower())
            if p.exists():
                out.setdefault(t, []).append((name, p))
    return out


def build_us(
    store: Any,
    root: Path,
    *,
    tickers: Sequence[str] | None = None,
    progress: Progress = _noop,
    chunk: int = 64,
) -> dict[str, Any]:
    """Import the vendor flows, then each fund's preferred price file, into `store`; what was imported.

    Price files go in chunks, one transaction each; a chunk with a file the importer refuses (its
    checks name the file, row and field) is redone file by file, the refusal is reported and the
    fund's next price set is tried: one bad file costs one fund at most, never the warehouse.
    """
    from etfflow.errors import EtfflowError
    from etfflow.pipeline import import_paths

    vfile = root / VENDOR_FILE
    names = _vendor_tickers(root) if tickers is None else [t.upper() for t in tickers]
    progress("importing the vendor flows", 0.0)
    vres = import_paths(store, [vfile])[0]
    rows = vres.rows
    candidates = price_files(root, names)
    chosen: dict[str, str] = {}
    refused: list[str] = []
    todo = {t: list(files) for t, files in sorted(candidates.items())}
    while todo:
        batch = [(t, files[0]) for t, files in todo.items()]
        for i in range(0, len(batch), chunk):
            part = batch[i : i + chunk]
            progress(f"importing price files {i + 1}-{i + len(part)} of {len(batch)}", i / len(batch))
            try:
                # a chunk of files in one transaction; if any is refused, file by file
                rows += sum(r.rows for r in import_paths(store, [p for _, (_, p) in part]))
                ok = [t for t, _ in part]
            except EtfflowError:
                ok = []
                for t, (name, p) in part:
                    try:
                        rows += import_paths(store, [p])[0].rows
                        ok.append(t)
                    except EtfflowError as exc:
                        refused.append(f"{t} ({name}): {exc}")
            for t, (name, _) in part:
                if t in ok:
                    chosen[t] = name
        todo = {t: files[1:] for t, files in todo.items() if t not in chosen and len(files) > 1}
    return {
        "files": 1 + len(chosen) + len(refused),
        "rows": rows,
        "vendor_notes": list(vres.notes),
        "vendor_dropped": dict(vres.dropped),
        "price_set": chosen,
        "refused": refused,
        "unpriced": sorted(set(candidates) - set(chosen)),
    }


def us_groups(root: Path, tickers: Sequence[str]) -> pl.DataFrame:
    """ticker, group (fine), coarse, framework category, label_source for the vendor funds.

    The shipped taxonomy wins where it has the fund (FinanceDatabase has known errors, e.g. SPY as
    Alternatives); elsewhere FinanceDatabase's category_group / category (reference data, read in
    place); funds in neither are 'Unclassified'.
    """
    from etfflow.universe import load_taxonomy

    tax = load_taxonomy().select("ticker", "category", "group")
    frames = [pl.read_csv(p, infer_schema_length=0) for p in sorted((root / FINANCEDATABASE).glob("*.csv"))]
    if not frames:
        raise NotFoundError(f"no FinanceDatabase files under {root / FINANCEDATABASE}")
    fd = (
        pl.concat(frames, how="diagonal")
        .select(pl.col("symbol").alias("ticker"), "category_group", pl.col("category").alias("fd_category"))
        .unique("ticker", keep="first")
    )
    base = pl.DataFrame({"ticker": list(tickers)}, schema={"ticker": pl.String})
    df = base.join(tax, on="ticker", how="left").join(fd, on="ticker", how="left")
    fd_fine = (
        pl.when(pl.col("fd_category").is_null())
        .then(pl.col("category_group"))
        .otherwise(pl.col("category_group") + pl.lit(": ") + pl.col("fd_category"))
    )
    tax_coarse = pl.col("category").replace(
        {
            "broad_market": "Equities: broad",
            "sector": "Equities: sectors",
            "style": "Equities: styles",
            "fixed_income": "Fixed Income",
            "thematic": "Equities: thematic",
            "international": "Equities: international",
            "commodity": "Commodities",
        }
    )
    fine = pl.coalesce(pl.col("category") + pl.lit(": ") + pl.col("group"), fd_fine, pl.lit("Unclassified"))
    return df.select(
        "ticker",
        fine.alias("group"),
        pl.coalesce(tax_coarse, pl.col("category_group"), pl.lit("Unclassified")).alias("coarse"),
        pl.col("category").alias("framework_category"),
        pl.when(pl.col("group").is_not_null())
        .then(pl.lit("taxonomy"))
        .when(pl.col("category_group").is_not_null())
        .then(pl.lit("financedatabase"))
        .otherwise(pl.lit("none"))
        .alias("label_source"),
    ).sort("ticker")


def load_us(
    store: Any, root: Path, price_set: dict[str, str], *, tickers: Sequence[str] | None = None
) -> UsData:
    """The warehouse's vendor flows and total returns as arrays on NYSE sessions (flow span)."""
    from etfflow.backtest.data import panel_from_frames
    from etfflow.pipeline import load_flows

    want = None if tickers is None else sorted({t.upper() for t in tickers})
    flows, _ = load_flows(store, tickers=want, flow_source="vendor")
    if flows.height == 0:
        raise NotFoundError(f"no vendor flows in {store.path}")
    names = sorted(set(flows["ticker"].to_list()))
    daily = store.read("daily", tickers=names)
    lo, hi = flows["date"].min(), flows["date"].max()
    assert isinstance(lo, dt.date) and isinstance(hi, dt.date)
    panel = panel_from_frames(daily, flows, tickers=names, basis="close", start=lo, end=hi, label=None)
    n_t, n_a = panel.returns.shape
    pos = {t: j for j, t in enumerate(names)}
    d = flows["date"].to_numpy().astype("datetime64[D]")
    rows = np.searchsorted(panel.dates, d)
    ok = (rows < n_t) & (panel.dates[np.minimum(rows, n_t - 1)] == d)
    cols = np.array([pos[t] for t in flows["ticker"].to_list()], dtype=np.int64)
    f = flows["flow_usd"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    ok &= np.isfinite(f)
    trade = np.full((n_t, n_a), np.nan)
    trade[rows[ok], cols[ok]] = f[ok]
    assert panel.known_index is not None
    have = set(daily["ticker"].unique().to_list())
    return UsData(
        dates=panel.dates,
        tickers=panel.assets,
        returns=panel.returns,
        flow_trade=trade,
        flow_known=panel.flow_usd,
        known_index=panel.known_index,
        price_source={t: s for t, s in price_set.items() if t in have and t in pos},
        groups=us_groups(root, names),
        notes=panel.notes,
    )


# --- China ---------------------------------------------------------------------------------------


def build_cn(store: Any, root: Path, *, progress: Progress = _noop) -> dict[str, Any]:
    """Import the Wind panels, the Wind return panels and the classification into `store`."""
    from etfflow.pipeline import import_paths

    paths = [root / f for f in CN_FILES]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise NotFoundError(f"China files not found: {', '.join(missing)}")
    res = import_paths(store, paths, progress=progress)
    return {"files": len(paths), "rows": sum(r.rows for r in res), "notes": [n for r in res for n in r.notes]}


def load_cn(store: Any) -> CnData:
    """Month-end shares, NAV and flows (etfflow's flow engine, usable rows only) of the Wind funds."""
    from etfflow.flows.aggregate import clean
    from etfflow.pipeline import funds_table

    daily = store.query(
        "SELECT date, ticker, max(shares_outstanding) AS so, max(nav) AS nav FROM daily "
        "WHERE source IN ('wind_shares', 'wind_nav') GROUP BY date, ticker ORDER BY date, ticker"
    )
    if daily.height == 0:
        raise NotFoundError(f"no Wind month-end rows in {store.path}")
    codes = sorted(set(daily["ticker"].to_list()))
    months = np.array(sorted(set(daily["date"].to_list())), dtype="datetime64[D]")
    pos = {c: j for j, c in enumerate(codes)}

    def grid(frame: pl.DataFrame, col: str) -> F8:
        out = np.full((len(months), len(codes)), np.nan)
        r = np.searchsorted(months, frame["date"].to_numpy().astype("datetime64[D]"))
        c = np.array([pos[t] for t in frame["ticker"].to_list()], dtype=np.int64)
        v = frame[col].cast(pl.Float64).fill_null(np.nan).to_numpy()
        out[r, c] = v
        return out

    so, nav = grid(daily, "so"), grid(daily, "nav")
    raw = store.read("flows_daily", tickers=codes)
    usable = clean(raw)
    flow = grid(usable.filter(pl.col("date").is_in(list(months.astype(dt.date)))), "flow_usd")
    rets = store.read("returns_daily")
    notes = (
        "Wind month-end shares x month-end unit NAV imported into the warehouse; flows computed by etfflow's "
        "flow engine ((SO_m - SO_m-1) x NAV_m, splits detected, first observations left out)",
        f"{len(codes)} A-share funds, {months[0]} .. {months[-1]}; {raw.height - usable.height} of "
        f"{raw.height} fund-months left out of the flows (first observation, bad print or no price)",
    )
    return CnData(
        months=months,
        codes=tuple(codes),
        shares=so,
        nav=nav,
        flow=flow,
        aum=so * nav,
        funds=funds_table(store).filter(pl.col("ticker").is_in(codes)),
        index_returns=rets.filter(pl.col("kind") == "index").select(
            "date", "ticker", pl.col("simple_return").alias("r")
        ),
        etf_returns=rets.filter(pl.col("kind") == "fund").select(
            "date", "ticker", pl.col("simple_return").alias("r")
        ),
        notes=notes,
    )
