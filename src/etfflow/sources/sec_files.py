"""SEC files as importable batches: N-PORT XML, N-PORT data-set zips, N-CEN submissions, fund id maps.

Each reader returns an `ImportBatch` whose `daily` is empty and whose `tables` carry the rows (the
parsers live in sec_nport, sec_ncen and sec_ids; this module only adapts them to `etfflow import`).
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from etfflow.schema import empty, validate
from etfflow.sources.base import ImportBatch, PathLike, read_bytes
from etfflow.sources.sec_ids import FundIdMap, load_fund_ids
from etfflow.sources.sec_ncen import authorized_participants_frame, funds_frame, ncen_etf_frame, parse_ncen
from etfflow.sources.sec_nport import (
    holdings_frame,
    monthly_flows_frame,
    parse_nport,
    read_nport_dataset,
)

__all__ = [
    "FUND_IDS_SOURCE",
    "read_fund_ids_file",
    "read_ncen_file",
    "read_nport_dataset_file",
    "read_nport_file",
    "sniff_fund_ids",
]

#: the batch source of fund id maps: their funds rows only complete funds the warehouse already knows
FUND_IDS_SOURCE = "sec_fund_ids"
_IDS_CSV = re.compile(rb"^\s*cik\s*,\s*seriesid\s*,", re.I)
_MF_JSON = re.compile(rb'^\s*\{.{0,200}"fields"\s*:\s*\[\s*"cik"\s*,\s*"seriesId"', re.S)
_TICKERS_JSON = re.compile(rb'^\s*\{\s*"0"\s*:\s*\{\s*"cik_str"')


def read_nport_file(path: PathLike, *, ticker: str | None = None, holdings: bool = True) -> ImportBatch:
    """An NPORT-P XML document or full submission: `nport_monthly` (3 months) and `holdings` rows."""
    file = str(path)
    filing = parse_nport(read_bytes(path), file=file)
    monthly = monthly_flows_frame(filing, ticker=ticker.upper() if ticker else None)
    tables = {"nport_monthly": monthly}
    if holdings:
        tables["holdings"] = holdings_frame(filing)
    notes = [f"{filing.series_name or filing.registrant_name}: report date {filing.report_date}"]
    notes += list(filing.issues)
    return ImportBatch(source="sec_nport", file=file, daily=empty("daily"), notes=notes, tables=tables)


def read_nport_dataset_file(path: PathLike) -> ImportBatch:
    """One of SEC's quarterly N-PORT data-set zips: `nport_monthly` rows for every series in it."""
    file = str(path)
    monthly = read_nport_dataset(Path(path))
    notes = [f"{monthly['series_id'].n_unique()} series, {monthly.height} fund-months"]
    return ImportBatch(
        source="sec_nport_dataset",
        file=file,
        daily=empty("daily"),
        notes=notes,
        tables={"nport_monthly": monthly},
    )


def read_ncen_file(path: PathLike) -> ImportBatch:
    """An N-CEN submission: partial `funds` rows (creation units, SEC ids) and authorised participants."""
    file = str(path)
    filing = parse_ncen(read_bytes(path), file=file)
    funds = funds_frame(filing, missing_ticker="drop")
    dropped: dict[str, int] = {}
    missing = len(filing.etfs) - funds.height
    if missing:
        dropped["etfs_without_ticker"] = missing
    aps = authorized_participants_frame(filing)
    notes = [
        f"{filing.registrant_name}: N-CEN for the year ending {filing.report_date}, "
        f"{len(filing.etfs)} ETF series, {aps.height} authorised-participant rows"
    ]
    if not filing.etfs:
        notes.append("no ETF series in this filing (Item E is empty): nothing to store")
    notes += list(filing.issues)
    return ImportBatch(
        source="sec_ncen",
        file=file,
        daily=empty("daily"),
        dropped=dropped,
        notes=notes,
        tables={"funds": funds, "authorized_participants": aps, "ncen_etf": ncen_etf_frame(filing)},
    )


def sniff_fund_ids(head: bytes) -> bool:
    """SEC's company_tickers(_mf).json or a ``CIK,SeriesID,...`` fund id CSV."""
    head = head.lstrip(b"\xef\xbb\xbf")
    return bool(_IDS_CSV.match(head) or _MF_JSON.match(head) or _TICKERS_JSON.match(head))


def read_fund_ids_file(path: PathLike) -> ImportBatch:
    """A ticker -> CIK / series / class map as partial `funds` rows (applied to known funds only)."""
    file = str(path)
    ids: FundIdMap = load_fund_ids(Path(path))
    frame = validate(ids.frame().drop("name"), "funds", file=file)
    notes = [
        f"{len(ids)} tickers mapped to SEC identifiers, all stored in the id map (`sec_ids`); "
        "only funds the warehouse knows get them in `funds`"
    ]
    dropped: dict[str, int] = {}
    if ids.malformed:
        dropped["malformed_identifiers"] = len(ids.malformed)
        shown = ", ".join(ids.malformed[:5]) + (" ..." if len(ids.malformed) > 5 else "")
        notes.append(f"{len(ids.malformed)} record(s) with a malformed identifier left out: {shown}")
    if ids.conflicts:
        shown = ", ".join(ids.conflicts[:10]) + (" ..." if len(ids.conflicts) > 10 else "")
        notes.append(f"{len(ids.conflicts)} ticker(s) map to several series (the latest wins): {shown}")
    return ImportBatch(
        source=FUND_IDS_SOURCE,
        file=file,
        daily=empty("daily"),
        dropped=dropped,
        notes=notes,
        tables={"funds": frame.filter(pl.col("ticker").is_not_null()), "sec_ids": ids.id_frame()},
    )
