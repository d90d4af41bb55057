"""Structured JSON logs with request ids; secrets never reach them.

Each record is one JSON object per line: time, level, logger, message, the request id of
the request being served (a context variable set by the HTTP middleware), and any
``extra={"fields": {...}}`` members. A redaction pass drops the values of members whose
names denote secrets (``client_secret``, ``access_token``, ``authorization``, ...), and
tokens are never passed to the logger in the first place: code logs hashes or ids.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

__all__ = ["JsonFormatter", "configure_logging", "redact", "request_id_var"]

request_id_var: ContextVar[str | None] = ContextVar("proctor_request_id", default=None)

SECRET_NAMES = frozenset(
    {
        "authorization",
        "client_secret",
        "client_assertion",
        "access_token",
        "refresh_token",
        "id_token",
        "subject_token",
        "actor_token",
        "user_token",
        "workload_access_token",
        "api_key",
        "password",
        "code",
        "code_verifier",
        "assertion",
        "token",
        "secret",
        "admin_token",
        "cookie",
    }
)


def redact(value: Any) -> Any:
    """A copy of ``value`` with the values of secret-named members replaced."""
    if isinstance(value, Mapping):
        return {
            k: "[redacted]" if str(k).lower() in SECRET_NAMES else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            entry.update(redact(fields))
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type only: messages of library exceptions can carry inputs.
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, separators=(",", ":"), default=str)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Route the ``proctor`` loggers to one JSON line per record."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("proctor")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
