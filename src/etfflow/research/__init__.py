"""The research report: etfflow's flow strategies tested on the real files in ../shared/data.

`run_research` loads the US vendor flows and price sets and the China Wind panel (`data`), runs the
studies (`us`, `cn`, pure functions on arrays) and returns one JSON-ready dict; `report` renders it
as Markdown and self-contained HTML. Nothing in it is synthetic.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from etfflow.errors import ConfigError

__all__ = ["SCOPES", "SUBSET", "run_research"]

SCOPES = ("us", "cn", "all")

#: a small fixed US subset for quick runs and tests: sector, bond, broad and commodity funds
SUBSET: tuple[str, ...] = (
    "XLE", "XLP", "XLI", "XLU", "XLB", "VDE", "XOP", "OIH", "SMH", "SOXX",
    "SHY", "BIL", "SGOV", "IEF", "EDV", "HYG", "JNK", "SJNK", "LQD", "VCIT",
    "SPY", "IVV", "VOO", "QQQ", "RSP", "GLD", "SLV", "USO", "IAU", "UNG",
)  # fmt: skip


def _noop(_msg: str) -> None:
    return None


def run_research(
    scope: str,
    root: Path,
    *,
    db: Path,
    tickers: Sequence[str] | None = None,
    progress: Callable[[str], None] = _noop,
) -> dict[str, Any]:
    """Import the files under `root` into the warehouse `db`, run the studies of `scope` (us, cn or all)
    on what the warehouse holds; a JSON-ready dict."""
    if scope not in SCOPES:
        raise ConfigError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
    from etfflow.research import cn, us
    from etfflow.research.data import PRICE_SETS, build_cn, build_us, load_cn, load_us
    from etfflow.store import Store

    t0 = time.perf_counter()
    out: dict[str, Any] = {
        "scope": scope,
        "data_root": str(root),
        "subset": list(tickers) if tickers else None,
        "warehouse": str(db),
    }
    timings: dict[str, float] = {}
    with warnings.catch_warnings(), Store(db) as store:
        # all-NaN slices (funds before launch) are expected; they yield NaN, never a number
        warnings.simplefilter("ignore", RuntimeWarning)
        if scope in ("us", "all"):
            t = time.perf_counter()
            progress("US: importing the vendor flows and the price files into the warehouse")
            built = build_us(store, root, tickers=tickers)
            timings["us_import"] = time.perf_counter() - t
            t = time.perf_counter()
            data = load_us(store, root, built["price_set"], tickers=tickers)
            timings["us_load"] = time.perf_counter() - t
            sets = {name: what for name, _, _, what in PRICE_SETS}
            counts: dict[str, int] = {}
            for s in data.price_source.values():
                counts[s] = counts.get(s, 0) + 1
            res: dict[str, Any] = {
                "n_funds": len(data.tickers),
                "n_priced": len(data.price_source),
                "span": [str(data.dates[0]), str(data.dates[-1])],
                "price_sets": {k: {"funds": counts.get(k, 0), "basis": sets[k]} for k in sets},
                "price_source": data.price_source,
                "label_sources": {
                    str(k): int(v)
                    for k, v in data.groups.group_by("label_source").len().sort("label_source").iter_rows()
                },
                "groups": data.groups.to_dicts(),
                "notes": list(data.notes)
                + built["vendor_notes"][:2]
                + [f"price file refused by the importer: {r}" for r in built["refused"]]
                + (
                    [f"no importable price file for {', '.join(built['unpriced'])}"]
                    if built["unpriced"]
                    else []
                ),
                "import": {"files": built["files"], "rows": built["rows"]},
            }
            t = time.perf_counter()
            progress("US: percentile rotation in every universe")
            unis = us.universes(data)
            res["rotation"] = [us.rotation(u) for u in unis]
            res["profit_loss_by_freq"] = us.profit_loss_by_freq(res["rotation"])
            timings["us_rotation"] = time.perf_counter() - t
            t = time.perf_counter()
            progress("US: 3-sigma flow events, readings")
            res["events"] = us.flow_events(data)
            res["readings"] = us.readings(data)
            timings["us_events"] = time.perf_counter() - t
            t = time.perf_counter()
            progress("US: flow momentum vs price momentum, unexpected flow")
            groups_u = next((u for u in unis if u.name == "fine groups"), None)
            fp = us.fund_panel(data)
            res["momentum"] = {"funds": us.momentum(data, fp)}
            if groups_u is not None:
                res["momentum"]["fine groups"] = us.momentum(data, us.with_implied_aum(groups_u.panel))
            res["unexpected"] = us.unexpected(fp)
            timings["us_momentum_unexpected"] = time.perf_counter() - t
            out["us"] = res
        if scope in ("cn", "all"):
            t = time.perf_counter()
            progress("China: importing the Wind panels and the classification into the warehouse")
            built_cn = build_cn(store, root)
            out["cn"] = cn.study(load_cn(store))
            out["cn"]["import"] = {"files": built_cn["files"], "rows": built_cn["rows"]}
            timings["cn"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    out["timings_s"] = timings
    return out
