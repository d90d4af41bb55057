"""Delegation chains over HTTP: Sarah's Okta token → orchestrator → sub-agent → MCP tool
(spec 07: TX-ACT-001..003, TX-CLAIM-001/002, TX-TGT-002, TX-SCOPE-001/002, TX-EXP-001..003,
TX-RESP-001/002, TX-AUDIT-001). Each workload authenticates with another method."""

from __future__ import annotations

from typing import Any

from .conftest import (
    CRM_MCP,
    ISSUER,
    JWT_TYPE,
    MARKS,
    Harness,
    Scenario,
    claims_of,
    header_of,
)

pytestmark = MARKS

EXCHANGE_CLAIMS = {"iss", "sub", "sub_id", "aud", "client_id", "scope", "act", "iat", "exp", "jti"}


def _no_time_or_audience_in_act(act: Any) -> None:
    """TX-ACT-003: act objects carry sub, iss (and nested act) only, at every depth."""
    while act is not None:
        assert set(act) <= {"sub", "iss", "client_id", "act"}, act
        act = act.get("act")


async def test_two_hop_chain(harness: Harness, scenario: Scenario) -> None:
    sarah = harness.sarah()
    okta = claims_of(sarah)
    response = await harness.exchange(
        scenario.orchestrator,
        sarah,
        audience=[scenario.subagent.client_id],
        scope="crm.read finance.read docs.write",
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    # TX-RESP-001/002, TX-REQ-007
    assert set(body) == {"access_token", "issued_token_type", "token_type", "expires_in", "scope"}
    assert body["issued_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert body["token_type"] == "Bearer"
    t1 = body["access_token"]
    c1 = claims_of(t1)
    assert header_of(t1)["typ"] == "at+jwt"
    # TX-CLAIM-001/002: the user kept, nothing else copied from Okta's token
    assert set(c1) == EXCHANGE_CLAIMS
    assert c1["sub"] == okta["sub"]
    assert c1["sub_id"] == {"format": "iss_sub", "iss": harness.okta_issuer, "sub": okta["sub"]}
    assert c1["client_id"] == scenario.orchestrator.client_id
    assert c1["act"] == {"sub": scenario.orchestrator.client_id, "iss": ISSUER}
    assert c1["aud"] == scenario.subagent.client_id  # TX-TGT-002: the next hop
    # TX-SCOPE-001: requested ∩ Sarah's ∩ policy: docs.write dropped, never added
    assert c1["scope"] == body["scope"] == "crm.read finance.read"
    assert c1["exp"] <= okta["exp"]  # TX-EXP-001
    assert body["expires_in"] == c1["exp"] - c1["iat"] <= 600  # TX-EXP-003

    harness.advance(60)
    t2 = await harness.exchanged(scenario.subagent, t1, resource=[CRM_MCP])
    c2 = claims_of(t2)
    assert set(c2) == EXCHANGE_CLAIMS
    assert (c2["sub"], c2["sub_id"]) == (c1["sub"], c1["sub_id"])
    assert c2["client_id"] == scenario.subagent.client_id
    # TX-ACT-002: current actor outermost, the previous act nested unchanged
    assert c2["act"] == {
        "sub": scenario.subagent.client_id,
        "iss": ISSUER,
        "act": c1["act"],
    }
    _no_time_or_audience_in_act(c2["act"])
    assert c2["aud"] == CRM_MCP
    assert c2["scope"] == "crm.read finance.read"  # TX-SCOPE-002: S ∩ P
    assert c2["exp"] <= c1["exp"]  # never grows
    assert c2["iat"] == c1["iat"] + 60


async def test_three_hop_chain_to_the_mcp_tool(harness: Harness, scenario: Scenario) -> None:
    sarah = harness.sarah(lifetime=900)
    okta_exp = claims_of(sarah)["exp"]
    t1 = await harness.exchanged(
        scenario.orchestrator, sarah, audience=[scenario.subagent.client_id]
    )
    harness.advance(30)
    t2 = await harness.exchanged(
        scenario.subagent, t1, audience=[scenario.tool.client_id], scope="crm.read"
    )
    harness.advance(30)
    # the tool authenticates with private_key_jwt; it asks for the jwt token type
    response = await harness.exchange(
        scenario.tool,
        t2,
        resource=[CRM_MCP + "/notes"],
        extra=[("requested_token_type", JWT_TYPE)],
    )
    assert response.status_code == 200, response.text
    assert response.json()["issued_token_type"] == JWT_TYPE
    t3 = response.json()["access_token"]
    c1, c2, c3 = claims_of(t1), claims_of(t2), claims_of(t3)
    orchestrator = scenario.orchestrator.client_id
    subagent = scenario.subagent.client_id
    tool = scenario.tool.client_id
    assert c3["act"] == {
        "sub": tool,
        "iss": ISSUER,
        "act": {"sub": subagent, "iss": ISSUER, "act": {"sub": orchestrator, "iss": ISSUER}},
    }
    _no_time_or_audience_in_act(c3["act"])
    # aud per hop, each the next hop only
    assert [c1["aud"], c2["aud"], c3["aud"]] == [subagent, tool, CRM_MCP + "/notes"]
    # scope narrows hop by hop and never widens
    assert [c1["scope"], c2["scope"], c3["scope"]] == [
        "crm.read finance.read",
        "crm.read",
        "crm.read",
    ]
    # exp never grows along the chain, bounded by Sarah's token
    assert okta_exp >= c1["exp"] >= c2["exp"] >= c3["exp"]
    assert {c["sub"] for c in (c1, c2, c3)} == {claims_of(sarah)["sub"]}
    assert {c["client_id"] for c in (c1, c2, c3)} == {orchestrator, subagent, tool}

    # the tool sees the whole chain through introspection, act included (AS-INTR-003)
    seen = await harness.introspect(scenario.tool, t3)
    assert seen["active"] is True
    assert seen["act"] == c3["act"]
    assert {k: v for k, v in seen.items() if k not in ("active", "token_type")} == c3
    assert seen["token_type"] == "Bearer"

    # TX-AUDIT-001: every exchange names Sarah and the actor chain, current actor first
    events = await harness.audit(operation="token.exchange")
    assert [e["actor_chain"] for e in events] == [
        [orchestrator],
        [subagent, orchestrator],
        [tool, subagent, orchestrator],
    ]
    for event in events:
        assert event["user"] == {"issuer": harness.okta_issuer, "subject": c1["sub"]}
        assert (event["decision"], event["reason"]) == ("allow", "ok")
    assert events[0]["workload"] == "orchestrator"
    assert events[2]["workload"] == "crm-tool"
    assert events[1]["scopes"] == ["crm.read"]


async def test_an_exchanged_token_never_outlives_its_actor_token(
    harness: Harness, scenario: Scenario
) -> None:
    """TX-EXP-002: the orchestrator's own token expires first; so does the delegation."""
    actor = await harness.cc(scenario.orchestrator)
    harness.advance(500)  # the actor token has 100 s left; Sarah's an hour
    response = await harness.exchange(
        scenario.orchestrator,
        harness.sarah(),
        actor=actor,
        audience=[scenario.subagent.client_id],
    )
    assert response.status_code == 200, response.text
    claims = claims_of(response.json()["access_token"])
    assert claims["exp"] == claims_of(actor)["exp"]
    assert response.json()["expires_in"] == 100
