"""Numba kernels for daily flows on long arrays sorted by (ticker, session), one group per ticker.

Inputs are plain arrays; `etfflow.flows.daily` unwraps frames, calls these and wraps the result.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Flag bits, mirrored from etfflow.flows.flags.Flag (numba cannot read IntFlag members).
NAV_FROM_CLOSE = 1 << 0
NO_PRICE = 1 << 1
GAP = 1 << 2
SPLIT = 1 << 3
BAD_PRINT = 1 << 4
ODD_LOT = 1 << 5
FIRST = 1 << 6
LARGE = 1 << 7

SPLIT_RATIOS = np.array([1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 25.0, 50.0, 100.0])


@njit(cache=True)
def _split_candidate_nb(r: float, tol: float, ratios: np.ndarray) -> float:
    """The split ratio k (or 1/k) within relative `tol` of r, else 0."""
    for k in ratios:
        if abs(r / k - 1.0) < tol:
            return float(k)
        if abs(r * k - 1.0) < tol:
            return float(1.0 / k)
    return 0.0


@njit(cache=True)
def _find_nav_jump_nb(
    nav: np.ndarray, split: np.ndarray, lo: int, hi: int, a: int, b: int, k: float, tol: float
) -> int:
    """Row in [a, b] (inside group [lo, hi)) where NAV moves by 1/k or a split factor k is declared."""
    a = max(a, lo + 1)
    b = min(b, hi - 1)
    for j in range(a, b + 1):
        f = split[j]
        if f == f and f > 0 and f != 1.0 and abs(f / k - 1.0) < 1e-6:
            return j
    for j in range(a, b + 1):
        x0 = nav[j - 1]
        x1 = nav[j]
        if x0 == x0 and x1 == x1 and x0 > 0 and abs((x1 / x0) * k - 1.0) < tol:
            return j
    return -1


@njit(cache=True)
def _group_flows_nb(
    lo: int,
    hi: int,
    sess: np.ndarray,
    so: np.ndarray,
    nav: np.ndarray,
    close: np.ndarray,
    split: np.ndarray,
    lag: np.ndarray,
    unit: float,
    split_tol_so: float,
    split_tol_nav: float,
    bad_jump: float,
    bad_rev_tol: float,
    large: float,
    odd_tol: float,
    ratios: np.ndarray,
    flow: np.ndarray,
    aum_prev: np.ndarray,
    dshares: np.ndarray,
    nav_used: np.ndarray,
    flags: np.ndarray,
    gap: np.ndarray,
    trade_sess: np.ndarray,
) -> None:
    n = hi - lo
    so_fac = np.ones(n)  # multiply raw SO to express it in the latest share units
    px_fac = np.ones(n)  # divide raw NAV/close likewise
    so_event = np.zeros(n)
    px_event = np.zeros(n)
    # 1. split events: an SO jump by ~k corroborated by a NAV move of ~1/k (or a declared factor) nearby
    p = -1
    for i in range(lo, hi):
        if so[i] != so[i]:
            continue
        if p >= 0 and so[p] > 0:
            k = _split_candidate_nb(so[i] / so[p], split_tol_so, ratios)
            if k != 0.0:
                w = lag[i] + 1
                j = _find_nav_jump_nb(nav, split, lo, hi, p + 1 - w, i + w, k, split_tol_nav)
                if j < 0:
                    j = _find_nav_jump_nb(close, split, lo, hi, p + 1 - w, i + w, k, split_tol_nav)
                if j >= 0:
                    so_event[i - lo] = k
                    px_event[j - lo] = k
        p = i
    acc_so = 1.0
    acc_px = 1.0
    for r in range(n - 1, -1, -1):
        so_fac[r] = acc_so
        px_fac[r] = acc_px
        if so_event[r] != 0.0:
            acc_so *= so_event[r]
        if px_event[r] != 0.0:
            acc_px *= px_event[r]
    # 2. flows on the adjusted series, stamped on the trade date (stated date minus the lag)
    p = -1
    for i in range(lo, hi):
        trade_sess[i] = sess[i] - lag[i]
        if so[i] != so[i]:
            continue
        # price at the trade date: the row of that session, searching back (rows are unique sessions)
        px = np.nan
        fl = 0
        t = sess[i] - lag[i]
        for j in range(i, lo - 1, -1):
            if sess[j] < t:
                break
            if sess[j] == t:
                if nav[j] == nav[j] and nav[j] > 0:
                    px = nav[j] / px_fac[j - lo]
                elif close[j] == close[j] and close[j] > 0:
                    px = close[j] / px_fac[j - lo]
                    fl |= NAV_FROM_CLOSE
                break
        if px != px:
            fl |= NO_PRICE
        nav_used[i] = px
        if p < 0:
            flags[i] = fl | FIRST
            p = i
            continue
        s1 = so[i] * so_fac[i - lo]
        s0 = so[p] * so_fac[p - lo]
        ds = s1 - s0
        dshares[i] = ds
        gap[i] = sess[i] - sess[p] - 1
        if gap[i] > 0:
            fl |= GAP
        if so_event[i - lo] != 0.0:
            fl |= SPLIT
        elif unit > 0:
            raw = so[i] - so[p]
            q = raw / unit
            # tolerance: half a share, or 0.1% of a unit where counts are derived (TNA / NAV rounding)
            if abs(q - np.round(q)) * unit > max(0.5, odd_tol * unit):
                fl |= ODD_LOT
        flow[i] = ds * px
        # prior AUM: previous shares count at its own trade-date price (found when p was processed)
        aum_prev[i] = s0 * nav_used[p]
        if aum_prev[i] > 0 and abs(flow[i]) > large * aum_prev[i]:
            fl |= LARGE
        flags[i] |= fl
        p = i
    # 3. one-observation spikes that reverse at the next observation (bad prints)
    p = -1
    i = -1
    for nxt in range(lo, hi):
        if so[nxt] != so[nxt]:
            continue
        if p >= 0 and i >= 0:
            a = so[p] * so_fac[p - lo]
            b = so[i] * so_fac[i - lo]
            c = so[nxt] * so_fac[nxt - lo]
            if a > 0 and abs(b / a - 1.0) > bad_jump and abs(c / a - 1.0) <= bad_rev_tol:
                flags[i] |= BAD_PRINT
                flags[nxt] |= BAD_PRINT
        p = i
        i = nxt


@njit(cache=True, parallel=True)
def flows_long_nb(
    starts: np.ndarray,
    sess: np.ndarray,
    so: np.ndarray,
    nav: np.ndarray,
    close: np.ndarray,
    split: np.ndarray,
    lag: np.ndarray,
    unit: np.ndarray,
    split_tol_so: float,
    split_tol_nav: float,
    bad_jump: float,
    bad_rev_tol: float,
    large: float,
    odd_tol: float,
    ratios: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flows for every row of a (ticker, session)-sorted long panel; groups start at `starts`.

    Returns flow_usd, aum_prev_usd, shares_change, nav_used, flags, gap_sessions, trade_session.
    Rows without a shares count get NaN flows and flags 0 (the caller drops them).
    """
    n = len(sess)
    flow = np.full(n, np.nan)
    aum_prev = np.full(n, np.nan)
    dshares = np.full(n, np.nan)
    nav_used = np.full(n, np.nan)
    flags = np.zeros(n, dtype=np.uint32)
    gap = np.zeros(n, dtype=np.int32)
    trade_sess = np.zeros(n, dtype=np.int64)
    g = len(starts) - 1
    for k in prange(g):
        _group_flows_nb(
            starts[k],
            starts[k + 1],
            sess,
            so,
            nav,
            close,
            split,
            lag,
            unit[k],
            split_tol_so,
            split_tol_nav,
            bad_jump,
            bad_rev_tol,
            large,
            odd_tol,
            ratios,
            flow,
            aum_prev,
            dshares,
            nav_used,
            flags,
            gap,
            trade_sess,
        )
    return flow, aum_prev, dshares, nav_used, flags, gap, trade_sess
