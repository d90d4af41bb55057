"""One check per outcome the kit must report (meta-test suite, not a real one)."""

from __future__ import annotations

import pytest

from proctor.conformance.checks import check
from proctor.conformance.target import Target


@check("KIT-LVL-001", level="MUST")
def test_must_passes(proctor_target: Target) -> None:
    """The target answers."""
    assert proctor_target.client.get(proctor_target.url("/")).status_code == 200


@check("KIT-LVL-002", level="SHOULD")
def test_should_is_not_met(proctor_target: Target) -> None:
    """A SHOULD the target does not meet."""
    raise AssertionError("the SHOULD is not met")


@check("KIT-LVL-003", level="MAY")
def test_may_is_not_met(proctor_target: Target) -> None:
    """A MAY the target does not implement."""
    raise AssertionError("the optional feature is absent")


@check("KIT-LVL-008", level="MAY")
def test_may_is_present(proctor_target: Target) -> None:
    """A MAY the target implements, and correctly."""
    assert proctor_target.client.get(proctor_target.url("/")).status_code == 200


@check("KIT-LVL-004", level="MUST", needs=["vault"])
def test_needs_the_vault(proctor_target: Target) -> None:
    """Never runs against a target without a vault."""
    raise AssertionError("must not run")


@check("KIT-LVL-005", level="MUST", profiles=["agentcore"])
def test_agentcore_only(proctor_target: Target) -> None:
    """Never runs against another profile."""
    raise AssertionError("must not run")


@check("KIT-LVL-006", level="MUST")
def test_skips_itself(proctor_target: Target) -> None:
    """Skips with its own reason."""
    pytest.skip("nothing to check on this target")


@check("KIT-LVL-007", level="MUST")
def test_crashes(proctor_target: Target) -> None:
    """A bug in a check is an ERROR, never a verdict."""
    raise RuntimeError("the check itself is broken")


def test_not_declared(proctor_target: Target) -> None:
    """Not declared with @check: an ERROR in a conformance run."""
