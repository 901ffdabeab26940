"""Quality flags on daily flows: a bitmask, so a row can carry several and counting is vectorised."""

from __future__ import annotations

from enum import IntFlag

import polars as pl

__all__ = ["EXCLUDED_BY_DEFAULT", "Flag", "decode", "flag_counts"]


class Flag(IntFlag):
    """Why a daily flow deserves a second look."""

    NAV_FROM_CLOSE = 1 << 0  # NAV missing: the close was used
    NO_PRICE = 1 << 1  # neither NAV nor close: flow unknown (null)
    GAP = 1 << 2  # the shares change spans sessions with no shares count
    SPLIT = 1 << 3  # a split/reverse split was detected and adjusted (never a flow)
    BAD_PRINT = 1 << 4  # one-session shares spike that reverses the next session
    ODD_LOT = 1 << 5  # change is not a whole number of creation units
    FIRST = 1 << 6  # first observation: no previous count, no flow
    LARGE = 1 << 7  # |flow| above 25% of prior AUM (often launches or data errors)
    LAG_UNKNOWN = 1 << 8  # the source did not declare its reporting lag (0 assumed)
    ESTIMATED = 1 << 9  # a shares count the source marks as its estimate, not a published figure


EXCLUDED_BY_DEFAULT = Flag.BAD_PRINT | Flag.NO_PRICE | Flag.FIRST


def decode(flags: int) -> list[str]:
    """Names of the flags set in `flags`, lower case."""
    return [f.name.lower() for f in Flag if f.name and flags & f.value]


def flag_counts(flows: pl.DataFrame) -> pl.DataFrame:
    """Count of rows per flag (one row per flag set at least once): flag, rows, first, last."""
    rows = []
    for f in Flag:
        hit = flows.filter((pl.col("flags") & int(f.value)) != 0)
        if hit.height:
            rows.append(
                {
                    "flag": (f.name or "").lower(),
                    "rows": hit.height,
                    "first": hit["date"].min(),
                    "last": hit["date"].max(),
                }
            )
    schema = {"flag": pl.String, "rows": pl.Int64, "first": pl.Date, "last": pl.Date}
    return pl.DataFrame(rows, schema=schema)
