"""Bad input to every endpoint is a 4xx in Okta's shape, never a 5xx or a traceback."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from proctor.mock_idps.pytest_plugin import MockIdp

from . import fuzzing

OKTA_ERROR_KEYS = {"error", "error_description"}
FUZZ = fuzzing.requests(
    fuzzing.vendor_paths("okta", "/activate", "/oauth2/aus9/v1/token", "/nope"),
    params=(
        "subject_token",
        "subject_token_type",
        "audience",
        "user_code",
        "id_token_hint",
        "post_logout_redirect_uri",
    ),
    values=(
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "0oaproctoragent0app7",
    ),
    auth=("Basic MG9hcHJvY3RvcmFnZW50MGFwcDc6d3Jvbmc=",),
)


def assert_vendor_shaped(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code < 400:
        return
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        if response.status_code == 404 and "errorCode" in body:
            assert body["errorCode"] == "E0000007"
        else:
            assert set(body) == OKTA_ERROR_KEYS, body
            assert isinstance(body["error"], str)
            assert body["error"]
    else:
        assert response.headers["content-type"].startswith("text/html")
        assert "Traceback" not in response.text


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(request=FUZZ)
def test_fuzzed_requests_never_fail_the_server(
    okta_idp: MockIdp, request: fuzzing.FuzzRequest
) -> None:
    response = request.send(okta_idp.client())
    fuzzing.assert_not_a_server_error(response, "proctor-demo-agent-secret")
    assert_vendor_shaped(response)


TOKEN = "/oauth2/default/v1/token"
AGENT_AUTH = ("0oaproctoragent0app7", "proctor-demo-agent-secret")


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        ({"content": b""}, 400, "invalid_request"),
        ({"json": {"grant_type": "client_credentials"}}, 400, "invalid_request"),
        (
            {
                "content": b"grant_type=client_credentials&grant_type=refresh_token",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            400,
            "invalid_request",
        ),
        (
            {
                "content": b"\xff\xfe=\xff",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            400,
            "invalid_request",
        ),
        ({"data": {"grant_type": "x" * 70_000}}, 400, "invalid_request"),
        ({"data": {"grant_type": "password"}}, 400, "unsupported_grant_type"),
        ({"data": {"grant_type": "authorization_code"}}, 400, "invalid_request"),
        ({"data": {"grant_type": "refresh_token"}}, 400, "invalid_request"),
        (
            {"data": {"grant_type": "urn:ietf:params:oauth:grant-type:device_code"}},
            400,
            "invalid_request",
        ),
        (
            {
                "data": {
                    "grant_type": "authorization_code",
                    "code": "nope",
                    "redirect_uri": "http://127.0.0.1:8700/oauth2/callback",
                }
            },
            400,
            "invalid_grant",
        ),
    ],
)
def test_token_endpoint_bad_bodies(
    okta_idp: MockIdp, kwargs: dict[str, Any], status: int, error: str
) -> None:
    r = okta_idp.client().post(TOKEN, auth=AGENT_AUTH, **kwargs)
    assert (r.status_code, r.json()["error"]) == (status, error)
    assert_vendor_shaped(r)


@pytest.mark.parametrize(
    ("headers", "data", "reason"),
    [
        ({}, {"grant_type": "client_credentials"}, "no client"),
        ({"authorization": "Basic !!!"}, {"grant_type": "client_credentials"}, "bad base64"),
        ({"authorization": "Bearer abc"}, {"grant_type": "client_credentials"}, "wrong scheme"),
        (
            {},
            {"grant_type": "client_credentials", "client_id": "0oaproctoragent0app7"},
            "confidential client without secret",
        ),
        (
            {},
            {
                "grant_type": "client_credentials",
                "client_id": "0oaproctorspa000app7",
                "client_secret": "x",
            },
            "public client with a secret",
        ),
        (
            {},
            {"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"},
            "unknown client",
        ),
    ],
)
def test_client_authentication_failures_are_401(
    okta_idp: MockIdp, headers: dict[str, str], data: dict[str, str], reason: str
) -> None:
    r = okta_idp.client().post(TOKEN, data=data, headers=headers)
    assert r.status_code == 401, reason
    assert r.json()["error"] == "invalid_client"


def test_two_authentication_methods_are_refused(okta_idp: MockIdp) -> None:
    r = okta_idp.client().post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "scope": "crm.read",
            "client_secret": "proctor-demo-agent-secret",
        },
        auth=AGENT_AUTH,
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


def test_grant_not_enabled_for_the_client(okta_idp: MockIdp) -> None:
    r = okta_idp.client().post(
        TOKEN,
        data={"grant_type": "client_credentials", "client_id": "0oaproctorspa000app7"},
    )
    assert r.json()["error"] == "unauthorized_client"
    assert r.json()["error_description"] == (
        "The client is not authorized to use the provided grant type. Configured grant types: "
        "[authorization_code, refresh_token]."
    )


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"client_id": "0oaproctoragent0app7"},
        {"client_id": ["0oaproctoragent0app7", "0oaproctorspa000app7"]},
    ],
)
def test_authorize_without_a_usable_client_is_an_error_page(
    okta_idp: MockIdp, params: dict[str, Any]
) -> None:
    r = okta_idp.client().get("/oauth2/default/v1/authorize", params=params)
    assert r.status_code == 400
    assert "location" not in r.headers
    assert r.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"scope": "openid teleport"}, "invalid_scope"),
        ({"scope": None}, "invalid_scope"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"request": "eyJ..."}, "invalid_request"),
        ({"state": ["a", "b"]}, "invalid_request"),
    ],
)
def test_authorize_errors_redirect_back(
    okta_idp: MockIdp, extra: dict[str, Any], error: str
) -> None:
    params: dict[str, Any] = {
        "client_id": "0oaproctoragent0app7",
        "redirect_uri": "http://127.0.0.1:8700/oauth2/callback",
        "response_type": "code",
        "scope": "openid",
        "state": "s",
    }
    params.update(extra)
    params = {k: v for k, v in params.items() if v is not None}
    r = okta_idp.client().get("/oauth2/default/v1/authorize", params=params)
    assert r.status_code == 302
    location = httpx.URL(r.headers["location"])
    assert location.params["error"] == error
    assert str(location).startswith("http://127.0.0.1:8700/oauth2/callback?")


def test_pages_reject_bad_forms(okta_idp: MockIdp) -> None:
    client = okta_idp.client()
    for r in (
        client.get("/login/login.htm"),
        client.post("/login/login.htm", data={"transaction": "nope", "step": "login"}),
        client.post("/activate", data={"user_code": "ZZZZZZZZ"}),
        client.get("/oauth2/default/v1/logout", params={"id_token_hint": "x.y.z"}),
        client.get("/oauth2/default/v1/logout", params={"post_logout_redirect_uri": "http://x/"}),
    ):
        assert 400 <= r.status_code < 500
        assert_vendor_shaped(r)
