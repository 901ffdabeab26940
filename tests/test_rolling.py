"""Rolling kernels (etfflow.signals.nb) and their frame wrappers (etfflow.signals.rolling).

Hand-computed cases know the answer; hypothesis compares every kernel with a naive O(n * window)
NumPy reference; pandas' rolling rank(pct=True, method="max") is the percentile's outside check.
"""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from etfflow.errors import ValidationError
from etfflow.signals import nb
from etfflow.signals.rolling import (
    Wide,
    rolling_mean,
    rolling_percentile,
    rolling_sum,
    rolling_zscore,
    to_wide,
)

NAN = np.nan


def col(*values: float) -> np.ndarray:
    """A one-column 2-D array."""
    return np.array(values, dtype=np.float64).reshape(-1, 1)


def flat(a: np.ndarray) -> list[float]:
    return [float(v) for v in a.ravel()]


def same(a: np.ndarray, expected: list[float], tol: float = 1e-12) -> bool:
    """Equal values (to tol) and equal NaN positions."""
    b = np.array(expected, dtype=np.float64)
    a = a.ravel()
    return bool(
        np.array_equal(np.isnan(a), np.isnan(b)) and np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True)
    )


# --- naive references -----------------------------------------------------------------------------


def windows(x: np.ndarray, window: int):
    """(row, column, valid values of the trailing window, own value) for every cell."""
    n, m = x.shape
    for j in range(m):
        for i in range(n):
            w = x[max(0, i - window + 1) : i + 1, j]
            yield i, j, w[~np.isnan(w)], x[i, j]


def ref_percentile(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    out = np.full(x.shape, NAN)
    for i, j, w, v in windows(x, window):
        if not np.isnan(v) and len(w) >= min_periods:
            out[i, j] = np.count_nonzero(w <= v) / len(w)
    return out


def ref_zscore(x: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    out = np.full(x.shape, NAN)
    for i, j, w, v in windows(x, window):
        if np.isnan(v) or len(w) < max(min_periods, 2) or np.all(w == w[0]):
            continue
        out[i, j] = (v - w.mean()) / w.std(ddof=1)
    return out


def ref_sum(x: np.ndarray, window: int, min_periods: int, mean: bool = False) -> np.ndarray:
    out = np.full(x.shape, NAN)
    for i, j, w, _ in windows(x, window):
        if len(w) >= min_periods:
            out[i, j] = w.mean() if mean else w.sum()
    return out


# --- percentile: hand-computed ------------------------------------------------------------------


def test_percentile_hand_computed_with_ties():
    # windows: [3] [3,1] [3,1,2] [1,2,2] [2,2,5]
    out = nb.rolling_percentile_nb(col(3, 1, 2, 2, 5), 3, 1)
    assert same(out, [1.0, 1 / 2, 2 / 3, 1.0, 1.0])


def test_percentile_minimum_scores_one_over_n_and_maximum_one():
    out = nb.rolling_percentile_nb(col(5, 4, 3, 9), 3, 3)
    assert same(out, [NAN, NAN, 1 / 3, 1.0])


def test_percentile_all_ties_score_one():
    assert same(nb.rolling_percentile_nb(col(2, 2, 2, 2), 3, 1), [1.0, 1.0, 1.0, 1.0])


def test_percentile_nan_and_min_periods():
    # row 0: one value < 2; row 1: NaN in, NaN out; row 2: [1, 3]; row 3: [3, 2]
    out = nb.rolling_percentile_nb(col(1, NAN, 3, 2), 3, 2)
    assert same(out, [NAN, NAN, 1.0, 0.5])


def test_percentile_signed_zeros_infinities_and_near_ties():
    x = col(-0.0, 0.0, -5e-324, 5e-324, math.inf, -math.inf, 0.0)
    assert same(nb.rolling_percentile_nb(x, 7, 1), flat(ref_percentile(x, 7, 1)), tol=0)
    # values that agree in all but the lowest mantissa bits take the exact re-sort path
    rng = np.random.default_rng(3)
    y = 1.0 + rng.integers(0, 40, size=(400, 2)) * np.finfo(float).eps
    assert np.array_equal(nb.rolling_percentile_nb(y, 50, 1), ref_percentile(y, 50, 1))


def test_percentile_long_window_uses_the_tree_path():
    rng = np.random.default_rng(4)
    x = np.round(rng.normal(size=(1_500, 2)), 1)
    x[rng.random(x.shape) < 0.05] = NAN
    for window in (1_024, 1_025, 1_400):
        out = nb.rolling_percentile_nb(x, window, 10)
        assert np.array_equal(out, ref_percentile(x, window, 10), equal_nan=True)


def test_percentile_accepts_c_order_and_integers():
    x = np.arange(12, dtype=np.int64).reshape(4, 3)[::-1].copy()
    out = nb.rolling_percentile_nb(x, 2, 1)
    assert out.shape == (4, 3)
    assert same(out[:, 0], [1.0, 0.5, 0.5, 0.5])


def test_percentile_empty():
    assert nb.rolling_percentile_nb(np.empty((0, 3)), 5, 1).shape == (0, 3)
    assert nb.rolling_percentile_nb(np.empty((4, 0)), 5, 1).shape == (4, 0)


# --- z-score, sum, mean: hand-computed ------------------------------------------------------------


def test_zscore_hand_computed():
    # [1,2]: mean 1.5, std 0.7071; [1,2,3] and [2,3,4]: z of the last value is 1
    out = nb.rolling_zscore_nb(col(1, 2, 3, 4), 3, 2)
    assert same(out, [NAN, 0.5 / math.sqrt(0.5), 1.0, 1.0])


def test_zscore_nan_constant_window_and_min_periods():
    assert same(nb.rolling_zscore_nb(col(1, NAN, 3), 3, 2), [NAN, NAN, 1 / math.sqrt(2)])
    # a constant window has std 0: undefined, also for values with no exact binary form
    assert same(
        nb.rolling_zscore_nb(col(0.1, 0.1, 0.1, 0.1, 0.2), 3, 2), [NAN, NAN, NAN, NAN, 2 / math.sqrt(3)]
    )
    assert same(nb.rolling_zscore_nb(col(1, 2, 3), 3, 3), [NAN, NAN, 1.0])
    assert same(nb.rolling_zscore_nb(col(1, 2, 3), 1, 1), [NAN, NAN, NAN])  # one value: no std


def test_zscore_infinity_gives_nan_until_it_leaves():
    out = nb.rolling_zscore_nb(col(1, math.inf, 2, 3, 4), 2, 2)
    assert same(out, [NAN, NAN, NAN, 1 / math.sqrt(2), 1 / math.sqrt(2)])


def exact_zscore(window: np.ndarray) -> float:
    """z of the window's last value in rational arithmetic, rounded once."""
    f = [Fraction(float(v)) for v in window]
    mean = sum(f, Fraction(0)) / len(f)
    var = sum(((v - mean) ** 2 for v in f), Fraction(0)) / (len(f) - 1)
    return float((f[-1] - mean) / Fraction(math.sqrt(var)))


def test_zscore_keeps_precision_on_a_high_level():
    """Level 1e6, std ~5e-3: NumPy's two-pass z is off by ~1.6e-7 here, the kernel by ~3e-8."""
    rng = np.random.default_rng(5)
    x = 1e6 + np.cumsum(rng.normal(size=(400, 1)), axis=0) * 1e-3
    got = nb.rolling_zscore_nb(x, 63, 63)[62:, 0]
    exact = [exact_zscore(x[i - 62 : i + 1, 0]) for i in range(62, 400)]
    np.testing.assert_allclose(got, exact, rtol=0, atol=5e-8)


@pytest.mark.parametrize(
    "series",
    [
        pytest.param(lambda r, n: np.arange(n) * 50.0 + r.normal(size=n), id="trend"),
        pytest.param(
            lambda r, n: np.concatenate([1e7 + r.normal(size=n // 2) * 1e6, r.normal(size=n - n // 2) / 1e3]),
            id="regime-change",
        ),
        pytest.param(lambda r, n: np.where(np.arange(n) % 97 == 5, 1e9, r.normal(size=n)), id="outliers"),
    ],
)
def test_zscore_survives_drift_regime_changes_and_outliers(series):
    rng = np.random.default_rng(8)
    x = series(rng, 300).reshape(-1, 1)
    got = nb.rolling_zscore_nb(x, 20, 20)[19:, 0]
    exact = [exact_zscore(x[i - 19 : i + 1, 0]) for i in range(19, 300)]
    np.testing.assert_allclose(got, exact, rtol=1e-10, atol=1e-10)


def test_sum_and_mean_hand_computed():
    x = col(1, 2, NAN, 4)
    assert same(nb.rolling_sum_nb(x, 2, 1), [1, 3, 2, 4])
    assert same(nb.rolling_sum_nb(x, 2, 2), [NAN, 3, NAN, NAN])
    assert same(nb.rolling_mean_nb(x, 2, 1), [1, 1.5, 2, 4])
    assert same(nb.rolling_mean_nb(x, 3, 1), [1, 1.5, 1.5, 3])


def test_sum_infinities_and_cancellation():
    x = col(1, math.inf, 2, -math.inf, 3)
    assert same(nb.rolling_sum_nb(x, 2, 1), [1, math.inf, math.inf, -math.inf, -math.inf])
    assert same(nb.rolling_sum_nb(x, 3, 1), [1, math.inf, math.inf, NAN, -math.inf])
    # a huge value leaves the window without taking the small ones with it
    assert same(nb.rolling_sum_nb(col(1e20, 1, 1, 1), 2, 1), [1e20, 1e20 + 1, 2, 2], tol=0)


def test_flow_kernels_hand_computed():
    so = col(100, 150, NAN, 120, 100)
    nav = col(10, 11, 12, 12, 13)
    flow = nb.flow_usd_nb(so, nav)
    assert same(flow, [NAN, 50 * 11, NAN, NAN, -20 * 13])
    assert same(nb.flow_pct_nb(flow, so, nav), [NAN, 550 / 1000, NAN, NAN, -260 / (120 * 12)])


@pytest.mark.parametrize(
    "kernel",
    [nb.rolling_percentile_nb, nb.rolling_zscore_nb, nb.rolling_sum_nb, nb.rolling_mean_nb],
)
@pytest.mark.parametrize(("window", "min_periods"), [(0, 1), (3, 0), (3, 4), (-1, -1)])
def test_kernels_reject_bad_windows(kernel, window, min_periods):
    with pytest.raises(ValueError, match="window"):
        kernel(col(1, 2, 3), window, min_periods)


def test_scatter_and_gather():
    rows, cols = np.array([2, 0, 1]), np.array([1, 0, 1])
    wide, dup = nb.scatter_nb(rows, cols, np.array([5.0, NAN, 7.0]), (3, 2))
    assert dup == -1
    assert wide.flags.f_contiguous
    assert np.array_equal(wide, [[NAN, NAN], [NAN, 7.0], [NAN, 5.0]], equal_nan=True)
    assert same(nb.gather_nb(wide, rows, cols), [5.0, NAN, 7.0])
    # a cell given twice: the second occurrence is reported
    assert nb.scatter_nb(np.array([0, 1, 0]), np.array([0, 0, 0]), np.ones(3), (2, 1))[1] == 2
    with pytest.raises(ValueError, match="outside"):
        nb.scatter_nb(np.array([3]), np.array([0]), np.ones(1), (3, 1))
    with pytest.raises(ValueError, match="outside"):
        nb.gather_nb(wide, np.array([0]), np.array([-1]))


def test_kernels_reject_bad_arrays():
    with pytest.raises(ValueError, match="2-D"):
        nb.rolling_sum_nb(np.ones(5), 2, 1)
    with pytest.raises(ValueError, match="shapes differ"):
        nb.flow_usd_nb(np.ones((3, 2)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="integers"):
        nb.rolling_zscore_nb(np.ones((3, 1)), 2.0, 1)


# --- properties against the naive references -------------------------------------------------------


@st.composite
def panels(draw, exact: bool):
    """(x, window, min_periods): a small dates x funds array with NaN holes."""
    # exact: quarters in [-250, 250] (sums are exact in any order, many ties); else floats in +-1e6
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40))
    if exact:
        x = draw(hnp.arrays(np.int64, shape, elements=st.integers(-1_000, 1_000))) / 4
    else:
        floats = st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)
        x = draw(hnp.arrays(np.float64, shape, elements=floats))
    holes = draw(hnp.arrays(np.bool_, shape, elements=st.booleans()))
    x = np.where(holes & draw(st.booleans()), NAN, x)
    window = draw(st.integers(1, 25))
    return np.asfortranarray(x), window, draw(st.integers(1, window))


@settings(max_examples=150, deadline=None)
@given(panels(exact=True))
def test_percentile_matches_reference(case):
    x, window, min_periods = case
    assert np.array_equal(
        nb.rolling_percentile_nb(x, window, min_periods),
        ref_percentile(x, window, min_periods),
        equal_nan=True,
    )


@settings(max_examples=100, deadline=None)
@given(panels(exact=False))
def test_percentile_matches_reference_on_floats(case):
    x, window, min_periods = case
    assert np.array_equal(
        nb.rolling_percentile_nb(x, window, min_periods),
        ref_percentile(x, window, min_periods),
        equal_nan=True,
    )


@settings(max_examples=150, deadline=None)
@given(panels(exact=True))
def test_sum_and_mean_match_reference_exactly(case):
    x, window, min_periods = case
    assert np.array_equal(
        nb.rolling_sum_nb(x, window, min_periods), ref_sum(x, window, min_periods), equal_nan=True
    )
    expected = ref_sum(x, window, min_periods, mean=True)
    np.testing.assert_allclose(nb.rolling_mean_nb(x, window, min_periods), expected, rtol=1e-15, atol=0)


@settings(max_examples=100, deadline=None)
@given(panels(exact=False))
def test_sum_matches_reference_on_floats(case):
    x, window, min_periods = case
    # a compensated running sum errs by ~eps * |window values| plus ~eps**2 * |values of the last
    # 2 * window rows| (older rows are forgotten when the sum is taken afresh)
    bound = 1e-12 * ref_sum(np.abs(x), window, min_periods) + 1e-25 * ref_sum(np.abs(x), 2 * window, 1)
    diff = np.abs(nb.rolling_sum_nb(x, window, min_periods) - ref_sum(x, window, min_periods))
    assert np.array_equal(np.isnan(diff), np.isnan(bound))
    assert np.all(diff[~np.isnan(diff)] <= bound[~np.isnan(bound)])


@settings(max_examples=150, deadline=None)
@given(panels(exact=True))
def test_zscore_matches_reference(case):
    x, window, min_periods = case
    got = nb.rolling_zscore_nb(x, window, min_periods)
    expected = ref_zscore(x, window, min_periods)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)


def test_zscore_matches_reference_on_random_levels():
    rng = np.random.default_rng(6)
    for level in (0.0, 1e3, 1e5):
        x = level + rng.normal(size=(600, 4)) * rng.uniform(0.01, 100, size=4)
        x[rng.random(x.shape) < 0.1] = NAN
        for window, min_periods in ((5, 2), (63, 40), (200, 200)):
            np.testing.assert_allclose(
                nb.rolling_zscore_nb(x, window, min_periods),
                ref_zscore(x, window, min_periods),
                rtol=1e-9,
                atol=1e-9,
            )


# --- pandas cross-check --------------------------------------------------------------------------


@pytest.mark.parametrize("holes", [0.0, 0.1])
@pytest.mark.parametrize(("window", "min_periods"), [(1, 1), (5, 2), (63, 63), (252, 100)])
def test_percentile_equals_pandas_rank_pct_max(holes, window, min_periods):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(window)
    x = np.round(rng.normal(size=(800, 6)), 1)  # rounding makes ties
    x[rng.random(x.shape) < holes] = NAN
    expected = pd.DataFrame(x).rolling(window, min_periods=min_periods).rank(pct=True, method="max")
    assert np.array_equal(
        nb.rolling_percentile_nb(x, window, min_periods), expected.to_numpy(), equal_nan=True
    )


def test_sum_mean_zscore_agree_with_pandas():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(500, 4))
    x[rng.random(x.shape) < 0.05] = NAN
    roll = pd.DataFrame(x).rolling(20, min_periods=20)
    np.testing.assert_allclose(nb.rolling_sum_nb(x, 20, 20), roll.sum().to_numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(nb.rolling_mean_nb(x, 20, 20), roll.mean().to_numpy(), rtol=1e-10, atol=1e-12)
    z = (pd.DataFrame(x) - roll.mean()) / roll.std()
    np.testing.assert_allclose(nb.rolling_zscore_nb(x, 20, 20), z.to_numpy(), rtol=1e-8, atol=1e-10)


# --- frame wrappers ------------------------------------------------------------------------------


D = [dt.date(2024, 1, d) for d in (2, 3, 4, 5, 8)]


def long_frame() -> pl.DataFrame:
    """Two tickers; BBB has no row on Jan 4 and a null on Jan 8; rows deliberately unsorted."""
    rows = [
        (D[0], "AAA", 1.0),
        (D[1], "AAA", 3.0),
        (D[2], "AAA", 2.0),
        (D[3], "AAA", 2.0),
        (D[4], "AAA", 5.0),
        (D[0], "BBB", 10.0),
        (D[1], "BBB", 30.0),
        (D[3], "BBB", 20.0),
        (D[4], "BBB", None),
    ]
    frame = pl.DataFrame(
        rows, schema={"date": pl.Date, "ticker": pl.String, "flow": pl.Float64}, orient="row"
    )
    return frame.reverse()


def test_to_wide_and_back():
    wide = to_wide(long_frame(), "flow")
    assert isinstance(wide, Wide)
    assert wide.tickers == ["AAA", "BBB"]
    assert wide.dates.dtype == np.dtype("datetime64[D]")
    assert list(wide.dates.astype(object)) == D
    assert wide.values.flags.f_contiguous
    assert same(wide.values[:, 1], [10, 30, NAN, 20, NAN])
    long = wide.to_long("flow")
    assert long.columns == ["date", "ticker", "flow"]
    assert long.height == 10
    assert long.row(0) == (D[0], "AAA", 1.0)
    assert long.filter(pl.col("ticker") == "BBB")["flow"].to_list() == [10.0, 30.0, None, 20.0, None]
    assert wide.to_long("flow", drop_missing=True).height == 8


def test_rolling_percentile_adds_a_column_in_row_order():
    frame = long_frame()
    out = rolling_percentile(frame, "flow", 3, 1)
    assert out.columns == [*frame.columns, "flow_pctile_3"]
    assert out.select(frame.columns).equals(frame)
    got = {(r["date"], r["ticker"]): r["flow_pctile_3"] for r in out.iter_rows(named=True)}
    # AAA windows: [1] [1,3] [1,3,2] [3,2,2] [2,2,5]
    assert [got[(d, "AAA")] for d in D] == pytest.approx([1.0, 1.0, 2 / 3, 2 / 3, 1.0])
    # BBB: the missing Jan 4 still counts as a date in the window; a null value gives null
    assert [got[(d, "BBB")] for d in (D[0], D[1], D[3])] == pytest.approx([1.0, 1.0, 0.5])
    assert got[(D[4], "BBB")] is None


def test_wrappers_defaults_and_names():
    frame = long_frame()
    out = rolling_sum(frame, "flow", 2)  # min_periods defaults to the window
    got = {(r["date"], r["ticker"]): r["flow_sum_2"] for r in out.iter_rows(named=True)}
    assert [got[(d, "AAA")] for d in D] == [None, 4.0, 5.0, 4.0, 7.0]
    assert got[(D[3], "BBB")] is None  # Jan 4 missing: one value in the window
    out = rolling_mean(frame, "flow", 2, 1, name="m")
    # BBB rows Jan 2, 3, 5, 8: windows [10] [10,30] [-,20] [20,null]
    assert out.filter(pl.col("ticker") == "BBB").sort("date")["m"].to_list() == [10.0, 20.0, 20.0, 20.0]
    z = rolling_zscore(frame, "flow", 3, 2).filter(pl.col("ticker") == "AAA").sort("date")["flow_z_3"]
    assert z.to_list()[:3] == pytest.approx([None, 1 / math.sqrt(2), 0.0], nan_ok=True)


def test_to_wide_with_far_apart_dates():
    days = [dt.date(1000, 1, 1), dt.date(9000, 1, 1), dt.date(2024, 1, 2)]
    frame = pl.DataFrame({"date": days, "ticker": ["X", "X", "Y"], "v": [1.0, 2.0, 3.0]})
    wide = to_wide(frame, "v")
    assert list(wide.dates.astype(object)) == sorted(days)
    assert np.array_equal(wide.values, [[1.0, NAN], [NAN, 3.0], [2.0, NAN]], equal_nan=True)


def test_wrappers_on_an_empty_frame():
    out = rolling_zscore(long_frame().head(0), "flow", 5)
    assert out.height == 0
    assert out.schema["flow_z_5"] == pl.Float64


@pytest.mark.parametrize(
    ("window", "min_periods", "message"),
    [
        (0, None, "window must be >= 1"),
        (3, 4, "min_periods must be between 1 and window"),
        (3, 0, "min_periods must be between 1 and window"),
        (2.5, None, "integers"),
        (True, None, "booleans"),
    ],
)
def test_wrappers_reject_bad_arguments(window, min_periods, message):
    with pytest.raises(ValueError, match=message):
        rolling_percentile(long_frame(), "flow", window, min_periods)


def test_wrappers_reject_bad_frames():
    frame = long_frame()
    with pytest.raises(ValueError, match="'nope' is not in the frame"):
        rolling_sum(frame, "nope", 2)
    with pytest.raises(ValueError, match=r"must be pl\.Date"):
        rolling_sum(frame.with_columns(pl.col("date").cast(pl.String)), "flow", 2)
    with pytest.raises(ValueError, match="must be numeric"):
        rolling_sum(frame, "ticker", 2)
    with pytest.raises(ValidationError, match="duplicate"):
        rolling_sum(pl.concat([frame, frame.head(1)]), "flow", 2)
    with pytest.raises(ValidationError, match="null key"):
        rolling_sum(frame.with_columns(pl.lit(None, pl.String).alias("ticker")), "flow", 2)


def test_percentile_in_column_blocks_over_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large enough for the threaded path (three threads forced), with a column count that splits into
    uneven blocks of `_PERCENTILE_COLS`: every column equals the brute-force reference."""
    monkeypatch.setattr(nb.numba, "get_num_threads", lambda: 3)
    rng = np.random.default_rng(11)
    x = np.round(rng.normal(size=(700, 101)), 2)
    x[rng.random(x.shape) < 0.03] = NAN
    assert x.size >= 1 << 16 and x.shape[1] % nb._PERCENTILE_COLS != 0
    out = nb.rolling_percentile_nb(x, 30, 5)
    assert np.array_equal(out, ref_percentile(x, 30, 5), equal_nan=True)
