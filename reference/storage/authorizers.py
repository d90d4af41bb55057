"""Stored authorizers: a name and the JSON configuration the inbound rules read.

The configuration is the control plane's authorizer object without ``name``,
``created_at`` and ``updated_at`` (spec ``02-inbound-authorization.md``); it is kept as a
JSON document so a new rule member needs no migration. ``version`` counts replacements
and lets a caller refuse to overwrite a change it has not seen.
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

__all__ = ["AuthorizerRecord", "AuthorizerRepository"]

_RETURNING = " RETURNING name, config, created_at, updated_at, version"
_SELECT = "SELECT name, config, created_at, updated_at, version FROM authorizers"
_INSERT = (
    "INSERT INTO authorizers (name, config, created_at, updated_at, version) "
    "VALUES (?, ?, ?, ?, 1) ON CONFLICT (name) DO NOTHING"
)
_UPDATE = "UPDATE authorizers SET config = ?, updated_at = ?, version = version + 1 WHERE name = ?"


@dataclass(frozen=True)
class AuthorizerRecord:
    name: str
    config: dict[str, Any] = field(hash=False)
    created_at: int
    updated_at: int
    version: int

    @classmethod
    def from_row(cls, row: Row) -> AuthorizerRecord:
        return cls(
            name=row["name"],
            config=load_object(row["config"]),
            created_at=int(row["created_at"]),
            updated_at=int(row["updated_at"]),
            version=int(row["version"]),
        )


class AuthorizerRepository:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    def create(
        self, name: str, config: Mapping[str, Any], *, tx: Transaction | None = None
    ) -> AuthorizerRecord:
        """Stores a new authorizer; :class:`Conflict` if the name is taken."""
        now = int(self._clock.now())
        with in_transaction(self._database, tx) as t:
            row = t.fetchone(
                _INSERT + _RETURNING,
                (name, dump_object(config), now, now),
            )
        if row is None:
            raise Conflict(f"an authorizer named {name!r} already exists")
        return AuthorizerRecord.from_row(row)

    def get(self, name: str, *, tx: Transaction | None = None) -> AuthorizerRecord | None:
        with in_transaction(self._database, tx, readonly=True) as t:
            row = t.fetchone(_SELECT + " WHERE name = ?", (name,))
        return AuthorizerRecord.from_row(row) if row else None

    def replace(
        self,
        name: str,
        config: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        tx: Transaction | None = None,
    ) -> AuthorizerRecord:
        """Replaces the configuration; :class:`NotFound` if absent, :class:`Conflict` if
        ``expected_version`` is given and the stored version differs."""
        now = int(self._clock.now())
        sql = _UPDATE
        params: list[Any] = [dump_object(config), now, name]
        if expected_version is not None:
            sql += " AND version = ?"
            params.append(expected_version)
        with in_transaction(self._database, tx) as t:
            row = t.fetchone(sql + _RETURNING, params)
            if row is None:
                exists = t.fetchone("SELECT version FROM authorizers WHERE name = ?", (name,))
                if exists is None:
                    raise NotFound("authorizer not found")
                raise Conflict(f"authorizer {name!r} was changed concurrently")
        return AuthorizerRecord.from_row(row)

    def delete(self, name: str, *, tx: Transaction | None = None) -> None:
        """Removes the authorizer; :class:`NotFound` if absent."""
        with in_transaction(self._database, tx) as t:
            if t.execute_count("DELETE FROM authorizers WHERE name = ?", (name,)) == 0:
                raise NotFound("authorizer not found")

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        next_token: str | None = None,
        tx: Transaction | None = None,
    ) -> Page[AuthorizerRecord]:
        """Authorizers ordered by name."""
        check_limit(limit)
        after = (
            "" if next_token is None else str(decode_cursor("authorizers", next_token, [str])[0])
        )
        with in_transaction(self._database, tx, readonly=True) as t:
            rows = t.fetchall(
                _SELECT + " WHERE name > ? ORDER BY name LIMIT ?",
                (after, limit + 1),
            )
        items = [AuthorizerRecord.from_row(row) for row in rows[:limit]]
        token = encode_cursor("authorizers", [items[-1].name]) if len(rows) > limit else None
        return Page(items, token)
