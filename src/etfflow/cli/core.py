"""Core commands: demo, import, flows, top, sectors, quality."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from etfflow import pipeline
from etfflow.cli.app import (
    DbOpt,
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
from etfflow.signals.overview import top_flows, window_totals
from etfflow.signals.sectors import sector_snapshot
from etfflow.signals.tracker import MARKET_COLUMNS, category_tickers, market_columns
from etfflow.store import Store

DEMO_DB = Path("~/.etfflow/demo.duckdb")


def _open(db: Path | None, *, read_only: bool = True) -> Store:
    return Store(db, read_only=read_only)


def _label_line(store: Store) -> str | None:
    label = pipeline.synthetic_label(store)
    if label:
        console.print(f"[bold yellow]{label}[/]", highlight=False)
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
    console.print(f"[bold yellow]{summary.label}[/]", highlight=False)
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
        print_import(r, f"{r.format}, {r.rows:,} rows for {', '.join(r.tickers) or '-'}")


@app.command()
def flows(
    ticker: Annotated[str, typer.Argument(help="Fund ticker.")],
    start: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    end: Annotated[dt.datetime | None, typer.Option(formats=["%Y-%m-%d"])] = None,
    freq: Annotated[str, typer.Option(help="d (daily), w (weekly, Friday), m (monthly).")] = "d",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A fund's flows in $ and % of prior AUM, with quality flags."""
    if freq not in ("d", "w", "m"):
        raise typer.BadParameter("use d, w or m", param_hint="--freq")
    t = ticker.upper()
    with handled(), _open(db) as store:
        label = pipeline.synthetic_label(store)
        f = store.read(
            "flows_daily", tickers=[t], start=start.date() if start else None, end=end.date() if end else None
        )
        if f.height == 0:
            raise NotFoundError(f"no flows for {t} in {store.path} (import its data first)")
        f = market_columns(store, f)  # close, price_change, volume, volume_ratio, divergence, creation_units
    if freq == "d":
        out = f.select(
            "date", "flow_usd", "aum_prev_usd", "flow_pct_aum", *MARKET_COLUMNS, "flags", "available_on"
        )
    else:
        out = to_period(f, freq).select(
            "date", "flow_usd", pl.col("aum_start_usd").alias("aum_prev_usd"), "flow_pct_aum", "flags", "days"
        )
    out = out.with_columns(
        pl.col("flags").map_elements(lambda x: ",".join(decode(x)), return_dtype=pl.String).alias("flags")
    )
    total = float(out["flow_usd"].sum())
    if as_json:
        emit_json(
            {
                "ticker": t,
                "freq": freq,
                "label": label,
                "net_flow_usd": total,
                "rows": nan_to_none(out).to_dicts(),
            }
        )
        return
    if label:
        console.print(f"[bold yellow]{label}[/]", highlight=False)
    shown = out.tail(40)
    console.print(
        frame_table(
            f"{t} flows ({freq}); last {shown.height} of {out.height} rows",
            shown,
            {"flow_usd": fmt_usd, "aum_prev_usd": lambda x: fmt_usd(x).lstrip("+"), "flow_pct_aum": fmt_pct},
        )
    )
    console.print(f"Net flow over the selection: {fmt_usd(total)} (bad prints and unknown flows excluded)")


@app.command()
def top(
    category: Annotated[str | None, typer.Option(help="Only funds of this category (e.g. sector).")] = None,
    window: Annotated[int, typer.Option(help="Sessions to sum over.")] = 5,
    n: Annotated[int, typer.Option(help="Funds per list.")] = 10,
    by: Annotated[str, typer.Option(help="Rank by usd or pct (of prior AUM).")] = "usd",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Largest inflows and outflows over the last WINDOW sessions, in $ and % of AUM."""
    key = {"usd": "flow_usd", "pct": "flow_pct_aum"}.get(by)
    if key is None:
        raise typer.BadParameter("use usd or pct", param_hint="--by")
    with handled(), _open(db) as store:
        label = pipeline.synthetic_label(store)
        f, funds = pipeline.load_flows(store)
        totals = window_totals(f, funds, window=window)
        if category:  # a category (sector, ...) or an asset class (equity, bond, ...)
            totals = totals.filter(pl.col("ticker").is_in(category_tickers(funds, category)))
            if totals.height == 0:
                raise NotFoundError(f"no funds of category {category!r} with flows in the warehouse")
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
            }
        )
        return
    if label:
        console.print(f"[bold yellow]{label}[/]", highlight=False)
    _print_top(inflows, outflows, f"last {window} sessions")


@app.command()
def sectors(
    window: Annotated[int, typer.Option(help="Sessions to sum over.")] = 5,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sector net flows, breadth and the cyclical/defensive ratio over the last WINDOW sessions."""
    with handled(), _open(db) as store:
        label = pipeline.synthetic_label(store)
        f, funds = pipeline.load_flows(store)
        snap = sector_snapshot(f, funds, window=window)
    if as_json:
        emit_json({"label": label, "window": window, **snap.as_dict()})
        return
    if label:
        console.print(f"[bold yellow]{label}[/]", highlight=False)
    _print_sectors(snap)


@app.command()
def quality(
    ticker: Annotated[str | None, typer.Argument(help="Fund ticker (all funds when omitted).")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every quality flag with its count and dates (first, last, and each date for rare flags)."""
    tickers = [ticker.upper()] if ticker else None
    with handled(), _open(db) as store:
        label = pipeline.synthetic_label(store)
        f = store.read("flows_daily", tickers=tickers)
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
        emit_json({"label": label, "ticker": ticker, "flow_rows": f.height, "flags": rows})
        return
    if label:
        console.print(f"[bold yellow]{label}[/]", highlight=False)
    console.print(f"{f.height:,} daily flow rows checked for {ticker or 'all funds'}.")
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


def _print_top(inflows: pl.DataFrame, outflows: pl.DataFrame, span: str) -> None:
    cols = ["ticker", "name", "flow_usd", "flow_pct_aum", "aum_start_usd"]
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
