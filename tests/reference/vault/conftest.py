"""The vault under test: the assembled service (SQLite, and PostgreSQL when
``PROCTOR_TEST_POSTGRES_URL`` is set) with the vault's routes, the mock Okta as both the
company IdP (user tokens) and the upstream OAuth provider (its ``crm`` custom authorization
server), and a scripted provider for what Okta cannot be made to do. Everything runs in
process: the service reaches the providers through httpx transports, the tests reach the
service through ``httpx.ASGITransport``. Time is a ManualClock for the service and the mock's
frozen clock, moved together.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

import httpx
import pytest

from proctor.mock_idps.profile import Endpoint
from proctor.mock_idps.pytest_plugin import MockIdp, start_idp
from proctor.reference.audit_trail import Trail
from proctor.reference.clock import ManualClock
from proctor.reference.http.vault import VaultComponents, build_vault
from proctor.reference.logs import JsonFormatter
from proctor.reference.sealing import Sealer
from proctor.reference.service import Service
from proctor.reference.settings import Settings
from proctor.reference.storage.vault import EntryKey, EntryRepository

START = 1_800_000_000
SERVICE = "https://proctor.test"
CALLBACK = SERVICE + "/oauth2/callback"
ADMIN_TOKEN = "adm_" + "v" * 60
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
APP = "0oacompanyapp000001"  # the company app Sarah signs in to (user tokens)
AGENT = "0oaproctorvault0001"  # the service's client at the crm provider
# A secret with characters that break clients skipping RFC 6749 §2.3.1's form-encoding.
AGENT_SECRET = "crm-s3cret:with%odd+chars/=="
RETURN_URL = "https://app.example/oauth/return"
OTHER_RETURN_URL = "https://app.example/oauth/other"
SARAH = "sarah@example.com"
BOB = "bob@example.com"
FAKE = "https://fake.provider.test"

OKTA_CONFIG: dict[str, Any] = {
    "users": [
        {
            "username": SARAH,
            "password": "sarah-pw",
            "id": "00usarah000000000001",
            "groups": ["sales"],
        },
        {"username": BOB, "password": "bob-pw", "id": "00ubob00000000000001", "groups": ["sales"]},
    ],
    "clients": [
        {
            "client_id": APP,
            "client_secret": "app-secret",
            "redirect_uris": [RETURN_URL],
            "grant_types": ["authorization_code", "refresh_token"],
            "consent": False,
        },
        {
            "client_id": AGENT,
            "client_secret": AGENT_SECRET,
            "redirect_uris": [CALLBACK],
            "grant_types": [
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "token_exchange",
            ],
            "consent": False,
        },
    ],
    "apis": [
        {"id": "default", "audience": "api://default", "scopes": ["crm.read"]},
        {
            "id": "crm",
            "audience": "api://crm",
            "scopes": ["notes.read", "notes.write"],
            "trusted_servers": ["default"],
        },
    ],
}


@dataclass
class FakeProvider:
    """A scripted authorization server at ``https://fake.provider.test`` for the answers
    Okta cannot be made to give (vendor quirks, malformed responses, outages). ``script``
    maps a path to a callable ``(request, form) -> httpx.Response``."""

    script: dict[str, Callable[[httpx.Request, dict[str, list[str]]], httpx.Response]] = field(
        default_factory=dict
    )
    requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        form: dict[str, list[str]] = {}
        for key, value in parse_qsl(request.content.decode(), keep_blank_values=True):
            form.setdefault(key, []).append(value)
        path = request.url.path
        self.requests.append((path, form, dict(request.headers)))
        handler = self.script.get(path)
        if handler is None:
            return httpx.Response(404, json={"error": "not_found"})
        return handler(request, form)

    def calls(self, path: str) -> list[dict[str, list[str]]]:
        return [form for p, form, _ in self.requests if p == path]


class Router(httpx.BaseTransport):
    """Sends each request to the transport of its host."""

    def __init__(self, routes: dict[str, httpx.BaseTransport]) -> None:
        self.routes = routes

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        transport = self.routes.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError("no route to host", request=request)
        return transport.handle_request(request)


@pytest.fixture
def okta() -> Iterator[MockIdp]:
    with start_idp("okta", config=OKTA_CONFIG, headless_user=SARAH, frozen_at=START) as idp:
        yield idp


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def settings_for(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        issuer=SERVICE,
        data_dir=tmp_path / "data",
        database_url=database_url,
        admin_token=ADMIN_TOKEN,
        allow_loopback_http=False,
    )


def vault_of(service: Service) -> VaultComponents:
    """The service's vault: wired by the composition root, or built here if it is not."""
    wired = getattr(service, "vault_components", None)
    if isinstance(wired, VaultComponents):
        return wired
    components = build_vault(
        database=service.database,
        clock=service.clock,
        envelope=service.envelope,
        audit=service.audit,
        recorder=service.recorder,
        admin=service.admin,
        authenticator=service.workload_auth,
        tokens=service.workload_tokens,
        authorizers=service.authorizers,
        directory=service.directory,
        metrics=service.metrics,
        http=service.http,
        issuer=service.issuer,
        allow_loopback_http=service.settings.allow_loopback_http,
        session_ttl=service.settings.session_ttl,
    )
    service.extra_routes.extend(components.routes.routes())
    service.vault_components = components
    return components


@pytest.fixture
def service(
    tmp_path: Path, database_url: str, clock: ManualClock, okta: MockIdp, fake: FakeProvider
) -> Iterator[Service]:
    router = Router(
        {
            "example.okta.com": okta.sync_transport(),
            "fake.provider.test": httpx.MockTransport(fake.handle),
        }
    )
    http = httpx.Client(transport=router)
    svc = Service.create(
        settings_for(tmp_path, database_url), clock=clock, http_client=http, env={}
    )
    vault_of(svc)
    try:
        yield svc
    finally:
        svc.close()
        http.close()


@pytest.fixture
def components(service: Service) -> VaultComponents:
    return vault_of(service)


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url=SERVICE) as c:
        yield c


@pytest.fixture
async def browser(okta: MockIdp) -> AsyncIterator[httpx.AsyncClient]:
    async with okta.async_client() as c:
        yield c


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("proctor")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def form_basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: Basic over the form-urlencoded client id and secret."""
    return basic(quote_plus(client_id, safe=""), quote_plus(secret, safe=""))


def session_secrets(service: Service, session_uri: str) -> dict[str, Any]:
    """The sealed part of a stored session (state, verifier, URL, pending tokens)."""
    record = vault_of(service).sessions.repository.get(session_uri)
    assert record is not None
    assert record.sealed is not None
    return Sealer(service.envelope).open(record.aad_identity(), record.sealed)


def entry_secrets(service: Service, key: EntryKey) -> dict[str, Any] | None:
    """The sealed token set of a vault entry, or None when there is no entry."""
    record = EntryRepository(service.database, service.clock).get(key)
    if record is None:
        return None
    return Sealer(service.envelope).open(key.aad_identity(), record.sealed)


@dataclass
class Workload:
    name: str
    client_id: str
    secret: str

    @property
    def auth(self) -> dict[str, str]:
        return basic(self.client_id, self.secret)


class World:
    """The scenario: the admin's setup, the users' tokens, the flows (each step asserts
    its success status, so a test reads as the spec's sequence)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        browser: httpx.AsyncClient,
        okta: MockIdp,
        clock: ManualClock,
        service: Service,
        fake: FakeProvider,
    ) -> None:
        self.client = client
        self.browser = browser
        self.okta = okta
        self.clock = clock
        self.service = service
        self.fake = fake

    @property
    def components(self) -> VaultComponents:
        return vault_of(self.service)

    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.okta.clock.advance(seconds)

    def key(self, workload: Workload, user: str = SARAH, provider: str = "crm") -> EntryKey:
        """The vault entry of (workload, Okta user, provider): Okta's user key is ``uid``."""
        user_id = next(u["id"] for u in OKTA_CONFIG["users"] if u["username"] == user)
        return EntryKey(workload.client_id, self.okta.issuer("default"), user_id, provider)

    async def okta_post(self, endpoint: Endpoint, data: dict[str, str]) -> httpx.Response:
        """A request of the service's own client to the crm server (introspect, revoke)."""
        return await self.browser.post(
            self.okta.url(endpoint, "crm"), data=data, headers=form_basic(AGENT, AGENT_SECRET)
        )

    def token_requests(self, grant_type: str) -> list[Any]:
        return [e for e in self.okta.requests("token") if e.form.get("grant_type") == grant_type]

    def trail(self) -> Trail:
        return Trail.internal(self.service.audit)

    # -- admin ----------------------------------------------------------------------

    async def setup_authorizer(self) -> None:
        r = await self.client.post(
            "/v1/authorizers",
            headers=ADMIN,
            json={
                "name": "company-okta",
                "discovery_url": self.okta.discovery_url("default"),
                "allowed_audiences": ["api://default"],
                "allowed_clients": [APP],
                "idp_profile": "okta",
            },
        )
        assert r.status_code == 201, r.text

    async def workload(self, name: str = "orchestrator", **changes: Any) -> Workload:
        body = {
            "name": name,
            "authorizer": "company-okta",
            "allowed_return_urls": [RETURN_URL],
            "allow_user_id_tokens": True,
            **changes,
        }
        r = await self.client.post("/v1/workloads", headers=ADMIN, json=body)
        assert r.status_code == 201, r.text
        data = r.json()
        return Workload(data["name"], data["client_id"], data["client_secret"])

    def crm_body(self, name: str = "crm", **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": name,
            "vendor": "okta",
            "discovery_url": self.okta.discovery_url("crm"),
            "client_id": AGENT,
            "client_secret": AGENT_SECRET,
            "scopes": ["notes.read", "notes.write"],
            "on_behalf_of": {"grant": "token_exchange", "audience": "api://crm"},
        }
        body.update(changes)
        return body

    async def provider(self, name: str = "crm", **changes: Any) -> dict[str, Any]:
        r = await self.client.post(
            "/v1/providers/oauth2", headers=ADMIN, json=self.crm_body(name, **changes)
        )
        assert r.status_code == 201, r.text
        data: dict[str, Any] = r.json()
        return data

    async def setup(self) -> Workload:
        await self.setup_authorizer()
        workload = await self.workload()
        await self.provider()
        return workload

    # -- users and workload access tokens ----------------------------------------------

    def user_token(self, user: str = SARAH, **request: Any) -> str:
        return self.okta.mint(user=user, client_id=APP, server="default", **request)

    async def wat(
        self, workload: Workload, *, user: str | None = SARAH, user_id: str | None = None
    ) -> str:
        body: dict[str, Any] = {}
        if user_id is not None:
            body = {"user_id": user_id}
        elif user is not None:
            body = {"user_token": self.user_token(user)}
        r = await self.client.post("/v1/workload-access-tokens", headers=workload.auth, json=body)
        assert r.status_code == 200, r.text
        token: str = r.json()["workload_access_token"]
        return token

    # -- resource tokens ------------------------------------------------------------------

    async def resource(
        self, workload: Workload, wat: str, *, expect: int | None = 200, **body: Any
    ) -> httpx.Response:
        payload = {
            "workload_access_token": wat,
            "provider": "crm",
            "scopes": ["notes.read"],
            "flow": "user_federation",
            **body,
        }
        r = await self.client.post(
            "/v1/resource-tokens/oauth2", headers=workload.auth, json=payload
        )
        if expect is not None:
            assert r.status_code == expect, r.text
        return r

    async def authorize(self, url: str) -> str:
        """The user's browser at the provider (headless approval): the callback URL."""
        r = await self.browser.get(url)
        assert r.status_code == 302, r.text
        location = r.headers["location"]
        assert location.startswith(CALLBACK), location
        return location

    async def callback(self, url: str) -> httpx.Response:
        parts = urlsplit(url)
        return await self.client.get(parts.path + ("?" + parts.query if parts.query else ""))

    async def complete(
        self, workload: Workload, session_uri: str, *, user: str = SARAH, expect: int = 200
    ) -> httpx.Response:
        r = await self.client.post(
            "/v1/sessions/complete",
            headers=workload.auth,
            json={"session_uri": session_uri, "user_token": self.user_token(user)},
        )
        assert r.status_code == expect, r.text
        return r

    async def consent_flow(
        self, workload: Workload, wat: str, *, user: str = SARAH, **body: Any
    ) -> dict[str, Any]:
        """Request, authorize at the provider, callback, complete, poll: the token."""
        started = (await self.resource(workload, wat, **body)).json()
        assert started["session_status"] == "in_progress", started
        redirect = await self.callback(await self.authorize(started["authorization_url"]))
        assert redirect.status_code == 303, redirect.text
        await self.complete(workload, started["session_uri"], user=user)
        polled = await self.resource(workload, wat, session_uri=started["session_uri"], **body)
        data: dict[str, Any] = polled.json()
        assert "access_token" in data, data
        return data

    # -- audit -------------------------------------------------------------------------------

    async def audit(self, **params: Any) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token = None
        while True:
            query = {**params, "limit": 100, **({"next_token": token} if token else {})}
            r = await self.client.get("/v1/audit/events", params=query, headers=ADMIN)
            assert r.status_code == 200, r.text
            page = r.json()
            events += page["items"]
            token = page["next_token"]
            if token is None:
                return events


@pytest.fixture
def world(
    client: httpx.AsyncClient,
    browser: httpx.AsyncClient,
    okta: MockIdp,
    clock: ManualClock,
    service: Service,
    fake: FakeProvider,
) -> World:
    return World(client, browser, okta, clock, service, fake)


def token_response(**members: Any) -> httpx.Response:
    return httpx.Response(200, json=members, headers={"Cache-Control": "no-store"})


def form_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "request_id"}


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


@pytest.fixture
def h() -> ModuleType:
    """This module's constants and helpers, for the tests."""
    return sys.modules[__name__]
