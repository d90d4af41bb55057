"""Cognito's endpoint matrix: discovery and JWKS on the issuer host, OAuth endpoints on the
pool domain, no introspection or device flow, bare error bodies, revocation of a refresh
token and everything issued from it, userInfo, and the Cognito-style /logout."""

from __future__ import annotations

from typing import Any

import httpx
import jwt as pyjwt
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp

pytestmark = pytest.mark.anyio


async def test_discovery_document(cognito: httpx.AsyncClient, cflows: Any) -> None:
    r = await cognito.get(cflows.DISCOVERY)
    assert r.status_code == 200
    doc = r.json()
    assert list(doc) == sorted(doc)
    assert doc == {
        "authorization_endpoint": f"{cflows.DOMAIN}/oauth2/authorize",
        "end_session_endpoint": f"{cflows.DOMAIN}/logout",
        "id_token_signing_alg_values_supported": ["RS256"],
        "issuer": cflows.ISSUER,
        "jwks_uri": cflows.JWKS,
        "response_types_supported": ["code"],
        "revocation_endpoint": f"{cflows.DOMAIN}/oauth2/revoke",
        "scopes_supported": ["openid", "email", "phone", "profile"],
        "subject_types_supported": ["public"],
        "token_endpoint": cflows.TOKEN,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "userinfo_endpoint": f"{cflows.DOMAIN}/oauth2/userInfo",
    }
    assert "introspection_endpoint" not in doc
    assert "device_authorization_endpoint" not in doc
    assert "code_challenge_methods_supported" not in doc  # as in real pools


def test_fixture_urls(cognito_idp: MockIdp, cflows: Any) -> None:
    assert cognito_idp.vendor == "cognito"
    assert cognito_idp.issuer() == cflows.ISSUER
    assert cognito_idp.jwks_uri() == cflows.JWKS
    assert cognito_idp.discovery_url() == cflows.DISCOVERY
    assert cognito_idp.url("token") == cflows.TOKEN
    assert cognito_idp.client().get("/_mock").json()["servers"][0]["endpoints"]["revoke"] == (
        f"{cflows.DOMAIN}/oauth2/revoke"
    )


@pytest.mark.parametrize(
    "grant_type",
    [
        "password",
        "urn:ietf:params:oauth:grant-type:device_code",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "implicit",
    ],
)
async def test_unsupported_grants_in_cognitos_shape(
    cognito: httpx.AsyncClient, cflows: Any, grant_type: str
) -> None:
    r = await cflows.token_request(
        cognito, {"grant_type": grant_type, "username": "sarah", "password": "sarah-password"}
    )
    assert r.status_code == 400
    assert r.json() == {"error": "unsupported_grant_type"}
    assert r.headers["content-type"] == "application/json"


@pytest.mark.parametrize("path", ["/oauth2/introspect", "/oauth2/device_authorization", "/nope"])
async def test_absent_endpoints_are_404(cognito: httpx.AsyncClient, cflows: Any, path: str) -> None:
    r = await cognito.post(cflows.DOMAIN + path, data={"token": "x"})
    assert r.status_code == 404


async def test_unknown_pool_is_404(cognito: httpx.AsyncClient) -> None:
    r = await cognito.get("/us-east-1_Nope00000/.well-known/jwks.json")
    assert r.status_code == 404
    assert r.json()["code"] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("auth", "data"),
    [
        (("6proctorwebapp0client00001", "wrong"), {}),
        (("nobody", "x"), {}),
        (None, {"client_id": "6proctorwebapp0client00001"}),
        (None, {"client_id": "6proctorspa000client000002", "client_secret": "x"}),
    ],
)
async def test_invalid_client_is_400_at_the_token_endpoint(
    cognito: httpx.AsyncClient, cflows: Any, auth: tuple[str, str] | None, data: dict[str, str]
) -> None:
    r = await cflows.token_request(cognito, {"grant_type": "client_credentials", **data}, auth=auth)
    assert (r.status_code, r.json()) == (400, {"error": "invalid_client"})
    assert "www-authenticate" not in r.headers


async def test_code_errors(cognito: httpx.AsyncClient, cflows: Any) -> None:
    code, verifier = await cflows.sign_in(cognito)
    base = {"grant_type": "authorization_code", "code": code, "code_verifier": verifier}
    r = await cflows.token_request(cognito, base)  # no redirect_uri
    assert (r.status_code, r.json()) == (400, {"error": "invalid_request"})
    # A redirect_uri that is not a callback URL (the trailing-slash classic).
    r = await cflows.token_request(cognito, {**base, "redirect_uri": cflows.CALLBACK + "/"})
    assert (r.status_code, r.json()) == (400, {"error": "unauthorized_client"})
    r = await cflows.token_request(cognito, {**base, "redirect_uri": cflows.CALLBACK})
    assert r.status_code == 200
    r = await cflows.token_request(cognito, {**base, "redirect_uri": cflows.CALLBACK})
    assert (r.status_code, r.json()) == (400, {"error": "invalid_grant"})  # consumed


async def _userinfo(client: httpx.AsyncClient, cflows: Any, token: str) -> httpx.Response:
    return await client.get(
        f"{cflows.DOMAIN}/oauth2/userInfo", headers={"authorization": f"Bearer {token}"}
    )


async def test_userinfo(cognito: httpx.AsyncClient, cflows: Any) -> None:
    body = await cflows.tokens(cognito, scope="openid")
    r = await _userinfo(cognito, cflows, body["access_token"])
    assert r.status_code == 200
    assert r.json() == {
        "sub": cflows.SARAH_SUB,
        "name": "Sarah Example",
        "given_name": "Sarah",
        "family_name": "Example",
        "custom:department": "sales",
        "email_verified": "true",
        "email": "sarah@example.com",
        "username": "sarah",
    }
    body = await cflows.tokens(cognito, scope="openid email")
    r = await _userinfo(cognito, cflows, body["access_token"])
    assert r.json() == {
        "sub": cflows.SARAH_SUB,
        "email_verified": "true",
        "email": "sarah@example.com",
        "username": "sarah",
    }


async def test_userinfo_errors(cognito: httpx.AsyncClient, cflows: Any) -> None:
    body = await cflows.tokens(cognito)
    for token in (body["id_token"], "garbage"):
        r = await _userinfo(cognito, cflows, token)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == (
            'error="invalid_token", error_description="Access token is expired, disabled, or '
            'deleted, or the user has globally signed out."'
        )
        assert r.json()["error"] == "invalid_token"
    r = await cognito.get(f"{cflows.DOMAIN}/oauth2/userInfo")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    m2m = await cflows.token_request(
        cognito, {"grant_type": "client_credentials"}, auth=(cflows.M2M, cflows.M2M_SECRET)
    )
    r = await _userinfo(cognito, cflows, m2m.json()["access_token"])
    assert r.status_code == 401


async def _revoke(
    client: httpx.AsyncClient,
    cflows: Any,
    token: str,
    auth: tuple[str, str] | None = None,
    **extra: str,
) -> httpx.Response:
    return await client.post(
        f"{cflows.DOMAIN}/oauth2/revoke",
        data={"token": token, **extra},
        auth=auth or (cflows.WEB, cflows.WEB_SECRET),
    )


async def test_revoking_a_refresh_token_revokes_what_it_issued(
    cognito: httpx.AsyncClient, cflows: Any
) -> None:
    first = await cflows.tokens(cognito)
    refreshed = await cflows.token_request(
        cognito, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert refreshed.status_code == 200
    other = await cflows.tokens(cognito)  # another sign-in: must survive
    r = await _revoke(cognito, cflows, first["refresh_token"])
    assert (r.status_code, r.content) == (200, b"")
    for token in (first["access_token"], refreshed.json()["access_token"]):
        assert (await _userinfo(cognito, cflows, token)).status_code == 401
    r = await cflows.token_request(
        cognito, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert (r.status_code, r.json()) == (400, {"error": "invalid_grant"})
    assert (await _userinfo(cognito, cflows, other["access_token"])).status_code == 200


async def test_revocation_errors(cognito: httpx.AsyncClient, cflows: Any) -> None:
    body = await cflows.tokens(cognito)
    for token in (body["access_token"], body["id_token"]):
        r = await _revoke(cognito, cflows, token)
        assert (r.status_code, r.json()) == (400, {"error": "unsupported_token_type"})
    assert (await _userinfo(cognito, cflows, body["access_token"])).status_code == 200
    r = await _revoke(cognito, cflows, body["refresh_token"], auth=(cflows.WEB, "wrong"))
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    r = await cognito.post(f"{cflows.DOMAIN}/oauth2/revoke", auth=(cflows.WEB, cflows.WEB_SECRET))
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    assert (await _revoke(cognito, cflows, "not-a-token")).status_code == 200
    # Another client's refresh token is left alone.
    spa = await cflows.tokens(
        cognito, client_id=cflows.SPA, redirect_uri=cflows.SPA_CALLBACK, scope="openid"
    )
    assert (await _revoke(cognito, cflows, spa["refresh_token"])).status_code == 200
    assert (await _userinfo(cognito, cflows, spa["access_token"])).status_code == 200
    # A public client names itself in the body.
    r = await cognito.post(
        f"{cflows.DOMAIN}/oauth2/revoke",
        data={"token": spa["refresh_token"], "client_id": cflows.SPA},
    )
    assert r.status_code == 200
    assert (await _userinfo(cognito, cflows, spa["access_token"])).status_code == 401


async def test_revocation_can_be_disabled(cognito_idp: MockIdp, cflows: Any) -> None:
    data = cognito_idp.config.model_dump()
    data["clients"][0]["vendor"] = {"enable_token_revocation": False}
    cognito_idp.configure(data)
    async with cognito_idp.async_client() as client:
        body = await cflows.tokens(client)
        r = await _revoke(client, cflows, body["refresh_token"])
    assert (r.status_code, r.json()) == (400, {"error": "invalid_request"})


async def test_logout_redirects_to_a_sign_out_url(cognito: httpx.AsyncClient, cflows: Any) -> None:
    await cflows.tokens(cognito)  # signed in: the session cookie is set on the pool domain
    logout = f"{cflows.DOMAIN}/logout"
    r = await cognito.get(
        logout, params={"client_id": cflows.WEB, "logout_uri": "http://127.0.0.1:8700/"}
    )
    assert r.status_code == 302
    assert r.headers["location"] == "http://127.0.0.1:8700/"
    assert "Max-Age=0" in r.headers["set-cookie"]
    # Signed out: the next authorization shows the sign-in page again.
    r = await cognito.get(
        f"{cflows.DOMAIN}/oauth2/authorize",
        params={
            "client_id": cflows.WEB,
            "redirect_uri": cflows.CALLBACK,
            "response_type": "code",
            "scope": "openid",
        },
    )
    assert r.status_code == 302
    assert r.headers["location"].startswith("/login?")


async def test_logout_errors_and_relogin(cognito: httpx.AsyncClient, cflows: Any) -> None:
    logout = f"{cflows.DOMAIN}/logout"
    for params in (
        {"client_id": cflows.WEB, "logout_uri": "http://evil.example/"},
        {"client_id": "nobody", "logout_uri": "http://127.0.0.1:8700/"},
        {"logout_uri": "http://127.0.0.1:8700/"},
        {"client_id": cflows.WEB},
        {"client_id": cflows.WEB, "response_type": "code", "redirect_uri": "http://evil/"},
    ):
        r = await cognito.get(logout, params=params)
        assert r.status_code == 400, params
        assert "location" not in r.headers
        assert r.headers["content-type"].startswith("text/html")
    # The second form signs out and starts a new sign-in with the same parameters.
    r = await cognito.get(
        logout,
        params={
            "client_id": cflows.WEB,
            "response_type": "code",
            "redirect_uri": cflows.CALLBACK,
            "state": "again",
        },
    )
    assert r.status_code == 302
    location = httpx.URL(r.headers["location"])
    assert location.path == "/oauth2/authorize"
    assert location.params["state"] == "again"
    assert location.params["client_id"] == cflows.WEB


@pytest.mark.network
@pytest.mark.mock_idp(live=True)
def test_live_pool_verified_by_pyjwk_client(cognito_idp: MockIdp, cflows: Any) -> None:
    """On a port both hosts collapse into the base URL; PyJWT's own JWKS client (urllib,
    not our transport) fetches the keys, whose kids need no special handling."""
    base = cognito_idp.base_url
    assert cognito_idp.issuer() == f"{base}/{cflows.POOL}"
    assert cognito_idp.url("token") == f"{base}/oauth2/token"
    with httpx.Client() as client:
        r = client.post(
            cognito_idp.url("token"),
            data={"grant_type": "client_credentials"},
            auth=(cflows.M2M, cflows.M2M_SECRET),
        )
        assert r.status_code == 200, r.text
        doc = client.get(cognito_idp.discovery_url()).json()
    token = r.json()["access_token"]
    key = pyjwt.PyJWKClient(doc["jwks_uri"]).get_signing_key_from_jwt(token)
    claims = pyjwt.decode(
        token, key, algorithms=["RS256"], issuer=doc["issuer"], options={"verify_aud": False}
    )
    assert (claims["token_use"], claims["client_id"]) == ("access", cflows.M2M)
