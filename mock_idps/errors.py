"""OAuth errors an emulated authorization server answers with: one class per error code.

The engine raises these; the vendor profile renders them (Okta's ``{"error",
"error_description"}``, Entra's AADSTS body, Cognito's bare ``{"error"}``). Each error
carries a ``reason``: a stable internal key (``"pkce_failed"``, ``"code_invalid"``) that a
profile maps to the vendor's own wording (:attr:`VendorProfile.error_descriptions
<proctor.mock_idps.profile.VendorProfile.error_descriptions>`). The ``description`` given
at the raise site is the vendor-neutral fallback.

Error tree::

    OAuthError
    ├── InvalidRequest          invalid_request            400  RFC 6749 §5.2, §4.1.2.1
    ├── InvalidClient           invalid_client             401  RFC 6749 §5.2
    ├── InvalidGrant            invalid_grant              400  RFC 6749 §5.2
    ├── UnauthorizedClient      unauthorized_client        400  RFC 6749 §5.2
    ├── UnsupportedGrantType    unsupported_grant_type     400  RFC 6749 §5.2
    ├── InvalidScope            invalid_scope              400  RFC 6749 §5.2
    ├── AccessDenied            access_denied              400  RFC 6749 §4.1.2.1
    ├── UnsupportedResponseType unsupported_response_type  400  RFC 6749 §4.1.2.1
    ├── InvalidTarget           invalid_target             400  RFC 8693 §2.2.2, RFC 8707
    ├── UnsupportedTokenType    unsupported_token_type     400  RFC 7009 §2.2.1
    ├── AuthorizationPending    authorization_pending      400  RFC 8628 §3.5
    ├── SlowDown                slow_down                  400  RFC 8628 §3.5
    ├── ExpiredToken            expired_token              400  RFC 8628 §3.5
    ├── LoginRequired           login_required             400  OIDC Core §3.1.2.6
    ├── ConsentRequired         consent_required           400  OIDC Core §3.1.2.6
    ├── InvalidToken            invalid_token              401  RFC 6750 §3.1
    ├── InsufficientScope       insufficient_scope         403  RFC 6750 §3.1
    ├── ServerError             server_error               5xx  RFC 6749 §4.1.2.1 (faults)
    ├── NotFound                not_found                  404  (HTTP)
    ├── MethodNotAllowed        method_not_allowed         405  (HTTP)
    ├── PayloadTooLarge         invalid_request            413  RFC 9110 §15.5.14 (resource APIs)
    └── UnsupportedMediaType    invalid_request            415  RFC 9110 §15.5.16 (resource APIs)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import ClassVar

__all__ = [
    "AccessDenied",
    "AuthorizationPending",
    "ConsentRequired",
    "ExpiredToken",
    "InsufficientScope",
    "InvalidClient",
    "InvalidGrant",
    "InvalidRequest",
    "InvalidScope",
    "InvalidTarget",
    "InvalidToken",
    "LoginRequired",
    "MethodNotAllowed",
    "NotFound",
    "OAuthError",
    "PayloadTooLarge",
    "ServerError",
    "SlowDown",
    "UnauthorizedClient",
    "UnsupportedGrantType",
    "UnsupportedMediaType",
    "UnsupportedResponseType",
    "UnsupportedTokenType",
]

# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E (no '"' and no '\').
_DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


class OAuthError(Exception):
    """An OAuth protocol error with a public description and an internal reason key."""

    error: ClassVar[str] = "invalid_request"
    status_code: ClassVar[int] = 400

    def __init__(
        self,
        description: str,
        *,
        reason: str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> None:
        if not _DESCRIPTION.fullmatch(description):
            raise ValueError(f"description uses characters RFC 6749 §5.2 forbids: {description!r}")
        super().__init__(description)
        self.description = description
        self.reason = reason or self.error
        self.headers: dict[str, str] = dict(headers or {})
        self.params: dict[str, str] = dict(params or {})
        """Values a vendor's wording may interpolate (``{grant_types}``)."""


class InvalidRequest(OAuthError):
    """A required parameter is missing, repeated, malformed or unsupported (RFC 6749 §5.2)."""

    error = "invalid_request"


class InvalidClient(OAuthError):
    """Client authentication failed (RFC 6749 §5.2); answered with HTTP 401."""

    error = "invalid_client"
    status_code = 401


class InvalidGrant(OAuthError):
    """The code, refresh token or other grant is invalid, expired, revoked or another
    client's, or the redirect URI or PKCE verifier does not match (RFC 6749 §5.2,
    RFC 7636 §4.6)."""

    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    """The client may not use this grant type (RFC 6749 §5.2)."""

    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    """The authorization server does not support this grant type (RFC 6749 §5.2)."""

    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    """The requested scope is invalid, unknown or malformed (RFC 6749 §5.2)."""

    error = "invalid_scope"


class AccessDenied(OAuthError):
    """The resource owner or a policy denied the request (RFC 6749 §4.1.2.1)."""

    error = "access_denied"


class UnsupportedResponseType(OAuthError):
    """The response type is not supported (RFC 6749 §4.1.2.1)."""

    error = "unsupported_response_type"


class InvalidTarget(OAuthError):
    """The requested audience or resource is unacceptable (RFC 8693 §2.2.2, RFC 8707 §2)."""

    error = "invalid_target"


class UnsupportedTokenType(OAuthError):
    """The server does not revoke this token type (RFC 7009 §2.2.1)."""

    error = "unsupported_token_type"


class AuthorizationPending(OAuthError):
    """The user has not yet completed the device authorization (RFC 8628 §3.5)."""

    error = "authorization_pending"


class SlowDown(OAuthError):
    """The client polls faster than the interval allows (RFC 8628 §3.5)."""

    error = "slow_down"


class ExpiredToken(OAuthError):
    """The device code has expired (RFC 8628 §3.5)."""

    error = "expired_token"


class LoginRequired(OAuthError):
    """``prompt=none`` but no user is signed in (OIDC Core §3.1.2.6)."""

    error = "login_required"


class ConsentRequired(OAuthError):
    """``prompt=none`` but consent is needed (OIDC Core §3.1.2.6)."""

    error = "consent_required"


class InvalidToken(OAuthError):
    """The bearer token is missing, unknown, expired or revoked (RFC 6750 §3.1)."""

    error = "invalid_token"
    status_code = 401


class InsufficientScope(OAuthError):
    """The bearer token lacks the scope the endpoint needs (RFC 6750 §3.1)."""

    error = "insufficient_scope"
    status_code = 403


class ServerError(OAuthError):
    """An injected failure (``POST /_mock/faults``); the emulator itself never fails so."""

    error = "server_error"
    status_code = 500


class NotFound(OAuthError):
    """No endpoint or resource at this path."""

    error = "not_found"
    status_code = 404


class MethodNotAllowed(OAuthError):
    """The endpoint does not accept this HTTP method."""

    error = "method_not_allowed"
    status_code = 405


class UnsupportedMediaType(OAuthError):
    """The request body is not of a media type the operation accepts (RFC 9110 §15.5.16)."""

    error = "invalid_request"
    status_code = 415


class PayloadTooLarge(OAuthError):
    """The request body exceeds the API's limit (RFC 9110 §15.5.14)."""

    error = "invalid_request"
    status_code = 413
