"""The issued-token registry in shared storage: lineage, revocation and the cascade.

:class:`StoredTokenRegistry` is the :class:`~proctor.reference.tokens.TokenRegistry` of a
deployment (spec ``07-token-exchange.md``, AS-CASC-001 and AS-CASC-002). Two tables:

``issued_tokens``
    one row per token the token endpoint issued, keyed by ``jti``: what the service
    remembers of it (client, subject, audience, scopes, lifetime, grant, ``act`` and
    ``sub_id`` for audit, the ordered ``parents``) and ``revoked_at``. Never the token.
``issued_token_parents``
    one row per (parent, child) edge, keyed by ``(parent_jti, child_jti)``; its primary
    key is the index on ``parent`` that :meth:`StoredTokenRegistry.children` (the
    cascade, walking *down*) needs. Walking *up* (validation, walking the ``parents``
    column) reads rows by primary key.

Every read goes to the database: nothing is cached, so a revocation committed by one node
is seen by the very next validation on every node (AS-CASC-002).

Transactions
------------
The core (:mod:`proctor.reference.tokens`, :mod:`proctor.reference.revocation`) calls the
registry without a transaction; the wiring decides which one its writes join:

- :meth:`StoredTokenRegistry.deferred` collects the writes of one OAuth request
  (:meth:`add`, :meth:`mark_revoked`) instead of performing them; the HTTP layer then
  :meth:`flush`-es them in the transaction that appends the request's audit events, so a
  token and its event commit together or not at all (AUD-APP-002), and the write lock is
  held only for that short transaction, not while signatures are checked. Inside the
  scope a row is read at most once: the request decides on one state of each token.
- :meth:`StoredTokenRegistry.bound` makes every call run inside a transaction the caller
  already holds (the directory's revocation hook runs inside the transaction that
  disables or deletes the workload, WID-STATE-001).

Both scopes are context variables, so they belong to the thread (or task) that opened
them and never leak into concurrent requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, Final, cast

from proctor.reference.clock import Clock
from proctor.reference.storage.database import Database, Row, Transaction, in_transaction
from proctor.reference.tokens import Grant, IssuedTokenRecord

__all__ = ["PendingWrites", "StoredTokenRegistry"]

_COLUMNS: Final = (
    "jti, client_id, sub, aud, scopes, iat, exp, grant_type, parents, act, sub_id, revoked_at"
)
_SELECT: Final = f"SELECT {_COLUMNS} FROM issued_tokens"  # noqa: S608 - fixed columns
_INSERT: Final = (
    f"INSERT INTO issued_tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
    " ON CONFLICT (jti) DO NOTHING RETURNING jti"
)
_EDGE: Final = (
    "INSERT INTO issued_token_parents (parent_jti, child_jti) VALUES (?, ?)"
    " ON CONFLICT (parent_jti, child_jti) DO NOTHING"
)
_GRANTS: Final = frozenset(("client_credentials", "token_exchange"))


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_thaw(v) for v in value]
    return value


def _strings(text: str) -> tuple[str, ...]:
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("stored list is not a list of strings")
    return tuple(value)


def _object(text: str | None) -> Mapping[str, Any] | None:
    if text is None:
        return None
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("stored claim is not a JSON object")
    return cast(Mapping[str, Any], value)


def record_from_row(row: Row) -> IssuedTokenRecord:
    grant = row["grant_type"]
    if grant not in _GRANTS:
        raise ValueError("stored grant is not one the service issues")
    revoked_at = row["revoked_at"]
    return IssuedTokenRecord(
        jti=row["jti"],
        client_id=row["client_id"],
        sub=row["sub"],
        aud=_strings(row["aud"]),
        scopes=_strings(row["scopes"]),
        iat=int(row["iat"]),
        exp=int(row["exp"]),
        grant=cast(Grant, grant),
        parents=_strings(row["parents"]),
        act=_object(row["act"]),
        sub_id=_object(row["sub_id"]),
        revoked_at=None if revoked_at is None else int(revoked_at),
    )


def _row_values(record: IssuedTokenRecord) -> tuple[Any, ...]:
    return (
        record.jti,
        record.client_id,
        record.sub,
        _dump(list(record.aud)),
        _dump(list(record.scopes)),
        record.iat,
        record.exp,
        record.grant,
        _dump(list(record.parents)),
        None if record.act is None else _dump(_thaw(record.act)),
        None if record.sub_id is None else _dump(_thaw(record.sub_id)),
        record.revoked_at,
    )


@dataclass
class PendingWrites:
    """The registry writes of one request, collected by :meth:`StoredTokenRegistry.deferred`."""

    added: dict[str, IssuedTokenRecord] = field(default_factory=dict)
    #: ``jti`` → the ``revoked_at`` to set (only where it is still unset).
    revoked: dict[str, int] = field(default_factory=dict)
    #: Rows already read in this request: one request sees one state of a token (its
    #: validation reads the row, then walks the lineage from it).
    read: dict[str, IssuedTokenRecord | None] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.added or self.revoked)


@dataclass(frozen=True)
class _Scope:
    pending: PendingWrites | None = None
    tx: Transaction | None = None


class StoredTokenRegistry:
    """A :class:`~proctor.reference.tokens.TokenRegistry` over a :class:`Database`."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock
        self._scope: ContextVar[_Scope | None] = ContextVar(
            f"issued_tokens_scope_{id(self)}", default=None
        )

    # -- scopes ---------------------------------------------------------------------------

    @contextmanager
    def deferred(self) -> Iterator[PendingWrites]:
        """Collect :meth:`add` and :meth:`mark_revoked` instead of writing; the caller
        passes the result to :meth:`flush` (reads see the collected writes)."""
        pending = PendingWrites()
        token = self._scope.set(_Scope(pending=pending))
        try:
            yield pending
        finally:
            self._scope.reset(token)

    @contextmanager
    def bound(self, tx: Transaction) -> Iterator[None]:
        """Run every call inside ``tx`` (the caller's open write transaction)."""
        token = self._scope.set(_Scope(tx=tx))
        try:
            yield
        finally:
            self._scope.reset(token)

    def flush(self, pending: PendingWrites, tx: Transaction) -> None:
        """Perform collected writes in ``tx``; ``ValueError`` if a ``jti`` exists."""
        for record in pending.added.values():
            self._insert(tx, record)
        for jti, at in pending.revoked.items():
            tx.execute_count(
                "UPDATE issued_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL",
                (at, jti),
            )

    @contextmanager
    def _read(self) -> Iterator[Transaction]:
        scope = self._scope.get()
        with in_transaction(
            self._database, scope.tx if scope is not None else None, readonly=True
        ) as t:
            yield t

    @contextmanager
    def _write(self) -> Iterator[Transaction]:
        scope = self._scope.get()
        with in_transaction(self._database, scope.tx if scope is not None else None) as t:
            yield t

    def _pending(self) -> PendingWrites | None:
        scope = self._scope.get()
        return scope.pending if scope is not None else None

    # -- the TokenRegistry protocol ---------------------------------------------------------

    def add(self, record: IssuedTokenRecord) -> None:
        pending = self._pending()
        if pending is not None:
            if record.jti in pending.added:
                raise ValueError("jti already recorded")
            pending.added[record.jti] = record
            return
        with self._write() as t:
            self._insert(t, record)

    def _insert(self, tx: Transaction, record: IssuedTokenRecord) -> None:
        if tx.fetchone(_INSERT, _row_values(record)) is None:
            raise ValueError("jti already recorded")
        for parent in record.parents:
            tx.execute(_EDGE, (parent, record.jti))

    def get(self, jti: str) -> IssuedTokenRecord | None:
        pending = self._pending()
        if pending is not None and jti in pending.added:
            record: IssuedTokenRecord | None = pending.added[jti]
        elif pending is not None and jti in pending.read:
            record = pending.read[jti]
        else:
            with self._read() as t:
                row = t.fetchone(_SELECT + " WHERE jti = ?", (jti,))
            record = record_from_row(row) if row is not None else None
            if pending is not None:
                pending.read[jti] = record
        if record is not None and pending is not None and record.revoked_at is None:
            at = pending.revoked.get(jti)
            if at is not None:
                record = replace(record, revoked_at=at)
        return record

    def children(self, jti: str) -> Sequence[str]:
        with self._read() as t:
            rows = t.fetchall(
                "SELECT child_jti FROM issued_token_parents WHERE parent_jti = ?"
                " ORDER BY child_jti",
                (jti,),
            )
        found = [str(row["child_jti"]) for row in rows]
        pending = self._pending()
        if pending is not None:
            found += [r.jti for r in pending.added.values() if jti in r.parents]
        return found

    def issued_to(self, client_id: str) -> Sequence[str]:
        """Every recorded, unexpired token issued to ``client_id``. An expired token
        cannot be valid again, nor can anything derived from it (TX-EXP-001/002), so
        there is nothing left to revoke there."""
        now = int(self._clock.now())
        with self._read() as t:
            rows = t.fetchall(
                "SELECT jti FROM issued_tokens WHERE client_id = ? AND exp > ? ORDER BY jti",
                (client_id, now),
            )
        return [str(row["jti"]) for row in rows]

    def mark_revoked(self, jti: str, at: int) -> bool:
        pending = self._pending()
        if pending is not None:
            record = self.get(jti)
            if record is None or record.revoked_at is not None:
                return False
            pending.revoked[jti] = at
            return True
        with self._write() as t:
            changed = t.execute_count(
                "UPDATE issued_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL",
                (at, jti),
            )
        return changed > 0

    def purge_expired(self, before: int) -> int:
        """Forget tokens with ``exp <= before`` and their edges; returns how many."""
        with self._write() as t:
            expired = "SELECT jti FROM issued_tokens WHERE exp <= ?"
            t.execute_count(
                f"DELETE FROM issued_token_parents WHERE child_jti IN ({expired})"  # noqa: S608
                f" OR parent_jti IN ({expired})",
                (before, before),
            )
            return t.execute_count("DELETE FROM issued_tokens WHERE exp <= ?", (before,))

    def count(self) -> int:
        """How many tokens are recorded (for operations and tests)."""
        with self._read() as t:
            row = t.fetchone("SELECT COUNT(*) AS n FROM issued_tokens")
        return int(row["n"]) if row is not None else 0
