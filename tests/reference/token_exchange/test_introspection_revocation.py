"""Introspection (RFC 7662, AS-INTR-001..004) and revocation with its cascade (RFC 7009,
AS-REV-001..004, AS-CASC-001)."""

from __future__ import annotations

from typing import Any

from proctor.reference.grants import OAuthResult

from .conftest import ISSUER, Service, decode


def ok(result: OAuthResult) -> dict[str, Any]:
    assert result.status == 200, result.body
    assert result.body is not None
    return result.body


def revoked(result: OAuthResult) -> None:
    """RFC 7009 §2.2: 200 with an empty body."""
    assert result.status == 200, result.body
    assert result.body is None


def introspect(svc: Service, token: str, caller: str, *extra: tuple[str, str]) -> OAuthResult:
    return svc.introspection.handle([("token", token), *extra], svc.basic(caller))


def revoke(svc: Service, token: str, caller: str) -> OAuthResult:
    return svc.revocation.handle([("token", token)], svc.basic(caller))


def chain(svc: Service) -> tuple[str, str, str]:
    """Sarah -> T1 (orchestrator, for the sub-agent) -> T2 (sub-agent, for the CRM)."""
    user = svc.user_token()
    t1 = ok(svc.exchange("orchestrator", user, audience=["wl_subagent"]))["access_token"]
    t2 = ok(svc.exchange("subagent", t1, audience=["wl_crm-mcp"]))["access_token"]
    return user, t1, t2


# -- introspection ------------------------------------------------------------------------------


def test_active_response_carries_the_claims_and_act(svc: Service) -> None:
    """AS-INTR-003: each member equals the claim; ``act`` whole, current actor outermost."""
    _, _, t2 = chain(svc)
    result = introspect(svc, t2, "crm-mcp", ("token_type_hint", "refresh_token"))
    body = ok(result)
    _, claims = decode(t2)
    assert body == {"active": True, "token_type": "Bearer", **claims}
    assert body["act"] == {
        "sub": "wl_subagent",
        "iss": ISSUER,
        "act": {"sub": "wl_orchestrator", "iss": ISSUER},
    }
    assert result.headers["Cache-Control"] == "no-store"
    assert result.audit[0].operation == "token.introspect"
    assert result.audit[0].user == {"issuer": svc.idp.issuer, "subject": "00u1sarah"}


def test_who_may_introspect(svc: Service) -> None:
    """AS-INTR-004: the token's client_id, its sub, or one of its aud values."""
    _, t1, _ = chain(svc)
    assert ok(introspect(svc, t1, "orchestrator"))["active"] is True  # client_id
    assert ok(introspect(svc, t1, "subagent"))["active"] is True  # aud
    assert ok(introspect(svc, t1, "outsider")) == {"active": False}
    own = svc.cc_token("outsider")
    assert ok(introspect(svc, own, "outsider"))["active"] is True  # sub (and client_id)


def test_inactive_is_exactly_active_false(svc: Service) -> None:
    """AS-INTR-002 for every kind of inactive token."""
    _, t1, t2 = chain(svc)
    expired = svc.cc_token("orchestrator")
    h, p, s = t1.split(".")
    cases = [
        "not-a-token",
        f"{h}.{p}.{s[::-1]}",  # badly signed
        svc.user_token(),  # not issued by the service
    ]
    for token in cases:
        assert ok(introspect(svc, token, "orchestrator")) == {"active": False}
    revoked(revoke(svc, t1, "orchestrator"))
    assert ok(introspect(svc, t1, "orchestrator")) == {"active": False}  # revoked
    assert ok(introspect(svc, t2, "crm-mcp")) == {"active": False}  # revoked by cascade
    svc.clock.advance(900)
    assert ok(introspect(svc, expired, "orchestrator")) == {"active": False}


def test_introspection_needs_a_token_and_an_authenticated_client(svc: Service) -> None:
    """AS-INTR-001."""
    result = svc.introspection.handle([], svc.basic("orchestrator"))
    assert result.body is not None
    assert result.body["error"] == "invalid_request"
    anonymous = svc.introspection.handle([("token", svc.cc_token("orchestrator"))])
    assert anonymous.status == 401
    assert anonymous.body is not None
    assert anonymous.body["error"] == "invalid_client"


# -- revocation -------------------------------------------------------------------------------


def test_revoking_a_middle_token_kills_descendants_not_ancestors(svc: Service) -> None:
    """AS-CASC-001, AS-REV-003: T1 revoked -> T2 dead; the orchestrator's actor token and
    Sarah's token are untouched; the sub-agent cannot revoke T1."""
    svc.add_policy("crm-to-db", "crm-mcp", audiences=["wl_db"], scopes=["crm.read"])
    _, t1, t2 = chain(svc)
    t3 = ok(svc.exchange("crm-mcp", t2, audience=["wl_db"]))["access_token"]
    actor = svc.cc_token("orchestrator")
    sibling = ok(
        svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"], actor=actor)
    )["access_token"]
    refused = revoke(svc, t1, "subagent")
    assert refused.status == 400
    assert refused.body is not None
    assert refused.body["error"] == "unauthorized_client"
    assert ok(introspect(svc, t2, "crm-mcp"))["active"] is True  # nothing changed

    mid = revoke(svc, t2, "subagent")
    assert mid.status == 200
    assert mid.body is None
    assert ok(introspect(svc, t1, "orchestrator"))["active"] is True  # ancestor lives
    assert ok(introspect(svc, t2, "subagent")) == {"active": False}
    assert ok(introspect(svc, t3, "crm-mcp")) == {"active": False}  # descendant dies
    assert ok(introspect(svc, sibling, "orchestrator"))["active"] is True  # sibling lives
    assert ok(introspect(svc, actor, "orchestrator"))["active"] is True
    # AS-REV-004: one event for the request, one for each token revoked by cascade.
    assert [r.operation for r in mid.audit] == ["token.revoke", "token.revoke"]
    assert mid.audit[1].actor_chain == ["wl_crm-mcp", "wl_subagent", "wl_orchestrator"]
    assert mid.audit[1].user == {"issuer": svc.idp.issuer, "subject": "00u1sarah"}


def test_revoking_an_actor_token_kills_what_it_acted_for(svc: Service) -> None:
    """AS-CASC-001: the actor token is a parent too."""
    actor = svc.cc_token("orchestrator")
    t1 = ok(svc.exchange("orchestrator", svc.user_token(), audience=["wl_subagent"], actor=actor))
    revoked(revoke(svc, actor, "orchestrator"))
    assert ok(introspect(svc, t1["access_token"], "orchestrator")) == {"active": False}


def test_unknown_foreign_expired_or_revoked_tokens_answer_200_and_change_nothing(
    svc: Service,
) -> None:
    """AS-REV-002."""
    _, t1, _ = chain(svc)
    before = {jti: r.revoked_at for jti, r in svc.registry._records.items()}
    for token in ["garbage", svc.user_token(), t1[:-4] + "AAAA"]:
        result = revoke(svc, token, "orchestrator")
        assert result.status == 200
        assert result.body is None
    assert {jti: r.revoked_at for jti, r in svc.registry._records.items()} == before
    assert revoke(svc, t1, "orchestrator").status == 200
    again = revoke(svc, t1, "orchestrator")
    assert again.status == 200
    assert len(again.audit) == 1


def test_revocation_needs_a_token_and_an_authenticated_client(svc: Service) -> None:
    """AS-REV-001."""
    result = svc.revocation.handle([("token_type_hint", "access_token")], svc.basic("subagent"))
    assert result.body is not None
    assert result.body["error"] == "invalid_request"
    anonymous = svc.revocation.handle([("token", svc.cc_token("subagent"))])
    assert anonymous.status == 401


def test_disabling_a_workload_revokes_its_tokens_and_their_descendants(svc: Service) -> None:
    """WID-STATE-001 through :func:`revoke_issued_to`."""
    from proctor.reference.revocation import revoke_issued_to

    _, t1, t2 = chain(svc)
    own = svc.cc_token("orchestrator")
    revoked = revoke_issued_to(svc.registry, "wl_orchestrator", int(svc.clock.now()))
    assert {r.jti for r in revoked} >= {decode(t1)[1]["jti"], decode(t2)[1]["jti"]}
    for token, caller in [(t1, "orchestrator"), (t2, "crm-mcp"), (own, "orchestrator")]:
        assert ok(introspect(svc, token, caller)) == {"active": False}
