"""Checks that put secrets into messages and evidence (meta-test suite, not a real one)."""

from __future__ import annotations

from proctor.conformance.checks import check
from proctor.conformance.target import Target


@check("KIT-SEC-001", level="MUST")
def test_echo_leaks(proctor_target: Target) -> None:
    """Sends the admin token and secrets in a form, then fails quoting the response."""
    response = proctor_target.client.post(
        proctor_target.url("/echo?code=query-code-value-77&state=s"),
        headers=proctor_target.admin_headers(),
        data={"client_secret": "form-secret-value-55", "code_verifier": "verifier-value-66"},
    )
    raise AssertionError(f"the target leaks: {response.text} / {dict(response.headers)}")


@check("KIT-SEC-002", level="MUST", needs=["client_credentials"])
def test_token_response_quoted(proctor_target: Target) -> None:
    """Gets tokens, then fails quoting the token response and the client's credentials."""
    headers, form = proctor_target.client_auth("kit")
    response = proctor_target.client.post(
        proctor_target.endpoint("token"),
        data={"grant_type": "client_credentials", **form},
        headers=headers,
    )
    raise AssertionError(f"tokens: {response.json()} sent with {headers}")


@check("KIT-SEC-003", level="MUST", needs=["client_credentials"])
def test_bad_client_error_quoted(proctor_target: Target) -> None:
    """The target's error description echoes the configured secret."""
    response = proctor_target.client.post(
        proctor_target.endpoint("token"), data={"grant_type": "client_credentials"}
    )
    assert response.status_code == 200, response.text


@check("KIT-SEC-004", level="MUST")
def test_control_characters(proctor_target: Target) -> None:
    """A response full of control characters ends up in the message."""
    response = proctor_target.client.get(proctor_target.url("/control-chars"))
    raise AssertionError(response.text)
