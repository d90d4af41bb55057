"""Introspection (AS-INTR-001..004) and revocation with the cascade (AS-REV-001..004,
AS-CASC-001/002) over HTTP, including a second node on the same storage."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import MagicMock, patch

import httpx

from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.reference.authorizer import Authorizer, Decision
from proctor.reference.claims import Identity
from proctor.reference.clock import ManualClock

from .conftest import (
    CRM_MCP,
    FORM,
    ISSUER,
    MARKS,
    Harness,
    Scenario,
    basic,
    claims_of,
    form_body,
    start_service,
)

pytestmark = MARKS


async def _chain(h: Harness, s: Scenario) -> tuple[str, str, str, str]:
    """Sarah's token and T1 (orchestrator → sub-agent), T2 (→ tool), T3 (→ CRM)."""
    sarah = h.sarah()
    t1 = await h.exchanged(s.orchestrator, sarah, audience=[s.subagent.client_id])
    t2 = await h.exchanged(s.subagent, t1, audience=[s.tool.client_id])
    t3 = await h.exchanged(s.tool, t2, resource=[CRM_MCP + "/notes"])
    return sarah, t1, t2, t3


async def test_introspection_requires_client_authentication(
    harness: Harness, scenario: Scenario
) -> None:
    t1 = (await _chain(harness, scenario))[1]
    headers: dict[str, str]
    for headers in ({}, basic(scenario.orchestrator.client_id, "wrong")):
        response = await harness.client.post(
            "/oauth2/introspect",
            content=form_body([("token", t1)]),
            headers={**FORM, **headers},
        )
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm="proctor"'
        assert response.json()["error"] == "invalid_client"
        assert "active" not in response.json()
    missing = await harness.post("/oauth2/introspect", scenario.orchestrator, [])
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


async def test_active_answer_and_who_may_see_it(harness: Harness, scenario: Scenario) -> None:
    sarah, t1, t2, _ = await _chain(harness, scenario)
    # the client it was issued to and its audience see it; act is returned whole
    for caller in (scenario.orchestrator, scenario.subagent):
        response = await harness.post("/oauth2/introspect", caller, [("token", t1)])
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        claims = claims_of(t1)
        assert body == {"active": True, **claims, "token_type": "Bearer"}
        assert body["act"] == {"sub": scenario.orchestrator.client_id, "iss": ISSUER}
    # a hint never changes the answer (AS-INTR-001)
    hinted = await harness.post(
        "/oauth2/introspect",
        scenario.subagent,
        [("token", t1), ("token_type_hint", "refresh_token")],
    )
    assert hinted.json()["active"] is True
    # the tool is neither client, subject nor audience of T1: exactly inactive (AS-INTR-004)
    assert await harness.introspect(scenario.tool, t1) == {"active": False}
    # foreign, malformed and forged tokens: exactly {"active": false} (AS-INTR-002)
    for token in (sarah, "garbage", t2[:-3] + "abc", "eyJ.eyJ.sig"):
        assert await harness.introspect(scenario.subagent, token) == {"active": False}


async def test_revoking_a_middle_token_cascades_down_only(
    harness: Harness, scenario: Scenario
) -> None:
    """AS-CASC-001, AS-REV-003: the sub-agent revokes T2: T2 and T3 are dead at once,
    T1 and the sub-agent's other tokens live; the sub-agent cannot revoke T1."""
    _, t1, t2, t3 = await _chain(harness, scenario)
    sibling = await harness.exchanged(scenario.subagent, t1, resource=[CRM_MCP])
    orchestrator, subagent, tool = scenario.orchestrator, scenario.subagent, scenario.tool

    not_owner = await harness.revoke(subagent, t1)
    assert not_owner.status_code == 400
    assert not_owner.json()["error"] == "unauthorized_client"
    assert (await harness.introspect(subagent, t1))["active"] is True

    response = await harness.revoke(subagent, t2)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["cache-control"] == "no-store"
    assert await harness.introspect(tool, t2) == {"active": False}
    assert await harness.introspect(tool, t3) == {"active": False}
    assert (await harness.introspect(orchestrator, t1))["active"] is True
    assert (await harness.introspect(subagent, sibling))["active"] is True
    # a revoked token cannot be exchanged any more (AS-CASC-002)
    again = await harness.exchange(tool, t2, resource=[CRM_MCP + "/notes"])
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_request"

    # AS-REV-004: one event for the request, one per token killed by the cascade
    events = await harness.audit(operation="token.revoke")
    allowed = [e for e in events if e["decision"] == "allow"]
    assert len(allowed) == 2
    assert allowed[1]["actor_chain"] == [
        tool.client_id,
        subagent.client_id,
        orchestrator.client_id,
    ]
    assert allowed[0]["request_id"] == allowed[1]["request_id"]
    assert [e["reason"] for e in events if e["decision"] == "deny"] == ["unauthorized_client"]

    # the orchestrator revokes T1: the sibling dies too
    assert (await harness.revoke(orchestrator, t1)).status_code == 200
    assert await harness.introspect(subagent, sibling) == {"active": False}


async def test_unknown_or_dead_tokens_answer_200(harness: Harness, scenario: Scenario) -> None:
    """AS-REV-002: malformed, foreign, expired, already revoked: 200, nothing changes."""
    sarah, t1, _, _ = await _chain(harness, scenario)
    orchestrator = scenario.orchestrator
    assert (await harness.revoke(orchestrator, t1)).status_code == 200
    for token in ("garbage", sarah, t1, "a" * 5000):
        response = await harness.revoke(orchestrator, token)
        assert response.status_code == 200
        assert response.content == b""
    response = await harness.post(
        "/oauth2/revoke", orchestrator, [("token", "x"), ("token_type_hint", "nonsense")]
    )
    assert response.status_code == 200
    unauthenticated = await harness.client.post("/oauth2/revoke", content=b"token=x", headers=FORM)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["www-authenticate"] == 'Basic realm="proctor"'


async def test_revocation_is_visible_at_once_on_another_node(
    harness: Harness,
    scenario: Scenario,
    tmp_path: Path,
    database_url: str,
    clock: ManualClock,
    okta_idp: MockIdp,
) -> None:
    """AS-CASC-002: a second service over the same storage sees the revocation from the
    moment the first one answered (no cache serves a revoked token)."""
    _, t1, t2, _ = await _chain(harness, scenario)
    node_b, http = start_service(tmp_path, database_url, clock, okta_idp)
    try:
        transport = httpx.ASGITransport(app=node_b.asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as other:
            b = Harness(other, node_b, okta_idp, clock)
            assert (await b.introspect(scenario.tool, t2))["active"] is True  # warm caches
            assert (await harness.revoke(scenario.orchestrator, t1)).status_code == 200
            assert await b.introspect(scenario.tool, t2) == {"active": False}
            refused = await b.exchange(scenario.tool, t2, resource=[CRM_MCP + "/notes"])
            assert refused.status_code == 400
            # and tokens issued by node B are valid on node A
            fresh = await b.cc(scenario.subagent)
            assert (await harness.introspect(scenario.subagent, fresh))["active"] is True
    finally:
        node_b.close()
        http.close()


def _identity_of(token: str) -> Identity:
    claims = claims_of(token)
    return Identity(
        issuer=claims["iss"],
        subject=claims["sub"],
        user_key=claims["sub"],
        client_id=claims.get("client_id"),
        scopes=tuple(str(claims.get("scope", "")).split()),
        token_kind="access_token",
        exp=claims["exp"],
        claims=claims,
    )


async def test_an_authorizer_for_our_own_issuer_sees_revocation_at_once(
    harness: Harness, scenario: Scenario
) -> None:
    """AS-CASC-002: an inbound authorizer configured for the service's own issuer denies a
    revoked token (or a descendant of one) with ``revoked``, even past its decision cache,
    and keeps allowing the tokens that were not revoked."""
    _, t1, t2, t3 = await _chain(harness, scenario)
    registry = harness.service.authorizers
    check = registry.revocation_check
    assert check is not None
    assert not any(check(_identity_of(t)) for t in (t1, t2, t3))
    assert (await harness.revoke(scenario.subagent, t2)).status_code == 200
    assert [check(_identity_of(t)) for t in (t1, t2, t3)] == [False, True, True]
    foreign = _identity_of(t1)._replace(issuer="https://elsewhere.example")
    assert check(foreign) is False  # only the service's own tokens are looked up

    allow = Decision(True, "ok", _identity_of(t3))
    stub = MagicMock(spec=Authorizer)
    stub.decide.return_value = allow
    with patch.object(registry, "authorizer", return_value=stub):
        assert registry.decide("own", t3, "access_token") == Decision(False, "revoked")
        stub.decide.return_value = Decision(True, "ok", _identity_of(t1))
        assert registry.decide("own", t1, "access_token").allowed
