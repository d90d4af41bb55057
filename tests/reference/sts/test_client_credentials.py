"""``client_credentials`` over HTTP with each client authentication method (TX-CAUTH-002,
TX-CC-001/002), and the token as the data plane's Bearer credential (WID-AUTH-001)."""

from __future__ import annotations

import pytest

from proctor.reference.service import Service

from .conftest import (
    ADMIN,
    CRM_MCP,
    ISSUER,
    MARKS,
    Harness,
    basic,
    claims_of,
    header_of,
)

pytestmark = MARKS

METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]


@pytest.mark.parametrize("method", METHODS)
async def test_a_workload_gets_its_own_token_with_each_method(
    harness: Harness, method: str
) -> None:
    """TX-CC-001, AS-FMT-001/002: sub = client_id = the workload, aud = the issuer, no
    act, no sub_id, no scope without a target; RFC 9068 header; no refresh token."""
    workload = await harness.workload("worker", method)
    response = await harness.token(workload, [("grant_type", "client_credentials")])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    header, claims = header_of(body["access_token"]), claims_of(body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert not {"jku", "x5u", "jwk", "x5c", "crit"} & set(header)
    assert set(claims) == {"iss", "sub", "aud", "client_id", "iat", "exp", "jti"}
    assert claims["iss"] == ISSUER
    assert claims["sub"] == claims["client_id"] == workload.client_id
    assert claims["aud"] == ISSUER
    assert body["expires_in"] == claims["exp"] - claims["iat"] == 600
    assert len(claims["jti"]) >= 32


async def test_targets_and_scope_of_an_own_token_come_from_the_policy(harness: Harness) -> None:
    """TX-CC-002: a target must be in one policy; scope = requested ∩ policy."""
    workload = await harness.workload("worker")
    await harness.policy(
        "worker-crm", "worker", subject_issuers=["self"], resources=[CRM_MCP], scopes=["crm.read"]
    )
    response = await harness.token(
        workload,
        [
            ("grant_type", "client_credentials"),
            ("resource", CRM_MCP),
            ("scope", "crm.read crm.write"),
        ],
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "crm.read"
    claims = claims_of(response.json()["access_token"])
    assert (claims["aud"], claims["scope"]) == (CRM_MCP, "crm.read")

    for pairs, error in [
        ([("resource", "https://elsewhere.example/")], "invalid_target"),
        ([("scope", "crm.read")], "invalid_scope"),  # no target: no scope
        ([("resource", CRM_MCP), ("scope", "admin")], "invalid_scope"),
    ]:
        refused = await harness.token(workload, [("grant_type", "client_credentials"), *pairs])
        assert refused.status_code == 400
        assert refused.json()["error"] == error


@pytest.mark.parametrize("method", METHODS)
async def test_the_token_authenticates_the_workload_on_the_data_plane(
    harness: Harness, service: Service, method: str
) -> None:
    """WID-AUTH-001: Bearer <client_credentials token> authenticates the data plane."""
    workload = await harness.workload("worker", method)
    token = await harness.cc(workload)
    answer = await harness.client.post(
        "/v1/workload-access-tokens", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    events = await harness.audit(operation="workload_access_token.issue")
    assert events[-1]["workload"] == "worker"
    assert events[-1]["actor_chain"] == [workload.client_id]


async def test_the_data_plane_refuses_other_tokens(harness: Harness) -> None:
    """WID-AUTH-001: a token for a downstream target, a delegated token, a revoked token,
    and the token of a disabled workload are all 401 with invalid_token."""
    await harness.authorizer()
    worker = await harness.workload("worker", authorizer="company-okta")
    peer = await harness.workload("peer")
    await harness.policy(
        "worker-peer",
        "worker",
        subject_issuers=[harness.okta_issuer],
        audiences=[peer.client_id],
        resources=[CRM_MCP],
        scopes=["crm.read"],
    )
    downstream = await harness.cc(worker, ("resource", CRM_MCP))
    delegated = await harness.exchanged(worker, harness.sarah(), audience=[peer.client_id])
    revoked = await harness.cc(worker)
    assert (await harness.revoke(worker, revoked)).status_code == 200
    peer_token = await harness.cc(peer)
    disabled = await harness.client.put(
        "/v1/workloads/peer", json={"name": "peer", "disabled": True}, headers=ADMIN
    )
    assert disabled.status_code == 200, disabled.text
    for token in (downstream, delegated, revoked, peer_token, "not-a-token"):
        answer = await harness.client.post(
            "/v1/workload-access-tokens", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401
        assert 'error="invalid_token"' in answer.headers["www-authenticate"]


async def test_disabling_a_workload_revokes_its_tokens_and_their_descendants(
    harness: Harness,
) -> None:
    """WID-STATE-001 with AS-CASC-001: the directory's revocation hook kills the
    orchestrator's tokens and the tokens exchanged from them; re-enabling revives none."""
    await harness.authorizer()
    orchestrator = await harness.workload("orchestrator", authorizer="company-okta")
    subagent = await harness.workload("subagent")
    await harness.policy(
        "orchestrator-policy",
        "orchestrator",
        subject_issuers=[harness.okta_issuer],
        audiences=[subagent.client_id],
        scopes=["crm.read"],
    )
    own = await harness.cc(orchestrator)
    t1 = await harness.exchanged(orchestrator, harness.sarah(), audience=[subagent.client_id])
    sub_own = await harness.cc(subagent)
    assert (await harness.introspect(subagent, t1))["active"] is True

    body = {"name": "orchestrator", "authorizer": "company-okta", "disabled": True}
    assert (
        await harness.client.put("/v1/workloads/orchestrator", json=body, headers=ADMIN)
    ).is_success
    assert await harness.introspect(subagent, t1) == {"active": False}
    assert await harness.introspect(subagent, sub_own) != {"active": False}
    body["disabled"] = False
    assert (
        await harness.client.put("/v1/workloads/orchestrator", json=body, headers=ADMIN)
    ).is_success
    assert await harness.introspect(orchestrator, own) == {"active": False}
    assert await harness.introspect(subagent, t1) == {"active": False}


async def test_deleting_a_workload_revokes_its_tokens(harness: Harness) -> None:
    """WID-STATE-002: the deleted workload's token dies; a new workload of the same name
    gets another client_id and cannot use it."""
    worker = await harness.workload("worker")
    token = await harness.cc(worker)
    assert (await harness.client.delete("/v1/workloads/worker", headers=ADMIN)).status_code == 204
    again = await harness.workload("worker")
    assert again.client_id != worker.client_id
    assert await harness.introspect(again, token) == {"active": False}
    answer = await harness.client.post(
        "/v1/workload-access-tokens", json={}, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 401


async def test_basic_credentials_are_form_decoded(harness: Harness) -> None:
    """TX-CAUTH-002 (RFC 6749 §2.3.1): id and secret are form-urlencoded before base64."""
    worker = await harness.workload("worker")
    encoded = basic(worker.client_id.replace("_", "%5F"), worker.secret.replace("_", "%5F"))
    response = await harness.client.post(
        "/oauth2/token",
        content=b"grant_type=client_credentials",
        headers={**encoded, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
