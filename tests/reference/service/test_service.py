"""The composition root: secrets on first start, configuration checks, the ASGI app."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from proctor.reference.clock import ManualClock
from proctor.reference.service import ADMIN_FILE, KEYS_FILE, Service


def _sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db' / 'proctor.db'}"


async def _status(service: Service, path: str, headers: dict[str, str]) -> int:
    transport = httpx.ASGITransport(app=service.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="https://proctor.test") as c:
        return (await c.get(path, headers=headers)).status_code


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_first_start_generates_the_admin_credential_once(
    tmp_path: Path, h: ModuleType
) -> None:
    """WID-ADMIN-001: generated (≥ 256 bits), stored only as an HMAC in a 0600 file in a
    0700 directory, handed out on the first start only, and it opens the control plane."""
    settings = h.make_settings(tmp_path, _sqlite(tmp_path), admin_token=None)
    first = Service.create(settings, clock=ManualClock(), env={})
    token = first.generated_admin_token
    assert token is not None
    assert len(token) >= 43
    data_dir = Path(settings.data_dir)
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for name in (KEYS_FILE, ADMIN_FILE):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600
    stored = (data_dir / ADMIN_FILE).read_text()
    assert token not in stored
    assert await _status(first, "/v1/workloads", {"Authorization": f"Bearer {token}"}) == 200
    first.close()

    second = Service.create(settings, clock=ManualClock(), env={})
    try:
        assert second.generated_admin_token is None
        assert await _status(second, "/v1/workloads", {"Authorization": f"Bearer {token}"}) == 200
        assert await _status(second, "/v1/workloads", {"Authorization": "Bearer x" * 8}) == 401
    finally:
        second.close()


def test_a_short_admin_credential_refuses_to_start(tmp_path: Path, h: ModuleType) -> None:
    """WID-ADMIN-001: fewer than 32 bytes → the service does not start."""
    settings = h.make_settings(tmp_path, _sqlite(tmp_path), admin_token="short")
    with pytest.raises(ValueError, match="32 bytes"):
        Service.create(settings, env={})


@pytest.mark.anyio
async def test_pepper_and_kek_from_the_environment(tmp_path: Path, h: ModuleType) -> None:
    """Secrets from the environment are used and nothing is written for them."""
    env = {
        "PROCTOR_CREDENTIAL_PEPPER": base64.urlsafe_b64encode(b"p" * 32).decode(),
        "PROCTOR_KEK": base64.urlsafe_b64encode(b"k" * 32).decode(),
    }
    settings = h.make_settings(tmp_path, _sqlite(tmp_path))
    service = Service.create(settings, env=env)
    try:
        assert not (Path(settings.data_dir) / KEYS_FILE).exists()
        sealed = service.envelope.seal(b"vault entry", b"row")
        assert service.envelope.open(sealed, b"row") == b"vault entry"
        assert await _status(service, "/v1/workloads", h.ADMIN) == 200
    finally:
        service.close()


@pytest.mark.parametrize(
    ("issuer", "loopback"),
    [
        ("http://proctor.example", True),
        ("http://127.0.0.1:8700", False),
        ("https://proctor.example/?tenant=1", True),
        ("https://proctor.example/#frag", True),
        ("proctor.example", True),
    ],
)
def test_an_invalid_issuer_refuses_to_start(
    tmp_path: Path, h: ModuleType, issuer: str, loopback: bool
) -> None:
    """TERM-ISS-001, TERM-DEV-001."""
    settings = h.make_settings(
        tmp_path, _sqlite(tmp_path), issuer=issuer, allow_loopback_http=loopback
    )
    with pytest.raises(ValueError, match="issuer"):
        Service.create(settings, env={})


def test_loopback_http_issuer_in_development_mode_is_reported(
    tmp_path: Path, h: ModuleType, captured_logs: Any
) -> None:
    """TERM-DEV-001: accepted, and the startup log says development mode is on."""
    settings = h.make_settings(
        tmp_path, _sqlite(tmp_path), issuer="http://127.0.0.1:8700", allow_loopback_http=True
    )
    service = Service.create(settings, env={})
    service.close()
    lines = [json.loads(line) for line in captured_logs.getvalue().splitlines()]
    assert any("development mode" in line["message"] for line in lines)
    assert h.ADMIN_TOKEN not in captured_logs.getvalue()


@pytest.mark.parametrize("ttl", [59, 3601])
def test_workload_token_lifetime_is_bounded(tmp_path: Path, h: ModuleType, ttl: int) -> None:
    """WAT-LIFE-001: 60-3600 seconds."""
    settings = h.make_settings(tmp_path, _sqlite(tmp_path), workload_token_ttl=ttl)
    with pytest.raises(ValueError, match="WAT-LIFE-001"):
        Service.create(settings, env={})


@pytest.mark.anyio
async def test_unexpected_errors_are_a_quiet_detail_free_500(
    tmp_path: Path, h: ModuleType, captured_logs: Any
) -> None:
    """The outer wrapper: the handler's 500 is the answer and the exception does not
    escape to the server (ASGITransport would re-raise it)."""

    def boom(_: Request) -> Response:
        raise RuntimeError("secret-detail-" + h.ADMIN_TOKEN)

    service = Service.create(h.make_settings(tmp_path, _sqlite(tmp_path)), env={})
    service.extra_routes.append(Route("/boom", boom))
    try:
        transport = httpx.ASGITransport(app=service.asgi_app())
        async with httpx.AsyncClient(transport=transport, base_url="https://proctor.test") as c:
            response = await c.get("/boom")
    finally:
        service.close()
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal_error"
    assert "secret-detail" not in response.text
    assert "secret-detail" not in captured_logs.getvalue()


@pytest.mark.anyio
async def test_health_readiness_and_metrics(
    client: httpx.AsyncClient, api: Any, h: ModuleType, user_tokens: Any
) -> None:
    """Operations: /healthz, /readyz, and the decision, JWKS and WAT metrics."""
    assert (await client.get("/healthz")).status_code == 200
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}
    await api.create_authorizer()
    workload = await api.create_workload(authorizer="company-okta")
    await client.post(
        "/v1/decisions",
        json={"authorizer": "company-okta", "token": user_tokens()},
        headers=workload.auth,
    )
    await client.post(
        "/v1/decisions",
        json={"authorizer": "company-okta", "token": "garbage"},
        headers=workload.auth,
    )
    await client.post("/v1/workload-access-tokens", json={}, headers=workload.auth)
    metrics = (await client.get("/metrics")).text
    assert 'proctor_decisions_total{result="allow",reason="ok"} 1' in metrics
    assert 'proctor_decisions_total{result="deny",reason="malformed"} 1' in metrics
    assert 'proctor_jwks_fetches_total{document="jwks",outcome="ok"} 1' in metrics
    assert 'proctor_jwks_fetches_total{document="discovery",outcome="ok"} 1' in metrics
    assert 'proctor_workload_access_tokens_issued_total{user="none"} 1' in metrics


def test_readiness_fails_when_storage_is_gone(tmp_path: Path, h: ModuleType) -> None:
    service = Service.create(h.make_settings(tmp_path, _sqlite(tmp_path)), env={})
    assert service.ready()
    service.close()
    assert not service.ready()
