"""A reference service in process whose secrets the tests know: the credential pepper and
the key-encryption key come from the environment mapping given to ``Service.create``, so
a test can recompute a stored hash or open a sealed row without the service's code.

SQLite only, no IdP (the requirements verified here concern storage, not tokens), a
manual clock, and an ``httpx.AsyncClient`` over ``httpx.ASGITransport``.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from proctor.reference.clock import ManualClock
from proctor.reference.service import KEK_ENV, KEK_ID_ENV, PEPPER_ENV, Service
from proctor.reference.settings import Settings

ISSUER = "https://proctor.test"
ADMIN_TOKEN = "adm_" + "r" * 60  # a test constant; the service keeps only its HMAC
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
KEK_ID = "kek-test-1"


@dataclass(frozen=True)
class Keys:
    """The service's secrets, as the operator configured them."""

    pepper: bytes
    kek: bytes
    kek_id: str = KEK_ID


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def keys() -> Keys:
    return Keys(pepper=os.urandom(32), kek=os.urandom(32))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
def service(tmp_path: Path, keys: Keys) -> Iterator[Service]:
    settings = Settings(
        issuer=ISSUER,
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'proctor.db'}",
        admin_token=ADMIN_TOKEN,
        allow_loopback_http=False,
    )
    env = {PEPPER_ENV: _b64(keys.pepper), KEK_ENV: _b64(keys.kek), KEK_ID_ENV: keys.kek_id}
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(404)))
    svc = Service.create(settings, clock=ManualClock(1_800_000_000.0), http_client=http, env=env)
    try:
        yield svc
    finally:
        svc.close()
        http.close()


@pytest.fixture
async def client(service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=service.asgi_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=ISSUER) as c:
        yield c


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def rows(service: Service, table: str) -> list[dict[str, Any]]:
    """Every row of ``table`` as stored (the name is a constant of the calling test)."""
    with service.database.transaction(readonly=True) as tx:
        return [dict(row) for row in tx.fetchall(f"SELECT * FROM {table}")]  # noqa: S608


def stored_text(service: Service) -> str:
    """Everything the database holds, every table, as one string (bytes as latin-1)."""
    with service.database.transaction(readonly=True) as tx:
        names = [
            row["name"]
            for row in tx.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
    parts = []
    for table in names:
        for row in rows(service, table):
            for value in row.values():
                if isinstance(value, bytes | memoryview):
                    parts.append(bytes(value).decode("latin-1"))
                else:
                    parts.append(str(value))
    return "\n".join(parts)
