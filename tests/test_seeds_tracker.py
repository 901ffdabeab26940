"""Tracker signals, flows with price and volume, premium and arbitrage, creation units (issue 12: 2, 3, 5)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from etfflow.cli import app
from etfflow.errors import NotFoundError
from etfflow.flows.daily import compute_flows
from etfflow.signals.premium import arbitrage_view, premium_series
from etfflow.signals.tracker import category_tickers, flow_detail, score, tracker_signals
from etfflow.signals.units import daily_units, monthly_units
from etfflow.sources.ishares import read_ishares_workbook
from etfflow.sources.ssga import read_ssga_gld_csv
from etfflow.universe import load_taxonomy
from report_support import GOLDEN_AS_OF, demo_warehouse

D = dt.date


# --- scoring ----------------------------------------------------------------------------------


def test_score_hand_cases() -> None:
    # flow 1% -> +0.5; price -2% -> -0.4; volume 1.5x -> +0.5 in the direction of (0.5 - 0.4) > 0
    sig, strength, comp, parts = score(0.01, -0.02, 1.5)
    assert parts == {"flow": 0.5, "price": pytest.approx(-0.4), "volume": 0.5}
    assert comp == pytest.approx(0.5 * 0.5 - 0.3 * 0.4 + 0.2 * 0.5) and (sig, strength) == ("BUY", 23)
    # no price, no volume: the flow part alone carries the weight
    assert score(-0.03, None, None)[:3] == ("SELL", 100, -1.0)
    # low volume weakens the direction: flow -0.5, price -0.2 -> sign -1, volume 0.3x -> +0.7
    s2 = score(-0.01, -0.01, 0.3)
    assert s2[3]["volume"] == pytest.approx(0.7) and s2[2] == pytest.approx(
        0.5 * -0.5 + 0.3 * -0.2 + 0.2 * 0.7
    )
    assert s2[0] == "NEUTRAL" and s2[1] == 17
    assert score(-0.01, -0.01, 0.5)[:2] == ("SELL", 21)  # -0.25 - 0.06 + 0.1 = -0.21
    assert score(None, 0.05, 2.0)[:3] == (None, None, None)
    assert score(0.004, 0.0, None)[0] == "NEUTRAL"  # +0.2 x 0.5 / 0.8 = 0.125 < 0.2


def test_category_or_asset_class() -> None:
    tax = load_taxonomy()
    bonds = category_tickers(tax, "bond")
    assert bonds == category_tickers(tax, "fixed_income") and len(bonds) == 19 and "TLT" in bonds
    eq = category_tickers(tax, "equity")
    assert "SPY" in eq and "XLK" in eq and "GLD" not in eq and len(eq) == 121 - 19 - 6
    assert category_tickers(tax, "Sector")[:2] == ["FTEC", "GDX"]
    with pytest.raises(NotFoundError, match="asset classes: commodity, equity, fixed_income"):
        category_tickers(tax, "crypto")


def _flows(t: str, values: list[float], end: str = "2024-06-28") -> pl.DataFrame:
    from etfflow import calendar

    dates = calendar.sessions(None, end)[-len(values) :]
    n = len(values)
    return pl.DataFrame(
        {
            "date": pl.Series(dates).cast(pl.Date),
            "ticker": [t] * n,
            "flow_usd": values,
            "aum_prev_usd": [1000.0] * n,
            "shares_change": [v * 10 for v in values],
            "flags": pl.Series([0] * n, dtype=pl.UInt32),
            "available_on": pl.Series(dates).cast(pl.Date),
        }
    )


def _prices(t: str, closes: list[float], volumes: list[float], end: str = "2024-06-28") -> pl.DataFrame:
    from etfflow import calendar

    dates = calendar.sessions(None, end)[-len(closes) :]
    return pl.DataFrame(
        {
            "date": pl.Series(dates).cast(pl.Date),
            "ticker": [t] * len(closes),
            "close": closes,
            "volume": volumes,
        }
    )


def test_flow_detail_columns() -> None:
    f = _flows("A", [5.0, -2.0, 3.0])
    p = _prices("A", [10.0, 11.0, 10.5], [100.0, 200.0, 300.0])
    funds = pl.DataFrame({"ticker": ["A"], "creation_unit_shares": [25]})
    out = flow_detail(f, p, funds, volume_days=2).to_dicts()
    assert out[0]["price_change"] is None and out[1]["price_change"] == pytest.approx(0.1)
    assert out[2]["price_change"] == pytest.approx(-0.5 / 11)
    # volume against the mean of the 2 sessions before: 300 / 150
    assert out[2]["volume_ratio"] == pytest.approx(2.0) and out[1]["volume_ratio"] is None
    assert [x["divergence"] for x in out] == [None, "outflow_price_up", "inflow_price_down"]
    assert [x["creation_units"] for x in out] == [2.0, -0.8, 1.2]
    # 2024-06-28 was a quarter end and Russell's reconstitution day
    assert out[2]["date"] == D(2024, 6, 28) and out[2]["mechanical"] == "quarter end, Russell reconstitution"
    assert out[1]["mechanical"] is None


def test_tracker_signals_fields() -> None:
    f = _flows("A", [1.0] * 20)  # 20 / 1000 = 2%: flow score +1
    closes = [100.0] * 10 + [100.0 + i for i in range(11)]  # +10% over the last 20 sessions: price +1
    vols = [100.0] * 20 + [200.0]  # 2x its 30-session average: volume +1
    p = _prices("A", closes, vols)
    funds = pl.DataFrame({"ticker": ["A"], "name": ["a"], "category": ["sector"]})
    row = tracker_signals(f, p, funds).row(0, named=True)
    assert (row["signal"], row["strength"], row["composite"]) == ("BUY", 100, 1.0)
    assert (row["flow_1d_usd"], row["flow_5d_usd"], row["flow_20d_usd"]) == (1.0, 5.0, 20.0)
    assert row["return_20d"] == pytest.approx(0.1) and row["volume_ratio"] == pytest.approx(2.0)
    assert row["reason"] == (
        "20-session inflow +2.00% of AUM; price +10.00% over 20 sessions; volume 2.00x its 30-session average"
    )
    # point in time: as of 5 sessions earlier the last 5 flows are unknown
    early = tracker_signals(f, p, funds, as_of=D(2024, 6, 21)).row(0, named=True)
    assert early["flow_20d_usd"] == 15.0 and early["date"] == D(2024, 6, 21)


# --- premium / discount and the arbitrage view -------------------------------------------------


def test_arbitrage_view_hand_case() -> None:
    dates = [D(2024, 6, d) for d in (3, 4, 5, 6, 7)]
    daily = pl.DataFrame(
        {"date": dates, "close": [10.05, 10.0, 9.95, 10.0, 10.0], "nav": [10.0, 10.0, 10.0, 10.0, 10.0]}
    )
    flows = pl.DataFrame({"date": dates, "shares_change": [0.0, 100.0, -50.0, 0.0, 0.0]})
    p = premium_series(daily)["premium"].to_list()
    assert p[0] == pytest.approx(0.005) and p[2] == pytest.approx(-0.005)
    v = arbitrage_view("X", daily, flows, band=0.0025, follow=1)
    # day 1: +0.5% then +100 on day 2 -> creation; day 3: -0.5%, -50 then 0 -> redemption; day 5 has no t+1
    assert (v.sessions, v.above, v.above_created, v.below, v.below_redeemed) == (4, 1, 1, 1, 1)
    assert v.table["followed"].to_list() == ["creation", "redemption"]
    assert v.base_created == 0.5 and v.base_redeemed == 0.25  # windows: +100, +50, -50, 0


@pytest.fixture(scope="module")
def gld() -> tuple[pl.DataFrame, pl.DataFrame]:
    b = read_ssga_gld_csv("../shared/data/issuers/ssga/GLD_US_archive_EN.csv")
    return b.daily, compute_flows(b.daily.drop("source"), load_taxonomy())


def test_gld_arbitrage_on_real_data(gld: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    """GLD 2004-2025: close vs NAV; creations follow premiums above 0.25% more often than other days."""
    daily, flows = gld
    v = arbitrage_view("GLD", daily, flows)
    assert (v.sessions, v.above, v.below) == (5152, 1707, 1246)
    assert (v.above_created, v.above_redeemed, v.below_redeemed, v.below_created) == (645, 543, 520, 362)
    assert v.above_created / v.above > v.base_created  # type: ignore[operator]
    assert "binomial z +3.6" in v.verdict and "binomial z +3.4" in v.verdict
    # negative control: shuffle the premiums' dates away from the flows (shift by 250 sessions)
    shifted = daily.with_columns(pl.col("close").shift(250), pl.col("nav").shift(250))
    nc = arbitrage_view("GLD", shifted, flows)
    zs = [float(z) for z in re.findall(r"binomial z ([+-][0-9.]+)", nc.verdict)]
    assert len(zs) == 2 and all(abs(z) < 2 for z in zs) and "no more often" in nc.verdict


# --- creation units ---------------------------------------------------------------------------


def test_ivv_daily_units_and_monthly_nport() -> None:
    b = read_ishares_workbook("../shared/data/issuers/ishares/IVV_fund.xls", ticker="IVV")
    fl = compute_flows(b.daily.drop("source"), load_taxonomy())
    u = daily_units(fl, 50_000)
    assert u["whole"].drop_nulls().all()  # every IVV change is a whole 50,000-share unit
    oct_ = u.filter(pl.col("date").is_between(D(2000, 10, 5), D(2000, 10, 10)))
    assert oct_["units"].to_list() == pytest.approx(
        [
            2000.0,
            -2000.0,
            0.0,
            20.0,
        ]
    )  # the bad print and a real 20-unit creation
    # monthly beside hand-written N-PORT figures (the sample filings are not IVV's)
    oct_flows = fl.filter(pl.col("date").is_between(D(2000, 10, 1), D(2000, 10, 31)))
    nport = pl.DataFrame(
        {
            "month_end": [D(2000, 10, 31)],
            "sales": [500e6],
            "reinvestment": [0.0],
            "redemption": [300e6],
            "net_flow": [200e6],
        }
    )
    m = monthly_units(oct_flows, nport, 50_000).row(0, named=True)
    expect = float(oct_flows.filter(pl.col("flags") == 0)["flow_usd"].sum())
    assert m["daily_net_usd"] == pytest.approx(expect) and m["gross_to_net"] == pytest.approx(4.0)
    assert m["net_units"] == pytest.approx(m["net_shares"] / 50_000) and m["sessions"] == 20
    assert m["difference_usd"] == pytest.approx(expect - 200e6)
    none = monthly_units(oct_flows, nport.head(0), 50_000).row(0, named=True)
    assert none["sales"] is None and none["gross_to_net"] is None  # unknown, never 0


# --- CLI --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_db(request: pytest.FixtureRequest) -> Path:
    return demo_warehouse(request.config)


def test_cli_signals_and_top_asset_class(demo_db: Path) -> None:
    r = CliRunner()
    res = r.invoke(
        app, ["signals", "--category", "bond", "--as-of", GOLDEN_AS_OF, "--db", str(demo_db), "--json"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert len(data["signals"]) == 19 and data["label"].startswith("SYNTHETIC")
    assert {x["signal"] for x in data["signals"]} <= {"BUY", "SELL", "NEUTRAL"}
    assert all(0 <= x["strength"] <= 100 for x in data["signals"])
    res = r.invoke(app, ["signals", "SPY", "QQQ", "--db", str(demo_db)])
    assert res.exit_code == 0 and "Scoring: composite = 0.5 flow" in res.output
    for cat in ("equity", "bond", "sector"):
        res = r.invoke(app, ["top", "--category", cat, "--db", str(demo_db), "--json"])
        assert res.exit_code == 0, res.output
    res = r.invoke(app, ["top", "--category", "crypto", "--db", str(demo_db)])
    assert res.exit_code == 3 and "asset classes" in res.output
    res = r.invoke(app, ["flows", "SPY", "--db", str(demo_db), "--json", "--start", "2025-06-02"])
    rows = json.loads(res.output)["rows"]
    assert {"close", "price_change", "volume_ratio", "divergence", "creation_units"} <= set(rows[0])


def test_cli_premium_and_units_on_real_files(tmp_path: Path) -> None:
    r = CliRunner()
    db = str(tmp_path / "r.duckdb")
    res = r.invoke(
        app,
        [
            "import",
            "../shared/data/issuers/ssga/GLD_US_archive_EN.csv",
            "../shared/data/issuers/ishares/IVV_fund.xls",
            "--db",
            db,
        ],
    )
    assert res.exit_code == 0, res.output
    res = r.invoke(app, ["premium", "GLD", "--db", db, "--json"])
    assert res.exit_code == 0, res.output
    v = json.loads(res.output)
    assert (v["above"], v["above_created"]) == (1707, 645)
    res = r.invoke(app, ["premium", "IVV", "--db", db])
    assert res.exit_code == 3 and "needs close and NAV" in res.output  # the workbook has no closing price
    res = r.invoke(
        app,
        ["units", "IVV", "--freq", "d", "--start", "2000-10-10", "--end", "2000-10-10", "--db", db, "--json"],
    )
    assert json.loads(res.output)["rows"][0]["units"] == 20.0
    res = r.invoke(app, ["units", "GLD", "--db", db])
    assert res.exit_code == 0 and "No N-PORT rows for this fund" in res.output
