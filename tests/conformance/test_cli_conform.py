"""``proctor conform`` and ``proctor conform setup`` (wired into a local Typer root)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

from proctor.cli import conform

runner = CliRunner()
root = typer.Typer()
root.add_typer(conform.app, name="conform")

CONFIG = """
url: https://sts.example.com
profile: rfc8693
capabilities: [metadata, token_exchange]
credentials:
  clients:
    orchestrator: {client_id: conformance-orchestrator, client_secret: hush-hush-secret-1}
subject_token: {source: mock_idp, idp: okta, client_id: kit-user-client}
mock_idps:
  issuers: {okta: "https://okta.test/oauth2/default"}
  audience: api://default
audiences: [https://crm.example.com]
"""


def _config(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "target.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_target_runs_the_embedded_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    from proctor.cli.embedded_target import embedded_target
    from proctor.conformance.runner import RunOptions

    seen: list[tuple[RunOptions, object]] = []

    def fake_run(options: RunOptions, *, target_factory: object, console: object) -> object:
        seen.append((options, target_factory))
        return SimpleNamespace(exit_code=0)

    monkeypatch.setattr(conform, "run", fake_run)
    result = runner.invoke(root, ["conform", "--suite", "authorizer"])
    assert result.exit_code == 0, result.output
    ((options, factory),) = seen
    assert factory is embedded_target
    assert options.target is None
    assert options.config_path is None
    assert list(options.suites) == ["authorizer"]


def test_a_target_url_runs_without_the_embedded_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[object] = []

    def fake_run(options: object, *, target_factory: object, console: object) -> object:
        seen.append(target_factory)
        return SimpleNamespace(exit_code=1)

    monkeypatch.setattr(conform, "run", fake_run)
    result = runner.invoke(root, ["conform", "--target", "https://sts.example.com"])
    assert result.exit_code == 1
    assert seen == [None]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--level", "sometimes"], "--level must be one of must, should, may"),
        (["--suite", "nope"], "unknown suite(s) nope"),
        (["--profile", "keycloak"], "profile"),
        (["--allow", "missing.yaml"], "cannot read allow-list"),
    ],
)
def test_bad_options_exit_2(args: list[str], message: str) -> None:
    result = runner.invoke(root, ["conform", "--target", "http://127.0.0.1:9", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_a_bad_config_file_exits_2(tmp_path: Path) -> None:
    """CONF-CAP-001: an invalid declaration exits 2."""
    result = runner.invoke(root, ["conform", "--config", str(_config(tmp_path, "nope: 1\n"))])
    assert result.exit_code == 2
    assert "Extra inputs are not permitted" in result.output


@pytest.mark.network
def test_an_unreachable_target_exits_3_with_reports(tmp_path: Path) -> None:
    result = runner.invoke(
        root,
        ["conform", "--target", "http://127.0.0.1:9", "--report-dir", str(tmp_path / "out")],
    )
    assert result.exit_code == 3, result.output
    assert "target unreachable" in result.output
    assert (tmp_path / "out" / "summary.md").is_file()


def test_setup_derives_the_operators_checklist_from_the_config(tmp_path: Path) -> None:
    result = runner.invoke(root, ["conform", "setup", "--config", str(_config(tmp_path))])
    assert result.exit_code == 0, result.output
    text = result.output
    assert "profile rfc8693" in text
    assert "no control plane" in text
    assert "https://sts.example.com/.well-known/oauth-authorization-server" in text
    assert "https://okta.test/oauth2/default/.well-known/openid-configuration" in text
    assert "api://default" in text
    assert "client_id `conformance-orchestrator`, client_secret_basic" in text
    assert "https://crm.example.com" in text
    assert "from mock IdP `okta`" in text
    assert "declared `token_exchange`" in text
    assert "`vault`" in text  # undeclared: its checks are skipped
    assert "hush-hush-secret-1" not in text


def test_setup_says_what_is_missing_rather_than_guessing() -> None:
    result = runner.invoke(root, ["conform", "setup", "--profile", "proctor"])
    assert result.exit_code == 0
    assert "control plane" in result.output
    assert "admin token (`credentials.admin_token`): MISSING" in result.output
    assert "none configured (`mock_idps.issuers` is empty)" in result.output
