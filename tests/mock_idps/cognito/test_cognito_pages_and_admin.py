"""The hosted sign-in on the pool domain (engine pages, no consent screen), headless mode,
authorization errors, and the admin API's minting presets and key rotation for Cognito."""

from __future__ import annotations

from typing import Any

import httpx
import jwt as pyjwt
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.mock_idps.testing import parse_forms, pkce_pair

pytestmark = pytest.mark.anyio


def _authorize(cflows: Any, **extra: str) -> dict[str, str]:
    _, challenge = pkce_pair()
    params = {
        "client_id": cflows.WEB,
        "redirect_uri": cflows.CALLBACK,
        "response_type": "code",
        "scope": "openid email",
        "state": "s-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return {k: v for k, v in params.items() if v}


async def test_hosted_sign_in_page(cognito: httpx.AsyncClient, cflows: Any) -> None:
    r = await cognito.get(f"{cflows.DOMAIN}/oauth2/authorize", params=_authorize(cflows))
    assert r.status_code == 302
    login_url = httpx.URL(cflows.DOMAIN).join(r.headers["location"])
    assert login_url.path == "/login"
    page = await cognito.get(login_url)
    assert page.status_code == 200
    assert "Amazon Cognito" in page.text
    form = parse_forms(page.text)["login"]
    assert form.action == "/login"
    r = await cognito.post(
        httpx.URL(cflows.DOMAIN).join(form.action),
        data=form.fill(username="sarah", password="wrong"),
    )
    assert r.status_code == 401
    assert "wrong" not in r.text
    r = await cognito.post(
        httpx.URL(cflows.DOMAIN).join(form.action),
        data=form.fill(username="sarah", password="sarah-password"),
    )
    assert r.status_code == 302  # no consent screen: straight back to the client
    assert "cognito=" in r.headers["set-cookie"]
    location = httpx.URL(r.headers["location"])
    assert str(location).startswith(cflows.CALLBACK)
    assert location.params["state"] == "s-1"
    # Signed in: the next authorization needs no page at all.
    r = await cognito.get(
        f"{cflows.DOMAIN}/oauth2/authorize", params=_authorize(cflows, state="s-2")
    )
    assert r.headers["location"].startswith(cflows.CALLBACK)


@pytest.mark.mock_idp(headless_user="bob")
async def test_headless_mode(cognito_idp: MockIdp, cflows: Any) -> None:
    async with cognito_idp.async_client() as client:
        body = await cflows.tokens(client)
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["username"] == "bob"
    assert claims["cognito:groups"] == ["finance"]


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"scope": "openid crm-api/unknown"}, "invalid_scope"),
        ({"scope": "email"}, "invalid_scope"),  # email needs openid
        ({"scope": "openid phone"}, "invalid_scope"),  # not one of the client's scopes
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
async def test_authorization_errors_redirect_back(
    cognito: httpx.AsyncClient, cflows: Any, extra: dict[str, str], error: str
) -> None:
    r = await cognito.get(f"{cflows.DOMAIN}/oauth2/authorize", params=_authorize(cflows, **extra))
    assert r.status_code == 302
    location = httpx.URL(r.headers["location"])
    assert str(location).startswith(cflows.CALLBACK)
    assert location.params["error"] == error
    assert location.params["state"] == "s-1"


async def test_machine_client_cannot_use_the_code_flow(
    cognito: httpx.AsyncClient, cflows: Any
) -> None:
    r = await cognito.get(
        f"{cflows.DOMAIN}/oauth2/authorize",
        params=_authorize(cflows, client_id=cflows.M2M, redirect_uri=""),
    )
    assert r.status_code == 400  # no callback URL registered: an error page, no redirect
    assert "location" not in r.headers


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = pyjwt.decode(token, options={"verify_signature": False})
    return claims


async def test_minted_id_token_presented_as_access_token(cognito_idp: MockIdp, cflows: Any) -> None:
    minted = cognito_idp.mint_token(presets=["id_token"], user="sarah", client_id=cflows.WEB)
    async with cognito_idp.async_client() as client:
        keys = await cflows.jwks(client)
    claims = cflows.verify(minted.token, keys, client_id=cflows.WEB, token_use=None)
    assert claims["token_use"] == "id"
    with pytest.raises(pyjwt.InvalidTokenError):
        cflows.verify(minted.token, keys, client_id=cflows.WEB, token_use="access")


async def test_access_token_signed_with_the_id_key(cognito_idp: MockIdp, cflows: Any) -> None:
    id_kid = cognito_idp.keys().active("id").kid
    access_kid = cognito_idp.keys().active().kid
    minted = cognito_idp.mint_token(key=id_kid)
    assert minted.header["kid"] == id_kid != access_kid
    assert minted.claims["token_use"] == "access"
    async with cognito_idp.async_client() as client:
        keys = await cflows.jwks(client)
    # It verifies (the ID key is published): only a verifier that ties each token_use to
    # its own kid notices.
    claims = cflows.verify(minted.token, keys, client_id=cflows.WEB, token_use="access")
    assert claims["username"] == "sarah"


async def test_mint_presets_keep_cognitos_shape(cognito_idp: MockIdp, cflows: Any) -> None:
    async with cognito_idp.async_client() as client:
        keys = await cflows.jwks(client)
    expired = cognito_idp.mint(presets=["expired"])
    with pytest.raises(pyjwt.ExpiredSignatureError):
        cflows.verify(expired, keys, client_id=cflows.WEB, token_use="access")
    with_aud = cognito_idp.mint(presets=["wrong_audience"])
    assert _claims(with_aud)["aud"] == "api://wrong-audience"  # Cognito never sends one
    app = cognito_idp.mint_token(app=True, client_id=cflows.M2M, scopes=["crm-api/notes.read"])
    assert app.claims["sub"] == cflows.M2M
    assert "username" not in app.claims
    unknown = cognito_idp.mint(presets=["unknown_kid"])
    with pytest.raises(pyjwt.InvalidTokenError, match="no published key"):
        cflows.verify(unknown, keys, client_id=cflows.WEB, token_use="access")


async def test_admin_api_rotates_one_purpose(cognito_idp: MockIdp, cflows: Any) -> None:
    admin = cognito_idp.client()
    before = {k["purpose"]: k["kid"] for k in admin.get("/_mock/keys").json()["keys"]}
    assert set(before) == {"default", "id"}
    r = admin.post("/_mock/keys/rotate", json={"purpose": "id"})
    assert r.status_code == 200
    new_id_kid = r.json()["kid"]
    async with cognito_idp.async_client() as client:
        body = await cflows.tokens(client)
        keys = await cflows.jwks(client)
    assert pyjwt.get_unverified_header(body["id_token"])["kid"] == new_id_kid
    assert pyjwt.get_unverified_header(body["access_token"])["kid"] == before["default"]
    assert {before["id"], before["default"], new_id_kid} == {k["kid"] for k in keys["keys"]}
    r = admin.post("/_mock/keys/rotate", json={"purpose": "org-access"})
    assert r.status_code == 400


async def test_admin_token_endpoint_mints_for_cognito(cognito_idp: MockIdp, cflows: Any) -> None:
    r = cognito_idp.client().post(
        "/_mock/tokens", json={"kind": "id", "user": "bob", "client_id": cflows.SPA}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["claims"]["token_use"] == "id"
    assert body["claims"]["aud"] == cflows.SPA
    assert body["claims"]["cognito:username"] == "bob"
    assert body["header"]["kid"] == cognito_idp.keys().active("id").kid
