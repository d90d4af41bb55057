"""Mounting the AgentCore Identity operations on their exact paths (one port, both planes).

Every identity operation is ``POST /identities/<path>``; no data-plane path collides with a
control-plane path, so both planes share the service's port. The tagging operations are
``POST|GET|DELETE /tags/{resourceArn}``. Each request goes through the same steps:

1. the raw body is read (at most 256 KiB) and the SigV4 signature verified
   (:mod:`.sigv4`), giving the principal; a workload principal must name an existing,
   enabled workload;
2. control-plane operations require the ``admin`` principal (``AccessDeniedException``);
3. the body is parsed as JSON whatever its ``Content-Type`` (an empty body is ``{}``) and
   validated against the model (:mod:`.validation`);
4. the operation runs on the shared core and appends its audit event (AUD-EVT-001; a
   refused request is recorded as a denial with the native code as its reason);
5. the result or the error is encoded as restJson1 (:mod:`.wire`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import parse_qsl, unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from proctor.reference.agentcore.arns import ArnFactory, ResourceRef
from proctor.reference.agentcore.control import (
    Call,
    CredentialProviders,
    WorkloadIdentities,
    check_tags,
)
from proctor.reference.agentcore.data import Caller, VaultOperations, WorkloadTokenOperations
from proctor.reference.agentcore.model import INPUTS, SHAPES
from proctor.reference.agentcore.sigv4 import (
    Principal,
    SignedRequest,
    Verifier,
    parse_credentials,
)
from proctor.reference.agentcore.validation import check, field_error
from proctor.reference.agentcore.wire import (
    AccessDeniedException,
    ResourceNotFoundException,
    ValidationException,
    error_response,
    from_native,
    json_response,
)
from proctor.reference.errors import PayloadTooLarge, ProctorError
from proctor.reference.http.audited import Event
from proctor.reference.http.bodies import MAX_BODY_BYTES
from proctor.reference.json_limits import depth_exceeds, text_may_exceed
from proctor.reference.logs import request_id_var
from proctor.reference.storage.workload_tokens import WorkloadTokenRepository
from proctor.reference.storage.workloads import WorkloadRepository

if TYPE_CHECKING:
    from proctor.reference.service import Service

__all__ = ["AgentCoreApi", "Operation", "agentcore_routes"]

log = logging.getLogger("proctor.agentcore")

Plane = Literal["control", "data"]
Handler = Callable[[Call, Caller], Awaitable[dict[str, Any] | None]]

_VAULT_ATTRIBUTE: Final = "vault_components"


@dataclass(frozen=True)
class Operation:
    """One operation: its model name, HTTP binding, plane, audit name and handler."""

    name: str
    method: str
    path: str
    plane: Plane
    audit: str
    status: int
    handler: Handler


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body exceeds {MAX_BODY_BYTES} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise PayloadTooLarge(f"The request body exceeds {MAX_BODY_BYTES} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(raw: bytes) -> Any:
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # incl. UnicodeDecodeError, huge integers
        raise ValidationException(
            "Could not parse the request body as JSON.", reason="CannotParse"
        ) from None
    if text_may_exceed(raw) and depth_exceeds(value):
        raise ValidationException(
            "The request body nests deeper than 32 levels.", reason="CannotParse"
        )
    return value


def _signed(request: Request, raw: bytes) -> SignedRequest:
    scope = request.scope
    raw_path = scope.get("raw_path")
    path = (
        raw_path.decode("latin-1") if isinstance(raw_path, bytes | bytearray) else request.url.path
    )
    query = scope.get("query_string", b"")
    headers = [
        (name.decode("latin-1").lower(), value.decode("latin-1"))
        for name, value in scope.get("headers", [])
    ]
    return SignedRequest(
        method=request.method,
        raw_path=path.split("?", 1)[0],
        raw_query=query.decode("latin-1") if isinstance(query, bytes) else str(query),
        headers=headers,
        body=raw,
    )


class AgentCoreApi:
    """The AgentCore-compatible API of one :class:`~proctor.reference.service.Service`."""

    def __init__(self, service: Service, *, verifier: Verifier | None = None) -> None:
        settings = service.settings
        self._service = service
        self.arns = ArnFactory(settings.agentcore_region, settings.agentcore_account_id)
        self.verifier = verifier or Verifier(
            parse_credentials(settings.agentcore_credentials or ""),
            dev_mode=settings.agentcore_dev_mode,
        )
        if self.verifier.dev_mode:
            log.warning(
                "AgentCore development mode: any signature is accepted as the admin "
                "principal; never expose this service to a network"
            )
        self._workloads = WorkloadRepository(service.database, service.clock)
        self.identities = WorkloadIdentities(
            directory=service.directory,
            workloads=self._workloads,
            recorder=service.recorder,
            arns=self.arns,
            started_at=int(service.clock.now()),
            database=service.database,
        )
        self.providers = CredentialProviders(
            components=self.vault_components,
            recorder=service.recorder,
            audit=service.audit,
            arns=self.arns,
            callback_url=service.issuer.rstrip("/") + "/oauth2/callback",
        )
        self.vault = VaultOperations(
            components=self.vault_components,
            directory=service.directory,
            tokens=service.workload_tokens,
            token_records=WorkloadTokenRepository(service.database, service.clock),
            authorizers=service.authorizers,
            recorder=service.recorder,
            audit=service.audit,
            clock=service.clock,
            dev_mode=self.verifier.dev_mode,
            register_return_url=self.identities.register_return_url,
        )
        self.tokens = WorkloadTokenOperations(
            directory=service.directory,
            tokens=service.workload_tokens,
            authorizers=service.authorizers,
            recorder=service.recorder,
            clock=service.clock,
            arns=self.arns,
            bind_user_token=self._bind_user_token,
        )
        self.operations = self._operations()

    # -- the vault (wired by the composition root, possibly after this API) ----------------

    def vault_components(self) -> Any | None:
        return getattr(self._service, _VAULT_ATTRIBUTE, None)

    def _bind_user_token(self) -> Callable[[str, str, str, int, Any], None] | None:
        components = self.vault_components()
        if components is None:
            return None
        vault = components.vault

        def bind(wat: str, user_token: str, kind: str, expires_at: int, tx: Any) -> None:
            vault.bind_user_token(wat, user_token, token_kind=kind, expires_at=expires_at, tx=tx)

        return bind

    # -- the operation table -------------------------------------------------------------

    def _operations(self) -> list[Operation]:
        ids = self.identities
        tok = self.tokens
        prv = self.providers
        vlt = self.vault

        def cp(handler: Callable[[Call], Awaitable[dict[str, Any] | None]]) -> Handler:
            async def run(call: Call, caller: Caller) -> dict[str, Any] | None:
                return await handler(call)

            return run

        table: list[tuple[str, str, Plane, str, int, Handler]] = [
            # data plane
            ("GetWorkloadAccessToken", "GetWorkloadAccessToken", "data",
             "workload_access_token.issue", 200, tok.get_workload_access_token),
            ("GetWorkloadAccessTokenForJWT", "GetWorkloadAccessTokenForJWT", "data",
             "workload_access_token.issue", 200, tok.for_jwt),
            ("GetWorkloadAccessTokenForUserId", "GetWorkloadAccessTokenForUserId", "data",
             "workload_access_token.issue", 200, tok.for_user_id),
            ("GetResourceOauth2Token", "oauth2/token", "data", "resource_token.get", 200,
             vlt.resource_oauth2_token),
            ("GetResourceApiKey", "api-key", "data", "api_key.get", 200, vlt.resource_api_key),
            ("CompleteResourceTokenAuth", "CompleteResourceTokenAuth", "data",
             "session.complete", 200, vlt.complete_resource_token_auth),
            # control plane: workload identities
            ("CreateWorkloadIdentity", "CreateWorkloadIdentity", "control",
             "workload.create", 201, cp(ids.create)),
            ("GetWorkloadIdentity", "GetWorkloadIdentity", "control",
             "workload.get", 200, cp(ids.get)),
            ("UpdateWorkloadIdentity", "UpdateWorkloadIdentity", "control",
             "workload.replace", 200, cp(ids.update)),
            ("DeleteWorkloadIdentity", "DeleteWorkloadIdentity", "control",
             "workload.delete", 204, cp(ids.delete)),
            ("ListWorkloadIdentities", "ListWorkloadIdentities", "control",
             "workload.list", 200, cp(ids.list_identities)),
            # control plane: credential providers
            ("CreateOauth2CredentialProvider", "CreateOauth2CredentialProvider", "control",
             "oauth2_provider.create", 201, cp(prv.create_oauth2)),
            ("GetOauth2CredentialProvider", "GetOauth2CredentialProvider", "control",
             "oauth2_provider.get", 200, cp(prv.get_oauth2)),
            ("UpdateOauth2CredentialProvider", "UpdateOauth2CredentialProvider", "control",
             "oauth2_provider.replace", 200, cp(prv.update_oauth2)),
            ("DeleteOauth2CredentialProvider", "DeleteOauth2CredentialProvider", "control",
             "oauth2_provider.delete", 204, cp(prv.delete_oauth2)),
            ("ListOauth2CredentialProviders", "ListOauth2CredentialProviders", "control",
             "oauth2_provider.list", 200, cp(prv.list_oauth2)),
            ("CreateApiKeyCredentialProvider", "CreateApiKeyCredentialProvider", "control",
             "api_key_provider.create", 201, cp(prv.create_api_key)),
            ("GetApiKeyCredentialProvider", "GetApiKeyCredentialProvider", "control",
             "api_key_provider.get", 200, cp(prv.get_api_key)),
            ("UpdateApiKeyCredentialProvider", "UpdateApiKeyCredentialProvider", "control",
             "api_key_provider.replace", 200, cp(prv.update_api_key)),
            ("DeleteApiKeyCredentialProvider", "DeleteApiKeyCredentialProvider", "control",
             "api_key_provider.delete", 204, cp(prv.delete_api_key)),
            ("ListApiKeyCredentialProviders", "ListApiKeyCredentialProviders", "control",
             "api_key_provider.list", 200, cp(prv.list_api_key)),
            # control plane: the token vault
            ("GetTokenVault", "get-token-vault", "control", "vault.rekey", 200,
             cp(ids.get_token_vault)),
            ("SetTokenVaultCMK", "set-token-vault-cmk", "control", "vault.rekey", 200,
             cp(ids.set_token_vault_cmk)),
            ("ResetTokenVaultKeyMaterial", "reset-token-vault-key-material", "control",
             "vault.rekey", 200, cp(ids.reset_token_vault_key_material)),
        ]  # fmt: skip
        operations = [
            Operation(name, "POST", "/identities/" + path, plane, audit, status, handler)
            for name, path, plane, audit, status, handler in table
        ]
        operations += [
            Operation("TagResource", "POST", "/tags/{arn:path}", "control", "", 204,
                      self._tag),
            Operation("UntagResource", "DELETE", "/tags/{arn:path}", "control", "", 204,
                      self._untag),
            Operation("ListTagsForResource", "GET", "/tags/{arn:path}", "control", "", 200,
                      self._list_tags),
        ]  # fmt: skip
        return operations

    # -- routes ----------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        by_path: dict[str, dict[str, Operation]] = {}
        for operation in self.operations:
            by_path.setdefault(operation.path, {})[operation.method] = operation
        routes: list[BaseRoute] = []
        for path, methods in by_path.items():

            def endpoint_for(
                table: dict[str, Operation],
            ) -> Callable[[Request], Awaitable[Response]]:
                async def endpoint(request: Request) -> Response:
                    return await self.handle(table[request.method], request)

                return endpoint

            routes.append(Route(path, endpoint_for(methods), methods=list(methods)))
        return routes

    async def handle(self, operation: Operation, request: Request) -> Response:
        event = Event(operation.audit or _tag_audit(operation.name, None))
        try:
            async with self._service.recorder.record(event):
                raw = await _read_body(request)
                principal = self.verifier.verify(_signed(request, raw), self._service.clock.now())
                caller = await run_in_threadpool(self._caller, principal)
                event.actor_chain = [caller.actor]
                if operation.plane == "control" and not caller.is_admin:
                    raise AccessDeniedException(
                        "The caller is not authorized to perform "
                        f"bedrock-agentcore:{operation.name}."
                    )
                body = _parse(raw)
                call = self._call(operation, request, body, event)
                result = await operation.handler(call, caller)
        except ProctorError as exc:
            error = from_native(exc)
            if error.detail:
                log.info(
                    "agentcore request refused",
                    extra={"fields": {"error": error.name, "detail": error.detail}},
                )
            return error_response(error, event.request_id or request_id_var.get() or "")
        return json_response(result, operation.status, event.request_id)

    def _caller(self, principal: Principal) -> Caller:
        if principal.is_admin:
            return Caller(principal)
        record = self._service.directory.find(principal.name)
        if record is None or record.disabled:
            raise AccessDeniedException(
                "The workload identity of these credentials does not exist or is disabled."
            )
        return Caller(principal, record)

    def _call(self, operation: Operation, request: Request, body: Any, event: Event) -> Call:
        check(SHAPES, INPUTS[operation.name], body)
        if not operation.path.startswith("/tags/"):
            return Call(body, event)
        arn = unquote(str(request.path_params.get("arn", "")))
        if not 20 <= len(arn) <= 1011:
            raise field_error("resourceArn", "have length between 20 and 1011")
        keys = [
            v for k, v in parse_qsl(request.url.query, keep_blank_values=True) if k == "tagKeys"
        ]
        if operation.name == "UntagResource":
            if not keys:
                raise field_error("tagKeys", "not be null")
            for key in keys:
                if not 1 <= len(key) <= 128:
                    raise field_error("tagKeys.member", "have length between 1 and 128")
        return Call(body, event, path_arn=arn, tag_keys=keys)

    # -- tagging ---------------------------------------------------------------------------

    def _resource(self, call: Call) -> ResourceRef:
        ref = self.arns.parse(call.path_arn or "")
        if ref is None:
            raise ResourceNotFoundException("No resource has that ARN.")
        call.event.operation = _tag_audit(call.event.operation, ref)
        return ref

    async def _tag(self, call: Call, caller: Caller) -> None:
        ref = self._resource(call)
        tags = dict(call.body["tags"])
        check_tags(tags)
        await self._change_tags(ref, call, tags, [])

    async def _untag(self, call: Call, caller: Caller) -> None:
        ref = self._resource(call)
        await self._change_tags(ref, call, {}, call.tag_keys)

    async def _list_tags(self, call: Call, caller: Caller) -> dict[str, Any]:
        ref = self._resource(call)
        if ref.kind == "workload-identity":
            call.event.workload = ref.name
            return {"tags": await self.identities.workload_tags(ref)}
        call.event.provider = ref.name
        return {"tags": await self.providers.tags(ref)}

    async def _change_tags(
        self, ref: ResourceRef, call: Call, add: dict[str, str], remove: list[str]
    ) -> None:
        if ref.kind == "workload-identity":
            await self.identities.change_workload_tags(ref, call.event, add, remove)
            return
        await self.providers.change_tags(ref, call.event, add, remove)


def _tag_audit(operation: str, ref: ResourceRef | None) -> str:
    """AUD-OPS-001 has no tagging names: a tag change is a change of the tagged resource
    (``*.replace``), a tag listing a read of it (``*.get``)."""
    read = operation in ("ListTagsForResource",) or operation.endswith(".get")
    family = "workload"
    if ref is not None and ref.kind == "oauth2credentialprovider":
        family = "oauth2_provider"
    elif ref is not None and ref.kind == "apikeycredentialprovider":
        family = "api_key_provider"
    return f"{family}.{'get' if read else 'replace'}"


def agentcore_routes(service: Service) -> list[BaseRoute]:
    """The AgentCore API's routes for ``service`` (the composition root's one line)."""
    return AgentCoreApi(service).routes()
