"""Shared CLI plumbing: the Typer app, options, JSON output, error-to-exit-code mapping, progress."""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import polars as pl
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from typer._click.core import Context as _Context
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from etfflow import errors
from etfflow.safety import dumps_json

if TYPE_CHECKING:
    from etfflow.pipeline import ImportSummary

#: set to 1 (or pass the global --debug) to see the Python traceback of an unexpected error
DEBUG_ENV = "ETFFLOW_DEBUG"
_debug = {"on": False}


def debug_enabled() -> bool:
    """True when --debug was given or $ETFFLOW_DEBUG is set to something other than 0/empty."""
    return _debug["on"] or os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def report_unexpected(exc: BaseException) -> int:
    """Print a short message for an error (the traceback too with --debug); returns the exit code."""
    if isinstance(exc, errors.EtfflowError):
        code = next(c for t, c in EXIT_CODES if isinstance(exc, t))
        err_console.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False, soft_wrap=True)
        return code
    if debug_enabled():
        err_console.print(
            "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
            highlight=False,
            soft_wrap=True,
        )
    detail = errors.quote(str(exc), 200) if str(exc) else ""
    err_console.print(
        Text.assemble(
            ("error: ", "bold red"),
            f"unexpected {type(exc).__name__}" + (f": {detail}" if detail else ""),
            "" if debug_enabled() else f" (rerun with --debug, or {DEBUG_ENV}=1, to see the traceback)",
        ),
        highlight=False,
        soft_wrap=True,
    )
    return 1


#: Typer's own signals (exit codes, usage errors, aborts) that reach the user as Typer shows them
_PASS_THROUGH = (Exit, TyperException, Abort)


class SafeGroup(TyperGroup):
    """The command group: no Python traceback reaches a user, whatever a command raises."""

    def invoke(self, ctx: _Context) -> Any:
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except Exception as exc:  # the last line of defence: every other error becomes a message
            raise typer.Exit(report_unexpected(exc)) from exc

    def get_help_option(self, ctx: _Context) -> Any:
        return _quiet(super().get_help_option(ctx))

    def get_command(self, ctx: _Context, cmd_name: str) -> Any:
        cmd = super().get_command(ctx, cmd_name)
        if cmd is not None:  # Typer shows a flag's type as "<bool>": flags need no type column
            _quiet(cmd.get_help_option(ctx))
            for param in cmd.params:
                if getattr(param, "is_flag", False) and param.metavar is None:
                    _quiet(param)
        return cmd


def _quiet(option: Any) -> Any:
    if option is not None:
        option.metavar = ""
    return option


app = typer.Typer(
    name="etfflow",
    help="ETF flows from creations and redemptions: warehouse, signals, reports and backtests.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=SafeGroup,
)


def _version(value: bool) -> None:
    if value:
        from etfflow import __version__

        console.print(f"etfflow {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _global_options(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", metavar="", help=f"Show the traceback of unexpected errors (or {DEBUG_ENV}=1)."
        ),
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", metavar="", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """ETF flows from creations and redemptions: warehouse, signals, reports and backtests."""
    _debug["on"] = debug


# Markup is off: data (fund names, tickers, file names) is printed as it is, never read as Rich markup.
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)

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
JsonOpt = Annotated[
    bool, typer.Option("--json", metavar="", help="Print the result as JSON instead of tables.")
]

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
    """Console-script entry point (errors outside any command also become a short message)."""
    try:
        app()
    except SystemExit:
        raise
    except Exception as exc:
        sys.exit(report_unexpected(exc))


@contextmanager
def handled() -> Iterator[None]:
    """Turn etfflow errors into a one-line message on stderr and a meaningful exit code.

    Any other exception becomes a short "unexpected" message with exit code 1 (the traceback with --debug).
    """
    try:
        yield
    except _PASS_THROUGH:
        raise
    except Exception as exc:
        raise typer.Exit(report_unexpected(exc)) from exc


@contextmanager
def progress(enabled: bool = True) -> Iterator[Callable[[str, float], None]]:
    """A Rich progress bar on stderr; yields `update(message, fraction)`."""
    if not enabled or not err_console.is_terminal:
        yield lambda _m, _f: None
        return
    with Progress(
        TextColumn("{task.description}", markup=False),
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
    """Write a JSON document to stdout; non-finite numbers (inf, NaN) are written as null."""
    sys.stdout.write(dumps_json(to_jsonable(payload)) + "\n")


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
