"""Every call leaves one audit event, and no secret anywhere (spec 08, WID-SEC-001)."""

from __future__ import annotations

import io
import json
from types import ModuleType
from typing import Any

import httpx
import pytest

from proctor.reference.audit import verify_events

pytestmark = pytest.mark.anyio


async def test_every_call_appends_its_event_and_no_secret_leaks(
    client: httpx.AsyncClient,
    api: Any,
    h: ModuleType,
    user_tokens: Any,
    captured_logs: io.StringIO,
) -> None:
    """AUD-EVT-001..004, AUD-OPS-001, AUD-SEC-001, WID-SEC-001, WAT-FMT-001: a scenario
    of control- and data-plane calls, allowed and denied; then each event is checked, and
    every event, response body and log line is searched for every secret used."""
    secrets_used: list[str] = [h.ADMIN_TOKEN]
    responses: list[httpx.Response] = []

    async def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await client.request(method, path, **kwargs)
        responses.append(response)
        return response

    expected: list[tuple[str, str | None, str, str, list[str]]] = []

    def expect(op: str, workload: str | None, decision: str, reason: str, actor: list[str]) -> None:
        expected.append((op, workload, decision, reason, actor))

    await call("POST", "/v1/authorizers", json=h.authorizer_body(), headers=h.ADMIN)
    expect("authorizer.create", None, "allow", "ok", ["admin"])
    await call("POST", "/v1/authorizers", json=h.authorizer_body(), headers=h.ADMIN)
    expect("authorizer.create", None, "deny", "conflict", ["admin"])
    await call("GET", "/v1/authorizers", headers={"Authorization": "Bearer nope"})
    expect("authorizer.list", None, "deny", "unauthenticated", ["admin"])

    created = await call(
        "POST",
        "/v1/workloads",
        json={"name": "orchestrator", "authorizer": "company-okta", "allow_user_id_tokens": True},
        headers=h.ADMIN,
    )
    expect("workload.create", "orchestrator", "allow", "ok", ["admin"])
    workload = created.json()
    secret = workload["client_secret"]
    secrets_used.append(secret)
    auth = h.basic(workload["client_id"], secret)
    actor = [workload["client_id"]]

    await call("GET", "/v1/workloads/orchestrator", headers=h.ADMIN)
    expect("workload.get", "orchestrator", "allow", "ok", ["admin"])
    await call("GET", "/v1/workloads/ghost", headers=h.ADMIN)
    expect("workload.get", "ghost", "deny", "not_found", ["admin"])
    await call("GET", "/v1/workloads", headers=h.ADMIN)
    expect("workload.list", None, "allow", "ok", ["admin"])

    allowed_token = user_tokens()
    denied_token = user_tokens(groups=["marketing"])
    secrets_used += [allowed_token, denied_token]
    await call(
        "POST",
        "/v1/decisions",
        json={"authorizer": "company-okta", "token": allowed_token},
        headers=auth,
    )
    expect("decision.evaluate", "orchestrator", "allow", "ok", actor)
    await call(
        "POST",
        "/v1/decisions",
        json={"authorizer": "company-okta", "token": denied_token},
        headers=auth,
    )
    expect("decision.evaluate", "orchestrator", "deny", "claim_rule_failed:groups", actor)
    await call(
        "POST",
        "/v1/decisions",
        json={"authorizer": "company-okta", "token": allowed_token},
        headers=h.basic(workload["client_id"], "wrong"),
    )
    expect("decision.evaluate", None, "deny", "unauthenticated", [])

    wat_user = await call(
        "POST", "/v1/workload-access-tokens", json={"user_token": allowed_token}, headers=auth
    )
    expect("workload_access_token.issue", "orchestrator", "allow", "ok", actor)
    wat_self = await call("POST", "/v1/workload-access-tokens", json={}, headers=auth)
    expect("workload_access_token.issue", "orchestrator", "allow", "ok", actor)
    wat_id = await call(
        "POST", "/v1/workload-access-tokens", json={"user_id": "sarah-42"}, headers=auth
    )
    expect("workload_access_token.issue", "orchestrator", "allow", "ok", actor)
    await call(
        "POST", "/v1/workload-access-tokens", json={"user_token": denied_token}, headers=auth
    )
    expect("workload_access_token.issue", "orchestrator", "deny", "user_token_rejected", actor)
    await call(
        "POST",
        "/v1/workload-access-tokens",
        content=b"{oops",
        headers={**auth, "Content-Type": "application/json"},
    )
    expect("workload_access_token.issue", "orchestrator", "deny", "invalid_request_body", actor)
    secrets_used += [r.json()["workload_access_token"] for r in (wat_user, wat_self, wat_id)]

    rotated = await call("POST", "/v1/workloads/orchestrator/secret", headers=h.ADMIN)
    expect("workload.secret_rotate", "orchestrator", "allow", "ok", ["admin"])
    secrets_used.append(rotated.json()["client_secret"])
    await call("DELETE", "/v1/authorizers/company-okta", headers=h.ADMIN)
    expect("authorizer.delete", None, "deny", "conflict", ["admin"])
    await call("DELETE", "/v1/workloads/orchestrator", headers=h.ADMIN)
    expect("workload.delete", "orchestrator", "allow", "ok", ["admin"])
    await call("GET", "/v1/audit/verify", headers=h.ADMIN)
    expect("audit.verify", None, "allow", "ok", ["admin"])

    events = await api.audit()
    expect("audit.query", None, "allow", "ok", ["admin"])  # the query above, once per page
    assert len(events) == len(expected) - 1
    for event, (op, wl, decision, reason, actors) in zip(events, expected, strict=False):
        assert (
            event["operation"],
            event["workload"],
            event["decision"],
            event["reason"],
            event["actor_chain"],
        ) == (op, wl, decision, reason, actors), event
        assert set(event) == {
            "seq",
            "id",
            "time",
            "request_id",
            "operation",
            "workload",
            "user",
            "actor_chain",
            "provider",
            "scopes",
            "decision",
            "reason",
            "prev_hash",
            "hash",
        }

    by_op = [e for e in events if e["operation"] == "workload_access_token.issue"]
    assert by_op[0]["user"] == {"issuer": h.ISSUER, "subject": "sarah@company.example"}
    assert by_op[1]["user"] is None
    assert by_op[2]["user"] == {"issuer": "urn:proctor:user-id", "subject": "sarah-42"}
    decisions = [e for e in events if e["operation"] == "decision.evaluate"]
    assert decisions[0]["user"] == {"issuer": h.ISSUER, "subject": "sarah@company.example"}
    # AUD-EVT-003: denied after the signature and issuer verified: the user is named
    sarah = {"issuer": h.ISSUER, "subject": "sarah@company.example"}
    assert decisions[1]["user"] == sarah
    assert decisions[2]["user"] is None  # the caller failed to authenticate
    assert by_op[3]["user"] == sarah  # the refused WAT request names her too
    assert by_op[4]["user"] is None  # a body that could not be read names nobody

    # the request id in an error body is the one in the event (AUD-EVT-002)
    ghost = next(r for r in responses if r.request.url.path == "/v1/workloads/ghost")
    assert ghost.json()["request_id"] == events[5]["request_id"]

    assert verify_events(events).valid
    # Each secret may appear in exactly one place: the response that handed it out (user
    # tokens and the admin credential in none); never in an event or a log line.
    origin = {
        secret: created,
        rotated.json()["client_secret"]: rotated,
        **{r.json()["workload_access_token"]: r for r in (wat_user, wat_self, wat_id)},
    }
    events_text = json.dumps(events)
    logs = captured_logs.getvalue()
    for secret_value in secrets_used:
        assert secret_value not in events_text, secret_value[:12]
        assert secret_value not in logs, secret_value[:12]
        assert secret_value[:40] not in events_text + logs
        for response in responses:
            if secret_value in response.text:
                assert origin.get(secret_value) is response, (secret_value[:12], response.url)
    assert captured_logs.getvalue(), "the scenario logged nothing: the scan proves nothing"


async def test_audit_query_filters(client: httpx.AsyncClient, api: Any, h: ModuleType) -> None:
    """AUD-API-001: workload, operation (name or family), decision, since/until."""
    await api.create_workload("alpha")
    await api.create_workload("beta")
    await client.get("/v1/workloads/gamma", headers=h.ADMIN)
    alpha = await api.audit(workload="alpha")
    assert [e["operation"] for e in alpha] == ["workload.create"]
    family = await api.audit(operation="workload.*")
    assert {e["operation"] for e in family} == {"workload.create", "workload.get"}
    denied = await api.audit(decision="deny")
    assert [e["reason"] for e in denied] == ["not_found"]
    first = (await api.audit())[0]
    none_after = await api.audit(since=first["time"] + 1)
    assert all(e["operation"] == "audit.query" for e in none_after)
    for bad in ["operation=nope", "decision=maybe", "since=yesterday", "user=sarah"]:
        response = await client.get(f"/v1/audit/events?{bad}", headers=h.ADMIN)
        assert response.status_code == 400, bad
        assert response.json()["code"] == "validation_failed"


async def test_audit_verify_reports_a_valid_chain(
    client: httpx.AsyncClient, api: Any, h: ModuleType
) -> None:
    """AUD-VER-001."""
    await api.create_workload()
    response = await client.get("/v1/audit/verify", headers=h.ADMIN)
    assert response.status_code == 200
    assert response.json() == {"valid": True, "events": 1, "checkpoint": None}
