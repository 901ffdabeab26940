"""Rolling percentiles, z-scores, sums and means per ticker of a long (date, ticker) frame.

Thin wrappers: pivot to a dates x tickers array, run a kernel from `etfflow.signals.nb`, add the result
as a column. A window counts rows of the frame's date axis (the union of its dates; a ticker without
a row on a date has a missing value there), trails and includes the current date, so a result uses no
later row. Point in time is the caller's filter: keep only rows with `available_on <= t` first.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from etfflow.errors import ValidationError
from etfflow.signals import nb

__all__ = ["Wide", "rolling_mean", "rolling_percentile", "rolling_sum", "rolling_zscore", "to_wide"]

F8 = npt.NDArray[np.float64]
Kernel = Callable[[F8, int, int], F8]


@dataclass(frozen=True, eq=False)
class Wide:
    """A dates x tickers float64 array (Fortran order, NaN = missing) with its labels."""

    dates: npt.NDArray[np.datetime64]
    tickers: list[str]
    values: F8
    index: str = "date"
    columns: str = "ticker"

    def to_long(self, name: str, *, drop_missing: bool = False) -> pl.DataFrame:
        """Long frame (index, columns, name) sorted by date then ticker; NaN becomes null."""
        n, m = self.values.shape
        date = pl.Series(self.index, np.repeat(self.dates.astype("datetime64[D]"), m))
        ticker = pl.Series(self.columns, self.tickers, dtype=pl.String).gather(np.tile(np.arange(m), n))
        value = pl.Series(name, np.ascontiguousarray(self.values).ravel()).fill_nan(None)
        frame = pl.DataFrame([date, ticker, value])
        return frame.drop_nulls(name) if drop_missing else frame


def _pivot(
    frame: pl.DataFrame, value: str, index: str, columns: str
) -> tuple[Wide, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The Wide array of `value` and, for each row of `frame`, its (date, ticker) cell."""
    for col in (index, columns, value):
        if col not in frame.columns:
            raise ValueError(f"column {col!r} is not in the frame (columns: {', '.join(frame.columns)})")
    if frame.schema[index] != pl.Date:
        raise ValueError(f"column {index!r} must be pl.Date, not {frame.schema[index]}")
    if not frame.schema[value].is_numeric():
        raise ValueError(f"column {value!r} must be numeric, not {frame.schema[value]}")
    keys = frame.select(pl.col(index), pl.col(columns).cast(pl.String))
    nulls = keys.null_count().row(0)
    if any(nulls):
        raise ValidationError(f"{sum(nulls)} null key value(s) in ({index}, {columns})", field=index)
    dates, d_idx = _codes_of_dates(keys.get_column(index).cast(pl.Int32).to_numpy())
    ticks = keys.get_column(columns)
    tickers = ticks.to_frame().group_by(columns).agg().get_column(columns).sort().to_list()
    t_idx = ticks.cast(pl.Enum(tickers)).to_physical().to_numpy().astype(np.int64)
    values = frame.get_column(value).cast(pl.Float64).fill_null(np.nan).to_numpy()
    wide_values, dup = nb.scatter_nb(d_idx, t_idx, values, (len(dates), len(tickers)))
    if dup >= 0:
        message = f"duplicate ({index}, {columns}) rows, e.g. {keys.row(dup)}"
        raise ValidationError(message, row=dup, field=columns)
    return Wide(dates, tickers, wide_values, index, columns), d_idx, t_idx


def _codes_of_dates(days: npt.NDArray[np.int32]) -> tuple[npt.NDArray[np.datetime64], npt.NDArray[np.int64]]:
    """Sorted distinct dates (from days since 1970-01-01) and each row's position among them."""
    if len(days) == 0:
        return np.array([], dtype="datetime64[D]"), np.zeros(0, dtype=np.int64)
    lo = int(days.min())
    span = int(days.max()) - lo + 1
    if span > max(4 * len(days), 1 << 20):  # sparse dates: sort them
        uniq, inverse = np.unique(days, return_inverse=True)
        return uniq.astype("datetime64[D]"), inverse.astype(np.int64)
    offset = days.astype(np.int64) - lo
    present = np.zeros(span, dtype=np.bool_)
    present[offset] = True
    position = np.cumsum(present, dtype=np.int64) - 1
    return (np.flatnonzero(present) + lo).astype("datetime64[D]"), position[offset]


def to_wide(frame: pl.DataFrame, value: str, index: str = "date", columns: str = "ticker") -> Wide:
    """Pivot a long frame to a Wide array: sorted dates x sorted tickers, missing cells NaN."""
    return _pivot(frame, value, index, columns)[0]


def _check(window: int, min_periods: int | None) -> tuple[int, int]:
    """(window, min_periods) as ints, min_periods defaulting to window; ValueError if out of range."""
    if isinstance(window, bool) or isinstance(min_periods, bool):
        raise ValueError("window and min_periods must be integers, not booleans")
    try:
        w = operator.index(window)
        mp = w if min_periods is None else operator.index(min_periods)
    except TypeError as exc:
        raise ValueError(f"window and min_periods must be integers: {exc}") from None
    if w < 1:
        raise ValueError(f"window must be >= 1, got {w}")
    if not 1 <= mp <= w:
        raise ValueError(f"min_periods must be between 1 and window ({w}), got {mp}")
    return w, mp


def _apply(
    kernel: Kernel,
    frame: pl.DataFrame,
    value: str,
    window: int,
    min_periods: int | None,
    name: str,
    index: str,
    columns: str,
) -> pl.DataFrame:
    """`frame` with column `name`: `kernel` over each ticker's trailing windows, null where undefined."""
    w, mp = _check(window, min_periods)
    wide, d_idx, t_idx = _pivot(frame, value, index, columns)
    result = nb.gather_nb(kernel(wide.values, w, mp), d_idx, t_idx)
    return frame.with_columns(pl.Series(name, result, dtype=pl.Float64).fill_nan(None))


def rolling_percentile(
    frame: pl.DataFrame,
    value: str,
    window: int,
    min_periods: int | None = None,
    *,
    name: str | None = None,
    index: str = "date",
    columns: str = "ticker",
) -> pl.DataFrame:
    """Add `name` (default `{value}_pctile_{window}`): share of the window's values <= each value."""
    col = name or f"{value}_pctile_{window}"
    return _apply(nb.rolling_percentile_nb, frame, value, window, min_periods, col, index, columns)


def rolling_zscore(
    frame: pl.DataFrame,
    value: str,
    window: int,
    min_periods: int | None = None,
    *,
    name: str | None = None,
    index: str = "date",
    columns: str = "ticker",
) -> pl.DataFrame:
    """Add `name` (default `{value}_z_{window}`): (value - window mean) / window std (ddof=1)."""
    col = name or f"{value}_z_{window}"
    return _apply(nb.rolling_zscore_nb, frame, value, window, min_periods, col, index, columns)


def rolling_sum(
    frame: pl.DataFrame,
    value: str,
    window: int,
    min_periods: int | None = None,
    *,
    name: str | None = None,
    index: str = "date",
    columns: str = "ticker",
) -> pl.DataFrame:
    """Add `name` (default `{value}_sum_{window}`): sum of the window's non-missing values."""
    col = name or f"{value}_sum_{window}"
    return _apply(nb.rolling_sum_nb, frame, value, window, min_periods, col, index, columns)


def rolling_mean(
    frame: pl.DataFrame,
    value: str,
    window: int,
    min_periods: int | None = None,
    *,
    name: str | None = None,
    index: str = "date",
    columns: str = "ticker",
) -> pl.DataFrame:
    """Add `name` (default `{value}_mean_{window}`): mean of the window's non-missing values."""
    col = name or f"{value}_mean_{window}"
    return _apply(nb.rolling_mean_nb, frame, value, window, min_periods, col, index, columns)
