"""The `report` command: the dated flow report as Markdown, self-contained HTML or JSON."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from etfflow.cli.app import DbOpt, FlowsOpt, JsonOpt, app, console, emit_json, err_console, handled
from etfflow.errors import StoreError
from etfflow.safety import atomic_write_text, dumps_json
from etfflow.store import Store

FORMATS = ("md", "html", "json")


def default_out(as_of: dt.date, fmt: str) -> Path:
    """reports/etfflow-report-<as_of>.<ext> under the current directory."""
    return Path("reports") / f"etfflow-report-{as_of}.{fmt}"


@app.command()
def report(
    as_of: Annotated[
        dt.datetime | None,
        typer.Option(
            "--as-of", formats=["%Y-%m-%d"], help="Report date: flows known by then (default: latest)."
        ),
    ] = None,
    window: Annotated[int, typer.Option(help="Sessions the flow window covers.", min=1)] = 5,
    start: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="First trade date of the flow window (replaces --window)."),
    ] = None,
    end: Annotated[
        dt.datetime | None,
        typer.Option(
            formats=["%Y-%m-%d"],
            help="Last trade date of the flow window (default --as-of: the day its last flow was known).",
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="md, html (self-contained) or json.")] = "md",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Output file (default: reports/etfflow-report-<as_of>.<ext>)."),
    ] = None,
    rules: Annotated[
        str, typer.Option(help="framework (the framework's rules) or etfflow (etfflow's variants).")
    ] = "framework",
    flow_source: FlowsOpt = "best",
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the dated ETF flow report (broad market, sectors, styles, bonds, themes, signals)."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(FORMATS)}", param_hint="--format")
    if start and end and start > end:
        raise typer.BadParameter(f"--start {start.date()} is after --end {end.date()}", param_hint="--start")
    from etfflow.api import report_span, stale_warning
    from etfflow.cli.core import open_warehouse
    from etfflow.report.build import ReportOptions, report_from_store
    from etfflow.report.html import render_html
    from etfflow.report.markdown import render_markdown
    from etfflow.signals.rules import PRESETS

    if rules not in PRESETS:
        raise typer.BadParameter(f"use one of {', '.join(PRESETS)}", param_hint="--rules")
    with handled():
        with Store(open_warehouse(db).path, read_only=True) as store:
            a, w = report_span(
                store,
                as_of.date() if as_of else None,
                window,
                start.date() if start else None,
                end.date() if end else None,
            )
            rep = report_from_store(
                store, as_of=a, window=w, flow_source=flow_source, options=ReportOptions(rules=PRESETS[rules])
            )
            stale = stale_warning(store, as_of.date() if as_of else None)
        data = rep.as_dict()
        if fmt == "md":
            text = render_markdown(rep)
        elif fmt == "html":
            text = render_html(rep)
        else:
            text = dumps_json(data) + "\n"
        path = out or default_out(rep.as_of, fmt)
        try:
            atomic_write_text(path, text)
        except OSError as exc:
            raise StoreError(f"cannot write the report to {path}: {exc}") from exc
    if stale:
        err_console.print(f"warning: {stale}", style="yellow", highlight=False, soft_wrap=True)
    if as_json:
        emit_json({"out": str(path), "format": fmt, "warnings": [stale] if stale else [], **data})
        return
    if rep.label:
        console.print(rep.label, style="bold yellow", highlight=False)
    console.print(f"{rep.title} (as of {rep.as_of}, {rep.window} sessions, {rep.funds_with_data} funds)")
    empty = rep.empty_sections()
    if empty:
        console.print(f"Sections without data: {', '.join(empty)}", highlight=False)
    console.print(f"Report written to {path.resolve()}", highlight=False, soft_wrap=True)
