"""Bad input to every Cognito path is a 4xx in Cognito's shape, never a 5xx or a traceback;
bad configurations are refused with a clear ``ValueError``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from proctor.cli.main import app as cli
from proctor.mock_idps.app import create_app
from proctor.mock_idps.cognito import PROFILE
from proctor.mock_idps.config import load_config
from proctor.mock_idps.pytest_plugin import MockIdp

from .. import fuzzing

FUZZ = fuzzing.requests(
    fuzzing.vendor_paths("cognito", "/us-east-1_Nope/.well-known/jwks.json", "/error"),
    params=("logout_uri",),
    values=(
        "password",
        "crm-api/notes.read",
        "6proctorwebapp0client00001",
        "6proctorspa000client000002",
        "http://127.0.0.1:8700/",
    ),
    auth=("Basic NnByb2N0b3J3ZWJhcHAwY2xpZW50MDAwMDE6d3Jvbmc=",),
    methods=("GET", "POST", "PUT"),
)


def assert_cognito_shaped(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code < 400:
        return
    media = response.headers.get("content-type", "")
    if media.startswith("application/json"):
        body = response.json()
        if "code" in body:
            assert body["code"] == "ResourceNotFoundException"
        else:
            assert set(body) <= {"error", "error_description"}, body
            assert isinstance(body["error"], str)
            assert body["error"]
    else:
        assert media.startswith("text/html")
        assert "Traceback" not in response.text


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(request=FUZZ)
def test_fuzzed_requests_never_fail_the_server(
    cognito_idp: MockIdp, request: fuzzing.FuzzRequest
) -> None:
    response = request.send(cognito_idp.client())
    fuzzing.assert_not_a_server_error(response, WEB_AUTH[1])
    assert_cognito_shaped(response)


TOKEN = "/oauth2/token"
WEB_AUTH = ("6proctorwebapp0client00001", "1proctordemowebclientsecret000000000000000000000000")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"content": b""}, "invalid_request"),
        ({"json": {"grant_type": "refresh_token"}}, "invalid_request"),
        (
            {
                "content": b"grant_type=refresh_token&grant_type=refresh_token",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            "invalid_request",
        ),
        ({"data": {"grant_type": "x" * 70_000}}, "invalid_request"),
        ({"data": {"grant_type": "authorization_code", "code": "x"}}, "invalid_request"),
        (
            {
                "data": {
                    "grant_type": "authorization_code",
                    "code": "nope",
                    "redirect_uri": "http://127.0.0.1:8700/oauth2/callback",
                }
            },
            "invalid_grant",
        ),
    ],
)
def test_token_endpoint_bad_bodies(
    cognito_idp: MockIdp, kwargs: dict[str, Any], error: str
) -> None:
    r = cognito_idp.client().post(TOKEN, auth=WEB_AUTH, **kwargs)
    assert (r.status_code, r.json()) == (400, {"error": error})


def test_wrong_methods(cognito_idp: MockIdp) -> None:
    client = cognito_idp.client()
    r = client.get(TOKEN)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"
    assert client.put("/us-east-1_Pr0ct0r42/.well-known/jwks.json").status_code == 405


def _config(**changes: Any) -> dict[str, Any]:
    data = PROFILE.default_config().model_dump()
    data.update(changes)
    return data


def _client(**fields: Any) -> dict[str, Any]:
    return {"client_id": "c", "client_secret": "s", "consent": False, **fields}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (_config(vendor={"region": "mars-1"}), "not an AWS region"),
        (_config(vendor={"region": "eu-west-1", "user_pool_id": "us-east-1_X"}), "user pool"),
        (_config(vendor={"domain_prefix": "-bad"}), "domain prefix"),
        (_config(vendor={"domain": "http://auth.example.com"}), "custom domain"),
        (_config(vendor={"pool": "x"}), "unknown Cognito pool settings"),
        (
            _config(clients=[_client(grant_types=["authorization_code", "client_credentials"])]),
            "does not combine",
        ),
        (
            _config(clients=[_client(client_secret=None, grant_types=["client_credentials"])]),
            "needs a client secret",
        ),
        (_config(clients=[_client(grant_types=["device_code"])]), "Cognito has no"),
        (_config(clients=[_client(scopes=["crm-api/nope"])]), "unknown scopes"),
        (_config(clients=[_client(vendor={"access_token_validity": 60})]), "seconds from 300"),
        (
            _config(clients=[_client(vendor={"refresh_token_validity": 10**10})]),
            "seconds from 3600",
        ),
        (_config(clients=[_client(vendor={"refresh_token_rotation": "yes"})]), "true or false"),
        (_config(apis=[{"id": "a", "audience": "openid", "scopes": ["x"]}]), "identifier"),
        (_config(apis=[{"id": "a", "audience": "a", "scopes": ["x/y"]}]), "custom scope"),
    ],
)
def test_bad_configurations_are_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PROFILE.validate_config(load_config(config))


def test_hosts_collapse_off_the_vendor_host() -> None:
    live = create_app("cognito", base_url="http://127.0.0.1:18712").engine.server()
    assert live.issuer == "http://127.0.0.1:18712/us-east-1_Pr0ct0r42"
    assert live.url("token") == "http://127.0.0.1:18712/oauth2/token"
    custom = create_app(
        "cognito",
        _config(vendor={"user_pool_id": "us-east-1_Pr0ct0r42", "domain": "https://auth.acme.io"}),
    ).engine.server()
    assert custom.url("authorize") == "https://auth.acme.io/oauth2/authorize"
    assert custom.url("jwks").startswith("https://cognito-idp.us-east-1.amazonaws.com/")
    other = create_app(
        "cognito",
        _config(vendor={"region": "eu-west-1", "user_pool_id": "eu-west-1_Abc123"}),
        base_url="https://cognito-idp.eu-west-1.amazonaws.com",
    ).engine.server()
    assert other.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc123"
    assert other.url("logout") == "https://proctor-demo.auth.eu-west-1.amazoncognito.com/logout"
    with pytest.raises(ValueError, match="region"):
        create_app("cognito", base_url="https://cognito-idp.eu-west-1.amazonaws.com")


def test_cli_prints_the_default_configuration() -> None:
    result = CliRunner().invoke(cli, ["idp", "cognito", "--print-config"])
    assert result.exit_code == 0, result.output
    assert load_config(result.output) == PROFILE.default_config()
