"""The assembled service's token service over HTTP, in process.

``Service.create(...)`` over a fresh SQLite file (and a fresh PostgreSQL schema when
``PROCTOR_TEST_POSTGRES_URL`` is set), a :class:`ManualClock`, and the mock Okta from the
``okta_idp`` fixture (in-process transport) as the company IdP that signs Sarah's token.
Requests go through ``httpx.ASGITransport`` to ``service.asgi_app()``: no socket is opened.

:class:`Harness` drives the service as the scenario's parties would: the operator
(control plane, admin credential), the workloads (each with its own client
authentication method) and the IdP (Okta's minting API).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jws
from joserfc.jwk import ECKey

from proctor.mock_idps.pytest_plugin import MockIdp
from proctor.reference.clock import ManualClock
from proctor.reference.service import Service
from proctor.reference.settings import Settings

START = 1_800_000_000.0
ISSUER = "https://proctor.test"
ADMIN_TOKEN = "adm_" + "s" * 60  # a test constant; the service keeps only its HMAC
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
AGENT_APP = "0oaproctoragent0app7"
OKTA_AUDIENCE = "api://default"
SARAH = "sarah@example.com"
SARAH_ID = "00uproctorsarah00001"
SARAH_SCOPES = ("crm.read", "finance.read", "docs.write")
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ID_TOKEN = "urn:ietf:params:oauth:token-type:id_token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CRM_MCP = "https://crm.example/mcp"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

#: Every module of this folder: anyio, and Okta's clock frozen where the service's starts.
MARKS = [pytest.mark.anyio, pytest.mark.mock_idp(frozen_at=START)]


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a compact JWS, unverified (for assertions about what was issued)."""
    payload = token.split(".")[1]
    value: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return value


def header_of(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return value


def form_body(pairs: Sequence[tuple[str, str]]) -> bytes:
    """An ``application/x-www-form-urlencoded`` body, pairs in order (repeats kept)."""
    return urlencode(list(pairs)).encode("ascii")


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


def make_settings(tmp_path: Path, database_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "allow_loopback_http": False,
        # The timings in these tests (rotation, pruning, expiry) are written for a
        # 10-minute token lifetime; the service default is 15 (TX-EXP-003).
        "access_token_ttl": 600,
    }
    values.update(changes)
    return Settings(**values)


def start_service(
    tmp_path: Path, database_url: str, clock: ManualClock, okta: MockIdp, **changes: Any
) -> tuple[Service, httpx.Client]:
    http = httpx.Client(transport=okta.sync_transport())
    service = Service.create(
        make_settings(tmp_path, database_url, **changes), clock=clock, http_client=http, env={}
    )
    return service, http


@pytest.fixture
def service(
    tmp_path: Path, database_url: str, clock: ManualClock, okta_idp: MockIdp
) -> Iterator[Service]:
    svc, http = start_service(tmp_path, database_url, clock, okta_idp)
    try:
        yield svc
    finally:
        svc.close()
        http.close()


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as c:
        yield c


# -- the parties ------------------------------------------------------------------------


@dataclass
class Workload:
    """A registered workload and how it authenticates at the OAuth endpoints."""

    name: str
    client_id: str
    method: str
    secret: str = field(default="", repr=False)
    key: ECKey | None = field(default=None, repr=False)
    kid: str = "wl-key-1"

    def assertion(self, now: float, **changes: Any) -> str:
        """A fresh RFC 7523 client assertion (WID-PKJ-001..005)."""
        assert self.key is not None
        claims: dict[str, Any] = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": ISSUER,
            "jti": secrets.token_hex(12),
            "iat": int(now),
            "exp": int(now) + 120,
        }
        claims.update(changes)
        header = {"alg": "ES256", "kid": self.kid, "typ": "JWT"}
        payload = json.dumps({k: v for k, v in claims.items() if v is not None}).encode()
        return jws.serialize_compact(header, payload, self.key, algorithms=["ES256"])

    def credentials(self, now: float) -> tuple[dict[str, str], list[tuple[str, str]]]:
        """``(headers, form pairs)`` authenticating this workload by its method."""
        if self.method == "client_secret_basic":
            return basic(self.client_id, self.secret), []
        if self.method == "client_secret_post":
            return {}, [("client_id", self.client_id), ("client_secret", self.secret)]
        return {}, [
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", self.assertion(now)),
        ]


class Harness:
    """The operator, the workloads and the IdP, over one service."""

    def __init__(
        self, client: httpx.AsyncClient, service: Service, okta: MockIdp, clock: ManualClock
    ) -> None:
        self.client = client
        self.service = service
        self.okta = okta
        self.clock = clock
        self.workloads: dict[str, Workload] = {}

    @property
    def okta_issuer(self) -> str:
        return self.okta.issuer()

    def advance(self, seconds: float) -> None:
        """Move the service's and Okta's clocks together."""
        self.clock.advance(seconds)
        self.okta.clock.advance(seconds)

    # -- the IdP --------------------------------------------------------------------------

    def sarah(self, scopes: Sequence[str] = SARAH_SCOPES, **mint: Any) -> str:
        """Sarah's access token from the company's Okta (audience ``api://default``)."""
        return self.okta.mint(user=SARAH, client_id=AGENT_APP, scopes=list(scopes), **mint)

    # -- the operator ---------------------------------------------------------------------

    async def authorizer(self, name: str = "company-okta") -> None:
        response = await self.client.post(
            "/v1/authorizers",
            json={
                "name": name,
                "discovery_url": self.okta.discovery_url(),
                "idp_profile": "okta",
                "allowed_audiences": [OKTA_AUDIENCE],
                "allowed_clients": [AGENT_APP],
            },
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text

    async def workload(
        self,
        name: str,
        method: str = "client_secret_basic",
        *,
        authorizer: str | None = None,
        **changes: Any,
    ) -> Workload:
        body: dict[str, Any] = {
            "name": name,
            "token_endpoint_auth_method": method,
            "authorizer": authorizer,
        }
        key: ECKey | None = None
        if method == "private_key_jwt":
            key = ECKey.import_key(ec.generate_private_key(ec.SECP256R1()))
            public = key.as_dict(private=False)
            body["jwks"] = {"keys": [{**public, "kid": "wl-key-1", "alg": "ES256", "use": "sig"}]}
        body.update(changes)
        response = await self.client.post("/v1/workloads", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        created = response.json()
        workload = Workload(
            name, created["client_id"], method, created.get("client_secret", ""), key
        )
        self.workloads[name] = workload
        return workload

    async def policy(self, name: str, client: str, **members: Any) -> dict[str, Any]:
        body = {"name": name, "client": client, **members}
        response = await self.client.post("/v1/exchange-policies", json=body, headers=ADMIN)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

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

    # -- the workloads ----------------------------------------------------------------------

    async def post(
        self,
        path: str,
        workload: Workload | None,
        pairs: Sequence[tuple[str, str]],
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """A form POST authenticated as ``workload`` (by its method), or anonymous."""
        sent_headers = dict(FORM)
        form = list(pairs)
        if workload is not None:
            auth_headers, auth_pairs = workload.credentials(self.clock.now())
            sent_headers.update(auth_headers)
            form += auth_pairs
        sent_headers.update(headers or {})
        body = form_body(form)
        return await self.client.post(path, content=body, headers=sent_headers)

    async def token(
        self, workload: Workload | None, pairs: Sequence[tuple[str, str]]
    ) -> httpx.Response:
        return await self.post("/oauth2/token", workload, pairs)

    async def cc(
        self, workload: Workload, *targets: tuple[str, str], scope: str | None = None
    ) -> str:
        """The workload's own ``client_credentials`` token."""
        pairs = [("grant_type", "client_credentials"), *targets]
        if scope is not None:
            pairs.append(("scope", scope))
        response = await self.token(workload, pairs)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def exchange(
        self,
        workload: Workload,
        subject: str,
        *,
        actor: str | None = "own",
        audience: Sequence[str] = (),
        resource: Sequence[str] = (),
        scope: str | None = None,
        subject_type: str = ACCESS_TOKEN,
        actor_type: str = ACCESS_TOKEN,
        extra: Sequence[tuple[str, str]] = (),
    ) -> httpx.Response:
        """An RFC 8693 request; ``actor="own"`` sends the workload's own token."""
        pairs = [
            ("grant_type", TOKEN_EXCHANGE),
            ("subject_token", subject),
            ("subject_token_type", subject_type),
        ]
        if actor == "own":
            actor = await self.cc(workload)
        if actor is not None:
            pairs += [("actor_token", actor), ("actor_token_type", actor_type)]
        pairs += [("audience", a) for a in audience] + [("resource", r) for r in resource]
        if scope is not None:
            pairs.append(("scope", scope))
        pairs += list(extra)
        return await self.token(workload, pairs)

    async def exchanged(self, workload: Workload, subject: str, **options: Any) -> str:
        response = await self.exchange(workload, subject, **options)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    async def introspect(self, workload: Workload, token: str) -> dict[str, Any]:
        response = await self.post("/oauth2/introspect", workload, [("token", token)])
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def revoke(self, workload: Workload, token: str) -> httpx.Response:
        return await self.post("/oauth2/revoke", workload, [("token", token)])


@pytest.fixture
def harness(
    client: httpx.AsyncClient, service: Service, okta_idp: MockIdp, clock: ManualClock
) -> Harness:
    return Harness(client, service, okta_idp, clock)


@dataclass
class Scenario:
    """Sarah's company: an Okta authorizer, the orchestrator, its sub-agent and the CRM's
    MCP tool, each with another authentication method, and their exchange policies."""

    orchestrator: Workload
    subagent: Workload
    tool: Workload


async def build_scenario(h: Harness, **orchestrator_policy: Any) -> Scenario:
    await h.authorizer()
    orchestrator = await h.workload("orchestrator", authorizer="company-okta")
    subagent = await h.workload("subagent", "client_secret_post")
    tool = await h.workload("crm-tool", "private_key_jwt")
    await h.policy(
        "orchestrator-to-subagent",
        "orchestrator",
        subject_issuers=[h.okta_issuer],
        audiences=[subagent.client_id],
        scopes=["crm.read", "finance.read"],
        **orchestrator_policy,
    )
    await h.policy(
        "subagent-to-tool",
        "subagent",
        subject_issuers=["self"],
        audiences=[tool.client_id],
        resources=[CRM_MCP],
        scopes=["crm.read", "finance.read"],
    )
    await h.policy(
        "tool-to-crm",
        "crm-tool",
        subject_issuers=["self"],
        resources=[CRM_MCP + "/notes"],
        scopes=["crm.read"],
    )
    return Scenario(orchestrator, subagent, tool)


@pytest.fixture
async def scenario(harness: Harness) -> Scenario:
    return await build_scenario(harness)
