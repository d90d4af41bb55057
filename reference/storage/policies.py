"""Stored exchange policies: the control plane's ``/v1/exchange-policies`` and the token
endpoint's :class:`~proctor.reference.exchange_policy.PolicySource`.

A policy (spec ``07-token-exchange.md`` §Exchange policy) is kept as its JSON document with
the ``client`` it governs in a column of its own, indexed, because the token endpoint reads
a client's policies on every request. Nothing is cached across requests: a policy created,
replaced or deleted on one node governs the next token request on every node (TX-POL-001).
Parsed documents are memoised by their stored text only, which cannot go stale.

Writes check what needs the other rows, in the writing transaction (TX-POL-001/002):

- ``client`` names a registered workload (``validation_failed`` otherwise); on PostgreSQL
  the workload's row stays locked until the transaction ends, so writes of policies of one
  client are serialised and the next check below sees every committed sibling;
- no ``audiences``/``resources`` value is shared with another policy of the same client
  (``409 conflict``), and none is the service's issuer (``validation_failed``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from proctor.reference.clock import Clock
from proctor.reference.errors import Conflict, NotFound, ValidationFailed
from proctor.reference.exchange_policy import ExchangePolicy, check_policy_set
from proctor.reference.storage.columns import dump_object, load_object
from proctor.reference.storage.database import Database, Row, Transaction, in_transaction
from proctor.reference.storage.pagination import (
    DEFAULT_LIMIT,
    Page,
    check_limit,
    decode_cursor,
    encode_cursor,
)

__all__ = ["ExchangePolicyRepository", "StoredPolicy", "policy_view"]

_SELECT: Final = (
    "SELECT name, client, document, created_at, updated_at, version FROM exchange_policies"
)
_RETURNING: Final = " RETURNING name, client, document, created_at, updated_at, version"
_INSERT: Final = (
    "INSERT INTO exchange_policies (name, client, document, created_at, updated_at, version)"
    " VALUES (?, ?, ?, ?, ?, 1) ON CONFLICT (name) DO NOTHING"
)
_UPDATE: Final = (
    "UPDATE exchange_policies SET client = ?, document = ?, updated_at = ?,"
    " version = version + 1 WHERE name = ?"
)
_MEMO_SIZE: Final = 1024


@dataclass(frozen=True)
class StoredPolicy:
    policy: ExchangePolicy
    created_at: int
    updated_at: int
    version: int


def policy_view(policy: ExchangePolicy) -> dict[str, Any]:
    """The policy as the control plane returns it (every member, defaults filled in)."""
    return policy.model_dump(mode="json")


def _document(policy: ExchangePolicy) -> str:
    return dump_object(policy.model_dump(mode="json", exclude={"name"}))


class ExchangePolicyRepository:
    """CRUD over ``exchange_policies`` and :meth:`policies_for` (a ``PolicySource``).

    ``issuer`` is the service's issuer identifier, which no policy may target (TX-POL-002).
    """

    def __init__(self, database: Database, clock: Clock, *, issuer: str) -> None:
        self._database = database
        self._clock = clock
        self._issuer = issuer
        self._memo_lock = threading.Lock()
        self._memo: OrderedDict[tuple[str, str], ExchangePolicy] = OrderedDict()

    # -- reading ------------------------------------------------------------------------

    def _policy(self, row: Row) -> ExchangePolicy:
        """The stored document as a model; documents were validated when written."""
        key = (str(row["name"]), str(row["document"]))
        with self._memo_lock:
            cached = self._memo.get(key)
            if cached is not None:
                self._memo.move_to_end(key)
                return cached
        data = ExchangePolicy.model_validate(
            {**load_object(key[1]), "name": key[0]}, context={"allow_loopback_http": True}
        )
        with self._memo_lock:
            self._memo[key] = data
            if len(self._memo) > _MEMO_SIZE:
                self._memo.popitem(last=False)
        return data

    def _stored(self, row: Row) -> StoredPolicy:
        return StoredPolicy(
            self._policy(row),
            int(row["created_at"]),
            int(row["updated_at"]),
            int(row["version"]),
        )

    def policies_for(self, client: str) -> Sequence[ExchangePolicy]:
        """Every policy whose ``client`` is this workload name, ordered by name."""
        with self._database.transaction(readonly=True) as t:
            rows = t.fetchall(_SELECT + " WHERE client = ? ORDER BY name", (client,))
        return [self._policy(row) for row in rows]

    def get(self, name: str, *, tx: Transaction | None = None) -> StoredPolicy:
        with in_transaction(self._database, tx, readonly=True) as t:
            row = t.fetchone(_SELECT + " WHERE name = ?", (name,))
        if row is None:
            raise NotFound("No exchange policy has that name.")
        return self._stored(row)

    def list(
        self,
        *,
        limit: int = DEFAULT_LIMIT,
        next_token: str | None = None,
        tx: Transaction | None = None,
    ) -> Page[StoredPolicy]:
        """Policies ordered by name, keyset-paginated."""
        check_limit(limit)
        after = (
            ""
            if next_token is None
            else str(decode_cursor("exchange_policies", next_token, [str])[0])
        )
        with in_transaction(self._database, tx, readonly=True) as t:
            rows = t.fetchall(_SELECT + " WHERE name > ? ORDER BY name LIMIT ?", (after, limit + 1))
        items = [self._stored(row) for row in rows[:limit]]
        token = (
            encode_cursor("exchange_policies", [items[-1].policy.name])
            if len(rows) > limit
            else None
        )
        return Page(items, token)

    # -- writing ------------------------------------------------------------------------

    def create(self, policy: ExchangePolicy, *, tx: Transaction | None = None) -> StoredPolicy:
        """Stores a new policy; :class:`Conflict` if the name is taken or a target is
        another policy's of the same client."""
        now = int(self._clock.now())
        with in_transaction(self._database, tx) as t:
            self._check(t, policy)
            row = t.fetchone(
                _INSERT + _RETURNING,
                (policy.name, policy.client, _document(policy), now, now),
            )
            if row is None:
                raise Conflict("An exchange policy with that name already exists.")
        return self._stored(row)

    def replace(
        self, name: str, policy: ExchangePolicy, *, tx: Transaction | None = None
    ) -> StoredPolicy:
        """Replaces the policy ``name`` (which ``policy.name`` must equal)."""
        if policy.name != name:
            raise ValidationFailed(
                "The name in the body must equal the name in the path.",
                errors=[{"field": "/name", "message": "must equal the name in the path"}],
            )
        now = int(self._clock.now())
        with in_transaction(self._database, tx) as t:
            if t.fetchone("SELECT name FROM exchange_policies WHERE name = ?", (name,)) is None:
                raise NotFound("No exchange policy has that name.")
            self._check(t, policy)
            row = t.fetchone(_UPDATE + _RETURNING, (policy.client, _document(policy), now, name))
        if row is None:  # pragma: no cover - the row was read in this transaction
            raise NotFound("No exchange policy has that name.")
        return self._stored(row)

    def delete(self, name: str, *, tx: Transaction | None = None) -> None:
        with in_transaction(self._database, tx) as t:
            if t.execute_count("DELETE FROM exchange_policies WHERE name = ?", (name,)) == 0:
                raise NotFound("No exchange policy has that name.")

    def _check(self, tx: Transaction, policy: ExchangePolicy) -> None:
        """TX-POL-001 (``client`` is registered) and TX-POL-002, inside ``tx``."""
        sql = "SELECT name FROM workloads WHERE name = ?"
        if tx.dialect == "postgresql":
            sql += " FOR UPDATE"
        if tx.fetchone(sql, (policy.client,)) is None:
            raise ValidationFailed(
                "The exchange policy's client is not a registered workload.",
                errors=[{"field": "/client", "message": "no workload has that name"}],
            )
        rows = tx.fetchall(
            _SELECT + " WHERE client = ? AND name <> ? ORDER BY name", (policy.client, policy.name)
        )
        check_policy_set(policy, [self._policy(row) for row in rows], self._issuer)
