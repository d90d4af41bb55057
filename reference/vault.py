"""The token vault: resource tokens for workloads, per (workload, user, provider)
(spec ``05-credential-providers-and-vault.md``).

:meth:`Vault.resource_token` answers ``POST /v1/resource-tokens/oauth2`` after the HTTP
layer has authenticated the workload and validated its workload access token (WAT):

1. the request is checked in the order of VLT-REQ-001 (provider, flow, scopes
   VLT-REQ-002, resources and audiences VLT-RES-001, custom parameters VLT-REQ-003, return
   URL VLT-SESS-002) before any provider is contacted or anything is stored;
2. ``user_federation`` (3-legged): with ``session_uri`` the session is polled
   (VLT-SESS-004); otherwise a stored token is reused while it is usable and covers the
   request under a live consent (VLT-3LO-001, CNS-REC-003), else refreshed (VLT-REF-001),
   else a session starts (VLT-3LO-002, VLT-SESS-001); ``force_authentication`` skips
   reuse and refresh;
3. ``m2m`` (2-legged): client credentials, cached per (workload, provider, scopes,
   resources, audiences) until the early-expiry margin (VLT-M2M-001/002, VLT-CLI-003);
4. ``on_behalf_of``: RFC 8693 token exchange or RFC 7523 JWT bearer with the user JWT the
   WAT was issued for, refused for a WAT that binds only a user id (VLT-OBO-001..003).

**Isolation** (VLT-PART-001/002): an entry is read and written only under
(WAT's workload ``client_id``, WAT's user issuer and user key, requested provider); a
foreign session is answered exactly like an unknown one.

**One refresh per entry** (VLT-REF-002): requests of one process that need the same
refresh join one in-memory flight and share its outcome; across processes the flight's
leader takes a lease on the entry in storage with a compare-and-swap on its version
(:meth:`~proctor.reference.storage.vault.EntryRepository.acquire_lease`), so exactly one
refresh request reaches the provider; the others wait (at most 30 seconds) and read the
result. A rejected refresh (``invalid_grant``) deletes the tokens and falls through to a
new authorization (VLT-REF-003); any other failure leaves the entry as it was (502).

**Encryption at rest** (VLT-ENC-001..003): everything secret is sealed with the row's
identity as associated data; :meth:`Vault.rotate_key` re-wraps every sealed row under the
key provider's current KEK while the service runs, so older KEKs can then be dropped.

API keys (VLT-APIK-001) are handed out by :meth:`Vault.api_key` to allowed workloads only;
an unknown provider and a disallowed workload get the same 404.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from proctor.reference.audit_trail import Trail, UserRef
from proctor.reference.clock import Clock
from proctor.reference.consent import (
    ConsentOptions,
    Consents,
    UpstreamRevoker,
    check_consent_options,
    discarded_entry,
    discarded_sessions,
    entry_tokens,
)
from proctor.reference.encryption import Sealed
from proctor.reference.errors import (
    ApiError,
    Forbidden,
    NotFound,
    ReturnUrlNotAllowed,
    ScopeNotAllowed,
    UpstreamError,
    UserTokenRejected,
    ValidationFailed,
)
from proctor.reference.jcs import canonicalize
from proctor.reference.oauth_client import OAuthClient, ProviderRejected, TokenSet, margin
from proctor.reference.providers import (
    RESERVED_PARAMETERS,
    OAuth2Provider,
    ProviderRegistry,
)
from proctor.reference.sealing import DecryptionError, Sealer
from proctor.reference.sessions import Sessions, SessionStart, Started
from proctor.reference.storage.database import Database, Row, Transaction
from proctor.reference.storage.sessions import PENDING
from proctor.reference.storage.vault import (
    BoundUserToken,
    BoundUserTokenRepository,
    CachedToken,
    EntryKey,
    EntryRecord,
    EntryRepository,
    EntryWrite,
    TokenCacheRepository,
)
from proctor.reference.storage.workloads import WorkloadRecord
from proctor.reference.workload_tokens import Binding, UserBinding, token_hash

__all__ = [
    "Flow",
    "RekeyReport",
    "ResourceTokenRequest",
    "TokenResult",
    "Vault",
    "WorkloadNotAllowed",
    "key_ids_in_use",
    "rotate_key",
]

log = logging.getLogger("proctor.vault")

Flow = Literal["user_federation", "m2m", "on_behalf_of"]

#: VLT-REF-002: waiting for another request's refresh lasts at most 30 seconds.
REFRESH_WAIT: Final = 30.0
#: The storage lease outlives the 30-second back-channel timeout (VLT-CLI-001).
LEASE_SECONDS: Final = 60
#: VLT-M2M-002: a token without ``expires_in`` is cached at most 300 seconds.
UNTIMED_CACHE: Final = 300
_PARAMETER_NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,256}")
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
_MAX_ITEMS: Final = 20
_MAX_VALUE: Final = 2048
_MAX_CUSTOM: Final = 50


class WorkloadNotAllowed(NotFound):
    """VLT-APIK-001: answered exactly like an unknown provider; audited as
    ``workload_not_allowed``."""

    audit_reason: Final = "workload_not_allowed"

    def __init__(self) -> None:
        super().__init__("No provider has that name.", code="provider_not_found")


@dataclass(frozen=True)
class ResourceTokenRequest:
    """``POST /v1/resource-tokens/oauth2`` after its JSON shape was checked."""

    provider: str
    flow: Flow
    scopes: tuple[str, ...] = ()
    session_uri: str | None = None
    return_url: str | None = None
    force_authentication: bool = False
    custom_parameters: Mapping[str, str] = field(default_factory=dict)
    custom_state: str | None = None
    resources: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()
    task: str | None = None
    consent_ttl: int | None = None


@dataclass(frozen=True)
class TokenResult:
    """VLT-LEAK-002: a resource token response has exactly these members."""

    access_token: str = field(repr=False)
    expires_at: int | None
    scopes: tuple[str, ...]

    def response(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "expires_at": self.expires_at,
            "scopes": list(self.scopes),
        }


@dataclass(frozen=True)
class RekeyReport:
    """What :meth:`Vault.rotate_key` re-wrapped, per table, and what it could not open."""

    rewrapped: dict[str, int]
    failed: int
    key_ids: frozenset[str]


@dataclass
class _Context:
    """One resource-token request, checked."""

    caller: WorkloadRecord
    binding: Binding
    wat: str
    request: ResourceTokenRequest
    provider: OAuth2Provider
    scopes: tuple[str, ...]
    trail: Trail

    @property
    def user(self) -> UserBinding:
        assert self.binding.user is not None  # checked for the flows that need one
        return self.binding.user

    @property
    def user_ref(self) -> UserRef | None:
        user = self.binding.user
        return None if user is None else UserRef(user.issuer, user.subject)

    @property
    def key(self) -> EntryKey:
        return EntryKey(
            self.binding.client_id, self.user.issuer, self.user.user_key, self.provider.name
        )


# -- one flight per key (in process) -------------------------------------------------------


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class _Flights:
    """Joins concurrent callers of the same key to one leader (VLT-REF-002, VLT-M2M-002)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flights: dict[Any, _Flight] = {}

    def run(self, key: Any, work: Callable[[], Any], wait: float) -> Any:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            if not flight.done.wait(wait):
                raise UpstreamError("The provider did not answer in time.", detail="flight wait")
            if flight.error is not None:
                raise _copy_error(flight.error)
            return flight.value
        try:
            flight.value = work()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()
        return flight.value


def _copy_error(error: BaseException) -> BaseException:
    """The leader's error for a follower (a fresh instance with the same answer)."""
    if isinstance(error, ProviderRejected):
        return ProviderRejected(error.error)
    if isinstance(error, UpstreamError):
        return UpstreamError(error.description)
    if isinstance(error, ApiError):
        return error
    return UpstreamError("The provider request failed.")


# -- request checks (VLT-REQ-001..003, VLT-RES-001, VLT-SESS-002) ----------------------------


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field_name.strip('/')}: {message}.", errors=[{"field": field_name, "message": message}]
    )


def check_resources(resources: Sequence[str], audiences: Sequence[str]) -> None:
    """VLT-RES-001: resources are absolute URIs without a fragment (RFC 8707 §2, RFC 3986
    §4.3); audiences are non-empty strings."""
    if len(resources) > _MAX_ITEMS:
        raise _invalid("/resources", f"at most {_MAX_ITEMS} values")
    for position, value in enumerate(resources):
        try:
            parts = urlsplit(value)
        except ValueError:
            raise _invalid(f"/resources/{position}", "must be an absolute URI") from None
        if (
            not value
            or len(value) > _MAX_VALUE
            or not _SCHEME.fullmatch(parts.scheme)
            or "#" in value
            or _CONTROL.search(value)
            or not (parts.netloc or parts.path)
        ):
            raise _invalid(f"/resources/{position}", "must be an absolute URI without fragment")
    if len(audiences) > _MAX_ITEMS:
        raise _invalid("/audiences", f"at most {_MAX_ITEMS} values")
    for position, value in enumerate(audiences):
        if not value or len(value) > _MAX_VALUE or _CONTROL.search(value):
            raise _invalid(f"/audiences/{position}", "must be a non-empty string")


def check_custom_parameters(parameters: Mapping[str, str], provider: OAuth2Provider) -> None:
    """VLT-REQ-003: names of 1-256 ``[A-Za-z0-9._-]``, values of 1-2048 characters, and no
    parameter the service or the vendor preset sets."""
    if len(parameters) > _MAX_CUSTOM:
        raise _invalid("/custom_parameters", f"at most {_MAX_CUSTOM} parameters")
    reserved = RESERVED_PARAMETERS | provider.preset.reserved
    for name, value in parameters.items():
        pointer = "/custom_parameters/" + name.replace("~", "~0").replace("/", "~1")
        if not _PARAMETER_NAME.fullmatch(name):
            raise _invalid("/custom_parameters", "names are 1-256 characters of [A-Za-z0-9._-]")
        if name in reserved:
            raise _invalid(pointer, "the service sets this parameter")
        if not 1 <= len(value) <= _MAX_VALUE or _CONTROL.search(value):
            raise _invalid(pointer, "values are 1-2048 characters")


def check_scopes(requested: Sequence[str], provider: OAuth2Provider) -> tuple[str, ...]:
    """VLT-REQ-002: every requested scope is one of the provider's (case-sensitive);
    repeated scopes count once."""
    allowed = set(provider.scopes)
    offending = [
        {"field": f"/scopes/{i}", "message": "not one of the provider's scopes"}
        for i, scope in enumerate(requested)
        if scope not in allowed
    ]
    if offending:
        raise ScopeNotAllowed("A requested scope is not one of the provider's scopes.").with_errors(
            offending
        )
    return tuple(dict.fromkeys(requested))


def choose_return_url(caller: WorkloadRecord, return_url: str | None) -> str:
    """VLT-SESS-002: identical to a registered URL, or the only one registered."""
    allowed = [str(u) for u in caller.config.get("allowed_return_urls", [])]
    if return_url is None:
        if len(allowed) == 1:
            return allowed[0]
    elif return_url in allowed:
        return return_url
    raise ReturnUrlNotAllowed("The return URL is not registered for this workload.")


def _cache_key(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonicalize(dict(parts))).hexdigest()


def _subset(requested: Sequence[str], held: Sequence[str]) -> bool:
    return set(requested) <= set(held)


# -- the vault -------------------------------------------------------------------------------


class Vault:
    """Resource tokens and API keys for workloads (see the module docstring)."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        sealer: Sealer,
        providers: ProviderRegistry,
        oauth: OAuthClient,
        entries: EntryRepository,
        cache: TokenCacheRepository,
        bound_tokens: BoundUserTokenRepository,
        sessions: Sessions,
        consents: Consents,
        revoker: UpstreamRevoker,
        refresh_wait: float = REFRESH_WAIT,
        lease_seconds: int = LEASE_SECONDS,
        poll_interval: float = 0.02,
    ) -> None:
        if not 0 < refresh_wait <= REFRESH_WAIT:
            raise ValueError("waiting for a refresh lasts at most 30 seconds (VLT-REF-002)")
        self._database = database
        self._clock = clock
        self._sealer = sealer
        self.providers = providers
        self._oauth = oauth
        self._entries = entries
        self._cache = cache
        self._bound = bound_tokens
        self.sessions = sessions
        self.consents = consents
        self._revoker = revoker
        self._wait = refresh_wait
        self._lease = lease_seconds
        self._poll_interval = poll_interval
        self._flights = _Flights()
        #: Extra re-wrapping steps for sealed rows kept elsewhere (e.g. signing keys);
        #: each returns how many rows it re-wrapped.
        self.rekey_hooks: list[Callable[[Sealer], int]] = []

    # -- POST /v1/resource-tokens/oauth2 ------------------------------------------------

    def resource_token(
        self,
        caller: WorkloadRecord,
        binding: Binding,
        wat: str,
        request: ResourceTokenRequest,
        trail: Trail,
    ) -> TokenResult | Started:
        """A token, or (``user_federation``) a session to authorize. Raises the typed
        errors of VLT-REQ-001 and the flows."""
        ctx = self._check(caller, binding, wat, request, trail)
        if request.flow == "m2m":
            return self._m2m(ctx)
        if request.flow == "on_behalf_of":
            return self._on_behalf_of(ctx)
        return self._user_federation(ctx)

    def _check(
        self,
        caller: WorkloadRecord,
        binding: Binding,
        wat: str,
        request: ResourceTokenRequest,
        trail: Trail,
    ) -> _Context:
        """VLT-REQ-001 steps 3-6, in order; nothing is stored and no provider contacted."""
        provider = self.providers.oauth2_provider(request.provider)  # 3: provider_not_found
        if request.flow in ("user_federation", "on_behalf_of") and binding.user is None:
            raise _invalid("/flow", f"{request.flow} needs a workload access token with a user")
        if request.flow == "on_behalf_of" and not provider.on_behalf_of:
            raise _invalid("/flow", "the provider has no on_behalf_of configuration")
        if request.flow != "user_federation":
            for name in ("task", "consent_ttl"):
                if getattr(request, name) is not None:
                    raise _invalid(f"/{name}", "only with flow user_federation")  # CNS-TASK-001
        check_consent_options(request.task, request.consent_ttl)
        scopes = check_scopes(request.scopes, provider)  # 5
        check_resources(request.resources, request.audiences)
        check_custom_parameters(request.custom_parameters, provider)
        if request.custom_state is not None and not 1 <= len(request.custom_state) <= _MAX_VALUE:
            raise _invalid("/custom_state", "1-2048 characters")
        if request.return_url is not None:  # 6: even if no session would start
            choose_return_url(caller, request.return_url)
        return _Context(caller, binding, wat, request, provider, scopes, trail)

    # -- user_federation (VLT-3LO-*, VLT-SESS-*, CNS-REC-003) -------------------------

    def _user_federation(self, ctx: _Context) -> TokenResult | Started:
        request = ctx.request
        if request.session_uri is not None:
            return self._poll(ctx)
        if not request.force_authentication:
            consent = self.consents.covering(ctx.key, ctx.scopes, request.task, ctx.trail)
            if consent is not None:
                result = self._from_entry(ctx)
                if result is not None:
                    return result
        return self._start_session(ctx)

    def _from_entry(self, ctx: _Context) -> TokenResult | None:
        """VLT-3LO-001/002: reuse, else refresh; ``None`` falls through to a session."""
        entry = self._entries.get(ctx.key)
        if entry is None or not self._covers(ctx, entry):
            return None
        reused = self._reuse(ctx, entry)
        if reused is not None:
            return reused
        if not entry.has_refresh:
            return None
        result: TokenResult | None = self._flights.run(
            ("entry", ctx.key), lambda: self._refresh(ctx, entry), self._wait
        )
        return result

    def _covers(self, ctx: _Context, entry: EntryRecord) -> bool:
        request = ctx.request
        return (
            _subset(ctx.scopes, entry.scopes)
            and _subset(request.resources, entry.resources)
            and _subset(request.audiences, entry.audiences)
        )

    def _usable(self, entry: EntryRecord) -> bool:
        """VLT-CLI-003."""
        return entry.expires_at is None or self._clock.now() < entry.expires_at - margin(
            entry.expires_in
        )

    def _reuse(self, ctx: _Context, entry: EntryRecord) -> TokenResult | None:
        if not self._usable(entry):
            return None
        tokens = self._open_entry(ctx, entry)
        access_token = tokens.get("access_token") if tokens else None
        if not isinstance(access_token, str):
            return None
        self.consents.count_reuse(ctx.caller.name, ctx.provider.name)
        ctx.trail.granted(entry.scopes)
        return TokenResult(access_token, entry.expires_at, entry.scopes)

    def _open_entry(self, ctx: _Context, entry: EntryRecord) -> dict[str, Any] | None:
        """VLT-ENC-002: an entry that does not open is treated as absent and audited."""
        tokens = entry_tokens(self._sealer, entry)
        if tokens is None:
            log.warning("vault entry failed authenticated decryption")
            with self._database.transaction() as tx:
                self._entries.delete(entry.key, tx=tx)
                ctx.trail.record(
                    tx,
                    "resource_token.get",
                    workload=ctx.caller.name,
                    user=ctx.user_ref,
                    actor_chain=[ctx.binding.client_id],
                    provider=ctx.provider.name,
                    scopes=ctx.scopes,
                    decision="deny",
                    reason="decryption_failed",
                )
        return tokens

    def _refresh(self, ctx: _Context, entry: EntryRecord) -> TokenResult | None:
        """VLT-REF-001..003 as the flight's leader: take the storage lease, refresh once,
        store the result atomically."""
        owner = secrets.token_hex(12)
        deadline = time.monotonic() + self._wait
        while not self._entries.acquire_lease(
            ctx.key, version=entry.version, owner=owner, until=int(self._clock.now()) + self._lease
        ):
            current = self._entries.get(ctx.key)
            if current is None:
                return None
            if current.version != entry.version:
                # Someone else refreshed (or replaced) the entry: use their result.
                if not self._covers(ctx, current):
                    return None
                reused = self._reuse(ctx, current)
                if reused is not None or not current.has_refresh:
                    return reused
                entry = current
                continue
            if time.monotonic() >= deadline:
                raise UpstreamError(
                    "A refresh of this token is still in progress.", detail="lease held"
                )
            time.sleep(self._poll_interval)
        try:
            tokens = self._open_entry(ctx, entry)
            refresh_token = tokens.get("refresh_token") if tokens else None
            if not isinstance(refresh_token, str):
                self._entries.release_lease(ctx.key, owner)
                return None
            metadata = self.providers.metadata(ctx.provider)
            new = self._oauth.refresh(
                metadata.token_endpoint,
                ctx.provider.client(metadata),
                refresh_token=refresh_token,
                resources=entry.resources,
                rules=ctx.provider.preset.rules,
            )
        except ProviderRejected as exc:
            if exc.error != "invalid_grant":
                self._entries.release_lease(ctx.key, owner)
                raise
            # VLT-REF-003: the grant is gone; forget the tokens, authorize again. A session
            # that could not start (no return URL to use) makes this request a refusal.
            refusal: ReturnUrlNotAllowed | None = None
            try:
                choose_return_url(ctx.caller, ctx.request.return_url)
            except ReturnUrlNotAllowed as error:
                refusal = error
            with self._database.transaction() as tx:
                self._entries.delete_leased(ctx.key, owner, tx=tx)
                if refusal is not None:
                    ctx.trail.record_main(tx, decision="deny", reason=refusal.code)
                ctx.trail.record(
                    tx,
                    "resource_token.refresh",
                    workload=ctx.caller.name,
                    user=ctx.user_ref,
                    actor_chain=[ctx.binding.client_id],
                    provider=ctx.provider.name,
                    scopes=entry.scopes,
                    decision="deny",
                    reason="invalid_grant",
                )
            if refusal is not None:
                raise refusal from None
            return None
        except BaseException:
            self._entries.release_lease(ctx.key, owner)
            raise
        granted = (
            ctx.provider.granted_scopes(new.scopes) if new.scopes is not None else entry.scopes
        )
        kept = new.refresh_token or refresh_token  # RFC 6749 §6: rotated, or kept
        blob, key_id = self._sealer.seal(
            ctx.key.aad_identity(), {"access_token": new.access_token, "refresh_token": kept}
        )
        write = EntryWrite(
            workload=entry.workload,
            user_subject=entry.user_subject,
            sealed=blob,
            key_id=key_id,
            scopes=granted,
            resources=entry.resources,
            audiences=entry.audiences,
            has_refresh=True,
            expires_at=new.expires_at,
            expires_in=new.expires_in,
        )
        ctx.trail.granted(granted)
        with self._database.transaction() as tx:
            stored = self._entries.store_refreshed(ctx.key, owner, write, tx=tx)
            if stored:
                ctx.trail.record(
                    tx,
                    "resource_token.refresh",
                    workload=ctx.caller.name,
                    user=ctx.user_ref,
                    actor_chain=[ctx.binding.client_id],
                    provider=ctx.provider.name,
                    scopes=granted,
                )
        if not stored:
            log.warning("a refreshed token set lost its lease and was not stored")
        if not _subset(ctx.scopes, granted):
            return None  # the provider narrowed the grant: the request needs a new consent
        self.consents.count_reuse(ctx.caller.name, ctx.provider.name)
        return TokenResult(new.access_token, new.expires_at, tuple(granted))

    def _start_session(self, ctx: _Context) -> Started:
        request = ctx.request
        return_url = choose_return_url(ctx.caller, request.return_url)
        metadata = self.providers.metadata(ctx.provider)
        return self.sessions.start(
            workload=ctx.caller.name,
            client_id=ctx.binding.client_id,
            user=ctx.user,
            provider=ctx.provider,
            metadata=metadata,
            request=SessionStart(
                scopes=ctx.scopes,
                resources=request.resources,
                audiences=request.audiences,
                return_url=return_url,
                custom_state=request.custom_state,
                custom_parameters=tuple(request.custom_parameters.items()),
                options=ConsentOptions(request.task, request.consent_ttl),
            ),
            trail=ctx.trail,
        )

    def _poll(self, ctx: _Context) -> TokenResult | Started:
        """VLT-SESS-004: answered from the session; never starts a new one."""
        assert ctx.request.session_uri is not None
        session = self.sessions.find(
            ctx.request.session_uri, client_id=ctx.binding.client_id, user=ctx.user
        )
        if session.provider != ctx.provider.name:
            raise NotFound("No session has that URI.", code="session_not_found")
        if not _subset(ctx.scopes, session.request.get("scopes", [])):
            raise _invalid("/scopes", "must be a subset of the session's scopes")
        self.sessions.check_live(session, ctx.trail)
        if session.status in PENDING:
            return Started(self.sessions.pending_url(session), session.session_uri)
        consent = self.consents.covering(
            ctx.key, ctx.scopes, session.request.get("task"), ctx.trail
        )
        result = self._from_entry(ctx) if consent is not None else None
        if result is None:
            raise NotFound("No session has that URI.", code="session_not_found")
        return result

    # -- m2m (VLT-M2M-001/002) ----------------------------------------------------------

    def _m2m(self, ctx: _Context) -> TokenResult:
        request = ctx.request
        cache_key = _cache_key(
            {
                "flow": "m2m",
                "workload": ctx.binding.client_id,
                "provider": ctx.provider.name,
                "scopes": sorted(ctx.scopes),
                "resources": sorted(set(request.resources)),
                "audiences": sorted(set(request.audiences)),
            }
        )

        def fetch() -> TokenSet:
            metadata = self.providers.metadata(ctx.provider)
            return self._oauth.client_credentials(
                metadata.token_endpoint,
                ctx.provider.client(metadata),
                scopes=ctx.scopes,
                resources=request.resources,
                audiences=request.audiences,
                rules=ctx.provider.preset.rules,
            )

        return self._cached_flow(ctx, "m2m", cache_key, fetch, None)

    def _cached_flow(
        self,
        ctx: _Context,
        flow: str,
        cache_key: str,
        fetch: Callable[[], TokenSet],
        not_after: int | None,
    ) -> TokenResult:
        """VLT-M2M-002, VLT-OBO-001: the cached token while usable, else one upstream
        request per key at a time, cached (sealed) until the early-expiry margin."""
        hit = self._cache_hit(cache_key)
        if hit is not None:
            ctx.trail.granted(hit.scopes)
            return hit

        def work() -> TokenResult:
            again = self._cache_hit(cache_key)
            if again is not None:
                return again
            now = int(self._clock.now())
            tokens = fetch()
            granted = (
                ctx.provider.granted_scopes(tokens.scopes)
                if tokens.scopes is not None
                else ctx.scopes
            )
            if tokens.expires_at is None:
                usable_until = now + UNTIMED_CACHE
            else:
                usable_until = tokens.expires_at - margin(tokens.expires_in)
            if not_after is not None:
                usable_until = min(usable_until, not_after)
            # VLT-M2M-001: a refresh token in the response is discarded.
            blob, key_id = self._sealer.seal(
                {"kind": "token_cache", "cache_key": cache_key},
                {"access_token": tokens.access_token},
            )
            ctx.trail.granted(granted)
            with self._database.transaction() as tx:
                if usable_until > now:
                    self._cache.put(
                        CachedToken(
                            cache_key,
                            flow,
                            ctx.binding.client_id,
                            ctx.provider.name,
                            blob,
                            key_id,
                            tuple(granted),
                            tokens.expires_at,
                            usable_until,
                        ),
                        tx=tx,
                    )
                ctx.trail.record_main(tx)
            return TokenResult(tokens.access_token, tokens.expires_at, tuple(granted))

        result: TokenResult = self._flights.run(("cache", cache_key), work, self._wait)
        ctx.trail.granted(result.scopes)
        return result

    def _cache_hit(self, cache_key: str) -> TokenResult | None:
        cached = self._cache.get(cache_key)
        if cached is None or self._clock.now() >= cached.usable_until:
            return None
        try:
            value = self._sealer.open(
                {"kind": "token_cache", "cache_key": cache_key}, cached.sealed
            )
        except DecryptionError:
            return None
        token = value.get("access_token")
        if not isinstance(token, str):
            return None
        return TokenResult(token, cached.expires_at, cached.scopes)

    # -- on_behalf_of (VLT-OBO-001..003) --------------------------------------------------

    def _on_behalf_of(self, ctx: _Context) -> TokenResult:
        user = ctx.user
        if user.asserted:
            raise Forbidden("on_behalf_of needs a workload access token issued for a user token.")
        bound = self._bound.get(token_hash(ctx.wat))
        if bound is None:
            raise Forbidden("This workload access token carries no user token to exchange.")
        if self._clock.now() >= bound.expires_at:
            raise UserTokenRejected("The user token has expired.", reason="expired")
        try:
            opened = self._sealer.open(_bound_identity(bound.token_hash), bound.sealed)
        except DecryptionError:
            raise Forbidden(
                "This workload access token carries no user token to exchange."
            ) from None
        subject_token = opened.get("user_token")
        if not isinstance(subject_token, str):
            raise Forbidden("This workload access token carries no user token to exchange.")
        config = ctx.provider.on_behalf_of or {}
        request = ctx.request
        audiences = tuple(
            dict.fromkeys(
                [a for a in [config.get("audience")] if isinstance(a, str)]
                + list(request.audiences)
            )
        )
        cache_key = _cache_key(
            {
                "flow": "on_behalf_of",
                "workload": ctx.binding.client_id,
                "user_issuer": user.issuer,
                "user_key": user.user_key,
                "provider": ctx.provider.name,
                "scopes": sorted(ctx.scopes),
                "resources": sorted(set(request.resources)),
                "audiences": sorted(set(request.audiences)),
            }
        )

        def fetch() -> TokenSet:
            metadata = self.providers.metadata(ctx.provider)
            client = ctx.provider.client(metadata)
            if config.get("grant") == "jwt_bearer":
                return self._oauth.jwt_bearer(
                    metadata.token_endpoint,
                    client,
                    assertion=subject_token,
                    scopes=ctx.scopes,
                    rules=ctx.provider.preset.rules,
                )
            return self._oauth.token_exchange(
                metadata.token_endpoint,
                client,
                subject_token=subject_token,
                subject_is_id_token=bound.token_kind == "id_token",  # noqa: S105 - a kind
                scopes=ctx.scopes,
                audiences=audiences,
                resources=request.resources,
                rules=ctx.provider.preset.rules,
            )

        return self._cached_flow(ctx, "on_behalf_of", cache_key, fetch, bound.expires_at)

    def bind_user_token(
        self,
        wat: str,
        user_token: str,
        *,
        token_kind: str,
        expires_at: int,
        tx: Transaction | None = None,
    ) -> None:
        """WAT-PASS-001, VLT-OBO-001: keeps (sealed) the user JWT a WAT was issued for,
        for ``on_behalf_of`` only; it dies with the WAT. ``expires_at`` is the JWT's
        ``exp``. Call it in the WAT issuance's transaction."""
        digest = token_hash(wat)
        blob, key_id = self._sealer.seal(_bound_identity(digest), {"user_token": user_token})
        self._bound.put(BoundUserToken(digest, blob, key_id, token_kind, expires_at), tx=tx)

    # -- POST /v1/resource-tokens/api-key (VLT-APIK-001) ----------------------------------

    def api_key(self, caller: WorkloadRecord, provider: str) -> str:
        found = self.providers.api_key_provider(provider)
        if found is None:
            raise NotFound("No provider has that name.", code="provider_not_found")
        if caller.name not in found.allowed_workloads:
            raise WorkloadNotAllowed()
        return found.api_key

    # -- provider deletion (PRV-CFG-004) --------------------------------------------------

    def delete_oauth2_provider(self, name: str, trail: Trail) -> None:
        """Deletes the provider and, in the same transaction, its entries, cached tokens,
        sessions and consents; then revokes the deleted tokens upstream."""
        record = self.providers.repository.get("oauth2", name)
        if record is None:
            raise NotFound("No provider has that name.", code="provider_not_found")
        try:
            provider: OAuth2Provider | None = self.providers.provider_from_record(record)
        except UpstreamError:
            provider = None
        with self._database.transaction() as tx:
            if self.providers.repository.delete("oauth2", name, tx=tx) is None:
                raise NotFound("No provider has that name.", code="provider_not_found")
            entries = self._entries.delete_for_provider(name, tx=tx)
            self._cache.delete_for_provider(name, tx=tx)
            sessions = self.sessions.repository.delete_for_provider(name, tx=tx)
            self.consents.repository.delete_for_provider(name, tx=tx)
            trail.record_main(tx)
        discarded = [discarded_entry(self._sealer, e) for e in entries]
        discarded += discarded_sessions(self._sealer, sessions)
        if provider is not None:
            self._revoker.revoke(discarded, trail, provider=provider)
        self.providers.forget_metadata(name)

    # -- key rotation (VLT-ENC-003) --------------------------------------------------------

    def rotate_key(self, trail: Trail) -> RekeyReport:
        """VLT-ENC-003: :func:`rotate_key` over this vault's storage and sealer, plus the
        :attr:`rekey_hooks`."""
        return rotate_key(self._database, self._sealer, trail, hooks=self.rekey_hooks)

    def key_ids_in_use(self) -> set[str]:
        """The KEK ids that sealed rows reference (VLT-ENC-003: keep these available)."""
        return key_ids_in_use(self._database)

    # -- housekeeping ---------------------------------------------------------------------

    def sweep(self, trail: Trail) -> None:
        """Expires sessions and consents past their time and purges dead cached tokens and
        bound user tokens (call it periodically)."""
        now = int(self._clock.now())
        self.sessions.sweep(trail)
        self.consents.sweep(trail)
        self._cache.purge(now)
        self._bound.purge(now)


def _bound_identity(digest: str) -> dict[str, str]:
    return {"kind": "bound_user_token", "token_hash": digest}


@dataclass(frozen=True)
class _SealedColumn:
    """A table column of sealed values: its primary key, the column of the KEK id (when
    the table has one), and which rows hold a live value."""

    table: str
    keys: tuple[str, ...]
    blob: str
    key_id: str | None = "key_id"
    live: str = ""


#: VLT-ENC-003: every sealed value in storage, the STS's signing keys included (sealed
#: with the same envelope; their KEK id is read from the sealed value itself).
_SEALED_TABLES: Final = (
    _SealedColumn("credential_providers", ("kind", "name"), "secret"),
    _SealedColumn(
        "vault_entries", ("workload_client_id", "user_issuer", "user_key", "provider"), "sealed"
    ),
    _SealedColumn("vault_sessions", ("session_uri",), "sealed"),
    _SealedColumn("vault_token_cache", ("cache_key",), "sealed"),
    _SealedColumn("wat_user_tokens", ("token_hash",), "sealed"),
    _SealedColumn(
        "signing_keys", ("kid",), "sealed_private_key", key_id=None, live="deleted_at IS NULL"
    ),
)


def rotate_key(
    database: Database,
    sealer: Sealer,
    trail: Trail,
    *,
    hooks: Sequence[Callable[[Sealer], int]] = (),
) -> RekeyReport:
    """VLT-ENC-003: re-wraps every sealed row under the sealer's current KEK, in small
    transactions while the service keeps serving (a row written meanwhile is already under
    the current KEK; a row changed between read and write is left to its writer by a
    compare-and-swap on the blob). Audited as ``vault.rekey``. Afterwards
    :attr:`RekeyReport.key_ids` lists the KEKs still referenced: any other can be dropped.
    A row that no known KEK opens is counted in :attr:`RekeyReport.failed` (and the event
    is a denial with reason ``decryption_failed``)."""
    rewrapped: dict[str, int] = {}
    failed = 0
    for column in _SEALED_TABLES:
        count, failures = _rewrap_table(database, sealer, column)
        rewrapped[column.table] = count
        failed += failures
    for hook in hooks:
        rewrapped[getattr(hook, "__name__", "hook")] = hook(sealer)
    with database.transaction() as tx:
        trail.record(
            tx,
            "vault.rekey",
            decision="allow" if failed == 0 else "deny",
            reason="ok" if failed == 0 else "decryption_failed",
        )
    return RekeyReport(rewrapped, failed, frozenset(key_ids_in_use(database)))


def _rows(database: Database, column: _SealedColumn, after: tuple[Any, ...] | None) -> list[Row]:
    order = ", ".join(column.keys)
    where = [f"{column.blob} IS NOT NULL"]
    if column.live:
        where.append(column.live)
    params: list[Any] = []
    if after is not None:
        where.append(f"({order}) > ({', '.join('?' for _ in column.keys)})")
        params += list(after)
    with database.transaction(readonly=True) as tx:
        return tx.fetchall(
            f"SELECT {order}, {column.blob} AS blob FROM {column.table}"  # noqa: S608
            f" WHERE {' AND '.join(where)} ORDER BY {order} LIMIT 200",
            params,
        )


def _rewrap_table(database: Database, sealer: Sealer, column: _SealedColumn) -> tuple[int, int]:
    count = failed = 0
    after: tuple[Any, ...] | None = None
    while rows := _rows(database, column, after):
        for row in rows:
            blob = bytes(row["blob"])
            try:
                new = sealer.rewrap(blob)
            except DecryptionError:
                failed += 1
                continue
            if new is None:
                continue
            match = " AND ".join(f"{k} = ?" for k in column.keys)
            sets = f"{column.blob} = ?" + (f", {column.key_id} = ?" if column.key_id else "")
            values = (new[0], new[1]) if column.key_id else (new[0],)
            with database.transaction() as tx:
                count += tx.execute_count(
                    f"UPDATE {column.table} SET {sets}"  # noqa: S608 - fixed names
                    f" WHERE {match} AND {column.blob} = ?",
                    (*values, *(row[k] for k in column.keys), blob),
                )
        after = tuple(rows[-1][k] for k in column.keys)
    return count, failed


def key_ids_in_use(database: Database) -> set[str]:
    """The KEK ids that sealed values in storage reference (VLT-ENC-003: keep these
    available; any other KEK can be dropped)."""
    found: set[str] = set()
    for column in _SEALED_TABLES:
        after: tuple[Any, ...] | None = None
        while rows := _rows(database, column, after):
            for row in rows:
                try:
                    found.add(Sealed.from_bytes(bytes(row["blob"])).key_id)
                except DecryptionError:
                    continue
            after = tuple(rows[-1][k] for k in column.keys)
    return found
