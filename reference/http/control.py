"""The control plane: ``/v1/authorizers``, ``/v1/workloads``, ``/v1/audit`` (admin only).

Every route requires the admin credential before it reads anything else (WID-ADMIN-001,
INB-CFG-001, WID-DIR-001) and appends one audit event (AUD-EVT-001) with
``actor_chain`` ``["admin"]`` (AUD-EVT-003). Create answers ``201``, replace ``200``,
delete ``204``; lists are ``{"items", "next_token"}`` with ``limit`` 1-100 (default 50);
a query parameter that is unknown, repeated or invalid is ``400 validation_failed``.

The workload's client secret appears in exactly two responses, the create and the
rotation, both ``Cache-Control: no-store`` (WID-SEC-001, WID-SEC-003).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from proctor.reference.audit import AuditLog
from proctor.reference.authorizers import AuthorizerRegistry, authorizer_view, parse_model
from proctor.reference.directory import Directory, WorkloadSpec, is_name, workload_view
from proctor.reference.errors import InvalidRequestBody, ValidationFailed
from proctor.reference.http.audited import Event, Recorder
from proctor.reference.http.auth import AdminGuard
from proctor.reference.http.bodies import read_json
from proctor.reference.storage.database import Transaction
from proctor.reference.storage.pagination import DEFAULT_LIMIT

__all__ = ["ControlPlane"]

ADMIN: Final = ["admin"]
_NO_STORE: Final = {"Cache-Control": "no-store"}
_READ_ONLY_WORKLOAD: Final = ("client_id", "created_at", "updated_at")
_PAGING: Final = frozenset({"limit", "next_token"})
_AUDIT_FILTERS: Final = frozenset(
    {"workload", "user_subject", "operation", "decision", "since", "until"}
)
_INTEGER: Final = re.compile(r"-?[0-9]{1,16}")
_SUBJECT: Final = re.compile(r"[^\x00-\x1f\x7f]{1,255}")


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{name} {message}.", errors=[{"field": name, "message": message}])


def query(request: Request, allowed: Iterable[str]) -> dict[str, str]:
    """The query parameters, each at most once and all in ``allowed``."""
    allowed = frozenset(allowed)
    params: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in allowed:
            raise _invalid(name if name.isidentifier() else "query", "is not a parameter here")
        if name in params:
            raise _invalid(name, "is given more than once")
        params[name] = value
    return params


def page_args(params: dict[str, str]) -> tuple[int, str | None]:
    raw = params.get("limit")
    limit = DEFAULT_LIMIT
    if raw is not None:
        if not raw.isdigit() or len(raw) > 4 or not 1 <= int(raw) <= 100:
            raise _invalid("limit", "must be an integer from 1 to 100")
        limit = int(raw)
    token = params.get("next_token")
    if token is not None and (not token or _holds_nul(token)):
        raise _invalid("next_token", "is not a token this list issued")
    return limit, token


def _holds_nul(token: str) -> bool:
    """Whether an opaque list token decodes to text with a NUL, which no stored key holds
    and PostgreSQL refuses to compare (it would fail the query, not the request)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return False  # not decodable: the list itself answers validation_failed
    return b"\x00" in raw or b"\\u0000" in raw


def _integer(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    if not _INTEGER.fullmatch(raw):
        raise _invalid(name, "must be a NumericDate integer")
    return int(raw)


Endpoint = Callable[[Request], Awaitable[Response]]


def by_method(handlers: dict[str, Endpoint]) -> Endpoint:
    """One endpoint dispatching on the method (``HEAD`` is served by ``GET``)."""

    async def endpoint(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return endpoint


def _json(body: Any, status: int = 200, *, no_store: bool = True) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_NO_STORE if no_store else None)


async def _empty_or_object(request: Request) -> None:
    """A body that must be empty (``{}`` is tolerated)."""
    if not await request.body():
        return
    if await read_json(request) != {}:
        raise InvalidRequestBody("This request takes no body.")


class ControlPlane:
    """The admin API's routes over the registry, the directory and the audit log."""

    def __init__(
        self,
        *,
        admin: AdminGuard,
        recorder: Recorder,
        authorizers: AuthorizerRegistry,
        directory: Directory,
        audit: AuditLog,
    ) -> None:
        self._admin = admin
        self._recorder = recorder
        self._authorizers = authorizers
        self._directory = directory
        self._audit = audit

    def routes(self) -> list[BaseRoute]:
        """One route per path, so a 405 lists every supported method (ERR-HTTP-001)."""
        table: list[tuple[str, dict[str, Endpoint]]] = [
            (
                "/v1/authorizers",
                {"GET": self.list_authorizers, "POST": self.create_authorizer},
            ),
            (
                "/v1/authorizers/{name}",
                {
                    "GET": self.get_authorizer,
                    "PUT": self.replace_authorizer,
                    "DELETE": self.delete_authorizer,
                },
            ),
            ("/v1/workloads", {"GET": self.list_workloads, "POST": self.create_workload}),
            (
                "/v1/workloads/{name}",
                {
                    "GET": self.get_workload,
                    "PUT": self.replace_workload,
                    "DELETE": self.delete_workload,
                },
            ),
            ("/v1/workloads/{name}/secret", {"POST": self.rotate_secret}),
            ("/v1/audit/events", {"GET": self.audit_events}),
            ("/v1/audit/verify", {"GET": self.audit_verify}),
        ]
        return [
            Route(path, by_method(handlers), methods=list(handlers)) for path, handlers in table
        ]

    def _event(self, operation: str, workload: str | None = None) -> Event:
        return Event(operation, workload=workload, actor_chain=list(ADMIN))

    # -- authorizers (INB-CFG-001/002/003) -------------------------------------------

    async def list_authorizers(self, request: Request) -> Response:
        async with self._recorder.record(self._event("authorizer.list")):
            self._admin.require(request)
            limit, token = page_args(query(request, _PAGING))
            page = await run_in_threadpool(self._authorizers.list, limit=limit, next_token=token)
            body = {
                "items": [authorizer_view(r) for r in page.items],
                "next_token": page.next_token,
            }
        return _json(body)

    async def create_authorizer(self, request: Request) -> Response:
        event = self._event("authorizer.create")
        async with self._recorder.record(event):
            self._admin.require(request)
            config = self._authorizers.parse(await read_json(request))
            warm = await run_in_threadpool(self._authorizers.check_metadata, config)
            record = await run_in_threadpool(
                self._recorder.commit,
                event,
                lambda tx: self._authorizers.create(config, warm=warm, tx=tx),
            )
        return _json(authorizer_view(record), 201)

    async def get_authorizer(self, request: Request) -> Response:
        name = request.path_params["name"]
        async with self._recorder.record(self._event("authorizer.get")):
            self._admin.require(request)
            record = await run_in_threadpool(self._authorizers.get, name)
        return _json(authorizer_view(record))

    async def replace_authorizer(self, request: Request) -> Response:
        name = request.path_params["name"]
        event = self._event("authorizer.replace")
        async with self._recorder.record(event):
            self._admin.require(request)
            body = await read_json(request)
            await run_in_threadpool(self._authorizers.get, name)  # 404 before the rules
            config = self._authorizers.parse(body)
            if config.name != name:
                raise ValidationFailed(
                    "The name in the body must equal the name in the path.",
                    errors=[{"field": "/name", "message": "must equal the name in the path"}],
                )
            warm = await run_in_threadpool(self._authorizers.check_metadata, config)
            record = await run_in_threadpool(
                self._recorder.commit,
                event,
                lambda tx: self._authorizers.replace(name, config, warm=warm, tx=tx),
            )
        return _json(authorizer_view(record))

    async def delete_authorizer(self, request: Request) -> Response:
        name = request.path_params["name"]
        event = self._event("authorizer.delete")
        async with self._recorder.record(event):
            self._admin.require(request)
            await run_in_threadpool(
                self._recorder.commit, event, lambda tx: self._authorizers.delete(name, tx=tx)
            )
        return Response(status_code=204)

    # -- workloads (WID-DIR-001..003, WID-SEC-001..003, WID-STATE-001/002) -----------

    def _spec(self, body: dict[str, object]) -> WorkloadSpec:
        data = {k: v for k, v in body.items() if k not in _READ_ONLY_WORKLOAD}
        return parse_model(WorkloadSpec, data)

    async def list_workloads(self, request: Request) -> Response:
        async with self._recorder.record(self._event("workload.list")):
            self._admin.require(request)
            limit, token = page_args(query(request, _PAGING))
            page = await run_in_threadpool(self._directory.list, limit=limit, next_token=token)
            body = {"items": [workload_view(r) for r in page.items], "next_token": page.next_token}
        return _json(body)

    async def create_workload(self, request: Request) -> Response:
        event = self._event("workload.create")
        async with self._recorder.record(event):
            self._admin.require(request)
            body = await read_json(request)
            if is_name(body.get("name")):
                event.workload = str(body["name"])
            spec = self._spec(body)
            record, secret = await run_in_threadpool(
                self._recorder.commit, event, lambda tx: self._directory.create(spec, tx=tx)
            )
        view = workload_view(record)
        if secret is not None:
            view["client_secret"] = secret
        return _json(view, 201)

    async def get_workload(self, request: Request) -> Response:
        name = request.path_params["name"]
        async with self._recorder.record(self._named("workload.get", name)):
            self._admin.require(request)
            record = await run_in_threadpool(self._directory.get, name)
        return _json(workload_view(record))

    async def replace_workload(self, request: Request) -> Response:
        name = request.path_params["name"]
        event = self._named("workload.replace", name)
        async with self._recorder.record(event):
            self._admin.require(request)
            body = await read_json(request)
            await run_in_threadpool(self._directory.get, name)
            spec = self._spec(body)

            def work(tx: Transaction) -> Any:
                return self._directory.replace(name, spec, tx=tx)

            record = await run_in_threadpool(self._recorder.commit, event, work)
        return _json(workload_view(record))

    async def delete_workload(self, request: Request) -> Response:
        name = request.path_params["name"]
        event = self._named("workload.delete", name)
        async with self._recorder.record(event):
            self._admin.require(request)
            await run_in_threadpool(
                self._recorder.commit, event, lambda tx: self._directory.delete(name, tx=tx)
            )
        return Response(status_code=204)

    async def rotate_secret(self, request: Request) -> Response:
        name = request.path_params["name"]
        event = self._named("workload.secret_rotate", name)
        async with self._recorder.record(event):
            self._admin.require(request)
            await _empty_or_object(request)
            record, secret = await run_in_threadpool(
                self._recorder.commit, event, lambda tx: self._directory.rotate_secret(name, tx=tx)
            )
        return _json({"name": record.name, "client_id": record.client_id, "client_secret": secret})

    def _named(self, operation: str, name: str) -> Event:
        """AUD-EVT-003: workload operations name the workload in the path."""
        return self._event(operation, name if is_name(name) else None)

    # -- audit (AUD-API-001, AUD-VER-001) --------------------------------------------

    async def audit_events(self, request: Request) -> Response:
        async with self._recorder.record(self._event("audit.query")):
            self._admin.require(request)
            params = query(request, _AUDIT_FILTERS | _PAGING)
            limit, token = page_args(params)
            since, until = _integer(params, "since"), _integer(params, "until")
            if "workload" in params and not is_name(params["workload"]):
                raise _invalid("workload", "must be a workload name")
            subject = params.get("user_subject")
            if subject is not None and not _SUBJECT.fullmatch(subject):
                raise _invalid("user_subject", "must be 1 to 255 characters, no control characters")
            page = await run_in_threadpool(
                lambda: self._audit.query(
                    workload=params.get("workload"),
                    user_subject=params.get("user_subject"),
                    operation=params.get("operation"),
                    decision=params.get("decision"),
                    since=since,
                    until=until,
                    limit=limit,
                    next_token=token,
                )
            )
            body = {"items": [e.to_dict() for e in page.items], "next_token": page.next_token}
        return _json(body)

    async def audit_verify(self, request: Request) -> Response:
        async with self._recorder.record(self._event("audit.verify")):
            self._admin.require(request)
            query(request, ())
            verification = await run_in_threadpool(self._audit.verify)
        return _json(verification.to_dict())
