"""Sector rotation from flows: net flow per sector, leaders, breadth, cyclical/defensive, cycle phase (pure).

Rules (thresholds are arguments; defaults below):
- Sector net flow = the sum over all funds of the sector (e.g. XLK + VGT + SMH + ... for Technology).
- Breadth = sectors with net inflow (> 0; a zero flow is not an inflow) / sectors with data; sectors
  without data are listed as missing and left out of both counts. breadth >= 0.7 is `broad`
  (participation across the market), breadth <= 0.4 `narrow`, in between `mixed`.
- Cyclical/defensive ratio = 0.5 + (C - D) / (2 (|C| + |D|)), C and D the summed net flows of the
  cyclical and defensive sectors (see `overview.cd_ratio`; which sectors are which is a
  `rules.SectorRules`, the framework's lists by default): it equals C / (C + D) when both are
  inflows and stays in [0, 1] and ordered when either is negative. ratio >= 0.65 is `cyclical`
  (risk-on rotation), ratio <= 0.4 `defensive`, in between `balanced`. None when a side has no data
  or both are zero. The framework's own C / (C + D) is kept beside it (`seed_ratio`, see
  `seed_share`): equal to the tilt ratio when both sides flow in, meaningless with mixed signs.
- Cycle phase: each phase's score is the mean flow as % of AUM of its sectors with data (the rules'
  phase table: the framework's by default, Fidelity's in the `etfflow` rules); the pattern points to
  the best-scoring phase, `mixed` when two phases tie for the top (equal up to float rounding).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from etfflow.flows.aggregate import by_group
from etfflow.flows.flags import EXCLUDED_BY_DEFAULT
from etfflow.signals.common import band, jsonable, num
from etfflow.signals.overview import cd_ratio, last_sessions, window_totals
from etfflow.signals.rules import FRAMEWORK_SECTORS, SectorRules

__all__ = [
    "BREADTH_BANDS",
    "CD_BANDS",
    "PHASE_ORDER",
    "SectorSnapshot",
    "breadth_band",
    "breadth_history",
    "cd_band",
    "cycle_phase",
    "sector_history",
    "sector_rotation",
    "sector_snapshot",
    "seed_share",
]

BREADTH_BANDS: tuple[float, float] = (0.7, 0.4)
CD_BANDS: tuple[float, float] = (0.65, 0.4)
PHASE_ORDER: tuple[str, ...] = ("early", "mid", "late", "recession")


def breadth_band(
    breadth: float | None, hi: float = BREADTH_BANDS[0], lo: float = BREADTH_BANDS[1]
) -> str | None:
    """'broad' (>= hi), 'narrow' (<= lo) or 'mixed'; None when unknown."""
    return band(breadth, hi, lo, ("broad", "mixed", "narrow"))


def cd_band(ratio: float | None, hi: float = CD_BANDS[0], lo: float = CD_BANDS[1]) -> str | None:
    """'cyclical' (>= hi), 'defensive' (<= lo) or 'balanced'; None when unknown."""
    return band(ratio, hi, lo, ("cyclical", "balanced", "defensive"))


def seed_share(c: float | None, d: float | None) -> tuple[float | None, str]:
    """The framework's C / (C + D) and whether it agrees with the tilt ratio.

    Returns (value, status): status `agrees` when both flows are >= 0 (then it equals the tilt
    ratio), `mixed_signs` when one side is an outflow (the value leaves [0, 1] or divides by a
    near-zero sum), `both_outflows` when both are (the larger loser would rank first), `n/a` when
    unknown or C + D = 0.
    """
    x, y = num(c), num(d)
    if x is None or y is None or x + y == 0:
        return None, "n/a"
    v = x / (x + y)
    if x >= 0 and y >= 0:
        return v, "agrees"
    if x < 0 and y < 0:
        return v, "both_outflows"
    return v, "mixed_signs"


def cycle_phase(
    table: pl.DataFrame,
    phases: dict[str, tuple[str, ...]] | None = None,
    order: tuple[str, ...] = PHASE_ORDER,
) -> tuple[str | None, dict[str, float]]:
    """Phase the sector pattern points to, and each phase's score (mean sector flow % of AUM).

    `table` needs flow_pct_aum per sector and either a cycle_phase column or `phases` (sector ->
    the phases it is scored in; a sector may count in several). Returns ('mixed', scores) when the
    top score is shared, (None, {}) when no sector has a known % flow.
    """
    if phases is not None:
        rows = [
            (ph, v)
            for sec, v in zip(table["sector"].to_list(), table["flow_pct_aum"].to_list(), strict=True)
            for ph in phases.get(sec, ())
        ]
        long = pl.DataFrame(rows, schema={"cycle_phase": pl.String, "flow_pct_aum": pl.Float64}, orient="row")
    else:
        long = table.select("cycle_phase", "flow_pct_aum")
    known = long.filter(
        pl.col("cycle_phase").is_not_null()
        & pl.col("flow_pct_aum").is_not_null()
        & pl.col("flow_pct_aum").is_not_nan()
    )
    if known.height == 0:
        return None, {}
    means = known.group_by("cycle_phase").agg(pl.col("flow_pct_aum").mean())
    raw = dict(zip(means["cycle_phase"].to_list(), means["flow_pct_aum"].to_list(), strict=True))
    order_l = [p for p in order if p in raw] + sorted(p for p in raw if p not in order)
    order = tuple(order_l)
    scores = {p: float(raw[p]) for p in order}
    best = max(scores.values())
    # scores are means of floats: equal up to rounding counts as a tie
    top = [p for p, v in scores.items() if math.isclose(v, best, rel_tol=1e-9, abs_tol=1e-15)]
    return (top[0] if len(top) == 1 else "mixed"), scores


@dataclass(frozen=True)
class SectorSnapshot:
    """Sector flows over one window, with breadth, the cyclical/defensive ratio and the phase."""

    start: dt.date | None
    end: dt.date | None
    table: pl.DataFrame  # sector, cycle, cycle_phase, flow_usd, aum_start_usd, flow_pct_aum, funds
    sectors: int  # sectors with data
    positive: int  # sectors with net inflow
    breadth: float | None  # positive / sectors
    cyclical_usd: float | None  # None when no cyclical sector has data
    defensive_usd: float | None
    cd_ratio: float | None
    missing: list[str]  # sectors of the taxonomy with no flow data in the window
    breadth_band: str | None = None
    cd_band: str | None = None
    phase: str | None = None
    phase_scores: dict[str, float] = field(default_factory=dict)
    leaders: list[str] = field(default_factory=list)  # up to n sectors with the largest inflows
    laggards: list[str] = field(default_factory=list)  # up to n sectors with the largest outflows
    expected: int = 0  # sectors in the taxonomy
    rules: str = "framework"  # name of the SectorRules used
    seed_ratio: float | None = None  # the framework's C / (C + D)
    seed_status: str = "n/a"  # agrees / mixed_signs / both_outflows / n/a (see `seed_share`)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        d: dict[str, Any] = jsonable(self)
        return d


def sector_rotation(
    totals: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    n_leaders: int = 3,
    breadth_bands: tuple[float, float] = BREADTH_BANDS,
    cd_bands: tuple[float, float] = CD_BANDS,
    rules: SectorRules = FRAMEWORK_SECTORS,
) -> SectorSnapshot:
    """Sector rotation from a `window_totals` frame (per-fund flows over the window)."""
    sector_funds = funds.filter(pl.col("category") == "sector")
    names = sorted(set(sector_funds["group"].drop_nulls().to_list()))
    all_sectors = pl.DataFrame(
        {
            "group": names,
            "cycle": [rules.cycle(s) for s in names],
            "cycle_phase": [rules.labels.get(s) for s in names],
        },
        schema={"group": pl.String, "cycle": pl.String, "cycle_phase": pl.String},
    )
    joined = totals.join(sector_funds.select("ticker", "group"), on="ticker")
    table = (
        joined.group_by("group")
        .agg(
            pl.col("flow_usd").sum(),
            pl.col("aum_start_usd").sum(),
            pl.len().cast(pl.Int32).alias("funds"),
            # % of AUM over the funds whose AUM is known (vendor flows may come without one)
            pl.col("flow_usd").filter(pl.col("aum_start_usd").is_not_null()).sum().alias("_flow_with_aum"),
        )
        .with_columns(
            pl.when(pl.col("aum_start_usd") > 0)
            .then(pl.col("_flow_with_aum") / pl.col("aum_start_usd"))
            .otherwise(None)
            .alias("flow_pct_aum")
        )
        .join(all_sectors, on="group", how="left")
        .rename({"group": "sector"})
        .select("sector", "cycle", "cycle_phase", "flow_usd", "aum_start_usd", "flow_pct_aum", "funds")
        .sort(["flow_usd", "sector"], descending=[True, False])
    )
    present = set(table["sector"].to_list())
    missing = [s for s in all_sectors["group"].to_list() if s not in present]
    positive = int((table["flow_usd"] > 0).sum())
    cyc_rows = table.filter(pl.col("cycle") == "cyclical")
    dfn_rows = table.filter(pl.col("cycle") == "defensive")
    cyc = float(cyc_rows["flow_usd"].sum()) if cyc_rows.height else None
    dfn = float(dfn_rows["flow_usd"].sum()) if dfn_rows.height else None
    ratio = cd_ratio(cyc, dfn) if cyc is not None and dfn is not None else None
    breadth = positive / table.height if table.height else None
    phase, scores = cycle_phase(table, rules.phases, rules.order)
    seed, seed_status = seed_share(cyc, dfn)
    leaders = table.filter(pl.col("flow_usd") > 0).head(n_leaders)["sector"].to_list()
    laggards = (
        table.filter(pl.col("flow_usd") < 0).sort(["flow_usd", "sector"]).head(n_leaders)["sector"].to_list()
    )
    in_window = totals.filter(pl.col("ticker").is_in(sector_funds["ticker"].implode()))
    return SectorSnapshot(
        start=in_window["start"].min() if in_window.height and "start" in in_window.columns else None,  # type: ignore[arg-type]
        end=in_window["end"].max() if in_window.height and "end" in in_window.columns else None,  # type: ignore[arg-type]
        table=table,
        sectors=table.height,
        positive=positive,
        breadth=breadth,
        cyclical_usd=cyc,
        defensive_usd=dfn,
        cd_ratio=ratio,
        missing=missing,
        breadth_band=breadth_band(breadth, *breadth_bands),
        cd_band=cd_band(ratio, *cd_bands),
        phase=phase,
        phase_scores=scores,
        leaders=leaders,
        laggards=laggards,
        expected=all_sectors.height,
        rules=rules.name,
        seed_ratio=seed,
        seed_status=seed_status,
    )


def sector_snapshot(
    flows: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    window: int = 5,
    as_of: dt.date | None = None,
    exclude: int = int(EXCLUDED_BY_DEFAULT),
    rules: SectorRules = FRAMEWORK_SECTORS,
) -> SectorSnapshot:
    """Net flow of all funds of each sector over the last `window` sessions."""
    sector_funds = funds.filter(pl.col("category") == "sector")
    totals = window_totals(
        flows.filter(pl.col("ticker").is_in(sector_funds["ticker"].implode())),
        None,
        window=window,
        as_of=as_of,
        exclude=exclude,
    )
    return sector_rotation(totals, funds, rules=rules)


def sector_history(
    flows: pl.DataFrame,
    funds: pl.DataFrame,
    *,
    freq: str = "w",
    periods: int = 26,
    as_of: dt.date | None = None,
    rules: SectorRules = FRAMEWORK_SECTORS,
) -> pl.DataFrame:
    """Net flow per sector and period (weeks end on the week's last session) for the last `periods`.

    Columns: date (period end), sector, cycle, flow_usd, aum_start_usd, flow_pct_aum, funds.
    The last period may be incomplete when `as_of` is not a period end.
    """
    sector_funds = funds.filter(pl.col("category") == "sector")
    f = flows.filter(pl.col("ticker").is_in(sector_funds["ticker"].implode()))
    if as_of is not None:
        f = f.filter(pl.col("date") <= as_of)
    schema = {
        "date": pl.Date,
        "sector": pl.String,
        "cycle": pl.String,
        "flow_usd": pl.Float64,
        "aum_start_usd": pl.Float64,
        "flow_pct_aum": pl.Float64,
        "funds": pl.Int32,
    }
    if f.height == 0:
        return pl.DataFrame(schema=schema)
    # enough sessions for `periods` whole periods plus the current one
    per_period = {"d": 1, "w": 5, "m": 23}.get(freq, 5)
    f = last_sessions(f, per_period * (periods + 1) + 5)
    g = by_group(f, sector_funds, by="group", freq=freq)
    dates = g["date"].unique().sort().tail(periods)
    groups = sorted(set(sector_funds["group"].drop_nulls().to_list()))
    cycles = pl.DataFrame(
        {"group": groups, "cycle": [rules.cycle(x) for x in groups]},
        schema={"group": pl.String, "cycle": pl.String},
    )
    return (
        g.filter(pl.col("date").is_in(dates.implode()))
        .join(cycles, on="group", how="left")
        .rename({"group": "sector"})
        .with_columns(
            pl.when(pl.col("aum_start_usd") > 0)
            .then(pl.col("flow_usd") / pl.col("aum_start_usd"))
            .otherwise(None)
            .alias("flow_pct_aum")
        )
        .select(list(schema))
        .sort("date", "sector")
    )


def _breadth_row(
    flows: dict[str, float], cycles: dict[str, str | None]
) -> tuple[int, int, float | None, float | None, float | None, float | None]:
    """sectors, positive, breadth, C, D and the C/D ratio of one set of sector flows."""
    n = len(flows)
    pos = sum(1 for v in flows.values() if v > 0)
    cyc = [v for k, v in flows.items() if cycles.get(k) == "cyclical"]
    dfn = [v for k, v in flows.items() if cycles.get(k) == "defensive"]
    c = float(sum(cyc)) if cyc else None
    d = float(sum(dfn)) if dfn else None
    ratio = cd_ratio(c, d) if c is not None and d is not None else None
    return n, pos, (pos / n if n else None), c, d, ratio


def breadth_history(
    history: pl.DataFrame,
    *,
    smooth: int = 4,
    breadth_bands: tuple[float, float] = BREADTH_BANDS,
    cd_bands: tuple[float, float] = CD_BANDS,
) -> pl.DataFrame:
    """Per period of a `sector_history` frame: sectors, positive, breadth, C, D, cd_ratio and bands.

    `breadth_smooth` and `cd_ratio_smooth` apply the same rules to each sector's flow summed over
    the last `smooth` periods (None until that many periods are shown).
    """
    dates = sorted(set(history["date"].to_list()))
    cycles = dict(zip(history["sector"].to_list(), history["cycle"].to_list(), strict=True))
    per: dict[dt.date, dict[str, float]] = {d: {} for d in dates}
    for d, sec, v in history.select("date", "sector", "flow_usd").iter_rows():
        if v is not None:
            per[d][sec] = v
    rows = []
    for i, date in enumerate(dates):
        n, pos, br, c, d, ratio = _breadth_row(per[date], cycles)
        sm_br = sm_ratio = None
        if i + 1 >= smooth:
            summed: dict[str, float] = {}
            for past in dates[i + 1 - smooth : i + 1]:
                for k, v in per[past].items():
                    summed[k] = summed.get(k, 0.0) + v
            _, _, sm_br, _, _, sm_ratio = _breadth_row(summed, cycles)
        rows.append(
            {
                "date": date,
                "sectors": n,
                "positive": pos,
                "breadth": br,
                "cyclical_usd": num(c),
                "defensive_usd": num(d),
                "cd_ratio": ratio,
                "breadth_band": breadth_band(br, *breadth_bands),
                "cd_band": cd_band(ratio, *cd_bands),
                "breadth_smooth": sm_br,
                "cd_ratio_smooth": sm_ratio,
            }
        )
    schema = {
        "date": pl.Date,
        "sectors": pl.Int64,
        "positive": pl.Int64,
        "breadth": pl.Float64,
        "cyclical_usd": pl.Float64,
        "defensive_usd": pl.Float64,
        "cd_ratio": pl.Float64,
        "breadth_band": pl.String,
        "cd_band": pl.String,
        "breadth_smooth": pl.Float64,
        "cd_ratio_smooth": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)
