"""The ``agentcore`` profile of the conformance kit against the reference service.

The kit runs through the runner API (what ``proctor conform --profile agentcore`` does)
against the service on loopback: every check passes and none is skipped; without boto3
every check is skipped with the install hint; in development mode only the signature
checks and the registration rules development mode relaxes are skipped. Then the service
is broken in one way at a time (a patch of the reference, undone after the run) and the
kit must report the breakage as FAILED.
"""

from __future__ import annotations

import hmac
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from proctor.cli import conform
from proctor.conformance.agentcore import BOTO3_MISSING
from proctor.conformance.error_shape import SHAPE_SUFFIX, function_of
from proctor.conformance.results import Outcome
from proctor.reference.agentcore import routes, sigv4, wire
from proctor.reference.agentcore.data import Caller, VaultOperations
from proctor.reference.agentcore.wire import ValidationException
from proctor.reference.errors import ProctorError
from proctor.reference.sessions import Sessions, Started
from proctor.reference.vault import Vault
from proctor.reference.workload_tokens import USER_ID_ISSUER, UserBinding
from tests.conformance.agentcore.conftest import Deployment, deploy, run_kit

pytestmark = pytest.mark.network

SIGV4_CHECKS = {
    "test_wrong_secret_is_refused",
    "test_unknown_key_and_unsigned_requests_are_refused",
    "test_signature_covers_the_body",
}
REGISTRATION_CHECKS = {
    "test_scope_outside_the_provider_is_refused",
    "test_return_url_must_be_registered",
}
PRINCIPAL_CHECKS = {
    "test_wat_works_only_for_its_workload",
    "test_workload_principal_acts_only_for_itself",
    "test_workload_principal_has_no_control_plane",
}


def test_everything_passes_against_the_reference(deployment: Deployment) -> None:
    found = run_kit(deployment.config())
    assert len(found.results) >= 30, found.console
    assert all(r.outcome is Outcome.PASSED for r in found.results), found.summary()
    assert {r.suite for r in found.results} == {"agentcore"}
    for result in found.results:
        assert result.requirements, f"{result.name} cites no requirement"
        assert result.level == "MUST", f"{result.name} is a {result.level}"
        assert result.evidence, f"{result.name} recorded no exchange"
    evidence = repr([r.evidence for r in found.results])
    assert "conf-admin-secret" not in evidence, "a SigV4 secret reached the evidence"


def test_without_boto3_every_check_is_skipped(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in ("boto3", "boto3.session"):
        monkeypatch.setitem(sys.modules, module, None)
    found = run_kit(deployment.config())
    assert found.results, found.console
    assert {r.outcome for r in found.results} == {Outcome.SKIPPED}, found.summary()
    assert {r.message for r in found.results} == {BOTO3_MISSING}


def test_other_profiles_and_undeclared_capabilities_skip(deployment: Deployment) -> None:
    other = run_kit(deployment.config(profile="proctor"))
    assert {r.outcome for r in other.results} == {Outcome.SKIPPED}, other.summary()
    assert all("profiles agentcore" in r.message for r in other.results)
    narrow = run_kit(deployment.config(capabilities=["workload_identity"]))
    ran = {r.name for r in narrow.results if r.outcome is Outcome.PASSED}
    skipped = [r for r in narrow.results if r.outcome is Outcome.SKIPPED]
    assert "test_workload_identity_lifecycle" in ran, narrow.summary()
    assert skipped, narrow.summary()
    assert all("does not declare capability" in r.message for r in skipped)
    assert not [r for r in narrow.results if r.outcome not in (Outcome.PASSED, Outcome.SKIPPED)]


def test_development_mode_skips_only_what_it_relaxes(
    aws_isolation: None, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with deploy(tmp_path_factory.mktemp("agentcore-dev"), dev_mode=True) as running:
        found = run_kit(running.config())
    outcomes = {r.name: r for r in found.results}
    for name in SIGV4_CHECKS | REGISTRATION_CHECKS:
        for result in (outcomes[name], outcomes.get(name + SHAPE_SUFFIX)):
            if result is None:
                continue
            assert result.outcome is Outcome.SKIPPED, found.summary()
            assert "dev_mode" in result.message
    for name in PRINCIPAL_CHECKS:  # workload_principals is not declared in dev mode
        assert outcomes[name].outcome is Outcome.SKIPPED, found.summary()
    relaxed = SIGV4_CHECKS | REGISTRATION_CHECKS | PRINCIPAL_CHECKS
    # A refusal and its error shape are skipped together (CONF-CTRL-002).
    rest = [r for r in found.results if function_of(r.name) not in relaxed]
    assert all(r.outcome is Outcome.PASSED for r in rest), found.summary()


# -- broken variants ------------------------------------------------------------------------


def _any_user_completes(patch: pytest.MonkeyPatch) -> None:
    """CompleteResourceTokenAuth accepts any user: the session's own user is substituted."""
    original = Sessions.complete

    def complete(self: Sessions, *, client_id: str, session_uri: str, **rest: Any) -> Any:
        record = self.find(session_uri, client_id=client_id, user=None)
        owner = UserBinding(record.user_issuer, record.user_subject, record.user_key)
        via = "user_id" if record.user_issuer == USER_ID_ISSUER else "user_token"
        return original(
            self,
            client_id=client_id,
            session_uri=session_uri,
            claimed=owner,
            via=via,  # type: ignore[arg-type]
            trail=rest["trail"],
        )

    patch.setattr(Sessions, "complete", complete)


def _no_field_list(patch: pytest.MonkeyPatch) -> None:
    """ValidationException without fieldList."""
    patch.setattr(ValidationException, "fields", lambda self: {"reason": self.reason})


FAILED_MARK = "https://failed.invalid/"


def _failed_status(patch: pytest.MonkeyPatch) -> None:
    """A poll of a failed or ended session answers sessionStatus FAILED instead of an error
    (the vault's error becomes a marked session, which the wire layer writes as FAILED)."""
    original_token = Vault.resource_token
    original_json = wire.json_response

    def resource_token(self: Vault, *args: Any, **kwargs: Any) -> Any:
        request = args[3] if len(args) > 3 else kwargs["request"]
        try:
            return original_token(self, *args, **kwargs)
        except ProctorError:
            if request.session_uri is None:
                raise
            return Started(FAILED_MARK, request.session_uri)

    def json_response(body: Any, status: int, request_id: str) -> Any:
        if isinstance(body, dict) and body.get("authorizationUrl") == FAILED_MARK:
            body = {"sessionUri": body["sessionUri"], "sessionStatus": "FAILED"}
        return original_json(body, status, request_id)

    patch.setattr(Vault, "resource_token", resource_token)
    patch.setattr(routes, "json_response", json_response)


def _signature_not_compared(patch: pytest.MonkeyPatch) -> None:
    """SigV4 is parsed but the signature itself is never compared."""
    lenient = types.SimpleNamespace(new=hmac.new, compare_digest=lambda a, b: True)
    patch.setattr(sigv4, "hmac", lenient)


def _foreign_wat_accepted(patch: pytest.MonkeyPatch) -> None:
    """A workload access token is accepted from any workload's credentials."""
    original = VaultOperations._bound

    def bound(self: VaultOperations, caller: Caller, wat: str) -> Any:
        return original(self, Caller(caller.principal), wat)

    patch.setattr(VaultOperations, "_bound", bound)


VARIANTS: dict[str, tuple[Callable[[pytest.MonkeyPatch], None], set[str]]] = {
    "any-user-completes": (
        _any_user_completes,
        {"test_completion_by_another_user_fails", "test_completion_with_user_token"},
    ),
    # A shape defect: the refusals stand, their error shapes fail (CONF-CTRL-002).
    "no-field-list": (
        _no_field_list,
        {
            "test_names_and_patterns_are_validated" + SHAPE_SUFFIX,
            "test_enums_are_validated" + SHAPE_SUFFIX,
        },
    ),
    "failed-status": (
        _failed_status,
        {"test_completion_by_another_user_fails", "test_refused_consent_is_an_error"},
    ),
    "signature-not-compared": (
        _signature_not_compared,
        {"test_wrong_secret_is_refused", "test_signature_covers_the_body"},
    ),
    "foreign-wat-accepted": (_foreign_wat_accepted, {"test_wat_works_only_for_its_workload"}),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_broken_variant_is_caught(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    breaking, expected = VARIANTS[variant]
    breaking(monkeypatch)
    found = run_kit(deployment.config())
    failed = {r.name for r in found.by_outcome(Outcome.FAILED)}
    assert expected <= failed, f"{variant}: not caught by {sorted(expected - failed)}\n" + (
        found.summary()
    )
    errors = found.by_outcome(Outcome.ERROR)
    assert not errors, found.summary()
    # A defect of the error shape alone is not reported as an acceptance (CONF-CTRL-002).
    shape_only = {
        name.removesuffix(SHAPE_SUFFIX) for name in expected if name.endswith(SHAPE_SUFFIX)
    }
    assert not shape_only & failed, found.summary()


def test_setup_names_what_the_operator_provides(tmp_path: Path) -> None:
    config = tmp_path / "target.yaml"
    config.write_text(
        "url: https://bedrock-agentcore.eu-central-1.amazonaws.com\n"
        "profile: agentcore\n"
        "mock_idps: {issuers: {okta: 'https://okta.conformance.example/oauth2/default'}}\n"
        "agentcore:\n"
        "  region: eu-central-1\n"
        "  control_endpoint: https://bedrock-agentcore-control.eu-central-1.amazonaws.com\n"
        "  credentials: {access_key_id: AKIDEXAMPLE, secret_access_key: not-shown-anywhere}\n"
        "  jwt_workload: conformance-jwt\n"
        "  oauth_provider: https://crm.conformance.example\n",
        encoding="utf-8",
    )
    done = CliRunner().invoke(conform.app, ["setup", "--config", str(config)])
    assert done.exit_code == 0, done.output
    text = done.output
    assert "## AgentCore (boto3)" in text
    assert "bedrock-agentcore-control.eu-central-1.amazonaws.com" in text
    assert "signing name `bedrock-agentcore`" in text
    assert "workload identity `conformance-jwt`" in text
    assert "https://okta.conformance.example/oauth2/default" in text
    assert "https://crm.conformance.example" in text
    assert "not-shown-anywhere" not in text
