"""HTTP routes of the vault: providers, consents, resource tokens, sessions, the callback
(spec ``05``, ``06``; thin Starlette over :mod:`proctor.reference.vault`).

==========================================  =========  =================================
route                                       plane      operation (AUD-OPS-001)
==========================================  =========  =================================
``/v1/providers/oauth2[/{name}]``           control    ``oauth2_provider.*``
``/v1/providers/api-key[/{name}]``          control    ``api_key_provider.*``
``GET /v1/consents``                        control    ``consent.list``
``DELETE /v1/consents/{id}``                control    ``consent.revoke``
``POST /v1/resource-tokens/oauth2``         data       ``resource_token.get``
``POST /v1/resource-tokens/api-key``        data       ``api_key.get``
``POST /v1/sessions/complete``              data       ``session.complete``
``GET /v1/me/consents?authorizer=``         user       ``consent.list``
``DELETE /v1/me/consents/{id}?authorizer=`` user       ``consent.revoke``
``GET /oauth2/callback``                    public     ``session.callback``
==========================================  =========  =================================

The control plane requires the admin credential first (WID-ADMIN-001); the data plane
authenticates the workload before it reads the body and then validates the workload access
token for that workload (VLT-REQ-001 steps 1-2); the user endpoints validate the user's
IdP token with the authorizer named by ``?authorizer=`` (CNS-LIST-001). Every request
appends its event (AUD-EVT-001); operations that change state append it in their
transaction (through :class:`~proctor.reference.audit_trail.Trail`).

The callback answers a browser: a ``303`` to the session's registered return URL, or a
plain HTML page (ERR-CB-001) without scripts, forms or external resources, with every
reflected value escaped, and always ``Cache-Control: no-store`` and
``Referrer-Policy: no-referrer`` (VLT-CB-006).
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final

import httpx
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from proctor.reference.audit import AuditLog
from proctor.reference.audit_trail import Trail
from proctor.reference.authorizers import AuthorizerRegistry, parse_model
from proctor.reference.clock import Clock
from proctor.reference.consent import Consents, UpstreamRevoker, consent_view
from proctor.reference.directory import Directory
from proctor.reference.encryption import Envelope
from proctor.reference.errors import (
    InsufficientScope,
    Unauthenticated,
    UserTokenRejected,
    ValidationFailed,
)
from proctor.reference.http.audited import Event, Recorder
from proctor.reference.http.auth import AdminGuard, authenticate_workload, authorization_header
from proctor.reference.http.bodies import read_json
from proctor.reference.http.control import page_args, query
from proctor.reference.logs import request_id_var
from proctor.reference.metrics import Metrics
from proctor.reference.oauth_client import KeySource, OAuthClient
from proctor.reference.providers import ProviderRegistry, api_key_view, oauth2_view
from proctor.reference.sealing import Sealer
from proctor.reference.sessions import DEFAULT_TTL, Sessions, Started
from proctor.reference.storage.consents import ConsentFilter, ConsentRepository
from proctor.reference.storage.database import Database
from proctor.reference.storage.providers import ProviderRepository
from proctor.reference.storage.sessions import SessionRepository
from proctor.reference.storage.vault import (
    BoundUserTokenRepository,
    EntryRepository,
    TokenCacheRepository,
)
from proctor.reference.vault import ResourceTokenRequest, TokenResult, Vault, WorkloadNotAllowed
from proctor.reference.workload_auth import AuthenticatedWorkload, WorkloadAuthenticator
from proctor.reference.workload_tokens import WorkloadTokens, bind_user

__all__ = ["VaultComponents", "VaultRoutes", "build_vault", "callback_page"]

ADMIN: Final = ["admin"]
_NO_STORE: Final = {"Cache-Control": "no-store"}
_CALLBACK_HEADERS: Final = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
_PAGING: Final = frozenset({"limit", "next_token"})
_CONSENT_FILTERS: Final = frozenset({"user", "user_issuer", "workload", "provider"})
_FLOWS: Final = ("user_federation", "m2m", "on_behalf_of")
_CALLBACK_PARAMS: Final = ("state", "code", "error", "iss")


# -- request bodies ----------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResourceTokenBody(_Body):
    """``POST /v1/resource-tokens/oauth2`` (native API + ``task``/``consent_ttl``)."""

    workload_access_token: StrictStr = Field(repr=False)
    provider: StrictStr
    flow: StrictStr
    scopes: Annotated[list[StrictStr], Field(max_length=100)] = []
    session_uri: StrictStr | None = None
    return_url: StrictStr | None = None
    force_authentication: StrictBool = False
    custom_parameters: dict[StrictStr, StrictStr] = {}
    custom_state: StrictStr | None = None
    resources: Annotated[list[StrictStr], Field(max_length=20)] = []
    audiences: Annotated[list[StrictStr], Field(max_length=20)] = []
    task: StrictStr | None = None
    consent_ttl: StrictInt | None = None

    @field_validator("flow")
    @classmethod
    def _flow(cls, value: str) -> str:
        if value not in _FLOWS:
            raise ValueError("flow is user_federation, m2m or on_behalf_of")
        return value

    def core(self) -> ResourceTokenRequest:
        return ResourceTokenRequest(
            provider=self.provider,
            flow=self.flow,  # type: ignore[arg-type]  # checked by the validator
            scopes=tuple(self.scopes),
            session_uri=self.session_uri,
            return_url=self.return_url,
            force_authentication=self.force_authentication,
            custom_parameters=dict(self.custom_parameters),
            custom_state=self.custom_state,
            resources=tuple(self.resources),
            audiences=tuple(self.audiences),
            task=self.task,
            consent_ttl=self.consent_ttl,
        )


class ApiKeyBody(_Body):
    workload_access_token: StrictStr = Field(repr=False)
    provider: StrictStr


class CompleteBody(_Body):
    session_uri: StrictStr
    user_token: StrictStr | None = Field(default=None, repr=False)
    user_id: StrictStr | None = None


# -- the callback page (ERR-CB-001, VLT-CB-006) --------------------------------------------

_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>Sign-in not completed</title></head>
<body>
<h1>The sign-in to the resource did not complete</h1>
<p>The authorization could not be finished. Go back to the application and start again.</p>
<p>Cause: <code>{cause}</code></p>
<p>Request ID: <code>{request_id}</code></p>
</body></html>
"""


def callback_page(cause: str) -> HTMLResponse:
    """VLT-CB-001, ERR-CB-001: a plain page for people; every value escaped."""
    body = _PAGE.format(
        cause=html.escape(cause), request_id=html.escape(request_id_var.get() or "")
    )
    return HTMLResponse(body, status_code=400, headers=_CALLBACK_HEADERS)


# -- routes ---------------------------------------------------------------------------------


class VaultRoutes:
    """The vault's HTTP routes (see the module docstring)."""

    def __init__(
        self,
        *,
        vault: Vault,
        admin: AdminGuard,
        recorder: Recorder,
        audit: AuditLog,
        authenticator: WorkloadAuthenticator,
        tokens: WorkloadTokens,
        authorizers: AuthorizerRegistry,
        clock: Clock,
    ) -> None:
        self._vault = vault
        self._providers = vault.providers
        self._consents = vault.consents
        self._admin = admin
        self._recorder = recorder
        self._audit = audit
        self._authenticator = authenticator
        self._tokens = tokens
        self._authorizers = authorizers
        self._clock = clock

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1/providers/oauth2", self.list_oauth2, methods=["GET"]),
            Route("/v1/providers/oauth2", self.create_oauth2, methods=["POST"]),
            Route("/v1/providers/oauth2/{name}", self.get_oauth2, methods=["GET"]),
            Route("/v1/providers/oauth2/{name}", self.replace_oauth2, methods=["PUT"]),
            Route("/v1/providers/oauth2/{name}", self.delete_oauth2, methods=["DELETE"]),
            Route("/v1/providers/api-key", self.list_api_key, methods=["GET"]),
            Route("/v1/providers/api-key", self.create_api_key, methods=["POST"]),
            Route("/v1/providers/api-key/{name}", self.get_api_key, methods=["GET"]),
            Route("/v1/providers/api-key/{name}", self.replace_api_key, methods=["PUT"]),
            Route("/v1/providers/api-key/{name}", self.delete_api_key, methods=["DELETE"]),
            Route("/v1/consents", self.list_consents, methods=["GET"]),
            Route("/v1/consents/{id}", self.revoke_consent, methods=["DELETE"]),
            Route("/v1/resource-tokens/oauth2", self.resource_token, methods=["POST"]),
            Route("/v1/resource-tokens/api-key", self.api_key, methods=["POST"]),
            Route("/v1/sessions/complete", self.complete_session, methods=["POST"]),
            Route("/v1/me/consents", self.list_my_consents, methods=["GET"]),
            Route("/v1/me/consents/{id}", self.revoke_my_consent, methods=["DELETE"]),
            Route("/oauth2/callback", self.callback, methods=["GET"]),
        ]

    # -- helpers -----------------------------------------------------------------------

    def _trail(self, event: Event) -> Trail:
        def mark() -> None:
            event.recorded = True

        return Trail(self._audit, event.request_id, main=event.fields, mark=mark)

    def _admin_event(self, operation: str, provider: str | None = None) -> Event:
        return Event(operation, actor_chain=list(ADMIN), provider=provider)

    async def _workload(self, request: Request, event: Event) -> AuthenticatedWorkload:
        caller = await run_in_threadpool(authenticate_workload, self._authenticator, request)
        event.workload = caller.name
        event.actor_chain = [caller.client_id]
        return caller

    def _commit(self, event: Event, work: Callable[[Any], Any]) -> Any:
        return self._recorder.commit(event, work)

    # -- OAuth 2.0 providers (PRV-CFG-*, CNS-PRE-001) -----------------------------------

    async def list_oauth2(self, request: Request) -> Response:
        async with self._recorder.record(self._admin_event("oauth2_provider.list")):
            self._admin.require(request)
            limit, token = page_args(query(request, _PAGING))
            page = await run_in_threadpool(
                self._providers.list_oauth2, limit=limit, next_token=token
            )
            body = {"items": [oauth2_view(r) for r in page.items], "next_token": page.next_token}
        return JSONResponse(body, headers=_NO_STORE)

    async def create_oauth2(self, request: Request) -> Response:
        event = self._admin_event("oauth2_provider.create")
        async with self._recorder.record(event):
            self._admin.require(request)
            spec = self._providers.parse_oauth2(await read_json(request))
            event.provider, event.scopes = spec.name, list(spec.scopes)
            record = await run_in_threadpool(
                self._commit, event, lambda tx: self._providers.create_oauth2(spec, tx=tx)
            )
        return JSONResponse(oauth2_view(record), status_code=201, headers=_NO_STORE)

    async def get_oauth2(self, request: Request) -> Response:
        name = request.path_params["name"]
        async with self._recorder.record(self._admin_event("oauth2_provider.get", name)):
            self._admin.require(request)
            record = await run_in_threadpool(self._providers.get_oauth2, name)
        return JSONResponse(oauth2_view(record), headers=_NO_STORE)

    async def replace_oauth2(self, request: Request) -> Response:
        name = request.path_params["name"]
        event = self._admin_event("oauth2_provider.replace", name)
        async with self._recorder.record(event):
            self._admin.require(request)
            body = await read_json(request)
            await run_in_threadpool(self._providers.get_oauth2, name)  # 404 before the rules
            spec = self._providers.parse_oauth2_replace(body)
            event.scopes = list(spec.scopes)
            record = await run_in_threadpool(
                self._commit, event, lambda tx: self._providers.replace_oauth2(name, spec, tx=tx)
            )
        return JSONResponse(oauth2_view(record), headers=_NO_STORE)

    async def delete_oauth2(self, request: Request) -> Response:
        name = request.path_params["name"]
        event = self._admin_event("oauth2_provider.delete", name)
        async with self._recorder.record(event):
            self._admin.require(request)
            await run_in_threadpool(self._vault.delete_oauth2_provider, name, self._trail(event))
        return Response(status_code=204)

    # -- API-key providers (PRV-KEY-001) ------------------------------------------------

    async def list_api_key(self, request: Request) -> Response:
        async with self._recorder.record(self._admin_event("api_key_provider.list")):
            self._admin.require(request)
            limit, token = page_args(query(request, _PAGING))
            page = await run_in_threadpool(
                self._providers.list_api_key, limit=limit, next_token=token
            )
            body = {"items": [api_key_view(r) for r in page.items], "next_token": page.next_token}
        return JSONResponse(body, headers=_NO_STORE)

    async def create_api_key(self, request: Request) -> Response:
        event = self._admin_event("api_key_provider.create")
        async with self._recorder.record(event):
            self._admin.require(request)
            spec = self._providers.parse_api_key(await read_json(request))
            event.provider = spec.name
            record = await run_in_threadpool(
                self._commit, event, lambda tx: self._providers.create_api_key(spec, tx=tx)
            )
        return JSONResponse(api_key_view(record), status_code=201, headers=_NO_STORE)

    async def get_api_key(self, request: Request) -> Response:
        name = request.path_params["name"]
        async with self._recorder.record(self._admin_event("api_key_provider.get", name)):
            self._admin.require(request)
            record = await run_in_threadpool(self._providers.get_api_key, name)
        return JSONResponse(api_key_view(record), headers=_NO_STORE)

    async def replace_api_key(self, request: Request) -> Response:
        name = request.path_params["name"]
        event = self._admin_event("api_key_provider.replace", name)
        async with self._recorder.record(event):
            self._admin.require(request)
            body = await read_json(request)
            await run_in_threadpool(self._providers.get_api_key, name)
            spec = self._providers.parse_api_key(body, replace=True)
            record = await run_in_threadpool(
                self._commit, event, lambda tx: self._providers.replace_api_key(name, spec, tx=tx)
            )
        return JSONResponse(api_key_view(record), headers=_NO_STORE)

    async def delete_api_key(self, request: Request) -> Response:
        name = request.path_params["name"]
        event = self._admin_event("api_key_provider.delete", name)
        async with self._recorder.record(event):
            self._admin.require(request)
            await run_in_threadpool(
                self._commit, event, lambda tx: self._providers.delete_api_key(name, tx=tx)
            )
        return Response(status_code=204)

    # -- consents: admin (CNS-LIST-002, CNS-REV-002) -------------------------------------

    async def list_consents(self, request: Request) -> Response:
        async with self._recorder.record(self._admin_event("consent.list")):
            self._admin.require(request)
            params = query(request, _CONSENT_FILTERS | _PAGING)
            limit, token = page_args(params)
            filters = ConsentFilter(
                user_subject=params.get("user"),
                user_issuer=params.get("user_issuer"),
                workload=params.get("workload"),
                provider=params.get("provider"),
            )
            page = await run_in_threadpool(
                lambda: self._consents.list(filters, limit=limit, next_token=token)
            )
            body = {"items": [consent_view(c) for c in page.items], "next_token": page.next_token}
        return JSONResponse(body, headers=_NO_STORE)

    async def revoke_consent(self, request: Request) -> Response:
        consent_id = request.path_params["id"]
        event = self._admin_event("consent.revoke")
        async with self._recorder.record(event):
            self._admin.require(request)
            query(request, ())
            await run_in_threadpool(self._revoke, consent_id, event, None)
        return Response(status_code=204)

    def _revoke(self, consent_id: str, event: Event, owner: tuple[str, str] | None) -> None:
        """CNS-REV-001..003; the event names the consent's workload, user and provider."""
        found = self._consents.repository.get(consent_id) if consent_id.isascii() else None
        if found is not None and (owner is None or (found.user_issuer, found.user_key) == owner):
            event.workload = found.workload
            event.user = (found.user_issuer, found.user_subject)
            event.provider = found.provider
            event.scopes = list(found.scopes)
        self._consents.revoke(consent_id, self._trail(event), owner=owner)

    # -- consents: the user's own (CNS-LIST-001, CNS-REV-001) ----------------------------

    def _user(self, request: Request, params: dict[str, str]) -> tuple[str, str, str]:
        """The (issuer, subject, user key) of the user's IdP bearer token, validated by
        the authorizer named in ``?authorizer=``."""
        name = params.get("authorizer")
        if not name or self._authorizers.authorizer(name) is None:
            raise ValidationFailed(
                "authorizer must name an existing authorizer.",
                errors=[{"field": "authorizer", "message": "unknown or missing authorizer"}],
            )
        header = authorization_header(request.headers)
        scheme, _, token = (header or "").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("A bearer token from your identity provider is required.")
        decision = self._authorizers.decide(name, token, self._authorizers.kind_for(name))
        identity = decision.identity
        if decision.reason == "scope_not_allowed":
            # ERR-BEARER-003 (RFC 6750 §3.1): a valid token without a required scope.
            live = self._authorizers.authorizer(name)
            raise InsufficientScope(live.config.allowed_scopes if live is not None else ())
        if not decision.allowed or identity is None:
            raise UserTokenRejected("The user token was not accepted.", reason=decision.reason)
        if self._clock.now() >= identity.exp:
            raise UserTokenRejected("The user token was not accepted.", reason="expired")
        return identity.issuer, identity.subject, identity.user_key

    async def list_my_consents(self, request: Request) -> Response:
        event = Event("consent.list")
        async with self._recorder.record(event):
            params = query(request, {"authorizer"} | _PAGING)
            limit, token = page_args(params)
            issuer, subject, user_key = await run_in_threadpool(self._user, request, params)
            event.user = (issuer, subject)
            filters = ConsentFilter(user_issuer=issuer, user_key=user_key)
            page = await run_in_threadpool(
                lambda: self._consents.list(filters, limit=limit, next_token=token)
            )
            body = {"items": [consent_view(c) for c in page.items], "next_token": page.next_token}
        return JSONResponse(body, headers=_NO_STORE)

    async def revoke_my_consent(self, request: Request) -> Response:
        consent_id = request.path_params["id"]
        event = Event("consent.revoke")
        async with self._recorder.record(event):
            params = query(request, {"authorizer"})
            issuer, subject, user_key = await run_in_threadpool(self._user, request, params)
            event.user = (issuer, subject)
            await run_in_threadpool(self._revoke, consent_id, event, (issuer, user_key))
        return Response(status_code=204)

    # -- data plane (VLT-REQ-001, VLT-APIK-001, VLT-BIND-*) --------------------------------

    async def resource_token(self, request: Request) -> Response:
        event = Event("resource_token.get")
        async with self._recorder.record(event):
            caller = await self._workload(request, event)
            body = parse_model(ResourceTokenBody, await read_json(request))  # step 1
            event.provider, event.scopes = body.provider, list(body.scopes)
            binding = await run_in_threadpool(
                self._tokens.validate, body.workload_access_token, caller.record
            )  # step 2: token_invalid
            if binding.user is not None:
                event.user = (binding.user.issuer, binding.user.subject)
            result = await run_in_threadpool(
                self._vault.resource_token,
                caller.record,
                binding,
                body.workload_access_token,
                body.core(),
                self._trail(event),
            )
            if isinstance(result, TokenResult):
                event.scopes = list(result.scopes)
        assert isinstance(result, TokenResult | Started)
        return JSONResponse(result.response(), headers=_NO_STORE)

    async def api_key(self, request: Request) -> Response:
        event = Event("api_key.get")
        async with self._recorder.record(event):
            caller = await self._workload(request, event)
            body = parse_model(ApiKeyBody, await read_json(request))
            event.provider = body.provider
            binding = await run_in_threadpool(
                self._tokens.validate, body.workload_access_token, caller.record
            )
            if binding.user is not None:
                event.user = (binding.user.issuer, binding.user.subject)
            try:
                key = await run_in_threadpool(self._vault.api_key, caller.record, body.provider)
            except WorkloadNotAllowed:
                event.deny(WorkloadNotAllowed.audit_reason)  # VLT-APIK-001
                await run_in_threadpool(self._append_now, event)
                raise
        return JSONResponse({"api_key": key}, headers=_NO_STORE)

    def _append_now(self, event: Event) -> None:
        self._audit.append(event.fields())
        event.recorded = True

    async def complete_session(self, request: Request) -> Response:
        event = Event("session.complete")
        async with self._recorder.record(event):
            caller = await self._workload(request, event)
            body = parse_model(CompleteBody, await read_json(request))
            if (body.user_token is None) == (body.user_id is None):
                raise ValidationFailed(
                    "Send exactly one of user_token and user_id.",
                    errors=[{"field": "/user_token", "message": "exactly one of the two"}],
                )
            user, _ = await run_in_threadpool(
                lambda: bind_user(
                    caller.record,
                    user_token=body.user_token,
                    user_id=body.user_id,
                    decide=self._authorizers.decide,
                    kind_of=self._authorizers.kind_for,
                    now=self._clock.now(),
                )
            )
            assert user is not None  # one of the two was given
            event.user = (user.issuer, user.subject)
            session = await run_in_threadpool(
                lambda: self._vault.sessions.complete(
                    client_id=caller.client_id,
                    session_uri=body.session_uri,
                    claimed=user,
                    via="user_token" if body.user_token is not None else "user_id",
                    trail=self._trail(event),
                )
            )
            event.provider = session.provider
        return JSONResponse({}, headers=_NO_STORE)

    # -- the callback (VLT-CB-*) -----------------------------------------------------------

    async def callback(self, request: Request) -> Response:
        event = Event("session.callback")
        async with self._recorder.record(event):
            params: dict[str, str] = {}
            repeated = False
            for name, value in request.query_params.multi_items():
                if name in _CALLBACK_PARAMS:
                    repeated |= name in params
                    params[name] = value
            if repeated:  # RFC 6749 §3.1: parameters MUST NOT be repeated
                event.deny("state_unknown")
                return callback_page("state_unknown")
            info: dict[str, Any] = {}
            result = await run_in_threadpool(
                self._vault.sessions.callback, params, self._trail(event), info
            )
            event.workload = info.get("workload")
            event.user = info.get("user")
            event.provider = info.get("provider")
            event.scopes = list(info.get("scopes", []))
            if result.cause != "ok":
                event.deny(result.cause)
        if result.status == 303 and result.location is not None:
            return RedirectResponse(result.location, status_code=303, headers=_CALLBACK_HEADERS)
        return callback_page(result.cause)


# -- assembly ------------------------------------------------------------------------------


@dataclass
class VaultComponents:
    """The vault's core objects and routes, built by :func:`build_vault`."""

    vault: Vault
    providers: ProviderRegistry
    sessions: Sessions
    consents: Consents
    oauth: OAuthClient
    routes: VaultRoutes


def build_vault(
    *,
    database: Database,
    clock: Clock,
    envelope: Envelope,
    audit: AuditLog,
    recorder: Recorder,
    admin: AdminGuard,
    authenticator: WorkloadAuthenticator,
    tokens: WorkloadTokens,
    authorizers: AuthorizerRegistry,
    directory: Directory,
    metrics: Metrics,
    http: httpx.Client,
    issuer: str,
    allow_loopback_http: bool,
    session_ttl: int = DEFAULT_TTL,
    signing_key: KeySource | None = None,
) -> VaultComponents:
    """Builds the vault and its routes. The callback URL is ``{issuer}/oauth2/callback``
    (one fixed string per deployment, registered at every provider; VLT-SESS-003)."""
    sealer = Sealer(envelope)
    oauth = OAuthClient(
        http, clock, allow_loopback_http=allow_loopback_http, signing_key=signing_key
    )
    providers = ProviderRegistry(
        database, ProviderRepository(database, clock), sealer, oauth, clock, directory
    )
    entries = EntryRepository(database, clock)
    session_repository = SessionRepository(database)
    revoker = UpstreamRevoker(database, providers, oauth)
    consents = Consents(
        database,
        ConsentRepository(database),
        entries,
        session_repository,
        sealer,
        revoker,
        clock,
        metrics,
    )
    sessions = Sessions(
        database,
        session_repository,
        entries,
        consents,
        providers,
        oauth,
        sealer,
        revoker,
        clock,
        callback_url=issuer.rstrip("/") + "/oauth2/callback",
        ttl=session_ttl,
    )
    vault = Vault(
        database=database,
        clock=clock,
        sealer=sealer,
        providers=providers,
        oauth=oauth,
        entries=entries,
        cache=TokenCacheRepository(database),
        bound_tokens=BoundUserTokenRepository(database),
        sessions=sessions,
        consents=consents,
        revoker=revoker,
    )
    routes = VaultRoutes(
        vault=vault,
        admin=admin,
        recorder=recorder,
        audit=audit,
        authenticator=authenticator,
        tokens=tokens,
        authorizers=authorizers,
        clock=clock,
    )
    return VaultComponents(vault, providers, sessions, consents, oauth, routes)
