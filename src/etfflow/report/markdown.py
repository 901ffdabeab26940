"""Render a `FlowReport` as Markdown (plain f-strings; every number comes from the report object)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from etfflow.report.build import FlowReport
from etfflow.report.markup import md_table, md_text, name_list
from etfflow.signals.common import fmt_pct, fmt_usd
from etfflow.signals.regime import REGIMES
from etfflow.signals.rules import PRESETS
from etfflow.signals.sectors import BREADTH_BANDS, CD_BANDS
from etfflow.signals.thematic import THEME_STATES

__all__ = ["LEG_NAMES", "render_markdown", "section_blocks"]

Block = tuple[str, list[str]]


def _label(x: str | None) -> str:
    return "n/a" if x is None else x.replace("_", " ")


def _aum(x: Any) -> str:
    return fmt_usd(x).lstrip("+")


def _broad(r: FlowReport) -> list[str]:
    b = r.broad
    out: list[str] = []
    if b.funds.height:
        rows = [
            [
                x["ticker"],
                md_text(x.get("group") or ""),
                fmt_usd(x["flow_usd"]),
                fmt_pct(x["flow_pct_aum"]),
                _aum(x["aum_start_usd"]),
            ]
            for x in b.funds.to_dicts()
        ]
        out += md_table(["Fund", "Group", "Net flow", "% of AUM", "AUM before"], rows, "llrrr")
    if b.missing:
        out += ["", f"No data in the window for: {', '.join(b.missing)}."]
    g = b.groups.table
    if g.height:
        rows = [
            [md_text(x["group"]), "+".join(x["tickers"]), fmt_usd(x["flow_usd"]), fmt_pct(x["flow_pct_aum"])]
            for x in g.to_dicts()
        ]
        out += ["", "All broad-market funds by group:", ""]
        out += md_table(["Group", "Funds", "Net flow", "% of AUM"], rows, "llrr")
    if b.groups.missing_groups:
        out += ["", f"Groups without data: {', '.join(map(md_text, b.groups.missing_groups))}."]
    if b.regime is None:
        out += ["", f"**Risk regime: n/a** (needs both legs): {md_text(b.basis)}."]
    else:
        out += ["", f"**Risk regime: {_label(b.regime)}** ({REGIMES[b.regime]}): {md_text(b.basis)}."]
    if b.nasdaq is not None:
        vote = " (a risk-appetite vote under the framework rules)" if r.rules == "framework" else ""
        out += [
            "",
            f"**QQQ: {_label(b.nasdaq)}**: {'+'.join(b.nasdaq_funds or [])} {fmt_usd(b.nasdaq_usd)}{vote}.",
        ]
    return out


def _sectors(r: FlowReport) -> list[str]:
    s = r.sectors
    if s.sectors == 0:
        return [f"No sector fund has flows in the window (expected {s.expected} sectors)."]
    mom: dict[str, dict[str, Any]] = {}
    if r.sector_momentum is not None:
        mom = {x["sector"]: x for x in r.sector_momentum.to_dicts()}
    rows = [
        [
            md_text(x["sector"]),
            x["cycle"] or "",
            x["cycle_phase"] or "",
            fmt_usd(x["flow_usd"]),
            fmt_pct(x["flow_pct_aum"]),
            fmt_pct(mom.get(x["sector"], {}).get("avg_flow_pct")),
            fmt_pct(mom.get(x["sector"], {}).get("flow_momentum")),
            fmt_pct(mom.get(x["sector"], {}).get("price_momentum")),
            str(x["funds"]),
        ]
        for x in s.table.to_dicts()
    ]
    head = [
        "Sector",
        "Cycle",
        "Phase",
        "Net flow",
        "% of AUM",
        "Avg fund %",
        "Flow mom.",
        "Price 20d",
        "Funds",
    ]
    out = md_table(head, rows, "lllrrrrrr")
    out += [
        "",
        "Avg fund % = mean of the sector's funds' flow as % of AUM over the window; flow momentum = mean "
        "20-day acceleration (see Fund Flow Signals); price 20d = mean 20-session price return of its funds.",
    ]
    flow = {x["sector"]: x["flow_usd"] for x in s.table.to_dicts()}
    lead = ", ".join(f"{md_text(x)} ({fmt_usd(flow[x])})" for x in s.leaders)
    lead = lead or "none (no sector has a net inflow)"
    lag = ", ".join(f"{md_text(x)} ({fmt_usd(flow[x])})" for x in s.laggards)
    lag = lag or "none (no sector has a net outflow)"
    hi, lo = BREADTH_BANDS
    chi, clo = CD_BANDS
    breadth = (
        "n/a" if s.breadth is None else f"{s.positive}/{s.sectors} sectors with net inflows ({s.breadth:.0%})"
    )
    out += [
        "",
        f"- Inflow leaders: {lead}",
        f"- Outflow leaders: {lag}",
        f"- Breadth: {breadth}: **{_label(s.breadth_band)}** (broad >= {hi:.0%}, narrow <= {lo:.0%})",
    ]
    rules = PRESETS.get(s.rules, PRESETS["framework"]).sectors
    if s.cd_ratio is None:
        why = (
            "a side has no data"
            if s.cyclical_usd is None or s.defensive_usd is None
            else "no net flow on either side"
        )
        out.append(f"- Cyclical/defensive ratio: n/a ({why})")
    else:
        out.append(
            f"- Cyclical/defensive ratio: {s.cd_ratio:.2f} on a 0 .. 1 scale (0 all defensive, 0.5 even, "
            f"1 all cyclical): **{_label(s.cd_band)}** (cyclical >= {chi:.2f}, defensive <= {clo:.2f}); "
            f"cyclical {fmt_usd(s.cyclical_usd)}, defensive {fmt_usd(s.defensive_usd)}"
        )
        out.append(f"- {_seed_line(s.seed_ratio, s.seed_status, s.cd_ratio)}")
    out.append(
        f"- Cyclical: {', '.join(rules.cyclical)}; defensive: {', '.join(rules.defensive)}"
        + (
            f"; in neither: {', '.join(x for x in rules.labels if rules.cycle(x) is None)}"
            if any(rules.cycle(x) is None for x in rules.labels)
            else ""
        )
        + f" ({s.rules} rules)"
    )
    if s.phase is not None:
        scores = ", ".join(f"{_label(p)} {fmt_pct(v, 3)}" for p, v in s.phase_scores.items())
        lead = ", ".join(rules.leaders(s.phase))
        lead_txt = f"; sectors of that phase: {lead}" if lead else ""
        out.append(
            f"- Cycle phase the pattern points to: **{_label(s.phase)}** "
            f"(mean sector flow % of AUM: {scores}){lead_txt}"
        )
    if s.missing:
        out.append(
            f"- No data for: {', '.join(s.missing)} (left out of breadth and the ratio, not counted as zero)"
        )
    return out


def _seed_line(seed: float | None, status: str, tilt: float) -> str:
    """The framework's C / (C + D) beside the tilt ratio, and why they differ when they do."""
    if seed is None:
        return "The framework's C/(C+D): n/a (C + D = 0)."
    if status == "agrees":
        return f"The framework's C/(C+D) = {seed:.2f}: both sides take in money, so it equals the tilt ratio."
    if status == "both_outflows":
        return (
            f"The framework's C/(C+D) = {seed:.2f} is not used: both sides lose money, and it would rank "
            f"the side that lost more first (the tilt ratio {tilt:.2f} ranks the smaller loser first)."
        )
    return (
        f"The framework's C/(C+D) = {seed:.2f} is not used: one side is an outflow, so it leaves "
        "0 .. 1 or divides by a net sum near zero; the tilt ratio stays in 0 .. 1 and ordered."
    )


def _styles(r: FlowReport) -> list[str]:
    st = r.styles
    out: list[str] = []
    if st.table.height == 0:
        return ["No style or factor fund has flows in the window."]
    rows = [
        [
            x["factor"].replace("_", " "),
            "+".join(x["tickers"]),
            fmt_usd(x["flow_usd"]),
            fmt_pct(x["flow_pct_aum"]),
            x["reading"],
        ]
        for x in st.table.to_dicts()
    ]
    out += md_table(["Factor", "Funds", "Net flow", "% of AUM", "Reading"], rows, "llrrl")
    gv = "n/a" if st.growth_value_ratio is None else f"{st.growth_value_ratio:.2f}"
    dr = "n/a" if st.defensive_ratio is None else f"{st.defensive_ratio:.2f}"
    out += [
        "",
        f"- Growth vs value: ratio {gv} on 0 .. 1 (0 all value, 1 all growth): "
        f"**{_label(st.growth_value)}** (growth >= 0.65, value <= 0.35)",
        f"- Quality + min vol vs momentum + size: ratio {dr} on 0 .. 1: **{_label(st.defensive_tilt)}** "
        "(defensive >= 0.65, aggressive <= 0.35)",
    ]
    if st.missing:
        out.append(f"- No data for: {', '.join(m.replace('_', ' ') for m in st.missing)}")
    return out


#: fixed-income leg -> the name the report shows
LEG_NAMES = {
    "long": "Long Treasury",
    "intermediate": "Intermediate Treasury",
    "short": "Short Treasury",
    "investment_grade": "Investment grade",
    "high_yield": "High yield",
    "inflation": "Inflation (TIPS)",
    "em_debt": "EM debt",
}


def _fi(r: FlowReport) -> list[str]:
    fi = r.fixed_income
    legs = {x["leg"]: x for x in fi.table.to_dicts()}

    def rows(names: Sequence[str]) -> list[str]:
        body = []
        for n in names:
            x = legs.get(n)
            if x is None:
                body.append([LEG_NAMES[n], "no data", "", ""])
            else:
                body.append(
                    [
                        LEG_NAMES[n],
                        "+".join(x["tickers"]),
                        fmt_usd(x["flow_usd"]),
                        fmt_pct(x["flow_pct_aum"]),
                    ]
                )
        return md_table(["Leg", "Funds", "Net flow", "% of AUM"], body, "llrr")

    dur = "n/a" if fi.duration_ratio is None else f"{fi.duration_ratio:.2f}"
    cr = "n/a" if fi.credit_ratio is None else f"{fi.credit_ratio:.2f}"
    out = ["### Duration", ""]
    out += rows(["long", "intermediate", "short"])
    out += [
        "",
        f"Duration ratio (long vs short) {dur} on 0 .. 1 (0 all short, 1 all long): "
        f"**{_label(fi.duration)}** "
        "(extending >= 0.65, shortening <= 0.35); "
        f"rate expectation: **{_label(fi.rates)}**"
        + (" (duration moved by TIPS flows)." if r.rules == "framework" else " (duration only)."),
        "",
        "### Credit",
        "",
    ]
    out += rows(["investment_grade", "high_yield"])
    out += [
        "",
        f"Credit ratio (high yield vs investment grade) {cr} on 0 .. 1 (0 all investment grade, "
        f"1 all high yield): **{_label(fi.credit)}** (reaching for yield >= 0.65, quality <= 0.35).",
        "",
        "### Inflation",
        "",
    ]
    out += rows(["inflation"])
    out += ["", f"Inflation protection: **{_label(fi.inflation)}**.", "", "### EM debt", ""]
    out += rows(["em_debt"])
    out += ["", f"EM debt: **{_label(fi.em_debt)}**."]
    return out


def _thematic(r: FlowReport) -> list[str]:
    th = r.thematic
    if th.table.height == 0:
        return ["No thematic fund has flows in the weeks shown."]
    n = len(th.weeks)
    rows = [
        [
            md_text(x["theme"]),
            "+".join(x["tickers"])
            + (f" (no data: {', '.join(x['missing_funds'])})" if x["missing_funds"] else ""),
            fmt_usd(x["last_week_usd"]),
            fmt_usd(x["window_usd"]),
            str(x["streak_in"]),
            str(x["streak_out"]),
            _label(x["state"]),
        ]
        for x in th.table.sort("window_usd", descending=True).to_dicts()
    ]
    week = f"week to {r.end}" if th.partial_last_week else f"week of {th.weeks[-1]}"
    out = md_table(
        ["Theme", "Funds", f"Last week ({week})", f"{n}-week total", "Weeks in", "Weeks out", "State"],
        rows,
        "llrrrrl",
    )
    out.append("")
    for state in ("conviction", "crowded_unwind", "cooling", "persistent_outflow"):
        names = th.table.filter(pl.col("state") == state)["theme"].to_list()
        if names:
            shown = ", ".join(map(md_text, names))
            out.append(f"- {_label(state).capitalize()} ({THEME_STATES[state]}): {shown}")
    if not any(th.table["state"].is_in(["conviction", "crowded_unwind", "cooling", "persistent_outflow"])):
        out.append(f"- No theme shows a sustained trend ({th.min_weeks}+ weeks) or an unwind.")
    out.append(
        f"- Rules: conviction = {th.min_weeks}+ straight weeks of inflows; "
        f"crowded unwind = an outflow of at least {th.unwind_ratio:.0%} of the mean weekly inflow "
        f"right after {th.min_weeks}+ inflow weeks."
    )
    if th.missing:
        out.append(f"- No data for: {', '.join(th.missing)}")
    return out


def _fund_list(frame: pl.DataFrame, limit: int = 8) -> str:
    return ", ".join(f"{x['ticker']} {fmt_pct(x['flow20_pct'])}" for x in frame.head(limit).to_dicts())


def _cell(f: pl.DataFrame, i: int, key: str) -> str:
    if i >= f.height:
        return ""
    x = f.row(i, named=True)
    v = fmt_usd(x[key]) if key == "flow_usd" else fmt_pct(x[key])
    return f"{x['ticker']} {v}"


def _funds(r: FlowReport) -> list[str]:
    sg = r.signals
    p = sg.params
    t = sg.table
    out: list[str] = []
    counts = ", ".join(f"{_label(k)} {v}" for k, v in sg.counts.items())
    n15 = p.long_days - p.short_days
    kind = "sum" if p.accel == "sum" else "mean"
    cmp = ">" if p.accel_strict else ">="
    acc = f"{p.short_days}-day {kind} minus the prior {n15}-day {kind}, accelerating when {cmp} 0"
    out += [
        f"20-day flow as % of AUM with its acceleration ({acc}); strong >= {p.strong:.1%} and accelerating, "
        f"mild >= {p.mild:.1%}: {counts}.",
        "",
    ]
    strong_in = t.filter(pl.col("signal") == "strong_inflow").sort("flow20_pct", descending=True)
    strong_out = t.filter(pl.col("signal") == "strong_outflow").sort("flow20_pct")
    if strong_in.height:
        out.append(f"- Strong inflows: {_fund_list(strong_in)}")
    if strong_out.height:
        out.append(f"- Strong outflows: {_fund_list(strong_out)}")
    ev = sg.events
    if ev.height:
        items = [
            f"{x['ticker']} {x['date']} {fmt_usd(x['flow_usd'])} (z {x['z']:+.1f}"
            + (f"; possibly mechanical: {x['mechanical']})" if x.get("mechanical") else ")")
            for x in ev.head(10).to_dicts()
        ]
        more = f" and {ev.height - 10} more" if ev.height > 10 else ""
        out.append(
            f"- Flow events (|z| >= {p.event_sigma:g} against {p.z_window} sessions): "
            f"{', '.join(items)}{more}"
        )
    else:
        out.append(f"- No flow events (|z| >= {p.event_sigma:g}) in the window.")
    dv = sg.divergences
    for kind, text in (
        ("inflow_into_weakness", "Inflows into a falling price"),
        ("outflow_into_strength", "Outflows from a rising price"),
    ):
        sub = dv.filter(pl.col("divergence") == kind).sort(pl.col("flow20_pct").abs(), descending=True)
        if sub.height:
            items = [
                f"{x['ticker']} ({fmt_pct(x['flow20_pct'])}, price {fmt_pct(x['return20'])})"
                for x in sub.head(8).to_dicts()
            ]
            more = f" and {sub.height - 8} more" if sub.height > 8 else ""
            out.append(f"- {text} over {p.long_days} sessions: {', '.join(items)}{more}")
    hi = t.filter(pl.col("percentile") >= p.extreme).sort("percentile", "flow20_pct", descending=True)
    lo = t.filter(pl.col("percentile") <= 1 - p.extreme).sort("percentile", "flow20_pct")
    if hi.height or lo.height:
        out.append(
            f"- Beyond the {p.extreme:.0%} / {1 - p.extreme:.0%} historical percentile "
            f"({p.pct_window} sessions): high {name_list(hi['ticker'].to_list(), 10) or 'none'}; "
            f"low {name_list(lo['ticker'].to_list(), 10) or 'none'}"
        )
    out += ["", "Top flows over the window:", ""]
    tp = r.top
    n = max(tp.usd_in.height, tp.usd_out.height, tp.pct_in.height, tp.pct_out.height)
    rows = []
    for i in range(n):
        rows.append(
            [
                str(i + 1),
                _cell(tp.usd_in, i, "flow_usd"),
                _cell(tp.usd_out, i, "flow_usd"),
                _cell(tp.pct_in, i, "flow_pct_aum"),
                _cell(tp.pct_out, i, "flow_pct_aum"),
            ]
        )
    out += md_table(
        ["#", "Inflows ($)", "Outflows ($)", "Inflows (% AUM)", "Outflows (% AUM)"], rows, "rllll"
    )
    out += ["", f"% of AUM rankings leave out funds below {_aum(tp.min_aum_for_pct)} of AUM.", ""]
    out += _event_study(r)
    rd = sg.readings
    if rd.height:
        rows = [
            [
                _label(x["category"]),
                str(x["obs"]),
                "n/a" if x["hit_rate"] is None else f"{x['hit_rate']:.0%}",
                _label(x["reading"]),
            ]
            for x in rd.to_dicts()
        ]
        out.append(
            f"Contrarian or momentum? Share of past {p.horizon}-session periods in which the price "
            f"moved the way the fund's 20-day flow pointed "
            f"(momentum >= {0.5 + p.reading_band:.0%}, contrarian <= {0.5 - p.reading_band:.0%}):"
        )
        out.append("")
        out += md_table(["Category", "Observations", "Hit rate", "Reading"], rows, "lrrl")
    return out


def _event_study(r: FlowReport) -> list[str]:
    es = r.event_study
    if es is None or es.table.height == 0:
        return []
    out = [
        f"Do {es.sigma:g}-sigma flow events mean-revert within 2-4 weeks, as the framework says? Forward "
        f"NAV price returns after every event from {es.start} to {es.end} (a window must end by {es.end}):",
        "",
    ]
    rows = []
    for x in es.table.to_dicts():
        rows.append(
            [
                x["direction"],
                str(x["horizon"]),
                str(x["events"]),
                fmt_pct(x["mean_return"]),
                fmt_pct(x["baseline"]),
                fmt_pct(x["excess"]),
                "n/a" if x["t"] is None else f"{x['t']:+.2f}",
                "n/a" if x["reversal_share"] is None else f"{x['reversal_share']:.0%}",
                _label(x["reading"]),
            ]
        )
    out += md_table(
        [
            "Event",
            "Sessions",
            "Events",
            "Mean return",
            "All days",
            "Excess",
            "t",
            "Against the flow",
            "Reading",
        ],
        rows,
        "lrrrrrrrl",
    )
    verdicts = set(es.table.filter(pl.col("horizon") >= 10)["reading"].to_list())
    if verdicts == {"reverts"}:
        say = "the data support it: after both kinds of event prices moved against the flow within 2-4 weeks."
    elif "reverts" in verdicts:
        say = "partly: some event kinds and horizons revert, others do not (see the table)."
    elif verdicts <= {"insufficient"}:
        say = "too few events to tell."
    else:
        say = "the data do not show it: no 10- or 20-session excess return against the flow with |t| >= 2."
    out += [
        "",
        f"Reading: reverts / continues when the excess over all fund-days is against / with the flow and "
        f"|t| >= 2 (overlapping windows make t optimistic). The claim: {say}",
        "",
    ]
    return out


def _composite(r: FlowReport) -> list[str]:
    rows = [[x.signal, f"**{_label(x.reading)}**", md_text(x.basis)] for x in r.composite.rows]
    return md_table(["Signal", "Reading", "Basis"], rows, "lll")


def _implication(r: FlowReport) -> list[str]:
    c = r.composite
    pts = (
        f" ({len(c.risk_points)} of 5 warning signs: {', '.join(c.risk_points)})"
        if c.risk_points
        else " (no warning sign)"
    )
    out = [
        f"- **Positioning**: {md_text(c.positioning)}",
        f"- **Sector tilts**: {md_text(c.sector_tilts)}",
        (
            f"- **Risk level**: {_label(c.risk_level)}{pts}; low 0-1, moderate 2-3, high 4-5."
            if c.risk_level is not None
            else "- **Risk level**: n/a (no broad-market, sector or bond data in the window)."
        ),
        "",
    ]
    out += [f"- {x}" for x in c.implications]
    return out


def _notes(r: FlowReport) -> list[str]:
    out = [f"- {md_text(n)}" for n in r.notes[:-1]]
    cov = [
        [
            c.section,
            f"{c.funds_with_data}/{c.funds_known}",
            name_list([md_text(g) for g in c.missing_groups], 6) or "-",
        ]
        for c in r.coverage
    ]
    out += ["", "Funds with flows in the window, per section:", ""]
    out += md_table(["Section", "Funds with data", "Groups without data"], cov, "lrl")
    out.append("")
    if r.flags.height:
        items = ", ".join(f"{x['flag']} {x['rows']}" for x in r.flags.to_dicts())
        out.append(
            f"- Quality flags on window rows: {items} "
            "(bad prints, unknown flows and first rows are excluded)."
        )
    else:
        out.append("- No quality flags on the window's rows.")
    out += [
        "- Method: flows are creations minus redemptions (change in shares outstanding x NAV), "
        "summed over all funds of a group; a group without data is reported missing, never as zero.",
        "- Ratios of two flows a, b are 0.5 + (a - b) / (2 (|a| + |b|)): a / (a + b) when both are "
        "inflows, still ordered when either is an outflow.",
        f"- Generated by etfflow; `etfflow report --as-of {r.as_of} --window {r.window} --format json` "
        "gives every number above as data.",
        f"- **{r.notes[-1]}**",
    ]
    return out


def section_blocks(r: FlowReport) -> list[Block]:
    """The report's sections as (title, Markdown lines), in order (shared with the HTML renderer)."""
    cov = {c.section: c for c in r.coverage}

    def data_or_none(title: str, body: Any) -> Block:
        c = cov.get(title)
        if c is not None and c.funds_with_data == 0:
            return title, [
                f"**No data in this window**: none of the {c.funds_known} known funds of this section "
                f"has flows between {r.start} and {r.end}. Nothing here is shown as zero."
            ]
        return title, body(r)

    return [
        data_or_none("Broad Market Flows", _broad),
        data_or_none("Sector Rotation", _sectors),
        data_or_none("Style Factor Flows", _styles),
        data_or_none("Fixed Income Flows", _fi),
        data_or_none("Thematic Highlights", _thematic),
        ("Fund Flow Signals", _funds(r)),
        ("Composite Signal", _composite(r)),
        ("Investment Implication", _implication(r)),
        ("Notes", _notes(r)),
    ]


def header_lines(r: FlowReport) -> list[str]:
    """Title block: title, synthetic label, as-of line."""
    out = [f"# {r.title}", ""]
    if r.label:
        out += [f"> **{r.label}**", ""]
    out += [
        f"As of {r.as_of} (flows known by that date); window: {r.window} sessions, trade dates {r.start} to "
        f"{r.end}; {r.funds_with_data} funds with flows.",
        "",
    ]
    empty = r.empty_sections()
    if empty:
        out += [f"Sections without data in this window: {', '.join(empty)}.", ""]
    return out


def render_markdown(r: FlowReport) -> str:
    """The report as a Markdown document."""
    lines = header_lines(r)
    for title, body in section_blocks(r):
        lines += [f"## {title}", "", *body, ""]
    return "\n".join(lines).rstrip() + "\n"
