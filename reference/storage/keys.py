"""The service's signing keys in shared storage: the :class:`~proctor.reference.keys.KeyStore`
of a deployment (spec ``07-token-exchange.md``, AS-JWKS-001 to AS-JWKS-003).

One row per key in ``signing_keys``: the public JWK in clear, the PKCS#8 private key sealed
by :class:`~proctor.reference.encryption.Envelope` (this module never sees it unsealed),
and the timestamps every node derives the key's state from (next, current, retired,
removed; see :mod:`proctor.reference.keys`). Since all nodes read the same rows they agree
on the state without talking to each other.

**A kid names one key forever** (AS-JWKS-001): deleting a key leaves a tombstone
(``deleted_at`` set, the sealed private key wiped), so :meth:`StoredKeyStore.add_key`
refuses a ``kid`` that was ever stored.

:meth:`StoredKeyStore.bound` makes every call run inside a transaction the caller holds:
the key maintenance job takes a lock in that transaction so two nodes never rotate at the
same moment (:meth:`proctor.reference.sts.SecurityTokenService.maintain`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, cast

from proctor.reference.clock import Clock
from proctor.reference.keys import SIGNING_ALGORITHMS, KeyRecord, SigningAlgorithm
from proctor.reference.storage.database import Database, Row, Transaction, in_transaction

__all__ = ["StoredKeyStore", "lock_key_maintenance"]

_SELECT: Final = (
    "SELECT kid, alg, public_jwk, sealed_private_key, published_at, activates_at, withdrawn_at"
    " FROM signing_keys WHERE deleted_at IS NULL"
)
_INSERT: Final = (
    "INSERT INTO signing_keys (kid, alg, public_jwk, sealed_private_key, published_at,"
    " activates_at, withdrawn_at, deleted_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)"
    " ON CONFLICT (kid) DO NOTHING RETURNING kid"
)
# pg_advisory_xact_lock(int, int): proctor's class (as the migrations use), then "keys".
_LOCK_CLASS: Final = 0x70726374
_LOCK_KEYS: Final = 0x6B657973


def _record(row: Row) -> KeyRecord:
    alg = row["alg"]
    if alg not in SIGNING_ALGORITHMS:
        raise ValueError("stored key has an algorithm the service does not sign with")
    public = json.loads(row["public_jwk"])
    if not isinstance(public, dict):
        raise ValueError("stored public key is not a JSON object")
    withdrawn = row["withdrawn_at"]
    return KeyRecord(
        kid=row["kid"],
        alg=cast(SigningAlgorithm, alg),
        public_jwk=public,
        sealed_private_key=bytes(row["sealed_private_key"]),
        published_at=int(row["published_at"]),
        activates_at=int(row["activates_at"]),
        withdrawn_at=None if withdrawn is None else int(withdrawn),
    )


def _public_jwk(record: KeyRecord) -> str:
    document: dict[str, Any] = dict(record.public_jwk)
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def lock_key_maintenance(tx: Transaction) -> None:
    """Serialise key maintenance across nodes for the rest of ``tx``. On SQLite the write
    transaction's ``BEGIN IMMEDIATE`` already holds the file's write lock."""
    if tx.dialect == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(?, ?)", (_LOCK_CLASS, _LOCK_KEYS))


class StoredKeyStore:
    """A :class:`~proctor.reference.keys.KeyStore` over a :class:`Database`."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        self._tx: ContextVar[Transaction | None] = ContextVar(
            f"signing_keys_tx_{id(self)}", default=None
        )

    @contextmanager
    def bound(self, tx: Transaction) -> Iterator[None]:
        """Run every call inside ``tx`` (the caller's open write transaction)."""
        token = self._tx.set(tx)
        try:
            yield
        finally:
            self._tx.reset(token)

    def list_keys(self) -> Sequence[KeyRecord]:
        with in_transaction(self._database, self._tx.get(), readonly=True) as t:
            rows = t.fetchall(_SELECT + " ORDER BY kid")
        return [_record(row) for row in rows]

    def add_key(self, record: KeyRecord) -> None:
        with in_transaction(self._database, self._tx.get()) as t:
            row = t.fetchone(
                _INSERT,
                (
                    record.kid,
                    record.alg,
                    _public_jwk(record),
                    record.sealed_private_key,
                    record.published_at,
                    record.activates_at,
                    record.withdrawn_at,
                ),
            )
        if row is None:
            raise ValueError("a kid names one key forever (AS-JWKS-001)")

    def replace_key(self, record: KeyRecord) -> None:
        """Replace the stored key's timestamps (withdrawal); its material never changes."""
        with in_transaction(self._database, self._tx.get()) as t:
            changed = t.execute_count(
                "UPDATE signing_keys SET published_at = ?, activates_at = ?, withdrawn_at = ?"
                " WHERE kid = ? AND deleted_at IS NULL",
                (record.published_at, record.activates_at, record.withdrawn_at, record.kid),
            )
        if changed == 0:
            raise ValueError("no such key")

    def delete_key(self, kid: str) -> None:
        """Forget the key; a tombstone keeps its ``kid`` taken."""
        now = int(self._clock.now())
        with in_transaction(self._database, self._tx.get()) as t:
            t.execute_count(
                "UPDATE signing_keys SET deleted_at = ?, sealed_private_key = ?"
                " WHERE kid = ? AND deleted_at IS NULL",
                (now, b"", kid),
            )
