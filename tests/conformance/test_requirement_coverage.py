"""The coverage gate: every MUST of the spec is cited by a conformance check, or listed in
``conformance/internal_requirements.yaml`` with the reference (or kit) tests that verify
it. A MUST covered by neither fails ``make test``."""

from __future__ import annotations

from pathlib import Path

from proctor.conformance.catalog import load_catalog
from proctor.conformance.coverage import (
    internal_problems,
    kit_checks,
    load_internal,
    uncovered_requirements,
)

ROOT = Path(__file__).resolve().parents[2]

#: MUSTs known to be neither checked nor verified, each with the reason. Like an
#: allow-list, it must stay exact: the test fails when a MUST outside it is uncovered and
#: when one on it becomes covered (then delete the entry).
KNOWN_GAPS: dict[str, str] = {}


def test_every_must_is_checked_or_verified_by_tests() -> None:
    catalog, checks, internal = load_catalog(), kit_checks(), load_internal()
    assert internal_problems(catalog, checks, internal, ROOT) == []
    uncovered = {r.id for r in uncovered_requirements(catalog, checks, internal)}
    assert uncovered - KNOWN_GAPS.keys() == set(), "MUSTs neither checked nor verified"
    assert KNOWN_GAPS.keys() - uncovered == set(), "stale KNOWN_GAPS entries: delete them"


def test_known_gaps_are_musts_of_the_catalog() -> None:
    catalog = load_catalog()
    for rid, reason in KNOWN_GAPS.items():
        assert catalog[rid].level == "MUST"
        assert reason
