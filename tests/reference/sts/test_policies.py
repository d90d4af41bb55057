"""``/v1/exchange-policies``: CRUD, validation (TX-POL-001/002), the admin credential, the
audit events, and that a change governs the very next token request."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ADMIN, CRM_MCP, ISSUER, MARKS, Harness, basic

pytestmark = MARKS

PATH = "/v1/exchange-policies"


def _body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "worker-to-crm",
        "client": "worker",
        "subject_issuers": ["self"],
        "resources": [CRM_MCP],
        "scopes": ["crm.read"],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def test_crud(harness: Harness) -> None:
    await harness.workload("worker")
    client = harness.client
    created = await client.post(PATH, json=_body(), headers=ADMIN)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    stored = {
        "name": "worker-to-crm",
        "client": "worker",
        "subject_issuers": ["self"],
        "audiences": [],
        "resources": [CRM_MCP],
        "scopes": ["crm.read"],
        "max_depth": 5,
        "allow_impersonation": False,
        "allow_id_token_subjects": False,
        "actor": "client",
    }
    assert created.json() == stored
    assert (await client.get(f"{PATH}/worker-to-crm", headers=ADMIN)).json() == stored
    assert (await client.post(PATH, json=_body(), headers=ADMIN)).status_code == 409

    replaced = await client.put(
        f"{PATH}/worker-to-crm", json=_body(max_depth=2, actor="any_registered_workload"),
        headers=ADMIN,
    )  # fmt: skip
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["max_depth"], replaced.json()["actor"]) == (
        2,
        "any_registered_workload",
    )

    for index in range(3):
        more = _body(name=f"extra-{index}", resources=[f"{CRM_MCP}/{index}"])
        assert (await client.post(PATH, json=more, headers=ADMIN)).status_code == 201
    first = await client.get(PATH, params={"limit": 2}, headers=ADMIN)
    assert [p["name"] for p in first.json()["items"]] == ["extra-0", "extra-1"]
    rest = await client.get(
        PATH, params={"limit": 2, "next_token": first.json()["next_token"]}, headers=ADMIN
    )
    assert [p["name"] for p in rest.json()["items"]] == ["extra-2", "worker-to-crm"]
    assert rest.json()["next_token"] is None

    assert (await client.delete(f"{PATH}/worker-to-crm", headers=ADMIN)).status_code == 204
    for method in ("GET", "DELETE"):
        gone = await client.request(method, f"{PATH}/worker-to-crm", headers=ADMIN)
        assert gone.status_code == 404
        assert gone.json()["code"] == "not_found"
    absent = await client.put(
        f"{PATH}/nothing-here", json=_body(name="nothing-here"), headers=ADMIN
    )
    assert absent.status_code == 404

    events = await harness.audit()
    operations = [e["operation"] for e in events if e["operation"].startswith("exchange_policy")]
    assert operations[:3] == [
        "exchange_policy.create",
        "exchange_policy.get",
        "exchange_policy.create",
    ]
    assert all(e["actor_chain"] == ["admin"] for e in events if e["operation"].startswith("exch"))
    assert any(e["reason"] == "conflict" for e in events)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"client": "ghost-workload"}, "/client"),
        ({"subject_issuers": []}, "/subject_issuers"),
        ({"subject_issuers": ["http://idp.example"]}, "/subject_issuers"),
        ({"subject_issuers": ["https://idp.example?x=1"]}, "/subject_issuers"),
        ({"subject_issuers": ["https://idp.example#f"]}, "/subject_issuers"),
        ({"resources": [], "audiences": []}, ""),
        ({"resources": ["not a uri"]}, "/resources"),
        ({"resources": ["https://crm.example/mcp#x"]}, "/resources"),
        ({"scopes": ["crm read"]}, "/scopes"),
        ({"scopes": ['crm"read']}, "/scopes"),
        ({"max_depth": 0}, "/max_depth"),
        ({"max_depth": 17}, "/max_depth"),
        ({"actor": "anyone"}, "/actor"),
        ({"audiences": [ISSUER]}, "/audiences"),
        ({"resources": [ISSUER]}, "/resources"),
        ({"name": "x"}, "/name"),
    ],
)
async def test_validation_failed_names_the_field(
    harness: Harness, changes: dict[str, Any], field: str
) -> None:
    await harness.workload("worker")
    response = await harness.client.post(PATH, json=_body(**changes), headers=ADMIN)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem["errors"]
    listed = await harness.client.get(PATH, headers=ADMIN)
    assert listed.json()["items"] == []  # ERR-RULE-003: nothing stored


@pytest.mark.parametrize(
    "body",
    [
        _body(unknown_member=True),
        _body(max_depth="5"),
        _body(allow_impersonation="yes"),
        {"name": "worker-to-crm"},
        ["not", "an", "object"],
    ],
)
async def test_malformed_bodies_are_invalid_request_body(harness: Harness, body: Any) -> None:
    await harness.workload("worker")
    response = await harness.client.post(PATH, json=body, headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request_body"


async def test_shared_targets_conflict_and_names_cannot_change(harness: Harness) -> None:
    """TX-POL-002: one target, one policy per client; PUT keeps the path's name."""
    await harness.workload("worker")
    await harness.workload("other")
    assert (await harness.client.post(PATH, json=_body(), headers=ADMIN)).status_code == 201
    clash = _body(name="second-one", resources=[CRM_MCP, "https://b.example/"])
    assert (await harness.client.post(PATH, json=clash, headers=ADMIN)).status_code == 409
    # another client may name the same target
    other = _body(name="other-to-crm", client="other")
    assert (await harness.client.post(PATH, json=other, headers=ADMIN)).status_code == 201
    renamed = await harness.client.put(
        f"{PATH}/worker-to-crm", json=_body(name="renamed-one"), headers=ADMIN
    )
    assert renamed.status_code == 400
    assert renamed.json()["code"] == "validation_failed"
    wrong_type = await harness.client.post(
        PATH, content=b"name=x", headers={**ADMIN, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415


async def test_the_admin_credential_is_required(harness: Harness) -> None:
    worker = await harness.workload("worker")
    for headers in ({}, {"Authorization": "Bearer nope"}, basic(worker.client_id, worker.secret)):
        for method, path in (("GET", PATH), ("POST", PATH), ("GET", f"{PATH}/a-name")):
            kwargs: dict[str, Any] = {"headers": headers}
            if method == "POST":
                kwargs["json"] = _body()
            response = await harness.client.request(method, path, **kwargs)
            assert response.status_code == 401
            assert response.json()["code"] == "unauthenticated"


async def test_a_policy_change_governs_the_next_request(harness: Harness) -> None:
    """TX-POL-001: created, replaced, deleted: the next token request follows it."""
    worker = await harness.workload("worker")
    pairs = [("grant_type", "client_credentials"), ("resource", CRM_MCP), ("scope", "crm.read")]
    before = await harness.token(worker, pairs)
    assert before.json()["error"] == "invalid_target"
    assert (await harness.client.post(PATH, json=_body(), headers=ADMIN)).status_code == 201
    assert (await harness.token(worker, pairs)).json()["scope"] == "crm.read"
    narrower = _body(scopes=["crm.write"])
    assert (
        await harness.client.put(f"{PATH}/worker-to-crm", json=narrower, headers=ADMIN)
    ).status_code == 200
    assert (await harness.token(worker, pairs)).json()["error"] == "invalid_scope"
    assert (await harness.client.delete(f"{PATH}/worker-to-crm", headers=ADMIN)).status_code == 204
    assert (await harness.token(worker, pairs)).json()["error"] == "invalid_target"
