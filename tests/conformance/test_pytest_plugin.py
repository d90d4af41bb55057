"""The pytest11 plugin: inert without its options, the kit's suites inside a team's run."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from proctor.conformance.error_shape import SHAPE_SUFFIX
from tests.conformance.fake_target import PUBLIC_JWK

TEAM_TESTS = '''
from proctor.conformance.checks import check


def test_the_teams_own_test():
    assert 1 + 1 == 2


@check("TEAM-OWN-001", level="SHOULD")
def test_a_team_check_that_is_not_met(proctor_target):
    """A team's own SHOULD check, judged like the kit's."""
    assert proctor_target.client.get(proctor_target.url("/nothing")).status_code == 200
'''


def _pytest(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_without_its_options_the_plugin_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text(
        "def test_ok():\n    pass\n\n\ndef test_wants_target(proctor_target):\n    pass\n"
    )
    done = _pytest(tmp_path, "-q")
    assert "1 passed, 1 error" in done.stdout, done.stdout + done.stderr
    assert "fixture 'proctor_target' not found" in done.stdout
    assert "--proctor-target=URL" in _pytest(tmp_path, "--help").stdout


def test_its_options_need_a_target(tmp_path: Path) -> None:
    (tmp_path / "test_plain.py").write_text("def test_ok():\n    pass\n")
    done = _pytest(tmp_path, "--proctor-level=must")
    assert done.returncode == 4
    assert "--proctor-level need --proctor-target or --proctor-config" in done.stderr


def _serve(httpserver: HTTPServer, issuer_suffix: str = "") -> str:
    issuer = f"http://{httpserver.host}:{httpserver.port}"
    httpserver.expect_request("/.well-known/oauth-authorization-server").respond_with_json(
        {
            "issuer": issuer + issuer_suffix,
            "token_endpoint": f"{issuer}/oauth2/token",
            "jwks_uri": f"{issuer}/oauth2/jwks",
            "response_types_supported": [],
        }
    )
    httpserver.expect_request("/oauth2/jwks").respond_with_json({"keys": [PUBLIC_JWK]})
    httpserver.expect_request("/").respond_with_data("fake target")
    return issuer


@pytest.mark.network
def test_a_teams_run_includes_the_kits_suites(httpserver: HTTPServer, tmp_path: Path) -> None:
    issuer = _serve(httpserver)
    (tmp_path / "target.yaml").write_text("capabilities: [metadata, jwks]\n")
    (tmp_path / "test_team.py").write_text(TEAM_TESTS)
    done = _pytest(
        tmp_path,
        f"--proctor-target={issuer}",
        "--proctor-config=target.yaml",
        "--proctor-report-dir=proctor-report",
        "test_team.py",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The checks needing only metadata and jwks run (the team's plain test passes too);
    # every check needing an undeclared capability is skipped.
    counts = re.search(r"(\d+) passed, (\d+) skipped, 1 xfailed", done.stdout)
    assert counts is not None, done.stdout
    passed, skipped = int(counts.group(1)), int(counts.group(2))
    assert passed >= 6
    assert skipped > 1
    assert f"proctor: target {issuer} (profile proctor, seed " in done.stdout  # CONF-SEED-001
    report = json.loads((tmp_path / "proctor-report" / "report.json").read_text())
    tests = report["results"]["tests"]
    # pytest counts each check once; the report adds the error shape of each negative
    # check as a result of its own (CONF-CTRL-002), skipped with its check here.
    checks = [t for t in tests if not t["name"].endswith(SHAPE_SUFFIX)]
    outcomes = sorted(t["extra"]["outcome"] for t in checks)
    assert outcomes == ["PASSED"] * (passed - 1) + ["SKIPPED"] * skipped + ["WARNING"]
    by_name = {t["name"]: t["extra"]["outcome"] for t in checks}
    for shape in (t for t in tests if t["name"].endswith(SHAPE_SUFFIX)):
        assert shape["extra"]["outcome"] == by_name[shape["name"].removesuffix(SHAPE_SUFFIX)]


@pytest.mark.network
def test_a_must_failure_fails_the_teams_run(httpserver: HTTPServer, tmp_path: Path) -> None:
    issuer = _serve(httpserver, issuer_suffix="/")
    (tmp_path / "target.yaml").write_text("capabilities: [metadata]\n")
    done = _pytest(
        tmp_path,
        f"--proctor-target={issuer}",
        "--proctor-config=target.yaml",
        "--proctor-suite=discovery",
        "-q",
    )
    assert done.returncode == 1
    assert "test_issuer_is_identical_to_the_fetched_identifier" in done.stdout


def test_the_plugins_choices_match_the_kits() -> None:
    from proctor.conformance import pytest_plugin
    from proctor.conformance.config import PROFILES
    from proctor.conformance.hypothesis_profiles import HYPOTHESIS_PROFILES
    from proctor.conformance.session import LEVEL_FILTERS

    assert pytest_plugin.PROFILE_CHOICES == PROFILES
    assert tuple(LEVEL_FILTERS) == pytest_plugin.LEVEL_CHOICES
    assert pytest_plugin.HYPOTHESIS_CHOICES == HYPOTHESIS_PROFILES
