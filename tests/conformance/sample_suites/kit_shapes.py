"""Negative checks reported as a refusal and an error shape (meta-test suite, CONF-CTRL-002).

The fake target answers a forged bearer token with ``401 {"error": "invalid_token"}`` and
a token request without credentials with ``401 {"error": "invalid_client"}`` but no
``WWW-Authenticate`` challenge: a refusal in the wrong shape.
"""

from __future__ import annotations

import httpx

from proctor.conformance.checks import check
from proctor.conformance.exchange import expect_error
from proctor.conformance.target import Target

FORGED = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0."


def _forged_call(target: Target) -> httpx.Response:
    return target.client.get(
        target.url("/protected"), headers={"Authorization": f"Bearer {FORGED}"}
    )


def _token_request(target: Target, *, authenticated: bool) -> httpx.Response:
    headers, form = target.client_auth("kit") if authenticated else ({}, {})
    return target.client.post(
        target.endpoint("token"), data={"grant_type": "client_credentials", **form}, headers=headers
    )


@check("KIT-SHP-001", level="MUST", shape=("ERR-OAUTH-001",))
def test_refused_in_the_required_shape(proctor_target: Target) -> None:
    """A forged token is refused with invalid_token."""
    expect_error(_forged_call(proctor_target), "invalid_token", "a forged token", status=401)


@check("KIT-SHP-002", level="MUST", shape=("ERR-OAUTH-002",))
def test_refused_in_the_wrong_shape(proctor_target: Target) -> None:
    """A request without credentials is refused, but without the challenge."""
    response = _token_request(proctor_target, authenticated=False)
    expect_error(response, "invalid_client", "a request without credentials")
    raise AssertionError("the check went on after the wrong shape")


@check("KIT-SHP-003", level="MUST", shape=("ERR-OAUTH-001",))
def test_accepted(proctor_target: Target) -> None:
    """A request the target accepts where the check expects a refusal."""
    response = _token_request(proctor_target, authenticated=True)
    expect_error(response, "invalid_request", "an authenticated request")


@check("KIT-SHP-004", level="MUST")
def test_judges_a_shape_it_does_not_declare(proctor_target: Target) -> None:
    """A negative check that is not split."""
    expect_error(_forged_call(proctor_target), "invalid_token", "a forged token", status=401)


@check("KIT-SHP-005", level="MUST", shape=("ERR-OAUTH-001",))
def test_declares_a_shape_it_never_judges(proctor_target: Target) -> None:
    """A check that declares a shape but judges none."""
    assert _forged_call(proctor_target).status_code == 401


@check("KIT-SHP-006", level="MUST", shape=("TX-ERR-002",))
def test_a_should_shape_that_is_wrong(proctor_target: Target) -> None:
    """A refusal whose shape is a SHOULD."""
    expect_error(_forged_call(proctor_target), "invalid_request", "a forged token", status=401)


@check("KIT-SHP-007", level="MUST", needs=["vault"], shape=("ERR-OAUTH-001",))
def test_needs_the_vault(proctor_target: Target) -> None:
    """Never runs against a target without a vault."""
    raise AssertionError("must not run")
