"""Encryption at rest and key rotation (spec 05: VLT-ENC-001..003, VLT-LEAK-001)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from proctor.reference.audit_trail import Trail
from proctor.reference.encryption import Envelope, LocalKeyProvider
from proctor.reference.http.vault import build_vault
from proctor.reference.service import load_secrets
from proctor.reference.vault import ResourceTokenRequest, TokenResult

pytestmark = pytest.mark.anyio


async def _populate(world: Any, h: Any) -> dict[str, str]:
    """Every kind of sealed row, and the plaintexts that must not be stored."""
    workload = await world.setup()
    wat = await world.wat(workload)
    token = await world.consent_flow(workload, wat)
    m2m = (await world.resource(workload, wat, flow="m2m")).json()
    pending = (await world.resource(workload, wat, force_authentication=True)).json()
    session = h.session_secrets(world.service, pending["session_uri"])
    entry = h.entry_secrets(world.service, world.key(workload))
    user_token = world.user_token()
    world.components.vault.bind_user_token(
        wat, user_token, token_kind="access_token", expires_at=int(world.clock.now()) + 900
    )
    r = await world.client.post(
        "/v1/providers/api-key",
        headers=h.ADMIN,
        json={"name": "weather", "api_key": "wk-live-" + "q" * 40, "allowed_workloads": []},
    )
    assert r.status_code == 201
    return {
        "access token": token["access_token"],
        "refresh token": entry["refresh_token"],
        "m2m token": m2m["access_token"],
        "client secret": h.AGENT_SECRET,
        "api key": "wk-live-" + "q" * 40,
        "code verifier": session["code_verifier"],
        "state": session["state"],
        "user token": user_token,
    }


def _all_rows_text(world: Any) -> str:
    tables = (
        "credential_providers",
        "vault_entries",
        "vault_sessions",
        "consents",
        "vault_token_cache",
        "wat_user_tokens",
        "audit_events",
    )
    parts = []
    with world.service.database.transaction(readonly=True) as tx:
        for table in tables:
            for row in tx.fetchall(f"SELECT * FROM {table}"):  # noqa: S608 - fixed names
                for value in row.values():
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value).decode("latin-1"))
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


async def test_no_secret_is_stored_in_plaintext(world: Any, h: Any) -> None:
    """VLT-ENC-001, VLT-LEAK-001: rows hold ciphertext only; on SQLite the database files
    themselves (main file and write-ahead log) contain none of the secrets."""
    secrets_ = await _populate(world, h)
    stored = _all_rows_text(world)
    for what, value in secrets_.items():
        assert value not in stored, what
    if world.service.database.dialect == "sqlite":
        database = Path(world.service.settings.effective_database_url[len("sqlite:///") :])
        raw = b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists())
        assert len(raw) > 10_000
        for what, value in secrets_.items():
            assert value.encode() not in raw, what


async def test_a_ciphertext_moved_to_another_row_does_not_open(world: Any, h: Any) -> None:
    """VLT-ENC-002: Sarah's sealed tokens copied into Bob's entry are treated as absent
    (Bob is asked to authorize) and audited as decryption_failed; Bob never gets them."""
    workload = await world.setup()
    sarah_wat = await world.wat(workload)
    bob_wat = await world.wat(workload, user=h.BOB)
    sarah_token = await world.consent_flow(workload, sarah_wat)
    await world.consent_flow(workload, bob_wat, user=h.BOB)
    sarah, bob = world.key(workload), world.key(workload, h.BOB)
    with world.service.database.transaction() as tx:
        row = tx.fetchone("SELECT sealed FROM vault_entries WHERE user_key = ?", (sarah.user_key,))
        tx.execute(
            "UPDATE vault_entries SET sealed = ? WHERE user_key = ?",
            (bytes(row["sealed"]), bob.user_key),
        )
    answer = (await world.resource(workload, bob_wat)).json()
    assert answer.get("session_status") == "in_progress"
    assert sarah_token["access_token"] not in str(answer)
    events = await world.audit(operation="resource_token.get", decision="deny")
    assert [e["reason"] for e in events] == ["decryption_failed"]
    assert (await world.resource(workload, sarah_wat)).json() == sarah_token


async def test_rotate_key_rewraps_everything_and_old_keys_can_go(
    world: Any, h: Any, tmp_path: Path
) -> None:
    """VLT-ENC-003: after rotate_key every sealed row names the new KEK; the vault then
    works with the new KEK alone (the old one dropped), and not with the old one alone."""
    secrets_ = await _populate(world, h)
    service = world.service
    current = load_secrets(service.settings, {})
    new_id, new_key = "kek-rotated-1", os.urandom(32)
    assert world.components.vault.key_ids_in_use() == {current.kek_id}

    def vault_with(keys: dict[str, bytes], primary: str) -> Any:
        return build_vault(
            database=service.database,
            clock=service.clock,
            envelope=Envelope(LocalKeyProvider(keys, primary)),
            audit=service.audit,
            recorder=service.recorder,
            admin=service.admin,
            authenticator=service.workload_auth,
            tokens=service.workload_tokens,
            authorizers=service.authorizers,
            directory=service.directory,
            metrics=type(service.metrics)(),
            http=service.http,
            issuer=service.issuer,
            allow_loopback_http=False,
        ).vault

    both = vault_with({current.kek_id: current.kek, new_id: new_key}, new_id)
    report = both.rotate_key(Trail.internal(service.audit))
    assert report.failed == 0
    assert report.key_ids == {new_id}
    assert report.rewrapped["vault_entries"] == 1
    assert report.rewrapped["credential_providers"] == 2
    assert report.rewrapped["vault_sessions"] >= 1
    assert report.rewrapped["vault_token_cache"] == 1
    assert report.rewrapped["wat_user_tokens"] == 1
    assert both.rotate_key(Trail.internal(service.audit)).rewrapped["vault_entries"] == 0
    stored = _all_rows_text(world)
    for value in secrets_.values():
        assert value not in stored

    only_new = vault_with({new_id: new_key}, new_id)
    only_old = vault_with({current.kek_id: current.kek}, current.kek_id)
    wat = await _wat_for(world, h)
    workload = service.directory.get("orchestrator")
    binding = service.workload_tokens.validate(wat, workload)
    request = ResourceTokenRequest(provider="crm", flow="user_federation", scopes=("notes.read",))
    result = only_new.resource_token(workload, binding, wat, request, Trail.internal(service.audit))
    assert isinstance(result, TokenResult)
    assert result.access_token == secrets_["access token"]
    assert only_new.providers.api_key_provider("weather") is not None
    assert only_old.providers.api_key_provider("weather") is None  # cannot open any more
    events = await world.audit(operation="vault.rekey")
    assert [e["decision"] for e in events] == ["allow", "allow"]


async def _wat_for(world: Any, h: Any) -> str:
    """A WAT for Sarah through the API (the workload's secret is in the world's setup)."""
    r = await world.client.get("/v1/workloads/orchestrator", headers=h.ADMIN)
    assert r.status_code == 200
    rotated = await world.client.post("/v1/workloads/orchestrator/secret", headers=h.ADMIN)
    assert rotated.status_code == 200, rotated.text
    workload = h.Workload("orchestrator", r.json()["client_id"], rotated.json()["client_secret"])
    return str(await world.wat(workload))
