"""The Python API for notebooks (`import etfflow as ef`); the CLI shows the same tables.

    wh = ef.open("~/.etfflow/demo.duckdb")          # read-only; refuses a path that does not exist
    t = ef.flows(["SPY", "QQQ"], start="2025-01-01", freq="m")
    t.frame                                           # a Polars frame; t.to_pandas(), t.to_csv(path)

Every call returns a result object: `Table` (`.frame`, `.title`, `.start`, `.end`, `.as_of`, `.label`,
`.warnings`, `.summary`), `Report` or `Backtest`, each with `to_pandas()` and an HTML repr. Columns:
a name ending in ``_pct`` (or holding ``_pct_``) is a fraction (0.01 = 1%); ``flags`` are names; see
`etfflow.views`. A warehouse opened read-only is connected only for the length of each call, so the
CLI can use the same file meanwhile.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from etfflow.errors import ConfigError, NotFoundError, StoreError
from etfflow.store import Store, resolve_db_path

if TYPE_CHECKING:
    import pandas as pd

    from etfflow.backtest.strategies import StrategyRun
    from etfflow.report.build import FlowReport

__all__ = [
    "DEMO_DB",
    "Backtest",
    "Report",
    "Table",
    "Warehouse",
    "backtest",
    "flows",
    "locate",
    "open",
    "quality",
    "report",
    "sectors",
    "top",
]

DEMO_DB = Path("~/.etfflow/demo.duckdb")
DateLike = dt.date | str | None
_ALL = 1_000_000_000  # a window longer than any history: every session of the selection
_FREQ_NAMES = {"d": "daily", "w": "weekly", "m": "monthly"}


def _date(x: DateLike, what: str) -> dt.date | None:
    if x is None or (isinstance(x, dt.date) and not isinstance(x, dt.datetime)):
        return x
    if isinstance(x, dt.datetime):
        return x.date()
    try:
        return dt.date.fromisoformat(str(x))
    except ValueError as exc:
        raise ConfigError(f"{what} takes a date as YYYY-MM-DD, not {x!r}") from exc


def _html_table(frame: pl.DataFrame, limit: int = 60) -> str:
    from html import escape

    shown = frame.head(limit)
    head = "".join(f"<th>{escape(c)}</th>" for c in shown.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in shown.iter_rows()
    )
    more = f"<p>{frame.height - limit} more rows</p>" if frame.height > limit else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


@dataclass(frozen=True)
class Table:
    """A table with the dates it covers, its synthetic label, warnings and summary numbers."""

    frame: pl.DataFrame
    title: str
    start: dt.date | None = None
    end: dt.date | None = None
    as_of: dt.date | None = None
    label: str | None = None
    warnings: tuple[str, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.frame.height

    def to_pandas(self) -> pd.DataFrame:
        """The frame as pandas (needs pandas installed)."""
        return self.frame.to_pandas()

    def to_csv(self, path: str | Path) -> Path:
        """Write the frame as CSV, safe to open in a spreadsheet (no cell runs as a formula)."""
        from etfflow.safety import write_csv_safe
        from etfflow.views import csv_ready

        p = Path(path).expanduser()
        try:
            write_csv_safe(csv_ready(self.frame), p)
        except OSError as exc:
            raise StoreError(f"cannot write {p}: {exc}") from exc
        return p

    def to_parquet(self, path: str | Path) -> Path:
        """Write the frame as Parquet."""
        p = Path(path).expanduser()
        _write(p, self.frame.write_parquet)
        return p

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN as null)."""
        return {
            "title": self.title,
            "label": self.label,
            "start": self.start,
            "end": self.end,
            "as_of": self.as_of,
            "warnings": list(self.warnings),
            **self.summary,
            "rows": self.frame.with_columns(pl.col(pl.Float64).fill_nan(None)).to_dicts(),
        }

    def _repr_html_(self) -> str:
        from html import escape

        label = f"<p><strong>{escape(self.label)}</strong></p>" if self.label else ""
        warn = "".join(f"<p>warning: {escape(w)}</p>" for w in self.warnings)
        return f"{label}<p><strong>{escape(self.title)}</strong></p>{warn}{_html_table(self.frame)}"


def _write(path: Path, writer: Any) -> None:
    """Write through a temporary file in the same folder, then rename (never a half-written file)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        writer(tmp)
        tmp.replace(path)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc}") from exc


@dataclass(frozen=True)
class Report:
    """The dated flow report: `.markdown`, `.html`, `.to_dict()`, `.frame` (the sector table), `.data`."""

    data: FlowReport

    @property
    def markdown(self) -> str:
        """The report as Markdown."""
        from etfflow.report.markdown import render_markdown

        return render_markdown(self.data)

    @property
    def html(self) -> str:
        """The report as one self-contained HTML document."""
        from etfflow.report.html import render_html

        return render_html(self.data)

    def to_dict(self) -> dict[str, Any]:
        """Every number of the report as data."""
        out: dict[str, Any] = self.data.as_dict()
        return out

    @property
    def frame(self) -> pl.DataFrame:
        """The report's sector table (sector, cycle, flow_usd, aum_start_usd, flow_pct_aum, funds, ...)."""
        return self.data.sectors.table

    def to_pandas(self) -> pd.DataFrame:
        """The sector table as pandas."""
        return self.frame.to_pandas()

    def _repr_html_(self) -> str:
        from etfflow.report.markup import markdown_to_html

        return markdown_to_html(self.markdown.splitlines())


@dataclass(frozen=True)
class Backtest:
    """One strategy run: `.stats`, `.frame` (daily returns, benchmark, equity), `.markdown`, `.to_dict()`."""

    run: StrategyRun
    basis: str | None = None

    @property
    def stats(self) -> dict[str, float]:
        """Headline statistics (`_return` and `_pct` values are fractions)."""
        return dict(self.run.stats)

    @property
    def frame(self) -> pl.DataFrame:
        """Daily: date, returns, gross, benchmark, turnover, exposure, net_exposure, equity."""
        f = self.run.result.to_frame()
        return f.with_columns(
            (1.0 + pl.col("returns").fill_nan(0.0)).cum_prod().alias("equity"),
            (1.0 + pl.col("benchmark").fill_nan(0.0)).cum_prod().alias("benchmark_equity"),
        )

    @property
    def markdown(self) -> str:
        """The tearsheet as Markdown."""
        from etfflow.backtest.tearsheet import Tearsheet, render_markdown

        return render_markdown(Tearsheet([self.run], basis=self.basis))

    def to_dict(self) -> dict[str, Any]:
        """The tearsheet's JSON document (without the daily series)."""
        from etfflow.backtest.tearsheet import Tearsheet, render_json

        return render_json(Tearsheet([self.run], basis=self.basis), series=False)

    def to_pandas(self) -> pd.DataFrame:
        """The daily frame as pandas."""
        return self.frame.to_pandas()

    def _repr_html_(self) -> str:
        from etfflow.report.markup import markdown_to_html

        return markdown_to_html(self.markdown.splitlines())


# --- warehouses ----------------------------------------------------------------------------------


def locate(db: str | Path | None = None) -> tuple[Path, str | None]:
    """The warehouse to read and a note when it is not the one asked for.

    `db`, else $ETFFLOW_DB, else ~/.etfflow/etfflow.duckdb; when that default does not exist but the
    demo warehouse (~/.etfflow/demo.duckdb) does, the demo warehouse, with a note that says so.
    """
    if db is not None or os.environ.get("ETFFLOW_DB"):
        return resolve_db_path(db), None
    path = resolve_db_path(None)
    demo = DEMO_DB.expanduser()
    if not path.exists() and demo.exists():
        return demo, (
            f"no warehouse at {path}: using the SYNTHETIC demo warehouse {demo} "
            "(give --db or set ETFFLOW_DB to choose another)"
        )
    return path, None


_CURRENT: list[Warehouse] = []


def open(path: str | Path | None = None, *, read_only: bool = True, create: bool = False) -> Warehouse:
    """A warehouse file, read-only unless `read_only=False`; a missing file is an error unless `create`.

    Without `path`: $ETFFLOW_DB, else ~/.etfflow/etfflow.duckdb, else the demo warehouse. The
    warehouse becomes the default of `ef.flows`, `ef.top`, ... (each also takes `db=`).
    """
    p, note = locate(path)
    if not p.exists():
        if not create:
            raise NotFoundError(f"no warehouse at {p} (ef.open(path, create=True) makes a new one)")
        Store(p).close()
    wh = Warehouse(p, read_only=read_only and not create, note=note)
    _CURRENT[:] = [wh]
    return wh


def _rows_sql(flow_source: str) -> str:
    """Trade date, ticker and availability of the rows a flow source can use, for bounds only.

    Vendor rows count as known on their own date here (they become known the next session): bounds
    may be one session generous; the rows themselves are filtered on their real `available_on`.
    """
    from etfflow.flows.source import parse_flow_source

    kind = parse_flow_source(flow_source).kind
    comp = "SELECT date, ticker, available_on FROM flows_daily"
    vend = "SELECT date, ticker, date AS available_on FROM vendor_flows"
    body = {"computed": comp, "vendor": vend}.get(kind, f"{comp} UNION ALL {vend}")
    return f"({body}) AS r"


def _load(
    store: Store,
    tickers: list[str] | None,
    start: dt.date | None,
    end: dt.date | None,
    flow_source: str,
) -> pl.DataFrame:
    from etfflow.pipeline import load_flows

    return load_flows(store, tickers=tickers, start=start, end=end, flow_source=flow_source)[0]


def _source_summary(f: pl.DataFrame) -> dict[str, Any]:
    from etfflow.flows.source import describe_sources, flow_sources, source_notes

    return {"flow_sources": flow_sources(f), "sources": describe_sources(f), "notes": source_notes(f)}


def _tickers(tickers: str | Sequence[str]) -> list[str]:
    items = [tickers] if isinstance(tickers, str) else list(tickers)
    out: list[str] = []
    for item in items:
        for t in item.replace(",", " ").split():
            if t.upper() not in out:
                out.append(t.upper())
    if not out:
        raise ConfigError("name at least one ticker")
    return out


@dataclass(frozen=True)
class _Selection:
    flows: pl.DataFrame
    lo: dt.date
    hi: dt.date
    warnings: list[str]


class Warehouse:
    """One warehouse file; each method opens it for the length of the call."""

    def __init__(self, path: Path, *, read_only: bool = True, note: str | None = None) -> None:
        self.path = path
        self.read_only = read_only
        self.note = note

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "read-write"
        return f"Warehouse({str(self.path)!r}, {mode})"

    @contextmanager
    def connect(self) -> Iterator[Store]:
        """The `Store` for one block of work."""
        with Store(self.path, read_only=self.read_only) as store:
            yield store

    def _noted(self, table: Table) -> Table:
        """The table with this warehouse's note (e.g. "using the SYNTHETIC demo warehouse") first."""
        if not self.note:
            return table
        return dataclasses.replace(table, warnings=(self.note, *table.warnings))

    @property
    def label(self) -> str | None:
        """The SYNTHETIC label when the warehouse holds demo data."""
        from etfflow.pipeline import synthetic_label

        with self.connect() as store:
            return synthetic_label(store)

    # --- selection ----------------------------------------------------------------------------

    def _select(
        self,
        store: Store,
        *,
        window: int,
        as_of: dt.date | None,
        start: dt.date | None,
        end: dt.date | None,
        tickers: list[str] | None = None,
        flow_source: str = "best",
    ) -> _Selection:
        """Flows of the last `window` sessions (or of start..end), known by `as_of`, with warnings."""
        from etfflow.views import sessions_between, window_start

        if start and end and start > end:
            raise ConfigError(f"the start {start} is after the end {end}")
        where = " WHERE ticker IN (SELECT unnest(?))" if tickers else ""
        params: list[Any] = [tickers] if tickers else []
        rows = _rows_sql(flow_source)
        b = store.query(
            f"SELECT min(date) AS lo, max(date) AS hi, max(available_on) AS known FROM {rows}" + where,
            params,
        )
        data_lo, data_hi, known = b["lo"][0], b["hi"][0], b["known"][0]
        if data_lo is None:
            if tickers:
                shown = ", ".join(tickers[:12]) + (" ..." if len(tickers) > 12 else "")
                raise NotFoundError(f"none of these funds has flows in {store.path}: {shown}")
            raise NotFoundError(f"no flows in {store.path}: import data or run `etfflow demo` first")
        warnings: list[str] = []
        newest = data_hi
        if as_of is not None:
            k = store.query(
                f"SELECT max(date) AS d FROM {rows} WHERE available_on <= ?" + where.replace("WHERE", "AND"),
                [as_of, *params],
            )["d"][0]
            if k is None:
                raise NotFoundError(
                    f"no flow was known by {as_of}: the warehouse's flows run from {data_lo} to {data_hi}"
                )
            newest = k
            if known is not None and as_of > known and sessions_between(known, as_of) > 1:
                warnings.append(
                    f"as of {as_of}: the newest flow became known on {known} "
                    f"({sessions_between(known, as_of) - 1} sessions earlier); the figures stop at {newest}"
                )
        if start is not None or end is not None:
            lo = start or data_lo
            hi = min(end, newest) if end is not None else newest
            if end is not None and end > data_hi:
                warnings.append(f"the end {end} is after the newest flow in the warehouse ({data_hi})")
        else:
            hi = newest
            lo = window_start(hi, window)
        f = _load(store, tickers, lo, hi, flow_source)
        if as_of is not None:
            f = f.filter(pl.col("available_on") <= as_of)
        if f.height == 0:
            known_by = f" known by {as_of}" if as_of else ""
            raise NotFoundError(
                f"no flows between {lo} and {hi}{known_by}; the warehouse holds flows "
                f"from {data_lo} to {data_hi}"
            )
        n_all = int(store.query(f"SELECT count(DISTINCT ticker) AS n FROM {rows}" + where, params)["n"][0])
        n_in = f["ticker"].n_unique()
        if n_in < n_all:
            warnings.append(
                f"{n_all - n_in} of {n_all} funds have no flows in {lo} .. {hi} "
                "(their data ends earlier or starts later: use --as-of or --start/--end)"
            )
        return _Selection(f, lo, hi, warnings)

    # --- tables --------------------------------------------------------------------------------

    def flows(
        self,
        tickers: str | Sequence[str],
        start: DateLike = None,
        end: DateLike = None,
        freq: str = "d",
        *,
        as_of: DateLike = None,
        flow_source: str = "best",
    ) -> Table:
        """Flows of one or more funds: daily rows, or weekly/monthly sums marked partial where incomplete.

        Amounts are in each fund's currency (`summary["currency"]`); funds of two currencies get no
        combined total. `flow_source`: computed, vendor[:NAME] or best (see `etfflow.flows.source`).
        """
        from etfflow import calendar
        from etfflow.market_data import market_columns
        from etfflow.pipeline import funds_table, synthetic_label
        from etfflow.views import daily_view, period_view, sessions_between

        if freq not in _FREQ_NAMES:
            raise ConfigError(f"freq takes d, w or m, not {freq!r}")
        ts = _tickers(tickers)
        s, e, a = _date(start, "start"), _date(end, "end"), _date(as_of, "as_of")
        if s and e and s > e:
            raise ConfigError(f"the start {s} is after the end {e}")
        with self.connect() as store:
            label = synthetic_label(store)
            cov = store.query(
                "SELECT ticker, min(date) AS lo, max(date) AS hi, max(available_on) AS known "
                f"FROM {_rows_sql(flow_source)} WHERE ticker IN (SELECT unnest(?)) GROUP BY ticker",
                [ts],
            )
            f = _load(store, ts, s, e, flow_source)
            funds = funds_table(store)
            if freq == "d":  # the tracker's columns: price, volume, divergence, creation units, mechanical
                f = market_columns(store, f)
        span = {r["ticker"]: (r["lo"], r["hi"], r["known"]) for r in cov.iter_rows(named=True)}
        if not span:
            raise NotFoundError(f"no flows for {', '.join(ts)} in {self.path} (import their data first)")
        if a is not None:
            f = f.filter(pl.col("available_on") <= a)
        warnings: list[str] = []
        for t in ts:
            if t not in span:
                warnings.append(f"no flows for {t} in the warehouse (import its data first)")
        have = set(f["ticker"].unique().to_list())
        ranged = f"between {s or 'the start'} and {e or 'the end'}" + (f" known by {a}" if a else "")
        for t in ts:
            if t in span and t not in have:
                lo, hi, _ = span[t]
                warnings.append(f"no flows for {t} {ranged}: its flows run from {lo} to {hi}")
        if f.height == 0:
            raise NotFoundError("; ".join(warnings))
        newest_known = max(k for t, (_, _, k) in span.items() if t in have)
        if a is not None and a > newest_known and sessions_between(newest_known, a) > 1:
            warnings.append(
                f"as of {a}: the newest flow of {', '.join(sorted(have))} became known on {newest_known}"
            )
        if e is not None and all(e > span[t][1] for t in have):
            warnings.append(f"the end {e} is after the newest flow ({max(span[t][1] for t in have)})")
        markets = calendar.fund_markets(funds, sorted(have))
        currency = calendar.fund_currencies(funds, sorted(have))
        coverage: dict[str, tuple[dt.date, dt.date]] = {}
        for t in sorted(have):
            rows = f.filter(pl.col("ticker") == t)
            lo, hi, _ = span[t]
            last = rows["date"].max() if a is not None else hi
            assert isinstance(last, dt.date)
            c_lo, c_hi = (max(s, lo) if s else lo), (min(e, last) if e else last)
            sess = calendar.sessions(c_lo, c_hi, markets[t])  # the span runs from session to session
            if len(sess):
                c_lo = dt.date.fromisoformat(str(sess[0]))
                c_hi = dt.date.fromisoformat(str(sess[-1]))
            coverage[t] = (c_lo, c_hi)
        if freq == "d":
            frame = daily_view(f)
            totals = frame.filter(pl.col("counted")).group_by("ticker").agg(pl.col("flow_usd").sum())
            excluded = frame.filter(~pl.col("counted")).height
        else:
            frame = period_view(f, freq, coverage, markets=markets)
            totals = frame.group_by("ticker").agg(pl.col("flow_usd").sum())
            excluded = int(frame["unknown_days"].sum())
        per_fund = {t: float(v) for t, v in zip(totals["ticker"], totals["flow_usd"], strict=True)}
        first = min(lo for lo, _ in coverage.values())
        last = max(hi for _, hi in coverage.values())
        one_currency = len(set(currency.values())) == 1
        summary: dict[str, Any] = {
            "tickers": ts,
            "freq": freq,
            "currency": next(iter(currency.values())) if one_currency else None,
            "currency_by_fund": currency,
            "flow_source": next(iter(_source_summary(f)["flow_sources"].values()))
            if len(have) == 1
            else None,
            # amounts of two currencies are never added
            "net_flow_usd": float(sum(per_fund.values())) if one_currency else None,
            "net_flow_usd_by_fund": {t: per_fund.get(t, 0.0) for t in sorted(have)},
            "rows_not_counted": excluded,
            "coverage": {t: {"start": lo, "end": hi} for t, (lo, hi) in coverage.items()},
            **_source_summary(f),
        }
        if freq != "d":
            summary["partial_periods"] = int(frame["partial"].sum())
            summary["periods_with_unknown_flows"] = int((frame["unknown_days"] > 0).sum())
        amounts = f"amounts in {summary['currency']}" if one_currency else "amounts in each fund's currency"
        title = (
            f"{'+'.join(t for t in ts if t in have)} flows ({_FREQ_NAMES[freq]}), {first} .. {last}"
            + (f", known by {a}" if a else "")
            + f"; {amounts}"
        )
        return self._noted(Table(frame, title, first, last, a, label, tuple(warnings), summary))

    def top(
        self,
        window: int = 5,
        n: int = 10,
        by: str = "usd",
        *,
        category: str | None = None,
        as_of: DateLike = None,
        start: DateLike = None,
        end: DateLike = None,
        all_rows: bool = False,
        market: str | None = None,
        flow_source: str = "best",
    ) -> Table:
        """Largest inflows and outflows over the window (or start..end): side, rank, fund, amount, % AUM.

        Amounts are in each fund's `currency`; ranking amounts of two currencies is refused (rank by
        pct, or keep one `market`: US or CN).
        """
        from etfflow import calendar
        from etfflow.flows.source import with_flow_source
        from etfflow.pipeline import funds_table, synthetic_label
        from etfflow.signals.overview import top_flows, window_totals
        from etfflow.signals.tracker import category_tickers

        key = {"usd": "flow_usd", "pct": "flow_pct_aum"}.get(by)
        if key is None:
            raise ConfigError(f"by takes usd or pct, not {by!r}")
        a = _date(as_of, "as_of")
        with self.connect() as store:
            label = synthetic_label(store)
            funds = funds_table(store)
            only = None
            if market:
                every = store.query(f"SELECT DISTINCT ticker FROM {_rows_sql(flow_source)}")["ticker"]
                mk = calendar.fund_markets(funds, every.to_list())
                only = sorted(t for t, m in mk.items() if m == market.upper())
                if not only:
                    raise NotFoundError(f"no funds of market {market.upper()} with flows in {self.path}")
            sel = self._select(
                store,
                window=window,
                as_of=a,
                start=_date(start, "start"),
                end=_date(end, "end"),
                tickers=only,
                flow_source=flow_source,
            )
        totals = with_flow_source(window_totals(sel.flows, funds, window=_ALL), sel.flows)
        if category:  # a category (sector, ...) or an asset class (equity, bond, ...)
            totals = totals.filter(pl.col("ticker").is_in(category_tickers(funds, category)))
            if totals.height == 0:
                cats = sorted(set(funds["category"].drop_nulls().to_list()))
                raise NotFoundError(
                    f"no funds of category {category!r} with flows in {sel.lo} .. {sel.hi}; "
                    f"categories: {', '.join(cats)}"
                )
        valid = totals.filter(pl.col(key).is_not_null() & pl.col(key).is_not_nan())
        if all_rows and by == "usd":
            top_flows(valid, n=0, by=key)  # refuses to rank amounts of two currencies
        if all_rows:
            ranked = valid.sort(key, descending=True)
            parts = [
                ranked.filter(pl.col(key) > 0).with_columns(pl.lit("inflow").alias("side")),
                ranked.filter(pl.col(key) <= 0)
                .sort(key)
                .with_columns(
                    pl.when(pl.col(key) < 0).then(pl.lit("outflow")).otherwise(pl.lit("none")).alias("side")
                ),
            ]
        else:
            ins, outs = top_flows(totals, n=n, by=key)
            parts = [
                ins.with_columns(pl.lit("inflow").alias("side")),
                outs.with_columns(pl.lit("outflow").alias("side")),
            ]
        cols = [
            "side",
            "rank",
            "ticker",
            "name",
            "category",
            "group",
            "flow_usd",
            "currency",
            "flow_pct_aum",
            "aum_start_usd",
            "days",
            "start",
            "end",
            "flow_source",
        ]
        frame = pl.concat(
            [
                p.with_columns(pl.int_range(1, pl.len() + 1).cast(pl.Int32).alias("rank")).select(cols)
                for p in parts
            ]
        )
        span = f"{sel.lo} .. {sel.hi}"
        title = f"Top flows by {'$' if by == 'usd' else '% of AUM'}, {span}" + (
            f", known by {a}" if a else ""
        )
        summary = {
            "window": window,
            "by": by,
            "category": category,
            "market": market.upper() if market else None,
            "funds_ranked": valid.height,
            **_source_summary(sel.flows),
        }
        return self._noted(Table(frame, title, sel.lo, sel.hi, a, label, tuple(sel.warnings), summary))

    def sectors(
        self,
        window: int = 5,
        *,
        as_of: DateLike = None,
        start: DateLike = None,
        end: DateLike = None,
        flow_source: str = "best",
    ) -> Table:
        """Net flow per sector, breadth and the cyclical/defensive ratio (0-1, 0.5 balanced) with bands."""
        from etfflow.pipeline import funds_table, synthetic_label
        from etfflow.signals.common import jsonable
        from etfflow.signals.overview import window_totals
        from etfflow.signals.sectors import BREADTH_BANDS, CD_BANDS, sector_rotation

        a = _date(as_of, "as_of")
        with self.connect() as store:
            label = synthetic_label(store)
            funds = funds_table(store)
            sector_tickers = funds.filter(pl.col("category") == "sector")["ticker"].to_list()
            sel = self._select(
                store,
                window=window,
                as_of=a,
                start=_date(start, "start"),
                end=_date(end, "end"),
                tickers=sector_tickers,
                flow_source=flow_source,
            )
        snap = sector_rotation(window_totals(sel.flows, None, window=_ALL), funds)
        frame = snap.table.select(
            "sector", "cycle", "cycle_phase", "flow_usd", "aum_start_usd", "flow_pct_aum", "funds"
        )
        summary: dict[str, Any] = {
            k: jsonable(getattr(snap, k))
            for k in (
                "sectors",
                "positive",
                "breadth",
                "breadth_band",
                "cyclical_usd",
                "defensive_usd",
                "cd_ratio",
                "cd_band",
                "phase",
                "phase_scores",
                "leaders",
                "laggards",
                "missing",
                "expected",
            )
        }
        summary["net_flow_usd"] = float(frame["flow_usd"].sum())
        summary["breadth_bands"] = {"broad": BREADTH_BANDS[0], "narrow": BREADTH_BANDS[1]}
        summary["cd_bands"] = {"cyclical": CD_BANDS[0], "defensive": CD_BANDS[1]}
        summary["window"] = window
        summary.update(_source_summary(sel.flows))
        title = f"Sector net flows, {sel.lo} .. {sel.hi}" + (f", known by {a}" if a else "")
        return self._noted(Table(frame, title, sel.lo, sel.hi, a, label, tuple(sel.warnings), summary))

    def quality(
        self,
        tickers: str | Sequence[str] | None = None,
        *,
        as_of: DateLike = None,
        start: DateLike = None,
        end: DateLike = None,
        flow_source: str = "best",
    ) -> Table:
        """Every quality flag with its row and fund counts, first and last date, and each (fund, date)."""
        from etfflow.flows.flags import Flag
        from etfflow.pipeline import synthetic_label

        ts = _tickers(tickers) if tickers else None
        s, e, a = _date(start, "start"), _date(end, "end"), _date(as_of, "as_of")
        if s and e and s > e:
            raise ConfigError(f"the start {s} is after the end {e}")
        with self.connect() as store:
            label = synthetic_label(store)
            b = store.query(
                f"SELECT min(date) AS lo, max(date) AS hi FROM {_rows_sql(flow_source)}"
                + (" WHERE ticker IN (SELECT unnest(?))" if ts else ""),
                [ts] if ts else [],
            )
            f = _load(store, ts, s, e, flow_source)
        who = ", ".join(ts) if ts else "any fund"
        if b["lo"][0] is None:
            raise NotFoundError(f"no flows for {who} in {self.path} (import their data first)")
        if a is not None:
            f = f.filter(pl.col("available_on") <= a)
        if f.height == 0:
            raise NotFoundError(
                f"no flows for {who} between {s or 'the start'} and {e or 'the end'}"
                + (f" known by {a}" if a else "")
                + f"; the flows run from {b['lo'][0]} to {b['hi'][0]}"
            )
        rows: list[dict[str, Any]] = []
        for flag in Flag:
            hit = f.filter((pl.col("flags") & int(flag.value)) != 0).sort("date", "ticker")
            if hit.height == 0:
                continue
            rows.append(
                {
                    "flag": (flag.name or "").lower(),
                    "rows": hit.height,
                    "funds": hit["ticker"].n_unique(),
                    "first": hit["date"].min(),
                    "last": hit["date"].max(),
                    "dates": [f"{r['ticker']} {r['date']}" for r in hit.iter_rows(named=True)],
                }
            )
        schema: dict[str, Any] = {
            "flag": pl.String,
            "rows": pl.Int64,
            "funds": pl.Int64,
            "first": pl.Date,
            "last": pl.Date,
            "dates": pl.List(pl.String),
        }
        frame = pl.DataFrame(rows, schema=schema)
        lo, hi = f["date"].min(), f["date"].max()
        assert isinstance(lo, dt.date) and isinstance(hi, dt.date)
        title = f"Quality flags of {who if ts else 'all funds'}, {lo} .. {hi}" + (
            f", known by {a}" if a else ""
        )
        summary = {"tickers": ts, "flow_rows": f.height, **_source_summary(f)}
        return self._noted(Table(frame, title, lo, hi, a, label, (), summary))

    def report(
        self,
        as_of: DateLike = None,
        window: int = 5,
        *,
        start: DateLike = None,
        end: DateLike = None,
        flow_source: str = "best",
    ) -> Report:
        """The dated flow report; `start`/`end` set its window to those trade dates (see `report_span`)."""
        from etfflow.report.build import report_from_store

        a, s, e = _date(as_of, "as_of"), _date(start, "start"), _date(end, "end")
        with self.connect() as store:
            a2, w2 = report_span(store, a, window, s, e)
            return Report(report_from_store(store, as_of=a2, window=w2, flow_source=flow_source))

    def backtest(self, strategy: str, preset: str | None = None, **kwargs: Any) -> Backtest:
        """A strategy on this warehouse (see `etfflow.api.backtest`)."""
        return backtest(strategy, preset, db=self, **kwargs)


def report_span(
    store: Store, as_of: dt.date | None, window: int, start: dt.date | None, end: dt.date | None
) -> tuple[dt.date | None, int]:
    """The report's as-of date and window for a start..end range of trade dates.

    The window becomes the sessions from `start` to `end` (the end defaults to the newest flow); the
    as-of date, unless given, the day the last flow dated on or before `end` became known.
    """
    from etfflow.views import sessions_between

    if start is None and end is None:
        return as_of, window
    if start and end and start > end:
        raise ConfigError(f"the start {start} is after the end {end}")
    b = store.query(
        "SELECT max(date) AS hi, max(available_on) AS known FROM flows_daily"
        + (" WHERE date <= ?" if end else ""),
        [end] if end else [],
    )
    hi, known = b["hi"][0], b["known"][0]
    if hi is None:
        raise NotFoundError(f"no flows on or before {end} in {store.path}")
    last = min(end, hi) if end else hi
    first = start or last
    if first > last:
        raise NotFoundError(f"no flows between {start} and {end or 'the end'}: the newest flow is dated {hi}")
    return (as_of or known), max(1, sessions_between(first, last))


def stale_warning(store: Store, as_of: dt.date | None) -> str | None:
    """A warning when `as_of` lies more than a session after the newest flow became known."""
    from etfflow.views import sessions_between

    if as_of is None:
        return None
    known = store.query("SELECT max(available_on) AS k, max(date) AS d FROM flows_daily")
    k, d = known["k"][0], known["d"][0]
    if k is None or as_of <= k or sessions_between(k, as_of) <= 1:
        return None
    return (
        f"as of {as_of}: the newest flow became known on {k} "
        f"({sessions_between(k, as_of) - 1} sessions earlier); the figures stop at {d}"
    )


# --- module-level calls (the notebook front door) -----------------------------------------------


def _wh(db: Warehouse | str | Path | None) -> Warehouse:
    if isinstance(db, Warehouse):
        return db
    if db is not None:
        return open(db)
    if _CURRENT:
        return _CURRENT[0]
    return open()


def flows(
    tickers: str | Sequence[str],
    start: DateLike = None,
    end: DateLike = None,
    freq: str = "d",
    *,
    as_of: DateLike = None,
    flow_source: str = "best",
    db: Warehouse | str | Path | None = None,
) -> Table:
    """Flows of one or more funds in $ and as a fraction of prior AUM (see `Warehouse.flows`)."""
    return _wh(db).flows(tickers, start, end, freq, as_of=as_of, flow_source=flow_source)


def top(
    window: int = 5,
    n: int = 10,
    by: str = "usd",
    *,
    category: str | None = None,
    as_of: DateLike = None,
    start: DateLike = None,
    end: DateLike = None,
    all_rows: bool = False,
    market: str | None = None,
    flow_source: str = "best",
    db: Warehouse | str | Path | None = None,
) -> Table:
    """Largest inflows and outflows (see `Warehouse.top`)."""
    return _wh(db).top(
        window,
        n,
        by,
        category=category,
        as_of=as_of,
        start=start,
        end=end,
        all_rows=all_rows,
        market=market,
        flow_source=flow_source,
    )


def sectors(
    window: int = 5,
    *,
    as_of: DateLike = None,
    start: DateLike = None,
    end: DateLike = None,
    flow_source: str = "best",
    db: Warehouse | str | Path | None = None,
) -> Table:
    """Sector net flows, breadth and the cyclical/defensive ratio (see `Warehouse.sectors`)."""
    return _wh(db).sectors(window, as_of=as_of, start=start, end=end, flow_source=flow_source)


def quality(
    tickers: str | Sequence[str] | None = None,
    *,
    as_of: DateLike = None,
    start: DateLike = None,
    end: DateLike = None,
    flow_source: str = "best",
    db: Warehouse | str | Path | None = None,
) -> Table:
    """Quality flags with counts and dates (see `Warehouse.quality`)."""
    return _wh(db).quality(tickers, as_of=as_of, start=start, end=end, flow_source=flow_source)


def report(
    as_of: DateLike = None,
    window: int = 5,
    *,
    start: DateLike = None,
    end: DateLike = None,
    flow_source: str = "best",
    db: Warehouse | str | Path | None = None,
) -> Report:
    """The dated flow report (see `Warehouse.report`)."""
    return _wh(db).report(as_of, window, start=start, end=end, flow_source=flow_source)


def backtest(
    strategy: str,
    preset: str | None = None,
    *,
    demo: str | None = None,
    seed: int = 7,
    tickers: str | Sequence[str] | None = None,
    universe: str | None = None,
    basis: str | None = None,
    prices: pl.DataFrame | None = None,
    start: DateLike = None,
    end: DateLike = None,
    n_boot: int = 2000,
    flow_source: str = "best",
    db: Warehouse | str | Path | None = None,
    **params: Any,
) -> Backtest:
    """Backtest a strategy or preset on the warehouse, or on a fresh SYNTHETIC market (`demo=preset`).

    `params` override the preset's fields (window, threshold, freq, side, cost_bps, ...).
    """
    from etfflow.backtest import strategies as st

    spec, p = st.resolve(strategy, preset, **params)
    name = preset or (strategy if strategy in st.PRESETS else st.DEFAULT_PRESET[spec.name])
    tick = _tickers(tickers) if tickers else None
    uni = universe or ("funds" if tick else spec.universe)
    s, e = _date(start, "start"), _date(end, "end")
    panel, basis_text = build_panel(
        demo=demo,
        seed=seed,
        db=None if demo else _wh(db).path,
        tickers=tick,
        basis=basis,
        prices=prices,
        start=s,
        end=e,
        universe=uni,
        flow_source=flow_source,
    )
    run = st.run_strategy(
        panel,
        spec.name,
        name,
        params=p,
        start=None if demo else s,
        end=None if demo else e,
        n_boot=n_boot,
        universe=uni if uni == "sectors" else "",
    )
    return Backtest(run, basis_text)


def build_panel(
    *,
    demo: str | None,
    seed: int,
    db: Path | None,
    tickers: list[str] | None,
    basis: str | None,
    prices: pl.DataFrame | None,
    start: dt.date | str | None,
    end: dt.date | str | None,
    universe: str,
    flow_source: str = "best",
) -> tuple[Any, str]:
    """The strategy panel (demo market or warehouse) and a sentence saying what its returns are."""
    from etfflow.backtest import data

    if universe not in ("sectors", "funds"):
        raise ConfigError(f"universe must be sectors or funds, not {universe!r}")
    sector_funds: list[str] | None = None
    if universe == "sectors":
        from etfflow.universe import load_taxonomy

        tax = load_taxonomy()
        sector_funds = sorted(tax.filter(pl.col("category") == "sector")["ticker"].to_list())
    if demo is not None:
        from etfflow.sources.demo import build_demo

        market = build_demo(demo, seed, start=start, end=end)
        only = sector_funds if sector_funds is not None else tickers
        panel = data.panel_from_demo(market, tickers=only, basis=basis)  # type: ignore[arg-type]
        funds = market.funds
        daily = market.daily
    else:
        from etfflow.pipeline import funds_table

        with Store(db, read_only=True) as store:
            only = tickers
            if sector_funds is not None:  # the sector funds the warehouse (or a price file) has
                have = set(store.query("SELECT DISTINCT ticker FROM daily")["ticker"].to_list())
                if prices is not None:
                    have |= set(prices["ticker"].to_list())
                only = [t for t in sector_funds if t in have] or None
            panel = data.panel_from_store(  # only the funds used: notes count only them
                store,
                tickers=only,
                basis=basis,  # type: ignore[arg-type]
                prices=prices,
                flow_source=flow_source,
            )
            funds = funds_table(store)
            daily = store.query(
                "SELECT ticker, count(distribution) AS n FROM daily WHERE distribution IS NOT NULL "
                "AND distribution <> 0 GROUP BY ticker"
            )
    if universe == "sectors":
        panel = data.sector_panel(panel, funds)
    elif tickers:
        panel = panel.select(tickers)
    return panel, return_basis(panel.basis, _distributions(daily), panel)


def _distributions(daily: pl.DataFrame) -> dict[str, int]:
    """Distributions per fund (non-zero cash amounts) in a daily frame or a (ticker, n) count frame."""
    if "n" in daily.columns:
        return {t: int(n) for t, n in zip(daily["ticker"], daily["n"], strict=True)}
    if "distribution" not in daily.columns:
        return {}
    d = daily.filter(pl.col("distribution").is_not_null() & (pl.col("distribution") != 0))
    g = d.group_by("ticker").len()
    return {t: int(n) for t, n in zip(g["ticker"], g["len"], strict=True)}


def return_basis(basis: str, distributions: dict[str, int], panel: Any) -> str:
    """A sentence naming the return basis: NAV or close total return (distributions known) or price return."""
    members: list[str] = sorted({t for ts in getattr(panel, "members", {}).values() for t in ts})
    if basis == "prices":
        return "total return from the adjusted close of the given price files (close to close)"
    what = "NAV" if basis == "nav" else "closing price"
    with_d = [t for t in members if distributions.get(t)]
    n = sum(distributions.get(t, 0) for t in members)
    if with_d and len(with_d) == len(members):
        return f"{what} total return: {what} changes plus {n:,} distributions reinvested on their ex-dates"
    if with_d:
        without = [t for t in members if not distributions.get(t)]
        return (
            f"{what} total return where distributions are known ({len(with_d)} funds, {n:,} distributions); "
            f"{what} price return without distributions for {', '.join(without[:8])}"
            + (" ..." if len(without) > 8 else "")
            + " (understates their total return)"
        )
    return f"{what} price return: no distributions in the data, so it understates the total return"
