"""One exception tree for etfflow (standard library only)."""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataQualityError",
    "EtfflowError",
    "NotFoundError",
    "ParseError",
    "StoreError",
    "TransportError",
    "ValidationError",
]


class EtfflowError(Exception):
    """Base of every error etfflow raises on purpose."""


class ConfigError(EtfflowError):
    """Missing or invalid configuration (paths, User-Agent, parameters)."""


class ParseError(EtfflowError):
    """Input that cannot be read: names the file, row and field where known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.field = field
        where = []
        if file is not None:
            where.append(f"file {file}")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {field!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class ValidationError(ParseError, ValueError):
    """Rows that parse but break the schema's rules (negative shares, conflicting duplicates...)."""


class StoreError(EtfflowError):
    """The warehouse could not be read or written; the previous state is kept."""


class NotFoundError(EtfflowError):
    """A requested ticker, series or file does not exist."""


class TransportError(EtfflowError):
    """A network request failed after its retries."""


class DataQualityError(EtfflowError):
    """Data too incomplete or inconsistent for the requested computation."""
