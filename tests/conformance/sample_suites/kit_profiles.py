"""Checks whose level depends on the target's profile (meta-test suite, not a real one)."""

from __future__ import annotations

from proctor.conformance.checks import check
from proctor.conformance.target import Target


@check("KIT-PROF-001")
def test_proctor_only_rule_broken(proctor_target: Target) -> None:
    """Breaks a rule whose source cites no RFC or draft."""
    raise AssertionError("the proctor-only rule is broken")


@check("KIT-PROF-002")
def test_rfc_rule_broken(proctor_target: Target) -> None:
    """Breaks a rule taken from an RFC."""
    raise AssertionError("the RFC rule is broken")


@check("KIT-PROF-001", "KIT-PROF-002")
def test_both_rules_broken(proctor_target: Target) -> None:
    """Cites both: the strongest level after the profile's adjustment wins."""
    raise AssertionError("both rules are broken")


@check("KIT-PROF-003", needs=["control_plane"])
def test_needs_the_control_plane(proctor_target: Target) -> None:
    """Provisions through the control plane (here: merely reaches the target)."""
    assert proctor_target.client.get(proctor_target.url("/")).status_code == 200
