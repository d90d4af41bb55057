"""Pagination tokens are opaque, list-bound and strictly decoded."""

from __future__ import annotations

import pytest

from proctor.reference.errors import ValidationFailed
from proctor.reference.storage.pagination import check_limit, decode_cursor, encode_cursor


def test_round_trip() -> None:
    token = encode_cursor("workloads", ["orchestrator"])
    assert "=" not in token
    assert decode_cursor("workloads", token, [str]) == ("orchestrator",)
    assert decode_cursor("audit", encode_cursor("audit", [17]), [int]) == (17,)


@pytest.mark.parametrize(
    ("token_list", "key", "types"),
    [
        ("authorizers", ["a"], [str]),  # another list's token
        ("workloads", [1], [str]),  # wrong key type
        ("workloads", [True], [int]),  # bool is not an int here
        ("workloads", ["a", "b"], [str]),  # wrong arity
    ],
)
def test_foreign_or_malformed_keys_are_refused(
    token_list: str, key: list[str | int], types: list[type[str | int]]
) -> None:
    with pytest.raises(ValidationFailed, match="next_token"):
        decode_cursor("workloads", encode_cursor(token_list, key), types)


def test_limit() -> None:
    assert check_limit(1) == 1
    assert check_limit(100) == 100
    with pytest.raises(ValidationFailed):
        check_limit(101)
    with pytest.raises(TypeError):
        check_limit(True)
