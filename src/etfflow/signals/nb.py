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
I4 = npt.NDArray[np.int32]

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


def _chunks(m: int) -> int:
    """How many blocks of columns to share among numba's threads (at least one)."""
    return max(1, min(m, 4 * numba.get_num_threads()))


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


# A window's mean may sit this many (squared, scaled) standard deviations from the shift before its
# variance is taken afresh: the shifted sums then keep about 10 of 16 digits (see _zscore_column_nb).
_Z_CANCEL = 1e4


@njit(cache=True, error_model="numpy")
def _zscore_column_nb(x: F8, j: int, window: int, min_periods: int, out: F8, sums: F8, buf: F8) -> None:
    """Rolling z-score of column j into out[:, j]; scratch `sums`: 2 per block, `buf`: 8 x (window + 1)."""
    # Rows are cut into blocks of `window`. A window ending in block b is a suffix of block b - 1 plus
    # a prefix of block b, so its sums of d = x - shift and d**2 are one suffix sum plus one prefix
    # sum, each of at most `window` values of the window itself: nothing is ever subtracted, so no
    # error from older rows is carried (no drift; an outlier leaving does no harm). The shift for
    # windows ending in block b is the mean of blocks b - 1 and b. A window whose mean lies far from
    # it in units of its std (a regime change, an outlier next door) would lose digits to
    # cancellation, so its moments are then taken afresh, centred on its own mean (O(window), rare).
    # Infinite values are counted, never summed. One loop runs the prefix sums of block b and the
    # suffix sums of block b (for block b + 1) side by side; a second, branch-free loop divides.
    n = x.shape[0]
    w = window
    nblocks = (n + w - 1) // w
    for b in range(nblocks):
        t = 0.0
        k = 0.0
        for r in range(b * w, min(n, b * w + w)):
            u = x[r, j]
            fin = u - u == 0.0
            t += u if fin else 0.0
            k += 1.0 if fin else 0.0
        sums[2 * b] = t
        sums[2 * b + 1] = k
    pre1 = buf[0 : w + 1]
    pre2 = buf[w + 1 : 2 * w + 2]
    nf = buf[2 * w + 2 : 3 * w + 3]
    ok = buf[3 * w + 3 : 4 * w + 4]
    suf1 = buf[4 * w + 4 : 5 * w + 5]  # suffix sums of the previous block, for this block's shift
    suf2 = buf[5 * w + 5 : 6 * w + 6]
    nxt1 = buf[6 * w + 6 : 7 * w + 7]  # suffix sums of this block, for the next block's shift
    nxt2 = buf[7 * w + 7 : 8 * w + 8]
    suf1[:] = 0.0
    suf2[:] = 0.0
    nxt1[w] = 0.0
    nxt2[w] = 0.0
    cnt = 0  # valid (non-NaN) values in the window
    ninf = 0  # infinite values in the window
    prev = -1  # row of the latest valid value
    last = 0.0  # its value
    other = -1  # row of the latest valid value that differs from its successor
    for b in range(nblocks):
        b0 = b * w
        size = min(n, b0 + w) - b0
        tot = sums[2 * b] + (sums[2 * b - 2] if b > 0 else 0.0)
        num = sums[2 * b + 1] + (sums[2 * b - 1] if b > 0 else 0.0)
        shift = tot / num if num > 0.0 else 0.0
        has_next = b + 1 < nblocks
        nshift = 0.0
        if has_next:
            num = sums[2 * b + 1] + sums[2 * b + 3]
            if num > 0.0:
                nshift = (sums[2 * b] + sums[2 * b + 2]) / num
        p1 = 0.0
        p2 = 0.0
        q1 = 0.0
        q2 = 0.0
        for q in range(size):
            i = b0 + q
            v = x[i, j]
            fin = v - v == 0.0
            d = v - shift if fin else 0.0
            p1 += d
            p2 += d * d
            pre1[q] = p1
            pre2[q] = p2
            if has_next:  # size == w here
                r = b0 + w - 1 - q
                u = x[r, j]
                e = u - nshift if u - u == 0.0 else 0.0
                q1 += e
                q2 += e * e
                nxt1[w - 1 - q] = q1
                nxt2[w - 1 - q] = q2
            valid = v == v
            if valid:
                cnt += 1
                if not fin:
                    ninf += 1
                other = prev if (prev >= 0 and last != v) else other
                prev = i
                last = v
            lo = i - w + 1
            if lo > 0:
                u = x[lo - 1, j]
                if u == u:
                    cnt -= 1
                    if u - u != 0.0:
                        ninf -= 1
            # `other` before the window: every valid value in it is equal, so std is 0
            good = valid and cnt >= min_periods and cnt >= 2 and ninf == 0 and other >= lo
            ok[q] = 1.0 if good else 0.0
            nf[q] = cnt
        redo = 0
        for q in range(size):
            c = nf[q]
            a = pre1[q] + suf1[q + 1]
            m2 = (pre2[q] + suf2[q + 1]) - a * a / c
            z = (x[b0 + q, j] - (shift + a / c)) / np.sqrt(m2 / (c - 1.0))
            far = a * a >= _Z_CANCEL * c * m2
            redo += 1 if (ok[q] != 0.0 and far) else 0
            out[b0 + q, j] = z if (ok[q] != 0.0 and not far) else np.nan
        if redo:
            for q in range(size):
                c = nf[q]
                a = pre1[q] + suf1[q + 1]
                m2 = (pre2[q] + suf2[q + 1]) - a * a / c
                if ok[q] != 0.0 and a * a >= _Z_CANCEL * c * m2:
                    i = b0 + q
                    nfin = int(c)
                    mu, a1, ca, a2, cb = _centred_nb(x, j, max(i - w + 1, 0), i, nfin)
                    a = a1 + ca
                    m2 = (a2 + cb) - a * a / nfin
                    if m2 > 0.0:
                        out[i, j] = (x[i, j] - (mu + a / nfin)) / np.sqrt(m2 / (nfin - 1))
        suf1, nxt1 = nxt1, suf1
        suf2, nxt2 = nxt2, suf2


@njit(cache=True, parallel=True, error_model="numpy")
def _rolling_zscore_into_nb(x: F8, window: int, min_periods: int, out: F8, chunks: int) -> None:
    """Body of rolling_zscore_nb: `chunks` blocks of columns in parallel, one scratch each."""
    n, m = x.shape
    for c in prange(chunks):
        sums = np.empty(2 * ((n + window - 1) // window) + 2)
        buf = np.empty(8 * (window + 1))
        for j in range(c * m // chunks, (c + 1) * m // chunks):
            _zscore_column_nb(x, j, window, min_periods, out, sums, buf)


def rolling_zscore_nb(x: F8, window: int, min_periods: int) -> F8:
    """(x - mean) / std (ddof=1) over the trailing window; NaN where x is NaN, std is 0 or not finite."""
    _check(window, min_periods)
    x = _as_2d(x)
    out = _empty_nb(*x.shape)
    _rolling_zscore_into_nb(x, window, min_periods, out, _chunks(x.shape[1]))
    return out


# --- rolling percentile --------------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _sort_keys_cols_nb(x: F8, bits: U8, idx_bits: int, keys: U8, a: int, b: int) -> None:
    """Order-preserving uint64 keys of columns a..b-1 of x, their low `idx_bits` bits the row number."""
    n = x.shape[0]
    low = np.uint64((1 << idx_bits) - 1)
    high = ~low
    sign = np.uint64(1) << np.uint64(63)
    top = np.uint64(0xFFFFFFFFFFFFFFFF)  # NaN sorts last
    for j in range(a, b):
        for i in range(n):
            v = x[i, j]
            w = bits[i, j]
            if v != v:
                k = top
            elif w & sign:
                k = ~w
            else:
                k = w | sign
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


@njit(cache=True, error_model="numpy")
def _percentile_column_nb(
    x: F8,
    keys: U8,
    out: F8,
    j: int,
    idx_bits: int,
    window: int,
    min_periods: int,
    scratch: tuple[I8, F8, U8, I4, I4],
) -> None:
    """Rolling percentile of column j from its sorted keys into out[:, j] (which may be the keys)."""
    rows, vals, bits, tree, le = scratch
    n = x.shape[0]
    low = np.uint64((1 << idx_bits) - 1)
    use_tree = window > _DIRECT_ROWS
    # rows are offset by `off` bits in the bitset, so a window never starts before its first word
    off = 0 if use_tree else ((window + 63) >> 6) << 6
    nw = (off >> 6) + (n >> 6) + 1
    nv = 0
    for i in range(n):
        if x[i, j] == x[i, j]:
            nv += 1
    for p in range(nv):
        r = np.int64(keys[p, j] & low)
        rows[p] = r
        vals[p] = x[r, j]
    # keys that agree above the row bits may be out of value order: rare, re-sort exactly
    for p in range(1, nv):
        if vals[p] < vals[p - 1]:
            perm = np.argsort(vals[:nv], kind="mergesort")
            rows[:nv] = rows[:nv][perm]
            vals[:nv] = vals[:nv][perm]
            break
    bits[:nw] = 0
    if use_tree:
        tree[: nw + 1] = 0  # Fenwick tree of marked rows per word
    # mark rows in the bitset by increasing value; once a group of equal values is marked, the
    # marked rows inside a row's window are the window's values <= its own
    p = 0
    while p < nv:
        v = vals[p]
        e = p
        while e < nv and vals[e] == v:
            i = rows[e] + off
            bits[i >> 6] |= np.uint64(1) << np.uint64(i & 63)
            if use_tree:
                k = (i >> 6) + 1
                while k <= nw:
                    tree[k] += 1
                    k += k & -k
            e += 1
        for q in range(p, e):
            i = rows[q]
            if use_tree:
                c = _count_upto_nb(bits, tree, i)
                if i >= window:
                    c -= _count_upto_nb(bits, tree, i - window)
                le[i] = c
            else:
                b = i + off
                a = b - window + 1
                wa = a >> 6
                wb = b >> 6
                c = _popcount_nb(bits[wa] & (_ALL << np.uint64(a & 63)))
                for wd in range(wa + 1, wb + 1):
                    c += _popcount_nb(bits[wd])
                le[i] = c - _popcount_nb(bits[wb] & ~(_ALL >> np.uint64(63 - (b & 63))))
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


@njit(cache=True, nogil=True, error_model="numpy")
def _percentile_cols_nb(
    x: F8, keys: U8, out: F8, idx_bits: int, window: int, min_periods: int, a: int, b: int
) -> None:
    """Rolling percentile of columns a..b-1 from their column-sorted keys (one scratch for all)."""
    n = x.shape[0]
    nw = ((window + 63) >> 6) + (n >> 6) + 1
    scratch = (
        np.empty(n, dtype=np.int64),
        np.empty(n),
        np.empty(nw, dtype=np.uint64),
        np.empty(nw + 1, dtype=np.int32),
        np.empty(n, dtype=np.int32),
    )
    for j in range(a, b):
        _percentile_column_nb(x, keys, out, j, idx_bits, window, min_periods, scratch)


#: columns keyed, sorted and ranked together while they sit in the core's cache (2 x 8 x 40 KB at 5,000 rows)
_PERCENTILE_COLS = 8


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
    out = keys.view(np.float64)  # same shape and order: each column's keys give way to its results
    bits = xf.view(np.uint64)

    def run(a: int, b: int) -> None:
        # a few columns at a time, each step on data still in cache: keys, NumPy's sort, the count
        for lo in range(a, b, _PERCENTILE_COLS):
            hi = min(b, lo + _PERCENTILE_COLS)
            _sort_keys_cols_nb(xf, bits, idx_bits, keys, lo, hi)
            keys[:, lo:hi].sort(axis=0)
            _percentile_cols_nb(xf, keys, out, idx_bits, window, min_periods, lo, hi)

    threads = max(1, min(numba.get_num_threads(), m))
    if threads == 1 or n * m < 1 << 16:
        run(0, m)
    else:
        edges = np.linspace(0, m, threads + 1).astype(np.int64)
        # the kernels release the GIL (nogil) and so does NumPy's sort: column blocks run in parallel
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(run, edges[:-1].tolist(), edges[1:].tolist()))
    return out
