"""Workload records: unique name and client_id, secrets kept out of repr, cascade delete."""

from __future__ import annotations

import pytest

from proctor.reference.clock import ManualClock
from proctor.reference.errors import Conflict, NotFound
from proctor.reference.storage import Database
from proctor.reference.storage.workload_tokens import WorkloadTokenRepository
from proctor.reference.storage.workloads import WorkloadRepository

CONFIG = {
    "authorizer": "company-okta",
    "allowed_return_urls": ["https://app.example/oauth/return"],
    "token_endpoint_auth_method": "client_secret_basic",
}


@pytest.fixture
def repo(database: Database, clock: ManualClock) -> WorkloadRepository:
    return WorkloadRepository(database, clock)


def test_create_and_look_up_by_name_or_client_id(repo: WorkloadRepository) -> None:
    created = repo.create(
        "orchestrator", "wl_abc", CONFIG, secret_hash="h" * 64, secret_key_id="pepper-1"
    )
    assert created.disabled is False
    assert created.config == CONFIG
    assert repo.get("orchestrator") == created
    assert repo.get_by_client_id("wl_abc") == created
    assert repo.get_by_client_id("wl_other") is None


def test_the_secret_hash_stays_out_of_repr(repo: WorkloadRepository) -> None:
    created = repo.create("orchestrator", "wl_abc", CONFIG, secret_hash="S3CRETHASH")
    assert "S3CRETHASH" not in repr(created)


def test_name_and_client_id_are_each_unique(repo: WorkloadRepository) -> None:
    repo.create("orchestrator", "wl_abc", CONFIG)
    with pytest.raises(Conflict, match="named 'orchestrator'"):
        repo.create("orchestrator", "wl_new", CONFIG)
    with pytest.raises(Conflict, match="client_id"):
        repo.create("other", "wl_abc", CONFIG)
    assert [w.name for w in repo.list().items] == ["orchestrator"]


def test_replace_keeps_client_id_and_secret(repo: WorkloadRepository, clock: ManualClock) -> None:
    repo.create("orchestrator", "wl_abc", CONFIG, secret_hash="h1", secret_key_id="k1")
    clock.advance(5)
    replaced = repo.replace("orchestrator", {"authorizer": "x"}, disabled=True, expected_version=1)
    assert replaced.disabled is True
    assert replaced.client_id == "wl_abc"
    assert (replaced.secret_hash, replaced.secret_key_id) == ("h1", "k1")
    assert replaced.version == 2
    with pytest.raises(Conflict):
        repo.replace("orchestrator", CONFIG, disabled=False, expected_version=1)
    with pytest.raises(NotFound):
        repo.replace("ghost", CONFIG, disabled=False)


def test_rotate_secret(repo: WorkloadRepository) -> None:
    repo.create("orchestrator", "wl_abc", CONFIG, secret_hash="h1", secret_key_id="k1")
    rotated = repo.set_secret("orchestrator", secret_hash="h2", secret_key_id="k2")
    assert (rotated.secret_hash, rotated.secret_key_id, rotated.version) == ("h2", "k2", 2)
    with pytest.raises(NotFound):
        repo.set_secret("ghost", secret_hash="h", secret_key_id=None)


def test_delete_cascades_to_tokens(database: Database, clock: ManualClock) -> None:
    workloads = WorkloadRepository(database, clock)
    tokens = WorkloadTokenRepository(database, clock)
    workloads.create("orchestrator", "wl_abc", CONFIG)
    tokens.store("t" * 64, "orchestrator", expires_at=int(clock.now()) + 900)
    workloads.delete("orchestrator")
    assert tokens.get("t" * 64) is None
    with pytest.raises(NotFound):
        workloads.delete("orchestrator")


def test_list_pages(repo: WorkloadRepository) -> None:
    for i in range(5):
        repo.create(f"wl-{i}", f"wl_{i}", CONFIG)
    first = repo.list(limit=3)
    second = repo.list(limit=3, next_token=first.next_token)
    assert [w.name for w in first.items + second.items] == [f"wl-{i}" for i in range(5)]
    assert second.next_token is None
