"""KeyRing rotation: publish next, switch, retire; exact headers; unpublished keys."""

from __future__ import annotations

import json

import jwt as pyjwt
import pytest

from proctor.mock_idps.clock import Clock
from proctor.mock_idps.keys import KeyRing, SigningKey, generate_key


def _header(token: str) -> dict[str, object]:
    return pyjwt.get_unverified_header(token)


def test_sign_uses_exactly_the_given_header_members() -> None:
    ring = KeyRing.single("RS256")
    token = ring.sign({"sub": "a"})
    assert set(_header(token)) == {"alg", "kid"}
    assert _header(ring.sign({"sub": "a"}, header={"typ": "at+jwt"}))["typ"] == "at+jwt"


def test_token_verifies_against_the_published_jwks() -> None:
    ring = KeyRing.single("ES256")
    token = ring.sign({"sub": "a"})
    (jwk,) = ring.jwks()["keys"]
    key = pyjwt.PyJWK.from_json(json.dumps(jwk))
    assert pyjwt.decode(token, key, algorithms=["ES256"]) == {"sub": "a"}


def test_rotation_publishes_before_use_and_retires_after() -> None:
    ring = KeyRing.single("RS256")
    old = ring.active()
    nxt = ring.publish_next()
    assert {k["kid"] for k in ring.jwks()["keys"]} == {old.kid, nxt.kid}
    assert ring.active().kid == old.kid  # published, not yet signing
    ring.switch()
    assert ring.active().kid == nxt.kid
    assert _header(ring.sign({}))["kid"] == nxt.kid
    assert old.kid in {k["kid"] for k in ring.jwks()["keys"]}  # retired, still published
    assert ring.retire() == [old.kid]
    assert {k["kid"] for k in ring.jwks()["keys"]} == {nxt.kid}


def test_unpublished_key_signs_but_is_absent_from_jwks() -> None:
    ring = KeyRing.single("RS256")
    hidden = ring.add(SigningKey(generate_key("RS256"), "RS256", purpose="org", published=False))
    token = ring.sign({"sub": "x"}, purpose="org")
    assert _header(token)["kid"] == hidden.kid
    assert hidden.kid not in {k["kid"] for k in ring.jwks()["keys"]}


def test_clock_advances_and_freezes() -> None:
    clock = Clock(frozen_at=1_000.0)
    assert clock() == 1_000
    clock.advance(61)
    assert clock() == 1_061
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
