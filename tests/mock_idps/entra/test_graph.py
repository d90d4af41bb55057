"""Microsoft Graph tokens: always v1.0, a ``nonce`` header member, and a signature that the
published key does not verify unless the verifier knows Graph's trick (the signature
covers the header with the nonce replaced by base64url(SHA-256(nonce))). Graph's
UserInfo endpoint takes them (notes/idps.md §2)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from proctor.mock_idps.entra import graph_nonce_digest

pytestmark = pytest.mark.anyio


def _b64decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def verify_like_graph(token: str, jwks: dict[str, Any]) -> None:
    """Graph's own check: hash the header's nonce, then verify over that header."""
    head, body, signature = token.split(".")
    header_json = _b64decode(head).decode()
    nonce = json.loads(header_json)["nonce"]
    hashed = header_json.replace(json.dumps(nonce), json.dumps(graph_nonce_digest(nonce)), 1)
    signing_input = base64.urlsafe_b64encode(hashed.encode()).rstrip(b"=") + b"." + body.encode()
    kid = json.loads(header_json)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    public = pyjwt.PyJWK.from_json(json.dumps(jwk)).key
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(_b64decode(signature), signing_input, padding.PKCS1v15(), hashes.SHA256())


async def test_oidc_only_scopes_give_a_graph_token(entra: httpx.AsyncClient, aad: Any) -> None:
    body = await aad.tokens(entra, scope="openid profile email offline_access")
    token = body["access_token"]
    head = aad.header(token)
    assert list(head) == ["typ", "nonce", "alg", "x5t", "kid"]
    assert head["x5t"] == head["kid"]
    claims = aad.claims(token)
    assert claims["ver"] == "1.0"
    assert claims["aud"] == aad.GRAPH_APP  # bare (or no) Graph scopes: the app ID
    assert claims["iss"] == f"https://sts.windows.net/{aad.TENANT}/"
    assert claims["scp"] == "openid profile email"
    assert claims["idtyp"] == "user"
    assert body["scope"] == "openid profile email"
    jwks = await aad.jwks(entra, version=1)
    # A verifier that does everything right but does not know Graph's trick fails...
    with pytest.raises(pyjwt.InvalidSignatureError):
        aad.verify(token, jwks, audience=aad.GRAPH_APP)
    # ...and one that knows it succeeds.
    verify_like_graph(token, jwks)


async def test_prefixed_graph_scope_audience_is_the_uri(entra: httpx.AsyncClient, aad: Any) -> None:
    body = await aad.tokens(entra, scope="openid https://graph.microsoft.com/user.read")
    claims = aad.claims(body["access_token"])
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["scp"] == "openid User.Read"  # Entra matches scope names case-insensitively
    assert body["scope"] == "https://graph.microsoft.com/User.Read openid"


async def test_graph_app_only_token(entra: httpx.AsyncClient, aad: Any) -> None:
    r = await aad.client_credentials(entra, scope="https://graph.microsoft.com/.default")
    token = r.json()["access_token"]
    claims = aad.claims(token)
    assert claims["roles"] == ["User.Read.All"]
    assert claims["idtyp"] == "app"
    assert "scp" not in claims
    assert "nonce" in aad.header(token)
    verify_like_graph(token, await aad.jwks(entra, version=1))


async def test_minted_graph_tokens_are_unverifiable_too(entra_idp: Any, aad: Any) -> None:
    token = entra_idp.mint(scopes=["openid", "User.Read"])
    async with entra_idp.async_client() as client:
        jwks = await aad.jwks(client, version=1)
    with pytest.raises(pyjwt.InvalidSignatureError):
        aad.verify(token, jwks, audience=aad.GRAPH_APP)
    verify_like_graph(token, jwks)


async def test_userinfo_takes_graph_tokens_only(entra: httpx.AsyncClient, aad: Any) -> None:
    body = await aad.tokens(entra, scope="openid profile email")
    r = await entra.get(
        "/oidc/userinfo", headers={"authorization": f"Bearer {body['access_token']}"}
    )
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["sub"] == aad.claims(body["id_token"])["sub"]
    assert info["name"] == "Sarah Example"
    assert info["email"] == aad.SARAH
    crm = (await aad.tokens(entra))["access_token"]
    r = await entra.get("/oidc/userinfo", headers={"authorization": f"Bearer {crm}"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "InvalidAuthenticationToken"
    r = await entra.get("/oidc/userinfo")
    assert r.status_code == 401


async def test_graph_nonce_digest_is_sha256_base64url() -> None:
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"abc").digest()).rstrip(b"=").decode()
    assert graph_nonce_digest("abc") == expected
