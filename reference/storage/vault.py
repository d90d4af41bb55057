"""Stored vault entries, cached m2m/on-behalf-of tokens and WAT-bound user tokens
(spec ``05-credential-providers-and-vault.md``).

**Entries** (VLT-PART-001) are keyed by :class:`EntryKey`: the workload's ``client_id``
(never its name, so a re-created workload never reaches old entries), the user's IdP
issuer and user key, and the provider name. No method addresses an entry by any other
key. The token set (access and refresh token) is a sealed blob with its KEK id; granted
scopes, resources, audiences and expiry are plain columns, because they are no secret and
the vault decides on them before it opens anything.

**One refresh at a time** (VLT-REF-002) holds across nodes through two columns:
``version`` grows on every write of the token set (a compare-and-swap guard), and a
*lease* (``lease_owner``, ``lease_until``) that :meth:`EntryRepository.acquire_lease`
takes only if the entry still has the version the caller read and no live lease exists.
The holder writes the refreshed tokens with :meth:`EntryRepository.store_refreshed`,
which succeeds only while it still holds the lease; everyone else waits and re-reads.

**The token cache** (VLT-M2M-002, VLT-OBO-001) maps an opaque cache key to a sealed token.
**WAT user tokens** (WAT-PASS-001, VLT-OBO-001) keep, sealed, the user JWT a workload
access token was issued for; a row dies with its WAT (foreign key ``ON DELETE CASCADE``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from proctor.reference.clock import Clock
from proctor.reference.storage.database import Database, Row, Transaction, in_transaction

__all__ = [
    "BoundUserToken",
    "BoundUserTokenRepository",
    "CachedToken",
    "EntryKey",
    "EntryRecord",
    "EntryRepository",
    "EntryWrite",
    "TokenCacheRepository",
]

_ENTRY_COLUMNS: Final = (
    "workload_client_id, user_issuer, user_key, provider, workload, user_subject, sealed,"
    " key_id, scopes, resources, audiences, has_refresh, expires_at, expires_in, version,"
    " lease_owner, lease_until, updated_at"
)
_ENTRY_KEY: Final = "workload_client_id = ? AND user_issuer = ? AND user_key = ? AND provider = ?"


def _names(values: Sequence[str]) -> str:
    return json.dumps(sorted(set(values)), separators=(",", ":"))


def _load_names(text: str) -> tuple[str, ...]:
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("stored list is not a list of strings")
    return tuple(value)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True, slots=True)
class EntryKey:
    """VLT-PART-001: the only key of a vault entry."""

    workload_client_id: str
    user_issuer: str
    user_key: str
    provider: str

    def params(self) -> tuple[str, str, str, str]:
        return (self.workload_client_id, self.user_issuer, self.user_key, self.provider)

    def aad_identity(self) -> dict[str, str]:
        """VLT-ENC-002: the identity bound as associated data of the entry's ciphertext."""
        return {
            "kind": "vault_entry",
            "workload": self.workload_client_id,
            "user_issuer": self.user_issuer,
            "user_key": self.user_key,
            "provider": self.provider,
        }


@dataclass(frozen=True)
class EntryRecord:
    key: EntryKey
    workload: str
    user_subject: str
    sealed: bytes = field(repr=False)
    key_id: str
    scopes: tuple[str, ...]
    resources: tuple[str, ...]
    audiences: tuple[str, ...]
    has_refresh: bool
    expires_at: int | None
    expires_in: int | None
    version: int
    lease_owner: str | None
    lease_until: int | None
    updated_at: int

    @classmethod
    def from_row(cls, row: Row) -> EntryRecord:
        return cls(
            key=EntryKey(
                row["workload_client_id"], row["user_issuer"], row["user_key"], row["provider"]
            ),
            workload=row["workload"],
            user_subject=row["user_subject"],
            sealed=bytes(row["sealed"]),
            key_id=row["key_id"],
            scopes=_load_names(row["scopes"]),
            resources=_load_names(row["resources"]),
            audiences=_load_names(row["audiences"]),
            has_refresh=bool(row["has_refresh"]),
            expires_at=_int_or_none(row["expires_at"]),
            expires_in=_int_or_none(row["expires_in"]),
            version=int(row["version"]),
            lease_owner=row["lease_owner"],
            lease_until=_int_or_none(row["lease_until"]),
            updated_at=int(row["updated_at"]),
        )


@dataclass(frozen=True)
class EntryWrite:
    """What a write puts into an entry (everything but key, version and lease)."""

    workload: str
    user_subject: str
    sealed: bytes = field(repr=False)
    key_id: str
    scopes: Sequence[str]
    resources: Sequence[str]
    audiences: Sequence[str]
    has_refresh: bool
    expires_at: int | None
    expires_in: int | None


class EntryRepository:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    def get(self, key: EntryKey, *, tx: Transaction | None = None) -> EntryRecord | None:
        with in_transaction(self._database, tx, readonly=True) as t:
            row = t.fetchone(
                f"SELECT {_ENTRY_COLUMNS} FROM vault_entries WHERE {_ENTRY_KEY}",  # noqa: S608
                key.params(),
            )
        return EntryRecord.from_row(row) if row else None

    def put(self, key: EntryKey, write: EntryWrite, *, tx: Transaction | None = None) -> None:
        """Creates the entry or replaces its whole token set (a completed session); any
        lease is dropped and the version grows, so a refresh in flight cannot overwrite
        the new tokens."""
        now = int(self._clock.now())
        values = (
            write.workload,
            write.user_subject,
            write.sealed,
            write.key_id,
            _names(write.scopes),
            _names(write.resources),
            _names(write.audiences),
            bool(write.has_refresh),
            write.expires_at,
            write.expires_in,
            now,
        )
        with in_transaction(self._database, tx) as t:
            t.execute(
                "INSERT INTO vault_entries (workload_client_id, user_issuer, user_key,"
                " provider, workload, user_subject, sealed, key_id, scopes, resources,"
                " audiences, has_refresh, expires_at, expires_in, updated_at, version)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
                " ON CONFLICT (workload_client_id, user_issuer, user_key, provider) DO UPDATE"
                " SET workload = excluded.workload, user_subject = excluded.user_subject,"
                " sealed = excluded.sealed, key_id = excluded.key_id,"
                " scopes = excluded.scopes, resources = excluded.resources,"
                " audiences = excluded.audiences, has_refresh = excluded.has_refresh,"
                " expires_at = excluded.expires_at, expires_in = excluded.expires_in,"
                " updated_at = excluded.updated_at,"
                " version = vault_entries.version + 1, lease_owner = NULL, lease_until = NULL",
                (*key.params(), *values),
            )

    def acquire_lease(
        self,
        key: EntryKey,
        *,
        version: int,
        owner: str,
        until: int,
        tx: Transaction | None = None,
    ) -> bool:
        """VLT-REF-002: takes the refresh lease if the entry still has ``version`` and no
        live lease (compare-and-swap in storage; safe across nodes)."""
        now = int(self._clock.now())
        with in_transaction(self._database, tx) as t:
            changed = t.execute_count(
                "UPDATE vault_entries SET lease_owner = ?, lease_until = ?"  # noqa: S608 - fixed names
                f" WHERE {_ENTRY_KEY} AND version = ?"
                " AND (lease_until IS NULL OR lease_until <= ?)",
                (owner, until, *key.params(), version, now),
            )
        return changed == 1

    def release_lease(self, key: EntryKey, owner: str, *, tx: Transaction | None = None) -> None:
        with in_transaction(self._database, tx) as t:
            t.execute(
                "UPDATE vault_entries SET lease_owner = NULL, lease_until = NULL"  # noqa: S608 - fixed names
                f" WHERE {_ENTRY_KEY} AND lease_owner = ?",
                (*key.params(), owner),
            )

    def store_refreshed(
        self,
        key: EntryKey,
        owner: str,
        write: EntryWrite,
        *,
        tx: Transaction | None = None,
    ) -> bool:
        """VLT-REF-001: replaces the token set in one write, only while ``owner`` holds the
        lease; releases it. ``False`` when the lease was lost."""
        now = int(self._clock.now())
        with in_transaction(self._database, tx) as t:
            changed = t.execute_count(
                "UPDATE vault_entries SET sealed = ?, key_id = ?, scopes = ?,"  # noqa: S608 - fixed names
                " has_refresh = ?, expires_at = ?, expires_in = ?, updated_at = ?,"
                " version = version + 1, lease_owner = NULL, lease_until = NULL"
                f" WHERE {_ENTRY_KEY} AND lease_owner = ?",
                (
                    write.sealed,
                    write.key_id,
                    _names(write.scopes),
                    bool(write.has_refresh),
                    write.expires_at,
                    write.expires_in,
                    now,
                    *key.params(),
                    owner,
                ),
            )
        return changed == 1

    def delete(self, key: EntryKey, *, tx: Transaction | None = None) -> EntryRecord | None:
        """Deletes and returns the entry (its tokens are then revoked upstream)."""
        with in_transaction(self._database, tx) as t:
            row = t.fetchone(
                f"DELETE FROM vault_entries WHERE {_ENTRY_KEY} RETURNING {_ENTRY_COLUMNS}",  # noqa: S608 - fixed names
                key.params(),
            )
        return EntryRecord.from_row(row) if row else None

    def delete_leased(self, key: EntryKey, owner: str, *, tx: Transaction | None = None) -> bool:
        """VLT-REF-003: deletes the entry only while ``owner`` holds its refresh lease."""
        with in_transaction(self._database, tx) as t:
            changed = t.execute_count(
                f"DELETE FROM vault_entries WHERE {_ENTRY_KEY} AND lease_owner = ?",  # noqa: S608 - fixed names
                (*key.params(), owner),
            )
        return changed == 1

    def delete_for_provider(
        self, provider: str, *, tx: Transaction | None = None
    ) -> list[EntryRecord]:
        """PRV-CFG-004: every entry of a provider, deleted and returned."""
        with in_transaction(self._database, tx) as t:
            rows = t.fetchall(
                f"DELETE FROM vault_entries WHERE provider = ? RETURNING {_ENTRY_COLUMNS}",  # noqa: S608 - fixed names
                (provider,),
            )
        return [EntryRecord.from_row(row) for row in rows]


@dataclass(frozen=True)
class CachedToken:
    cache_key: str
    flow: str
    workload_client_id: str
    provider: str
    sealed: bytes = field(repr=False)
    key_id: str
    scopes: tuple[str, ...]
    expires_at: int | None
    usable_until: int

    @classmethod
    def from_row(cls, row: Row) -> CachedToken:
        return cls(
            cache_key=row["cache_key"],
            flow=row["flow"],
            workload_client_id=row["workload_client_id"],
            provider=row["provider"],
            sealed=bytes(row["sealed"]),
            key_id=row["key_id"],
            scopes=_load_names(row["scopes"]),
            expires_at=_int_or_none(row["expires_at"]),
            usable_until=int(row["usable_until"]),
        )


_CACHE_COLUMNS: Final = (
    "cache_key, flow, workload_client_id, provider, sealed, key_id, scopes, expires_at,"
    " usable_until"
)


class TokenCacheRepository:
    """Cached ``m2m`` and ``on_behalf_of`` tokens under an opaque key."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def get(self, cache_key: str, *, tx: Transaction | None = None) -> CachedToken | None:
        with in_transaction(self._database, tx, readonly=True) as t:
            row = t.fetchone(
                f"SELECT {_CACHE_COLUMNS} FROM vault_token_cache WHERE cache_key = ?",  # noqa: S608
                (cache_key,),
            )
        return CachedToken.from_row(row) if row else None

    def put(self, token: CachedToken, *, tx: Transaction | None = None) -> None:
        with in_transaction(self._database, tx) as t:
            t.execute(
                f"INSERT INTO vault_token_cache ({_CACHE_COLUMNS})"  # noqa: S608 - fixed names
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (cache_key) DO UPDATE"
                " SET sealed = excluded.sealed, key_id = excluded.key_id,"
                " scopes = excluded.scopes, expires_at = excluded.expires_at,"
                " usable_until = excluded.usable_until",
                (
                    token.cache_key,
                    token.flow,
                    token.workload_client_id,
                    token.provider,
                    token.sealed,
                    token.key_id,
                    _names(token.scopes),
                    token.expires_at,
                    token.usable_until,
                ),
            )

    def delete(self, cache_key: str, *, tx: Transaction | None = None) -> None:
        with in_transaction(self._database, tx) as t:
            t.execute("DELETE FROM vault_token_cache WHERE cache_key = ?", (cache_key,))

    def delete_for_provider(self, provider: str, *, tx: Transaction | None = None) -> int:
        with in_transaction(self._database, tx) as t:
            return t.execute_count("DELETE FROM vault_token_cache WHERE provider = ?", (provider,))

    def purge(self, now: int, *, tx: Transaction | None = None) -> int:
        """Deletes tokens no longer usable at ``now``."""
        with in_transaction(self._database, tx) as t:
            return t.execute_count("DELETE FROM vault_token_cache WHERE usable_until <= ?", (now,))


@dataclass(frozen=True)
class BoundUserToken:
    token_hash: str = field(repr=False)
    sealed: bytes = field(repr=False)
    key_id: str
    token_kind: str
    expires_at: int


class BoundUserTokenRepository:
    """The user JWT behind a WAT, sealed (WAT-PASS-001), for ``on_behalf_of`` only."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def put(self, token: BoundUserToken, *, tx: Transaction | None = None) -> None:
        with in_transaction(self._database, tx) as t:
            t.execute(
                "INSERT INTO wat_user_tokens (token_hash, sealed, key_id, token_kind,"
                " expires_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (token_hash) DO NOTHING",
                (token.token_hash, token.sealed, token.key_id, token.token_kind, token.expires_at),
            )

    def get(self, token_hash: str, *, tx: Transaction | None = None) -> BoundUserToken | None:
        with in_transaction(self._database, tx, readonly=True) as t:
            row = t.fetchone(
                "SELECT token_hash, sealed, key_id, token_kind, expires_at FROM wat_user_tokens"
                " WHERE token_hash = ?",
                (token_hash,),
            )
        if row is None:
            return None
        return BoundUserToken(
            row["token_hash"],
            bytes(row["sealed"]),
            row["key_id"],
            row["token_kind"],
            int(row["expires_at"]),
        )

    def purge(self, now: int, *, tx: Transaction | None = None) -> int:
        """Discards user tokens whose WAT has expired (WAT-PASS-001)."""
        with in_transaction(self._database, tx) as t:
            return t.execute_count("DELETE FROM wat_user_tokens WHERE expires_at <= ?", (now,))
