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

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from starlette.concurrency import run_in_threadpool

from proctor.reference.agentcore.arns import ArnFactory
from proctor.reference.agentcore.control import Call
from proctor.reference.agentcore.sigv4 import Principal
from proctor.reference.agentcore.wire import AccessDeniedException, InternalServerException
from proctor.reference.audit import AuditLog
from proctor.reference.audit_trail import Trail
from proctor.reference.authorizers import AuthorizerRegistry
from proctor.reference.clock import Clock
from proctor.reference.directory import Directory, is_name
from proctor.reference.errors import NotFound
from proctor.reference.http.audited import Event, Recorder
from proctor.reference.sessions import Started
from proctor.reference.storage.database import Transaction
from proctor.reference.storage.providers import KEEP
from proctor.reference.storage.workload_tokens import WorkloadTokenRepository
from proctor.reference.storage.workloads import WorkloadRecord
from proctor.reference.vault import ResourceTokenRequest, TokenResult, WorkloadNotAllowed
from proctor.reference.workload_tokens import (
    TOKEN_PREFIX,
    Binding,
    InvalidWorkloadAccessToken,
    IssuedToken,
    WorkloadTokens,
    bind_user,
    token_hash,
)

__all__ = ["FLOWS", "Caller", "VaultOperations", "WorkloadTokenOperations"]

log = logging.getLogger("proctor.agentcore")


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


# -- the vault: resource tokens, API keys, sessions ------------------------------------------

#: AgentCore ``oauth2Flow`` -> the native flow.
FLOWS: Final[Mapping[str, str]] = {
    "USER_FEDERATION": "user_federation",
    "M2M": "m2m",
    "ON_BEHALF_OF_TOKEN_EXCHANGE": "on_behalf_of",
}


class VaultOperations:
    """GetResourceOauth2Token, GetResourceApiKey and CompleteResourceTokenAuth on the vault.

    The workload access token names the workload (AgentCore sends no other workload
    credential): the token must be valid for the workload it was issued to and, for a
    workload principal, that workload must be the caller (otherwise the answer is the
    same as for an unknown token, WAT-USE-001). Then:

    - GetResourceOauth2Token is ``Vault.resource_token``: ``accessToken`` for a usable token
      (M2M, on-behalf-of, a stored or refreshed 3-legged token), or ``authorizationUrl`` +
      ``sessionUri`` + ``sessionStatus: IN_PROGRESS`` while a session waits; a failed or
      expired session is a ``ValidationException`` naming ``sessionUri`` (never a ``FAILED``
      status, which the SDK would poll for ten minutes);
    - GetResourceApiKey is ``Vault.api_key``;
    - CompleteResourceTokenAuth is ``Sessions.complete`` for the user the union names
      (``userToken`` validated by the workload's authorizer, or ``userId``), answered ``{}``.

    In development mode a return URL, a scope or an API-key provider the workload uses is
    first registered (on the workload, the provider's scopes, the provider's allowed
    workloads), and logged: the SDK's local bootstrap creates workloads with nothing
    registered.
    """

    def __init__(
        self,
        *,
        components: Callable[[], Any],
        directory: Directory,
        tokens: WorkloadTokens,
        token_records: WorkloadTokenRepository,
        authorizers: AuthorizerRegistry,
        recorder: Recorder,
        audit: AuditLog,
        clock: Clock,
        dev_mode: bool,
        register_return_url: Callable[[WorkloadRecord, str], WorkloadRecord],
    ) -> None:
        self._register_return_url = register_return_url
        self._components = components
        self._directory = directory
        self._tokens = tokens
        self._records = token_records
        self._authorizers = authorizers
        self._recorder = recorder
        self._audit = audit
        self._clock = clock
        self._dev_mode = dev_mode

    @property
    def _vault(self) -> Any:
        components = self._components()
        if components is None:
            raise InternalServerException("the credential vault is not wired into the service")
        return components

    def _trail(self, event: Event) -> Trail:
        def mark() -> None:
            event.recorded = True

        return Trail(self._audit, event.request_id, main=event.fields, mark=mark)

    def _bound(self, caller: Caller, wat: str) -> tuple[WorkloadRecord, Binding]:
        """The workload the token was issued to and its binding (blocking)."""
        stored = self._records.get(token_hash(wat)) if wat.startswith(TOKEN_PREFIX) else None
        record = None if stored is None else self._directory.find(stored.workload)
        if record is None or (caller.workload is not None and caller.workload.name != record.name):
            raise InvalidWorkloadAccessToken()
        return record, self._tokens.validate(wat, record)

    async def _start(self, call: Call, caller: Caller) -> tuple[WorkloadRecord, Binding, str]:
        wat = str(call.body["workloadIdentityToken"])
        provider = str(call.body["resourceCredentialProviderName"])
        call.event.provider = provider
        record, binding = await run_in_threadpool(self._bound, caller, wat)
        call.event.workload = record.name
        if binding.user is not None:
            call.event.user = (binding.user.issuer, binding.user.subject)
        return record, binding, wat

    async def resource_oauth2_token(self, call: Call, caller: Caller) -> dict[str, Any]:
        body = call.body
        record, binding, wat = await self._start(call, caller)
        scopes = [str(s) for s in body["scopes"]]
        call.event.scopes = scopes
        return_url = body.get("resourceOauth2ReturnUrl")
        if self._dev_mode:
            record = await run_in_threadpool(
                self._register, record, str(body["resourceCredentialProviderName"]), scopes,
                return_url,
            )  # fmt: skip
        request = ResourceTokenRequest(
            provider=str(body["resourceCredentialProviderName"]),
            flow=FLOWS[str(body["oauth2Flow"])],  # type: ignore[arg-type]  # the model's enum
            scopes=tuple(scopes),
            session_uri=body.get("sessionUri"),
            return_url=return_url,
            force_authentication=bool(body.get("forceAuthentication", False)),
            custom_parameters=dict(body.get("customParameters") or {}),
            custom_state=body.get("customState"),
            resources=tuple(body.get("resources") or ()),
            audiences=tuple(body.get("audiences") or ()),
        )
        vault = self._vault.vault
        result = await run_in_threadpool(
            vault.resource_token, record, binding, wat, request, self._trail(call.event)
        )
        if isinstance(result, TokenResult):
            call.event.scopes = list(result.scopes)
            return {"accessToken": result.access_token}
        assert isinstance(result, Started)
        return {
            "authorizationUrl": result.authorization_url,
            "sessionUri": result.session_uri,
            "sessionStatus": "IN_PROGRESS",
        }

    def _register(
        self, record: WorkloadRecord, provider: str, scopes: list[str], return_url: Any
    ) -> WorkloadRecord:
        """Development mode: what the request uses becomes registered (logged)."""
        registry = self._vault.providers
        found = registry.repository.get("oauth2", provider) if is_name(provider) else None
        if found is not None:
            known = list(found.config.get("scopes", []))
            missing = [s for s in dict.fromkeys(scopes) if s not in known]
            if missing:
                config = {**found.config, "scopes": known + missing}
                registry.repository.replace("oauth2", provider, config, KEEP)
                registry.forget_metadata(provider)
                log.warning(
                    "development mode: scopes registered on a provider",
                    extra={"fields": {"provider": provider, "scopes": missing}},
                )
        urls = list(record.config.get("allowed_return_urls", []))
        if isinstance(return_url, str) and return_url not in urls:
            record = self._register_return_url(record, return_url)
            log.warning(
                "development mode: return URL registered on a workload",
                extra={"fields": {"workload": record.name}},
            )
        return record

    async def resource_api_key(self, call: Call, caller: Caller) -> dict[str, Any]:
        record, _binding, _wat = await self._start(call, caller)
        provider = str(call.body["resourceCredentialProviderName"])
        components = self._vault
        if self._dev_mode:
            await run_in_threadpool(self._allow, components, provider, record.name)
        try:
            key = await run_in_threadpool(components.vault.api_key, record, provider)
        except WorkloadNotAllowed:
            call.event.deny(WorkloadNotAllowed.audit_reason)  # VLT-APIK-001
            await run_in_threadpool(self._append_now, call.event)
            raise
        return {"apiKey": key}

    def _allow(self, components: Any, provider: str, workload: str) -> None:
        registry = components.providers
        found = registry.repository.get("api_key", provider) if is_name(provider) else None
        if found is None or workload in found.config.get("allowed_workloads", []):
            return
        allowed = [*found.config.get("allowed_workloads", []), workload]
        registry.repository.replace(
            "api_key", provider, {**found.config, "allowed_workloads": allowed}, KEEP
        )
        log.warning(
            "development mode: workload allowed on an API-key provider",
            extra={"fields": {"provider": provider, "workload": workload}},
        )

    def _append_now(self, event: Event) -> None:
        self._audit.append(event.fields())
        event.recorded = True

    async def complete_resource_token_auth(self, call: Call, caller: Caller) -> dict[str, Any]:
        session_uri = str(call.body["sessionUri"])
        identifier = call.body["userIdentifier"]
        user_token = identifier.get("userToken")
        user_id = identifier.get("userId")
        components = self._vault
        record = await run_in_threadpool(self._session_workload, components, caller, session_uri)
        call.event.workload = record.name
        user, _ = await run_in_threadpool(
            lambda: bind_user(
                record,
                user_token=user_token,
                user_id=user_id,
                decide=self._authorizers.decide,
                kind_of=self._authorizers.kind_for,
                now=self._clock.now(),
            )
        )
        assert user is not None  # the union has exactly one member
        call.event.user = (user.issuer, user.subject)
        session = await run_in_threadpool(
            lambda: components.sessions.complete(
                client_id=record.client_id,
                session_uri=session_uri,
                claimed=user,
                via="user_token" if user_token is not None else "user_id",
                trail=self._trail(call.event),
            )
        )
        call.event.provider = session.provider
        return {}

    def _session_workload(
        self, components: Any, caller: Caller, session_uri: str
    ) -> WorkloadRecord:
        """The workload that started the session (VLT-BIND-001: only it may complete it);
        a foreign or unknown session is not found (VLT-PART-002)."""
        stored = components.sessions.repository.get(session_uri)
        record = None if stored is None else self._directory.find(stored.workload)
        if (
            record is None
            or record.client_id != stored.workload_client_id
            or (caller.workload is not None and caller.workload.name != record.name)
        ):
            raise NotFound("No session has that URI.", code="session_not_found")
        return record
