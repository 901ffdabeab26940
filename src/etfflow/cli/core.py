"""Core commands: demo, import, flows, top, sectors, quality."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from etfflow import calendar, pipeline
from etfflow.cli import seeds
from etfflow.cli.app import (
    DbOpt,
    FlowsOpt,
    JsonOpt,
    app,
    console,
    emit_json,
    fmt_pct,
    fmt_usd,
    frame_table,
    handled,
    nan_to_none,
    print_import,
    progress,
)
from etfflow.errors import NotFoundError
from etfflow.flows.aggregate import to_period
from etfflow.flows.flags import Flag, decode
from etfflow.flows.source import describe_sources, flow_sources, source_notes, with_flow_source
from etfflow.signals.overview import top_flows, window_totals
from etfflow.signals.sectors import sector_snapshot
from etfflow.signals.tracker import MARKET_COLUMNS, category_tickers
from etfflow.store import Store

DEMO_DB = Path("~/.etfflow/demo.duckdb")


def _open(db: Path | None, *, read_only: bool = True) -> Store:
    return Store(db, read_only=read_only)


def _label_line(store: Store) -> str | None:
    label = pipeline.synthetic_label(store)
    if label:
        console.print(label, style="bold yellow", highlight=False)
    return label


@app.command()
def demo(
    preset: Annotated[
        str, typer.Option(help="Planted effects: default, null, pressure, informed.")
    ] = "default",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same market).")] = 7,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Build the SYNTHETIC demo warehouse (its own file) and print a short flow overview."""
    path = db or DEMO_DB
    with handled():
        with progress(not as_json) as update, Store(path) as store:
            summary = pipeline.load_demo(store, preset, seed, progress=update)
            flows, funds = pipeline.load_flows(store)
        totals = window_totals(flows, funds, window=5)
        inflows, outflows = top_flows(totals, n=5)
        snap = sector_snapshot(flows, funds, window=5)
    payload: dict[str, Any] = {
        "label": summary.label,
        "synthetic": True,
        "db": str(Path(path).expanduser()),
        "preset": preset,
        "seed": seed,
        "funds": summary.funds,
        "sessions": summary.days,
        "start": summary.start,
        "end": summary.end,
        "daily_rows": summary.daily_rows,
        "flow_rows": summary.flow_rows,
        "top_inflows": nan_to_none(inflows).to_dicts(),
        "top_outflows": nan_to_none(outflows).to_dicts(),
        "sectors": snap.as_dict(),
    }
    if as_json:
        emit_json(payload)
        return
    console.print(summary.label, style="bold yellow", highlight=False)
    console.print(
        f"Demo warehouse {payload['db']}: {summary.funds} funds, {summary.days} sessions "
        f"({summary.start} .. {summary.end}), {summary.flow_rows:,} daily flows."
    )
    _print_top(inflows, outflows, "last 5 sessions")
    _print_sectors(snap)
    console.print(f"Explore it: etfflow top --db {payload['db']}  (or set ETFFLOW_DB)")


@app.command("import")
def import_(
    files: Annotated[list[Path], typer.Argument(help="Files to import; format detected from content.")],
    ticker: Annotated[str | None, typer.Option(help="Ticker for single-fund files that lack one.")] = None,
    so_lag: Annotated[
        int | None, typer.Option("--lag", help="Reporting lag of shares counts, in sessions (generic files).")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import issuer files, SEC filings or generic CSV/Parquet panels into the warehouse."""
    options: dict[str, Any] = {}
    if ticker:
        options["ticker"] = ticker.upper()
    if so_lag is not None:
        options["so_lag"] = so_lag
    with handled():
        for f in files:
            if not f.exists():
                raise NotFoundError(f"no such file: {f}")
        with progress(not as_json) as update, Store(db) as store:
            results = pipeline.import_paths(store, files, progress=update, **options)
    if as_json:
        emit_json([r.as_dict() for r in results])
        return
    for r in results:
        more = f", ... ({len(r.tickers):,} funds)" if len(r.tickers) > 12 else ""
        shown = ", ".join(r.tickers[:12]) + more
        print_import(r, f"{r.format}, {r.rows:,} rows for {shown or '-'}")


@app.command()
def flows(
    ticker: Annotated[str, typer.Argument(help="Fund ticker.")],
    start: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    end: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    freq: Annotated[str, typer.Option(help="d (daily), w (weekly, Friday), m (monthly).")] = "d",
    flow_source: FlowsOpt = "best",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A fund's flows in $ and % of prior AUM, with quality flags."""
    if freq not in ("d", "w", "m"):
        raise typer.BadParameter("use d, w or m", param_hint="--freq")
    t = ticker.upper()
    with handled(), _open(db) as store:
        label = pipeline.synthetic_label(store)
        f, _ = pipeline.load_flows(
            store,
            tickers=[t],
            start=start.date() if start else None,
            end=end.date() if end else None,
            flow_source=flow_source,
        )
        if f.height == 0:
            raise NotFoundError(f"no flows for {t} in {store.path} (import its data first)")
        funds = pipeline.funds_table(store)
        f = seeds.market_columns(
            store, f
        )  # close, price_change, volume, volume_ratio, divergence, creation_units
    currency = calendar.fund_currencies(funds, [t])[t]
    if freq == "d":
        out = f.select(
            "date", "flow_usd", "aum_prev_usd", "flow_pct_aum", *MARKET_COLUMNS, "flags", "available_on"
        )
    else:
        out = to_period(f, freq, markets=calendar.fund_markets(funds, [t])).select(
            "date", "flow_usd", pl.col("aum_start_usd").alias("aum_prev_usd"), "flow_pct_aum", "flags", "days"
        )
    out = out.with_columns(
        pl.col("flags").map_elements(lambda x: ",".join(decode(x)), return_dtype=pl.String).alias("flags")
    )
    total = float(out["flow_usd"].sum())
    source = flow_sources(f).get(t)
    if as_json:
        emit_json(
            {
                "ticker": t,
                "freq": freq,
                "label": label,
                "currency": currency,
                "flow_source": source,
                "notes": source_notes(f),
                "net_flow_usd": total,
                "rows": nan_to_none(out).to_dicts(),
            }
        )
        return
    if label:
        console.print(label, style="bold yellow", highlight=False)
    shown = out.tail(40)
    console.print(
        frame_table(
            f"{t} flows ({freq}), amounts in {currency}; last {shown.height} of {out.height} rows",
            shown,
            {"flow_usd": fmt_usd, "aum_prev_usd": lambda x: fmt_usd(x).lstrip("+"), "flow_pct_aum": fmt_pct},
        )
    )
    console.print(
        f"Net flow over the selection: {fmt_usd(total)} {currency} (bad prints and unknown flows excluded)"
    )
    console.print(f"Flow source: {source}", highlight=False)
    for note in source_notes(f):
        console.print(f"note: {note}", highlight=False)


@app.command()
def top(
    category: Annotated[str | None, typer.Option(help="Only funds of this category (e.g. sector).")] = None,
    window: Annotated[int, typer.Option(help="Sessions to sum over.")] = 5,
    n: Annotated[int, typer.Option(help="Funds per list.")] = 10,
    by: Annotated[str, typer.Option(help="Rank by usd or pct (of prior AUM).")] = "usd",
    market: Annotated[str | None, typer.Option(help="Only funds of this market (US or CN).")] = None,
    flow_source: FlowsOpt = "best",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Largest inflows and outflows over the last WINDOW sessions, in the funds' currency and % of AUM."""
    key = {"usd": "flow_usd", "pct": "flow_pct_aum"}.get(by)
    if key is None:
        raise typer.BadParameter("use usd or pct", param_hint="--by")
    with handled(), _open(db) as store:
        label = pipeline.synthetic_label(store)
        f, funds = pipeline.load_flows(store, flow_source=flow_source)
        if market:
            mk = calendar.fund_markets(funds, f["ticker"].unique().to_list())
            f = f.filter(pl.col("ticker").is_in([t for t, m in mk.items() if m == market.upper()]))
        totals = with_flow_source(window_totals(f, funds, window=window), f)
        if category:  # a category (sector, ...) or an asset class (equity, bond, ...)
            totals = totals.filter(pl.col("ticker").is_in(category_tickers(funds, category)))
            if totals.height == 0:
                raise NotFoundError(f"no funds of category {category!r} with flows in the warehouse")
    with handled():
        inflows, outflows = top_flows(totals, n=n, by=key)
    if as_json:
        emit_json(
            {
                "label": label,
                "window": window,
                "category": category,
                "by": by,
                "inflows": nan_to_none(inflows).to_dicts(),
                "outflows": nan_to_none(outflows).to_dicts(),
                "flow_sources": flow_sources(f),
                "notes": source_notes(f),
            }
        )
        return
    if label:
        console.print(label, style="bold yellow", highlight=False)
    _print_top(inflows, outflows, f"last {window} sessions")
    _print_sources(f)


@app.command()
def sectors(
    window: Annotated[int, typer.Option(help="Sessions to sum over.")] = 5,
    flow_source: FlowsOpt = "best",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sector net flows, breadth and the cyclical/defensive ratio over the last WINDOW sessions."""
    with handled(), _open(db) as store:
        label = pipeline.synthetic_label(store)
        f, funds = pipeline.load_flows(store, flow_source=flow_source)
        snap = sector_snapshot(f, funds, window=window)
    if as_json:
        emit_json(
            {
                "label": label,
                "window": window,
                **snap.as_dict(),
                "flow_sources": flow_sources(f),
                "notes": source_notes(f),
            }
        )
        return
    if label:
        console.print(label, style="bold yellow", highlight=False)
    _print_sectors(snap)
    _print_sources(f)


@app.command()
def quality(
    ticker: Annotated[str | None, typer.Argument(help="Fund ticker (all funds when omitted).")] = None,
    flow_source: FlowsOpt = "best",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every quality flag with its count and dates (first, last, and each date for rare flags)."""
    tickers = [ticker.upper()] if ticker else None
    with handled(), _open(db) as store:
        label = pipeline.synthetic_label(store)
        f, _ = pipeline.load_flows(store, tickers=tickers, flow_source=flow_source)
        if f.height == 0:
            raise NotFoundError(f"no flows for {ticker or 'any fund'} in {store.path}")
    rows: list[dict[str, Any]] = []
    for flag in Flag:
        hit = f.filter((pl.col("flags") & int(flag.value)) != 0)
        if hit.height == 0:
            continue
        by_fund = hit.group_by("ticker").len().sort("ticker")
        rows.append(
            {
                "flag": (flag.name or "").lower(),
                "rows": hit.height,
                "funds": by_fund.height,
                "first": hit["date"].min(),
                "last": hit["date"].max(),
                "dates": [f"{r['ticker']} {r['date']}" for r in hit.sort("date").iter_rows(named=True)],
            }
        )
    if as_json:
        emit_json(
            {
                "label": label,
                "ticker": ticker,
                "flow_rows": f.height,
                "flags": rows,
                "flow_sources": flow_sources(f),
            }
        )
        return
    if label:
        console.print(label, style="bold yellow", highlight=False)
    console.print(f"{f.height:,} daily flow rows checked for {ticker or 'all funds'}.")
    _print_sources(f)
    if not rows:
        console.print("No flags.")
        return
    table = pl.DataFrame(
        [
            {
                "flag": r["flag"],
                "rows": r["rows"],
                "funds": r["funds"],
                "first": str(r["first"]),
                "last": str(r["last"]),
                "dates": ", ".join(r["dates"][:6]) + (" ..." if len(r["dates"]) > 6 else ""),
            }
            for r in rows
        ]
    )
    console.print(frame_table("Quality flags", table, {}))
    console.print("Excluded from statistics by default: bad_print, no_price, first.")


def _print_sources(f: pl.DataFrame) -> None:
    console.print(describe_sources(f), highlight=False)
    for note in source_notes(f):
        console.print(f"note: {note}", highlight=False)


def _print_top(inflows: pl.DataFrame, outflows: pl.DataFrame, span: str) -> None:
    cols = ["ticker", "name", "flow_usd", "currency", "flow_pct_aum", "aum_start_usd", "flow_source"]
    fmts = {"flow_usd": fmt_usd, "flow_pct_aum": fmt_pct, "aum_start_usd": lambda x: fmt_usd(x).lstrip("+")}
    for title, fr in (("Top inflows", inflows), ("Top outflows", outflows)):
        sel = fr.select([c for c in cols if c in fr.columns])
        console.print(frame_table(f"{title}, {span}", sel, fmts))


def _print_sectors(snap: Any) -> None:
    table = snap.table.select("sector", "cycle", "flow_usd", "flow_pct_aum", "funds")
    console.print(
        frame_table(
            f"Sector net flows, {snap.start} .. {snap.end}",
            table,
            {"flow_usd": fmt_usd, "flow_pct_aum": fmt_pct},
        )
    )
    breadth = "n/a" if snap.breadth is None else f"{snap.positive}/{snap.sectors} ({snap.breadth:.0%})"
    cd = "n/a" if snap.cd_ratio is None else f"{snap.cd_ratio:.2f}"
    console.print(f"Breadth: {breadth} sectors with net inflows.  Cyclical/defensive ratio: {cd}")
    if snap.missing:
        console.print(f"No data for: {', '.join(snap.missing)}")
