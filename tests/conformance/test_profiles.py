"""How the target's profile adjusts levels and applicability (CONF-PROF-001)."""

from __future__ import annotations

import pytest

from proctor.conformance.catalog import Requirement
from proctor.conformance.checks import CheckSpec, proctor_only, profile_level, resolve_level
from proctor.conformance.results import Outcome
from tests.conformance.conftest import CAPABILITIES, RunKit, kit_config


def _requirement(rid: str, source: str, level: str = "MUST") -> Requirement:
    return Requirement(id=rid, level=level, title=rid, file="99-x.md", source=source)  # type: ignore[arg-type]


CATALOG = {
    "KIT-PROF-001": _requirement("KIT-PROF-001", "proctor: the kit's own rule"),
    "KIT-PROF-002": _requirement("KIT-PROF-002", "RFC 8693 §2.2.2"),
    "KIT-PROF-003": _requirement("KIT-PROF-003", "proctor: provisioned by the kit"),
}


@pytest.mark.parametrize(
    ("source", "only"),
    [
        ("proctor: one kit, three kinds of target", True),
        ("Proctor", True),
        ("proctor; RFC 9126 §2.2 (request URI form)", False),
        ("proctor: see draft-ietf-oauth-identity-chaining", False),
        ("RFC 2119; RFC 8174; proctor", False),
        ("RFC 8693 §2.1", False),
    ],
)
def test_a_proctor_only_rule_cites_no_rfc_or_draft(source: str, only: bool) -> None:
    """CONF-PROF-001: a requirement whose source cites no RFC or draft is proctor-only."""
    assert proctor_only(_requirement("KIT-PROF-009", source)) is only


def test_rfc8693_evaluates_proctor_only_musts_as_shoulds() -> None:
    """CONF-PROF-001, CONF-LEVEL-001: the level after the profile's adjustment."""
    own, rfc = CATALOG["KIT-PROF-001"], CATALOG["KIT-PROF-002"]
    assert profile_level(own, "rfc8693") == "SHOULD"
    assert profile_level(rfc, "rfc8693") == "MUST"
    for profile in ("proctor", "agentcore", None):
        assert profile_level(own, profile) == "MUST"  # type: ignore[arg-type]
    may = _requirement("KIT-PROF-008", "proctor: optional", "MAY")
    assert profile_level(may, "rfc8693") == "MAY"  # never strengthened

    def spec(*rids: str, level: str | None = None) -> CheckSpec:
        return CheckSpec(rids, level, (), None, None, "t")  # type: ignore[arg-type]

    assert resolve_level(spec("KIT-PROF-001"), CATALOG, "rfc8693") == "SHOULD"
    assert resolve_level(spec("KIT-PROF-001"), CATALOG, "proctor") == "MUST"
    assert resolve_level(spec("KIT-PROF-001", "KIT-PROF-002"), CATALOG, "rfc8693") == "MUST"
    # A declaration is checked against the catalog's level, whatever the profile.
    assert resolve_level(spec("KIT-PROF-001", level="MUST"), CATALOG, "rfc8693") == "SHOULD"


def test_under_rfc8693_a_broken_proctor_only_rule_is_a_warning(run_kit: RunKit) -> None:
    """CONF-PROF-001, CONF-LEVEL-001: under ``rfc8693`` a failing check citing only
    proctor-only requirements is WARNING; one citing an RFC rule stays FAILED; a check
    needing the control plane is skipped unless ``control_plane`` is declared."""
    config = kit_config(profile="rfc8693")
    run = run_kit(suites=(), samples=("kit_profiles",), config=config, catalog=CATALOG)
    assert run.outcomes() == {
        "test_proctor_only_rule_broken": Outcome.WARNING,
        "test_rfc_rule_broken": Outcome.FAILED,
        "test_both_rules_broken": Outcome.FAILED,
        "test_needs_the_control_plane": Outcome.SKIPPED,
    }
    assert run.result("test_proctor_only_rule_broken").level == "SHOULD"
    assert run.result("test_needs_the_control_plane").message == (
        "target does not declare capability control_plane"
    )
    assert not run.result("test_needs_the_control_plane").applies

    with_plane = kit_config(profile="rfc8693", capabilities=[*CAPABILITIES, "control_plane"])
    run = run_kit(suites=(), samples=("kit_profiles",), config=with_plane, catalog=CATALOG)
    assert run.result("test_needs_the_control_plane").outcome is Outcome.PASSED


def test_the_proctor_profile_keeps_the_catalog_level(run_kit: RunKit) -> None:
    """CONF-PROF-001: only ``rfc8693`` adjusts levels; ``proctor`` applies all as written."""
    run = run_kit(suites=(), samples=("kit_profiles",), catalog=CATALOG)
    assert run.result("test_proctor_only_rule_broken").outcome is Outcome.FAILED
    assert run.result("test_proctor_only_rule_broken").level == "MUST"
