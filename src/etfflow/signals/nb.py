"""Numba kernels for rolling statistics on 2-D float64 arrays (rows = dates, columns = funds).

Every window is trailing and includes the current row, so no kernel looks ahead. NaN means missing:
it is skipped inside windows, and a window with fewer than `min_periods` valid values gives NaN.
Each public function checks its arguments, allocates a Fortran-ordered (column-contiguous) output
and fills it with a private numba kernel that runs one column per thread; pass Fortran-ordered
inputs (`np.asfortranarray`) for the best speed. Outputs are allocated by numba, not NumPy: NumPy
asks for transparent huge pages, and their faults can stall in memory compaction (timed: up to
twice slower on a shared machine).
"""

from __future__ import annotations

import operator
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import numpy.typing as npt
from numba import njit, prange

__all__ = [
    "flow_pct_nb",
    "flow_usd_nb",
    "gather_nb",
    "rolling_mean_nb",
    "rolling_percentile_nb",
    "rolling_sum_nb",
    "rolling_zscore_nb",
    "scatter_nb",
]

F8 = npt.NDArray[np.float64]
U8 = npt.NDArray[np.uint64]
I8 = npt.NDArray[np.int64]

# Percentile windows up to this many rows are counted by popcounting their words of the row bitset
# (at most 17 words); longer ones through a Fenwick tree over words, O(log n).
_DIRECT_ROWS = 1024


def _check(window: int, min_periods: int) -> None:
    """Raise ValueError unless window and min_periods are integers with 1 <= min_periods <= window."""
    if isinstance(window, bool) or isinstance(min_periods, bool):
        raise ValueError("window and min_periods must be integers, not booleans")
    try:
        operator.index(window)
        operator.index(min_periods)
    except TypeError as exc:
        raise ValueError(f"window and min_periods must be integers: {exc}") from None
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not 1 <= min_periods <= window:
        raise ValueError(f"min_periods must be between 1 and window ({window}), got {min_periods}")


def _as_2d(x: npt.ArrayLike) -> F8:
    """x as a 2-D float64 array (no copy when it already is one)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array (dates x funds), got {a.ndim}-D")
    return a


@njit(cache=True)
def _empty_nb(n: int, m: int) -> F8:
    """An uninitialised n x m Fortran-ordered float64 array."""
    return np.empty((m, n)).T


@njit(cache=True)
def _empty_keys_nb(n: int, m: int) -> U8:
    """An uninitialised n x m Fortran-ordered uint64 array."""
    return np.empty((m, n), dtype=np.uint64).T


@njit(cache=True, inline="always")
def _add_nb(s: float, c: float, v: float) -> tuple[float, float]:
    """Neumaier-compensated s + v: the new (sum, compensation)."""
    t = s + v
    if abs(s) >= abs(v):
        c += (s - t) + v
    else:
        c += (v - t) + s
    return t, c


# --- long rows to a wide array ------------------------------------------------------------------


@njit(cache=True)
def _scatter_nb(rows: I8, cols: I8, values: F8, n: int, m: int) -> tuple[F8, int]:
    """Body of scatter_nb."""
    out = np.full((m, n), np.nan).T
    seen = np.zeros((m, n), dtype=np.bool_).T
    for k in range(len(rows)):
        i = rows[k]
        j = cols[k]
        if seen[i, j]:
            return out, k
        seen[i, j] = True
        out[i, j] = values[k]
    return out, -1


def scatter_nb(rows: I8, cols: I8, values: F8, shape: tuple[int, int]) -> tuple[F8, int]:
    """Fortran-ordered array of `shape`, NaN but out[rows[k], cols[k]] = values[k]; first repeated k or -1."""
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    n, m = shape
    if not len(rows) == len(cols) == len(values):
        raise ValueError("rows, cols and values must have the same length")
    if len(rows) and (min(rows.min(), cols.min()) < 0 or rows.max() >= n or cols.max() >= m):
        raise ValueError(f"cell indices outside the shape {shape}")
    out, k = _scatter_nb(rows, cols, values, n, m)
    return out, int(k)


@njit(cache=True, parallel=True)
def _gather_nb(x: F8, rows: I8, cols: I8) -> F8:
    """Body of gather_nb."""
    out = np.empty(len(rows))
    for k in prange(len(rows)):
        out[k] = x[rows[k], cols[k]]
    return out


def gather_nb(x: F8, rows: I8, cols: I8) -> F8:
    """x[rows[k], cols[k]] for every k, as a 1-D array (the inverse of scatter_nb)."""
    x = _as_2d(x)
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    if len(rows) != len(cols):
        raise ValueError("rows and cols must have the same length")
    n, m = x.shape
    if len(rows) and (min(rows.min(), cols.min()) < 0 or rows.max() >= n or cols.max() >= m):
        raise ValueError(f"cell indices outside the shape {x.shape}")
    return _gather_nb(x, rows, cols)


# --- elementwise flows (benchmark steps 1 and 2) -------------------------------------------------


@njit(cache=True, parallel=True, error_model="numpy")
def _flow_usd_into_nb(so: F8, nav: F8, out: F8) -> None:
    """Body of flow_usd_nb."""
    n, m = so.shape
    for j in prange(m):
        if n > 0:
            out[0, j] = np.nan
        for i in range(1, n):
            out[i, j] = (so[i, j] - so[i - 1, j]) * nav[i, j]


@njit(cache=True, parallel=True, error_model="numpy")
def _flow_pct_into_nb(flow: F8, so: F8, nav: F8, out: F8) -> None:
    """Body of flow_pct_nb."""
    n, m = so.shape
    for j in prange(m):
        if n > 0:
            out[0, j] = np.nan
        for i in range(1, n):
            out[i, j] = flow[i, j] / (so[i - 1, j] * nav[i - 1, j])


def flow_usd_nb(so: F8, nav: F8) -> F8:
    """Daily flow (SO_t - SO_t-1) x NAV_t; NaN on the first row and wherever an input is missing."""
    so, nav = _as_2d(so), _as_2d(nav)
    if so.shape != nav.shape:
        raise ValueError(f"shapes differ: shares {so.shape}, nav {nav.shape}")
    out = _empty_nb(*so.shape)
    _flow_usd_into_nb(so, nav, out)
    return out


def flow_pct_nb(flow: F8, so: F8, nav: F8) -> F8:
    """Flow as a fraction of prior-day AUM, flow_t / (SO_t-1 x NAV_t-1); NaN on the first row."""
    flow, so, nav = _as_2d(flow), _as_2d(so), _as_2d(nav)
    if not flow.shape == so.shape == nav.shape:
        raise ValueError(f"shapes differ: flow {flow.shape}, shares {so.shape}, nav {nav.shape}")
    out = _empty_nb(*so.shape)
    _flow_pct_into_nb(flow, so, nav, out)
    return out


# --- rolling sum and mean ------------------------------------------------------------------------


@njit(cache=True, parallel=True, error_model="numpy")
def _rolling_sum_into_nb(x: F8, window: int, min_periods: int, mean: bool, out: F8) -> None:
    """Shared body of rolling_sum_nb / rolling_mean_nb: compensated running sums, infinities counted."""
    # O(n) per column: a Neumaier running sum, taken afresh every `window` rows (O(window) each time)
    n, m = x.shape
    for j in prange(m):
        s = 0.0
        c = 0.0
        cnt = 0
        pinf = 0
        ninf = 0
        since = 0  # rows since the sum was last taken afresh
        for i in range(n):
            v = x[i, j]
            if v == v:
                cnt += 1
                if v == np.inf:
                    pinf += 1
                elif v == -np.inf:
                    ninf += 1
                else:
                    s, c = _add_nb(s, c, v)
            if i >= window:
                v = x[i - window, j]
                if v == v:
                    cnt -= 1
                    if v == np.inf:
                        pinf -= 1
                    elif v == -np.inf:
                        ninf -= 1
                    else:
                        s, c = _add_nb(s, c, -v)
            since += 1
            if since >= window:
                # start afresh from the window's values: the result never depends on older rows
                s = 0.0
                c = 0.0
                for k in range(max(0, i - window + 1), i + 1):
                    u = x[k, j]
                    if np.isfinite(u):
                        s, c = _add_nb(s, c, u)
                since = 0
            if cnt < min_periods or (pinf > 0 and ninf > 0):
                out[i, j] = np.nan
            elif pinf > 0:
                out[i, j] = np.inf
            elif ninf > 0:
                out[i, j] = -np.inf
            elif mean:
                out[i, j] = (s + c) / cnt
            else:
                out[i, j] = s + c


def rolling_sum_nb(x: F8, window: int, min_periods: int) -> F8:
    """Sum of the valid values in the trailing window (also on rows whose own value is NaN). O(n)."""
    _check(window, min_periods)
    x = _as_2d(x)
    out = _empty_nb(*x.shape)
    _rolling_sum_into_nb(x, window, min_periods, False, out)
    return out


def rolling_mean_nb(x: F8, window: int, min_periods: int) -> F8:
    """Mean of the valid values in the trailing window (also on rows whose own value is NaN). O(n)."""
    _check(window, min_periods)
    x = _as_2d(x)
    out = _empty_nb(*x.shape)
    _rolling_sum_into_nb(x, window, min_periods, True, out)
    return out


# --- rolling z-score -----------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _centred_nb(x: F8, j: int, lo: int, hi: int, nfin: int) -> tuple[float, float, float, float, float]:
    """Shift (the mean) and compensated sums of x - shift and its square over rows [lo, hi] of column j."""
    t = 0.0
    for k in range(lo, hi + 1):
        u = x[k, j]
        if np.isfinite(u):
            t += u
    shift = t / nfin
    s1 = 0.0
    c1 = 0.0
    s2 = 0.0
    c2 = 0.0
    for k in range(lo, hi + 1):
        u = x[k, j]
        if np.isfinite(u):
            d = u - shift
            s1, c1 = _add_nb(s1, c1, d)
            s2, c2 = _add_nb(s2, c2, d * d)
    return shift, s1, c1, s2, c2


@njit(cache=True, parallel=True, error_model="numpy")
def _rolling_zscore_into_nb(x: F8, window: int, min_periods: int, out: F8) -> None:
    """Body of rolling_zscore_nb."""
    # O(n) per column: compensated sums of d = x - shift and d**2. The shift is moved to the window
    # mean (O(window)) when, checked every `window` rows, the mean has drifted more than a std from
    # it, or at once when the variance would lose over six digits to cancellation (a regime change).
    n, m = x.shape
    for j in prange(m):
        shift = 0.0
        s1 = 0.0
        c1 = 0.0
        s2 = 0.0
        c2 = 0.0
        nfin = 0  # finite values in the window
        ninf = 0  # infinite values in the window
        since = 0  # rows since the last drift check
        prev = -1  # row of the latest valid value
        last = 0.0  # its value
        other = -1  # row of the latest valid value that differs from its successor
        for i in range(n):
            lo = max(i - window + 1, 0)
            v = x[i, j]
            if v == v:
                if prev >= 0 and last != v:
                    other = prev
                prev = i
                last = v
                if np.isfinite(v):
                    if nfin == 0:
                        shift = v  # centre on the first value; sums are all zero here
                    nfin += 1
                    d = v - shift
                    s1, c1 = _add_nb(s1, c1, d)
                    s2, c2 = _add_nb(s2, c2, d * d)
                else:
                    ninf += 1
            if i >= window:
                u = x[i - window, j]
                if u == u:
                    if np.isfinite(u):
                        nfin -= 1
                        d = u - shift
                        s1, c1 = _add_nb(s1, c1, -d)
                        s2, c2 = _add_nb(s2, c2, -(d * d))
                    else:
                        ninf -= 1
            since += 1
            if nfin == 0:
                s1 = c1 = s2 = c2 = 0.0
                since = 0
            elif since >= window:
                since = 0
                a = s1 + c1
                if a * a > nfin * ((s2 + c2) - a * a / nfin):
                    shift, s1, c1, s2, c2 = _centred_nb(x, j, lo, i, nfin)
            cnt = nfin + ninf
            if v != v or cnt < min_periods or cnt < 2 or ninf > 0 or other < lo:
                # `other` before the window: every valid value in it is equal, so std is 0
                out[i, j] = np.nan
                continue
            a = s1 + c1
            m2 = (s2 + c2) - a * a / nfin
            if a * a >= 1e6 * nfin * m2:
                shift, s1, c1, s2, c2 = _centred_nb(x, j, lo, i, nfin)
                a = s1 + c1
                m2 = (s2 + c2) - a * a / nfin
            if m2 <= 0.0:
                out[i, j] = np.nan
                continue
            out[i, j] = (v - (shift + a / nfin)) / np.sqrt(m2 / (nfin - 1))


def rolling_zscore_nb(x: F8, window: int, min_periods: int) -> F8:
    """(x - mean) / std (ddof=1) over the trailing window; NaN where x is NaN, std is 0 or not finite."""
    _check(window, min_periods)
    x = _as_2d(x)
    out = _empty_nb(*x.shape)
    _rolling_zscore_into_nb(x, window, min_periods, out)
    return out


# --- rolling percentile --------------------------------------------------------------------------


@njit(cache=True, parallel=True, error_model="numpy")
def _sort_keys_into_nb(x: F8, bits: U8, idx_bits: int, keys: U8) -> None:
    """Order-preserving uint64 keys of x whose low `idx_bits` bits are replaced by the row number."""
    n, m = x.shape
    low = np.uint64((1 << idx_bits) - 1)
    high = ~low
    sign = np.uint64(1) << np.uint64(63)
    top = np.uint64(0xFFFFFFFFFFFFFFFF)  # NaN sorts last
    for j in prange(m):
        for i in range(n):
            v = x[i, j]
            b = bits[i, j]
            if v != v:
                k = top
            elif b & sign:
                k = ~b
            else:
                k = b | sign
            keys[i, j] = (k & high) | np.uint64(i)


_ALL = np.uint64(0xFFFFFFFFFFFFFFFF)
_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)


@njit(cache=True, inline="always")
def _popcount_nb(v: np.uint64) -> int:
    """Set bits in a 64-bit word (the SWAR idiom; LLVM turns it into one popcnt)."""
    v = v - ((v >> np.uint64(1)) & _M1)
    v = (v & _M2) + ((v >> np.uint64(2)) & _M2)
    v = (v + (v >> np.uint64(4))) & _M4
    return int((v * _H01) >> np.uint64(56))


@njit(cache=True, inline="always")
def _count_upto_nb(bits: U8, tree: npt.NDArray[np.int32], p: int) -> int:
    """Set bits in rows [0, p]: a Fenwick prefix over whole words plus the last partial word."""
    wd = p >> 6
    s = 0
    k = wd
    while k > 0:
        s += tree[k]
        k -= k & -k
    return s + _popcount_nb(bits[wd] & (_ALL >> np.uint64(63 - (p & 63))))


@njit(cache=True, inline="always")
def _count_between_nb(bits: U8, lo: int, hi: int) -> int:
    """Set bits in rows (lo, hi] by popcounting the words in between (lo may be negative)."""
    a = max(lo + 1, 0)
    wa = a >> 6
    wb = hi >> 6
    ma = _ALL << np.uint64(a & 63)
    mb = _ALL >> np.uint64(63 - (hi & 63))
    if wa == wb:
        return _popcount_nb(bits[wa] & ma & mb)
    s = _popcount_nb(bits[wa] & ma) + _popcount_nb(bits[wb] & mb)
    for q in range(wa + 1, wb):
        s += _popcount_nb(bits[q])
    return s


@njit(cache=True, parallel=True, error_model="numpy")
def _percentile_from_keys_nb(x: F8, keys: U8, out: F8, idx_bits: int, window: int, min_periods: int) -> None:
    """Rolling percentile from column-sorted keys into `out` (which may share the keys' memory)."""
    n, m = x.shape
    low = np.uint64((1 << idx_bits) - 1)
    nw = (n >> 6) + 1
    use_tree = window > _DIRECT_ROWS
    for j in prange(m):
        nv = 0
        for i in range(n):
            if x[i, j] == x[i, j]:
                nv += 1
        rows = np.empty(nv, dtype=np.int64)
        vals = np.empty(nv)
        for p in range(nv):
            rows[p] = np.int64(keys[p, j] & low)
            vals[p] = x[rows[p], j]
        # keys that agree above the row bits may be out of value order: rare, re-sort exactly
        for p in range(1, nv):
            if vals[p] < vals[p - 1]:
                perm = np.argsort(vals, kind="mergesort")
                rows = rows[perm]
                vals = vals[perm]
                break
        # mark rows in a bitset by increasing value; once a group of equal values is marked, the
        # marked rows inside a row's window are the window's values <= its own
        bits = np.zeros(nw, dtype=np.uint64)
        tree = np.zeros(nw + 1, dtype=np.int32)  # Fenwick tree of marked rows per word
        le = np.empty(n, dtype=np.int32)
        p = 0
        while p < nv:
            e = p + 1
            while e < nv and vals[e] == vals[p]:
                e += 1
            for q in range(p, e):
                i = rows[q]
                bits[i >> 6] |= np.uint64(1) << np.uint64(i & 63)
                if use_tree:
                    k = (i >> 6) + 1
                    while k <= nw:
                        tree[k] += 1
                        k += k & -k
            for q in range(p, e):
                i = rows[q]
                if use_tree:
                    c = _count_upto_nb(bits, tree, i)
                    if i >= window:
                        c -= _count_upto_nb(bits, tree, i - window)
                    le[i] = c
                else:
                    le[i] = _count_between_nb(bits, i - window, i)
            p = e
        # the column's keys are all read: its output may overwrite them now
        cnt = 0
        for i in range(n):
            v = x[i, j]
            if v == v:
                cnt += 1
            if i >= window and x[i - window, j] == x[i - window, j]:
                cnt -= 1
            if v != v or cnt < min_periods:
                out[i, j] = np.nan
            else:
                out[i, j] = le[i] / cnt


def rolling_percentile_nb(x: F8, window: int, min_periods: int) -> F8:
    """Share of the trailing window's valid values (itself included) that are <= each value; NaN -> NaN."""
    # The window minimum of n values scores 1/n, the maximum 1.0 (pandas' rank(pct=True, method="max")).
    # Each column is sorted once (NumPy's SIMD sort of keys that carry the row number, column blocks in
    # parallel threads); rows are then marked in a bitset in value order, and a row's count is the
    # marked rows in its window: O(n log n + n min(window / 64, log n)) per column.
    _check(window, min_periods)
    xf = np.asfortranarray(_as_2d(x))
    n, m = xf.shape
    idx_bits = max(1, (n - 1).bit_length())
    if idx_bits > 48:
        raise ValueError("too many rows for rolling_percentile_nb")
    keys = _empty_keys_nb(n, m)
    _sort_keys_into_nb(xf, xf.view(np.uint64), idx_bits, keys)
    threads = max(1, min(numba.get_num_threads(), m))
    if threads == 1 or n * m < 1 << 16:
        keys.sort(axis=0)
    else:
        edges = np.linspace(0, m, threads + 1).astype(np.int64)
        # NumPy releases the GIL while sorting, so column blocks sort in parallel
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(lambda a, b: keys[:, a:b].sort(axis=0), edges[:-1], edges[1:]))
    out = keys.view(np.float64)  # same shape and order: each column's keys give way to its results
    _percentile_from_keys_nb(xf, keys, out, idx_bits, window, min_periods)
    return out
