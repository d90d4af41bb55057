"""A property whose generated inputs reach the target (meta-test suite, not a real one)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from proctor.conformance.checks import check
from proctor.conformance.target import Target


@check("KIT-SEED-001", level="MUST")
@given(number=st.integers(min_value=0, max_value=10**9), word=st.text("abcdefgh", max_size=6))
def test_sends_generated_inputs(proctor_target: Target, number: int, word: str) -> None:
    """Each example is one request carrying the generated values."""
    url = proctor_target.url("/counted")
    response = proctor_target.client.get(url, params={"n": number, "w": word})
    assert response.status_code == 200
