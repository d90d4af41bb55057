"""The service's signing keys: JWKS shape, rotation with the next key published before
use, retired keys kept until their tokens expired, sealed storage (AS-JWKS-001..004,
AS-FMT-001/002)."""

from __future__ import annotations

import os
from dataclasses import replace

import jwt as pyjwt
import pytest

from proctor.reference.clock import ManualClock
from proctor.reference.encryption import DecryptionError, Envelope, LocalKeyProvider
from proctor.reference.keys import (
    PRIVATE_MEMBERS,
    InMemoryKeyStore,
    SigningKeys,
    open_key,
)
from proctor.reference.tokens import AccessTokens, InMemoryTokenRegistry, OwnTokenRejected

from .conftest import ISSUER, START, decode

LIFETIME = 900
LEEWAY = 30


def _envelope() -> Envelope:
    return Envelope(LocalKeyProvider({"kek-1": os.urandom(32)}, "kek-1"))


def _ring(clock: ManualClock, **options: object) -> tuple[SigningKeys, InMemoryKeyStore]:
    store = InMemoryKeyStore()
    keys = SigningKeys(
        store,
        _envelope(),
        clock,
        max_token_lifetime=LIFETIME,
        leeway=LEEWAY,
        **options,  # type: ignore[arg-type]
    )
    return keys, store


def _tokens(
    keys: SigningKeys, clock: ManualClock, registry: InMemoryTokenRegistry | None = None
) -> AccessTokens:
    registry = registry if registry is not None else InMemoryTokenRegistry()
    return AccessTokens(keys, registry, ISSUER, clock, max_lifetime=LIFETIME)


def _issue(tokens: AccessTokens, clock: ManualClock) -> str:
    now = int(clock.now())
    return tokens.issue(
        sub="wl_a",
        client_id="wl_a",
        aud=[ISSUER],
        scopes=(),
        exp=now + LIFETIME,
        grant="client_credentials",
    ).token


def _kids(keys: SigningKeys) -> list[str]:
    return [k["kid"] for k in keys.jwks()["keys"]]


def test_jwks_holds_public_keys_only_with_kid_use_and_alg() -> None:
    clock = ManualClock(START)
    keys, _ = _ring(clock)
    keys.bootstrap()
    keys.rotate()
    document = keys.jwks()
    assert len(document["keys"]) == 2
    for jwk in document["keys"]:
        assert not PRIVATE_MEMBERS & jwk.keys()
        assert jwk["kty"] != "oct"
        assert jwk["use"] == "sig"
        assert jwk["alg"] == "ES256"
        assert jwk["kty"] == "EC"
        assert jwk["crv"] == "P-256"
    kids = _kids(keys)
    assert len(set(kids)) == len(kids)


def test_an_independent_verifier_accepts_tokens_with_the_published_jwks() -> None:
    """RFC 9068 §2.1 with PyJWT as a second implementation."""
    clock = ManualClock(START)
    keys, _ = _ring(clock)
    keys.bootstrap()
    token = _issue(_tokens(keys, clock), clock)
    header, _ = decode(token)
    assert header["typ"] == "at+jwt"
    jwk = next(k for k in keys.jwks()["keys"] if k["kid"] == header["kid"])
    public = pyjwt.PyJWK(jwk).key
    claims = pyjwt.decode(
        token,
        public,
        algorithms=["ES256"],
        audience=ISSUER,
        issuer=ISSUER,
        options={"verify_exp": False},
    )
    assert claims["sub"] == "wl_a"


def test_the_next_key_is_published_before_it_signs() -> None:
    """AS-JWKS-003: publish_ahead (>= 300 s, >= the advertised max-age) before first use."""
    clock = ManualClock(START)
    keys, _ = _ring(clock)
    first = keys.bootstrap()
    tokens = _tokens(keys, clock)
    nxt = keys.rotate()
    assert keys.rotate() == nxt  # idempotent while a next key is pending
    assert keys.max_age <= keys.publish_ahead
    assert keys.state(nxt.kid) == "next"
    assert nxt.kid in _kids(keys)
    assert decode(_issue(tokens, clock))[0]["kid"] == first.kid
    clock.advance(keys.publish_ahead - 1)
    assert decode(_issue(tokens, clock))[0]["kid"] == first.kid
    clock.advance(1)
    assert keys.state(nxt.kid) == "current"
    assert keys.state(first.kid) == "retired"
    assert decode(_issue(tokens, clock))[0]["kid"] == nxt.kid


def test_a_retired_key_stays_published_until_its_tokens_expired() -> None:
    """AS-JWKS-004: retired + max lifetime + leeway, then removed and pruned."""
    clock = ManualClock(START)
    keys, store = _ring(clock)
    first = keys.bootstrap()
    tokens = _tokens(keys, clock)
    nxt = keys.rotate()
    clock.advance(keys.publish_ahead - 1)
    last_by_first = _issue(tokens, clock)  # signed one second before retirement
    clock.advance(1)
    retired_at = clock.now()
    clock.advance(LIFETIME - 2)
    assert tokens.validate(last_by_first).kid == first.kid  # still valid, still verifiable
    assert first.kid in _kids(keys)
    clock.advance(2 + LEEWAY - 1)
    assert first.kid in _kids(keys)
    assert keys.prune() == []
    clock.advance(1)
    assert clock.now() == retired_at + LIFETIME + LEEWAY
    assert keys.state(first.kid) == "removed"
    assert _kids(keys) == [nxt.kid]
    assert keys.prune() == [first.kid]
    assert [r.kid for r in store.list_keys()] == [nxt.kid]


def test_kids_are_never_reused() -> None:
    """AS-JWKS-002: the store refuses a kid it has ever held, even after deletion."""
    clock = ManualClock(START)
    keys, store = _ring(clock)
    first = keys.bootstrap()
    store.delete_key(first.kid)
    with pytest.raises(ValueError, match="one key forever"):
        store.add_key(first)


def test_a_withdrawn_key_stops_verifying_at_once_and_nothing_resurrects() -> None:
    clock = ManualClock(START)
    keys, _ = _ring(clock)
    first = keys.bootstrap()
    tokens = _tokens(keys, clock)
    keys.rotate()
    clock.advance(keys.publish_ahead)
    second_token = _issue(tokens, clock)
    second_kid = decode(second_token)[0]["kid"]
    keys.withdraw(second_kid)
    with pytest.raises(OwnTokenRejected) as rejected:
        tokens.validate(second_token)
    assert rejected.value.reason == "unknown_key"
    # The key the withdrawn one replaced does not sign again.
    assert keys.state(first.kid) == "retired"
    with pytest.raises(RuntimeError):
        keys.signing_key()
    replacement = keys.bootstrap()
    assert replacement.kid not in (first.kid, second_kid)
    clock.advance(LIFETIME + LEEWAY)
    assert set(keys.prune()) == {first.kid, second_kid}
    assert keys.state(first.kid) == "removed"
    assert keys.signing_key().kid == replacement.kid


def test_rs256_keys_sign_and_es256_tokens_still_verify_after_switching() -> None:
    """AS-FMT-002: both algorithms, selectable, and both accepted while published."""
    clock = ManualClock(START)
    store = InMemoryKeyStore()
    envelope = _envelope()
    es = SigningKeys(store, envelope, clock, max_token_lifetime=LIFETIME)
    es.bootstrap()
    registry = InMemoryTokenRegistry()
    es_token = _issue(_tokens(es, clock, registry), clock)
    rs = SigningKeys(store, envelope, clock, algorithm="RS256", max_token_lifetime=LIFETIME)
    rs.rotate()
    clock.advance(rs.publish_ahead)
    rs_tokens = _tokens(rs, clock, registry)
    rs_token = _issue(rs_tokens, clock)
    assert decode(rs_token)[0]["alg"] == "RS256"
    rsa_jwk = next(k for k in rs.jwks()["keys"] if k["alg"] == "RS256")
    assert rsa_jwk["kty"] == "RSA"
    assert not PRIVATE_MEMBERS & rsa_jwk.keys()
    assert rs_tokens.validate(es_token).alg == "ES256"
    assert rs_tokens.validate(rs_token).alg == "RS256"


def test_private_keys_are_sealed_and_bound_to_their_kid() -> None:
    clock = ManualClock(START)
    envelope = _envelope()
    store = InMemoryKeyStore()
    keys = SigningKeys(store, envelope, clock)
    record = keys.bootstrap()
    assert b"PRIVATE" not in record.sealed_private_key
    assert open_key(record, envelope).kid == record.kid
    with pytest.raises(DecryptionError):
        open_key(replace(record, kid="another-kid"), envelope)
    with pytest.raises(DecryptionError):
        open_key(record, _envelope())
    assert "sealed_private_key" not in repr(record)


@pytest.mark.parametrize(
    "options",
    [
        {"publish_ahead": 299},
        {"max_token_lifetime": 3601},
        {"algorithm": "HS256"},
        {"algorithm": "RS256", "rsa_bits": 1024},
    ],
)
def test_misconfiguration_is_a_programmer_error(options: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"publish_ahead|max_token_lifetime|algorithm|RSA"):
        SigningKeys(InMemoryKeyStore(), _envelope(), ManualClock(START), **options)  # type: ignore[arg-type]


def test_a_remembered_token_is_refused_once_its_key_is_withdrawn() -> None:
    """A token validated before (its signature remembered) is refused as soon as its key
    stops being published: the remembered outcome never outlives the key."""
    clock = ManualClock(START)
    keys, _ = _ring(clock)
    keys.bootstrap()
    tokens = _tokens(keys, clock)
    token = _issue(tokens, clock)
    assert tokens.validate(token).kid == decode(token)[0]["kid"]
    keys.rotate()
    clock.advance(keys.publish_ahead)
    keys.bootstrap()
    keys.withdraw(decode(token)[0]["kid"])
    with pytest.raises(OwnTokenRejected) as rejected:
        tokens.validate(token)
    assert rejected.value.reason == "unknown_key"
