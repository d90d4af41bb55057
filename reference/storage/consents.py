"""Stored consents (spec ``06-consent.md``, CNS-REC-001).

A consent belongs to one (workload ``client_id``, user issuer, user key, provider, task):
at most one row per such tuple (a unique constraint), ``task`` stored as ``''`` when the
consent is not task-scoped. Rows carry the workload's name and the user's subject too, for
listing and for the audit log; none of a consent's members is secret.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from proctor.reference.storage.database import Database, Row, Transaction, in_transaction
from proctor.reference.storage.pagination import (
    DEFAULT_LIMIT,
    Page,
    check_limit,
    decode_cursor,
    encode_cursor,
)
from proctor.reference.storage.vault import EntryKey

__all__ = ["ConsentFilter", "ConsentRecord", "ConsentRepository"]

_COLUMNS: Final = (
    "id, workload, workload_client_id, user_issuer, user_key, user_subject, provider, task,"
    " scopes, granted_at, expires_at"
)
_SELECT: Final = f"SELECT {_COLUMNS} FROM consents"  # noqa: S608 - fixed names
_ENTRY: Final = "workload_client_id = ? AND user_issuer = ? AND user_key = ? AND provider = ?"


@dataclass(frozen=True)
class ConsentRecord:
    id: str
    workload: str
    workload_client_id: str
    user_issuer: str
    user_key: str
    user_subject: str
    provider: str
    task: str | None
    scopes: tuple[str, ...]
    granted_at: int
    expires_at: int | None

    @property
    def entry_key(self) -> EntryKey:
        return EntryKey(self.workload_client_id, self.user_issuer, self.user_key, self.provider)

    def expired(self, now: float) -> bool:
        """CNS-TASK-002: from ``expires_at`` on, a consent covers nothing."""
        return self.expires_at is not None and now >= self.expires_at

    @classmethod
    def from_row(cls, row: Row) -> ConsentRecord:
        scopes = json.loads(row["scopes"])
        return cls(
            id=row["id"],
            workload=row["workload"],
            workload_client_id=row["workload_client_id"],
            user_issuer=row["user_issuer"],
            user_key=row["user_key"],
            user_subject=row["user_subject"],
            provider=row["provider"],
            task=row["task"] or None,
            scopes=tuple(str(s) for s in scopes),
            granted_at=int(row["granted_at"]),
            expires_at=None if row["expires_at"] is None else int(row["expires_at"]),
        )


@dataclass(frozen=True)
class ConsentFilter:
    """CNS-LIST-002 filters (each exact, combined with AND); ``user_key`` is for
    CNS-LIST-001 (a user's own consents: issuer and user key)."""

    user_subject: str | None = None
    user_issuer: str | None = None
    user_key: str | None = None
    workload: str | None = None
    provider: str | None = None


class ConsentRepository:
    def __init__(self, database: Database) -> None:
        self._database = database

    def upsert(
        self,
        *,
        consent_id: str,
        key: EntryKey,
        workload: str,
        user_subject: str,
        task: str | None,
        scopes: Sequence[str],
        granted_at: int,
        expires_at: int | None,
        tx: Transaction | None = None,
    ) -> ConsentRecord:
        """CNS-REC-002: creates the consent of (entry, task), or updates its scopes and
        times (keeping its id)."""
        with in_transaction(self._database, tx) as t:
            row = t.fetchone(
                f"INSERT INTO consents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 - fixed names
                " ON CONFLICT (workload_client_id, user_issuer, user_key, provider, task)"
                " DO UPDATE SET workload = excluded.workload,"
                " user_subject = excluded.user_subject, scopes = excluded.scopes,"
                " granted_at = excluded.granted_at, expires_at = excluded.expires_at"
                f" RETURNING {_COLUMNS}",
                (
                    consent_id,
                    workload,
                    *key.params()[:3],
                    user_subject,
                    key.provider,
                    task or "",
                    json.dumps(sorted(set(scopes)), separators=(",", ":")),
                    granted_at,
                    expires_at,
                ),
            )
        assert row is not None  # RETURNING of an upsert
        return ConsentRecord.from_row(row)

    def get(self, consent_id: str, *, tx: Transaction | None = None) -> ConsentRecord | None:
        with in_transaction(self._database, tx, readonly=True) as t:
            row = t.fetchone(_SELECT + " WHERE id = ?", (consent_id,))
        return ConsentRecord.from_row(row) if row else None

    def for_entry(self, key: EntryKey, *, tx: Transaction | None = None) -> list[ConsentRecord]:
        """Every consent (any task, expired or not) of one (workload, user, provider)."""
        with in_transaction(self._database, tx, readonly=True) as t:
            rows = t.fetchall(_SELECT + f" WHERE {_ENTRY} ORDER BY id", key.params())
        return [ConsentRecord.from_row(row) for row in rows]

    def delete(self, consent_id: str, *, tx: Transaction | None = None) -> ConsentRecord | None:
        with in_transaction(self._database, tx) as t:
            row = t.fetchone(
                f"DELETE FROM consents WHERE id = ? RETURNING {_COLUMNS}",  # noqa: S608
                (consent_id,),
            )
        return ConsentRecord.from_row(row) if row else None

    def delete_for_provider(self, provider: str, *, tx: Transaction | None = None) -> int:
        with in_transaction(self._database, tx) as t:
            return t.execute_count("DELETE FROM consents WHERE provider = ?", (provider,))

    def expired(
        self, now: int, *, limit: int = 100, tx: Transaction | None = None
    ) -> list[ConsentRecord]:
        with in_transaction(self._database, tx, readonly=True) as t:
            rows = t.fetchall(
                _SELECT + " WHERE expires_at IS NOT NULL AND expires_at <= ? ORDER BY id LIMIT ?",
                (now, limit),
            )
        return [ConsentRecord.from_row(row) for row in rows]

    def list(
        self,
        filters: ConsentFilter,
        *,
        now: int,
        limit: int = DEFAULT_LIMIT,
        next_token: str | None = None,
        tx: Transaction | None = None,
    ) -> Page[ConsentRecord]:
        """CNS-LIST-001/002: unexpired consents matching ``filters``, ordered by id."""
        check_limit(limit)
        after = "" if next_token is None else str(decode_cursor("consents", next_token, [str])[0])
        where = ["id > ?", "(expires_at IS NULL OR expires_at > ?)"]
        params: list[Any] = [after, now]
        for column, value in (
            ("user_subject", filters.user_subject),
            ("user_issuer", filters.user_issuer),
            ("user_key", filters.user_key),
            ("workload", filters.workload),
            ("provider", filters.provider),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        params.append(limit + 1)
        with in_transaction(self._database, tx, readonly=True) as t:
            rows = t.fetchall(
                _SELECT + " WHERE " + " AND ".join(where) + " ORDER BY id LIMIT ?", params
            )
        items = [ConsentRecord.from_row(row) for row in rows[:limit]]
        token = encode_cursor("consents", [items[-1].id]) if len(rows) > limit else None
        return Page(items, token)
