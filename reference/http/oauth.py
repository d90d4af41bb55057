"""The OAuth endpoints over HTTP: token, introspection, revocation, JWKS and metadata.

A thin Starlette layer over the framework-free core (:mod:`proctor.reference.grants`,
:mod:`~proctor.reference.introspection`, :mod:`~proctor.reference.revocation`). For each
``POST /oauth2/token|introspect|revoke`` it does step 1 of TX-REQ-009 itself and hands the
rest to the core:

1. the method is ``POST`` (else ``405`` with ``Allow: POST`` and an ``invalid_request``
   body, ERR-HTTP-001); the URL carries no query component, whatever it holds, so no
   credential or token is ever read from a URL (TX-REQ-005, ERR-BEARER-004); the body is
   ``application/x-www-form-urlencoded`` (else ``invalid_request``, ERR-HTTP-003), at most
   :data:`~proctor.reference.http.bodies.MAX_BODY_BYTES` bytes, refused with ``413`` before
   more is read, whether ``Content-Length`` declares it or not (ERR-HTTP-002), and valid
   UTF-8 once percent-decoded; at most one ``Authorization`` header;
2. the body is decoded into ``(name, value)`` pairs *in order*, so the core sees repeated
   parameters (TX-REQ-004); the core answers an :class:`~proctor.reference.grants.OAuthResult`.

The answer is the result's status, JSON body (empty for a successful revocation) and
headers, always with ``Cache-Control: no-store`` and ``Pragma: no-cache`` (ERR-OAUTH-003).

**Where the core runs.** First on the event loop, inside
:func:`~proctor.reference.offload.on_event_loop`: with a client secret, cached IdP keys and
SQLite, the core is CPU work and local reads, and a worker thread would cost more than
the work (the two threads trade the interpreter lock at every statement). An operation
that may block (a JWKS fetch, a write such as a client assertion's ``jti``, a read from
PostgreSQL) gives way before it has any effect, and the core runs again, from the start,
on one of ``core_threads`` worker threads. Its reads share one snapshot.

**Writes and audit commit together** (AUD-APP-002, TX-AUDIT-001, AS-REV-004): the core
runs inside :meth:`StoredTokenRegistry.deferred`, which collects the token it issued or
the tokens it revoked; :class:`GroupCommit` then records them and appends the request's
audit events in one write transaction, shared with the requests that arrived meanwhile
(one fsync for all). The answer waits for that commit on the event loop, holding no
thread; if it fails, the token never leaves the service and the answer is
``500 server_error`` without ``error_description``.
Audit events never carry a token: JWT-shaped values are dropped from them.

``GET /oauth2/jwks`` publishes the signing keys with ``Cache-Control: public,
max-age=N``, N never more than the time a key is published before it signs
(AS-JWKS-002); ``GET /.well-known/oauth-authorization-server`` (the issuer's path
appended, RFC 8414 §3.1) is the RFC 8414 metadata (AS-META-001..003).
Both are anonymous and unaudited.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import anyio
import anyio.to_thread
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from proctor.reference.audit import AuditLog
from proctor.reference.client_auth import ASSERTION_ALGORITHMS
from proctor.reference.errors import InvalidRequest, OAuthError
from proctor.reference.grants import NO_STORE, AuditRecord, OAuthResult
from proctor.reference.http.bodies import MAX_BODY_BYTES
from proctor.reference.keys import SigningKeys
from proctor.reference.logs import request_id_var
from proctor.reference.offload import WouldBlock, on_event_loop
from proctor.reference.storage.database import Database
from proctor.reference.storage.issued_tokens import PendingWrites, StoredTokenRegistry

__all__ = [
    "AUTH_METHODS",
    "FORM_MEDIA_TYPE",
    "GroupCommit",
    "Handler",
    "OAuthRoutes",
    "authorization_server_metadata",
    "parse_form",
]

log = logging.getLogger("proctor.oauth")

#: ``handle(pairs, authorization) -> OAuthResult``: the core of one OAuth endpoint.
Handler = Callable[[Iterable[tuple[str, str]], str | None], OAuthResult]

FORM_MEDIA_TYPE: Final = "application/x-www-form-urlencoded"
#: RFC 8414 §2 / TX-CAUTH-002: the client authentication methods, in every endpoint.
AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post", "private_key_jwt")
#: A form body of 256 KiB holds far fewer parameters than this.
_MAX_FIELDS: Final = 1000
_JWT_SHAPED: Final = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
_MAX_AUDIT_VALUE: Final = 256
_MAX_AUDIT_SCOPES: Final = 100
_ALLOW_POST: Final = {"Allow": "POST"}


def authorization_server_metadata(issuer: str, grant_types: Iterable[str]) -> dict[str, Any]:
    """The RFC 8414 §2 document (spec AS-META-001/002): every endpoint under the issuer,
    the grants the token endpoint dispatches, no authorization endpoint (so
    ``response_types_supported`` is empty), the same client authentication methods and
    assertion algorithms for all three endpoints."""
    base = issuer.rstrip("/")
    algorithms = list(ASSERTION_ALGORITHMS)
    methods = list(AUTH_METHODS)
    return {
        "issuer": issuer,
        "token_endpoint": f"{base}/oauth2/token",
        "jwks_uri": f"{base}/oauth2/jwks",
        "introspection_endpoint": f"{base}/oauth2/introspect",
        "revocation_endpoint": f"{base}/oauth2/revoke",
        "grant_types_supported": sorted(grant_types),
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": algorithms,
        "introspection_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_signing_alg_values_supported": algorithms,
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": algorithms,
    }


def metadata_path(issuer: str) -> str:
    """RFC 8414 §3.1: the well-known suffix inserted between host and the issuer's path."""
    path = urlsplit(issuer).path.rstrip("/")
    return "/.well-known/oauth-authorization-server" + path


class _Refused(Exception):
    """A refusal at the HTTP level, before the core runs."""

    def __init__(self, error: OAuthError, status: int | None = None) -> None:
        super().__init__(error.description)
        self.error = error
        self.status = status or error.status


def parse_form(body: bytes) -> list[tuple[str, str]]:
    """The ``(name, value)`` pairs of a form body, in order (WHATWG urlencoded parsing:
    ``+`` is a space, percent-escapes are UTF-8). ``InvalidRequest`` when it is not UTF-8
    or has too many fields."""
    try:
        text = body.decode("utf-8")
        return parse_qsl(
            text,
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest(
            "malformed_request: the body is not a UTF-8 application/x-www-form-urlencoded form"
        ) from None


def _media_type_ok(value: str | None) -> bool:
    if value is None:
        return False
    media, _, params = value.partition(";")
    if media.strip().lower() != FORM_MEDIA_TYPE:
        return False
    for param in params.split(";"):
        name, _, raw = param.partition("=")
        if name.strip().lower() == "charset" and raw.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


def _auditable(value: Any) -> bool:
    return (
        isinstance(value, str)
        and bool(value)
        and len(value) <= _MAX_AUDIT_VALUE
        and _JWT_SHAPED.search(value) is None
    )


def audit_fields(record: AuditRecord, request_id: str) -> dict[str, Any]:
    """``record``'s event members with anything token-shaped or oversized left out
    (AUD-SEC-001: an event never carries a token, even one sent in the wrong place)."""
    fields = record.event_fields(request_id)
    user = fields["user"]
    if user is not None and not all(_auditable(user.get(k)) for k in ("issuer", "subject")):
        fields["user"] = None
    if not _auditable(fields["workload"]):
        fields["workload"] = None
    fields["actor_chain"] = [a for a in fields["actor_chain"] if _auditable(a)]
    fields["scopes"] = [s for s in fields["scopes"] if _auditable(s)][:_MAX_AUDIT_SCOPES]
    return fields


def _json(body: Mapping[str, Any] | None, status: int, headers: Mapping[str, str]) -> Response:
    merged = {**headers, **NO_STORE}
    if body is None:
        return Response(status_code=status, headers=merged)
    return JSONResponse(dict(body), status_code=status, headers=merged)


class OAuthRoutes:
    """The routes of the authorization server. ``handlers`` maps each POST path's last
    segment (``token``, ``introspect``, ``revoke``) to its core and its audit operation."""

    def __init__(
        self,
        *,
        database: Database,
        audit: AuditLog,
        registry: StoredTokenRegistry,
        token: Handler,
        introspect: Handler,
        revoke: Handler,
        keys: SigningKeys,
        metadata: Mapping[str, Any],
        jwks_max_age: int | None = None,
        body_limit: int = MAX_BODY_BYTES,
        core_threads: int = 4,
    ) -> None:
        if not 0 < body_limit <= 1_048_576:
            raise ValueError("the body limit is 1 byte to 1 MiB (ERR-HTTP-002)")
        max_age = keys.max_age if jwks_max_age is None else jwks_max_age
        if not 0 <= max_age <= keys.max_age:
            raise ValueError("the JWKS max-age is at most the key ring's publish_ahead")
        self._jwks_max_age = max_age
        self._database = database
        self._audit = audit
        self._registry = registry
        self._keys = keys
        self._metadata = dict(metadata)
        self._body_limit = body_limit
        self._commits = GroupCommit(database, audit, registry)
        if core_threads < 1:
            raise ValueError("core_threads must be positive")
        self._core_threads = core_threads
        self._limiter: anyio.CapacityLimiter | None = None
        self._endpoints: dict[str, tuple[Handler, str]] = {
            "/oauth2/token": (token, "token.issue"),
            "/oauth2/introspect": (introspect, "token.introspect"),
            "/oauth2/revoke": (revoke, "token.revoke"),
        }

    def routes(self) -> list[BaseRoute]:
        posts: list[BaseRoute] = [
            # An ASGI endpoint receives every method; it answers 405 itself, with an
            # OAuth error body (ERR-HTTP-001).
            Route(path, _AnyMethod(self._endpoint, *handled))
            for path, handled in self._endpoints.items()
        ]
        return [
            *posts,
            Route("/oauth2/jwks", self.jwks, methods=["GET"]),
            Route(metadata_path(str(self._metadata["issuer"])), self.metadata, methods=["GET"]),
        ]

    # -- discovery ------------------------------------------------------------------------

    async def jwks(self, request: Request) -> Response:
        """AS-JWKS-001/002: the public keys, cacheable for at most ``publish_ahead``."""
        document = await run_in_threadpool(self._keys.jwks)
        headers = {"Cache-Control": f"public, max-age={self._jwks_max_age}"}
        return JSONResponse(document, headers=headers)

    async def metadata(self, request: Request) -> Response:
        """AS-META-001/002 (RFC 8414 §3.2)."""
        return JSONResponse(self._metadata, headers={"Cache-Control": "public, max-age=300"})

    # -- the POST endpoints -----------------------------------------------------------------

    async def _endpoint(self, request: Request, handler: Handler, operation: str) -> Response:
        request_id = request_id_var.get() or "req_" + secrets.token_hex(8)
        try:
            authorization = self._check(request)
            pairs = parse_form(await self._read_body(request))
        except _Refused as refused:
            return await self._refuse(refused, operation, request_id)
        except InvalidRequest as error:
            return await self._refuse(_Refused(error), operation, request_id)
        try:
            try:
                with on_event_loop():
                    result, pending = self._core(handler, pairs, authorization)
            except WouldBlock:  # nothing was changed: again, where it may block
                result, pending = await anyio.to_thread.run_sync(
                    self._core, handler, pairs, authorization, limiter=self._core_slots()
                )
            await self._commits.commit_async(_Write(pending, result.audit, request_id))
        except Exception as exc:  # noqa: BLE001 - a fault: 500 server_error, nothing leaks
            return await self._fault(exc, operation, request_id)
        self._log(result)
        return _json(result.body, result.status, result.headers)

    def _check(self, request: Request) -> str | None:
        """Step 1 of TX-REQ-009; returns the ``Authorization`` header (or ``None``)."""
        if request.method != "POST":
            raise _Refused(
                _MethodNotAllowed("malformed_request: this endpoint accepts POST only"), 405
            )
        if request.scope.get("query_string"):
            raise _Refused(
                InvalidRequest("malformed_request: parameters are accepted in the body only")
            )
        if not _media_type_ok(request.headers.get("content-type")):
            raise _Refused(
                InvalidRequest(
                    "malformed_request: the body must be application/x-www-form-urlencoded"
                )
            )
        values = request.headers.getlist("authorization")
        if len(values) > 1:
            raise _Refused(
                InvalidRequest("malformed_request: the Authorization header appears twice")
            )
        return values[0] if values else None

    async def _read_body(self, request: Request) -> bytes:
        limit = self._body_limit
        too_large = _Refused(
            InvalidRequest(f"malformed_request: the body exceeds {limit} bytes"), 413
        )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    async def _refuse(self, refused: _Refused, operation: str, request_id: str) -> Response:
        record = AuditRecord(operation=operation)
        record.deny(refused.error)
        try:
            await self._commits.commit_async(_Write(None, (record,), request_id))
        except Exception as exc:  # noqa: BLE001 - AUD-APP-002: no answer without its event
            log.error("audit append failed", extra={"fields": {"error": type(exc).__name__}})
            return _server_error()
        return _json(refused.error.body(), refused.status, refused.error.headers())

    async def _fault(self, exc: Exception, operation: str, request_id: str) -> Response:
        log.error("oauth endpoint failed", extra={"fields": {"error": type(exc).__name__}})
        record = AuditRecord(operation=operation, reason="server_error")
        try:
            await self._commits.commit_async(_Write(None, (record,), request_id))
        except Exception:  # noqa: BLE001 - storage is the likely fault; answered below
            log.error("audit append failed")
        return _server_error()

    def _core(
        self, handler: Handler, pairs: list[tuple[str, str]], authorization: str | None
    ) -> tuple[OAuthResult, PendingWrites]:
        """The core, with the registry's writes collected rather than performed, its reads
        on one snapshot (:meth:`~proctor.reference.storage.database.Database.snapshot`)."""
        with self._registry.deferred() as pending, self._database.snapshot():
            result = handler(pairs, authorization)
        return result, pending

    def _core_slots(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._core_threads)
        return self._limiter

    def _log(self, result: OAuthResult) -> None:
        if result.error is not None and result.audit:
            first = result.audit[0]
            log.info(
                "oauth request refused",
                extra={
                    "fields": {
                        "error": result.error.error,
                        "cause": first.cause,
                        "detail": first.detail,
                    }
                },
            )

    def handle_sync(
        self,
        handler: Handler,
        pairs: list[tuple[str, str]],
        authorization: str | None,
        request_id: str,
    ) -> OAuthResult:
        """One request through the core, then its writes committed (blocking: call from a
        worker thread). Faults propagate."""
        result, pending = self._core(handler, pairs, authorization)
        self._commits.commit(_Write(pending, result.audit, request_id))
        return result


@dataclass(frozen=True)
class _Write:
    """What one request must commit: the registry writes and the audit records."""

    pending: PendingWrites | None
    records: tuple[AuditRecord, ...]
    request_id: str


@dataclass
class _Ticket:
    write: _Write
    #: Wakes the request waiting on this ticket; safe to call from any thread.
    wake: Callable[[], None]
    done: bool = False
    error: BaseException | None = None


def _retrieve(task: asyncio.Future[None]) -> None:
    """Marks a shielded commit's outcome as seen: its request may have been cancelled."""
    if not task.cancelled():
        task.exception()


class GroupCommit:
    """Commits the writes of concurrent requests together: one transaction, one fsync.

    Each request's registry writes and audit events stay in the same transaction
    (AUD-APP-002), and :meth:`commit` returns only once the transaction holding them has
    committed. A request that finds no writer writes its own at once. While a writer is
    busy, later requests queue and sleep; each is woken only when its write is settled,
    or when the writer, its own write done, hands it the writer role (the oldest queued
    request gets it and commits everything queued, at most ``max_batch`` requests per
    transaction). Requests thus never queue on the database's write lock, and no wake-up
    is wasted. A batch that fails is retried one request per transaction, so one bad
    write fails only its own request.

    :meth:`commit` blocks its thread; :meth:`commit_async` waits on the event loop (the
    HTTP endpoints), so a request waiting for its fsync holds no worker thread, and a
    writer's batch runs in a worker thread. Both kinds of request share one queue.
    """

    def __init__(
        self,
        database: Database,
        audit: AuditLog,
        registry: StoredTokenRegistry,
        *,
        max_batch: int = 64,
    ) -> None:
        if max_batch < 1:
            raise ValueError("a batch holds at least one request")
        self._database = database
        self._audit = audit
        self._registry = registry
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Ticket] = []
        self._writing = False

    def commit(self, write: _Write) -> None:
        """Commit ``write`` (blocking); raises what its transaction raised."""
        event = threading.Event()
        ticket = _Ticket(write, event.set)
        if not self._enqueue(ticket):
            event.wait()
        if not ticket.done:
            # The writer role: the ticket is still queued (a writer settles every batch
            # it pops before it hands the role on). Write until it is in.
            try:
                while not ticket.done:
                    self._write(self._next_batch())
            finally:
                self._hand_on()
        if ticket.error is not None:
            raise ticket.error

    async def commit_async(self, write: _Write) -> None:
        """:meth:`commit` for a coroutine on an asyncio loop; raises what its transaction
        raised. Shielded from cancellation: once queued, a write is seen through by a
        task of its own (a writer never drops its role, and no write is half-done)."""
        task = asyncio.ensure_future(self._commit_async(write))
        task.add_done_callback(_retrieve)
        await asyncio.shield(task)

    async def _commit_async(self, write: _Write) -> None:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(event.set)

        ticket = _Ticket(write, wake)
        if not self._enqueue(ticket):
            await event.wait()
        if not ticket.done:
            try:
                while not ticket.done:
                    await anyio.to_thread.run_sync(self._write, self._next_batch())
            finally:
                self._hand_on()
        if ticket.error is not None:
            raise ticket.error

    def _enqueue(self, ticket: _Ticket) -> bool:
        """Queue ``ticket``; ``True`` if its request takes the writer role at once."""
        with self._lock:
            self._queue.append(ticket)
            writer = not self._writing
            self._writing = True
        return writer

    def _next_batch(self) -> list[_Ticket]:
        with self._lock:
            batch = self._queue[: self._max_batch]
            del self._queue[: self._max_batch]
        return batch

    def _hand_on(self) -> None:
        """A writer whose own write is in: the oldest waiter writes next, if any."""
        with self._lock:
            if self._queue:
                self._queue[0].wake()
            else:
                self._writing = False

    def _write(self, batch: list[_Ticket]) -> None:
        """Commit ``batch``; every ticket in it is settled afterwards, whatever happens."""
        try:
            self.write_batch([ticket.write for ticket in batch])
        except Exception as exc:  # noqa: BLE001 - reported to each request below
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for ticket in batch:
                    try:
                        self.write_batch([ticket.write])
                    except Exception as single:  # noqa: BLE001 - its request raises it
                        ticket.error = single
        except BaseException as exc:  # interrupted: every request of the batch learns it
            for ticket in batch:
                ticket.error = exc
            raise
        finally:
            for ticket in batch:
                ticket.done = True
                ticket.wake()

    def write_batch(self, writes: Sequence[_Write]) -> None:
        """One write transaction for ``writes`` (blocking)."""
        with self._database.transaction() as tx:
            for write in writes:
                if write.pending:
                    self._registry.flush(write.pending, tx)
                for record in write.records:
                    self._audit.append(audit_fields(record, write.request_id), tx=tx)


class _AnyMethod:
    """A raw ASGI endpoint (Starlette routes it for every method) around one handler."""

    def __init__(
        self,
        endpoint: Callable[[Request, Handler, str], Awaitable[Response]],
        handler: Handler,
        operation: str,
    ) -> None:
        self._endpoint = endpoint
        self._handler = handler
        self._operation = operation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self._endpoint(request, self._handler, self._operation)
        await response(scope, receive, send)


class _MethodNotAllowed(InvalidRequest):
    """``405`` with an ``invalid_request`` body (ERR-HTTP-001)."""

    status = 405

    def headers(self) -> dict[str, str]:
        return {**super().headers(), **_ALLOW_POST}


def _server_error() -> Response:
    return _json({"error": "server_error"}, 500, {})
