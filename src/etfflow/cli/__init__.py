"""The `etfflow` command line: a thin Typer + Rich layer over the library."""

from __future__ import annotations

# Importing the command modules registers their commands on `app`.
from etfflow.cli import backtest as _backtest  # noqa: F401  (side effect: registration)
from etfflow.cli import core as _core  # noqa: F401  (side effect: registration)
from etfflow.cli import data as _data  # noqa: F401  (side effect: registration)
from etfflow.cli import groups as _groups  # noqa: F401  (side effect: registration)
from etfflow.cli import report as _report  # noqa: F401  (side effect: registration)
from etfflow.cli import research as _research  # noqa: F401  (side effect: registration)
from etfflow.cli import seeds as _seeds  # noqa: F401  (side effect: registration)
from etfflow.cli.app import app, main

__all__ = ["app", "main"]
