"""The example discovery suite passes a correct target and catches each broken one."""

from __future__ import annotations

import pytest

from proctor.conformance.results import Outcome
from tests.conformance.conftest import RunKit, kit_config
from tests.conformance.fake_target import Flaws, make_app

ISSUER_CHECK = "test_issuer_is_identical_to_the_fetched_identifier"
JSON_CHECK = "test_metadata_is_a_json_object"
MEMBERS_CHECK = "test_required_members_are_present"
GRANT_CHECK = "test_token_exchange_is_listed_in_grant_types"
JWKS_CHECK = "test_jwks_uri_serves_a_jwk_set"
PUBLIC_CHECK = "test_jwks_publishes_no_private_key_material"
ALL = {ISSUER_CHECK, JSON_CHECK, MEMBERS_CHECK, GRANT_CHECK, JWKS_CHECK, PUBLIC_CHECK}


def test_a_correct_target_passes_every_check(run_kit: RunKit) -> None:
    run = run_kit()
    assert run.outcomes() == dict.fromkeys(ALL, Outcome.PASSED)
    assert run.exit_code == 0


def test_an_issuer_with_a_path_is_fetched_per_rfc8414(run_kit: RunKit) -> None:
    issuer = "http://target.test/tenant-a"
    run = run_kit(make_app(issuer=issuer), config=kit_config(url=issuer))
    assert run.outcomes() == dict.fromkeys(ALL, Outcome.PASSED)
    evidence = run.result(ISSUER_CHECK).evidence
    assert (
        evidence[0]["url"] == "http://target.test/.well-known/oauth-authorization-server/tenant-a"
    )


def test_the_issuer_must_be_identical_even_to_a_trailing_slash(run_kit: RunKit) -> None:
    issuer = "http://target.test/tenant-a"
    run = run_kit(make_app(issuer=issuer), config=kit_config(url=issuer + "/"))
    assert run.result(ISSUER_CHECK).outcome is Outcome.FAILED
    assert "'http://target.test/tenant-a/'" in run.result(ISSUER_CHECK).message


@pytest.mark.parametrize(
    ("flaw", "caught"),
    [
        ("issuer_trailing_slash", {ISSUER_CHECK}),
        ("missing_jwks_uri", {JWKS_CHECK, PUBLIC_CHECK}),
        ("jwks_500", {JWKS_CHECK, PUBLIC_CHECK}),
        ("metadata_as_html", ALL),
        ("missing_token_endpoint", {MEMBERS_CHECK}),
        ("no_token_exchange_grant", {GRANT_CHECK}),
        ("private_key_in_jwks", {PUBLIC_CHECK}),
        ("duplicate_kids", {JWKS_CHECK}),
    ],
)
def test_each_broken_variant_is_caught(run_kit: RunKit, flaw: str, caught: set[str]) -> None:
    run = run_kit(flaws=Flaws(**{flaw: True}))
    assert run.outcomes() == {
        name: Outcome.FAILED if name in caught else Outcome.PASSED for name in ALL
    }
    assert run.exit_code == 1


def test_an_undeclared_capability_skips_with_the_reason(run_kit: RunKit) -> None:
    """CONF-CAP-002: SKIPPED with the capability named; declared ones still run."""
    run = run_kit(config=kit_config(capabilities=["metadata"]))
    for name in (JWKS_CHECK, PUBLIC_CHECK):
        assert run.result(name).outcome is Outcome.SKIPPED
        assert run.result(name).message == "target does not declare capability jwks"
    assert run.result(GRANT_CHECK).message == "target does not declare capability token_exchange"
    assert run.result(ISSUER_CHECK).outcome is Outcome.PASSED
    assert run.exit_code == 0
