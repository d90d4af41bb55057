"""``report.json``: the Common Test Report Format, with proctor's fields in ``extra``.

CTRF statuses are ``passed``, ``failed``, ``skipped``, ``pending`` and ``other``. A
FAILED check (a MUST) is ``failed``; WARNING and ERROR are ``other`` (neither is a MUST
failure, and ``extra.outcome`` says which); the exact outcome is also ``rawStatus``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from proctor.conformance.reports import RunReport
from proctor.conformance.results import CheckResult, Outcome

__all__ = ["document", "write"]

CTRF_STATUS = {
    Outcome.PASSED: "passed",
    Outcome.FAILED: "failed",
    Outcome.SKIPPED: "skipped",
    Outcome.WARNING: "other",
    Outcome.ERROR: "other",
}


def _millis(report: RunReport, which: str) -> int:
    return int(getattr(report.info, which).timestamp() * 1000)


def _test(report: RunReport, result: CheckResult) -> dict[str, Any]:
    allowed = report.allowed(result)
    extra: dict[str, Any] = {
        "id": result.id,
        "outcome": result.outcome.value,
        "title": result.title,
        "requirements": list(result.requirements),
        "requirementUrls": {
            rid: url for rid in result.requirements if (url := report.requirement_url(rid))
        },
        "level": result.level,
        "catalog": result.catalog,
        "needs": list(result.needs),
        "evidence": result.evidence,
        "seed": result.seed,
        "derandomized": result.derandomized,
        "reproduceFailure": result.blobs,
        "reproduction": result.reproduction,
        "allowed": None
        if allowed is None
        else {
            "reason": allowed.reason,
            "expires": allowed.expires.isoformat(),
            "issue": allowed.issue,
        },
        "baseline": report.baseline_state(result),
    }
    test: dict[str, Any] = {
        "name": result.id,
        "status": CTRF_STATUS[result.outcome],
        "rawStatus": result.outcome.value,
        "duration": round(result.duration * 1000),
        "suite": result.suite,
        "tags": [result.level, *result.requirements],
        "extra": extra,
    }
    if result.message:
        test["message"] = result.message
    if result.trace:
        test["trace"] = result.trace
    return test


def _verdict(report: RunReport) -> dict[str, Any]:
    """CONF-VERD-001: the verdict with what it was judged on and what did not apply."""
    info = report.info
    return {
        "verdict": report.verdict.label,
        "exitCode": int(report.verdict.exit_code),
        "profile": info.profile,
        "capabilities": info.capabilities,
        "specVersion": info.spec_version,
        "kitVersion": info.tool_version,
        "seed": info.seed,
        "notApplicable": report.not_applicable(),
    }


def document(report: RunReport) -> dict[str, Any]:
    totals = report.totals()
    verdict = report.verdict
    info = report.info
    return {
        "reportFormat": "CTRF",
        "specVersion": "0.0.0",
        "generatedBy": "proctor",
        "timestamp": info.finished.isoformat(),
        "results": {
            "tool": {"name": "proctor", "version": info.tool_version},
            "summary": {
                "tests": len(report.results),
                "passed": totals[Outcome.PASSED],
                "failed": totals[Outcome.FAILED],
                "skipped": totals[Outcome.SKIPPED],
                "pending": 0,
                "other": totals[Outcome.WARNING] + totals[Outcome.ERROR],
                "suites": len({r.suite for r in report.results}),
                "start": _millis(report, "started"),
                "stop": _millis(report, "finished"),
                "extra": {
                    "warnings": totals[Outcome.WARNING],
                    "errors": totals[Outcome.ERROR],
                    "verdict": verdict.label,
                    "exitCode": int(verdict.exit_code),
                    "reasons": verdict.reasons,
                    "conformance": _verdict(report),
                },
            },
            "tests": [_test(report, result) for result in report.ordered()],
            "environment": {"appName": info.target, "extra": {"profile": info.profile}},
            "extra": {
                "target": info.target,
                "profile": info.profile,
                "level": info.level,
                "suites": info.suites,
                "keyword": info.keyword,
                "hypothesisProfile": info.hypothesis_profile,
                "maxExamples": info.max_examples,
                "seed": info.seed,
                "capabilities": info.capabilities,
                "specVersion": info.spec_version,
                "kitVersion": info.tool_version,
                "unreachable": info.unreachable,
                "verdict": _verdict(report),
                "gate": {
                    "exitCode": int(verdict.exit_code),
                    "verdict": verdict.label,
                    "blocking": verdict.blocking,
                    "errors": verdict.errors,
                    "allowList": [
                        {
                            "check": status.entry.check,
                            "state": status.state,
                            "detail": status.detail,
                            "matched": status.matched,
                        }
                        for status in verdict.entries
                    ],
                    "baseline": {"new": verdict.new, "known": verdict.known, "fixed": verdict.fixed}
                    if verdict.baseline_used
                    else None,
                },
            },
        },
    }


def write(report: RunReport, path: Path) -> Path:
    path.write_text(json.dumps(document(report), indent=2, ensure_ascii=False) + "\n", "utf-8")
    return path
