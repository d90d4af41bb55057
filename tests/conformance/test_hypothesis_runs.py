"""Hypothesis inside the kit: profiles, seeds, example counts and reproduction blobs."""

from __future__ import annotations

import json

import hypothesis.core
import pytest
from hypothesis import settings

from proctor.conformance.hypothesis_profiles import (
    CI_MAX_EXAMPLES,
    activated,
    reproduction_blobs,
)
from proctor.conformance.results import Outcome
from tests.conformance.conftest import RunKit
from tests.conformance.fake_target import make_app


def _run(run_kit: RunKit, **options: object):  # type: ignore[no-untyped-def]
    app = make_app()
    run = run_kit(app, suites=(), samples=("kit_hypothesis",), **options)
    return run, app.state.fake.hits.get("counted", 0)


def test_every_run_draws_prints_and_records_a_seed(run_kit: RunKit) -> None:
    """CONF-SEED-001: without ``--seed`` a seed is drawn, printed at the start, recorded
    with the kit version in every report; a failing generated case carries hypothesis'
    blob and the command that replays it alone."""
    run, _ = _run(run_kit)
    seed = run.outcome.info.seed
    assert seed is not None
    assert run.console.splitlines()[0] == f"proctor {run.outcome.info.tool_version}: seed {seed}"
    failed = run.result("test_fails_for_large_numbers")
    assert failed.outcome is Outcome.FAILED
    assert "is too large" in failed.message
    assert failed.blobs
    assert failed.blobs[0].startswith("@reproduce_failure(")
    assert (failed.seed, failed.derandomized) == (seed, False)
    assert f"--seed {seed}" in failed.reproduction
    assert "-k test_fails_for_large_numbers" in failed.reproduction
    assert run.result("test_counts_examples").outcome is Outcome.PASSED
    document = json.loads((run.report_dir / "report.json").read_text())
    assert document["results"]["extra"]["seed"] == seed
    assert document["results"]["extra"]["kitVersion"] == run.outcome.info.tool_version
    summary = (run.report_dir / "summary.md").read_text()
    assert f"seed {seed}" in summary
    assert failed.reproduction in summary
    assert failed.blobs[0] in summary
    junit = (run.report_dir / "junit.xml").read_text()
    assert f'name="seed" value="{seed}"' in junit
    assert f'name="kit_version" value="{run.outcome.info.tool_version}"' in junit
    assert "@reproduce_failure(" in junit
    assert f"seed <code>{seed}</code>" in (run.report_dir / "report.html").read_text()


def _requests(run_kit: RunKit, seed: int) -> list[str]:
    run = run_kit(suites=(), samples=("kit_seeded",), seed=seed, max_examples=15)
    result = run.result("test_sends_generated_inputs")
    assert result.outcome is Outcome.PASSED
    return [exchange["url"] for exchange in result.evidence]


def test_the_same_seed_generates_the_same_inputs_in_the_same_order(run_kit: RunKit) -> None:
    """CONF-SEED-001: same kit, same seed, same options, same target behaviour: the same
    generated requests in the same order; another seed generates others."""
    first = _requests(run_kit, 20260101)
    assert len(first) >= 5
    assert _requests(run_kit, 20260101) == first
    assert _requests(run_kit, 7) != first


def test_max_examples_is_passed_through(run_kit: RunKit) -> None:
    _, few = _run(run_kit, max_examples=5)
    _, default = _run(run_kit)
    assert 1 <= few <= 5
    assert 5 < default <= CI_MAX_EXAMPLES


def test_a_seed_is_recorded_and_reproducible(run_kit: RunKit) -> None:
    """CONF-SEED-001: a given seed is used, recorded and part of the replay command."""
    run, _ = _run(run_kit, seed=1234, hypothesis_profile="deep", max_examples=30)
    failed = run.result("test_fails_for_large_numbers")
    assert (failed.seed, failed.derandomized) == (1234, False)
    assert "--hypothesis-profile deep" in failed.reproduction
    assert "--seed 1234" in failed.reproduction
    assert "--max-examples 30" in failed.reproduction


def test_the_deep_profile_always_records_a_seed(run_kit: RunKit) -> None:
    """CONF-SEED-001: the seed is recorded on every result."""
    run, _ = _run(run_kit, hypothesis_profile="deep", max_examples=10)
    assert run.outcome.info.seed is not None
    assert run.result("test_counts_examples").seed == run.outcome.info.seed


def test_a_run_restores_the_callers_hypothesis_settings(run_kit: RunKit) -> None:
    profile = settings.get_current_profile_name()
    seed = getattr(hypothesis.core, "global_force_seed", None)
    _run(run_kit, seed=99)
    assert settings.get_current_profile_name() == profile
    assert getattr(hypothesis.core, "global_force_seed", None) == seed


def test_activated_sets_and_restores() -> None:
    before = settings.get_current_profile_name()
    with activated("ci", max_examples=3, seed=7) as active:
        assert (active.max_examples, active.derandomize, active.deadline) == (3, False, None)
        assert active.database is None
        assert active.print_blob
        assert getattr(hypothesis.core, "global_force_seed", None) == 7
    assert settings.get_current_profile_name() == before
    with activated("ci") as active:
        assert active.derandomize


@pytest.mark.parametrize(("profile", "examples"), [("fast", None), ("ci", 0)])
def test_activated_rejects_bad_arguments(profile: str, examples: int | None) -> None:
    with (
        pytest.raises(ValueError, match="must be"),
        activated(profile, max_examples=examples),  # type: ignore[arg-type]
    ):
        pass


def test_blobs_are_found_in_notes_groups_and_chains() -> None:
    inner = AssertionError("x")
    inner.add_note("Reproduce it by adding @reproduce_failure('6.1', b'AA==') as a decorator")
    outer = RuntimeError("outer")
    outer.__cause__ = ExceptionGroup("g", [inner])
    assert reproduction_blobs(outer) == ["@reproduce_failure('6.1', b'AA==')"]
