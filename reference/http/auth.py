"""Credentials on HTTP requests: the admin bearer credential and workload authentication.

- The control plane takes ``Authorization: Bearer <admin credential>`` (WID-ADMIN-001).
  The credential is kept only as an HMAC-SHA-256 under the service's pepper and compared
  in constant time; a missing, malformed or wrong credential gets one and the same
  ``401 unauthenticated`` answer with a Bearer challenge (RFC 6750 §3), so the answer
  says nothing about what was wrong.
- The data plane authenticates the caller as a workload
  (:class:`~proctor.reference.workload_auth.WorkloadAuthenticator`, WID-AUTH-001).
- A bearer token is taken only from the ``Authorization`` header (RFC 6750 §2.1); one in
  the ``access_token`` query parameter or form member is no credential, and a request
  presenting it in more than one of those ways is refused 400 by
  :class:`BearerPresentation` (RFC 6750 §2, §3.1; ERR-BEARER-004).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote_plus

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proctor.reference.credentials import CredentialHasher
from proctor.reference.errors import InvalidRequestBody, Unauthenticated
from proctor.reference.http.bodies import MAX_BODY_BYTES
from proctor.reference.http.problems import problem_response
from proctor.reference.workload_auth import AuthenticatedWorkload, WorkloadAuthenticator

__all__ = [
    "AdminGuard",
    "AdminUnauthenticated",
    "BearerPresentation",
    "BearerPresentedTwice",
    "authenticate_workload",
    "authorization_header",
    "read_some",
]

_MAX_HEADER: Final = 8192


class AdminUnauthenticated(Unauthenticated):
    """``401 unauthenticated`` on the control plane: ``Bearer realm="proctor"``, with
    ``error="invalid_token"`` when a Bearer credential was presented (ERR-BEARER-001/002).
    The body is the same whatever was wrong."""

    def __init__(self, *, bearer_presented: bool = False) -> None:
        super().__init__("The admin credential is required.", scheme="Bearer")
        self.bearer_presented = bearer_presented

    def headers(self) -> dict[str, str]:
        challenge = 'Bearer realm="proctor"'
        if self.bearer_presented:
            challenge += ', error="invalid_token"'
        return {"WWW-Authenticate": challenge}


def authorization_header(headers: Headers) -> str | None:
    """The ``Authorization`` header, or ``None`` when absent or sent more than once (two
    credentials are no credential)."""
    values = headers.getlist("authorization")
    return values[0] if len(values) == 1 else None


class AdminGuard:
    """Checks the admin bearer credential against its stored HMAC."""

    def __init__(self, hasher: CredentialHasher, credential_hash: str) -> None:
        if len(credential_hash) != 64:
            raise ValueError("the admin credential hash is a hex HMAC-SHA-256")
        self._hasher = hasher
        self._hash = credential_hash

    def check(self, authorization: str | None) -> None:
        """Raises :class:`AdminUnauthenticated` unless ``authorization`` is
        ``Bearer <admin credential>``. The HMAC and comparison run whatever was sent."""
        presented = ""
        bearer = False
        if authorization is not None and len(authorization) <= _MAX_HEADER:
            scheme, _, value = authorization.strip().partition(" ")
            if scheme.lower() == "bearer":
                presented = value.strip()
                bearer = bool(presented)
        matches = self._hasher.verify(presented, self._hash)
        if not presented or not matches:
            raise AdminUnauthenticated(bearer_presented=bearer)

    def require(self, request: Request) -> None:
        self.check(authorization_header(request.headers))


def authenticate_workload(
    authenticator: WorkloadAuthenticator, request: Request
) -> AuthenticatedWorkload:
    """WID-AUTH-001: the workload calling ``request`` (blocking: call from a thread)."""
    return authenticator.authenticate(authorization_header(request.headers))


# -- ERR-BEARER-004: one way to present a bearer token ---------------------------------

_FORM: Final = "application/x-www-form-urlencoded"


class BearerPresentedTwice(InvalidRequestBody):
    """400 with ``Bearer realm="proctor", error="invalid_request"`` (RFC 6750 §3.1): a
    bearer token presented in more than one way (ERR-BEARER-004)."""

    def __init__(self) -> None:
        super().__init__(
            "Send the bearer token only once, in the Authorization header; never in the "
            "URL or the body."
        )

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="proctor", error="invalid_request"'}


def _has_access_token(encoded: bytes) -> bool:
    """Whether a query string or urlencoded form has an ``access_token`` member."""
    return any(
        unquote_plus(pair.split("=", 1)[0]) == "access_token"
        for pair in encoded.decode("latin-1").split("&")
    )


def _bearer_header(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        name == b"authorization" and value.strip()[:7].lower() == b"bearer "
        for name, value in headers
    )


class BearerPresentation:
    """ASGI middleware for the native API (``/v1/...``): counts the ways a request
    presents a bearer token (the ``Authorization: Bearer`` header, the ``access_token``
    query parameter, an ``access_token`` member of a urlencoded form body) and answers a
    request with more than one 400 :class:`BearerPresentedTwice` (RFC 6750 §2;
    ERR-BEARER-004). A form body (at most :data:`MAX_BODY_BYTES`) is read to look, then
    handed on unchanged. The endpoints read tokens from the header only, so a token in
    the URL or the body alone is no credential.

    Install it inside the request-context middleware (the problem carries the request
    id)."""

    def __init__(self, app: ASGIApp, prefix: str = "/v1/") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        ways = int(_bearer_header(headers)) + int(_has_access_token(scope.get("query_string", b"")))
        media = Headers(raw=headers).get("content-type", "").split(";")[0].strip().lower()
        replay: list[Message] = []
        if media == _FORM and ways < 2:
            body, replay = await read_some(receive, MAX_BODY_BYTES)
            if body is not None and _has_access_token(body):
                ways += 1
        if ways >= 2:
            await problem_response(BearerPresentedTwice())(scope, receive, send)
            return
        if not replay:
            await self.app(scope, receive, send)
            return

        async def replaying() -> Message:
            return replay.pop(0) if replay else await receive()

        await self.app(scope, replaying, send)


async def read_some(receive: Receive, limit: int) -> tuple[bytes | None, list[Message]]:
    """The whole body if it ends within ``limit`` bytes (else ``None``), and the messages
    read, to be replayed."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return None, messages
        size += len(message.get("body", b""))
        if size > limit:
            return None, messages
        if not message.get("more_body", False):
            return b"".join(m.get("body", b"") for m in messages), messages
