"""The AgentCore-compatible API under test, driven by the real AWS clients.

botocore can only reach an ASGI app through a socket, so each test starts the assembled
service (SQLite) under uvicorn on a loopback port in a thread (``network``) and points
boto3's ``bedrock-agentcore`` and ``bedrock-agentcore-control`` clients at it with static
credentials. The mock Okta plays the company IdP (user tokens) and the upstream OAuth
provider, reached by the service in process through an httpx transport. The service clock
and the mock's clock stand at the wall-clock time of the test's start (botocore signs with
the wall clock) and move together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import uvicorn
from botocore.config import Config

from proctor.mock_idps.pytest_plugin import MockIdp, start_idp
from proctor.reference.clock import ManualClock
from proctor.reference.http.vault import VaultComponents, build_vault
from proctor.reference.service import Service
from proctor.reference.settings import Settings

SERVICE = "https://proctor.test"
CALLBACK = SERVICE + "/oauth2/callback"
ADMIN_TOKEN = "adm_" + "a" * 60
REGION = "eu-west-1"
ACCOUNT = "210987654321"
ADMIN_KEY = "AKIDADMIN0000000001"
ADMIN_SECRET = "admin-secret/0123456789+abcdefghij"
WORKER_KEY = "AKIDWORKER000000001"
WORKER_SECRET = "worker-secret/0123456789+abcdefghi"
GHOST_KEY = "AKIDGHOST0000000001"
GHOST_SECRET = "ghost-secret/0123456789+abcdefghijk"
CREDENTIALS = (
    f"{ADMIN_KEY}:{ADMIN_SECRET}:admin, {WORKER_KEY}:{WORKER_SECRET}:worker,"
    f"{GHOST_KEY}:{GHOST_SECRET}:nobody-here"
)
APP = "0oacompanyapp000001"  # the company app Sarah signs in to (user tokens)
AGENT = "0oaproctoragent0001"  # the service's client at the crm provider
AGENT_SECRET = "crm-s3cret:with%odd+chars/=="
RETURN_URL = "http://localhost:8081/oauth2/callback"
SARAH = "sarah@example.com"
BOB = "bob@example.com"

OKTA_CONFIG: dict[str, Any] = {
    "users": [
        {"username": SARAH, "password": "pw-s", "id": "00usarah000000000001", "groups": ["x"]},
        {"username": BOB, "password": "pw-b", "id": "00ubob00000000000001", "groups": ["x"]},
    ],
    "clients": [
        {
            "client_id": APP,
            "client_secret": "app-secret",
            "redirect_uris": ["https://app.example/return"],
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


@pytest.fixture(autouse=True)
def _aws_isolation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No shared AWS configuration, profile, metadata service or endpoint leaks in."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE",
        "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL",
        "DOCKER_CONTAINER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


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
def now() -> float:
    return float(int(time.time()))


@pytest.fixture
def clock(now: float) -> ManualClock:
    return ManualClock(now)


@pytest.fixture
def okta(now: float) -> Iterator[MockIdp]:
    with start_idp("okta", config=OKTA_CONFIG, headless_user=SARAH, frozen_at=now) as idp:
        yield idp


def settings_for(tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "issuer": SERVICE,
        "data_dir": tmp_path / "data",
        "database_url": f"sqlite:///{tmp_path / 'proctor.db'}",
        "admin_token": ADMIN_TOKEN,
        "allow_loopback_http": True,
        "agentcore_credentials": CREDENTIALS,
        "agentcore_region": REGION,
        "agentcore_account_id": ACCOUNT,
    }
    values.update(changes)
    return Settings(**values)


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
    service.vault_components = components  # type: ignore[attr-defined]
    return components


def make_service(
    tmp_path: Path, clock: ManualClock, okta: MockIdp, **changes: Any
) -> tuple[Service, httpx.Client]:
    http = httpx.Client(transport=Router({"example.okta.com": okta.sync_transport()}))
    service = Service.create(
        settings_for(tmp_path, **changes), clock=clock, http_client=http, env={}
    )
    vault_of(service)
    return service, http


@pytest.fixture
def service(tmp_path: Path, clock: ManualClock, okta: MockIdp) -> Iterator[Service]:
    svc, http = make_service(tmp_path, clock, okta)
    try:
        yield svc
    finally:
        svc.close()
        http.close()


class LiveServer:
    """uvicorn serving an ASGI app on a loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", ws="none"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def endpoint(service: Service) -> Iterator[str]:
    with LiveServer(service.asgi_app()) as url:
        yield url


def client(
    service_name: str,
    endpoint: str,
    key: str = ADMIN_KEY,
    secret: str = ADMIN_SECRET,
    **config: Any,
) -> Any:
    return boto3.client(
        service_name,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, **config),
    )


@dataclass
class Clients:
    endpoint: str
    cp: Any
    dp: Any
    worker_dp: Any
    worker_cp: Any


@pytest.fixture
def aws(endpoint: str) -> Clients:
    """boto3 clients: the admin on both planes, the ``worker`` workload on both."""
    return Clients(
        endpoint,
        client("bedrock-agentcore-control", endpoint),
        client("bedrock-agentcore", endpoint),
        client("bedrock-agentcore", endpoint, WORKER_KEY, WORKER_SECRET),
        client("bedrock-agentcore-control", endpoint, WORKER_KEY, WORKER_SECRET),
    )
