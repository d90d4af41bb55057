"""The AgentCore control plane (``bedrock-agentcore-control``) over the shared directory.

Every operation requires the ``admin`` principal (the router checks it) and runs on the
same objects as the native ``/v1`` control plane; only the wire format differs:

==================================  ======================================  ====================
operation                           native core                             audit operation
==================================  ======================================  ====================
CreateWorkloadIdentity (201)        ``Directory.create``                    ``workload.create``
GetWorkloadIdentity                 ``Directory.get``                       ``workload.get``
UpdateWorkloadIdentity              ``Directory.replace``                   ``workload.replace``
DeleteWorkloadIdentity (204)        ``Directory.delete``                    ``workload.delete``
ListWorkloadIdentities              ``Directory.list``                      ``workload.list``
GetTokenVault                       (the vault's key configuration)         ``vault.rekey``
SetTokenVaultCMK                    refused for customer managed keys       ``vault.rekey``
ResetTokenVaultKeyMaterial          refused (no deleted customer key)       ``vault.rekey``
TagResource / UntagResource         the resource's stored configuration     ``*.replace``
ListTagsForResource                 the resource's stored configuration     ``*.get``
==================================  ======================================  ====================

A workload identity created here is a native workload with ``allow_user_id_tokens: true``
(AgentCore's ``GetWorkloadAccessTokenForUserId`` needs no opt-in; the ids stay in
proctor's ``urn:proctor:user-id`` namespace, WAT-UID-001) and the
``client_secret_basic`` method, whose secret is never shown: AgentCore callers sign with
SigV4 instead (an operator who wants the native data plane rotates a secret in).
AgentCore-only data (tags) is kept in the stored configuration under ``agentcore``; a
native ``PUT`` replaces the configuration and so drops it.

The token vault is encrypted with proctor's own key-encryption key (VLT-ENC-001,
``PROCTOR_KEK``); there is no KMS. ``GetTokenVault`` reports ``ServiceManagedKey``;
``SetTokenVaultCMK`` accepts ``ServiceManagedKey`` (nothing changes) and refuses
``CustomerManagedKey``; ``ResetTokenVaultKeyMaterial`` answers, as AWS does for a vault
whose customer managed key was not deleted, ``ValidationException``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from starlette.concurrency import run_in_threadpool

from proctor.reference.agentcore.arns import ArnFactory, ResourceRef
from proctor.reference.agentcore.validation import field_error
from proctor.reference.agentcore.wire import (
    ResourceNotFoundException,
    ValidationException,
)
from proctor.reference.authorizers import parse_model
from proctor.reference.directory import Directory, WorkloadSpec, is_name
from proctor.reference.http.audited import Event, Recorder
from proctor.reference.storage.database import Transaction
from proctor.reference.storage.workloads import WorkloadRecord, WorkloadRepository

__all__ = [
    "AGENTCORE_KEY",
    "DEFAULT_PAGE",
    "Call",
    "WorkloadIdentities",
    "check_proctor_name",
    "check_tags",
    "page_size",
]

#: Where AgentCore-only data lives in a stored configuration.
AGENTCORE_KEY: Final = "agentcore"
#: The page size when ``maxResults`` is absent.
DEFAULT_PAGE: Final = 10
TOKEN_VAULT_ID: Final = "default"  # noqa: S105 - an id, not a credential
MAX_TAGS: Final = 50
_NAME_RULE: Final = "satisfy proctor's name rule: ^[A-Za-z0-9][A-Za-z0-9_.-]{2,63}$"


class Call:
    """One operation call: the validated body and the request's audit event."""

    def __init__(
        self,
        body: Mapping[str, Any],
        event: Event,
        *,
        path_arn: str | None = None,
        tag_keys: list[str] | None = None,
    ) -> None:
        self.body = body
        self.event = event
        self.path_arn = path_arn
        self.tag_keys = tag_keys or []


def check_proctor_name(name: str, member: str = "name") -> None:
    """TERM-NAME-001 is stricter than the model (3-64 characters, first alphanumeric)."""
    if not is_name(name):
        raise field_error(member, _NAME_RULE)


def check_tags(tags: Mapping[str, str], member: str = "tags") -> None:
    """AWS reserves the ``aws:`` prefix."""
    for key in tags:
        if key.lower().startswith("aws:"):
            raise field_error(f"{member}.key", "not begin with the reserved prefix aws:")


def page_size(body: Mapping[str, Any]) -> int:
    value = body.get("maxResults")
    return value if isinstance(value, int) else DEFAULT_PAGE


def agentcore_data(config: Mapping[str, Any]) -> dict[str, Any]:
    data = config.get(AGENTCORE_KEY)
    return dict(data) if isinstance(data, dict) else {}


def stored_tags(config: Mapping[str, Any]) -> dict[str, str]:
    tags = agentcore_data(config).get("tags")
    return {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {}


class WorkloadIdentities:
    """Workload identities, the token vault's key configuration, and tags."""

    def __init__(
        self,
        *,
        directory: Directory,
        workloads: WorkloadRepository,
        recorder: Recorder,
        arns: ArnFactory,
        started_at: int,
    ) -> None:
        self._directory = directory
        self._workloads = workloads
        self._recorder = recorder
        self._arns = arns
        self._started_at = started_at

    # -- views -----------------------------------------------------------------------------

    def _view(self, record: WorkloadRecord, *, times: bool = True) -> dict[str, Any]:
        view: dict[str, Any] = {
            "name": record.name,
            "workloadIdentityArn": self._arns.workload_identity(record.name),
            "allowedResourceOauth2ReturnUrls": list(record.config.get("allowed_return_urls", [])),
        }
        if times:
            view["createdTime"] = record.created_at
            view["lastUpdatedTime"] = record.updated_at
        return view

    def _with_agentcore(
        self, record: WorkloadRecord, data: Mapping[str, Any], tx: Transaction
    ) -> WorkloadRecord:
        config = {k: v for k, v in record.config.items() if k != AGENTCORE_KEY}
        if data:
            config[AGENTCORE_KEY] = dict(data)
        if config == record.config:
            return record
        return self._workloads.replace(record.name, config, disabled=record.disabled, tx=tx)

    # -- workload identities -----------------------------------------------------------------

    async def create(self, call: Call) -> dict[str, Any]:
        name = str(call.body["name"])
        check_proctor_name(name)
        call.event.workload = name
        tags = dict(call.body.get("tags") or {})
        check_tags(tags)
        spec = _spec(
            name,
            list(call.body.get("allowedResourceOauth2ReturnUrls") or []),
        )

        def work(tx: Transaction) -> WorkloadRecord:
            record, _secret = self._directory.create(spec, tx=tx)  # the secret is not shown
            return self._with_agentcore(record, {"tags": tags} if tags else {}, tx)

        record = await run_in_threadpool(self._recorder.commit, call.event, work)
        return self._view(record, times=False)

    async def get(self, call: Call) -> dict[str, Any]:
        name = str(call.body["name"])
        call.event.workload = name if is_name(name) else None
        record = await run_in_threadpool(self._directory.get, name)
        return self._view(record)

    async def update(self, call: Call) -> dict[str, Any]:
        name = str(call.body["name"])
        call.event.workload = name if is_name(name) else None
        urls = call.body.get("allowedResourceOauth2ReturnUrls")

        def work(tx: Transaction) -> WorkloadRecord:
            current = self._directory.get(name, tx=tx)
            if urls is None:  # nothing to change but the update time
                return self._directory.replace(name, _spec_of(current), tx=tx)
            spec = _spec_of(current, allowed_return_urls=list(urls))
            record = self._directory.replace(name, spec, tx=tx)
            return self._with_agentcore(record, agentcore_data(current.config), tx)

        record = await run_in_threadpool(self._recorder.commit, call.event, work)
        return self._view(record)

    async def delete(self, call: Call) -> None:
        name = str(call.body["name"])
        call.event.workload = name if is_name(name) else None
        await run_in_threadpool(
            self._recorder.commit, call.event, lambda tx: self._directory.delete(name, tx=tx)
        )

    async def list_identities(self, call: Call) -> dict[str, Any]:
        token = call.body.get("nextToken")
        page = await run_in_threadpool(
            lambda: self._directory.list(
                limit=page_size(call.body), next_token=None if token is None else str(token)
            )
        )
        return {
            "workloadIdentities": [
                {"name": r.name, "workloadIdentityArn": self._arns.workload_identity(r.name)}
                for r in page.items
            ],
            "nextToken": page.next_token,
        }

    # -- the token vault's key configuration -----------------------------------------------

    def _vault_view(self) -> dict[str, Any]:
        return {
            "tokenVaultId": TOKEN_VAULT_ID,
            "kmsConfiguration": {"keyType": "ServiceManagedKey"},
            "lastModifiedDate": self._started_at,
        }

    def _vault_id(self, body: Mapping[str, Any]) -> None:
        vault_id = body.get("tokenVaultId", TOKEN_VAULT_ID)
        if vault_id != TOKEN_VAULT_ID:
            raise ResourceNotFoundException(
                f"No token vault has that id; proctor has one, '{TOKEN_VAULT_ID}'."
            )

    async def get_token_vault(self, call: Call) -> dict[str, Any]:
        self._vault_id(call.body)
        return self._vault_view()

    async def set_token_vault_cmk(self, call: Call) -> dict[str, Any]:
        self._vault_id(call.body)
        kms = call.body["kmsConfiguration"]
        if kms.get("keyType") != "ServiceManagedKey":
            raise field_error(
                "kmsConfiguration.keyType",
                "be ServiceManagedKey: proctor encrypts the token vault with its own "
                "key-encryption key and has no KMS",
            )
        if kms.get("kmsKeyArn") is not None:
            raise field_error(
                "kmsConfiguration.kmsKeyArn", "be absent with keyType ServiceManagedKey"
            )
        return self._vault_view()

    async def reset_token_vault_key_material(self, call: Call) -> dict[str, Any]:
        self._vault_id(call.body)
        raise ValidationException(
            "The token vault does not use a customer managed key that was deleted; there is "
            "no key material to reset.",
            field_list=[
                {"name": "tokenVaultId", "message": "uses the service's own key"},
            ],
        )

    # -- tags of workload identities ------------------------------------------------------

    async def workload_tags(self, ref: ResourceRef) -> dict[str, str]:
        record = await run_in_threadpool(self._directory.find, ref.name)
        if record is None:
            raise ResourceNotFoundException("No resource has that ARN.")
        return stored_tags(record.config)

    async def change_workload_tags(
        self, ref: ResourceRef, event: Event, add: Mapping[str, str], remove: list[str]
    ) -> None:
        event.workload = ref.name

        def work(tx: Transaction) -> None:
            record = self._directory.find(ref.name, tx=tx)
            if record is None:
                raise ResourceNotFoundException("No resource has that ARN.")
            data = agentcore_data(record.config)
            tags = merge_tags(stored_tags(record.config), add, remove)
            if tags:
                data["tags"] = tags
            else:
                data.pop("tags", None)
            self._with_agentcore(record, data, tx)

        await run_in_threadpool(self._recorder.commit, event, work)


def merge_tags(
    current: Mapping[str, str], add: Mapping[str, str], remove: list[str]
) -> dict[str, str]:
    tags = {k: v for k, v in current.items() if k not in set(remove)}
    tags.update(add)
    if len(tags) > MAX_TAGS:
        raise field_error("tags", f"hold at most {MAX_TAGS} tags per resource")
    return tags


def _spec(name: str, urls: list[str]) -> WorkloadSpec:
    return parse_model(
        WorkloadSpec, {"name": name, "allowed_return_urls": urls, "allow_user_id_tokens": True}
    )


def _spec_of(record: WorkloadRecord, **changes: Any) -> WorkloadSpec:
    """The native specification of a stored workload, with ``changes``."""
    config = record.config
    values: dict[str, Any] = {
        "name": record.name,
        "authorizer": config.get("authorizer"),
        "allowed_return_urls": list(config.get("allowed_return_urls", [])),
        "allow_user_id_tokens": bool(config.get("allow_user_id_tokens", False)),
        "jwks": config.get("jwks"),
        "token_endpoint_auth_method": config.get(
            "token_endpoint_auth_method", "client_secret_basic"
        ),
        "disabled": record.disabled,
    }
    values.update(changes)
    return parse_model(WorkloadSpec, values)
