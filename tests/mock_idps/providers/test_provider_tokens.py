"""Tokens of the Sarah-scenario providers: refresh rotation, client credentials, RFC 7009
revocation as the resource API sees it, opaque and RFC 9068 JWT access tokens, expiry by
the injected clock, and RFC 8693 token exchange (own tokens and a trusted IdP's)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp, MockProvider

pytestmark = pytest.mark.anyio

NOTES = "/api/customers/acme/notes"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"


async def _notes(client: httpx.AsyncClient, provider: MockProvider, token: str) -> httpx.Response:
    return await client.get(
        provider.resource_url(NOTES), headers={"authorization": f"Bearer {token}"}
    )


async def test_refresh_rotates_and_reuse_revokes_the_grant(
    crm_provider: MockProvider, pf: Any
) -> None:
    async with crm_provider.async_client() as client:
        first = (await pf.code_tokens(client, crm_provider, scope="notes.read")).json()
        r = await pf.token(
            client,
            crm_provider,
            {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        )
        assert r.status_code == 200
        second = r.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert second["scope"] == "notes.read"
        assert (await _notes(client, crm_provider, second["access_token"])).status_code == 200
        # Presenting the rotated refresh token again revokes the whole grant (RFC 9700
        # §4.14.2): both refresh tokens and every access token of the grant.
        replay = await pf.token(
            client,
            crm_provider,
            {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        )
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"
        for access in (first["access_token"], second["access_token"]):
            assert (await _notes(client, crm_provider, access)).status_code == 401
        later = await pf.token(
            client,
            crm_provider,
            {"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
        )
        assert later.json()["error"] == "invalid_grant"


async def test_refresh_may_only_narrow_scope(crm_provider: MockProvider, pf: Any) -> None:
    async with crm_provider.async_client() as client:
        first = (await pf.code_tokens(client, crm_provider, scope="notes.read")).json()
        r = await pf.token(
            client,
            crm_provider,
            {
                "grant_type": "refresh_token",
                "refresh_token": first["refresh_token"],
                "resource": "https://elsewhere.example/api",
            },
        )
        assert r.json()["error"] == "invalid_target"
        r = await pf.token(
            client,
            crm_provider,
            {
                "grant_type": "refresh_token",
                "refresh_token": first["refresh_token"],
                "resource": crm_provider.audience,
            },
        )
        assert r.status_code == 200  # the refused attempt did not spend the token
        first = r.json()
        r = await pf.token(
            client,
            crm_provider,
            {
                "grant_type": "refresh_token",
                "refresh_token": first["refresh_token"],
                "scope": "notes.read notes.write",
            },
        )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_scope"


async def test_client_credentials(crm_provider: MockProvider, pf: Any) -> None:
    async with crm_provider.async_client() as client:
        r = await pf.token(client, crm_provider, {"grant_type": "client_credentials"})
        assert r.status_code == 200
        body = r.json()
        assert body["scope"] == "notes.read"  # RFC 6749 §3.3: the resource's default
        assert "refresh_token" not in body  # RFC 6749 §4.4.3
        notes = await _notes(client, crm_provider, body["access_token"])
        assert notes.status_code == 200
        entry = crm_provider.resource_requests("customer_notes")[-1]
        assert entry.subject == crm_provider.client_id
        assert entry.username is None
        assert entry.summary == {"customer": "acme", "notes": 3}
        r = await pf.token(
            client, crm_provider, {"grant_type": "client_credentials", "scope": "contacts.read"}
        )
        assert r.json()["error"] == "invalid_scope"


async def test_revocation_makes_the_resource_answer_401(
    crm_provider: MockProvider, pf: Any
) -> None:
    async with crm_provider.async_client() as client:
        tokens = (await pf.code_tokens(client, crm_provider, scope="notes.read")).json()
        assert (await _notes(client, crm_provider, tokens["access_token"])).status_code == 200
        r = await client.post(
            crm_provider.url("revoke"),
            data={"token": tokens["access_token"], "token_type_hint": "access_token"},
            auth=pf.client_auth(crm_provider),
        )
        assert r.status_code == 200
        denied = await _notes(client, crm_provider, tokens["access_token"])
        assert denied.status_code == 401
        params = pf.challenge_params(denied.headers["www-authenticate"])
        assert params["error"] == "invalid_token"
        # The refresh token still works; revoking it ends the grant (RFC 7009 §2.1).
        r = await pf.token(
            client,
            crm_provider,
            {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        )
        fresh = r.json()
        assert (await _notes(client, crm_provider, fresh["access_token"])).status_code == 200
        await client.post(
            crm_provider.url("revoke"),
            data={"token": fresh["refresh_token"]},
            auth=pf.client_auth(crm_provider),
        )
        assert (await _notes(client, crm_provider, fresh["access_token"])).status_code == 401
        r = await pf.token(
            client,
            crm_provider,
            {"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"]},
        )
        assert r.json()["error"] == "invalid_grant"


async def test_opaque_tokens_are_validated_through_the_store(
    documents_provider: MockProvider, pf: Any
) -> None:
    async with documents_provider.async_client() as client:
        body = (await pf.code_tokens(client, documents_provider)).json()
        access = body["access_token"]
        assert access.startswith("doc_at_")
        assert access.count(".") == 0  # not a JWS compact serialization
        with pytest.raises(pyjwt.DecodeError):
            pyjwt.get_unverified_header(access)
        info = (
            await client.post(
                documents_provider.url("introspect"),
                data={"token": access},
                auth=pf.client_auth(documents_provider),
            )
        ).json()
        assert info["active"] is True
        assert info["aud"] == documents_provider.audience
        assert info["scope"] == "documents.write"
        assert info["client_id"] == documents_provider.client_id
        assert info["sub"] == "doc-user-3001"
        r = await client.post(
            documents_provider.resource_url("/api/documents"),
            json={"title": "Brief", "content": "# Acme"},
            headers=pf.bearer(access),
        )
        assert r.status_code == 201
        forged = await client.post(
            documents_provider.resource_url("/api/documents"),
            json={"title": "Brief", "content": "x"},
            headers=pf.bearer("doc_at_" + "A" * 43),
        )
        assert forged.status_code == 401


@pytest.mark.mock_idp(frozen_at=1_800_000_000)
async def test_expired_tokens_are_refused(finance_provider: MockProvider, pf: Any) -> None:
    async with finance_provider.async_client() as client:
        r = await pf.token(client, finance_provider, {"grant_type": "client_credentials"})
        body = r.json()
        assert body["expires_in"] == 900
        spend = finance_provider.resource_url("/api/spend?customer=acme")
        assert (await client.get(spend, headers=pf.bearer(body["access_token"]))).status_code == 200
        finance_provider.clock.advance(899)
        assert (await client.get(spend, headers=pf.bearer(body["access_token"]))).status_code == 200
        finance_provider.clock.advance(1)
        late = await client.get(spend, headers=pf.bearer(body["access_token"]))
    assert late.status_code == 401
    assert pf.challenge_params(late.headers["www-authenticate"])["error"] == "invalid_token"


async def test_finance_issues_rfc9068_jwts(finance_provider: MockProvider, pf: Any) -> None:
    async with finance_provider.async_client() as client:
        body = (await pf.code_tokens(client, finance_provider, scope="spend.read")).json()
        jwks = (await client.get(finance_provider.url("jwks"))).json()
    token = body["access_token"]
    header = pyjwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt"  # RFC 9068 §2.1
    jwk = next(k for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = pyjwt.decode(
        token,
        pyjwt.PyJWK.from_json(json.dumps(jwk)),
        algorithms=["RS256"],
        issuer=finance_provider.issuer(),
        audience=finance_provider.audience,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "client_id", "jti"]},
    )
    assert claims["scope"] == "spend.read"
    assert claims["client_id"] == finance_provider.client_id
    assert claims["sub"] == "fin-user-2001"
    assert "auth_time" in claims


async def test_token_format_can_be_switched(mock_idp_factory: Any, pf: Any) -> None:
    crm: MockProvider = mock_idp_factory("crm")
    data = crm.config.model_dump()
    data["vendor"] = {"token_format": "jwt"}
    crm.configure(data)
    async with crm.async_client() as client:
        r = await pf.token(client, crm, {"grant_type": "client_credentials"})
        access = r.json()["access_token"]
        assert pyjwt.get_unverified_header(access)["typ"] == "at+jwt"
        assert (await _notes(client, crm, access)).status_code == 200
    data["vendor"] = {"token_format": "paseto"}
    with pytest.raises(ValueError, match="token_format"):
        crm.configure(data)


async def test_token_exchange_of_own_tokens(crm_provider: MockProvider, pf: Any) -> None:
    async with crm_provider.async_client() as client:
        user = (await pf.code_tokens(client, crm_provider, scope="notes.read")).json()
        r = await pf.token(
            client,
            crm_provider,
            {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": user["access_token"],
                "subject_token_type": ACCESS_TOKEN,
                "requested_token_type": ACCESS_TOKEN,
                "scope": "notes.read",
                "resource": crm_provider.audience,
            },
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["issued_token_type"] == ACCESS_TOKEN  # RFC 8693 §2.2.1
        assert "refresh_token" not in body
        assert (await _notes(client, crm_provider, body["access_token"])).status_code == 200
        assert crm_provider.resource_requests()[-1].username == pf.SARAH
        bad = await pf.token(
            client,
            crm_provider,
            {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": "not-a-token",
                "subject_token_type": ACCESS_TOKEN,
            },
        )
        assert bad.status_code == 400
        assert bad.json()["error"] == "invalid_grant"
        wrong_type = await pf.token(
            client,
            crm_provider,
            {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": user["access_token"],
                "subject_token_type": "urn:ietf:params:oauth:token-type:saml2",
            },
        )
        assert wrong_type.json()["error"] == "invalid_request"


async def test_token_exchange_of_a_trusted_idp_token(
    crm_provider: MockProvider, okta_idp: MockIdp, pf: Any
) -> None:
    """The on_behalf_of flow of spec 05 (VLT-OBO-002): Sarah's Okta token in, a CRM token
    for Sarah out, naming the exchanging client in ``act`` (RFC 8693 §4.1)."""
    okta_token = okta_idp.mint(user="sarah@example.com")
    data = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": okta_token,
        "subject_token_type": ACCESS_TOKEN,
        "audience": crm_provider.audience,
        "scope": "notes.read",
    }
    async with crm_provider.async_client() as client:
        untrusted = await pf.token(client, crm_provider, data)
        assert untrusted.json()["error"] == "invalid_grant"
        crm_provider.trust(okta_idp, audience="api://default")
        r = await pf.token(client, crm_provider, data)
        assert r.status_code == 200, r.text
        access = r.json()["access_token"]
        assert (await _notes(client, crm_provider, access)).status_code == 200
        info = (
            await client.post(
                crm_provider.url("introspect"),
                data={"token": access},
                auth=pf.client_auth(crm_provider),
            )
        ).json()
        assert info["sub"] == "crm-user-1001"  # mapped to Sarah's CRM account
        assert info["username"] == pf.SARAH
        record = crm_provider.engine.token_record(access)
        assert record is not None
        assert record.claims["act"] == {"sub": crm_provider.client_id}
        # Audience pinned: an Okta token for another audience is refused; so is an
        # expired one and one signed by a key Okta does not publish.
        for bad in (
            okta_idp.mint(user="sarah@example.com", presets=["wrong_audience"]),
            okta_idp.mint(user="sarah@example.com", presets=["expired"]),
            okta_idp.mint(user="sarah@example.com", presets=["unknown_kid"]),
            okta_idp.mint(user="sarah@example.com", presets=["alg_none"]),
        ):
            r = await pf.token(client, crm_provider, {**data, "subject_token": bad})
            assert r.json()["error"] == "invalid_grant", bad
        # Key rotation at the IdP is followed (the trust reads the current keys).
        okta_idp.rotate_keys()
        r = await pf.token(
            client,
            crm_provider,
            {**data, "subject_token": okta_idp.mint(user="sarah@example.com")},
        )
        assert r.status_code == 200


async def test_trusted_issuer_from_configuration(
    crm_provider: MockProvider, okta_idp: MockIdp, pf: Any
) -> None:
    data = crm_provider.config.model_dump()
    data["vendor"] = {
        "token_format": "opaque",
        "trusted_issuers": [{"issuer": okta_idp.issuer(), "jwks": okta_idp.keys().jwks()}],
    }
    crm_provider.configure(data)
    async with crm_provider.async_client() as client:
        r = await pf.token(
            client,
            crm_provider,
            {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": okta_idp.mint(user="bob@example.com"),
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            },
        )
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "notes.read"
