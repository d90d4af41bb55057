"""The audit events of one request, in order (spec ``08-audit.md``, AUD-EVT-001).

A vault request can perform several audited operations: a resource-token request that
refreshes (``resource_token.get`` then ``resource_token.refresh``), a session start that
prompts (``resource_token.get`` then ``consent.prompt``), a revocation followed by
``upstream.revoke`` attempts. AUD-EVT-001 wants one event each, all with the request's
``request_id``, *the endpoint's own event first*; AUD-APP-002 wants every event appended
in the transaction of the change it records.

A :class:`Trail` holds the endpoint's event (its members are read when it is appended, so
the endpoint can fill them in as it learns them) and appends it, as allowed, before the
first other event, inside the caller's transaction. If the endpoint's event was never
appended by the core (nothing changed), the HTTP layer appends it at the end with its final
decision, exactly as for any other endpoint. The core is framework-free: the HTTP layer
adapts its own event object through the ``main``/``mark`` callables.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from proctor.reference.audit import AuditLog
from proctor.reference.storage.database import Transaction

__all__ = ["Trail", "UserRef"]


@dataclass(frozen=True, slots=True)
class UserRef:
    """A user as the audit log names one: IdP issuer and subject (AUD-EVT-003)."""

    issuer: str
    subject: str

    def as_dict(self) -> dict[str, str]:
        return {"issuer": self.issuer, "subject": self.subject}


@dataclass
class Trail:
    """The events of one request (see the module docstring)."""

    audit: AuditLog
    request_id: str
    #: The endpoint's event as audit fields, read when it is appended (``None``: there is
    #: no endpoint event, e.g. an internal operation).
    main: Callable[[], Mapping[str, Any]] | None = None
    #: Called once the endpoint's event is appended (the HTTP layer then does not append
    #: it again).
    mark: Callable[[], None] | None = None
    main_recorded: bool = field(default=False)
    #: AUD-EVT-003: the scopes granted, which replace the requested ones in the endpoint's
    #: event once the core knows them (:meth:`granted`).
    main_scopes: list[str] | None = field(default=None)

    def granted(self, scopes: Sequence[str]) -> None:
        """Records the granted scopes for the endpoint's event."""
        self.main_scopes = list(scopes)

    @classmethod
    def internal(cls, audit: AuditLog, request_id: str | None = None) -> Trail:
        """A trail for an internal operation (key rotation, sweeping): no endpoint event."""
        return cls(audit, request_id or "req_" + secrets.token_hex(8))

    def record_main(
        self,
        tx: Transaction,
        *,
        decision: Literal["allow", "deny"] = "allow",
        reason: str = "ok",
    ) -> None:
        """Appends the endpoint's event now, if it has not been: allowed, or denied with
        ``reason`` when the change being committed is part of a refusal (a completion by
        another user ends the session, VLT-BIND-002)."""
        if self.main_recorded or self.main is None:
            return
        fields = {**self.main(), "decision": decision, "reason": reason}
        if self.main_scopes is not None and decision == "allow":
            fields["scopes"] = self.main_scopes
        self.audit.append(fields, tx=tx)
        self.main_recorded = True
        if self.mark is not None:
            self.mark()

    def record(
        self,
        tx: Transaction,
        operation: str,
        *,
        workload: str | None = None,
        user: UserRef | None = None,
        actor_chain: Sequence[str] = (),
        provider: str | None = None,
        scopes: Sequence[str] = (),
        decision: Literal["allow", "deny"] = "allow",
        reason: str = "ok",
    ) -> None:
        """Appends one event of an operation this request caused, after the endpoint's."""
        self.record_main(tx)
        self.audit.append(
            {
                "request_id": self.request_id,
                "operation": operation,
                "workload": workload,
                "user": None if user is None else user.as_dict(),
                "actor_chain": list(actor_chain),
                "provider": provider,
                "scopes": list(scopes),
                "decision": decision,
                "reason": reason,
            },
            tx=tx,
        )
