"""``proctor vault rotate-key`` (VLT-ENC-003): a new KEK becomes current, every sealed value
is re-wrapped, the old KEK is dropped, and the service then runs on the new KEK alone."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from proctor.cli.vault import app
from proctor.reference.clock import ManualClock
from proctor.reference.providers import OAuth2ProviderSpec
from proctor.reference.service import Service
from proctor.reference.settings import Settings
from proctor.reference.vault import key_ids_in_use

runner = CliRunner()


def _settings(data_dir: Path) -> Settings:
    return Settings(
        issuer="https://proctor.test",
        data_dir=data_dir,
        admin_token="adm_" + "c" * 60,
        allow_loopback_http=False,
    )


def _start(data_dir: Path, env: dict[str, str]) -> Service:
    return Service.create(_settings(data_dir), clock=ManualClock(1_800_000_000), env=env)


def _provider(name: str, secret: str) -> OAuth2ProviderSpec:
    return OAuth2ProviderSpec.model_validate(
        {
            "name": name,
            "authorization_server_metadata": {
                "issuer": "https://as.example",
                "authorization_endpoint": "https://as.example/authorize",
                "token_endpoint": "https://as.example/token",
            },
            "client_id": "proctor",
            "client_secret": secret,
            "scopes": ["a"],
        }
    )


def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "PROCTOR_KEK",
        "PROCTOR_KEK_ID",
        "PROCTOR_NEW_KEK",
        "PROCTOR_NEW_KEK_ID",
        "PROCTOR_DATABASE_URL",
        "PROCTOR_DATA_DIR",
        "PROCTOR_CREDENTIAL_PEPPER",
    ):
        monkeypatch.delenv(name, raising=False)


def test_rotate_key_with_the_keys_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    data_dir = tmp_path / "data"
    service = _start(data_dir, {})
    service.vault_components.providers.create_oauth2(_provider("crm", "secret-one-1"))
    old_ids = key_ids_in_use(service.database)
    service.close()
    keys_file = data_dir / "service-keys.json"
    before = json.loads(keys_file.read_text())

    result = runner.invoke(app, ["rotate-key", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    after = json.loads(keys_file.read_text())
    assert after["kek"] != before["kek"]
    assert after["pepper"] == before["pepper"]
    assert "retired_keks" not in after
    assert oct(keys_file.stat().st_mode & 0o777) == "0o600"
    assert "vault_entries" in result.output

    restarted = _start(data_dir, {})  # only the new KEK is known now
    try:
        in_use = key_ids_in_use(restarted.database)
        assert len(in_use) == 1
        assert in_use.isdisjoint(old_ids)
        provider = restarted.vault_components.providers.oauth2_provider("crm")
        assert provider.client_secret == "secret-one-1"
        events = restarted.audit.query(operation="vault.rekey").items
        assert [e.decision for e in events] == ["allow"]
    finally:
        restarted.close()


def test_rotate_key_with_environment_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    env = {"PROCTOR_CREDENTIAL_PEPPER": b64(os.urandom(32)), "PROCTOR_KEK": b64(os.urandom(32))}
    data_dir = tmp_path / "data"
    service = _start(data_dir, env)
    service.vault_components.providers.create_oauth2(_provider("crm", "secret-two-2"))
    service.close()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    missing = runner.invoke(app, ["rotate-key", "--data-dir", str(data_dir)])
    assert missing.exit_code == 2
    new_kek = b64(os.urandom(32))
    monkeypatch.setenv("PROCTOR_NEW_KEK", new_kek)
    result = runner.invoke(app, ["rotate-key", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    restarted = _start(data_dir, {**env, "PROCTOR_KEK": new_kek})
    try:
        provider = restarted.vault_components.providers.oauth2_provider("crm")
        assert provider.client_secret == "secret-two-2"
    finally:
        restarted.close()


def test_rotate_key_without_a_database_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _clean_env(monkeypatch)
    result = runner.invoke(app, ["rotate-key", "--data-dir", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "proctor vault:" in result.output or "proctor vault:" in str(result.stderr_bytes)


def test_nothing_secret_is_printed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _clean_env(monkeypatch)
    data_dir = tmp_path / "data"
    _start(data_dir, {}).close()
    result = runner.invoke(app, ["rotate-key", "--data-dir", str(data_dir)])
    document: dict[str, Any] = json.loads((data_dir / "service-keys.json").read_text())
    assert document["kek"] not in result.output
    assert document["pepper"] not in result.output


def test_a_running_service_follows_the_rotation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VLT-ENC-003, without downtime: a service that keeps running across
    ``proctor vault rotate-key`` opens the re-wrapped values and seals new ones under the
    new KEK, so nothing it writes afterwards depends on the dropped key."""
    _clean_env(monkeypatch)
    data_dir = tmp_path / "data"
    service = _start(data_dir, {})
    try:
        providers = service.vault_components.providers
        providers.create_oauth2(_provider("crm", "secret-one-1"))
        old_ids = key_ids_in_use(service.database)

        result = runner.invoke(app, ["rotate-key", "--data-dir", str(data_dir)])
        assert result.exit_code == 0, result.output

        assert providers.oauth2_provider("crm").client_secret == "secret-one-1"
        providers.create_oauth2(_provider("finance", "secret-two-2"))
        in_use = key_ids_in_use(service.database)
        assert len(in_use) == 1
        assert in_use.isdisjoint(old_ids)
    finally:
        service.close()
    restarted = _start(data_dir, {})  # only the new KEK exists on disk now
    try:
        providers = restarted.vault_components.providers
        assert providers.oauth2_provider("finance").client_secret == "secret-two-2"
    finally:
        restarted.close()
