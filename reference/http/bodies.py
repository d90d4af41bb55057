"""Reading request bodies into validated models, with the spec's error codes.

- wrong or missing ``Content-Type`` → 415 ``unsupported_media_type``;
- not JSON, not an object, wrong types, unknown members → 400 ``invalid_request_body``;
- well-formed but breaking a rule (pattern, length, range) → 400 ``validation_failed``
  with the offending fields;
- over the size limit → 413 ``payload_too_large``.
"""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from proctor.reference.errors import (
    InvalidRequestBody,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

__all__ = ["MAX_BODY_BYTES", "read_json", "read_model"]

M = TypeVar("M", bound=BaseModel)

#: Bodies carry at most a few tokens (a user JWT may be large); 256 KiB is generous.
MAX_BODY_BYTES = 256 * 1024
#: No request object of the native API nests deeper than a few levels (ERR-RULE-001).
MAX_DEPTH = 32

_SHAPE_ERRORS = frozenset(
    {"extra_forbidden", "missing", "model_type", "dict_type", "list_type", "json_invalid"}
)


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body exceeds {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int = MAX_BODY_BYTES) -> dict[str, object]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise UnsupportedMediaType("Send the request body as application/json.")
    raw = await _body(request, limit)
    try:
        value = json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestBody("The request body is not valid JSON.") from exc
    except RecursionError:
        raise InvalidRequestBody("The request body is nested too deeply.") from None
    if not isinstance(value, dict):
        raise InvalidRequestBody("The request body must be a JSON object.")
    if _depth_exceeds(value, MAX_DEPTH):
        raise InvalidRequestBody("The request body is nested too deeply.")
    return value


def _depth_exceeds(value: object, limit: int) -> bool:
    """Whether JSON ``value`` nests containers deeper than ``limit`` (iterative: a hostile
    body must not exhaust the stack of the validator that reads it next)."""
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


def _is_shape_error(kind: str) -> bool:
    """Missing, unknown or wrongly typed members (as opposed to a broken value rule)."""
    return kind in _SHAPE_ERRORS or kind.endswith(("_type", "_parsing"))


def to_model(model: type[M], data: dict[str, object]) -> M:
    try:
        return model.model_validate(data, strict=False)
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "message": err["msg"]}
            for err in exc.errors(include_url=False, include_input=False)
        ]
        if any(_is_shape_error(err["type"]) for err in exc.errors()):
            raise InvalidRequestBody(
                "The request body has missing, unknown or wrongly typed members."
            ).with_errors(fields) from None
        raise ValidationFailed("The request body breaks a rule.", errors=fields) from None


async def read_model(request: Request, model: type[M], limit: int = MAX_BODY_BYTES) -> M:
    return to_model(model, await read_json(request, limit))
