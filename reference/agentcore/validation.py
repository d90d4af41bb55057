"""Input validation the AWS SDKs leave to the server (Smithy constraint traits).

botocore checks only required members, ``min``, JSON types and that a union has one
member; it does **not** check ``max``, ``pattern`` or ``enum`` (a provider named
``"bad name!"`` reaches the server). This module checks every constraint of the model
(:mod:`.model`) and answers the way an AWS service does:

- a body that is not a JSON object, or a member of the wrong JSON type, raises
  ``ValidationException`` with ``reason`` ``CannotParse``;
- any broken constraint (missing required member, length, range, pattern, enum, a union
  with other than exactly one member) raises ``ValidationException`` with ``reason``
  ``FieldValidationFailed`` and one ``fieldList`` entry per violation, in the form of the
  AWS message ``Value at 'name' failed to satisfy constraint: Member must ...``.

Values are never echoed (some members are secrets). Patterns are matched against the
whole value, as AWS services built on the Smithy Java server do. Members the model does
not know are ignored, like the AWS services do (an older client must keep working when
the model grows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from proctor.reference.agentcore.wire import ValidationException

__all__ = [
    "Boolean",
    "Integer",
    "ListOf",
    "MapOf",
    "Shape",
    "String",
    "Structure",
    "check",
    "field_error",
]

#: A request has at most this many violations listed (AWS lists a handful, then stops).
MAX_LISTED: Final = 10


@dataclass(frozen=True)
class String:
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Integer:
    min: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class Boolean:
    pass


@dataclass(frozen=True)
class ListOf:
    member: str
    min: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class MapOf:
    key: str
    value: str
    min: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class Structure:
    members: Mapping[str, str] = field(hash=False)
    required: tuple[str, ...] = ()
    union: bool = False


Shape = String | Integer | Boolean | ListOf | MapOf | Structure


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class _CannotParse(Exception):
    def __init__(self, where: str, expected: str) -> None:
        super().__init__(where)
        self.where = where
        self.expected = expected


def _violation(where: str, constraint: str) -> dict[str, str]:
    return {
        "name": where,
        "message": f"Value at '{where}' failed to satisfy constraint: Member must {constraint}",
    }


def _child(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def field_error(where: str, constraint: str) -> ValidationException:
    """A ``FieldValidationFailed`` naming one member (for rules checked outside the model,
    such as proctor's own stricter ones). ``constraint`` completes "Member must ..."."""
    item = _violation(where, constraint)
    return ValidationException(
        f"1 validation error detected: {item['message']}",
        field_list=[item],
    )


class _Checker:
    def __init__(self, shapes: Mapping[str, Shape]) -> None:
        self.shapes = shapes
        self.violations: list[dict[str, str]] = []

    def fail(self, where: str, constraint: str) -> None:
        self.violations.append(_violation(where, constraint))

    def length(self, where: str, size: int, low: int | None, high: int | None) -> None:
        if low is not None and size < low:
            self.fail(where, f"have length greater than or equal to {low}")
        if high is not None and size > high:
            self.fail(where, f"have length less than or equal to {high}")

    def visit(self, name: str, value: Any, where: str) -> None:
        shape = self.shapes[name]
        if isinstance(shape, String):
            self.string(shape, value, where)
        elif isinstance(shape, Integer):
            if isinstance(value, bool) or not isinstance(value, int):
                raise _CannotParse(where, "an integer")
            if shape.min is not None and value < shape.min:
                self.fail(where, f"have value greater than or equal to {shape.min}")
            if shape.max is not None and value > shape.max:
                self.fail(where, f"have value less than or equal to {shape.max}")
        elif isinstance(shape, Boolean):
            if not isinstance(value, bool):
                raise _CannotParse(where, "a boolean")
        elif isinstance(shape, ListOf):
            if not isinstance(value, list):
                raise _CannotParse(where, "a list")
            self.length(where, len(value), shape.min, shape.max)
            for position, item in enumerate(value):
                if item is None:
                    self.fail(f"{where}.{position + 1}.member", "not be null")
                    continue
                self.visit(shape.member, item, f"{where}.{position + 1}.member")
        elif isinstance(shape, MapOf):
            if not isinstance(value, dict):
                raise _CannotParse(where, "a map")
            self.length(where, len(value), shape.min, shape.max)
            for key, item in value.items():
                self.visit(shape.key, key, f"{where}.key")
                if item is None:
                    self.fail(f"{where}.{key}", "not be null")
                    continue
                self.visit(shape.value, item, f"{where}.{key}")
        else:
            self.structure(shape, value, where)

    def string(self, shape: String, value: Any, where: str) -> None:
        if not isinstance(value, str):
            raise _CannotParse(where, "a string")
        self.length(where, len(value), shape.min, shape.max)
        if shape.pattern is not None and not _compiled(shape.pattern).fullmatch(value):
            self.fail(where, f"satisfy regular expression pattern: {shape.pattern}")
        if shape.enum is not None and value not in shape.enum:
            self.fail(where, f"satisfy enum value set: [{', '.join(shape.enum)}]")

    def structure(self, shape: Structure, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise _CannotParse(where or "(body)", "a structure")
        present = [name for name in shape.members if value.get(name) is not None]
        if shape.union and len(present) != 1:
            self.fail(
                where or "(body)",
                "have exactly one member set: " + ", ".join(shape.members),
            )
        for name in shape.required:
            if value.get(name) is None:
                self.fail(_child(where, name), "not be null")
        for name in present:
            self.visit(shape.members[name], value[name], _child(where, name))


def check(shapes: Mapping[str, Shape], name: str, body: Any) -> None:
    """Validates ``body`` against the shape ``name``; raises :class:`ValidationException`
    (``CannotParse`` or ``FieldValidationFailed``)."""
    checker = _Checker(shapes)
    try:
        checker.visit(name, body, "")
    except _CannotParse as exc:
        raise ValidationException(
            f"Could not parse the request: '{exc.where}' must be {exc.expected}.",
            reason="CannotParse",
            field_list=[{"name": exc.where, "message": f"must be {exc.expected}"}],
        ) from None
    found = checker.violations
    if found:
        count = len(found)
        noun = "error" if count == 1 else "errors"
        listed = found[:MAX_LISTED]
        message = f"{count} validation {noun} detected: " + "; ".join(
            item["message"] for item in listed
        )
        raise ValidationException(message, field_list=listed)
