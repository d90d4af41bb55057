"""RFC 8693 token exchange as Okta does it, RFC 7662 introspection (plus ``uid``) and
RFC 7009 revocation."""

from __future__ import annotations

from typing import Any

import httpx
import jwt as pyjwt
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp

pytestmark = pytest.mark.anyio
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"


def _exchange(subject: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": EXCHANGE,
        "subject_token": subject,
        "subject_token_type": ACCESS,
        "audience": "api://default",
        "scope": "finance.read",
        **extra,
    }


async def test_exchange_returns_an_access_token_only(okta: httpx.AsyncClient, flows: Any) -> None:
    subject = (await flows.tokens(okta))["access_token"]
    r = await flows.token_request(okta, _exchange(subject))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["issued_token_type"] == ACCESS
    assert body["token_type"] == "Bearer"
    assert "refresh_token" not in body
    assert "id_token" not in body
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == flows.SARAH
    assert claims["uid"] == "00uproctorsarah00001"
    assert claims["cid"] == flows.AGENT
    assert claims["scp"] == ["finance.read"]
    assert claims["aud"] == "api://default"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"subject_token_type": "urn:ietf:params:oauth:token-type:id_token"}, "invalid_request"),
        ({"audience": "api://elsewhere"}, "invalid_target"),
        ({"subject_token": "not-a-token"}, "invalid_grant"),
        ({"scope": "openid"}, "invalid_scope"),
        ({"scope": "offline_access finance.read"}, "invalid_scope"),
        (
            {"requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token"},
            "invalid_request",
        ),
    ],
)
async def test_exchange_rejects(
    okta: httpx.AsyncClient, flows: Any, change: dict[str, str], error: str
) -> None:
    subject = (await flows.tokens(okta))["access_token"]
    r = await flows.token_request(okta, {**_exchange(subject), **change})
    assert r.status_code == 400
    assert r.json()["error"] == error


async def test_exchange_refuses_id_tokens_and_public_clients(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    tokens = await flows.tokens(okta)
    r = await flows.token_request(okta, _exchange(tokens["id_token"]))
    assert r.json()["error"] == "invalid_grant"
    r = await flows.token_request(
        okta, {**_exchange(tokens["access_token"]), "client_id": flows.SPA}, auth=None
    )
    assert r.json()["error"] == "unauthorized_client"


async def test_exchange_refuses_revoked_and_expired_subjects(okta_idp: MockIdp, flows: Any) -> None:
    async with okta_idp.async_client() as client:
        subject = (await flows.tokens(client))["access_token"]
        expired = okta_idp.mint(presets=["expired"])
        assert (await flows.token_request(client, _exchange(expired))).json()["error"] == (
            "invalid_grant"
        )
        r = await client.post(
            "/oauth2/default/v1/revoke",
            data={"token": subject, "token_type_hint": "access_token"},
            auth=(flows.AGENT, flows.AGENT_SECRET),
        )
        assert r.status_code == 200
        assert r.content == b""
        assert (await flows.token_request(client, _exchange(subject))).json()["error"] == (
            "invalid_grant"
        )


async def test_introspection_of_an_access_token(okta: httpx.AsyncClient, flows: Any) -> None:
    token = (await flows.tokens(okta))["access_token"]
    r = await okta.post(
        "/oauth2/default/v1/introspect",
        data={"token": token, "token_type_hint": "access_token"},
        auth=(flows.AGENT, flows.AGENT_SECRET),
    )
    body = r.json()
    assert body["active"] is True
    assert body["uid"] == "00uproctorsarah00001"
    assert body["username"] == flows.SARAH
    assert body["sub"] == flows.SARAH
    assert body["client_id"] == flows.AGENT
    assert body["token_type"] == "Bearer"
    assert body["aud"] == "api://default"
    assert body["iss"].endswith("/oauth2/default")
    assert body["scope"] == "openid profile email offline_access crm.read"
    assert body["jti"].startswith("AT.")


async def test_introspection_needs_client_authentication(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    token = (await flows.tokens(okta))["access_token"]
    r = await okta.post("/oauth2/default/v1/introspect", data={"token": token})
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"
    r = await okta.post(
        "/oauth2/default/v1/introspect", data={"token": token}, auth=(flows.AGENT, "wrong")
    )
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Basic")
    assert r.json()["error_description"] == (
        "The client secret supplied for a confidential client is invalid."
    )


async def test_introspection_of_another_servers_token_is_inactive(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    token = (await flows.tokens(okta))["access_token"]
    r = await okta.post(
        "/oauth2/v1/introspect", data={"token": token}, auth=(flows.AGENT, flows.AGENT_SECRET)
    )
    assert r.json() == {"active": False}


async def test_revoking_a_refresh_token_revokes_its_access_tokens(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    tokens = await flows.tokens(okta)
    r = await okta.post(
        "/oauth2/default/v1/revoke",
        data={"token": tokens["refresh_token"]},
        auth=(flows.AGENT, flows.AGENT_SECRET),
    )
    assert r.status_code == 200
    for token in (tokens["access_token"], tokens["refresh_token"]):
        r = await okta.post(
            "/oauth2/default/v1/introspect",
            data={"token": token},
            auth=(flows.AGENT, flows.AGENT_SECRET),
        )
        assert r.json() == {"active": False}
    r = await flows.token_request(
        okta, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    )
    assert r.json()["error"] == "invalid_grant"


async def test_revocation_rules(okta: httpx.AsyncClient, flows: Any) -> None:
    auth = (flows.AGENT, flows.AGENT_SECRET)
    r = await okta.post("/oauth2/default/v1/revoke", data={"token": "unknown"}, auth=auth)
    assert r.status_code == 200  # RFC 7009 §2.2: unknown tokens are not an error
    r = await okta.post(
        "/oauth2/default/v1/revoke", data={"token": "x", "token_type_hint": "id_token"}, auth=auth
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_token_type"
    r = await okta.post("/oauth2/default/v1/revoke", data={}, auth=auth)
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


async def test_userinfo(okta: httpx.AsyncClient, flows: Any) -> None:
    tokens = await flows.tokens(okta)
    r = await okta.get(
        "/oauth2/default/v1/userinfo",
        headers={"authorization": f"Bearer {tokens['access_token']}"},
    )
    assert r.status_code == 200
    assert r.json()["sub"] == "00uproctorsarah00001"
    assert r.json()["email"] == flows.SARAH
    r = await okta.get("/oauth2/default/v1/userinfo", headers={"authorization": "Bearer nope"})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    r = await okta.get(
        "/oauth2/default/v1/userinfo",
        headers={"authorization": f"Bearer {tokens['id_token']}"},
    )
    assert r.status_code == 401
    no_openid = await flows.tokens(okta, scope="crm.read")
    r = await okta.get(
        "/oauth2/default/v1/userinfo",
        headers={"authorization": f"Bearer {no_openid['access_token']}"},
    )
    assert r.status_code == 403
    assert r.json()["error"] == "insufficient_scope"
