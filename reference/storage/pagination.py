"""Keyset pagination: ``?limit=`` (1-100, default 50) and an opaque ``next_token``.

A list is ordered by a unique key (a name, a sequence number). A page holds up to
``limit`` items and, when more follow, a ``next_token`` that encodes the last key shown;
the next page starts strictly after it. Keysets stay correct while rows are inserted or
deleted between pages, unlike offsets.

The token is base64url JSON ``{"l": <list>, "k": [<key values>]}``. It is opaque to
clients, and it is untrusted input: a malformed token, or one issued by another list,
raises :class:`~proctor.reference.errors.ValidationFailed` (400 ``validation_failed``) and
never reaches SQL except as a bound parameter. A forged but well-formed token can only
start a list at another key of the same list, which the caller may read anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from proctor.reference.errors import ValidationFailed

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Page",
    "check_limit",
    "decode_cursor",
    "encode_cursor",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
_MAX_TOKEN = 1024

T = TypeVar("T")
Key = str | int


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; ``next_token`` is ``None`` on the last page."""

    items: list[T]
    next_token: str | None


def check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise TypeError("limit must be an int")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_LIMIT}",
            errors=[{"field": "limit", "message": f"must be between 1 and {MAX_LIMIT}"}],
        )
    return limit


def encode_cursor(list_name: str, key: Sequence[Key]) -> str:
    raw = json.dumps({"l": list_name, "k": list(key)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(list_name: str, token: str, types: Sequence[type[Key]]) -> tuple[Key, ...]:
    """The key in ``token``; its values must have ``types``, in order."""
    try:
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN:
            raise ValueError("bad length")
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or set(data) != {"l", "k"} or data["l"] != list_name:
            raise ValueError("not this list's token")
        key = data["k"]
        if not isinstance(key, list) or len(key) != len(types):
            raise ValueError("wrong key shape")
        for value, kind in zip(key, types, strict=True):
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ValueError("wrong key type")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "next_token is not a token this list issued",
            errors=[{"field": "next_token", "message": "invalid pagination token"}],
        ) from exc
    return tuple(key)
