"""Persisted consent: creation, listing, revocation, task-scoped and expiring consent,
prompt counters (spec 06: CNS-*; spec 05: VLT-RVK-001, PRV-CFG-004)."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.anyio


async def _consents(world: Any, h: Any, **params: Any) -> list[dict[str, Any]]:
    r = await world.client.get("/v1/consents", headers=h.ADMIN, params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_completed_session_records_the_consent(world: Any, h: Any) -> None:
    """CNS-REC-001/002: exactly the record's members, bound to the session's user."""
    workload = await world.setup()
    wat = await world.wat(workload)
    await world.consent_flow(workload, wat)
    [consent] = await _consents(world, h)
    assert re.fullmatch(r"cns_[A-Za-z0-9_-]{22,}", consent["id"])
    assert consent == {
        "id": consent["id"],
        "user": {
            "issuer": world.okta.issuer("default"),
            "subject": h.SARAH,
            "user_key": "00usarah000000000001",
        },
        "workload": "orchestrator",
        "provider": "crm",
        "scopes": ["notes.read"],
        "granted_at": h.START,
        "expires_at": None,
        "task": None,
    }
    grants = await world.audit(operation="consent.grant")
    assert [(e["workload"], e["provider"], e["scopes"]) for e in grants] == [
        ("orchestrator", "crm", ["notes.read"])
    ]


async def test_admin_lists_with_exact_filters(world: Any, h: Any) -> None:
    """CNS-LIST-002: user, user_issuer, workload, provider combined with AND; unknown
    parameters are validation_failed."""
    workload = await world.setup()
    await world.consent_flow(workload, await world.wat(workload))
    issuer = world.okta.issuer("default")
    assert len(await _consents(world, h, user=h.SARAH, user_issuer=issuer)) == 1
    assert len(await _consents(world, h, workload="orchestrator", provider="crm")) == 1
    assert await _consents(world, h, user=h.BOB) == []
    assert await _consents(world, h, workload="reporter") == []
    assert await _consents(world, h, user_issuer="https://other.example") == []
    bad = await world.client.get("/v1/consents", headers=h.ADMIN, params={"subject": "x"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation_failed"
    unauthenticated = await world.client.get("/v1/consents")
    assert unauthenticated.status_code == 401


async def test_users_list_and_revoke_only_their_own(world: Any, h: Any) -> None:
    """CNS-LIST-001, CNS-REV-001, CNS-REV-003: a user's IdP token validated by the named
    authorizer; another user's consent is an unknown one; revocation deletes the entry,
    revokes the tokens upstream, and the next request prompts again."""
    workload = await world.setup()
    wat = await world.wat(workload)
    await world.consent_flow(workload, wat)
    tokens = h.entry_secrets(world.service, world.key(workload))
    sarah, bob = _bearer(world.user_token(h.SARAH)), _bearer(world.user_token(h.BOB))
    query = {"authorizer": "company-okta"}
    mine = await world.client.get("/v1/me/consents", headers=sarah, params=query)
    assert mine.status_code == 200, mine.text
    [consent] = mine.json()["items"]
    theirs = await world.client.get("/v1/me/consents", headers=bob, params=query)
    assert theirs.json() == {"items": [], "next_token": None}

    path = f"/v1/me/consents/{consent['id']}"
    by_bob = await world.client.delete(path, headers=bob, params=query)
    unknown = await world.client.delete(
        "/v1/me/consents/cns_unknown0000000000000000", headers=bob, params=query
    )
    assert by_bob.status_code == unknown.status_code == 404
    assert h.without_request_id(by_bob.json()) == h.without_request_id(unknown.json())
    assert len(await _consents(world, h)) == 1

    world.okta.clear_requests()
    revoked = await world.client.delete(path, headers=sarah, params=query)
    assert revoked.status_code == 204
    assert await _consents(world, h) == []
    assert h.entry_secrets(world.service, world.key(workload)) is None
    assert [e.form["token_type_hint"] for e in world.okta.requests("revoke")] == [
        "refresh_token",
        "access_token",
    ]
    active = await world.okta_post("introspect", {"token": tokens["refresh_token"]})
    assert active.json()["active"] is False
    again = (await world.resource(workload, wat)).json()
    assert again["session_status"] == "in_progress"
    events = await world.audit(operation="consent.revoke")
    assert [(e["decision"], e["reason"], e["actor_chain"]) for e in events] == [
        ("deny", "not_found", []),
        ("deny", "not_found", []),
        ("allow", "ok", []),
    ]
    assert events[-1]["user"] == {"issuer": world.okta.issuer("default"), "subject": h.SARAH}


async def test_user_endpoints_reject_bad_tokens_and_authorizers(world: Any, h: Any) -> None:
    """CNS-LIST-001: 401 user_token_rejected with the reason; 400 for a missing or unknown
    authorizer; 401 without a bearer token."""
    await world.setup()
    expired = world.okta.mint(user=h.SARAH, client_id=h.APP, server="default", presets=["expired"])
    r = await world.client.get(
        "/v1/me/consents", headers=_bearer(expired), params={"authorizer": "company-okta"}
    )
    assert r.status_code == 401
    assert (r.json()["code"], r.json()["reason"]) == ("user_token_rejected", "expired")
    for params in ({}, {"authorizer": "no-such"}):
        r = await world.client.get(
            "/v1/me/consents", headers=_bearer(world.user_token()), params=params
        )
        assert r.status_code == 400
        assert r.json()["code"] == "validation_failed"
    r = await world.client.get("/v1/me/consents", params={"authorizer": "company-okta"})
    assert r.status_code == 401
    assert r.json()["code"] == "unauthenticated"


async def test_admin_revocation(world: Any, h: Any) -> None:
    """CNS-REV-002/003: 204, then 404 for the same id; sessions in progress die too."""
    workload = await world.setup()
    wat = await world.wat(workload)
    await world.consent_flow(workload, wat)
    [consent] = await _consents(world, h)
    pending = (await world.resource(workload, wat, force_authentication=True)).json()
    r = await world.client.delete(f"/v1/consents/{consent['id']}", headers=h.ADMIN)
    assert r.status_code == 204
    r = await world.client.delete(f"/v1/consents/{consent['id']}", headers=h.ADMIN)
    assert r.status_code == 404
    assert r.json()["code"] == "not_found"
    gone = await world.resource(workload, wat, session_uri=pending["session_uri"], expect=404)
    assert gone.json()["code"] == "session_not_found"


async def test_task_scoped_consent_covers_only_its_task(world: Any, h: Any) -> None:
    """CNS-TASK-001: a consent for task T covers only requests with task T."""
    workload = await world.setup()
    wat = await world.wat(workload)
    token = await world.consent_flow(workload, wat, task="brief-thursday")
    [consent] = await _consents(world, h)
    assert consent["task"] == "brief-thursday"
    same = (await world.resource(workload, wat, task="brief-thursday")).json()
    assert same == token
    for other in ({"task": "brief-friday"}, {}):
        answer = (await world.resource(workload, wat, **other)).json()
        assert answer["session_status"] == "in_progress"


async def test_expiring_consent_is_not_used_after_its_time(world: Any, h: Any) -> None:
    """CNS-TASK-001/002: expires_at = granted_at + consent_ttl; afterwards the consent is
    deleted (consent.expire), not listed, the entry is deleted and revoked upstream, and
    the next request prompts."""
    workload = await world.setup()
    wat = await world.wat(workload)
    await world.consent_flow(workload, wat, consent_ttl=600)
    [consent] = await _consents(world, h)
    assert consent["expires_at"] == consent["granted_at"] + 600
    world.advance(599)
    wat = await world.wat(workload)
    assert "access_token" in (await world.resource(workload, wat, consent_ttl=600)).json()
    world.advance(1)
    assert await _consents(world, h) == []  # not listed from expires_at on
    world.okta.clear_requests()
    answer = (await world.resource(workload, wat)).json()
    assert answer["session_status"] == "in_progress"
    assert h.entry_secrets(world.service, world.key(workload)) is None
    assert len(world.okta.requests("revoke")) == 2
    expired = await world.audit(operation="consent.expire")
    assert [(e["workload"], e["provider"]) for e in expired] == [("orchestrator", "crm")]


async def test_prompts_and_reuse_are_counted(world: Any, h: Any) -> None:
    """CNS-FAT-001/002: one prompt per session started (metric and consent.prompt event
    with the user); reuses counted; polls and refreshes are not prompts."""
    workload = await world.setup()
    wat = await world.wat(workload)
    await world.consent_flow(workload, wat)
    for _ in range(3):
        await world.resource(workload, wat)
    metrics = (await world.client.get("/metrics")).text
    assert 'proctor_consent_prompts_total{workload="orchestrator",provider="crm"} 1' in metrics
    assert 'proctor_consent_reuse_total{workload="orchestrator",provider="crm"} 4' in metrics
    prompts = await world.audit(
        operation="consent.prompt", workload="orchestrator", user_subject=h.SARAH
    )
    assert len(prompts) == 1
    assert prompts[0]["scopes"] == ["notes.read"]
    assert prompts[0]["provider"] == "crm"


async def test_deleting_a_provider_deletes_its_credentials(world: Any, h: Any) -> None:
    """PRV-CFG-004: entries, cached tokens, sessions and consents go in one transaction,
    tokens are revoked upstream; a provider re-created under the name sees none of it."""
    workload = await world.setup()
    wat = await world.wat(workload)
    await world.consent_flow(workload, wat)
    await world.resource(workload, wat, flow="m2m")
    pending = (await world.resource(workload, wat, force_authentication=True)).json()
    world.okta.clear_requests()
    r = await world.client.delete("/v1/providers/oauth2/crm", headers=h.ADMIN)
    assert r.status_code == 204
    assert len(world.okta.requests("revoke")) == 2
    gone = await world.resource(workload, wat, expect=404)
    assert gone.json()["code"] == "provider_not_found"
    with world.service.database.transaction(readonly=True) as tx:
        for table in ("vault_entries", "vault_sessions", "consents", "vault_token_cache"):
            assert tx.fetchall(f"SELECT * FROM {table}") == []  # noqa: S608 - fixed names
    await world.provider()
    fresh = (await world.resource(workload, wat)).json()
    assert fresh["session_status"] == "in_progress"
    old = await world.resource(workload, wat, session_uri=pending["session_uri"], expect=404)
    assert old.json()["code"] == "session_not_found"
