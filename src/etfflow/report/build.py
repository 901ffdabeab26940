"""Build the dated flow report as one data object (`FlowReport`); the renderers only format it.

Point in time: a report as of date D uses only flows dated on or before D that were known by D
(`available_on <= D`). With a one-session reporting lag the last trade date covered is the session
before D, and the title says so.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from etfflow import __version__, calendar
from etfflow.errors import ConfigError, NotFoundError
from etfflow.flows.flags import flag_counts
from etfflow.flows.source import describe_sources, flow_sources, source_notes
from etfflow.signals.common import jsonable
from etfflow.signals.composite import Composite, composite
from etfflow.signals.event_returns import EventStudy, event_study
from etfflow.signals.fixed_income import FixedIncomeFlows, fixed_income_flows
from etfflow.signals.fund_signals import FundSignals, SignalParams, fund_signals, panel_sessions, to_panel
from etfflow.signals.mechanical import REASONS, mechanical_sessions, possibly_mechanical
from etfflow.signals.overview import GroupFlows, report_window, top_flows, window_totals
from etfflow.signals.regime import BroadMarket, broad_market
from etfflow.signals.rules import FRAMEWORK, Rules, load_themes
from etfflow.signals.sectors import SectorSnapshot, breadth_history, sector_history, sector_rotation
from etfflow.signals.styles import StyleFlows, style_flows
from etfflow.signals.thematic import ThematicFlows, thematic_flows
from etfflow.store import Store

__all__ = [
    "FLOW_COLUMNS",
    "Coverage",
    "FlowReport",
    "ReportOptions",
    "TopFlows",
    "build_report",
    "point_in_time",
    "report_from_store",
]

#: the `flows_daily` columns the report reads
FLOW_COLUMNS: tuple[str, ...] = (
    "date",
    "ticker",
    "flow_usd",
    "aum_prev_usd",
    "nav_used",
    "flags",
    "available_on",
)
DISCLAIMER = "This report describes fund flows; it is not investment advice."


@dataclass(frozen=True)
class ReportOptions:
    """Everything that shapes a report besides the data, the date and the window."""

    top_n: int = 10
    min_aum_for_pct: float = 50e6  # funds smaller than this are left out of the % of AUM ranking
    chart_weeks: int = 26
    thematic_weeks: int = 12
    history: int = 504  # sessions of history for percentiles, z-scores, readings and the event study
    rules: Rules = FRAMEWORK  # the framework's rules; `rules.ETFFLOW` for etfflow's variants
    signal_params: SignalParams | None = None  # overrides `rules.signals` when given

    @property
    def signals(self) -> SignalParams:
        """The per-fund signal parameters in force."""
        return self.signal_params or self.rules.signals


@dataclass(frozen=True)
class Coverage:
    """What one section could use: funds with data, funds known, and what has no data."""

    section: str
    funds_with_data: int
    funds_known: int
    missing_groups: list[str]
    missing_funds: list[str]


@dataclass(frozen=True)
class TopFlows:
    """Largest inflows and outflows over the window, by $ and by % of AUM."""

    usd_in: pl.DataFrame
    usd_out: pl.DataFrame
    pct_in: pl.DataFrame
    pct_out: pl.DataFrame
    min_aum_for_pct: float


@dataclass(frozen=True)
class FlowReport:
    """The whole dated flow report as data: every number the renderers print comes from here."""

    title: str
    as_of: dt.date
    start: dt.date
    end: dt.date
    window: int
    label: str | None
    synthetic: bool
    generator: str
    funds_with_data: int
    broad: BroadMarket
    sectors: SectorSnapshot
    styles: StyleFlows
    fixed_income: FixedIncomeFlows
    thematic: ThematicFlows
    signals: FundSignals
    top: TopFlows
    composite: Composite
    coverage: list[Coverage]
    flags: pl.DataFrame  # flag, rows, first, last (in the window)
    notes: list[str]
    sector_weeks: pl.DataFrame  # sector flows per week (charts)
    breadth_weeks: pl.DataFrame  # breadth and C/D ratio per week (charts)
    flow_sources: dict[str, str] = field(default_factory=dict)  # ticker -> computed / vendor:NAME
    rules: str = "framework"
    mechanical: dict[dt.date, list[str]] = field(
        default_factory=dict
    )  # window sessions that may be mechanical
    event_study: EventStudy | None = None  # forward returns after past 3-sigma events
    sector_momentum: pl.DataFrame | None = None  # sector, avg_flow_pct, flow_momentum, price_momentum

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (the `--json` and `--format json` content)."""
        d: dict[str, Any] = jsonable(self)
        return d

    def empty_sections(self) -> list[str]:
        """Sections without any fund with data in the window."""
        return [c.section for c in self.coverage if c.funds_with_data == 0]


def point_in_time(flows: pl.DataFrame, as_of: dt.date | None) -> tuple[pl.DataFrame, dt.date]:
    """Flows dated on or before `as_of` and known by then; `as_of` defaults to the last availability."""
    if flows.height == 0:
        raise NotFoundError("no flows in the warehouse: import data or run `etfflow demo` first")
    if as_of is None:
        last = flows["available_on"].max() if "available_on" in flows.columns else None
        as_of = last if isinstance(last, dt.date) else flows["date"].max()  # type: ignore[assignment]
    assert isinstance(as_of, dt.date)
    f = flows.filter(pl.col("date") <= as_of)
    if "available_on" in f.columns:
        f = f.filter(pl.col("available_on").is_null() | (pl.col("available_on") <= as_of))
    return f, as_of


def _coverage(
    section: str, category: str, totals: pl.DataFrame, funds: pl.DataFrame, groups: GroupFlows
) -> Coverage:
    known = funds.filter(pl.col("category") == category)["ticker"].to_list()
    with_data = set(totals["ticker"].to_list()) & set(known)
    return Coverage(
        section=section,
        funds_with_data=len(with_data),
        funds_known=len(known),
        missing_groups=groups.missing_groups,
        missing_funds=groups.missing_funds,
    )


def build_report(
    flows: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    as_of: dt.date | None = None,
    window: int = 5,
    label: str | None = None,
    options: ReportOptions | None = None,
) -> FlowReport:
    """The dated flow report from daily flows (`flows_daily` columns) and the funds table."""
    if window < 1:
        raise ConfigError(f"window must be at least 1 session, not {window}")
    o = options or ReportOptions()
    # the US ETF flow framework: US funds only (other markets' flows are in other currencies)
    us = [t for t, m in calendar.fund_markets(funds, flows["ticker"].unique().to_list()).items() if m == "US"]
    if flows.height and not us:
        raise NotFoundError(
            "the flow report covers US funds and this warehouse has flows of other markets only: "
            "see `etfflow groups --market CN` and `etfflow flows TICKER`"
        )
    flows = flows.filter(pl.col("ticker").is_in(us))
    pit, as_of = point_in_time(flows, as_of)
    span = report_window(pit, window, as_of)
    if span is None:
        raise NotFoundError(f"no flows known on or before {as_of}")
    start, end = span
    in_window = pit.filter(pl.col("date").is_between(start, end))
    # charts and themes look back a few months only: filter once, not per section
    weeks_back = max(o.chart_weeks, o.thematic_weeks) + 2
    cal = calendar.sessions(None, end)
    recent_start = dt.date.fromisoformat(str(cal[max(0, len(cal) - 5 * weeks_back)]))
    recent = pit.filter(pl.col("date") >= recent_start)
    totals = window_totals(in_window, funds, window=window, as_of=end)
    rules = o.rules
    broad = broad_market(totals, funds)
    sectors = sector_rotation(totals, funds, rules=rules.sectors)
    styles = style_flows(totals, funds)
    fi = fixed_income_flows(totals, funds, tips_rates=rules.tips_rates)
    themes = load_themes(rules.themes, funds)
    thematic = thematic_flows(recent, funds, end=end, weeks=o.thematic_weeks, themes=themes)
    panel = to_panel(pit, end, panel_sessions(o.signals, window, o.history))  # shared by signals and study
    signals = fund_signals(
        pit, funds, end=end, event_days=window, params=o.signals, history=o.history, panel=panel
    )
    signals = _mark_events(signals, start, end)
    study = event_study(panel, o.signals)
    mech = mechanical_sessions(start, end)
    usd_in, usd_out = top_flows(totals, n=o.top_n, by="flow_usd")
    big = totals.filter(pl.col("aum_start_usd") >= o.min_aum_for_pct)
    pct_in, pct_out = top_flows(big, n=o.top_n, by="flow_pct_aum")
    top = TopFlows(usd_in, usd_out, pct_in, pct_out, o.min_aum_for_pct)
    extremes = _extremes(signals, o.signals.extreme)
    comp = composite(broad, sectors, styles, fi, thematic, extremes, rules=rules, signals=signals)
    sector_groups = _sector_groups(sectors, funds)
    thematic_groups = GroupFlows(pl.DataFrame(), thematic.missing, [])
    coverage = [
        _coverage("Broad Market Flows", "broad_market", totals, funds, broad.groups),
        _coverage("Sector Rotation", "sector", totals, funds, sector_groups),
        _coverage("Style Factor Flows", "style", totals, funds, styles.groups),
        _coverage("Fixed Income Flows", "fixed_income", totals, funds, fi.groups),
        _theme_coverage(totals, themes, thematic_groups),
    ]
    sector_weeks = sector_history(recent, funds, periods=o.chart_weeks, as_of=end, rules=rules.sectors)
    synthetic = label is not None and "SYNTHETIC" in label.upper()
    notes = _notes(totals, funds, coverage, thematic, start, end, as_of, label, mech)
    used = in_window.filter(pl.col("ticker").is_in(totals["ticker"].implode()))
    if set(flow_sources(used).values()) - {"computed"}:  # the disclaimer stays last
        notes[-1:-1] = [describe_sources(used, limit=40), *source_notes(used)]
    return FlowReport(
        title=f"ETF Flow Report: {start} to {end}",
        as_of=as_of,
        start=start,
        end=end,
        window=window,
        label=label,
        synthetic=synthetic,
        generator=f"etfflow {__version__}",
        funds_with_data=totals.height,
        broad=broad,
        sectors=sectors,
        styles=styles,
        fixed_income=fi,
        thematic=thematic,
        signals=signals,
        top=top,
        composite=comp,
        coverage=coverage,
        flags=flag_counts(in_window),
        notes=notes,
        sector_weeks=sector_weeks,
        breadth_weeks=breadth_history(sector_weeks),
        flow_sources=flow_sources(used),
        rules=rules.name,
        mechanical=mech,
        event_study=study,
        sector_momentum=sector_momentum(totals, signals, funds),
    )


def sector_momentum(totals: pl.DataFrame, signals: FundSignals, funds: pl.DataFrame) -> pl.DataFrame:
    """The tracker's sector columns: mean fund flow % of AUM over the window, and the means of the
    funds' 20-day acceleration (flow momentum) and 20-day price return (price momentum)."""
    sec = funds.filter(pl.col("category") == "sector").select("ticker", pl.col("group").alias("sector"))
    w = totals.select("ticker", "flow_pct_aum").join(sec, on="ticker")
    s = signals.table.select("ticker", "accel_pct", "return20").join(sec, on="ticker")
    a = w.group_by("sector").agg(pl.col("flow_pct_aum").drop_nans().mean().alias("avg_flow_pct"))
    b = s.group_by("sector").agg(
        pl.col("accel_pct").drop_nans().mean().alias("flow_momentum"),
        pl.col("return20").drop_nans().mean().alias("price_momentum"),
    )
    return a.join(b, on="sector", how="full", coalesce=True).sort("sector")


def _theme_coverage(totals: pl.DataFrame, themes: pl.DataFrame, groups: GroupFlows) -> Coverage:
    known = sorted(set(themes["ticker"].to_list()))
    with_data = set(totals["ticker"].to_list()) & set(known)
    return Coverage("Thematic Highlights", len(with_data), len(known), groups.missing_groups, [])


def _mark_events(signals: FundSignals, start: dt.date, end: dt.date) -> FundSignals:
    """Add `mechanical` (reasons, comma-joined; null when none) to the flow events."""
    ev = signals.events
    marks = possibly_mechanical(ev["date"].to_list(), start, end) if ev.height else {}
    col = pl.Series(
        "mechanical", [", ".join(REASONS[r] for r in marks.get(d, [])) or None for d in ev["date"]], pl.String
    )
    return dataclasses.replace(signals, events=ev.with_columns(col))


def _sector_groups(sectors: SectorSnapshot, funds: pl.DataFrame) -> GroupFlows:
    members = funds.filter((pl.col("category") == "sector") & pl.col("group").is_in(sectors.missing))
    return GroupFlows(pl.DataFrame(), sectors.missing, sorted(members["ticker"].to_list()))


def _extremes(signals: FundSignals, level: float, limit: int = 5) -> list[str]:
    """Sentences on funds whose 20-day flow is beyond the `level` / 1 - `level` historical percentile."""
    t = signals.table.filter(pl.col("percentile").is_not_null())
    hi = t.filter(pl.col("percentile") >= level).sort("flow20_pct", "ticker", descending=[True, False])
    lo = t.filter(pl.col("percentile") <= 1 - level).sort("flow20_pct", "ticker")
    if hi.height + lo.height == 0:
        return []

    def names(f: pl.DataFrame) -> str:
        shown = ", ".join(f["ticker"].head(limit).to_list())
        return shown + (f" and {f.height - limit} more" if f.height > limit else "")

    sides = []
    if hi.height:
        sides.append(f"inflows into {names(hi)}")
    if lo.height:
        sides.append(f"outflows from {names(lo)}")
    out = [
        f"Extreme 20-day flows (beyond the {1 - level:.0%} / {level:.0%} percentile of the past year): "
        + "; ".join(sides)
        + "."
    ]
    readings = dict(
        zip(signals.readings["category"].to_list(), signals.readings["reading"].to_list(), strict=True)
    )
    cats = sorted({c for c in pl.concat([hi, lo])["category"].to_list() if c is not None})
    for kind, text in (
        ("contrarian", "extremes there have tended to reverse"),
        ("momentum", "extremes there have tended to run on"),
    ):
        hit = [c.replace("_", " ") for c in cats if readings.get(c) == kind]
        if hit:
            out.append(f"Past flows in {', '.join(hit)} read {kind}: {text}.")
    return out


def _notes(
    totals: pl.DataFrame,
    funds: pl.DataFrame,
    coverage: list[Coverage],
    thematic: ThematicFlows,
    start: dt.date,
    end: dt.date,
    as_of: dt.date,
    label: str | None,
    mechanical: dict[dt.date, list[str]] | None = None,
) -> list[str]:
    notes = []
    if label:
        notes.append(f"{label}. Every number in this report is synthetic.")
    notes.append(
        f"Data coverage: trade dates {start} to {end} (flows known by {as_of}); "
        f"{totals.height} funds with flows in the window."
    )
    by_cat = (
        totals.join(funds.select("ticker", "category"), on="ticker", how="left")
        .group_by("category")
        .agg(pl.col("ticker").sort())
        .sort("category", nulls_last=True)
    )
    parts = []
    for cat, tick in by_cat.iter_rows():
        shown = ", ".join(tick[:8]) + (f" and {len(tick) - 8} more" if len(tick) > 8 else "")
        parts.append(f"{(cat or 'unclassified').replace('_', ' ')} {len(tick)} ({shown})")
    if parts:
        notes.append("Funds with flows by category: " + "; ".join(parts) + ".")
    for c in coverage:
        if c.funds_with_data == 0:
            notes.append(
                f"{c.section}: no data in the window (none of {c.funds_known} known funds has flows)."
            )
        elif c.missing_groups:
            notes.append(
                f"{c.section}: no data for {', '.join(c.missing_groups)}; shown as missing, not as zero."
            )
    if thematic.partial_last_week and thematic.table.height:
        notes.append(f"The latest thematic week ({thematic.weeks[-1]}) is incomplete.")
    if mechanical:
        days = "; ".join(f"{d} ({', '.join(REASONS[r] for r in rs)})" for d, rs in mechanical.items())
        notes.append(
            f"Possibly mechanical flows: the window holds {days}. Flows on these sessions and the next "
            "can be index-fund rebalancing, window dressing or tax trades rather than views."
        )
    else:
        notes.append(
            "No quarter end, index rebalance or reconstitution session in the window; flows around them "
            "(last session of each quarter, third Friday of Mar/Jun/Sep/Dec, Russell's June "
            "reconstitution, MSCI reviews) can be mechanical."
        )
    notes.append(
        "Options hedging: dealers hedging options on large ETFs (SPY, QQQ, IWM) and option expiries "
        "move creations and redemptions without any change in investors' views."
    )
    notes.append(DISCLAIMER)
    return notes


def report_from_store(
    store: Store,
    *,
    as_of: dt.date | None = None,
    window: int = 5,
    options: ReportOptions | None = None,
    flow_source: str | None = None,
) -> FlowReport:
    """Read only the sessions the report needs (flows from `flow_source`), then build the report."""
    from etfflow.flows.source import parse_flow_source
    from etfflow.pipeline import funds_table, load_flows, synthetic_label

    o = options or ReportOptions()
    choice = parse_flow_source(flow_source)
    # the report's dates come from the US funds' flows (other markets keep other calendars)
    other = funds_table(store).filter(pl.col("market") != "US")["ticker"].to_list() or [""]
    ends = []
    if choice.kind != "vendor":
        last = store.query(
            "SELECT max(available_on) AS a, max(date) AS d FROM flows_daily "
            "WHERE ticker NOT IN (SELECT unnest(?))",
            [other],
        )
        ends.append(last["a"][0] or last["d"][0])
    if choice.kind != "computed":  # a vendor's flow for d is known the next session
        d = store.query("SELECT max(date) AS d FROM vendor_flows")["d"][0]
        ends.append(None if d is None else calendar.sessions(d + dt.timedelta(days=1))[0].astype(dt.date))
    known = [e for e in ends if e is not None]
    if not known:
        raise NotFoundError(
            f"no flows of US funds in {store.path}: import data or run `etfflow demo` first "
            "(China funds: `etfflow groups --market CN`)"
        )
    top = as_of or max(known)
    sessions = (
        max(o.history, o.signals.pct_window + o.signals.long_days, 5 * (o.chart_weeks + 2)) + window + 10
    )
    cal = calendar.sessions(None, top)
    first = dt.date.fromisoformat(str(cal[max(0, len(cal) - sessions)])) if len(cal) else top
    flows, funds = load_flows(store, start=first, end=top, flow_source=choice)
    if flows.height == 0:
        raise NotFoundError(f"no flows on or before {top} in {store.path}")
    return build_report(flows, funds, as_of=as_of, window=window, label=synthetic_label(store), options=o)
