"""Authorizer records: CRUD, optimistic concurrency, keyset pagination."""

from __future__ import annotations

import pytest

from proctor.reference.clock import ManualClock
from proctor.reference.errors import Conflict, NotFound, ValidationFailed
from proctor.reference.storage import Database
from proctor.reference.storage.authorizers import AuthorizerRepository

CONFIG = {
    "discovery_url": "https://idp.example/oauth2/default/.well-known/openid-configuration",
    "allowed_audiences": ["api://default"],
    "custom_claims": [{"claim": "groups", "operator": "contains", "value": "sales"}],
    "leeway_seconds": 60,
    "note": "caf\u00e9 \u2603",
}


@pytest.fixture
def repo(database: Database, clock: ManualClock) -> AuthorizerRepository:
    return AuthorizerRepository(database, clock)


def test_create_then_get(repo: AuthorizerRepository, clock: ManualClock) -> None:
    created = repo.create("company-okta", CONFIG)
    assert created.name == "company-okta"
    assert created.config == CONFIG
    assert created.created_at == created.updated_at == int(clock.now())
    assert created.version == 1
    assert repo.get("company-okta") == created
    assert repo.get("absent") is None


def test_names_are_unique(repo: AuthorizerRepository) -> None:
    repo.create("company-okta", CONFIG)
    with pytest.raises(Conflict, match="already exists"):
        repo.create("company-okta", {"other": True})
    record = repo.get("company-okta")
    assert record is not None
    assert record.config == CONFIG


def test_replace_bumps_version_and_updated_at(
    repo: AuthorizerRepository, clock: ManualClock
) -> None:
    created = repo.create("a-1", CONFIG)
    clock.advance(10)
    replaced = repo.replace("a-1", {"leeway_seconds": 5}, expected_version=1)
    assert replaced.config == {"leeway_seconds": 5}
    assert replaced.version == 2
    assert replaced.created_at == created.created_at
    assert replaced.updated_at == created.created_at + 10


def test_replace_refuses_a_stale_version(repo: AuthorizerRepository) -> None:
    repo.create("a-1", CONFIG)
    repo.replace("a-1", {"v": 2})
    with pytest.raises(Conflict, match="changed concurrently"):
        repo.replace("a-1", {"v": 3}, expected_version=1)
    record = repo.get("a-1")
    assert record is not None
    assert record.config == {"v": 2}


def test_replace_and_delete_of_an_absent_name(repo: AuthorizerRepository) -> None:
    with pytest.raises(NotFound):
        repo.replace("ghost", CONFIG)
    with pytest.raises(NotFound):
        repo.delete("ghost")


def test_delete(repo: AuthorizerRepository) -> None:
    repo.create("a-1", CONFIG)
    repo.delete("a-1")
    assert repo.get("a-1") is None


def test_a_config_must_be_an_object(repo: AuthorizerRepository) -> None:
    with pytest.raises(TypeError):
        repo.create("a-1", ["not", "an", "object"])  # type: ignore[arg-type]


def test_pagination_walks_every_name_once_in_byte_order(repo: AuthorizerRepository) -> None:
    names = [f"auth-{i:02d}" for i in range(23)] + ["Zeta", "alpha", "beta.2", "beta_1"]
    for name in names:
        repo.create(name, {})
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = repo.list(limit=10, next_token=token)
        pages += 1
        assert len(page.items) <= 10
        seen += [item.name for item in page.items]
        token = page.next_token
        if token is None:
            break
    assert seen == sorted(names)  # byte order on both back-ends ("Z" < "a", "." < "_")
    assert pages == 3


def test_a_full_last_page_has_no_token(repo: AuthorizerRepository) -> None:
    for i in range(4):
        repo.create(f"auth-{i}", {})
    first = repo.list(limit=2)
    assert first.next_token is not None
    second = repo.list(limit=2, next_token=first.next_token)
    assert [i.name for i in second.items] == ["auth-2", "auth-3"]
    assert second.next_token is None
    assert repo.list(limit=4).next_token is None


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_limit_bounds(repo: AuthorizerRepository, limit: int) -> None:
    with pytest.raises(ValidationFailed) as caught:
        repo.list(limit=limit)
    assert caught.value.errors == [{"field": "limit", "message": "must be between 1 and 100"}]


@pytest.mark.parametrize("token", ["", "not-base64!", "eyJ4IjoxfQ", "e30", "x" * 2000])
def test_bad_tokens_are_validation_errors(repo: AuthorizerRepository, token: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        repo.list(next_token=token)
    assert caught.value.errors[0]["field"] == "next_token"
