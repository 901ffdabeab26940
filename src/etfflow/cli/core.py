"""Core commands: demo, import, flows, top, sectors, quality (tables from `etfflow.api`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import polars as pl
import typer

from etfflow import pipeline
from etfflow.api import DEMO_DB, Warehouse, locate
from etfflow.cli.app import (
    DbOpt,
    FlowsOpt,
    JsonOpt,
    app,
    console,
    emit_json,
    err_console,
    fmt_pct,
    fmt_usd,
    frame_table,
    handled,
    print_import,
    progress,
)
from etfflow.errors import NotFoundError
from etfflow.signals.tracker import MARKET_COLUMNS
from etfflow.store import Store

if TYPE_CHECKING:
    from etfflow.api import Table as _Table

__all__ = ["DEMO_DB", "open_warehouse", "show_table"]

_DATE = ["%Y-%m-%d"]
StartOpt = Annotated[
    dt.datetime | None, typer.Option(formats=_DATE, help="First trade date (YYYY-MM-DD); replaces --window.")
]
EndOpt = Annotated[
    dt.datetime | None, typer.Option(formats=_DATE, help="Last trade date (YYYY-MM-DD); replaces --window.")
]
AsOfOpt = Annotated[
    dt.datetime | None,
    typer.Option(
        "--as-of", formats=_DATE, help="Point in time: only flows known (available_on) by this date."
    ),
]
AllOpt = Annotated[
    bool, typer.Option("--all", metavar="", help="Show every row (default: the last 40 or the top N).")
]
CsvOpt = Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV (spreadsheet-safe).")]
ParquetOpt = Annotated[Path | None, typer.Option("--parquet", help="Also write the table as Parquet.")]
SHOWN = 40


def _d(x: dt.datetime | None) -> dt.date | None:
    return x.date() if x else None


def open_warehouse(db: Path | None) -> Warehouse:
    """The warehouse a read command uses: --db, $ETFFLOW_DB, the default, else the demo one (with a note)."""
    path, note = locate(db)
    if note:
        err_console.print(f"note: {note}", style="yellow", highlight=False, soft_wrap=True)
    return Warehouse(path, read_only=True)  # the note is printed once, here


def _check_range(start: dt.datetime | None, end: dt.datetime | None) -> None:
    if start and end and start > end:
        raise typer.BadParameter(f"--start {start.date()} is after --end {end.date()}", param_hint="--start")


def show_table(
    table: _Table,
    formats: Mapping[str, Callable[[Any], str]],
    *,
    columns: list[str] | None = None,
    limit: int | None = SHOWN,
    title: str | None = None,
    frame: pl.DataFrame | None = None,
) -> None:
    """Print one table: its rows (the last `limit`, None for all) under a title that states its dates."""
    f = table.frame if frame is None else frame
    shown = f if limit is None or f.height <= limit else f.tail(limit)
    head = title or table.title
    if shown.height < f.height:
        head += f" (last {shown.height} of {f.height} rows; --all shows every row)"
    sel = shown.select([c for c in (columns or shown.columns) if c in shown.columns])
    console.print(frame_table(head, sel, {**_LIST_FORMATS, **formats}))


def _names(v: Any) -> str:
    return ",".join(v) if isinstance(v, list) else ("" if v is None else str(v))


_LIST_FORMATS: dict[str, Callable[[Any], str]] = {"flags": _names, "dates": _names}


def _header(table: _Table) -> None:
    if table.label:
        console.print(table.label, style="bold yellow", highlight=False)
    for w in table.warnings:
        err_console.print(f"warning: {w}", style="yellow", highlight=False, soft_wrap=True)


def _export(table: _Table, csv: Path | None, parquet: Path | None, as_json: bool) -> None:
    for path, write in ((csv, table.to_csv), (parquet, table.to_parquet)):
        if path is not None:
            out = write(path)
            if not as_json:
                err_console.print(f"wrote {out} ({table.frame.height} rows)", highlight=False)


def _unsigned(x: Any) -> str:
    return fmt_usd(x).lstrip("+")


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
    path = Path(db or DEMO_DB).expanduser()
    with handled():
        with progress(not as_json) as update, Store(path) as store:
            summary = pipeline.load_demo(store, preset, seed, progress=update)
        wh = Warehouse(path)
        top5 = wh.top(5, 5)
        sect = wh.sectors(5)
    payload: dict[str, Any] = {
        "label": summary.label,
        "synthetic": True,
        "db": str(path),
        "preset": preset,
        "seed": seed,
        "funds": summary.funds,
        "sessions": summary.days,
        "start": summary.start,
        "end": summary.end,
        "daily_rows": summary.daily_rows,
        "flow_rows": summary.flow_rows,
        "top_inflows": _side(top5, "inflow").to_dicts(),
        "top_outflows": _side(top5, "outflow").to_dicts(),
        "sectors": sect.as_dict(),
    }
    if as_json:
        emit_json(payload)
        return
    console.print(summary.label, style="bold yellow", highlight=False)
    console.print(
        f"Demo warehouse {path}: {summary.funds} funds, {summary.days} sessions "
        f"({summary.start} .. {summary.end}), {summary.flow_rows:,} daily flows.",
        highlight=False,
    )
    _print_top(top5)
    _print_sectors(sect)
    default, _ = locate(None)
    if path == DEMO_DB.expanduser() and not default.exists():
        hint = "commands without --db use it while there is no other warehouse"
    else:
        hint = f"add --db {path}"
    console.print(f"Explore it: etfflow top --window 20 --by pct ({hint})", highlight=False, soft_wrap=True)


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
    tickers: Annotated[list[str], typer.Argument(help="Fund tickers (one or more).")],
    start: StartOpt = None,
    end: EndOpt = None,
    freq: Annotated[str, typer.Option(help="d (daily), w (weekly, Friday), m (monthly).")] = "d",
    as_of: AsOfOpt = None,
    show_all: AllOpt = False,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    flow_source: FlowsOpt = "best",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Funds' flows in $ and % of prior AUM, with quality flags; weeks and months marked when partial."""
    if freq not in ("d", "w", "m"):
        raise typer.BadParameter("use d, w or m", param_hint="--freq")
    _check_range(start, end)
    with handled():
        t = open_warehouse(db).flows(
            tickers, _d(start), _d(end), freq, as_of=_d(as_of), flow_source=flow_source
        )
        _export(t, csv, parquet, as_json)
    if as_json:
        emit_json(t.as_dict())
        return
    _header(t)
    s = t.summary
    several = len(s["net_flow_usd_by_fund"]) > 1
    fmts = {
        "flow_usd": fmt_usd,
        "aum_prev_usd": _unsigned,
        "aum_start_usd": _unsigned,
        "flow_pct_aum": fmt_pct,
    }
    if freq == "d":
        frame = t.frame.with_columns(
            pl.when(pl.col("counted")).then(pl.lit("")).otherwise(pl.lit("no")).alias("counted")
        )
        cols = [
            "date",
            "ticker",
            "flow_usd",
            "aum_prev_usd",
            "flow_pct_aum",
            "counted",
            "flags",
            "available_on",
            *MARKET_COLUMNS,  # price, volume, divergence, shares and creation units (tracker)
        ]
        rule = "the counted rows (bad_print, no_price and first rows, marked 'no', are not counted)"
    else:
        frame = t.frame.with_columns(_period_note().alias("note"))
        cols = ["date", "ticker", "flow_usd", "aum_start_usd", "flow_pct_aum", "days", "note", "flags"]
        rule = "the rows (each sums its counted days)"
    if not several:
        cols.remove("ticker")
    show_table(t, fmts, columns=cols, limit=None if show_all else SHOWN, frame=frame)
    if freq != "d" and (s["partial_periods"] or s["periods_with_unknown_flows"]):
        console.print(
            "partial: the selection or the fund's data covers only part of the period; "
            "'n not counted': days with unknown or excluded flows.",
            highlight=False,
        )
    for tk, v in s["net_flow_usd_by_fund"].items():
        who = f"{tk} net flow" if several else "Net flow"
        span = s["coverage"][tk]
        console.print(
            f"{who} over the selection ({span['start']} .. {span['end']}): {fmt_usd(v)} "
            f"{s['currency_by_fund'][tk]} = sum of {rule}",
            highlight=False,
            soft_wrap=True,
        )
    if several and s["net_flow_usd"] is not None:
        console.print(f"All funds together: {fmt_usd(s['net_flow_usd'])} {s['currency']}", highlight=False)
    elif several:
        console.print("No total across funds: their amounts are in different currencies.", highlight=False)
    _print_sources(s)


def _print_sources(summary: dict[str, Any]) -> None:
    if summary.get("sources"):
        console.print(summary["sources"], highlight=False, soft_wrap=True)
    for note in summary.get("notes", []):
        console.print(f"note: {note}", highlight=False, soft_wrap=True)


def _period_note() -> pl.Expr:
    partial = (
        pl.when(pl.col("partial"))
        .then(pl.format("partial ({}/{} sessions)", pl.col("sessions"), pl.col("period_sessions")))
        .otherwise(pl.lit(""))
    )
    unknown = (
        pl.when(pl.col("unknown_days") > 0)
        .then(pl.format("{} not counted", pl.col("unknown_days")))
        .otherwise(pl.lit(""))
    )
    return pl.concat_str([partial, unknown], separator="; ").str.strip_chars("; ")


@app.command()
def top(
    category: Annotated[str | None, typer.Option(help="Only funds of this category (e.g. sector).")] = None,
    window: Annotated[int, typer.Option(help="Sessions to sum over, ending at the newest flow.", min=1)] = 5,
    n: Annotated[int, typer.Option(help="Funds per list.", min=1)] = 10,
    by: Annotated[str, typer.Option(help="Rank by usd or pct (of prior AUM).")] = "usd",
    as_of: AsOfOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    show_all: AllOpt = False,
    market: Annotated[str | None, typer.Option(help="Only funds of this market (US or CN).")] = None,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    flow_source: FlowsOpt = "best",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Largest inflows and outflows over the last WINDOW sessions (or --start..--end), in $ and % of AUM."""
    if by not in ("usd", "pct"):
        raise typer.BadParameter("use usd or pct", param_hint="--by")
    _check_range(start, end)
    with handled():
        t = open_warehouse(db).top(
            window,
            n,
            by,
            category=category,
            as_of=_d(as_of),
            start=_d(start),
            end=_d(end),
            all_rows=show_all,
            market=market,
            flow_source=flow_source,
        )
        _export(t, csv, parquet, as_json)
    if as_json:
        doc = t.as_dict()
        doc["inflows"] = _side(t, "inflow").to_dicts()
        doc["outflows"] = _side(t, "outflow").to_dicts()
        emit_json(doc)
        return
    _header(t)
    _print_top(t, show_all)
    _print_sources(t.summary)


def _side(t: _Table, side: str) -> pl.DataFrame:
    return t.frame.filter(pl.col("side") == side).with_columns(pl.col(pl.Float64).fill_nan(None))


def _print_top(t: _Table, show_all: bool = False) -> None:
    cols = ["rank", "ticker", "name", "flow_usd", "currency", "flow_pct_aum", "aum_start_usd"]
    fmts = {"flow_usd": fmt_usd, "flow_pct_aum": fmt_pct, "aum_start_usd": _unsigned}
    span = f"{t.start} .. {t.end}" + (f", known by {t.as_of}" if t.as_of else "")
    if show_all:
        show_table(t, fmts, columns=["side", *cols], limit=None, title=f"Every fund ranked, {span}")
        return
    for title, side in (("Top inflows", "inflow"), ("Top outflows", "outflow")):
        rows = _side(t, side)
        if rows.height == 0:
            console.print(f"{title}, {span}: none", highlight=False)
            continue
        show_table(t, fmts, columns=cols, limit=None, title=f"{title}, {span}", frame=rows)


@app.command()
def sectors(
    window: Annotated[int, typer.Option(help="Sessions to sum over, ending at the newest flow.", min=1)] = 5,
    as_of: AsOfOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    flow_source: FlowsOpt = "best",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sector net flows, breadth and the cyclical/defensive ratio over the last WINDOW sessions."""
    _check_range(start, end)
    with handled():
        t = open_warehouse(db).sectors(
            window, as_of=_d(as_of), start=_d(start), end=_d(end), flow_source=flow_source
        )
        _export(t, csv, parquet, as_json)
    if as_json:
        emit_json(t.as_dict())
        return
    _header(t)
    _print_sectors(t)
    _print_sources(t.summary)


def _print_sectors(t: _Table) -> None:
    s = t.summary
    show_table(
        t,
        {"flow_usd": fmt_usd, "flow_pct_aum": fmt_pct, "aum_start_usd": _unsigned},
        columns=["sector", "cycle", "flow_usd", "flow_pct_aum", "funds"],
        limit=None,
    )
    console.print(
        f"Net flow of these {t.frame.height} sectors: {fmt_usd(s['net_flow_usd'])}", highlight=False
    )
    for line in sector_lines(s):
        console.print(line, highlight=False, soft_wrap=True)


def sector_lines(s: dict[str, Any]) -> list[str]:
    """Breadth and the cyclical/defensive ratio, each with its scale, bands and band."""
    bb, cb = s["breadth_bands"], s["cd_bands"]
    out = []
    if s["breadth"] is None:
        out.append("Breadth: n/a (no sector has data).")
    else:
        out.append(
            f"Breadth: {s['positive']} of {s['sectors']} sectors with net inflows = {s['breadth']:.0%} "
            f"(scale 0-100%; broad >= {bb['broad']:.0%}, narrow <= {bb['narrow']:.0%}): {s['breadth_band']}."
        )
    if s["cd_ratio"] is None:
        out.append("Cyclical/defensive ratio: n/a (a side has no data, or both flows are zero).")
    else:
        out.append(
            f"Cyclical/defensive ratio: {s['cd_ratio']:.2f} on a 0-1 scale (0.5 = even; 1 = cyclicals "
            f"bought and defensives sold, 0 = the reverse; cyclical >= {cb['cyclical']:.2f}, defensive <= "
            f"{cb['defensive']:.2f}): {s['cd_band']}. Cyclical sectors {fmt_usd(s['cyclical_usd'])}, "
            f"defensive sectors {fmt_usd(s['defensive_usd'])}."
        )
    if s["missing"]:
        out.append(f"No data for: {', '.join(s['missing'])}")
    return out


@app.command()
def quality(
    tickers: Annotated[
        list[str] | None, typer.Argument(help="Fund tickers (all funds when omitted).")
    ] = None,
    as_of: AsOfOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    csv: CsvOpt = None,
    parquet: ParquetOpt = None,
    flow_source: FlowsOpt = "best",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every quality flag with its count and dates (first, last, and each date for rare flags)."""
    _check_range(start, end)
    with handled():
        t = open_warehouse(db).quality(
            tickers or None, as_of=_d(as_of), start=_d(start), end=_d(end), flow_source=flow_source
        )
        _export(t, csv, parquet, as_json)
    if as_json:
        doc = t.as_dict()
        doc["flags"] = doc.pop("rows")
        emit_json(doc)
        return
    _header(t)
    console.print(
        f"{t.summary['flow_rows']:,} daily flow rows checked, {t.start} .. {t.end}.", highlight=False
    )
    _print_sources(t.summary)
    if t.frame.height == 0:
        console.print("No flags.")
        return
    shown = t.frame.with_columns(
        pl.col("dates").map_elements(
            lambda d: ", ".join(d[:6]) + (" ..." if len(d) > 6 else ""), return_dtype=pl.String
        )
    )
    show_table(t, {}, limit=None, frame=shown)
    console.print("Excluded from statistics by default: bad_print, no_price, first.")
