"""SEC-DOS-001: claims nested deeper than 32 levels are ``malformed``, even when signed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proctor.reference.authorizer import Authorizer
from proctor.reference.authorizer_config import AuthorizerConfig


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": True}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def test_claims_nested_beyond_32_levels_are_malformed(
    make_authorizer: Callable[..., Authorizer],
    make_config: Callable[..., AuthorizerConfig],
    mint: Any,
) -> None:
    authorizer = make_authorizer(make_config())
    # the payload object is level 1, so a claim may nest 31 more levels
    assert authorizer.decide(mint({"x": _nested(31)})).allowed
    denied = authorizer.decide(mint({"x": _nested(32)}))
    assert (denied.allowed, denied.reason) == (False, "malformed")
    wide = {f"k{i}": [[i]] for i in range(40)}  # many brackets, shallow: still allowed
    assert authorizer.decide(mint({"x": wide})).allowed
