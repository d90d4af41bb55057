"""Persisted consent (spec ``06-consent.md``) and revocation at the provider (spec ``05``,
VLT-RVK-001/002).

A consent records that a user let a workload use a provider for some scopes, possibly for
one task or until a time (CNS-REC-001, CNS-TASK-001). Only a completed 3-legged session
creates one (:meth:`Consents.grant`, CNS-REC-002, in the session's completion transaction);
the vault returns a stored or refreshed ``user_federation`` token only under a consent
that covers the request (:meth:`Consents.covering`, CNS-REC-003):

- not expired by the service clock (CNS-TASK-002; an expired consent found on the way is
  deleted and audited ``consent.expire``, and when none is left for the entry the entry is
  deleted and its tokens revoked upstream);
- its scopes include every requested scope;
- its task is ``None`` (covers any request) or the request's task (CNS-TASK-001).

Revocation (CNS-REV-001..003) deletes, in one transaction, the consent, the entry of its
(workload, user, provider) and the sessions of that triple still in progress, audited as
``consent.revoke``; then the deleted tokens are revoked at the provider if it has an
RFC 7009 endpoint (:class:`UpstreamRevoker`), each attempt audited ``upstream.revoke``.
The local deletion never waits for, or is undone by, the provider's answer (VLT-RVK-002).

Prompts are counted (CNS-FAT-001/002): ``proctor_consent_prompts_total{workload,provider}``
for every session started (plus a ``consent.prompt`` audit event, written by the session
start), ``proctor_consent_reuse_total{workload,provider}`` for every token returned without
a prompt.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from proctor.reference.audit_trail import Trail, UserRef
from proctor.reference.clock import Clock
from proctor.reference.errors import NotFound, UpstreamError, ValidationFailed
from proctor.reference.metrics import Counter, Metrics
from proctor.reference.oauth_client import OAuthClient, RevokeOutcome
from proctor.reference.providers import OAuth2Provider, ProviderRegistry
from proctor.reference.sealing import DecryptionError, Sealer
from proctor.reference.storage.consents import ConsentFilter, ConsentRecord, ConsentRepository
from proctor.reference.storage.database import Database, Transaction
from proctor.reference.storage.pagination import DEFAULT_LIMIT, Page
from proctor.reference.storage.sessions import SessionRecord, SessionRepository
from proctor.reference.storage.vault import EntryKey, EntryRecord, EntryRepository

__all__ = [
    "CONSENT_TTL_MAX",
    "CONSENT_TTL_MIN",
    "TASK_PATTERN",
    "ConsentOptions",
    "Consents",
    "Discarded",
    "UpstreamRevoker",
    "check_consent_options",
    "consent_view",
    "covers",
    "new_consent_id",
]

log = logging.getLogger("proctor.vault")

#: CNS-TASK-001: a task ID is 1-128 characters of ``[A-Za-z0-9._:-]``.
TASK_PATTERN: Final = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CONSENT_TTL_MIN: Final = 60
CONSENT_TTL_MAX: Final = 31_536_000


def new_consent_id() -> str:
    """CNS-REC-001: ``cns_`` and 128 random bits in base64url."""
    return "cns_" + secrets.token_urlsafe(16)


@dataclass(frozen=True)
class ConsentOptions:
    """CNS-TASK-001: what a session's consent will be limited to."""

    task: str | None = None
    ttl: int | None = None


def covers(consent: ConsentRecord, scopes: Iterable[str], task: str | None, now: float) -> bool:
    """CNS-REC-003, CNS-TASK-001/002: whether ``consent`` covers a request."""
    if consent.expired(now):
        return False
    if consent.task is not None and consent.task != task:
        return False
    return set(scopes) <= set(consent.scopes)


def consent_view(record: ConsentRecord) -> dict[str, Any]:
    """The API object (CNS-REC-001)."""
    return {
        "id": record.id,
        "user": {
            "issuer": record.user_issuer,
            "subject": record.user_subject,
            "user_key": record.user_key,
        },
        "workload": record.workload,
        "provider": record.provider,
        "scopes": list(record.scopes),
        "granted_at": record.granted_at,
        "expires_at": record.expires_at,
        "task": record.task,
    }


@dataclass
class Discarded:
    """Tokens deleted locally that must now be revoked upstream (VLT-RVK-001)."""

    provider: str
    workload: str | None
    user: UserRef | None
    #: Each: ``{"access_token": ..., "refresh_token": ... | None}``.
    token_sets: list[dict[str, Any]] = field(default_factory=list, repr=False)


def entry_tokens(sealer: Sealer, entry: EntryRecord) -> dict[str, Any] | None:
    """The entry's token set, or ``None`` when it does not open (VLT-ENC-002)."""
    try:
        return sealer.open(entry.key.aad_identity(), entry.sealed)
    except DecryptionError:
        return None


def session_tokens(sealer: Sealer, session: SessionRecord) -> dict[str, Any] | None:
    """A session's pending tokens (after the callback), or ``None``."""
    if session.sealed is None:
        return None
    try:
        value = sealer.open(session.aad_identity(), session.sealed)
    except DecryptionError:
        return None
    tokens = value.get("tokens")
    return tokens if isinstance(tokens, dict) else None


def discarded_entry(sealer: Sealer, entry: EntryRecord) -> Discarded:
    tokens = entry_tokens(sealer, entry)
    return Discarded(
        entry.key.provider,
        entry.workload,
        UserRef(entry.key.user_issuer, entry.user_subject),
        [tokens] if tokens else [],
    )


def discarded_sessions(sealer: Sealer, sessions: Iterable[SessionRecord]) -> list[Discarded]:
    out = []
    for session in sessions:
        tokens = session_tokens(sealer, session)
        if tokens:
            out.append(
                Discarded(
                    session.provider,
                    session.workload,
                    UserRef(session.user_issuer, session.user_subject),
                    [tokens],
                )
            )
    return out


class UpstreamRevoker:
    """VLT-RVK-001/002: revokes discarded tokens at the provider's RFC 7009 endpoint.

    Called after the local deletion committed; never raises. The refresh token goes first
    (``token_type_hint=refresh_token``), then the access token. Each attempt appends an
    ``upstream.revoke`` event (AUD-OPS-001; actor chain ``[]`` for internal operations).
    A 503 is reported as ``temporarily_unavailable``; proctor does not yet retry it
    (VLT-RVK-002 makes the retry a SHOULD).
    """

    def __init__(
        self,
        database: Database,
        providers: ProviderRegistry,
        oauth: OAuthClient,
    ) -> None:
        self._database = database
        self._providers = providers
        self._oauth = oauth

    def revoke(
        self,
        discarded: Sequence[Discarded],
        trail: Trail,
        *,
        provider: OAuth2Provider | None = None,
    ) -> None:
        for item in discarded:
            if not item.token_sets:
                continue
            try:
                resolved = provider or self._providers.oauth2_provider(item.provider)
                metadata = self._providers.metadata(resolved)
            except (NotFound, UpstreamError):
                log.info(
                    "upstream revocation skipped", extra={"fields": {"provider": item.provider}}
                )
                continue
            if metadata.revocation_endpoint is None:
                continue  # VLT-RVK-001: without an endpoint the tokens are only deleted
            client = resolved.client(metadata)
            for tokens in item.token_sets:
                attempts: list[tuple[str, Literal["access_token", "refresh_token"]]] = []
                if isinstance(tokens.get("refresh_token"), str):
                    attempts.append((tokens["refresh_token"], "refresh_token"))
                if isinstance(tokens.get("access_token"), str):
                    attempts.append((tokens["access_token"], "access_token"))
                for token, hint in attempts:
                    outcome = self._oauth.revoke(
                        metadata.revocation_endpoint, client, token=token, token_type_hint=hint
                    )
                    self._audit(trail, item, outcome)

    def _audit(self, trail: Trail, item: Discarded, outcome: RevokeOutcome) -> None:
        try:
            with self._database.transaction() as tx:
                trail.record(
                    tx,
                    "upstream.revoke",
                    workload=item.workload,
                    user=item.user,
                    provider=item.provider,
                    decision="allow" if outcome is RevokeOutcome.REVOKED else "deny",
                    reason="ok" if outcome is RevokeOutcome.REVOKED else outcome.value,
                )
        except Exception:
            log.exception("audit of an upstream revocation failed")


class Consents:
    """Consent records over storage (see the module docstring)."""

    def __init__(
        self,
        database: Database,
        repository: ConsentRepository,
        entries: EntryRepository,
        sessions: SessionRepository,
        sealer: Sealer,
        revoker: UpstreamRevoker,
        clock: Clock,
        metrics: Metrics,
    ) -> None:
        self._database = database
        self._repository = repository
        self._entries = entries
        self._sessions = sessions
        self._sealer = sealer
        self._revoker = revoker
        self._clock = clock
        self.prompts: Counter = metrics.counter(
            "proctor_consent_prompts_total",
            "Consent prompts (3-legged sessions started), per workload and provider.",
            ["workload", "provider"],
        )
        self.reuses: Counter = metrics.counter(
            "proctor_consent_reuse_total",
            "user_federation tokens returned without a prompt, per workload and provider.",
            ["workload", "provider"],
        )

    @property
    def repository(self) -> ConsentRepository:
        return self._repository

    # -- coverage (CNS-REC-003, CNS-TASK-001/002) --------------------------------------

    def covering(
        self,
        key: EntryKey,
        scopes: Sequence[str],
        task: str | None,
        trail: Trail,
    ) -> ConsentRecord | None:
        """The consent covering a request for ``key``, after expiring the ones past their
        time (which may delete the entry and revoke its tokens upstream)."""
        now = self._clock.now()
        consents = self._repository.for_entry(key)
        if any(c.expired(now) for c in consents):
            consents = self._expire(key, consents, trail)
        for consent in consents:
            if covers(consent, scopes, task, now):
                return consent
        return None

    def _expire(
        self, key: EntryKey, consents: list[ConsentRecord], trail: Trail
    ) -> list[ConsentRecord]:
        now = self._clock.now()
        discarded: list[Discarded] = []
        with self._database.transaction() as tx:
            for consent in consents:
                if consent.expired(now) and self._repository.delete(consent.id, tx=tx):
                    trail.record(
                        tx,
                        "consent.expire",
                        workload=consent.workload,
                        user=UserRef(consent.user_issuer, consent.user_subject),
                        provider=consent.provider,
                        scopes=consent.scopes,
                    )
            remaining = self._repository.for_entry(key, tx=tx)
            if not [c for c in remaining if not c.expired(now)]:
                discarded = self._drop_entry(key, tx)
        self._revoker.revoke(discarded, trail)
        return [c for c in remaining if not c.expired(now)]

    def _drop_entry(self, key: EntryKey, tx: Transaction) -> list[Discarded]:
        """CNS-TASK-002, CNS-REV-003: the entry and the pending sessions of ``key``."""
        discarded: list[Discarded] = []
        entry = self._entries.delete(key, tx=tx)
        if entry is not None:
            discarded.append(discarded_entry(self._sealer, entry))
        sessions = self._sessions.delete_pending_for_entry(key, tx=tx)
        discarded += discarded_sessions(self._sealer, sessions)
        return discarded

    # -- creation (CNS-REC-002) ---------------------------------------------------------

    def grant(
        self,
        tx: Transaction,
        *,
        key: EntryKey,
        workload: str,
        user: UserRef,
        scopes: Sequence[str],
        options: ConsentOptions,
        trail: Trail,
    ) -> ConsentRecord:
        """Creates or updates the consent of (entry, task) in the completion's
        transaction; audited ``consent.grant``."""
        now = int(self._clock.now())
        record = self._repository.upsert(
            consent_id=new_consent_id(),
            key=key,
            workload=workload,
            user_subject=user.subject,
            task=options.task,
            scopes=scopes,
            granted_at=now,
            expires_at=None if options.ttl is None else now + options.ttl,
            tx=tx,
        )
        trail.record(
            tx,
            "consent.grant",
            workload=workload,
            user=user,
            provider=key.provider,
            scopes=record.scopes,
        )
        return record

    # -- listing (CNS-LIST-001/002) -------------------------------------------------------

    def list(
        self,
        filters: ConsentFilter,
        *,
        limit: int = DEFAULT_LIMIT,
        next_token: str | None = None,
    ) -> Page[ConsentRecord]:
        return self._repository.list(
            filters, now=int(self._clock.now()), limit=limit, next_token=next_token
        )

    # -- revocation (CNS-REV-001..003) ----------------------------------------------------

    def revoke(
        self,
        consent_id: str,
        trail: Trail,
        *,
        owner: tuple[str, str] | None = None,
    ) -> ConsentRecord:
        """Revokes one consent. ``owner`` = (issuer, user key) for a user's own revocation:
        another user's consent is answered exactly like an unknown one (404 ``not_found``)."""
        now = self._clock.now()
        with self._database.transaction() as tx:
            record = self._repository.get(consent_id, tx=tx) if _is_consent_id(consent_id) else None
            if (
                record is None
                or record.expired(now)
                or (owner is not None and (record.user_issuer, record.user_key) != owner)
            ):
                raise NotFound("No consent has that id.")
            self._repository.delete(record.id, tx=tx)
            trail.record_main(tx)
            discarded = self._drop_entry(record.entry_key, tx)
        self._revoker.revoke(discarded, trail)
        return record

    # -- prompts (CNS-FAT-001/002) ----------------------------------------------------------

    def count_prompt(self, workload: str, provider: str) -> None:
        self.prompts.inc(workload=workload, provider=provider)

    def count_reuse(self, workload: str, provider: str) -> None:
        self.reuses.inc(workload=workload, provider=provider)

    # -- housekeeping -------------------------------------------------------------------------

    def sweep(self, trail: Trail) -> int:
        """CNS-TASK-002: expires every consent past its time; returns how many."""
        count = 0
        while True:
            batch = self._repository.expired(int(self._clock.now()))
            if not batch:
                return count
            for consent in batch:
                self._expire(
                    consent.entry_key, self._repository.for_entry(consent.entry_key), trail
                )
                count += 1


def _is_consent_id(value: str) -> bool:
    return value.startswith("cns_") and 4 < len(value) <= 64 and value.isascii()


def check_consent_options(task: str | None, ttl: int | None) -> ConsentOptions:
    """CNS-TASK-001: ``task`` 1-128 of ``[A-Za-z0-9._:-]``, ``consent_ttl`` 60-31536000."""
    if task is not None and not TASK_PATTERN.fullmatch(task):
        raise ValidationFailed(
            "task is 1-128 characters of [A-Za-z0-9._:-].",
            errors=[{"field": "task", "message": "1-128 characters of [A-Za-z0-9._:-]"}],
        )
    if ttl is not None and not CONSENT_TTL_MIN <= ttl <= CONSENT_TTL_MAX:
        raise ValidationFailed(
            "consent_ttl is 60 to 31536000 seconds.",
            errors=[{"field": "consent_ttl", "message": "an integer from 60 to 31536000"}],
        )
    return ConsentOptions(task, ttl)
