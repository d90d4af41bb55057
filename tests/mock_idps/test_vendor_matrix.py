"""The cross-vendor matrix: an access token from each emulator verifies with an independent
verifier (PyJWT against the JWKS the discovery document names, fetched over HTTP) under its
own vendor's validation rules, and fails under each other vendor's rules, for a reason in
the claims (a missing ``cid``, ``tid`` or ``token_use``), never the signature.

The rules are in :mod:`verifiers` (issuer form, audience or ``client_id`` with
``token_use``, and the claim shapes: Okta's integer ``ver`` and ``scp`` array, Entra's
string ``ver`` and ``scp`` string with ``azp``/``appid``, Cognito's ``scope`` string and
``version`` 2). The tokens come from each vendor's token endpoint: a refresh of a user
sign-in with the vendor's default scopes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp

from .verifiers import ACCESS_RULES, Expected, jwk_for

pytestmark = pytest.mark.anyio

VENDORS = ("okta", "entra", "cognito")
TENANT = "b7c3d9e1-4f2a-4c8b-9e6d-1a2b3c4d5e6f"
POOL = "us-east-1_Pr0ct0r42"


@dataclass(frozen=True)
class Facts:
    """A vendor's default configuration as a resource server sees it (``notes/idps.md``)."""

    issuer: Callable[[str], str]
    """The issuer for an issuer base (``https://example.okta.com`` in-process)."""
    audience: str | None
    client_id: str


FACTS = {
    "okta": Facts(lambda base: f"{base}/oauth2/default", "api://default", "0oaproctoragent0app7"),
    "entra": Facts(
        lambda base: f"{base}/{TENANT}/v2.0",
        "e4c1f5a2-6b7d-4c8e-9f0a-1b2c3d4e5f60",  # the CRM API's app ID (a v2.0 API)
        "a9e1c7f2-3b4d-4e5f-8a6b-7c8d9e0f1a2b",
    ),
    "cognito": Facts(lambda base: f"{base}/{POOL}", None, "6proctorwebapp0client00001"),
}
# (token's vendor, rules' vendor) -> the first rule the token breaks
REASONS = {
    ("okta", "entra"): '"tid"',
    ("okta", "cognito"): '"token_use"',
    ("entra", "okta"): '"cid"',
    ("entra", "cognito"): '"token_use"',
    ("cognito", "okta"): '"aud"',
    ("cognito", "entra"): '"tid"',
}


async def access_token(idp: MockIdp) -> tuple[str, dict[str, Any], Expected]:
    """A user's access token from the token endpoint, the JWKS at the published
    ``jwks_uri``, and what a resource server of this vendor is configured with."""
    facts = FACTS[idp.vendor]
    client = idp.engine.client(facts.client_id)
    assert client is not None
    signed_in = idp.tokens(client_id=client.client_id)
    async with idp.async_client() as http:
        discovery = (await http.get(idp.discovery_url())).json()
        assert discovery["issuer"] == facts.issuer(idp.engine.base_url)
        r = await http.post(
            discovery["token_endpoint"],
            data={
                "grant_type": "refresh_token",
                "refresh_token": signed_in["refresh_token"],
                "client_id": client.client_id,
                "client_secret": client.client_secret or "",
            },
        )
        assert r.status_code == 200, r.text
        jwks = (await http.get(discovery["jwks_uri"])).json()
    expected = Expected(discovery["issuer"], facts.audience, facts.client_id)
    return r.json()["access_token"], jwks, expected


def check_cell(
    vendor: str, rules_vendor: str, token: str, jwks: dict[str, Any], expected: Expected
) -> None:
    """``vendor``'s token passes ``vendor``'s rules and fails any other vendor's rules for
    a reason in its claims; the signature verifies with the published key either way."""
    pyjwt.decode(token, jwk_for(token, jwks), algorithms=["RS256"], options={"verify_aud": False})
    rules = ACCESS_RULES[rules_vendor]
    if vendor == rules_vendor:
        claims = rules(token, jwks, expected)
        assert claims["iss"] == expected.issuer
        return
    with pytest.raises(pyjwt.InvalidTokenError) as refused:
        rules(token, jwks, expected)
    assert not isinstance(refused.value, pyjwt.InvalidSignatureError | pyjwt.DecodeError)
    assert REASONS[vendor, rules_vendor] in str(refused.value), refused.value


@pytest.mark.parametrize("rules_vendor", VENDORS)
@pytest.mark.parametrize("vendor", VENDORS)
async def test_only_the_issuing_vendors_rules_accept_its_access_token(
    mock_idp_factory: Callable[..., MockIdp], vendor: str, rules_vendor: str
) -> None:
    token, jwks, expected = await access_token(mock_idp_factory(vendor))
    check_cell(vendor, rules_vendor, token, jwks, expected)


@pytest.mark.network
@pytest.mark.parametrize("vendor", VENDORS)
async def test_matrix_row_on_a_live_server_with_pyjwkclient(
    mock_idp_factory: Callable[..., MockIdp], vendor: str
) -> None:
    """On a real loopback port, PyJWKClient fetches the JWKS and finds the token's key;
    the row of the matrix holds with the issuer on the loopback base."""
    idp = mock_idp_factory(vendor, live=True)
    token, _, expected = await access_token(idp)
    assert expected.issuer.startswith(f"http://127.0.0.1:{idp.base_url.rsplit(':', 1)[1]}/")
    fetcher = pyjwt.PyJWKClient(idp.jwks_uri(), cache_keys=False)
    key = fetcher.get_signing_key_from_jwt(token)
    assert key.key_id == pyjwt.get_unverified_header(token)["kid"]
    jwks = fetcher.fetch_data()
    for rules_vendor in VENDORS:
        check_cell(vendor, rules_vendor, token, jwks, expected)


async def test_default_sign_in_scopes_are_the_vendors(
    okta_idp: MockIdp, entra_idp: MockIdp, cognito_idp: MockIdp
) -> None:
    """``MockIdp.tokens()`` grants each vendor's typical sign-in scopes: Okta's OIDC
    scopes with ``offline_access``; Entra's with the first API's scopes (a token for that
    API, not Microsoft Graph); every scope of the Cognito app client, which has no
    ``offline_access`` and gets a refresh token from the code flow anyway."""
    okta = pyjwt.decode(okta_idp.tokens()["access_token"], options={"verify_signature": False})
    assert okta["scp"] == ["openid", "profile", "email", "offline_access"]
    body = entra_idp.tokens()
    entra = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert entra["aud"] == FACTS["entra"].audience
    assert entra["scp"] == "crm.read crm.write"
    assert "refresh_token" in body
    body = cognito_idp.tokens()
    cognito = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert "offline_access" not in cognito["scope"].split()
    assert cognito["scope"].split() == [
        "openid",
        "email",
        "profile",
        "aws.cognito.signin.user.admin",
        "crm-api/notes.read",
        "crm-api/notes.write",
    ]
    assert "refresh_token" in body
