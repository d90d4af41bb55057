"""Rate limits of the assembled service (SEC-DOS-002, ERR-OAUTH-004): failed client
authentications per ``client_id`` and per source address, request rates at the OAuth
endpoints and the data plane; on a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from proctor.reference.clock import ManualClock
from proctor.reference.service import Service

pytestmark = pytest.mark.anyio

Clients = Callable[..., Any]


@pytest.fixture
def limited(
    tmp_path: Path, database_url: str, clock: ManualClock, idp: Any, h: ModuleType
) -> Clients:
    """``limited(**settings)``: an async context of (service, client factory by address)."""

    @asynccontextmanager
    async def open_(**changes: Any) -> AsyncIterator[tuple[Service, Callable[[str], Any]]]:
        http = httpx.Client(transport=httpx.MockTransport(idp.handle))
        service = Service.create(
            h.make_settings(tmp_path, database_url, **changes),
            clock=clock,
            http_client=http,
            env={},
        )
        app = service.asgi_app()
        clients: list[httpx.AsyncClient] = []

        def client(address: str = "198.51.100.7") -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            made = httpx.AsyncClient(transport=transport, base_url=h.SERVICE_ISSUER)
            clients.append(made)
            return made

        try:
            yield service, client
        finally:
            for made in clients:
                await made.aclose()
            service.close()
            http.close()

    return open_


async def _workload(client: httpx.AsyncClient, h: ModuleType, name: str) -> Any:
    response = await client.post("/v1/workloads", json={"name": name}, headers=h.ADMIN)
    assert response.status_code == 201, response.text
    body = response.json()
    return h.Workload(body["name"], body["client_id"], body["client_secret"])


def _token(client: httpx.AsyncClient, auth: dict[str, str]) -> Any:
    return client.post("/oauth2/token", data={"grant_type": "client_credentials"}, headers=auth)


def _assert_oauth_429(response: httpx.Response, *secrets: str) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {
        "error": "temporarily_unavailable",
        "error_description": response.json()["error_description"],
    }
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    for secret in secrets:
        assert secret not in response.text


async def test_failed_authentications_per_client_id_end_in_429(
    limited: Clients, h: ModuleType, clock: ManualClock
) -> None:
    """SEC-DOS-002, ERR-OAUTH-004: after 20 failed authentications of one ``client_id`` a
    minute, the next request for it (even with the right secret) is 429
    ``temporarily_unavailable`` with ``Retry-After``; another client from the same address
    is unaffected; the bucket refills with time."""
    async with limited() as (_, client):
        c = client()
        target = await _workload(c, h, "target")
        other = await _workload(c, h, "bystander")
        wrong = h.basic(target.client_id, target.secret + "x")
        for _ in range(20):
            assert (await _token(c, wrong)).status_code == 401
        _assert_oauth_429(await _token(c, wrong), target.secret)
        _assert_oauth_429(await _token(c, target.auth), target.secret)
        assert (await _token(c, other.auth)).status_code == 200
        clock.advance(3)  # one failure's worth of refill (20 per 60 s)
        assert (await _token(c, target.auth)).status_code == 200


async def test_successful_authentications_are_not_failures(limited: Clients, h: ModuleType) -> None:
    """SEC-DOS-002: successes do not count towards the failed-authentication limit."""
    async with limited() as (_, client):
        c = client()
        target = await _workload(c, h, "target")
        for _ in range(30):
            assert (await _token(c, target.auth)).status_code == 200
        wrong = h.basic(target.client_id, "wrong-secret")
        for _ in range(20):
            assert (await _token(c, wrong)).status_code == 401
        assert (await _token(c, wrong)).status_code == 429


async def test_failed_authentications_per_address_are_limited_independently(
    limited: Clients, h: ModuleType
) -> None:
    """SEC-DOS-002: failures spread over many ``client_id`` values from one address are
    limited per address; another address is unaffected; the data plane answers the
    ``rate_limited`` problem with ``Retry-After``."""
    async with limited(rate_limit_failed_auth_per_address=5) as (_, client):
        attacker, honest = client("203.0.113.9"), client("192.0.2.44")
        workload = await _workload(honest, h, "honest")
        for n in range(5):
            guess = h.basic(f"wl_guess{n}", "secret")
            assert (await _token(attacker, guess)).status_code == 401
        _assert_oauth_429(await _token(attacker, h.basic("wl_new", "secret")))
        refused = await attacker.post("/v1/workload-access-tokens", json={}, headers=workload.auth)
        assert refused.status_code == 429
        assert refused.headers["content-type"].startswith("application/problem+json")
        problem = refused.json()
        assert (problem["code"], problem["status"], problem["title"]) == (
            "rate_limited",
            429,
            "Too many requests",
        )
        assert int(refused.headers["retry-after"]) >= 1
        assert workload.secret not in refused.text
        assert (await _token(honest, workload.auth)).status_code == 200
        served = await honest.post("/v1/workload-access-tokens", json={}, headers=workload.auth)
        assert served.status_code == 200


async def test_data_plane_failed_authentications_count(limited: Clients, h: ModuleType) -> None:
    """SEC-DOS-002: failed workload authentications on the data plane count per
    ``client_id`` as at the token endpoint."""
    async with limited(rate_limit_failed_auth_per_client=3) as (_, client):
        c = client()
        workload = await _workload(c, h, "target")
        wrong = h.basic(workload.client_id, "nope")
        for _ in range(3):
            response = await c.post("/v1/workload-access-tokens", json={}, headers=wrong)
            assert response.status_code == 401
        response = await c.post("/v1/workload-access-tokens", json={}, headers=workload.auth)
        assert response.status_code == 429
        assert response.json()["code"] == "rate_limited"
        _assert_oauth_429(await _token(c, workload.auth), workload.secret)


async def test_request_rates_are_limited_per_client(limited: Clients, h: ModuleType) -> None:
    """SEC-DOS-002: the token, introspection and revocation endpoints and the data plane
    share a per-client request limit; other clients keep theirs."""
    async with limited(rate_limit_requests_per_client=4) as (_, client):
        c = client()
        busy = await _workload(c, h, "busy")
        quiet = await _workload(c, h, "quiet")
        token = (await _token(c, busy.auth)).json()["access_token"]
        assert (
            await c.post("/oauth2/introspect", data={"token": token}, headers=busy.auth)
        ).status_code == 200
        assert (
            await c.post("/oauth2/revoke", data={"token": "x"}, headers=busy.auth)
        ).status_code == 200
        assert (
            await c.post("/v1/workload-access-tokens", json={}, headers=busy.auth)
        ).status_code == 200
        _assert_oauth_429(await _token(c, busy.auth), busy.secret)
        limited_dp = await c.post("/v1/decisions", json={}, headers=busy.auth)
        assert limited_dp.status_code == 429
        assert (await _token(c, quiet.auth)).status_code == 200


async def test_a_429_changes_nothing_stored(limited: Clients, h: ModuleType) -> None:
    """SEC-DOS-002, ERR-RULE-003: a rate-limited request is answered before the service
    reads or stores anything."""
    async with limited(rate_limit_failed_auth_per_client=1) as (service, client):
        c = client()
        workload = await _workload(c, h, "target")
        assert (await _token(c, h.basic(workload.client_id, "nope"))).status_code == 401
        before = h.storage_snapshot(service)
        for _ in range(3):
            assert (await _token(c, workload.auth)).status_code == 429
            response = await c.post("/v1/workload-access-tokens", json={}, headers=workload.auth)
            assert response.status_code == 429
        assert h.storage_snapshot(service) == before


async def test_a_form_client_id_is_limited_like_basic(limited: Clients, h: ModuleType) -> None:
    """SEC-DOS-002: ``client_secret_post`` failures count against the form's ``client_id``
    (the form is handed on to the endpoint intact)."""
    async with limited(rate_limit_failed_auth_per_client=2) as (_, client):
        c = client()
        workload = await _workload(c, h, "target")
        form = {"grant_type": "client_credentials", "client_id": workload.client_id}
        for _ in range(2):
            response = await c.post("/oauth2/token", data={**form, "client_secret": "nope"})
            assert response.status_code == 401
        _assert_oauth_429(await c.post("/oauth2/token", data={**form, "client_secret": "x"}))


async def test_zero_turns_a_limit_off(limited: Clients, h: ModuleType) -> None:
    """SEC-DOS-002 settings: ``0`` disables a limit (for benchmarks; never the default)."""
    async with limited(
        rate_limit_failed_auth_per_client=0, rate_limit_failed_auth_per_address=0
    ) as (_, client):
        c = client()
        workload = await _workload(c, h, "target")
        for _ in range(30):
            assert (await _token(c, h.basic(workload.client_id, "nope"))).status_code == 401
