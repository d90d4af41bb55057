"""Stored workload identities (spec ``03-workload-identity.md``).

A workload has a unique ``name`` (the control plane's key) and a unique, immutable
``client_id`` (its OAuth identity at the token endpoint). The rest of its registration
(authorizer, return URLs, JWKS, auth method) is a JSON document.

The client secret is never stored: ``secret_hash`` is whatever one-way verifier the
directory computes, and ``secret_key_id`` names the key that computed it (so a peppered
hash can be rotated). Neither appears in a record's ``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from proctor.reference.clock import Clock
from proctor.reference.errors import Conflict, NotFound
from proctor.reference.storage.columns import dump_object, load_object
from proctor.reference.storage.database import Database, Row, Transaction, in_transaction
from proctor.reference.storage.pagination import (
    DEFAULT_LIMIT,
    Page,
    check_limit,
    decode_cursor,
    encode_cursor,
)

__all__ = ["WorkloadRecord", "WorkloadRepository"]

_RETURNING = (
    " RETURNING name, client_id, config, secret_hash, secret_key_id, disabled,"
    " created_at, updated_at, version"
)
_SELECT = (
    "SELECT name, client_id, config, secret_hash, secret_key_id, disabled,"
    " created_at, updated_at, version FROM workloads"
)
_INSERT = (
    "INSERT INTO workloads (name, client_id, config, secret_hash, secret_key_id, disabled,"
    " created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)"
    " ON CONFLICT DO NOTHING"
)
# The SET lists a caller may use; the WHERE clause is appended.
_REPLACE = "UPDATE workloads SET config = ?, disabled = ?, updated_at = ?, version = version + 1"
_ROTATE = (
    "UPDATE workloads SET secret_hash = ?, secret_key_id = ?, updated_at = ?, version = version + 1"
)


@dataclass(frozen=True)
class WorkloadRecord:
    name: str
    client_id: str
    config: dict[str, Any] = field(hash=False)
    secret_hash: str | None = field(repr=False)
    secret_key_id: str | None = field(repr=False)
    disabled: bool
    created_at: int
    updated_at: int
    version: int

    @classmethod
    def from_row(cls, row: Row) -> WorkloadRecord:
        return cls(
            name=row["name"],
            client_id=row["client_id"],
            config=load_object(row["config"]),
            secret_hash=row["secret_hash"],
            secret_key_id=row["secret_key_id"],
            disabled=bool(row["disabled"]),
            created_at=int(row["created_at"]),
            updated_at=int(row["updated_at"]),
            version=int(row["version"]),
        )


class WorkloadRepository:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    def create(
        self,
        name: str,
        client_id: str,
        config: Mapping[str, Any],
        *,
        secret_hash: str | None = None,
        secret_key_id: str | None = None,
        disabled: bool = False,
        tx: Transaction | None = None,
    ) -> WorkloadRecord:
        """Stores a new workload; :class:`Conflict` if the name or client_id is taken."""
        now = int(self._clock.now())
        with in_transaction(self._database, tx) as t:
            row = t.fetchone(
                _INSERT + _RETURNING,
                (
                    name,
                    client_id,
                    dump_object(config),
                    secret_hash,
                    secret_key_id,
                    bool(disabled),
                    now,
                    now,
                ),
            )
            if row is None:
                if t.fetchone("SELECT 1 AS taken FROM workloads WHERE name = ?", (name,)):
                    raise Conflict(f"a workload named {name!r} already exists")
                raise Conflict("that client_id is already in use")
        return WorkloadRecord.from_row(row)

    def get(self, name: str, *, tx: Transaction | None = None) -> WorkloadRecord | None:
        with in_transaction(self._database, tx, readonly=True) as t:
            row = t.fetchone(_SELECT + " WHERE name = ?", (name,))
        return WorkloadRecord.from_row(row) if row else None

    def get_by_client_id(
        self, client_id: str, *, tx: Transaction | None = None
    ) -> WorkloadRecord | None:
        with in_transaction(self._database, tx, readonly=True) as t:
            row = t.fetchone(_SELECT + " WHERE client_id = ?", (client_id,))
        return WorkloadRecord.from_row(row) if row else None

    def replace(
        self,
        name: str,
        config: Mapping[str, Any],
        *,
        disabled: bool,
        expected_version: int | None = None,
        tx: Transaction | None = None,
    ) -> WorkloadRecord:
        """Replaces the configuration and the disabled flag (the client_id and secret stay);
        :class:`NotFound` if absent, :class:`Conflict` on a version mismatch."""
        return self._update(
            name, _REPLACE, [dump_object(config), bool(disabled)], expected_version, tx
        )

    def set_secret(
        self,
        name: str,
        *,
        secret_hash: str,
        secret_key_id: str | None,
        tx: Transaction | None = None,
    ) -> WorkloadRecord:
        """Replaces the stored secret verifier (rotation); :class:`NotFound` if absent."""
        return self._update(name, _ROTATE, [secret_hash, secret_key_id], None, tx)

    def _update(
        self,
        name: str,
        update: str,
        values: list[Any],
        expected_version: int | None,
        tx: Transaction | None,
    ) -> WorkloadRecord:
        now = int(self._clock.now())
        sql = update + " WHERE name = ?"
        params = [*values, now, name]
        if expected_version is not None:
            sql += " AND version = ?"
            params.append(expected_version)
        with in_transaction(self._database, tx) as t:
            row = t.fetchone(sql + _RETURNING, params)
            if row is None:
                if t.fetchone("SELECT 1 AS found FROM workloads WHERE name = ?", (name,)) is None:
                    raise NotFound("workload not found")
                raise Conflict(f"workload {name!r} was changed concurrently")
        return WorkloadRecord.from_row(row)

    def delete(self, name: str, *, tx: Transaction | None = None) -> None:
        """Removes the workload and (by cascade) its workload access tokens."""
        with in_transaction(self._database, tx) as t:
            if t.execute_count("DELETE FROM workloads WHERE name = ?", (name,)) == 0:
                raise NotFound("workload not found")

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        next_token: str | None = None,
        tx: Transaction | None = None,
    ) -> Page[WorkloadRecord]:
        """Workloads ordered by name."""
        check_limit(limit)
        after = "" if next_token is None else str(decode_cursor("workloads", next_token, [str])[0])
        with in_transaction(self._database, tx, readonly=True) as t:
            rows = t.fetchall(
                _SELECT + " WHERE name > ? ORDER BY name LIMIT ?",
                (after, limit + 1),
            )
        items = [WorkloadRecord.from_row(row) for row in rows[:limit]]
        token = encode_cursor("workloads", [items[-1].name]) if len(rows) > limit else None
        return Page(items, token)
