"""The authorization server around the token endpoint (spec 07 ``AS``): metadata beyond
:mod:`~proctor.conformance.suites.discovery`, signing keys, the token format,
introspection (RFC 7662) and revocation (RFC 7009) with its cascade down a delegation
chain.

It shares the clients, audience and user tokens of the token-exchange suite
(:class:`~proctor.conformance.exchange.ExchangeSetup`): delegated tokens T1 (the
orchestrator's, for the sub-agent), T2 (the sub-agent's) and, when a third agent is
configured, T3 are what gets introspected and revoked. Checks that need the
``introspection``, ``revocation``, ``jwks`` or ``private_key_jwt`` capability are skipped
with the reason when the target does not declare it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import httpx
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from proctor.conformance.checks import check
from proctor.conformance.controls import ControlFactory, PositiveControl
from proctor.conformance.errors import ConformanceFailure
from proctor.conformance.exchange import (
    JWT_BEARER,
    Client,
    ExchangeSetup,
    Issued,
    client_credentials,
    decode,
    exchange,
    exchange_setup,
    expect_error,
    expect_issued,
    introspect,
    not_rate_limited,
    post_form,
    revoke,
    tamper,
)
from proctor.conformance.suites.discovery import PRIVATE_JWK_MEMBERS, fetch_jwks, fetch_metadata
from proctor.conformance.target import Target

__all__ = ["exchange_setup"]

NEEDS: Final = ["token_exchange", "client_credentials"]
INTROSPECTION: Final = [*NEEDS, "introspection"]
REVOCATION: Final = [*NEEDS, "introspection", "revocation"]
TOKEN_EXCHANGE_GRANT: Final = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post", "private_key_jwt")
SIGNING_ALGS: Final = frozenset({"ES256", "RS256"})
#: JWS header members an issued token must not carry (AS-FMT-001).
FORBIDDEN_HEADERS: Final = ("jku", "x5u", "jwk", "x5c", "crit")
INACTIVE: Final = {"active": False}


# -- helpers ----------------------------------------------------------------------------


def _introspected(response: httpx.Response, what: str) -> dict[str, Any]:
    not_rate_limited(response, f"introspecting {what}")
    if response.status_code != 200:
        raise ConformanceFailure(
            f"introspecting {what} must answer HTTP 200",
            observed=f"HTTP {response.status_code}: {response.text[:200]}",
        )
    try:
        body = response.json()
    except ValueError:
        raise ConformanceFailure(f"introspecting {what}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise ConformanceFailure(f"introspecting {what}: the answer is not a JSON object")
    return body


def _expect_active(target: Target, client: Client, token: str, what: str) -> dict[str, Any]:
    body = _introspected(introspect(target, client, token), what)
    if body.get("active") is not True:
        raise ConformanceFailure(
            f"{what} must be active for {client.name}", observed=json.dumps(body)[:300]
        )
    return body


def _expect_inactive(target: Target, client: Client, token: str, what: str) -> None:
    body = _introspected(introspect(target, client, token), what)
    if body != INACTIVE:
        raise ConformanceFailure(
            f'{what} must be answered exactly {{"active": false}}', observed=json.dumps(body)[:300]
        )


def _active_control(
    positive_control: ControlFactory, target: Target, setup: ExchangeSetup
) -> PositiveControl:
    """The orchestrator introspects its own token as active."""

    def request() -> httpx.Response:
        return introspect(target, setup.orchestrator, setup.control_token())

    return positive_control(
        "the orchestrator's own token introspects as active",
        request,
        expect=lambda r: r.status_code == 200 and r.json().get("active") is True,
    )


def _exchange_control(positive_control: ControlFactory, setup: ExchangeSetup) -> PositiveControl:
    return positive_control(
        "a valid delegation by the orchestrator succeeds", setup.control_exchange, expect=200
    )


def _foreign(token: str, target: Target) -> bool:
    """Whether ``token`` is not one of the target's own (by its unverified ``iss``)."""
    decoded = decode(token)
    return decoded is None or decoded[1].get("iss") != target.base_url


def _loopback_dev(issuer: str) -> bool:
    parts = urlsplit(issuer)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def _https(url: Any, issuer: str) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.netloc:
        return True
    # TERM-DEV-001: a loopback development issuer serves its endpoints on http loopback.
    return _loopback_dev(issuer) and _loopback_dev(url)


# -- metadata ----------------------------------------------------------------------------


@check("AS-META-002", needs=["metadata", "token_exchange", "client_credentials"])
def test_metadata_lists_every_member_the_profile_requires(proctor_target: Target) -> None:
    """Beyond RFC 8414 §2's required members: both grants, the three client
    authentication methods with their signing algorithms (never ``none``), and the
    introspection and revocation endpoints with theirs."""
    metadata = fetch_metadata(proctor_target)
    problems = []
    grants = metadata.get("grant_types_supported") or []
    for grant in ("client_credentials", TOKEN_EXCHANGE_GRANT):
        if grant not in grants:
            problems.append(f"grant_types_supported lacks {grant}")
    if not isinstance(metadata.get("jwks_uri"), str):
        problems.append("jwks_uri is missing")
    if not isinstance(metadata.get("response_types_supported"), list):
        problems.append("response_types_supported is not an array")
    prefixes = ["token_endpoint"]
    for capability, endpoint in (
        ("introspection", "introspection_endpoint"),
        ("revocation", "revocation_endpoint"),
    ):
        if proctor_target.has(capability):
            prefixes.append(endpoint)
            if not isinstance(metadata.get(endpoint), str):
                problems.append(f"{endpoint} is missing")
    for prefix in prefixes:
        methods = metadata.get(f"{prefix}_auth_methods_supported") or []
        wanted = [
            m
            for m in AUTH_METHODS
            if m != "private_key_jwt" or proctor_target.has("private_key_jwt")
        ]
        missing = [m for m in wanted if m not in methods]
        if missing:
            problems.append(f"{prefix}_auth_methods_supported lacks {', '.join(missing)}")
        if "private_key_jwt" in methods:
            algs = metadata.get(f"{prefix}_auth_signing_alg_values_supported")
            if not isinstance(algs, list) or not algs or "none" in algs:
                problems.append(
                    f"{prefix}_auth_signing_alg_values_supported is missing, empty or lists none"
                )
    if problems:
        raise ConformanceFailure("the metadata is incomplete: " + "; ".join(problems))


@check(
    "AS-META-003",
    "AS-META-001",
    shape=("AS-META-003", "ERR-OAUTH-001", "ERR-OAUTH-002"),
    needs=["metadata", "token_exchange", "client_credentials"],
)
def test_metadata_matches_behaviour(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Every endpoint URL is ``https`` (loopback ``http`` in development) and answers as
    that endpoint; a listed authentication method is accepted, an unlisted one
    (``none``, an HS256 assertion) is ``invalid_client``; no authorization endpoint
    without ``code_challenge_methods_supported`` = ``["S256"]``."""
    setup = exchange_setup
    metadata = fetch_metadata(proctor_target)
    issuer = proctor_target.base_url
    for member, value in metadata.items():
        if member.endswith(("_endpoint", "_uri")) and not _https(value, issuer):
            raise ConformanceFailure(f"{member} is not an https URL", observed=repr(value))
    if "authorization_endpoint" in metadata and metadata.get(
        "code_challenge_methods_supported"
    ) != ["S256"]:
        raise ConformanceFailure(
            "an authorization endpoint needs PKCE S256 only",
            observed=repr(metadata.get("code_challenge_methods_supported")),
        )
    with _exchange_control(positive_control, setup).bracket():
        token_endpoint = metadata["token_endpoint"]
        response = post_form(proctor_target, token_endpoint, [("grant_type", "password")])
        expect_error(response, "invalid_client", "the token endpoint without credentials")
        for name in ("introspection", "revocation"):
            url = metadata.get(f"{name}_endpoint")
            if proctor_target.has(name) and isinstance(url, str):
                response = post_form(proctor_target, url, [("token", "x")])
                expect_error(response, "invalid_client", f"the {name} endpoint without credentials")
        methods = metadata.get("token_endpoint_auth_methods_supported") or []
        client = setup.orchestrator
        if client.secret is not None:
            for method, (headers, auth) in (
                ("client_secret_basic", (client.basic(), [])),
                ("client_secret_post", ({}, client.post())),
            ):
                if method in methods:
                    response = post_form(
                        proctor_target,
                        token_endpoint,
                        [*auth, ("grant_type", "client_credentials")],
                        headers,
                    )
                    expect_issued(response, f"listed method {method}", proctor_target)
        unlisted = [m for m in ("none", "client_secret_jwt") if m not in methods]
        if "none" in unlisted:
            response = post_form(
                proctor_target,
                token_endpoint,
                [("client_id", client.client_id), ("grant_type", "client_credentials")],
            )
            expect_error(response, "invalid_client", "unlisted method none")
        algs = metadata.get("token_endpoint_auth_signing_alg_values_supported") or []
        if "HS256" not in algs:
            head = {"alg": "HS256", "typ": "JWT"}
            forged = _hs256(head, client, issuer)
            response = post_form(
                proctor_target,
                token_endpoint,
                [
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", forged),
                    ("grant_type", "client_credentials"),
                ],
            )
            expect_error(response, "invalid_client", "an unlisted assertion alg HS256")


def _hs256(header: Mapping[str, Any], client: Client, audience: str) -> str:
    import base64
    import hashlib
    import hmac
    import secrets
    import time

    def segment(value: Mapping[str, Any]) -> str:
        raw = json.dumps(dict(value), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    signing = (
        segment(header)
        + "."
        + segment(
            {
                "iss": client.client_id,
                "sub": client.client_id,
                "aud": audience,
                "jti": secrets.token_urlsafe(12),
                "iat": now,
                "exp": now + 60,
            }
        )
    )
    mac = hmac.new((client.secret or "k").encode(), signing.encode(), hashlib.sha256).digest()
    return signing + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


# -- keys and the token format -------------------------------------------------------------


@check("AS-JWKS-001", needs=["metadata", "jwks"])
def test_every_published_key_is_public_and_fully_described(proctor_target: Target) -> None:
    """Every JWK has a unique ``kid``, ``use`` = ``sig`` and an ``alg``; none is ``oct``
    or carries private members (RFC 7517 §4, §9)."""
    keys = fetch_jwks(proctor_target)["keys"]
    problems = []
    kids = []
    for key in keys:
        kid = key.get("kid")
        kids.append(kid)
        if not isinstance(kid, str) or not kid:
            problems.append("a key has no kid")
        if key.get("use") != "sig":
            problems.append(f"{kid}: use is {key.get('use')!r}, not sig")
        if not isinstance(key.get("alg"), str):
            problems.append(f"{kid}: no alg")
        if key.get("kty") == "oct":
            problems.append(f"{kid}: a symmetric (oct) key")
        leaked = [m for m in PRIVATE_JWK_MEMBERS if m in key]
        if leaked:
            problems.append(f"{kid}: private members {', '.join(leaked)}")
    if len(kids) != len(set(kids)):
        problems.append("kid values repeat")
    if problems:
        raise ConformanceFailure("the JWK Set breaks AS-JWKS-001: " + "; ".join(problems))


def _verify(token: str, keys: dict[str, Any]) -> None:
    decoded = decode(token)
    assert decoded is not None
    header = decoded[0]
    key_set = KeySet.import_key_set({"keys": [k for k in keys["keys"] if k.get("kty") != "oct"]})
    try:
        jws.deserialize_compact(token, key_set, algorithms=[str(header.get("alg"))])
    except (JoseError, ValueError) as error:
        raise ConformanceFailure(
            "the issued token does not verify with the published key",
            observed=f"{type(error).__name__}: {error}",
        ) from None


@check("AS-FMT-001", "AS-JWKS-002", needs=["metadata", "jwks", *NEEDS])
def test_issued_tokens_are_typed_jwts_signed_by_a_published_key(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """Issued tokens have ``typ`` ``at+jwt``, ``alg`` ES256 or RS256, a ``kid`` of the
    published JWK Set (already published when the token is issued) whose key verifies
    the signature, and no ``jku``, ``x5u``, ``jwk``, ``x5c`` or ``crit``."""
    setup = exchange_setup
    keys = fetch_jwks(proctor_target)
    own = expect_issued(
        client_credentials(proctor_target, setup.orchestrator), "client_credentials", proctor_target
    )
    delegated = expect_issued(setup.delegate(), "a delegation", proctor_target)
    kids = {key.get("kid") for key in keys["keys"]}
    for what, issued in (("a client_credentials token", own), ("a delegated token", delegated)):
        header = issued.header
        typ = str(header.get("typ", "")).lower().removeprefix("application/")
        problems = []
        if typ != "at+jwt":
            problems.append(f"typ {header.get('typ')!r}")
        if header.get("alg") not in SIGNING_ALGS:
            problems.append(f"alg {header.get('alg')!r}")
        if header.get("kid") not in kids:
            problems.append(f"kid {header.get('kid')!r} is not in the JWK Set")
        bad = [m for m in FORBIDDEN_HEADERS if m in header]
        if bad:
            problems.append(f"header carries {', '.join(bad)}")
        if problems:
            raise ConformanceFailure(f"{what} breaks AS-FMT-001: " + "; ".join(problems))
        _verify(issued.token, keys)


@check("AS-FMT-002", needs=NEEDS)
def test_issued_tokens_carry_the_required_claims(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """Every token carries ``iss`` (the issuer), ``exp``, ``aud``, ``sub``, ``client_id``,
    ``iat`` and a ``jti`` unique across tokens; ``scope`` is a string."""
    setup = exchange_setup
    tokens = [
        expect_issued(
            client_credentials(proctor_target, setup.orchestrator),
            "client_credentials",
            proctor_target,
        )
        for _ in range(4)
    ]
    tokens += [expect_issued(setup.delegate(), "a delegation", proctor_target) for _ in range(4)]
    jtis = []
    for issued in tokens:
        claims = issued.claims
        missing = [
            c for c in ("iss", "exp", "aud", "sub", "client_id", "iat", "jti") if c not in claims
        ]
        if missing:
            raise ConformanceFailure(f"an issued token lacks {', '.join(missing)}")
        if claims["iss"] != proctor_target.base_url:
            raise ConformanceFailure(
                "iss is not the issuer identifier", observed=repr(claims["iss"])
            )
        if "scope" in claims and not isinstance(claims["scope"], str):
            raise ConformanceFailure(
                "scope must be a space-separated string", observed=repr(claims["scope"])
            )
        jti = claims["jti"]
        if not isinstance(jti, str) or len(jti) < 16:
            raise ConformanceFailure(
                "jti must be a string of at least 128 bits", observed=repr(jti)
            )
        jtis.append(jti)
    if len(set(jtis)) != len(jtis):
        raise ConformanceFailure("jti values repeat across issued tokens")


@check("AS-FMT-003", needs=NEEDS)
def test_tokens_for_the_service_and_for_targets_have_distinct_audiences(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """Without a target ``aud`` is the issuer; for a target it is exactly the target and
    never the issuer (RFC 9068 §3)."""
    setup = exchange_setup
    own = expect_issued(
        client_credentials(proctor_target, setup.orchestrator), "client_credentials", proctor_target
    )
    if own.claims.get("aud") != proctor_target.base_url:
        raise ConformanceFailure(
            "a token without a target must have the issuer as aud",
            observed=repr(own.claims.get("aud")),
        )
    first, second = setup.chain()
    for name, issued, wanted in (
        ("T1", first, setup.subagent.client_id),
        ("T2", second, setup.audience),
    ):
        if issued.claims.get("aud") != wanted:
            raise ConformanceFailure(
                f"{name}'s aud must be exactly its target",
                expected=repr(wanted),
                observed=repr(issued.claims["aud"]),
            )


@check(
    "AS-FMT-004",
    "TX-SUBJ-003",
    shape=("TX-SUBJ-003", "TX-ERR-001", "ERR-OAUTH-001"),
    needs=INTROSPECTION,
)
def test_only_genuine_access_tokens_are_accepted_as_own_tokens(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """A token of this service with a changed header (``typ`` ``JWT``) or a flipped
    signature, or a token of another kind (a client assertion), is neither active at
    introspection nor accepted as a subject token."""
    setup = exchange_setup
    with _active_control(positive_control, proctor_target, setup).bracket():
        first = expect_issued(setup.delegate(), "T1", proctor_target)
        head, body, signature = first.token.split(".")
        header = dict(first.header, typ="JWT")
        retyped = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
        forgeries = {
            "T1 with typ JWT": f"{retyped}.{body}.{signature}",
            "T1 with a flipped signature bit": tamper(first.token),
            "T1 without its signature": f"{head}.{body}.",
        }
        if setup.orchestrator.key is not None:
            forgeries["a client assertion"] = setup.orchestrator.assertion(proctor_target.base_url)
        for what, token in forgeries.items():
            _expect_inactive(proctor_target, setup.subagent, token, what)
            response = setup.delegate(token, client=setup.subagent)
            expect_error(response, "invalid_request", f"{what} as subject token")


# -- introspection --------------------------------------------------------------------------


@check(
    "AS-INTR-001",
    "TX-CAUTH-001",
    shape=("AS-INTR-001", "TX-CAUTH-001", "ERR-OAUTH-001", "ERR-OAUTH-002"),
    needs=INTROSPECTION,
)
def test_introspection_requires_an_authenticated_client_and_a_token(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Without client authentication introspection is ``invalid_client`` (401); without
    ``token`` it is ``invalid_request``; an unknown or wrong ``token_type_hint`` changes
    nothing (RFC 7662 §2.1)."""
    setup = exchange_setup
    with _active_control(positive_control, proctor_target, setup).bracket():
        token = setup.own_token(setup.orchestrator)
        expect_error(
            introspect(proctor_target, None, token),
            "invalid_client",
            "introspection without client authentication",
        )
        wrong = Client("wrong", setup.orchestrator.client_id, "wrong-secret-value")
        expect_error(
            introspect(proctor_target, wrong, token),
            "invalid_client",
            "introspection with a wrong secret",
        )
        headers, auth = setup.orchestrator.auth(proctor_target.base_url)
        response = post_form(
            proctor_target, proctor_target.endpoint("introspection"), auth, headers
        )
        expect_error(response, "invalid_request", "introspection without token")
        plain = _expect_active(proctor_target, setup.orchestrator, token, "the own token")
        for hint in ("refresh_token", "urn:example:unknown-hint"):
            hinted = _introspected(
                introspect(proctor_target, setup.orchestrator, token, hint),
                f"the own token with hint {hint}",
            )
            if hinted != plain:
                raise ConformanceFailure(
                    f"token_type_hint {hint} changed the answer", observed=json.dumps(hinted)[:300]
                )


@check("AS-INTR-002", catalog="OA-06", needs=INTROSPECTION)
def test_inactive_tokens_are_exactly_active_false(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Malformed, foreign, badly signed and revoked tokens are answered HTTP 200 with
    exactly ``{"active": false}`` (RFC 7662 §2.2)."""
    setup = exchange_setup
    with _active_control(positive_control, proctor_target, setup).bracket():
        own = setup.own_token(setup.orchestrator)
        tokens = {
            "a malformed token": "not-a-token",
            "an own token with a flipped signature bit": tamper(own),
        }
        user = setup.user_token()
        if _foreign(user, proctor_target):
            tokens["a user token of another issuer"] = user
        if setup.can_mint:
            tokens["an expired IdP token"] = setup.mint(presets=["expired"])
        if proctor_target.has("revocation"):
            revoked = setup.own_token(setup.orchestrator)
            done = revoke(proctor_target, setup.orchestrator, revoked)
            if done.status_code != 200:
                raise ConformanceFailure(
                    "revoking an own token must answer 200", observed=f"HTTP {done.status_code}"
                )
            tokens["a revoked own token"] = revoked
        for what, token in tokens.items():
            _expect_inactive(proctor_target, setup.orchestrator, token, what)


@check("AS-INTR-003", "TX-ACT-002", "ERR-OAUTH-003", needs=INTROSPECTION)
def test_active_introspection_mirrors_the_tokens_claims(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """For T2 the answer is ``active: true`` with ``iss sub aud client_id exp iat jti``,
    ``token_type`` Bearer, and ``scope``, ``sub_id`` and the whole ``act`` equal to the
    token's, with ``Cache-Control: no-store``."""
    setup = exchange_setup
    _, second = setup.chain()
    response = introspect(proctor_target, setup.subagent, second.token)
    body = _introspected(response, "T2")
    if body.get("active") is not True:
        raise ConformanceFailure(
            "T2 must introspect as active for the sub-agent", observed=json.dumps(body)[:300]
        )
    if "no-store" not in response.headers.get("cache-control", "").lower():
        raise ConformanceFailure("an introspection answer must carry Cache-Control: no-store")
    claims = second.claims
    members = ["iss", "sub", "aud", "client_id", "exp", "iat", "jti"]
    members += [m for m in ("scope", "sub_id", "act") if m in claims]
    wrong = [m for m in members if body.get(m) != claims.get(m)]
    if wrong:
        raise ConformanceFailure(
            "introspection members must equal the token's claims",
            observed="; ".join(
                f"{m}: {json.dumps(body.get(m))} vs {json.dumps(claims.get(m))}" for m in wrong
            ),
        )
    if str(body.get("token_type", "")).lower() != "bearer":
        raise ConformanceFailure("token_type must be Bearer", observed=repr(body.get("token_type")))


@check("AS-INTR-004", "TX-ACT-005", needs=INTROSPECTION)
def test_only_parties_of_a_token_may_introspect_it(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """The client a token was issued to and its audience see it active; a stranger, and a
    prior actor named only in a nested ``act``, see ``{"active": false}``."""
    setup = exchange_setup
    with _active_control(positive_control, proctor_target, setup).bracket():
        first, second = setup.chain()
        _expect_active(proctor_target, setup.orchestrator, first.token, "T1 (its client)")
        _expect_active(proctor_target, setup.subagent, first.token, "T1 (its audience)")
        _expect_inactive(proctor_target, setup.outsider, first.token, "T1 for the outsider")
        _expect_inactive(
            proctor_target,
            setup.orchestrator,
            second.token,
            "T2 for the orchestrator, only a prior actor in it",
        )


# -- revocation -------------------------------------------------------------------------------


def _revoked(response: httpx.Response, what: str) -> None:
    if response.status_code != 200:
        raise ConformanceFailure(
            f"{what} must answer HTTP 200",
            observed=f"HTTP {response.status_code}: {response.text[:200]}",
        )
    if response.content.strip():
        raise ConformanceFailure(
            f"{what} must answer with an empty body", observed=response.text[:200]
        )
    cache = response.headers.get("cache-control", "").lower()
    if "no-store" not in cache or "no-cache" not in response.headers.get("pragma", "").lower():
        raise ConformanceFailure(
            f"{what}: a revocation answer must carry Cache-Control: no-store and Pragma: "
            "no-cache (ERR-OAUTH-003)"
        )


@check(
    "AS-REV-001",
    "TX-CAUTH-001",
    shape=("AS-REV-001", "TX-CAUTH-001", "ERR-OAUTH-001", "ERR-OAUTH-002"),
    needs=REVOCATION,
)
def test_revocation_requires_an_authenticated_client_and_a_token(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Without client authentication revocation is ``invalid_client`` (401) and revokes
    nothing; without ``token`` it is ``invalid_request``; a wrong hint is ignored."""
    setup = exchange_setup
    with _active_control(positive_control, proctor_target, setup).bracket():
        token = setup.own_token(setup.orchestrator)
        expect_error(
            revoke(proctor_target, None, token),
            "invalid_client",
            "revocation without client authentication",
        )
        _expect_active(
            proctor_target, setup.orchestrator, token, "a token after an unauthenticated revocation"
        )
        headers, auth = setup.orchestrator.auth(proctor_target.base_url)
        response = post_form(proctor_target, proctor_target.endpoint("revocation"), auth, headers)
        expect_error(response, "invalid_request", "revocation without token")
        _revoked(
            revoke(proctor_target, setup.orchestrator, token, "refresh_token"),
            "revoking an access token with the hint refresh_token",
        )
        _expect_inactive(
            proctor_target, setup.orchestrator, token, "a token revoked under a wrong hint"
        )


@check("AS-REV-002", "ERR-OAUTH-003", needs=REVOCATION)
def test_unknown_tokens_are_answered_200_and_change_nothing(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Revoking a malformed, foreign, forged or already revoked token answers 200 with an
    empty body, and leaves the genuine token active (RFC 7009 §2.2)."""
    setup = exchange_setup
    with _active_control(positive_control, proctor_target, setup).bracket():
        token = setup.own_token(setup.orchestrator)
        gone = setup.own_token(setup.orchestrator)
        _revoked(revoke(proctor_target, setup.orchestrator, gone), "a first revocation")
        others = [
            ("a malformed token", "not-a-token"),
            ("a forged copy of a live token", tamper(token)),
            ("an already revoked token", gone),
        ]
        user = setup.user_token()
        if _foreign(user, proctor_target):
            others.append(("a user token of another issuer", user))
        for what, other in others:
            _revoked(revoke(proctor_target, setup.orchestrator, other), f"revoking {what}")
        _expect_active(
            proctor_target,
            setup.orchestrator,
            token,
            "the genuine token after its forged copy was revoked",
        )


@check("AS-REV-003", shape=("AS-REV-003", "ERR-OAUTH-001", "ERR-OAUTH-002"), needs=REVOCATION)
def test_a_client_revokes_only_its_own_tokens(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """The sub-agent cannot revoke T1 (the orchestrator's): ``unauthorized_client`` and T1
    stays active; the orchestrator can (200, empty body)."""
    setup = exchange_setup
    with _active_control(positive_control, proctor_target, setup).bracket():
        first = expect_issued(setup.delegate(), "T1", proctor_target)
        expect_error(
            revoke(proctor_target, setup.subagent, first.token),
            "unauthorized_client",
            "the sub-agent revoking T1",
        )
        _expect_active(
            proctor_target, setup.orchestrator, first.token, "T1 after a refused revocation"
        )
        _revoked(
            revoke(proctor_target, setup.orchestrator, first.token), "the orchestrator revoking T1"
        )
        _expect_inactive(proctor_target, setup.orchestrator, first.token, "a revoked T1")


def _chain3(setup: ExchangeSetup, subject: str) -> list[tuple[Issued, Client]]:
    """T1, T2 and (with a third agent) T3, each with the client it was issued to."""
    first, second = setup.chain(subject)
    hops = [(first, setup.orchestrator), (second, setup.subagent)]
    if setup.third is not None:
        second = expect_issued(
            setup.delegate(first.token, client=setup.subagent, audience=[setup.third.client_id]),
            "T2 for the third agent",
            setup.target,
        )
        third = expect_issued(
            setup.delegate(second.token, client=setup.third, audience=[setup.audience]),
            "T3",
            setup.target,
        )
        hops = [(first, setup.orchestrator), (second, setup.subagent), (third, setup.third)]
    return hops


@check(
    "AS-CASC-001",
    "AS-CASC-002",
    "AS-REV-003",
    shape=("AS-CASC-002", "TX-ERR-001", "ERR-OAUTH-001"),
    catalog="TX-10",
    needs=REVOCATION,
)
def test_revoking_a_middle_token_cascades_down_and_never_up(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Revoking the middle token of a chain makes it and every token derived from it
    inactive at once (introspection, and refused as subject token), while its ancestors
    and the actor tokens stay active."""
    setup = exchange_setup
    with _active_control(positive_control, proctor_target, setup).bracket():
        subject = setup.user_token()
        hops = _chain3(setup, subject)
        middle = 1 if len(hops) == 3 else 0
        token, owner = hops[middle]
        _revoked(revoke(proctor_target, owner, token.token), "revoking the middle token")
        for index, (issued, client) in enumerate(hops):
            label = f"T{index + 1}"
            if index < middle:
                _expect_active(
                    proctor_target,
                    client,
                    issued.token,
                    f"{label}, an ancestor of the revoked token",
                )
            else:
                _expect_inactive(
                    proctor_target,
                    client,
                    issued.token,
                    f"{label}, the revoked token or derived from it",
                )
        last, last_client = hops[-1]
        response = setup.delegate(last.token, client=last_client, audience=[setup.audience])
        expect_error(response, "invalid_request", "a token derived from a revoked one, as subject")
        own_subject = decode(subject)
        if own_subject is not None and own_subject[1].get("iss") == proctor_target.base_url:
            _expect_active(
                proctor_target,
                setup.orchestrator,
                subject,
                "the user's own-token subject, an ancestor",
            )


@check("AS-CASC-001", needs=REVOCATION)
def test_revoking_an_actor_token_cascades_to_what_it_acted_for(
    proctor_target: Target, exchange_setup: ExchangeSetup, positive_control: ControlFactory
) -> None:
    """Revoking the orchestrator's actor token makes T1 and T2 inactive, while another
    token of the orchestrator stays active."""
    setup = exchange_setup
    with _active_control(positive_control, proctor_target, setup).bracket():
        actor = setup.own_token(setup.orchestrator)
        other = setup.own_token(setup.orchestrator)
        first = expect_issued(_delegate_with(setup, actor), "T1", proctor_target)
        second = expect_issued(
            setup.delegate(first.token, client=setup.subagent), "T2", proctor_target
        )
        _revoked(revoke(proctor_target, setup.orchestrator, actor), "revoking the actor token")
        _expect_inactive(
            proctor_target, setup.orchestrator, first.token, "T1, whose actor token was revoked"
        )
        _expect_inactive(proctor_target, setup.subagent, second.token, "T2, derived from T1")
        _expect_active(
            proctor_target, setup.orchestrator, other, "another token of the orchestrator"
        )


def _delegate_with(setup: ExchangeSetup, actor: str) -> httpx.Response:
    return exchange(
        setup.target,
        setup.orchestrator,
        setup.user_token(),
        actor_token=actor,
        audience=[setup.subagent.client_id],
    )


@check("AS-REV-004", needs=[*REVOCATION, "audit", "control_plane"], profiles=["proctor"])
def test_revocations_are_audited_with_every_cascaded_token(
    proctor_target: Target, exchange_setup: ExchangeSetup
) -> None:
    """Revoking T1 appends a ``token.revoke`` event for T1 and one more for T2 (revoked by
    cascade), with T2's actor chain and scopes."""
    from proctor.conformance.native import audit_events

    setup = exchange_setup
    first, second = setup.chain()
    _revoked(revoke(proctor_target, setup.orchestrator, first.token), "revoking T1")
    events = audit_events(
        proctor_target, workload=setup.orchestrator.name, operation="token.revoke"
    )
    chain = [setup.subagent.client_id, setup.orchestrator.client_id]
    cascaded = [e for e in events if e.get("actor_chain") == chain and e.get("decision") == "allow"]
    if not cascaded:
        raise ConformanceFailure(
            "no token.revoke event for T2, revoked by cascade",
            observed=json.dumps(events[-3:])[:600],
        )
    scopes = sorted(str(second.claims.get("scope", "")).split())
    if cascaded[-1].get("scopes") != scopes:
        raise ConformanceFailure(
            "the cascade event must carry T2's scopes",
            expected=json.dumps(scopes),
            observed=json.dumps(cascaded[-1].get("scopes")),
        )
