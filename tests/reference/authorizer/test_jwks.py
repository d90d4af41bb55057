"""Discovery and the JWKS cache (INB-DISC-*, INB-JWKS-*), on a ManualClock."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from joserfc import jws

from proctor.mock_idps.keys import KeyRing, SigningKey, generate_key
from proctor.reference.authorizer import Authorizer
from proctor.reference.authorizer_config import AuthorizerConfig
from proctor.reference.clock import ManualClock
from proctor.reference.jwks import (
    DiscoveryKeySource,
    StaticKeySource,
    cache_lifetime,
    import_jwks,
)

ISSUER = "https://idp.example/oauth2/default"
DISCOVERY = f"{ISSUER}/.well-known/openid-configuration"
JWKS = f"{ISSUER}/v1/keys"


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Cache-Control": "max-age=300"}, 300),
        ({"Cache-Control": "public, max-age=3600, must-revalidate"}, 3600),
        ({"Cache-Control": "max-age=5"}, 60),  # floor
        ({"Cache-Control": "max-age=9999999"}, 86_400),  # ceiling
        ({"Cache-Control": "max-age=300", "Age": "100"}, 200),
        ({"Cache-Control": "no-store, max-age=300"}, 60),
        ({"Cache-Control": "max-age=300, no-cache"}, 60),
        ({"Cache-Control": "max-age=abc"}, 60),
        ({"Cache-Control": "max-age=\u00b3".encode()}, 60),  # a Unicode digit: not a number
        ({}, 60),
    ],
)
def test_cache_lifetime(headers: dict[str, Any], seconds: int) -> None:
    assert cache_lifetime(httpx.Headers(headers), floor=60, ceiling=86_400) == seconds


def test_cache_control_is_honoured(
    authorizer: Authorizer, idp: Any, mint: Any, clock: ManualClock
) -> None:
    token = mint()
    assert authorizer.decide(token).allowed
    assert (idp.fetched(DISCOVERY), idp.jwks_fetches) == (1, 1)
    clock.advance(299)
    assert authorizer.decide(token).allowed
    assert idp.jwks_fetches == 1  # fresh for max-age=300
    clock.advance(1)
    assert authorizer.decide(token).allowed
    assert (idp.fetched(DISCOVERY), idp.jwks_fetches) == (2, 2)


def test_without_max_age_the_floor_applies(
    authorizer: Authorizer, idp: Any, mint: Any, clock: ManualClock
) -> None:
    idp.cache_control = None
    assert authorizer.decide(mint()).allowed
    clock.advance(59)
    assert authorizer.decide(mint()).allowed
    assert idp.jwks_fetches == 1
    clock.advance(1)
    assert authorizer.decide(mint()).allowed
    assert idp.jwks_fetches == 2


def test_unknown_kid_refresh_is_rate_limited(
    authorizer: Authorizer, idp: Any, ring: KeyRing, mint: Any, clock: ManualClock
) -> None:
    assert authorizer.decide(mint()).allowed
    assert idp.jwks_fetches == 1
    stranger = SigningKey(generate_key("ES256"), "ES256", published=False)
    # Within 60 s of the last fetch: no refresh at all.
    for _ in range(5):
        assert authorizer.decide(mint(key=stranger)).reason == "unknown_key"
    assert idp.jwks_fetches == 1
    clock.advance(60)
    assert authorizer.decide(mint(key=stranger)).reason == "unknown_key"
    assert idp.jwks_fetches == 2  # one refresh...
    assert authorizer.decide(mint(key=stranger)).reason == "unknown_key"
    assert idp.jwks_fetches == 2  # ...and no second one within the interval
    source = authorizer.key_source
    assert isinstance(source, DiscoveryKeySource)
    assert source.stats.unknown_kid_refreshes == 1
    assert source.stats.unknown_kid_refreshes_suppressed == 6


def test_a_rotated_key_is_found_by_refreshing(
    authorizer: Authorizer, idp: Any, ring: KeyRing, mint: Any, clock: ManualClock
) -> None:
    assert authorizer.decide(mint()).allowed
    clock.advance(61)
    ring.rotate()  # an unannounced rotation
    assert authorizer.decide(mint()).allowed
    assert idp.jwks_fetches == 2


def test_unknown_kid_storm_costs_one_fetch(
    authorizer: Authorizer, idp: Any, mint: Any, clock: ManualClock
) -> None:
    assert authorizer.decide(mint()).allowed
    clock.advance(120)  # still fresh (max-age=300), but the refresh interval has passed
    strangers = [SigningKey(generate_key("ES256"), "ES256", published=False) for _ in range(8)]
    tokens = [mint(key=k) for k in strangers] * 4
    start = threading.Barrier(len(tokens))

    def attempt(token: str) -> str:
        start.wait()
        return authorizer.decide(token).reason

    with ThreadPoolExecutor(max_workers=len(tokens)) as pool:
        reasons = list(pool.map(attempt, tokens))
    assert set(reasons) == {"unknown_key"}
    assert idp.jwks_fetches == 2  # the initial fetch and exactly one refresh


@pytest.mark.parametrize("failure", [500, 503, 404, "timeout", "malformed", "not-object"])
def test_outage_is_served_from_the_cache(
    authorizer: Authorizer, idp: Any, mint: Any, clock: ManualClock, failure: int | str
) -> None:
    token = mint()
    assert authorizer.decide(token).allowed
    idp.failure = failure
    clock.advance(301)  # stale
    assert authorizer.decide(token).allowed
    fetches = len(idp.requests)
    clock.advance(30)
    assert authorizer.decide(token).allowed
    assert len(idp.requests) == fetches  # retries wait the refresh interval
    clock.advance(86_400 * 2)  # far beyond the 24 hours INB-JWKS-003 asks for
    assert authorizer.decide(token).reason == "expired"
    fresh = mint()
    assert authorizer.decide(fresh).allowed
    source = authorizer.key_source
    assert isinstance(source, DiscoveryKeySource)
    assert source.stats.fetch_failures >= 2
    assert source.stats.last_error
    idp.failure = None
    clock.advance(60)
    assert authorizer.decide(fresh).allowed
    assert source.stats.last_success_at == clock.now()


def test_a_usable_key_set_is_never_replaced_by_an_empty_one(
    authorizer: Authorizer, idp: Any, ring: KeyRing, mint: Any, clock: ManualClock
) -> None:
    token = mint()
    assert authorizer.decide(token).allowed
    signers = ring.keys()
    for signer in signers:
        signer.published = False
    clock.advance(301)
    assert authorizer.decide(token).allowed


@pytest.mark.parametrize(
    ("discovery_issuer", "jwks_uri"),
    [
        ("https://evil.example/oauth2/default", JWKS),
        (f"{ISSUER}/", JWKS),
        ("https://IDP.example/oauth2/default", JWKS),
        (ISSUER, "http://idp.example/v1/keys"),
        (ISSUER, "ftp://idp.example/keys"),
    ],
    ids=["other-issuer", "trailing-slash", "case", "http-jwks", "ftp-jwks"],
)
def test_unusable_metadata(
    make_idp: Callable[..., Any],
    make_authorizer: Callable[..., Authorizer],
    ring: KeyRing,
    mint: Any,
    discovery_issuer: str,
    jwks_uri: str,
) -> None:
    """INB-DISC-001/002: nothing from such a document is used, not even its jwks_uri."""
    idp = make_idp(ISSUER, ring, jwks_uri=jwks_uri, discovery_issuer=discovery_issuer)
    authorizer = make_authorizer(server=idp)
    assert authorizer.decide(mint()).reason == "unknown_key"
    assert idp.jwks_fetches == 0
    source = authorizer.key_source
    assert isinstance(source, DiscoveryKeySource)
    assert source.stats.fetch_failures == 1


def test_discovery_refresh_failure_keeps_the_known_jwks_uri(
    authorizer: Authorizer, idp: Any, mint: Any, clock: ManualClock
) -> None:
    assert authorizer.decide(mint()).allowed
    idp.discovery_issuer = "https://evil.example"  # the document turns bad, the keys don't
    idp.cache_control = "max-age=60"
    clock.advance(301)
    assert authorizer.decide(mint()).allowed
    assert idp.jwks_fetches == 2


def test_redirects_are_not_followed(
    ring: KeyRing, clock: ManualClock, make_config: Callable[..., AuthorizerConfig], mint: Any
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "https://elsewhere.example/d"})

    with httpx.Client(transport=httpx.MockTransport(handler)) as http:
        authorizer = Authorizer.from_config(make_config(), http=http, clock=clock)
        assert authorizer.decide(mint()).reason == "unknown_key"
    assert seen == [DISCOVERY]


def test_oversized_documents_are_refused(
    idp: Any, make_authorizer: Callable[..., Authorizer], mint: Any
) -> None:
    authorizer = make_authorizer(max_document_bytes=200)  # the JWKS is larger
    assert authorizer.decide(mint()).reason == "unknown_key"
    assert idp.jwks_fetches == 1


def test_fetch_hook_and_stats(
    idp: Any, make_authorizer: Callable[..., Authorizer], mint: Any, clock: ManualClock
) -> None:
    events: list[tuple[str, str]] = []
    authorizer = make_authorizer(on_fetch=lambda doc, outcome: events.append((doc, outcome)))
    assert authorizer.decide(mint()).allowed
    idp.failure = 503
    clock.advance(301)
    assert authorizer.decide(mint()).allowed
    assert events == [
        ("discovery", "ok"),
        ("jwks", "ok"),
        ("discovery", "error"),
        ("jwks", "error"),
    ]
    source = authorizer.key_source
    assert isinstance(source, DiscoveryKeySource)
    stats = source.stats.as_dict()
    assert stats["discovery_fetches"] == 2
    assert stats["jwks_fetches"] == 2
    assert stats["fetch_failures"] == 2


def test_refresh_primes_the_cache(idp: Any, make_authorizer: Callable[..., Authorizer]) -> None:
    source = make_authorizer().key_source
    assert isinstance(source, DiscoveryKeySource)
    assert source.refresh()
    assert idp.jwks_fetches == 1
    idp.failure = 500
    assert not source.refresh()


# -- importing key sets (INB-KEY-004) -------------------------------------------------------


def test_import_skips_keys_that_must_not_verify(keypool: dict[str, Any]) -> None:
    rsa = SigningKey(keypool["rs"], "RS256").public_jwk()
    ec = SigningKey(keypool["es"], "ES256").public_jwk()
    document = {
        "keys": [
            rsa,
            ec,
            {**ec, "kid": "enc", "use": "enc"},
            {**ec, "kid": "ops", "key_ops": ["encrypt"]},
            {**ec, "kid": "ops-ok", "key_ops": ["verify"]},
            {**rsa, "kid": "wrong-alg", "alg": "HS256"},
            {**rsa, "kid": "list-alg", "alg": ["RS256"]},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
            {"kty": "RSA", "kid": "broken", "n": "AQAB"},
            {**rsa, "kid": 7},
            {**{k: v for k, v in ec.items() if k != "alg"}, "kid": "no-alg"},
            "not a key",
            {"kty": ["RSA"]},
        ]
    }
    keys, skipped = import_jwks(document)
    usable = {(k.kid, k.alg) for k in keys}
    assert usable == {
        (keypool["rs"].kid, "RS256"),
        (keypool["es"].kid, "ES256"),
        ("ops-ok", "ES256"),
        ("no-alg", "ES256"),  # without alg, the curve decides: ES256 only
    }
    assert len(skipped) == 9


def test_import_refuses_what_is_not_a_jwk_set() -> None:
    with pytest.raises(ValueError, match="keys"):
        import_jwks({"keys": {"kid": "x"}})


def test_rsa_keys_below_2048_bits_are_never_used() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    numbers = rsa.generate_private_key(65537, 1024).public_key().public_numbers()  # noqa: S505

    def b64int(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    small = {"kty": "RSA", "kid": "small", "n": b64int(numbers.n), "e": b64int(numbers.e)}
    keys, skipped = import_jwks({"keys": [small]})
    assert keys == []
    assert skipped


def test_a_token_without_kid_needs_a_single_candidate(
    keypool: dict[str, Any], clock: ManualClock, make_config: Callable[..., AuthorizerConfig]
) -> None:
    one = {"keys": [SigningKey(keypool["es"], "ES256").public_jwk()]}
    two = {
        "keys": [
            SigningKey(keypool["es"], "ES256").public_jwk(),
            SigningKey(keypool["es-other"], "ES256").public_jwk(),
        ]
    }
    ring = KeyRing([SigningKey(keypool["es"], "ES256")])
    claims = {
        "iss": ISSUER,
        "sub": "s",
        "aud": "api://proctor",
        "client_id": "client-1",
        "scope": "crm.read",
        "exp": clock.now() + 60,
    }
    token = ring.sign(claims, header={"typ": "at+jwt"})
    no_kid = jws.serialize_compact(
        {"alg": "ES256", "typ": "at+jwt"}, json.dumps(claims), keypool["es"], algorithms=["ES256"]
    )
    config = make_config()
    single = Authorizer(config, StaticKeySource(one, ISSUER), clock)
    double = Authorizer(config, StaticKeySource(two, ISSUER), clock)
    assert single.decide(token).allowed
    assert single.decide(no_kid).allowed
    assert double.decide(token).allowed
    assert double.decide(no_kid).reason == "unknown_key"
