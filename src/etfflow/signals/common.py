"""Small pure helpers shared by the signal modules: signs, bands, tilts, group rows, JSON conversion."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import polars as pl

__all__ = ["band", "direction", "flow_fields", "fmt_pct", "fmt_usd", "jsonable", "num", "tilt", "tilt_ratio"]


def num(x: Any) -> float | None:
    """A finite float, or None for None / NaN / infinity."""
    if x is None:
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def direction(flow: float | None, aum: float | None = None, tol: float = 0.0) -> str | None:
    """'inflow', 'outflow' or 'flat' (|flow| <= tol x aum; exactly zero when tol is 0); None if unknown."""
    f = num(flow)
    if f is None:
        return None
    dead = tol * abs(num(aum) or 0.0)
    if f > dead:
        return "inflow"
    if f < -dead:
        return "outflow"
    return "flat"


def tilt_ratio(a: float | None, b: float | None) -> float | None:
    """Share of `a` in the pair (a, b), in [0, 1]: 0.5 + (a - b) / (2 (|a| + |b|)).

    Equals a / (a + b) when both are positive; 1 when a flows in and b out, 0 the other way round;
    when both flow out, the side that lost less scores above 0.5 (a=-1, b=-3 gives 0.75), where the
    naive a / (a + b) would give 0.25 and rank the larger loser first. None when both are zero or
    either is unknown.
    """
    x, y = num(a), num(b)
    if x is None or y is None:
        return None
    denom = abs(x) + abs(y)
    if denom == 0:
        return None
    # one rounding: (|a| + |b| + a - b) / (2 (|a| + |b|)) is the same ratio, exact at the band edges
    return (denom + x - y) / (2 * denom)


def band(value: float | None, hi: float, lo: float, labels: tuple[str, str, str]) -> str | None:
    """labels[0] when value >= hi, labels[2] when value <= lo, labels[1] in between; None if unknown."""
    v = num(value)
    if v is None:
        return None
    if v >= hi:
        return labels[0]
    if v <= lo:
        return labels[2]
    return labels[1]


def tilt(
    a: float | None, b: float | None, labels: tuple[str, str, str], bands: tuple[float, float]
) -> tuple[float | None, str | None]:
    """`tilt_ratio(a, b)` and its `band` label; (None, None) if a side is unknown, labels[1] if both are 0."""
    if a is None or b is None:
        return None, None
    r = tilt_ratio(a, b)
    if r is None:  # both sides exactly zero
        return None, labels[1]
    return r, band(r, bands[0], bands[1], labels)


def flow_fields(usd: float, aum: float | None, tickers: list[str], tol: float = 0.0) -> dict[str, Any]:
    """The flow columns of a group's row: net flow, start AUM, flow as % of AUM, funds, direction."""
    return {
        "flow_usd": usd,
        "aum_start_usd": aum,
        "flow_pct_aum": usd / aum if aum else None,
        "funds": len(tickers),
        "tickers": tickers,
        "direction": direction(usd, aum, tol),
    }


def fmt_usd(x: float | None) -> str:
    """Signed money in $k/$m/$bn/$tn style ('n/a' when unknown)."""
    v = num(x)
    if v is None:
        return "n/a"
    a = abs(v)
    sign = "+" if v > 0 else "-" if v < 0 else ""
    for div, suf in ((1e12, "tn"), (1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if a >= div:
            return f"{sign}${a / div:,.2f}{suf}"
    return f"{sign}${a:,.0f}"


def fmt_pct(x: float | None, digits: int = 2) -> str:
    """A fraction as a signed percentage ('n/a' when unknown)."""
    v = num(x)
    if v is None:
        return "n/a"
    return f"{100 * v:+.{digits}f}%"


def jsonable(obj: Any) -> Any:
    """Dataclasses, frames, dates and floats made JSON-ready (NaN and infinity become None)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, pl.DataFrame):
        return [jsonable(r) for r in obj.to_dicts()]
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, float):
        return num(obj)
    if isinstance(obj, dt.date):
        return obj.isoformat()
    return obj
