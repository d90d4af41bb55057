"""3-legged authorization sessions (spec ``05``: VLT-SESS-*, VLT-PKCE-*, VLT-STATE-*,
VLT-CB-*, VLT-BIND-*).

A session is what a ``user_federation`` request starts when the user must authorize at the
provider (RFC 6749 §4.1 with PKCE, RFC 7636):

1. :meth:`Sessions.start` creates a session URI (``urn:ietf:params:oauth:request_uri:`` +
   256 random bits, VLT-SESS-001), a PKCE verifier and a ``state`` (each 256 random bits
   and independent, VLT-PKCE-001, VLT-STATE-001), and the authorization URL (VLT-SESS-003).
   The verifier, the state and the URL are sealed with the session (VLT-PKCE-003); only
   the SHA-256 of the state is stored in the clear, to find the session at the callback.
   One ``consent.prompt`` event and one count of ``proctor_consent_prompts_total``
   (CNS-FAT-001).
2. :meth:`Sessions.callback` (``GET /oauth2/callback``) consumes the state atomically
   before anything else (VLT-STATE-002); refuses missing, unknown, replayed and expired
   states with an error page and no redirect (VLT-CB-001); turns a provider ``error`` into
   a failed session and a 303 to the return URL (VLT-CB-002); checks ``iss`` (RFC 9207,
   VLT-CB-003); redeems the code exactly once (VLT-CB-004) and holds the tokens, sealed,
   with the session; then answers 303 to the exact registered return URL with
   ``session_id`` and ``custom_state`` (VLT-CB-005).
3. :meth:`Sessions.complete` (``POST /v1/sessions/complete``) moves the pending tokens into
   the vault entry and records the consent only when the user completing the session is
   the user who started it (VLT-BIND-001); another user ends the session, and its tokens
   are discarded and revoked upstream (VLT-BIND-002). Wrong moments are VLT-BIND-003.

Sessions expire ``ttl`` seconds after they start (60-3600, default 600; VLT-SESS-005). An
expired session answers ``session_expired`` for 24 hours, then it is purged.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal
from urllib.parse import urlencode, urlsplit

from proctor.reference.audit_trail import Trail, UserRef
from proctor.reference.clock import Clock
from proctor.reference.consent import (
    ConsentOptions,
    Consents,
    Discarded,
    UpstreamRevoker,
    discarded_sessions,
    session_tokens,
)
from proctor.reference.errors import (
    Conflict,
    NotFound,
    SessionExpired,
    SessionFailed,
    SessionUserMismatch,
    UpstreamError,
)
from proctor.reference.oauth_client import (
    OAuthClient,
    authorization_url,
    code_challenge,
    new_code_verifier,
    new_state,
    oauth_error_code,
)
from proctor.reference.providers import OAuth2Provider, ProviderMetadata, ProviderRegistry
from proctor.reference.sealing import DecryptionError, Sealer
from proctor.reference.storage.database import Database
from proctor.reference.storage.sessions import PENDING, SessionRecord, SessionRepository
from proctor.reference.storage.vault import EntryRepository, EntryWrite
from proctor.reference.workload_tokens import USER_ID_ISSUER, UserBinding

__all__ = [
    "DEFAULT_TTL",
    "MAX_TTL",
    "MIN_TTL",
    "SESSION_URI_PREFIX",
    "CallbackResult",
    "SessionStart",
    "Sessions",
    "Started",
    "state_hash",
]

SESSION_URI_PREFIX: Final = "urn:ietf:params:oauth:request_uri:"
MIN_TTL: Final = 60
MAX_TTL: Final = 3600
DEFAULT_TTL: Final = 600
#: VLT-SESS-005: expired sessions answer ``session_expired`` for at least 24 hours.
EXPIRED_KEPT: Final = 86_400
_NOT_FOUND: Final = "No session has that URI."
_MAX_URI: Final = 256


def new_session_uri() -> str:
    """VLT-SESS-001: the RFC 9126 request-URI form with 256 random bits (43 characters)."""
    return SESSION_URI_PREFIX + secrets.token_urlsafe(32)


def state_hash(state: str) -> str:
    """What is stored instead of the ``state``: hex SHA-256."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def with_query(url: str, params: Sequence[tuple[str, str]]) -> str:
    """VLT-CB-005: ``params`` appended to ``url``'s query (after ``&`` if it has one)."""
    if not params:
        return url
    separator = "&" if urlsplit(url).query else ("" if url.endswith("?") else "?")
    return url + separator + urlencode(list(params))


@dataclass(frozen=True)
class SessionStart:
    """What a session records of the request that started it (VLT-SESS-001)."""

    scopes: tuple[str, ...]
    resources: tuple[str, ...]
    audiences: tuple[str, ...]
    return_url: str
    custom_state: str | None
    custom_parameters: tuple[tuple[str, str], ...]
    options: ConsentOptions


@dataclass(frozen=True)
class Started:
    authorization_url: str
    session_uri: str

    def response(self) -> dict[str, Any]:
        return {
            "authorization_url": self.authorization_url,
            "session_uri": self.session_uri,
            "session_status": "in_progress",
        }


@dataclass(frozen=True)
class CallbackResult:
    """What ``GET /oauth2/callback`` answers: a 303 to ``location``, or a 400 page."""

    status: Literal[303, 400]
    location: str | None
    #: ``ok``, or the reason code (VLT-CB-001/002/003/004).
    cause: str


class Sessions:
    """3-legged sessions over storage (see the module docstring)."""

    def __init__(
        self,
        database: Database,
        repository: SessionRepository,
        entries: EntryRepository,
        consents: Consents,
        providers: ProviderRegistry,
        oauth: OAuthClient,
        sealer: Sealer,
        revoker: UpstreamRevoker,
        clock: Clock,
        *,
        callback_url: str,
        ttl: int = DEFAULT_TTL,
    ) -> None:
        if isinstance(ttl, bool) or not MIN_TTL <= ttl <= MAX_TTL:
            raise ValueError("a session lives 60-3600 seconds (VLT-SESS-005)")
        self._database = database
        self._repository = repository
        self._entries = entries
        self._consents = consents
        self._providers = providers
        self._oauth = oauth
        self._sealer = sealer
        self._revoker = revoker
        self._clock = clock
        self.callback_url = callback_url
        self.ttl = ttl

    @property
    def repository(self) -> SessionRepository:
        return self._repository

    # -- start (VLT-SESS-001/003, VLT-PKCE-001/002, VLT-STATE-001, CNS-FAT-001) -------

    def start(
        self,
        *,
        workload: str,
        client_id: str,
        user: UserBinding,
        provider: OAuth2Provider,
        metadata: ProviderMetadata,
        request: SessionStart,
        trail: Trail,
    ) -> Started:
        if metadata.authorization_endpoint is None:
            raise UpstreamError(
                "The provider has no authorization endpoint.",
                detail="authorization_endpoint missing from metadata",
            )
        session_uri = new_session_uri()
        state = new_state()
        verifier = new_code_verifier()
        params: list[tuple[str, str]] = [
            ("response_type", "code"),
            ("client_id", provider.client_id),
            ("redirect_uri", self.callback_url),
            *provider.authorization_parameters(request.scopes),
            ("state", state),
            ("code_challenge", code_challenge(verifier)),
            ("code_challenge_method", "S256"),
            *(("resource", r) for r in request.resources),
            *(("audience", a) for a in request.audiences),
            *request.custom_parameters,
        ]
        url = authorization_url(metadata.authorization_endpoint, params)
        now = int(self._clock.now())
        record = SessionRecord(
            session_uri=session_uri,
            state_hash=state_hash(state),
            workload=workload,
            workload_client_id=client_id,
            user_issuer=user.issuer,
            user_key=user.user_key,
            user_subject=user.subject,
            provider=provider.name,
            request={
                "scopes": list(request.scopes),
                "resources": list(request.resources),
                "audiences": list(request.audiences),
                "return_url": request.return_url,
                "custom_state": request.custom_state,
                "task": request.options.task,
                "consent_ttl": request.options.ttl,
            },
            sealed=None,
            key_id=None,
            status="in_progress",
            reason=None,
            state_consumed=False,
            created_at=now,
            expires_at=now + self.ttl,
        )
        blob = self._sealer.seal(
            record.aad_identity(),
            {"state": state, "code_verifier": verifier, "authorization_url": url},
        )
        record = _with_sealed(record, blob)
        with self._database.transaction() as tx:
            self._repository.insert(record, tx=tx)
            trail.record(
                tx,
                "consent.prompt",
                workload=workload,
                user=UserRef(user.issuer, user.subject),
                provider=provider.name,
                scopes=request.scopes,
            )
        self._consents.count_prompt(workload, provider.name)
        return Started(url, session_uri)

    # -- finding and polling (VLT-PART-002, VLT-SESS-004/005) --------------------------

    def find(self, session_uri: str, *, client_id: str, user: UserBinding | None) -> SessionRecord:
        """The session if it belongs to this workload (and user, when given); otherwise
        404 ``session_not_found`` with one and the same body (VLT-PART-002)."""
        record = (
            self._repository.get(session_uri)
            if isinstance(session_uri, str)
            and session_uri.startswith(SESSION_URI_PREFIX)
            and len(session_uri) <= _MAX_URI
            else None
        )
        if (
            record is None
            or record.workload_client_id != client_id
            or record.status == "ended"
            or (
                user is not None
                and (record.user_issuer, record.user_key) != (user.issuer, user.user_key)
            )
        ):
            raise NotFound(_NOT_FOUND, code="session_not_found")
        return record

    def check_live(self, record: SessionRecord, trail: Trail) -> None:
        """VLT-SESS-004/005, VLT-BIND-003: ``session_expired`` for an expired session
        (discarding its pending tokens on the way), ``session_failed`` for a failed one."""
        if record.status == "expired" or (
            record.status in PENDING and self._clock.now() >= record.expires_at
        ):
            self._expire(record, trail)
            raise SessionExpired("The authorization session has expired.")
        if record.status == "failed":
            raise SessionFailed(
                "The authorization at the provider failed.", reason=record.reason or "failed"
            )

    def pending_url(self, record: SessionRecord) -> str:
        """VLT-SESS-004: the same authorization URL as at the start."""
        value = self._open(record)
        url = value.get("authorization_url") if value else None
        if not isinstance(url, str):
            raise NotFound(_NOT_FOUND, code="session_not_found")
        return url

    def _open(self, record: SessionRecord) -> dict[str, Any] | None:
        if record.sealed is None:
            return None
        try:
            return self._sealer.open(record.aad_identity(), record.sealed)
        except DecryptionError:
            return None

    def _expire(self, record: SessionRecord, trail: Trail) -> None:
        """VLT-SESS-005: pending tokens discarded and revoked upstream."""
        if record.status not in PENDING:
            return
        discarded = discarded_sessions(self._sealer, [record])
        if self._repository.transition(
            record.session_uri, from_status=PENDING, to_status="expired"
        ):
            self._revoker.revoke(discarded, trail)

    # -- the callback (VLT-CB-001..006, VLT-STATE-002) -------------------------------

    def callback(
        self, params: Mapping[str, str], trail: Trail, event: dict[str, Any]
    ) -> CallbackResult:
        """Handles ``GET /oauth2/callback``. ``event`` receives the audit members it
        learns (``workload``, ``user``, ``provider``, ``scopes``)."""
        state = params.get("state")
        if not state:
            return CallbackResult(400, None, "state_missing")
        record = self._repository.get_by_state(state_hash(state)) if len(state) <= 512 else None
        if record is None:
            return CallbackResult(400, None, "state_unknown")
        event.update(
            workload=record.workload,
            user=(record.user_issuer, record.user_subject),
            provider=record.provider,
            scopes=list(record.request.get("scopes", [])),
        )
        if record.status == "expired" or (
            record.status in PENDING and self._clock.now() >= record.expires_at
        ):
            return CallbackResult(400, None, "session_expired")
        if record.state_consumed or record.status != "in_progress":
            return CallbackResult(400, None, "state_replayed")
        if not self._repository.consume_state(record.session_uri):
            return CallbackResult(400, None, "state_replayed")
        # The state is consumed: from here on every outcome goes back to the application
        # (the return URL always comes from the stored session, VLT-CB-005).
        error = params.get("error")
        code = params.get("code")
        if error is not None or not code:
            reason = (oauth_error_code(error) if error else None) or "invalid_provider_response"
            return self._fail(record, reason, trail)
        try:
            provider = self._providers.oauth2_provider(record.provider)
            metadata = self._providers.metadata(provider)
        except (NotFound, UpstreamError):
            return self._fail(record, "code_redemption_failed", trail)
        iss = params.get("iss")
        if (iss is not None and not self._providers.issuer_matches(provider, metadata, iss)) or (
            iss is None and metadata.iss_parameter_supported
        ):
            return self._fail(record, "iss_mismatch", trail)
        secrets_ = self._open(record)
        verifier = secrets_.get("code_verifier") if secrets_ else None
        if not isinstance(verifier, str):
            return self._fail(record, "decryption_failed", trail)
        try:
            tokens = self._oauth.redeem_code(
                metadata.token_endpoint,
                provider.client(metadata),
                code=code,
                redirect_uri=self.callback_url,
                code_verifier=verifier,
                resources=tuple(record.request.get("resources", [])),
                rules=provider.preset.rules,
            )
        except UpstreamError:
            return self._fail(record, "code_redemption_failed", trail)
        granted = provider.granted_scopes(
            tokens.scopes if tokens.scopes is not None else record.request.get("scopes", [])
        )
        # The verifier and the state are destroyed (VLT-PKCE-003); the URL stays for polls.
        token_set: dict[str, Any] = {
            "access_token": tokens.access_token,
            "refresh_token": tokens.refresh_token,
            "expires_at": tokens.expires_at,
            "expires_in": tokens.expires_in,
            "scopes": list(granted),
        }
        pending = {
            "authorization_url": secrets_.get("authorization_url") if secrets_ else None,
            "tokens": token_set,
        }
        blob = self._sealer.seal(record.aad_identity(), pending)
        with self._database.transaction() as tx:
            moved = self._repository.transition(
                record.session_uri,
                from_status=("in_progress",),
                to_status="authorized",
                sealed=blob,
                tx=tx,
            )
            if moved:
                event["scopes"] = list(granted)
                trail.record_main(tx)
        if not moved:  # the session was ended meanwhile (a revocation): discard the tokens
            self._revoker.revoke(
                [
                    Discarded(
                        record.provider,
                        record.workload,
                        UserRef(record.user_issuer, record.user_subject),
                        [token_set],
                    )
                ],
                trail,
                provider=provider,
            )
            return CallbackResult(303, self._back(record, None), "session_ended")
        return CallbackResult(303, self._back(record, None), "ok")

    def _back(self, record: SessionRecord, error: str | None) -> str:
        """VLT-CB-005: the session's return URL with ``session_id``, ``custom_state`` and
        (VLT-CB-002) ``error``; never a token, the code, the state or the verifier."""
        params = [("session_id", record.session_uri)]
        custom_state = record.request.get("custom_state")
        if isinstance(custom_state, str):
            params.append(("custom_state", custom_state))
        if error is not None:
            params.append(("error", error))
        return with_query(str(record.request["return_url"]), params)

    def _fail(self, record: SessionRecord, reason: str, trail: Trail) -> CallbackResult:
        """VLT-CB-002/003/004: the session fails with ``reason``; back to the application."""
        with self._database.transaction() as tx:
            self._repository.transition(
                record.session_uri,
                from_status=("in_progress",),
                to_status="failed",
                reason=reason,
                tx=tx,
            )
            trail.record_main(tx, decision="deny", reason=reason)
        return CallbackResult(303, self._back(record, reason), reason)

    # -- completion (VLT-BIND-001..003, CNS-REC-002) -----------------------------------

    def complete(
        self,
        *,
        client_id: str,
        session_uri: str,
        claimed: UserBinding,
        via: Literal["user_token", "user_id"],
        trail: Trail,
    ) -> SessionRecord:
        """Completes a session for the user ``claimed`` identified ``via`` a user token or
        a user id. Raises the VLT-BIND-002/003 errors."""
        record = self.find(session_uri, client_id=client_id, user=None)
        self.check_live(record, trail)
        same = (claimed.issuer, claimed.user_key) == (record.user_issuer, record.user_key) and (
            (via == "user_id") == (record.user_issuer == USER_ID_ISSUER)
        )
        if record.status == "completed":
            if same:
                return record  # VLT-BIND-003: a repeated completion changes nothing
            raise SessionUserMismatch("The session was started by another user.")
        if record.status == "in_progress":
            raise Conflict("The authorization at the provider has not finished yet.")
        # authorized: the callback has delivered tokens
        pending = session_tokens(self._sealer, record)
        if not same:
            with self._database.transaction() as tx:
                ended = self._repository.transition(
                    record.session_uri, from_status=("authorized",), to_status="ended", tx=tx
                )
                trail.record_main(tx, decision="deny", reason="session_user_mismatch")
            if ended and pending:
                self._revoker.revoke(
                    [
                        Discarded(
                            record.provider,
                            record.workload,
                            UserRef(record.user_issuer, record.user_subject),
                            [pending],
                        )
                    ],
                    trail,
                )
            raise SessionUserMismatch("The session was started by another user.")
        if pending is None:
            raise NotFound(_NOT_FOUND, code="session_not_found")
        request = record.request
        scopes = tuple(pending.get("scopes", []))
        blob, key_id = self._sealer.seal(
            record.entry_key.aad_identity(),
            {"access_token": pending["access_token"], "refresh_token": pending["refresh_token"]},
        )
        user = UserRef(record.user_issuer, record.user_subject)
        with self._database.transaction() as tx:
            moved = self._repository.transition(
                record.session_uri, from_status=("authorized",), to_status="completed", tx=tx
            )
            if not moved:
                raise Conflict("The session changed while it was being completed.")
            trail.record_main(tx)
            self._entries.put(
                record.entry_key,
                EntryWrite(
                    workload=record.workload,
                    user_subject=record.user_subject,
                    sealed=blob,
                    key_id=key_id,
                    scopes=scopes,
                    resources=tuple(request.get("resources", [])),
                    audiences=tuple(request.get("audiences", [])),
                    has_refresh=pending.get("refresh_token") is not None,
                    expires_at=pending.get("expires_at"),
                    expires_in=pending.get("expires_in"),
                ),
                tx=tx,
            )
            self._consents.grant(
                tx,
                key=record.entry_key,
                workload=record.workload,
                user=user,
                scopes=scopes,
                options=ConsentOptions(request.get("task"), request.get("consent_ttl")),
                trail=trail,
            )
        return record

    # -- housekeeping ------------------------------------------------------------------

    def sweep(self, trail: Trail) -> int:
        """VLT-SESS-005: expires pending sessions past their time (revoking any pending
        tokens) and purges sessions expired more than 24 hours ago."""
        now = int(self._clock.now())
        count = 0
        for record in self._repository.expired_pending(now, limit=1000):
            self._expire(record, trail)
            count += 1
        self._repository.purge(now - EXPIRED_KEPT)
        return count


def _with_sealed(record: SessionRecord, blob: tuple[bytes, str]) -> SessionRecord:
    return replace(record, sealed=blob[0], key_id=blob[1])
