"""Okta tokens verify under Okta's own rules with an independent verifier (PyJWT against
the published JWKS) and fail under other vendors' rules (notes/idps.md §1)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from proctor.mock_idps.profile import at_hash
from proctor.mock_idps.pytest_plugin import MockIdp

pytestmark = pytest.mark.anyio
ISSUER = "https://example.okta.com/oauth2/default"


async def _jwks(client: httpx.AsyncClient, path: str = "/oauth2/default/v1/keys") -> Any:
    r = await client.get(path)
    assert r.status_code == 200
    return r.json()


async def test_access_token_verifies_under_okta_rules(okta: httpx.AsyncClient, flows: Any) -> None:
    body = await flows.tokens(okta)
    claims = flows.verify_okta(
        body["access_token"],
        await _jwks(okta),
        issuer=ISSUER,
        audience="api://default",
        client_id=flows.AGENT,
    )
    assert pyjwt.get_unverified_header(body["access_token"]).keys() == {"kid", "alg"}
    assert claims["ver"] == 1
    assert isinstance(claims["ver"], int)
    assert claims["jti"].startswith("AT.")
    assert claims["sub"] == flows.SARAH  # the login, not the user ID
    assert claims["uid"] == "00uproctorsarah00001"
    assert claims["scp"] == ["openid", "profile", "email", "offline_access", "crm.read"]
    assert claims["groups"] == ["sales"]
    assert claims["exp"] - claims["iat"] == 3600
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "openid profile email offline_access crm.read"


async def test_access_token_fails_under_other_vendors_rules(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    token = (await flows.tokens(okta))["access_token"]
    jwks = await _jwks(okta)
    # A verifier pinning aud to the client ID (the classic Okta pitfall; Entra/Cognito ID
    # tokens work that way) rejects it.
    with pytest.raises(pyjwt.InvalidAudienceError):
        flows.verify_okta(token, jwks, issuer=ISSUER, audience=flows.AGENT)
    # Entra's v2 issuer rules reject it.
    with pytest.raises(pyjwt.InvalidIssuerError):
        flows.verify_okta(
            token, jwks, issuer="https://login.microsoftonline.com/x/v2.0", audience="api://default"
        )
    # Cognito's rules (token_use and client_id instead of aud) reject it.
    kid = pyjwt.get_unverified_header(token)["kid"]
    key = pyjwt.PyJWK.from_json(json.dumps(next(k for k in jwks["keys"] if k["kid"] == kid)))
    with pytest.raises(pyjwt.MissingRequiredClaimError):
        pyjwt.decode(
            token,
            key,
            algorithms=["RS256"],
            options={"require": ["token_use", "client_id"], "verify_aud": False},
        )
    # RFC 9068 verifiers demand typ at+jwt; Okta sends no typ.
    assert "typ" not in pyjwt.get_unverified_header(token)


async def test_id_token_claims(okta: httpx.AsyncClient, flows: Any) -> None:
    body = await flows.tokens(okta, nonce="nonce-123")
    jwks = await _jwks(okta)
    kid = pyjwt.get_unverified_header(body["id_token"])["kid"]
    key = pyjwt.PyJWK.from_json(json.dumps(next(k for k in jwks["keys"] if k["kid"] == kid)))
    claims = pyjwt.decode(
        body["id_token"], key, algorithms=["RS256"], issuer=ISSUER, audience=flows.AGENT
    )
    assert claims["sub"] == "00uproctorsarah00001"  # the ID, unlike the access token
    assert claims["aud"] == flows.AGENT
    assert claims["ver"] == 1
    assert claims["jti"].startswith("ID.")
    assert claims["amr"] == ["pwd"]
    assert claims["idp"].startswith("00o")
    assert claims["nonce"] == "nonce-123"
    assert claims["at_hash"] == at_hash(body["access_token"])
    assert claims["email"] == flows.SARAH
    assert claims["name"] == "Sarah Example"
    assert claims["preferred_username"] == flows.SARAH
    assert isinstance(claims["auth_time"], int)


async def test_client_credentials_token_has_client_subject_and_no_uid(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    r = await flows.token_request(okta, {"grant_type": "client_credentials", "scope": "crm.read"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"token_type", "expires_in", "access_token", "scope"}
    claims = flows.verify_okta(
        body["access_token"], await _jwks(okta), issuer=ISSUER, audience="api://default"
    )
    assert claims["sub"] == flows.AGENT == claims["cid"]
    assert "uid" not in claims
    assert claims["scp"] == ["crm.read"]


async def test_client_credentials_needs_scope_and_refuses_oidc_scopes(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    r = await flows.token_request(okta, {"grant_type": "client_credentials"})
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_scope",
        "error_description": "The authorization server resource does not have any configured "
        "default scopes, 'scope' must be provided.",
    }
    r = await flows.token_request(okta, {"grant_type": "client_credentials", "scope": "openid"})
    assert r.json()["error"] == "invalid_scope"


async def test_org_server_access_token_uses_an_unpublished_key(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    body = await flows.tokens(okta, server="org", scope="openid profile email")
    header = pyjwt.get_unverified_header(body["access_token"])
    assert header["typ"] == "application/okta-internal-at+jwt"
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["iss"] == claims["aud"] == "https://example.okta.com"
    assert claims["scp"] == ["openid", "profile", "email"]
    jwks = await _jwks(okta, "/oauth2/v1/keys")
    assert header["kid"] not in {k["kid"] for k in jwks["keys"]}
    with pytest.raises(
        pyjwt.InvalidTokenError, match="no published key"
    ):  # the SigningKeyNotFoundError of real verifiers
        flows.verify_okta(
            body["access_token"],
            jwks,
            issuer="https://example.okta.com",
            audience="https://example.okta.com",
        )
    # The org server's ID tokens do verify against its JWKS.
    id_kid = pyjwt.get_unverified_header(body["id_token"])["kid"]
    assert id_kid in {k["kid"] for k in jwks["keys"]}


async def test_org_server_has_no_client_credentials(okta: httpx.AsyncClient, flows: Any) -> None:
    r = await flows.token_request(
        okta, {"grant_type": "client_credentials", "scope": "openid"}, server="org"
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"


async def test_tokens_helper_matches_the_flow(okta_idp: MockIdp, flows: Any) -> None:
    body = okta_idp.tokens(scopes="openid crm.read")
    async with okta_idp.async_client() as client:
        claims = flows.verify_okta(
            body["access_token"], await _jwks(client), issuer=ISSUER, audience="api://default"
        )
    assert claims["scp"] == ["openid", "crm.read"]
    assert "refresh_token" not in body  # no offline_access


@pytest.mark.mock_idp(
    config={
        "users": [{"username": "amy@corp.example", "password": "pw", "groups": ["g"]}],
        "clients": [
            {"client_id": "svc", "client_secret": "s", "grant_types": ["client_credentials"]}
        ],
        "apis": [
            {
                "id": "aus1crm",
                "audience": "api://crm",
                "scopes": ["read"],
                "default_scopes": ["read"],
                "access_token_lifetime": 300,
            }
        ],
    }
)
async def test_custom_server_from_configuration(okta: httpx.AsyncClient, flows: Any) -> None:
    r = await flows.token_request(
        okta, {"grant_type": "client_credentials"}, server="aus1crm", auth=("svc", "s")
    )
    assert r.status_code == 200, r.text
    jwks = await _jwks(okta, "/oauth2/aus1crm/v1/keys")
    claims = flows.verify_okta(
        r.json()["access_token"],
        jwks,
        issuer="https://example.okta.com/oauth2/aus1crm",
        audience="api://crm",
    )
    assert claims["scp"] == ["read"]
    assert claims["exp"] - claims["iat"] == 300
    assert r.json()["expires_in"] == 300
