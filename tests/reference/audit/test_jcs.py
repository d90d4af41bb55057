"""RFC 8785 canonical JSON, checked against the RFC's own examples (vectors/)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proctor.reference.jcs import canonicalize, canonicalize_text

VECTORS = Path(__file__).parent / "vectors"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def test_rfc8785_3_2_2_primitives_and_3_2_4_utf8() -> None:
    vector = load("RFC8785-3.2.2-3.2.4-primitives.json")
    value = json.loads(vector["input"])
    assert canonicalize_text(value) == vector["expected"]
    assert canonicalize(value) == bytes.fromhex(vector["expected_utf8_hex"].replace(" ", ""))


def test_rfc8785_3_2_3_sorting_by_utf16_code_units() -> None:
    vector = load("RFC8785-3.2.3-sorting.json")
    canonical = canonicalize_text(json.loads(vector["input"]))
    assert list(json.loads(canonical).values()) == vector["expected_value_order"]
    # Code-point order would put the emoji (U+1F600) after U+FB33; UTF-16 puts it before.
    assert canonical.index("\U0001f600") < canonical.index("\ufb33")


NUMBERS = load("RFC8785-appendix-B-numbers.json")["vectors"]


@pytest.mark.parametrize("vector", NUMBERS, ids=[v["ieee754"] for v in NUMBERS])
def test_rfc8785_appendix_b_numbers(vector: dict[str, Any]) -> None:
    (number,) = struct.unpack(">d", bytes.fromhex(vector["ieee754"]))
    if vector["expected"] is None:
        with pytest.raises(ValueError, match="NaN and Infinity"):
            canonicalize_text(number)
    else:
        assert canonicalize_text(number) == vector["expected"]


def test_control_characters_are_escaped_as_the_rfc_requires() -> None:
    short = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}
    for code in range(0x20):
        expected = short.get(code, f"\\u{code:04x}")
        assert canonicalize_text(chr(code)) == f'"{expected}"'
    assert canonicalize_text('"\\/\x7f\u2028') == '"\\"\\\\/\x7f\u2028"'


def _escaped_by_the_rule(text: str) -> str:
    """§3.2.2.2 written out character by character, as the RFC states it."""
    short = {
        '"': '\\"',
        "\\": "\\\\",
        "\b": "\\b",
        "\t": "\\t",
        "\n": "\\n",
        "\f": "\\f",
        "\r": "\\r",
    }
    out = []
    for char in text:
        if char in short:
            out.append(short[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@given(st.text(st.characters(blacklist_categories=["Cs"])))
def test_any_string_is_escaped_exactly_as_section_3_2_2_2_says(text: str) -> None:
    assert canonicalize_text(text) == _escaped_by_the_rule(text)


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        2**53,
        -(2**53),
        "\ud800",
        {"\udfff": 1},
        [1, {"a": float("nan")}],
    ],
)
def test_values_jcs_cannot_represent_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match=r"NaN|I-JSON|Unicode"):
        canonicalize(value)


@pytest.mark.parametrize("value", [b"bytes", {1: "int key"}, {1, 2}, object()])
def test_non_json_types_are_refused(value: Any) -> None:
    with pytest.raises(TypeError):
        canonicalize(value)


def test_integers_at_the_i_json_limit() -> None:
    assert canonicalize_text(2**53 - 1) == "9007199254740991"
    assert canonicalize_text([True, False, None, 0, -1]) == "[true,false,null,0,-1]"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


def parse_like_ecmascript(text: str) -> Any:
    """JSON numbers are doubles: an integer literal beyond I-JSON's range is a float."""

    def number(literal: str) -> int | float:
        value = int(literal)
        return value if abs(value) <= 2**53 - 1 else float(literal)

    return json.loads(text, parse_int=number)


@given(json_values)
def test_canonical_text_parses_back_to_the_value_and_is_a_fixed_point(value: Any) -> None:
    text = canonicalize_text(value)
    assert parse_like_ecmascript(text) == value
    assert canonicalize_text(parse_like_ecmascript(text)) == text


audit_like = st.dictionaries(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8),
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text()
    | st.lists(st.text(), max_size=3),
    max_size=6,
)


@given(audit_like)
def test_for_ascii_names_and_integers_jcs_is_sorted_compact_json(value: dict[str, Any]) -> None:
    """The claim AUD-CHAIN-001 makes to implementers in other languages."""
    assert canonicalize_text(value) == json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
