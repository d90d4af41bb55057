"""Replay protection for ``private_key_jwt`` client assertions.

RFC 7523 §3, item 7: "The authorization server MAY ensure that JWTs are not replayed by
maintaining the set of used 'jti' values for the length of time for which the JWT would
be considered valid based on the applicable 'exp' instant." The reference keeps that set
in the shared database, so every node of a deployment sees it: an assertion accepted by
one node is refused by all the others (spec ``WID-PKJ-004``, which makes the check a MUST).

:meth:`ClientAssertionJtiRepository.consume_jti` is one atomic statement, an
insert-if-absent keyed by ``(client_id, jti)``: whichever node or thread inserts first
wins, every other attempt sees the committed row and loses. A row whose ``expires_at``
has passed no longer guards anything (the assertion itself is expired), so the same
statement may take it over; :meth:`purge_expired` deletes such rows in bulk.
"""

from __future__ import annotations

from proctor.reference.clock import Clock
from proctor.reference.storage.database import Database, Transaction, in_transaction

__all__ = ["ClientAssertionJtiRepository"]


class ClientAssertionJtiRepository:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    def consume_jti(
        self, client_id: str, jti: str, expires_at: int, *, tx: Transaction | None = None
    ) -> bool:
        """``True`` the first time ``(client_id, jti)`` is seen while unexpired, else
        ``False`` (a replay).

        ``expires_at`` is the last instant at which the service would still accept the
        assertion: its ``exp`` *plus the leeway* (``WID-PKJ-003`` accepts until
        ``exp + leeway``), or a replay inside the leeway would find the record gone. The
        caller has already refused expired assertions, so an ``expires_at`` in the past
        is misuse (``ValueError``).
        """
        now = int(self._clock.now())
        if expires_at <= now:
            raise ValueError("an expired assertion must be refused before its jti is recorded")
        with in_transaction(self._database, tx) as t:
            row = t.fetchone(
                "INSERT INTO client_assertion_jtis (client_id, jti, expires_at) VALUES (?, ?, ?) "
                "ON CONFLICT (client_id, jti) DO UPDATE SET expires_at = excluded.expires_at "
                "WHERE client_assertion_jtis.expires_at <= ? "
                "RETURNING jti",
                (client_id, jti, expires_at, now),
            )
        return row is not None

    def purge_expired(self, *, tx: Transaction | None = None) -> int:
        """Deletes the records of assertions that have expired; returns how many."""
        now = int(self._clock.now())
        with in_transaction(self._database, tx) as t:
            return t.execute_count(
                "DELETE FROM client_assertion_jtis WHERE expires_at <= ?", (now,)
            )
