"""The control plane's exchange policies: ``/v1/exchange-policies[/{name}]`` (admin only).

Spec ``07-token-exchange.md`` §Exchange policy and ``openapi.yaml``: create answers ``201``,
replace ``200``, delete ``204``, list ``{"items", "next_token"}`` ordered by name; a body
that is not JSON, has unknown members or wrong types is ``invalid_request_body``; a rule
broken (TX-POL-001: an unregistered ``client``, an empty ``subject_issuers``, no target, a
malformed resource or scope, ``max_depth`` outside 1-16, an unknown ``actor``; TX-POL-002:
the issuer as a target) is ``validation_failed`` naming the fields; a taken name or a
target shared with another policy of the same client is ``409 conflict``.

Like the rest of the control plane, every route checks the admin credential first
(WID-ADMIN-001) and appends one audit event with ``actor_chain`` ``["admin"]``
(``exchange_policy.*``, AUD-OPS-001); writes commit with their event (AUD-APP-002).
"""

from __future__ import annotations

from typing import Final

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from proctor.reference.authorizers import parse_model
from proctor.reference.directory import is_name
from proctor.reference.errors import NotFound
from proctor.reference.exchange_policy import ExchangePolicy
from proctor.reference.http.audited import Event, Recorder
from proctor.reference.http.auth import AdminGuard
from proctor.reference.http.bodies import read_json
from proctor.reference.http.control import Endpoint, by_method, page_args, query
from proctor.reference.storage.policies import ExchangePolicyRepository, policy_view

__all__ = ["ExchangePolicyRoutes"]

_NO_STORE: Final = {"Cache-Control": "no-store"}
_PAGING: Final = frozenset({"limit", "next_token"})


class ExchangePolicyRoutes:
    """``/v1/exchange-policies`` over :class:`ExchangePolicyRepository`."""

    def __init__(
        self,
        *,
        admin: AdminGuard,
        recorder: Recorder,
        policies: ExchangePolicyRepository,
        allow_loopback_http: bool,
    ) -> None:
        self._admin = admin
        self._recorder = recorder
        self._policies = policies
        self._context = {"allow_loopback_http": allow_loopback_http}

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, dict[str, Endpoint]]] = [
            ("/v1/exchange-policies", {"GET": self.list, "POST": self.create}),
            (
                "/v1/exchange-policies/{name}",
                {"GET": self.get, "PUT": self.replace, "DELETE": self.delete},
            ),
        ]
        return [
            Route(path, by_method(handlers), methods=list(handlers)) for path, handlers in table
        ]

    def _event(self, operation: str) -> Event:
        return Event(operation, actor_chain=["admin"])

    def _parse(self, body: dict[str, object]) -> ExchangePolicy:
        return parse_model(ExchangePolicy, body, context=self._context)

    async def list(self, request: Request) -> Response:
        async with self._recorder.record(self._event("exchange_policy.list")):
            self._admin.require(request)
            limit, token = page_args(query(request, _PAGING))
            page = await run_in_threadpool(self._policies.list, limit=limit, next_token=token)
            body = {
                "items": [policy_view(stored.policy) for stored in page.items],
                "next_token": page.next_token,
            }
        return JSONResponse(body, headers=_NO_STORE)

    async def create(self, request: Request) -> Response:
        event = self._event("exchange_policy.create")
        async with self._recorder.record(event):
            self._admin.require(request)
            policy = self._parse(await read_json(request))
            stored = await run_in_threadpool(
                self._recorder.commit, event, lambda tx: self._policies.create(policy, tx=tx)
            )
        return JSONResponse(policy_view(stored.policy), status_code=201, headers=_NO_STORE)

    async def get(self, request: Request) -> Response:
        name = request.path_params["name"]
        async with self._recorder.record(self._event("exchange_policy.get")):
            self._admin.require(request)
            _known(name)
            stored = await run_in_threadpool(self._policies.get, name)
        return JSONResponse(policy_view(stored.policy), headers=_NO_STORE)

    async def replace(self, request: Request) -> Response:
        name = request.path_params["name"]
        event = self._event("exchange_policy.replace")
        async with self._recorder.record(event):
            self._admin.require(request)
            body = await read_json(request)
            _known(name)
            await run_in_threadpool(self._policies.get, name)  # 404 before the rules
            policy = self._parse(body)
            stored = await run_in_threadpool(
                self._recorder.commit,
                event,
                lambda tx: self._policies.replace(name, policy, tx=tx),
            )
        return JSONResponse(policy_view(stored.policy), headers=_NO_STORE)

    async def delete(self, request: Request) -> Response:
        name = request.path_params["name"]
        event = self._event("exchange_policy.delete")
        async with self._recorder.record(event):
            self._admin.require(request)
            _known(name)
            await run_in_threadpool(
                self._recorder.commit, event, lambda tx: self._policies.delete(name, tx=tx)
            )
        return Response(status_code=204)


def _known(name: str) -> None:
    """A path name that breaks TERM-NAME-001 names nothing."""
    if not is_name(name):
        raise NotFound("No exchange policy has that name.")
