"""CONF-CTRL-002: each negative case is reported as a refusal and an error shape, each a
check of its own with its own requirement IDs."""

from __future__ import annotations

from pathlib import Path

import pytest

from proctor.conformance.catalog import load_catalog
from proctor.conformance.checks import check, declaration_problems
from proctor.conformance.coverage import checks_in, kit_checks
from proctor.conformance.error_shape import SHAPE_SUFFIX, error_shape, function_of, recording
from proctor.conformance.results import Outcome
from tests.conformance.conftest import RunKit

SHAPE = SHAPE_SUFFIX


def test_refusal_and_shape_are_two_results(run_kit: RunKit) -> None:
    """CONF-CTRL-002: the refusal and its error shape are two results with their own IDs;
    a shape failure is recorded while the check goes on; a check that accepts fails both;
    a check that judges a shape without declaring one, or declares one and judges none,
    is a kit defect (ERROR)."""
    run = run_kit(suites=(), samples=("kit_shapes",), catalog=load_catalog())
    assert run.outcomes() == {
        "test_refused_in_the_required_shape": Outcome.PASSED,
        "test_refused_in_the_required_shape" + SHAPE: Outcome.PASSED,
        # The refusal stands; the check went on past the wrong shape.
        "test_refused_in_the_wrong_shape": Outcome.FAILED,
        "test_refused_in_the_wrong_shape" + SHAPE: Outcome.FAILED,
        "test_accepted": Outcome.FAILED,
        "test_accepted" + SHAPE: Outcome.FAILED,
        "test_judges_a_shape_it_does_not_declare": Outcome.ERROR,
        "test_declares_a_shape_it_never_judges": Outcome.PASSED,
        "test_declares_a_shape_it_never_judges" + SHAPE: Outcome.ERROR,
        "test_a_should_shape_that_is_wrong": Outcome.PASSED,
        "test_a_should_shape_that_is_wrong" + SHAPE: Outcome.WARNING,
        "test_needs_the_vault": Outcome.SKIPPED,
        "test_needs_the_vault" + SHAPE: Outcome.SKIPPED,
    }
    wrong = run.result("test_refused_in_the_wrong_shape")
    assert wrong.message == "the check went on after the wrong shape"
    shape = run.result("test_refused_in_the_wrong_shape" + SHAPE)
    assert "must carry WWW-Authenticate" in shape.message
    assert shape.requirements == ("ERR-OAUTH-002",)
    assert wrong.requirements == ("KIT-SHP-002",)
    assert shape.id == "kit_shapes::test_refused_in_the_wrong_shape::error_shape"
    assert shape.title.endswith("(error shape)")
    assert "-k test_refused_in_the_wrong_shape " in shape.reproduction
    accepted = run.result("test_accepted" + SHAPE)
    assert accepted.message.startswith("no refusal, so not the required error")
    assert "must be refused" in run.result("test_accepted").message
    assert (
        "declares no shape requirements"
        in run.result("test_judges_a_shape_it_does_not_declare").message
    )
    assert (
        "judged no error shape"
        in run.result("test_declares_a_shape_it_never_judges" + SHAPE).message
    )
    assert run.result("test_a_should_shape_that_is_wrong" + SHAPE).level == "SHOULD"
    assert run.result("test_needs_the_vault" + SHAPE).applies is False


def test_an_allow_list_entry_can_excuse_the_shape_alone(run_kit: RunKit, tmp_path: Path) -> None:
    """CONF-CTRL-002, the point of the split: an allow-list entry can excuse a wrong
    error, and excusing the shape of an acceptance leaves the acceptance failing the gate."""
    allow = tmp_path / "allow.yaml"
    allow.write_text(
        "- check: 'kit_shapes::test_accepted::error_shape'\n"
        "  reason: the wrong code is known\n  expires: 2999-01-01\n",
        encoding="utf-8",
    )
    run = run_kit(
        suites=(), samples=("kit_shapes",), keyword="accepted", allow=allow, catalog=load_catalog()
    )
    assert run.outcomes() == {
        "test_accepted": Outcome.FAILED,
        "test_accepted" + SHAPE: Outcome.FAILED,
    }
    assert run.exit_code == 1  # the acceptance itself is not excused


#: Catalog checks with no error shape to judge, each with the reason.
UNSPLIT_CATALOG_CHECKS = {
    "token_exchange::test_tx08_act_names_the_current_actor_outermost": "judges issued tokens",
    "token_exchange::test_tx10_derived_tokens_never_outlive_their_subject_or_actor": (
        "judges issued tokens"
    ),
    "authorization_server::test_inactive_tokens_are_exactly_active_false": (
        "the answer is 200 {active: false}, not an error"
    ),
    "vault::test_the_browser_goes_back_only_to_the_registered_return_url": (
        "injected parameters are ignored, not refused"
    ),
    "vault::test_another_users_or_workloads_token_is_never_returned": (
        "the right answer is a new session, not an error"
    ),
    "vault::test_isolation_and_scopes_hold_under_any_sequence": (
        "the right answer is a new session, not an error"
    ),
    "vault::test_scopes_beyond_the_consent_yield_no_token": (
        "the right answer is a new session, not an error"
    ),
    "vault::test_after_the_user_revokes_consent_a_new_session_and_no_old_token": (
        "the right answer is a new session, not an error"
    ),
    "vault::test_error_bodies_carry_no_token_material": (
        "any 4xx will do; a leak is judged as the refusal (the codes are judged elsewhere)"
    ),
}


def test_every_negative_catalog_check_is_split() -> None:
    """CONF-CTRL-002 for the catalog of negative tests (JWT-xx, TX-xx, OA-xx, VLT-xx):
    every check citing it reports its refusal and its error shape apart, except those
    listed with the reason there is no error shape to judge."""
    checks = kit_checks()
    unsplit = {
        check_id
        for check_id, spec in checks.items()
        if spec.catalog and not spec.shape and not check_id.endswith(SHAPE_SUFFIX)
    }
    assert unsplit == UNSPLIT_CATALOG_CHECKS.keys()


def test_shape_failures_propagate_outside_a_split_check() -> None:
    with pytest.raises(AssertionError, match="wrong"), error_shape():
        raise AssertionError("wrong")
    with recording(split=False) as record, pytest.raises(AssertionError), error_shape():
        raise AssertionError("wrong")
    assert record.evaluated == 1


def test_a_split_check_records_shape_failures_and_goes_on() -> None:
    with recording(split=True) as record:
        with error_shape():
            raise AssertionError("first")
        with error_shape():
            pass
    assert record.evaluated == 2
    assert [str(f) for f in record.failures] == ["first"]
    with recording(split=True), pytest.raises(RuntimeError), error_shape():
        raise RuntimeError("not a verdict")


def test_function_of_names_the_check_function() -> None:
    assert function_of("test_x[a-b]::error_shape") == "test_x"
    assert function_of("test_x") == "test_x"


def test_a_split_check_counts_as_two_declared_checks() -> None:
    import types

    module = types.ModuleType("suite")

    @check("TX-REQ-002", shape=("TX-ERR-001",))
    def test_negative() -> None:
        """A negative."""

    module.test_negative = test_negative  # type: ignore[attr-defined]
    found = checks_in(module, "suite")
    assert set(found) == {"suite::test_negative", "suite::test_negative::error_shape"}
    assert found["suite::test_negative::error_shape"].requirements == ("TX-ERR-001",)
    assert declaration_problems(found, load_catalog()) == []


def test_shape_declarations_are_validated() -> None:
    with pytest.raises(ValueError, match="not a requirement ID"):
        check("TX-REQ-002", shape=("nope",))
    with pytest.raises(TypeError, match="not one string"):
        check("TX-REQ-002", shape="TX-ERR-001")
