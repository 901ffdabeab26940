"""The US ETF flow framework's rules as named presets, and etfflow's earlier variants beside them (pure).

`framework` (the default) follows the framework document as written:
- cyclical sectors XLK XLY XLI XLF XLB (Technology, Consumer Discretionary, Industrials, Financials,
  Materials); defensive XLV XLP XLU XLRE (Health Care, Consumer Staples, Utilities, Real Estate);
  Energy and Communication Services are in neither list;
- its cycle-phase table: XLB early cycle, XLU late cycle/recession, XLRE rate-cut cycle, XLK and
  XLC expansion, XLE late cycle, XLF early recovery, XLI early expansion, XLY recovery, XLV and XLP
  recession. Each phase scores the mean flow % of AUM of the sectors that name it (XLU counts for
  late and recession; "early cycle", "early recovery", "early expansion" and "recovery" are early);
- per-fund signals: mild 1%, acceleration = 5-day sum minus the prior 15-day sum, > 0;
- QQQ feeds the risk appetite (tech/growth appetite); TIPS flows move the rates reading;
- the nine themes of `universe/themes.csv` (set `framework`).

`etfflow` is the earlier behaviour: Fidelity's business-cycle phases and cyclical/defensive split
(Real Estate and Communication Services cyclical, Energy cyclical), mild 0.5% with 5-vs-15-day means
and >= 0, no QQQ vote, duration alone for rates, and the taxonomy's thematic groups.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files

import polars as pl

from etfflow.errors import ConfigError
from etfflow.signals.fund_signals import SignalParams

__all__ = [
    "ETFFLOW",
    "FIDELITY_SECTORS",
    "FRAMEWORK",
    "FRAMEWORK_SECTORS",
    "PRESETS",
    "Rules",
    "SectorRules",
    "get_rules",
    "load_themes",
]


@dataclass(frozen=True)
class SectorRules:
    """Which sectors are cyclical or defensive, and which cycle phases each sector leads in."""

    name: str
    cyclical: tuple[str, ...]
    defensive: tuple[str, ...]
    labels: dict[str, str]  # sector -> the phase words of the source table
    phases: dict[str, tuple[str, ...]]  # sector -> phases it is scored in
    order: tuple[str, ...]  # phase order for display
    confirm: dict[str, str | None]  # phase -> the C/D band that confirms it (None: cannot)

    def cycle(self, sector: str) -> str | None:
        """'cyclical', 'defensive' or None for a sector."""
        if sector in self.cyclical:
            return "cyclical"
        if sector in self.defensive:
            return "defensive"
        return None

    def leaders(self, phase: str) -> list[str]:
        """Sectors scored in `phase`, in table order."""
        return [s for s, ps in self.phases.items() if phase in ps]


FRAMEWORK_SECTORS = SectorRules(
    name="framework",
    cyclical=("Technology", "Consumer Discretionary", "Industrials", "Financials", "Materials"),
    defensive=("Health Care", "Consumer Staples", "Utilities", "Real Estate"),
    labels={
        "Materials": "early cycle",
        "Financials": "early recovery",
        "Industrials": "early expansion",
        "Consumer Discretionary": "recovery",
        "Technology": "expansion",
        "Communication Services": "expansion",
        "Energy": "late cycle",
        "Utilities": "late cycle/recession",
        "Health Care": "recession",
        "Consumer Staples": "recession",
        "Real Estate": "rate-cut cycle",
    },
    phases={
        "Materials": ("early",),
        "Financials": ("early",),
        "Industrials": ("early",),
        "Consumer Discretionary": ("early",),
        "Technology": ("expansion",),
        "Communication Services": ("expansion",),
        "Energy": ("late",),
        "Utilities": ("late", "recession"),
        "Health Care": ("recession",),
        "Consumer Staples": ("recession",),
        "Real Estate": ("rate_cut",),
    },
    order=("early", "expansion", "late", "recession", "rate_cut"),
    confirm={
        "early": "cyclical",
        "expansion": "cyclical",
        "late": None,
        "recession": "defensive",
        "rate_cut": None,
    },
)

FIDELITY_SECTORS = SectorRules(
    name="etfflow",
    cyclical=(
        "Technology",
        "Financials",
        "Energy",
        "Industrials",
        "Consumer Discretionary",
        "Materials",
        "Real Estate",
        "Communication Services",
    ),
    defensive=("Health Care", "Consumer Staples", "Utilities"),
    labels={
        "Financials": "early",
        "Consumer Discretionary": "early",
        "Real Estate": "early",
        "Industrials": "early",
        "Technology": "mid",
        "Communication Services": "mid",
        "Energy": "late",
        "Materials": "late",
        "Consumer Staples": "recession",
        "Utilities": "recession",
        "Health Care": "recession",
    },
    phases={
        "Financials": ("early",),
        "Consumer Discretionary": ("early",),
        "Real Estate": ("early",),
        "Industrials": ("early",),
        "Technology": ("mid",),
        "Communication Services": ("mid",),
        "Energy": ("late",),
        "Materials": ("late",),
        "Consumer Staples": ("recession",),
        "Utilities": ("recession",),
        "Health Care": ("recession",),
    },
    order=("early", "mid", "late", "recession"),
    confirm={"early": "cyclical", "mid": "cyclical", "late": "cyclical", "recession": "defensive"},
)


@dataclass(frozen=True)
class Rules:
    """Every rule choice of the flow report, under one name."""

    name: str
    sectors: SectorRules
    signals: SignalParams = field(default_factory=SignalParams)
    themes: str = "framework"  # theme set: "framework" (nine themes) or "taxonomy" (thematic groups)
    qqq_vote: bool = True  # QQQ's flow is a risk-appetite vote (tech/growth appetite)
    tips_rates: bool = True  # TIPS flows move the rates reading


FRAMEWORK = Rules("framework", FRAMEWORK_SECTORS, SignalParams.framework(), "framework", True, True)
ETFFLOW = Rules("etfflow", FIDELITY_SECTORS, SignalParams.etfflow(), "taxonomy", False, False)
PRESETS: dict[str, Rules] = {"framework": FRAMEWORK, "etfflow": ETFFLOW}


def get_rules(name: str) -> Rules:
    """A named rule preset; unknown names raise ConfigError listing the presets."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown rules {name!r}; known: {', '.join(PRESETS)}") from None


@lru_cache(maxsize=1)
def _themes_file() -> pl.DataFrame:
    raw = files("etfflow.universe").joinpath("themes.csv").read_bytes()
    schema = {"set": pl.String, "theme": pl.String, "ticker": pl.String, "name": pl.String}
    return pl.read_csv(io.BytesIO(raw), schema=schema)


def load_themes(which: str = "framework", funds: pl.DataFrame | None = None) -> pl.DataFrame:
    """Theme membership (theme, ticker) in display order.

    `framework`: the nine themes of the framework (`universe/themes.csv`); a fund may also belong
    to a sector (SMH is Technology and AI & Semiconductors). `taxonomy`: the `thematic` groups of
    `funds` (etfflow's earlier theme list).
    """
    if which == "framework":
        return _themes_file().filter(pl.col("set") == "framework").select("theme", "ticker")
    if which == "taxonomy":
        if funds is None:
            from etfflow.universe import load_taxonomy

            funds = load_taxonomy()
        t = funds.filter((pl.col("category") == "thematic") & pl.col("group").is_not_null())
        return t.select(pl.col("group").alias("theme"), "ticker").sort("theme", "ticker")
    raise ConfigError(f"unknown theme set {which!r}; known: framework, taxonomy")
