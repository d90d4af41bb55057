"""Bad resource-token requests: the specific 4xx, in the order of VLT-REQ-001, with nothing
stored and no provider contacted (VLT-REQ-001..003, VLT-RES-001, VLT-SESS-002,
ERR-RULE-001/003/004)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.anyio

VAULT_TABLES = ("vault_entries", "vault_sessions", "consents", "vault_token_cache")


def snapshot(world: Any) -> dict[str, list[dict[str, Any]]]:
    with world.service.database.transaction(readonly=True) as tx:
        return {
            table: tx.fetchall(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608 - fixed names
            for table in VAULT_TABLES
        }


CASES = [
    # (body changes, status, code, field)
    ({"provider": "no-such-provider"}, 404, "provider_not_found", None),
    ({"scopes": ["notes.read", "admin.all", "notes.delete"]}, 400, "scope_not_allowed", None),
    ({"scopes": ["NOTES.READ"]}, 400, "scope_not_allowed", None),
    ({"return_url": "https://evil.example/cb"}, 400, "return_url_not_allowed", None),
    ({"flow": "m2m", "return_url": "https://evil.example/cb"}, 400, "return_url_not_allowed", None),
    (
        {"custom_parameters": {"redirect_uri": "https://evil.example"}},
        400,
        "validation_failed",
        "/custom_parameters/redirect_uri",
    ),
    (
        {"custom_parameters": {"code_challenge_method": "plain"}},
        400,
        "validation_failed",
        "/custom_parameters/code_challenge_method",
    ),
    ({"custom_parameters": {"bad name": "x"}}, 400, "validation_failed", "/custom_parameters"),
    ({"resources": ["not a uri"]}, 400, "validation_failed", "/resources/0"),
    ({"resources": ["https://api.example/#frag"]}, 400, "validation_failed", "/resources/0"),
    ({"audiences": [""]}, 400, "validation_failed", "/audiences/0"),
    ({"flow": "m2m", "task": "brief-1"}, 400, "validation_failed", "/task"),
    ({"task": "has space"}, 400, "validation_failed", "task"),
    ({"consent_ttl": 59}, 400, "validation_failed", "consent_ttl"),
    ({"flow": "implicit"}, 400, "validation_failed", None),
    ({"scopes": "notes.read"}, 400, "invalid_request_body", None),
    ({"unknown_member": 1}, 400, "invalid_request_body", None),
    ({"force_authentication": "yes"}, 400, "invalid_request_body", None),
]


@pytest.mark.parametrize(("changes", "status", "code", "field"), CASES)
async def test_bad_requests_get_their_code_and_change_nothing(
    world: Any, h: Any, changes: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    """VLT-REQ-001/002/003, VLT-RES-001, VLT-SESS-002, CNS-TASK-001."""
    workload = await world.setup()
    wat = await world.wat(workload)
    before = snapshot(world)
    world.okta.clear_requests()
    response = await world.resource(workload, wat, expect=status, **changes)
    body = response.json()
    assert body["code"] == code
    assert response.headers["content-type"] == "application/problem+json"
    if field is not None:
        assert field in [e["field"] for e in body["errors"]]
    assert snapshot(world) == before
    assert [e for e in world.okta.requests() if e.endpoint != "openid_configuration"] == []
    events = await world.audit(operation="resource_token.get")
    assert [(e["decision"], e["reason"]) for e in events] == [("deny", code)]


async def test_scope_errors_list_each_offending_scope(world: Any, h: Any) -> None:
    """VLT-REQ-002: errors[] points at every scope outside the provider's."""
    workload = await world.setup()
    wat = await world.wat(workload)
    response = await world.resource(
        workload, wat, scopes=["admin", "notes.read", "delete"], expect=400
    )
    assert [e["field"] for e in response.json()["errors"]] == ["/scopes/0", "/scopes/2"]


async def test_another_workloads_wat_is_token_invalid(world: Any, h: Any) -> None:
    """VLT-REQ-001 step 2, VLT-PART-001: a WAT issued to another workload is 401
    token_invalid, exactly like a made-up one; nothing stored."""
    workload = await world.setup()
    other = await world.workload("reporter")
    other_wat = await world.wat(other)
    before = snapshot(world)
    foreign = await world.resource(workload, other_wat, expect=401)
    made_up = await world.resource(workload, "wat_" + "x" * 43, expect=401)
    assert foreign.json()["code"] == "token_invalid"
    assert h.without_request_id(foreign.json()) == h.without_request_id(made_up.json())
    assert 'error="invalid_token"' in foreign.headers["www-authenticate"]
    assert snapshot(world) == before


async def test_the_order_of_checks(world: Any, h: Any) -> None:
    """VLT-REQ-001: WAT before provider, provider before flow, flow before scopes, scopes
    before the return URL."""
    workload = await world.setup()
    wat = await world.wat(workload)
    no_user_wat = await world.wat(workload, user=None)
    bad = {"provider": "nope", "scopes": ["x"], "return_url": "https://evil.example"}
    assert (await world.resource(workload, "wat_bad", expect=401, **bad)).json()["code"] == (
        "token_invalid"
    )
    assert (await world.resource(workload, wat, expect=404, **bad)).json()["code"] == (
        "provider_not_found"
    )
    flow = await world.resource(workload, no_user_wat, expect=400, scopes=["x"])
    assert flow.json()["code"] == "validation_failed"
    assert flow.json()["errors"][0]["field"] == "/flow"
    scoped = await world.resource(
        workload, wat, expect=400, scopes=["x"], return_url="https://evil.example"
    )
    assert scoped.json()["code"] == "scope_not_allowed"


async def test_unauthenticated_callers_get_401_before_anything(world: Any, h: Any) -> None:
    """WID-AUTH-001: data-plane routes authenticate the workload first."""
    await world.setup()
    for path in (
        "/v1/resource-tokens/oauth2",
        "/v1/resource-tokens/api-key",
        "/v1/sessions/complete",
    ):
        response = await world.client.post(path, json={"nonsense": True})
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"


async def test_malformed_bodies_never_yield_5xx(world: Any, h: Any) -> None:
    """ERR-RULE-001: malformed JSON, a non-object, a wrong content type: 4xx only."""
    workload = await world.setup()
    attempts = [
        (b"{not json", "application/json", 400),
        (b"[]", "application/json", 400),
        (b"{}", "text/plain", 415),
    ]
    for content, media, status in attempts:
        headers = {**workload.auth, "content-type": media}
        for path in (
            "/v1/resource-tokens/oauth2",
            "/v1/sessions/complete",
            "/v1/resource-tokens/api-key",
        ):
            response = await world.client.post(path, headers=headers, content=content)
            assert response.status_code == status, (path, response.text)
