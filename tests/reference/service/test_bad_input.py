"""Bad input gets the spec's 4xx, never a 5xx, and changes nothing stored (spec 09 via
the API doc's error model; INB-DEC-002, WAT-REQ-001, WID-DIR-003, INB-CFG-002)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proctor.mock_idps.keys import KeyRing, SigningKey, generate_key
from proctor.reference.clock import ManualClock
from proctor.reference.service import Service
from proctor.reference.storage import testing as storage_testing
from tests.reference.conftest import postgres_server_url

pytestmark = pytest.mark.anyio

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]

#: (method, path, needs): who authenticates the call.
ENDPOINTS = [
    ("POST", "/v1/authorizers", "admin"),
    ("PUT", "/v1/authorizers/company-okta", "admin"),
    ("POST", "/v1/workloads", "admin"),
    ("PUT", "/v1/workloads/orchestrator", "admin"),
    ("POST", "/v1/workloads/orchestrator/secret", "admin"),
    ("POST", "/v1/decisions", "workload"),
    ("POST", "/v1/workload-access-tokens", "workload"),
]

MALFORMED = [
    (b"{", "application/json", 400, "invalid_request_body"),
    (b"[1, 2]", "application/json", 400, "invalid_request_body"),
    (b'"text"', "application/json", 400, "invalid_request_body"),
    (b"\xff\xfe", "application/json", 400, "invalid_request_body"),
    (b"null", "application/json", 400, "invalid_request_body"),
    (b'{"a": 1}', "text/plain", 415, "unsupported_media_type"),
    (b'{"a": 1}', "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
]


@pytest.fixture
async def world(api: Any) -> Any:
    await api.create_authorizer()
    return await api.create_workload(authorizer="company-okta")


def _headers(h: ModuleType, world: Any, needs: str) -> dict[str, str]:
    return dict(h.ADMIN) if needs == "admin" else dict(world.auth)


@pytest.mark.parametrize(("method", "path", "needs"), ENDPOINTS)
@pytest.mark.parametrize(("content", "media", "status", "code"), MALFORMED)
async def test_malformed_bodies(
    client: httpx.AsyncClient,
    service: Service,
    world: Any,
    h: ModuleType,
    method: str,
    path: str,
    needs: str,
    content: bytes,
    media: str,
    status: int,
    code: str,
) -> None:
    before = h.storage_snapshot(service)
    headers = {**_headers(h, world, needs), "Content-Type": media}
    response = await client.request(method, path, content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.headers["content-type"].startswith("application/problem+json")
    assert h.storage_snapshot(service) == before


@pytest.mark.parametrize(("method", "path", "needs"), ENDPOINTS)
async def test_oversized_bodies_are_413(
    client: httpx.AsyncClient,
    service: Service,
    world: Any,
    h: ModuleType,
    method: str,
    path: str,
    needs: str,
) -> None:
    before = h.storage_snapshot(service)
    body = json.dumps({"name": "x" * (300 * 1024)}).encode()
    headers = {**_headers(h, world, needs), "Content-Type": "application/json"}
    response = await client.request(method, path, content=body, headers=headers)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert h.storage_snapshot(service) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "code"),
    [
        ("POST", "/v1/workloads", {"name": 5}, "invalid_request_body"),
        ("POST", "/v1/workloads", {"name": "agent", "disabled": "yes"}, "invalid_request_body"),
        (
            "POST",
            "/v1/workloads",
            {"name": "agent", "allowed_return_urls": "x"},
            "invalid_request_body",
        ),
        ("POST", "/v1/workloads", {"name": "agent", "surprise": True}, "invalid_request_body"),
        ("POST", "/v1/workloads", {}, "invalid_request_body"),
        (
            "PUT",
            "/v1/workloads/orchestrator",
            {"name": "orchestrator", "jwks": [1]},
            "invalid_request_body",
        ),
        (
            "PUT",
            "/v1/workloads/orchestrator",
            {"name": "orchestrator", "disabled": True, "authorizer": "ghost"},
            "validation_failed",
        ),
        ("POST", "/v1/authorizers", {"name": "okta-2"}, "invalid_request_body"),
        ("POST", "/v1/authorizers", {"name": "okta-2", "discovery_url": 7}, "invalid_request_body"),
        (
            "PUT",
            "/v1/authorizers/company-okta",
            {
                "name": "company-okta",
                "discovery_url": "https://x.example/",
                "allowed_audiences": ["a"],
            },
            "validation_failed",
        ),
        ("POST", "/v1/workloads/orchestrator/secret", {"rotate": True}, "invalid_request_body"),
    ],
)
async def test_wrong_members_change_nothing(
    client: httpx.AsyncClient,
    service: Service,
    world: Any,
    h: ModuleType,
    method: str,
    path: str,
    body: Any,
    code: str,
) -> None:
    before = h.storage_snapshot(service)
    response = await client.request(method, path, json=body, headers=h.ADMIN)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code
    assert h.storage_snapshot(service) == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/workloads/ghost"),
        ("PUT", "/v1/workloads/ghost"),
        ("DELETE", "/v1/workloads/ghost"),
        ("POST", "/v1/workloads/ghost/secret"),
        ("GET", "/v1/authorizers/ghost"),
        ("PUT", "/v1/authorizers/ghost"),
        ("DELETE", "/v1/authorizers/ghost"),
    ],
)
async def test_unknown_names_are_404_and_change_nothing(
    client: httpx.AsyncClient,
    service: Service,
    world: Any,
    h: ModuleType,
    method: str,
    path: str,
) -> None:
    before = h.storage_snapshot(service)
    body = (
        {"name": "ghost"}
        if path.startswith("/v1/workloads/") and method == "PUT"
        else h.authorizer_body("ghost")
        if method == "PUT"
        else None
    )
    response = await client.request(method, path, json=body, headers=h.ADMIN)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "not_found"
    assert h.storage_snapshot(service) == before


async def test_data_plane_bad_requests_change_nothing(
    client: httpx.AsyncClient, service: Service, world: Any, h: ModuleType
) -> None:
    before = h.storage_snapshot(service)
    cases = [
        ("/v1/decisions", {"authorizer": "ghost", "token": "x"}, 404),
        ("/v1/decisions", {"authorizer": "company-okta", "token": "t" * 70_000}, 200),
        # INB-DEC-002: bodies of at least 128 KiB are accepted (the token is then malformed)
        ("/v1/decisions", {"authorizer": "company-okta", "token": "t" * 131_072}, 200),
        ("/v1/workload-access-tokens", {"user_token": "t" * 70_000}, 401),
        ("/v1/workload-access-tokens", {"user_id": "sarah"}, 403),
    ]
    for path, body, status in cases:
        response = await client.post(path, json=body, headers=world.auth)
        assert response.status_code == status, (path, response.text)
    assert h.storage_snapshot(service) == before


# -- hypothesis: no body ever yields a 5xx ---------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
KEYS = {
    "/v1/authorizers": [
        "name",
        "discovery_url",
        "issuer",
        "allowed_audiences",
        "algorithms",
        "custom_claims",
        "token_kinds",
        "leeway_seconds",
        "idp_profile",
    ],
    "/v1/workloads": [
        "name",
        "authorizer",
        "allowed_return_urls",
        "allow_user_id_tokens",
        "jwks",
        "token_endpoint_auth_method",
        "disabled",
    ],
    "/v1/decisions": ["authorizer", "token", "token_kind"],
    "/v1/workload-access-tokens": ["user_token", "user_id"],
}


def _bodies(path: str) -> st.SearchStrategy[Any]:
    known = next((keys for prefix, keys in KEYS.items() if path.startswith(prefix)), ["x"])
    shaped = st.dictionaries(st.sampled_from(known), JSON, max_size=len(known))
    return st.one_of(JSON, shaped)


class SyncApp:
    """Blocking requests to an ASGI app: one event loop per request (hypothesis's tests
    are synchronous; starlette's TestClient warns under this project's httpx)."""

    def __init__(self, app: Any, base_url: str) -> None:
        self.app = app
        self.base_url = base_url

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as c:
                response = await c.request(method, path, **kwargs)
                await response.aread()
                return response

        return anyio.run(send)


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per back-end for the whole module (hypothesis runs many examples)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
        return
    with storage_testing.scratch_postgres_url(postgres_server_url()) as scratch:
        yield scratch


@pytest.fixture(scope="module")
def fuzz_target(
    tmp_path_factory: pytest.TempPathFactory, h: ModuleType, fuzz_database: str
) -> Iterator[tuple[SyncApp, Any]]:
    """One service for the whole module (hypothesis runs many examples)."""
    tmp: Path = tmp_path_factory.mktemp("fuzz-data")
    idp = h.FakeIdp(KeyRing([SigningKey(generate_key("RS256", "fuzz"), "RS256")]))
    http = httpx.Client(transport=httpx.MockTransport(idp.handle))
    service = Service.create(
        h.make_settings(tmp, fuzz_database), clock=ManualClock(), http_client=http, env={}
    )
    app = SyncApp(service.asgi_app(), h.SERVICE_ISSUER)
    created_authorizer = app.request(
        "POST", "/v1/authorizers", json=h.authorizer_body(), headers=h.ADMIN
    )
    assert created_authorizer.status_code == 201
    created = app.request(
        "POST",
        "/v1/workloads",
        json={"name": "orchestrator", "authorizer": "company-okta"},
        headers=h.ADMIN,
    ).json()
    auth = h.basic(created["client_id"], created["client_secret"])
    try:
        yield app, {"admin": h.ADMIN, "workload": auth}
    finally:
        service.close()
        http.close()


@pytest.mark.parametrize(("method", "path", "needs"), ENDPOINTS)
def test_random_json_never_yields_a_5xx(
    fuzz_target: tuple[SyncApp, dict[str, dict[str, str]]],
    method: str,
    path: str,
    needs: str,
) -> None:
    app, credentials = fuzz_target

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(body=_bodies(path))
    def check(body: Any) -> None:
        # json.dumps writes NaN/Infinity, which Python's parser (and so the service) reads
        content = json.dumps(body).encode()
        headers = {**credentials[needs], "Content-Type": "application/json"}
        response = app.request(method, path, content=content, headers=headers)
        assert response.status_code < 500, (body, response.text)
        assert response.headers["content-type"].startswith(
            ("application/json", "application/problem+json")
        )

    check()


@pytest.mark.parametrize(
    ("path", "content"),
    [
        (
            "/v1/authorizers",
            b'{"name": "okta-2", "discovery_url": "https://idp.example/oauth2/'
            b'default/.well-known/openid-configuration", "allowed_audiences": ["a"], '
            b'"custom_claims": [{"claim": "c", "operator": "equals", "value": NaN, '
            b'"value_type": "number"}]}',
        ),
        ("/v1/authorizers", b'{"name": "okta-2", "leeway_seconds": Infinity}'),
        ("/v1/workloads", b'{"name": "agent-2", "jwks": {"keys": [{"kty": "EC", "x": NaN}]}}'),
    ],
)
async def test_non_json_numbers_are_refused(
    client: httpx.AsyncClient,
    service: Service,
    world: Any,
    h: ModuleType,
    path: str,
    content: bytes,
) -> None:
    """NaN and Infinity (which Python's parser accepts) never reach storage."""
    before = h.storage_snapshot(service)
    response = await client.post(
        path, content=content, headers={**h.ADMIN, "Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert h.storage_snapshot(service) == before


async def test_nul_characters_never_reach_storage(
    client: httpx.AsyncClient, service: Service, world: Any, h: ModuleType
) -> None:
    """ERR-RULE-001: PostgreSQL refuses NUL in text; such input is answered, not a 500."""
    import base64

    cursor = base64.urlsafe_b64encode(json.dumps({"l": "workloads", "k": ["\x00"]}).encode())
    cases: list[tuple[str, str, dict[str, Any], int]] = [
        ("POST", "/v1/decisions", {"json": {"authorizer": "a\x00b", "token": "x"},
                                   "headers": world.auth}, 404),
        ("GET", "/v1/authorizers/a%00b", {"headers": h.ADMIN}, 404),
        ("DELETE", "/v1/authorizers/a%00b", {"headers": h.ADMIN}, 404),
        ("GET", "/v1/workloads/a%00b", {"headers": h.ADMIN}, 404),
        ("GET", "/v1/workloads", {"params": {"next_token": cursor.rstrip(b"=").decode()},
                                  "headers": h.ADMIN}, 400),
        ("GET", "/v1/audit/events", {"params": {"workload": "a\x00b"}, "headers": h.ADMIN}, 400),
        ("GET", "/v1/audit/events", {"params": {"user_subject": "a\x00"}, "headers": h.ADMIN},
         400),
        ("POST", "/v1/workload-access-tokens", {"json": {}, "headers": h.basic("wl_\x00", "x")},
         401),
        ("POST", "/v1/authorizers", {"json": h.authorizer_body("okta\x00"), "headers": h.ADMIN},
         400),
    ]  # fmt: skip
    before = h.storage_snapshot(service)
    for method, path, kwargs, status in cases:
        response = await client.request(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.text)
    assert h.storage_snapshot(service) == before
