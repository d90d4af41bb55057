"""Stored 3-legged authorization sessions (spec ``05``, VLT-SESS-001..005, VLT-CB-*).

A session is found by its session URI (the workload's handle) or by the SHA-256 of its
``state`` (the browser's handle at the callback); the two are independent random values
(VLT-STATE-001). The code verifier, the ``state`` itself, the authorization URL and, after
the callback, the pending tokens are one sealed blob (VLT-ENC-001, VLT-PKCE-003) that is
dropped when the session ends.

``status`` moves through::

    in_progress --callback ok--> authorized --complete--> completed
         |                           |
         +--provider error--> failed +--another user--> ended (answered as unknown)
         +--past expires_at--> expired (pending tokens discarded and revoked)

``state_consumed`` is set by the first callback, atomically and before any code is
redeemed (VLT-STATE-002).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

from proctor.reference.storage.columns import dump_object, load_object
from proctor.reference.storage.database import Database, Row, Transaction, in_transaction
from proctor.reference.storage.vault import EntryKey

__all__ = ["SessionRecord", "SessionRepository", "SessionStatus"]

SessionStatus = Literal["in_progress", "authorized", "completed", "failed", "ended", "expired"]
#: Statuses whose session may still receive a callback or a completion.
PENDING: Final = ("in_progress", "authorized")

_COLUMNS: Final = (
    "session_uri, state_hash, workload, workload_client_id, user_issuer, user_key,"
    " user_subject, provider, request, sealed, key_id, status, reason, state_consumed,"
    " created_at, expires_at"
)
_SELECT: Final = f"SELECT {_COLUMNS} FROM vault_sessions"  # noqa: S608 - fixed names


@dataclass(frozen=True)
class SessionRecord:
    session_uri: str
    state_hash: str = field(repr=False)
    workload: str
    workload_client_id: str
    user_issuer: str
    user_key: str
    user_subject: str
    provider: str
    #: scopes, resources, audiences, return_url, custom_state, task, consent_ttl
    request: dict[str, Any] = field(hash=False)
    sealed: bytes | None = field(repr=False)
    key_id: str | None
    status: SessionStatus
    reason: str | None
    state_consumed: bool
    created_at: int
    expires_at: int

    @property
    def entry_key(self) -> EntryKey:
        return EntryKey(self.workload_client_id, self.user_issuer, self.user_key, self.provider)

    def aad_identity(self) -> dict[str, str]:
        """VLT-ENC-002: the identity bound to the session's ciphertext."""
        return {"kind": "session", "session_uri": self.session_uri}

    @classmethod
    def from_row(cls, row: Row) -> SessionRecord:
        sealed = row["sealed"]
        return cls(
            session_uri=row["session_uri"],
            state_hash=row["state_hash"],
            workload=row["workload"],
            workload_client_id=row["workload_client_id"],
            user_issuer=row["user_issuer"],
            user_key=row["user_key"],
            user_subject=row["user_subject"],
            provider=row["provider"],
            request=load_object(row["request"]),
            sealed=None if sealed is None else bytes(sealed),
            key_id=row["key_id"],
            status=row["status"],
            reason=row["reason"],
            state_consumed=bool(row["state_consumed"]),
            created_at=int(row["created_at"]),
            expires_at=int(row["expires_at"]),
        )


class SessionRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    def insert(self, record: SessionRecord, *, tx: Transaction | None = None) -> None:
        with in_transaction(self._database, tx) as t:
            t.execute(
                f"INSERT INTO vault_sessions ({_COLUMNS}) VALUES"  # noqa: S608 - fixed names
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.session_uri,
                    record.state_hash,
                    record.workload,
                    record.workload_client_id,
                    record.user_issuer,
                    record.user_key,
                    record.user_subject,
                    record.provider,
                    dump_object(record.request),
                    record.sealed,
                    record.key_id,
                    record.status,
                    record.reason,
                    bool(record.state_consumed),
                    record.created_at,
                    record.expires_at,
                ),
            )

    def get(self, session_uri: str, *, tx: Transaction | None = None) -> SessionRecord | None:
        with in_transaction(self._database, tx, readonly=True) as t:
            row = t.fetchone(_SELECT + " WHERE session_uri = ?", (session_uri,))
        return SessionRecord.from_row(row) if row else None

    def get_by_state(
        self, state_hash: str, *, tx: Transaction | None = None
    ) -> SessionRecord | None:
        with in_transaction(self._database, tx, readonly=True) as t:
            row = t.fetchone(_SELECT + " WHERE state_hash = ?", (state_hash,))
        return SessionRecord.from_row(row) if row else None

    def consume_state(self, session_uri: str, *, tx: Transaction | None = None) -> bool:
        """VLT-STATE-002: marks the state used; ``True`` only for the first caller."""
        with in_transaction(self._database, tx) as t:
            changed = t.execute_count(
                "UPDATE vault_sessions SET state_consumed = ?"
                " WHERE session_uri = ? AND state_consumed = ?",
                (True, session_uri, False),
            )
        return changed == 1

    def transition(
        self,
        session_uri: str,
        *,
        from_status: tuple[SessionStatus, ...],
        to_status: SessionStatus,
        reason: str | None = None,
        sealed: tuple[bytes, str] | None = None,
        tx: Transaction | None = None,
    ) -> bool:
        """Moves a session from one of ``from_status`` to ``to_status`` (compare-and-swap),
        replacing the sealed blob (``None`` drops it: the verifier and tokens are
        destroyed, VLT-PKCE-003). ``False`` when the session was not in such a status."""
        blob, key_id = sealed if sealed is not None else (None, None)
        marks = ", ".join("?" for _ in from_status)
        with in_transaction(self._database, tx) as t:
            changed = t.execute_count(
                "UPDATE vault_sessions SET status = ?, reason = ?, sealed = ?, key_id = ?"  # noqa: S608 - fixed names
                f" WHERE session_uri = ? AND status IN ({marks})",
                (to_status, reason, blob, key_id, session_uri, *from_status),
            )
        return changed == 1

    def pending_for_entry(
        self, key: EntryKey, *, tx: Transaction | None = None
    ) -> list[SessionRecord]:
        with in_transaction(self._database, tx, readonly=True) as t:
            rows = t.fetchall(
                _SELECT + " WHERE workload_client_id = ? AND user_issuer = ? AND user_key = ?"
                " AND provider = ? AND status IN (?, ?)",
                (*key.params(), *PENDING),
            )
        return [SessionRecord.from_row(row) for row in rows]

    def delete_pending_for_entry(
        self, key: EntryKey, *, tx: Transaction | None = None
    ) -> list[SessionRecord]:
        """CNS-REV-003: deletes the sessions of an entry that are still in progress."""
        with in_transaction(self._database, tx) as t:
            rows = t.fetchall(
                "DELETE FROM vault_sessions WHERE workload_client_id = ? AND user_issuer = ?"  # noqa: S608 - fixed names
                " AND user_key = ? AND provider = ? AND status IN (?, ?)"
                f" RETURNING {_COLUMNS}",
                (*key.params(), *PENDING),
            )
        return [SessionRecord.from_row(row) for row in rows]

    def delete_for_provider(
        self, provider: str, *, tx: Transaction | None = None
    ) -> list[SessionRecord]:
        """PRV-CFG-004: every session of a provider, deleted and returned."""
        with in_transaction(self._database, tx) as t:
            rows = t.fetchall(
                f"DELETE FROM vault_sessions WHERE provider = ? RETURNING {_COLUMNS}",  # noqa: S608 - fixed names
                (provider,),
            )
        return [SessionRecord.from_row(row) for row in rows]

    def expired_pending(
        self, now: int, *, limit: int = 100, tx: Transaction | None = None
    ) -> list[SessionRecord]:
        """Pending sessions past their expiry (for the sweeper)."""
        with in_transaction(self._database, tx, readonly=True) as t:
            rows = t.fetchall(
                _SELECT + " WHERE expires_at <= ? AND status IN (?, ?) ORDER BY expires_at LIMIT ?",
                (now, *PENDING, limit),
            )
        return [SessionRecord.from_row(row) for row in rows]

    def purge(self, before: int, *, tx: Transaction | None = None) -> int:
        """Deletes sessions that expired before ``before`` (VLT-SESS-005 keeps answering
        ``session_expired`` for 24 hours; the caller passes ``now - 86400``)."""
        with in_transaction(self._database, tx) as t:
            return t.execute_count(
                "DELETE FROM vault_sessions WHERE expires_at < ? AND status NOT IN (?, ?)",
                (before, *PENDING),
            )
