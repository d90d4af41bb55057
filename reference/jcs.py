"""RFC 8785 JSON Canonicalization Scheme (JCS).

https://www.rfc-editor.org/rfc/rfc8785

The audit chain hashes the canonical form of each event (spec ``08-audit.md``), so two
implementations that agree on an event agree on its hash, whatever JSON library wrote it.

- §3.2.1: literals ``null``, ``true`` and ``false`` are written as such.
- §3.2.2.2: strings escape ``"`` and ``\\``, write U+0008, U+0009, U+000A, U+000C and
  U+000D as ``\\b \\t \\n \\f \\r``, every other control character below U+0020 as
  ``\\u00xx`` (lowercase hex), and everything else as itself, UTF-8 encoded (§3.2.4).
- §3.2.2.3: numbers are IEEE 754 doubles serialised as ECMAScript's
  ``Number.prototype.toString`` does; NaN and the infinities are refused. Python ints are
  accepted within I-JSON's interoperable range (RFC 7493 §2.2: magnitude at most
  2**53 - 1); larger ones are refused rather than silently rounded.
- §3.2.3: object members are sorted by their names' UTF-16 code units.
- RFC 7493 §2.1 (I-JSON): strings must be valid Unicode; lone surrogates are refused.

Audit events carry no floats (their times are NumericDate integers), but floats are
supported here so the RFC's own vectors can be checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any

__all__ = ["canonicalize", "canonicalize_text"]

_MAX_SAFE = 2**53 - 1


def canonicalize(value: Any) -> bytes:
    """The canonical UTF-8 bytes of ``value`` (RFC 8785 §3.2.4)."""
    return canonicalize_text(value).encode("utf-8")


def canonicalize_text(value: Any) -> str:
    """The canonical JSON text of ``value``.

    ``value`` is built from ``dict`` (string keys), ``list``/``tuple``, ``str``, ``int``,
    ``float``, ``bool`` and ``None``. Anything else raises ``TypeError``; values JCS cannot
    represent (NaN, infinities, unsafe integers, lone surrogates) raise ``ValueError``.
    """
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts)


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_string(value))
    elif isinstance(value, int):
        out.append(_integer(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, Mapping):
        names: dict[str, str] = {}
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"object member names must be strings, not {type(key).__name__}")
            names[key] = _string(key)  # refuses lone surrogates before sorting
        out.append("{")
        for index, key in enumerate(sorted(names, key=_utf16_key)):
            if index:
                out.append(",")
            out.append(names[key])
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"{type(value).__name__} is not a JSON value")


def _utf16_key(name: str) -> bytes:
    """§3.2.3: big-endian UTF-16 bytes compare exactly as the code units do."""
    return name.encode("utf-16-be", errors="strict")


def _string(text: str) -> str:
    """§3.2.2.2. The standard library's JSON string encoder (without ``ensure_ascii``)
    escapes exactly JCS's set: ``"``, ``\\``, the five short forms, and every other
    control character below U+0020 as ``\\u00xx`` in lowercase hex; nothing else.
    ``tests/reference/test_jcs.py`` checks this against the rule, character by character.
    """
    try:
        text.encode("utf-8", errors="strict")
    except UnicodeEncodeError as exc:
        raise ValueError("strings must be valid Unicode (no lone surrogates)") from exc
    return encode_basestring(text)


def _integer(number: int) -> str:
    if abs(number) > _MAX_SAFE:
        raise ValueError(f"integer {number} is not exactly representable in I-JSON")
    return str(number)


def _number(number: float) -> str:
    """ECMAScript Number::toString (ECMA-262 §6.1.6.1.20) for a finite double.

    Python's ``repr`` yields the shortest digit string that round-trips, which is the
    digit string ECMAScript requires; only the layout (where the point and exponent go)
    differs, and is redone here.
    """
    if math.isnan(number) or math.isinf(number):
        raise ValueError("NaN and Infinity have no JSON representation")
    if number == 0:
        return "0"  # also for -0.0
    sign = "-" if number < 0 else ""
    mantissa, _, exponent = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    if fraction == "0":
        fraction = ""
    digits = (whole + fraction).lstrip("0")
    # The value is 0.d1d2...dk * 10**n in ECMAScript's terms.
    n = len(whole) + (int(exponent) if exponent else 0)
    if whole == "0":
        # repr wrote 0.000ddd: the leading zeros of the fraction shift the point.
        n = -(len(fraction) - len(fraction.lstrip("0")))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        exp = f"e{'+' if e > 0 else '-'}{abs(e)}"
        text = digits + exp if k == 1 else digits[0] + "." + digits[1:] + exp
    return sign + text
