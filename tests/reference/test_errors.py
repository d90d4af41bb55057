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


def test_invalid_client_is_401_with_a_basic_challenge() -> None:
    # RFC 6749 §5.2 requires it when Basic was used; ERR-OAUTH-002 always.
    for err in (errors.InvalidClient("x", used_basic=True), errors.InvalidClient("x")):
        assert err.status == 401
        assert err.headers()["WWW-Authenticate"] == 'Basic realm="proctor"'


def test_bearer_challenges_follow_rfc6750() -> None:
    assert errors.Unauthenticated("no credential").headers() == {
        "WWW-Authenticate": 'Bearer realm="proctor"'
    }
    bad = errors.Unauthenticated("bad token", error="invalid_token", data_plane=True)
    assert bad.headers()["WWW-Authenticate"] == (
        'Bearer realm="proctor", error="invalid_token", Basic realm="proctor"'
    )
    rejected = errors.UserTokenRejected("user token rejected", reason="expired")
    assert 'error="invalid_token"' in rejected.headers()["WWW-Authenticate"]


def test_session_failed_and_method_not_allowed() -> None:
    body = errors.SessionFailed("the provider refused", reason="access_denied").problem()
    assert (body["status"], body["code"], body["reason"]) == (
        400,
        "session_failed",
        "access_denied",
    )
    err = errors.MethodNotAllowed(["GET", "POST"])
    assert (err.status, err.headers()["Allow"]) == (405, "GET, POST")


def test_unknown_specific_not_found_code_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="404"):
        errors.NotFound("x", code="workload_gone")


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
    assert body["title"] == "Provider not found"
    assert body["status"] == 404


def test_internal_error_never_carries_detail_on_the_wire() -> None:
    err = errors.InternalError(detail="psycopg.OperationalError: password=hunter2")
    assert "hunter2" not in str(err.problem())
    assert "detail" not in err.problem()  # ERR-SHAPE-001
    assert err.detail is not None


def test_user_token_rejected_carries_reason() -> None:
    body = errors.UserTokenRejected("user token rejected", reason="expired").problem()
    assert body["reason"] == "expired"
    assert body["status"] == 401
