"""Daily flows of single-source US panels as arrays: the rules and kernel of `etfflow.flows.daily`
without frames, for the millions of rows an import reads straight back from the warehouse.

Input rows are grouped by fund (group k is rows starts[k]:starts[k + 1]), each group in session
order; no estimated or month-end counts. Output: the `flows_daily` values of every row, NaN where
there is none (rows without a shares count have no flow: `FlowArrays.keep` is False). No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from etfflow import calendar
from etfflow.errors import DataQualityError

__all__ = ["FlowArrays", "flow_arrays"]


@dataclass(frozen=True)
class FlowArrays:
    """The `flows_daily` columns of each input row (`keep`: the row has a shares count, so a flow row)."""

    trade_date: np.ndarray  # datetime64[D]: the trade date the flow belongs to (stated date minus lag)
    flow: np.ndarray
    aum_prev: np.ndarray
    pct: np.ndarray
    dshares: np.ndarray
    nav_used: np.ndarray
    aum_method: np.ndarray  # bool: shares derived as total net assets / NAV
    flags: np.ndarray  # uint32
    gap: np.ndarray  # int32
    keep: np.ndarray  # bool


def flow_arrays(
    starts: np.ndarray,
    days: np.ndarray,
    so: np.ndarray,
    nav: np.ndarray,
    close: np.ndarray,
    split: np.ndarray,
    lag: np.ndarray,
    derived: np.ndarray,
    unit: np.ndarray,
    names: Sequence[str],
) -> FlowArrays:
    """Flows of grouped rows. `days`: datetime64[D] NYSE sessions; `so`: shares (NaN: none; already
    total net assets / NAV where `derived`); `lag`: reporting lag in sessions, negative where unknown;
    `unit`: creation unit shares per group (0: unknown); `names`: the ticker of each group (messages).
    """
    from etfflow.flows.daily import FlowParams
    from etfflow.flows.flags import Flag
    from etfflow.flows.nb import SPLIT_RATIOS, flows_long_nb

    sess = calendar.session_positions(days)
    if (sess < 0).any():
        bad = int(np.flatnonzero(sess < 0)[0])
        k = int(np.searchsorted(starts, bad, "right")) - 1
        raise DataQualityError(f"{names[k]} has a row dated {days[bad]}, which is not an NYSE session")
    unknown = lag < 0
    flow, aum_prev, dshares, nav_used, flags, gap, trade_sess = flows_long_nb(
        starts.astype(np.int64, copy=False),
        sess,
        so,
        nav,
        close,
        split,
        np.where(unknown, 0, lag).astype(np.int64, copy=False),
        unit.astype(np.float64, copy=False),
        *FlowParams().thresholds(),
        SPLIT_RATIOS,
    )
    flags |= np.where(unknown, np.uint32(Flag.LAG_UNKNOWN), np.uint32(0)).astype(np.uint32)
    flags = np.where(derived, flags & ~np.uint32(Flag.ODD_LOT), flags).astype(np.uint32)
    sessions = calendar.sessions()
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(aum_prev > 0, flow / aum_prev, np.nan)
    return FlowArrays(
        trade_date=sessions[np.clip(trade_sess, 0, len(sessions) - 1)],
        flow=flow,
        aum_prev=aum_prev,
        pct=pct,
        dshares=dshares,
        nav_used=nav_used,
        aum_method=derived,
        flags=flags,
        gap=gap,
        keep=~np.isnan(so),
    )
