"""AADSTS error bodies for bad input (reference-error-codes.md): the code in
``error_codes`` and in the description, with trace ID, correlation ID and timestamp;
never a 5xx, never a secret in the body."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from proctor.mock_idps.entra import APPROXIMATE, ENTRA_ERRORS
from proctor.mock_idps.pytest_plugin import MockIdp

from .. import fuzzing

pytestmark = pytest.mark.anyio
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$")


async def test_error_body_shape(entra: httpx.AsyncClient, aad: Any) -> None:
    r = await aad.token_request(entra, {"grant_type": "client_credentials", "scope": "nope/x"})
    aad.assert_aadsts(r, 500011, "invalid_resource")
    body = r.json()
    assert STAMP.match(body["timestamp"])
    assert set(body) == {
        "error",
        "error_description",
        "error_codes",
        "timestamp",
        "trace_id",
        "correlation_id",
        "error_uri",
    }
    assert aad.AGENT_SECRET not in r.text


async def test_common_failures(entra: httpx.AsyncClient, aad: Any) -> None:
    # Invalid scope on a known resource.
    r = await aad.client_credentials(entra, scope=f"{aad.CRM_URI}/nope")
    aad.assert_aadsts(r, 70011, "invalid_scope")
    # Unknown authorization code, and a redeemed one.
    data = {"grant_type": "authorization_code", "code": "nope", "redirect_uri": aad.CALLBACK}
    aad.assert_aadsts(await aad.token_request(entra, data), 70008, "invalid_grant")
    # Unsupported grant types, including RFC 8693 and the password grant.
    for grant in ("password", "urn:ietf:params:oauth:grant-type:saml2-bearer"):
        r = await aad.token_request(entra, {"grant_type": grant})
        aad.assert_aadsts(r, 70003, "unsupported_grant_type")
    # Wrong secret: 401.
    r = await aad.client_credentials(entra, auth=(aad.AGENT, "not-the-secret"))
    aad.assert_aadsts(r, 7000215, "invalid_client", 401)
    assert "not-the-secret" not in r.text
    # Unknown application.
    r = await aad.client_credentials(entra, auth=("11111111-2222-3333-4444-555555555555", "x"))
    aad.assert_aadsts(r, 700016, "unauthorized_client")
    # A missing parameter names it.
    r = await aad.token_request(entra, {"grant_type": "authorization_code"})
    aad.assert_aadsts(r, 900144, "invalid_request")
    assert "'code'" in r.json()["error_description"]
    # Scope with two resources.
    r = await entra.post(
        f"/{aad.TENANT}/oauth2/v2.0/devicecode",
        data={"client_id": aad.SPA, "scope": f"{aad.CRM_URI}/crm.read {aad.DOCS_URI}/x"},
    )
    aad.assert_aadsts(r, 700022, "invalid_scope")
    # v1.0 without resource.
    r = await aad.client_credentials(entra, scope=None, version=1)
    aad.assert_aadsts(r, 900144, "invalid_request")
    assert "'resource'" in r.json()["error_description"]
    # Not a form body.
    r = await entra.post(f"/{aad.TENANT}/oauth2/v2.0/token", json={"grant_type": "x"})
    aad.assert_aadsts(r, 9002313, "invalid_request")


async def test_authorize_errors_redirect_with_aadsts(entra: httpx.AsyncClient, aad: Any) -> None:
    params = {
        "client_id": aad.AGENT,
        "redirect_uri": aad.CALLBACK,
        "response_type": "code",
        "scope": f"{aad.CRM_URI}/crm.delete",
        "state": "xyz",
    }
    r = await entra.get(f"/{aad.TENANT}/oauth2/v2.0/authorize", params=params)
    location = httpx.URL(r.headers["location"])
    assert location.params["error"] == "invalid_scope"
    assert location.params["error_description"].startswith("AADSTS70011: ")
    assert location.params["state"] == "xyz"
    # An unregistered redirect URI is an error page, never a redirect.
    r = await entra.get(
        f"/{aad.TENANT}/oauth2/v2.0/authorize",
        params={**params, "redirect_uri": "https://evil.example/cb"},
    )
    assert r.status_code == 400
    assert "AADSTS50011" in r.text
    # The v2.0 endpoint with a resource that contradicts the scopes.
    r = await entra.get(
        f"/{aad.TENANT}/oauth2/v2.0/authorize",
        params={**params, "scope": "openid User.Read", "resource": aad.CRM_URI},
    )
    assert (
        httpx.URL(r.headers["location"]).params["error_description"].startswith("AADSTS9010010: ")
    )


def test_error_table_is_consistent() -> None:
    assert set(ENTRA_ERRORS) >= APPROXIMATE
    for reason, entry in ENTRA_ERRORS.items():
        assert entry.code > 0, reason
        assert entry.message, reason


async def test_injected_faults_are_aadsts(entra_idp: MockIdp, aad: Any) -> None:
    entra_idp.fault("token", status=503, count=1)
    async with entra_idp.async_client() as client:
        r = await aad.client_credentials(client)
        assert r.status_code == 503
        assert r.json()["error_description"].startswith("AADSTS50000: ")
        assert (await aad.client_credentials(client)).status_code == 200


TENANT = "b7c3d9e1-4f2a-4c8b-9e6d-1a2b3c4d5e6f"
FUZZ = fuzzing.requests(
    [
        f"/{TENANT}/oauth2/v2.0/token",
        f"/{TENANT}/oauth2/token",
        "/common/oauth2/v2.0/token",
        "/organizations/oauth2/token",
        f"/{TENANT}/oauth2/v2.0/devicecode",
        "/consumers/oauth2/v2.0/token",
        f"/{TENANT}/oauth2/v2.0/authorize",
        "/common/oauth2/authorize",
    ],
    params=(
        "client_assertion",
        "client_assertion_type",
        "resource",
        "assertion",
        "requested_token_use",
    ),
    values=(
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "on_behalf_of",
        "a9e1c7f2-3b4d-4e5f-8a6b-7c8d9e0f1a2b",
        "proctor-demo-agent-secret",
        "api://proctor-crm/.default",
        "api://proctor-crm/crm.read openid",
        "https://docs.contoso.example",
        "https://graph.microsoft.com/.default",
        "User.Read",
    ),
    methods=("POST",),
    max_params=7,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(request=FUZZ)
def test_bad_input_is_a_4xx_in_aadsts_shape(
    entra_idp: MockIdp, request: fuzzing.FuzzRequest
) -> None:
    response = request.send(entra_idp.client())
    fuzzing.assert_not_a_server_error(response, "proctor-demo-agent-secret")
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        body = response.json()
        assert body["error_codes"][0] > 0
        assert body["error_description"].startswith(f"AADSTS{body['error_codes'][0]}: ")
