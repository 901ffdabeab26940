"""Safe output: formula-proof CSV cells, atomic file writes, JSON without NaN, short quotes of bad values.

Every writer of user-facing files goes through here: `write_csv_safe` / `csv_safe` for CSV exports,
`atomic_write_text` for reports and tearsheets (a crash or a full disk leaves the previous file whole),
`json_safe` / `dumps_json` for JSON (non-finite floats become null), `clip_for_message` for quoting a
bad input cell in an error message (at most 80 characters). Standard library and Polars only.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import polars as pl

from etfflow.errors import QUOTE_LIMIT, quote

__all__ = [
    "FORMULA_PREFIXES",
    "MESSAGE_QUOTE_LIMIT",
    "atomic_write_bytes",
    "atomic_write_text",
    "clip_for_message",
    "csv_safe",
    "dumps_json",
    "json_safe",
    "write_csv_safe",
]

#: a cell starting with one of these is read as a formula by Excel, LibreOffice and Google Sheets
#: (tab and carriage return too: some spreadsheet programs strip them and then see the formula)
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: the most characters of a bad input cell an error message quotes
MESSAGE_QUOTE_LIMIT = QUOTE_LIMIT


def csv_safe(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text: a string starting ``= + - @`` (or tab/CR) gets a ``'``.

    Numbers are returned unchanged (a negative number is data, not a formula); so are None and other
    non-string values. Text that is a plain number ("-12.5") is kept too, so numeric columns read as
    text still round-trip.
    """
    if not isinstance(value, str) or not value.startswith(FORMULA_PREFIXES):
        return value
    if value[0] in "+-" and _is_number(value):
        return value
    return "'" + value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return math.isfinite(float(text))


def write_csv_safe(frame: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write `frame` as CSV with every text cell (and header) passed through `csv_safe`; atomically."""
    headers = [str(csv_safe(c)) for c in frame.columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(headers)
    for row in frame.iter_rows():
        writer.writerow(["" if v is None else _csv_cell(v) for v in row])
    return atomic_write_text(path, buf.getvalue())


def _csv_cell(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return csv_safe(value)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` via a temporary file in the same folder and `os.replace` (all or nothing)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (see `atomic_write_bytes`); the old file stays whole on failure."""
    return atomic_write_bytes(path, text.encode(encoding))


def json_safe(obj: Any) -> Any:
    """`obj` with every non-finite float (inf, -inf, NaN) replaced by None, recursively; frames as records."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, pl.DataFrame):
        return json_safe(obj.to_dicts())
    if is_dataclass(obj) and not isinstance(obj, type):
        return json_safe(asdict(obj))
    return obj


def dumps_json(obj: Any, *, indent: int | None = 2) -> str:
    """JSON text of `obj` that never fails on a stored value: non-finite floats as null, dates ISO."""
    return json.dumps(json_safe(obj), default=_json_default, indent=indent, allow_nan=False)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    conv = json_safe(obj)
    if conv is obj:
        return str(obj)
    return conv


def clip_for_message(value: object, limit: int = MESSAGE_QUOTE_LIMIT) -> str:
    """`repr(value)` cut to at most `limit` characters of the value, saying how long it was."""
    return quote(value, limit)
