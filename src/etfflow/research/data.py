"""Real-data inputs of the research report: US vendor flows, US price sets, fund groups, China Wind panel.

I/O lives here and nowhere else in `etfflow.research`; every loader returns plain arrays or Polars
frames for the pure study modules. Paths are relative to the shared data folder (``../shared/data``).

Point in time: etf.com stamps a flow on the day the new share count is published; we treat that
date as the trade date and make the flow usable only at the next NYSE session's close
(``available_on`` = next session), one session later than etf.com's own stamp (conservative).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from etfflow import calendar
from etfflow.errors import NotFoundError, ParseError

__all__ = [
    "PRICE_SETS",
    "CnData",
    "UsData",
    "load_cn",
    "load_us",
    "us_groups",
]

F8 = npt.NDArray[np.float64]

#: US price sets in order of preference: (name, folder, whether the series is a total return)
PRICE_SETS: tuple[tuple[str, str, str], ...] = (
    ("yahoo", "prices/us_etfs_adjclose_yahoo", "adjusted close: total return (dividends reinvested)"),
    ("stooq", "prices/us_etfs_stooq_2005_2024", "adjusted close: total return (dividends and splits)"),
    (
        "alphavantage",
        "prices/us_etfs_alphavantage",
        "adjusted close: total return (raw close and dividends also stated)",
    ),
    (
        "etf_daily_1999_2021",
        "prices/etf_daily_1999_2021",
        "adjusted close: total return (AlphaVantage layout)",
    ),
)
VENDOR_FILE = "vendor/etfcom/etfcom_daily_flows_641_long.csv.gz"
FINANCEDATABASE = "reference/financedatabase_etfs"


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
    """China Wind month-end panel: shares (units), NAV, flows (CNY) per ETF; month-end dates."""

    months: npt.NDArray[np.datetime64]
    codes: tuple[str, ...]
    names: tuple[str, ...]
    shares: F8
    nav: F8
    flow: F8
    aum: F8
    classification: pl.DataFrame
    index_returns: pl.DataFrame
    etf_returns: pl.DataFrame
    notes: tuple[str, ...] = field(default_factory=tuple)


# --- US ------------------------------------------------------------------------------------------


def _read_gz_csv(path: Path) -> pl.DataFrame:
    with gzip.open(path, "rb") as fh:
        return pl.read_csv(io.BytesIO(fh.read()), infer_schema_length=10000)


def _price_file(root: Path, set_name: str, folder: str, ticker: str) -> Path | None:
    base = root / folder
    if set_name == "stooq":
        name = f"{ticker.lower()}.us.txt.gz"
    elif set_name == "etf_daily_1999_2021":
        name = f"{ticker}.csv"
    else:
        name = f"{ticker}.csv.gz"
    p = base / name
    return p if p.exists() else None


def _read_prices(path: Path, set_name: str) -> pl.DataFrame:
    """date, adj (adjusted close) from one file of a price set."""
    # TODO(issue 8): switch to the importer
    raw = _read_gz_csv(path) if path.suffix == ".gz" else pl.read_csv(path, infer_schema_length=10000)
    try:
        if set_name == "yahoo":
            out = raw.select(
                pl.col("Date").cast(pl.String).str.to_date(strict=False).alias("date"),
                pl.col("Close").cast(pl.Float64).alias("adj"),
            )
        elif set_name == "stooq":
            out = raw.select(
                pl.col("<DATE>").cast(pl.String).str.to_date("%Y%m%d", strict=False).alias("date"),
                pl.col("<CLOSE>").cast(pl.Float64).alias("adj"),
            )
        else:
            out = raw.select(
                pl.col("timestamp" if "timestamp" in raw.columns else "date")
                .cast(pl.String)
                .str.to_date(strict=False)
                .alias("date"),
                pl.col("adjusted_close").cast(pl.Float64).alias("adj"),
            )
    except pl.exceptions.PolarsError as exc:
        raise ParseError(f"{path}: unexpected price layout ({exc})", file=str(path)) from exc
    return out.drop_nulls().filter(pl.col("adj") > 0).unique("date", keep="last").sort("date")


def _load_vendor(root: Path) -> pl.DataFrame:
    # TODO(issue 8): switch to the importer
    path = root / VENDOR_FILE
    if not path.exists():
        raise NotFoundError(f"vendor flow file not found: {path}")
    raw = pl.read_csv(
        path, schema_overrides={"ticker": pl.String, "date": pl.String, "flow_usd_mn": pl.Float64}
    )
    return raw.select(
        pl.col("ticker").str.to_uppercase(),
        pl.col("date").str.to_date(strict=False),
        (pl.col("flow_usd_mn") * 1e6).alias("flow_usd"),
    ).drop_nulls()


def us_groups(root: Path, tickers: Sequence[str]) -> pl.DataFrame:
    """ticker, group (fine), coarse, framework category, label_source for the vendor funds.

    The shipped taxonomy wins where it has the fund (FinanceDatabase has known errors, e.g. SPY as
    Alternatives); elsewhere FinanceDatabase's category_group / category; funds in neither are
    'Unclassified'.
    """
    from etfflow.universe import load_taxonomy

    tax = load_taxonomy().select("ticker", "category", "group")
    frames = [pl.read_csv(p, infer_schema_length=0) for p in sorted((root / FINANCEDATABASE).glob("*.csv"))]
    fd = (
        pl.concat(frames, how="diagonal")
        .select(pl.col("symbol").alias("ticker"), "category_group", pl.col("category").alias("fd_category"))
        .unique("ticker", keep="first")
    )
    base = pl.DataFrame({"ticker": list(tickers)})
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
    return df.select(
        "ticker",
        pl.coalesce(
            pl.col("category") + pl.lit(": ") + pl.col("group"), fd_fine, pl.lit("Unclassified")
        ).alias("group"),
        pl.coalesce(tax_coarse, pl.col("category_group"), pl.lit("Unclassified")).alias("coarse"),
        pl.col("category").alias("framework_category"),
        pl.when(pl.col("group").is_not_null())
        .then(pl.lit("taxonomy"))
        .when(pl.col("category_group").is_not_null())
        .then(pl.lit("financedatabase"))
        .otherwise(pl.lit("none"))
        .alias("label_source"),
    ).sort("ticker")


def load_us(root: Path, *, tickers: Sequence[str] | None = None) -> UsData:
    """The vendor flows and the preferred total-return price series of each fund, on NYSE sessions."""
    vendor = _load_vendor(root)
    names = sorted(set(vendor["ticker"].unique().to_list()))
    if tickers is not None:
        want = {t.upper() for t in tickers}
        names = [t for t in names if t in want]
        vendor = vendor.filter(pl.col("ticker").is_in(names))
    if not names:
        raise NotFoundError("no vendor funds selected")
    lo, hi = vendor["date"].min(), vendor["date"].max()
    assert isinstance(lo, dt.date) and isinstance(hi, dt.date)
    dates = calendar.sessions(lo, hi)
    n_t, pos = len(dates), {t: j for j, t in enumerate(names)}
    returns = np.full((n_t, len(names)), np.nan)
    source: dict[str, str] = {}
    for t in names:
        for set_name, folder, _ in PRICE_SETS:
            p = _price_file(root, set_name, folder, t)
            if p is None:
                continue
            px = _read_prices(p, set_name)
            d = px["date"].to_numpy().astype("datetime64[D]")
            v = px["adj"].to_numpy()
            r = np.full(v.shape, np.nan)
            r[1:] = v[1:] / v[:-1] - 1.0
            rows = np.searchsorted(dates, d)
            ok = (rows < n_t) & (dates[np.minimum(rows, n_t - 1)] == d) & np.isfinite(r)
            returns[rows[ok], pos[t]] = r[ok]
            source[t] = set_name
            break
    notes = []
    d = vendor["date"].to_numpy().astype("datetime64[D]")
    on_session = calendar.is_trading_day(d)
    if (~on_session).any():
        notes.append(
            f"{int((~on_session).sum())} vendor flows dated on non-NYSE days moved to the next session"
        )
    rows = np.minimum(np.searchsorted(dates, d), n_t - 1)
    cols = np.array([pos[t] for t in vendor["ticker"].to_list()], dtype=np.int64)
    f = vendor["flow_usd"].to_numpy()
    flow_trade = np.full((n_t, len(names)), np.nan)
    cell = rows * len(names) + cols
    sums = np.bincount(cell, weights=f, minlength=n_t * len(names)).reshape(n_t, len(names))
    hit = np.bincount(cell, minlength=n_t * len(names)).reshape(n_t, len(names)) > 0
    flow_trade[hit] = sums[hit]
    flow_known = np.full_like(flow_trade, np.nan)
    flow_known[1:] = flow_trade[:-1]
    known = np.where(np.isfinite(flow_trade), np.arange(n_t)[:, None] + 1, n_t).astype(np.int64)
    missing = [t for t in names if t not in source]
    if missing:
        notes.append(f"{len(missing)} vendor funds have no price file: {', '.join(missing[:20])}")
    return UsData(
        dates=dates,
        tickers=tuple(names),
        returns=returns,
        flow_trade=flow_trade,
        flow_known=flow_known,
        known_index=known,
        price_source=source,
        groups=us_groups(root, names),
        notes=tuple(notes),
    )


# --- China ---------------------------------------------------------------------------------------


def _wind_rows(path: Path) -> list[list[str]]:
    # TODO(issue 8): switch to the importer
    if not path.exists():
        raise NotFoundError(f"Wind file not found: {path}")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


def _wind_panel(path: Path) -> tuple[list[str], list[str], list[dt.date], F8]:
    """names, codes, month-end dates, values (months x funds) of a Wind export; repeated month dropped."""
    rows = _wind_rows(path)
    code_row = next((i for i, r in enumerate(rows) if r and r[0] == "Date"), None)
    if code_row is None or code_row < 1:
        raise ParseError(f"{path}: no 'Date' row with the fund codes", file=str(path))
    names, codes = rows[code_row - 1][1:], [c.split(".")[0] for c in rows[code_row][1:]]
    dates: list[dt.date] = []
    vals: list[list[float]] = []
    for i, r in enumerate(rows[code_row + 1 :], start=code_row + 2):
        if not r or not r[0].strip():
            continue
        s = r[0].strip().replace("/", "-")
        try:
            y, m, d = (int(x) for x in s.split("-"))
            day = dt.date(y, m, d)
        except ValueError as exc:
            raise ParseError(f"{path}: bad date {r[0]!r}", file=str(path), row=i, field="Date") from exc
        vals.append([float(x) if x.strip() else np.nan for x in r[1 : len(codes) + 1]])
        dates.append(day)
    # keep one row per calendar month: the last one (the file repeats 2025-12-31 as 2026-01-05)
    keep: dict[tuple[int, int], int] = {}
    for i, day in enumerate(dates):
        keep[(day.year, day.month)] = i
    idx = sorted(keep.values())
    if dates and dates[-1].month == 1 and dates[-1].year == 2026 and len(idx) > 1:
        a, b = np.array(vals[idx[-1]]), np.array(vals[idx[-2]])
        if np.array_equal(np.nan_to_num(a, nan=-1.0), np.nan_to_num(b, nan=-1.0)):
            idx = idx[:-1]
    return names, codes, [dates[i] for i in idx], np.array([vals[i] for i in idx], dtype=np.float64)


def _daily_returns(path: Path) -> pl.DataFrame:
    # TODO(issue 8): switch to the importer
    raw = pl.read_csv(path, infer_schema_length=0, encoding="utf8-lossy")
    first = raw.columns[0]
    long = raw.rename({first: "date"}).unpivot(index="date", variable_name="name", value_name="r")
    return long.select(
        pl.col("date").str.to_date(strict=False),
        pl.col("name").str.strip_chars("\ufeff"),
        pl.col("r").cast(pl.Float64, strict=False),
    ).drop_nulls()


def load_cn(root: Path) -> CnData:
    """Wind month-end shares (亿份 -> units) and NAV; flows = dSO x NAV (month-end), CNY."""
    base = root / "cn" / "monthly_wind"
    n1, c1, d1, so = _wind_panel(base / "ETF_aum_amount.csv")
    _n2, c2, d2, nav = _wind_panel(base / "ETF_aum_unit_value.csv")
    if c1 != c2:
        raise ParseError(f"{base}: the shares and NAV files list different funds", file=str(base))
    months = sorted(set(d1) & set(d2), key=lambda d: (d.year, d.month))
    i1 = [d1.index(m) for m in months]
    i2 = [d2.index(m) for m in months]
    shares = so[i1] * 1e8
    navs = nav[i2]
    prev = np.vstack([np.full((1, shares.shape[1]), np.nan), shares[:-1]])
    flow = (shares - prev) * navs
    aum = shares * navs
    cls = pl.read_csv(
        root / "cn" / "classification" / "etf_flow_radar_universe_classification_20260821.csv",
        infer_schema_length=0,
    )
    etf_r = _daily_returns(base / "ETF_daily_simple_returns.csv")
    idx_r = _daily_returns(base / "index_daily_simple_returns.csv")
    # the two daily files list funds and the indices they track in the same column order
    etf_cols = pl.read_csv(base / "ETF_daily_simple_returns.csv", n_rows=0, encoding="utf8-lossy").columns[1:]
    idx_cols = pl.read_csv(base / "index_daily_simple_returns.csv", n_rows=0, encoding="utf8-lossy").columns[
        1:
    ]
    pairs = pl.DataFrame({"etf_name": etf_cols, "index_name": idx_cols[: len(etf_cols)]})
    name_code: dict[str, str] = {}
    for nm, cd in zip(n1, c1, strict=True):
        name_code.setdefault(nm, cd)
    pairs = pairs.with_columns(pl.col("etf_name").replace_strict(name_code, default=None).alias("code"))
    etf_r = etf_r.join(pairs.select(pl.col("etf_name").alias("name"), "code"), on="name", how="left")
    idx_r = idx_r.join(pairs.select(pl.col("index_name").alias("name"), "code"), on="name", how="left")
    notes = (
        "Wind month-end shares (亿份) x month-end unit NAV; flow = (SO_m - SO_m-1) x NAV_m",
        f"{len(c1)} funds, {months[0]} .. {months[-1]}; "
        "the repeated last row (2026-01-05 = 2025-12-31) dropped",
    )
    return CnData(
        months=np.array(months, dtype="datetime64[D]"),
        codes=tuple(c1),
        names=tuple(n1),
        shares=shares,
        nav=navs,
        flow=flow,
        aum=aum,
        classification=cls,
        index_returns=idx_r,
        etf_returns=etf_r,
        notes=notes,
    )
