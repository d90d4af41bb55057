"""Workload access tokens: stored by hash, bound to a workload and user, revocable."""

from __future__ import annotations

import pytest

from proctor.reference.clock import ManualClock
from proctor.reference.storage import Database, IntegrityViolation
from proctor.reference.storage.workload_tokens import WorkloadTokenRepository
from proctor.reference.storage.workloads import WorkloadRepository


@pytest.fixture
def repo(database: Database, clock: ManualClock) -> WorkloadTokenRepository:
    workloads = WorkloadRepository(database, clock)
    workloads.create("orchestrator", "wl_o", {})
    workloads.create("subagent", "wl_s", {})
    return WorkloadTokenRepository(database, clock)


def test_store_and_find(repo: WorkloadTokenRepository, clock: ManualClock) -> None:
    now = int(clock.now())
    stored = repo.store(
        "a" * 64,
        "orchestrator",
        expires_at=now + 900,
        user_issuer="https://idp.example",
        user_subject="sarah",
        user_key="uk_1",
    )
    assert stored.issued_at == now
    assert stored.revoked is False
    assert repo.find_active("a" * 64) == stored
    assert "a" * 64 not in repr(stored)


def test_expiry_is_judged_by_the_clock(repo: WorkloadTokenRepository, clock: ManualClock) -> None:
    repo.store("a" * 64, "orchestrator", expires_at=int(clock.now()) + 900)
    clock.advance(899)
    assert repo.find_active("a" * 64) is not None
    clock.advance(1)
    assert repo.find_active("a" * 64) is None
    assert repo.get("a" * 64) is not None
    assert repo.purge_expired() == 1
    assert repo.get("a" * 64) is None


def test_revoke_one_and_all_of_a_workload(
    repo: WorkloadTokenRepository, clock: ManualClock
) -> None:
    exp = int(clock.now()) + 900
    repo.store("a" * 64, "orchestrator", expires_at=exp)
    repo.store("b" * 64, "orchestrator", expires_at=exp)
    repo.store("c" * 64, "subagent", expires_at=exp)
    assert repo.revoke("a" * 64) is True
    assert repo.revoke("z" * 64) is False
    assert repo.find_active("a" * 64) is None
    assert repo.revoke_for_workload("orchestrator") == 1
    assert repo.find_active("b" * 64) is None
    assert repo.find_active("c" * 64) is not None


def test_misuse_is_refused(repo: WorkloadTokenRepository, clock: ManualClock) -> None:
    now = int(clock.now())
    with pytest.raises(ValueError, match="issuer and subject"):
        repo.store("a" * 64, "orchestrator", expires_at=now + 1, user_subject="sarah")
    with pytest.raises(ValueError, match="future"):
        repo.store("a" * 64, "orchestrator", expires_at=now)
    with pytest.raises(IntegrityViolation):
        repo.store("a" * 64, "no-such-workload", expires_at=now + 1)
