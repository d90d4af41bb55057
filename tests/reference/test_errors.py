"""The typed errors render the wire shapes the spec requires (09-errors.md)."""

from __future__ import annotations

import pytest

from proctor.reference import errors


def test_oauth_error_body_and_no_store() -> None:
    err = errors.InvalidTarget("audience not registered for this client")
    assert err.status == 400
    assert err.body() == {
        "error": "invalid_target",
        "error_description": "audience not registered for this client",
    }
    assert err.headers()["Cache-Control"] == "no-store"


def test_invalid_client_challenges_only_when_basic_was_used() -> None:
    assert errors.InvalidClient("bad client", used_basic=True).status == 401
    assert "WWW-Authenticate" in errors.InvalidClient("x", used_basic=True).headers()
    assert "WWW-Authenticate" not in errors.InvalidClient("x").headers()


@pytest.mark.parametrize("bad", ['quote " inside', "back\\slash", "new\nline", "caf\u00e9"])
def test_oauth_description_charset_is_enforced(bad: str) -> None:
    with pytest.raises(ValueError, match="RFC 6749"):
        errors.InvalidRequest(bad)


def test_problem_details_shape() -> None:
    err = errors.ValidationFailed(
        "name is invalid", errors=[{"field": "name", "message": "too short"}]
    )
    assert err.problem("req-1") == {
        "type": "https://proctor.dev/errors/validation_failed",
        "title": "Validation failed",
        "status": 400,
        "detail": "name is invalid",
        "code": "validation_failed",
        "request_id": "req-1",
        "errors": [{"field": "name", "message": "too short"}],
    }


def test_specific_not_found_code() -> None:
    body = errors.NotFound("no such provider", code="provider_not_found").problem()
    assert body["code"] == "provider_not_found"
    assert body["status"] == 404


def test_internal_error_never_carries_detail_on_the_wire() -> None:
    err = errors.InternalError(detail="psycopg.OperationalError: password=hunter2")
    assert "hunter2" not in str(err.problem())
    assert err.detail is not None


def test_user_token_rejected_carries_reason() -> None:
    body = errors.UserTokenRejected("user token rejected", reason="expired").problem()
    assert body["reason"] == "expired"
    assert body["status"] == 401
