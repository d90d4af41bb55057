"""Bad input to the providers and their resource APIs is a clear 4xx, never a 5xx: listed
cases with the exact answer, then hypothesis over methods, paths, headers and bodies."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proctor.mock_idps.pytest_plugin import MockProvider

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
PRESETS = [
    "crm_provider",
    "finance_provider",
    "documents_provider",
    "google_provider",
    "github_provider",
]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt_like(payload: bytes) -> str:
    return f"{_b64(b'{}')}.{_b64(payload)}.sig"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({}, "invalid_request"),
        ({"grant_type": "password", "username": "a", "password": "b"}, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "notes.read notes.read x"}, "invalid_scope"),
        (
            {"grant_type": "client_credentials", "resource": "not a uri"},
            "invalid_target",
        ),
        (
            {"grant_type": "client_credentials", "audience": "https://crm.example/api#frag"},
            "invalid_target",
        ),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "refresh_token", "refresh_token": "crm_rt_nope"}, "invalid_grant"),
        ({"grant_type": "authorization_code", "code": "x"}, "invalid_grant"),
        ({"grant_type": TOKEN_EXCHANGE}, "invalid_request"),
        (
            {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": "x",
                "subject_token_type": ACCESS_TOKEN,
                "actor_token": "y",
                "actor_token_type": ACCESS_TOKEN,
            },
            "invalid_request",
        ),
        (
            {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": "x",
                "subject_token_type": ACCESS_TOKEN,
                "requested_token_type": "urn:ietf:params:oauth:token-type:refresh_token",
            },
            "invalid_request",
        ),
    ]
    + [
        (
            {
                "grant_type": TOKEN_EXCHANGE,
                "subject_token": token,
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            },
            "invalid_grant",
        )
        for token in (
            "a.b.c",
            _jwt_like(b"[1, 2]"),
            _jwt_like(b"\xff\xfe"),
            _jwt_like(b"[" * 5_000),
            _jwt_like(json.dumps({"iss": ["x"]}).encode()),
            _jwt_like(json.dumps({"iss": "https://unknown.example"}).encode()),
            "..",
            "a" * 10_000,
        )
    ],
)
@pytest.mark.anyio
async def test_token_endpoint_rejections(
    crm_provider: MockProvider, pf: Any, data: dict[str, str], error: str
) -> None:
    async with crm_provider.async_client() as client:
        r = await pf.token(client, crm_provider, data)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error


@pytest.mark.anyio
async def test_malformed_trusted_issuer_keys_do_not_crash(
    crm_provider: MockProvider, pf: Any
) -> None:
    issuer = "https://idp.example"
    token = _jwt_like(json.dumps({"iss": issuer, "sub": "s", "exp": 4_000_000_000}).encode())
    for jwks in ({"keys": [{"kty": "nope"}]}, {"keys": "x"}, {}, {"keys": [{"kty": "RSA"}]}):
        data = crm_provider.config.model_dump()
        data["vendor"] = {"trusted_issuers": [{"issuer": issuer, "jwks": jwks}]}
        crm_provider.configure(data)
        async with crm_provider.async_client() as client:
            r = await pf.token(
                client,
                crm_provider,
                {
                    "grant_type": TOKEN_EXCHANGE,
                    "subject_token": token,
                    "subject_token_type": ACCESS_TOKEN,
                },
            )
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"


@pytest.mark.anyio
async def test_authorization_request_rejections(crm_provider: MockProvider, pf: Any) -> None:
    async with crm_provider.async_client() as client:
        r = await client.get(crm_provider.url("authorize"), params={"client_id": "nobody"})
        assert r.status_code == 400
        assert "location" not in r.headers
        location, _, _ = await pf.authorize(
            client,
            crm_provider,
            scope="notes.read",
            extra={"resource": "https://crm.example/api"},
            state="s",
        )
        assert "code" in location.params
        r = await client.get(
            crm_provider.url("authorize"),
            params=[
                ("client_id", crm_provider.client_id),
                ("redirect_uri", pf.CALLBACK),
                ("response_type", "code"),
                ("scope", "notes.read"),
                ("resource", "https://crm.example/api"),
                ("resource", "https://other.example"),
            ],
        )
        assert httpx.URL(r.headers["location"]).params["error"] == "invalid_target"


@pytest.mark.anyio
async def test_lone_surrogates_are_refused(documents_provider: MockProvider, pf: Any) -> None:
    token = documents_provider.mint(scopes=["documents.write"])
    async with documents_provider.async_client() as client:
        r = await client.post(
            documents_provider.resource_url("/api/documents"),
            content=b'{"title": "\\ud800", "content": "x"}',
            headers={**pf.bearer(token), "content-type": "application/json"},
        )
    assert r.status_code == 400


@pytest.mark.anyio
@pytest.mark.parametrize("fixture", PRESETS)
async def test_unknown_paths_and_methods(request: pytest.FixtureRequest, fixture: str) -> None:
    provider: MockProvider = request.getfixturevalue(fixture)
    async with provider.async_client() as client:
        for method, path in (
            ("GET", "/api"),
            ("GET", "/api/customers/%E2%98%83/notes"),
            ("GET", "/api/customers/a%2Fb/notes"),
            ("PUT", "/user"),
            ("GET", "/token"),
            ("DELETE", "/oauth2/token"),
            ("POST", "/.well-known/oauth-protected-resource/nope"),
            ("GET", "/_mock/resource/nope"),
        ):
            r = await client.request(method, path)
            assert 400 <= r.status_code < 500, (method, path, r.status_code)


_METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"])
_PATHS = st.sampled_from(
    [
        "/api/customers/{x}/notes",
        "/api/spend",
        "/api/documents",
        "/api/documents/{x}",
        "/v1/userinfo",
        "/user",
        "/user/emails",
        "/.well-known/oauth-protected-resource/{x}",
        "/oauth2/token",
        "/oauth2/introspect",
        "/oauth2/revoke",
        "/login/oauth/access_token",
        "/token",
    ]
)
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    fixture=st.sampled_from(PRESETS),
    method=_METHODS,
    path=_PATHS,
    segment=_TEXT,
    authorization=st.one_of(
        st.none(), st.just("VALID"), st.from_regex(r"[ -~]{0,60}", fullmatch=True)
    ),
    content_type=st.sampled_from(
        ["application/json", "application/x-www-form-urlencoded", "text/plain", ""]
    ),
    body=st.binary(max_size=200),
    query=st.dictionaries(st.sampled_from(["customer", "access_token", "x"]), _TEXT, max_size=2),
)
def test_fuzzed_requests_never_5xx(
    request: pytest.FixtureRequest,
    fixture: str,
    method: str,
    path: str,
    segment: str,
    authorization: str | None,
    content_type: str,
    body: bytes,
    query: dict[str, str],
) -> None:
    provider: MockProvider = request.getfixturevalue(fixture)
    headers = {"content-type": content_type}
    if authorization == "VALID":  # a good token with every scope: reach the handlers
        scopes = provider.config.apis[0].scopes
        headers["authorization"] = f"Bearer {provider.mint(scopes=scopes)}"
    elif authorization is not None:
        headers["authorization"] = authorization
    client = provider.client()
    r = client.request(
        method,
        path.replace("{x}", quote(segment, safe="") or "x"),
        params=query,
        content=body,
        headers=headers,
    )
    assert r.status_code < 500, (method, path, r.text)
