"""How the reference stores and compares secrets: nothing an HTTP client can observe.

WID-SEC-002: a client secret is stored only as HMAC-SHA256 under the service-wide pepper,
which is kept outside the database, and a presented secret is compared through its HMAC
in constant time. SEC-SECRET-002: every comparison of a presented admin credential or
client secret with the stored value compares two fixed-length digests with
``hmac.compare_digest``, whatever the presented value and however much of it matches.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import httpx
import pytest

from proctor.reference.service import Service
from tests.reference.requirements.conftest import ADMIN, ADMIN_TOKEN, Keys, basic, rows, stored_text

pytestmark = pytest.mark.anyio

Comparisons = list[tuple[str, str]]


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> Comparisons:
    """Every ``hmac.compare_digest`` call the service makes, with its two arguments."""
    seen: Comparisons = []
    original = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        seen.append((a, b))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return seen


def _hmac(keys: Keys, value: str) -> str:
    return hmac.new(keys.pepper, value.encode(), hashlib.sha256).hexdigest()


async def _workload(client: httpx.AsyncClient, name: str = "orchestrator") -> tuple[str, str]:
    created = await client.post("/v1/workloads", json={"name": name}, headers=ADMIN)
    assert created.status_code == 201, created.text
    body = created.json()
    return body["client_id"], body["client_secret"]


async def _wat(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/v1/workload-access-tokens", json={}, headers=headers)


async def test_a_client_secret_is_stored_only_as_its_keyed_hash(
    service: Service, client: httpx.AsyncClient, keys: Keys
) -> None:
    """WID-SEC-002: the workload row holds HMAC-SHA256(pepper, secret) and nothing else of
    the secret; neither the secret nor the pepper is anywhere in the database, and a plain
    SHA-256 of the secret (an unkeyed hash) is not what is stored."""
    client_id, secret = await _workload(client)
    [row] = rows(service, "workloads")
    assert row["client_id"] == client_id
    assert row["secret_hash"] == _hmac(keys, secret)
    assert row["secret_hash"] != hashlib.sha256(secret.encode()).hexdigest()
    everything = stored_text(service)
    assert secret not in everything
    for form in (keys.pepper.hex(), base64.urlsafe_b64encode(keys.pepper).decode().rstrip("=")):
        assert form not in everything
    assert keys.pepper.decode("latin-1") not in everything
    # The stored hash works only with the pepper: the service authenticates the secret.
    assert (await _wat(client, basic(client_id, secret))).status_code == 200


async def test_a_presented_secret_is_compared_through_its_hmac_in_constant_time(
    client: httpx.AsyncClient, keys: Keys, comparisons: Comparisons
) -> None:
    """WID-SEC-002, SEC-SECRET-002: the right secret, a wrong one sharing all but its last
    character, a short wrong one and an unknown client are each decided by one
    ``hmac.compare_digest`` of the presented secret's HMAC with a 64-digit stored value
    (a dummy for the unknown client), never by comparing the secrets themselves."""
    client_id, secret = await _workload(client)
    stored = _hmac(keys, secret)
    attempts = {
        "the right secret": (client_id, secret, 200),
        "all but the last character": (client_id, secret[:-1] + "!", 401),
        "a short wrong secret": (client_id, "x", 401),
        "an unknown client": ("wl_" + "Z" * 22, secret, 401),
    }
    for what, (presented_id, presented, status) in attempts.items():
        comparisons.clear()
        response = await _wat(client, basic(presented_id, presented))
        assert response.status_code == status, what
        digests = [pair for pair in comparisons if _hmac(keys, presented) in pair]
        assert len(digests) == 1, f"{what}: {comparisons}"
        first, second = digests[0]
        assert len(first) == len(second) == 64, what
        assert presented not in (first, second), what
        if presented_id == client_id:
            assert stored in (first, second), what


async def test_the_admin_credential_is_compared_through_its_hmac_in_constant_time(
    client: httpx.AsyncClient, keys: Keys, comparisons: Comparisons
) -> None:
    """SEC-SECRET-002: a presented admin credential (right, wrong in its last character,
    or one character long) is compared as HMAC digests of equal length with
    ``hmac.compare_digest``; the credential itself is never an argument."""
    wrong_last = ADMIN_TOKEN[:-1] + ("s" if ADMIN_TOKEN[-1] != "s" else "t")
    for presented, status in ((ADMIN_TOKEN, 200), (wrong_last, 401), ("a", 401)):
        comparisons.clear()
        response = await client.get(
            "/v1/workloads", headers={"Authorization": f"Bearer {presented}"}
        )
        assert response.status_code == status, presented[:8]
        assert comparisons, "the admin credential was not compared with compare_digest"
        for first, second in comparisons:
            assert len(first) == len(second) == 64
            assert presented not in (first, second)
        assert (_hmac(keys, presented), _hmac(keys, ADMIN_TOKEN)) in comparisons
