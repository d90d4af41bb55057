"""One audit event per request, whatever its outcome (spec ``08-audit.md``).

An endpoint describes its event up front (:class:`Event`: the operation and, as soon as
they are known, the workload, user and actor chain) and runs inside
:meth:`Recorder.record`:

- a change to stored state goes through :meth:`Recorder.commit`, which appends the
  ``allow`` event in the same transaction (AUD-APP-002: both commit or neither does);
- an endpoint that changes nothing gets its event appended when it returns, with the
  decision it set (``POST /v1/decisions`` records a ``deny`` decision as a denial);
- a request refused with a native error gets a ``deny`` event whose ``reason`` is the
  error's ``code`` (AUD-EVT-004), appended after the failed transaction rolled back;
- anything unexpected is logged (type only), recorded as ``internal_error`` when storage
  still allows it, and answered as a detail-free ``500 internal_error``.

If the event itself cannot be appended the request fails with ``500 internal_error``
(AUD-APP-002). Events carry names, issuers and subjects only, never a credential
(AUD-SEC-001); a value that looks like a token is left out rather than recorded.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

from starlette.concurrency import run_in_threadpool

from proctor.reference.audit import AuditLog
from proctor.reference.errors import ApiError, InternalError
from proctor.reference.logs import request_id_var
from proctor.reference.storage.database import Database, Transaction

__all__ = ["Event", "Recorder", "audit_reason"]

log = logging.getLogger("proctor.audit")

T = TypeVar("T")

_PRINTABLE: Final = re.compile(r"[\x21-\x7e]")
_TOKEN_SHAPED: Final = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.")


def audit_reason(reason: str) -> str:
    """AUD-EVT-004: reasons are printable ASCII without spaces. A decision reason naming an
    odd claim (``claim_rule_failed:my claim``) is percent-encoded to fit."""
    out = "".join(
        ch if _PRINTABLE.fullmatch(ch) and ch != "%" else "".join(f"%{b:02X}" for b in ch.encode())
        for ch in reason
    )
    return out or "unknown"


def _auditable(value: str | None) -> str | None:
    if value is None or not value or _TOKEN_SHAPED.search(value):
        return None
    return value


@dataclass
class Event:
    """The members of one request's event that the endpoint decides (AUD-EVT-002/003)."""

    operation: str
    workload: str | None = None
    user: tuple[str, str] | None = None
    actor_chain: list[str] = field(default_factory=list)
    provider: str | None = None
    scopes: list[str] = field(default_factory=list)
    decision: Literal["allow", "deny"] = "allow"
    reason: str = "ok"
    request_id: str = ""
    recorded: bool = False

    def deny(self, reason: str) -> None:
        self.decision = "deny"
        self.reason = audit_reason(reason)

    def fields(self) -> dict[str, Any]:
        issuer, subject = self.user if self.user is not None else (None, None)
        user = None
        if _auditable(issuer) is not None and _auditable(subject) is not None:
            user = {"issuer": issuer, "subject": subject}
        return {
            "request_id": self.request_id,
            "operation": self.operation,
            "workload": _auditable(self.workload),
            "user": user,
            "actor_chain": [a for a in self.actor_chain if _auditable(a) is not None],
            "provider": _auditable(self.provider),
            "scopes": [s for s in self.scopes if _auditable(s) is not None],
            "decision": self.decision,
            "reason": self.reason,
        }


class Recorder:
    """Appends each request's event (see the module docstring)."""

    def __init__(self, database: Database, audit: AuditLog) -> None:
        self._database = database
        self._audit = audit

    @asynccontextmanager
    async def record(self, event: Event) -> AsyncIterator[Event]:
        event.request_id = request_id_var.get() or "req_" + secrets.token_hex(8)
        try:
            yield event
        except ApiError as exc:
            event.deny(str(exc.problem(None)["code"]))
            try:
                await run_in_threadpool(self._append, event)
            except Exception as failure:
                log.error("audit append failed", exc_info=failure)
                raise InternalError("audit append failed") from failure
            raise
        except Exception as exc:
            log.error("unhandled error", exc_info=exc)
            event.deny("internal_error")
            try:
                await run_in_threadpool(self._append, event)
            except Exception as failure:
                log.error("audit append failed", exc_info=failure)
            raise InternalError(type(exc).__name__) from exc
        if not event.recorded:
            try:
                await run_in_threadpool(self._append, event)
            except Exception as failure:
                log.error("audit append failed", exc_info=failure)
                raise InternalError("audit append failed") from failure

    def commit(self, event: Event, work: Callable[[Transaction], T]) -> T:
        """Runs ``work`` and appends ``event`` (as allowed) in one write transaction.
        Blocking: call it from a worker thread."""
        with self._database.transaction() as tx:
            result = work(tx)
            self._audit.append(event.fields(), tx=tx)
        event.recorded = True
        return result

    def _append(self, event: Event) -> None:
        if event.recorded:
            return
        self._audit.append(event.fields())
        event.recorded = True
