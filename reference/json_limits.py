"""How deep untrusted JSON may nest (SEC-DOS-001: at most 32 levels).

Request bodies, JWS headers and JWT claims are all checked against the same limit, so
a hostile input cannot exhaust the stack of whatever reads it next.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_JSON_DEPTH", "depth_exceeds", "text_may_exceed"]

MAX_JSON_DEPTH: Final = 32


def text_may_exceed(text: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """A cheap pre-test: JSON with at most ``limit`` opening brackets cannot nest deeper."""
    if isinstance(text, bytes):
        return text.count(b"{") + text.count(b"[") > limit
    return text.count("{") + text.count("[") > limit


def depth_exceeds(value: object, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether parsed JSON ``value`` nests containers deeper than ``limit`` (iterative)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: list[object] = list(item.values())
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
