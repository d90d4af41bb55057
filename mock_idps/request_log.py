"""The request log: what the system under test asked the emulator for.

Every request to a vendor endpoint is recorded (the admin API under ``/_mock/`` is not),
so a test can assert e.g. that a verifier fetched the JWKS once and then again only after
an unknown ``kid``. Secrets are redacted: the ``Authorization`` header keeps only its
scheme and parameters such as ``client_secret`` or ``password`` keep only their presence.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass

__all__ = ["LoggedRequest", "RequestLog", "redact"]

REDACTED = "[redacted]"
SECRET_PARAMS = frozenset(
    {
        "client_secret",
        "password",
        "code",
        "code_verifier",
        "refresh_token",
        "token",
        "subject_token",
        "actor_token",
        "assertion",
        "client_assertion",
        "device_code",
        "id_token_hint",
    }
)
_KEPT_HEADERS = ("user-agent", "content-type", "accept", "authorization", "if-none-match")


@dataclass(frozen=True)
class LoggedRequest:
    seq: int
    time: float
    """The emulator clock's time when the request arrived."""
    method: str
    path: str
    endpoint: str | None
    """The endpoint kind (``jwks``, ``token``, ...) or ``None`` for pages and unknown paths."""
    server: str | None
    status: int
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def redact(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k: (REDACTED if k in SECRET_PARAMS else v) for k, v in pairs}


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    kept = {k: v for k, v in headers.items() if k in _KEPT_HEADERS}
    if "authorization" in kept:
        scheme = kept["authorization"].split(" ", 1)[0]
        kept["authorization"] = f"{scheme} {REDACTED}"
    return kept


class RequestLog:
    """A bounded, thread-safe list of :class:`LoggedRequest`."""

    def __init__(self, maxlen: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: deque[LoggedRequest] = deque(maxlen=maxlen)
        self._seq = 0

    def record(
        self,
        *,
        time: float,
        method: str,
        path: str,
        endpoint: str | None,
        server: str | None,
        status: int,
        query: Iterable[tuple[str, str]],
        form: Iterable[tuple[str, str]],
        headers: dict[str, str],
    ) -> LoggedRequest:
        with self._lock:
            self._seq += 1
            entry = LoggedRequest(
                seq=self._seq,
                time=time,
                method=method,
                path=path,
                endpoint=endpoint,
                server=server,
                status=status,
                query=redact(query),
                form=redact(form),
                headers=redact_headers(headers),
            )
            self._entries.append(entry)
            return entry

    def entries(
        self, *, endpoint: str | None = None, server: str | None = None, path: str | None = None
    ) -> list[LoggedRequest]:
        with self._lock:
            return [
                e
                for e in self._entries
                if (endpoint is None or e.endpoint == endpoint)
                and (server is None or e.server == server)
                and (path is None or e.path == path)
            ]

    def count(self, endpoint: str | None = None, server: str | None = None) -> int:
        return len(self.entries(endpoint=endpoint, server=server))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
