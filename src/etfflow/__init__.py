"""etfflow: ETF creations and redemptions turned into flow data, signals and tested strategies.

    import etfflow as ef
    ef.open("~/.etfflow/demo.duckdb")      # read-only; ef.open(path, create=True) makes a new file
    ef.flows(["SPY", "QQQ"], start="2025-01-01", freq="m").frame

The names below are the public API (`etfflow.api`); they are imported on first use, so
`import etfflow` stays fast.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Backtest",
    "Report",
    "Table",
    "Warehouse",
    "__version__",
    "backtest",
    "flows",
    "open",
    "quality",
    "report",
    "sectors",
    "top",
]

if TYPE_CHECKING:
    from etfflow.api import (
        Backtest,
        Report,
        Table,
        Warehouse,
        backtest,
        flows,
        open,
        quality,
        report,
        sectors,
        top,
    )


class _Package(types.ModuleType):
    """`flows`, `report` and `backtest` name both subpackages and API functions: the functions win.

    Importing a subpackage sets it as an attribute of its parent; the setter keeps it aside so that
    `ef.flows(...)`, `ef.report(...)` and `ef.backtest(...)` stay the API calls
    (`from etfflow.flows import ...` is unaffected).
    """

    @property
    def flows(self) -> Any:
        from etfflow.api import flows

        return flows

    @flows.setter
    def flows(self, module: Any) -> None:
        self.__dict__["_flows_package"] = module

    @property
    def backtest(self) -> Any:
        from etfflow.api import backtest

        return backtest

    @backtest.setter
    def backtest(self, module: Any) -> None:
        self.__dict__["_backtest_package"] = module

    @property
    def report(self) -> Any:
        from etfflow.api import report

        return report

    @report.setter
    def report(self, module: Any) -> None:
        self.__dict__["_report_package"] = module


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from etfflow import api

        return getattr(api, name)
    raise AttributeError(f"module 'etfflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
