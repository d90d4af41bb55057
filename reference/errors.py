"""The reference service's typed errors.

Two families, one per wire format (spec: ``09-errors.md``)::

    ProctorError                    untrusted input or state refused a request
    ├── ApiError                    native API: RFC 9457 problem details, stable ``code``
    │   ├── InvalidRequestBody      400 invalid_request_body
    │   ├── ValidationFailed        400 validation_failed (with per-field ``errors``)
    │   ├── Unauthenticated         401 unauthenticated (+ WWW-Authenticate)
    │   ├── TokenInvalid            401 token_invalid
    │   ├── UserTokenRejected       401 user_token_rejected (+ ``reason``)
    │   ├── Forbidden               403 forbidden
    │   │   └── InsufficientScope   403 forbidden (+ Bearer error="insufficient_scope")
    │   ├── SessionUserMismatch     403 session_user_mismatch
    │   ├── NotFound                404 not_found, provider_not_found, session_not_found
    │   ├── Conflict                409 conflict
    │   ├── PayloadTooLarge         413 payload_too_large
    │   ├── UnsupportedMediaType    415 unsupported_media_type
    │   ├── ReturnUrlNotAllowed     400 return_url_not_allowed
    │   ├── ScopeNotAllowed         400 scope_not_allowed
    │   ├── SessionExpired          400 session_expired
    │   ├── SessionFailed           400 session_failed (+ ``reason``)
    │   ├── MethodNotAllowed        405 method_not_allowed (+ Allow)
    │   ├── RateLimited             429 rate_limited (+ Retry-After)
    │   ├── UpstreamError           502 upstream_error (an upstream provider really failed)
    │   └── InternalError           500 internal_error (never carries detail)
    └── OAuthError                  OAuth endpoints: RFC 6749 §5.2 JSON errors
        ├── InvalidRequest          400 invalid_request
        ├── InvalidClient           401 invalid_client (+ WWW-Authenticate: Basic)
        ├── InvalidGrant            400 invalid_grant
        ├── UnauthorizedClient      400 unauthorized_client
        ├── UnsupportedGrantType    400 unsupported_grant_type
        ├── InvalidScope            400 invalid_scope
        ├── InvalidTarget           400 invalid_target (RFC 8707 §2, RFC 8693 §2.2.2)
        ├── UnsupportedTokenType    400 unsupported_token_type (RFC 7009 §2.2.1)
        ├── TemporarilyUnavailable  429 temporarily_unavailable (+ Retry-After)
        └── ServerError             500 server_error (never with detail)

``description`` is public and goes on the wire; ``detail`` is internal and goes only to
logs. Neither ever contains a secret. Programmer mistakes raise ``TypeError`` or
``ValueError`` instead.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

__all__ = [
    "ApiError",
    "Conflict",
    "Forbidden",
    "InsufficientScope",
    "InternalError",
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidRequestBody",
    "InvalidScope",
    "InvalidTarget",
    "MethodNotAllowed",
    "NotFound",
    "OAuthError",
    "PayloadTooLarge",
    "ProctorError",
    "RateLimited",
    "ReturnUrlNotAllowed",
    "ScopeNotAllowed",
    "ServerError",
    "SessionExpired",
    "SessionFailed",
    "SessionUserMismatch",
    "TemporarilyUnavailable",
    "TokenInvalid",
    "Unauthenticated",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UnsupportedMediaType",
    "UnsupportedTokenType",
    "UpstreamError",
    "UserTokenRejected",
    "ValidationFailed",
]

# RFC 6750 §3: the characters of one scope token.
_SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")
# RFC 6749 §5.2: error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
_OAUTH_DESCRIPTION = re.compile(r"^[\x20-\x21\x23-\x5B\x5D-\x7E]*$")


class ProctorError(Exception):
    """Base of every error a request can end in. ``str()`` is the public description."""

    status: ClassVar[int] = 400

    def __init__(self, description: str, *, detail: str | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.detail = detail
        self.errors: list[dict[str, str]] = []

    def headers(self) -> dict[str, str]:
        return {}


# -- native API ------------------------------------------------------------------------


class ApiError(ProctorError):
    """An RFC 9457 problem with a stable machine ``code``."""

    code: ClassVar[str] = "invalid_request_body"
    title: ClassVar[str] = "Invalid request body"

    def problem(self, request_id: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"https://proctor.dev/errors/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.description,
            "code": self.code,
        }
        if request_id is not None:
            body["request_id"] = request_id
        if self.errors:
            body["errors"] = self.errors
        return body

    def with_errors(self, errors: list[dict[str, str]]) -> ApiError:
        """Attach per-field messages (``{"field", "message"}``; never the input values)."""
        self.errors = errors
        return self


class InvalidRequestBody(ApiError):
    """Malformed JSON, wrong types, missing or unknown members."""

    status = 400
    code = "invalid_request_body"
    title = "Invalid request body"


class ValidationFailed(ApiError):
    """Well-formed input that breaks a rule; ``errors`` names the fields."""

    status = 400
    code = "validation_failed"
    title = "Validation failed"

    def __init__(
        self,
        description: str,
        *,
        errors: list[dict[str, str]] | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(description, detail=detail)
        self.errors = errors or []


class Unauthenticated(ApiError):
    """No credential, or a bad one (RFC 9110 §11.6.1: a 401 carries a challenge)."""

    status = 401
    code = "unauthenticated"
    title = "Authentication required"

    def __init__(
        self,
        description: str,
        *,
        scheme: str = "Bearer",
        data_plane: bool = False,
        error: str | None = None,
        detail: str | None = None,
    ) -> None:
        """``error`` is the RFC 6750 §3.1 code (``invalid_token``, ``invalid_request``) when a
        credential was presented; absent when none was (ERR-BEARER-001). The data plane
        challenges both Bearer and Basic."""
        super().__init__(description, detail=detail)
        self.scheme = scheme
        self.data_plane = data_plane
        self.error = error

    def headers(self) -> dict[str, str]:
        first = f'{self.scheme} realm="proctor"'
        if self.error is not None:
            first += f', error="{self.error}"'
        challenge = first + (', Basic realm="proctor"' if self.data_plane else "")
        return {"WWW-Authenticate": challenge}


class TokenInvalid(ApiError):
    """A workload access token that is unknown, expired, revoked, or someone else's."""

    status = 401
    code = "token_invalid"
    title = "Invalid workload access token"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="proctor", error="invalid_token"'}


class UserTokenRejected(ApiError):
    """The user's IdP token failed the authorizer; ``reason`` is the decision's code."""

    status = 401
    code = "user_token_rejected"
    title = "User token rejected"

    def __init__(self, description: str, *, reason: str, detail: str | None = None) -> None:
        super().__init__(description, detail=detail)
        self.reason = reason

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="proctor", error="invalid_token"'}

    def problem(self, request_id: str | None = None) -> dict[str, Any]:
        body = super().problem(request_id)
        body["reason"] = self.reason
        return body


class Forbidden(ApiError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class InsufficientScope(Forbidden):
    """RFC 6750 §3.1 (ERR-BEARER-003): a valid bearer token without a scope the endpoint
    requires; the challenge names the required scopes (space-separated)."""

    def __init__(self, scopes: list[str] | tuple[str, ...]) -> None:
        super().__init__("The bearer token lacks a scope this endpoint requires.")
        # RFC 6750 §3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ); drop anything else.
        self.scopes = [s for s in scopes if s and _SCOPE_TOKEN.match(s)]

    def headers(self) -> dict[str, str]:
        return {
            "WWW-Authenticate": 'Bearer realm="proctor", error="insufficient_scope", '
            f'scope="{" ".join(self.scopes)}"'
        }


class SessionUserMismatch(ApiError):
    """A 3-legged session completed by a different user than the one who started it."""

    status = 403
    code = "session_user_mismatch"
    title = "Session belongs to another user"


class NotFound(ApiError):
    """Absent, or not visible to the caller (no existence oracle)."""

    status = 404
    code = "not_found"
    title = "Not found"

    #: The specific 404 codes of ERR-CODE-001, with their titles.
    SPECIFIC: ClassVar[dict[str, str]] = {
        "provider_not_found": "Provider not found",
        "session_not_found": "Session not found",
    }

    def __init__(
        self, description: str, *, code: str | None = None, detail: str | None = None
    ) -> None:
        if code is not None and code not in self.SPECIFIC:
            raise ValueError(f"unknown 404 code {code!r}")
        super().__init__(description, detail=detail)
        self._code = code

    def problem(self, request_id: str | None = None) -> dict[str, Any]:
        body = super().problem(request_id)
        if self._code is not None:
            body["code"] = self._code
            body["title"] = self.SPECIFIC[self._code]
            body["type"] = f"https://proctor.dev/errors/{self._code}"
        return body


class Conflict(ApiError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "payload_too_large"
    title = "Payload too large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class ReturnUrlNotAllowed(ApiError):
    status = 400
    code = "return_url_not_allowed"
    title = "Return URL not registered"


class ScopeNotAllowed(ApiError):
    status = 400
    code = "scope_not_allowed"
    title = "Scope not allowed"


class SessionExpired(ApiError):
    status = 400
    code = "session_expired"
    title = "Session expired"


class SessionFailed(ApiError):
    """A 3-legged session that failed at the provider; ``reason`` names the cause."""

    status = 400
    code = "session_failed"
    title = "Session failed"

    def __init__(self, description: str, *, reason: str, detail: str | None = None) -> None:
        super().__init__(description, detail=detail)
        self.reason = reason

    def problem(self, request_id: str | None = None) -> dict[str, Any]:
        body = super().problem(request_id)
        body["reason"] = self.reason
        return body


class RateLimited(ApiError):
    """RFC 6585 §4 (SEC-DOS-002): over a rate limit; ``Retry-After`` in whole seconds."""

    status = 429
    code = "rate_limited"
    title = "Too many requests"

    def __init__(self, retry_after: int, *, detail: str | None = None) -> None:
        super().__init__("Too many requests; retry later.", detail=detail)
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"

    def __init__(self, allowed: list[str]) -> None:
        super().__init__("This path does not support the method.")
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class UpstreamError(ApiError):
    status = 502
    code = "upstream_error"
    title = "Upstream provider failed"


class InternalError(ApiError):
    status = 500
    code = "internal_error"
    title = "Internal error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__("The service failed to handle the request.", detail=detail)

    def problem(self, request_id: str | None = None) -> dict[str, Any]:
        """ERR-SHAPE-001: ``detail`` is absent on ``internal_error``."""
        body = super().problem(request_id)
        del body["detail"]
        return body


# -- OAuth endpoints -------------------------------------------------------------------


class OAuthError(ProctorError):
    """RFC 6749 §5.2: ``{"error", "error_description"}`` with status 400 unless stated."""

    error: ClassVar[str] = "invalid_request"

    def __init__(self, description: str, *, detail: str | None = None) -> None:
        if not _OAUTH_DESCRIPTION.match(description):
            raise ValueError("error_description uses characters RFC 6749 §5.2 forbids")
        super().__init__(description, detail=detail)

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}

    def headers(self) -> dict[str, str]:
        return {"Cache-Control": "no-store", "Pragma": "no-cache"}


class InvalidRequest(OAuthError):
    """RFC 6749 §5.2; RFC 8693 §2.2.2: also any invalid or unacceptable subject/actor token."""

    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 §5.2: client authentication failed; 401 with a challenge if Basic was used."""

    status = 401
    error = "invalid_client"

    def __init__(
        self, description: str, *, used_basic: bool = False, detail: str | None = None
    ) -> None:
        super().__init__(description, detail=detail)
        self.used_basic = used_basic

    def headers(self) -> dict[str, str]:
        # RFC 6749 §5.2 requires the challenge when Basic was used; proctor always sends
        # it (ERR-OAUTH-002), so a client learns which scheme to use.
        headers = super().headers()
        headers["WWW-Authenticate"] = 'Basic realm="proctor"'
        return headers


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    """RFC 8707 §2 and RFC 8693 §2.2.2: the requested audience or resource is refused."""

    error = "invalid_target"


class ServerError(OAuthError):
    """RFC 6749 §5.2 (via §4.1.2.1): an unexpected fault; the description says nothing more."""

    status = 500
    error = "server_error"


class UnsupportedTokenType(OAuthError):
    """RFC 7009 §2.2.1: the server cannot revoke this type of token."""

    error = "unsupported_token_type"


class TemporarilyUnavailable(OAuthError):
    """RFC 6749 §4.1.2.1 code, used at the OAuth endpoints for a rate-limited request with
    429 and ``Retry-After`` (RFC 6585 §4; ERR-OAUTH-004, SEC-DOS-002)."""

    status = 429
    error = "temporarily_unavailable"

    def __init__(self, retry_after: int, *, detail: str | None = None) -> None:
        super().__init__("Too many requests; retry later.", detail=detail)
        self.retry_after = max(1, retry_after)

    def headers(self) -> dict[str, str]:
        headers = super().headers()
        headers["Retry-After"] = str(self.retry_after)
        return headers
