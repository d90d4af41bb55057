"""Client authentication at the OAuth endpoints (TX-CAUTH-001..003, WID-PKJ-001..005) and
the OA-07 client-assertion negatives, each against a positive control."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any
from urllib.parse import quote_plus

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey

from proctor.reference.client_auth import JWT_BEARER_ASSERTION, WorkloadBearerVerifier
from proctor.reference.grants import OAuthResult

from .conftest import ISSUER, Service, b64, basic, build_service, sign

CC = [("grant_type", "client_credentials")]


def ok(result: OAuthResult) -> dict[str, Any]:
    assert result.status == 200, result.body
    assert result.body is not None
    return result.body


def invalid_client(result: OAuthResult) -> None:
    """401 invalid_client with the Basic challenge (ERR-OAUTH-002) and the one uniform
    description (TX-CAUTH-001, WID-AUTH-002)."""
    assert result.status == 401, result.body
    assert result.body == {
        "error": "invalid_client",
        "error_description": "client_auth_failed: client authentication failed",
    }
    assert result.headers["WWW-Authenticate"] == 'Basic realm="proctor"'
    assert result.headers["Cache-Control"] == "no-store"
    assert result.audit[0].workload is None
    assert result.audit[0].reason == "invalid_client"


# -- secrets ----------------------------------------------------------------------------------


def test_client_secret_basic_decodes_form_urlencoded_id_and_secret() -> None:
    """RFC 6749 §2.3.1: id and secret are form-urlencoded before base64."""
    svc = build_service()
    odd_secret = "s3cr:t+with %special/chars&=é"
    svc.add_workload("odd", client_id="wl:odd id+1", secret=odd_secret)
    encoded = basic(quote_plus("wl:odd id+1"), quote_plus(odd_secret))
    body = ok(svc.endpoint.handle(CC, encoded))
    _, claims = _decode(body["access_token"])
    assert claims["client_id"] == "wl:odd id+1"
    # The raw, unencoded form is a different credential: "+" decodes to a space.
    raw = basic("wl:odd id+1", odd_secret)
    invalid_client(svc.endpoint.handle(CC, raw))


def test_client_secret_post(svc: Service) -> None:
    pairs = [*CC, ("client_id", "wl_orchestrator"), ("client_secret", svc.secrets["orchestrator"])]
    assert ok(svc.endpoint.handle(pairs))
    wrong = [*CC, ("client_id", "wl_orchestrator"), ("client_secret", "nope")]
    invalid_client(svc.endpoint.handle(wrong))


def test_unknown_client_and_wrong_secret_get_the_same_answer(svc: Service) -> None:
    unknown = svc.endpoint.handle(CC, basic("wl_nobody", svc.secrets["orchestrator"]))
    wrong = svc.endpoint.handle(CC, basic("wl_orchestrator", "not-the-secret"))
    invalid_client(unknown)
    invalid_client(wrong)
    assert (unknown.status, unknown.body, unknown.headers) == (
        wrong.status,
        wrong.body,
        wrong.headers,
    )


def test_a_public_client_is_refused(svc: Service) -> None:
    """TX-CAUTH-001: a client_id alone authenticates nothing."""
    invalid_client(svc.endpoint.handle([*CC, ("client_id", "wl_orchestrator")]))
    invalid_client(svc.endpoint.handle(CC))


def test_a_disabled_workload_is_refused(svc: Service) -> None:
    from dataclasses import replace

    assert ok(svc.endpoint.handle(CC, svc.basic("orchestrator")))
    svc.directory.put(replace(svc.workloads["orchestrator"], disabled=True))
    invalid_client(svc.endpoint.handle(CC, svc.basic("orchestrator")))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer some-admin-credential",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":empty-id").decode(),
        "Digest username=x",
    ],
)
def test_malformed_or_foreign_authorization_headers_are_invalid_client(
    svc: Service, header: str
) -> None:
    invalid_client(svc.endpoint.handle(CC, header))


def test_a_client_id_parameter_that_differs_from_basic_is_invalid_client(svc: Service) -> None:
    """TX-CAUTH-003."""
    pairs = [*CC, ("client_id", "wl_subagent")]
    invalid_client(svc.endpoint.handle(pairs, svc.basic("orchestrator")))
    same = [*CC, ("client_id", "wl_orchestrator")]
    assert ok(svc.endpoint.handle(same, svc.basic("orchestrator")))


@pytest.mark.parametrize(
    "extra",
    [
        [("client_secret", "x")],
        [("client_assertion", "a.b.c")],
        [("client_assertion_type", JWT_BEARER_ASSERTION)],
    ],
)
def test_two_authentication_methods_at_once_are_invalid_request(
    svc: Service, extra: list[tuple[str, str]]
) -> None:
    """TX-CAUTH-003: Basic plus a body credential."""
    result = svc.endpoint.handle([*CC, *extra], svc.basic("orchestrator"))
    assert result.status == 400
    assert result.body is not None
    assert result.body["error"] == "invalid_request"


def test_a_secret_and_an_assertion_in_the_body_are_invalid_request(svc: Service) -> None:
    pairs = [
        *CC,
        ("client_id", "wl_orchestrator"),
        ("client_secret", svc.secrets["orchestrator"]),
        ("client_assertion_type", JWT_BEARER_ASSERTION),
        ("client_assertion", "a.b.c"),
    ]
    result = svc.endpoint.handle(pairs)
    assert result.body is not None
    assert result.body["error"] == "invalid_request"


# -- private_key_jwt --------------------------------------------------------------------------


class Signer:
    """A workload's private_key_jwt key and an assertion factory."""

    def __init__(self, svc: Service, name: str = "pkj", alg: str = "ES256") -> None:
        native = (
            ec.generate_private_key(ec.SECP256R1())
            if alg == "ES256"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
        self.key = ECKey.import_key(native) if alg == "ES256" else RSAKey.import_key(native)  # type: ignore[arg-type]
        self.alg = alg
        self.kid = f"{name}-key"
        self.svc = svc
        public = {**self.key.as_dict(private=False), "kid": self.kid, "use": "sig", "alg": alg}
        self.workload = svc.add_workload(name, method="private_key_jwt", jwks={"keys": [public]})

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(self.svc.clock.now())
        claims: dict[str, Any] = {
            "iss": self.workload.client_id,
            "sub": self.workload.client_id,
            "aud": ISSUER,
            "jti": secrets.token_hex(8),
            "iat": now,
            "exp": now + 120,
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def assertion(self, header: dict[str, Any] | None = None, **changes: Any) -> str:
        head = {"alg": self.alg, "kid": self.kid, "typ": "JWT", **(header or {})}
        return sign(head, self.claims(**changes), self.key)  # type: ignore[arg-type]

    def request(self, assertion: str, *extra: tuple[str, str]) -> OAuthResult:
        pairs = [
            *CC,
            ("client_assertion_type", JWT_BEARER_ASSERTION),
            ("client_assertion", assertion),
            *extra,
        ]
        return self.svc.endpoint.handle(pairs)


@pytest.fixture
def signer(svc: Service) -> Signer:
    return Signer(svc)


def test_private_key_jwt_positive_control(signer: Signer) -> None:
    body = ok(signer.request(signer.assertion()))
    _, claims = _decode(body["access_token"])
    assert claims["sub"] == signer.workload.client_id
    assert ok(signer.request(signer.assertion(), ("client_id", signer.workload.client_id)))


def test_private_key_jwt_with_rs256(svc: Service) -> None:
    rs = Signer(svc, "pkj-rsa", alg="RS256")
    assert ok(rs.request(rs.assertion()))


def test_private_key_jwt_without_kid_uses_the_only_key(signer: Signer) -> None:
    head, claims = {"alg": "ES256"}, signer.claims()
    assert ok(signer.request(sign(head, claims, signer.key)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("label", "changes"),
    [
        ("wrong aud", {"aud": "https://other-as.example"}),
        ("aud array", {"aud": [ISSUER]}),
        ("aud array with more", {"aud": [ISSUER, "https://other-as.example"]}),
        ("token endpoint aud", {"aud": f"{ISSUER}/oauth2/token"}),
        ("no aud", {"aud": None}),
        ("iss differs", {"iss": "wl_orchestrator"}),
        ("no exp", {"exp": None}),
        ("string exp", {"exp": "9999999999"}),
        ("nbf in the future", {"nbf": 1_767_225_600 + 3600}),
        ("iat in the future", {"iat": 1_767_225_600 + 3600}),
        ("no jti", {"jti": None}),
        ("empty jti", {"jti": ""}),
        ("long jti", {"jti": "j" * 257}),
    ],
)
def test_oa07_assertion_claims(signer: Signer, label: str, changes: dict[str, Any]) -> None:
    """WID-PKJ-001 to WID-PKJ-004 (OA-07)."""
    assert ok(signer.request(signer.assertion()))
    invalid_client(signer.request(signer.assertion(**changes)))


def test_oa07_expired_assertion(signer: Signer) -> None:
    now = int(signer.svc.clock.now())
    invalid_client(signer.request(signer.assertion(iat=now - 400, exp=now - 31)))
    # Within the leeway (30 s) it still counts.
    assert ok(signer.request(signer.assertion(iat=now - 400, exp=now - 29)))


def test_oa07_long_lived_assertion(signer: Signer) -> None:
    now = int(signer.svc.clock.now())
    invalid_client(signer.request(signer.assertion(exp=now + 300 + 31)))
    assert ok(signer.request(signer.assertion(exp=now + 300 + 30)))


def test_oa07_replayed_jti(signer: Signer) -> None:
    """WID-PKJ-004: single use until the assertion expires."""
    assertion = signer.assertion(jti="once")
    assert ok(signer.request(assertion))
    invalid_client(signer.request(assertion))
    invalid_client(signer.request(signer.assertion(jti="once")))


def test_oa07_a_failed_assertion_does_not_burn_its_jti(signer: Signer) -> None:
    """The jti is consumed only after the signature verified."""
    header, payload, signature = signer.assertion(jti="keep").split(".")
    invalid_client(signer.request(f"{header}.{payload}.{signature[::-1]}"))
    assert ok(signer.request(signer.assertion(jti="keep")))


def test_oa07_hs256_assertion(signer: Signer) -> None:
    """WID-PKJ-005: no HMAC, not even keyed with the public key."""
    public_bytes = json.dumps(signer.key.as_dict(private=False)).encode()
    header = b64(json.dumps({"alg": "HS256", "kid": signer.kid}).encode())
    payload = b64(json.dumps(signer.claims()).encode())
    mac = hmac.new(public_bytes, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    invalid_client(signer.request(f"{header}.{payload}.{b64(mac)}"))


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_oa07_alg_none_assertion(signer: Signer, alg: str) -> None:
    header = b64(json.dumps({"alg": alg, "kid": signer.kid}).encode())
    payload = b64(json.dumps(signer.claims()).encode())
    invalid_client(signer.request(f"{header}.{payload}."))


def test_oa07_assertion_signed_by_an_unregistered_key(signer: Signer) -> None:
    stranger = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
    forged = sign({"alg": "ES256", "kid": signer.kid}, signer.claims(), stranger)
    invalid_client(signer.request(forged))
    unknown_kid = signer.assertion(header={"kid": "another-kid"})
    invalid_client(signer.request(unknown_kid))


def test_oa07_algorithm_outside_the_allow_list(signer: Signer) -> None:
    """ES384 is a fine algorithm, but not one the metadata lists (AS-META-003)."""
    p384 = ECKey.import_key(ec.generate_private_key(ec.SECP384R1()))
    invalid_client(signer.request(sign({"alg": "ES384", "kid": signer.kid}, signer.claims(), p384)))


def test_an_access_token_is_not_a_client_assertion(signer: Signer) -> None:
    """RFC 8725 §3.12: explicit typing keeps token kinds apart."""
    invalid_client(signer.request(signer.assertion(header={"typ": "at+jwt"})))


def test_a_wrong_assertion_type_is_invalid_client(signer: Signer) -> None:
    pairs = [
        *CC,
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
        ("client_assertion", signer.assertion()),
    ]
    invalid_client(signer.svc.endpoint.handle(pairs))
    invalid_client(signer.svc.endpoint.handle([*CC, ("client_assertion", signer.assertion())]))


def test_a_client_id_parameter_that_differs_from_the_assertion(signer: Signer) -> None:
    invalid_client(signer.request(signer.assertion(), ("client_id", "wl_orchestrator")))


def test_methods_are_not_interchangeable(svc: Service, signer: Signer) -> None:
    """TX-CAUTH-002: a private_key_jwt workload presents no secret, a secret workload no
    assertion."""
    as_secret = [*CC, ("client_id", signer.workload.client_id), ("client_secret", "whatever")]
    invalid_client(svc.endpoint.handle(as_secret))
    # An assertion for a secret workload, signed with a key the workload never registered.
    claims = signer.claims(iss="wl_orchestrator", sub="wl_orchestrator")
    assertion = sign({"alg": "ES256", "kid": signer.kid}, claims, signer.key)  # type: ignore[arg-type]
    invalid_client(signer.request(assertion))


def test_assertions_work_at_introspection_and_revocation(signer: Signer) -> None:
    svc = signer.svc
    token = ok(signer.request(signer.assertion()))["access_token"]
    auth = [("client_assertion_type", JWT_BEARER_ASSERTION)]
    result = svc.introspection.handle(
        [("token", token), *auth, ("client_assertion", signer.assertion())]
    )
    assert result.body is not None
    assert result.body["active"] is True
    result = svc.revocation.handle(
        [("token", token), *auth, ("client_assertion", signer.assertion())]
    )
    assert result.status == 200
    bad = svc.revocation.handle([("token", token), *auth, ("client_assertion", "x.y.z")])
    invalid_client(bad)


# -- the data plane's bearer check --------------------------------------------------------------


def test_the_data_plane_accepts_only_a_workloads_own_token_for_the_service(svc: Service) -> None:
    """WID-AUTH-001 via :class:`WorkloadBearerVerifier`."""
    verify = WorkloadBearerVerifier(svc.tokens)
    own = svc.cc_token("orchestrator")
    assert verify(own) == "wl_orchestrator"
    downstream = svc.cc_token("orchestrator", ("audience", "wl_subagent"))
    assert verify(downstream) is None
    delegated = ok(svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"]))
    assert verify(delegated["access_token"]) is None
    assert verify("wat_opaque-workload-access-token") is None
    assert verify(svc.user_token()) is None
    assert svc.revocation.handle([("token", own)], svc.basic("orchestrator")).status == 200
    assert verify(own) is None


def _decode(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    from .conftest import decode

    return decode(token)
