"""Shared CLI plumbing: the Typer app, options, JSON output, error-to-exit-code mapping, progress."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import polars as pl
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from etfflow import errors

if TYPE_CHECKING:
    from etfflow.pipeline import ImportSummary

app = typer.Typer(
    name="etfflow",
    help="ETF flows from creations and redemptions: warehouse, signals, reports and backtests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err_console = Console(stderr=True)

DbOpt = Annotated[
    Path | None,
    typer.Option("--db", help="Warehouse file (default: $ETFFLOW_DB or ~/.etfflow/etfflow.duckdb)."),
]
FlowsOpt = Annotated[
    str,
    typer.Option(
        "--flows",
        help="Flow source: computed (from shares), vendor[:NAME] (published flows) or best "
        "(computed where a fund has them, vendor otherwise).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON instead of tables.")]

#: Exit codes: 0 success, 1 bad input data, 2 usage, 3 not found, 4 warehouse, 5 config, 6 network.
EXIT_CODES: list[tuple[type[errors.EtfflowError], int]] = [
    (errors.NotFoundError, 3),
    (errors.StoreError, 4),
    (errors.ConfigError, 5),
    (errors.TransportError, 6),
    (errors.EtfflowError, 1),
]

F = TypeVar("F", bound=Callable[..., Any])


def main() -> None:
    """Console-script entry point."""
    app()


@contextmanager
def handled() -> Iterator[None]:
    """Turn etfflow errors into a one-line message on stderr and a meaningful exit code."""
    try:
        yield
    except errors.EtfflowError as exc:
        code = next(c for t, c in EXIT_CODES if isinstance(exc, t))
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(code) from exc


@contextmanager
def progress(enabled: bool = True) -> Iterator[Callable[[str, float], None]]:
    """A Rich progress bar on stderr; yields `update(message, fraction)`."""
    if not enabled or not err_console.is_terminal:
        yield lambda _m, _f: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=1.0)

        def update(message: str, frac: float) -> None:
            bar.update(task, description=message, completed=frac)

        yield update


def to_jsonable(obj: Any) -> Any:
    """Frames become lists of records, dataclasses dicts, dates ISO strings."""
    if isinstance(obj, pl.DataFrame):
        return obj.to_dicts()
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    return obj


def emit_json(payload: Any) -> None:
    """Write a JSON document to stdout."""
    sys.stdout.write(json.dumps(payload, default=_default, indent=2, allow_nan=False) + "\n")


def _default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    conv = to_jsonable(obj)
    if conv is obj:
        return str(obj)
    return conv


def print_import(r: ImportSummary, what: str) -> None:
    """One imported file: `what` was read, what it did to the warehouse, then its dropped rows and notes."""
    state = " (already imported: nothing changed)" if r.already_imported else ""
    console.print(
        f"{r.file}: {what}; added {r.added:,}, changed {r.changed:,}, unchanged {r.unchanged:,}{state}",
        highlight=False,
    )
    for why, n in r.dropped.items():
        console.print(f"  dropped {n:,} rows: {why.replace('_', ' ')}")
    for note in r.notes:
        console.print(f"  note: {note}")


def fmt_usd(x: float | None) -> str:
    """$1.23bn style."""
    if x is None or x != x:
        return "n/a"
    a = abs(x)
    for div, suf in ((1e12, "tn"), (1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if a >= div:
            return f"{x / div:+,.2f}{suf}"
    return f"{x:+,.0f}"


def fmt_pct(x: float | None, digits: int = 2) -> str:
    """A fraction as a signed percentage."""
    if x is None or x != x:
        return "n/a"
    return f"{100 * x:+.{digits}f}%"


def frame_table(title: str, frame: pl.DataFrame, formats: dict[str, Callable[[Any], str]]) -> Table:
    """A Rich table of a frame, formatting the named columns."""
    t = Table(title=title, title_justify="left")
    for c in frame.columns:
        t.add_column(c, justify="right" if frame[c].dtype.is_numeric() else "left")
    for row in frame.iter_rows(named=True):
        t.add_row(*[formats.get(c, _plain)(v) for c, v in row.items()])
    return t


def _plain(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.4g}"
    return str(v)


def nan_to_none(frame: pl.DataFrame) -> pl.DataFrame:
    """NaN floats become nulls (JSON has no NaN)."""
    return frame.with_columns(pl.col(pl.Float64).fill_nan(None))
