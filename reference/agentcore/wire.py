"""AWS restJson1 on the wire, as botocore's ``RestJSONParser`` reads it.

Responses:

- a JSON object with the model's camelCase member names; members without a value are
  left out (botocore drops ``null``, but an empty ``accessToken`` would reach the user as a
  token, so nothing is ever sent as ``null`` or ``""`` in its place);
- timestamps are epoch seconds as JSON numbers (the restJson1 default);
- ``Create*`` answers 201, ``Delete*`` 204 with an empty body, everything else 200;
- every response carries ``x-amzn-RequestId`` (botocore's ``ResponseMetadata.RequestId``),
  the same id the audit events and log lines of the request carry.

Errors carry the exception's name twice, in ``X-Amzn-ErrorType`` (what botocore reads
first) and in the body's ``__type``, with the ``message`` and the modeled fields
(``reason`` and ``fieldList`` on ``ValidationException``). The statuses are the model's::

    AgentCoreError                          (an ApiError: audited with its native code)
    ├── ValidationException           400   reason, fieldList
    ├── UnauthorizedException         401
    ├── AccessDeniedException         403
    ├── ResourceNotFoundException     404
    ├── ConflictException             409
    ├── ConcurrentModificationException 409
    ├── ServiceQuotaExceededException 402   (as modeled)
    ├── ResourceLimitExceededException 400
    ├── DecryptionFailure             400
    ├── EncryptionFailure             400
    ├── ThrottlingException           429
    ├── InternalServerException       500   (never with detail)
    └── signature failures (AWS's common errors, not in the model; botocore raises a plain
        ClientError with the name as its code):
        MissingAuthenticationTokenException 403, IncompleteSignatureException 400,
        UnrecognizedClientException 403, InvalidSignatureException 403

Errors raised by the shared core (the native :class:`~proctor.reference.errors.ApiError`
family) are translated by :func:`from_native`; the mapping is the table ``_NATIVE``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final

from starlette.responses import Response

from proctor.reference.errors import ApiError, ProctorError

__all__ = [
    "AccessDeniedException",
    "AgentCoreError",
    "ConcurrentModificationException",
    "ConflictException",
    "DecryptionFailure",
    "EncryptionFailure",
    "IncompleteSignatureException",
    "InternalServerException",
    "InvalidSignatureException",
    "MissingAuthenticationTokenException",
    "ResourceLimitExceededException",
    "ResourceNotFoundException",
    "ServiceQuotaExceededException",
    "ThrottlingException",
    "UnauthorizedException",
    "UnrecognizedClientException",
    "ValidationException",
    "error_response",
    "from_native",
    "json_response",
    "pointer_to_member",
]

REQUEST_ID_HEADER: Final = "x-amzn-RequestId"
ERROR_TYPE_HEADER: Final = "X-Amzn-ErrorType"
CONTENT_TYPE: Final = "application/json"
#: ``ValidationException.reason`` (the model's enum).
REASONS: Final = (
    "CannotParse",
    "FieldValidationFailed",
    "IdempotentParameterMismatchException",
    "EventInOtherSession",
    "ResourceConflict",
)


class AgentCoreError(ApiError):
    """An AgentCore exception. ``name`` goes on the wire; ``code`` is the native code the
    audit event records as its ``reason`` (AUD-EVT-004)."""

    name: ClassVar[str] = "InternalServerException"
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        #: The native code recorded in the audit event (a translated error keeps its own).
        self.audit_code: str = type(self).code

    def problem(self, request_id: str | None = None) -> dict[str, Any]:
        body = super().problem(request_id)
        body["code"] = self.audit_code
        return body

    def fields(self) -> dict[str, Any]:
        """The modeled members besides ``message``."""
        return {}

    def body(self) -> dict[str, Any]:
        return {"message": self.description, "__type": self.name, **self.fields()}


class ValidationException(AgentCoreError):
    name = "ValidationException"
    status = 400
    code = "validation_failed"

    def __init__(
        self,
        message: str,
        *,
        reason: str = "FieldValidationFailed",
        field_list: list[dict[str, str]] | None = None,
        detail: str | None = None,
    ) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown ValidationException reason {reason!r}")
        super().__init__(message, detail=detail)
        self.reason = reason
        self.field_list = list(field_list or [])
        if reason == "CannotParse":
            self.audit_code = "invalid_request_body"

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason}
        if self.field_list:
            out["fieldList"] = self.field_list
        return out


class UnauthorizedException(AgentCoreError):
    name = "UnauthorizedException"
    status = 401
    code = "unauthenticated"


class AccessDeniedException(AgentCoreError):
    name = "AccessDeniedException"
    status = 403
    code = "forbidden"


class ResourceNotFoundException(AgentCoreError):
    name = "ResourceNotFoundException"
    status = 404
    code = "not_found"


class ConflictException(AgentCoreError):
    name = "ConflictException"
    status = 409
    code = "conflict"


class ConcurrentModificationException(AgentCoreError):
    name = "ConcurrentModificationException"
    status = 409
    code = "conflict"


class ServiceQuotaExceededException(AgentCoreError):
    name = "ServiceQuotaExceededException"
    status = 402
    code = "rate_limited"


class ResourceLimitExceededException(AgentCoreError):
    name = "ResourceLimitExceededException"
    status = 400
    code = "validation_failed"


class DecryptionFailure(AgentCoreError):
    name = "DecryptionFailure"
    status = 400
    code = "internal_error"


class EncryptionFailure(AgentCoreError):
    name = "EncryptionFailure"
    status = 400
    code = "internal_error"


class ThrottlingException(AgentCoreError):
    name = "ThrottlingException"
    status = 429
    code = "rate_limited"


class InternalServerException(AgentCoreError):
    name = "InternalServerException"
    status = 500
    code = "internal_error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__("The service failed to handle the request.", detail=detail)


# -- signature failures (AWS common errors) ------------------------------------------------


class MissingAuthenticationTokenException(AgentCoreError):
    name = "MissingAuthenticationTokenException"
    status = 403
    code = "unauthenticated"


class IncompleteSignatureException(AgentCoreError):
    name = "IncompleteSignatureException"
    status = 400
    code = "unauthenticated"


class UnrecognizedClientException(AgentCoreError):
    name = "UnrecognizedClientException"
    status = 403
    code = "unauthenticated"


class InvalidSignatureException(AgentCoreError):
    name = "InvalidSignatureException"
    status = 403
    code = "unauthenticated"


# -- native errors -> AgentCore errors ---------------------------------------------------------

_CAMEL: Final = re.compile(r"_([a-z0-9])")
#: Native member names whose AgentCore name is not their camelCase spelling.
RENAMES: Final[Mapping[str, str]] = {
    "flow": "oauth2Flow",
    "provider": "resourceCredentialProviderName",
    "return_url": "resourceOauth2ReturnUrl",
    "workload_access_token": "workloadIdentityToken",
    "allowed_return_urls": "allowedResourceOauth2ReturnUrls",
    "user_token": "userIdentifier.userToken",
    "user_id": "userIdentifier.userId",
}


def pointer_to_member(pointer: str, renames: Mapping[str, str] = RENAMES) -> str:
    """A native error's field (a JSON Pointer such as ``/scopes/0``, or a bare name) as an
    AgentCore member path (``scopes.1.member``)."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/") if p]
    if not parts:
        return "(body)"
    out: list[str] = []
    for position, part in enumerate(parts):
        if part.isdigit() and out:
            out.append(f"{int(part) + 1}.member")
        elif position == 0:
            out.append(renames.get(part, _CAMEL.sub(lambda m: m[1].upper(), part)))
        else:
            out.append(_CAMEL.sub(lambda m: m[1].upper(), part))
    return ".".join(out)


def _field_list(error: ApiError, renames: Mapping[str, str]) -> list[dict[str, str]]:
    return [
        {"name": pointer_to_member(item.get("field", ""), renames), "message": item["message"]}
        for item in error.errors
        if "message" in item
    ]


def from_native(error: ProctorError, renames: Mapping[str, str] = RENAMES) -> AgentCoreError:
    """The AgentCore exception a native error becomes (see the module docstring)."""
    if isinstance(error, AgentCoreError):
        return error
    if not isinstance(error, ApiError):
        return InternalServerException(error.detail)
    code = str(error.problem(None)["code"])
    message = error.description
    translated: AgentCoreError
    if code in ("invalid_request_body", "payload_too_large", "unsupported_media_type"):
        translated = ValidationException(
            message, reason="CannotParse", field_list=_field_list(error, renames)
        )
    elif code in ("validation_failed", "scope_not_allowed"):
        translated = ValidationException(message, field_list=_field_list(error, renames))
    elif code == "return_url_not_allowed":
        translated = ValidationException(
            message,
            field_list=[
                {
                    "name": "resourceOauth2ReturnUrl",
                    "message": "must be one of the workload identity's "
                    "allowedResourceOauth2ReturnUrls",
                }
            ],
        )
    elif code in ("session_expired", "session_failed"):
        cause = getattr(error, "reason", None)
        detail = code if cause is None else f"{code}: {cause}"
        translated = ValidationException(
            message, field_list=[{"name": "sessionUri", "message": detail}]
        )
    elif code in ("unauthenticated", "token_invalid", "user_token_rejected"):
        translated = UnauthorizedException(message)
    elif code in ("forbidden", "session_user_mismatch"):
        translated = AccessDeniedException(message)
    elif code in ("not_found", "provider_not_found", "session_not_found"):
        translated = ResourceNotFoundException(message)
    elif code == "conflict":
        translated = ConflictException(message)
    elif code == "rate_limited":
        translated = ThrottlingException(message)
    elif code == "upstream_error":
        # The provider's authorization server failed: transient as far as the caller can
        # tell, so a 5xx that botocore retries; the description names no secret.
        translated = AgentCoreError(message)
    else:
        translated = InternalServerException(error.detail)
    translated.audit_code = code
    return translated


# -- responses -----------------------------------------------------------------------------


def _compact(value: Any) -> Any:
    """Drops ``None`` members, recursively (restJson1: absent, not null)."""
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_compact(v) for v in value]
    return value


def _dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(body: Mapping[str, Any] | None, status: int, request_id: str) -> Response:
    headers = {REQUEST_ID_HEADER: request_id, "Cache-Control": "no-store"}
    if status == 204 or body is None:
        return Response(status_code=status, headers=headers)
    return Response(_dumps(_compact(dict(body))), status, headers, media_type=CONTENT_TYPE)


def error_response(error: AgentCoreError, request_id: str) -> Response:
    headers = {
        REQUEST_ID_HEADER: request_id,
        ERROR_TYPE_HEADER: error.name,
        "Cache-Control": "no-store",
    }
    return Response(_dumps(error.body()), error.status, headers, media_type=CONTENT_TYPE)
