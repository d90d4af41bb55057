"""Every outcome of the result model, the level filter, and catalog level resolution."""

from __future__ import annotations

from proctor.conformance.catalog import Requirement
from proctor.conformance.results import Outcome
from tests.conformance.conftest import RunKit


def _levels(run_kit: RunKit, **options: object) -> dict[str, Outcome]:
    return run_kit(suites=(), samples=("kit_levels",), **options).outcomes()


def test_each_situation_has_its_outcome(run_kit: RunKit) -> None:
    """CONF-RES-001, CONF-LEVEL-001: each situation ends in its one state, with a reason.

    A failing MUST is FAILED, a failing SHOULD is WARNING; a MAY informs only: PASSED when
    the optional behaviour is present and correct, SKIPPED ("optional behaviour absent")
    otherwise, never FAILED or WARNING.
    """
    run = run_kit(suites=(), samples=("kit_levels",))
    assert run.outcomes() == {
        "test_must_passes": Outcome.PASSED,
        "test_should_is_not_met": Outcome.WARNING,
        "test_may_is_not_met": Outcome.SKIPPED,
        "test_may_is_present": Outcome.PASSED,
        "test_needs_the_vault": Outcome.SKIPPED,
        "test_agentcore_only": Outcome.SKIPPED,
        "test_skips_itself": Outcome.SKIPPED,
        "test_crashes": Outcome.ERROR,
        "test_not_declared": Outcome.ERROR,
    }
    assert run.result("test_should_is_not_met").level == "SHOULD"
    assert run.result("test_may_is_not_met").level == "MAY"
    assert run.result("test_may_is_not_met").message == (
        "optional behaviour absent: the optional feature is absent"
    )
    assert run.result("test_may_is_present").level == "MAY"
    assert run.result("test_needs_the_vault").message == "target does not declare capability vault"
    assert run.result("test_agentcore_only").message == (
        "applies to profiles agentcore; the target's is proctor"
    )
    assert run.result("test_skips_itself").message == "nothing to check on this target"
    assert run.result("test_crashes").message == "RuntimeError: the check itself is broken"
    assert "not declared with @check" in run.result("test_not_declared").message
    assert run.exit_code == 3


def test_skipped_checks_never_count_as_passes(run_kit: RunKit) -> None:
    """CONF-CAP-002: a run of skips alone is not a pass."""
    run = run_kit(suites=(), samples=("kit_levels",), keyword="vault or agentcore or skips")
    assert set(run.outcomes().values()) == {Outcome.SKIPPED}
    assert run.exit_code == 2  # nothing applicable is not conformant
    assert "no check applied" in run.outcome.verdict.reasons[0]


def test_the_level_filter_deselects(run_kit: RunKit) -> None:
    """CONF-LEVEL-001: ``--level`` selects checks by their resolved level."""
    assert "test_should_is_not_met" not in _levels(run_kit, level="must")
    assert "test_may_is_not_met" not in _levels(run_kit, level="must")
    should = _levels(run_kit, level="should")
    assert "test_should_is_not_met" in should
    assert "test_may_is_not_met" not in should


def _requirement(rid: str, level: str) -> Requirement:
    return Requirement(id=rid, level=level, title="t", file="99-test.md", source="test")  # type: ignore[arg-type]


def test_a_level_that_contradicts_the_catalog_is_an_error(run_kit: RunKit) -> None:
    """CONF-LEVEL-001: a check has the level of the requirement it verifies."""
    catalog = {"KIT-LVL-001": _requirement("KIT-LVL-001", "SHOULD")}
    run = run_kit(suites=(), samples=("kit_levels",), keyword="must_passes", catalog=catalog)
    result = run.result("test_must_passes")
    assert result.outcome is Outcome.ERROR
    assert "declares level MUST but the catalog makes KIT-LVL-001 a SHOULD" in result.message


def test_the_catalog_supplies_the_level(run_kit: RunKit) -> None:
    """CONF-LEVEL-001: the catalog's level decides the outcome of a failing check."""
    catalog = {"KIT-LVL-002": _requirement("KIT-LVL-002", "SHOULD")}
    run = run_kit(suites=(), samples=("kit_levels",), keyword="should_is", catalog=catalog)
    assert run.result("test_should_is_not_met").outcome is Outcome.WARNING
