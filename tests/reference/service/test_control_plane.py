"""The control plane: admin credential, authorizers, workloads, secrets (spec 02, 03)."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import httpx
import pytest

from proctor.reference.service import Service

pytestmark = pytest.mark.anyio

ROUTES = [
    ("GET", "/v1/authorizers"),
    ("POST", "/v1/authorizers"),
    ("GET", "/v1/authorizers/company-okta"),
    ("PUT", "/v1/authorizers/company-okta"),
    ("DELETE", "/v1/authorizers/company-okta"),
    ("GET", "/v1/workloads"),
    ("POST", "/v1/workloads"),
    ("GET", "/v1/workloads/orchestrator"),
    ("PUT", "/v1/workloads/orchestrator"),
    ("DELETE", "/v1/workloads/orchestrator"),
    ("POST", "/v1/workloads/orchestrator/secret"),
    ("GET", "/v1/audit/events"),
    ("GET", "/v1/audit/verify"),
]


def _without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "request_id"}


# -- WID-ADMIN-001 ----------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ROUTES)
async def test_every_control_route_requires_the_admin_credential(
    client: httpx.AsyncClient, api: Any, h: ModuleType, method: str, path: str
) -> None:
    """WID-ADMIN-001, INB-CFG-001, WID-DIR-001: missing, wrong, other-scheme and workload
    credentials all get the same 401 with a Bearer challenge, and nothing is created."""
    await api.create_authorizer()
    workload = await api.create_workload(authorizer="company-okta")
    attempts: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong-" + h.ADMIN_TOKEN[6:]},
        {"Authorization": "Bearer " + h.ADMIN_TOKEN + "x"},
        {"Authorization": "Basic " + h.ADMIN_TOKEN},
        {"Authorization": "Bearer"},
        workload.auth,
    ]
    bodies = []
    for headers in attempts:
        response = await client.request(
            method, path, headers=headers, json=h.authorizer_body("other-okta")
        )
        assert response.status_code == 401, (headers, response.text)
        # ERR-BEARER-001/002: invalid_token only when a Bearer credential was sent
        sent_bearer = headers.get("Authorization", "").startswith("Bearer ")
        assert response.headers["WWW-Authenticate"] == (
            'Bearer realm="proctor", error="invalid_token"'
            if sent_bearer
            else 'Bearer realm="proctor"'
        )
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["code"] == "unauthenticated"
        bodies.append(_without_request_id(body))
    assert all(b == bodies[0] for b in bodies), "the 401 must not say what was wrong"
    listing = await client.get("/v1/authorizers", headers=h.ADMIN)
    assert [a["name"] for a in listing.json()["items"]] == ["company-okta"]


async def test_the_admin_credential_opens_the_control_plane(
    client: httpx.AsyncClient, h: ModuleType
) -> None:
    response = await client.get("/v1/workloads", headers=h.ADMIN)
    assert response.status_code == 200
    assert response.json() == {"items": [], "next_token": None}


# -- authorizers: INB-CFG-001/002/003 ------------------------------------------------


async def test_authorizer_create_fills_defaults_and_ignores_read_only_members(
    client: httpx.AsyncClient, h: ModuleType, clock: Any
) -> None:
    """INB-CFG-001: omitted members get Table 2.1's defaults; created_at/updated_at in a
    request are ignored."""
    body = {
        "name": "company-okta",
        "discovery_url": h.DISCOVERY_URL,
        "allowed_audiences": [h.AUDIENCE],
        "created_at": 5,
        "updated_at": 6,
    }
    response = await client.post("/v1/authorizers", json=body, headers=h.ADMIN)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored == {
        "name": "company-okta",
        "discovery_url": h.DISCOVERY_URL,
        "issuer": None,
        "allowed_audiences": [h.AUDIENCE],
        "allowed_clients": [],
        "allowed_scopes": [],
        "custom_claims": [],
        "token_kinds": [{"kind": "access_token", "typ": ["at+jwt"]}],
        "algorithms": ["RS256"],
        "leeway_seconds": 60,
        "idp_profile": "generic",
        "created_at": int(clock.now()),
        "updated_at": int(clock.now()),
    }
    fetched = await client.get("/v1/authorizers/company-okta", headers=h.ADMIN)
    assert fetched.status_code == 200
    assert fetched.json() == stored


async def test_authorizer_replace_delete_and_not_found(
    client: httpx.AsyncClient, api: Any, h: ModuleType, clock: Any
) -> None:
    created = await api.create_authorizer()
    clock.advance(10)
    replaced = await client.put(
        "/v1/authorizers/company-okta",
        json=h.authorizer_body(allowed_scopes=["crm.write"]),
        headers=h.ADMIN,
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["allowed_scopes"] == ["crm.write"]
    assert replaced.json()["created_at"] == created["created_at"]
    assert replaced.json()["updated_at"] == created["updated_at"] + 10

    renamed = await client.put(
        "/v1/authorizers/company-okta", json=h.authorizer_body("other-name"), headers=h.ADMIN
    )
    assert renamed.status_code == 400
    assert renamed.json()["code"] == "validation_failed"

    deleted = await client.delete("/v1/authorizers/company-okta", headers=h.ADMIN)
    assert deleted.status_code == 204
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(
            method, "/v1/authorizers/company-okta", json=h.authorizer_body(), headers=h.ADMIN
        )
        assert response.status_code == 404, method
        assert response.json()["code"] == "not_found"


async def test_authorizer_name_taken_is_a_conflict(
    client: httpx.AsyncClient, api: Any, h: ModuleType
) -> None:
    await api.create_authorizer()
    again = await client.post("/v1/authorizers", json=h.authorizer_body(), headers=h.ADMIN)
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"algorithms": ["HS256"]}, "/algorithms"),
        ({"algorithms": ["none"]}, "/algorithms"),
        ({"allowed_audiences": []}, ""),
        ({"issuer": "https://login.example/{tenantid}/v2.0"}, ""),
        ({"leeway_seconds": 301}, "/leeway_seconds"),
        ({"name": "x"}, "/name"),
        ({"name": "bad name!"}, "/name"),
        (
            {"discovery_url": "http://idp.example/.well-known/openid-configuration"},
            "/discovery_url",
        ),
        (
            {
                "custom_claims": [
                    {"claim": "g", "operator": "contains_any", "value": "x", "value_type": "string"}
                ]
            },
            "/custom_claims",
        ),
    ],
)
async def test_invalid_authorizer_configurations_are_refused(
    client: httpx.AsyncClient, h: ModuleType, changes: dict[str, Any], field: str
) -> None:
    """INB-CFG-002, TERM-NAME-001: 400 validation_failed naming the member; nothing stored."""
    response = await client.post(
        "/v1/authorizers", json=h.authorizer_body(**changes), headers=h.ADMIN
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation_failed"
    assert any(e["field"] == field or e["field"].startswith(field + "/") for e in body["errors"]), (
        body["errors"]
    )
    listing = await client.get("/v1/authorizers", headers=h.ADMIN)
    assert listing.json()["items"] == []


async def test_unusable_metadata_is_refused_at_save(
    client: httpx.AsyncClient, h: ModuleType, idp: Any
) -> None:
    """INB-DISC-003: metadata that cannot be fetched, or names another issuer, is a
    validation failure naming discovery_url or issuer."""
    missing = await client.post(
        "/v1/authorizers",
        json=h.authorizer_body(
            discovery_url="https://nowhere.example/.well-known/openid-configuration"
        ),
        headers=h.ADMIN,
    )
    assert missing.status_code == 400
    assert [e["field"] for e in missing.json()["errors"]] == ["/discovery_url"]

    other_issuer = await client.post(
        "/v1/authorizers",
        json=h.authorizer_body(issuer="https://idp.example/oauth2/other"),
        headers=h.ADMIN,
    )
    assert other_issuer.status_code == 400
    assert [e["field"] for e in other_issuer.json()["errors"]] == ["/issuer"]

    idp.down = True
    down = await client.post("/v1/authorizers", json=h.authorizer_body(), headers=h.ADMIN)
    assert down.status_code == 400
    assert (await client.get("/v1/authorizers", headers=h.ADMIN)).json()["items"] == []


async def test_a_referenced_authorizer_cannot_be_deleted(
    client: httpx.AsyncClient, api: Any, h: ModuleType
) -> None:
    """INB-CFG-003: 409 while a workload names it; deletable once none does."""
    await api.create_authorizer()
    await api.create_authorizer("company_okta")  # '_' must not match as a LIKE wildcard
    await api.create_workload(authorizer="company-okta")
    refused = await client.delete("/v1/authorizers/company-okta", headers=h.ADMIN)
    assert refused.status_code == 409
    assert refused.json()["code"] == "conflict"
    assert (await client.get("/v1/authorizers/company-okta", headers=h.ADMIN)).status_code == 200
    assert (await client.delete("/v1/authorizers/company_okta", headers=h.ADMIN)).status_code == 204

    unlinked = await client.put(
        "/v1/workloads/orchestrator", json={"name": "orchestrator"}, headers=h.ADMIN
    )
    assert unlinked.status_code == 200
    assert (await client.delete("/v1/authorizers/company-okta", headers=h.ADMIN)).status_code == 204


# -- workloads: WID-DIR-*, WID-SEC-* ------------------------------------------------------


async def test_workload_create_returns_the_secret_once(
    client: httpx.AsyncClient, api: Any, h: ModuleType, clock: Any
) -> None:
    """WID-DIR-002, WID-SEC-001: a generated client_id and a 256-bit secret, in the create
    response only; client_id/created_at/updated_at in the request are ignored."""
    await api.create_authorizer()
    response = await client.post(
        "/v1/workloads",
        json={
            "name": "orchestrator",
            "authorizer": "company-okta",
            "client_id": "wl_mine",
            "created_at": 1,
            "updated_at": 2,
        },
        headers=h.ADMIN,
    )
    assert response.status_code == 201, response.text
    assert response.headers["Cache-Control"] == "no-store"
    created = response.json()
    secret = created.pop("client_secret")
    assert re.fullmatch(r"wl_[A-Za-z0-9]{8,64}", created["client_id"])
    assert created["client_id"] != "wl_mine"
    assert len(secret) >= 43  # 256 bits, base64url
    assert created == {
        "name": "orchestrator",
        "client_id": created["client_id"],
        "authorizer": "company-okta",
        "allowed_return_urls": [],
        "allow_user_id_tokens": False,
        "jwks": None,
        "token_endpoint_auth_method": "client_secret_basic",
        "disabled": False,
        "created_at": int(clock.now()),
        "updated_at": int(clock.now()),
    }
    got = await client.get("/v1/workloads/orchestrator", headers=h.ADMIN)
    listed = await client.get("/v1/workloads", headers=h.ADMIN)
    replaced = await client.put(
        "/v1/workloads/orchestrator", json={"name": "orchestrator"}, headers=h.ADMIN
    )
    for other in (got, listed, replaced):
        assert other.status_code == 200
        assert secret not in other.text
        assert '"client_secret"' not in other.text
    assert got.json() == created


async def test_workload_conflicts_and_not_found(
    client: httpx.AsyncClient, api: Any, h: ModuleType
) -> None:
    await api.create_workload()
    again = await client.post("/v1/workloads", json={"name": "orchestrator"}, headers=h.ADMIN)
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"
    for method, path in [
        ("GET", "/v1/workloads/nobody"),
        ("PUT", "/v1/workloads/nobody"),
        ("DELETE", "/v1/workloads/nobody"),
        ("POST", "/v1/workloads/nobody/secret"),
        ("GET", "/v1/workloads/x"),
    ]:
        body = {"name": "nobody"} if method == "PUT" else None
        response = await client.request(method, path, json=body, headers=h.ADMIN)
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "orchestrator", "authorizer": "nobody"}, ["/authorizer"]),
        (
            {"name": "orchestrator", "allowed_return_urls": ["http://app.example/cb"]},
            ["/allowed_return_urls"],
        ),
        (
            {"name": "orchestrator", "allowed_return_urls": ["https://a.example/#x"]},
            ["/allowed_return_urls"],
        ),
        (
            {"name": "orchestrator", "allowed_return_urls": ["https://a.example/r"] * 2},
            ["/allowed_return_urls"],
        ),
        ({"name": "orchestrator", "token_endpoint_auth_method": "private_key_jwt"}, ["/jwks"]),
        ({"name": "orchestrator", "jwks": {"keys": []}}, ["/jwks"]),
        (
            {"name": "orchestrator", "token_endpoint_auth_method": "client_secret_jwt"},
            ["/token_endpoint_auth_method"],
        ),
        ({"name": "or"}, ["/name"]),
        (
            {
                "name": "orchestrator",
                "authorizer": "nobody",
                "token_endpoint_auth_method": "private_key_jwt",
            },
            ["/jwks", "/authorizer"],
        ),
    ],
)
async def test_invalid_workloads_are_refused(
    client: httpx.AsyncClient, h: ModuleType, body: dict[str, Any], fields: list[str]
) -> None:
    """WID-DIR-003: 400 validation_failed naming each offending member; nothing stored."""
    response = await client.post("/v1/workloads", json=body, headers=h.ADMIN)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    named = {e["field"] for e in problem["errors"]}
    assert set(fields) <= named, problem["errors"]
    assert (await client.get("/v1/workloads", headers=h.ADMIN)).json()["items"] == []


async def test_private_key_jwt_workloads_have_public_keys_and_no_secret(
    client: httpx.AsyncClient, h: ModuleType, idp_key: Any
) -> None:
    """Table 3.1: public keys only; WID-SEC-003: no secret to rotate."""
    private = idp_key.as_dict(private=True)
    refused = await client.post(
        "/v1/workloads",
        json={
            "name": "signer",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [private]},
        },
        headers=h.ADMIN,
    )
    assert refused.status_code == 400
    assert refused.json()["code"] == "validation_failed"
    assert private["d"] not in refused.text

    public = idp_key.as_dict(private=False)
    created = await client.post(
        "/v1/workloads",
        json={
            "name": "signer",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": {"keys": [public]},
        },
        headers=h.ADMIN,
    )
    assert created.status_code == 201, created.text
    assert "client_secret" not in created.json()
    rotate = await client.post("/v1/workloads/signer/secret", headers=h.ADMIN)
    assert rotate.status_code == 400
    assert rotate.json()["code"] == "validation_failed"


async def test_secret_rotation_replaces_the_secret_at_once(
    client: httpx.AsyncClient, api: Any, h: ModuleType, service: Service
) -> None:
    """WID-SEC-003: 200 with the new secret; the old one fails from then on; tokens issued
    before the rotation stay valid."""
    workload = await api.create_workload()
    before = await client.post("/v1/workload-access-tokens", json={}, headers=workload.auth)
    wat = before.json()["workload_access_token"]
    assert (
        await client.post("/v1/workload-access-tokens", json={}, headers=workload.auth)
    ).status_code == 200
    rotated = await client.post("/v1/workloads/orchestrator/secret", headers=h.ADMIN)
    assert rotated.status_code == 200
    assert rotated.headers["Cache-Control"] == "no-store"
    body = rotated.json()
    assert body["client_id"] == workload.client_id
    assert body["client_secret"] != workload.secret
    old = await client.post("/v1/workload-access-tokens", json={}, headers=workload.auth)
    assert old.status_code == 401
    new = await client.post(
        "/v1/workload-access-tokens",
        json={},
        headers=h.basic(workload.client_id, body["client_secret"]),
    )
    assert new.status_code == 200
    service.workload_tokens.validate(wat, service.directory.get("orchestrator"))
    assert (
        body["client_secret"]
        not in (await client.get("/v1/workloads/orchestrator", headers=h.ADMIN)).text
    )


async def test_switching_to_private_key_jwt_deletes_the_secret(
    client: httpx.AsyncClient, api: Any, h: ModuleType, idp_key: Any
) -> None:
    """WID-SEC-003: the stored secret is deleted; switching back leaves no secret until a
    rotation."""
    workload = await api.create_workload()
    jwks = {"keys": [idp_key.as_dict(private=False)]}
    switched = await client.put(
        "/v1/workloads/orchestrator",
        json={
            "name": "orchestrator",
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks,
        },
        headers=h.ADMIN,
    )
    assert switched.status_code == 200, switched.text
    back = await client.put(
        "/v1/workloads/orchestrator", json={"name": "orchestrator"}, headers=h.ADMIN
    )
    assert back.status_code == 200
    refused = await client.post("/v1/workload-access-tokens", json={}, headers=workload.auth)
    assert refused.status_code == 401
    rotated = (await client.post("/v1/workloads/orchestrator/secret", headers=h.ADMIN)).json()
    ok = await client.post(
        "/v1/workload-access-tokens",
        json={},
        headers=h.basic(workload.client_id, rotated["client_secret"]),
    )
    assert ok.status_code == 200


async def test_put_cannot_rename(client: httpx.AsyncClient, api: Any, h: ModuleType) -> None:
    await api.create_workload()
    response = await client.put(
        "/v1/workloads/orchestrator", json={"name": "renamed"}, headers=h.ADMIN
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "/name"


async def test_a_recreated_workload_gets_a_new_client_id(
    client: httpx.AsyncClient, api: Any, h: ModuleType
) -> None:
    """WID-STATE-002: a name is not an identity."""
    first = await api.create_workload()
    assert (await client.delete("/v1/workloads/orchestrator", headers=h.ADMIN)).status_code == 204
    second = await api.create_workload()
    assert second.client_id != first.client_id
    old = await client.post("/v1/workload-access-tokens", json={}, headers=first.auth)
    assert old.status_code == 401


# -- pagination: WID-DIR-001 -------------------------------------------------------------


async def test_lists_are_paginated_by_name(
    client: httpx.AsyncClient, api: Any, h: ModuleType
) -> None:
    names = ["wl-e", "wl-a", "wl-d", "wl-b", "wl-c"]
    for name in names:
        await api.create_workload(name)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if token:
            params["next_token"] = token
        response = await client.get("/v1/workloads", params=params, headers=h.ADMIN)
        assert response.status_code == 200
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [w["name"] for w in page["items"]]
        pages += 1
        token = page["next_token"]
        if token is None:
            break
    assert seen == sorted(names)
    assert pages == 3


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=abc",
        "limit=-1",
        "next_token=garbage",
        "limit=1&limit=2",
        "unknown=1",
    ],
)
@pytest.mark.parametrize("path", ["/v1/workloads", "/v1/authorizers", "/v1/audit/events"])
async def test_bad_list_parameters_are_refused(
    client: httpx.AsyncClient, h: ModuleType, path: str, query: str
) -> None:
    response = await client.get(f"{path}?{query}", headers=h.ADMIN)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_failed"


async def test_authorizer_tokens_do_not_page_workloads(
    client: httpx.AsyncClient, api: Any, h: ModuleType
) -> None:
    await api.create_authorizer("okta-a")
    await api.create_authorizer("okta-b")
    token = (await client.get("/v1/authorizers?limit=1", headers=h.ADMIN)).json()["next_token"]
    assert token
    response = await client.get("/v1/workloads", params={"next_token": token}, headers=h.ADMIN)
    assert response.status_code == 400


async def test_service_fixture_is_isolated(service: Service) -> None:
    assert service.directory.list().items == []


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", "/v1/workloads", {"GET", "HEAD", "POST"}),
        ("POST", "/v1/workloads/orchestrator", {"GET", "HEAD", "PUT", "DELETE"}),
        ("GET", "/v1/workloads/orchestrator/secret", {"POST"}),
        ("DELETE", "/v1/audit/events", {"GET", "HEAD"}),
        ("GET", "/v1/decisions", {"POST"}),
    ],
)
async def test_unsupported_methods_are_405_with_allow(
    client: httpx.AsyncClient, h: ModuleType, method: str, path: str, allow: set[str]
) -> None:
    """ERR-HTTP-001: 405, an Allow header listing every supported method, and the
    method_not_allowed problem."""
    response = await client.request(method, path, headers=h.ADMIN)
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allow
    assert response.json()["code"] == "method_not_allowed"


async def test_an_unknown_idp_profile_is_a_validation_failure(
    client: httpx.AsyncClient, h: ModuleType
) -> None:
    """INB-CFG-002: a well-formed string that is not a profile breaks a rule of Table 2.1:
    400 validation_failed naming ``/idp_profile`` alone; nothing is stored."""
    response = await client.post(
        "/v1/authorizers", json=h.authorizer_body(idp_profile="keycloak"), headers=h.ADMIN
    )
    assert response.status_code == 400
    assert response.json()["code"] == "validation_failed"
    assert [e["field"] for e in response.json()["errors"]] == ["/idp_profile"]
    listed = await client.get("/v1/authorizers", headers=h.ADMIN)
    assert listed.json()["items"] == []
