"""The reference service passes every vault and consent check it declares.

Two targets: the one of these meta-tests (with a test clock, so the time-dependent checks
run too) and the embedded target of ``proctor conform`` (no clock: those checks are
SKIPPED, naming the capability). Nothing else may be skipped, and the only skips are for
capabilities the target does not declare.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from proctor.cli.embedded_target import embedded_target
from proctor.conformance.catalog import load_catalog
from proctor.conformance.coverage import kit_checks, uncovered_musts
from proctor.conformance.results import Outcome
from tests.conformance.vault.conftest import SUITES, RunVault

#: The MUSTs of spec 05 and 06 no black-box check can observe, and why (docs/conformance/vault.md).
NOT_OBSERVABLE = {
    "VLT-ENC-001": "encryption at rest: the kit never sees the storage",
    "VLT-ENC-002": "the AAD of stored rows: storage only",
    "VLT-ENC-003": "KEK rotation: an operator's CLI, not an API",
    "VLT-OBO-003": "no mock provider implements the RFC 7523 on-behalf-of grant",
}

pytestmark = pytest.mark.network


def _undeclared(message: str, capabilities: set[str]) -> bool:
    prefix = "target does not declare capability "
    return message.startswith(prefix) and set(message[len(prefix) :].split(", ")) <= capabilities


def test_the_reference_with_a_test_clock_passes_every_check(
    run_vault: RunVault, shared_target: Callable[..., Any]
) -> None:
    run = run_vault(shared_target)
    assert not run.problems(), "\n".join(run.problems())
    skipped = {n for n, r in run.by_name().items() if r.outcome is Outcome.SKIPPED}
    assert skipped == set()
    assert int(run.outcome.exit_code) == 0
    assert set(run.outcome.info.suites) == set(SUITES)


def test_the_embedded_target_passes_with_only_the_clock_checks_skipped(
    run_vault: RunVault,
) -> None:
    run = run_vault(embedded_target)
    assert not run.problems(), "\n".join(run.problems())
    skipped = {n: r.message for n, r in run.by_name().items() if r.outcome is Outcome.SKIPPED}
    assert all(_undeclared(message, {"test_clock"}) for message in skipped.values()), skipped
    timed = {n for n, m in skipped.items() if "test_clock" in m}
    assert len(timed) >= 6, sorted(timed)
    assert int(run.outcome.exit_code) == 0


def test_every_observable_must_of_spec_05_and_06_is_checked() -> None:
    catalog = {
        rid: requirement
        for rid, requirement in load_catalog().items()
        if rid.split("-", 1)[0] in ("VLT", "PRV", "CNS")
    }
    uncovered = {r.id for r in uncovered_musts(catalog, kit_checks(SUITES))}
    assert uncovered == set(NOT_OBSERVABLE)
