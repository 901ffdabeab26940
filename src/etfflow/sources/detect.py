"""Tell a file's format from its content (never its name) and import it with the matching reader.

FORMATS is an ordered registry: the first format whose sniffer accepts the file's first bytes wins, so
specific formats come before the generic ones. A new format is one line:
`FORMATS.insert(0, Format("sec_nport_xml", sniff_nport, read_nport))` (or `register(...)`).
"""

from __future__ import annotations

import gzip
import inspect
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from etfflow.errors import ConfigError, NotFoundError, ParseError
from etfflow.sources.base import GZIP_MAGIC, ImportBatch, PathLike
from etfflow.sources.cn_classification import read_cn_classification, sniff_cn_classification
from etfflow.sources.cn_exchange import read_cn_exchange_shares, sniff_cn_exchange_shares
from etfflow.sources.cn_prices import read_cn_prices, sniff_cn_prices
from etfflow.sources.cn_wind import read_wind_panel, read_wind_returns, sniff_wind_panel, sniff_wind_returns
from etfflow.sources.generic import (
    read_generic_csv,
    read_generic_parquet,
    read_generic_xlsx,
    sniff_generic_csv,
    sniff_generic_parquet,
    sniff_generic_xlsx,
)
from etfflow.sources.ishares import (
    read_ishares_shares_csv,
    read_ishares_workbook,
    read_xls,
    sniff_ishares_shares_csv,
    sniff_ishares_workbook,
    sniff_xls,
)
from etfflow.sources.prices import read_price_file, sniff_price_file
from etfflow.sources.sec_files import (
    read_fund_ids_file,
    read_ncen_file,
    read_nport_dataset_file,
    read_nport_file,
    sniff_fund_ids,
)
from etfflow.sources.sec_ncen import is_ncen_submission
from etfflow.sources.sec_nport import is_nport_dataset_zip, is_nport_xml
from etfflow.sources.ssga import read_ssga_gld_csv, sniff_ssga_gld_csv
from etfflow.sources.vendor_flows import (
    read_vendor_flows,
    sniff_vendor_long,
    sniff_vendor_wide,
    sniff_vendor_workbook,
)

__all__ = ["FORMATS", "HEAD_BYTES", "Format", "detect_format", "read_file", "register"]

#: how many leading bytes a sniffer sees
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Format:
    """A file format: its name, a sniffer over the file's first HEAD_BYTES, and its reader."""

    name: str
    sniff: Callable[[bytes], bool]
    read: Callable[..., ImportBatch]


FORMATS: list[Format] = [
    Format("ishares_workbook", sniff_ishares_workbook, read_ishares_workbook),
    Format("ishares_shares_csv", sniff_ishares_shares_csv, read_ishares_shares_csv),
    Format("ssga_gld_csv", sniff_ssga_gld_csv, read_ssga_gld_csv),
    Format("generic_parquet", sniff_generic_parquet, read_generic_parquet),
    Format("generic_xlsx", sniff_generic_xlsx, read_generic_xlsx),
    Format("generic_csv", sniff_generic_csv, read_generic_csv),
]


def register(fmt: Format, *, before: str | None = "generic_parquet") -> None:
    """Add a format ahead of `before` (default: ahead of the generic ones; None appends it)."""
    if any(f.name == fmt.name for f in FORMATS):
        raise ConfigError(f"format {fmt.name!r} is already registered")
    names = [f.name for f in FORMATS]
    FORMATS.insert(names.index(before) if before in names else len(FORMATS), fmt)


register(Format("sec_nport_xml", is_nport_xml, read_nport_file))
register(Format("sec_ncen", is_ncen_submission, read_ncen_file))
register(Format("sec_nport_dataset", is_nport_dataset_zip, read_nport_dataset_file))
register(Format("sec_fund_ids", sniff_fund_ids, read_fund_ids_file))
register(Format("cn_wind_panel", sniff_wind_panel, read_wind_panel))
register(Format("cn_wind_returns", sniff_wind_returns, read_wind_returns))
register(Format("cn_exchange_shares", sniff_cn_exchange_shares, read_cn_exchange_shares))
register(Format("cn_prices", sniff_cn_prices, read_cn_prices))
register(Format("cn_classification", sniff_cn_classification, read_cn_classification))
register(Format("excel_xls", sniff_xls, read_xls))
register(Format("price_file", sniff_price_file, read_price_file))
register(Format("vendor_flows_long", sniff_vendor_long, read_vendor_flows))
register(Format("vendor_flows_workbook", sniff_vendor_workbook, read_vendor_flows))
register(Format("vendor_flows_wide", sniff_vendor_wide, read_vendor_flows))


def _head(path: PathLike) -> bytes:
    """The file's first HEAD_BYTES bytes (of its decompressed content when it is gzip)."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
        if head.startswith(GZIP_MAGIC):  # sniff the content, not the compression
            with gzip.open(p, "rb") as gz:
                return gz.read(HEAD_BYTES)
        return head
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ParseError(f"damaged gzip file: {exc}", file=str(p)) from exc
    except FileNotFoundError as exc:
        raise NotFoundError(f"file not found: {p}") from exc
    except OSError as exc:
        raise ParseError(f"cannot read file: {exc}", file=str(p)) from exc


def _find(path: PathLike) -> Format:
    """The first registered format that accepts the file's content."""
    head = _head(path)
    for fmt in FORMATS:
        if fmt.sniff(head):
            return fmt
    preview = head[:80].decode("utf-8", errors="replace").splitlines()[:1]
    raise ParseError(
        f"unrecognised format (starts {preview[0] if preview else ''!r}); known: {[f.name for f in FORMATS]}",
        file=str(path),
    )


def detect_format(path: PathLike) -> str:
    """Name of the file's format, from its first bytes; ParseError('unrecognised format ...') otherwise."""
    return _find(path).name


def read_file(path: PathLike, **options: Any) -> ImportBatch:
    """Import a file with the reader of its detected format; `options` go to that reader."""
    fmt = _find(path)
    try:
        inspect.signature(fmt.read).bind(path, **options)
    except TypeError as exc:
        raise ConfigError(f"format {fmt.name!r} does not take option(s) {sorted(options)}: {exc}") from exc
    try:
        return fmt.read(path, **options)
    except ParseError as exc:  # every error names the file, even where a parser did not know it
        located = exc.in_file(str(path))
        if located is exc:
            raise
        raise located from exc
