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


def strict_only(text: str | bytes) -> Any:
    """parse_canonical as it was before its orjson path: the strict json module alone."""
    import json

    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        raw = text.encode("utf-8") if isinstance(text, str) else text
        value = json.JSONDecoder(parse_constant=refuse).decode(
            text if isinstance(text, str) else raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise MalformedEntry(f"x is not valid JSON: {exc}", field="x") from exc
    if canonical(value) != raw:
        raise MalformedEntry("x is not in RFC 8785 canonical form", field="x")
    return value


def outcome(parse: Any, text: str | bytes) -> tuple[str, Any]:
    try:
        return "value", parse(text)
    except MalformedEntry as exc:
        return "refused", exc.message


SPELLINGS = [b"1.0", b"1e2", b"1E2", b"-0", b"0.0", b"1e400", b"-1e400", b"NaN", b"Infinity",
             b'"\\u0041"', b'"\\ud800"', b'"\\udc00x"', b'"\\ud83d\\ude00"', b"\xef\xbb\xbf1",
             b"\xff", b'"\\/"', b'{"a":1,"a":2}', b'{"b":1,"a":2}', b" 1", b"1 ", b"[1,]",
             b"123456789012345678901234567890", b"9007199254740993", b'"\x01"', b"[" * 3000,
             b'{"\xc3\xa9":1,"z":2}', b'{"z":1,"\xc3\xa9":2}', b"true", b"nul", b"1.5e-7",
             # integers orjson reads as doubles (past 64 bits) whose double prints the same
             b"18446744073709552000", b"[-18446744073709552000]", b'{"a":100000000000000000000}',
             b"1e+21", b"9007199254740992", b"0.0001", b"0.00001"]


@pytest.mark.parametrize("text", SPELLINGS)
def test_parse_canonical_decides_as_the_strict_parser_on_odd_spellings(text: bytes) -> None:
    assert outcome(lambda t: parse_canonical(t, "x"), text) == outcome(strict_only, text)
    as_text = text.decode("utf-8", "surrogateescape")
    if "\udcff" not in as_text and "\udcef" not in as_text:
        assert outcome(lambda t: parse_canonical(t, "x"), as_text) == outcome(strict_only, as_text)


@settings(max_examples=2000)
@given(json_values, st.integers(min_value=0, max_value=7), st.integers(min_value=0, max_value=200))
def test_parse_canonical_decides_as_the_strict_parser(value: Any, change: int, at: int) -> None:
    """Canonical texts and small changes of them (a space, a byte dropped or doubled, a
    digit or escape spelled otherwise): the same value, or the same refusal and message."""
    text = reference(value)
    if text is None:
        return
    at = at % (len(text) + 1)
    variants = {0: text, 1: text[:at] + b" " + text[at:], 2: text[:at] + text[at + 1:],
                3: text[:at] + text[at:at + 1] * 2 + text[at + 1:], 4: text.replace(b"1", b"1.0"),
                5: text.replace(b"A", b"\\u0041"), 6: text.replace(b"e", b"E"),
                7: text.replace(b"1", b"18446744073709552000", 1)}
    odd = variants[change]
    assert outcome(lambda t: parse_canonical(t, "x"), odd) == outcome(strict_only, odd)
