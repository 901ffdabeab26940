"""The `research` command: the flow strategies tested on the real files, one report (md, html, json)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated

import typer

from etfflow.cli.app import JsonOpt, app, console, emit_json, handled
from etfflow.errors import ConfigError, NotFoundError, StoreError

DEFAULT_DATA = Path("../shared/data")


def _write(path: Path, text: str) -> None:
    """Write atomically: a temporary file beside the target, then rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc}") from exc


@app.command()
def research(
    scope: Annotated[str, typer.Argument(help="us, cn or all.")] = "all",
    out: Annotated[Path, typer.Option("--out", help="Folder for the report files.")] = Path("reports"),
    data: Annotated[Path, typer.Option("--data", help="The shared real-data folder.")] = DEFAULT_DATA,
    subset: Annotated[
        bool,
        typer.Option(
            "--subset", help="US: only a fixed set of 30 sector, bond, broad and commodity funds (fast)."
        ),
    ] = False,
    tickers: Annotated[
        str | None, typer.Option("--tickers", help="US: only these funds (comma separated).")
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db", help="Warehouse the files are imported into (default: OUT/etfflow-research.duckdb)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Test the flow strategies on the real US and China files; write Markdown, HTML and JSON reports."""
    from etfflow.research import SCOPES, SUBSET, run_research
    from etfflow.research.report import render_html, render_json, render_markdown

    with handled():
        if scope not in SCOPES:
            raise ConfigError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
        if not data.is_dir():
            raise NotFoundError(f"data folder not found: {data} (pass --data)")
        names = [t.strip().upper() for t in tickers.split(",") if t.strip()] if tickers else None
        if subset and names is None:
            names = list(SUBSET)
        cmd = (
            "etfflow research "
            + scope
            + (" --subset" if subset else "")
            + (f" --tickers {tickers}" if tickers else "")
        )
        say = (lambda m: None) if as_json else (lambda m: console.print(m, highlight=False))
        out.mkdir(parents=True, exist_ok=True)
        res = run_research(scope, data, db=db or out / "etfflow-research.duckdb", tickers=names, progress=say)
        today = dt.date.today().isoformat()
        stem = f"etfflow-research-{scope}-{today}"
        paths = {
            "md": out / f"{stem}.md",
            "html": out / f"{stem}.html",
            "json": out / f"{stem}.json",
        }
        _write(paths["md"], render_markdown(res, command=cmd, run_on=today))
        _write(paths["html"], render_html(res, command=cmd, run_on=today))
        _write(paths["json"], render_json(res, command=cmd, run_on=today))
    if as_json:
        emit_json(
            {"scope": scope, "files": {k: str(v) for k, v in paths.items()}, "timings_s": res["timings_s"]}
        )
        return
    console.print(
        f"Research report written to {paths['md'].resolve()} (+ .html, .json) in "
        f"{res['timings_s']['total']:.0f} s",
        highlight=False,
        soft_wrap=True,
    )
