"""Stored credential providers (spec ``05-credential-providers-and-vault.md``).

One table holds both kinds, keyed by ``(kind, name)``: ``oauth2`` providers and
``api_key`` providers. The JSON ``config`` is the control-plane object without its name,
its timestamps and its secret; the client secret or API key is kept only as a sealed blob
(``secret``, :class:`~proctor.reference.encryption.Sealed` bytes) with the id of the
key-encryption key that wraps it (``key_id``, VLT-ENC-003), and neither ever appears in a
record's ``repr``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

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

__all__ = ["KEEP", "ProviderKind", "ProviderRecord", "ProviderRepository", "SecretUpdate"]

ProviderKind = Literal["oauth2", "api_key"]

_COLUMNS: Final = "kind, name, config, secret, key_id, created_at, updated_at, version"
_SELECT: Final = f"SELECT {_COLUMNS} FROM credential_providers"  # noqa: S608 - fixed names


class _Keep:
    """Marker: leave the stored secret as it is."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()
#: A replacement's secret: new sealed bytes with their key id, ``None`` (drop it) or KEEP.
SecretUpdate = tuple[bytes, str] | None | _Keep


@dataclass(frozen=True)
class ProviderRecord:
    kind: ProviderKind
    name: str
    config: dict[str, Any] = field(hash=False)
    secret: bytes | None = field(repr=False)
    key_id: str | None
    created_at: int
    updated_at: int
    version: int

    @classmethod
    def from_row(cls, row: Row) -> ProviderRecord:
        secret = row["secret"]
        return cls(
            kind=row["kind"],
            name=row["name"],
            config=load_object(row["config"]),
            secret=None if secret is None else bytes(secret),
            key_id=row["key_id"],
            created_at=int(row["created_at"]),
            updated_at=int(row["updated_at"]),
            version=int(row["version"]),
        )


class ProviderRepository:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    def create(
        self,
        kind: ProviderKind,
        name: str,
        config: Mapping[str, Any],
        secret: tuple[bytes, str] | None,
        *,
        tx: Transaction | None = None,
    ) -> ProviderRecord:
        """Stores a new provider; :class:`Conflict` if ``(kind, name)`` is taken."""
        now = int(self._clock.now())
        blob, key_id = secret if secret is not None else (None, None)
        with in_transaction(self._database, tx) as t:
            row = t.fetchone(
                "INSERT INTO credential_providers (kind, name, config, secret, key_id,"  # noqa: S608 - fixed names
                " created_at, updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, 1)"
                f" ON CONFLICT (kind, name) DO NOTHING RETURNING {_COLUMNS}",
                (kind, name, dump_object(config), blob, key_id, now, now),
            )
            if row is None:
                raise Conflict(f"A provider named {name!r} already exists.")
        return ProviderRecord.from_row(row)

    def get(
        self, kind: ProviderKind, name: str, *, tx: Transaction | None = None
    ) -> ProviderRecord | None:
        with in_transaction(self._database, tx, readonly=True) as t:
            row = t.fetchone(_SELECT + " WHERE kind = ? AND name = ?", (kind, name))
        return ProviderRecord.from_row(row) if row else None

    def replace(
        self,
        kind: ProviderKind,
        name: str,
        config: Mapping[str, Any],
        secret: SecretUpdate,
        *,
        tx: Transaction | None = None,
    ) -> ProviderRecord:
        """Replaces the configuration and, unless ``secret`` is :data:`KEEP`, the secret
        (PRV-CFG-003: the old ciphertext is overwritten in the same row)."""
        now = int(self._clock.now())
        sets = "config = ?, updated_at = ?, version = version + 1"
        params: list[Any] = [dump_object(config), now]
        if not isinstance(secret, _Keep):
            sets += ", secret = ?, key_id = ?"
            params += [None, None] if secret is None else [secret[0], secret[1]]
        with in_transaction(self._database, tx) as t:
            row = t.fetchone(
                f"UPDATE credential_providers SET {sets} WHERE kind = ? AND name = ?"  # noqa: S608
                f" RETURNING {_COLUMNS}",
                (*params, kind, name),
            )
            if row is None:
                raise NotFound("No provider has that name.", code="provider_not_found")
        return ProviderRecord.from_row(row)

    def delete(
        self, kind: ProviderKind, name: str, *, tx: Transaction | None = None
    ) -> ProviderRecord | None:
        """Deletes and returns the provider (``None`` when there was none)."""
        with in_transaction(self._database, tx) as t:
            row = t.fetchone(
                "DELETE FROM credential_providers WHERE kind = ? AND name = ?"  # noqa: S608 - fixed names
                f" RETURNING {_COLUMNS}",
                (kind, name),
            )
        return ProviderRecord.from_row(row) if row else None

    def list(
        self,
        kind: ProviderKind,
        *,
        limit: int = DEFAULT_LIMIT,
        next_token: str | None = None,
        tx: Transaction | None = None,
    ) -> Page[ProviderRecord]:
        """Providers of one kind ordered by name."""
        check_limit(limit)
        cursor = f"providers.{kind}"
        after = "" if next_token is None else str(decode_cursor(cursor, next_token, [str])[0])
        with in_transaction(self._database, tx, readonly=True) as t:
            rows = t.fetchall(
                _SELECT + " WHERE kind = ? AND name > ? ORDER BY name LIMIT ?",
                (kind, after, limit + 1),
            )
        items = [ProviderRecord.from_row(row) for row in rows[:limit]]
        token = encode_cursor(cursor, [items[-1].name]) if len(rows) > limit else None
        return Page(items, token)
