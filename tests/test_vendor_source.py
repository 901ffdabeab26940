"""Flow-source selection (pure): computed, vendor[:NAME] and best; vendor rows' AUM, flags and availability.

All frames here are SYNTHETIC, built by hand so that every expected number is known.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from etfflow.errors import ConfigError
from etfflow.flows.flags import Flag
from etfflow.flows.source import (
    FlowSource,
    describe_sources,
    flow_sources,
    parse_flow_source,
    select_flows,
    source_notes,
    with_flow_source,
)
from etfflow.schema import validate

D = dt.date


def computed() -> pl.DataFrame:
    return validate(
        pl.DataFrame(
            {
                "date": [D(2024, 1, 2), D(2024, 1, 3)],
                "ticker": ["AAA", "AAA"],
                "flow_usd": [5e6, -1e6],
                "aum_prev_usd": [100e6, 105e6],
                "flags": pl.Series([0, 0], dtype=pl.UInt32),
                "method": ["shares", "shares"],
                "available_on": [D(2024, 1, 3), D(2024, 1, 4)],
            }
        ),
        "flows_daily",
    )


def vendor() -> pl.DataFrame:
    rows = [
        (D(2024, 1, 2), "AAA", "etfcom", 4e6),
        (D(2024, 1, 2), "BBB", "etfcom", 30e6),  # Tuesday after New Year
        (D(2024, 1, 5), "BBB", "etfcom", -2e6),  # Friday: available Monday 2024-01-08
        (D(2024, 1, 2), "BBB", "other", 1e6),
        (D(2024, 1, 2), "CCC", "other", 7e6),
    ]
    return validate(
        pl.DataFrame(rows, schema=["date", "ticker", "source", "flow_usd"], orient="row"), "vendor_flows"
    )


def aum() -> pl.DataFrame:
    # BBB's AUM stated on Friday 2023-12-29 (the session before 2024-01-02) and on 2024-01-04
    return pl.DataFrame(
        {"date": [D(2023, 12, 29), D(2024, 1, 4)], "ticker": ["BBB", "BBB"], "aum_usd": [100e6, 80e6]}
    )


def test_parse() -> None:
    assert parse_flow_source(None) == FlowSource("best")
    assert parse_flow_source("Vendor:etfcom") == FlowSource("vendor", "etfcom")
    assert str(parse_flow_source("computed")) == "computed"
    for bad in ("vendors", "computed:x", "vendor:", "best:etfcom"):
        with pytest.raises(ConfigError, match="--flows takes"):
            parse_flow_source(bad)


def test_best_takes_computed_where_a_fund_has_them() -> None:
    f = select_flows(computed(), vendor(), "best", aum=aum())
    assert flow_sources(f) == {"AAA": "computed", "BBB": "vendor:etfcom", "CCC": "vendor:other"}
    # AAA: the computed rows, untouched; BBB: etfcom (2 rows beat other's 1), never mixed
    assert f.filter(pl.col("ticker") == "AAA")["flow_usd"].to_list() == [5e6, -1e6]
    bbb = f.filter(pl.col("ticker") == "BBB")
    assert bbb["flow_usd"].to_list() == [30e6, -2e6]
    # prior AUM: last stated before the session; % of AUM from it; LARGE above 25%
    assert bbb["aum_prev_usd"].to_list() == [100e6, 80e6]
    assert bbb["flow_pct_aum"].to_list() == [pytest.approx(0.30), pytest.approx(-0.025)]
    assert bbb["flags"].to_list() == [int(Flag.LARGE), 0]
    assert bbb["available_on"].to_list() == [D(2024, 1, 3), D(2024, 1, 8)]
    assert set(bbb["method"].to_list()) == {"vendor"}
    # CCC has no AUM anywhere: % left empty, never invented, and said so
    ccc = f.filter(pl.col("ticker") == "CCC")
    assert ccc["aum_prev_usd"].to_list() == [None] and ccc["flow_pct_aum"].to_list() == [None]
    assert source_notes(f) == [
        "1 fund(s) with vendor flows have no AUM in the warehouse, so their % of AUM is left empty "
        "(import their shares, NAV or net assets to fill it): CCC."
    ]


def test_best_decides_per_fund_not_per_window() -> None:
    """A date filter that leaves no computed row for AAA must not switch AAA to vendor flows."""
    f = select_flows(computed().head(0), vendor(), "best", computed_tickers={"AAA"})
    assert "AAA" not in flow_sources(f)


def test_vendor_and_named_vendor() -> None:
    f = select_flows(computed(), vendor(), "vendor:other")
    assert flow_sources(f) == {"BBB": "vendor:other", "CCC": "vendor:other"}
    v = select_flows(computed(), vendor(), "vendor")
    assert flow_sources(v) == {"AAA": "vendor:etfcom", "BBB": "vendor:etfcom", "CCC": "vendor:other"}
    c = select_flows(computed(), vendor(), "computed")
    assert flow_sources(c) == {"AAA": "computed"} and source_notes(c) == []


def test_describe_and_join() -> None:
    f = select_flows(computed(), vendor(), "best")
    assert describe_sources(f, limit=1) == (
        "Flow source: computed from shares outstanding: 1 fund (AAA); "
        "published by vendor:etfcom: 1 fund (BBB); published by vendor:other: 1 fund (CCC)."
    )
    t = with_flow_source(pl.DataFrame({"ticker": ["CCC", "ZZZ"]}), f)
    assert t["flow_source"].to_list() == ["vendor:other", None]


def test_group_pct_never_counts_flows_without_aum() -> None:
    """SYNTHETIC sector: AAA (computed, AUM 100m, +5m) and BBB (vendor, no AUM, +20m) in Energy.

    The sector's net flow is 25m; its % of AUM is 5m / 100m = 5% (over the funds with an AUM), and a
    group total that includes BBB's flow has no AUM to divide by (None), never 25m / 100m.
    """
    from etfflow.flows.aggregate import by_group
    from etfflow.signals.overview import group_totals
    from etfflow.signals.sectors import sector_rotation

    funds = pl.DataFrame(
        {
            "ticker": ["AAA", "BBB"],
            "category": ["sector", "sector"],
            "group": ["Energy", "Energy"],
            "cycle": ["cyclical", "cyclical"],
            "cycle_phase": ["late", "late"],
        }
    )
    totals = pl.DataFrame(
        {"ticker": ["AAA", "BBB"], "flow_usd": [5e6, 20e6], "aum_start_usd": [100e6, None]},
        schema_overrides={"aum_start_usd": pl.Float64},
    )
    (row,) = sector_rotation(totals, funds).table.iter_rows(named=True)
    assert (row["flow_usd"], row["flow_pct_aum"]) == (25e6, pytest.approx(0.05))
    g = group_totals(totals, funds, category="sector")
    assert g.table["flow_pct_aum"].to_list() == [pytest.approx(0.05)]
    assert g.total(["Energy"]) == (25e6, None, ["AAA", "BBB"])
    only_aaa = group_totals(totals.head(1), funds, category="sector")
    assert only_aaa.total(["Energy"]) == (5e6, 100e6, ["AAA"])
    flows = select_flows(computed(), vendor().filter(pl.col("ticker") == "BBB"), "best")
    week = by_group(flows, funds.with_columns(pl.lit("Energy").alias("group")), freq="w")
    assert week["flow_usd"].to_list() == [4e6 + 28e6]  # AAA 5m - 1m, BBB (etfcom) 30m - 2m
    assert week["flow_pct_aum"].to_list() == [pytest.approx(4e6 / 100e6)]  # AAA's first-day AUM only
