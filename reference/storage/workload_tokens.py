"""Stored workload access tokens (spec ``04-workload-access-tokens.md``).

Only a hash of each token is stored (``token_hash``, computed by the caller); a database
leak does not yield usable tokens. A row binds the token to its workload and, when the
token was issued for a user, to that user: the IdP ``issuer`` and ``subject``, the
service's ``user_key`` for that pair, or a caller-asserted ``user_id``.

A token is *active* while it is neither revoked nor expired (``now < expires_at``).
Deleting a workload deletes its tokens (foreign key ``ON DELETE CASCADE``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from proctor.reference.clock import Clock
from proctor.reference.storage.database import Database, Row, Transaction, in_transaction

__all__ = ["WorkloadTokenRecord", "WorkloadTokenRepository"]

_SELECT = (
    "SELECT token_hash, workload, user_issuer, user_subject, user_key, user_id,"
    " issued_at, expires_at, revoked FROM workload_access_tokens"
)
_INSERT = (
    "INSERT INTO workload_access_tokens (token_hash, workload, user_issuer, user_subject,"
    " user_key, user_id, issued_at, expires_at, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " RETURNING token_hash, workload, user_issuer, user_subject, user_key, user_id,"
    " issued_at, expires_at, revoked"
)


@dataclass(frozen=True)
class WorkloadTokenRecord:
    token_hash: str = field(repr=False)
    workload: str
    user_issuer: str | None
    user_subject: str | None
    user_key: str | None
    user_id: str | None
    issued_at: int
    expires_at: int
    revoked: bool

    def is_active(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at

    @classmethod
    def from_row(cls, row: Row) -> WorkloadTokenRecord:
        return cls(
            token_hash=row["token_hash"],
            workload=row["workload"],
            user_issuer=row["user_issuer"],
            user_subject=row["user_subject"],
            user_key=row["user_key"],
            user_id=row["user_id"],
            issued_at=int(row["issued_at"]),
            expires_at=int(row["expires_at"]),
            revoked=bool(row["revoked"]),
        )


class WorkloadTokenRepository:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    def store(
        self,
        token_hash: str,
        workload: str,
        *,
        expires_at: int,
        user_issuer: str | None = None,
        user_subject: str | None = None,
        user_key: str | None = None,
        user_id: str | None = None,
        tx: Transaction | None = None,
    ) -> WorkloadTokenRecord:
        """Records a newly issued token. The workload must exist (foreign key)."""
        if (user_issuer is None) != (user_subject is None):
            raise ValueError("a user is bound by issuer and subject together")
        now = int(self._clock.now())
        if expires_at <= now:
            raise ValueError("a new token must expire in the future")
        with in_transaction(self._database, tx) as t:
            row = t.fetchone(
                _INSERT,
                (
                    token_hash,
                    workload,
                    user_issuer,
                    user_subject,
                    user_key,
                    user_id,
                    now,
                    expires_at,
                    False,
                ),
            )
        assert row is not None  # RETURNING of a successful INSERT
        return WorkloadTokenRecord.from_row(row)

    def get(self, token_hash: str, *, tx: Transaction | None = None) -> WorkloadTokenRecord | None:
        """The stored token, active or not."""
        with in_transaction(self._database, tx, readonly=True) as t:
            row = t.fetchone(
                _SELECT + " WHERE token_hash = ?",
                (token_hash,),
            )
        return WorkloadTokenRecord.from_row(row) if row else None

    def find_active(
        self, token_hash: str, *, tx: Transaction | None = None
    ) -> WorkloadTokenRecord | None:
        """The token if it is neither revoked nor expired now, else ``None``."""
        record = self.get(token_hash, tx=tx)
        if record is None or not record.is_active(self._clock.now()):
            return None
        return record

    def revoke(self, token_hash: str, *, tx: Transaction | None = None) -> bool:
        """Revokes one token; ``False`` if no such token is stored."""
        with in_transaction(self._database, tx) as t:
            changed = t.execute_count(
                "UPDATE workload_access_tokens SET revoked = ? WHERE token_hash = ?",
                (True, token_hash),
            )
        return changed > 0

    def revoke_for_workload(self, workload: str, *, tx: Transaction | None = None) -> int:
        """Revokes every token of a workload (a disabled workload, a rotated secret)."""
        with in_transaction(self._database, tx) as t:
            return t.execute_count(
                "UPDATE workload_access_tokens SET revoked = ? WHERE workload = ? AND revoked = ?",
                (True, workload, False),
            )

    def purge_expired(self, *, tx: Transaction | None = None) -> int:
        """Deletes tokens that expired before now; returns how many."""
        now = int(self._clock.now())
        with in_transaction(self._database, tx) as t:
            return t.execute_count(
                "DELETE FROM workload_access_tokens WHERE expires_at <= ?", (now,)
            )
