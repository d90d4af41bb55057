"""Properties: mutated tokens are denied, and claim changes follow the configured rules.

Two properties over a valid token (about 200 examples in all; derandomized under CI):

1. Any change to the token's text that the issuer did not sign (header members,
   payload members, signature bytes, single characters) is denied, and nothing raises.
2. A token re-signed after one claim was changed (to a well-chosen or an arbitrary JSON
   value, or removed) is allowed exactly when an independent oracle of the configured
   rules says so.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proctor.mock_idps.keys import KeyRing
from proctor.reference.authorizer import REASONS, Authorizer
from proctor.reference.clock import ManualClock

NOW = 1_800_000_000
ISSUER = "https://idp.example/oauth2/default"
AUDIENCE = "api://proctor"
CLIENT = "client-1"
LEEWAY = 60

PROPERTY_SETTINGS = settings(
    max_examples=100,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=8,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _denied_without_error(authorizer: Authorizer, token: str) -> None:
    decision = authorizer.decide(token)
    assert not decision.allowed
    assert decision.reason in REASONS or decision.reason.startswith("claim_rule_failed:")
    assert decision.identity is None


@pytest.fixture
def ruled(make_authorizer: Any, make_config: Any) -> Authorizer:
    rule = {"claim": "groups", "operator": "contains", "value": "sales", "value_type": "string"}
    return make_authorizer(make_config(custom_claims=[rule]))  # type: ignore[no-any-return]


MUTATIONS = [
    "header-member",
    "payload-member",
    "signature-bytes",
    "insert-char",
    "replace-char",
    "delete-char",
]


@PROPERTY_SETTINGS
@given(data=st.data(), purpose=st.sampled_from(["default", "es"]))
def test_unsigned_changes_are_denied(
    ruled: Authorizer, mint: Any, data: st.DataObject, purpose: str
) -> None:
    token = mint(purpose=purpose)
    assert ruled.decide(token).allowed
    head, body, sig = token.split(".")
    mutation = data.draw(st.sampled_from(MUTATIONS), label="mutation")
    if mutation in ("header-member", "payload-member"):
        segment = head if mutation == "header-member" else body
        obj = json.loads(_unb64(segment))
        names = ["alg", "kid", "typ", "crit", "cty", "jku", "jwk", "x5u", "iss", "aud", "exp"]
        name = data.draw(st.sampled_from(names) | st.text(max_size=5), label="member")
        if data.draw(st.booleans(), label="delete") and name in obj:
            del obj[name]
        else:
            obj[name] = data.draw(json_values, label="value")
        changed = _b64(json.dumps(obj).encode())
        mutated = f"{changed}.{body}.{sig}" if segment is head else f"{head}.{changed}.{sig}"
    elif mutation == "signature-bytes":
        raw = bytearray(_unb64(sig))
        how = data.draw(st.sampled_from(["flip", "truncate", "extend", "zero"]), label="how")
        if how == "flip":
            raw[data.draw(st.integers(0, len(raw) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "truncate":
            raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
        elif how == "extend":
            raw += data.draw(st.binary(min_size=1, max_size=8))
        else:
            raw = bytearray(len(raw))
        mutated = f"{head}.{body}.{_b64(bytes(raw))}"
    else:
        position = data.draw(st.integers(0, len(token) - 1), label="position")
        char = data.draw(
            st.sampled_from(list('Aa0-_=+/. \n\t\u00e9{}"')) | st.characters(), label="char"
        )
        if mutation == "insert-char":
            mutated = token[:position] + char + token[position:]
        elif mutation == "replace-char":
            mutated = token[:position] + char + token[position + 1 :]
        else:
            mutated = token[:position] + token[position + 1 :]
    if mutated != token:
        _denied_without_error(ruled, mutated)


# -- claims re-signed, against an oracle of the configuration ---------------------------------

TARGETED: dict[str, list[Any]] = {
    "iss": [ISSUER, ISSUER + "/", "https://idp.example", ISSUER.upper()],
    "sub": ["sarah@example.com", "", "x"],
    "aud": [AUDIENCE, [AUDIENCE], ["x", AUDIENCE], "x", [], [AUDIENCE, 1], AUDIENCE + "/"],
    "client_id": [CLIENT, "client-2", "", "Client-1"],
    "azp": [CLIENT, "client-2"],
    "cid": [CLIENT, "other"],
    "scope": ["crm.read", "openid", "openid crm.read", "", "crm.read  x", "crm.reads"],
    "scp": [["crm.read"], ["openid"], "crm.read", [1], []],
    "exp": [NOW + 600, NOW - 61, NOW - 60, NOW - 59, NOW + 0.5, 2**64, "1800000600", True],
    "nbf": [NOW, NOW + 60, NOW + 61, NOW + 60.5, "0", False],
    "iat": [NOW, NOW + 60, NOW + 61, None],
    "groups": [["sales"], ["everyone", "sales"], "sales", ["Sales"], [], ["sales", 1]],
    "token_use": ["access", "id", 1],
    "nonce": ["n"],
    "at_hash": ["h"],
}
DELETE = object()


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def _strings(value: Any) -> bool:
    return type(value) is list and all(type(v) is str for v in value)


def oracle(claims: dict[str, Any]) -> bool:
    """The generic test configuration, written independently of the implementation."""
    if claims.get("iss") != ISSUER or type(claims.get("iss")) is not str:
        return False
    if type(claims.get("sub")) is not str or not claims["sub"]:
        return False
    exp: Any = claims.get("exp")
    if not _number(exp) or exp + LEEWAY <= NOW:
        return False
    for name in ("nbf", "iat"):
        if name in claims and (not _number(claims[name]) or claims[name] > NOW + LEEWAY):
            return False
    for name in ("client_id", "azp", "appid", "cid", "scope", "token_use", "uid"):
        if name in claims and type(claims[name]) is not str:
            return False
    if "scp" in claims and not (type(claims["scp"]) is str or _strings(claims["scp"])):
        return False
    aud: Any = claims.get("aud")
    if not (aud == AUDIENCE or (_strings(aud) and AUDIENCE in aud)):
        return False
    if any(name in claims for name in ("nonce", "at_hash", "c_hash")):
        return False
    if claims.get("token_use", "access") != "access":
        return False
    client = next((claims[n] for n in ("client_id", "azp", "appid", "cid") if n in claims), None)
    if client != CLIENT:
        return False
    scopes: set[str] = set()
    for name in ("scp", "scope"):
        value = claims.get(name)
        scopes.update(value.split(" ") if type(value) is str else value or [])
    if "crm.read" not in scopes:
        return False
    groups: Any = claims.get("groups")
    return _strings(groups) and "sales" in groups


@PROPERTY_SETTINGS
@given(data=st.data())
def test_claim_changes_follow_the_rules(
    ruled: Authorizer, mint: Any, clock: ManualClock, ring: KeyRing, data: st.DataObject
) -> None:
    assert clock.now() == NOW
    claims = {
        "iss": ISSUER,
        "sub": "sarah@example.com",
        "aud": AUDIENCE,
        "client_id": CLIENT,
        "scope": "crm.read openid",
        "groups": ["sales", "everyone"],
        "iat": NOW,
        "exp": NOW + 600,
    }
    assert oracle(claims)
    for _ in range(data.draw(st.integers(1, 2), label="changes")):
        name = data.draw(st.sampled_from(sorted(TARGETED)), label="claim")
        value = data.draw(
            st.sampled_from([*TARGETED[name], DELETE]) | json_values, label=f"{name} value"
        )
        if value is DELETE:
            claims.pop(name, None)
        else:
            claims[name] = value
    token = ring.sign(claims, purpose="es", header={"typ": "at+jwt"})
    decision = ruled.decide(token)
    assert decision.allowed is oracle(claims), (claims, decision.reason)
    if decision.allowed:
        assert decision.identity is not None
        assert dict(decision.identity.claims) == json.loads(json.dumps(claims))
