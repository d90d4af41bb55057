"""Rate limits at the HTTP edge (SEC-DOS-002; RFC 6749 §2.3.1, RFC 7009 §5, RFC 7662 §4;
RFC 6585 §4).

:class:`RateLimits` is an ASGI middleware in front of the OAuth endpoints
(``/oauth2/token``, ``/oauth2/introspect``, ``/oauth2/revoke``) and the workload-
authenticated data plane. For each request it takes the ``client_id`` the request claims
(the user part of ``Authorization: Basic``, or the ``client_id`` member of a form body)
and the source address (as the server saw it, after any trusted proxy rewrote it):

1. when the failed-authentication bucket of that ``client_id`` or of that address is
   empty, or the request bucket of the client is, the request is answered 429 with
   ``Retry-After`` before the service sees it (nothing is read or stored);
2. a request whose answer is a failed client authentication (401 with a ``Basic``
   challenge: ``invalid_client`` at the OAuth endpoints, ``unauthenticated`` on the data
   plane) takes a token from both failed-authentication buckets; any other answer takes
   one from the client's request bucket (keyed by the address when no ``client_id`` was
   claimed). A successful authentication never counts as a failure.

The 429 is ``temporarily_unavailable`` at the OAuth endpoints (ERR-OAUTH-004) and the
``rate_limited`` problem elsewhere. Limits are per process.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qsl, unquote_plus

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proctor.reference.clock import Clock
from proctor.reference.errors import RateLimited, TemporarilyUnavailable
from proctor.reference.http.auth import read_some
from proctor.reference.http.problems import problem_response
from proctor.reference.rate_limits import Rate, RateLimiter
from proctor.reference.settings import Settings

__all__ = [
    "DATA_PLANE_PATHS",
    "OAUTH_PATHS",
    "ClientLimits",
    "RateLimits",
    "basic_user",
    "client_limits",
    "form_client_id",
]

OAUTH_PATHS: Final = frozenset({"/oauth2/token", "/oauth2/introspect", "/oauth2/revoke"})
#: The workload-authenticated endpoints (WID-AUTH-001).
DATA_PLANE_PATHS: Final = frozenset(
    {
        "/v1/decisions",
        "/v1/workload-access-tokens",
        "/v1/resource-tokens/oauth2",
        "/v1/resource-tokens/api-key",
        "/v1/sessions/complete",
    }
)
_FORM: Final = "application/x-www-form-urlencoded"
_MAX_FORM: Final = 64 * 1024
_MAX_CLIENT_ID: Final = 256


@dataclass(frozen=True)
class ClientLimits:
    """The three limiters of SEC-DOS-002; ``None`` turns one off."""

    failed_per_client: RateLimiter | None
    failed_per_address: RateLimiter | None
    requests_per_client: RateLimiter | None

    def wait(self, client_id: str | None, address: str) -> int:
        """Seconds to wait before this request may be served, ``0`` when it may."""
        waits = [0]
        if client_id is not None and self.failed_per_client is not None:
            waits.append(self.failed_per_client.check(client_id))
        if self.failed_per_address is not None:
            waits.append(self.failed_per_address.check(address))
        if self.requests_per_client is not None:
            waits.append(self.requests_per_client.check(_request_key(client_id, address)))
        return max(waits)

    def failed(self, client_id: str | None, address: str) -> None:
        if client_id is not None and self.failed_per_client is not None:
            self.failed_per_client.take(client_id)
        if self.failed_per_address is not None:
            self.failed_per_address.take(address)

    def served(self, client_id: str | None, address: str) -> None:
        if self.requests_per_client is not None:
            self.requests_per_client.take(_request_key(client_id, address))


def _request_key(client_id: str | None, address: str) -> str:
    return f"client:{client_id}" if client_id is not None else f"address:{address}"


def basic_user(headers: Headers) -> str | None:
    """The ``client_id`` half of an ``Authorization: Basic`` header (RFC 6749 §2.3.1), not
    verified; ``None`` when there is none or it is malformed."""
    values = headers.getlist("authorization")
    if len(values) != 1:
        return None
    scheme, _, credentials = values[0].strip().partition(" ")
    if scheme.lower() != "basic" or len(credentials) > 4096:
        return None
    try:
        text = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, colon, _ = text.partition(":")
    client_id = unquote_plus(user) if colon else ""
    return client_id if 0 < len(client_id) <= _MAX_CLIENT_ID else None


def form_client_id(body: bytes) -> str | None:
    """The ``client_id`` member of a urlencoded form, if exactly one."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
    except ValueError:
        return None
    found = [value for name, value in pairs if name == "client_id"]
    if len(found) != 1 or not 0 < len(found[0]) <= _MAX_CLIENT_ID:
        return None
    return found[0]


class RateLimits:
    """The ASGI middleware of SEC-DOS-002 (see the module docs). Install it inside the
    request-context middleware, so a 429 carries the request id."""

    def __init__(
        self,
        app: ASGIApp,
        limits: ClientLimits,
        *,
        oauth_paths: Collection[str] = OAUTH_PATHS,
        data_plane_paths: Collection[str] = DATA_PLANE_PATHS,
    ) -> None:
        self.app = app
        self.limits = limits
        self.oauth_paths = frozenset(oauth_paths)
        self.data_plane_paths = frozenset(data_plane_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        oauth = path in self.oauth_paths
        if scope["type"] != "http" or not (oauth or path in self.data_plane_paths):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        client_id = basic_user(headers)
        replay: list[Message] = []
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if client_id is None and oauth and media == _FORM:
            body, replay = await read_some(receive, _MAX_FORM)
            client_id = form_client_id(body) if body is not None else None
        wait = self.limits.wait(client_id, address)
        if wait:
            await _too_many(oauth, wait)(scope, receive, send)
            return
        status = 0
        basic_challenge = False

        async def observing(message: Message) -> None:
            nonlocal status, basic_challenge
            if message["type"] == "http.response.start":
                status = message["status"]
                basic_challenge = any(
                    name.lower() == b"www-authenticate" and b"basic" in value.lower()
                    for name, value in message.get("headers", [])
                )
            await send(message)

        async def replaying() -> Message:
            return replay.pop(0) if replay else await receive()

        try:
            await self.app(scope, replaying if replay else receive, observing)
        finally:
            if status == 401 and basic_challenge:
                self.limits.failed(client_id, address)
            elif status:
                self.limits.served(client_id, address)


def _too_many(oauth: bool, wait: int) -> Response:
    if oauth:
        error = TemporarilyUnavailable(wait)
        return JSONResponse(error.body(), status_code=error.status, headers=error.headers())
    return problem_response(RateLimited(wait))


def client_limits(settings: Settings, clock: Clock) -> ClientLimits:
    """The limiters the settings ask for (per minute; ``0`` is off)."""

    def limiter(per_minute: int) -> RateLimiter | None:
        if per_minute == 0:
            return None
        return RateLimiter(Rate(per_minute, 60.0), clock, max_keys=settings.rate_limit_keys)

    return ClientLimits(
        failed_per_client=limiter(settings.rate_limit_failed_auth_per_client),
        failed_per_address=limiter(settings.rate_limit_failed_auth_per_address),
        requests_per_client=limiter(settings.rate_limit_requests_per_client),
    )
