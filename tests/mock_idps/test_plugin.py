"""The pytest plugin: in-process and live fixtures, the marker, the factory; and a live
server verified by PyJWT's own JWKS client over real HTTP."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pytest

from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.mock_idps.server import LiveServer
from proctor.mock_idps.testing import parse_forms, pkce_pair
from proctor.mock_idps.tls import issue_certificate


def test_in_process_fixture(okta_idp: MockIdp) -> None:
    assert not okta_idp.live
    assert okta_idp.vendor == "okta"
    assert okta_idp.base_url == "https://example.okta.com"
    assert okta_idp.issuer() == "https://example.okta.com/oauth2/default"
    assert okta_idp.issuer("org") == "https://example.okta.com"
    assert okta_idp.jwks_uri() == "https://example.okta.com/oauth2/default/v1/keys"
    assert isinstance(okta_idp.transport, httpx.ASGITransport)
    doc = okta_idp.client().get("/oauth2/default/.well-known/openid-configuration").json()
    assert doc["jwks_uri"] == okta_idp.jwks_uri()


@pytest.mark.anyio
async def test_transport_for_code_under_test(okta_idp: MockIdp) -> None:
    async with httpx.AsyncClient(transport=okta_idp.transport) as sut:
        r = await sut.get(okta_idp.discovery_url())
    assert r.json()["issuer"] == okta_idp.issuer()
    assert okta_idp.requests("openid_configuration")[0].path.endswith("openid-configuration")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.network
@pytest.mark.mock_idp(live=True)
def test_live_fixture_full_flow_verified_by_pyjwk_client(okta_idp: MockIdp) -> None:
    assert okta_idp.live
    assert okta_idp.base_url.startswith("http://127.0.0.1:")
    assert okta_idp.issuer() == okta_idp.base_url + "/oauth2/default"
    verifier, challenge = pkce_pair()
    with httpx.Client(base_url=okta_idp.base_url) as browser:
        r = browser.get(
            "/oauth2/default/v1/authorize",
            params={
                "client_id": "0oaproctoragent0app7",
                "redirect_uri": "http://127.0.0.1:8700/oauth2/callback",
                "response_type": "code",
                "scope": "openid crm.read",
                "state": "live",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            follow_redirects=True,
        )
        login = parse_forms(r.text)["login"]
        r = browser.post(
            login.action,
            data=login.fill(username="sarah@example.com", password="sarah-password"),
        )
        consent = parse_forms(r.text)["consent"]
        r = browser.post(consent.action, data=consent.fill(decision="allow"))
        code = httpx.URL(r.headers["location"]).params["code"]
        r = browser.post(
            "/oauth2/default/v1/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "http://127.0.0.1:8700/oauth2/callback",
                "code_verifier": verifier,
            },
            auth=("0oaproctoragent0app7", "proctor-demo-agent-secret"),
        )
    token = r.json()["access_token"]
    jwks_client = pyjwt.PyJWKClient(okta_idp.jwks_uri())  # urllib, not our transport
    key = jwks_client.get_signing_key_from_jwt(token)
    claims = pyjwt.decode(
        token, key, algorithms=["RS256"], issuer=okta_idp.issuer(), audience="api://default"
    )
    assert claims["sub"] == "sarah@example.com"
    assert len(okta_idp.requests("jwks")) == 1


@pytest.mark.network
@pytest.mark.mock_idp(live=True)
def test_live_delay_fault_times_a_client_out(okta_idp: MockIdp) -> None:
    okta_idp.fault("jwks", delay=1.0, count=1)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(okta_idp.jwks_uri(), timeout=0.2)
    assert httpx.get(okta_idp.jwks_uri(), timeout=5).status_code == 200


def test_factory_runs_several_emulators(mock_idp_factory: Callable[..., MockIdp]) -> None:
    first = mock_idp_factory("okta")
    second = mock_idp_factory(
        "okta",
        base_url="https://acme.okta.com",
        config={"apis": [{"id": "aus1", "audience": "api://x", "scopes": ["x"]}]},
        frozen_at=1_000_000,
    )
    assert first.issuer() == "https://example.okta.com/oauth2/default"
    assert second.issuer() == "https://acme.okta.com/oauth2/aus1"
    assert second.clock() == 1_000_000
    with pytest.raises(ValueError, match="no emulator"):
        mock_idp_factory("keycloak")


@pytest.mark.mock_idp(headless_user="bob@example.com")
def test_marker_options_and_tokens_helper(okta_idp: MockIdp) -> None:
    assert okta_idp.config.headless_user == "bob@example.com"
    body = okta_idp.tokens(user="bob@example.com", scopes="openid finance.read")
    claims = pyjwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["groups"] == ["finance"]
    assert okta_idp.rotate_keys() != okta_idp.keys().keys()[0].kid


@pytest.mark.network
def test_vendor_hosts_tls(tmp_path: Path) -> None:
    files = issue_certificate(["example.okta.com"], tmp_path)
    again = issue_certificate(["example.okta.com"], tmp_path)
    assert files.ca_cert.read_bytes() == again.ca_cert.read_bytes()  # the CA is kept
    with LiveServer("okta", issuer_base="https://example.okta.com", tls=again) as server:
        context = ssl.create_default_context(cafile=str(again.ca_cert))
        with httpx.Client(base_url=server.url, verify=context) as client:
            doc = client.get("/oauth2/default/.well-known/openid-configuration").json()
    assert server.url.startswith("https://127.0.0.1:")
    assert doc["issuer"] == "https://example.okta.com/oauth2/default"
    assert doc["jwks_uri"] == "https://example.okta.com/oauth2/default/v1/keys"


def test_plugin_is_registered(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.has_plugin("proctor_mock_idps")
    marker_lines: Any = pytestconfig.getini("markers")
    assert any(str(line).startswith("mock_idp(") for line in marker_lines)
