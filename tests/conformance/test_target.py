"""The target config (target.yaml) and the Target the checks receive."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from proctor.conformance.config import (
    CommandSubjectToken,
    MockIdpSubjectToken,
    TargetConfig,
    load_config,
    parse_config,
)
from proctor.conformance.errors import ConfigError, InfrastructureError
from proctor.conformance.target import Target, TargetConnection, metadata_url
from proctor.conformance.transport import ASGIBridge
from tests.conformance.conftest import kit_config
from tests.conformance.fake_target import CLIENT_SECRET, ISSUER, make_app

EXAMPLE = """
url: https://sts.example.com
profile: rfc8693
capabilities: [metadata, jwks, token_exchange]
credentials:
  clients:
    orchestrator:
      client_id: conformance-orchestrator
      client_secret: ${ORCH_SECRET}
endpoints:
  token: /oauth2/token
subject_token:
  source: command
  command: [./get-token.sh, --user, sarah]
mock_idps:
  issuers: {okta: "https://okta.test/oauth2/default"}
  audience: api://default
audiences: [https://crm.example.com]
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "target.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_example_config_loads_with_environment_secrets(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, EXAMPLE), environ={"ORCH_SECRET": "from-the-env-1"})
    assert config.profile == "rfc8693"
    secret = config.credentials.clients["orchestrator"].client_secret
    assert secret is not None
    assert secret.get_secret_value() == "from-the-env-1"
    assert "from-the-env-1" not in repr(config)
    assert isinstance(config.subject_token, CommandSubjectToken)
    assert config.secrets() == ["from-the-env-1"]
    assert parse_config(config.revealed(), interpolate=False) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (EXAMPLE, "ORCH_SECRET is not set"),
        ("url: https://x.test\nsurprise: 1\n", "surprise: Extra inputs are not permitted"),
        ("capabilities: [teleport]\n", "unknown capabilities"),
        ("capabilities: [jwks, jwks]\n", "more than once"),
        ("url: ftp://x.test\n", r"absolute http\(s\) URL"),
        ("url: https://x.test/?a=1\n", "query or fragment"),
        ("profile: keycloak\n", "profile"),
        ("subject_token: {source: carrier-pigeon}\n", "subject_token"),
        ("- a list\n", "expected a mapping"),
        ("url: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_configs_are_config_errors(tmp_path: Path, text: str, message: str) -> None:
    """CONF-CAP-001: unknown profiles, capabilities or members are config errors."""
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, text), environ={})


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("issuer", "url"),
    [
        ("https://as.example", "https://as.example/.well-known/oauth-authorization-server"),
        ("https://as.example/", "https://as.example/.well-known/oauth-authorization-server"),
        ("https://as.example/t1", "https://as.example/.well-known/oauth-authorization-server/t1"),
        ("https://as.example/t1/", "https://as.example/.well-known/oauth-authorization-server/t1"),
    ],
)
def test_metadata_url_follows_rfc8414_section_3_1(issuer: str, url: str) -> None:
    assert metadata_url(issuer) == url


def _target(config: TargetConfig | None = None) -> Target:
    bridge = ASGIBridge(make_app())
    return Target(config or kit_config(), TargetConnection(ISSUER, transport=bridge))


def test_endpoints_come_from_the_metadata_or_the_overrides() -> None:
    target = _target()
    assert target.endpoint("token") == f"{ISSUER}/oauth2/token"
    assert target.endpoint("jwks") == f"{ISSUER}/oauth2/jwks"
    with pytest.raises(InfrastructureError, match=r"set endpoints\.revocation"):
        target.endpoint("revocation")
    target.close()
    overridden = _target(kit_config(endpoints={"revocation": "/oauth2/revoke"}))
    assert overridden.endpoint("revocation") == f"{ISSUER}/oauth2/revoke"
    overridden.close()


def test_basic_client_authentication_form_encodes_first() -> None:
    config = kit_config(
        credentials={"clients": {"odd": {"client_id": "a b", "client_secret": "c:d"}}}
    )
    target = _target(config)
    headers, form = target.client_auth("odd")
    assert headers == {"Authorization": "Basic YStiOmMlM0Fk"}  # base64("a+b:c%3Ad")
    assert form == {}
    with pytest.raises(InfrastructureError, match="no client 'nobody'"):
        target.client_auth("nobody")
    target.close()


def test_subject_tokens_from_client_credentials_are_redacted() -> None:
    target = _target(kit_config(subject_token={"source": "client_credentials", "client": "kit"}))
    token = target.subject_token()
    assert token.count(".") == 2
    assert token not in target.redactor.text(f"got {token}")
    assert CLIENT_SECRET not in target.redactor.text(CLIENT_SECRET)
    target.close()


def test_subject_tokens_from_a_command() -> None:
    command = [sys.executable, "-c", "print('token-from-a-command-42')"]
    target = _target(kit_config(subject_token={"source": "command", "command": command}))
    assert target.subject_token() == "token-from-a-command-42"
    assert "token-from-a-command-42" not in target.redactor.text("token-from-a-command-42")
    target.close()
    failing = [sys.executable, "-c", "import sys; sys.exit(3)"]
    target = _target(kit_config(subject_token={"source": "command", "command": failing}))
    with pytest.raises(InfrastructureError, match="exited 3"):
        target.subject_token()
    target.close()


def test_a_missing_subject_token_source_is_an_infrastructure_error() -> None:
    target = _target()
    with pytest.raises(InfrastructureError, match="no subject_token"):
        target.subject_token()
    with pytest.raises(InfrastructureError, match="admin_token"):
        _target(kit_config(credentials={})).admin_headers()
    target.close()


def test_a_mock_idp_source_needs_a_known_idp() -> None:
    config = kit_config(subject_token={"source": "mock_idp", "idp": "okta", "client_id": "c"})
    assert isinstance(config.subject_token, MockIdpSubjectToken)
    target = _target(config)
    with pytest.raises(InfrastructureError, match="no mock IdP 'okta'"):
        target.subject_token()
    target.close()


def test_a_closed_bridge_refuses_requests() -> None:
    target = _target()
    target.close()
    with pytest.raises(RuntimeError):
        target.client.get(ISSUER)
