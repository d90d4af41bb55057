"""The decision cache (INB-CACHE-001/002): allow-only, bounded, never past exp."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from proctor.mock_idps.keys import KeyRing
from proctor.reference.authorizer import Authorizer
from proctor.reference.authorizer_config import AuthorizerConfig
from proctor.reference.clock import ManualClock

NOW = 1_800_000_000


@pytest.fixture
def cached(
    make_authorizer: Callable[..., Authorizer], make_config: Callable[..., AuthorizerConfig]
) -> Authorizer:
    return make_authorizer(make_config(leeway_seconds=0), cache_size=100)


def test_an_allowed_token_is_served_from_the_cache(cached: Authorizer, mint: Any) -> None:
    token = mint()
    first = cached.decide(token)
    assert first.allowed
    assert cached.decide(token) is first
    assert cached.cache_stats() == {"size": 1, "capacity": 100, "hits": 1, "misses": 1}


def test_a_cached_decision_never_outlives_exp(
    cached: Authorizer, mint: Any, clock: ManualClock
) -> None:
    token = mint({"exp": NOW + 100})
    assert cached.decide(token).allowed
    clock.advance(99)
    assert cached.decide(token).allowed
    assert cached.cache_stats()["hits"] == 1
    clock.advance(1)  # now == exp: RFC 7519 §4.1.4, no longer valid
    assert cached.decide(token).reason == "expired"
    assert cached.cache_stats()["size"] == 0


def test_a_cached_decision_lives_at_most_cache_max_age(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    mint: Any,
    clock: ManualClock,
    idp: Any,
) -> None:
    authorizer = make_authorizer(make_config(), cache_size=10)
    idp.cache_control = "max-age=86400"
    token = mint({"exp": NOW + 3600})
    assert authorizer.decide(token).allowed
    clock.advance(299)
    assert authorizer.decide(token).allowed
    assert authorizer.cache_stats()["hits"] == 1
    clock.advance(1)
    assert authorizer.decide(token).allowed
    assert authorizer.cache_stats()["hits"] == 1  # recomputed, not served


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "api://other"},
        {"exp": NOW - 10},
        {"nbf": NOW + 3600},
        {"kid-unknown": True},
        {"sig": "bad"},
    ],
    ids=["wrong_audience", "expired", "not_yet_valid", "unknown_key", "bad_signature"],
)
def test_denials_are_not_cached(cached: Authorizer, mint: Any, changes: dict[str, Any]) -> None:
    if "kid-unknown" in changes:
        token = mint(header={"kid": "nobody"})
    elif "sig" in changes:
        head, body, sig = mint().split(".")
        token = f"{head}.{body}.{'A' * len(sig)}"
    else:
        token = mint(changes)
    assert not cached.decide(token).allowed
    assert not cached.decide(token).allowed
    assert cached.cache_stats()["size"] == 0


def test_a_configuration_change_invalidates_the_cache(
    cached: Authorizer, mint: Any, make_config: Callable[..., AuthorizerConfig]
) -> None:
    token = mint()
    assert cached.decide(token).allowed
    cached.reconfigure(make_config(allowed_audiences=["api://another"], leeway_seconds=0))
    assert cached.decide(token).reason == "wrong_audience"
    cached.reconfigure(make_config(leeway_seconds=0))
    assert cached.decide(token).allowed


def test_a_removed_key_invalidates_cached_decisions(
    make_authorizer: Callable[..., Authorizer], mint: Any, ring: KeyRing, clock: ManualClock
) -> None:
    authorizer = make_authorizer(cache_size=10, cache_max_age=3000)
    token = mint({"exp": NOW + 3600})
    assert authorizer.decide(token).allowed
    clock.advance(200)
    assert authorizer.decide(token).allowed
    assert authorizer.cache_stats()["hits"] == 1
    ring.rotate()
    ring.retire()  # the key that signed the token leaves the published set
    clock.advance(101)  # the JWKS (max-age=300) is stale and refetched; the entry is not
    assert authorizer.decide(token).reason == "unknown_key"
    assert authorizer.cache_stats()["hits"] == 1


def test_the_kind_is_part_of_the_key(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    mint: Any,
) -> None:
    kinds = [{"kind": "access_token", "typ": ["at+jwt"]}, {"kind": "id_token", "typ": ["JWT"]}]
    authorizer = make_authorizer(make_config(token_kinds=kinds), cache_size=10)
    token = mint()
    assert authorizer.decide(token).allowed
    assert authorizer.decide(token, "id_token").reason == "wrong_token_kind"


def test_the_cache_is_bounded_lru(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    mint: Any,
) -> None:
    authorizer = make_authorizer(make_config(), cache_size=2)
    a, b, c = (mint({"jti": name}) for name in "abc")
    for token in (a, b, a, c):  # c evicts b, the least recently used
        assert authorizer.decide(token).allowed
    assert authorizer.cache_stats()["size"] == 2
    hits = authorizer.cache_stats()["hits"]
    assert authorizer.decide(a).allowed
    assert authorizer.cache_stats()["hits"] == hits + 1
    assert authorizer.decide(b).allowed
    assert authorizer.cache_stats()["hits"] == hits + 1


def test_cache_can_be_turned_off(authorizer: Authorizer, mint: Any) -> None:
    token = mint()
    assert authorizer.decide(token).allowed
    assert authorizer.decide(token).allowed
    assert authorizer.cache_stats() == {"size": 0, "capacity": 0, "hits": 0, "misses": 0}
