"""Real-data commands: update (SEC, issuers, yfinance), nport, reconcile, import-flows."""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from etfflow import errors, pipeline
from etfflow.cli.app import (
    EXIT_CODES,
    DbOpt,
    JsonOpt,
    app,
    console,
    emit_json,
    err_console,
    fmt_pct,
    fmt_usd,
    frame_table,
    handled,
    nan_to_none,
    print_import,
)
from etfflow.errors import ConfigError, NotFoundError
from etfflow.store import Store

_ERRORS: dict[str, type[errors.EtfflowError]] = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, errors.EtfflowError)
}


@contextmanager
def _source_bars(sources: list[str], enabled: bool) -> Iterator[Callable[[str, str, float], None]]:
    """One Rich progress bar per source on stderr; yields `update(source, message, fraction)`."""
    if not enabled or not err_console.is_terminal:
        yield lambda _s, _m, _f: None
        return
    with Progress(
        TextColumn("{task.fields[source]:<9}", markup=False),
        BarColumn(),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        tasks = {s: bar.add_task("waiting", total=1.0, source=s) for s in sources}

        def update(source: str, message: str, frac: float) -> None:
            bar.update(tasks[source], description=message, completed=frac)

        yield update


def _default_sources() -> tuple[list[str], str | None]:
    if importlib.util.find_spec("yfinance") is None:
        return [
            "sec",
            "issuer",
        ], "yfinance is not installed: its source is skipped (pip install yfinance)"
    return ["sec", "issuer", "yfinance"], None


def _default_tickers(store: Store) -> tuple[list[str], str]:
    got = store.query(
        "SELECT DISTINCT ticker FROM daily "
        "UNION SELECT DISTINCT ticker FROM nport_monthly WHERE ticker IS NOT NULL"
    )
    if got.height:
        return sorted(got["ticker"].to_list()), "the funds already in the warehouse"
    from etfflow.universe import tickers

    return tickers(), "the shipped taxonomy"


def _failure_code(kind: str) -> int:
    cls = _ERRORS.get(kind, errors.EtfflowError)
    return next(c for t, c in EXIT_CODES if issubclass(cls, t))


@app.command()
def update(
    tickers: Annotated[
        list[str] | None, typer.Argument(help="Tickers (default: the warehouse's funds).")
    ] = None,
    category: Annotated[
        str | None, typer.Option(help="All taxonomy funds of a category (e.g. sector).")
    ] = None,
    since: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Nothing older than this date.")
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source", help="sec, issuer or yfinance; repeat for several (default: all available)."
        ),
    ] = None,
    user_agent: Annotated[
        str | None,
        typer.Option("--user-agent", help='SEC User-Agent "Name email" (default: $ETFFLOW_SEC_USER_AGENT).'),
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="HTTP cache and downloads (default: cache/ beside the warehouse).")
    ] = None,
    holdings: Annotated[bool, typer.Option(help="Store N-PORT holdings too.")] = True,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fetch what is new from the SEC, issuers and yfinance; resumable; prints a per-source summary."""
    from etfflow.sources.http import HttpClient
    from etfflow.update import update as run_update

    notes: list[str] = []
    if source:
        sources = list(dict.fromkeys(s.lower() for s in source))
    else:
        sources, note = _default_sources()
        if note:
            notes.append(note)
    with handled():
        if tickers and category:
            raise ConfigError("give tickers or --category, not both")
        with Store(db) as store:
            if category:
                from etfflow.universe import tickers as taxonomy_tickers

                chosen, why = taxonomy_tickers(category=category), f"category {category}"
            elif tickers:
                chosen, why = [t.upper() for t in tickers], "the command line"
            else:
                chosen, why = _default_tickers(store)
            cache = cache_dir or store.path.parent / "cache"
            with (
                HttpClient(user_agent, cache_dir=cache / "http") as client,
                _source_bars(sources, not as_json) as bars,
            ):
                summary = run_update(
                    store,
                    chosen,
                    since=since.date() if since else None,
                    client=client,
                    sources=sources,
                    progress=bars,
                    cache_dir=cache,
                    holdings=holdings,
                )
    code = _failure_code(summary.failures[0].kind) if summary.failures else 0
    if as_json:
        emit_json({"db": str(store.path), "tickers_from": why, "notes": notes, **summary.as_dict()})
        raise typer.Exit(code)
    for n in notes:
        console.print(f"note: {n}", highlight=False)
    console.print(f"Updated {len(chosen)} fund(s) from {why} in {store.path}.", highlight=False)
    rows = [
        {
            "source": s.source,
            "funds": s.funds_done,
            "added": s.added,
            "changed": s.changed,
            "unchanged": s.unchanged,
            "flagged": s.flagged,
            "skipped": len(s.skipped),
            "failed": sum(1 for f in summary.failures if f.source == s.source),
        }
        for s in summary.sources.values()
    ]
    console.print(frame_table("Update summary (rows over every table)", pl.DataFrame(rows), {}))
    for s in summary.sources.values():
        reasons: dict[str, list[str]] = {}
        for t, why_skipped in s.skipped.items():
            reasons.setdefault(why_skipped, []).append(t)
        for why_skipped, ts in reasons.items():
            shown = ", ".join(ts[:12]) + (" ..." if len(ts) > 12 else "")
            console.print(f"  {s.source}: skipped {len(ts)} ({why_skipped}): {shown}", highlight=False)
    if summary.refreshed:
        console.print(f"Flows recomputed for {len(summary.refreshed)} fund(s).")
    for f in summary.failures:
        err_console.print(f"failed {f.source} {f.ticker or '(all)'}: {f.error}", style="red", highlight=False)
    if summary.failures:
        err_console.print(
            "Nothing of the failed funds was written; run `etfflow update` again to retry them."
        )
    raise typer.Exit(code)


@app.command()
def nport(
    key: Annotated[
        str | None, typer.Argument(help="Ticker or series id (S000...); all series when omitted.")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Form N-PORT monthly flows stored in the warehouse (sales + reinvestment - redemption)."""
    with handled(), Store(db, read_only=True) as store:
        frame = pipeline.nport_table(store, key)
        if frame.height == 0:
            where = f"for {key}" if key else "at all"
            raise NotFoundError(
                f"no N-PORT rows {where} in {store.path}: "
                "`etfflow import` an NPORT-P file or run `etfflow update`"
            )
    if key is None:
        out = (
            frame.group_by("series_id")
            .agg(
                pl.col("ticker").drop_nulls().first().alias("ticker"),
                pl.col("series_name").drop_nulls().last().alias("name"),
                pl.len().alias("months"),
                pl.col("month_end").min().alias("first"),
                pl.col("month_end").max().alias("last"),
                pl.col("net_flow").sum().alias("net_flow"),
            )
            .sort("series_id")
        )
        if as_json:
            emit_json({"series": nan_to_none(out).to_dicts()})
            return
        console.print(frame_table("N-PORT series in the warehouse", out, {"net_flow": fmt_usd}))
        return
    rows = frame.select(
        "series_id",
        "ticker",
        pl.col("series_name").alias("name"),
        "month_end",
        "sales",
        "reinvestment",
        "redemption",
        "net_flow",
        "net_assets",
        "accession",
        "filed_on",
    ).sort("series_id", "month_end")
    if as_json:
        emit_json({"key": key.upper(), "rows": nan_to_none(rows).to_dicts()})
        return
    usd = {
        c: (lambda x: fmt_usd(x).lstrip("+")) for c in ("sales", "reinvestment", "redemption", "net_assets")
    }
    for (series, ticker), part in rows.group_by("series_id", "ticker", maintain_order=True):
        names = part["name"].drop_nulls()
        name = f" {names[-1]}" if names.len() else ""
        console.print(
            frame_table(
                f"N-PORT monthly flows: {ticker or '-'}{name} ({series})",
                part.select(
                    pl.col("month_end").alias("month"),
                    "sales",
                    pl.col("reinvestment").alias("reinvested"),
                    pl.col("redemption").alias("redeemed"),
                    "net_flow",
                    "net_assets",
                    "filed_on",
                ),
                {**usd, "reinvested": usd["sales"], "redeemed": usd["sales"], "net_flow": fmt_usd},
            )
        )
    console.print("net flow = sales + reinvestment - redemption, as filed (months are calendar months)")


@app.command()
def reconcile(
    tickers: Annotated[list[str] | None, typer.Argument(help="Funds to check (default: every fund).")] = None,
    daily: Annotated[
        bool,
        typer.Option(
            "--daily", help="Computed vs vendor daily flows per fund and year, with the alignment found."
        ),
    ] = False,
    abs_tol: Annotated[
        float | None, typer.Option(help="Absolute tolerance in USD (default 1,000,000).")
    ] = None,
    rel_tol: Annotated[
        float | None,
        typer.Option(
            help="Relative tolerance: a fraction of the N-PORT amount (default 0.05); with --daily, "
            "of the larger daily value (default 0.02)."
        ),
    ] = None,
    all_months: Annotated[
        bool, typer.Option(help="Also months outside the reference's first..last month.")
    ] = False,
    problems: Annotated[bool, typer.Option("--problems", help="Show only rows that are not ok.")] = False,
    strict: Annotated[bool, typer.Option(help="Exit 1 when a month mismatches.")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Monthly flows (daily sums, vendor) against Form N-PORT; or, with --daily, computed vs vendor days."""
    from etfflow.reconcile import status_counts

    if daily:
        _reconcile_daily(tickers, abs_tol, rel_tol, db, as_json)
        return
    with handled(), Store(db, read_only=True) as store:
        label = pipeline.synthetic_label(store)
        result = pipeline.reconcile_store(
            store,
            tickers=[t.upper() for t in tickers] if tickers else None,
            abs_tol=abs_tol,
            rel_tol=rel_tol,
            all_months=all_months,
        )
        if result.height == 0:
            raise NotFoundError(
                "nothing to reconcile: the warehouse needs N-PORT rows (etfflow nport) with daily or "
                "vendor flows (etfflow import) for the same funds, or vendor flows for funds with daily flows"
            )
    counts = status_counts(result)
    shown = result.filter(pl.col("status") != "ok") if problems else result
    code = 1 if strict and (result["status"] == "mismatch").any() else 0
    if as_json:
        emit_json({"label": label, "counts": counts, "rows": nan_to_none(shown).to_dicts()})
        raise typer.Exit(code)
    if label:
        console.print(label, style="bold yellow", highlight=False)
    names = {
        "daily_vs_nport": ("daily", "N-PORT"),
        "vendor_vs_nport": ("vendor", "N-PORT"),
        "daily_vs_vendor": ("daily", "vendor"),
    }
    fmts: dict[str, Callable[[Any], str]] = {
        "left": fmt_usd,
        "right": fmt_usd,
        "diff": fmt_usd,
        "rel": fmt_pct,
    }
    for comparison in shown["comparison"].unique(maintain_order=True).to_list():
        part = shown.filter(pl.col("comparison") == comparison)
        left, right = names.get(comparison, ("left", "right"))
        table = part.select(
            "ticker",
            pl.col("month_end").dt.strftime("%Y-%m").alias("month"),
            pl.col("left_usd").alias("left"),
            pl.col("right_usd").alias("right"),
            pl.col("diff_usd").alias("diff"),
            pl.col("rel_diff").alias("rel"),
            "status",
            pl.format("{}/{}", "covered_sessions", "sessions").alias("days"),
        )
        vendors = part["vendor"].drop_nulls().unique().to_list()
        title = f"{left} - {right}" + (f" ({', '.join(vendors)})" if vendors else "")
        console.print(frame_table(title, table.tail(60), fmts))
        if table.height > 60:
            console.print(f"(last 60 of {table.height} rows; --json for all)")
    for comparison, by_status in counts.items():
        parts = ", ".join(f"{s} {n}" for s, n in by_status.items())
        console.print(f"{comparison}: {parts}", highlight=False)
    if code:
        err_console.print("mismatches found (--strict)")
        raise typer.Exit(code)


def _reconcile_daily(
    tickers: list[str] | None, abs_tol: float | None, rel_tol: float | None, db: Path | None, as_json: bool
) -> None:
    """`reconcile --daily`: per fund, vendor and year, the alignment that fits best and what still differs."""
    from etfflow.reconcile_daily import DEFAULT_ABS_TOL, DEFAULT_REL_TOL, alignment_changes

    a_tol = DEFAULT_ABS_TOL if abs_tol is None else abs_tol
    r_tol = DEFAULT_REL_TOL if rel_tol is None else rel_tol
    with handled(), Store(db, read_only=True) as store:
        label = pipeline.synthetic_label(store)
        result = pipeline.reconcile_daily_store(
            store, tickers=[t.upper() for t in tickers] if tickers else None, abs_tol=a_tol, rel_tol=r_tol
        )
        if result.years.height == 0:
            raise NotFoundError(
                "nothing to reconcile daily: the warehouse needs vendor flows (etfflow import) for funds "
                "that also have flows computed from shares outstanding"
            )
    changes = alignment_changes(result.years)
    tolerance = {"abs_usd": a_tol, "rel": r_tol}
    if as_json:
        emit_json(
            {
                "label": label,
                "tolerance": tolerance,
                "rows": result.rows(),
                "alignment_changes": changes,
                "left_out": result.left_out,
            }
        )
        return
    if label:
        console.print(f"[bold yellow]{label}[/]", highlight=False)
    share = lambda x: "n/a" if x is None or x != x else f"{100 * x:.1f}%"  # noqa: E731
    for (vendor, ticker), part in result.years.group_by("vendor", "ticker", maintain_order=True):
        table = part.select(
            "year",
            pl.col("offset").map_elements(lambda o: f"{o:+d}", return_dtype=pl.String).alias("offset"),
            pl.col("nav_basis").alias("nav"),
            "days",
            pl.col("match_share").alias("match"),
            pl.col("any_match_share").alias("any_align"),
            pl.col("correlation").alias("corr"),
            pl.col("computed_usd").alias("computed"),
            pl.col("vendor_usd").alias("vendor"),
            pl.col("diff_usd").alias("diff"),
        )
        console.print(
            frame_table(
                f"{ticker}: computed vs {vendor} daily flows, by year (offset = vendor date - trade date)",
                table,
                {
                    "match": share,
                    "any_align": share,
                    "corr": lambda x: "n/a" if x is None or x != x else f"{x:.3f}",
                    "computed": fmt_usd,
                    "vendor": fmt_usd,
                    "diff": fmt_usd,
                },
            )
        )
    worst = result.worst.join(
        result.years.filter(pl.col("match_share") < 0.99).select("vendor", "ticker", "year"),
        on=["vendor", "ticker", "year"],
    )
    if worst.height:
        console.print(
            frame_table(
                "Worst days (years matching < 99%; --json for every year)",
                worst.select(
                    "ticker", "trade_date", "vendor_date", "computed_usd", "vendor_usd", "diff_usd"
                ).head(30),
                {"computed_usd": fmt_usd, "vendor_usd": fmt_usd, "diff_usd": fmt_usd},
            )
        )
    for c in changes:
        console.print(f"alignment change: {c}", highlight=False)
    console.print(
        f"match = days within max({fmt_usd(a_tol).lstrip('+')}, {r_tol:.0%}); any_align = days matching "
        "under some alignment (well above match: the alignment changed within the year); nav t = "
        "dSO x NAV of the trade date, t-1 = of the session before; diff = computed - vendor.",
        highlight=False,
    )


@app.command("import-flows")
def import_flows(
    file: Annotated[
        Path, typer.Argument(help="CSV with date, ticker and flow columns (e.g. an ETF.com export).")
    ],
    source: Annotated[str, typer.Option(help="Name of the vendor (kept with each row).")] = "vendor",
    units: Annotated[
        str | None, typer.Option(help="usd, k, mm or bn (default: from the header, else usd).")
    ] = None,
    ticker: Annotated[str | None, typer.Option(help="Ticker for a single-fund export without one.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a vendor's daily flows (long, per-fund workbook or wide; gzip too) under a vendor name.

    `etfflow import` recognises the same files by content (vendor name "vendor"); use import-flows to
    name the vendor (--source, then `--flows vendor:NAME`) or to state the units.
    """
    with handled():
        if not file.exists():
            raise NotFoundError(f"no such file: {file}")
        with Store(db) as store:
            r = pipeline.import_vendor_flows(store, file, source=source, units=units, ticker=ticker)
    if as_json:
        emit_json(r.as_dict())
        return
    print_import(r, f"{r.rows:,} vendor flow rows ({source}) for {', '.join(r.tickers[:12]) or '-'}")
