"""The data plane of the identity core: ``POST /v1/decisions`` and
``POST /v1/workload-access-tokens``.

Both authenticate the caller as a workload before reading the body (INB-DEC-001,
WAT-REQ-001: an unauthenticated request never gets a user token validated) and append one
audit event naming the workload and its ``client_id`` as the actor (AUD-EVT-003).

``POST /v1/decisions`` answers ``200`` with a decision for any token string whatsoever
(INB-DEC-003); only a malformed request or an unknown authorizer is an error (INB-DEC-002).
``POST /v1/workload-access-tokens`` issues a token bound to the caller and to the user its
body names (spec ``04``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, StrictStr, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from proctor.reference.authorizer import Decision
from proctor.reference.authorizers import AuthorizerRegistry, json_pointer, parse_model
from proctor.reference.clock import Clock
from proctor.reference.errors import InvalidRequestBody
from proctor.reference.http.audited import Event, Recorder
from proctor.reference.http.auth import authenticate_workload
from proctor.reference.http.bodies import read_json
from proctor.reference.metrics import Counter, Metrics
from proctor.reference.storage import Transaction
from proctor.reference.workload_auth import AuthenticatedWorkload, WorkloadAuthenticator
from proctor.reference.workload_tokens import (
    IssuedToken,
    RejectedUserToken,
    WorkloadTokens,
    bind_user,
)

__all__ = ["DataPlane", "DecisionRequest", "decision_body"]

_NO_STORE: Final = {"Cache-Control": "no-store"}
_WAT_MEMBERS: Final = frozenset({"user_token", "user_id"})


class DecisionRequest(BaseModel):
    """INB-DEC-002: ``authorizer`` and ``token`` (strings), optional ``token_kind``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    authorizer: StrictStr
    token: StrictStr
    token_kind: StrictStr = "access_token"  # noqa: S105 - a kind, not a credential

    @field_validator("token_kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in ("access_token", "id_token"):
            raise ValueError("token_kind is access_token or id_token")
        return value


def decision_body(decision: Decision) -> dict[str, Any]:
    """INB-DEC-004/005: an allow with exactly the six identity members, or a deny with
    exactly ``decision`` and ``reason``."""
    identity = decision.identity
    if not decision.allowed or identity is None:
        return {"decision": "deny", "reason": decision.reason}
    return {
        "decision": "allow",
        "reason": "ok",
        "identity": {
            "issuer": identity.issuer,
            "subject": identity.subject,
            "user_key": identity.user_key,
            "client_id": identity.client_id,
            "scopes": list(identity.scopes),
            "claims": dict(identity.claims),
        },
    }


def _wat_request(body: dict[str, object]) -> tuple[str | None, str | None]:
    """WAT-REQ-001: ``{}``, or string ``user_token`` and/or ``user_id`` (both together is a
    rule violation, left to :func:`bind_user`); anything else is ``invalid_request_body``."""
    unknown = sorted(set(body) - _WAT_MEMBERS)
    if unknown:
        raise InvalidRequestBody("The request body has unknown members.").with_errors(
            [{"field": json_pointer((name,)), "message": "unknown member"} for name in unknown[:10]]
        )
    values: dict[str, str | None] = {}
    for name in _WAT_MEMBERS:
        value = body.get(name)
        if name in body and not isinstance(value, str):
            raise InvalidRequestBody(f"{name} must be a string.").with_errors(
                [{"field": "/" + name, "message": "must be a string"}]
            )
        values[name] = value if isinstance(value, str) else None
    return values["user_token"], values["user_id"]


#: ``(workload access token, user JWT, token kind, JWT exp, transaction)``.
UserTokenBinder = Callable[[str, str, str, int, Transaction], None]


class DataPlane:
    """Routes of the workload-authenticated identity endpoints."""

    def __init__(
        self,
        *,
        authenticator: WorkloadAuthenticator,
        recorder: Recorder,
        authorizers: AuthorizerRegistry,
        tokens: WorkloadTokens,
        clock: Clock,
        metrics: Metrics,
        user_token_binder: Callable[[], UserTokenBinder | None] = lambda: None,
    ) -> None:
        """``user_token_binder`` yields, once the vault is wired, the function that keeps
        (sealed) the user JWT a workload access token was issued for, for on-behalf-of
        exchanges only (WAT-PASS-001, VLT-OBO-001)."""
        self._user_token_binder = user_token_binder
        self._authenticator = authenticator
        self._recorder = recorder
        self._authorizers = authorizers
        self._tokens = tokens
        self._clock = clock
        self._decisions: Counter = metrics.counter(
            "proctor_decisions_total", "Inbound authorization decisions.", ["result", "reason"]
        )
        self._issued: Counter = metrics.counter(
            "proctor_workload_access_tokens_issued_total",
            "Workload access tokens issued, by the kind of user bound.",
            ["user"],
        )

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/decisions", self.decide, methods=["POST"]),
            Route("/v1/workload-access-tokens", self.issue, methods=["POST"]),
        ]

    async def _authenticate(self, request: Request, event: Event) -> AuthenticatedWorkload:
        caller = await run_in_threadpool(authenticate_workload, self._authenticator, request)
        event.workload = caller.name
        event.actor_chain = [caller.client_id]
        return caller

    async def decide(self, request: Request) -> Response:
        """INB-DEC-001..006."""
        event = Event("decision.evaluate")
        async with self._recorder.record(event):
            await self._authenticate(request, event)
            ask = parse_model(DecisionRequest, await read_json(request))
            decision: Decision = await run_in_threadpool(
                self._authorizers.decide,
                ask.authorizer,
                ask.token,
                ask.token_kind,  # type: ignore[arg-type]  # checked by the validator
            )
            self._decisions.inc(
                result="allow" if decision.allowed else "deny", reason=decision.reason
            )
            if decision.allowed and decision.identity is not None:
                event.user = (decision.identity.issuer, decision.identity.subject)
            else:
                event.user = decision.verified_user  # AUD-EVT-003: verified, then denied
                event.deny(decision.reason)
        return JSONResponse(decision_body(decision), headers=_NO_STORE)

    async def issue(self, request: Request) -> Response:
        """WAT-REQ-001, WAT-JWT-001, WAT-UID-001, WAT-BIND-001, WAT-RESP-001, WAT-LIFE-*."""
        event = Event("workload_access_token.issue")
        async with self._recorder.record(event):
            caller = await self._authenticate(request, event)
            user_token, user_id = _wat_request(await read_json(request))
            try:
                user, not_after = await run_in_threadpool(
                    lambda: bind_user(
                        caller.record,
                        user_token=user_token,
                        user_id=user_id,
                        decide=self._authorizers.decide,
                        kind_of=self._authorizers.kind_for,
                        now=self._clock.now(),
                    )
                )
            except RejectedUserToken as rejected:
                event.user = rejected.user  # AUD-EVT-003: the verified user, denied
                raise
            if user is not None:
                event.user = (user.issuer, user.subject)
            binder = self._user_token_binder() if user_token is not None else None
            kind = self._authorizers.kind_for(str(caller.record.config.get("authorizer")))

            def work(tx: Transaction) -> IssuedToken:
                issued = self._tokens.issue(caller.record, user, not_after=not_after, tx=tx)
                if binder is not None and user_token is not None and not_after is not None:
                    binder(issued.token, user_token, kind, not_after, tx)
                return issued

            issued: IssuedToken = await run_in_threadpool(self._recorder.commit, event, work)
            bound = "none" if user is None else "user_id" if user.asserted else "user_token"
            self._issued.inc(user=bound)
        return JSONResponse(issued.response(), headers=_NO_STORE)
