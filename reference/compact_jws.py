"""Strict JWS Compact Serialization (RFC 7515 §7.1) and signature verification.

The inbound authorizer reads untrusted tokens, so parsing is stricter than the RFCs
require and refuses anything ambiguous (RFC 8725 §3.4):

- exactly three base64url segments (RFC 7515 §2: no padding, no whitespace, no other
  characters; the unused bits of the last character must be zero, so one byte string
  has one encoding); a JWS JSON Serialization is not a JWT (RFC 7519 §7.2 step 1);
- header and payload are UTF-8 JSON objects (RFC 7519 §7.2 steps 3-4, 10) with no
  duplicate member names (RFC 7515 §5.2 allows either rejecting them or taking the
  last; we reject) and no ``NaN``/``Infinity`` (not JSON, RFC 8259 §6);
- ``alg`` is a string; ``kid`` and ``typ`` are strings when present;
- ``crit`` (RFC 7515 §4.1.11): no extension is understood, so any ``crit`` is refused;
- ``cty: JWT`` (a nested token, RFC 7519 §5.2) is refused (RFC 8725 §3.3; INB-PARSE-003).

Header members that carry or point at keys (``jwk``, ``jku``, ``x5c``, ``x5u``) are never
read: keys come only from the issuer's JWKS (RFC 8725 §3.10).

Signatures are verified with the native keys that joserfc imports, through the
``cryptography`` primitives (the same calls joserfc's algorithm models make), bound once
per key so a decision does no key handling. ECDSA signatures must be the RFC 7518 §3.4
fixed-width ``R || S`` with ``0 < R, S < n``; a DER signature, or the "psychic"
``R = S = 0`` (CVE-2022-21449), is refused before the curve arithmetic.
"""

from __future__ import annotations

import binascii
import json
import json.scanner
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from proctor.reference.json_limits import MAX_JSON_DEPTH, depth_exceeds, text_may_exceed

__all__ = [
    "MIN_RSA_BITS",
    "MalformedJws",
    "ParsedJws",
    "Verifier",
    "parse_compact",
    "verifier_for",
]

#: RFC 7518 §3.3: "A key of size 2048 bits or larger MUST be used with these algorithms."
MIN_RSA_BITS: Final = 2048

#: ``verify(signing_input, signature) -> bool``; never raises.
Verifier = Callable[[bytes, bytes], bool]

# Last characters whose unused low bits are zero, by segment length modulo 4.
_CANONICAL_LAST: Final = {
    2: frozenset(b"AQgw"),
    3: frozenset(b"AEIMQUYcgkosw048"),
}
_URLSAFE: Final = bytes.maketrans(b"-_+/=", b"+/!!!")
_JSON_WHITESPACE: Final = " \t\n\r"  # RFC 8259 §2


class MalformedJws(Exception):
    """The token is not a strictly well-formed compact JWS; the message says why."""


class ParsedJws(NamedTuple):
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise MalformedJws("duplicate member name")
    return obj


def _constant(name: str) -> Any:
    raise MalformedJws(f"{name} is not JSON")


_DECODER: Final = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant)
# The C scanner (what JSONDecoder.decode calls after its Python-level wrapper).
_SCAN: Final[Callable[[str, int], tuple[Any, int]]] = json.scanner.make_scanner(
    _DECODER  # type: ignore[arg-type]  # typeshed types the argument as the scanner class
)


def _b64decode(segment: bytes) -> bytes:
    """Base64url without padding (RFC 7515 §2), strictly.

    ``+``, ``/`` and ``=`` are mapped to a character outside every alphabet, so the
    strict decoder refuses them like any other stray byte (whitespace included).
    """
    rest = len(segment) % 4
    standard = segment.translate(_URLSAFE)
    if rest:
        if rest == 1 or segment[-1] not in _CANONICAL_LAST[rest]:
            raise MalformedJws("invalid base64url")
        standard += b"=="[: 4 - rest]
    try:
        return binascii.a2b_base64(standard, strict_mode=True)
    except binascii.Error as exc:
        raise MalformedJws("invalid base64url") from exc


def _json_object(segment: bytes, what: str) -> dict[str, Any]:
    try:
        text = _b64decode(segment).decode("utf-8")
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:  # leading whitespace, or not JSON at all
            value, end = _DECODER.decode(text), len(text)
        if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
            raise MalformedJws(f"{what} has data after the JSON value")
    except MalformedJws:
        raise
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise MalformedJws(f"{what} is not JSON") from exc
    if type(value) is not dict:
        raise MalformedJws(f"{what} is not a JSON object")
    if text_may_exceed(text) and depth_exceeds(value):
        raise MalformedJws(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")  # SEC-DOS-001
    return value


def _media_type(value: str) -> str:
    lowered = value.lower()
    return lowered[12:] if lowered.startswith("application/") else lowered


def parse_compact(token: str) -> ParsedJws:
    """Split and decode a compact JWS without trusting anything in it.

    Raises :class:`MalformedJws`. The signature is *not* verified here.
    """
    try:
        raw = token.encode("ascii")
    except UnicodeEncodeError as exc:
        raise MalformedJws("not ASCII") from exc
    first = raw.find(b".")
    second = raw.find(b".", first + 1)
    if first < 1 or second <= first + 1 or raw.find(b".", second + 1) != -1:
        raise MalformedJws("not three base64url segments")
    header = _json_object(raw[:first], "header")
    alg = header.get("alg")
    if type(alg) is not str:
        raise MalformedJws("alg is missing or not a string")
    if "kid" in header and type(header["kid"]) is not str:
        raise MalformedJws("kid is not a string")
    if "typ" in header and type(header["typ"]) is not str:
        raise MalformedJws("typ is not a string")
    if "crit" in header:
        raise MalformedJws("crit names an extension this service does not understand")
    cty = header.get("cty", "")
    if type(cty) is not str or _media_type(cty) == "jwt":
        raise MalformedJws("nested JWTs are not accepted")
    payload = _json_object(raw[first + 1 : second], "payload")
    signature = _b64decode(raw[second + 1 :])
    return ParsedJws(header, payload, raw[:second], signature)


# -- verification ------------------------------------------------------------------------

_HASHES: Final[dict[str, type[hashes.HashAlgorithm]]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}

# RFC 7518 §3.4: curve, coordinate size in bytes, and group order n.
_CURVES: Final[dict[str, tuple[str, int, int]]] = {
    "ES256": (
        "secp256r1",
        32,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    ),
    "ES384": (
        "secp384r1",
        48,
        0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973,
    ),
    "ES512": (
        "secp521r1",
        66,
        int(
            "1" + "F" * 65 + "A51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409", 16
        ),
    ),
}


def _ecdsa(key: ec.EllipticCurvePublicKey, size: int, order: int, digest: str) -> Verifier:
    algorithm = ec.ECDSA(_HASHES[digest]())
    verify = key.verify

    def check(signing_input: bytes, signature: bytes) -> bool:
        if len(signature) != 2 * size:
            return False  # RFC 7518 §3.4: exactly R || S; DER is not a JWS signature
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        if not (0 < r < order and 0 < s < order):
            return False  # CVE-2022-21449 and out-of-range values
        try:
            verify(encode_dss_signature(r, s), signing_input, algorithm)
        except InvalidSignature:
            return False
        return True

    return check


def _rsa(key: RSAPublicKey, pad: padding.AsymmetricPadding, digest: str) -> Verifier:
    algorithm = _HASHES[digest]()
    verify = key.verify

    def check(signing_input: bytes, signature: bytes) -> bool:
        try:
            verify(signature, signing_input, pad, algorithm)
        except InvalidSignature:
            return False
        return True

    return check


def _eddsa(key: Ed25519PublicKey) -> Verifier:
    verify = key.verify

    def check(signing_input: bytes, signature: bytes) -> bool:
        try:
            verify(signature, signing_input)
        except InvalidSignature:
            return False
        return True

    return check


def verifier_for(alg: str, public_key: object) -> Verifier | None:
    """A verifier of ``alg`` signatures under ``public_key``, or ``None`` if they don't fit.

    The key type must be the algorithm's (RFC 7518 §3.1, RFC 8037 §3.1): RSA for
    ``RS*``/``PS*`` (at least :data:`MIN_RSA_BITS`), the algorithm's own curve for
    ``ES*``, Ed25519 for ``EdDSA`` (INB-KEY-004). Symmetric algorithms have no verifier.
    """
    family, digest = alg[:2], alg[2:]
    if family in ("RS", "PS") and digest in _HASHES:
        if not isinstance(public_key, RSAPublicKey) or public_key.key_size < MIN_RSA_BITS:
            return None
        if family == "RS":
            return _rsa(public_key, padding.PKCS1v15(), digest)
        # RFC 7518 §3.5: MGF1 with the same hash; salt as long as the hash output.
        pss = padding.PSS(
            mgf=padding.MGF1(_HASHES[digest]()), salt_length=padding.PSS.DIGEST_LENGTH
        )
        return _rsa(public_key, pss, digest)
    if alg in _CURVES:
        curve, size, order = _CURVES[alg]
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != curve:
            return None
        return _ecdsa(public_key, size, order, digest)
    if alg == "EdDSA" and isinstance(public_key, Ed25519PublicKey):
        return _eddsa(public_key)
    return None
