"""Use cases that join sources, the warehouse and the pure computations (the CLI calls these)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import polars as pl

from etfflow.checks import check_batch
from etfflow.errors import ConfigError, DataQualityError, NotFoundError
from etfflow.schema import empty, validate
from etfflow.sources.base import ImportBatch
from etfflow.store import Store, UpsertResult

if TYPE_CHECKING:
    from etfflow.flows.source import FlowSource
    from etfflow.ingest import PanelImport
    from etfflow.reconcile_daily import DailyReconciliation as ReconcileDaily

__all__ = [
    "DemoSummary",
    "ImportSummary",
    "Written",
    "check_batch",
    "file_sha256",
    "fill_nport_tickers",
    "funds_table",
    "import_paths",
    "import_vendor_flows",
    "kept_note",
    "load_demo",
    "load_flows",
    "merge_funds",
    "nport_table",
    "reconcile_daily_store",
    "reconcile_store",
    "refresh_flows",
    "synthetic_label",
    "write_batch",
]

Progress = Callable[[str, float], None]


def _noop(_msg: str, _frac: float) -> None:
    return None


@dataclass(frozen=True)
class ImportSummary:
    """What one imported file did to the warehouse (rows and counts summed over every table it wrote)."""

    file: str
    format: str
    rows: int
    added: int
    changed: int
    unchanged: int
    tickers: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    already_imported: bool = False
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    kept: int = 0  # stored values kept where the file had none (a blank never erases a stored value)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def file_sha256(path: Path) -> str:
    """Content hash of a file (streamed)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _refuse_synthetic(store: Store) -> None:
    if synthetic_label(store):
        raise ConfigError(
            f"{store.path} is a synthetic demo warehouse; import real files into another one (--db)"
        )


def import_paths(
    store: Store,
    paths: Sequence[Path],
    *,
    progress: Progress = _noop,
    **options: Any,
) -> list[ImportSummary]:
    """Import files (format from their content): write their rows and refresh the flows they affect.

    All files are written in one transaction: one bad file raises and writes nothing. Generic CSV and
    Parquet panels stream (`etfflow.ingest`: staged and checked before the transaction begins, in
    bounded memory; then set-based upserts, flows recomputed only for the funds and dates they change);
    other files are parsed whole, each when its turn to be written comes, and written with
    `write_batch`. `funds` rows are merged column by column (see `merge_funds`). A panel whose content
    was already imported with the same options is recognised by its sha256 and not read again.
    """
    from contextlib import ExitStack

    from etfflow import ingest
    from etfflow.sources.detect import detect_format, read_file

    _refuse_synthetic(store)
    # a whole-file format is parsed when its turn to be written comes (None until then): one parsed
    # file in memory at a time, however many are imported together
    plan: list[tuple[Path, ingest.StagedPanel | ingest.PanelImport | None]] = []
    out = []
    with ExitStack() as stack:  # stages are dropped, then DuckDB's memory limit restored, on every exit
        capped = False
        for i, p in enumerate(paths):
            progress(f"reading {p.name}", i / max(len(paths), 1))
            info = ingest.streamable(p, detect_format(p))
            if info is None or info.whole_file:
                plan.append((p, None))
                continue
            _check_stream_options(p, info.kind, options)
            if not capped:
                stack.enter_context(ingest.capped_memory(store))
                capped = True
            staged = ingest.stage_panel(store, p, info, index=i, progress=progress, **options)
            if isinstance(staged, ingest.StagedPanel):
                stack.callback(ingest.drop_stage, store, staged)
            plan.append((p, staged))
        with store.transaction():
            for p, item in plan:
                progress(f"writing {p.name}", 0.9)
                if isinstance(item, ingest.StagedPanel):
                    with _naming_file(p):
                        out.append(_streamed_summary(p, ingest.write_panel(store, item, progress)))
                    continue
                if isinstance(item, ingest.PanelImport):
                    out.append(_streamed_summary(p, item))
                    continue
                progress(f"parsing {p.name}", 0.9)
                batch = read_file(p, **options)
                with _naming_file(p):
                    written = write_batch(store, batch)
                new_file = store.record_file(file_sha256(p), str(p), batch.source, written.rows)
                out.append(
                    ImportSummary(
                        file=str(p),
                        format=batch.source,
                        rows=written.rows,
                        added=written.added,
                        changed=written.changed,
                        unchanged=written.unchanged,
                        tickers=written.tickers,
                        dropped=dict(batch.dropped),
                        notes=list(batch.notes) + written.notes,
                        already_imported=not new_file,
                        tables={t: _counts(r) for t, r in written.results.items()},
                        kept=written.kept,
                    )
                )
    return out


@contextmanager
def _naming_file(path: Path) -> Iterator[None]:
    """A DataQualityError raised while a file's rows and flows are written names that file (the flow
    code that finds it knows funds and dates, not files)."""
    try:
        yield
    except DataQualityError as exc:
        if str(path) in str(exc):
            raise
        raise DataQualityError(f"file {path}: {exc}") from exc


def _check_stream_options(path: Path, kind: str, options: dict[str, Any]) -> None:
    """The options the whole-file reader takes, refused as it refuses them."""
    import inspect

    from etfflow.sources.generic import read_generic_csv

    try:
        inspect.signature(read_generic_csv).bind(path, **options)
    except TypeError as exc:
        raise ConfigError(
            f"format 'generic_{kind}' does not take option(s) {sorted(options)}: {exc}"
        ) from exc


def _streamed_summary(path: Path, done: PanelImport) -> ImportSummary:
    """What streaming one generic panel did, as an ImportSummary."""
    counts = _counts(UpsertResult("daily", done.added, done.changed, done.unchanged, done.kept))
    return ImportSummary(
        file=str(path),
        format=done.source,
        rows=done.rows,
        added=done.added,
        changed=done.changed,
        unchanged=done.unchanged,
        tickers=done.tickers,
        dropped=dict(done.dropped),
        notes=done.notes + kept_note(done.kept),
        already_imported=done.already_imported,
        tables={"daily": counts},
        kept=done.kept,
    )


def _counts(r: UpsertResult) -> dict[str, int]:
    """Per-table counts; `kept`: stored values a missing one in the file left in place."""
    return {"added": r.added, "changed": r.changed, "unchanged": r.unchanged, "kept": r.kept}


def kept_note(kept: int) -> list[str]:
    """The summary note for stored values a file's missing values left in place (none when 0)."""
    if not kept:
        return []
    return [f"{kept} stored value(s) kept where the file has none (a blank never erases a stored value)"]


@dataclass(frozen=True)
class Written:
    """What `write_batch` did: upsert results per table, funds touched, flows refreshed, notes."""

    results: dict[str, UpsertResult]
    tickers: list[str]
    refreshed: list[str]
    notes: list[str]

    @property
    def rows(self) -> int:
        """Rows offered, over every table."""
        return sum(r.added + r.changed + r.unchanged for r in self.results.values())

    @property
    def added(self) -> int:
        """Rows added, over every table."""
        return sum(r.added for r in self.results.values())

    @property
    def changed(self) -> int:
        """Rows changed, over every table."""
        return sum(r.changed for r in self.results.values())

    @property
    def unchanged(self) -> int:
        """Rows left unchanged, over every table."""
        return sum(r.unchanged for r in self.results.values())

    @property
    def kept(self) -> int:
        """Stored values kept because the batch had no value for them, over every table."""
        return sum(r.kept for r in self.results.values())


def write_batch(store: Store, batch: ImportBatch, *, known_funds_only: bool | None = None) -> Written:
    """Write a batch's daily rows and tables, and refresh the flows they affect, in one transaction.

    Order: funds (so new series ids and creation units are known), daily, the other tables.
    `nport_monthly` rows without a ticker get the one fund whose series id (or, for series-less
    trusts keyed ``CIK...``, CIK) matches. Flows are recomputed for funds whose daily rows changed
    and for funds with daily rows whose creation unit changed (odd-lot flags depend on it).
    `known_funds_only` (default: only for fund id maps) keeps `funds` rows of unknown tickers out.
    """
    from etfflow.sources.sec_files import FUND_IDS_SOURCE

    batch = check_batch(store, batch)  # every value check happens before the transaction below
    if known_funds_only is None:
        known_funds_only = batch.source == FUND_IDS_SOURCE
    results: dict[str, UpsertResult] = {}
    notes: list[str] = []
    tables = dict(batch.tables)
    touched: set[str] = set()
    refresh: set[str] = set()
    with store.transaction():
        funds = tables.pop("funds", None)
        if funds is not None:
            before = _units(store)
            res, kept = merge_funds(store, funds, known_only=known_funds_only)
            results["funds"] = res
            if known_funds_only and kept < funds.height:
                notes.append(
                    f"{funds.height - kept} fund id rows skipped: tickers not in the warehouse or taxonomy"
                )
            touched |= set(funds["ticker"].to_list()) if not known_funds_only else set()
            after = _units(store)
            changed_units = {t for t in after if after.get(t) != before.get(t)}
            if changed_units:
                with_daily = _tickers_with_daily(store, sorted(changed_units))
                refresh |= with_daily
                if with_daily:
                    notes.append(
                        f"creation unit changed for {', '.join(sorted(with_daily))}: flows recomputed"
                    )
        daily = batch.daily
        if daily.height:
            res = store.upsert("daily", daily, file=batch.file)
            results["daily"] = res
            daily_tickers = set(daily["ticker"].to_list())
            touched |= daily_tickers
            if res.added or res.changed:
                refresh |= daily_tickers
        elif "daily" not in results and not tables and funds is None:
            results["daily"] = UpsertResult("daily", 0, 0, 0)
        if "sec_ids" in tables:  # before N-PORT rows, which are named by it
            from etfflow.secmap import merge_sec_ids

            results["sec_ids"] = merge_sec_ids(store, tables.pop("sec_ids"), file=batch.file)
        for name, rows in tables.items():
            frame = fill_nport_tickers(store, rows) if name == "nport_monthly" else rows
            if name == "nport_monthly":
                touched |= set(frame["ticker"].drop_nulls().to_list())
            results[name] = store.upsert(name, frame, file=batch.file)
        if refresh:
            refresh_flows(store, sorted(refresh))
    notes += kept_note(sum(r.kept for r in results.values()))
    return Written(results, sorted(touched), sorted(refresh), notes)


def _units(store: Store) -> dict[str, int | None]:
    f = funds_table(store)
    return dict(zip(f["ticker"].to_list(), f["creation_unit_shares"].to_list(), strict=True))


def _tickers_with_daily(store: Store, tickers: list[str]) -> set[str]:
    got = store.query("SELECT DISTINCT ticker FROM daily WHERE ticker IN (SELECT unnest(?))", [tickers])
    return set(got["ticker"].to_list())


def merge_funds(store: Store, frame: pl.DataFrame, *, known_only: bool = False) -> tuple[UpsertResult, int]:
    """Upsert partial `funds` rows column by column: a new non-null value wins, a null keeps what is stored.

    With `known_only`, rows of tickers that are neither stored, in the taxonomy nor in `daily` are
    left out. Returns the upsert result and the number of rows written.
    """
    from etfflow.universe import load_taxonomy

    data = validate(frame, "funds")
    if known_only:
        known = set(store.read("funds")["ticker"].to_list()) | set(load_taxonomy()["ticker"].to_list())
        known |= set(store.query("SELECT DISTINCT ticker FROM daily")["ticker"].to_list())
        data = data.filter(pl.col("ticker").is_in(sorted(known)))
    if data.height == 0:
        return UpsertResult("funds", 0, 0, 0), 0
    existing = store.read("funds", tickers=data["ticker"].to_list())
    cols = [c for c in data.columns if c != "ticker"]
    merged = data.join(existing, on="ticker", how="left", suffix="_old").select(
        "ticker", *[pl.coalesce(c, f"{c}_old").alias(c) for c in cols]
    )
    return store.upsert("funds", merged), merged.height


def fill_nport_tickers(store: Store, frame: pl.DataFrame) -> pl.DataFrame:
    """Fill null `ticker`s and names of nport_monthly rows from the funds and the SEC id map (`secmap`)."""
    from etfflow.secmap import resolve_nport

    if frame.height == 0:
        return frame
    return validate(resolve_nport(frame, funds_table(store), store.read("sec_ids")), "nport_monthly")


def refresh_flows(store: Store, tickers: list[str] | None = None) -> int:
    """Recompute `flows_daily` from `daily` for the given funds (all when None); returns rows."""
    daily = store.read("daily", tickers=tickers)
    if tickers is None:
        tickers = sorted(set(daily["ticker"].to_list()))
    from etfflow.flows.daily import compute_flows, merge_sources  # numba: only when flows are computed

    merged = merge_sources(daily) if daily.height else daily
    flows = compute_flows(merged, funds_table(store)) if merged.height else empty("flows_daily")
    return store.replace("flows_daily", flows, tickers=tickers)


@dataclass(frozen=True)
class DemoSummary:
    """What `load_demo` wrote."""

    label: str
    preset: str
    seed: int
    funds: int
    days: int
    daily_rows: int
    flow_rows: int
    start: dt.date
    end: dt.date
    upsert: UpsertResult


def load_demo(
    store: Store,
    preset: str = "default",
    seed: int = 7,
    *,
    progress: Progress = _noop,
    **kwargs: Any,
) -> DemoSummary:
    """Build the synthetic demo market and write funds, daily rows and flows in one transaction."""
    from etfflow.sources.demo import build_demo

    real = store.query("SELECT count(*) AS n FROM daily WHERE source <> 'demo'")["n"][0]
    if real:
        raise ConfigError(
            f"{store.path} holds real data; the synthetic demo must go to its own warehouse (--db)"
        )
    progress("building the synthetic market", 0.05)
    market = build_demo(preset=preset, seed=seed, **kwargs)
    progress("writing the warehouse", 0.6)
    with store.transaction():
        store.upsert("funds", market.funds)
        res = store.upsert("daily", market.daily)
        progress("computing flows", 0.8)
        rows = refresh_flows(store)
    dates = market.daily["date"]
    return DemoSummary(
        label=market.label,
        preset=preset,
        seed=seed,
        funds=market.funds.height,
        days=dates.n_unique(),
        daily_rows=market.daily.height,
        flow_rows=rows,
        start=cast(dt.date, dates.min()),
        end=cast(dt.date, dates.max()),
        upsert=res,
    )


def load_flows(
    store: Store,
    *,
    tickers: list[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    flow_source: str | FlowSource | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Daily flows from the chosen source, with `flow_source`, and the funds table.

    `flow_source`: computed, vendor, vendor:NAME or best (default; see `etfflow.flows.source`). The
    funds table is the taxonomy merged with what the warehouse knows; funds outside both have no row
    (their category is unknown).
    """
    from etfflow.flows.source import parse_flow_source, select_flows

    choice = parse_flow_source(flow_source)
    computed = (
        store.read("flows_daily", tickers=tickers, start=start, end=end)
        if choice.kind != "vendor"
        else empty("flows_daily")
    )
    if choice.kind == "computed":
        return select_flows(computed, empty("vendor_flows"), choice), funds_table(store)
    names = store.query("SELECT DISTINCT source FROM vendor_flows ORDER BY source")["source"].to_list()
    if choice.vendor is not None and choice.vendor not in names:
        raise NotFoundError(
            f"no flows from vendor {choice.vendor!r} in {store.path} "
            f"(vendors: {', '.join(names) or 'none; import a vendor flow file first'})"
        )
    vendor = store.read("vendor_flows", tickers=tickers, start=start, end=end)
    have: set[str] | None = None
    if choice.kind == "best":
        have = set(store.query("SELECT DISTINCT ticker FROM flows_daily")["ticker"].to_list())
        vendor = vendor.filter(~pl.col("ticker").is_in(sorted(have)))
    aum = _aum(store, sorted(set(vendor["ticker"].to_list())), start, end) if vendor.height else None
    flows = select_flows(computed, vendor, choice, computed_tickers=have, aum=aum)
    return flows, funds_table(store)


def _aum(store: Store, tickers: list[str], start: dt.date | None, end: dt.date | None) -> pl.DataFrame:
    """End-of-day AUM the warehouse states for the funds (total net assets, else shares x NAV or close)."""
    lo = (start - dt.timedelta(days=10)) if start else dt.date(1900, 1, 1)
    hi = end or dt.date(2999, 12, 31)
    return store.query(
        "SELECT date, ticker, max(coalesce(total_net_assets, shares_outstanding * coalesce(nav, close))) "
        "AS aum_usd FROM daily WHERE ticker IN (SELECT unnest(?)) AND date >= ? AND date <= ? "
        "GROUP BY date, ticker HAVING aum_usd IS NOT NULL",
        [tickers, lo, hi],
    )


def funds_table(store: Store) -> pl.DataFrame:
    """The funds: stored rows merged over the shipped taxonomy column by column (stored non-null wins)."""
    from etfflow.universe import load_taxonomy

    stored = store.read("funds")
    tax = load_taxonomy()
    if stored.height == 0:
        return _with_market(tax)
    cols = [c for c in tax.columns if c != "ticker"]
    both = stored.join(tax, on="ticker", how="left", suffix="_tax").select(
        "ticker", *[pl.coalesce(c, f"{c}_tax").alias(c) for c in cols]
    )
    return _with_market(pl.concat([both, tax.join(stored.select("ticker"), on="ticker", how="anti")]))


def _with_market(funds: pl.DataFrame) -> pl.DataFrame:
    """Rows without a market or currency (those stored before the columns existed): US / USD, or CN /
    CNY for exchange-form China tickers (`512880.SH`)."""
    cn = pl.col("ticker").str.contains(r"^\d{6}\.(SH|SZ)$")
    return funds.with_columns(
        pl.coalesce("market", pl.when(cn).then(pl.lit("CN")).otherwise(pl.lit("US"))).alias("market"),
        pl.coalesce("currency", pl.when(cn).then(pl.lit("CNY")).otherwise(pl.lit("USD"))).alias("currency"),
    )


def synthetic_label(store: Store) -> str | None:
    """The synthetic-data label when the warehouse holds demo rows, else None."""
    n = store.query("SELECT count(*) AS n FROM (SELECT 1 FROM daily WHERE source = 'demo' LIMIT 1)")["n"][0]
    if not n:
        return None
    return "SYNTHETIC demo data (etfflow demo market) - not market data"


def import_vendor_flows(
    store: Store,
    path: Path,
    *,
    source: str = "vendor",
    units: str | None = None,
    ticker: str | None = None,
) -> ImportSummary:
    """Import a vendor's daily flows (long, per-fund workbook or wide; gzip too) under the vendor name
    `source` into `vendor_flows`, naming new funds in `funds` (one transaction, idempotent)."""
    from etfflow.sources.vendor_flows import read_vendor_flows

    _refuse_synthetic(store)
    batch = read_vendor_flows(path, source=source, units=units, ticker=ticker)
    frame = batch.tables["vendor_flows"]
    with store.transaction():
        written = write_batch(store, batch)
        new_file = store.record_file(file_sha256(path), str(path), batch.source, frame.height)
    res = written.results["vendor_flows"]
    return ImportSummary(
        file=str(path),
        format=batch.source,
        rows=frame.height,
        added=res.added,
        changed=res.changed,
        unchanged=res.unchanged,
        tickers=sorted(set(frame["ticker"].to_list())),
        dropped=dict(batch.dropped),
        notes=list(batch.notes) + written.notes,
        already_imported=not new_file,
        tables={t: _counts(r) for t, r in written.results.items()},
    )


def nport_table(store: Store, key: str | None = None) -> pl.DataFrame:
    """Stored N-PORT monthly flows with tickers resolved; `key` is a ticker or a series id (all when None)."""
    frame = fill_nport_tickers(store, store.read("nport_monthly"))
    if key is None:
        return frame
    k = key.strip().upper()
    hit = frame.filter((pl.col("series_id") == k) | (pl.col("ticker") == k))
    if hit.height == 0:
        funds = funds_table(store).filter(pl.col("ticker") == k)
        sid = funds["series_id"].drop_nulls().to_list() + [
            f"CIK{c}" for c in funds["cik"].drop_nulls().to_list()
        ]
        hit = frame.filter(pl.col("series_id").is_in(sid))
    return hit


def reconcile_store(
    store: Store,
    *,
    tickers: list[str] | None = None,
    abs_tol: float | None = None,
    rel_tol: float | None = None,
    all_months: bool = False,
) -> pl.DataFrame:
    """Reconcile the warehouse's daily flows and vendor flows with its N-PORT monthly flows."""
    from etfflow import reconcile as rc

    nport = nport_table(store)
    if tickers is not None:
        nport = nport.filter(pl.col("ticker").is_in(tickers))
    flows = store.read("flows_daily", tickers=tickers)
    vendor = store.read("vendor_flows", tickers=tickers)
    return rc.reconcile(
        rc.daily_monthly(flows),
        nport,
        rc.vendor_monthly(vendor),
        abs_tol=rc.DEFAULT_ABS_TOL if abs_tol is None else abs_tol,
        rel_tol=rc.DEFAULT_REL_TOL if rel_tol is None else rel_tol,
        all_months=all_months,
    )


def reconcile_daily_store(
    store: Store,
    *,
    tickers: list[str] | None = None,
    abs_tol: float | None = None,
    rel_tol: float | None = None,
) -> ReconcileDaily:
    """Reconcile the warehouse's computed daily flows with its vendor daily flows, per fund and year."""
    from etfflow import reconcile_daily as rd

    vendor = store.read("vendor_flows", tickers=tickers)
    both = sorted(set(vendor["ticker"].to_list()))
    flows = store.read("flows_daily", tickers=both) if both else empty("flows_daily")
    return rd.reconcile_daily(
        flows,
        vendor,
        abs_tol=rd.DEFAULT_ABS_TOL if abs_tol is None else abs_tol,
        rel_tol=rd.DEFAULT_REL_TOL if rel_tol is None else rel_tol,
    )
