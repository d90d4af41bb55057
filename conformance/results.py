"""What a run produces: one :class:`CheckResult` per check, and the run's metadata.

Outcomes:

- ``PASSED``: the target met the requirement.
- ``FAILED``: the target broke a **MUST**.
- ``WARNING``: the target did not meet a **SHOULD** (it does not fail the gate).
- ``SKIPPED``: the check does not apply (an undeclared capability, another profile), the
  optional behaviour a **MAY** check looks for is absent (reason
  :data:`OPTIONAL_ABSENT`), or the check itself skipped, always with the reason. Never
  counted as a pass.

A MAY check informs only (CONF-LEVEL-001): PASSED when the optional behaviour is present
and correct, SKIPPED otherwise, never FAILED or WARNING.
- ``ERROR``: no verdict: the target was unreachable, a positive control failed, the
  check's declaration is inconsistent, or the kit hit an unexpected exception.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from proctor.conformance.catalog import LEVELS, Level
from proctor.conformance.errors import ControlFailed, InfrastructureError

__all__ = [
    "OPTIONAL_ABSENT",
    "SPEC_VERSION",
    "CheckResult",
    "Outcome",
    "RunInfo",
    "classify_failure",
    "tool_version",
]

#: The proctor specification version this kit judges (CONF-VERD-001).
SPEC_VERSION = "1"
#: The reason of a MAY check whose optional behaviour is absent (CONF-LEVEL-001).
OPTIONAL_ABSENT = "optional behaviour absent"


class Outcome(StrEnum):
    PASSED = "PASSED"
    FAILED = "FAILED"
    WARNING = "WARNING"
    SKIPPED = "SKIPPED"
    ERROR = "ERROR"


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for sub in error.exceptions for leaf in _leaves(sub)]
    return [error]


def classify_failure(error: BaseException, level: Level) -> Outcome:
    """The outcome of a check that raised ``error``.

    Only assertion failures are verdicts on the target (CONF-LEVEL-001: FAILED for a
    MUST, WARNING for a SHOULD, SKIPPED for a MAY: its optional behaviour is absent); a
    failed control, an infrastructure problem or any other exception is
    an ERROR. A group of exceptions (hypothesis reporting several distinct failures) is
    a verdict only when every member is.
    """
    leaves = _leaves(error)
    verdict = all(
        isinstance(leaf, AssertionError)
        and not isinstance(leaf, (ControlFailed, InfrastructureError))
        for leaf in leaves
    )
    if not verdict:
        return Outcome.ERROR
    if level == "MUST":
        return Outcome.FAILED
    return Outcome.WARNING if level == "SHOULD" else Outcome.SKIPPED


@dataclass(slots=True)
class CheckResult:
    """One check's result, with everything a report needs (secrets already redacted)."""

    id: str
    suite: str
    name: str
    title: str
    requirements: tuple[str, ...]
    level: Level
    outcome: Outcome
    catalog: str | None = None
    needs: tuple[str, ...] = ()
    message: str = ""
    trace: str = ""
    duration: float = 0.0
    evidence: list[dict[str, Any]] = field(default_factory=list)
    seed: int | None = None
    derandomized: bool = False
    blobs: list[str] = field(default_factory=list)
    reproduction: str = ""
    #: ``False`` when the check was skipped because it does not apply to the target: it
    #: needs an undeclared capability, or is for another profile (CONF-VERD-001).
    applies: bool = True

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["requirements"] = list(self.requirements)
        data["needs"] = list(self.needs)
        data["outcome"] = self.outcome.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        level = data["level"]
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}")
        return cls(
            id=str(data["id"]),
            suite=str(data["suite"]),
            name=str(data["name"]),
            title=str(data.get("title", "")),
            requirements=tuple(data.get("requirements", ())),
            level=level,
            outcome=Outcome(data["outcome"]),
            catalog=data.get("catalog"),
            needs=tuple(data.get("needs", ())),
            message=str(data.get("message", "")),
            trace=str(data.get("trace", "")),
            duration=float(data.get("duration", 0.0)),
            evidence=list(data.get("evidence", [])),
            seed=data.get("seed"),
            derandomized=bool(data.get("derandomized", False)),
            blobs=list(data.get("blobs", [])),
            reproduction=str(data.get("reproduction", "")),
            applies=bool(data.get("applies", True)),
        )


@dataclass(slots=True)
class RunInfo:
    """The run's metadata, shown at the top of every report."""

    target: str
    profile: str
    level: str
    hypothesis_profile: str
    suites: list[str]
    started: datetime
    finished: datetime
    tool_version: str
    max_examples: int | None = None
    seed: int | None = None
    keyword: str | None = None
    unreachable: str | None = None
    filtered: bool = False
    spec_url: str | None = None
    #: The capabilities the target declares (CONF-VERD-001: the verdict states them).
    capabilities: list[str] = field(default_factory=list)
    #: The version of the proctor specification the kit judges against.
    spec_version: str = SPEC_VERSION


def tool_version() -> str:
    """The installed proctor version, for the reports."""
    try:
        return version("proctor")
    except PackageNotFoundError:  # pragma: no cover - only outside an installed tree
        return "unknown"
