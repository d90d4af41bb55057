"""The audit log: append-only, hash-chained, verifiable (spec ``08-audit.md``).

Every event is hashed over its RFC 8785 canonical form without ``hash`` (``prev_hash``
included), and each event's ``prev_hash`` is the previous event's ``hash``
(AUD-CHAIN-001, AUD-CHAIN-002)::

    hash(n) = hex(SHA-256(JCS(event(n) without "hash")))
    prev_hash(1) = "0" * 64,  prev_hash(n) = hash(n - 1)   (or the checkpoint's hash)

Storage (tables from migration 2): ``audit_events`` keeps each event's canonical body
exactly as hashed, plus copies of the members queries filter on; ``audit_head`` is one
row holding the last ``seq`` and ``hash``; ``audit_checkpoints`` holds the retention
checkpoint.

Appending (AUD-APP-001, AUD-APP-002): inside the caller's transaction (so an operation and
its event commit together) the head row is locked -- ``SELECT ... FOR UPDATE`` on
PostgreSQL, which serialises appends across every node sharing the database; on SQLite
the write transaction's ``BEGIN IMMEDIATE`` already holds the file's write lock -- the
next ``seq`` is the head's plus one, the event is inserted and the head moved. A rolled
back transaction consumes no ``seq``. Append last in a transaction, so the head lock is
held briefly.

Verifying (AUD-VER-002) walks the retained events in ``seq`` order from the checkpoint:
``seq`` continues (else ``gap``), ``prev_hash`` links (else ``prev_hash_mismatch``),
``hash`` recomputes (else ``hash_mismatch``). Two checks go beyond the spec's, because
this service can see its own storage: the filter columns must equal the hashed body
(else ``hash_mismatch``: the stored row is not what was hashed), and the last event must
be the head (else ``gap`` after the last event: the tail was cut).

No secrets (AUD-SEC-001): an event has a closed set of members, none of which can hold a
credential, and :func:`check_no_secrets` refuses secret-looking member names and
JWT-shaped values outright, as a guard against a caller passing the wrong thing.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from proctor.reference.clock import Clock
from proctor.reference.errors import ValidationFailed
from proctor.reference.jcs import canonicalize_text
from proctor.reference.storage.database import Database, Row, Transaction, in_transaction
from proctor.reference.storage.pagination import (
    DEFAULT_LIMIT,
    Page,
    check_limit,
    decode_cursor,
    encode_cursor,
)

__all__ = [
    "GENESIS_HASH",
    "OPERATIONS",
    "AuditEvent",
    "AuditLog",
    "AuditUser",
    "ChainBroken",
    "ChainVerifier",
    "Checkpoint",
    "Verification",
    "check_no_secrets",
    "event_hash",
]

GENESIS_HASH = "0" * 64

#: AUD-OPS-001: the operation vocabulary. A future version adds names, never changes one.
OPERATIONS: frozenset[str] = frozenset(
    [
        *(f"authorizer.{verb}" for verb in ("create", "get", "list", "replace", "delete")),
        *(
            f"workload.{verb}"
            for verb in ("create", "get", "list", "replace", "delete", "secret_rotate")
        ),
        *(f"oauth2_provider.{verb}" for verb in ("create", "get", "list", "replace", "delete")),
        *(f"api_key_provider.{verb}" for verb in ("create", "get", "list", "replace", "delete")),
        *(f"exchange_policy.{verb}" for verb in ("create", "get", "list", "replace", "delete")),
        "consent.list",
        "consent.revoke",
        "audit.query",
        "audit.verify",
        "decision.evaluate",
        "workload_access_token.issue",
        "resource_token.get",
        "resource_token.refresh",
        "api_key.get",
        "consent.prompt",
        "session.callback",
        "session.complete",
        "consent.grant",
        "consent.expire",
        "upstream.revoke",
        "token.issue",
        "token.exchange",
        "token.introspect",
        "token.revoke",
        "vault.rekey",
        "signing_key.rotate",
        "audit.prune",
    ]
)
_FAMILIES = frozenset(name.split(".", 1)[0] for name in OPERATIONS)

BreakReason = Literal["gap", "prev_hash_mismatch", "hash_mismatch"]

_HEX64 = re.compile(r"^[0-9a-f]{64}\Z")
_REASON = re.compile(r"^[\x21-\x7e]+\Z")  # AUD-EVT-004: printable ASCII, no spaces
_SECRET_NAME = re.compile(
    r"secret|passw(or)?d|token|api_?key|private_?key|assertion|authorization|cookie|"
    r"credential|refresh|verifier|\bcode\b|^state$",
    re.IGNORECASE,
)
_JWT_SHAPED = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")
_FIELDS = ("request_id", "operation", "workload", "user", "actor_chain", "provider", "scopes")
_REQUIRED = ("request_id", "operation", "decision", "reason")
_BATCH = 500


class ChainBroken(Exception):
    """Pruning was refused because the prefix it would remove does not verify."""

    def __init__(self, verification: Verification) -> None:
        super().__init__(
            f"audit chain broken at seq {verification.first_broken_seq}: {verification.reason}"
        )
        self.verification = verification


@dataclass(frozen=True)
class AuditUser:
    issuer: str
    subject: str


@dataclass(frozen=True)
class AuditEvent:
    """One event, with the members of AUD-EVT-002."""

    seq: int
    id: str
    time: int
    request_id: str
    operation: str
    workload: str | None
    user: AuditUser | None
    actor_chain: tuple[str, ...]
    provider: str | None
    scopes: tuple[str, ...]
    decision: Literal["allow", "deny"]
    reason: str
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        """The event without ``hash``: what is hashed."""
        return {
            "seq": self.seq,
            "id": self.id,
            "time": self.time,
            "request_id": self.request_id,
            "operation": self.operation,
            "workload": self.workload,
            "user": (
                None
                if self.user is None
                else {"issuer": self.user.issuer, "subject": self.user.subject}
            ),
            "actor_chain": list(self.actor_chain),
            "provider": self.provider,
            "scopes": list(self.scopes),
            "decision": self.decision,
            "reason": self.reason,
            "prev_hash": self.prev_hash,
        }

    def to_dict(self) -> dict[str, Any]:
        """The event as the API returns it (AUD-CHAIN-001: exactly as hashed, plus hash)."""
        return {**self.body(), "hash": self.hash}

    @classmethod
    def from_body(cls, body: Mapping[str, Any], hash_: str) -> AuditEvent:
        user = body["user"]
        return cls(
            seq=body["seq"],
            id=body["id"],
            time=body["time"],
            request_id=body["request_id"],
            operation=body["operation"],
            workload=body["workload"],
            user=None if user is None else AuditUser(user["issuer"], user["subject"]),
            actor_chain=tuple(body["actor_chain"]),
            provider=body["provider"],
            scopes=tuple(body["scopes"]),
            decision=body["decision"],
            reason=body["reason"],
            prev_hash=body["prev_hash"],
            hash=hash_,
        )


@dataclass(frozen=True)
class Checkpoint:
    """AUD-RET-001: the last pruned event's ``seq`` and ``hash``."""

    seq: int
    hash: str
    time: int
    pruned: int

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "time": self.time, "pruned": self.pruned}


@dataclass(frozen=True)
class Verification:
    """AUD-VER-001: the verdict on the retained log."""

    valid: bool
    events: int
    first_broken_seq: int | None = None
    reason: BreakReason | None = None
    checkpoint: Checkpoint | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"valid": self.valid}
        if not self.valid:
            body["first_broken_seq"] = self.first_broken_seq
            body["reason"] = self.reason
        body["events"] = self.events
        body["checkpoint"] = None if self.checkpoint is None else self.checkpoint.to_dict()
        return body


def event_hash(body: Mapping[str, Any]) -> str:
    """AUD-CHAIN-001: hex SHA-256 of the JCS form of the event without ``hash``."""
    return _canonical_and_hash(body)[1]


def _canonical_and_hash(body: Mapping[str, Any]) -> tuple[str, str]:
    """The stored JCS text of an event and its :func:`event_hash`, canonicalised once."""
    if "hash" in body:
        raise ValueError("the hash covers the event without its hash member")
    text = canonicalize_text(body)
    return text, hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_no_secrets(value: Any, path: str = "event") -> None:
    """Refuses (``ValueError``) member names that name a credential and JWT-shaped strings,
    anywhere in ``value`` (AUD-SEC-001)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if _SECRET_NAME.search(str(key)):
                raise ValueError(f"{path}.{key}: audit events never carry credentials")
            check_no_secrets(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_no_secrets(item, f"{path}[{index}]")
    elif isinstance(value, str) and _JWT_SHAPED.search(value):
        raise ValueError(f"{path}: looks like a JWT; audit events never carry tokens")


class ChainVerifier:
    """AUD-VER-002, one event at a time, over events as the API returns them."""

    def __init__(self, checkpoint: Checkpoint | None = None) -> None:
        self.checkpoint = checkpoint
        self.expected_seq = 1 if checkpoint is None else checkpoint.seq + 1
        self.expected_prev = GENESIS_HASH if checkpoint is None else checkpoint.hash
        self.checked = 0
        self.broken: tuple[int, BreakReason] | None = None

    def feed(self, event: Mapping[str, Any]) -> bool:
        """Checks the next event; ``False`` (and ``broken`` set) at the first failure."""
        if self.broken is not None:
            return False
        seq = event.get("seq")
        if seq != self.expected_seq or not isinstance(seq, int) or isinstance(seq, bool):
            return self._break(seq, "gap")
        if event.get("prev_hash") != self.expected_prev:
            return self._break(seq, "prev_hash_mismatch")
        stored = event.get("hash")
        body = {key: value for key, value in event.items() if key != "hash"}
        try:
            recomputed = event_hash(body)
        except (TypeError, ValueError):
            recomputed = ""
        if not isinstance(stored, str) or stored != recomputed:
            return self._break(seq, "hash_mismatch")
        self.checked += 1
        self.expected_seq = seq + 1
        self.expected_prev = stored
        return True

    def fail(self, seq: int, reason: BreakReason) -> None:
        """Records a failure found by a check beyond AUD-VER-002."""
        if self.broken is None:
            self.broken = (seq, reason)

    def _break(self, seq: Any, reason: BreakReason) -> bool:
        at = seq if isinstance(seq, int) and not isinstance(seq, bool) else self.expected_seq
        self.broken = (at, reason)
        return False

    def result(self) -> Verification:
        if self.broken is None:
            return Verification(valid=True, events=self.checked, checkpoint=self.checkpoint)
        return Verification(
            valid=False,
            events=self.checked,
            first_broken_seq=self.broken[0],
            reason=self.broken[1],
            checkpoint=self.checkpoint,
        )


def verify_events(
    events: Iterable[Mapping[str, Any]], checkpoint: Checkpoint | None = None
) -> Verification:
    """AUD-VER-002 over a sequence of events (what an auditor does with the API's pages)."""
    verifier = ChainVerifier(checkpoint)
    for event in events:
        if not verifier.feed(event):
            break
    return verifier.result()


# -- validation of what callers append ----------------------------------------------------


def _text(fields: Mapping[str, Any], name: str, *, nullable: bool) -> str | None:
    value = fields.get(name)
    if value is None and nullable:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string{' or None' if nullable else ''}")
    return value


def _strings(fields: Mapping[str, Any], name: str) -> list[str]:
    value = fields.get(name, ())
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"{name} must be a list of strings")
    if not all(isinstance(item, str) and item for item in value):
        raise ValueError(f"{name} must be a list of non-empty strings")
    return list(value)


def _new_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's members, checked (AUD-EVT-002), in their stored form."""
    if not isinstance(fields, Mapping):
        raise TypeError("event fields are a mapping")
    check_no_secrets(fields, "fields")
    unknown = set(fields) - {*_FIELDS, "decision", "reason"}
    if unknown:
        raise ValueError(f"audit events have no member(s) {sorted(unknown)}")
    missing = [name for name in _REQUIRED if name not in fields]
    if missing:
        raise ValueError(f"audit events need {missing}")
    operation = _text(fields, "operation", nullable=False)
    if operation not in OPERATIONS:
        raise ValueError(f"{operation!r} is not an operation of AUD-OPS-001")
    decision = fields["decision"]
    if decision not in ("allow", "deny"):
        raise ValueError("decision is 'allow' or 'deny'")
    reason = _text(fields, "reason", nullable=False)
    assert reason is not None
    if not _REASON.match(reason) or (decision == "allow") != (reason == "ok"):
        raise ValueError("reason is 'ok' for allow, else a printable ASCII code (AUD-EVT-004)")
    user = fields.get("user")
    if user is not None:
        if isinstance(user, AuditUser):
            user = {"issuer": user.issuer, "subject": user.subject}
        if not isinstance(user, Mapping) or set(user) != {"issuer", "subject"}:
            raise ValueError("user is {'issuer': ..., 'subject': ...} or None")
        user = {
            "issuer": _text(user, "issuer", nullable=False),
            "subject": _text(user, "subject", nullable=False),
        }
    return {
        "request_id": _text(fields, "request_id", nullable=False),
        "operation": operation,
        "workload": _text(fields, "workload", nullable=True),
        "user": user,
        "actor_chain": _strings(fields, "actor_chain"),
        "provider": _text(fields, "provider", nullable=True),
        # AUD-EVT-002: sorted by code point, without duplicates.
        "scopes": sorted(set(_strings(fields, "scopes"))),
        "decision": decision,
        "reason": reason,
    }


# -- the log --------------------------------------------------------------------------------

_SELECT = (
    "SELECT seq, id, time, operation, workload, user_issuer, user_subject, decision, body,"
    " prev_hash, hash FROM audit_events"
)
_INSERT = (
    "INSERT INTO audit_events (seq, id, time, operation, workload, user_issuer, user_subject,"
    " decision, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_HEAD = "SELECT seq, hash FROM audit_head WHERE id = 1"
_HEAD_FOR_UPDATE = "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE"
_COPIED = ("seq", "id", "time", "operation", "workload", "decision", "prev_hash")


def _lock_head(tx: Transaction) -> Row | None:
    """The chain head, locked until the transaction ends. On SQLite the write
    transaction's ``BEGIN IMMEDIATE`` already holds the lock (and there is no
    ``FOR UPDATE``)."""
    return tx.fetchone(_HEAD_FOR_UPDATE if tx.dialect == "postgresql" else _HEAD)


def _row_event(row: Row) -> AuditEvent:
    return AuditEvent.from_body(json.loads(row["body"]), row["hash"])


class AuditLog:
    """The service's audit log over a :class:`~proctor.reference.storage.Database`."""

    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    # -- appending --

    def append(self, fields: Mapping[str, Any], *, tx: Transaction | None = None) -> AuditEvent:
        """Appends one event; ``fields`` are the members other than ``seq``, ``id``,
        ``time``, ``prev_hash`` and ``hash``, which the log assigns. Pass the operation's
        write transaction as ``tx`` so the event commits (or rolls back) with it."""
        body = _new_body(fields)
        with in_transaction(self._database, tx) as t:
            return self._append(t, body)

    def _append(self, tx: Transaction, fields: dict[str, Any]) -> AuditEvent:
        head = _lock_head(tx)
        if head is None:
            raise RuntimeError("the audit_head row is missing; the schema is damaged")
        body = {
            "seq": int(head["seq"]) + 1,
            "id": "evt_" + secrets.token_hex(16),
            "time": int(self._clock.now()),
            **fields,
            "prev_hash": head["hash"],
        }
        text, digest = _canonical_and_hash(body)
        user = body["user"] or {}
        tx.execute(
            _INSERT,
            (
                body["seq"],
                body["id"],
                body["time"],
                body["operation"],
                body["workload"],
                user.get("issuer"),
                user.get("subject"),
                body["decision"],
                text,
                body["prev_hash"],
                digest,
            ),
        )
        tx.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (body["seq"], digest))
        return AuditEvent.from_body(body, digest)

    # -- reading --

    def query(
        self,
        *,
        workload: str | None = None,
        user_subject: str | None = None,
        user_issuer: str | None = None,
        operation: str | None = None,
        decision: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int = DEFAULT_LIMIT,
        next_token: str | None = None,
    ) -> Page[AuditEvent]:
        """AUD-API-001: events in ascending ``seq``, filters combined with AND.
        ``operation`` is a name or a family (``consent.*``); ``since`` ≤ time < ``until``.
        Invalid values raise :class:`ValidationFailed`."""
        check_limit(limit)
        where = ["seq > ?"]
        after = 0 if next_token is None else int(decode_cursor("audit", next_token, [int])[0])
        params: list[Any] = [after]
        for column, value in (
            ("workload", workload),
            ("user_subject", user_subject),
            ("user_issuer", user_issuer),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if operation is not None:
            if operation.endswith(".*") and operation[:-2] in _FAMILIES:
                prefix = operation[:-1]  # "consent."
                where.append("substr(operation, 1, ?) = ?")
                params += [len(prefix), prefix]
            elif operation in OPERATIONS:
                where.append("operation = ?")
                params.append(operation)
            else:
                raise _invalid("operation", "not an operation name or family")
        if decision is not None:
            if decision not in ("allow", "deny"):
                raise _invalid("decision", "must be allow or deny")
            where.append("decision = ?")
            params.append(decision)
        for name, bound, comparison in (("since", since, ">="), ("until", until, "<")):
            if bound is not None:
                if isinstance(bound, bool) or not isinstance(bound, int):
                    raise _invalid(name, "must be a NumericDate integer")
                where.append(f"time {comparison} ?")
                params.append(bound)
        params.append(limit + 1)
        sql = _SELECT + " WHERE " + " AND ".join(where) + " ORDER BY seq LIMIT ?"
        with self._database.transaction(readonly=True) as tx:
            rows = tx.fetchall(sql, params)
        items = [_row_event(row) for row in rows[:limit]]
        token = encode_cursor("audit", [items[-1].seq]) if len(rows) > limit else None
        return Page(items, token)

    def checkpoint(self, *, tx: Transaction | None = None) -> Checkpoint | None:
        with in_transaction(self._database, tx, readonly=True) as t:
            return self._checkpoint(t)

    @staticmethod
    def _checkpoint(tx: Transaction) -> Checkpoint | None:
        row = tx.fetchone(
            "SELECT seq, hash, time, pruned FROM audit_checkpoints ORDER BY seq DESC LIMIT 1"
        )
        if row is None:
            return None
        return Checkpoint(int(row["seq"]), row["hash"], int(row["time"]), int(row["pruned"]))

    # -- verifying --

    def verify(self) -> Verification:
        """AUD-VER-001/002 over every retained event, in one consistent snapshot."""
        with self._database.transaction(readonly=True) as tx:
            return self._verify(tx, up_to=None)

    def _verify(self, tx: Transaction, up_to: int | None) -> Verification:
        verifier = ChainVerifier(self._checkpoint(tx))
        after = verifier.expected_seq - 1
        last_seq, last_hash = after, verifier.expected_prev
        while verifier.broken is None:
            sql = _SELECT + " WHERE seq > ?"
            params: list[Any] = [after]
            if up_to is not None:
                sql += " AND seq <= ?"
                params.append(up_to)
            rows = tx.fetchall(sql + " ORDER BY seq LIMIT ?", [*params, _BATCH])
            for row in rows:
                event = _stored_event(row)
                if not verifier.feed(event):
                    break
                if not _columns_match(row, event):
                    verifier.fail(int(event["seq"]), "hash_mismatch")
                    break
                last_seq, last_hash = int(row["seq"]), str(row["hash"])
            if len(rows) < _BATCH:
                break
            after = int(rows[-1]["seq"])
        if verifier.broken is None and up_to is None:
            head = tx.fetchone(_HEAD)
            if head is None or int(head["seq"]) != last_seq:
                verifier.fail(last_seq + 1, "gap")  # the tail was cut (or the head lost)
            elif head["hash"] != last_hash:
                verifier.fail(last_seq, "hash_mismatch")
        return verifier.result()

    # -- retention --

    def prune(self, before_time: int, *, request_id: str | None = None) -> Checkpoint | None:
        """AUD-RET-001: removes the longest prefix of events older than ``before_time``.

        The prefix is verified first; a broken prefix is not pruned: an ``audit.prune``
        denial (``chain_broken``) is appended and :class:`ChainBroken` raised. Otherwise,
        in one transaction, the checkpoint is replaced, the events deleted and an
        ``audit.prune`` event appended; the new checkpoint is returned. When no event is
        old enough nothing happens and ``None`` is returned.
        """
        request_id = request_id or "req_" + secrets.token_hex(12)
        now = int(self._clock.now())
        with self._database.transaction() as tx:
            _lock_head(tx)
            previous = self._checkpoint(tx)
            first_young = tx.fetchone(
                "SELECT MIN(seq) AS seq FROM audit_events WHERE time >= ?", (before_time,)
            )
            last = tx.fetchone("SELECT MAX(seq) AS seq FROM audit_events")
            if first_young is not None and first_young["seq"] is not None:
                cut = int(first_young["seq"]) - 1
            else:
                cut = int(last["seq"]) if last is not None and last["seq"] is not None else 0
            floor = 0 if previous is None else previous.seq
            if cut <= floor:
                return None
            verification = self._verify(tx, up_to=cut)
            broken = not verification.valid or verification.events != cut - floor
            if not broken:
                end = tx.fetchone("SELECT hash FROM audit_events WHERE seq = ?", (cut,))
                assert end is not None
                removed = tx.execute_count("DELETE FROM audit_events WHERE seq <= ?", (cut,))
                checkpoint = Checkpoint(
                    seq=cut,
                    hash=str(end["hash"]),
                    time=now,
                    pruned=removed + (0 if previous is None else previous.pruned),
                )
                tx.execute("DELETE FROM audit_checkpoints")
                tx.execute(
                    "INSERT INTO audit_checkpoints (seq, hash, time, pruned) VALUES (?, ?, ?, ?)",
                    (checkpoint.seq, checkpoint.hash, checkpoint.time, checkpoint.pruned),
                )
                self._append(tx, _prune_event(request_id, "allow", "ok"))
                return checkpoint
        self.append(_prune_event(request_id, "deny", "chain_broken"))
        if verification.valid:  # the prefix verified but was short of events: a gap
            verification = Verification(
                valid=False,
                events=verification.events,
                first_broken_seq=floor + verification.events + 1,
                reason="gap",
                checkpoint=verification.checkpoint,
            )
        raise ChainBroken(verification)


def _prune_event(request_id: str, decision: str, reason: str) -> dict[str, Any]:
    return _new_body(
        {
            "request_id": request_id,
            "operation": "audit.prune",
            "actor_chain": [],
            "decision": decision,
            "reason": reason,
        }
    )


def _stored_event(row: Row) -> dict[str, Any]:
    """The event as served: the stored body plus the stored hash. A body that is not a
    JSON object is checked as the row's columns alone (and cannot hash right)."""
    event: dict[str, Any] = {"seq": int(row["seq"]), "prev_hash": row["prev_hash"]}
    try:
        body = json.loads(row["body"])
    except ValueError:
        body = None
    if isinstance(body, dict):
        event = body
    else:
        event["__unparseable__"] = True
    event["hash"] = row["hash"]
    return event


def _columns_match(row: Row, event: Mapping[str, Any]) -> bool:
    """Whether the row's filter columns are copies of the hashed body."""
    if any(row[name] != event.get(name) for name in _COPIED) or row["hash"] != event["hash"]:
        return False
    user = event.get("user") or {}
    return bool(
        row["user_issuer"] == user.get("issuer") and row["user_subject"] == user.get("subject")
    )


def _invalid(field_name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{field_name} {message}", errors=[{"field": field_name, "message": message}]
    )
