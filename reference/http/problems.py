"""Typed errors to responses: RFC 9457 problems for the native API, RFC 6749 §5.2 JSON
for the OAuth endpoints, and a detail-free 500 for anything unexpected."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from proctor.reference.errors import (
    ApiError,
    InternalError,
    NotFound,
    OAuthError,
    PayloadTooLarge,
)
from proctor.reference.logs import request_id_var

__all__ = ["exception_handlers", "problem_response"]

log = logging.getLogger("proctor.http")

PROBLEM_JSON = "application/problem+json"


def problem_response(error: ApiError) -> Response:
    headers = {"Cache-Control": "no-store", **error.headers()}
    return JSONResponse(
        error.problem(request_id_var.get()),
        status_code=error.status,
        headers=headers,
        media_type=PROBLEM_JSON,
    )


def _api_error(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, ApiError):  # pragma: no cover - registered for ApiError only
        raise TypeError(type(exc).__name__)
    if exc.detail:
        log.info("request refused", extra={"fields": {"code": exc.code, "detail": exc.detail}})
    return problem_response(exc)


def _oauth_error(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, OAuthError):  # pragma: no cover - registered for OAuthError only
        raise TypeError(type(exc).__name__)
    if exc.detail:
        log.info(
            "oauth request refused", extra={"fields": {"error": exc.error, "detail": exc.detail}}
        )
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers())


_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("invalid_request_body", "Invalid request body"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    413: ("payload_too_large", "Payload too large"),
}


def _http_exception(_: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException
        raise TypeError(type(exc).__name__)
    if exc.status_code == 404:
        return problem_response(NotFound("No such endpoint."))
    if exc.status_code == 413:
        return problem_response(PayloadTooLarge("The request body is too large."))
    code, title = _HTTP_CODES.get(exc.status_code, ("http_error", "HTTP error"))
    body = {
        "type": f"https://proctor.dev/errors/{code}",
        "title": title,
        "status": exc.status_code,
        "detail": title + ".",
        "code": code,
        "request_id": request_id_var.get(),
    }
    headers = {"Cache-Control": "no-store", **(exc.headers or {})}  # ERR-SHAPE-001
    return JSONResponse(body, status_code=exc.status_code, headers=headers, media_type=PROBLEM_JSON)


def _unexpected(_: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return problem_response(InternalError())


exception_handlers = {
    ApiError: _api_error,
    OAuthError: _oauth_error,
    HTTPException: _http_exception,
    Exception: _unexpected,
}
