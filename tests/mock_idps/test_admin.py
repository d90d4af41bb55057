"""The admin API: key rotation on demand, minting good and bad tokens, configuration."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from proctor.mock_idps.pytest_plugin import MockIdp

pytestmark = pytest.mark.anyio
ISSUER = "https://example.okta.com/oauth2/default"


async def _kids(client: httpx.AsyncClient) -> list[str]:
    return [k["kid"] for k in (await client.get("/oauth2/default/v1/keys")).json()["keys"]]


async def _mint(client: httpx.AsyncClient, **body: Any) -> str:
    r = await client.post("/_mock/tokens", json=body)
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


async def test_rotation_publish_switch_retire(okta: httpx.AsyncClient, flows: Any) -> None:
    (old,) = await _kids(okta)
    before = await _mint(okta)
    r = await okta.post("/_mock/keys/publish-next", json={})
    new = r.json()["kid"]
    assert await _kids(okta) == [old, new]
    assert (await okta.get("/oauth2/default/v1/keys")).headers["cache-control"] == "no-cache"
    assert pyjwt.get_unverified_header(await _mint(okta))["kid"] == old  # not signing yet
    await okta.post("/_mock/keys/switch", json={})
    after = await _mint(okta)
    assert pyjwt.get_unverified_header(after)["kid"] == new
    jwks = (await okta.get("/oauth2/default/v1/keys")).json()
    for token in (before, after):  # the retired key is still published
        flows.verify_okta(token, jwks, issuer=ISSUER, audience="api://default")
    r = await okta.post("/_mock/keys/retire", json={})
    assert r.json() == {"retired": [old]}
    jwks = (await okta.get("/oauth2/default/v1/keys")).json()
    with pytest.raises(pyjwt.InvalidTokenError, match="no published key"):
        flows.verify_okta(before, jwks, issuer=ISSUER, audience="api://default")
    listing = (await okta.get("/_mock/keys")).json()
    assert [(k["kid"], k["state"]) for k in listing["keys"]] == [(new, "active")]


async def test_unannounced_rotation(okta: httpx.AsyncClient) -> None:
    (old,) = await _kids(okta)
    r = await okta.post("/_mock/keys/rotate", json={"server": "default"})
    assert r.status_code == 200
    assert (await _kids(okta)) == [old, r.json()["kid"]]
    r = await okta.post("/_mock/keys/switch", json={})
    assert r.status_code == 400  # nothing pending


async def test_org_access_key_stays_unpublished_through_rotation(okta: httpx.AsyncClient) -> None:
    r = await okta.post("/_mock/keys/rotate", json={"server": "org", "purpose": "org-access"})
    assert r.status_code == 200
    kids = [k["kid"] for k in (await okta.get("/oauth2/v1/keys")).json()["keys"]]
    assert r.json()["kid"] not in kids
    r = await okta.post("/_mock/keys/rotate", json={"server": "default", "purpose": "nope"})
    assert r.status_code == 400


@pytest.mark.parametrize(
    ("presets", "error"),
    [
        (["expired"], pyjwt.ExpiredSignatureError),
        (["not_yet_valid"], pyjwt.ImmatureSignatureError),
        (["wrong_audience"], pyjwt.InvalidAudienceError),
        (["wrong_issuer"], pyjwt.InvalidIssuerError),
        (["bad_signature"], pyjwt.InvalidSignatureError),
    ],
)
async def test_negative_presets_fail_verification(
    okta: httpx.AsyncClient, flows: Any, presets: list[str], error: type[Exception]
) -> None:
    token = await _mint(okta, presets=presets)
    jwks = (await okta.get("/oauth2/default/v1/keys")).json()
    with pytest.raises(error):
        flows.verify_okta(token, jwks, issuer=ISSUER, audience="api://default")


async def test_forged_algorithms(okta: httpx.AsyncClient, flows: Any) -> None:
    jwks = (await okta.get("/oauth2/default/v1/keys")).json()
    none = await _mint(okta, presets=["alg_none"])
    assert none.endswith(".")
    assert pyjwt.get_unverified_header(none)["alg"] == "none"
    with pytest.raises(pyjwt.InvalidAlgorithmError):
        flows.verify_okta(none, jwks, issuer=ISSUER, audience="api://default")
    hs = await _mint(okta, presets=["hs256_public_key"])
    assert pyjwt.get_unverified_header(hs)["alg"] == "HS256"
    with pytest.raises(pyjwt.InvalidAlgorithmError):
        flows.verify_okta(hs, jwks, issuer=ISSUER, audience="api://default")
    # It is the real confusion attack: HMAC over the signing input with the PEM public key.
    pem = pyjwt.PyJWK.from_json(json.dumps(jwks["keys"][0])).key.public_bytes(
        encoding=Encoding.PEM, format=PublicFormat.SubjectPublicKeyInfo
    )
    head, body, sig = hs.split(".")
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert pyjwt.utils.base64url_encode(mac).decode() == sig


async def test_unknown_kid_and_id_token_as_access_token(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    jwks = (await okta.get("/oauth2/default/v1/keys")).json()
    unknown = await _mint(okta, presets=["unknown_kid"])
    assert pyjwt.get_unverified_header(unknown)["kid"] not in {k["kid"] for k in jwks["keys"]}
    id_token = await _mint(okta, presets=["id_token"])
    key = pyjwt.PyJWK.from_json(json.dumps(jwks["keys"][0]))
    with pytest.raises(pyjwt.InvalidAudienceError):  # aud is the client ID
        pyjwt.decode(id_token, key, algorithms=["RS256"], audience="api://default")
    with pytest.raises(pyjwt.MissingRequiredClaimError):  # and there is no cid
        flows.verify_okta(id_token, jwks, issuer=ISSUER, audience=flows.AGENT)
    claims = pyjwt.decode(id_token, options={"verify_signature": False})
    assert claims["jti"].startswith("ID.")
    assert claims["sub"].startswith("00u")


async def test_claim_and_header_overrides(okta: httpx.AsyncClient) -> None:
    r = await okta.post(
        "/_mock/tokens",
        json={
            "user": "bob@example.com",
            "claims": {"groups": ["admins"], "cid": None},
            "header": {"typ": "at+jwt"},
            "scopes": ["finance.read"],
            "lifetime": 120,
        },
    )
    body = r.json()
    assert body["claims"]["groups"] == ["admins"]
    assert "cid" not in body["claims"]
    assert body["claims"]["sub"] == "bob@example.com"
    assert body["claims"]["scp"] == ["finance.read"]
    assert body["claims"]["exp"] - body["claims"]["iat"] == 120
    assert pyjwt.get_unverified_header(body["token"])["typ"] == "at+jwt"
    app = (await okta.post("/_mock/tokens", json={"app": True})).json()["claims"]
    assert "uid" not in app
    assert app["sub"] == app["cid"]


async def test_minted_tokens_are_known_to_introspection(okta_idp: MockIdp, flows: Any) -> None:
    good, expired = okta_idp.mint(), okta_idp.mint(presets=["expired"])
    async with okta_idp.async_client() as client:
        for token, active in ((good, True), (expired, False)):
            r = await client.post(
                "/oauth2/default/v1/introspect",
                data={"token": token},
                auth=(flows.AGENT, flows.AGENT_SECRET),
            )
            assert r.json()["active"] is active


async def test_admin_rejects_bad_input(okta: httpx.AsyncClient) -> None:
    r = await okta.post("/_mock/tokens", json={"presets": ["teleport"]})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    r = await okta.post("/_mock/tokens", json={"server": "nope"})
    assert r.status_code == 404
    r = await okta.post(
        "/_mock/tokens", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    r = await okta.post("/_mock/tokens", json={"user": "mallory"})
    assert r.status_code == 400
    r = await okta.get("/_mock/nothing-here")
    assert r.status_code == 404


async def test_configuration_through_the_admin_api(okta: httpx.AsyncClient, flows: Any) -> None:
    r = await okta.put(
        "/_mock/users/carol@example.com",
        json={"password": "pw", "groups": ["legal"]},
    )
    assert r.status_code == 200
    body = await flows.tokens(okta, username="carol@example.com", password="pw")
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["groups"] == ["legal"]
    assert claims["uid"].startswith("00u")
    r = await okta.put("/_mock/apis/aus2docs", json={"audience": "api://docs", "scopes": ["d"]})
    assert r.status_code == 200
    doc = (await okta.get("/oauth2/aus2docs/.well-known/openid-configuration")).json()
    assert doc["issuer"] == "https://example.okta.com/oauth2/aus2docs"
    assert (await okta.delete("/_mock/apis/aus2docs")).status_code == 204
    assert (await okta.get("/oauth2/aus2docs/v1/keys")).status_code == 404
    r = await okta.put("/_mock/clients/x", json={"client_id": "y"})
    assert r.status_code == 400
    r = await okta.put("/_mock/headless", json={"user": "nobody"})
    assert r.status_code == 400
    config = (await okta.get("/_mock/config")).json()
    assert [u["username"] for u in config["users"]][-1] == "carol@example.com"
    r = await okta.put(
        "/_mock/config", content="users: []\n", headers={"content-type": "application/yaml"}
    )
    assert r.status_code == 200
    assert r.json()["users"] == []


async def test_index(okta: httpx.AsyncClient) -> None:
    body = (await okta.get("/_mock")).json()
    assert body["vendor"] == "okta"
    assert body["primary_server"] == "default"
    assert [s["issuer"] for s in body["servers"]] == [
        "https://example.okta.com",
        "https://example.okta.com/oauth2/default",
    ]


async def test_minting_for_the_org_server_uses_its_unpublished_key(okta_idp: MockIdp) -> None:
    token = okta_idp.mint_token(server="org")
    assert token.header["typ"] == "application/okta-internal-at+jwt"
    assert token.claims["aud"] == token.claims["iss"] == "https://example.okta.com"
    published = {k["kid"] for k in okta_idp.keys("org").jwks()["keys"]}
    assert token.header["kid"] not in published
    id_token = okta_idp.mint_token(server="org", kind="id")
    assert id_token.header["kid"] in published
