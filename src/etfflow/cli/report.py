"""The `report` command: the dated flow report as Markdown, self-contained HTML or JSON."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from etfflow.cli.app import DbOpt, FlowsOpt, JsonOpt, app, console, emit_json, handled
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
    from etfflow.report.build import ReportOptions, report_from_store
    from etfflow.report.html import render_html
    from etfflow.report.markdown import render_markdown
    from etfflow.signals.rules import PRESETS

    if rules not in PRESETS:
        raise typer.BadParameter(f"use one of {', '.join(PRESETS)}", param_hint="--rules")
    with handled():
        with Store(db, read_only=True) as store:
            rep = report_from_store(
                store,
                as_of=as_of.date() if as_of else None,
                window=window,
                flow_source=flow_source,
                options=ReportOptions(rules=PRESETS[rules]),
            )
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
    if as_json:
        emit_json({"out": str(path), "format": fmt, **data})
        return
    if rep.label:
        console.print(rep.label, style="bold yellow", highlight=False)
    console.print(f"{rep.title} (as of {rep.as_of}, {rep.window} sessions, {rep.funds_with_data} funds)")
    empty = rep.empty_sections()
    if empty:
        console.print(f"Sections without data: {', '.join(empty)}", highlight=False)
    console.print(f"Report written to {path.resolve()}", highlight=False, soft_wrap=True)
