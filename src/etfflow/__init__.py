"""etfflow: ETF creations and redemptions turned into flow data, signals and tested strategies."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
