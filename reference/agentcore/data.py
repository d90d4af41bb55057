"""The AgentCore data plane (``bedrock-agentcore``) over the shared tokens and vault.

- ``GetWorkloadAccessToken``: ``WorkloadTokens.issue`` with no user;
- ``GetWorkloadAccessTokenForJWT``: ``bind_user`` with the workload's authorizer
  (WAT-JWT-001);
- ``GetWorkloadAccessTokenForUserId``: ``bind_user`` with a ``urn:proctor:user-id`` user
  (WAT-UID-001);

each audited as ``workload_access_token.issue``.

AgentCore names the workload in the body where the native API authenticates it; here the
signing principal decides: ``admin`` may act for any workload (as an IAM principal with
the identity permissions does), a workload principal only for itself
(``AccessDeniedException`` otherwise, checked before the workload is looked up, so the
answer is no oracle). A disabled workload gets no token (WID-STATE-001).

The user JWT behind a ``…ForJWT`` token is kept, sealed, for ``ON_BEHALF_OF_TOKEN_EXCHANGE``
(VLT-OBO-001, WAT-PASS-001), when the vault is wired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool

from proctor.reference.agentcore.arns import ArnFactory
from proctor.reference.agentcore.control import Call
from proctor.reference.agentcore.sigv4 import Principal
from proctor.reference.agentcore.wire import AccessDeniedException
from proctor.reference.authorizers import AuthorizerRegistry
from proctor.reference.clock import Clock
from proctor.reference.directory import Directory, is_name
from proctor.reference.http.audited import Recorder
from proctor.reference.storage.database import Transaction
from proctor.reference.storage.workloads import WorkloadRecord
from proctor.reference.workload_tokens import IssuedToken, UserBinding, WorkloadTokens, bind_user

__all__ = ["Caller", "WorkloadTokenOperations"]


@dataclass(frozen=True)
class Caller:
    """The signing principal and, for a workload principal, its workload."""

    principal: Principal
    workload: WorkloadRecord | None = None

    @property
    def is_admin(self) -> bool:
        return self.principal.is_admin

    @property
    def actor(self) -> str:
        """AUD-EVT-003: ``admin``, or the workload's ``client_id``."""
        return "admin" if self.workload is None else self.workload.client_id


#: ``bind(wat, user_token, token_kind, expires_at, tx)``: keep the user JWT for OBO.
BindUserToken = Callable[[str, str, str, int, Transaction], None]


class WorkloadTokenOperations:
    """GetWorkloadAccessToken, …ForJWT and …ForUserId."""

    def __init__(
        self,
        *,
        directory: Directory,
        tokens: WorkloadTokens,
        authorizers: AuthorizerRegistry,
        recorder: Recorder,
        clock: Clock,
        arns: ArnFactory,
        bind_user_token: Callable[[], BindUserToken | None],
    ) -> None:
        self._directory = directory
        self._tokens = tokens
        self._authorizers = authorizers
        self._recorder = recorder
        self._clock = clock
        self._arns = arns
        self._bind_user_token = bind_user_token

    def workload_for(self, caller: Caller, name: str, operation: str) -> WorkloadRecord:
        """The workload ``name`` if ``caller`` may act for it (blocking)."""
        if caller.workload is not None and caller.workload.name != name:
            raise AccessDeniedException(
                f"The caller is not authorized to perform bedrock-agentcore:{operation} on "
                f"resource {self._arns.workload_identity(name)}."
            )
        record = self._directory.get(name)
        if record.disabled:
            raise AccessDeniedException("The workload identity is disabled.")
        return record

    async def _issue(
        self,
        call: Call,
        caller: Caller,
        operation: str,
        *,
        user_token: str | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        name = str(call.body["workloadName"])
        call.event.workload = name if is_name(name) else None
        record = await run_in_threadpool(self.workload_for, caller, name, operation)
        user, not_after = await run_in_threadpool(
            lambda: bind_user(
                record,
                user_token=user_token,
                user_id=user_id,
                decide=self._authorizers.decide,
                kind_of=self._authorizers.kind_for,
                now=self._clock.now(),
            )
        )
        if user is not None:
            call.event.user = (user.issuer, user.subject)
        binder = self._bind_user_token() if user_token is not None else None

        def work(tx: Transaction) -> IssuedToken:
            issued = self._tokens.issue(record, user, not_after=not_after, tx=tx)
            if binder is not None and user_token is not None and not_after is not None:
                binder(issued.token, user_token, self._kind(record), not_after, tx)
            return issued

        issued: IssuedToken = await run_in_threadpool(self._recorder.commit, call.event, work)
        return {"workloadAccessToken": issued.token}

    def _kind(self, record: WorkloadRecord) -> str:
        authorizer = record.config.get("authorizer")
        return self._authorizers.kind_for(str(authorizer))

    async def get_workload_access_token(self, call: Call, caller: Caller) -> dict[str, Any]:
        return await self._issue(call, caller, "GetWorkloadAccessToken")

    async def for_jwt(self, call: Call, caller: Caller) -> dict[str, Any]:
        return await self._issue(
            call, caller, "GetWorkloadAccessTokenForJWT", user_token=str(call.body["userToken"])
        )

    async def for_user_id(self, call: Call, caller: Caller) -> dict[str, Any]:
        return await self._issue(
            call, caller, "GetWorkloadAccessTokenForUserId", user_id=str(call.body["userId"])
        )


def user_of(binding_user: UserBinding | None) -> tuple[str, str] | None:
    return None if binding_user is None else (binding_user.issuer, binding_user.subject)
