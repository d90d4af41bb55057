"""Injected faults: make an endpoint fail, stall or answer garbage for N requests.

A test that checks how a verifier survives an IdP outage adds a fault through
``POST /_mock/faults`` (or :meth:`FaultTable.add`), e.g. "the JWKS answers 500 three
times", "discovery takes 2 s", "the JWKS body is malformed JSON until cleared". Faults
apply to vendor endpoints only, never to the admin API.
"""

from __future__ import annotations

import secrets
import threading
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from proctor.mock_idps.profile import Endpoint

__all__ = ["FAULT_ENDPOINTS", "Fault", "FaultSpec", "FaultTable"]

FaultEndpoint = Literal["discovery", Endpoint]
"""A vendor endpoint, or ``discovery`` for both metadata documents."""
FAULT_ENDPOINTS: frozenset[str] = frozenset(get_args(FaultEndpoint))
_DISCOVERY = frozenset({"openid_configuration", "oauth_authorization_server"})


class FaultSpec(BaseModel):
    """What to break. ``discovery`` covers both metadata documents.

    - ``status``: answer with this HTTP status (400-599) and the vendor's error body;
    - ``delay``: wait this many seconds first (then answer normally, or with ``status``);
    - ``malformed``: answer 200 with a truncated JSON body.

    ``count`` limits the fault to the next N matching requests; ``None`` keeps it until
    cleared. ``server`` limits it to one authorization server id.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: FaultEndpoint
    server: str | None = None
    status: int | None = Field(default=None, ge=400, le=599)
    delay: float = Field(default=0.0, ge=0.0, le=120.0)
    malformed: bool = False
    count: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _one_effect(self) -> FaultSpec:
        if self.status is not None and self.malformed:
            raise ValueError("a fault is either a status or a malformed body, not both")
        if self.status is None and not self.malformed and self.delay == 0:
            raise ValueError("a fault needs a status, a delay or malformed=true")
        return self


class Fault:
    def __init__(self, spec: FaultSpec) -> None:
        self.id = secrets.token_hex(6)
        self.spec = spec
        self.remaining = spec.count
        self.hits = 0

    def matches(self, endpoint: str, server: str | None) -> bool:
        wanted = self.spec.endpoint
        hit = wanted == endpoint or (wanted == "discovery" and endpoint in _DISCOVERY)
        return hit and (self.spec.server is None or self.spec.server == server)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            **self.spec.model_dump(),
            "remaining": self.remaining,
            "hits": self.hits,
        }


class FaultTable:
    """The active faults; :meth:`take` consumes one use of the first match."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, spec: FaultSpec) -> Fault:
        fault = Fault(spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, endpoint: str, server: str | None) -> FaultSpec | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(endpoint, server):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault.spec
        return None

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, object]]:
        with self._lock:
            return [f.as_dict() for f in self._faults]
