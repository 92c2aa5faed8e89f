"""The fast canonical encoder writes exactly the reference RFC 8785 bytes, or refuses alike."""

from __future__ import annotations

import math
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import canonical, parse_canonical
from ledger.errors import MalformedEntry

json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)


def reference(value: Any) -> bytes | None:
    try:
        return rfc8785.dumps(value)
    except Exception:
        return None


@settings(max_examples=3000)
@given(json_values)
def test_fast_encoder_equals_rfc8785(value: Any) -> None:
    expected = reference(value)
    if expected is None:
        with pytest.raises(MalformedEntry):
            canonical(value)
    else:
        assert canonical(value) == expected


@settings(max_examples=3000)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_double_is_written_as_es6_does(x: float) -> None:
    assert canonical({"x": x, "y": [x, -x]}) == rfc8785.dumps({"x": x, "y": [x, -x]})


@pytest.mark.parametrize("value", [
    64.0, -0.0, 1e-7, 1.5e-7, 1e21, 1e20, 2.0**53, 2.0**53 - 1, 5e-324, 1.7976931348623157e308,
    0.1 + 0.2, 123456789.125, {"é": 1, "z": 2, "\U0001f600": 3, "\ue000": 4}, "\u2028\x00\x1f\"\\/",
])
def test_edge_values_agree(value: Any) -> None:
    assert canonical(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, 2**53, -(2**53), {1: "a"}, object()])
def test_what_has_no_canonical_form_is_refused(value: Any) -> None:
    with pytest.raises(MalformedEntry):
        canonical(value)


def test_reading_our_own_bytes_still_names_broken_json() -> None:
    with pytest.raises(MalformedEntry, match="stored record is not valid JSON"):
        parse_canonical(b'{"a":', "stored record", check=False)


@settings(max_examples=3000)
@given(st.floats(min_value=1e-4, max_value=1e17) | st.floats(min_value=-1e17, max_value=-1e-4))
def test_doubles_in_the_fast_range_agree(x: float) -> None:
    assert canonical([x]) == rfc8785.dumps([x])


audit_rows = st.fixed_dictionaries({
    "leaf_index": st.integers(min_value=0, max_value=2**53 - 1), "record_hash": st.text(),
    "stream": st.text(), "version": st.integers(min_value=-(2**60), max_value=2**60) | st.floats(),
    "type": st.text(), "author": st.text(), "role": st.text(), "site": st.text(),
    "meaning": st.text(), "observed_at": st.text() | st.floats(), "recorded_at": st.text(),
    "reason": st.none() | st.text(), "client": st.text(), "redacted": st.booleans(),
    "field": st.none() | st.text(), "previous": st.none() | json_values, "new": st.none() | json_values,
})


@settings(max_examples=2000)
@given(audit_rows)
def test_audit_rows_are_written_as_canonical_writes_them(row: dict[str, Any]) -> None:
    from projections.audit_trail import text

    expected = reference(row)
    if expected is None:
        with pytest.raises(MalformedEntry):
            text(row)
    else:
        assert text(row) == expected
