"""AUD-APP-002 at the HTTP surface: an operation and its audit event commit together.

The audit log's own tests show that a rolled-back transaction takes its event with it;
here the append itself fails (storage refuses the event), and the request that would have
changed stored state must fail with ``500 internal_error`` and change nothing, while a
request that changes nothing must also fail rather than answer without its event. An HTTP
client cannot make the service's event store fail, so no conformance check can.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from proctor.reference.audit import AuditLog
from proctor.reference.service import Service
from tests.reference.requirements.conftest import ADMIN, basic, rows

pytestmark = pytest.mark.anyio


class _Refused(RuntimeError):
    """The event store refused an append (a full disk, a lost connection)."""


@pytest.fixture
def failing_appends(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """While the list holds ``"fail"``, every audit append raises :class:`_Refused`."""
    switch: list[str] = []
    original = AuditLog.append

    def append(self: AuditLog, fields: Any, *, tx: Any = None) -> Any:
        if switch:
            raise _Refused("append refused")
        return original(self, fields, tx=tx)

    monkeypatch.setattr(AuditLog, "append", append)
    return switch


def _internal_error(response: httpx.Response) -> None:
    assert response.status_code == 500, response.text
    body = response.json()
    assert body["code"] == "internal_error"
    assert "detail" not in body
    assert "append refused" not in response.text
    assert "_Refused" not in response.text


async def test_a_change_whose_event_cannot_be_appended_fails_and_changes_nothing(
    service: Service, client: httpx.AsyncClient, failing_appends: list[str]
) -> None:
    """AUD-APP-002: creating a workload while the event store refuses appends is a 500
    ``internal_error`` and leaves no workload behind; the same request succeeds once the
    store accepts events again, with its event."""
    before = len(rows(service, "audit_events"))
    failing_appends.append("fail")
    _internal_error(await client.post("/v1/workloads", json={"name": "orphan"}, headers=ADMIN))
    assert rows(service, "workloads") == []
    assert len(rows(service, "audit_events")) == before
    failing_appends.clear()
    created = await client.post("/v1/workloads", json={"name": "orphan"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    assert [r["name"] for r in rows(service, "workloads")] == ["orphan"]
    operations = [e.operation for e in service.audit.query().items]
    assert operations.count("workload.create") == 1


async def test_a_read_whose_event_cannot_be_appended_fails_too(
    service: Service, client: httpx.AsyncClient, failing_appends: list[str]
) -> None:
    """AUD-APP-002: a request that changes nothing (a control-plane read) does not answer
    without its event, and neither does one that stores a token (a WAT request)."""
    created = await client.post("/v1/workloads", json={"name": "reader"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    client_id, secret = created.json()["client_id"], created.json()["client_secret"]
    failing_appends.append("fail")
    _internal_error(await client.get("/v1/workloads/reader", headers=ADMIN))
    _internal_error(
        await client.post("/v1/workload-access-tokens", json={}, headers=basic(client_id, secret))
    )
    assert rows(service, "workload_access_tokens") == []
    failing_appends.clear()
    assert (await client.get("/v1/workloads/reader", headers=ADMIN)).status_code == 200
