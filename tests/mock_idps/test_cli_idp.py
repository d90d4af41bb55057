"""``proctor idp okta``: options, the printed banner and the served app (without
serving: the foreground server is replaced by a recorder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from proctor.cli.main import app
from proctor.mock_idps import server as mock_server
from proctor.mock_idps.okta import PROFILE

runner = CliRunner()


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    calls: dict[str, Any] = {}

    def fake_serve(app_: Any, *, port: int, tls: Any = None) -> None:
        calls.update(app=app_, port=port, tls=tls)

    monkeypatch.setattr(mock_server, "serve", fake_serve)
    return calls


def test_idp_lists_okta() -> None:
    result = runner.invoke(app, ["idp", "--help"])
    assert result.exit_code == 0
    assert "okta" in result.output


def test_print_config_is_the_documented_default() -> None:
    result = runner.invoke(app, ["idp", "okta", "--print-config"])
    assert result.exit_code == 0
    assert yaml.safe_load(result.output) == PROFILE.default_config().model_dump(mode="json")


def test_serve_prints_urls_and_demo_credentials(served: dict[str, Any]) -> None:
    result = runner.invoke(
        app, ["idp", "okta", "--port", "18999", "--headless", "sarah@example.com"]
    )
    assert result.exit_code == 0, result.output
    assert served["port"] == 18999
    assert served["tls"] is None
    engine = served["app"].engine
    assert engine.base_url == "http://127.0.0.1:18999"
    assert engine.config.headless_user == "sarah@example.com"
    out = result.output
    assert "http://127.0.0.1:18999/oauth2/default/.well-known/openid-configuration" in out
    assert "sarah@example.com  password: sarah-password" in out
    assert "0oaproctoragent0app7" in out
    assert "http://127.0.0.1:8700/oauth2/callback" in out


def test_vendor_hosts_mode(served: dict[str, Any], tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["idp", "okta", "--vendor-hosts", "--port", "8443", "--tls-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert served["app"].engine.base_url == "https://example.okta.com"
    assert served["tls"].cert.is_file()
    assert "127.0.0.1 example.okta.com" in result.output
    assert "https://example.okta.com/oauth2/default" in result.output


def test_config_file_and_errors(served: dict[str, Any], tmp_path: Path) -> None:
    good = tmp_path / "idp.yaml"
    good.write_text(
        "users: [{username: a@x.io, password: p}]\n"
        "apis: [{id: aus7, audience: 'api://seven', scopes: [s]}]\n"
    )
    result = runner.invoke(app, ["idp", "okta", "--config", str(good)])
    assert result.exit_code == 0, result.output
    assert "https://" not in result.output.split("Authorization servers:")[0]
    assert set(served["app"].engine.servers) == {"org", "aus7"}
    bad = tmp_path / "bad.yaml"
    bad.write_text("users: [{username: a}]\n")
    assert runner.invoke(app, ["idp", "okta", "--config", str(bad)]).exit_code == 2
    v1 = tmp_path / "v1.yaml"
    v1.write_text("apis: [{id: v1, audience: x}]\n")
    assert runner.invoke(app, ["idp", "okta", "--config", str(v1)]).exit_code == 2
    result = runner.invoke(app, ["idp", "okta", "--headless", "nobody"])
    assert result.exit_code == 2
