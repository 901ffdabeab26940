"""The store's hand-made literal binding round-trips every type it accepts (property test).

DuckDB's own parameter binding imports pandas (about 0.6 s in every CLI process), so the store writes
parameters as SQL literals; this proves that no value can break out of its literal or come back altered.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etfflow.errors import StoreError
from etfflow.store import _bind, _literal

CON = duckdb.connect()
CON.execute("SET TimeZone = 'UTC'")

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),  # quotes, backslashes, NUL, any unicode
    st.dates(),
    st.datetimes(
        min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC)
    ),
)


def _roundtrip(value: Any) -> Any:
    row = CON.execute(_bind("SELECT ?", [value])).fetchone()
    assert row is not None
    return row[0]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, float) and a == 0.0:
        return b == 0.0 and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, dt.datetime):
        return isinstance(b, dt.datetime) and a == b
    return type(a) is type(b) and a == b


@settings(max_examples=400, deadline=None)
@given(scalars)
def test_scalar_literals_round_trip(value: Any) -> None:
    assert _same(value, _roundtrip(value)), (value, _literal(value))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(), max_size=5))
def test_string_lists_round_trip(values: list[str]) -> None:
    got = CON.execute(_bind("SELECT ?::VARCHAR[]", [values])).fetchone()
    assert got is not None and got[0] == values


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text())
def test_hostile_text_stays_inside_its_literal(a: str, b: str) -> None:
    # two parameters: whatever the first holds, the second still binds to its own placeholder
    got = CON.execute(_bind("SELECT ?, ?", [a, b])).fetchone()
    assert got == (a, b)


def test_known_hostile_values() -> None:
    for v in ["X'); DROP TABLE daily;--", "=1+1", "<script>", "a\\'b", "\x00", "'" * 5, "é中🙂"]:
        assert _roundtrip(v) == v
    for f in (math.inf, -math.inf):
        assert _roundtrip(f) == f
    assert math.isnan(_roundtrip(math.nan))


def test_unbindable_values_are_refused() -> None:
    with pytest.raises(TypeError):
        _literal(dt.datetime(2024, 1, 1))  # naive: refused rather than guessed
    with pytest.raises(TypeError):
        _literal(object())
    with pytest.raises(StoreError):
        _bind("SELECT ?", [1, 2])
