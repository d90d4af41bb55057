"""The pytest side of a conformance run: selecting, gating and recording checks.

:class:`ProctorPlugin` is registered by the runner, or by the
``pytest11`` entry point when ``--proctor-target`` is given. It

- resolves each check's level against the requirement catalog, under the target's
  profile (CONF-PROF-001: ``rfc8693`` evaluates ``proctor``-only MUSTs as SHOULDs), and
  deselects the levels the run does not ask for;
- SKIPS a check whose capabilities the target does not declare, or whose profiles do not
  include the target's, with the reason;
- records the evidence of each check, and turns the phases of each check into one
  :class:`~proctor.conformance.results.CheckResult` (see
  :func:`~proctor.conformance.results.classify_failure`), and a negative check declared
  with ``shape=`` into two: its refusal and its error shape (CONF-CTRL-002,
  :mod:`~proctor.conformance.error_shape`);
- shows a failed SHOULD to pytest as an expected failure (``xfailed``) and a MAY whose
  optional behaviour is absent as a skip (CONF-LEVEL-001), so pytest's own exit status
  follows the gate: only MUSTs and errors make the run red.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest

from proctor.conformance import fixtures
from proctor.conformance.catalog import LEVELS, Level, Requirement
from proctor.conformance.checks import CheckSpec, resolve_level, spec_of
from proctor.conformance.error_shape import SHAPE_SUFFIX, ShapeRecord, recording
from proctor.conformance.errors import CheckDeclarationError
from proctor.conformance.evidence import Redactor
from proctor.conformance.hypothesis_profiles import (
    HypothesisProfile,
    activated,
    reproduction_blobs,
)
from proctor.conformance.results import (
    OPTIONAL_ABSENT,
    CheckResult,
    Outcome,
    classify_failure,
)
from proctor.conformance.target import Target

__all__ = [
    "LEVEL_FILTERS",
    "ConformanceSession",
    "LevelFilter",
    "ProctorPlugin",
    "TeamRunPlugin",
    "scrub_results",
]

FIXTURES_NAME = "proctor-fixtures"

LevelFilter = Literal["must", "should", "may"]
#: ``--level must`` runs MUST checks; ``should`` adds SHOULDs; ``may`` runs everything.
LEVEL_FILTERS: dict[LevelFilter, frozenset[Level]] = {
    "must": frozenset({"MUST"}),
    "should": frozenset({"MUST", "SHOULD"}),
    "may": frozenset(LEVELS),
}
MAX_MESSAGE = 2_000
MAX_TRACE = 20_000


@dataclass
class ConformanceSession:
    """Everything one run needs: the target, the catalog and the run's options."""

    target: Target
    catalog: Mapping[str, Requirement]
    level: LevelFilter = "may"
    hypothesis_profile: HypothesisProfile = "ci"
    max_examples: int | None = None
    seed: int | None = None
    #: Runner mode: every test collected must be a declared check (else ERROR).
    strict: bool = True
    reproduce: Callable[[CheckResult], str] = lambda result: ""
    results: list[CheckResult] = field(default_factory=list)
    listeners: list[Callable[[CheckResult], None]] = field(default_factory=list)
    on_collected: Callable[[int], None] | None = None
    collection_errors: int = 0


@dataclass
class _Phase:
    outcome: str
    error: BaseException | None
    text: str
    duration: float


_SPEC = pytest.StashKey[CheckSpec | None]()
_LEVEL = pytest.StashKey[Level | CheckDeclarationError]()
_PHASES = pytest.StashKey[dict[str, _Phase]]()
_NOT_APPLICABLE = pytest.StashKey[bool]()
_SHAPE = pytest.StashKey[ShapeRecord]()
_SHAPE_LEVEL = pytest.StashKey[Level | CheckDeclarationError]()


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}… [{len(text) - limit} more]"


def _describe(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_describe(sub) for sub in error.exceptions)
    if isinstance(error, pytest.skip.Exception):
        return str(getattr(error, "msg", "") or "skipped")
    text = str(error)
    if isinstance(error, AssertionError):
        return text or "assertion failed"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def scrub_results(results: list[CheckResult], redactor: Redactor) -> None:
    """Scrub every result once more with all the secrets learnt during the run."""
    for result in results:
        result.message = redactor.text(result.message)
        result.trace = redactor.text(result.trace)
        result.reproduction = redactor.text(result.reproduction)
        result.evidence = redactor.scrub(result.evidence)
        result.blobs = [redactor.text(blob) for blob in result.blobs]


class ProctorPlugin:
    """pytest hooks of a conformance run (see the module docstring)."""

    def __init__(self, session: ConformanceSession) -> None:
        self.session = session
        self._stack = ExitStack()

    # -- lifecycle ----------------------------------------------------------------------

    def pytest_configure(self, config: pytest.Config) -> None:
        config.stash[fixtures.TARGET_KEY] = self.session.target
        if not config.pluginmanager.is_registered(fixtures):
            config.pluginmanager.register(fixtures, FIXTURES_NAME)
        self._stack.enter_context(
            activated(
                self.session.hypothesis_profile,
                max_examples=self.session.max_examples,
                seed=self.session.seed,
            )
        )

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        self._stack.close()

    def pytest_report_header(self, config: pytest.Config) -> str:
        target = self.session.target
        seed = "" if self.session.seed is None else f", seed {self.session.seed}"
        return f"proctor: target {target.label} (profile {target.profile}{seed})"

    # -- collection ---------------------------------------------------------------------

    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        wanted = LEVEL_FILTERS[self.session.level]
        kept: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            spec = spec_of(getattr(item, "obj", None))
            item.stash[_SPEC] = spec
            if spec is None:
                # Runner mode: reported as an ERROR (not a declared check). Plugin mode: a
                # team's own test, not ours to judge.
                kept.append(item)
                continue
            try:
                level: Level | CheckDeclarationError = resolve_level(
                    spec, self.session.catalog, self.session.target.profile
                )
            except CheckDeclarationError as error:
                level = error
            item.stash[_LEVEL] = level
            shape = spec.shape_spec()
            if shape is not None:
                try:
                    shape_level: Level | CheckDeclarationError = resolve_level(
                        shape, self.session.catalog, self.session.target.profile
                    )
                except CheckDeclarationError as error:
                    shape_level = error
                item.stash[_SHAPE_LEVEL] = shape_level
            if isinstance(level, CheckDeclarationError) or level in wanted:
                kept.append(item)
            else:
                dropped.append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.session.on_collected is not None:
            count = sum(
                1 + self._reports_shape(item) for item in session.items if self._is_ours(item)
            )
            self.session.on_collected(count)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed:
            return
        suite = Path(report.nodeid.split("::", 1)[0]).stem or "collection"
        redact = self.session.target.redactor.text
        lines = report.longreprtext.strip().splitlines()
        result = CheckResult(
            id=f"{suite}::<collection>",
            suite=suite,
            name="<collection>",
            title=f"suite {suite} could not be collected",
            requirements=(),
            level="MUST",
            outcome=Outcome.ERROR,
            message=_truncate(redact(lines[-1]), MAX_MESSAGE) if lines else "collection failed",
            trace=_truncate(redact(report.longreprtext), MAX_TRACE),
        )
        self.session.collection_errors += 1
        self._publish(result)

    # -- running ------------------------------------------------------------------------

    def _is_ours(self, item: pytest.Item) -> bool:
        return self.session.strict or item.stash.get(_SPEC, None) is not None

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        if not self._is_ours(item):
            return
        self.session.target.recorder.begin()
        spec = item.stash.get(_SPEC, None)
        if spec is None:
            raise CheckDeclarationError(
                "not declared with @check: every test in a suite must cite its requirements"
            )
        level = item.stash[_LEVEL]
        if isinstance(level, CheckDeclarationError):
            raise level
        target = self.session.target
        missing = [need for need in spec.needs if not target.has(need)]
        if missing:
            item.stash[_NOT_APPLICABLE] = True
            pytest.skip(f"target does not declare capability {', '.join(missing)}")
        if spec.profiles is not None and target.profile not in spec.profiles:
            item.stash[_NOT_APPLICABLE] = True
            pytest.skip(
                f"applies to profiles {', '.join(spec.profiles)}; the target's is {target.profile}"
            )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        if not self._is_ours(item):
            return (yield)
        with recording(split=_SHAPE_LEVEL in item.stash) as record:
            item.stash[_SHAPE] = record
            return (yield)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if not self._is_ours(item):
            return report
        error = call.excinfo.value if call.excinfo is not None else None
        phases = item.stash.setdefault(_PHASES, {})
        phases[call.when] = _Phase(report.outcome, error, report.longreprtext, report.duration)
        level = item.stash.get(_LEVEL, None)
        if (
            call.when == "call"
            and report.failed
            and error is not None
            and level in ("SHOULD", "MAY")
            and classify_failure(error, "SHOULD") is Outcome.WARNING
        ):
            reason = self.session.target.redactor.text(_describe(error))
            report.outcome = "skipped"
            if level == "SHOULD":
                report.wasxfail = f"SHOULD not met: {reason}"
            else:  # CONF-LEVEL-001: a MAY informs only; its absence is a skip
                line = item.location[1] if item.location[1] is not None else 0
                report.longrepr = (str(item.path), line, f"Skipped: {OPTIONAL_ABSENT}: {reason}")
        record = item.stash.get(_SHAPE, None)
        if (
            call.when == "call"
            and report.passed
            and record is not None
            and record.failures
            and item.stash.get(_SHAPE_LEVEL, None) == "MUST"
        ):
            # The refusal passed, its shape did not: a team's pytest run must go red too.
            report.outcome = "failed"
            report.longrepr = f"error shape (CONF-CTRL-002): {_describe(record.failures[0])}"
        if call.when == "teardown":
            main = self._finalize(item, phases)
            self._publish(main)
            if self._reports_shape(item):
                self._publish(self._shape_result(item, main, record))
        return report

    def _reports_shape(self, item: pytest.Item) -> bool:
        """Whether the check's error shape is a result of this run (its level selected)."""
        level = item.stash.get(_SHAPE_LEVEL, None)
        if level is None:
            return False
        return (
            isinstance(level, CheckDeclarationError) or level in LEVEL_FILTERS[self.session.level]
        )

    # -- results ------------------------------------------------------------------------

    def _finalize(self, item: pytest.Item, phases: dict[str, _Phase]) -> CheckResult:
        record = item.stash.get(_SHAPE, None)
        target = self.session.target
        redact = target.redactor.text
        evidence = target.recorder.end()
        spec = item.stash.get(_SPEC, None)
        resolved = item.stash.get(_LEVEL, None)
        if isinstance(resolved, str):
            level: Level = resolved
        else:
            level = (spec.level if spec is not None else None) or "MUST"
        setup, call, teardown = phases.get("setup"), phases.get("call"), phases.get("teardown")
        outcome, error, text = Outcome.ERROR, None, ""
        optional_absent = False
        if setup is not None and setup.outcome == "skipped":
            outcome, error = Outcome.SKIPPED, setup.error
        elif setup is not None and setup.outcome == "failed":
            outcome, error, text = Outcome.ERROR, setup.error, setup.text
        elif call is not None:
            error, text = call.error, call.text
            if call.error is None:
                outcome = Outcome.PASSED
            elif isinstance(call.error, pytest.skip.Exception):
                outcome = Outcome.SKIPPED
            else:
                outcome = classify_failure(call.error, level)
                optional_absent = outcome is Outcome.SKIPPED
        if outcome is Outcome.PASSED and teardown is not None and teardown.outcome == "failed":
            outcome, error, text = Outcome.ERROR, teardown.error, teardown.text
        message = _describe(error) if error is not None else ""
        if optional_absent:
            message = f"{OPTIONAL_ABSENT}: {message}"
        blobs = reproduction_blobs(error) if error is not None else []
        suite = item.path.stem
        result = CheckResult(
            id=f"{suite}::{item.name}",
            suite=suite,
            name=item.name,
            title=spec.title if spec is not None else item.name,
            requirements=spec.requirements if spec is not None else (),
            level=level,
            outcome=outcome,
            catalog=spec.catalog if spec is not None else None,
            needs=spec.needs if spec is not None else (),
            message=_truncate(redact(message), MAX_MESSAGE),
            trace=_truncate(redact(text), MAX_TRACE) if outcome is not Outcome.SKIPPED else "",
            duration=sum(phase.duration for phase in phases.values()),
            evidence=evidence,
            seed=self.session.seed,
            derandomized=self.session.seed is None and self.session.hypothesis_profile == "ci",
            blobs=blobs,
            applies=not item.stash.get(_NOT_APPLICABLE, False),
        )
        if (
            record is not None
            and not record.split
            and record.evaluated
            and outcome in (Outcome.PASSED, Outcome.FAILED, Outcome.WARNING)
        ):
            result.outcome = Outcome.ERROR
            result.message = (
                "kit defect: the check judges an error shape but declares no shape "
                "requirements; declare them with @check(shape=...) (CONF-CTRL-002)"
            )
        result.reproduction = self.session.reproduce(result)
        return result

    def _shape_result(
        self, item: pytest.Item, main: CheckResult, record: ShapeRecord | None
    ) -> CheckResult:
        """The error-shape half of a negative check (CONF-CTRL-002).

        Judged from what the check recorded: PASSED when every shape it judged was right,
        FAILED (WARNING for a SHOULD) at the first wrong one. A check that did not get as
        far as a refusal gives its shape no verdict of its own: skipped or errored with
        the check; and where the target did not refuse at all, the required error was not
        returned either, so the shape fails too.
        """
        spec = item.stash[_SPEC]
        assert spec is not None
        resolved = item.stash[_SHAPE_LEVEL]
        level: Level = resolved if isinstance(resolved, str) else "MUST"
        outcome, message = main.outcome, main.message
        if isinstance(resolved, CheckDeclarationError):
            outcome, message = Outcome.ERROR, str(resolved)
        elif record is not None and record.failures:
            first = record.failures[0]
            outcome = classify_failure(first, level)
            message = _describe(first)
            if len(record.failures) > 1:
                message += f" (and {len(record.failures) - 1} more wrong error shapes)"
            if outcome is Outcome.SKIPPED:
                message = f"{OPTIONAL_ABSENT}: {message}"
        elif record is not None and record.evaluated:
            outcome, message = Outcome.PASSED, ""
        elif main.outcome is Outcome.PASSED:
            outcome = Outcome.ERROR
            message = (
                "kit defect: the check declares shape requirements but judged no error "
                "shape (CONF-CTRL-002)"
            )
        elif main.outcome in (Outcome.FAILED, Outcome.WARNING):
            outcome = Outcome.FAILED if level == "MUST" else Outcome.WARNING
            if level == "MAY":
                outcome = Outcome.SKIPPED
            message = f"no refusal, so not the required error: {main.message}"
        redact = self.session.target.redactor.text
        result = CheckResult(
            id=main.id + SHAPE_SUFFIX,
            suite=main.suite,
            name=main.name + SHAPE_SUFFIX,
            title=f"{spec.title} (error shape)",
            requirements=spec.shape,
            level=level,
            outcome=outcome,
            catalog=spec.catalog,
            needs=spec.needs,
            message=_truncate(redact(message), MAX_MESSAGE),
            trace=main.trace if outcome is not Outcome.PASSED else "",
            duration=0.0,
            evidence=main.evidence,
            seed=main.seed,
            derandomized=main.derandomized,
            blobs=main.blobs,
            applies=main.applies,
        )
        result.reproduction = main.reproduction
        return result

    def _publish(self, result: CheckResult) -> None:
        self.session.results.append(result)
        for listener in self.session.listeners:
            listener(result)


class TeamRunPlugin(ProctorPlugin):
    """:class:`ProctorPlugin` plus what a team's run needs: reports, and cleanup."""

    def __init__(self, session: ConformanceSession, report_dir: str | None) -> None:
        super().__init__(session)
        self.report_dir = Path(report_dir) if report_dir else None
        self.started = datetime.now(UTC)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.report_dir is None:
            return
        from proctor.conformance.gate import evaluate
        from proctor.conformance.reports import RunReport, write_reports
        from proctor.conformance.results import RunInfo, tool_version

        results = self.session.results
        scrub_results(results, self.session.target.redactor)
        verdict = evaluate(results, today=datetime.now(UTC).date(), filtered=True)
        info = RunInfo(
            target=self.session.target.label,
            profile=self.session.target.profile,
            level=self.session.level,
            hypothesis_profile=self.session.hypothesis_profile,
            suites=sorted({r.suite for r in results}),
            started=self.started,
            finished=datetime.now(UTC),
            tool_version=tool_version(),
            max_examples=self.session.max_examples,
            seed=self.session.seed,
            filtered=True,
            capabilities=list(self.session.target.config.capabilities),
        )
        write_reports(RunReport(info, results, verdict, self.session.catalog), self.report_dir)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        super().pytest_unconfigure(config)
        self.session.target.close()
