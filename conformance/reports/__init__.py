"""The report files of a run, all written into one directory.

=================  ==========================================================================
``report.json``    CTRF-shaped (``results.tool/summary/tests[]``); each test's ``extra``
                   holds proctor's fields (requirements, level, catalog ID, evidence, seed,
                   reproduction command, allow-list and baseline status)
``junit.xml``      JUnit XML with testcase-level ``<properties>`` (requirement IDs, level)
``summary.md``     Markdown for a CI job summary: verdict, failures first, counts
``report.html``    one self-contained page: requirement matrix, failures, evidence
``badge.json``     a shields.io endpoint badge
=================  ==========================================================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from proctor.conformance.catalog import LEVELS, Requirement
from proctor.conformance.checks import profile_level
from proctor.conformance.config import PROFILES
from proctor.conformance.gate import AllowEntry, GateVerdict
from proctor.conformance.results import CheckResult, Outcome, RunInfo

__all__ = ["OUTCOME_ORDER", "RunReport", "write_reports"]

#: Failures first: errors, MUST failures, warnings, then passes and skips.
OUTCOME_ORDER = (Outcome.ERROR, Outcome.FAILED, Outcome.WARNING, Outcome.PASSED, Outcome.SKIPPED)


@dataclass
class RunReport:
    """What every report writer renders."""

    info: RunInfo
    results: list[CheckResult]
    verdict: GateVerdict
    catalog: Mapping[str, Requirement]

    def ordered(self) -> list[CheckResult]:
        """Results with failures first (blocking before allowed or known), then by ID."""
        blocking = set(self.verdict.blocking)

        def key(result: CheckResult) -> tuple[int, int, str]:
            return (
                OUTCOME_ORDER.index(result.outcome),
                0 if result.id in blocking else 1,
                result.id,
            )

        return sorted(self.results, key=key)

    def allowed(self, result: CheckResult) -> AllowEntry | None:
        return self.verdict.allowed.get(result.id)

    def baseline_state(self, result: CheckResult) -> str | None:
        if not self.verdict.baseline_used:
            return None
        if result.id in self.verdict.known:
            return "known"
        if result.id in self.verdict.new:
            return "new"
        if result.id in self.verdict.fixed:
            return "fixed"
        return None

    def status_text(self, result: CheckResult) -> str:
        """The outcome, with ``(allow-listed: <reason>)``/``(known)``/``(new)``/``(fixed)``.

        CONF-ALLOW-001: a covered failure keeps its outcome (FAILED, never PASSED) and is
        marked allow-listed with the entry's reason.
        """
        notes = []
        entry = self.allowed(result)
        if entry is not None:
            notes.append(f"allow-listed: {entry.reason}")
        state = self.baseline_state(result)
        if state is not None:
            notes.append(state)
        return f"{result.outcome.value} ({', '.join(notes)})" if notes else result.outcome.value

    def counts_by(self, attribute: str) -> dict[str, Counter[Outcome]]:
        table: dict[str, Counter[Outcome]] = {}
        for result in self.results:
            table.setdefault(str(getattr(result, attribute)), Counter())[result.outcome] += 1
        if attribute == "level":
            return {level: table[level] for level in LEVELS if level in table}
        return dict(sorted(table.items()))

    def totals(self) -> Counter[Outcome]:
        return Counter(result.outcome for result in self.results)

    def requirement_url(self, requirement_id: str) -> str | None:
        """A link to the requirement in the rendered spec, when it is known."""
        requirement = self.catalog.get(requirement_id)
        if requirement is None or not self.info.spec_url:
            return None
        page = requirement.file.removesuffix(".md")
        return f"{self.info.spec_url.rstrip('/')}/{page}/#{requirement_id}"

    def must_failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome is Outcome.FAILED]

    def not_applicable(self) -> list[str]:
        """The MUST requirements that did not apply to this target (CONF-VERD-001).

        A requirement (a MUST under the run's profile, :func:`profile_level`) did not apply
        when the run has checks citing it and every one of them was skipped for an
        undeclared capability or another profile.
        """
        citing: dict[str, list[CheckResult]] = {}
        for result in self.results:
            for rid in result.requirements:
                citing.setdefault(rid, []).append(result)
        profile = self.info.profile if self.info.profile in PROFILES else None
        return sorted(
            rid
            for rid, results in citing.items()
            if (requirement := self.catalog.get(rid)) is not None
            and profile_level(requirement, profile) == "MUST"
            and not any(r.applies for r in results)
        )

    def verdict_facts(self) -> str:
        """Profile, capabilities, spec and kit versions and seed, on one line."""
        info = self.info
        return (
            f"profile {info.profile} · capabilities "
            f"{', '.join(info.capabilities) or 'none'} · spec v{info.spec_version} · "
            f"proctor {info.tool_version} · seed "
            f"{info.seed if info.seed is not None else 'none'}"
        )

    def verdict_line(self) -> str:
        """The console's last line: the verdict, the exit code and what it was judged on."""
        verdict = self.verdict
        missing = len(self.not_applicable())
        return (
            f"proctor conformance: {verdict.label} (exit code {int(verdict.exit_code)}) · "
            f"{self.verdict_facts()}"
            + (f" · {missing} MUST requirement(s) did not apply" if missing else "")
        )


def write_reports(report: RunReport, directory: Path, *, junit: Path | None = None) -> list[Path]:
    """Write every report file into ``directory`` (created); also ``junit`` if given."""
    from proctor.conformance.reports import badge, ctrf, html, junit_xml, markdown

    directory.mkdir(parents=True, exist_ok=True)
    written = [
        ctrf.write(report, directory / "report.json"),
        junit_xml.write(report, directory / "junit.xml"),
        markdown.write(report, directory / "summary.md"),
        html.write(report, directory / "report.html"),
        badge.write(report, directory / "badge.json"),
    ]
    if junit is not None:
        junit.parent.mkdir(parents=True, exist_ok=True)
        written.append(junit_xml.write(report, junit))
    return written
