"""The resource APIs: RFC 6750 token, audience and scope enforcement on every endpoint of
every preset, the data they answer with, their request log and RFC 9728 metadata."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proctor.mock_idps.pytest_plugin import MockProvider
from proctor.mock_idps.resources import DocumentsApi

pytestmark = pytest.mark.anyio

# (fixture, method, path, JSON body, a scope that suffices, a scope that does not)
ENDPOINTS = [
    ("crm_provider", "GET", "/api/customers/acme/notes", None, "notes.read", "notes.write"),
    ("finance_provider", "GET", "/api/spend?customer=globex", None, "spend.read", "other"),
    (
        "documents_provider",
        "POST",
        "/api/documents",
        {"title": "Client brief", "content": "# Acme"},
        "documents.write",
        "documents.read",
    ),
    ("documents_provider", "GET", "/api/documents/{doc}", None, "documents.read", "other"),
    (
        "google_provider",
        "GET",
        "/v1/userinfo",
        None,
        "email",
        "https://www.googleapis.com/auth/drive.readonly",
    ),
    (
        "google_provider",
        "GET",
        "/oauth2/v3/userinfo",
        None,
        "openid",
        "https://www.googleapis.com/auth/calendar.readonly",
    ),
    ("github_provider", "GET", "/user", None, "read:user", None),
    ("github_provider", "GET", "/user/emails", None, "user:email", "repo"),
]


async def _call(
    client: httpx.AsyncClient,
    provider: MockProvider,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    token: str | None,
) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    return await client.request(method, provider.resource_url(path), json=body, headers=headers)


def _stored(provider: MockProvider) -> dict[str, dict[str, Any]]:
    api = provider.resource
    assert isinstance(api, DocumentsApi)
    return dict(api.documents)


async def _document(client: httpx.AsyncClient, provider: MockProvider) -> str:
    token = provider.mint(scopes=["documents.write"])
    r = await client.post(
        provider.resource_url("/api/documents"),
        json={"title": "Existing", "content": "text"},
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201
    doc_id: str = r.json()["id"]
    return doc_id


@pytest.mark.parametrize(("fixture", "method", "path", "body", "good", "bad"), ENDPOINTS)
async def test_every_endpoint_enforces_token_audience_and_scope(
    request: pytest.FixtureRequest,
    pf: Any,
    fixture: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    good: str,
    bad: str | None,
) -> None:
    provider: MockProvider = request.getfixturevalue(fixture)
    async with provider.async_client() as client:
        if "{doc}" in path:
            path = path.replace("{doc}", await _document(client, provider))

        missing = await _call(client, provider, method, path, body, None)
        assert missing.status_code == 401
        params = pf.challenge_params(missing.headers["www-authenticate"])
        assert "error" not in params  # RFC 6750 §3.1: no error code without credentials

        for token in (
            "no-such-token",
            provider.mint(scopes=[good], presets=["expired"]),
            provider.mint(scopes=[good], presets=["wrong_audience"]),
            provider.mint(scopes=[good], presets=["not_yet_valid"]),
            provider.mint(scopes=[good], presets=["alg_none"]),
        ):
            r = await _call(client, provider, method, path, body, token)
            assert r.status_code == 401, (token, r.text)
            params = pf.challenge_params(r.headers["www-authenticate"])
            assert params["error"] == "invalid_token"

        if bad is not None:
            r = await _call(client, provider, method, path, body, provider.mint(scopes=[bad]))
            assert r.status_code == 403, r.text
            params = pf.challenge_params(r.headers["www-authenticate"])
            assert params["error"] == "insufficient_scope"
            assert params["scope"]

        r = await _call(client, provider, method, path, body, provider.mint(scopes=[good]))
        assert r.status_code in (200, 201), r.text
        assert r.headers["content-type"] == "application/json"
    statuses = [e.status for e in provider.resource_requests() if e.path == path.split("?")[0]]
    assert statuses[-1] in (200, 201)
    assert 401 in statuses


async def test_crm_notes(crm_provider: MockProvider, pf: Any) -> None:
    token = crm_provider.mint(scopes=["notes.read"], user="sarah@example.com")
    async with crm_provider.async_client() as client:
        r = await client.get(
            crm_provider.resource_url("/api/customers/globex/notes"), headers=pf.bearer(token)
        )
        body = r.json()
        assert body["customer"]["id"] == "globex"
        assert body["total"] == len(body["notes"]) == 2
        assert {"id", "created_at", "author", "type", "title", "body", "tags"} <= set(
            body["notes"][0]
        )
        r = await client.get(
            crm_provider.resource_url("/api/customers/nope/notes"), headers=pf.bearer(token)
        )
        assert r.status_code == 404
        assert r.json()["error"] == "not_found"
        r = await client.head(
            crm_provider.resource_url("/api/customers/acme/notes"), headers=pf.bearer(token)
        )
        assert r.status_code == 200
        assert r.content == b""
        r = await client.delete(
            crm_provider.resource_url("/api/customers/acme/notes"), headers=pf.bearer(token)
        )
        assert r.status_code == 405
        assert r.headers["allow"] == "GET"


async def test_finance_spend(finance_provider: MockProvider, pf: Any) -> None:
    token = finance_provider.mint(scopes=["spend.read"])
    async with finance_provider.async_client() as client:
        r = await client.get(
            finance_provider.resource_url("/api/spend"),
            params={"customer": "acme"},
            headers=pf.bearer(token),
        )
        body = r.json()
        assert body["customer_name"] == "Acme Corporation"
        assert body["currency"] == "USD"
        assert body["total"] == pytest.approx(sum(q["amount"] for q in body["by_quarter"]))
        assert [q["quarter"] for q in body["by_quarter"]] == ["Q1", "Q2", "Q3", "Q4"]
        assert body["year_over_year_change_pct"] == 12.3
        for params in (
            httpx.QueryParams(),
            httpx.QueryParams({"customer": ""}),
            httpx.QueryParams([("customer", "acme"), ("customer", "globex")]),
        ):
            r = await client.get(
                finance_provider.resource_url("/api/spend"),
                params=params,
                headers=pf.bearer(token),
            )
            assert r.status_code == 400
            assert r.json()["error"] == "invalid_request"
        r = await client.get(
            finance_provider.resource_url("/api/spend"),
            params={"customer": "umbrella"},
            headers=pf.bearer(token),
        )
        assert r.status_code == 404


async def test_documents_are_written_and_read_by_their_owner(
    documents_provider: MockProvider, pf: Any
) -> None:
    sarah = documents_provider.mint(scopes=["documents.write"], user="sarah@example.com")
    bob = documents_provider.mint(scopes=["documents.read"], user="bob@example.com")
    brief = "# Acme\n\nRenewal due in Q1; spend up 12.4% year over year."
    async with documents_provider.async_client() as client:
        r = await client.post(
            documents_provider.resource_url("/api/documents"),
            json={"title": "Client brief: Acme", "content": brief, "customer": "acme"},
            headers=pf.bearer(sarah),
        )
        assert r.status_code == 201
        meta = r.json()
        assert r.headers["location"] == meta["url"]
        assert meta["created_by"] == "doc-user-3001"
        assert meta["size"] == len(brief.encode())
        assert "content" not in meta
        r = await client.get(meta["url"], headers=pf.bearer(sarah))
        assert r.json()["content"] == brief
        r = await client.get(meta["url"], headers=pf.bearer(bob))
        assert r.status_code == 404  # not Bob's document
    assert _stored(documents_provider)[meta["id"]]["title"] == "Client brief: Acme"
    entry = documents_provider.resource_requests("create_document")[-1]
    assert entry.summary["title"] == "Client brief: Acme"
    assert entry.username == "sarah@example.com"


@pytest.mark.parametrize(
    ("content", "body", "status"),
    [
        ("application/json", b"{", 400),
        ("application/json", b"[]", 400),
        ("application/json", b'{"title": "", "content": "x"}', 400),
        ("application/json", b'{"title": "t", "content": 5}', 400),
        ("application/json", b'{"title": "t", "content": "x", "owner": "eve"}', 400),
        ("application/json", b'{"title": "t", "content": "x", "format": "pdf"}', 400),
        ("application/json", b'{"title": "t", "content": "x", "customer": 7}', 400),
        ("application/json", b"\xff\xfe", 400),
        ("application/json", b"[" * 100_000, 400),
        ("text/plain", b"title=t", 415),
        ("application/json", b'{"title": "t", "content": "' + b"x" * 300_000 + b'"}', 413),
    ],
)
async def test_bad_document_bodies_are_4xx(
    documents_provider: MockProvider, pf: Any, content: str, body: bytes, status: int
) -> None:
    token = documents_provider.mint(scopes=["documents.write"])
    async with documents_provider.async_client() as client:
        r = await client.post(
            documents_provider.resource_url("/api/documents"),
            content=body,
            headers={**pf.bearer(token), "content-type": content},
        )
    assert r.status_code == status
    assert r.json()["error"] == "invalid_request"
    assert _stored(documents_provider) == {}


async def test_token_placement_rules(crm_provider: MockProvider, pf: Any) -> None:
    """RFC 6750 §2.1 only: a token in the URI is refused, a malformed header is a 400."""
    token = crm_provider.mint(scopes=["notes.read"])
    url = crm_provider.resource_url("/api/customers/acme/notes")
    async with crm_provider.async_client() as client:
        r = await client.get(url, params={"access_token": token})
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_request"
        r = await client.get(url, headers={"authorization": "Bearer a b"})
        assert r.status_code == 400
        r = await client.get(url, headers={"authorization": f"Basic {token}"})
        assert r.status_code == 401
        assert "error" not in pf.challenge_params(r.headers["www-authenticate"])
        r = await client.get(url, headers={"authorization": f"bearer {token}"})
        assert r.status_code == 200  # the scheme is case-insensitive


async def test_protected_resource_metadata(crm_provider: MockProvider) -> None:
    """RFC 9728 §3: the well-known URI is inserted before the resource's path."""
    async with crm_provider.async_client() as client:
        r = await client.get(crm_provider.resource_url("/.well-known/oauth-protected-resource/api"))
        doc = r.json()
        missing = await client.get(crm_provider.resource_url("/api/customers/acme/notes"))
    assert doc["resource"] == crm_provider.audience == "https://crm.example/api"
    assert doc["authorization_servers"] == [crm_provider.issuer()]
    assert doc["scopes_supported"] == ["notes.read"]
    assert doc["bearer_methods_supported"] == ["header"]
    challenge = missing.headers["www-authenticate"]
    assert 'resource_metadata="https://crm.example/.well-known/oauth-protected-resource/api"' in (
        challenge
    )


async def test_admin_endpoints(documents_provider: MockProvider, pf: Any) -> None:
    token = documents_provider.mint(scopes=["documents.write"])
    async with documents_provider.async_client() as client:
        await client.post(
            documents_provider.resource_url("/api/documents"),
            json={"title": "t", "content": "c"},
            headers=pf.bearer(token),
        )
        info = (await client.get("/_mock/provider")).json()
        assert info["provider"] == "documents"
        assert info["resource_api"]["audience"] == "https://docs.example/api"
        assert info["clients"][0]["client_id"] == "proctor-documents"
        log = (await client.get("/_mock/resource/requests")).json()
        assert log["count"] == 1
        assert log["requests"][0]["summary"]["title"] == "t"
        assert token not in str(log)
        assert (await client.post("/_mock/resource/reset")).status_code == 204
        assert (await client.get("/_mock/resource/requests")).json()["count"] == 0
        assert _stored(documents_provider) == {}
        summary = (await client.get("/_mock/resource")).json()
        assert [op["name"] for op in summary["operations"]] == ["create_document", "get_document"]
        assert (await client.delete("/_mock/resource/requests")).status_code == 204
        assert (await client.get("/_mock/nope")).status_code == 404
