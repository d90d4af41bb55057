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

from collections.abc import Callable, Mapping
from typing import Any, Final

from starlette.concurrency import run_in_threadpool

from proctor.reference.agentcore import credential_providers as cp_providers
from proctor.reference.agentcore.arns import ArnFactory, ResourceRef
from proctor.reference.agentcore.validation import field_error
from proctor.reference.agentcore.wire import (
    InternalServerException,
    ResourceNotFoundException,
    ValidationException,
)
from proctor.reference.audit import AuditLog
from proctor.reference.audit_trail import Trail
from proctor.reference.authorizers import parse_model
from proctor.reference.directory import Directory, WorkloadSpec, is_name
from proctor.reference.http.audited import Event, Recorder
from proctor.reference.storage.database import Database, Transaction
from proctor.reference.storage.providers import KEEP, ProviderKind, ProviderRecord
from proctor.reference.storage.workloads import WorkloadRecord, WorkloadRepository

__all__ = [
    "AGENTCORE_KEY",
    "DEFAULT_PAGE",
    "Call",
    "CredentialProviders",
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
        database: Database,
    ) -> None:
        self._database = database
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

    def register_return_url(self, record: WorkloadRecord, url: str) -> WorkloadRecord:
        """Development mode: adds ``url`` to the workload's return URLs (the native rules
        apply; the AgentCore data is kept)."""
        urls = [*record.config.get("allowed_return_urls", []), url]
        with self._database.transaction() as tx:
            updated = self._directory.replace(
                record.name, _spec_of(record, allowed_return_urls=urls), tx=tx
            )
            return self._with_agentcore(updated, agentcore_data(record.config), tx)

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


# -- credential providers ------------------------------------------------------------------


class CredentialProviders:
    """OAuth 2.0 and API-key credential providers over the vault's registry (see
    :mod:`.credential_providers` for the mapping). ``components()`` is the service's
    :class:`~proctor.reference.http.vault.VaultComponents`."""

    def __init__(
        self,
        *,
        components: Callable[[], Any],
        recorder: Recorder,
        audit: AuditLog,
        arns: ArnFactory,
        callback_url: str,
    ) -> None:
        self._components = components
        self._recorder = recorder
        self._audit = audit
        self._arns = arns
        self._callback_url = callback_url

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

    def _with_agentcore(
        self, kind: ProviderKind, record: ProviderRecord, data: Mapping[str, Any], tx: Transaction
    ) -> ProviderRecord:
        registry = self._vault.providers
        config = {k: v for k, v in record.config.items() if k != AGENTCORE_KEY}
        config[AGENTCORE_KEY] = dict(data)
        return registry.repository.replace(kind, record.name, config, KEEP, tx=tx)  # type: ignore[no-any-return]

    # -- OAuth 2.0 ---------------------------------------------------------------------------

    def _oauth2_view(self, record: ProviderRecord) -> dict[str, Any]:
        return cp_providers.oauth2_view(record, self._arns, self._callback_url)

    async def create_oauth2(self, call: Call) -> dict[str, Any]:
        body = call.body
        name = str(body["name"])
        check_proctor_name(name)
        call.event.provider = name
        tags = dict(body.get("tags") or {})
        check_tags(tags)
        scopes = cp_providers.special_tags(tags, cp_providers.SCOPES_TAG) or []
        call.event.scopes = scopes
        vendor = str(body["credentialProviderVendor"])
        native, member = cp_providers.native_oauth2_body(
            name, vendor, body["oauth2ProviderConfigInput"], scopes
        )
        registry = self._vault.providers
        spec = registry.parse_oauth2(native)
        extras = {"vendor": vendor, "member": member, "tags": tags}

        def work(tx: Transaction) -> ProviderRecord:
            record = registry.create_oauth2(spec, tx=tx)
            return self._with_agentcore("oauth2", record, extras, tx)

        record = await run_in_threadpool(self._recorder.commit, call.event, work)
        view = self._oauth2_view(record)
        for key in ("credentialProviderVendor", "createdTime", "lastUpdatedTime"):
            view.pop(key)
        return view

    async def get_oauth2(self, call: Call) -> dict[str, Any]:
        name = str(call.body["name"])
        call.event.provider = name
        record = await run_in_threadpool(self._vault.providers.get_oauth2, name)
        return self._oauth2_view(record)

    async def update_oauth2(self, call: Call) -> dict[str, Any]:
        body = call.body
        name = str(body["name"])
        call.event.provider = name
        registry = self._vault.providers
        current = await run_in_threadpool(registry.get_oauth2, name)
        extras = dict(current.config.get(AGENTCORE_KEY) or {})
        tags = dict(extras.get("tags") or {})
        scopes = cp_providers.special_tags(tags, cp_providers.SCOPES_TAG)
        if scopes is None:
            scopes = list(current.config.get("scopes", []))
        vendor = str(body["credentialProviderVendor"])
        native, member = cp_providers.native_oauth2_body(
            name, vendor, body["oauth2ProviderConfigInput"], scopes
        )
        spec = registry.parse_oauth2_replace(native)
        extras.update({"vendor": vendor, "member": member})

        def work(tx: Transaction) -> ProviderRecord:
            record = registry.replace_oauth2(name, spec, tx=tx)
            return self._with_agentcore("oauth2", record, extras, tx)

        record = await run_in_threadpool(self._recorder.commit, call.event, work)
        return self._oauth2_view(record)

    async def delete_oauth2(self, call: Call) -> None:
        name = str(call.body["name"])
        call.event.provider = name
        vault = self._vault.vault
        await run_in_threadpool(vault.delete_oauth2_provider, name, self._trail(call.event))

    async def list_oauth2(self, call: Call) -> dict[str, Any]:
        token = call.body.get("nextToken")
        registry = self._vault.providers
        page = await run_in_threadpool(
            lambda: registry.list_oauth2(
                limit=page_size(call.body), next_token=None if token is None else str(token)
            )
        )
        return {
            "credentialProviders": [cp_providers.oauth2_summary(r, self._arns) for r in page.items],
            "nextToken": page.next_token,
        }

    # -- API keys ------------------------------------------------------------------------

    async def create_api_key(self, call: Call) -> dict[str, Any]:
        body = call.body
        name = str(body["name"])
        check_proctor_name(name)
        call.event.provider = name
        tags = dict(body.get("tags") or {})
        check_tags(tags)
        allowed = cp_providers.special_tags(tags, cp_providers.ALLOWED_WORKLOADS_TAG) or []
        registry = self._vault.providers
        spec = registry.parse_api_key(cp_providers.api_key_body(name, body, allowed, update=False))

        def work(tx: Transaction) -> ProviderRecord:
            record = registry.create_api_key(spec, tx=tx)
            return self._with_agentcore("api_key", record, {"tags": tags}, tx)

        record = await run_in_threadpool(self._recorder.commit, call.event, work)
        return cp_providers.api_key_view(record, self._arns, times=False)

    async def get_api_key(self, call: Call) -> dict[str, Any]:
        name = str(call.body["name"])
        call.event.provider = name
        record = await run_in_threadpool(self._vault.providers.get_api_key, name)
        return cp_providers.api_key_view(record, self._arns)

    async def update_api_key(self, call: Call) -> dict[str, Any]:
        body = call.body
        name = str(body["name"])
        call.event.provider = name
        registry = self._vault.providers
        current = await run_in_threadpool(registry.get_api_key, name)
        extras = dict(current.config.get(AGENTCORE_KEY) or {})
        allowed = list(current.config.get("allowed_workloads", []))
        spec = registry.parse_api_key(
            cp_providers.api_key_body(name, body, allowed, update=True), replace=True
        )

        def work(tx: Transaction) -> ProviderRecord:
            record = registry.replace_api_key(name, spec, tx=tx)
            return self._with_agentcore("api_key", record, extras, tx)

        record = await run_in_threadpool(self._recorder.commit, call.event, work)
        return cp_providers.api_key_view(record, self._arns)

    async def delete_api_key(self, call: Call) -> None:
        name = str(call.body["name"])
        call.event.provider = name
        registry = self._vault.providers
        await run_in_threadpool(
            self._recorder.commit, call.event, lambda tx: registry.delete_api_key(name, tx=tx)
        )

    async def list_api_key(self, call: Call) -> dict[str, Any]:
        token = call.body.get("nextToken")
        registry = self._vault.providers
        page = await run_in_threadpool(
            lambda: registry.list_api_key(
                limit=page_size(call.body), next_token=None if token is None else str(token)
            )
        )
        return {
            "credentialProviders": [
                {
                    "name": r.name,
                    "credentialProviderArn": self._arns.api_key_provider(r.name),
                    "createdTime": r.created_at,
                    "lastUpdatedTime": r.updated_at,
                }
                for r in page.items
            ],
            "nextToken": page.next_token,
        }

    # -- tags ----------------------------------------------------------------------------

    async def tags(self, ref: ResourceRef) -> dict[str, str]:
        kind: ProviderKind = "oauth2" if ref.kind == "oauth2credentialprovider" else "api_key"
        registry = self._vault.providers
        record = await run_in_threadpool(registry.repository.get, kind, ref.name)
        if record is None:
            raise ResourceNotFoundException("No resource has that ARN.")
        return stored_tags(record.config)

    async def change_tags(
        self, ref: ResourceRef, event: Event, add: Mapping[str, str], remove: list[str]
    ) -> None:
        """Tags, and the effect of the two ``proctor:`` tags on the native configuration."""
        kind: ProviderKind = "oauth2" if ref.kind == "oauth2credentialprovider" else "api_key"
        event.provider = ref.name
        registry = self._vault.providers

        def work(tx: Transaction) -> None:
            record = registry.repository.get(kind, ref.name, tx=tx)
            if record is None:
                raise ResourceNotFoundException("No resource has that ARN.")
            data = agentcore_data(record.config)
            tags = merge_tags(stored_tags(record.config), add, remove)
            data["tags"] = tags
            config = {k: v for k, v in record.config.items() if k != AGENTCORE_KEY}
            if kind == "oauth2":
                scopes = cp_providers.special_tags(tags, cp_providers.SCOPES_TAG)
                if scopes is not None or cp_providers.SCOPES_TAG in remove:
                    config["scopes"] = list(dict.fromkeys(scopes or []))
            else:
                allowed = cp_providers.special_tags(tags, cp_providers.ALLOWED_WORKLOADS_TAG)
                if allowed is not None or cp_providers.ALLOWED_WORKLOADS_TAG in remove:
                    config["allowed_workloads"] = list(dict.fromkeys(allowed or []))
                    for workload in config["allowed_workloads"]:
                        if not is_name(workload) or self._directory_find(workload, tx) is None:
                            raise field_error(
                                "tags",
                                f"name existing workloads in {cp_providers.ALLOWED_WORKLOADS_TAG}",
                            )
            config[AGENTCORE_KEY] = data
            registry.repository.replace(kind, ref.name, config, KEEP, tx=tx)
            registry.forget_metadata(ref.name)

        await run_in_threadpool(self._recorder.commit, event, work)

    def _directory_find(self, name: str, tx: Transaction) -> Any:
        return tx.fetchone("SELECT name FROM workloads WHERE name = ?", (name,))
