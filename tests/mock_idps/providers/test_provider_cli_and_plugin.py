"""``proctor idp <preset>`` (without serving: the foreground server is replaced by a
recorder), the fixtures in-process and on a loopback port, and ``create_app``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from proctor.cli.main import app
from proctor.mock_idps import providers
from proctor.mock_idps.app import create_app
from proctor.mock_idps.pytest_plugin import MockIdp, MockProvider
from proctor.mock_idps.testing import parse_forms, pkce_pair

runner = CliRunner()


def test_idp_lists_the_presets() -> None:
    result = runner.invoke(app, ["idp", "--help"])
    assert result.exit_code == 0
    for name in ("crm", "finance", "documents", "google", "github"):
        assert name in result.output


def test_print_config_is_the_preset() -> None:
    result = runner.invoke(app, ["idp", "finance", "--print-config"])
    assert result.exit_code == 0
    expected = providers.FINANCE.default_config().model_dump(mode="json")
    assert yaml.safe_load(result.output) == expected


def test_banner_prints_what_a_client_needs(served: dict[str, Any]) -> None:
    result = runner.invoke(app, ["idp", "crm", "--port", "18721"])
    assert result.exit_code == 0, result.output
    assert served["port"] == 18721
    engine = served["app"].engine
    assert engine.base_url == "http://127.0.0.1:18721"
    out = result.output
    assert "http://127.0.0.1:18721/.well-known/oauth-authorization-server" in out
    assert "token         http://127.0.0.1:18721/oauth2/token" in out
    assert "GET   http://127.0.0.1:18721/api/customers/{id}/notes  (notes.read)" in out
    assert "audience http://127.0.0.1:18721/api" in out
    assert "proctor-crm  (secret: crm:demo+secret%2F1)" in out
    assert "sarah@example.com  password: sarah-password" in out
    assert "access tokens opaque" in out


def test_github_banner_and_headless(served: dict[str, Any]) -> None:
    result = runner.invoke(app, ["idp", "github", "--headless", "sarah-example"])
    assert result.exit_code == 0, result.output
    assert "metadata      (none" in result.output
    assert "http://127.0.0.1:8725/login/oauth/access_token" in result.output
    assert "approved as sarah-example" in result.output


def test_bad_provider_config(served: dict[str, Any], tmp_path: Path) -> None:
    no_api = tmp_path / "no-api.yaml"
    no_api.write_text("users: [{username: a, password: b}]\n")
    assert runner.invoke(app, ["idp", "crm", "--config", str(no_api)]).exit_code == 2
    jwt_github = tmp_path / "gh.yaml"
    jwt_github.write_text("apis: [{id: g, audience: x}]\nvendor: {token_format: jwt}\n")
    assert runner.invoke(app, ["idp", "github", "--config", str(jwt_github)]).exit_code == 2
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("apis: [{id: g, audience: x}]\nvendor: {colour: blue}\n")
    assert runner.invoke(app, ["idp", "crm", "--config", str(unknown)]).exit_code == 2
    assert "serve" not in served


def test_create_app_serves_a_preset() -> None:
    mock = create_app("documents", base_url="https://docs.internal.example")
    engine = mock.engine
    assert engine.server().audience == "https://docs.internal.example/api"
    assert providers.resource_api(engine).context.audience() == engine.server().audience
    assert isinstance(engine.profile, providers.DocumentsProvider)


def test_factory_returns_providers(mock_idp_factory: Callable[..., MockIdp]) -> None:
    crm = mock_idp_factory("crm", headless_user="bob@example.com")
    okta = mock_idp_factory("okta")
    assert isinstance(crm, MockProvider)
    assert not isinstance(okta, MockProvider)
    assert crm.config.headless_user == "bob@example.com"
    assert crm.client_id == "proctor-crm"
    assert crm.resource_url("/api") == crm.audience


@pytest.mark.network
@pytest.mark.mock_idp(live=True)
def test_live_provider_full_flow(crm_provider: MockProvider) -> None:
    assert crm_provider.live
    base = crm_provider.base_url
    assert base.startswith("http://127.0.0.1:")
    assert crm_provider.audience == base + "/api"
    verifier, challenge = pkce_pair()
    callback = "http://127.0.0.1:8700/oauth2/callback"
    with httpx.Client(base_url=base) as browser:
        metadata = browser.get("/.well-known/oauth-authorization-server").json()
        assert metadata["issuer"] == base
        r = browser.get(
            metadata["authorization_endpoint"],
            params={
                "client_id": "proctor-crm",
                "redirect_uri": callback,
                "response_type": "code",
                "scope": "notes.read",
                "state": "live",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "resource": crm_provider.audience,
            },
            follow_redirects=True,
        )
        login = parse_forms(r.text)["login"]
        r = browser.post(
            login.action, data=login.fill(username="sarah@example.com", password="sarah-password")
        )
        consent = parse_forms(r.text)["consent"]
        r = browser.post(consent.action, data=consent.fill(decision="allow"))
        code = httpx.URL(r.headers["location"]).params["code"]
        r = browser.post(
            metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": callback,
                "code_verifier": verifier,
                "resource": crm_provider.audience,
            },
            auth=(quote_plus("proctor-crm"), quote_plus("crm:demo+secret%2F1")),
        )
        assert r.status_code == 200, r.text
        notes = browser.get(
            "/api/customers/acme/notes",
            headers={"authorization": f"Bearer {r.json()['access_token']}"},
        )
    assert notes.status_code == 200
    assert crm_provider.resource_requests()[-1].summary == {"customer": "acme", "notes": 3}
