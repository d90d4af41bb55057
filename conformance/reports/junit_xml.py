"""``junit.xml``: JUnit XML written by proctor itself.

pytest's own ``xunit2`` output has no testcase-level ``<properties>`` (and its suite
properties break under xdist), so the kit writes its own: one ``<testsuite>`` per suite,
one ``<testcase>`` per check with ``<properties>`` naming each requirement ID, the level,
the catalog ID and proctor's outcome. FAILED is a ``<failure>``, ERROR an ``<error>``,
SKIPPED a ``<skipped>``; a WARNING (a SHOULD not met) passes, with the message in
``<system-out>``. Text is stripped of characters XML 1.0 cannot carry.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from proctor.conformance.reports import RunReport
from proctor.conformance.results import CheckResult, Outcome

__all__ = ["render", "write"]

_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _clean(text: str) -> str:
    return _ILLEGAL_XML.sub("\ufffd", text)


def _counts(results: list[CheckResult]) -> dict[str, str]:
    return {
        "tests": str(len(results)),
        "failures": str(sum(r.outcome is Outcome.FAILED for r in results)),
        "errors": str(sum(r.outcome is Outcome.ERROR for r in results)),
        "skipped": str(sum(r.outcome is Outcome.SKIPPED for r in results)),
        "time": f"{sum(r.duration for r in results):.3f}",
    }


def _testcase(report: RunReport, parent: ET.Element, result: CheckResult) -> None:
    case = ET.SubElement(
        parent,
        "testcase",
        {"classname": f"proctor.{result.suite}", "name": _clean(result.name)},
    )
    case.set("time", f"{result.duration:.3f}")
    properties = ET.SubElement(case, "properties")
    for rid in result.requirements:
        ET.SubElement(properties, "property", {"name": "requirement", "value": rid})
    ET.SubElement(properties, "property", {"name": "level", "value": result.level})
    ET.SubElement(properties, "property", {"name": "outcome", "value": result.outcome.value})
    if result.catalog:
        ET.SubElement(properties, "property", {"name": "catalog", "value": result.catalog})
    allowed = report.allowed(result)
    if allowed is not None:
        ET.SubElement(
            properties,
            "property",
            {"name": "allowed", "value": _clean(f"{allowed.reason} (expires {allowed.expires})")},
        )
    message = _clean(result.message)
    replay = "\n".join([result.reproduction, *result.blobs]).strip()
    body = _clean("\n\n".join(part for part in (result.trace, replay) if part))
    if result.outcome is Outcome.FAILED:
        element = ET.SubElement(case, "failure", {"message": message, "type": "MUST"})
        element.text = body
    elif result.outcome is Outcome.ERROR:
        element = ET.SubElement(case, "error", {"message": message, "type": "ERROR"})
        element.text = body
    elif result.outcome is Outcome.SKIPPED:
        ET.SubElement(case, "skipped", {"message": message})
    elif result.outcome is Outcome.WARNING:
        out = ET.SubElement(case, "system-out")
        out.text = _clean(f"{result.level} not met: {result.message}\n{result.reproduction}")


def render(report: RunReport) -> bytes:
    root = ET.Element("testsuites", {"name": "proctor conformance", **_counts(report.results)})
    by_suite: dict[str, list[CheckResult]] = {}
    for result in report.ordered():
        by_suite.setdefault(result.suite, []).append(result)
    for suite, results in sorted(by_suite.items()):
        element = ET.SubElement(
            root,
            "testsuite",
            {
                "name": suite,
                "timestamp": report.info.started.replace(microsecond=0).isoformat(),
                **_counts(results),
            },
        )
        properties = ET.SubElement(element, "properties")
        for name, value in (
            ("target", report.info.target),
            ("profile", report.info.profile),
            ("level", report.info.level),
            ("hypothesis_profile", report.info.hypothesis_profile),
            ("seed", "" if report.info.seed is None else str(report.info.seed)),
            ("capabilities", ",".join(report.info.capabilities)),
            ("spec_version", report.info.spec_version),
            ("kit_version", report.info.tool_version),
            ("verdict", report.verdict.label),
            ("not_applicable", ",".join(report.not_applicable())),
        ):
            ET.SubElement(properties, "property", {"name": name, "value": _clean(value)})
        for result in results:
            _testcase(report, element, result)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def write(report: RunReport, path: Path) -> Path:
    path.write_bytes(render(report) + b"\n")
    return path
