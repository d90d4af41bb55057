"""The report files: written, well-formed, complete, self-contained."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from proctor.conformance.catalog import Requirement
from tests.conformance.conftest import KitRun, RunKit
from tests.conformance.fake_target import Flaws

CTRF_STATUSES = {"passed", "failed", "skipped", "pending", "other"}
SPEC_URL = "https://docs.example/spec"
CATALOG = {
    "AS-META-001": Requirement(
        id="AS-META-001",
        level="MUST",
        title="Location and issuer",
        file="07-token-exchange.md",
        source="RFC 8414 §3",
    ),
    "KIT-UNCHECKED-001": Requirement(
        id="KIT-UNCHECKED-001", level="MUST", title="Nobody checks me", file="99-x.md", source="x"
    ),
}


@pytest.fixture
def mixed(run_kit: RunKit) -> KitRun:
    """A run with every outcome: a MUST failure, warnings, skips, errors and passes."""
    return run_kit(
        flaws=Flaws(issuer_trailing_slash=True),
        samples=("kit_levels",),
        catalog=CATALOG,
        spec_url=SPEC_URL,
    )


def _parse_xml(path: Path) -> ET.Element:
    return ET.fromstring(path.read_bytes())  # noqa: S314 - our own output


def test_every_report_file_is_written(mixed: KitRun) -> None:
    names = sorted(p.name for p in mixed.report_dir.iterdir())
    assert names == ["badge.json", "junit.xml", "report.html", "report.json", "summary.md"]
    assert sorted(p.name for p in mixed.outcome.report_files) == names


def test_report_json_is_ctrf_with_proctor_fields(mixed: KitRun) -> None:
    document = json.loads((mixed.report_dir / "report.json").read_text())
    assert document["reportFormat"] == "CTRF"
    assert document["specVersion"] == "0.0.0"
    results = document["results"]
    assert results["tool"]["name"] == "proctor"
    summary = results["summary"]
    tests = results["tests"]
    assert summary["tests"] == len(tests) == len(mixed.outcome.results) == 15
    parts = ("passed", "failed", "skipped", "pending", "other")
    assert sum(summary[k] for k in parts) == summary["tests"]
    assert (summary["failed"], summary["extra"]["errors"], summary["extra"]["warnings"]) == (
        1,
        2,
        1,
    )
    assert summary["start"] <= summary["stop"]
    assert tests[0]["rawStatus"] in ("ERROR", "FAILED")  # failures first
    for test in tests:
        assert test["status"] in CTRF_STATUSES
        assert isinstance(test["duration"], int)
        extra = test["extra"]
        for key in ("requirements", "level", "catalog", "evidence", "seed", "reproduction"):
            assert key in extra
    issuer = next(t for t in tests if t["name"].startswith("discovery::test_issuer"))
    assert issuer["status"] == "failed"
    assert issuer["extra"]["requirementUrls"] == {
        "AS-META-001": f"{SPEC_URL}/07-token-exchange/#AS-META-001"
    }
    assert issuer["extra"]["evidence"][0]["response"]["status"] == 200
    assert issuer["extra"]["reproduction"].startswith("proctor conform --target http://target.test")
    assert results["extra"]["gate"]["exitCode"] == 1  # CONF-EXIT-001: 1 outranks 3


def test_junit_xml_is_well_formed_with_testcase_properties(mixed: KitRun) -> None:
    root = _parse_xml(mixed.report_dir / "junit.xml")
    assert root.tag == "testsuites"
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == int(root.get("tests", "0")) == 15
    assert int(root.get("failures", "0")) == 1
    assert int(root.get("errors", "0")) == 2
    issuer = next(c for c in cases if c.get("name", "").startswith("test_issuer"))
    properties = {(p.get("name"), p.get("value")) for p in issuer.findall("./properties/property")}
    assert ("requirement", "AS-META-001") in properties
    assert ("level", "MUST") in properties
    assert issuer.find("failure") is not None
    skipped = next(c for c in cases if c.get("name") == "test_needs_the_vault")
    assert skipped.find("skipped") is not None
    warning = next(c for c in cases if c.get("name") == "test_should_is_not_met")
    assert warning.find("failure") is None
    assert "SHOULD not met" in (warning.findtext("system-out") or "")


def test_control_characters_do_not_break_the_xml(run_kit: RunKit) -> None:
    run = run_kit(suites=(), samples=("kit_secrets",), keyword="control_characters")
    assert "\x00" in run.result("test_control_characters").message
    root = _parse_xml(run.report_dir / "junit.xml")
    failure = root.find(".//failure")
    assert failure is not None
    assert "bad \ufffd bytes" in (failure.get("message") or "")


def test_the_html_report_is_self_contained_with_the_matrix(mixed: KitRun) -> None:
    html = (mixed.report_dir / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert 'id="matrix"' in html
    for rid in ("AS-META-001", "AS-META-002", "AS-JWKS-001", "KIT-LVL-002", "KIT-UNCHECKED-001"):
        assert rid in html
    assert "no check in this run" in html  # KIT-UNCHECKED-001
    for external in ("<script", "src=", "<link", "@import", "url("):
        assert external not in html
    failures = html.index("<h2>Failures")
    assert html.index("test_issuer_is_identical", failures) < html.index("<h2>All checks")
    assert "Reproduce:" in html
    assert "Evidence 1:" in html


def test_the_markdown_summary_puts_failures_first_with_links(mixed: KitRun) -> None:
    summary = (mixed.report_dir / "summary.md").read_text()
    assert summary.startswith("## ❌ proctor conformance: not conformant")
    assert (
        summary.index("### Failures")
        < summary.index("### By suite")
        < summary.index("### By level")
    )
    assert f"[AS-META-001]({SPEC_URL}/07-token-exchange/#AS-META-001)" in summary
    assert "`discovery::test_issuer_is_identical_to_the_fetched_identifier`" in summary
    assert "| kit_levels | 2 | 0 | 1 | 2 | 4 |" in summary


@pytest.mark.parametrize(
    ("flaws", "message", "color"),
    [
        (Flaws(), "conformant", "brightgreen"),
        (Flaws(issuer_trailing_slash=True), "1 MUST failure", "red"),
        (Flaws(jwks_500=True), "2 MUST failures", "red"),
    ],
)
def test_the_badge_is_a_shields_endpoint(
    run_kit: RunKit, flaws: Flaws, message: str, color: str
) -> None:
    badge = json.loads((run_kit(flaws=flaws).report_dir / "badge.json").read_text())
    assert badge == {"schemaVersion": 1, "label": "proctor", "message": message, "color": color}


def test_a_junit_copy_is_written_where_asked(run_kit: RunKit, tmp_path: Path) -> None:
    run = run_kit(junit=tmp_path / "ci" / "proctor.xml")
    assert _parse_xml(tmp_path / "ci" / "proctor.xml").tag == "testsuites"
    assert run.exit_code == 0


def _must(rid: str, source: str = "proctor: kit meta-test") -> Requirement:
    return Requirement(id=rid, level="MUST", title=rid, file="99-x.md", source=source)


def test_the_verdict_states_what_it_was_judged_on_and_what_did_not_apply(
    run_kit: RunKit,
) -> None:
    """CONF-VERD-001: the verdict states profile, capabilities, spec and kit versions and
    seed, and lists the MUST requirements whose every citing check needs an undeclared
    capability (KIT-LVL-004) or another profile (KIT-LVL-005); a check that skipped
    itself (KIT-LVL-006) did apply."""
    catalog = {rid: _must(rid) for rid in ("KIT-LVL-001", "KIT-LVL-004", "KIT-LVL-005")}
    catalog["KIT-LVL-006"] = _must("KIT-LVL-006")
    run = run_kit(suites=(), samples=("kit_levels",), catalog=catalog, seed=4242)
    document = json.loads((run.report_dir / "report.json").read_text())
    verdict = document["results"]["extra"]["verdict"]
    assert verdict == {
        "verdict": run.outcome.verdict.label,
        "exitCode": run.exit_code,
        "profile": "proctor",
        "capabilities": ["metadata", "jwks", "client_credentials", "token_exchange"],
        "specVersion": "1",
        "kitVersion": run.outcome.info.tool_version,
        "seed": 4242,
        "notApplicable": ["KIT-LVL-004", "KIT-LVL-005"],
    }
    assert document["results"]["summary"]["extra"]["conformance"] == verdict
    facts = (
        "profile proctor · capabilities metadata, jwks, client_credentials, token_exchange · "
        f"spec v1 · proctor {run.outcome.info.tool_version} · seed 4242"
    )
    summary = (run.report_dir / "summary.md").read_text()
    assert facts in summary
    section = summary.split("### MUST requirements that did not apply", 1)[1]
    section = section.split("###", 1)[0]
    assert "- `KIT-LVL-004`" in section
    assert "- `KIT-LVL-005`" in section
    assert "KIT-LVL-006" not in section
    assert "KIT-LVL-001" not in section
    last = run.console.strip().splitlines()[-1]
    assert last.startswith(f"proctor conformance: {run.outcome.verdict.label} (exit code 3) · ")
    assert facts in last
    assert last.endswith("2 MUST requirement(s) did not apply")
