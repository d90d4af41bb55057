"""The invariant checker on hand-built token sequences.

A correct two-hop chain passes; then each invariant is broken once, by changing exactly
one thing in an otherwise correct hop, and must be reported under its own name (and
nothing else may be reported).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from proctor.conformance.chains import INVARIANTS, Expect, HopObservation, check_hop, decode_jwt

ISSUER = "https://sts.example"
IDP = "https://idp.example/oauth2/default"
ORCH, SUB = "wl_orch", "wl_sub"
NOW = 1_800_000_000

USER: dict[str, Any] = {
    "iss": IDP,
    "sub": "sarah@example.com",
    "aud": "api://default",
    "scp": ["crm.read", "finance.read", "docs.write"],
    "iat": NOW,
    "exp": NOW + 3600,
}


def own_token(client_id: str, exp: int = NOW + 900) -> dict[str, Any]:
    return {"iss": ISSUER, "sub": client_id, "aud": ISSUER, "client_id": client_id, "exp": exp}


T1: dict[str, Any] = {
    "iss": ISSUER,
    "sub": "sarah@example.com",
    "aud": SUB,
    "client_id": ORCH,
    "scope": "crm.read finance.read",
    "act": {"sub": ORCH, "iss": ISSUER},
    "iat": NOW,
    "exp": NOW + 900,
    "jti": "t1",
}
T2: dict[str, Any] = {
    "iss": ISSUER,
    "sub": "sarah@example.com",
    "aud": "https://crm.example/mcp",
    "client_id": SUB,
    "scope": "crm.read",
    "act": {"sub": SUB, "iss": ISSUER, "act": {"sub": ORCH, "iss": ISSUER}},
    "iat": NOW,
    "exp": NOW + 900,
    "jti": "t2",
}


def hop1(**changes: Any) -> HopObservation:
    obs = HopObservation(
        hop=1,
        targets=(SUB,),
        requested_scope=("crm.read", "finance.read"),
        subject=USER,
        actor=own_token(ORCH),
        actor_sent=True,
        actor_client_id=ORCH,
        succeeded=True,
        issued=T1,
        issuer=ISSUER,
    )
    return replace(obs, **changes)


def hop2(**changes: Any) -> HopObservation:
    obs = HopObservation(
        hop=2,
        targets=("https://crm.example/mcp",),
        requested_scope=("crm.read",),
        subject=T1,
        actor=own_token(SUB),
        actor_sent=True,
        actor_client_id=SUB,
        succeeded=True,
        issued=T2,
        issuer=ISSUER,
    )
    return replace(obs, **changes)


def with_claims(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    claims = {**base, **changes}
    return {k: v for k, v in claims.items() if v is not None}


def names(obs: HopObservation) -> list[str]:
    return [v.invariant for v in check_hop(obs)]


def test_a_correct_chain_passes() -> None:
    assert check_hop(hop1()) == []
    assert check_hop(hop2()) == []


def test_a_correct_refusal_passes() -> None:
    refused = hop2(
        succeeded=False,
        issued=None,
        error="invalid_request",
        error_description="depth_exceeded: the chain would exceed max_depth 1",
        expect=Expect(error="invalid_request", cause="depth_exceeded"),
    )
    assert check_hop(refused) == []


BROKEN: list[tuple[str, Callable[[], HopObservation]]] = [
    # scope widens beyond the subject's scope set
    (
        "scope_narrowing",
        lambda: hop2(
            issued=with_claims(T2, scope="crm.read docs.write"),
            requested_scope=("crm.read", "docs.write"),
        ),
    ),
    # scope beyond what was requested (the subject holds it)
    ("scope_narrowing", lambda: hop2(issued=with_claims(T2, scope="crm.read finance.read"))),
    # aud is not the requested target
    ("audience", lambda: hop2(issued=with_claims(T2, aud=["https://crm.example/mcp", SUB]))),
    # exp later than the subject's
    (
        "exp_bound",
        lambda: hop2(issued=with_claims(T2, exp=NOW + 901), actor=own_token(SUB, NOW + 2000)),
    ),
    # exp later than the actor token's
    ("exp_bound", lambda: hop2(actor=own_token(SUB, exp=NOW + 60))),
    # no exp at all
    ("exp_bound", lambda: hop2(issued=with_claims(T2, exp=None))),
    # sub replaced
    ("subject_preserved", lambda: hop2(issued=with_claims(T2, sub="someone-else"))),
    # the current actor is not outermost
    (
        "act_nesting",
        lambda: hop2(
            issued=with_claims(
                T2, act={"sub": ORCH, "iss": ISSUER, "act": {"sub": SUB, "iss": ISSUER}}
            )
        ),
    ),
    # the previous act changed on the way
    (
        "act_nesting",
        lambda: hop2(issued=with_claims(T2, act={"sub": SUB, "iss": ISSUER, "act": {"sub": ORCH}})),
    ),
    # a delegation without act
    ("act_nesting", lambda: hop2(issued=with_claims(T2, act=None))),
    # act carries exp at the nested level
    (
        "act_identity_only",
        lambda: hop2(
            subject=with_claims(T1, act={"sub": ORCH, "iss": ISSUER, "exp": NOW}),
            issued=with_claims(
                T2, act={"sub": SUB, "iss": ISSUER, "act": {"sub": ORCH, "iss": ISSUER, "exp": NOW}}
            ),
        ),
    ),
    # may_act names someone else, yet the token was issued
    (
        "may_act",
        lambda: hop1(
            subject=with_claims(USER, may_act={"sub": "wl_other", "iss": ISSUER}),
            may_act_expected=None,
        ),
    ),
    # a delegated token exchanged without an actor token came back
    (
        "laundering",
        lambda: hop2(
            actor=None, actor_sent=False, actor_client_id=None, issued=with_claims(T2, act=None)
        ),
    ),
    # deeper than max_depth
    ("depth_limit", lambda: hop2(max_depth=1)),
    # the endpoint answered something that is not a JWT
    ("readable", lambda: hop2(issued=None, issued_raw_is_jwt=False)),
    # the file expected a refusal
    ("expected_outcome", lambda: hop1(expect=Expect(error="invalid_request"))),
    # the file's may_act expectation does not hold
    ("may_act_expected", lambda: hop1(may_act_expected=ORCH)),
]


@pytest.mark.parametrize(("invariant", "build"), BROKEN, ids=[b[0] for b in BROKEN])
def test_each_broken_invariant_is_named(
    invariant: str, build: Callable[[], HopObservation]
) -> None:
    assert set(names(build())) == {invariant}


def test_every_invariant_can_be_broken() -> None:
    assert {name for name, _ in BROKEN} == set(INVARIANTS)


def test_may_act_carried_on_is_a_violation() -> None:
    named = {"sub": ORCH, "iss": ISSUER}
    obs = hop1(subject=with_claims(USER, may_act=named), issued=with_claims(T1, may_act=named))
    violations = check_hop(obs)
    assert [v.invariant for v in violations] == ["may_act"]
    assert "carried on" in violations[0].message


def test_may_act_for_another_issuer_is_a_violation() -> None:
    subject = with_claims(USER, may_act={"sub": ORCH})  # no iss: the IdP's iss applies
    assert names(hop1(subject=subject)) == ["may_act"]


def test_impersonation_must_not_issue_act() -> None:
    obs = hop1(actor=None, actor_sent=False, actor_client_id=None)
    assert names(obs) == ["act_nesting"]
    clean = hop1(
        actor=None, actor_sent=False, actor_client_id=None, issued=with_claims(T1, act=None)
    )
    assert check_hop(clean) == []


@pytest.mark.parametrize(
    ("expect", "error", "description", "fails"),
    [
        (Expect(), "invalid_request", "may_act_mismatch: no", True),
        (Expect(error="invalid_scope"), "invalid_request", "x", True),
        (
            Expect(error="invalid_request", cause="depth_exceeded"),
            "invalid_request",
            "other: x",
            True,
        ),
        (Expect(error="invalid_request", cause="depth_exceeded"), "invalid_request", None, True),
        (Expect(error="invalid_request"), "invalid_request", None, False),
    ],
)
def test_refusals_are_compared_with_the_expectation(
    expect: Expect, error: str, description: str | None, fails: bool
) -> None:
    obs = hop1(
        succeeded=False, issued=None, error=error, error_description=description, expect=expect
    )
    assert names(obs) == (["expected_outcome"] if fails else [])


def test_violations_cite_their_requirements() -> None:
    (violation,) = check_hop(hop2(max_depth=1))
    assert violation.requirements == ("TX-DLG-003",)
    assert violation.describe() == ("hop 2: depth_limit [TX-DLG-003]: depth 2 exceeds max_depth 1")


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_decoding_does_not_verify_and_refuses_non_jwts() -> None:
    token = f"{_b64({'alg': 'ES256'})}.{_b64(T1)}.not-a-signature"
    assert decode_jwt(token) == ({"alg": "ES256"}, T1)
    assert decode_jwt("opaque-token") is None
    assert decode_jwt("a.b.c") is None
    assert decode_jwt(f"{_b64([1])}.{_b64(T1)}.x") is None
