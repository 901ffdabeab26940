"""One exception tree for etfflow (standard library only)."""

from __future__ import annotations

import re

__all__ = [
    "QUOTE_LIMIT",
    "ConfigError",
    "DataQualityError",
    "EtfflowError",
    "NotFoundError",
    "ParseError",
    "StoreError",
    "TransportError",
    "ValidationError",
    "quote",
]

#: the most characters of one bad input value an error message quotes
QUOTE_LIMIT = 80
#: the most characters of an error message
MESSAGE_LIMIT = 600
_N = QUOTE_LIMIT + 1
#: a quoted value (as repr writes it) of more than QUOTE_LIMIT characters, between non-word characters
_LONG_QUOTED = re.compile(
    r"(?<!\w)(?:'((?:[^'\\\n]|\\.){" + str(_N) + r",})'|\"((?:[^\"\\\n]|\\.){" + str(_N) + r",})\")(?!\w)"
)


def quote(value: object, limit: int = QUOTE_LIMIT) -> str:
    """`repr` of a bad input value, cut to its first `limit` characters (saying how long it was)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(value) if isinstance(value, str) else text
    return repr(text[:limit]) + f"... ({len(text):,} characters)"


def clip_message(message: str) -> str:
    """Shorten every quoted value longer than QUOTE_LIMIT and the whole message to MESSAGE_LIMIT."""

    def cut(m: re.Match[str]) -> str:
        body = m.group(1) if m.group(1) is not None else m.group(2)
        q = m.group(0)[0]
        return f"{q}{body[:QUOTE_LIMIT]}{q}... ({len(body):,} characters)"

    out = _LONG_QUOTED.sub(cut, message)
    if len(out) > MESSAGE_LIMIT:
        out = out[:MESSAGE_LIMIT] + f"... (message cut at {MESSAGE_LIMIT} characters)"
    return out


class EtfflowError(Exception):
    """Base of every error etfflow raises on purpose; long quoted values are clipped (`clip_message`)."""

    def __init__(self, *args: object) -> None:
        if args and isinstance(args[0], str):
            args = (clip_message(args[0]), *args[1:])
        super().__init__(*args)


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
        self.message = message
        where = []
        if file is not None:
            where.append(f"file {file}")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field {quote(field)}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def in_file(self, file: str) -> ParseError:
        """The same error naming `file` (for parsers that raise without knowing the file's name)."""
        if self.file is not None:
            return self
        return type(self)(self.message, file=file, row=self.row, field=self.field)


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
