"""The assembled reference service, in process: storage on SQLite (and PostgreSQL when
``PROCTOR_TEST_POSTGRES_URL`` is set), an IdP served through ``httpx.MockTransport``
from the mock key ring, a manual clock, and an ``httpx.AsyncClient`` over
``httpx.ASGITransport``. No sockets are opened here.
"""

from __future__ import annotations

import base64
import io
import logging
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from joserfc.jwk import RSAKey

from proctor.mock_idps.keys import KeyRing, SigningKey, generate_key
from proctor.reference.clock import ManualClock
from proctor.reference.logs import JsonFormatter
from proctor.reference.service import Service
from proctor.reference.settings import Settings

START = 1_800_000_000.0
ISSUER = "https://idp.example/oauth2/default"
DISCOVERY_URL = f"{ISSUER}/.well-known/openid-configuration"
JWKS_URI = f"{ISSUER}/v1/keys"
AUDIENCE = "api://default"
APP_CLIENT = "0oa-company-app"
SERVICE_ISSUER = "https://proctor.test"
ADMIN_TOKEN = "adm_" + "k" * 60  # a test constant; the service only keeps its HMAC


@dataclass
class FakeIdp:
    """Discovery document + JWKS of one issuer, as an ``httpx.MockTransport`` handler."""

    ring: KeyRing
    issuer: str = ISSUER
    discovery_url: str = DISCOVERY_URL
    jwks_uri: str = JWKS_URI
    down: bool = False
    requests: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.requests.append(url)
        if self.down:
            return httpx.Response(503, text="down")
        if url == self.discovery_url:
            return httpx.Response(
                200,
                json={"issuer": self.issuer, "jwks_uri": self.jwks_uri},
                headers={"Cache-Control": "max-age=300"},
            )
        if url == self.jwks_uri:
            return httpx.Response(
                200, json=self.ring.jwks(), headers={"Cache-Control": "max-age=300"}
            )
        return httpx.Response(404)


@pytest.fixture(scope="session")
def idp_key() -> RSAKey:
    key = generate_key("RS256", "idp-key-1")
    assert isinstance(key, RSAKey)
    return key


@pytest.fixture
def idp(idp_key: RSAKey) -> FakeIdp:
    return FakeIdp(KeyRing([SigningKey(idp_key, "RS256")]))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


class UserTokens:
    """Signs user access tokens as the IdP would (generic profile, ``typ: at+jwt``)."""

    def __init__(self, idp: FakeIdp, clock: ManualClock) -> None:
        self.idp = idp
        self.clock = clock

    def claims(self, **changes: Any) -> dict[str, Any]:
        now = int(self.clock.now())
        claims: dict[str, Any] = {
            "iss": self.idp.issuer,
            "sub": "sarah@company.example",
            "aud": AUDIENCE,
            "client_id": APP_CLIENT,
            "scope": "crm.read openid",
            "groups": ["sales"],
            "iat": now,
            "exp": now + 3600,
            "jti": secrets.token_hex(8),
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def __call__(self, *, header: dict[str, Any] | None = None, **changes: Any) -> str:
        return self.idp.ring.sign(
            self.claims(**changes), header={"typ": "at+jwt", **(header or {})}
        )


@pytest.fixture
def user_tokens(idp: FakeIdp, clock: ManualClock) -> UserTokens:
    return UserTokens(idp, clock)


def make_settings(tmp_path: Path, database_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "issuer": SERVICE_ISSUER,
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "allow_loopback_http": False,
    }
    values.update(changes)
    return Settings(**values)


@pytest.fixture
def service(
    tmp_path: Path, database_url: str, clock: ManualClock, idp: FakeIdp
) -> Iterator[Service]:
    http = httpx.Client(transport=httpx.MockTransport(idp.handle))
    svc = Service.create(
        make_settings(tmp_path, database_url), clock=clock, http_client=http, env={}
    )
    try:
        yield svc
    finally:
        svc.close()
        http.close()


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url=SERVICE_ISSUER) as c:
        yield c


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every JSON log line of the ``proctor`` loggers during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("proctor")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def authorizer_body(name: str = "company-okta", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "discovery_url": DISCOVERY_URL,
        "allowed_audiences": [AUDIENCE],
        "allowed_clients": [APP_CLIENT],
        "allowed_scopes": ["crm.read"],
        "custom_claims": [
            {"claim": "groups", "operator": "contains", "value": "sales", "value_type": "string"}
        ],
    }
    body.update(changes)
    return body


@dataclass
class Workload:
    name: str
    client_id: str
    secret: str

    @property
    def auth(self) -> dict[str, str]:
        return basic(self.client_id, self.secret)


class Api:
    """Control-plane shortcuts for tests (each call asserts its success status)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def create_authorizer(self, name: str = "company-okta", **changes: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/authorizers", json=authorizer_body(name, **changes), headers=ADMIN
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def create_workload(self, name: str = "orchestrator", **changes: Any) -> Workload:
        response = await self.client.post(
            "/v1/workloads", json={"name": name, **changes}, headers=ADMIN
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return Workload(body["name"], body["client_id"], body.get("client_secret", ""))

    async def audit(self, **params: Any) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        token = None
        while True:
            query = {**params, "limit": 100, **({"next_token": token} if token else {})}
            response = await self.client.get("/v1/audit/events", params=query, headers=ADMIN)
            assert response.status_code == 200, response.text
            page = response.json()
            events += page["items"]
            token = page["next_token"]
            if token is None:
                return events


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)


def storage_snapshot(service: Service) -> dict[str, list[dict[str, Any]]]:
    """Every stored row except the audit log's (every request appends to it)."""
    tables = ("authorizers", "workloads", "workload_access_tokens", "client_assertion_jtis")
    with service.database.transaction(readonly=True) as tx:
        return {
            table: tx.fetchall(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608 - fixed names
            for table in tables
        }


@pytest.fixture(scope="session")
def h() -> ModuleType:
    """This module: its constants and helpers, for the tests (``h.ADMIN``, ``h.basic``)."""
    return sys.modules[__name__]
