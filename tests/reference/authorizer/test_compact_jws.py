"""Strict compact JWS parsing and the per-algorithm verifiers."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from proctor.reference.compact_jws import MalformedJws, parse_compact, verifier_for


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


HEADER = b64(b'{"alg":"ES256"}')
BODY = b64(b"{}")


def compact(header: Any, payload: Any, signature: bytes = b"sig") -> str:
    return ".".join(
        (b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature))
    )


def test_parse_returns_header_payload_and_signing_input() -> None:
    token = compact({"alg": "ES256", "kid": "k"}, {"sub": "a"}, b"\x01\x02")
    parsed = parse_compact(token)
    assert parsed.header == {"alg": "ES256", "kid": "k"}
    assert parsed.payload == {"sub": "a"}
    assert parsed.signature == b"\x01\x02"
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()


def test_json_whitespace_around_the_value_is_json() -> None:
    header = b64(b' \n{"alg":"ES256"}\t ')
    assert parse_compact(f"{header}.{b64(b'{}')}.").header == {"alg": "ES256"}


@pytest.mark.parametrize(
    "header",
    [
        {},
        {"alg": 256},
        {"alg": None},
        {"alg": "ES256", "kid": 7},
        {"alg": "ES256", "kid": None},
        {"alg": "ES256", "typ": ["JWT"]},
        {"alg": "ES256", "crit": []},
        {"alg": "ES256", "cty": "jwt"},
        {"alg": "ES256", "cty": "Application/JWT"},
        {"alg": "ES256", "cty": 1},
        ["alg", "ES256"],
    ],
)
def test_bad_headers(header: Any) -> None:
    with pytest.raises(MalformedJws):
        parse_compact(compact(header, {}))


def test_other_cty_values_are_fine() -> None:
    assert parse_compact(compact({"alg": "ES256", "cty": "json"}, {})).header["cty"] == "json"


@pytest.mark.parametrize("segment", ["AQ", "Ag", "Aw", "AAE", "AAQ"])
def test_canonical_base64_tails_are_accepted(segment: str) -> None:
    assert parse_compact(f"{HEADER}.{BODY}.{segment}")


@pytest.mark.parametrize("segment", ["AB", "AR", "Ah", "AAF", "AAB", "A", "AAAAA"])
def test_non_canonical_or_impossible_base64_is_refused(segment: str) -> None:
    """Unused bits must be zero, so each byte string has exactly one encoding."""
    with pytest.raises(MalformedJws):
        parse_compact(f"{HEADER}.{BODY}.{segment}")


def test_utf8_is_required() -> None:
    header = b64(b'{"alg":"ES256"}')
    text = '{"n":"\u00e9"}'
    with pytest.raises(MalformedJws):
        parse_compact(header + "." + b64(text.encode("latin-1")) + ".")
    assert parse_compact(header + "." + b64(text.encode()) + ".").payload == {"n": "\u00e9"}


def test_utf16_json_is_not_detected() -> None:
    header = b64(b'{"alg":"ES256"}')
    with pytest.raises(MalformedJws):
        parse_compact(header + "." + b64("{}".encode("utf-16")) + ".")


# -- verifiers -------------------------------------------------------------------------------

MESSAGE = b"header.payload"


@pytest.mark.parametrize(
    ("alg", "curve", "size"),
    [("ES256", ec.SECP256R1(), 32), ("ES384", ec.SECP384R1(), 48), ("ES512", ec.SECP521R1(), 66)],
)
def test_ecdsa_order_constants(alg: str, curve: ec.EllipticCurve, size: int) -> None:
    """(r, n - s) verifies iff n is the curve's true order; (r, n) and (n, s) never do."""
    from proctor.reference.compact_jws import _CURVES

    order = _CURVES[alg][2]
    key = ec.generate_private_key(curve)
    verify = verifier_for(alg, key.public_key())
    assert verify is not None
    hash_alg = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384(), "ES512": hashes.SHA512()}[alg]
    r, s = decode_dss_signature(key.sign(MESSAGE, ec.ECDSA(hash_alg)))

    def raw(a: int, b: int) -> bytes:
        return a.to_bytes(size, "big") + b.to_bytes(size, "big")

    assert verify(MESSAGE, raw(r, s))
    assert verify(MESSAGE, raw(r, order - s))
    assert not verify(MESSAGE, raw(r, order))
    assert not verify(MESSAGE, raw(order, s))
    assert not verify(MESSAGE, raw(0, 0))
    assert not verify(MESSAGE, raw(r, s)[:-1])
    assert not verify(b"header.payloaD", raw(r, s))


def test_rsa_pkcs1_and_pss() -> None:
    key = rsa.generate_private_key(65537, 2048)
    rs = verifier_for("RS256", key.public_key())
    ps = verifier_for("PS384", key.public_key())
    assert rs is not None
    assert ps is not None
    assert rs(MESSAGE, key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256()))
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48)
    assert ps(MESSAGE, key.sign(MESSAGE, pss, hashes.SHA384()))
    # RFC 7518 §3.5: the salt is as long as the hash; another salt length is refused.
    short_salt = padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=20)
    assert not ps(MESSAGE, key.sign(MESSAGE, short_salt, hashes.SHA384()))
    assert not rs(MESSAGE, b"")


def test_eddsa_is_ed25519_only() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    verify = verifier_for("EdDSA", key.public_key())
    assert verify is not None
    assert verify(MESSAGE, key.sign(MESSAGE))
    assert not verify(MESSAGE, key.sign(b"other"))
    assert verifier_for("EdDSA", ed448.Ed448PrivateKey.generate().public_key()) is None


def test_keys_only_serve_their_own_algorithms() -> None:
    small = rsa.generate_private_key(65537, 1024).public_key()  # noqa: S505
    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    big = rsa.generate_private_key(65537, 2048).public_key()
    assert verifier_for("RS256", small) is None  # RFC 7518 §3.3: at least 2048 bits
    assert verifier_for("ES384", p256) is None
    assert verifier_for("ES256", big) is None
    assert verifier_for("RS256", p256) is None
    assert verifier_for("EdDSA", big) is None
    for alg in ("HS256", "none", "RS1", "ES256K", ""):
        assert verifier_for(alg, big) is None
        assert verifier_for(alg, p256) is None
