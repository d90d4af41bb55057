"""The CI gate: exit codes, the allow-list of known failures, and the baseline diff.

Exit codes (:class:`ExitCode`): the first of this list whose condition holds
(CONF-EXIT-001):

=====  =================================================================================
``2``  usage or configuration error: nothing was run, or no check applied to the target
       (every selected check was skipped: an empty run is not a pass)
``1``  a MUST failed and no live allow-list entry covers it (nor the baseline)
``3``  the target is unreachable, or a check ended in ERROR: the verdict is incomplete
``4``  the allow-list is out of date: an entry expired, or it is stale (its check
       passed, so the expected failure did not happen; or no such check exists)
``0``  none of the above: conformant, or every MUST failure is covered by a live entry
       (the verdict then says "not conformant" and lists them)
=====  =================================================================================

A MUST failure outranks an ERROR: a run that both broke a MUST and could not judge some
other check has already shown the target is not conformant.

Allow-list (``--allow FILE``), a YAML list (CONF-ALLOW-001)::

    - check: "token_exchange::test_rejects_unlisted_audience"   # a check ID or a glob
      reason: "audience policy lands in 2.4 (PLAT-1234)"
      expires: 2025-09-30
      issue: https://tracker.example/PLAT-1234                 # optional

A live entry covers the FAILED/WARNING results of the checks it matches: they are still
reported FAILED/WARNING, marked allow-listed with the entry's reason (an ERROR is never
covered: it is not a verdict). An expired entry covers nothing: its failures count as not
allow-listed (exit 1), and the entry itself makes the allow-list out of date (exit 4 when
nothing outranks it). Entries are judged against the checks of this run: when the run is
filtered (``--suite``, ``-k``, ``--level``), an entry that matches no check is "not
evaluated" rather than stale.

Baseline (``--baseline report.json`` from an earlier run): failures already present in
the baseline are reported as *known* and do not fail the gate; *new* failures (a MUST
that passed, was skipped or did not exist before) still exit 1; checks that failed before
and pass now are reported as *fixed*. Errors always count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import IntEnum
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from proctor.conformance.errors import ConfigError
from proctor.conformance.results import CheckResult, Outcome

__all__ = [
    "AllowEntry",
    "EntryStatus",
    "ExitCode",
    "GateVerdict",
    "evaluate",
    "load_allow_list",
    "load_baseline",
    "suggest_entry",
]

ALLOWABLE = frozenset({Outcome.FAILED, Outcome.WARNING})


class ExitCode(IntEnum):
    CONFORMANT = 0
    MUST_FAILED = 1
    USAGE = 2
    INFRASTRUCTURE = 3
    ALLOW_LIST = 4


class AllowEntry(BaseModel):
    """One accepted failure, with the reason and the date it must be looked at again."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str = Field(min_length=1, description="a check ID or a glob (* and ?)")
    reason: str = Field(min_length=1)
    expires: date
    issue: str | None = None

    def matches(self, check_id: str) -> bool:
        return check_id == self.check or fnmatchcase(check_id, self.check)


_ALLOW_LIST = TypeAdapter(list[AllowEntry])


def load_allow_list(path: Path) -> list[AllowEntry]:
    """Read an allow-list file; every problem is a :class:`ConfigError`."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"cannot read allow-list {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"allow-list {path} is not valid YAML: {error}") from None
    if data is None:
        return []
    try:
        return _ALLOW_LIST.validate_python(data)
    except ValidationError as error:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"allow-list {path} is invalid: {details}") from None


def load_baseline(path: Path) -> dict[str, Outcome]:
    """Check ID → outcome, from an earlier ``report.json``."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        tests = document["results"]["tests"]
        return {
            str(test["extra"]["id"]): Outcome(test["extra"]["outcome"])
            for test in tests
            if isinstance(test, dict)
        }
    except OSError as error:
        raise ConfigError(f"cannot read baseline {path}: {error.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"baseline {path} is not a proctor report.json") from None


EntryState = Literal["used", "stale", "expired", "not evaluated"]


@dataclass
class EntryStatus:
    entry: AllowEntry
    state: EntryState
    detail: str
    matched: list[str] = field(default_factory=list)


@dataclass
class GateVerdict:
    """The gate's decision and everything that explains it."""

    exit_code: ExitCode
    reasons: list[str]
    blocking: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    allowed: dict[str, AllowEntry] = field(default_factory=dict)
    entries: list[EntryStatus] = field(default_factory=list)
    baseline_used: bool = False
    new: list[str] = field(default_factory=list)
    known: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.exit_code is ExitCode.CONFORMANT and self.allowed:
            # CONF-VERD-001: a failure excused by the allow-list is still a failure.
            return "not conformant (every MUST failure allow-listed)"
        return {
            ExitCode.CONFORMANT: "conformant",
            ExitCode.MUST_FAILED: "not conformant",
            ExitCode.USAGE: "nothing tested",
            ExitCode.INFRASTRUCTURE: "incomplete",
            ExitCode.ALLOW_LIST: "allow-list out of date",
        }[self.exit_code]


def suggest_entry(check_id: str, today: date, *, days: int = 30) -> str:
    """A ready-to-paste allow-list entry for a new failure."""
    return (
        f'- check: "{check_id}"\n'
        f'  reason: "CHANGE ME: why this failure is accepted"\n'
        f"  expires: {(today + timedelta(days=days)).isoformat()}\n"
        f'  issue: ""\n'
    )


def _judge_entries(
    results: Sequence[CheckResult], entries: Iterable[AllowEntry], today: date, filtered: bool
) -> tuple[list[EntryStatus], dict[str, AllowEntry]]:
    statuses: list[EntryStatus] = []
    allowed: dict[str, AllowEntry] = {}
    for entry in entries:
        matched = [r for r in results if entry.matches(r.id)]
        failing = [r for r in matched if r.outcome in ALLOWABLE]
        ids = [r.id for r in matched]
        if entry.expires < today:
            # CONF-ALLOW-001: an expired entry covers nothing.
            detail = f"expired on {entry.expires.isoformat()}" + (
                f"; covers nothing, so {len(failing)} failure(s) count as not allow-listed"
                if failing
                else ""
            )
            statuses.append(EntryStatus(entry, "expired", detail, ids))
            continue
        for result in failing:
            allowed.setdefault(result.id, entry)
        if failing:
            statuses.append(EntryStatus(entry, "used", "allows a failure", ids))
        elif not matched:
            if filtered:
                statuses.append(EntryStatus(entry, "not evaluated", "not in this run", ids))
            else:
                statuses.append(EntryStatus(entry, "stale", "no such check", ids))
        elif any(r.outcome is Outcome.PASSED for r in matched):
            statuses.append(
                EntryStatus(entry, "stale", "the expected failure did not happen: it passed", ids)
            )
        else:
            statuses.append(
                EntryStatus(entry, "not evaluated", "its checks were skipped or errored", ids)
            )
    return statuses, allowed


def evaluate(
    results: Sequence[CheckResult],
    *,
    today: date,
    allow: Iterable[AllowEntry] = (),
    baseline: dict[str, Outcome] | None = None,
    filtered: bool = False,
    unreachable: str | None = None,
) -> GateVerdict:
    """Decide the exit code of a run (see the module docstring for the rules)."""
    entries, allowed = _judge_entries(results, allow, today, filtered)
    errors = [r.id for r in results if r.outcome is Outcome.ERROR]
    known: list[str] = []
    new: list[str] = []
    fixed: list[str] = []
    if baseline is not None:
        for r in results:
            before = baseline.get(r.id)
            if r.outcome in ALLOWABLE:
                (known if before is r.outcome else new).append(r.id)
            elif r.outcome is Outcome.PASSED and before in ALLOWABLE:
                fixed.append(r.id)
    known_set = set(known)
    blocking = [
        r.id
        for r in results
        if r.outcome is Outcome.FAILED and r.id not in allowed and r.id not in known_set
    ]
    suggestions = [suggest_entry(check_id, today) for check_id in blocking]
    bad_entries = [s for s in entries if s.state in ("stale", "expired")]

    reasons: list[str] = []
    if unreachable is not None:
        reasons.append(f"target unreachable: {unreachable}")
    if errors:
        reasons.append(f"{len(errors)} check(s) ended in ERROR: no verdict for them")
    if blocking:
        reasons.append(f"{len(blocking)} MUST failure(s)")
    for status in bad_entries:
        reasons.append(
            f"allow-list entry {status.entry.check!r} is {status.state}: {status.detail}"
        )

    verdicts = [r for r in results if r.outcome in (Outcome.PASSED, *ALLOWABLE)]
    if not verdicts and unreachable is None and not errors:
        reasons.append(
            f"no check applied to the target ({len(results)} selected, all skipped): "
            "declare its capabilities, or widen --suite/-k/--level"
        )

    # CONF-EXIT-001: 2, then 1, then 3, then 4, then 0.
    if not verdicts and unreachable is None and not errors:
        code = ExitCode.USAGE
    elif blocking:
        code = ExitCode.MUST_FAILED
    elif unreachable is not None or errors:
        code = ExitCode.INFRASTRUCTURE
    elif bad_entries:
        code = ExitCode.ALLOW_LIST
    else:
        code = ExitCode.CONFORMANT
    return GateVerdict(
        exit_code=code,
        reasons=reasons,
        blocking=blocking,
        errors=errors,
        allowed=allowed,
        entries=entries,
        baseline_used=baseline is not None,
        new=new,
        known=known,
        fixed=fixed,
        suggestions=suggestions,
    )
