"""The JWT attack catalog JWT-01 … JWT-17 (``/work/shared/notes/conformance.md``).

Every attack is its own case; each test first checks that an honest token passes the
same authorizer (a positive control), so "denies everything" cannot pass.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID
from joserfc import jws

from proctor.mock_idps.keys import KeyRing, SigningKey, generate_key
from proctor.reference.authorizer import Authorizer
from proctor.reference.authorizer_config import AuthorizerConfig

NOW = 1_800_000_000
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
ATTACKER_URL = "https://attacker.example/jwks.json"


@pytest.fixture
def controlled(authorizer: Authorizer, mint: Any) -> Authorizer:
    """The authorizer, after checking that it allows an honest RS256 and ES256 token."""
    assert authorizer.decide(mint()).allowed
    assert authorizer.decide(mint(purpose="es")).allowed
    return authorizer


def _hs256(forge: Any, header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    unsigned = f"{forge.b64json(header)}.{forge.b64json(payload)}"
    mac = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{forge.b64(mac)}"


def _claims(now: float = NOW) -> dict[str, Any]:
    return {
        "iss": "https://idp.example/oauth2/default",
        "sub": "sarah@example.com",
        "aud": "api://proctor",
        "client_id": "client-1",
        "scope": "crm.read",
        "groups": ["sales"],
        "iat": NOW,
        "exp": NOW + 600,
    }


# -- JWT-01: alg none -----------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", ["", "c2ln"], ids=["empty-sig", "junk-sig"])
def test_jwt01_alg_none(controlled: Authorizer, forge: Any, alg: str, signature: str) -> None:
    token = forge.token({"alg": alg, "typ": "at+jwt"}, _claims(), signature)
    assert controlled.decide(token).reason == "alg_not_allowed"


# -- JWT-02: stripped, flipped, or modified -------------------------------------------------


def _flip_signature(token: str) -> str:
    head, body, sig = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{body}.{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}"


def _swap_payload(forge: Any, token: str, **changes: Any) -> str:
    header, payload, sig = forge.segments(token)
    return str(forge.token(header, {**payload, **changes}, sig))


def _swap_header(forge: Any, token: str, **changes: Any) -> str:
    header, payload, sig = forge.segments(token)
    return str(forge.token({**header, **changes}, payload, sig))


def _ec_private(signer: SigningKey) -> ec.EllipticCurvePrivateKey:
    private = signer.key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    return private


@pytest.mark.parametrize("purpose", ["default", "es"])
@pytest.mark.parametrize(
    "mutate",
    [
        lambda forge, t: t.rsplit(".", 1)[0] + ".",
        lambda forge, t: _flip_signature(t),
        lambda forge, t: _swap_payload(forge, t, sub="mallory@example.com"),
        lambda forge, t: _swap_payload(forge, t, exp=NOW + 10**6),
        lambda forge, t: _swap_header(forge, t, typ="AT+JWT"),
        lambda forge, t: _swap_header(forge, t, x5t="abc"),
    ],
    ids=["stripped", "bit-flipped", "payload-sub", "payload-exp", "header-typ", "header-x5t"],
)
def test_jwt02_tampered(
    controlled: Authorizer, mint: Any, forge: Any, purpose: str, mutate: Callable[..., str]
) -> None:
    assert controlled.decide(mutate(forge, mint(purpose=purpose))).reason == "bad_signature"


# -- JWT-03: RS256 → HS256 key confusion ----------------------------------------------------


def _public_bytes(ring: KeyRing, form: str) -> bytes:
    signer = ring.active()
    public = signer.key.public_key
    if form == "pem":
        return public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    if form == "der":
        return public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return json.dumps(signer.public_jwk()).encode()


@pytest.mark.parametrize("form", ["pem", "der", "jwk"])
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
def test_jwt03_rs_to_hs_confusion(
    controlled: Authorizer, ring: KeyRing, forge: Any, form: str, alg: str
) -> None:
    secret = _public_bytes(ring, form)
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    header = {"alg": alg, "kid": ring.active().kid, "typ": "at+jwt"}
    unsigned = f"{forge.b64json(header)}.{forge.b64json(_claims())}"
    token = f"{unsigned}.{forge.b64(hmac.new(secret, unsigned.encode(), digest).digest())}"
    assert controlled.decide(token).reason == "alg_not_allowed"


def test_jwt03_hs_algorithms_cannot_be_configured(
    make_config: Callable[..., AuthorizerConfig],
) -> None:
    for alg in ("HS256", "hs256", "none"):
        with pytest.raises(ValueError, match="never allowed"):
            make_config(algorithms=["RS256", alg])


# -- JWT-04 / JWT-05: keys and key URLs in the header ---------------------------------------


@pytest.fixture
def attacker() -> SigningKey:
    return SigningKey(generate_key("ES256", "attacker-key"), "ES256")


def _self_signed_x5c(attacker: SigningKey) -> list[str]:
    private = attacker.key.private_key
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=36500))
        .sign(private, hashes.SHA256())
    )
    return [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]


@pytest.mark.parametrize("kid", ["attacker-key", "es-main"], ids=["own-kid", "victim-kid"])
@pytest.mark.parametrize("member", ["jwk", "jku", "x5u", "x5c"])
def test_jwt04_jwt05_header_keys_are_never_used(
    controlled: Authorizer,
    mint: Any,
    idp: Any,
    attacker: SigningKey,
    member: str,
    kid: str,
) -> None:
    values: dict[str, Any] = {
        "jwk": attacker.public_jwk(),
        "jku": ATTACKER_URL,
        "x5u": "https://attacker.example/cert.pem",
        "x5c": _self_signed_x5c(attacker),
    }
    token = mint(key=attacker, header={"kid": kid, member: values[member]})
    decision = controlled.decide(token)
    assert not decision.allowed
    assert decision.reason == ("unknown_key" if kid == "attacker-key" else "bad_signature")
    assert all(r.url.host == "idp.example" for r in idp.requests)  # the canary: never fetched


# -- JWT-06 / JWT-07: kid injection ---------------------------------------------------------

HOSTILE_KIDS = [
    "../../dev/null",
    "/dev/null",
    "../../../../../../etc/passwd",
    "",
    "' OR '1'='1",
    "x'; DROP TABLE keys;--",
    "$(sleep 5)",
    "`id`",
    "| whoami",
    "es-main\x00",
    "https://attacker.example/jwks.json",
]


@pytest.mark.parametrize("kid", HOSTILE_KIDS)
def test_jwt06_jwt07_kid_injection(
    controlled: Authorizer, forge: Any, idp: Any, attacker: SigningKey, mint: Any, kid: str
) -> None:
    # HMAC with an empty or /dev/null key: never an allowed algorithm.
    empty = _hs256(forge, {"alg": "HS256", "kid": kid, "typ": "at+jwt"}, _claims(), b"")
    assert controlled.decide(empty).reason == "alg_not_allowed"
    # An asymmetric signature by a key not in the set: the kid is only ever a dict key.
    assert controlled.decide(mint(key=attacker, header={"kid": kid})).reason == "unknown_key"
    assert idp.jwks_fetches <= 2  # the initial fetch and at most one rate-limited refresh


# -- JWT-08 / JWT-09: ECDSA signature forms -------------------------------------------------


def _with_signature(forge: Any, token: str, signature: bytes) -> str:
    head, body, _ = token.split(".")
    return f"{head}.{body}.{forge.b64(signature)}"


def _rs(forge: Any, token: str) -> tuple[int, int]:
    sig = base64.urlsafe_b64decode(token.rsplit(".", 1)[1] + "==")
    return int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")


def _raw(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize(
    "signature",
    [
        lambda r, s: _raw(0, 0),
        lambda r, s: _raw(0, s),
        lambda r, s: _raw(r, 0),
        lambda r, s: _raw(P256_ORDER, s),
        lambda r, s: _raw(r, P256_ORDER),
        lambda r, s: _raw(P256_ORDER + 1, s),
        lambda r, s: encode_dss_signature(r, s),  # DER instead of R || S
        lambda r, s: _raw(r, s)[:63],
        lambda r, s: _raw(r, s) + b"\x00",
    ],
    ids=["r=s=0", "r=0", "s=0", "r=n", "s=n", "r=n+1", "der", "short", "long"],
)
def test_jwt08_jwt09_ecdsa_forms(
    controlled: Authorizer, mint: Any, forge: Any, signature: Callable[[int, int], bytes]
) -> None:
    token = mint(purpose="es")
    r, s = _rs(forge, token)
    assert controlled.decide(token).allowed
    assert controlled.decide(_with_signature(forge, token, signature(r, s))).reason == (
        "bad_signature"
    )


def test_jwt09_high_s_twin_is_the_same_signature(
    controlled: Authorizer, mint: Any, forge: Any
) -> None:
    """(r, n - s) is mathematically valid ECDSA: proof the order constant is right."""
    token = mint(purpose="es")
    r, s = _rs(forge, token)
    assert controlled.decide(_with_signature(forge, token, _raw(r, P256_ORDER - s))).allowed


def test_jwt09_der_roundtrip_of_a_real_signature_is_refused(
    controlled: Authorizer, ring: KeyRing, forge: Any
) -> None:
    signer = ring.active("es")
    header = {"alg": "ES256", "kid": signer.kid, "typ": "at+jwt"}
    unsigned = f"{forge.b64json(header)}.{forge.b64json(_claims())}"
    der = _ec_private(signer).sign(unsigned.encode(), ec.ECDSA(hashes.SHA256()))
    assert decode_dss_signature(der)  # a valid DER ECDSA signature over the input
    assert controlled.decide(f"{unsigned}.{forge.b64(der)}").reason == "bad_signature"


# -- JWT-10: HMAC with blank or dictionary secrets ------------------------------------------


@pytest.mark.parametrize("secret", [b"", b"secret", b"password", b"changeme", b"\x00" * 32])
def test_jwt10_weak_hmac(controlled: Authorizer, forge: Any, secret: bytes) -> None:
    token = _hs256(forge, {"alg": "HS256", "typ": "at+jwt"}, _claims(), secret)
    assert controlled.decide(token).reason == "alg_not_allowed"


# -- JWT-11: algorithm outside the list, or not the key's own ------------------------------


def test_jwt11_alg_outside_the_allow_list(
    controlled: Authorizer, ring: KeyRing, forge: Any
) -> None:
    signer = ring.active()  # RSA; PS256 is a fine algorithm but not configured here
    header = {"alg": "PS256", "kid": signer.kid, "typ": "at+jwt"}
    token = jws.serialize_compact(header, json.dumps(_claims()), signer.key, algorithms=["PS256"])
    assert controlled.decide(token).reason == "alg_not_allowed"
    es384 = SigningKey(generate_key("ES256"), "ES256")
    assert (
        controlled.decide(forge.token({"alg": "ES384", "kid": es384.kid}, _claims(), b"x" * 96))
    ).reason == "alg_not_allowed"


def test_jwt11_alg_different_from_the_jwk_alg(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    ring: KeyRing,
) -> None:
    """The published RSA key says ``alg: RS256``; a PS256 token under it is refused."""
    authorizer = make_authorizer(make_config(algorithms=["RS256", "PS256"]))
    signer = ring.active()
    assert ring.active().public_jwk()["alg"] == "RS256"
    assert authorizer.decide(ring.sign(_claims(), header={"typ": "at+jwt"})).allowed
    header = {"alg": "PS256", "kid": signer.kid, "typ": "at+jwt"}
    ps = jws.serialize_compact(header, json.dumps(_claims()), signer.key, algorithms=["PS256"])
    assert authorizer.decide(ps).reason == "unknown_key"


def test_jwt11_kty_must_fit_the_alg(controlled: Authorizer, ring: KeyRing, forge: Any) -> None:
    """An ES256 header naming the RSA key's kid finds no usable key."""
    header = {"alg": "ES256", "kid": ring.active().kid, "typ": "at+jwt"}
    assert controlled.decide(forge.token(header, _claims(), b"x" * 64)).reason == "unknown_key"


# -- JWT-12: time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": NOW - 3600}, "expired"),
        ({"exp": NOW - 61}, "expired"),
        ({"exp": None}, "malformed"),
        ({"exp": "1800000600"}, "malformed"),
        ({"exp": True}, "malformed"),
        ({"nbf": NOW + 3600}, "not_yet_valid"),
        ({"iat": NOW + 3600}, "not_yet_valid"),
    ],
)
def test_jwt12_time(
    controlled: Authorizer, mint: Any, changes: dict[str, Any], reason: str
) -> None:
    assert controlled.decide(mint(changes)).reason == reason


# -- JWT-13: issuer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "iss",
    [
        "https://idp.example/oauth2/other",
        "https://idp.example/oauth2/default/",
        "https://IDP.example/oauth2/default",
        "https://idp.example:443/oauth2/default",
        "http://idp.example/oauth2/default",
    ],
)
def test_jwt13_wrong_issuer(controlled: Authorizer, mint: Any, iss: str) -> None:
    assert controlled.decide(mint({"iss": iss})).reason == "wrong_issuer"


def test_jwt13_key_of_issuer_a_for_issuer_b(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    make_idp: Callable[..., Any],
    keypool: dict[str, Any],
    ring: KeyRing,
    forge: Any,
) -> None:
    """Authorizer B trusts only B's keys, whatever the token says about itself."""
    issuer_b = "https://b.example"
    ring_b = KeyRing([SigningKey(keypool["rs-other"], "RS256")])
    idp_b = make_idp(issuer_b, ring_b)
    authorizer_b = make_authorizer(
        make_config(discovery_url=f"{issuer_b}/.well-known/openid-configuration"), server=idp_b
    )
    claims_b = {**_claims(), "iss": issuer_b}
    assert authorizer_b.decide(ring_b.sign(claims_b, header={"typ": "at+jwt"})).allowed
    # Signed by issuer A's key, claiming issuer B: A's kid is not in B's set.
    assert authorizer_b.decide(ring.sign(claims_b, header={"typ": "at+jwt"})).reason == (
        "unknown_key"
    )
    # Signed by A's key under B's kid: the signature fails.
    forged = ring.sign(claims_b, header={"typ": "at+jwt", "kid": ring_b.active().kid})
    assert authorizer_b.decide(forged).reason == "bad_signature"
    # A genuine token of A, presented to B.
    assert authorizer_b.decide(ring.sign(_claims(), header={"typ": "at+jwt"})).reason == (
        "unknown_key"
    )


# -- JWT-14: audience -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aud", "reason"),
    [
        ("api://other", "wrong_audience"),
        (None, "wrong_audience"),
        (["api://other", "api://another"], "wrong_audience"),
        ([], "wrong_audience"),
        ("api://proctor/", "wrong_audience"),  # exact outside the entra profile
        ("API://proctor", "wrong_audience"),
        (["api://other", "api://proctor"], "ok"),
        (7, "malformed"),
        (["api://proctor", 7], "malformed"),
    ],
)
def test_jwt14_audience(controlled: Authorizer, mint: Any, aud: Any, reason: str) -> None:
    assert controlled.decide(mint({"aud": aud})).reason == reason


# -- JWT-15: ID token (or another typ) as an access token -----------------------------------


@pytest.mark.parametrize(
    ("changes", "header"),
    [
        ({}, {"typ": "JWT"}),
        ({}, {"typ": None}),
        ({}, {"typ": "application/jwt"}),
        ({}, {"typ": "id_token+jwt"}),
        ({"nonce": "n-0S6_WzA2Mj"}, {}),
        ({"at_hash": "77QmUPtjPfzWtF2AnpK9RQ"}, {}),
        ({"c_hash": "LDktKdoQak3Pk0cnXxCltA"}, {}),
        ({"token_use": "id"}, {}),
    ],
    ids=[
        "typ-JWT",
        "no-typ",
        "typ-application/jwt",
        "typ-other",
        "nonce",
        "at_hash",
        "c_hash",
        "token_use-id",
    ],
)
def test_jwt15_not_an_access_token(
    controlled: Authorizer, mint: Any, changes: dict[str, Any], header: dict[str, Any]
) -> None:
    assert controlled.decide(mint(changes, header=header)).reason == "wrong_token_kind"


def test_jwt15_kinds_are_mutually_exclusive(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    mint: Any,
) -> None:
    kinds = [
        {"kind": "access_token", "typ": ["at+jwt"]},
        {"kind": "id_token", "typ": ["JWT"]},
    ]
    authorizer = make_authorizer(
        make_config(token_kinds=kinds, allowed_audiences=["api://proctor", "client-1"])
    )
    id_claims = {"aud": "client-1", "client_id": None, "scope": None, "nonce": "abc"}
    id_token = mint(id_claims, header={"typ": "JWT"})
    access_token = mint()
    authorizer = make_authorizer(
        make_config(
            token_kinds=kinds, allowed_audiences=["api://proctor", "client-1"], allowed_scopes=[]
        )
    )
    assert authorizer.decide(id_token, "id_token").allowed
    assert authorizer.decide(access_token, "access_token").allowed
    assert authorizer.decide(id_token, "access_token").reason == "wrong_token_kind"
    assert authorizer.decide(access_token, "id_token").reason == "wrong_token_kind"
    # Same typ for both kinds: the claims still tell them apart (INB-KIND-002/003).
    same = [{"kind": "access_token", "typ": ["JWT"]}, {"kind": "id_token", "typ": ["JWT"]}]
    lenient = make_authorizer(
        make_config(
            token_kinds=same, allowed_audiences=["api://proctor", "client-1"], allowed_scopes=[]
        )
    )
    plain_access = mint(header={"typ": "JWT"})
    assert lenient.decide(plain_access).allowed
    assert lenient.decide(id_token, "id_token").allowed
    assert lenient.decide(id_token, "access_token").reason == "wrong_token_kind"
    assert lenient.decide(plain_access, "id_token").reason == "wrong_token_kind"


def test_jwt15_unconfigured_kind_is_refused_first(controlled: Authorizer) -> None:
    assert controlled.decide("garbage", "id_token").reason == "wrong_token_kind"


# -- JWT-16: encodings ----------------------------------------------------------------------


def _reencoded(forge: Any, token: str, fix: Callable[[str, str, str], str]) -> str:
    head, body, sig = token.split(".")
    return fix(head, body, sig)


ENCODINGS: dict[str, Callable[[str, str, str], str]] = {
    "padding": lambda h, p, s: f"{h}.{p}.{s}" + "=" * (-len(s) % 4 or 4),
    "padded-payload": lambda h, p, s: f"{h}.{p}{'=' * (-len(p) % 4 or 4)}.{s}",
    "standard-alphabet": lambda h, p, s: f"{h}.{p.replace('-', '+').replace('_', '/')}+.{s}",
    "space": lambda h, p, s: f"{h}. {p}.{s}",
    "newline": lambda h, p, s: f"{h}.{p}\n.{s}",
    "trailing-dot": lambda h, p, s: f"{h}.{p}.{s}.",
    "two-segments": lambda h, p, s: f"{h}.{p}",
    "five-segments-jwe": lambda h, p, s: f"{h}.{p}.{s}.{s}.{s}",
    "empty-header": lambda h, p, s: f".{p}.{s}",
    "empty-payload": lambda h, p, s: f"{h}..{s}",
    "length-1-mod-4": lambda h, p, s: f"{h}.{p}.{s}A" if len(s) % 4 == 0 else f"{h}.{p}.{s}AAA",
    "non-ascii": lambda h, p, s: f"{h}.{p}.{s}\u00e9",
    "json-serialization": lambda h, p, s: json.dumps(
        {"payload": p, "protected": h, "signature": s}
    ),
}


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_jwt16_bad_encodings(controlled: Authorizer, mint: Any, forge: Any, name: str) -> None:
    token = _reencoded(forge, mint(purpose="es"), ENCODINGS[name])
    assert controlled.decide(token).reason == "malformed"


def test_jwt16_non_canonical_base64(controlled: Authorizer, mint: Any) -> None:
    """A last character with non-zero unused bits decodes to the same bytes: refused."""
    head, body, sig = mint(purpose="es").split(".")  # 86 characters: 4 unused bits
    assert len(sig) % 4 == 2
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = sig[:-1] + alphabet[alphabet.index(sig[-1]) | 1]
    assert controlled.decide(f"{head}.{body}.{twin}").reason == "malformed"


def _signed_raw(ring: KeyRing, forge: Any, header_json: str, payload_json: str) -> str:
    """Sign exact JSON texts (so duplicate members survive)."""
    signer = ring.active("es")
    unsigned = f"{forge.b64(header_json.encode())}.{forge.b64(payload_json.encode())}"
    der = _ec_private(signer).sign(unsigned.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{unsigned}.{forge.b64(_raw(r, s))}"


def _header_json(ring: KeyRing, extra: str = "") -> str:
    return f'{{"alg":"ES256","kid":"{ring.active("es").kid}","typ":"at+jwt"{extra}}}'


def _payload_json(extra: str = "") -> str:
    return json.dumps(_claims())[:-1] + extra + "}"


@pytest.mark.parametrize(
    ("header_extra", "payload_extra", "reason"),
    [
        ("", "", "ok"),  # the control: exact JSON texts, well signed
        ("", ',"sub":"mallory@example.com"', "malformed"),  # duplicate claim
        ("", ',"groups":{"a":1,"a":2}', "malformed"),  # duplicate in a nested object
        (',"alg":"ES256"', "", "malformed"),  # duplicate header member
        (',"crit":["exp"]', "", "malformed"),
        (',"crit":["b64"],"b64":false', "", "malformed"),
        (',"cty":"JWT"', "", "malformed"),
        (',"cty":"application/jwt"', "", "malformed"),
        ("", ',"x":NaN', "malformed"),
        ("", ',"x":Infinity', "malformed"),
    ],
    ids=[
        "control",
        "duplicate-claim",
        "duplicate-nested",
        "duplicate-header",
        "crit",
        "crit-b64",
        "cty-JWT",
        "cty-application/jwt",
        "NaN",
        "Infinity",
    ],
)
def test_jwt16_json(
    controlled: Authorizer,
    ring: KeyRing,
    forge: Any,
    header_extra: str,
    payload_extra: str,
    reason: str,
) -> None:
    token = _signed_raw(ring, forge, _header_json(ring, header_extra), _payload_json(payload_extra))
    assert controlled.decide(token).reason == reason


@pytest.mark.parametrize(
    "payload_json",
    ['["not","an","object"]', '"string"', "null", '{"a":1} trailing', "\xff\xfe"],
)
def test_jwt16_payload_not_a_json_object(
    controlled: Authorizer, ring: KeyRing, forge: Any, payload_json: str
) -> None:
    header = _header_json(ring)
    unsigned = f"{forge.b64(header.encode())}.{forge.b64(payload_json.encode('latin-1'))}"
    assert controlled.decide(f"{unsigned}.{forge.b64(b'x' * 64)}").reason == "malformed"


# -- JWT-17: size and depth -----------------------------------------------------------------


def _token_of_length(ring: KeyRing, target: int) -> str:
    start = (target - 400) * 3 // 4 - 300
    for extra in range(4):
        for size in range(start, target):
            claims = {**_claims(), "pad": "p" * size}
            token = ring.sign(claims, purpose="es", header={"typ": "at+jwt", "x5t": "y" * extra})
            if len(token) == target:
                return token
            if len(token) > target:
                break
    raise AssertionError("no token of that length")


def test_jwt17_size_limit(controlled: Authorizer, ring: KeyRing, idp: Any) -> None:
    fetches = len(idp.requests)
    assert controlled.decide(_token_of_length(ring, 65_536)).allowed  # the limit itself
    assert controlled.decide(_token_of_length(ring, 65_537)).reason == "malformed"
    assert controlled.decide("a" * 10_000_000).reason == "malformed"
    assert len(idp.requests) == fetches


def test_jwt17_deeply_nested_claims(controlled: Authorizer, ring: KeyRing) -> None:
    deep = _claims()
    payload = json.dumps(deep)[:-1] + ',"deep":' + "[" * 20_000 + "]" * 20_000 + "}"
    header = _header_json(ring)
    forge_like = type(
        "F", (), {"b64": staticmethod(lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode())}
    )
    token = _signed_raw(ring, forge_like, header, payload)
    assert len(token) < 65_536
    assert controlled.decide(token).reason == "malformed"
