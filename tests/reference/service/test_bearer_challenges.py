"""Bearer tokens presented more than once (ERR-BEARER-004) and a valid user token without
the scope ``/v1/me/consents`` requires (ERR-BEARER-003)."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

INVALID_REQUEST = 'Bearer realm="proctor", error="invalid_request"'


async def _client_credentials_token(client: httpx.AsyncClient, workload: Any) -> str:
    response = await client.post(
        "/oauth2/token", data={"grant_type": "client_credentials"}, headers=workload.auth
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _assert_presented_twice(response: httpx.Response, token: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers.get_list("www-authenticate") == [INVALID_REQUEST]
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["code"] == "invalid_request_body"
    assert body["request_id"] == response.headers["x-request-id"]
    assert token not in response.text


async def test_a_data_plane_token_in_header_and_query_is_invalid_request(
    client: httpx.AsyncClient, api: Any, h: ModuleType, service: Any
) -> None:
    """ERR-BEARER-004: the header and the ``access_token`` query parameter together are
    400 with ``error="invalid_request"``; the header alone is served; the query alone is
    no credential (401 without an ``error`` parameter)."""
    await api.create_authorizer()
    workload = await api.create_workload(authorizer="company-okta")
    token = await _client_credentials_token(client, workload)
    bearer = {"Authorization": f"Bearer {token}"}
    url = "/v1/workload-access-tokens"
    before = h.storage_snapshot(service)
    twice = await client.post(url, params={"access_token": token}, json={}, headers=bearer)
    _assert_presented_twice(twice, token)
    assert h.storage_snapshot(service) == before  # ERR-RULE-003: nothing was issued
    assert (await client.post(url, json={}, headers=bearer)).status_code == 200
    query_only = await client.post(url, params={"access_token": token}, json={})
    assert query_only.status_code == 401
    assert "error=" not in query_only.headers["www-authenticate"]


async def test_a_token_in_header_and_form_body_is_invalid_request(
    client: httpx.AsyncClient, api: Any, h: ModuleType
) -> None:
    """ERR-BEARER-004: an ``access_token`` form member next to the header is refused the
    same way; a form without ``access_token`` is left to the endpoint (415, the body
    handed on)."""
    await api.create_authorizer()
    workload = await api.create_workload(authorizer="company-okta")
    token = await _client_credentials_token(client, workload)
    bearer = {"Authorization": f"Bearer {token}"}
    twice = await client.post(
        "/v1/workload-access-tokens", data={"access_token": token}, headers=bearer
    )
    _assert_presented_twice(twice, token)
    encoded = await client.post(
        "/v1/workload-access-tokens",
        content=b"%61ccess_token=x",
        headers={
            **bearer,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    _assert_presented_twice(encoded, token)
    other = await client.post("/v1/workload-access-tokens", data={"x": "y"}, headers=bearer)
    assert other.status_code == 415
    assert other.json()["code"] == "unsupported_media_type"


async def test_the_control_plane_and_me_refuse_a_token_presented_twice(
    client: httpx.AsyncClient, api: Any, h: ModuleType
) -> None:
    """ERR-BEARER-004 on the control plane (the admin credential) and ``/v1/me``; the admin
    credential in the query alone is no credential."""
    await api.create_authorizer()
    admin_token = h.ADMIN["Authorization"].split(" ", 1)[1]
    twice = await client.get("/v1/workloads", params={"access_token": "x"}, headers=h.ADMIN)
    _assert_presented_twice(twice, admin_token)
    alone = await client.get("/v1/workloads", params={"access_token": admin_token})
    assert alone.status_code == 401
    me = await client.get(
        "/v1/me/consents",
        params={"authorizer": "company-okta", "access_token": "x"},
        headers={"Authorization": "Bearer user-token-0123456789"},
    )
    _assert_presented_twice(me, "user-token-0123456789")
    # Query and form body together, without the header, are two ways as well.
    both = await client.post(
        "/v1/workloads", params={"access_token": "a"}, data={"access_token": "b"}
    )
    assert both.status_code == 400
    assert both.headers["www-authenticate"] == INVALID_REQUEST


async def test_basic_authentication_with_a_query_token_is_one_credential(
    client: httpx.AsyncClient, api: Any
) -> None:
    """ERR-BEARER-004: only bearer presentations count; a Basic-authenticated workload
    with a stray ``access_token`` parameter is served (the parameter is ignored)."""
    await api.create_authorizer()
    workload = await api.create_workload(authorizer="company-okta")
    response = await client.post(
        "/v1/workload-access-tokens", params={"access_token": "x"}, json={}, headers=workload.auth
    )
    assert response.status_code == 200, response.text


async def test_a_user_token_without_the_required_scope_is_insufficient_scope(
    client: httpx.AsyncClient, api: Any, user_tokens: Any
) -> None:
    """ERR-BEARER-003: ``/v1/me/consents`` with a valid user token the authorizer denies
    with ``scope_not_allowed`` is 403 ``forbidden`` with ``Bearer realm="proctor",
    error="insufficient_scope", scope="<allowed_scopes>"``; with the scope it is served."""
    await api.create_authorizer(allowed_scopes=["crm.read", "crm.write"])
    query = {"authorizer": "company-okta"}
    lacking = user_tokens(scope="openid profile")
    response = await client.get(
        "/v1/me/consents", params=query, headers={"Authorization": f"Bearer {lacking}"}
    )
    assert response.status_code == 403, response.text
    assert response.headers.get_list("www-authenticate") == [
        'Bearer realm="proctor", error="insufficient_scope", scope="crm.read crm.write"'
    ]
    body = response.json()
    assert (body["code"], body["title"], body["status"]) == ("forbidden", "Forbidden", 403)
    assert lacking not in response.text
    granted = user_tokens()
    ok = await client.get(
        "/v1/me/consents", params=query, headers={"Authorization": f"Bearer {granted}"}
    )
    assert ok.status_code == 200, ok.text
    # Another denial reason stays a 401 user_token_rejected with invalid_token.
    other = user_tokens(aud="api://other")
    rejected = await client.get(
        "/v1/me/consents", params=query, headers={"Authorization": f"Bearer {other}"}
    )
    assert rejected.status_code == 401
    assert rejected.json()["reason"] == "wrong_audience"
