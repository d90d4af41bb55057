"""Cognito tokens verify under Cognito's rules with an independent verifier (PyJWT against
the published JWKS) and fail under Okta's; ID and access tokens use different keys; an ID
token differs from an access token only where ``token_use`` says so (notes/idps.md §3)."""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from proctor.mock_idps.profile import at_hash
from proctor.mock_idps.pytest_plugin import MockIdp

pytestmark = pytest.mark.anyio
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
ACCESS_CLAIMS = (  # the member order of real hosted-UI tokens (observed)
    "sub",
    "cognito:groups",
    "iss",
    "version",
    "client_id",
    "origin_jti",
    "event_id",
    "token_use",
    "scope",
    "auth_time",
    "exp",
    "iat",
    "jti",
    "username",
)


async def test_access_token_verifies_under_cognito_rules(
    cognito: httpx.AsyncClient, cflows: Any
) -> None:
    body = await cflows.tokens(cognito)
    assert list(body) == ["id_token", "access_token", "refresh_token", "expires_in", "token_type"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    token = body["access_token"]
    assert set(pyjwt.get_unverified_header(token)) == {"kid", "alg"}
    claims = cflows.verify(
        token, await cflows.jwks(cognito), client_id=cflows.WEB, token_use="access"
    )
    assert tuple(claims) == ACCESS_CLAIMS
    assert claims["sub"] == cflows.SARAH_SUB
    assert claims["username"] == "sarah"
    assert claims["cognito:groups"] == ["sales"]
    assert claims["version"] == 2
    assert claims["scope"] == "openid email profile crm-api/notes.read"
    assert "aud" not in claims
    assert claims["exp"] - claims["iat"] == 3600
    for name in ("origin_jti", "event_id", "jti"):
        assert UUID.fullmatch(claims[name]), name


async def test_access_token_fails_under_okta_rules(cognito: httpx.AsyncClient, cflows: Any) -> None:
    token = (await cflows.tokens(cognito))["access_token"]
    key = cflows.key_for(token, await cflows.jwks(cognito))
    # okta-jwt-verifier style: an audience is mandatory, and there is none.
    with pytest.raises(pyjwt.MissingRequiredClaimError):
        pyjwt.decode(
            token, key, algorithms=["RS256"], issuer=cflows.ISSUER, audience="api://default"
        )
    # Pinning aud to the client ID (the generic OIDC validator) fails the same way.
    with pytest.raises(pyjwt.MissingRequiredClaimError):
        pyjwt.decode(token, key, algorithms=["RS256"], issuer=cflows.ISSUER, audience=cflows.WEB)
    # Okta's claim names are absent.
    claims = pyjwt.decode(token, options={"verify_signature": False})
    assert not {"cid", "scp", "uid", "ver"} & set(claims)


async def test_id_and_access_tokens_use_different_published_keys(
    cognito: httpx.AsyncClient, cflows: Any
) -> None:
    body = await cflows.tokens(cognito)
    keys = await cflows.jwks(cognito)
    assert len(keys["keys"]) == 2
    for jwk in keys["keys"]:
        assert set(jwk) == {"alg", "e", "kid", "kty", "n", "use"}
        assert (jwk["alg"], jwk["kty"], jwk["use"]) == ("RS256", "RSA", "sig")
        assert len(base64.b64decode(jwk["kid"], validate=True)) == 32  # standard base64
    access_kid = pyjwt.get_unverified_header(body["access_token"])["kid"]
    id_kid = pyjwt.get_unverified_header(body["id_token"])["kid"]
    assert access_kid != id_kid
    assert {access_kid, id_kid} == {k["kid"] for k in keys["keys"]}
    # A verifier that caches the first key it saw fails on the other token type.
    cached = cflows.key_for(body["access_token"], keys)
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(body["id_token"], cached, algorithms=["RS256"], options={"verify_aud": False})


async def test_id_token_claims(cognito: httpx.AsyncClient, cflows: Any) -> None:
    body = await cflows.tokens(cognito, nonce="nonce-42")
    claims = cflows.verify(
        body["id_token"], await cflows.jwks(cognito), client_id=cflows.WEB, token_use="id"
    )
    # The ID token passes a standard OIDC audience check.
    pyjwt.decode(
        body["id_token"],
        cflows.key_for(body["id_token"], await cflows.jwks(cognito)),
        algorithms=["RS256"],
        audience=cflows.WEB,
        issuer=cflows.ISSUER,
    )
    assert claims["aud"] == cflows.WEB
    assert claims["sub"] == cflows.SARAH_SUB
    assert claims["cognito:username"] == "sarah"
    assert claims["cognito:groups"] == ["sales"]
    assert claims["email"] == "sarah@example.com"
    assert claims["email_verified"] is True
    assert claims["custom:department"] == "sales"
    assert claims["nonce"] == "nonce-42"
    assert claims["at_hash"] == at_hash(body["access_token"])
    assert claims["given_name"] == "Sarah"
    assert "client_id" not in claims
    assert "scope" not in claims
    access = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["origin_jti"] == access["origin_jti"]
    assert claims["event_id"] == access["event_id"]
    assert claims["jti"] != access["jti"]
    assert claims["auth_time"] == access["auth_time"]


async def test_an_id_token_passes_unless_token_use_is_checked(
    cognito: httpx.AsyncClient, cflows: Any
) -> None:
    """The classic pitfall: signature, issuer, expiry and client all check out for an ID
    token; only ``token_use`` tells it from an access token."""
    body = await cflows.tokens(cognito)
    keys = await cflows.jwks(cognito)
    naive = cflows.verify(body["id_token"], keys, client_id=cflows.WEB, token_use=None)
    assert naive["token_use"] == "id"
    with pytest.raises(pyjwt.InvalidTokenError, match="token_use"):
        cflows.verify(body["id_token"], keys, client_id=cflows.WEB, token_use="access")
    cflows.verify(body["access_token"], keys, client_id=cflows.WEB, token_use="access")


async def test_machine_to_machine_token(cognito: httpx.AsyncClient, cflows: Any) -> None:
    r = await cflows.token_request(
        cognito,
        {"grant_type": "client_credentials", "scope": "crm-api/notes.read"},
        auth=(cflows.M2M, cflows.M2M_SECRET),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["access_token", "expires_in", "token_type"]
    claims = cflows.verify(
        body["access_token"], await cflows.jwks(cognito), client_id=cflows.M2M, token_use="access"
    )
    assert set(claims) == {
        "sub",
        "token_use",
        "scope",
        "auth_time",
        "iss",
        "exp",
        "iat",
        "version",
        "jti",
        "client_id",
    }
    assert claims["sub"] == cflows.M2M == claims["client_id"]
    assert claims["scope"] == "crm-api/notes.read"
    assert claims["auth_time"] == claims["iat"]


async def test_client_credentials_scopes(cognito: httpx.AsyncClient, cflows: Any) -> None:
    m2m = (cflows.M2M, cflows.M2M_SECRET)
    r = await cflows.token_request(cognito, {"grant_type": "client_credentials"}, auth=m2m)
    assert r.status_code == 200
    claims = pyjwt.decode(r.json()["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "crm-api/notes.read crm-api/notes.write"  # all of the client's
    for scope in ("openid", "crm-api/nope", "openid crm-api/notes.read", ""):
        r = await cflows.token_request(
            cognito, {"grant_type": "client_credentials", "scope": scope or " "}, auth=m2m
        )
        assert (r.status_code, r.json()) == (400, {"error": "invalid_scope"}), scope


async def test_only_client_credentials_clients_get_m2m_tokens(
    cognito: httpx.AsyncClient, cflows: Any
) -> None:
    r = await cflows.token_request(cognito, {"grant_type": "client_credentials"})
    assert (r.status_code, r.json()) == (400, {"error": "unauthorized_client"})
    r = await cflows.token_request(
        cognito, {"grant_type": "client_credentials", "client_id": cflows.SPA}, auth=None
    )
    assert (r.status_code, r.json()) == (400, {"error": "unauthorized_client"})


async def test_public_client_code_flow(cognito: httpx.AsyncClient, cflows: Any) -> None:
    body = await cflows.tokens(
        cognito, client_id=cflows.SPA, redirect_uri=cflows.SPA_CALLBACK, scope="openid email"
    )
    claims = cflows.verify(
        body["access_token"], await cflows.jwks(cognito), client_id=cflows.SPA, token_use="access"
    )
    assert claims["scope"] == "openid email"
    assert "refresh_token" in body


async def test_no_scope_means_every_scope_of_the_client(
    cognito: httpx.AsyncClient, cflows: Any
) -> None:
    body = await cflows.tokens(cognito, scope=None)
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["scope"].split() == [
        "openid",
        "email",
        "profile",
        "aws.cognito.signin.user.admin",
        "crm-api/notes.read",
        "crm-api/notes.write",
    ]


async def test_no_openid_means_no_id_token(cognito: httpx.AsyncClient, cflows: Any) -> None:
    body = await cflows.tokens(cognito, scope="crm-api/notes.read")
    assert list(body) == ["access_token", "refresh_token", "expires_in", "token_type"]


@pytest.mark.mock_idp(frozen_at=1_700_000_000)
async def test_app_client_token_validity(cognito_idp: MockIdp, cflows: Any) -> None:
    data = cognito_idp.config.model_dump()
    data["clients"][0]["vendor"] = {"access_token_validity": 300, "id_token_validity": 86_400}
    cognito_idp.configure(data)
    async with cognito_idp.async_client() as client:
        body = await cflows.tokens(client)
    access = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    id_claims = pyjwt.decode(body["id_token"], options={"verify_signature": False})
    assert access["exp"] - access["iat"] == 300 == body["expires_in"]
    assert id_claims["exp"] - id_claims["iat"] == 86_400


async def test_tokens_helper_and_federated_identities(cognito_idp: MockIdp, cflows: Any) -> None:
    data = cognito_idp.config.model_dump()
    data["users"].append(
        {
            "username": "google_1234567890",
            "password": "unused",
            "email": "gina@example.com",
            "vendor": {
                "identities": [
                    {
                        "userId": "1234567890",
                        "providerName": "Google",
                        "providerType": "Google",
                        "issuer": None,
                        "primary": "true",
                        "dateCreated": "1700000000000",
                    }
                ],
                "device_key": "us-east-1_0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
            },
        }
    )
    cognito_idp.configure(data)
    body = cognito_idp.tokens(user="google_1234567890", scopes="openid email")
    id_claims = pyjwt.decode(body["id_token"], options={"verify_signature": False})
    assert id_claims["identities"][0]["providerName"] == "Google"
    assert "cognito:groups" not in id_claims  # no groups, no claim
    access = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert access["device_key"].startswith("us-east-1_")
    assert access["username"] == "google_1234567890"
    assert UUID.fullmatch(access["sub"])  # derived from the username when not configured
    assert set(ACCESS_CLAIMS) - {"cognito:groups"} <= set(access)
