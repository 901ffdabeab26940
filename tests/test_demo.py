"""The synthetic demo market: determinism, schema, accounting identities and the planted effects."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl
import pytest

from etfflow import calendar
from etfflow.errors import ConfigError, NotFoundError
from etfflow.schema import validate
from etfflow.sources.demo import PRESETS, DemoMarket, DemoParams, build_demo
from etfflow.universe import SECTORS, load_taxonomy

SHORT = {"start": "2019-01-01", "end": "2020-12-31"}
# low split threshold and extra gaps so a two-year build carries every artefact
ARTEFACTS = dataclasses.replace(PRESETS["default"], split_above=150.0, n_gaps=8)


@pytest.fixture(scope="module")
def short() -> DemoMarket:
    return build_demo(ARTEFACTS, seed=11, **SHORT)


@pytest.fixture(scope="module")
def full_default() -> DemoMarket:
    return build_demo()


@pytest.fixture(scope="module")
def full_null() -> DemoMarket:
    return build_demo("null")


def _with_units(m: DemoMarket) -> pl.DataFrame:
    """Daily rows with the creation unit, the previous row's count and the bad-print marks."""
    bad = m.events.filter(pl.col("kind") == "bad_print").select("date", "ticker", pl.lit(True).alias("bad"))
    return (
        m.daily.join(m.funds.select("ticker", "creation_unit_shares"), on="ticker")
        .join(bad, on=["date", "ticker"], how="left")
        .sort("ticker", "date")
        .with_columns(pl.col("bad").fill_null(False))
        .with_columns(
            pl.col("shares_outstanding").shift(1).forward_fill().over("ticker").alias("so_prev"),
            pl.col("bad").shift(1).over("ticker").fill_null(False).alias("bad_prev"),
            pl.col("shares_outstanding").shift(-1).over("ticker").alias("so_next"),
            pl.col("split_factor").shift(-1).over("ticker").alias("k_next"),
            pl.col("bad").shift(-1).over("ticker").fill_null(False).alias("bad_next"),
        )
    )


def _fama_macbeth_t(truth: pl.DataFrame, lead: int = 1) -> tuple[float, float]:
    """t-stat and mean of the daily cross-sectional correlation of flow (% AUM) with a later return."""
    t = (
        truth.sort("ticker", "date")
        .with_columns(
            (pl.col("true_flow_usd") / pl.col("aum_prev_usd")).alias("f"),
            pl.col("nav_return").shift(-lead).over("ticker").alias("r"),
        )
        .drop_nulls("r")
    )
    c = t.group_by("date").agg(pl.corr("f", "r").alias("c"))["c"].drop_nulls().drop_nans().to_numpy()
    return float(c.mean() / c.std() * np.sqrt(len(c))), float(c.mean())


def _weekly_contrarian_t(m: DemoMarket, window: int = 52, threshold: float = 0.10) -> tuple[float, float]:
    """Next-week return of the primary sector fund after a weekly sector net flow in the bottom percentiles.

    Point in time: week w's flows are known on the session after its last day (one-session lag), so the
    return is measured from that session's close over the following five sessions.
    """
    sectors = m.funds.filter(pl.col("category") == "sector").select("ticker", "group", "primary")
    tr = m.truth.join(sectors, on="ticker")
    dates = np.unique(tr["date"].to_numpy()).astype("datetime64[D]")
    week = calendar.period_end(dates, "w")
    pos = {d: i for i, d in enumerate(dates.tolist())}
    flows = np.zeros((len(dates), len(SECTORS)))
    logret = np.full((len(dates), len(SECTORS)), np.nan)
    for j, sector in enumerate(SECTORS):
        g = tr.filter(pl.col("group") == sector)
        daily = g.group_by("date").agg(pl.col("true_flow_usd").sum()).sort("date")
        flows[[pos[d] for d in daily["date"].to_list()], j] = daily["true_flow_usd"].to_numpy()
        p = g.filter(pl.col("primary")).sort("date")
        logret[[pos[d] for d in p["date"].to_list()], j] = np.log1p(p["nav_return"].to_numpy())
    ends = np.flatnonzero(np.append(week[1:] != week[:-1], True))
    weekly = np.add.reduceat(flows, np.concatenate([[0], ends[:-1] + 1]), axis=0)
    cum = np.vstack([np.zeros(len(SECTORS)), np.cumsum(np.nan_to_num(logret), axis=0)])
    low, rest = [], []
    for w in range(window - 1, len(ends)):
        start = ends[w] + 1
        if start + 6 > len(dates):
            break
        fwd = np.where(
            np.isfinite(logret[start + 1 : start + 6]).all(axis=0), cum[start + 6] - cum[start + 1], np.nan
        )
        pct = (weekly[w - window + 1 : w + 1] <= weekly[w]).mean(axis=0)
        for j in range(len(SECTORS)):
            if np.isfinite(fwd[j]):
                (low if pct[j] <= threshold else rest).append(fwd[j])
    a, b = np.array(low), np.array(rest)
    t = (a.mean() - b.mean()) / np.sqrt(a.var() / len(a) + b.var() / len(b))
    return float(t), float(a.mean() - b.mean())


def test_same_seed_same_frames_and_different_seed_differs() -> None:
    kw = {"tickers": ["SPY", "XLK", "TLT"], "start": "2020-01-01", "end": "2020-06-30"}
    a, b, c = build_demo(seed=3, **kw), build_demo(seed=3, **kw), build_demo(seed=4, **kw)
    assert a.daily.equals(b.daily)
    assert a.truth.equals(b.truth)
    assert a.events.equals(b.events)
    assert not a.daily.equals(c.daily)


def test_ticker_subset_is_a_view_of_the_full_build(short: DemoMarket) -> None:
    sub = build_demo(ARTEFACTS, seed=11, tickers=["XLK", "GLD"], **SHORT)
    assert sub.daily.equals(short.daily.filter(pl.col("ticker").is_in(["GLD", "XLK"])))
    assert sub.funds["ticker"].sort().to_list() == ["GLD", "XLK"]


def test_frames_follow_the_schema(short: DemoMarket) -> None:
    assert validate(short.daily, "daily").equals(short.daily)
    assert validate(short.funds, "funds").equals(short.funds)
    assert (short.daily["source"] == "demo").all()
    assert (short.daily["so_lag"] == 1).all()
    assert short.daily["retrieved_at"].n_unique() == 1
    assert short.funds["creation_unit_shares"].null_count() == 0
    assert short.daily.height == short.truth.height
    assert short.truth.null_count().sum_horizontal()[0] == 0
    assert short.daily.select("date", "ticker").equals(short.truth.select("date", "ticker"))
    sessions = calendar.sessions("2019-01-01", "2020-12-31")
    assert (
        short.daily["date"].unique().sort().to_numpy().astype("datetime64[D]").tolist() == sessions.tolist()
    )


def test_label_says_synthetic(short: DemoMarket) -> None:
    assert short.label.startswith("SYNTHETIC")
    assert "seed=11" in short.label
    assert "not market data" in short.label
    assert "preset=null" in build_demo("null", tickers=["SPY"], **SHORT).label


def test_presets_and_params() -> None:
    assert set(PRESETS) == {"null", "default", "pressure", "informed"}
    null = PRESETS["null"]
    assert null.informed_flow == null.informed_return == null.price_pressure == null.trend_chasing == 0.0
    assert PRESETS["pressure"].price_pressure > PRESETS["default"].price_pressure > 0
    assert PRESETS["informed"].informed_return > PRESETS["default"].informed_return > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        null.price_pressure = 1.0  # type: ignore[misc]
    with pytest.raises(ConfigError):
        build_demo("nope")
    with pytest.raises(NotFoundError):
        build_demo(tickers=["SPY", "ZZZZ"], **SHORT)
    with pytest.raises(ConfigError):
        build_demo(DemoParams(so_lag=2), **SHORT)


def test_planted_artefacts_are_present(short: DemoMarket) -> None:
    kinds = short.events.group_by("kind").len()
    counts = dict(zip(kinds["kind"], kinds["len"], strict=True))
    assert counts["split"] >= 2
    assert counts["bad_print"] == 1
    assert counts["gap"] >= 8
    gaps = short.events.filter(pl.col("kind") == "gap").join(short.daily, on=["date", "ticker"])
    assert gaps["shares_outstanding"].null_count() == gaps.height
    assert gaps["total_net_assets"].null_count() == gaps.height
    assert gaps["nav"].null_count() == 0
    assert short.daily["shares_outstanding"].null_count() == counts["gap"]


def test_shares_move_in_whole_creation_units_except_the_bad_print(short: DemoMarket) -> None:
    rows = _with_units(short).filter(
        pl.col("shares_outstanding").is_not_null() & pl.col("so_prev").is_not_null()
    )
    change = pl.col("shares_outstanding") / pl.col("split_factor") - pl.col("so_prev")
    rows = rows.with_columns(((change % pl.col("creation_unit_shares")) != 0).alias("odd"))
    odd = rows.filter(pl.col("odd"))
    assert odd.height == 2
    assert (odd["bad"] | odd["bad_prev"]).all()
    assert odd["ticker"].n_unique() == 1


def test_truth_components_are_whole_units_and_add_up(short: DemoMarket) -> None:
    t = (
        short.truth.join(short.funds.select("ticker", "creation_unit_shares"), on="ticker")
        .join(short.daily.select("date", "ticker", "split_factor"), on=["date", "ticker"])
        .sort("ticker", "date")
    )
    assert (t["arbitrage_flow_shares"] % t["creation_unit_shares"] == 0).all()
    assert (t["demand_flow_shares"] % t["creation_unit_shares"] == 0).all()
    prev = pl.col("shares").shift(1).over("ticker") * pl.col("split_factor")
    t = t.with_columns((pl.col("shares") - prev).alias("change")).drop_nulls("change")
    assert (t["change"] == t["arbitrage_flow_shares"] + t["demand_flow_shares"]).all()
    assert (t["shares"] >= t["creation_unit_shares"]).all()


def test_one_session_lag_row_d_states_shares_after_trades_of_d_minus_1(short: DemoMarket) -> None:
    t = short.truth.sort("ticker", "date").with_columns(
        pl.col("shares").shift(1).over("ticker").alias("shares_prev"),
        (pl.col("shares") - (pl.col("arbitrage_flow_shares") + pl.col("demand_flow_shares"))).alias("start"),
    )
    rows = (
        _with_units(short).join(t, on=["date", "ticker"]).filter(pl.col("shares_outstanding").is_not_null())
    )
    rows = rows.filter(~pl.col("bad"))
    later = rows.filter(pl.col("shares_prev").is_not_null())
    assert (later["shares_outstanding"] == later["shares_prev"] * later["split_factor"]).all()
    first = rows.filter(pl.col("shares_prev").is_null())
    assert first.height == short.funds.height
    assert (first["shares_outstanding"] == first["start"]).all()


def test_without_lag_rows_state_the_shares_after_their_own_trades() -> None:
    params = dataclasses.replace(PRESETS["default"], so_lag=0, n_gaps=0, n_bad_prints=0)
    m = build_demo(params, tickers=["SPY", "XLE"], start="2020-01-01", end="2020-03-31")
    joined = m.daily.join(m.truth, on=["date", "ticker"])
    assert (joined["so_lag"] == 0).all()
    assert (joined["shares_outstanding"] == joined["shares"]).all()


def test_truth_flows_equal_shares_change_times_nav_on_the_trade_date(short: DemoMarket) -> None:
    rows = _with_units(short).filter(
        pl.col("shares_outstanding").is_not_null()
        & pl.col("so_next").is_not_null()
        & ~pl.col("bad")
        & ~pl.col("bad_next")
    )
    flows = rows.select(
        "date",
        "ticker",
        ((pl.col("so_next") / pl.col("k_next") - pl.col("shares_outstanding")) * pl.col("nav")).alias("flow"),
    ).join(short.truth, on=["date", "ticker"])
    assert flows.height > 0.95 * short.truth.height
    np.testing.assert_allclose(flows["flow"].to_numpy(), flows["true_flow_usd"].to_numpy(), rtol=1e-12)
    assert (flows["flow"] != 0).mean() > 0.5


def test_splits_move_shares_by_k_and_nav_by_one_over_k_on_the_split_date(short: DemoMarket) -> None:
    splits = short.events.filter(pl.col("kind") == "split")
    d = short.daily.sort("ticker", "date").with_columns(
        pl.col("nav").shift(1).over("ticker").alias("nav_prev"),
    )
    t = short.truth.sort("ticker", "date").with_columns(
        pl.col("shares").shift(1).over("ticker").alias("prev")
    )
    hit = splits.join(d, on=["date", "ticker"]).join(t, on=["date", "ticker"])
    assert hit.height == splits.height
    assert (hit["split_factor"] == hit["value"]).all()
    assert (hit["shares_outstanding"] == hit["prev"] * hit["value"]).all()
    nav_before = hit["aum_prev_usd"] / hit["shares_outstanding"]
    np.testing.assert_allclose(nav_before, hit["nav_prev"] / hit["value"], rtol=1e-12)
    price_move = hit["nav"] * hit["value"] / hit["nav_prev"] - 1.0
    assert (price_move.abs() < 0.15).all()
    others = d.join(splits, on=["date", "ticker"], how="anti")
    assert (others["split_factor"] == 1.0).all()


def test_bad_print_is_a_one_session_spike_that_reverses(short: DemoMarket) -> None:
    rows = _with_units(short).join(short.truth.select("date", "ticker", "shares"), on=["date", "ticker"])
    bad = rows.filter(pl.col("bad"))
    assert bad.height == 1
    row = bad.row(0, named=True)
    assert row["shares_outstanding"] > 1.4 * row["so_prev"]
    assert abs(row["so_next"] / row["so_prev"] - 1) < 0.2


def test_distributions_drop_nav_and_are_not_flows(short: DemoMarket) -> None:
    ex = short.daily.filter(pl.col("distribution") > 0).join(short.funds, on="ticker")
    assert set(ex["category"]) >= {"broad_market", "sector", "fixed_income"}
    assert "commodity" not in set(ex["category"])
    tlt = ex.filter(pl.col("ticker") == "TLT")
    assert tlt.height == 24  # monthly for two years
    t = short.truth.join(ex.select("date", "ticker", "distribution", "nav"), on=["date", "ticker"])
    nav_prev = t["aum_prev_usd"] / (t["shares"] - t["arbitrage_flow_shares"] - t["demand_flow_shares"])
    np.testing.assert_allclose((t["nav"] + t["distribution"]) / nav_prev - 1, t["nav_return"], atol=1e-12)


def test_full_default_build_covers_the_taxonomy_for_twelve_years(full_default: DemoMarket) -> None:
    m = full_default
    assert m.label == "SYNTHETIC demo data (etfflow demo market, preset=default, seed=7) - not market data"
    assert set(m.daily["ticker"]) == set(load_taxonomy()["ticker"])
    assert m.daily["date"].min() == dt.date(2014, 1, 2)
    assert m.daily["date"].max() == dt.date(2025, 12, 31)
    assert validate(m.daily, "daily").height == m.daily.height
    first = m.daily.group_by("ticker").agg(pl.col("date").min())
    assert dict(first.iter_rows())["XLC"] == dt.date(2018, 6, 18)
    assert dict(first.iter_rows())["SPY"] == dt.date(2014, 1, 2)
    kinds = set(m.events["kind"])
    assert kinds == {"split", "gap", "bad_print", "launch"}
    assert (m.daily["nav"] > 0).all()
    assert (m.daily["close"] > 0).all()


def test_null_preset_flows_carry_no_information_about_future_returns(full_null: DemoMarket) -> None:
    for lead in (1, 2, 5):
        t, _ = _fama_macbeth_t(full_null.truth, lead)
        assert abs(t) < 3, (lead, t)
    t, _ = _weekly_contrarian_t(full_null)
    assert abs(t) < 3
    assert (full_null.truth["informed_signal"] == 0).all()
    assert (full_null.truth["pressure"] == 0).all()


def test_informed_preset_flows_predict_next_day_returns() -> None:
    m = build_demo("informed", start="2016-01-01", end="2019-12-31")
    t, corr = _fama_macbeth_t(m.truth, 1)
    assert t > 10
    assert corr > 0.05
    t2, _ = _fama_macbeth_t(m.truth, 2)  # still there once the one-session lag has passed
    assert t2 > 5


def test_pressure_preset_rewards_buying_sectors_after_extreme_outflows() -> None:
    m = build_demo("pressure")
    t, edge = _weekly_contrarian_t(m)
    assert t > 2.5
    assert edge > 0.002
    t5, edge5 = _weekly_contrarian_t(m, window=104, threshold=0.05)
    assert t5 > 2.5
    assert edge5 > 0.002
