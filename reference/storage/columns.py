"""Conversions between Python values and the portable column types.

JSON documents are stored as TEXT (compact, keys sorted, UTF-8) on both dialects, so a
stored value reads back the same everywhere and compares byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["dump_object", "load_object"]


def dump_object(value: Mapping[str, Any]) -> str:
    """A JSON object as stored text; anything but a mapping with string keys is refused."""
    if not isinstance(value, Mapping):
        raise TypeError("a stored document must be a JSON object")
    return json.dumps(
        dict(value), separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
    )


def load_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("stored document is not a JSON object")
    return value
