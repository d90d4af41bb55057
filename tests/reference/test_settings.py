"""Settings: environment, overrides, validation, secrets hidden from repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.reference.settings import Settings


def test_defaults_are_embedded_and_loopback() -> None:
    s = Settings()
    assert s.effective_issuer == "http://127.0.0.1:8700"
    assert s.effective_database_url == "sqlite:///.proctor/proctor.db"
    assert s.allow_loopback_http is False  # TERM-DEV-001: development mode is opt-in


def test_environment_then_overrides() -> None:
    env = {
        "PROCTOR_PORT": "9000",
        "PROCTOR_DATA_DIR": "/srv/proctor",
        "PROCTOR_ALLOW_LOOPBACK_HTTP": "true",
        "PROCTOR_ADMIN_TOKEN": "adm-secret",
    }
    s = Settings.from_env(env, port=9100, issuer=None)
    assert s.port == 9100
    assert s.data_dir == Path("/srv/proctor")
    assert s.allow_loopback_http is True
    assert s.admin_token == "adm-secret"
    assert "adm-secret" not in repr(s)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"port": 0},
        {"workload_token_ttl": 0},
        {"signing_algorithm": "HS256"},
        {"maintenance_interval": 0},
        {"oauth_threads": 0},
        {"oauth_threads": 65},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Settings(**kwargs)  # type: ignore[arg-type]
