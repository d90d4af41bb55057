"""RFC 8693 token exchange as spec 07 profiles it: the design scenario end to end, and each
TX-01 ... TX-12 negative of the catalog as its own test, bracketed by positive controls."""

from __future__ import annotations

from typing import Any

import pytest

from proctor.reference.grants import OAuthResult
from proctor.reference.token_exchange import ID_TOKEN_TYPE, JWT_TOKEN_TYPE
from proctor.reference.tokens import ACT_FORBIDDEN_CLAIMS

from .conftest import IDP_CLIENT, ISSUER, TOKEN_EXCHANGE, Service, decode

SARAH = "00u1sarah"


def ok(result: OAuthResult) -> dict[str, Any]:
    assert result.status == 200, result.body
    assert result.body is not None
    return result.body


def refused(result: OAuthResult, error: str, cause: str | None = None) -> None:
    """Refused with ``error`` (and the TX-ERR-002 cause as description prefix)."""
    assert result.status == (401 if error == "invalid_client" else 400), result.body
    assert result.body is not None
    assert result.body["error"] == error, result.body
    assert set(result.body) == {"error", "error_description"}
    assert result.headers["Cache-Control"] == "no-store"
    if cause is not None:
        assert result.body["error_description"].startswith(f"{cause}: "), result.body
    assert result.audit[0].decision == "deny"
    assert result.audit[0].reason == error


def t1(svc: Service, **kwargs: Any) -> str:
    """The orchestrator's delegated token for the sub-agent (Sarah's token as subject)."""
    kwargs.setdefault("audience", ["wl_subagent"])
    body = ok(svc.exchange("orchestrator", svc.user_token(), **kwargs))
    return str(body["access_token"])


def t2(svc: Service, subject: str, **kwargs: Any) -> str:
    kwargs.setdefault("resource", ["https://crm.example/mcp"])
    return str(ok(svc.exchange("subagent", subject, **kwargs))["access_token"])


# -- the design scenario ----------------------------------------------------------------


def test_delegation_chain_end_to_end(svc: Service) -> None:
    """Design §5: sub = Sarah, act names the orchestrator, then nests the sub-agent
    outermost; aud is the next hop; scope narrows (TX-ACT-001/002, TX-CLAIM-001/002,
    TX-TGT-002, TX-SCOPE-001, TX-RESP-001/002)."""
    user = svc.user_token(scope="crm.read finance.read docs.write")
    result = svc.exchange("orchestrator", user, audience=["wl_subagent"], scope="crm.read")
    body = ok(result)
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in", "scope"}
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "crm.read"
    assert "refresh_token" not in body
    header, claims = decode(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert "kid" in header
    assert set(claims) == {
        "iss",
        "sub",
        "sub_id",
        "aud",
        "client_id",
        "scope",
        "act",
        "iat",
        "exp",
        "jti",
    }
    assert claims["iss"] == ISSUER
    assert claims["sub"] == SARAH
    assert claims["sub_id"] == {"format": "iss_sub", "iss": svc.idp.issuer, "sub": SARAH}
    assert claims["aud"] == "wl_subagent"
    assert claims["client_id"] == "wl_orchestrator"
    assert claims["act"] == {"sub": "wl_orchestrator", "iss": ISSUER}
    assert body["expires_in"] == claims["exp"] - claims["iat"]

    second = ok(
        svc.exchange("subagent", body["access_token"], resource=["https://crm.example/mcp"])
    )
    _, claims2 = decode(second["access_token"])
    assert claims2["sub"] == SARAH
    assert claims2["sub_id"] == claims["sub_id"]
    assert claims2["aud"] == "https://crm.example/mcp"
    assert claims2["client_id"] == "wl_subagent"
    assert claims2["act"] == {
        "sub": "wl_subagent",
        "iss": ISSUER,
        "act": {"sub": "wl_orchestrator", "iss": ISSUER},
    }
    assert claims2["scope"] == "crm.read"
    assert claims2["exp"] <= claims["exp"]
    audit = result.audit[0]
    assert audit.operation == "token.exchange"
    assert audit.workload == "orchestrator"
    assert audit.user == {"issuer": svc.idp.issuer, "subject": SARAH}
    assert audit.actor_chain == ["wl_orchestrator"]
    assert audit.decision == "allow"
    assert audit.reason == "ok"


def test_several_targets_become_an_aud_array_in_request_order(svc: Service) -> None:
    """TX-TGT-002: exactly the requested targets, duplicates removed, in request order."""
    subject = t1(svc)
    body = ok(
        svc.exchange(
            "subagent",
            subject,
            resource=["https://crm.example/mcp"],
            audience=["wl_crm-mcp", "wl_crm-mcp"],
        )
    )
    _, claims = decode(body["access_token"])
    assert claims["aud"] == ["wl_crm-mcp", "https://crm.example/mcp"]


# -- request syntax: TX-REQ-001 ... TX-REQ-008 ---------------------------------------------


def test_missing_grant_type_is_invalid_request(svc: Service) -> None:
    refused(svc.token_request([("scope", "x")], "orchestrator"), "invalid_request")


@pytest.mark.parametrize(
    "grant_type", ["password", "authorization_code", "refresh_token", "urn:example:other"]
)
def test_other_grant_types_are_unsupported(svc: Service, grant_type: str) -> None:
    result = svc.token_request([("grant_type", grant_type)], "orchestrator")
    refused(result, "unsupported_grant_type")
    assert result.audit[0].operation == "token.issue"


@pytest.mark.parametrize(
    "name", ["grant_type", "scope", "subject_token", "subject_token_type", "client_id"]
)
def test_a_repeated_parameter_is_invalid_request_even_with_equal_values(
    svc: Service, name: str
) -> None:
    """TX-REQ-004: only audience and resource repeat."""
    pairs = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", svc.user_token()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("audience", "wl_subagent"),
        ("scope", "crm.read"),
        ("client_id", "wl_orchestrator"),
    ]
    pairs.append(next(p for p in pairs if p[0] == name))
    refused(svc.token_request(pairs, "orchestrator"), "invalid_request", "malformed_request")


def test_empty_values_count_as_absent_and_unknown_parameters_are_ignored(svc: Service) -> None:
    """TX-REQ-005."""
    body = ok(
        svc.exchange(
            "orchestrator",
            svc.user_token(),
            audience=["wl_subagent"],
            extra=[("scope", ""), ("requested_token_type", ""), ("x-unknown", "1")],
        )
    )
    _, claims = decode(body["access_token"])
    assert claims["scope"] == "crm.read finance.read"  # no scope requested: S ∩ P


def test_tx01_missing_subject_token_type(svc: Service) -> None:
    pairs = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", svc.user_token()),
        ("audience", "wl_subagent"),
    ]
    refused(svc.token_request(pairs, "orchestrator"), "invalid_request", "malformed_request")


def test_tx01_missing_subject_token(svc: Service) -> None:
    pairs = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("audience", "wl_subagent"),
    ]
    refused(svc.token_request(pairs, "orchestrator"), "invalid_request", "malformed_request")


@pytest.mark.parametrize(
    "token_type",
    [
        "urn:ietf:params:oauth:token-type:refresh_token",
        "urn:ietf:params:oauth:token-type:saml1",
        "urn:ietf:params:oauth:token-type:saml2",
        "urn:example:unknown",
        "access_token",
    ],
)
def test_tx01_unsupported_subject_token_type(svc: Service, token_type: str) -> None:
    assert ok(svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"]))
    result = svc.exchange(
        "orchestrator", svc.user_token(), audience=["wl_subagent"], subject_type=token_type
    )
    refused(result, "invalid_request", "malformed_request")


def test_tx02_actor_token_without_its_type(svc: Service) -> None:
    pairs = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", svc.user_token()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("actor_token", svc.cc_token("orchestrator")),
        ("audience", "wl_subagent"),
    ]
    refused(svc.token_request(pairs, "orchestrator"), "invalid_request", "malformed_request")


def test_tx02_actor_token_type_without_a_token(svc: Service) -> None:
    pairs = [
        ("grant_type", TOKEN_EXCHANGE),
        ("subject_token", svc.user_token()),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("actor_token_type", "urn:ietf:params:oauth:token-type:access_token"),
        ("audience", "wl_subagent"),
    ]
    refused(svc.token_request(pairs, "orchestrator"), "invalid_request", "malformed_request")


def test_id_token_as_actor_token_type_is_refused(svc: Service) -> None:
    """TX-REQ-006: the actor is proven by an access token only."""
    result = svc.exchange(
        "orchestrator", svc.user_token(), audience=["wl_subagent"], actor_type=ID_TOKEN_TYPE
    )
    refused(result, "invalid_request", "malformed_request")


def test_requested_token_type_jwt_is_honoured_and_others_refused(svc: Service) -> None:
    """TX-REQ-007."""
    body = ok(
        svc.exchange(
            "orchestrator",
            svc.user_token(),
            audience=["wl_subagent"],
            extra=[("requested_token_type", JWT_TOKEN_TYPE)],
        )
    )
    assert body["issued_token_type"] == JWT_TOKEN_TYPE
    assert body["token_type"] == "Bearer"
    result = svc.exchange(
        "orchestrator",
        svc.user_token(),
        audience=["wl_subagent"],
        extra=[("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")],
    )
    refused(result, "invalid_request", "malformed_request")


@pytest.mark.parametrize(
    "resource", ["/relative/path", "crm.example/mcp", "https://crm.example/mcp#frag", "not a uri"]
)
def test_a_malformed_resource_is_invalid_target(svc: Service, resource: str) -> None:
    """TX-REQ-008, RFC 8707 §2."""
    result = svc.exchange("subagent", t1(svc), resource=[resource])
    refused(result, "invalid_target", "target_not_allowed")


def test_a_request_without_any_target_is_invalid_target(svc: Service) -> None:
    """TX-REQ-008: every delegated token names its next hop."""
    refused(svc.exchange("orchestrator", svc.user_token()), "invalid_target", "target_not_allowed")


# -- TX-03: forged, expired or revoked subject or actor tokens ----------------------------


def test_tx03_forged_external_subject_token(svc: Service) -> None:
    token = svc.user_token()
    header, payload, signature = token.split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert ok(svc.exchange("orchestrator", token, audience=["wl_subagent"]))
    result = svc.exchange("orchestrator", f"{header}.{payload}.{flipped}", audience=["wl_subagent"])
    refused(result, "invalid_request", "subject_token_invalid")
    assert "bad_signature" in result.body["error_description"]  # type: ignore[index]


def test_tx03_subject_token_signed_by_an_unknown_key(svc: Service) -> None:
    from .conftest import FakeIdp

    impostor = FakeIdp(svc.idp.issuer)  # same issuer and kid, another key
    now = int(svc.clock.now())
    forged = impostor.token(
        {
            "iss": svc.idp.issuer,
            "sub": SARAH,
            "aud": svc.idp_audience,
            "client_id": IDP_CLIENT,
            "scope": "crm.read",
            "iat": now,
            "exp": now + 600,
        }
    )
    result = svc.exchange("orchestrator", forged, audience=["wl_subagent"])
    refused(result, "invalid_request", "subject_token_invalid")


def test_tx03_expired_external_subject_token(svc: Service) -> None:
    token = svc.user_token(lifetime=60)
    svc.clock.advance(60)
    result = svc.exchange("orchestrator", token, audience=["wl_subagent"])
    refused(result, "invalid_request", "subject_token_invalid")
    assert result.body["error"] != "invalid_grant"  # type: ignore[index]


def test_tx03_expired_own_subject_token(svc: Service) -> None:
    subject = t1(svc)
    _, claims = decode(subject)
    svc.clock.advance(claims["exp"] - svc.clock.now())
    refused(
        svc.exchange("subagent", subject, resource=["https://crm.example/mcp"]),
        "invalid_request",
        "subject_token_invalid",
    )


def test_tx03_revoked_own_subject_token(svc: Service) -> None:
    subject = t1(svc)
    assert ok(svc.exchange("subagent", subject, resource=["https://crm.example/mcp"]))
    revoked = svc.revocation.handle([("token", subject)], svc.basic("orchestrator"))
    assert revoked.status == 200
    result = svc.exchange("subagent", subject, resource=["https://crm.example/mcp"])
    refused(result, "invalid_request", "subject_token_invalid")


def test_tx03_forged_actor_token(svc: Service) -> None:
    actor = svc.cc_token("orchestrator")
    header, payload, signature = actor.split(".")
    forged = f"{header}.{payload}.{signature[::-1]}"
    result = svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"], actor=forged)
    refused(result, "invalid_request", "actor_token_invalid")


def test_tx03_expired_actor_token(svc: Service) -> None:
    actor = svc.cc_token("orchestrator")
    svc.clock.advance(900)
    user = svc.user_token()
    result = svc.exchange("orchestrator", user, audience=["wl_subagent"], actor=actor)
    refused(result, "invalid_request", "actor_token_invalid")


def test_tx03_revoked_actor_token(svc: Service) -> None:
    actor = svc.cc_token("orchestrator")
    assert svc.revocation.handle([("token", actor)], svc.basic("orchestrator")).status == 200
    result = svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"], actor=actor)
    refused(result, "invalid_request", "actor_token_invalid")


def test_tx03_an_opaque_subject_token_is_invalid_request(svc: Service) -> None:
    """Workload access tokens and other opaque strings are not subject tokens (TX-REQ-006)."""
    result = svc.exchange("orchestrator", "wat_abcdefghijklmnop", audience=["wl_subagent"])
    refused(result, "invalid_request", "subject_token_invalid")


def test_an_external_actor_token_is_refused(svc: Service) -> None:
    """TX-ACTOR-001: the actor is always a workload proven by an own token."""
    result = svc.exchange(
        "orchestrator", svc.user_token(), audience=["wl_subagent"], actor=svc.user_token("bob")
    )
    refused(result, "invalid_request", "actor_token_invalid")


def test_an_actor_token_that_carries_act_is_refused(svc: Service) -> None:
    """TX-ACTOR-001: a delegated token does not prove a workload."""
    delegated = t1(svc)
    result = svc.exchange("subagent", svc.user_token(), audience=["wl_crm-mcp"], actor=delegated)
    refused(result, "invalid_request", "actor_token_invalid")


def test_a_disabled_actor_is_refused(svc: Service) -> None:
    """TX-ACTOR-001 with actor = any_registered_workload: the actor must be enabled."""
    svc.add_workload("helper")
    svc.policies.put(
        svc.policies.policies_for("orchestrator")[0].model_copy(
            update={"actor": "any_registered_workload"}
        )
    )
    actor = svc.cc_token("helper")  # aud: the issuer
    helper = svc.workloads["helper"]
    from dataclasses import replace

    svc.directory.put(replace(helper, disabled=True))
    result = svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"], actor=actor)
    refused(result, "invalid_request", "actor_token_invalid")


# -- TX-04: targets -------------------------------------------------------------------------


def test_tx04_audience_not_in_the_policy(svc: Service) -> None:
    assert ok(svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"]))
    result = svc.exchange("orchestrator", svc.user_token(), audience=["wl_crm-mcp"])
    refused(result, "invalid_target", "target_not_allowed")


def test_tx04_resource_not_in_the_policy(svc: Service) -> None:
    result = svc.exchange("subagent", t1(svc), resource=["https://finance.example/mcp"])
    refused(result, "invalid_target", "target_not_allowed")


def test_tx04_targets_spread_over_two_policies(svc: Service) -> None:
    """TX-TGT-001: one policy must contain every requested target."""
    svc.add_policy("subagent-to-docs", "subagent", audiences=["wl_docs"], scopes=["crm.read"])
    result = svc.exchange("subagent", t1(svc), audience=["wl_crm-mcp", "wl_docs"])
    refused(result, "invalid_target", "target_not_allowed")


def test_a_workload_without_any_policy_is_unauthorized_client(svc: Service) -> None:
    """TX-TGT-001, TX-REQ-009 step 4: before the parameters are even read."""
    result = svc.token_request([("grant_type", TOKEN_EXCHANGE)], "outsider")
    refused(result, "unauthorized_client", "no_exchange_policy")


# -- TX-05: scope ---------------------------------------------------------------------------


def test_tx05_a_wider_scope_is_narrowed_never_widened(svc: Service) -> None:
    """TX-SCOPE-001: R ∩ S ∩ P; values outside S ∩ P are dropped, not refused."""
    user = svc.user_token(scope="crm.read")
    body = ok(
        svc.exchange(
            "orchestrator", user, audience=["wl_subagent"], scope="crm.read finance.read admin"
        )
    )
    assert body["scope"] == "crm.read"
    _, claims = decode(body["access_token"])
    assert claims["scope"] == "crm.read"


def test_tx05_a_scope_of_which_nothing_can_be_granted_is_invalid_scope(svc: Service) -> None:
    """TX-SCOPE-003."""
    user = svc.user_token(scope="crm.read")
    result = svc.exchange("orchestrator", user, audience=["wl_subagent"], scope="finance.read")
    refused(result, "invalid_scope", "scope_not_granted")


@pytest.mark.parametrize("scope", ['crm"read', "crm\\read", "crm.read\u00e9"])
def test_tx05_a_malformed_scope_is_invalid_scope(svc: Service, scope: str) -> None:
    result = svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"], scope=scope)
    refused(result, "invalid_scope", "scope_not_granted")


def test_tx05_no_requested_scope_grants_what_the_subject_holds_within_the_policy(
    svc: Service,
) -> None:
    """TX-SCOPE-002; an empty intersection means no scope claim at all."""
    body = ok(
        svc.exchange("orchestrator", svc.user_token(scope="docs.write"), audience=["wl_subagent"])
    )
    _, claims = decode(body["access_token"])
    assert "scope" not in claims
    assert "scope" not in body


# -- TX-06: may_act ---------------------------------------------------------------------------


def test_tx06_may_act_naming_the_actor_is_honoured(svc: Service) -> None:
    user = svc.user_token(may_act={"sub": "wl_orchestrator", "iss": ISSUER})
    body = ok(svc.exchange("orchestrator", user, audience=["wl_subagent"]))
    _, claims = decode(body["access_token"])
    assert "may_act" not in claims  # TX-MAYACT-001: never carried over


def test_tx06_actor_not_named_in_may_act(svc: Service) -> None:
    user = svc.user_token(may_act={"sub": "wl_somebody-else", "iss": ISSUER})
    result = svc.exchange("orchestrator", user, audience=["wl_subagent"])
    refused(result, "invalid_request", "may_act_mismatch")


def test_tx06_may_act_for_another_issuer(svc: Service) -> None:
    """Without ``iss`` the subject token's own issuer applies: here the IdP, not proctor."""
    user = svc.user_token(may_act={"sub": "wl_orchestrator"})
    result = svc.exchange("orchestrator", user, audience=["wl_subagent"])
    refused(result, "invalid_request", "may_act_mismatch")


@pytest.mark.parametrize("may_act", ["wl_orchestrator", ["wl_orchestrator"], {"iss": ISSUER}])
def test_tx06_malformed_may_act(svc: Service, may_act: Any) -> None:
    user = svc.user_token(may_act=may_act)
    refused(svc.exchange("orchestrator", user, audience=["wl_subagent"]), "invalid_request")


# -- TX-07: delegation laundering --------------------------------------------------------------


def test_tx07_a_delegated_token_exchanged_without_actor_is_refused(svc: Service) -> None:
    """Keycloak #52691: even where impersonation is allowed."""
    svc.policies.put(
        svc.policies.policies_for("subagent")[0].model_copy(update={"allow_impersonation": True})
    )
    subject = t1(svc)
    result = svc.exchange("subagent", subject, actor=None, resource=["https://crm.example/mcp"])
    refused(result, "invalid_request", "delegation_laundering")


def test_tx07_a_may_act_subject_without_actor_is_refused(svc: Service) -> None:
    svc.policies.put(
        svc.policies.policies_for("orchestrator")[0].model_copy(
            update={"allow_impersonation": True}
        )
    )
    assert ok(svc.exchange("orchestrator", svc.user_token(), actor=None, audience=["wl_subagent"]))
    user = svc.user_token(may_act={"sub": "wl_orchestrator", "iss": ISSUER})
    result = svc.exchange("orchestrator", user, actor=None, audience=["wl_subagent"])
    refused(result, "invalid_request", "delegation_laundering")


# -- TX-08: the act claim ------------------------------------------------------------------


def _walk(act: dict[str, Any] | None) -> list[dict[str, Any]]:
    levels = []
    while act is not None:
        levels.append(act)
        act = act.get("act")
    return levels


def test_tx08_current_actor_outermost_prior_chain_nested_unchanged(svc: Service) -> None:
    svc.add_policy("crm-to-db", "crm-mcp", audiences=["wl_db"], scopes=["crm.read"])
    first = t1(svc)
    second = t2(svc, first, audience=["wl_crm-mcp"], resource=[])
    third = ok(svc.exchange("crm-mcp", second, audience=["wl_db"]))["access_token"]
    _, c1 = decode(first)
    _, c2 = decode(second)
    _, c3 = decode(third)
    assert c3["act"]["sub"] == "wl_crm-mcp"  # the authenticated actor
    assert c3["act"]["act"] == c2["act"]  # the subject's chain, member for member
    assert c2["act"]["act"] == c1["act"]
    assert [level["sub"] for level in _walk(c3["act"])] == [
        "wl_crm-mcp",
        "wl_subagent",
        "wl_orchestrator",
    ]
    for level in _walk(c3["act"]):
        assert not ACT_FORBIDDEN_CLAIMS & level.keys()
        assert set(level) <= {"sub", "iss", "client_id", "act"}


@pytest.mark.parametrize("claim", sorted(ACT_FORBIDDEN_CLAIMS))
def test_a_foreign_act_with_non_identity_claims_is_refused(svc: Service, claim: str) -> None:
    """TX-ACT-004: the chain is copied unchanged, so it must already fit the profile."""
    act = {"sub": "agent-x", "act": {"sub": "agent-y", claim: 1}}
    result = svc.exchange("orchestrator", svc.user_token(act=act), audience=["wl_subagent"])
    refused(result, "invalid_request", "subject_token_invalid")


def test_a_foreign_act_nested_deeper_than_16_is_refused(svc: Service) -> None:
    act: dict[str, Any] = {"sub": "a0"}
    for level in range(1, 17):
        act = {"sub": f"a{level}", "act": act}
    result = svc.exchange("orchestrator", svc.user_token(act=act), audience=["wl_subagent"])
    refused(result, "invalid_request", "subject_token_invalid")


def test_a_foreign_act_within_the_profile_is_nested_and_counted(svc: Service) -> None:
    act = {"sub": "upstream-agent", "iss": "https://other.example", "email": "a@example.com"}
    body = ok(svc.exchange("orchestrator", svc.user_token(act=act), audience=["wl_subagent"]))
    _, claims = decode(body["access_token"])
    assert claims["act"] == {"sub": "wl_orchestrator", "iss": ISSUER, "act": act}


# -- TX-09: actor = subject, impersonation ----------------------------------------------------


def test_tx09_actor_equal_to_subject_is_refused(svc: Service) -> None:
    """TX-ACTOR-003: the orchestrator's own token as subject, itself as actor."""
    svc.policies.put(
        svc.policies.policies_for("orchestrator")[0].model_copy(
            update={"subject_issuers": ("self",)}
        )
    )
    subject = svc.cc_token("orchestrator")
    result = svc.exchange("orchestrator", subject, audience=["wl_subagent"])
    refused(result, "invalid_request", "actor_is_subject")


def test_tx09_impersonation_without_policy_is_refused(svc: Service) -> None:
    result = svc.exchange("orchestrator", svc.user_token(), actor=None, audience=["wl_subagent"])
    refused(result, "invalid_request", "impersonation_not_allowed")


def test_tx09_impersonation_with_policy_issues_no_act(svc: Service) -> None:
    """TX-DLG-002."""
    svc.policies.put(
        svc.policies.policies_for("orchestrator")[0].model_copy(
            update={"allow_impersonation": True}
        )
    )
    body = ok(svc.exchange("orchestrator", svc.user_token(), actor=None, audience=["wl_subagent"]))
    _, claims = decode(body["access_token"])
    assert "act" not in claims
    assert claims["sub"] == SARAH
    assert claims["client_id"] == "wl_orchestrator"


def test_the_actor_must_be_the_client_unless_the_policy_says_otherwise(svc: Service) -> None:
    """TX-ACTOR-002."""
    svc.add_workload("helper")
    helper_for_orchestrator = svc.cc_token("helper")  # aud: the issuer only
    result = svc.exchange(
        "orchestrator", svc.user_token(), audience=["wl_subagent"], actor=helper_for_orchestrator
    )
    refused(result, "invalid_request", "actor_not_allowed")
    svc.policies.put(
        svc.policies.policies_for("orchestrator")[0].model_copy(
            update={"actor": "any_registered_workload"}
        )
    )
    # Allowed now, but the actor token must have been obtained for this client.
    result = svc.exchange(
        "orchestrator", svc.user_token(), audience=["wl_subagent"], actor=helper_for_orchestrator
    )
    refused(result, "invalid_request", "actor_not_allowed")
    svc.add_policy("helper-to-orchestrator", "helper", audiences=["wl_orchestrator"])
    obtained = svc.cc_token("helper", ("audience", "wl_orchestrator"))
    body = ok(
        svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"], actor=obtained)
    )
    _, claims = decode(body["access_token"])
    assert claims["act"] == {"sub": "wl_helper", "iss": ISSUER}
    assert claims["client_id"] == "wl_orchestrator"


# -- TX-10: lifetime and revocation ---------------------------------------------------------


def test_tx10_a_derived_token_never_outlives_its_subject(svc: Service) -> None:
    user = svc.user_token(lifetime=120)
    _, user_claims = decode(user)
    body = ok(svc.exchange("orchestrator", user, audience=["wl_subagent"]))
    _, claims = decode(body["access_token"])
    assert claims["exp"] == user_claims["exp"]
    assert body["expires_in"] == 120


def test_tx10_a_derived_token_never_outlives_its_actor_token(svc: Service) -> None:
    """TX-EXP-002."""
    actor = svc.cc_token("orchestrator")
    _, actor_claims = decode(actor)
    svc.clock.advance(500)
    body = ok(svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"], actor=actor))
    _, claims = decode(body["access_token"])
    assert claims["exp"] == actor_claims["exp"]


def test_tx10_revoking_the_subject_kills_the_children(svc: Service) -> None:
    first = t1(svc)
    second = t2(svc, first, audience=["wl_crm-mcp"], resource=[])
    active = svc.introspection.handle([("token", second)], svc.basic("crm-mcp"))
    assert active.body is not None
    assert active.body["active"] is True
    assert svc.revocation.handle([("token", first)], svc.basic("orchestrator")).status == 200
    inactive = svc.introspection.handle([("token", second)], svc.basic("crm-mcp"))
    assert inactive.body == {"active": False}


# -- TX-11: depth ---------------------------------------------------------------------------


def test_tx11_a_chain_longer_than_max_depth_is_refused(svc: Service) -> None:
    hops = ["agent-1", "agent-2", "agent-3"]
    for name in hops:
        svc.add_workload(name)
    svc.policies.put(
        svc.policies.policies_for("orchestrator")[0].model_copy(
            update={"audiences": ("wl_agent-1",), "max_depth": 3}
        )
    )
    for here, there in [("agent-1", "wl_agent-2"), ("agent-2", "wl_agent-3"), ("agent-3", "wl_x")]:
        svc.add_policy(f"{here}-next", here, audiences=[there], scopes=["crm.read"], max_depth=3)
    token = ok(svc.exchange("orchestrator", svc.user_token(), audience=["wl_agent-1"]))
    token = ok(svc.exchange("agent-1", token["access_token"], audience=["wl_agent-2"]))
    token = ok(svc.exchange("agent-2", token["access_token"], audience=["wl_agent-3"]))
    assert len(_walk(decode(token["access_token"])[1]["act"])) == 3
    result = svc.exchange("agent-3", token["access_token"], audience=["wl_x"])
    refused(result, "invalid_request", "depth_exceeded")


# -- TX-12: ID tokens, issued_token_type -------------------------------------------------------


def _id_token(svc: Service) -> str:
    now = int(svc.clock.now())
    claims = {"iss": svc.idp.issuer, "sub": SARAH, "aud": IDP_CLIENT, "iat": now, "exp": now + 300}
    return svc.idp.token(claims, typ="JWT")


def test_tx12_an_id_token_subject_where_the_policy_disallows_it(svc: Service) -> None:
    result = svc.exchange(
        "orchestrator", _id_token(svc), audience=["wl_subagent"], subject_type=ID_TOKEN_TYPE
    )
    refused(result, "invalid_request", "subject_token_invalid")


def test_tx12_an_id_token_subject_where_the_policy_allows_it(svc: Service) -> None:
    """TX-SCOPE-001: an ID token conveys identity, not authority: S is taken to be P."""
    svc.policies.put(
        svc.policies.policies_for("orchestrator")[0].model_copy(
            update={"allow_id_token_subjects": True}
        )
    )
    body = ok(
        svc.exchange(
            "orchestrator", _id_token(svc), audience=["wl_subagent"], subject_type=ID_TOKEN_TYPE
        )
    )
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    _, claims = decode(body["access_token"])
    assert claims["scope"] == "crm.read finance.read"
    # An access token is not accepted as an ID token, nor the reverse.
    result = svc.exchange(
        "orchestrator", svc.user_token(), audience=["wl_subagent"], subject_type=ID_TOKEN_TYPE
    )
    refused(result, "invalid_request", "subject_token_invalid")


def test_tx12_an_own_token_is_never_an_id_token(svc: Service) -> None:
    result = svc.exchange("subagent", t1(svc), audience=["wl_crm-mcp"], subject_type=ID_TOKEN_TYPE)
    refused(result, "invalid_request", "subject_token_invalid")


def test_tx12_issued_token_type_is_always_present(svc: Service) -> None:
    body = ok(svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"]))
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"


# -- binding of own subject tokens, issuers ----------------------------------------------------


def test_a_stolen_delegated_token_cannot_be_redeemed_by_another_workload(svc: Service) -> None:
    """TX-SUBJ-004: T1 names the sub-agent; the outsider is neither its aud nor client."""
    svc.add_policy("outsider-any", "outsider", audiences=["wl_crm-mcp"], scopes=["crm.read"])
    result = svc.exchange("outsider", t1(svc), audience=["wl_crm-mcp"])
    refused(result, "invalid_request", "subject_token_invalid")


def test_the_policy_must_list_the_subject_issuer(svc: Service) -> None:
    """TX-SUBJ-001: ``self`` for own tokens, the IdP issuer for user tokens."""
    policy = svc.policies.policies_for("subagent")[0]
    svc.policies.put(policy.model_copy(update={"subject_issuers": (svc.idp.issuer,)}))
    result = svc.exchange("subagent", t1(svc), resource=["https://crm.example/mcp"])
    refused(result, "invalid_request", "subject_issuer_not_allowed")
    orchestrator = svc.policies.policies_for("orchestrator")[0]
    svc.policies.put(orchestrator.model_copy(update={"subject_issuers": ("self",)}))
    result = svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"])
    refused(result, "invalid_request", "subject_issuer_not_allowed")


def test_a_workload_without_an_authorizer_exchanges_no_user_tokens(svc: Service) -> None:
    """TX-SUBJ-002."""
    svc.add_workload("lonely", authorizer=None)
    svc.add_policy("lonely-p", "lonely", audiences=["wl_subagent"], scopes=["crm.read"])
    result = svc.exchange("lonely", svc.user_token(), audience=["wl_subagent"])
    refused(result, "invalid_request", "subject_token_invalid")
    assert "no_authorizer" in result.body["error_description"]  # type: ignore[index]


def test_an_external_token_of_another_issuer_is_refused(svc: Service) -> None:
    from .conftest import FakeIdp

    other = FakeIdp("https://evil.example")
    now = int(svc.clock.now())
    token = other.token(
        {
            "iss": "https://evil.example",
            "sub": SARAH,
            "aud": svc.idp_audience,
            "client_id": IDP_CLIENT,
            "iat": now,
            "exp": now + 300,
        }
    )
    result = svc.exchange("orchestrator", token, audience=["wl_subagent"])
    refused(result, "invalid_request", "subject_token_invalid")


def test_no_refusal_ever_answers_invalid_grant(svc: Service) -> None:
    """TX-ERR-001 across a sweep of bad subject and actor tokens."""
    bad_tokens = ["", "x", "a.b.c", svc.cc_token("outsider"), svc.user_token(lifetime=-10)]
    for bad in bad_tokens:
        for result in (
            svc.exchange("orchestrator", bad or "x", audience=["wl_subagent"]),
            svc.exchange(
                "orchestrator", svc.user_token(), audience=["wl_subagent"], actor=bad or "x"
            ),
        ):
            assert result.body is not None
            assert result.body["error"] == "invalid_request", result.body
