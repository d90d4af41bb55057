"""Inbound authorization (spec 02): ``POST /v1/decisions`` on the kit's mock IdPs' tokens.

The kit provisions one authorizer per IdP scenario (:mod:`~proctor.conformance.provisioning`)
and asks the target for decisions on tokens the emulators mint, good and bad:

- valid tokens of every scenario are allowed with the identity spec 02 prescribes, and
  each vendor's quirks are honoured (Okta ``scp`` arrays and ``cid``, Entra ID v1/v2 and
  issuer templates, Cognito tokens without ``aud``);
- the JWT attack catalog (``JWT-01`` … ``JWT-17``), each its own check aimed at the
  primary scenario, each bracketed by a positive control (a valid token allowed before
  and after);
- a hypothesis property over mutations of a valid token: whatever breaks a configured
  rule is denied with the reason of the first failing check (Table 2.2), never a 5xx;
- key rotation at the IdP, bounded key-set fetches for unknown ``kid`` values, and an IdP
  outage survived from the cache.

Every token the kit sends is recorded as evidence with its value redacted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Final

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proctor.conformance import forge
from proctor.conformance.canary import canary
from proctor.conformance.checks import check
from proctor.conformance.config import Profile
from proctor.conformance.controls import ControlFactory, PositiveControl
from proctor.conformance.error_shape import error_shape
from proctor.conformance.errors import ConformanceFailure
from proctor.conformance.identity import expected_identity
from proctor.conformance.native import (
    DENY_REASONS,
    decide,
    expect_allow,
    expect_deny,
    expect_problem,
    is_allow,
    json_object,
    refused,
)
from proctor.conformance.provisioning import SCENARIOS, AuthorizerCase, Provisioning
from proctor.conformance.target import Target

NEEDS: Final = ["control_plane", "inbound_authorization", "workload_identity"]
PROFILES: Final[list[Profile]] = ["proctor"]
#: INB-PARSE-001: a token longer than this is malformed.
MAX_TOKEN: Final = 65_536
#: The scenarios whose emulator has a user the group rule excludes.
RULE_SCENARIOS: Final = ("okta", "entra-v2", "cognito")
#: Generous bound on answering an oversized token (measured and kept as evidence).
LATENCY_BOUND: Final = 2.0


def _case(provisioning: Provisioning, scenario: str) -> AuthorizerCase:
    case = provisioning.cases.get(scenario)
    if case is None:
        pytest.skip(f"mock IdP scenario {scenario} is not available (no such emulator)")
    return case


def _control(
    positive_control: ControlFactory,
    target: Target,
    provisioning: Provisioning,
    case: AuthorizerCase | None = None,
    authorizer: str | None = None,
) -> PositiveControl:
    """A valid token of ``case`` (default: the primary scenario) is allowed."""
    case = case or provisioning.primary
    token = case.mint().token
    workload = provisioning.workloads["main"]
    name = authorizer or case.name
    return positive_control(
        f"a valid {case.key} token is allowed by {name}",
        lambda: decide(target, workload, name, token),
        expect=is_allow,
    )


def _decide(
    target: Target, provisioning: Provisioning, token: str, authorizer: str | None = None
) -> httpx.Response:
    name = authorizer or provisioning.primary.name
    return decide(target, provisioning.workloads["main"], name, token)


#: Table 2.4: the default ``typ`` values of access tokens per profile (``None``: absent).
_DEFAULT_TYPS: Final[dict[str, list[str | None]]] = {
    "generic": ["at+jwt"],
    "okta": [None, "application/okta-internal-at+jwt"],
    "entra": ["JWT"],
    "cognito": [None],
}


def _access_typs(case: AuthorizerCase) -> set[str]:
    """The ``typ`` strings the case's authorizer accepts for access tokens (normalised)."""
    kinds = case.body.get("token_kinds")
    typs = (
        [t for k in kinds if k.get("kind") == "access_token" for t in k.get("typ") or []]
        if kinds
        else _DEFAULT_TYPS.get(case.profile, [])
    )
    return {str(t).lower().removeprefix("application/") for t in typs if t is not None}


def _jwk(case: AuthorizerCase) -> dict[str, Any]:
    """The published JWK the case's tokens are signed with."""
    for key in case.idp.jwks(case.server)["keys"]:
        if key.get("kid") == case.kid:
            return dict(key)
    raise ConformanceFailure(f"the mock IdP does not publish key {case.kid}")


# -- valid tokens and vendor quirks ------------------------------------------------------


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@check(
    "INB-DEC-004",
    "INB-USER-001",
    "INB-CLIENT-001",
    "INB-SCOPE-001",
    "INB-DISC-001",
    "INB-DISC-002",
    "INB-ISS-001",
    needs=NEEDS,
    profiles=PROFILES,
)
def test_valid_tokens_are_allowed_with_the_normalised_identity(
    proctor_target: Target, provisioning: Provisioning, scenario: str
) -> None:
    """A valid token of each IdP scenario is allowed with the identity spec 02 prescribes.

    ``user_key`` per profile (Okta ``uid``, Entra ``{tid}/{oid}``, else ``sub``), the
    client (``client_id``/``azp``/``appid``/``cid``), the scopes (``scp`` array or string
    and ``scope``) and the verified claims unchanged (INB-DEC-004).
    """
    case = _case(provisioning, scenario)
    for request in [case.valid, *case.others]:
        minted = case.mint(request)
        identity = expect_allow(
            _decide(proctor_target, provisioning, minted.token, case.name),
            f"a valid {scenario} token",
        )
        expected = expected_identity(minted.claims, case.profile)
        wrong = sorted(k for k in expected if identity.get(k) != expected[k])
        if wrong:
            raise ConformanceFailure(
                f"the normalised identity of a {scenario} token is wrong in {', '.join(wrong)}",
                expected=json.dumps({k: expected[k] for k in wrong})[:400],
                observed=json.dumps({k: identity.get(k) for k in wrong})[:400],
            )


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s in RULE_SCENARIOS])
@check("INB-RULE-001", shape=("INB-RULE-001", "INB-DEC-005"), needs=NEEDS, profiles=PROFILES)
def test_a_custom_claim_rule_refuses_other_users(
    proctor_target: Target,
    provisioning: Provisioning,
    positive_control: ControlFactory,
    scenario: str,
) -> None:
    """A user the authorizer's claim rule excludes is denied ``claim_rule_failed:<claim>``."""
    case = _case(provisioning, scenario)
    if case.outsider is None or case.rule_claim is None:
        pytest.skip(f"the {scenario} emulator has no user the group rule excludes")
    control = _control(positive_control, proctor_target, provisioning, case)
    with control.bracket():
        token = case.mint(case.outsider).token
        expect_deny(
            _decide(proctor_target, provisioning, token, case.name),
            f"claim_rule_failed:{case.rule_claim}",
            "a user outside the configured group",
        )


@check(
    "INB-KIND-002",
    "INB-SCOPE-001",
    "INB-USER-001",
    shape=("INB-KIND-002", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_okta_access_tokens_need_cid(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Okta profile: an access token without ``cid`` is not an access token (INB-KIND-002).

    (The ``scp`` array, ``cid`` client and ``uid`` user key of valid Okta tokens are
    checked by the identity check.)
    """
    case = _case(provisioning, "okta")
    with _control(positive_control, proctor_target, provisioning, case).bracket():
        token = case.mint(claims={"cid": None}).token
        expect_deny(
            _decide(proctor_target, provisioning, token, case.name),
            "wrong_token_kind",
            "an Okta access token without cid",
        )


@check(
    "INB-ENTRA-003",
    "INB-ISS-001",
    shape=("INB-ISS-001", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_entra_v1_and_v2_issuers_stay_apart(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Entra ID: v1.0 tokens need the v1.0 authorizer and v2.0 tokens the v2.0 one.

    The v1.0 authorizer lists the App ID URI with a trailing ``/`` the token lacks (or the
    reverse); the valid-token check shows it is accepted. Issuers are never relaxed:
    each version's token is ``wrong_issuer`` at the other's authorizer.
    """
    v1, v2 = _case(provisioning, "entra-v1"), _case(provisioning, "entra-v2")
    with _control(positive_control, proctor_target, provisioning, v2).bracket():
        expect_deny(
            _decide(proctor_target, provisioning, v1.mint().token, v2.name),
            "wrong_issuer",
            "a v1.0 token at the v2.0 authorizer",
        )
        expect_deny(
            _decide(proctor_target, provisioning, v2.mint().token, v1.name),
            "wrong_issuer",
            "a v2.0 token at the v1.0 authorizer",
        )


@check(
    "INB-ENTRA-001",
    "INB-ENTRA-002",
    shape=("INB-ENTRA-001", "INB-ENTRA-002", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_entra_tenant_templates_need_a_guid_tid(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Entra ID multi-tenant: ``{tenantid}`` is replaced by the token's ``tid``, which must
    be a GUID, and a key's own ``issuer`` must then match the token's ``iss``.

    Valid tokens of two tenants are allowed (the identity check); here a token whose
    ``tid`` is not a GUID, and one whose ``tid`` names another tenant than its ``iss``,
    are ``wrong_issuer``.
    """
    case = _case(provisioning, "entra-multi")
    with _control(positive_control, proctor_target, provisioning, case).bracket():
        for tid, what in (
            ("not-a-guid", "a tid that is not a GUID"),
            ("00000000-0000-4000-8000-000000000000", "a tid naming another tenant than iss"),
        ):
            token = case.mint(claims={"tid": tid}).token
            expect_deny(
                _decide(proctor_target, provisioning, token, case.name), "wrong_issuer", what
            )


@check(
    "INB-COG-001",
    "INB-KIND-002",
    shape=("INB-COG-001", "INB-KIND-002", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_cognito_checks_the_client_and_token_use_instead_of_aud(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Cognito: access tokens carry no ``aud``; ``client_id`` must be allowed and
    ``token_use`` must be ``access``."""
    case = _case(provisioning, "cognito")
    with _control(positive_control, proctor_target, provisioning, case).bracket():
        for claims, reason, what in (
            ({"client_id": "0another0cognito0client"}, "client_not_allowed", "another client"),
            ({"token_use": None}, "wrong_token_kind", "an access token without token_use"),
            ({"token_use": "id"}, "wrong_token_kind", "token_use id as an access token"),
        ):
            token = case.mint(claims=claims).token
            expect_deny(_decide(proctor_target, provisioning, token, case.name), reason, what)


# -- the JWT attack catalog --------------------------------------------------------------


@check(
    "INB-ALG-002",
    "SEC-JOSE-001",
    shape=("INB-ALG-002", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-01",
)
def test_alg_none_is_refused(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """``alg: none`` in any letter case, with an empty or the original signature, is
    ``alg_not_allowed`` (RFC 8725 §3.2)."""
    case = provisioning.primary
    with _control(positive_control, proctor_target, provisioning).bracket():
        header, claims, signature = forge.split(case.mint().token)
        for alg in ("none", "None", "NONE", "nOnE"):
            for tail in (b"", signature):
                token = forge.assemble({**header, "alg": alg}, claims, tail)
                expect_deny(
                    _decide(proctor_target, provisioning, token),
                    "alg_not_allowed",
                    f"alg {alg!r} with {'an empty' if not tail else 'the original'} signature",
                )
        preset = case.mint(presets=["alg_none"]).token
        expect_deny(_decide(proctor_target, provisioning, preset), "alg_not_allowed")


@check(
    "INB-SIG-001",
    "INB-ORDER-002",
    shape=("INB-SIG-001", "INB-ORDER-002", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-02",
)
def test_broken_signatures_are_refused(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """A stripped, bit-flipped or truncated signature, or a header or payload changed after
    signing, is ``bad_signature`` whatever the claims say (RFC 7515 §5.2)."""
    case = provisioning.primary
    with _control(positive_control, proctor_target, provisioning).bracket():
        token = case.mint().token
        header, claims, signature = forge.split(token)
        head, body, _ = token.split(".")
        flipped = bytearray(signature)
        flipped[len(flipped) // 2] ^= 0x01
        forged = {
            "a stripped signature": f"{head}.{body}.",
            "a flipped signature bit": f"{head}.{body}.{forge.b64(bytes(flipped))}",
            "a truncated signature": f"{head}.{body}.{forge.b64(signature[:-1])}",
            "a payload changed after signing": forge.assemble(
                header, {**claims, "sub": "mallory@example.com"}, signature
            ),
            "a header changed after signing": forge.assemble(
                {**header, "x-forged": True}, claims, signature
            ),
            "the mock IdP's bad_signature preset": case.mint(presets=["bad_signature"]).token,
        }
        for what, forgery in forged.items():
            expect_deny(_decide(proctor_target, provisioning, forgery), "bad_signature", what)


@check(
    "INB-ALG-001",
    "SEC-JOSE-001",
    shape=("INB-ALG-001", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-03",
)
def test_rs256_to_hs256_key_confusion_is_refused(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """HS256 keyed with the IdP's published public key (PEM, DER or JWK bytes) is
    ``alg_not_allowed``: HMAC algorithms are never configured (CVE-2016-10555)."""
    case = provisioning.primary
    jwk = _jwk(case)
    with _control(positive_control, proctor_target, provisioning).bracket():
        header, claims, _ = forge.split(case.mint().token)
        secrets = {
            "PEM": forge.public_pem(jwk),
            "DER": forge.public_der(jwk),
            "JWK JSON": json.dumps(jwk).encode(),
        }
        for form, secret in secrets.items():
            token = forge.hmac_token(header, claims, secret)
            expect_deny(
                _decide(proctor_target, provisioning, token),
                "alg_not_allowed",
                f"HS256 keyed with the public key as {form}",
            )
        preset = case.mint(presets=["hs256_public_key"]).token
        expect_deny(_decide(proctor_target, provisioning, preset), "alg_not_allowed")


@check(
    "INB-KEY-002",
    "SEC-JOSE-001",
    shape=("INB-KEY-002", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-04",
)
def test_an_embedded_jwk_is_not_trusted(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """A token signed by the attacker's key and carrying it in ``jwk`` is refused
    (``unknown_key`` or ``bad_signature``, CVE-2018-0114)."""
    case = provisioning.primary
    attacker = forge.attacker_rsa_key()
    public = attacker.as_dict(private=False)
    with _control(positive_control, proctor_target, provisioning).bracket():
        header, claims, _ = forge.split(case.mint().token)
        for kid in (case.kid, str(public["kid"]), None):
            forged_header = {**header, "alg": "RS256", "jwk": public}
            if kid is None:
                forged_header.pop("kid", None)
            else:
                forged_header["kid"] = kid
            token = forge.sign(attacker, forged_header, claims)
            expect_deny(
                _decide(proctor_target, provisioning, token),
                {"unknown_key", "bad_signature"},
                f"an attacker-signed token with an embedded jwk (kid {kid!r})",
            )


@check(
    "INB-KEY-001",
    "INB-KEY-002",
    "SEC-JOSE-001",
    shape=("INB-KEY-002", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-05",
)
def test_jku_and_x5u_are_never_fetched(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """``jku`` and ``x5u`` pointing at the kit's loopback canary are never fetched, and a
    self-signed ``x5c`` is not trusted (RFC 8725 §3.10).

    The canary serves the attacker's JWK Set, so a service that fetched it would also
    accept the forgery. (A remote target cannot reach the loopback canary; against one,
    the check still shows the forgery is refused.)
    """
    case = provisioning.primary
    attacker = forge.attacker_rsa_key()
    public = attacker.as_dict(private=False)
    with (
        canary({"keys": [public]}) as trap,
        _control(positive_control, proctor_target, provisioning).bracket(),
    ):
        header, claims, _ = forge.split(case.mint().token)
        variants: dict[str, dict[str, Any]] = {
            "jku": {"jku": f"{trap.url}/jwks.json"},
            "x5u": {"x5u": f"{trap.url}/cert.pem"},
            "x5c": {"x5c": [forge.self_signed_x5c(attacker)]},
        }
        for what, members in variants.items():
            for kid in (str(public["kid"]), case.kid):
                forged = forge.sign(attacker, {**header, "kid": kid, **members}, claims)
                expect_deny(
                    _decide(proctor_target, provisioning, forged),
                    {"unknown_key", "bad_signature"},
                    f"an attacker-signed token with {what} (kid {kid!r})",
                )
        # The IdP itself signs a token that names the canary: still never fetched.
        signed = case.mint(header={"jku": f"{trap.url}/idp-signed.json"}).token
        _decide(proctor_target, provisioning, signed)
        if trap.hits:
            raise ConformanceFailure(
                "the target fetched a URL taken from a token (INB-KEY-001)",
                observed=f"canary requests: {', '.join(trap.hits)}",
            )


_TRAVERSALS: Final = ("../../../../../../dev/null", "/dev/null", "..\\..\\..\\windows\\win.ini")


@check(
    "INB-KEY-003",
    shape=("INB-KEY-003", "INB-ALG-001", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-06",
)
def test_kid_path_traversal_is_refused(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """``kid`` is an opaque string: path traversal with an empty HMAC key is
    ``alg_not_allowed``, with an RS256 signature ``unknown_key``."""
    case = provisioning.primary
    with _control(positive_control, proctor_target, provisioning).bracket():
        header, claims, _ = forge.split(case.mint().token)
        for kid in _TRAVERSALS:
            hs = forge.hmac_token({**header, "kid": kid}, claims, b"")
            expect_deny(_decide(proctor_target, provisioning, hs), "alg_not_allowed")
            rs = case.mint(header={"kid": kid}).token
            expect_deny(
                _decide(proctor_target, provisioning, rs),
                "unknown_key",
                f"an RS256 token with kid {kid!r}",
            )


_INJECTIONS: Final = (
    "' OR '1'='1",
    "x' UNION SELECT 'key' --",
    "$(sleep 3)",
    "|sleep 3",
    "`sleep 3`",
    "kid\x00null",
    "http://127.0.0.1:9/keys",
)


@check(
    "INB-KEY-003",
    "ERR-RULE-001",
    shape=("INB-KEY-003", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-07",
)
def test_kid_injection_is_refused_without_delay(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """SQL and command injection in ``kid`` is ``unknown_key``, answered 200 and quickly
    (each answer under 2 s; a ``sleep 3`` that ran would show)."""
    case = provisioning.primary
    with _control(positive_control, proctor_target, provisioning).bracket():
        for kid in _INJECTIONS:
            token = case.mint(header={"kid": kid}).token
            started = time.perf_counter()
            response = _decide(proctor_target, provisioning, token)
            elapsed = time.perf_counter() - started
            expect_deny(response, "unknown_key", f"kid {kid!r}")
            if elapsed > LATENCY_BOUND:
                raise ConformanceFailure(
                    f"kid {kid!r} took {elapsed:.2f} s to answer",
                    expected=f"under {LATENCY_BOUND} s",
                )


def _wide(provisioning: Provisioning) -> str:
    """An authorizer for the primary IdP that also allows ES256 and PS256."""
    return provisioning.variant(
        "wide", provisioning.primary, algorithms=["RS256", "ES256", "PS256"]
    )


@check(
    "INB-SIG-001",
    "INB-KEY-004",
    shape=("INB-SIG-001", "INB-KEY-004", "INB-ALG-001", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-08",
)
def test_psychic_ecdsa_signatures_are_refused(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """ES256 with ``r = s = 0`` (CVE-2022-21449) is refused, under the default algorithms
    (``alg_not_allowed``) and under an authorizer that allows ES256 (``unknown_key``: the
    RSA key is unusable for ES256, and the attacker's EC key is not published).

    The emulators publish RSA keys only, so a zero signature against a *published* EC key
    cannot be tried here.
    """
    case = provisioning.primary
    wide = _wide(provisioning)
    attacker = forge.attacker_ec_key()
    with _control(positive_control, proctor_target, provisioning, authorizer=wide).bracket():
        header, claims, _ = forge.split(case.mint().token)
        zero = bytes(64)
        for kid in (case.kid, str(attacker.kid)):
            token = forge.assemble({**header, "alg": "ES256", "kid": kid}, claims, zero)
            expect_deny(_decide(proctor_target, provisioning, token), "alg_not_allowed")
            expect_deny(
                _decide(proctor_target, provisioning, token, wide),
                {"unknown_key", "bad_signature"},
                f"ES256 r=s=0 with kid {kid!r}",
            )


@check(
    "INB-SIG-001",
    "INB-KEY-004",
    shape=("INB-SIG-001", "INB-KEY-004", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-09",
)
def test_out_of_range_and_der_ecdsa_signatures_are_refused(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """ES256 signatures with ``r`` or ``s`` ≥ the group order, or DER-encoded instead of
    ``r || s`` (RFC 7518 §3.4), are refused."""
    case = provisioning.primary
    wide = _wide(provisioning)
    attacker = forge.attacker_ec_key()
    with _control(positive_control, proctor_target, provisioning, authorizer=wide).bracket():
        header, claims, _ = forge.split(case.mint().token)
        order = forge.P256_ORDER.to_bytes(32, "big")
        valid_es = forge.sign(attacker, {**header, "alg": "ES256", "kid": case.kid}, claims)
        _, _, raw = forge.split(valid_es)
        signatures = {
            "r = n": order + raw[32:],
            "s = n": raw[:32] + order,
            "a DER-encoded signature": forge.der_ecdsa(raw),
        }
        for what, signature in signatures.items():
            token = forge.assemble({**header, "alg": "ES256", "kid": case.kid}, claims, signature)
            expect_deny(
                _decide(proctor_target, provisioning, token, wide),
                {"unknown_key", "bad_signature"},
                f"ES256 with {what}",
            )


@check(
    "INB-ALG-001",
    "INB-CFG-002",
    shape=("INB-ALG-001", "INB-CFG-002", "INB-DEC-005", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-10",
)
def test_hmac_with_weak_secrets_is_refused(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """HS256 with a blank or dictionary secret is ``alg_not_allowed``, and an authorizer
    allowing an HMAC algorithm (or ``none``) cannot even be created (RFC 8725 §3.1)."""
    case = provisioning.primary
    with _control(positive_control, proctor_target, provisioning).bracket():
        header, claims, _ = forge.split(case.mint().token)
        for secret in (b"", b"secret", b"password", b"changeme", b"your-256-bit-secret"):
            token = forge.hmac_token(header, claims, secret)
            expect_deny(_decide(proctor_target, provisioning, token), "alg_not_allowed")
        for algorithms in (["HS256"], ["RS256", "HS512"], ["none"]):
            name = provisioning.name("hmac")
            response = proctor_target.client.post(
                proctor_target.url("/v1/authorizers"),
                json={**case.body, "name": name, "algorithms": algorithms},
                headers=proctor_target.admin_headers(),
            )
            if response.status_code == 201:
                provisioning.delete_authorizer(name)
            expect_problem(
                response, 400, "validation_failed", f"an authorizer with algorithms {algorithms}"
            )


@check(
    "INB-ALG-001",
    "INB-KEY-004",
    shape=("INB-ALG-001", "INB-KEY-004", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-11",
)
def test_algorithms_outside_the_allow_list_are_refused(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """A genuine IdP signature with an algorithm the authorizer does not allow is
    ``alg_not_allowed``; an allowed algorithm the key's own ``alg`` forbids is
    ``unknown_key`` (the key is not usable for it)."""
    case = provisioning.primary
    wide = _wide(provisioning)
    with _control(positive_control, proctor_target, provisioning).bracket():
        for alg in ("PS256", "RS384", "RS512"):
            token = case.mint(header={"alg": alg}).token
            expect_deny(
                _decide(proctor_target, provisioning, token),
                "alg_not_allowed",
                f"a token signed with {alg}",
            )
        if _jwk(case).get("alg") == "RS256":
            ps = case.mint(header={"alg": "PS256"}).token
            expect_deny(
                _decide(proctor_target, provisioning, ps, wide),
                "unknown_key",
                "PS256 with a key published for RS256",
            )


@check(
    "INB-TIME-001",
    "INB-TIME-002",
    "INB-SHAPE-001",
    shape=("INB-TIME-001", "INB-TIME-002", "INB-SHAPE-001", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-12",
)
def test_time_claims_are_enforced(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """``exp`` past the leeway is ``expired``, a missing ``exp`` is ``malformed``, an
    ``nbf`` or ``iat`` beyond the leeway in the future is ``not_yet_valid``; ``exp`` a few
    seconds past (inside the 60 s default leeway) is still allowed."""
    case = provisioning.primary
    with _control(positive_control, proctor_target, provisioning).bracket():
        now = int(case.idp.now())
        cases: list[tuple[dict[str, Any], str, str]] = [
            ({"exp": now - 3600}, "expired", "exp an hour ago"),
            ({"exp": None}, "malformed", "no exp"),
            ({"exp": str(now + 3600)}, "malformed", "exp as a string"),
            ({"nbf": now + 3600}, "not_yet_valid", "nbf in an hour"),
            ({"iat": now + 3600}, "not_yet_valid", "iat in an hour"),
        ]
        for claims, reason, what in cases:
            token = case.mint(claims=claims).token
            expect_deny(_decide(proctor_target, provisioning, token), reason, what)
        expect_deny(
            _decide(proctor_target, provisioning, case.mint(presets=["expired"]).token),
            "expired",
        )
        leeway = case.mint(claims={"exp": now - 5}).token
        expect_allow(_decide(proctor_target, provisioning, leeway), "exp 5 s ago (in leeway)")


@check(
    "INB-ISS-001",
    "INB-ORDER-002",
    shape=("INB-ISS-001", "INB-ORDER-002", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-13",
)
def test_the_issuer_is_matched_exactly(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Another issuer, or the right one with a trailing ``/``, is ``wrong_issuer``; a token
    claiming the right issuer but signed by another IdP's key is refused."""
    case = provisioning.primary
    with _control(positive_control, proctor_target, provisioning).bracket():
        issuer = case.server.issuer
        for value in (issuer + "/", issuer.upper(), "https://evil.example/oauth2/default"):
            token = case.mint(claims={"iss": value}).token
            expect_deny(_decide(proctor_target, provisioning, token), "wrong_issuer", repr(value))
        preset = case.mint(presets=["wrong_issuer"]).token
        expect_deny(_decide(proctor_target, provisioning, preset), "wrong_issuer")
        others = [c for c in provisioning.cases.values() if c.idp is not case.idp]
        if others:
            other = others[0]
            foreign = other.mint(claims={"iss": issuer, "aud": case.body["allowed_audiences"][0]})
            expect_deny(
                _decide(proctor_target, provisioning, foreign.token),
                {"unknown_key", "bad_signature"},
                f"a token with our issuer signed by the {other.key} key",
            )


@check(
    "INB-SCOPE-002",
    "INB-SCOPE-001",
    shape=("INB-SCOPE-002", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_allowed_scopes_are_enforced(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """With ``allowed_scopes`` set, a token none of whose scopes is allowed (other scopes,
    or none) is ``scope_not_allowed``; one allowed scope among others is enough."""
    case = provisioning.primary
    allowed = list(case.body.get("allowed_scopes") or [])
    if not allowed:
        pytest.skip("the primary scenario's emulator offers no API scope to allow")
    with _control(positive_control, proctor_target, provisioning).bracket():
        for scp, what in ((["openid", "not.allowed"], "other scopes"), ([], "no scope")):
            token = case.mint(claims={"scp": scp, "scope": None}).token
            expect_deny(_decide(proctor_target, provisioning, token), "scope_not_allowed", what)
        mixed = case.mint(claims={"scp": ["openid", allowed[0], "other"]})
        identity = expect_allow(_decide(proctor_target, provisioning, mixed.token), "mixed scopes")
        assert identity["scopes"] == ["openid", allowed[0], "other"], identity["scopes"]


@check(
    "INB-AUD-001",
    shape=("INB-AUD-001", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-14",
)
def test_the_audience_is_checked(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """A wrong or missing ``aud``, or an array without an allowed value, is
    ``wrong_audience``; an array holding an allowed value is allowed."""
    case = provisioning.primary
    allowed = str(case.body["allowed_audiences"][0])
    with _control(positive_control, proctor_target, provisioning).bracket():
        for aud, what in (
            ("api://someone-else", "another audience"),
            (None, "no aud"),
            (["api://a", "api://b"], "an array without ours"),
            (allowed + "/", "ours with a trailing slash"),
        ):
            token = case.mint(claims={"aud": aud}).token
            expect_deny(_decide(proctor_target, provisioning, token), "wrong_audience", what)
        token = case.mint(claims={"aud": ["api://someone-else", allowed]}).token
        expect_allow(_decide(proctor_target, provisioning, token), "an array holding ours")


@check(
    "INB-KIND-001",
    "INB-KIND-002",
    "INB-KIND-003",
    shape=("INB-KIND-001", "INB-KIND-002", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-15",
)
def test_id_tokens_and_mistyped_tokens_are_not_access_tokens(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """An ID token, a token with a ``typ`` the kind does not list, or one carrying
    ``nonce`` is ``wrong_token_kind`` as an access token; a kind the authorizer does not
    accept at all is ``wrong_token_kind`` too (RFC 8725 §3.11-3.12)."""
    case = provisioning.primary
    workload = provisioning.workloads["main"]
    with _control(positive_control, proctor_target, provisioning).bracket():
        id_token = case.mint(presets=["id_token"]).token
        expect_deny(
            _decide(proctor_target, provisioning, id_token), "wrong_token_kind", "an ID token"
        )
        accepted = _access_typs(case)
        for typ in ("JWT", "id_token+jwt", "logout+jwt", "at+jwt"):
            if typ.lower() in accepted:
                continue
            token = case.mint(header={"typ": typ}).token
            expect_deny(_decide(proctor_target, provisioning, token), "wrong_token_kind", typ)
        nonce = case.mint(claims={"nonce": "n-0S6_WzA2Mj"}).token
        expect_deny(_decide(proctor_target, provisioning, nonce), "wrong_token_kind", "a nonce")
        kinds = {entry.get("kind") for entry in case.body.get("token_kinds") or []}
        if "id_token" not in kinds:
            response = decide(proctor_target, workload, case.name, id_token, "id_token")
            expect_deny(response, "wrong_token_kind", "a kind the authorizer does not accept")


def _malformed(case: AuthorizerCase) -> dict[str, str]:
    token = case.mint().token
    head, body, tail = token.split(".")
    header, claims, signature = forge.split(token)
    not_utf8 = forge.b64(b'{"sub":"\xff"}')
    header_json = json.dumps(header, separators=(",", ":"))
    claims_json = json.dumps(claims, separators=(",", ":"))
    duplicate_header = header_json[:-1] + ',"alg":"RS256"}'
    duplicate_claims = claims_json[:-1] + f',"sub":{json.dumps("mallory")}}}'
    return {
        "padding in a segment": f"{head}=.{body}.{tail}",
        "a character outside base64url": f"{head[:4]}*{head[4:]}.{body}.{tail}",
        "standard base64 characters": f"{head}.{body}.{tail[:-2]}+/",
        "two segments": f"{head}.{body}",
        "four segments": f"{token}.{tail}",
        "a JWE-like five segments": f"{head}.{body}.{tail}.{tail}.{tail}",
        "an empty header": f".{body}.{tail}",
        "an empty payload": f"{head}..{tail}",
        "a header that is not JSON": f"{forge.b64(b'not json')}.{body}.{tail}",
        "a header that is a JSON array": f"{forge.b64(b'[1]')}.{body}.{tail}",
        "a payload that is not UTF-8": f"{head}.{not_utf8}.{tail}",
        "duplicate header members": f"{forge.encode(duplicate_header)}.{body}.{tail}",
        "duplicate claims": f"{head}.{forge.encode(duplicate_claims)}.{tail}",
        "a crit header": forge.assemble({**header, "crit": ["exp"]}, claims, signature),
        "cty JWT (a nested token)": forge.assemble({**header, "cty": "JWT"}, claims, signature),
        "no alg": forge.assemble({k: v for k, v in header.items() if k != "alg"}, claims, tail),
        "alg not a string": forge.assemble({**header, "alg": 256}, claims, tail),
        "the JSON serialization": json.dumps(
            {"payload": body, "protected": head, "signature": tail}
        ),
        "empty": "",
        "whitespace around it": f" {token} ",
    }


@check(
    "INB-PARSE-002",
    "INB-PARSE-003",
    shape=("INB-PARSE-002", "INB-PARSE-003", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-16",
)
def test_malformed_serializations_are_refused(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Anything but strict compact JWS (bad base64, padding, duplicate members, ``crit``,
    nested ``cty``, the JSON serialization, JWE) is ``malformed``, answered 200."""
    case = provisioning.primary
    with _control(positive_control, proctor_target, provisioning).bracket():
        for what, token in _malformed(case).items():
            expect_deny(_decide(proctor_target, provisioning, token), "malformed", what)


def _nested(depth: int) -> Any:
    value: Any = "deep"
    for _ in range(depth):
        value = {"n": value}
    return value


@check(
    "INB-PARSE-001",
    "SEC-DOS-001",
    shape=("INB-PARSE-001", "SEC-DOS-001", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
    catalog="JWT-17",
)
def test_oversized_and_deeply_nested_tokens_are_malformed(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """A genuinely signed token over 65 536 bytes, or with claims nested deeper than 32
    levels, is ``malformed``, answered within 2 s (the time is kept as evidence)."""
    case = provisioning.primary
    with _control(positive_control, proctor_target, provisioning).bracket():
        big = case.mint(claims={"padding": "x" * (MAX_TOKEN + 1024)}).token
        assert len(big) > MAX_TOKEN
        started = time.perf_counter()
        response = _decide(proctor_target, provisioning, big)
        elapsed = time.perf_counter() - started
        expect_deny(response, "malformed", f"a signed token of {len(big)} bytes")
        if elapsed > LATENCY_BOUND:
            raise ConformanceFailure(
                f"a {len(big)}-byte token took {elapsed:.2f} s", expected=f"< {LATENCY_BOUND} s"
            )
        deep = case.mint(claims={"deep": _nested(40)}).token
        expect_deny(
            _decide(proctor_target, provisioning, deep), "malformed", "claims nested 40 deep"
        )


# -- the property: mutations of a valid token --------------------------------------------

#: Table 2.2's order: reason → rank (lower is checked first).
_RANK: Final = {
    "malformed": 1,
    "alg_not_allowed": 2,
    "wrong_token_kind": 3,
    "unknown_key": 4,
    "bad_signature": 5,
    "claims_malformed": 6,
    "wrong_issuer": 7,
    "expired": 8,
    "not_yet_valid": 9,
    "claims_kind": 10,
    "wrong_audience": 11,
    "client_not_allowed": 12,
    "scope_not_allowed": 13,
    "claim_rule_failed": 14,
}
_NAME: Final = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_:/.", min_size=1, max_size=24
)


_MALFORMED_CLAIMS: Final[list[dict[str, Any]]] = [
    {"sub": ""},
    {"exp": "soon"},
    {"iat": True},
    {"aud": 7},
]


class _Mutation:
    """One change to a valid token and the rank of the reason it must produce."""

    def __init__(self, label: str, rank: str, claims: dict[str, Any] | None = None) -> None:
        self.label = label
        self.rank = rank
        self.claims = claims or {}

    def token(self, token: str) -> str:
        return token

    def __repr__(self) -> str:
        return self.label


class _TokenMutation(_Mutation):
    def __init__(self, label: str, rank: str, change: Callable[[str], str]) -> None:
        super().__init__(label, rank)
        self._change = change

    def token(self, token: str) -> str:
        return self._change(token)


#: Mutations of the compact serialization itself, applied after every other change.
_ENCODING_LAST = frozenset({"encoding pad", "encoding segments"})


def _header_change(**members: Any) -> Callable[[str], str]:
    def change(token: str) -> str:
        header, claims, signature = forge.split(token)
        return forge.assemble({**header, **members}, claims, signature)

    return change


def _flip(position: int) -> Callable[[str], str]:
    def change(token: str) -> str:
        header, claims, signature = forge.split(token)
        flipped = bytearray(signature)
        flipped[position % len(flipped)] ^= 0x01 << (position % 8)
        return forge.assemble(header, claims, bytes(flipped))

    return change


def _kind(mutation: _Mutation) -> str:
    """What a mutation changes, for drawing at most one of each: a second change of the same
    header member overrides the first, and two flips of one signature bit cancel out (the
    bit a position names depends on the signature's length), so either would leave a
    mutation in the list that no longer breaks anything."""
    first = mutation.label.split(" ", 1)[0]
    return first if first in ("alg", "typ", "kid", "signature") else mutation.label


def _mutations(case: AuthorizerCase, now: int) -> st.SearchStrategy[_Mutation]:
    body = case.body
    audiences = set(body.get("allowed_audiences") or [])
    clients = set(body.get("allowed_clients") or [])
    scopes = set(body.get("allowed_scopes") or [])
    client_claim = {"okta": "cid", "entra": "azp", "cognito": "client_id"}.get(
        case.profile, "client_id"
    )
    allowed_typs = _access_typs(case)
    options: list[st.SearchStrategy[_Mutation]] = [
        st.sampled_from(["none", "None", "HS256", "RS384", "PS512", "ES256", "EdDSA"]).map(
            lambda alg: _TokenMutation(f"alg {alg}", "alg_not_allowed", _header_change(alg=alg))
        ),
        _NAME.filter(lambda t: t.lower().removeprefix("application/") not in allowed_typs).map(
            lambda typ: _TokenMutation(f"typ {typ}", "wrong_token_kind", _header_change(typ=typ))
        ),
        _NAME.filter(lambda kid: kid != case.kid).map(
            lambda kid: _TokenMutation(f"kid {kid}", "unknown_key", _header_change(kid=kid))
        ),
        st.integers(min_value=0, max_value=4095).map(
            lambda i: _TokenMutation(f"signature bit {i}", "bad_signature", _flip(i))
        ),
        st.sampled_from(["crit", "cty", "pad", "segments"]).map(
            lambda kind: _TokenMutation(
                f"encoding {kind}",
                "malformed",
                {
                    "crit": _header_change(crit=["exp"]),
                    "cty": _header_change(cty="JWT"),
                    "pad": lambda t: t.replace(".", "=.", 1),
                    "segments": lambda t: t + ".x",
                }[kind],
            )
        ),
        st.sampled_from(_MALFORMED_CLAIMS).map(
            lambda claims: _Mutation(f"claims {claims}", "claims_malformed", claims)
        ),
        _NAME.map(lambda iss: _Mutation(f"iss {iss}", "wrong_issuer", {"iss": iss})),
        st.integers(min_value=61, max_value=10**6).map(
            lambda ago: _Mutation(f"exp {ago}s ago", "expired", {"exp": now - ago})
        ),
        st.integers(min_value=120, max_value=10**6).map(
            lambda ahead: _Mutation(f"nbf in {ahead}s", "not_yet_valid", {"nbf": now + ahead})
        ),
        st.sampled_from(["nonce", "at_hash", "c_hash"]).map(
            lambda name: _Mutation(f"claim {name}", "claims_kind", {name: "x"})
        ),
        _NAME.filter(lambda aud: aud not in audiences).map(
            lambda aud: _Mutation(f"aud {aud}", "wrong_audience", {"aud": aud})
        ),
    ]
    if clients:
        options.append(
            _NAME.filter(lambda c: c not in clients).map(
                lambda c: _Mutation(f"{client_claim} {c}", "client_not_allowed", {client_claim: c})
            )
        )
    if scopes and case.profile == "okta":
        options.append(
            st.lists(_NAME.filter(lambda s: s not in scopes), max_size=3).map(
                lambda scp: _Mutation(f"scp {scp}", "scope_not_allowed", {"scp": scp})
            )
        )
    if case.rule_claim:
        claim = case.rule_claim
        rule_value = (body.get("custom_claims") or [{}])[0].get("value")
        options.append(
            st.lists(_NAME.filter(lambda g: g != rule_value), max_size=3).map(
                lambda groups: _Mutation(f"{claim} {groups}", "claim_rule_failed", {claim: groups})
            )
        )
    return st.one_of(options)


def _reason_for(rank: str, case: AuthorizerCase) -> str:
    if rank == "claims_malformed":
        return "malformed"
    if rank == "claims_kind":
        return "wrong_token_kind"
    if rank == "claim_rule_failed":
        return f"claim_rule_failed:{case.rule_claim}"
    return rank


@check(
    "INB-ORDER-002",
    "INB-DEC-003",
    "ERR-RULE-001",
    shape=("INB-ORDER-001", "INB-ORDER-002", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_mutated_tokens_are_denied_for_the_first_broken_rule(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Property: one to three mutations of a valid token (claims, header members,
    signature bytes, encodings) are denied with the reason of the first failing check in
    Table 2.2's order, answered 200, never a 5xx."""
    case = provisioning.primary
    now = int(case.idp.now())
    base = case.mint().token

    @given(mutations=st.lists(_mutations(case, now), min_size=1, max_size=3, unique_by=_kind))
    def mutated_token_is_denied(mutations: list[_Mutation]) -> None:
        claims: dict[str, Any] = {}
        for mutation in mutations:
            claims.update(mutation.claims)
        token = case.mint(claims=claims).token if claims else base
        # Encoding mutations go last: a later header change re-encodes the header and
        # would silently drop an earlier added "=" or segment.
        for mutation in sorted(mutations, key=lambda m: m.label in _ENCODING_LAST):
            token = mutation.token(token)
        # A later claim mutation may undo an earlier one of the same claim.
        effective = [
            m for m in mutations if not m.claims or all(claims[k] == v for k, v in m.claims.items())
        ]
        first = min(effective, key=lambda m: _RANK[m.rank])
        response = _decide(proctor_target, provisioning, token)
        if response.status_code >= 500:
            raise ConformanceFailure(f"HTTP {response.status_code} for mutations {mutations}")
        expect_deny(response, _reason_for(first.rank, case), f"a token with {mutations}")

    with _control(positive_control, proctor_target, provisioning).bracket():
        mutated_token_is_denied()


@check("INB-DEC-003", "ERR-RULE-001", shape=("INB-DEC-005",), needs=NEEDS, profiles=PROFILES)
def test_any_token_string_yields_a_decision(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Property: any string as ``token`` (text, dots, binary-looking, huge) is answered 200
    with a deny carrying one of the spec's reasons."""

    @given(
        token=st.one_of(
            st.text(max_size=300),
            st.lists(st.text(alphabet="AZaz09-_=+/.", max_size=40), max_size=6).map(".".join),
            st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
        )
    )
    def any_token_is_denied(token: str) -> None:
        # The refusal is a deny answered 200; one of the spec's reasons is its shape.
        expect_deny(
            _decide(proctor_target, provisioning, token), DENY_REASONS, "an arbitrary string"
        )

    with _control(positive_control, proctor_target, provisioning).bracket():
        any_token_is_denied()


# -- keys: rotation, unknown kids, outages -----------------------------------------------


@check(
    "INB-JWKS-001",
    "INB-JWKS-002",
    "INB-KEY-003",
    shape=("INB-JWKS-002", "INB-KEY-003", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_key_rotation_keeps_valid_tokens_valid_and_unknown_kids_are_bounded(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """A rotation announced in advance (publish the next key, then switch signing to it)
    keeps tokens of both keys valid; a burst of tokens with unknown ``kid`` values is
    ``unknown_key`` and costs at most one key-set fetch (the mock IdP's request log)."""
    case = provisioning.primary
    idp, server = case.idp, case.server
    idp.key_action("publish-next", server.id)
    rotated = provisioning.variant("rotation", case)  # created after publish-next
    with _control(positive_control, proctor_target, provisioning, authorizer=rotated).bracket():
        old = case.mint().token
        switched = idp.key_action("switch", server.id)
        new = case.mint(key=switched["kid"])
        if new.header.get("kid") == case.kid:
            raise ConformanceFailure("the mock IdP did not rotate its signing key")
        mark = idp.last_request_seq()
        expect_allow(_decide(proctor_target, provisioning, new.token, rotated), "a new-key token")
        expect_allow(_decide(proctor_target, provisioning, old, rotated), "an old-key token")
        for _ in range(8):
            token = case.mint(presets=["unknown_kid"]).token
            expect_deny(
                _decide(proctor_target, provisioning, token, rotated),
                "unknown_key",
                "a token signed by an unpublished key",
            )
        fetches = [
            e for e in idp.requests(endpoint="jwks", server=server.id) if int(e["seq"]) > mark
        ]
        if len(fetches) > 1:
            raise ConformanceFailure(
                "unknown kids must cost at most one key-set fetch per refresh interval "
                "(INB-JWKS-002)",
                observed=f"{len(fetches)} fetches of {server.endpoints.get('jwks')}",
            )


@check(
    "INB-JWKS-003",
    "ERR-RULE-001",
    shape=("INB-JWKS-003", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_an_idp_outage_is_served_from_the_cache(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """While the IdP's discovery document and key set answer 503 (or a truncated body),
    valid tokens are still allowed, unknown keys are ``unknown_key``, and no decision
    is a 5xx."""
    case = provisioning.primary
    idp = case.idp
    with _control(positive_control, proctor_target, provisioning).bracket():
        try:
            for fault in (
                {"endpoint": "jwks", "status": 503},
                {"endpoint": "discovery", "status": 503},
            ):
                idp.add_fault(**fault)
            for _ in range(2):
                expect_allow(
                    _decide(proctor_target, provisioning, case.mint().token),
                    "a valid token during the outage",
                )
                unknown = case.mint(presets=["unknown_kid"]).token
                expect_deny(_decide(proctor_target, provisioning, unknown), "unknown_key")
            idp.clear_faults()
            idp.add_fault(endpoint="jwks", malformed=True)
            expect_allow(_decide(proctor_target, provisioning, case.mint().token))
        finally:
            idp.clear_faults()


@pytest.mark.parametrize("problem", ["discovery_down", "issuer_mismatch"])
@check(
    "INB-DISC-001",
    "INB-DISC-002",
    shape=("INB-DISC-001", "INB-DEC-005", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_an_unusable_discovery_document_never_allows(
    proctor_target: Target,
    provisioning: Provisioning,
    positive_control: ControlFactory,
    problem: str,
) -> None:
    """An authorizer whose discovery document is down, or names another issuer (a
    trailing ``/`` is enough), is refused at creation (INB-DISC-003, a SHOULD) or, if
    stored, denies valid tokens with ``unknown_key``: never an allow, never a 5xx."""
    case = provisioning.primary
    name = provisioning.name(f"disc-{problem.split('_')[0]}")
    body = {**case.body, "name": name}
    if problem == "issuer_mismatch":
        body["issuer"] = case.server.issuer + "/"
    with _control(positive_control, proctor_target, provisioning).bracket():
        try:
            if problem == "discovery_down":
                case.idp.add_fault(endpoint="discovery", status=503)
            response = proctor_target.client.post(
                proctor_target.url("/v1/authorizers"),
                json=body,
                headers=proctor_target.admin_headers(),
            )
            if response.status_code >= 500:
                raise ConformanceFailure(f"creating the authorizer answered {response.status_code}")
            if response.status_code == 201:
                provisioning.adopt_authorizer(name)
                expect_deny(
                    _decide(proctor_target, provisioning, case.mint().token, name),
                    {"unknown_key", "wrong_issuer"},
                    "a valid token at an authorizer without a usable discovery document",
                )
            else:
                expect_problem(response, 400, "validation_failed", "an unusable discovery URL")
        finally:
            case.idp.clear_faults()


@check("INB-DISC-003", shape=("INB-DISC-003",), needs=NEEDS, profiles=PROFILES)
def test_discovery_is_checked_when_an_authorizer_is_saved(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """An authorizer whose discovery document names another issuer is refused at
    creation with ``validation_failed`` naming ``discovery_url`` or ``issuer``."""
    case = provisioning.primary
    name = provisioning.name("disc-save")
    response = proctor_target.client.post(
        proctor_target.url("/v1/authorizers"),
        json={**case.body, "name": name, "issuer": case.server.issuer + "/"},
        headers=proctor_target.admin_headers(),
    )
    if response.status_code == 201:
        provisioning.delete_authorizer(name)
    problem = expect_problem(response, 400, "validation_failed", "an issuer mismatch")
    with error_shape():
        fields = {e.get("field") for e in problem.get("errors") or [] if isinstance(e, dict)}
        assert fields & {"/discovery_url", "/issuer"}, f"errors name {sorted(map(str, fields))}"


# -- the decision endpoint and the authorizer resource -----------------------------------


@check(
    "INB-DEC-001",
    "INB-DEC-002",
    "ERR-RULE-004",
    shape=(
        "INB-DEC-001",
        "INB-DEC-002",
        "ERR-RULE-004",
        "ERR-SHAPE-001",
        "ERR-CODE-001",
        "INB-PARSE-001",
        "INB-DEC-005",
    ),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_decision_requests_are_validated(
    proctor_target: Target, provisioning: Provisioning, positive_control: ControlFactory
) -> None:
    """Unauthenticated: 401; not an object, unknown or mistyped members: 400
    ``invalid_request_body``; a bad ``token_kind``: 400 ``validation_failed``; an unknown
    authorizer: 404; a body of 128 KiB is accepted."""
    case = provisioning.primary
    workload = provisioning.workloads["main"]
    url = proctor_target.url("/v1/decisions")
    token = case.mint().token
    post = proctor_target.client.post
    with _control(positive_control, proctor_target, provisioning).bracket():
        expect_problem(
            post(url, json={"authorizer": case.name, "token": token}),
            401,
            "unauthenticated",
            "a decision without credentials",
        )
        bodies: list[tuple[Any, int, str]] = [
            ([case.name, token], 400, "invalid_request_body"),
            ({"authorizer": case.name}, 400, "invalid_request_body"),
            ({"authorizer": case.name, "token": 7}, 400, "invalid_request_body"),
            ({"authorizer": case.name, "token": token, "user": "x"}, 400, "invalid_request_body"),
            (
                {"authorizer": case.name, "token": token, "token_kind": "saml"},
                400,
                "validation_failed",
            ),
            ({"authorizer": provisioning.name("nope"), "token": token}, 404, "not_found"),
        ]
        for body, status, code in bodies:
            expect_problem(
                post(url, json=body, headers=workload.auth()), status, code, repr(body)[:80]
            )
        large = post(
            url,
            json={"authorizer": case.name, "token": "x" * (128 * 1024)},
            headers=workload.auth(),
        )
        expect_deny(large, "malformed", "a 128 KiB token")


@check("INB-DEC-006", needs=NEEDS, profiles=PROFILES)
def test_decisions_are_not_cached_by_intermediaries(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """Decision responses carry ``Cache-Control: no-store``."""
    response = _decide(proctor_target, provisioning, provisioning.primary.mint().token)
    expect_allow(response)
    directives = response.headers.get("cache-control", "").lower()
    assert "no-store" in directives, f"Cache-Control {directives!r}"


@check(
    "INB-CFG-001",
    "WID-ADMIN-001",
    shape=("INB-CFG-001", "WID-ADMIN-001", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_authorizers_are_managed_on_the_control_plane(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """Admin credential required (401); create 201 with defaults filled in, a taken name
    409, replace 200, delete 204, an unknown name 404."""
    case = provisioning.primary
    name = provisioning.name("crud")
    client, url = proctor_target.client, proctor_target.url
    admin = proctor_target.admin_headers()
    minimal = {
        "name": name,
        "discovery_url": case.body["discovery_url"],
        "allowed_audiences": case.body["allowed_audiences"],
        "idp_profile": case.profile,
    }
    if case.profile == "cognito":
        minimal["allowed_clients"] = case.body["allowed_clients"]
    expect_problem(client.post(url("/v1/authorizers"), json=minimal), 401, "unauthenticated")
    workload = provisioning.workloads["main"]
    expect_problem(
        client.get(url("/v1/authorizers"), headers=workload.auth()), 401, "unauthenticated"
    )
    created = client.post(url("/v1/authorizers"), json=minimal, headers=admin)
    assert created.status_code == 201, f"create: HTTP {created.status_code} {created.text[:200]}"
    provisioning.adopt_authorizer(name)
    stored = json_object(created, "the created authorizer")
    for member, default in (("allowed_scopes", []), ("custom_claims", []), ("leeway_seconds", 60)):
        assert stored.get(member) == default, f"{member} default: {stored.get(member)!r}"
    assert stored.get("algorithms") == ["RS256"], f"algorithms: {stored.get('algorithms')!r}"
    assert isinstance(stored.get("token_kinds"), list), "token_kinds is not a list"
    assert stored["token_kinds"], "token_kinds is empty (the profile's default is expected)"
    expect_problem(
        client.post(url("/v1/authorizers"), json=minimal, headers=admin), 409, "conflict"
    )
    replaced = client.put(
        url(f"/v1/authorizers/{name}"), json={**minimal, "leeway_seconds": 30}, headers=admin
    )
    assert replaced.status_code == 200, f"replace: HTTP {replaced.status_code}"
    assert json_object(replaced, "the replaced authorizer").get("leeway_seconds") == 30
    deleted = client.delete(url(f"/v1/authorizers/{name}"), headers=admin)
    assert deleted.status_code == 204, f"delete: HTTP {deleted.status_code}"
    expect_problem(client.get(url(f"/v1/authorizers/{name}"), headers=admin), 404, "not_found")


@check(
    "INB-CFG-002",
    "TERM-NAME-001",
    shape=("INB-CFG-002", "TERM-NAME-001", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_invalid_authorizer_configurations_are_refused(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """Configurations that cannot be enforced are 400 ``validation_failed`` and store
    nothing: empty audiences outside Cognito, ``{tenantid}`` outside Entra, an unknown
    profile, a bad leeway, a typeless claim rule, a bad name."""
    case = provisioning.primary
    base = {**case.body, "name": provisioning.name("invalid")}
    broken: list[dict[str, Any]] = [
        {"allowed_audiences": []},
        {"issuer": case.server.issuer + "/{tenantid}"},
        {"idp_profile": "keycloak"},
        {"leeway_seconds": 301},
        {
            "custom_claims": [
                {"claim": "groups", "operator": "contains", "value": "s", "value_type": "string"}
            ]
            * 51
        },
        {
            "custom_claims": [
                {"claim": "g", "operator": "equals", "value": 1, "value_type": "string"}
            ]
        },
        {"algorithms": []},
        {"name": "x"},
        {"name": "no spaces allowed"},
    ]
    for change in broken:
        body = {**base, **change}
        response = proctor_target.client.post(
            proctor_target.url("/v1/authorizers"), json=body, headers=proctor_target.admin_headers()
        )
        if response.status_code == 201:
            provisioning.delete_authorizer(str(body["name"]))
        expect_problem(response, 400, "validation_failed", f"an authorizer with {str(change)[:90]}")
        found = proctor_target.client.get(
            proctor_target.url(f"/v1/authorizers/{base['name']}"),
            headers=proctor_target.admin_headers(),
        )
        assert found.status_code == 404, "a refused configuration must not be stored"
    # A rule lacking a member is a body-shape problem (ERR-CODE-001) or a rule violation
    # (INB-CFG-002): the spec admits both codes; either way 400 and nothing stored.
    body = {**base, "custom_claims": [{"claim": "groups", "operator": "contains", "value": "s"}]}
    response = proctor_target.client.post(
        proctor_target.url("/v1/authorizers"), json=body, headers=proctor_target.admin_headers()
    )
    if response.status_code == 201:
        provisioning.delete_authorizer(str(base["name"]))
    what = "an authorizer with a rule without value_type"
    refused(response, what, expected="HTTP 400 invalid_request_body or validation_failed")
    found = proctor_target.client.get(
        proctor_target.url(f"/v1/authorizers/{base['name']}"),
        headers=proctor_target.admin_headers(),
    )
    assert found.status_code == 404, "a refused configuration must not be stored"
    with error_shape():
        assert response.status_code == 400, f"{what}: HTTP {response.status_code}"
        code = json_object(response, "the problem").get("code")
        assert code in ("invalid_request_body", "validation_failed"), f"{what}: code {code!r}"


@check(
    "TERM-DEV-001",
    "SEC-TLS-002",
    "INB-CFG-002",
    shape=("INB-CFG-002", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_plain_http_idp_urls_are_refused_off_loopback(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """An ``http`` discovery URL or issuer on a non-loopback host is refused with
    ``validation_failed``, in development mode too (which allows loopback only)."""
    case = provisioning.primary
    name = provisioning.name("plain-http")
    for change in (
        {"discovery_url": "http://idp.example.com/oauth2/default/.well-known/openid-configuration"},
        {"issuer": "http://idp.example.com/oauth2/default"},
        {"discovery_url": "ftp://idp.example.com/.well-known/openid-configuration"},
    ):
        response = proctor_target.client.post(
            proctor_target.url("/v1/authorizers"),
            json={**case.body, "name": name, **change},
            headers=proctor_target.admin_headers(),
        )
        if response.status_code == 201:
            provisioning.delete_authorizer(name)
        expect_problem(response, 400, "validation_failed", f"an authorizer with {change}")


@check(
    "INB-CFG-003",
    shape=("INB-CFG-003", "ERR-SHAPE-001", "ERR-CODE-001"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_a_referenced_authorizer_cannot_be_deleted(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """Deleting the authorizer a workload names is 409 ``conflict`` and leaves it in place."""
    name = provisioning.primary.name
    admin = proctor_target.admin_headers()
    response = proctor_target.client.delete(
        proctor_target.url(f"/v1/authorizers/{name}"), headers=admin
    )
    expect_problem(response, 409, "conflict", "deleting a referenced authorizer")
    still = proctor_target.client.get(proctor_target.url(f"/v1/authorizers/{name}"), headers=admin)
    assert still.status_code == 200, f"the authorizer is gone (HTTP {still.status_code})"


@check(
    "INB-CACHE-002",
    "INB-CACHE-001",
    "INB-TIME-001",
    shape=("INB-AUD-001", "INB-TIME-001", "INB-DEC-005"),
    needs=NEEDS,
    profiles=PROFILES,
)
def test_cached_decisions_never_outlive_the_configuration_or_the_token(
    proctor_target: Target, provisioning: Provisioning
) -> None:
    """A token allowed (and perhaps cached) is denied by the very next request after a
    replace it now fails (INB-CACHE-002), and once its ``exp`` has passed (an authorizer
    with ``leeway_seconds`` 0; the check waits about two seconds, INB-CACHE-001)."""
    case = provisioning.primary
    name = provisioning.variant("cache", case, leeway_seconds=0)
    url = proctor_target.url(f"/v1/authorizers/{name}")
    admin = proctor_target.admin_headers()
    token = case.mint().token
    for _ in range(2):
        expect_allow(_decide(proctor_target, provisioning, token, name), "before the replace")
    narrowed = {**case.body, "name": name, "leeway_seconds": 0}
    narrowed["allowed_audiences"] = ["api://only-this-one"]
    replaced = proctor_target.client.put(url, json=narrowed, headers=admin)
    assert replaced.status_code == 200, f"replace: HTTP {replaced.status_code}"
    expect_deny(
        _decide(proctor_target, provisioning, token, name),
        "wrong_audience",
        "a token the replaced configuration no longer accepts",
    )
    restored = proctor_target.client.put(
        url, json={**case.body, "name": name, "leeway_seconds": 0}, headers=admin
    )
    assert restored.status_code == 200, f"replace: HTTP {restored.status_code}"
    exp = int(case.idp.now()) + 2
    short = case.mint(claims={"exp": exp}).token
    for _ in range(2):
        expect_allow(_decide(proctor_target, provisioning, short, name), "before its exp")
    wait = exp + 0.3 - case.idp.now()
    if wait > 0:
        time.sleep(min(wait, 3.0))  # the kit waits for a live target's clock, briefly
    expect_deny(
        _decide(proctor_target, provisioning, short, name),
        "expired",
        "a token past its exp (a cached allow must not be served)",
    )
