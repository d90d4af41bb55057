"""PKCE is strict (RFC 7636 §4.4.1, §4.6): Okta requires S256, public clients must use it,
and every failed redemption burns the code."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proctor.mock_idps.pkce import s256

pytestmark = pytest.mark.anyio
PKCE_FAILED = {"error": "invalid_grant", "error_description": "PKCE verification failed."}


def _redeem(code: str, flows: Any, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": flows.CALLBACK,
        **extra,
    }


async def _authorize(client: httpx.AsyncClient, flows: Any, **params: str) -> httpx.Response:
    base = {
        "client_id": flows.AGENT,
        "redirect_uri": flows.CALLBACK,
        "response_type": "code",
        "scope": "openid crm.read",
        "state": "st",
    }
    base.update(params)
    return await client.get("/oauth2/default/v1/authorize", params=base)


async def test_the_right_verifier_works(okta: httpx.AsyncClient, flows: Any) -> None:
    code, verifier = await flows.code_flow(okta)
    r = await flows.token_request(okta, _redeem(code, flows, code_verifier=verifier))
    assert r.status_code == 200


async def test_wrong_verifier_is_rejected_and_burns_the_code(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    code, verifier = await flows.code_flow(okta)
    wrong, _ = flows.pkce_pair()
    r = await flows.token_request(okta, _redeem(code, flows, code_verifier=wrong))
    assert (r.status_code, r.json()) == (400, PKCE_FAILED)
    r = await flows.token_request(okta, _redeem(code, flows, code_verifier=verifier))
    assert r.json()["error"] == "invalid_grant"
    assert r.json()["error_description"] == "The authorization code is invalid or has expired."


async def test_missing_verifier_is_rejected(okta: httpx.AsyncClient, flows: Any) -> None:
    code, _ = await flows.code_flow(okta)
    r = await flows.token_request(okta, _redeem(code, flows))
    assert (r.status_code, r.json()) == (400, PKCE_FAILED)


async def test_verifier_without_challenge_is_rejected(okta: httpx.AsyncClient, flows: Any) -> None:
    code, _ = await flows.code_flow(okta, pkce=False)  # a confidential client may skip PKCE
    verifier, _ = flows.pkce_pair()
    r = await flows.token_request(okta, _redeem(code, flows, code_verifier=verifier))
    assert (r.status_code, r.json()) == (400, PKCE_FAILED)


async def test_confidential_client_without_pkce_works(okta: httpx.AsyncClient, flows: Any) -> None:
    code, _ = await flows.code_flow(okta, pkce=False)
    r = await flows.token_request(okta, _redeem(code, flows))
    assert r.status_code == 200


@pytest.mark.parametrize("method", ["plain", None, "S512"])
async def test_only_s256_is_accepted(
    okta: httpx.AsyncClient, flows: Any, method: str | None
) -> None:
    verifier, _ = flows.pkce_pair()
    params = {"code_challenge": verifier}  # plain: the challenge is the verifier
    if method is not None:
        params["code_challenge_method"] = method
    r = await _authorize(okta, flows, **params)
    assert r.status_code == 302
    location = httpx.URL(r.headers["location"])
    assert str(location).startswith(flows.CALLBACK)
    assert location.params["error"] == "invalid_request"
    assert location.params["state"] == "st"


async def test_public_client_must_send_a_challenge(okta: httpx.AsyncClient, flows: Any) -> None:
    r = await _authorize(okta, flows, client_id=flows.SPA, redirect_uri=flows.SPA_CALLBACK)
    location = httpx.URL(r.headers["location"])
    assert location.params["error"] == "invalid_request"
    assert location.params["error_description"] == (
        "PKCE code challenge is required when the token endpoint authentication method is 'NONE'."
    )


async def test_malformed_challenge_is_rejected(okta: httpx.AsyncClient, flows: Any) -> None:
    r = await _authorize(okta, flows, code_challenge="short", code_challenge_method="S256")
    assert httpx.URL(r.headers["location"]).params["error"] == "invalid_request"


async def test_reused_code_is_rejected_and_revokes_its_tokens(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    code, verifier = await flows.code_flow(okta)
    first = await flows.token_request(okta, _redeem(code, flows, code_verifier=verifier))
    assert first.status_code == 200
    again = await flows.token_request(okta, _redeem(code, flows, code_verifier=verifier))
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    r = await okta.post(
        "/oauth2/default/v1/introspect",
        data={"token": first.json()["access_token"]},
        auth=(flows.AGENT, flows.AGENT_SECRET),
    )
    assert r.json() == {"active": False}


async def test_code_is_bound_to_its_client_and_redirect_uri(
    okta: httpx.AsyncClient, flows: Any
) -> None:
    code, verifier = await flows.code_flow(okta)
    r = await flows.token_request(
        okta,
        _redeem(code, flows, code_verifier=verifier, redirect_uri="http://127.0.0.1:8080/callback"),
    )
    assert r.json()["error"] == "invalid_grant"
    assert "redirect_uri" in r.json()["error_description"]
    code, verifier = await flows.code_flow(okta)
    r = await flows.token_request(
        okta, {**_redeem(code, flows, code_verifier=verifier), "client_id": flows.SPA}, auth=None
    )
    assert r.json()["error"] == "invalid_grant"


def test_s256_matches_rfc7636_appendix_b() -> None:
    assert (
        s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
        == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
