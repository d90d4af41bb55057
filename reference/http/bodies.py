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
from proctor.reference.json_limits import MAX_JSON_DEPTH, depth_exceeds, text_may_exceed

__all__ = ["MAX_BODY_BYTES", "read_json", "read_model"]

M = TypeVar("M", bound=BaseModel)

#: Bodies carry at most a few tokens (a user JWT may be large); 256 KiB is generous.
MAX_BODY_BYTES = 256 * 1024


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
    except ValueError as exc:
        # JSONDecodeError, UnicodeDecodeError, and the int-conversion limit of integers of
        # more than 4300 digits (sys.set_int_max_str_digits) are all ValueErrors.
        raise InvalidRequestBody("The request body is not valid JSON.") from exc
    except RecursionError:
        raise InvalidRequestBody("The request body is nested too deeply.") from None
    if not isinstance(value, dict):
        raise InvalidRequestBody("The request body must be a JSON object.")
    if text_may_exceed(raw, MAX_JSON_DEPTH) and depth_exceeds(value, MAX_JSON_DEPTH):
        raise InvalidRequestBody("The request body is nested too deeply.")
    return value


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
