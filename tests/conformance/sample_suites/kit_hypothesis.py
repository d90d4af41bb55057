"""Hypothesis-driven checks (meta-test suite, not a real one)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proctor.conformance.checks import check
from proctor.conformance.target import Target


@check("KIT-HYP-001", level="MUST")
@given(number=st.integers(min_value=0, max_value=10_000))
def test_counts_examples(proctor_target: Target, number: int) -> None:
    """Passes; each example calls the target once, so the target counts examples."""
    assert proctor_target.client.get(proctor_target.url("/counted")).status_code == 200


@check("KIT-HYP-002", level="MUST")
@given(number=st.integers(min_value=0, max_value=10_000))
def test_fails_for_large_numbers(proctor_target: Target, number: int) -> None:
    """Fails once hypothesis finds a number of at least 500."""
    assert number < 500, f"{number} is too large"
