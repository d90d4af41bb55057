"""The ``agentcore`` profile against the reference service, all of it on loopback sockets.

botocore reaches a target through a socket only, so everything runs for real on
127.0.0.1: the mock Okta (the company IdP whose user tokens the kit mints), the mock CRM
provider (the upstream OAuth server of the 3-legged and M2M flows) and the reference
service under uvicorn, each in a thread. The service verifies SigV4 against static
credentials (an admin and two workload principals, ``agentcore_credentials``); what the
AgentCore control plane cannot express, a workload identity whose authorizer trusts the
mock Okta, is provisioned here through the native control plane, as an operator would
following ``proctor conform setup``.
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from rich.console import Console

from proctor.conformance.config import TargetConfig, parse_config
from proctor.conformance.results import CheckResult, Outcome
from proctor.conformance.runner import RunOptions, run
from proctor.mock_idps.server import LiveServer
from proctor.reference.service import Service
from proctor.reference.settings import Settings

REGION = "eu-central-1"
ADMIN_TOKEN = "adm_" + "c" * 60
ADMIN_KEY = "AKIDCONFADMIN0000001"
ADMIN_SECRET = "conf-admin-secret/0123456789+abcdef"
WORKLOADS = {
    "conf-principal-a": ("AKIDCONFWORKLOADA001", "conf-workload-a-secret/0123456789"),
    "conf-principal-b": ("AKIDCONFWORKLOADB001", "conf-workload-b-secret/0123456789"),
}
JWT_WORKLOAD = "conf-jwt-workload"
RETURN_URL = "http://localhost:8081/oauth2/callback"
CAPABILITIES = [
    "workload_identity",
    "workload_tokens",
    "inbound_authorization",
    "vault",
    "three_legged",
    "consent",
    "workload_principals",
]


class ServiceServer:
    """The reference service on a pre-bound loopback socket (its issuer names the port)."""

    def __init__(self, service: Service, sock: socket.socket) -> None:
        config = uvicorn.Config(
            service.asgi_app(), log_config=None, log_level="warning", access_log=False,
            lifespan="off", ws="none",
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True
        )

    def __enter__(self) -> ServiceServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the reference service did not start")
            time.sleep(0.005)  # waiting for the thread to bind, not pacing a test
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def aws_isolation() -> Iterator[None]:
    """No shared AWS configuration, profile, metadata service or endpoint leaks in."""
    with pytest.MonkeyPatch.context() as patch:
        for name in (
            "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE",
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE_CONTROL",
        ):  # fmt: skip
            patch.delenv(name, raising=False)
        patch.setenv("AWS_CONFIG_FILE", "/nonexistent/proctor-aws-config")
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/proctor-aws-credentials")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield


@dataclass
class Deployment:
    """The running service and mocks, and the kit's target config for them."""

    service: Service
    url: str
    okta: LiveServer
    crm: LiveServer
    dev_mode: bool

    def config(self, **changes: Any) -> TargetConfig:
        agentcore: dict[str, Any] = {
            "region": REGION,
            "dev_mode": self.dev_mode,
            "jwt_workload": JWT_WORKLOAD,
            "user_idp": "okta",
            "oauth_provider": self.crm.url,
            "return_url": RETURN_URL,
        }
        if not self.dev_mode:
            agentcore["credentials"] = {
                "access_key_id": ADMIN_KEY,
                "secret_access_key": ADMIN_SECRET,
            }
            agentcore["workload_principals"] = {
                name: {"access_key_id": key, "secret_access_key": secret}
                for name, (key, secret) in WORKLOADS.items()
            }
        capabilities = [
            c for c in CAPABILITIES if not (self.dev_mode and c == "workload_principals")
        ]
        data: dict[str, Any] = {
            "url": self.url,
            "profile": "agentcore",
            "capabilities": capabilities,
            "mock_idps": {"issuers": {"okta": self.okta.engine.server(None).issuer}},
            "agentcore": agentcore,
        }
        data.update(changes)
        return parse_config(data, interpolate=False)


def _provision_jwt_workload(url: str, okta: LiveServer) -> None:
    """What ``proctor conform setup`` asks of the operator: a workload identity whose
    authorizer accepts the mock Okta's user tokens (native control plane)."""
    issuer = okta.engine.server(None).issuer
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx.Client(base_url=url, timeout=10) as http:
        probe = http.post(f"{okta.url}/_mock/tokens", json={"user": "sarah@example.com"}).json()[
            "claims"
        ]
        aud = probe["aud"] if isinstance(probe["aud"], str) else probe["aud"][0]
        created = http.post(
            "/v1/authorizers",
            headers=admin,
            json={
                "name": "conf-company-okta",
                "discovery_url": f"{issuer}/.well-known/openid-configuration",
                "allowed_audiences": [aud],
                "allowed_clients": [probe["cid"]],
                "idp_profile": "okta",
            },
        )
        assert created.status_code == 201, created.text
        workload = http.post(
            "/v1/workloads",
            headers=admin,
            json={
                "name": JWT_WORKLOAD,
                "authorizer": "conf-company-okta",
                "token_endpoint_auth_method": "client_secret_basic",
            },
        )
        assert workload.status_code == 201, workload.text


@contextlib.contextmanager
def deploy(data_dir: Path, *, dev_mode: bool = False) -> Iterator[Deployment]:
    """The mock Okta, the mock CRM provider and the reference service on loopback."""
    with contextlib.ExitStack() as stack:
        okta = stack.enter_context(LiveServer("okta"))
        crm = stack.enter_context(LiveServer("crm"))
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        stack.callback(sock.close)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        credentials = ",".join(
            [f"{ADMIN_KEY}:{ADMIN_SECRET}:admin"]
            + [f"{key}:{secret}:{name}" for name, (key, secret) in WORKLOADS.items()]
        )
        settings = Settings(
            issuer=url,
            data_dir=data_dir,
            admin_token=ADMIN_TOKEN,
            allow_loopback_http=True,
            agentcore_credentials=None if dev_mode else credentials,
            agentcore_dev_mode=dev_mode,
            agentcore_region=REGION,
        )
        service = Service.create(settings, env={})
        stack.callback(service.close)
        stack.enter_context(ServiceServer(service, sock))
        _provision_jwt_workload(url, okta)
        yield Deployment(service, url, okta, crm, dev_mode)


@pytest.fixture(scope="module")
def deployment(
    aws_isolation: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    with deploy(tmp_path_factory.mktemp("agentcore-sigv4")) as running:
        yield running


@dataclass
class Results:
    results: list[CheckResult]
    console: str

    def by_outcome(self, outcome: Outcome) -> list[CheckResult]:
        return [r for r in self.results if r.outcome is outcome]

    def summary(self) -> str:
        return "\n".join(
            f"{r.outcome.value:<8} {r.name}: {r.message.splitlines()[0] if r.message else ''}"
            for r in self.results
        )


def run_kit(config: TargetConfig, **options: Any) -> Results:
    """The ``agentcore`` suite through the runner API, as ``proctor conform`` runs it."""
    out = io.StringIO()
    outcome = run(
        RunOptions(config=config, suites=["agentcore"], **options),
        console=Console(file=out, width=200),
    )
    return Results(outcome.results, out.getvalue())
