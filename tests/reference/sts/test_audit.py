"""Audit of the OAuth endpoints (TX-AUDIT-001, AS-REV-004, AUD-EVT-001..004, AUD-SEC-001):
one event per request, granted or refused, with the full actor chain, Sarah as the user
once her token was verified, and no token, assertion or secret anywhere."""

from __future__ import annotations

import json

from .conftest import ADMIN, CRM_MCP, MARKS, TOKEN_EXCHANGE, Harness, Scenario


async def test_every_request_is_audited_without_token_material(
    harness: Harness, scenario: Scenario
) -> None:
    orchestrator, subagent, tool = scenario.orchestrator, scenario.subagent, scenario.tool
    start = len(await harness.audit())
    sarah = harness.sarah()
    t1 = await harness.exchanged(orchestrator, sarah, audience=[subagent.client_id])  # 2 requests
    t2 = await harness.exchanged(subagent, t1, audience=[tool.client_id])  # 2
    await harness.exchanged(tool, t2, resource=[CRM_MCP + "/notes"])  # 2
    refusal = await harness.exchange(
        subagent, t1, audience=["wl_not_permitted"], scope="crm.read"
    )  # 2
    assert refusal.status_code == 400
    too_wide = await harness.exchange(subagent, t1, audience=[tool.client_id], scope="admin")  # 2
    assert too_wide.json()["error"] == "invalid_scope"
    laundering = await harness.exchange(subagent, t1, actor=None, audience=[tool.client_id])  # 1
    assert laundering.status_code == 400
    # a token sent where a scope belongs must not reach the log
    smuggled = await harness.token(
        orchestrator, [("grant_type", TOKEN_EXCHANGE), ("scope", sarah), ("subject_token", "x")]
    )  # 1
    assert smuggled.status_code == 400
    await harness.introspect(tool, t2)  # 1
    await harness.revoke(orchestrator, t1)  # 1
    unauthenticated = await harness.client.post(
        "/oauth2/token",
        content=b"grant_type=client_credentials",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # 1
    assert unauthenticated.status_code == 401
    wrong_type = await harness.client.post("/oauth2/token", json={})  # 1
    assert wrong_type.status_code == 400

    events = (await harness.audit())[start:]
    oauth = [e for e in events if e["operation"].startswith("token.")]
    assert len(oauth) == 16 + 2  # + the two tokens the revocation cascaded to

    exchanges = [e for e in oauth if e["operation"] == "token.exchange"]
    o, s, t = orchestrator.client_id, subagent.client_id, tool.client_id
    assert [(e["actor_chain"], e["reason"]) for e in exchanges] == [
        ([o], "ok"),
        ([s, o], "ok"),
        ([t, s, o], "ok"),
        ([], "invalid_target"),  # refused at step 6: no token verified yet, no one named
        ([s, o], "invalid_scope"),  # refused at step 9: the actors of the would-be token
        ([o], "invalid_request"),  # laundering: no new actor, the subject's chain
        ([], "invalid_request"),  # no subject verified: no chain, no user
    ]
    sarah_user = {"issuer": harness.okta_issuer, "subject": "sarah@example.com"}
    assert [e["user"] == sarah_user for e in exchanges] == [True] * 3 + [False, True, True, False]
    assert exchanges[3]["scopes"] == ["crm.read"]  # the requested scopes when refused
    assert exchanges[6]["scopes"] == []  # a JWT sent as scope is left out

    issues = [e for e in oauth if e["operation"] == "token.issue"]
    assert [e["reason"] for e in issues][-2:] == ["invalid_client", "invalid_request"]
    assert issues[-1]["workload"] is None
    assert issues[-1]["actor_chain"] == []

    revocations = [e for e in oauth if e["operation"] == "token.revoke"]
    assert [e["actor_chain"] for e in revocations] == [[o], [s, o], [t, s, o]]
    assert len({e["request_id"] for e in revocations}) == 1

    # AUD-SEC-001: no token, assertion or secret in any event, anywhere
    text = json.dumps(events)
    assert "eyJ" not in text
    for secret in (orchestrator.secret, subagent.secret, ADMIN["Authorization"][7:]):
        assert secret not in text
    verification = await harness.client.get("/v1/audit/verify", headers=ADMIN)
    assert verification.json()["valid"] is True, verification.text


pytestmark = MARKS
