"""``proctor idp okta``: options, the printed banner and the served app (without
serving: the foreground server is replaced by a recorder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from typer.testing import CliRunner

from proctor.cli.main import app
from proctor.mock_idps.okta import PROFILE

runner = CliRunner()


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


@pytest.mark.parametrize(
    ("vendor", "hosts", "issuer"),
    [
        ("okta", ["example.okta.com"], "https://example.okta.com/oauth2/default"),
        (
            "entra",
            ["login.microsoftonline.com", "graph.microsoft.com", "sts.windows.net"],
            "https://sts.windows.net/b7c3d9e1-4f2a-4c8b-9e6d-1a2b3c4d5e6f/",
        ),
        (
            "cognito",
            [
                "cognito-idp.us-east-1.amazonaws.com",
                "proctor-demo.auth.us-east-1.amazoncognito.com",
            ],
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Pr0ct0r42",
        ),
        ("github", ["github.com"], "https://github.com"),
    ],
)
def test_vendor_hosts_certificate_names_every_host(
    served: dict[str, Any], tmp_path: Path, vendor: str, hosts: list[str], issuer: str
) -> None:
    """The certificate covers every host in the vendor's issuers and endpoint URLs (Entra's
    v1.0 issuer and Graph UserInfo, Cognito's pool domain), and the banner lists them all."""
    result = runner.invoke(
        app, ["idp", vendor, "--vendor-hosts", "--port", "8443", "--tls-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    cert = x509.load_pem_x509_certificate(served["tls"].cert.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [*hosts, "localhost"]
    assert f"127.0.0.1 {' '.join(hosts)}' to /etc/hosts" in result.output
    assert issuer in result.output


def test_host_name_in_another_region_is_a_usage_error(tmp_path: Path) -> None:
    host = "cognito-idp.eu-west-1.amazonaws.com"
    result = runner.invoke(
        app, ["idp", "cognito", "--vendor-hosts", "--host-name", host, "--tls-dir", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "--host-name" in result.output
    assert "us-east-1" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "server.pem").exists()


@pytest.mark.parametrize("vendor", ["okta", "entra", "cognito", "crm", "google"])
def test_every_command_explains_itself(vendor: str) -> None:
    result = runner.invoke(app, ["idp", vendor, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    out = result.output
    for option in ("--port", "--config", "--vendor-hosts", "--host-name", "--headless"):
        assert option in out
    assert "/_mock" in out
    assert "demo users and clients" in out


def test_group_help_names_every_emulator() -> None:
    out = runner.invoke(app, ["idp", "--help"], env={"COLUMNS": "200"}).output
    assert "to come" not in out
    for name in ("okta", "entra", "cognito", "crm", "finance", "documents", "google", "github"):
        assert name in out
    for fixture in ("okta_idp", "entra_idp", "cognito_idp"):
        assert fixture in out
