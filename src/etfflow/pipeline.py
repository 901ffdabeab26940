"""Use cases that join sources, the warehouse and the pure computations (the CLI calls these)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from etfflow.errors import ConfigError
from etfflow.flows.daily import compute_flows, merge_sources
from etfflow.schema import empty
from etfflow.store import Store, UpsertResult

__all__ = [
    "DemoSummary",
    "ImportSummary",
    "file_sha256",
    "import_paths",
    "load_demo",
    "load_flows",
    "refresh_flows",
    "synthetic_label",
]

Progress = Callable[[str, float], None]


def _noop(_msg: str, _frac: float) -> None:
    return None


@dataclass(frozen=True)
class ImportSummary:
    """What one imported file did to the warehouse."""

    file: str
    format: str
    rows: int
    added: int
    changed: int
    unchanged: int
    tickers: list[str]
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    already_imported: bool = False

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return dict(self.__dict__)


def file_sha256(path: Path) -> str:
    """Content hash of a file (streamed)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def import_paths(
    store: Store,
    paths: Sequence[Path],
    *,
    progress: Progress = _noop,
    **options: Any,
) -> list[ImportSummary]:
    """Parse each file (format from its content), then write it and refresh its funds' flows.

    Every file is parsed before anything is written; one bad file raises and writes nothing.
    Each file's rows and the flows derived from them are committed in one transaction.
    """
    from etfflow.sources.detect import read_file

    if synthetic_label(store):
        raise ConfigError(
            f"{store.path} is a synthetic demo warehouse; import real files into another one (--db)"
        )
    batches = []
    for i, p in enumerate(paths):
        progress(f"parsing {p.name}", i / max(len(paths), 1))
        batches.append((p, read_file(p, **options)))
    out = []
    for p, batch in batches:
        progress(f"writing {p.name}", 0.9)
        daily = batch.daily
        tickers = sorted(set(daily["ticker"].to_list())) if daily.height else []
        with store.transaction():
            res = store.upsert("daily", daily, file=str(p))
            extra = getattr(batch, "tables", None) or {}
            for table, frame in extra.items():
                store.upsert(table, frame, file=str(p))
            new_file = store.record_file(file_sha256(p), str(p), batch.source, daily.height)
            if res.added or res.changed:
                refresh_flows(store, tickers)
        out.append(
            ImportSummary(
                file=str(p),
                format=batch.source,
                rows=daily.height,
                added=res.added,
                changed=res.changed,
                unchanged=res.unchanged,
                tickers=tickers,
                dropped=dict(batch.dropped),
                notes=list(batch.notes),
                already_imported=not new_file,
            )
        )
    return out


def refresh_flows(store: Store, tickers: list[str] | None = None) -> int:
    """Recompute `flows_daily` from `daily` for the given funds (all when None); returns rows."""
    daily = store.read("daily", tickers=tickers)
    if tickers is None:
        tickers = sorted(set(daily["ticker"].to_list()))
    merged = merge_sources(daily) if daily.height else daily
    flows = compute_flows(merged, funds_table(store)) if merged.height else empty("flows_daily")
    return store.replace("flows_daily", flows, tickers=tickers)


@dataclass(frozen=True)
class DemoSummary:
    """What `load_demo` wrote."""

    label: str
    preset: str
    seed: int
    funds: int
    days: int
    daily_rows: int
    flow_rows: int
    start: dt.date
    end: dt.date
    upsert: UpsertResult


def load_demo(
    store: Store,
    preset: str = "default",
    seed: int = 7,
    *,
    progress: Progress = _noop,
    **kwargs: Any,
) -> DemoSummary:
    """Build the synthetic demo market and write funds, daily rows and flows in one transaction."""
    from etfflow.sources.demo import build_demo

    real = store.query("SELECT count(*) AS n FROM daily WHERE source <> 'demo'")["n"][0]
    if real:
        raise ConfigError(
            f"{store.path} holds real data; the synthetic demo must go to its own warehouse (--db)"
        )
    progress("building the synthetic market", 0.05)
    market = build_demo(preset=preset, seed=seed, **kwargs)
    progress("writing the warehouse", 0.6)
    with store.transaction():
        store.upsert("funds", market.funds)
        res = store.upsert("daily", market.daily)
        progress("computing flows", 0.8)
        rows = refresh_flows(store)
    dates = market.daily["date"]
    return DemoSummary(
        label=market.label,
        preset=preset,
        seed=seed,
        funds=market.funds.height,
        days=dates.n_unique(),
        daily_rows=market.daily.height,
        flow_rows=rows,
        start=dates.min(),
        end=dates.max(),
        upsert=res,
    )


def load_flows(
    store: Store,
    *,
    tickers: list[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stored daily flows and the funds table (taxonomy merged with what the warehouse knows)."""
    flows = store.read("flows_daily", tickers=tickers, start=start, end=end)
    return flows, funds_table(store)


def funds_table(store: Store) -> pl.DataFrame:
    """The warehouse's funds, completed by the shipped taxonomy for funds it does not describe."""
    from etfflow.universe import load_taxonomy

    stored = store.read("funds")
    tax = load_taxonomy()
    if stored.height == 0:
        return tax
    return pl.concat([stored, tax.join(stored.select("ticker"), on="ticker", how="anti")])


def synthetic_label(store: Store) -> str | None:
    """The synthetic-data label when the warehouse holds demo rows, else None."""
    n = store.query("SELECT count(*) AS n FROM daily WHERE source = 'demo'")["n"][0]
    if not n:
        return None
    return "SYNTHETIC demo data (etfflow demo market) - not market data"
